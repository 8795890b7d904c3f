"""Independent safety monitor: the second channel that gates the motor (IEC 60601-2-24 style).

The controller asks this monitor for every pulse; only the monitor drives the motor and owns
its power-stage enable line. It shares no mutable state with the controller: it keeps its
own copies of limits, basal program and temporary basal (declared to it by the command path,
not by the controller), its own bucketed pulse counts and its own budgets, computed by
different code from the controller's reservation ledger.

It latches safe-stop, cuts motor power and refuses every later pulse when:
- a pulse would exceed its 1 h or 24 h envelope (SM-OVER-1H, SM-OVER-24H);
- a therapy pulse comes while therapy is stopped: only the command path starts therapy
  (start, resume), anyone may stop it (SM-NOT-DELIVERING);
- a bolus pulse has no declared budget, or a declared bolus is above the maximum
  (SM-BOLUS-BUDGET); a prime pulse has no live prime budget (SM-PRIME-BUDGET);
- basal pulses come faster than its own basal computation allows (SM-BASAL-RATE);
- pulses come faster than the motor pacing (SM-PULSE-RATE);
- the encoder moves without or beyond a commanded pulse (SM-RUNAWAY);
- the controller raises an exception (SM-CONTROLLER-FAULT).
Each check allows at most one pulse of slack, so a faulty controller gets at most one pulse
beyond what is due before delivery stops.
"""

from pump import delivery, ledger
from pump.limits import Limits
from pump.rolling import BucketWindow
from pump.units import BASAL_SLOTS, PULSE_MU

PULSE_WORK = delivery.PULSE_WORK


