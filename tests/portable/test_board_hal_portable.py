"""The board HAL (pump/board/) with small fake ``machine``/``time``/``os`` objects, on
CPython and MicroPython: the UART link, the clock across the port's tick wrap, the step
and enable pins, the latched button, NOR rules over a flash file, the RNG, and the whole
node (pump + EDHOC + OSCORE) answering a gateway over the fake UART while delivering.
Plain asserts only.
"""

from pump.board import hal as B
from pump.board.node import BoardNode, NodeError, parse_identity
from pump.hal import CountingRng, PRESS_VALID_MS, MemorySecureStore
from bootloader.flash import FlashError
from pump_fixtures import raises
from secure_channel import cbor, crypto
from secure_channel.edhoc import credentials
from secure_channel.link.framed import FramedLink
from secure_channel.protocol import requester
from secure_channel.protocol import schema as S
from secure_channel.sessions import peer as P
from secure_channel.sessions import trust

PERIOD = 1 << 30                      # MicroPython's ticks wrap on many ports


class FakeTime:
    def __init__(self, start=0):
        self.raw = start % PERIOD

    def ticks_ms(self):
        return self.raw

    def ticks_diff(self, new, old):
        half = PERIOD // 2
        return ((new - old + half) % PERIOD) - half

    def sleep_ms(self, ms):
        self.raw = (self.raw + ms) % PERIOD


class FakePin:
    IRQ_FALLING = 2

    def __init__(self, level=1):
        self.level = level
        self.rises = 0
        self.handler = None

    def value(self, level=None):
        if level is None:
            return self.level
        if level and not self.level:
            self.rises += 1
        self.level = level

    def irq(self, trigger=None, handler=None):
        self.handler = handler

    def press(self):
        self.level = 0
        if self.handler is not None:
            self.handler(self)
        self.level = 1


class FakeUART:
    """``rx``: bytes the far end sent us; ``tx``: bytes we sent."""

    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()
        self.closed = False

    def any(self):
        return len(self.rx)

    def read(self, n):
        data, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return data or None

    def write(self, data):
        self.tx += data
        return len(data)

    def deinit(self):
        self.closed = True


class FakeMachine:
    def __init__(self):
        self.uarts = []

    def UART(self, uart_id, baudrate=115200, **pins):
        uart = FakeUART()
        uart.config = (uart_id, baudrate, pins)
        self.uarts.append(uart)
        return uart


class FarEnd:
    """The gateway's end of the fake UART, as a transport."""

    def __init__(self, uart):
        self.uart = uart

    def write(self, data):
        self.uart.rx += data
        return len(data)

    def read(self, max_bytes=4096, timeout=0):
        data, self.uart.tx = bytes(self.uart.tx[:max_bytes]), self.uart.tx[max_bytes:]
        return data

    def close(self):
        pass


def test_uart_transport_moves_bytes_and_never_blocks_without_a_clock():
    machine = FakeMachine()
    link = B.open_uart(machine, 1, 57600, tx=4, rx=5)
    uart = machine.uarts[0]
    assert uart.config == (1, 57600, {"tx": 4, "rx": 5})
    assert link.read(10) == b""
    uart.rx += b"abcdef"
    assert link.read(4) == b"abcd" and link.read(100) == b"ef"
    assert link.write(b"xyz") == 3 and uart.tx == b"xyz"
    assert raises(ValueError, link.read, 0)
    # With a clock, a read waits up to its timeout (the fake sleep moves time on).
    clock = FakeTime(PERIOD - 3)
    waiting = B.UartTransport(uart, clock)
    assert waiting.read(10, 0.05) == b""
    assert clock.ticks_diff(clock.ticks_ms(), PERIOD - 3) >= 50      # across the wrap
    link.close()
    assert uart.closed
    assert raises(B.BoardError, B.open_uart, object(), 1)
    assert raises(B.BoardError, B.UartTransport, object())


def test_board_clock_is_monotonic_across_the_tick_wrap():
    port = FakeTime(PERIOD - 1000)
    clock = B.board_clock(port, wall_s=1767225600)
    assert clock.ticks_ms() == 0
    seen = []
    for _ in range(30):
        port.sleep_ms(250)
        seen.append(clock.ticks_ms())
    assert seen == [250 * (i + 1) for i in range(30)]                 # wrapped at 1000
    assert clock.wall_s() == 1767225600 + 7
    assert raises(B.BoardError, B.board_clock, object())


