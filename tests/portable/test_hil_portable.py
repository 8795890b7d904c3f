"""The device end of the firmware in the loop (pump/board/hil.py), on CPython and
MicroPython: a host's request that is malformed, out of order, not on the interface or
turns the clock back is refused with a reason, never served; the motor's pulses and the
audit records travel back; the button counts once and not when stale. Plain asserts.
"""

from pump.board import hil
from pump.hal import PRESS_VALID_MS
from secure_channel import cbor, crypto
from secure_channel.sessions import trust

PRIVATE = bytes(range(1, 33))


def config():
    ccs = trust.make_ccs(crypto.p256_public(PRIVATE), b"\x01", "pump")
    gateway = trust.make_ccs(crypto.p256_public(bytes(range(2, 34))), b"\x02", "gateway")
    trusted = trust.TrustList()
    trusted.add("gateway", trust._credential(gateway))
    return hil.boot_config(b"seed|pump", "seed|pump-channel", 1767225600, 0, 16 * 4096,
                           4096, b"log key for the test, not secret", (PRIVATE, ccs),
                           trusted.encode())


def request(device, op, args=(), ticks=0, press=None, reservoir=300000, steps=0):
    return device.handle({1: op, 2: 7, 3: [ticks, 100, 0, 100, reservoir, steps, press],
                          4: list(args)})


def booted():
    device = hil.HilDevice()
    answer = request(device, "boot", [config()])
    assert answer[2] is None, answer[2]
    return device


def test_nothing_is_served_before_boot_or_with_a_bad_configuration():
    device = hil.HilDevice()
    assert "boot first" in request(device, "call", ["pump", "status"])[2]
    assert "configuration" in request(device, "boot", [{"rng": b"x"}])[2]
    for name, value in (("drift", 10 ** 15), ("wall_s", -1), ("private", b"short"),
                        ("flash", 5000), ("trust", b"\xff")):
        bad = config()
        bad[name] = value
        assert "bad configuration" in request(device, "boot", [bad])[2], name
        assert device.hw is None, name
    assert request(device, "boot", [config()])[2] is None      # a good one after them
    again = request(device, "boot", [config()])[2]
    assert "configured already" in again, again
    assert device.handle({1: "get", 2: "7", 3: None, 4: []})[2] == "a request's seq is an int"


def test_only_the_interface_is_reachable():
    device = booted()
    for target, name in (("pump", "set_wall_clock"), ("pump", "__class__"),
                         ("hw", "motor"), ("pump", "_log"), ("manager", "receive")):
        answer = request(device, "call", [target, name])
        assert "not allowed" in answer[2], (target, name, answer)
    assert "not allowed" in request(device, "get", ["pump", "hw"])[2]
    assert "unknown op" in request(device, "flash", [])[2]
    assert request(device, "get", ["pump", "state"])[3] == "stopped"


def test_a_clock_that_goes_back_or_a_bad_hardware_state_is_refused():
    device = booted()
    assert request(device, "call", ["pump", "tick"], ticks=5000)[2] is None
    assert "went back" in request(device, "call", ["pump", "tick"], ticks=4000)[2]
    assert "non-negative" in request(device, "call", ["pump", "tick"], ticks=-1)[2]
    answer = device.handle({1: "call", 2: 1, 3: [6000, 100], 4: ["pump", "tick"]})
    assert "hardware state" in answer[2]
    assert "no later than now" in request(device, "get", ["pump", "state"], ticks=7000,
                                          press=8000)[2]
    assert "no later than now" in request(device, "get", ["pump", "state"], ticks=7000,
                                          press=-1)[2]
    assert device.hw.clock.ticks_ms() == 5000           # a refused request changed nothing
    assert request(device, "get", ["pump", "state"], ticks=6000)[2] is None


def test_a_firmware_fault_is_reported_not_raised():
    device = booted()
    answer = request(device, "call", ["pump", "status", "unexpected argument"])
    assert answer[2].startswith("fault: TypeError"), answer[2]


def test_pulses_and_audit_records_travel_back_to_the_host():
    device = booted()
    answer = request(device, "call", ["pump", "set_basal_program", [1000] * 48])
    assert answer[3].value[1] == 0, answer[3]          # Result(code OK, ...)
    assert request(device, "call", ["pump", "start"])[2] is None
    pulses, reservoir, steps, records = 0, 300000, 0, []
    tick = 0
    while tick < 3600000:
        answer = request(device, "call", ["pump", "tick"], ticks=tick, reservoir=reservoir,
                         steps=steps)
        assert answer[2] is None, answer[2]
        pulses += answer[4]
        reservoir -= 25 * answer[4]                   # the host's motor model
        steps += answer[4]
        records += answer[6]
        tick = max(answer[3], tick + 1)
    assert 36 <= pulses <= 44, pulses                # 1 U/h is 40 pulses of 25 mU
    assert any(record[0] for record in records)
    assert answer[5] is True                          # the motor's enable line


def test_a_press_counts_once_and_not_when_stale():
    device = booted()
    ui = device.hw.ui
    request(device, "get", ["pump", "state"], ticks=1000, press=1000)
    assert ui.confirm_pressed() is True
    assert ui.confirm_pressed() is False
    request(device, "get", ["pump", "state"], ticks=2000 + PRESS_VALID_MS, press=1500)
    assert ui.confirm_pressed() is False


def test_the_pressure_rises_with_each_pulse_into_an_occluded_line():
    device = booted()
    state = [1000, 300, 40, 100, 300000, 0, None]
    assert device.handle({1: "get", 2: 1, 3: state, 4: ["pump", "state"]})[2] is None
    sensor = device.hw.pressure
    assert sensor.read() == 300
    device.hw.motor.pulse()
    device.hw.motor.pulse()
    assert sensor.read() == 380


def test_lines_that_are_not_the_protocol_are_answered_with_a_reason_or_ignored():
    server = hil.Server()
    assert server.line("boot: console noise on a shared UART") is None
    answer = hil.decode_line(server.line("Hzz"))
    assert answer[1] is None and "undecodable" in answer[2]
    answer = hil.decode_line(server.line("H" + cbor.encode([1, 2]).hex()))
    assert "map" in answer[2]
    answer = hil.decode_line(server.line(hil.encode_line({1: "quit", 2: 3})))
    assert answer == {1: 3, 2: None} and server.done
