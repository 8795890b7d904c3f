"""Independent safety monitor: the second channel that gates the motor (IEC 60601-2-24 style).

Only this monitor holds the motor and its power-stage enable line; the controller never
receives either. The controller asks for pulses by writing requests into a ``PulseChannel``
(plain data) that the pump hands to ``serve``; the same channel carries stop notices, which
can only take permissions away. Everything that *grants* delivery reaches the monitor from
the command path (``pump.pump``) and is computed from the command's own arguments: start
and resume, the program, temporary basal, each bolus, reservoir change, tubing and cannula
fill, and limits. The monitor keeps its own copies of all of it, its own bucketed pulse
counts, its own insulin on board (from its own pulse record) and budgets, computed by
different code from the controller's reservation ledger.

It latches safe-stop, cuts motor power and refuses every later pulse when:
- a pulse would exceed its 1 h or 24 h envelope (SM-OVER-1H, SM-OVER-24H);
- insulin on board above scheduled basal, from its own pulse record plus what is declared,
  would pass max IOB (SM-IOB-MAX), or a bolus comes sooner than the minimum bolus interval
  (SM-BOLUS-INTERVAL);
- a therapy pulse comes while therapy is stopped (SM-NOT-DELIVERING);
- a bolus pulse has no declared budget, or a declared bolus is above the maximum
  (SM-BOLUS-BUDGET); a tubing-fill pulse has no live budget, or the fills of one reservoir
  change pass the maximum (SM-PRIME-BUDGET); the same for cannula fill (SM-CANNULA-BUDGET);
- basal pulses come faster than its own basal computation allows (SM-BASAL-RATE);
- pulses come faster than the motor pacing (SM-PULSE-RATE);
- the encoder moves without or beyond a commanded pulse (SM-RUNAWAY);
- the controller raises an exception (SM-CONTROLLER-FAULT).
Each check allows at most one pulse of slack, so a faulty controller gets at most one pulse
beyond what is due before delivery stops. A latch clears only through ``service_reset``,
which only the pump's service path calls.
"""

from pump import delivery, iob, ledger
from pump.limits import Limits
from pump.rolling import BucketWindow
from pump.units import BASAL_SLOTS, MS_PER_MINUTE, PULSE_MU

PULSE_WORK = delivery.PULSE_WORK
IOB_BUCKETS = 482                     # one a minute over the longest insulin action (8 h)
THERAPY_KINDS = (delivery.BASAL, delivery.BOLUS, delivery.EXTENDED)


class PulseChannel:
    """What the controller may write: one pulse request and stop notices. Plain data: it
    holds no reference to the monitor or the motor."""

    __slots__ = ("request", "stops", "result", "moved", "fault")

    STOP_THERAPY = "therapy"
    STOP_BOLUSES = "boluses"
    STOP_FILL = "fill"
    STOP_TEMP = "temp"
    RESUME = "resume"         # end a peer's suspend early (IL-NO-DELIVERY); never a
                              # suspend the patient confirmed on the pump

    def __init__(self):
        self.request = None       # a delivery kind, or None
        self.stops = []
        self.result = False       # answers to the last request
        self.moved = 0
        self.fault = ""           # the controller's own safe-stop reason