def test_motor_pins_pulse_only_when_enabled():
    step, enable = FakePin(0), FakePin(0)
    motor = B.PinMotor(step, enable)
    assert enable.level == 1 and not motor.enabled                    # active low: off
    motor.pulse()
    assert step.rises == 0 and motor.encoder() == 0
    motor.set_enabled(True)
    assert enable.level == 0
    motor.pulse()
    motor.pulse()
    assert step.rises == 2 and motor.encoder() == 2 and step.level == 0
    counted = [7]
    geared = B.PinMotor(FakePin(0), FakePin(0), encoder=lambda: counted[0],
                        enable_active=1, steps_per_pulse=4)
    geared.set_enabled(True)
    geared.pulse()
    assert geared.step.rises == 4 and geared.encoder() == 7           # the encoder's word
    assert raises(B.BoardError, B.PinMotor, FakePin(), FakePin(), None, 0, 0)


def test_button_press_counts_once_and_only_while_fresh():
    assert B.PRESS_VALID_MS == PRESS_VALID_MS
    port = FakeTime(PERIOD - 10)
    button, buzzer = FakePin(1), FakePin(0)
    out = []
    ui = B.ButtonUI(button, port, alarm_pin=buzzer, out=out.append,
                    trigger=FakePin.IRQ_FALLING)
    assert ui.irq and not ui.confirm_pressed()
    button.press()
    port.sleep_ms(1000)                                               # across the wrap
    assert ui.confirm_pressed() and not ui.confirm_pressed()
    button.press()
    port.sleep_ms(PRESS_VALID_MS + 1)
    assert not ui.confirm_pressed()                                   # stale
    ui.alarm(True, "IL-OCCLUSION", 2)
    assert buzzer.level == 1 and ui.sounded == 1 and out[-1] == "ALARM IL-OCCLUSION (level 2)"
    ui.alarm(False)
    assert buzzer.level == 0 and ui.alarm_level == 0
    # Without an interrupt the pin is polled: one press, however long it is held.
    polled_pin = FakePin(1)
    polled = B.ButtonUI(polled_pin, port)
    polled_pin.level = 0
    assert polled.confirm_pressed() and not polled.confirm_pressed()
    polled_pin.level = 1
    assert not polled.confirm_pressed()


def _fresh(path):
    """``path`` with no file left there by an earlier run (files are the board's flash)."""
    import os
    try:
        os.remove(path)
    except OSError:
        pass
    return path


def _flash_path(name):
    return _fresh("/tmp/pump-board-test-%s.bin" % name)


def test_file_flash_keeps_nor_rules_and_survives_reopening():
    path = _flash_path("nor")
    flash = B.FileFlash(path, 4 * 256, 256, 4)
    assert flash.is_erased(0, flash.size)
    flash.program(8, b"\x0f\xf0\x00\x55")
    assert flash.read(8, 4) == b"\x0f\xf0\x00\x55"
    flash.program(8, b"\x0f\x00\x00\x44")                 # clearing more bits: fine
    for bad in ((8, b"\xff\xff\xff\xff"), (9, b"\x00" * 4), (8, b"\x00" * 3),
                (1024, b"\x00" * 4), (-4, b"\x00" * 4)):
        assert raises(FlashError, flash.program, bad[0], bad[1]), bad
    assert raises(FlashError, flash.erase, 100)
    flash.close()
    again = B.FileFlash(path, 4 * 256, 256, 4)
    assert again.read(8, 4) == b"\x0f\x00\x00\x44"
    again.erase(0)
    assert again.is_erased(0, 256) and again.erase_counts == [1, 0, 0, 0]
    again.close()
    assert raises(FlashError, B.FileFlash, path, 2 * 256, 256, 4)  # the file is bigger
    assert raises(FlashError, B.FileFlash, path, 1000, 256, 4)