class SafetyMonitor:
    def __init__(self, motor, clock, limits):
        self._motor = motor
        self._clock = clock
        self.latched = ""
        self._limits = Limits(limits.as_dict())
        self._program = [0] * BASAL_SLOTS
        self._temp = None
        self._window_1h = BucketWindow(ledger.WINDOW_1H[1],
                                       ledger.WINDOW_1H[0] // ledger.WINDOW_1H[1])
        self._window_24h = BucketWindow(ledger.WINDOW_24H[1],
                                        ledger.WINDOW_24H[0] // ledger.WINDOW_24H[1])
        self._basal_credit = PULSE_WORK
        self._basal_rate_at = None            # (tick, rate) of the last accrual
        self._bolus_budget = 0
        self._ext = None                      # [start, duration, total, delivered]
        self._prime_budget = 0
        self._active = False                  # therapy started by the command path
        self._last_pulse = None
        self._encoder = motor.encoder()
        self.pulses = 0
        motor.set_enabled(True)

    # -- declarations from the command path -------------------------------------------
    def set_limits(self, values):
        """Apply a limits change to the monitor's own copy (same validation as the pump)."""
        self._limits = self._limits.updated(values)

    def set_program(self, rates):
        self.sync()
        self._program = [int(r) for r in rates]
        self.sync()

    def set_temp(self, value, is_percent, end):
        self.sync()
        self._temp = (value, is_percent, end)
        self.sync()

    def clear_temp(self):
        self.sync()
        self._temp = None
        self.sync()

    def sync(self):
        """Accrue basal credit up to now; call before and after anything that moves the rate
        (program, temporary basal, wall-clock change), as the controller does."""
        self._accrue(self._clock.ticks_ms())

    def declare_bolus(self, pulses):
        if pulses * PULSE_MU > self._limits.max_bolus_mu:
            self.latch("SM-BOLUS-BUDGET")
            return
        self._bolus_budget += pulses

    def declare_extended(self, pulses, duration_ms, now):
        if pulses * PULSE_MU > self._limits.max_bolus_mu:
            self.latch("SM-BOLUS-BUDGET")
            return
        self._ext = [now, duration_ms, pulses, 0]

    def declare_prime(self, pulses):
        if pulses * PULSE_MU > self._limits.max_prime_mu:
            self.latch("SM-PRIME-BUDGET")
            return
        self._prime_budget += pulses

    def cancel_boluses(self):
        self._bolus_budget = 0
        self._ext = None

    def cancel_prime(self):
        self._prime_budget = 0

    def therapy_started(self):
        """From the command path only, after a successful start or resume."""
        self.sync()
        self._basal_credit = 0               # as the controller, which restarts its accrual
        self._active = True

    def therapy_stopped(self):
        """Suspend, stop, alarm or fault: no therapy pulse until therapy is started again."""
        self._active = False
        self.cancel_boluses()
        self.clear_temp()

    def seed(self, tick, pulses):
        """Count pulses recorded before a reboot (from the verified log) in the envelopes."""
        self._window_1h.add(tick, pulses)
        self._window_24h.add(tick, pulses)

    # -- latch ------------------------------------------------------------------------
    def latch(self, reason):
        if not self.latched:
            self.latched = reason
        self._motor.set_enabled(False)

    def service_reset(self):
        self.latched = ""
        self._bolus_budget = 0
        self._ext = None
        self._prime_budget = 0
        self._active = False
        self._encoder = self._motor.encoder()
        self._motor.set_enabled(True)

    # -- supervision -----------------------------------------------------------------
    def check(self, now):
        """At every controller tick: accrue, and the encoder must not move by itself."""
        self._accrue(now)
        if self._motor.encoder() != self._encoder:
            self.latch("SM-RUNAWAY")
        return not self.latched

    def _basal_rate(self, now, wall_s):
        rate = self._program[(wall_s % 86400) // 1800]
        temp = self._temp
        if temp is not None and now < temp[2]:
            rate = rate * temp[0] // 100 if temp[1] else temp[0]
        return rate

    def _accrue(self, now):
        """Credit for [last, now] at the higher of the rates at both ends: never less than the
        controller, which uses the rate at the end of each of its intervals."""
        rate = self._basal_rate(now, self._clock.wall_s())
        previous = self._basal_rate_at
        if previous is not None and now > previous[0]:
            credit = self._basal_credit + max(rate, previous[1]) * (now - previous[0])
            self._basal_credit = credit if credit < PULSE_WORK else PULSE_WORK
        self._basal_rate_at = (now, rate)

    def _basal_allows(self, now):
        self._accrue(now)
        if self._basal_credit < 0:             # one pulse early is the most it tolerates
            return False
        self._basal_credit -= PULSE_WORK
        return True

    def _budget_allows(self, kind, now):
        if kind == delivery.BASAL:
            return self._basal_allows(now) or self._fail("SM-BASAL-RATE")
        if kind == delivery.BOLUS:
            if self._bolus_budget <= 0:
                return self._fail("SM-BOLUS-BUDGET")
            self._bolus_budget -= 1
            return True
        if kind == delivery.EXTENDED:
            ext = self._ext
            if ext is None or ext[3] >= ext[2]:
                return self._fail("SM-BOLUS-BUDGET")
            elapsed = min(now - ext[0], ext[1])
            due = -((-ext[2] * elapsed) // ext[1]) + 1     # ceil, plus one pulse of slack
            if ext[3] + 1 > due:
                return self._fail("SM-BOLUS-BUDGET")
            ext[3] += 1
            return True
        if kind == delivery.PRIME:
            if self._prime_budget <= 0:
                return self._fail("SM-PRIME-BUDGET")
            self._prime_budget -= 1
            return True
        return self._fail("SM-CONTROLLER-FAULT")

    def _fail(self, reason):
        self.latch(reason)
        return False

    def pulse(self, kind, now):
        """Gate one pulse of ``kind``; True if the motor was driven."""
        if self.latched:
            return False
        if not self.check(now):
            return False
        if self._last_pulse is not None and now - self._last_pulse < delivery.PULSE_INTERVAL_MS:
            return self._fail("SM-PULSE-RATE")
        if kind != delivery.PRIME:
            if not self._active:
                return self._fail("SM-NOT-DELIVERING")
            if self._window_1h.count(now) + 1 > self._limits.max_1h_mu // PULSE_MU:
                return self._fail("SM-OVER-1H")
            if self._window_24h.count(now) + 1 > self._limits.max_24h_mu // PULSE_MU:
                return self._fail("SM-OVER-24H")
        if not self._budget_allows(kind, now):
            return False
        self._motor.pulse()
        self._last_pulse = now
        self.pulses += 1
        if kind != delivery.PRIME:
            self._window_1h.add(now)
            self._window_24h.add(now)
        moved = self._motor.encoder() - self._encoder
        self._encoder += moved
        if moved > 1:
            self.latch("SM-RUNAWAY")
        return True