class _ActivePulses:
    """Per-minute counts of pulses above scheduled basal, for the monitor's own IOB."""

    def __init__(self):
        self.counts = [0] * IOB_BUCKETS
        self.newest = None            # minute index of the newest bucket
        self._cache = None            # (minute, mU on board at its start)

    def add(self, now, pulses=1):
        minute = now // MS_PER_MINUTE
        if self.newest is not None and minute <= self.newest - IOB_BUCKETS:
            return
        if self.newest is None or minute > self.newest:
            if self.newest is not None:
                for m in range(self.newest + 1, min(minute, self.newest + IOB_BUCKETS) + 1):
                    self.counts[m % IOB_BUCKETS] = 0
            self.newest = minute
        self.counts[minute % IOB_BUCKETS] += pulses
        self._cache = None

    def on_board(self, now, peak, dia):
        """mU on board; a pulse counts as if given at the end of its minute (overstates)."""
        minute = now // MS_PER_MINUTE
        if self.newest is None:
            return 0
        total = 0
        for back in range(min(dia, IOB_BUCKETS - 1) + 1):
            m = minute - back
            if m > self.newest or m <= self.newest - IOB_BUCKETS:
                continue
            count = self.counts[m % IOB_BUCKETS]
            if count:
                total += count * PULSE_MU * iob.remaining_ppm(back - 1, peak, dia)
        return -((-total) // iob.SCALE)


class SafetyMonitor:
    def __init__(self, motor, clock, limits, reservoir=None):
        self._motor = motor
        self._clock = clock
        self._reservoir = reservoir           # its own view of the reservoir sensor
        self._reservoir_at_rewind = 0
        self.latched = ""
        self._limits = Limits(limits.as_dict())
        self._program = [0] * BASAL_SLOTS
        self._temp = None
        self._window_1h = BucketWindow(ledger.WINDOW_1H[1],
                                       ledger.WINDOW_1H[0] // ledger.WINDOW_1H[1])
        self._window_24h = BucketWindow(ledger.WINDOW_24H[1],
                                        ledger.WINDOW_24H[0] // ledger.WINDOW_24H[1])
        self._active_pulses = _ActivePulses()
        self._basal_credit = PULSE_WORK
        self._sched_credit = PULSE_WORK
        self._basal_rate_at = None            # (tick, rate, scheduled) of the last accrual
        self._bolus_budget = 0
        self._ext = None                      # [start, duration, total, delivered]
        self._prime_budget = 0                # pulses of the tubing fill under way
        self._tubing_left = 0                 # pulses left for this reservoir change
        self._cannula_budget = 0
        self._last_bolus = None               # tick of the last declared bolus
        self._active = False                  # therapy started by the command path
        self._suspend = None                  # (until, confirmed) of a declared suspend
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

    def _iob_allows(self, now, mu):
        limits = self._limits
        pending = (self._bolus_budget + self._cannula_budget) * PULSE_MU
        if self._ext is not None:
            pending += (self._ext[2] - self._ext[3]) * PULSE_MU
        on_board = self._active_pulses.on_board(now, limits.peak_minutes, limits.dia_minutes)
        slack = limits.max_iob_mu // 20 + 4 * PULSE_MU
        return on_board + pending + mu <= limits.max_iob_mu + slack

    def _declare_bolus(self, pulses, now):
        limits = self._limits
        if pulses * PULSE_MU > limits.max_bolus_mu:
            return self._fail("SM-BOLUS-BUDGET")
        if self._last_bolus is not None and now - self._last_bolus < \
                limits.min_bolus_interval_ms:
            return self._fail("SM-BOLUS-INTERVAL")
        if not self._iob_allows(now, pulses * PULSE_MU):
            return self._fail("SM-IOB-MAX")
        self._last_bolus = now
        return True

    def declare_bolus(self, pulses, now):
        if self._declare_bolus(pulses, now):
            self._bolus_budget += pulses

    def declare_extended(self, pulses, duration_ms, now):
        if self._declare_bolus(pulses, now):
            self._ext = [now, duration_ms, pulses, 0]

    def rewound(self):
        self._reservoir_at_rewind = self._read_reservoir()

    def _read_reservoir(self):
        return self._reservoir.remaining_mu() if self._reservoir is not None else 0

    def reservoir_loaded(self):
        """A fresh reservoir (the monitor reads the sensor itself): one tubing-fill budget
        for this change. The same reservoir loaded again keeps what was left."""
        self._prime_budget = 0
        if self._reservoir is None or self._read_reservoir() > \
                self._reservoir_at_rewind + self._limits.max_prime_mu:
            self._tubing_left = self._limits.max_prime_mu // PULSE_MU

    def seed_tubing(self, mu, reservoir_at_rewind):
        """After a reboot: what the log says is left of this reservoir's tubing fill."""
        self._tubing_left = mu // PULSE_MU
        self._reservoir_at_rewind = reservoir_at_rewind

    def declare_prime(self, pulses):
        if pulses > self._tubing_left:
            self._fail("SM-PRIME-BUDGET")
            return
        self._tubing_left -= pulses
        self._prime_budget += pulses

    def declare_cannula(self, pulses, now):
        if pulses * PULSE_MU > self._limits.max_cannula_fill_mu:
            self._fail("SM-CANNULA-BUDGET")
            return
        if not self._iob_allows(now, pulses * PULSE_MU):
            self._fail("SM-IOB-MAX")
            return
        self._cannula_budget = pulses

    def cancel_boluses(self):
        self._bolus_budget = 0
        self._ext = None

    def cancel_fill(self):
        self._prime_budget = 0
        self._cannula_budget = 0

    def therapy_started(self):
        """From the command path only, after a successful start or resume."""
        self.sync()
        self._basal_credit = 0               # as the controller, which restarts its accrual
        self._sched_credit = 0
        self._suspend = None
        self._active = True

    def therapy_stopped(self):
        """Suspend, stop, alarm or fault: no therapy pulse until therapy is started again."""
        self._active = False
        self._suspend = None
        self.cancel_boluses()
        self.clear_temp()

    def suspended(self, until, confirmed):
        """A suspend from the command path: therapy resumes by itself at ``until``."""
        self.therapy_stopped()
        self._suspend = (until, bool(confirmed))

    def _suspend_over(self, now):
        if self._suspend is not None and now >= self._suspend[0]:
            self._suspend = None
            self.therapy_started()

    def seed(self, tick, pulses):
        """Count pulses recorded before a reboot (from the verified log) in the envelopes."""
        self._window_1h.add(tick, pulses)
        self._window_24h.add(tick, pulses)

    def seed_active(self, tick, pulses):
        """Count insulin above scheduled basal from before a reboot in the monitor's IOB."""
        self._active_pulses.add(tick, pulses)

    def seed_last_bolus(self, tick):
        self._last_bolus = tick

    def assume_worst(self, now):
        """Dose history lost: insulin on board is taken as full (decaying from now) and a
        bolus as just given."""
        self._active_pulses.add(now, self._limits.max_iob_mu // PULSE_MU)
        self._last_bolus = now

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
        self._cannula_budget = 0
        self._active = False
        self._encoder = self._motor.encoder()
        self._motor.set_enabled(True)

    # -- the controller's channel ---------------------------------------------------------
    def serve(self, channel, now):
        """Apply the controller's stop notices, then its pulse request if any."""
        stops = channel.stops
        if stops:
            channel.stops = []
            for stop in stops:
                if stop == PulseChannel.STOP_THERAPY:    # a declared suspend keeps its end
                    suspend = self._suspend
                    self.therapy_stopped()
                    self._suspend = suspend
                elif stop == PulseChannel.STOP_BOLUSES:
                    self.cancel_boluses()
                elif stop == PulseChannel.STOP_FILL:
                    self.cancel_fill()
                elif stop == PulseChannel.STOP_TEMP:
                    self.clear_temp()
                elif stop == PulseChannel.RESUME:
                    if self._suspend is not None and not self._suspend[1]:
                        self._suspend = None
                        self.therapy_started()
        if channel.fault:
            self.latch(channel.fault)
            channel.fault = ""
        kind = channel.request
        if kind is None:
            return False
        channel.request = None
        before = self._motor.encoder()
        channel.result = self.pulse(kind, now)
        channel.moved = self._motor.encoder() - before
        return True

    # -- supervision -----------------------------------------------------------------
    def check(self, now):
        """At every controller tick: accrue, and the encoder must not move by itself."""
        self._suspend_over(now)
        self._accrue(now)
        if self._motor.encoder() != self._encoder:
            self.latch("SM-RUNAWAY")
        return not self.latched

    def _rates(self, now, wall_s):
        scheduled = self._program[(wall_s % 86400) // 1800]
        rate = scheduled
        temp = self._temp
        if temp is not None and now < temp[2]:
            rate = rate * temp[0] // 100 if temp[1] else temp[0]
        return rate, scheduled

    def _accrue(self, now):
        """Credit for [last, now] at the higher of the rates at both ends: never less than the
        controller, which uses the rate at the end of each of its intervals."""
        rate, scheduled = self._rates(now, self._clock.wall_s())
        previous = self._basal_rate_at
        if previous is not None and now > previous[0]:
            dt = now - previous[0]
            higher = max(rate, previous[1])
            credit = self._basal_credit + higher * dt
            cap = delivery.basal_cap(higher)          # as much catch-up as the controller
            self._basal_credit = credit if credit < cap else cap
            credit = self._sched_credit + min(scheduled, previous[2]) * dt
            self._sched_credit = credit if credit < 2 * PULSE_WORK else 2 * PULSE_WORK
        self._basal_rate_at = (now, rate, scheduled)

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
        if kind == delivery.CANNULA:
            if self._cannula_budget <= 0:
                return self._fail("SM-CANNULA-BUDGET")
            self._cannula_budget -= 1
            return True
        return self._fail("SM-CONTROLLER-FAULT")

    def _is_active(self, kind):
        """Does this pulse count in insulin on board (above scheduled basal)?"""
        if kind != delivery.BASAL:
            return kind != delivery.PRIME
        if self._sched_credit >= PULSE_WORK // 2:      # due on the program: scheduled
            self._sched_credit -= PULSE_WORK
            return False
        return True

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
        to_patient = kind != delivery.PRIME
        if kind in THERAPY_KINDS and not self._active:
            return self._fail("SM-NOT-DELIVERING")
        if to_patient:
            if self._window_1h.count(now) + 1 > self._limits.max_1h_mu // PULSE_MU:
                return self._fail("SM-OVER-1H")
            if self._window_24h.count(now) + 1 > self._limits.max_24h_mu // PULSE_MU:
                return self._fail("SM-OVER-24H")
        if not self._budget_allows(kind, now):
            return False
        active = to_patient and self._is_active(kind)
        if active and kind == delivery.BASAL and not self._iob_allows(now, PULSE_MU):
            return self._fail("SM-IOB-MAX")
        self._motor.pulse()
        self._last_pulse = now
        self.pulses += 1
        if to_patient:
            self._window_1h.add(now)
            self._window_24h.add(now)
            if active:
                self._active_pulses.add(now)
        moved = self._motor.encoder() - self._encoder
        self._encoder += moved
        if moved > 1:
            self.latch("SM-RUNAWAY")
        return True
