"""HAL objects for a MicroPython board, with the interfaces ``pump.hal`` lists.

Every constructor takes the port's objects (a ``machine.UART``, ``machine.Pin``s, the
``time`` and ``os`` modules) instead of importing them: a port without a feature fails
where the board's ``main.py`` asks for it, with one line, and the tests pass fakes.

- ``UartTransport``: a byte link on a ``machine.UART`` with the transports' interface
  (``write``, ``read(max_bytes, timeout)``, ``close``); ``FramedLink`` and the session
  manager's ``feed`` take its bytes.
- ``board_clock``: the port's wrapping ``time.ticks_ms`` extended to a monotonic count by
  ``pump.clock.ExtendedClock`` (``ticks_diff`` handles the wrap).
- ``PinMotor``: one step pulse per 25 mU pulse on a step pin, an enable line, and an
  encoder (a callable counting plunger steps; without one, commanded steps are counted,
  which detects no runaway: see docs/boards.md).
- ``ButtonUI``: the confirm button on a pin (a press is latched by an interrupt and counts
  once, for ``PRESS_VALID_MS``), an optional alarm output pin, text to the console.
- ``FileFlash``: NOR-flash semantics (erase to 0xFF, program only clears bits, aligned)
  over a file of the board's file system, a drop-in for ``bootloader.flash.NorFlash``.
- ``FileSecureStore``: named records written atomically (temporary file, then rename).
  A board's file system can be rolled back by whoever can write its flash: this is NOT
  the replay-protected store a product needs (RPMB, a secure element); it stands in for it.
- ``urandom_rng``: ``os.urandom`` as the HAL RNG, refused where the port lacks it.
- ``BoardWatchdog``: ``machine.WDT.feed``.
"""

from bootloader.flash import ERASED, FlashError, check_geometry, erased
from pump.clock import ExtendedClock
from pump.ui_state import PRESS_VALID_MS, AlarmState


class BoardError(Exception):
    """The port lacks what the board needs, or a board object was misconfigured."""


class UartTransport:
    """A byte transport over a ``machine.UART``. ``read`` waits up to ``timeout`` seconds
    only if a ``time`` module is given (else it never blocks)."""

    def __init__(self, uart, time=None):
        for name in ("read", "write", "any"):
            if not hasattr(uart, name):
                raise BoardError("UART object has no %s()" % name)
        self.uart = uart
        self.time = time

    def write(self, data):
        n = self.uart.write(bytes(data))
        return len(data) if n is None else n

    def read(self, max_bytes=4096, timeout=0):
        if not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError("max_bytes must be a positive int")
        waiting = self.uart.any()
        if not waiting and timeout and self.time is not None:
            start = self.time.ticks_ms()
            limit = int(timeout * 1000)
            while not waiting and self.time.ticks_diff(self.time.ticks_ms(), start) < limit:
                self.time.sleep_ms(1)
                waiting = self.uart.any()
        if not waiting:
            return b""
        data = self.uart.read(min(waiting, max_bytes))
        return bytes(data) if data else b""

    def close(self):
        if hasattr(self.uart, "deinit"):
            self.uart.deinit()


def open_uart(machine, uart_id, baudrate=115200, time=None, **pins):
    """``UartTransport`` on ``machine.UART(uart_id, baudrate, ...)``; ``pins``: tx=, rx=
    as the port's UART constructor takes them (ESP32: pin numbers; RP2040: Pin objects)."""
    if not hasattr(machine, "UART"):
        raise BoardError("this port has no machine.UART")
    uart = machine.UART(uart_id, baudrate=baudrate, **pins)
    return UartTransport(uart, time)


def board_clock(time, wall_s=0):
    """The pump's HAL clock on the port's wrapping ticks (see pump.clock)."""
    for name in ("ticks_ms", "ticks_diff"):
        if not hasattr(time, name):
            raise BoardError("this port's time module has no %s()" % name)
    return ExtendedClock(time.ticks_ms, time.ticks_diff, wall_s)


