"""Time the pump can trust: wrapping board ticks extended, restarts and jumps contained.

Three layers, bottom up:

- ``ExtendedClock`` turns a board's wrapping ``ticks_ms`` (MicroPython wraps at 2^30 on many
  ports) into a 64-bit monotonic count with ``ticks_diff``; it must be read at least once per
  half period (6 days at 2^30), which the main loop's one-minute supervision guarantees.
- ``WrappingTicks`` is a test double of such a board counter.
- ``PumpClock`` is what the firmware reads. Its offset makes a counter that restarted at 0
  after a reboot (a board without RTC) continue from the last logged tick; power-off time
  is credited up to 15 min a boot and 30 min over all boots of a day (a budget kept in the
  secure store), so an RTC that jumps at every power-up cannot add up; and it refuses to
  count an implausible gap between two reads as elapsed time: a jump of the counter is a
  fault (IL-CLOCK-JUMP), a long pause a watchdog event (IL-WATCHDOG), and in both cases only
  ``MAX_GAP_MS`` is credited, so no rolling limit or insulin-on-board estimate is reopened
  by time that did not pass. Going backwards is never absorbed silently: it is reported.
"""

from pump.units import MS_PER_HOUR, MS_PER_MINUTE

MAX_GAP_MS = 3 * MS_PER_MINUTE          # longest gap between reads credited as elapsed
JUMP_MS = MS_PER_HOUR                   # a longer gap is a clock fault, not a late tick
MAX_BOOT_CREDIT_MS = 15 * MS_PER_MINUTE  # power-off time credited at boot, at most
CREDIT_BUDGET_MS = 30 * MS_PER_MINUTE    # ... and over all boots: a budget that refills
CREDIT_REFILL = 48                       # one ms per 48 ms run: 30 min a day

WATCHDOG = "IL-WATCHDOG"
JUMP = "IL-CLOCK-JUMP"
BACKWARDS = "IL-CLOCK-MONOTONIC"


class WrappingTicks:
    """A board tick counter that wraps at ``period`` (test double of MicroPython's)."""

    def __init__(self, period=1 << 30, start=0):
        self.period = period
        self.raw = start % period
        self.wraps = 0

    def ticks_ms(self):
        return self.raw

    def ticks_diff(self, new, old):
        """MicroPython semantics: the signed difference modulo the period."""
        half = self.period // 2
        return ((new - old + half) % self.period) - half

    def advance(self, ms):
        total = self.raw + ms
        self.wraps += total // self.period
        self.raw = total % self.period


class ExtendedClock:
    """A 64-bit monotonic ms count over wrapping ticks, and a settable wall clock."""

    def __init__(self, ticks_ms, ticks_diff, wall_s=0):
        self._raw = ticks_ms
        self._diff = ticks_diff
        self._last_raw = ticks_ms()
        self._count = 0
        self._wall_offset = wall_s * 1000

    def ticks_ms(self):
        raw = self._raw()
        step = self._diff(raw, self._last_raw)
        if step > 0:                    # a negative step is a hardware fault: not counted
            self._count += step
            self._last_raw = raw
        return self._count

    def wall_s(self):
        return (self.ticks_ms() + self._wall_offset) // 1000

    def set_wall(self, wall_s):
        self._wall_offset = wall_s * 1000 - self.ticks_ms()


class PumpClock:
    """The firmware's clock: the HAL clock plus an offset, with gaps bounded (see module)."""

    def __init__(self, hw_clock, last_logged=None, credit_ms=MAX_BOOT_CREDIT_MS):
        self.hw = hw_clock
        raw = hw_clock.ticks_ms()
        self.offset = 0
        self.off_ms = 0                  # power-off time seen at boot (0 if unknown)
        self.credited = 0                # of which counted as elapsed
        self.restarted = False
        if last_logged is not None:
            gap = raw - last_logged
            if gap < 0:                 # the counter started again at boot: time unknown
                self.restarted = True
                gap = 0
            self.off_ms = gap
            limit = min(MAX_BOOT_CREDIT_MS, max(0, credit_ms))
            self.credited = gap if gap < limit else limit
            self.offset = last_logged + self.credited - raw
        self._last = raw + self.offset
        self.events = []                # (kind, gap ms) not yet taken by the controller

    def ticks_ms(self):
        now = self.hw.ticks_ms() + self.offset
        gap = now - self._last
        if gap > MAX_GAP_MS:
            self.offset -= gap - MAX_GAP_MS
            self.events.append((JUMP if gap > JUMP_MS else WATCHDOG, gap))
            now = self._last + MAX_GAP_MS
        elif gap < 0:
            self.offset -= gap
            self.events.append((BACKWARDS, gap))
            now = self._last
        self._last = now
        return now

    @staticmethod
    def refilled(tokens, since, now):
        """The boot-credit budget at ``now``: ``tokens`` at ``since`` plus the refill."""
        if since is None or now < since:
            return tokens
        tokens += (now - since) // CREDIT_REFILL
        return tokens if tokens < CREDIT_BUDGET_MS else CREDIT_BUDGET_MS

    def take_events(self):
        events = self.events
        self.events = []
        return events

    def wall_s(self):
        return self.hw.wall_s()

    def set_wall(self, wall_s):
        self.hw.set_wall(wall_s)
