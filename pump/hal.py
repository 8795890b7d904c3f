"""The pump's hardware abstraction: what the firmware may touch, and in-memory versions.

The firmware receives these objects; it never imports a driver. The simulator and a board
port provide their own with the same methods. In-memory versions here serve the tests
(on CPython and MicroPython) and inject faults.

Interfaces (duck-typed):
- clock:     ticks_ms() -> monotonic int ms, never decreasing (a board extends its wrapping
             ticks with ``pump.clock.ExtendedClock``; a counter that restarts at boot or
             jumps is contained by ``pump.clock.PumpClock``);
             wall_s() -> settable wall clock, int seconds; set_wall(s).
- motor:     pulse() drives one 25 mU pulse; encoder() -> cumulative plunger steps (an
             absolute position: it survives a reboot); set_enabled(bool) is the power-stage
             enable line. Only the safety monitor ever holds the motor.
- pressure:  read() -> line pressure in mbar (int).
- reservoir: remaining_mu() -> measured insulin left (int mU).
- battery:   percent() -> 0..100.
- ui:        show(text); alarm(active, code, level); confirm_pressed() -> bool: the pump's
             own button, the only way a patient confirms on the pump. A press counts once
             and only for ``PRESS_VALID_MS`` after it happened: a stale press must never
             confirm something asked later (a board's driver latches it that long).
- watchdog:  feed().
- rng:       callable(n) -> n random bytes.
- flash:     a ``bootloader.flash`` NorFlash or FlashRegion.
- secure_store: read(name) -> bytes or None; write(name, bytes), atomic. Storage that a
             flash erase or an image rollback cannot restore: on a board, an eMMC RPMB
             partition, a secure element's data slots, or TrustZone-protected storage with a
             monotonic counter. It holds the audit log's anchor and the clinician settings.
"""

from pump.ui_state import PRESS_VALID_MS, AlarmState


class MemoryClock:
    def __init__(self, ticks_ms=0, wall_s=1767225600):   # 2026-01-01T00:00:00Z
        self._ticks = ticks_ms
        self._wall_offset = wall_s * 1000 - ticks_ms

    def ticks_ms(self):
        return self._ticks

    def wall_s(self):
        return (self._ticks + self._wall_offset) // 1000

    def set_wall(self, wall_s):
        self._wall_offset = wall_s * 1000 - self._ticks

    def advance(self, ms):
        if ms < 0:
            raise ValueError("monotonic time cannot go backwards")
        self._ticks += ms

    def advance_to(self, ticks_ms):
        self.advance(ticks_ms - self._ticks)


class DriftingClock(MemoryClock):
    """The monotonic tick as given; the real-time clock runs fast or slow by ``drift_ppm``
    (a watch crystal: +-20 ppm is 1.7 s a day), as the simulator's hardware and a device
    in the loop (pump.board.hil) both model it."""

    def __init__(self, ticks_ms=0, wall_s=1767225600, drift_ppm=0):
        MemoryClock.__init__(self, ticks_ms, wall_s)
        self.drift_ppm = drift_ppm

    def wall_s(self):
        ticks = self._ticks
        return (ticks + ticks * self.drift_ppm // 1000000 + self._wall_offset) // 1000

    def set_wall(self, wall_s):
        ticks = self._ticks
        self._wall_offset = wall_s * 1000 - ticks - ticks * self.drift_ppm // 1000000


class MemoryMotor:
    """Counts pulses; faults: ``extra_steps`` per pulse (runaway), ``stuck`` (no motion)."""

    def __init__(self, reservoir=None):
        self.pulses = 0
        self.steps = 0
        self.enabled = True
        self.extra_steps = 0
        self.stuck = False
        self.reservoir = reservoir
        self.log = []            # (tick, ) of every pulse that moved insulin, for test oracles
        self.clock = None

    def pulse(self):
        if not self.enabled:
            return
        self.pulses += 1
        if self.stuck:
            return
        self.steps += 1 + self.extra_steps
        if self.reservoir is not None:
            self.reservoir.consume(25 * (1 + self.extra_steps))
        if self.clock is not None:
            self.log.append(self.clock.ticks_ms())

    def encoder(self):
        return self.steps

    def set_enabled(self, enabled):
        self.enabled = bool(enabled)

    def drift(self, steps):
        """Fault: the motor moves by itself (runaway) between commanded pulses."""
        self.steps += steps
        if self.reservoir is not None:
            self.reservoir.consume(25 * steps)


class MemoryReservoir:
    def __init__(self, mu=300000):
        self.mu = mu

    def remaining_mu(self):
        return self.mu

    def consume(self, mu):
        self.mu = max(0, self.mu - mu)


class MemoryPressure:
    def __init__(self, mbar=100):
        self.mbar = mbar

    def read(self):
        return self.mbar


class MemoryBattery:
    def __init__(self, percent=100):
        self.level = percent

    def percent(self):
        return self.level


class MemoryUI(AlarmState):
    def __init__(self):
        AlarmState.__init__(self)
        self.lines = []
        self.clock = None         # set by MemoryHardware: presses expire
        self._pressed = False
        self._pressed_at = None

    @property
    def pressed(self):
        return self._pressed

    @pressed.setter
    def pressed(self, value):
        """Tests press the button with ``ui.pressed = True``."""
        self._pressed = bool(value)
        self._pressed_at = self.clock.ticks_ms() if self.clock is not None else None

    def show(self, text):
        self.lines.append(text)
        if len(self.lines) > 500:
            del self.lines[:250]

    def confirm_pressed(self):
        pressed = self._pressed
        self._pressed = False
        if pressed and self.clock is not None and self._pressed_at is not None:
            return self.clock.ticks_ms() - self._pressed_at <= PRESS_VALID_MS
        return pressed


class MemorySecureStore:
    """Replay-protected storage in memory: atomic named records, outside the flash.

    Faults for tests: ``fail_writes`` makes every write raise (a worn or absent part)."""

    def __init__(self):
        self.records = {}
        self.writes = 0
        self.fail_writes = False

    def read(self, name):
        return self.records.get(name)

    def write(self, name, data):
        if self.fail_writes:
            raise OSError("secure store write failed")
        self.records[name] = bytes(data)
        self.writes += 1


class MemoryWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class CountingRng:
    """Deterministic RNG for tests only: a SHA-256 counter stream from a seed."""

    def __init__(self, seed=b"test"):
        self._seed = seed
        self._counter = 0

    def __call__(self, n):
        from secure_channel.crypto import sha256
        out = b""
        while len(out) < n:
            out += sha256(self._seed + self._counter.to_bytes(8, "big"))
            self._counter += 1
        return out[:n]


class MemoryHardware:
    """All in-memory devices wired together, as tests and the simulator's fast mode use."""

    def __init__(self, clock=None, reservoir_mu=300000):
        self.clock = clock or MemoryClock()
        self.reservoir = MemoryReservoir(reservoir_mu)
        self.motor = MemoryMotor(self.reservoir)
        self.motor.clock = self.clock
        self.pressure = MemoryPressure()
        self.battery = MemoryBattery()
        self.ui = MemoryUI()
        self.ui.clock = self.clock
        self.watchdog = MemoryWatchdog()
        self.rng = CountingRng()
        self.secure_store = MemorySecureStore()