class PinMotor:
    """A stepper driver: ``step`` pin pulsed once per 25 mU pulse, ``enable`` pin the power
    stage (``enable_active`` is the level that enables it), ``encoder()`` the position."""

    def __init__(self, step, enable, encoder=None, enable_active=0, steps_per_pulse=1):
        if type(steps_per_pulse) is not int or steps_per_pulse < 1:
            raise BoardError("steps_per_pulse must be a positive int")
        self.step = step
        self.enable = enable
        self.enable_active = 1 if enable_active else 0
        self.steps_per_pulse = steps_per_pulse
        self._encoder = encoder
        self.commanded = 0
        self.enabled = False
        self.set_enabled(False)
        step.value(0)

    def pulse(self):
        if not self.enabled:
            return
        for _ in range(self.steps_per_pulse):
            self.step.value(1)
            self.step.value(0)
            self.commanded += 1

    def encoder(self):
        return self._encoder() if self._encoder is not None else self.commanded

    def set_enabled(self, enabled):
        self.enabled = bool(enabled)
        level = self.enable_active if self.enabled else 1 - self.enable_active
        self.enable.value(level)


class ButtonUI(AlarmState):
    """The pump's button, alarm output and text, on pins.

    ``button``: a ``machine.Pin`` input, pressed at level ``pressed_level``. A press is
    latched by ``Pin.irq`` where the port has it (else ``poll()`` reads the pin) with the
    port's raw tick, and ``confirm_pressed`` takes it once, only while it is younger than
    ``PRESS_VALID_MS``: a stale press never confirms something asked later.
    """

    def __init__(self, button, time, alarm_pin=None, pressed_level=0, out=print,
                 trigger=None):
        AlarmState.__init__(self)
        self.button = button
        self.time = time
        self.alarm_pin = alarm_pin
        self.pressed_level = pressed_level
        self.out = out
        self._press = None                # the port's raw ticks_ms() of the latched press
        self._was_down = False
        self.irq = False
        if trigger is not None and hasattr(button, "irq"):
            button.irq(trigger=trigger, handler=self._on_edge)
            self.irq = True
        if alarm_pin is not None:
            alarm_pin.value(0)

    def _on_edge(self, pin):
        # Interrupt context: no allocation beyond a small int.
        self._press = self.time.ticks_ms()

    def poll(self):
        """Latch a press seen by reading the pin (ports or pins without an interrupt)."""
        down = self.button.value() == self.pressed_level
        if down and not self._was_down:
            self._press = self.time.ticks_ms()
        self._was_down = down

    def confirm_pressed(self):
        if not self.irq:
            self.poll()
        press, self._press = self._press, None
        if press is None:
            return False
        age = self.time.ticks_diff(self.time.ticks_ms(), press)
        return 0 <= age <= PRESS_VALID_MS

    def show(self, text):
        self.out(text)

    def alarm(self, active, code="", level=1):
        AlarmState.alarm(self, active, code, level)
        if active:
            self.out("ALARM %s (level %d)" % (code, level))
        if self.alarm_pin is not None:
            self.alarm_pin.value(1 if active else 0)