def test_rng_and_secure_store():
    class NoRandom:
        rename = None
    assert raises(B.BoardError, B.urandom_rng, NoRandom())

    class Urandom:
        def urandom(self, n):
            return CountingRng(b"u")(n)
    rng = B.urandom_rng(Urandom())
    assert len(rng(32)) == 32 and rng(0) == b""
    assert raises(ValueError, rng, -1) and raises(ValueError, rng, True)

    import os
    prefix = "/tmp/pump-board-test-store-"
    _fresh(prefix + "anchor")
    store = B.FileSecureStore(os, prefix)
    assert store.read("anchor") is None
    store.write("anchor", b"one")
    store.write("anchor", b"two")
    assert store.read("anchor") == b"two" and store.writes == 2
    assert raises(ValueError, store.write, "../x", b"")
    assert raises(B.BoardError, B.FileSecureStore, object(), "/tmp/x")


PUMP_KEY = bytes(range(1, 33))
GATEWAY_KEY = bytes(range(40, 72))


def _credential(private, kid, role):
    return trust.make_ccs(crypto.p256_public(private), kid, role or "pump", role)


def test_node_serves_edhoc_and_protected_requests_over_the_uart_while_delivering():
    port = FakeTime(PERIOD - 60000)                      # the ticks wrap during the run
    machine = FakeMachine()
    uart_link = B.open_uart(machine, 0)
    step, enable = FakePin(0), FakePin(0)
    hw = B.BoardHardware(B.board_clock(port), B.PinMotor(step, enable),
                         B.ButtonUI(FakePin(1), port, out=lambda text: None),
                         CountingRng(b"board"), MemorySecureStore(),
                         watchdog=B.BoardWatchdog())
    flash = B.FileFlash(_flash_path("node"), 16 * 4096, 4096, 4)
    pump_file = cbor.encode({1: 1, 2: "pump", 3: PUMP_KEY, 4: _credential(PUMP_KEY, b"\x01",
                                                                          None)})
    identity = parse_identity(pump_file)
    gateway_ccs = _credential(GATEWAY_KEY, b"\x02", "gateway")
    node = BoardNode(hw, flash, b"board-log-key-for-tests-0000001", identity,
                     trust.TrustList([("gateway", gateway_ccs)]), uart_link)
    assert node.pump.set_basal_program([1000] * 48).ok and node.pump.start().ok
    node.serve(port.sleep_ms, turns=200)

    gateway = FramedLink(FarEnd(machine.uarts[0]))
    peer = P.PeerSession(credentials.ccs(gateway_ccs), GATEWAY_KEY, identity[1],
                         CountingRng(b"gw"))

    def exchange(message):
        gateway.send(message)
        for _ in range(100):
            port.sleep_ms(node.turn())
            for payload in gateway.poll():
                return payload
        raise AssertionError("no answer over the UART")

    event, reply = peer.receive(exchange(peer.connect()), node.now())
    assert event.kind == P.ESTABLISHED, event
    event, _ = peer.receive(exchange(reply), node.now())
    assert event.kind == P.CONFIRMED, event
    event, _ = peer.receive(exchange(peer.request(requester.request_message("status", {}),
                                                  node.now())), node.now())
    assert event.kind == P.RESPONSE
    status = requester.parse_response("status", event.value)
    assert status.fields["state"] == S.STATE_CODES["delivering"], status
    # An hour of therapy on the board loop: 1 U/h is 40 pulses on the step pin. (Nothing
    # more comes on the link: the loop may sleep until the pump's next tick.)
    node.max_sleep_ms = 60000
    start, pulses = node.now(), step.rises
    while node.now() - start < 3600000:
        port.sleep_ms(node.turn())
    assert step.rises - pulses == 40, step.rises - pulses
    assert hw.watchdog.feeds >= node.turns and node.link_faults == 0
    flash.close()


def test_identity_files_are_checked():
    for bad in (b"", b"\xff", cbor.encode([1]), cbor.encode({1: 1, 2: "gateway"}),
                cbor.encode({1: 1, 2: "pump", 3: b"short", 4: b""}),
                cbor.encode({1: 1, 2: "pump", 3: bytes(32), 4: b"\xa0"})):
        assert raises(NodeError, parse_identity, bad), bad