class FileFlash:
    """NOR-flash rules over a file of ``size`` bytes (created erased if missing).

    ``open`` is the port's ``open``; only the bytes asked for are read, so the flash never
    sits in RAM. Refusals raise ``bootloader.flash.FlashError`` as ``NorFlash`` does."""

    def __init__(self, path, size, sector_size=4096, align=4, open=open):
        check_geometry(size, sector_size, align)
        self.size = size
        self.sector_size = sector_size
        self.align = align
        self.path = path
        self.op_count = 0
        self.erase_counts = [0] * (size // sector_size)
        try:
            self._file = open(path, "r+b")
        except OSError:
            self._file = open(path, "w+b")
        self._file.seek(0, 2)
        have = self._file.tell()
        if have > size:
            raise FlashError("flash file %s is larger than %d bytes" % (path, size))
        while have < size:
            chunk = ERASED[:min(len(ERASED) - have % len(ERASED), size - have)]
            self._file.write(chunk)
            have += len(chunk)
        self._file.flush()

    def _check_range(self, addr, length):
        if addr < 0 or length < 0 or addr + length > self.size:
            raise FlashError("access outside flash: 0x%x+%d" % (addr, length))

    def read(self, addr, length):
        self._check_range(addr, length)
        self._file.seek(addr)
        data = self._file.read(length)
        if data is None or len(data) != length:
            raise FlashError("short read from %s at 0x%x" % (self.path, addr))
        return bytes(data)

    def program(self, addr, data):
        data = bytes(data)
        self._check_range(addr, len(data))
        if addr % self.align or len(data) % self.align:
            raise FlashError("unaligned program at 0x%x+%d" % (addr, len(data)))
        old = self.read(addr, len(data))
        for i in range(len(data)):
            if data[i] & ~old[i] & 0xFF:
                raise FlashError("program would set bits at 0x%x" % (addr + i))
        self.op_count += 1
        self._file.seek(addr)
        self._file.write(data)
        self._file.flush()

    def erase(self, addr):
        self._check_range(addr, self.sector_size)
        if addr % self.sector_size:
            raise FlashError("erase address 0x%x is not a sector start" % addr)
        self.op_count += 1
        self._file.seek(addr)
        for _ in range(self.sector_size // len(ERASED)):     # no sector-sized buffer
            self._file.write(ERASED)
        self._file.flush()
        self.erase_counts[addr // self.sector_size] += 1

    def is_erased(self, addr, length):
        self._check_range(addr, length)
        return erased(self.read, addr, length)

    def image(self):
        return self.read(0, self.size)

    def close(self):
        self._file.close()


class FileSecureStore:
    """``read(name)``/``write(name, data)`` as files ``<prefix><name>``, each write atomic
    (a temporary file renamed over the old one). Not replay-protected: see the module."""

    def __init__(self, os, prefix, open=open):
        if not hasattr(os, "rename"):
            raise BoardError("this port's os module has no rename()")
        self.os = os
        self.prefix = prefix
        self.open = open
        self.writes = 0

    def _path(self, name):
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValueError("bad record name")
        return self.prefix + name

    def read(self, name):
        try:
            with self.open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        path = self._path(name)
        temporary = path + ".new"
        with self.open(temporary, "wb") as f:
            f.write(bytes(data))
        self.os.rename(temporary, path)
        self.writes += 1


def urandom_rng(os):
    """The HAL RNG: ``rng(n)`` -> n bytes from ``os.urandom``."""
    if not hasattr(os, "urandom"):
        raise BoardError("this port has no os.urandom: give the board a hardware RNG")
    urandom = os.urandom

    def rng(n):
        if type(n) is not int or n < 0:
            raise ValueError("n must be a non-negative int")
        data = bytes(urandom(n))
        if len(data) != n:
            raise BoardError("os.urandom returned %d bytes, not %d" % (len(data), n))
        return data
    return rng


class BoardWatchdog:
    def __init__(self, wdt=None):
        self.wdt = wdt
        self.feeds = 0

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()
        self.feeds += 1


class FixedSensor:
    """A reading a board without that sensor reports (``read``/``percent``/
    ``remaining_mu`` all return ``value``); docs/boards.md says which to replace."""

    def __init__(self, value):
        self.value = value

    def read(self):
        return self.value

    def percent(self):
        return self.value

    def remaining_mu(self):
        return self.value


class BoardHardware:
    """The HAL bundle ``pump.pump.Pump`` takes, from board objects."""

    def __init__(self, clock, motor, ui, rng, secure_store, watchdog=None, pressure=None,
                 reservoir=None, battery=None):
        self.clock = clock
        self.motor = motor
        self.ui = ui
        self.rng = rng
        self.secure_store = secure_store
        self.watchdog = watchdog or BoardWatchdog()
        self.pressure = pressure or FixedSensor(100)
        self.reservoir = reservoir or FixedSensor(300000)
        self.battery = battery or FixedSensor(100)
