"""The therapy controller: state machine, delivery engine, reservation ledger and interlocks.

Commands arrive already type- and range-checked (``pump.pump``); here they meet the state
machine (is this legal now?) and the interlocks (is it safe?). A refusal raises ``Refused``
before anything changes. Delivery runs in ``tick``: one pulse at most per call, each one
reserved in the ledger (and the audit log) first and then requested from the safety monitor,
which alone drives the motor. Every window and interval uses the monotonic tick counter; the
wall clock only picks the basal slot.
"""

from pump import audit_log as log_types
from pump import delivery, results, therapy_table as T
from pump.fsm import create_machine
from pump.ledger import WINDOW_1H, WINDOW_24H, Ledger
from pump.results import Refused
from pump.units import MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU

BASAL_BLOCK_MS = 15 * MS_PER_MINUTE      # basal is reserved a quarter hour at a time
SUPERVISION_MS = MS_PER_MINUTE           # longest sleep between ticks
WATCHDOG_MS = 3 * MS_PER_MINUTE          # a longer gap between ticks is an IL-WATCHDOG alarm
MAX_TRACKED_IDS = 64                     # remote commands tracked within their age limit
BOLUS_SLACK_MS = 2 * MS_PER_MINUTE       # a bolus reservation's end beyond its schedule
OCCLUSION_TREND_PULSES = 4


class TherapyController:
    def __init__(self, hw, gate, encoder, limits, log, now, state=None):
        self.clock = hw.clock
        self.hw = hw
        self.gate = gate                  # the safety monitor: pulse(kind, now) -> bool
        self.encoder = encoder            # read-only encoder position
        self.limits = limits
        self.log = log                    # log(type, data)
        self.engine = delivery.DeliveryEngine()
        self.ledger = Ledger()
        self.program_set = False
        self.recent_ids = []
        self.last_bolus = None
        self.latched = ""
        self.alarm_id = ""
        self.warnings = []
        self.boot_problem = ""
        self.block_left = 0
        self.block_end = 0
        self._bolus_end = 0
        self.pressures = []
        self.last_tick = now
        self._service_authorized = False
        if state:
            self.restore(state)
        self.machine = create_machine(self.guard)

    # -- persistent state -------------------------------------------------------------
    def persistent_state(self):
        """What survives a reboot; written as each log sector's checkpoint."""
        self.ledger.prune(self.last_tick, self.limits.dia_minutes)
        return {
            "program": list(self.engine.program), "program_set": self.program_set,
            "limits": self.limits.as_list(), "ledger": self.ledger.snapshot(),
            "ids": [list(e) for e in self.recent_ids], "last_bolus": self.last_bolus,
            "latched": self.latched,
        }

    def restore(self, state):
        from pump.limits import Limits
        self.engine.program = list(state["program"])
        self.program_set = state["program_set"]
        self.limits = Limits.from_list(state["limits"])
        self.ledger.entries = [list(e) for e in state["ledger"]]
        self.recent_ids = [list(e) for e in state["ids"]]
        self.last_bolus = state["last_bolus"]
        self.latched = state["latched"]

    @property
    def state(self):
        return self.machine.state

    # -- guards -----------------------------------------------------------------------
    def guard(self, name):
        if name == "reservoir_ok":
            return self.hw.reservoir.remaining_mu() >= PULSE_MU
        if name == "battery_ok":
            return self.hw.battery.percent() > self.limits.battery_critical_percent
        if name == "program_set":
            return self.program_set
        if name == "hardware_ok":
            return not self.latched and not self.boot_problem
        if name == "alarm_cleared":
            return self._alarm_cleared()
        if name == "service_authorized":
            return self._service_authorized
        raise ValueError("unknown guard %s" % name)

    def _alarm_cleared(self):
        alarm = self.alarm_id
        if alarm == "IL-OCCLUSION":
            return self.hw.pressure.read() < self.limits.occlusion_mbar
        if alarm == "IL-RESERVOIR-EMPTY":
            return self.hw.reservoir.remaining_mu() >= PULSE_MU
        if alarm == "IL-BATTERY-CRITICAL":
            return self.hw.battery.percent() > self.limits.battery_critical_percent
        return True

    # -- transitions ------------------------------------------------------------------
    def fire(self, trigger, now):
        """Fire a trigger; refuse (ERR_STATE / ERR_GUARD) if illegal or guarded off."""
        before = self.machine.state
        if not self.machine.can_fire(trigger):
            raise Refused(results.ERR_STATE, "%s not allowed in %s" % (trigger, before))
        if not self.machine.fire(trigger):
            raise Refused(results.ERR_GUARD, "%s refused by a guard in %s" % (trigger, before))
        after = self.machine.state
        if before == T.DELIVERING and after != T.DELIVERING:
            self._leave_delivery(now)
        if before == T.PRIMING and after != T.PRIMING:
            self.engine.prime_pulses = 0          # an interrupted prime is never resumed
            self.gate.cancel_prime()
        if after == T.DELIVERING and before != T.DELIVERING:
            self.engine.restart_accrual(now)
            self.block_left = 0
        self.log(log_types.EV_STATE, [before, after, trigger])
        return after

    def _leave_delivery(self, now):
        """Boluses and the unused basal block are cancelled and refunded in one record."""
        left = self.engine.cancel_boluses()
        self.gate.cancel_boluses()
        deltas = []
        if left:
            deltas.append([self._bolus_end, -left * PULSE_MU])
        if self.block_left:
            deltas.append([self.block_end, -self.block_left * PULSE_MU])
            self.block_left = 0
        self._apply_deltas(deltas, now)
        self.engine.temp = None
        self.gate.therapy_stopped()

    def _apply_deltas(self, deltas, now, extra=None):
        """Log ledger changes, then apply them. In that order: a checkpoint written just
        before this record must not already hold it, or replay would count it twice (and a
        refund counted twice understates delivery)."""
        if not deltas:
            return
        data = {"d": deltas}
        if extra:
            data.update(extra)
        self.log(log_types.EV_RESERVE, data)
        for end, mu in deltas:
            self.ledger.entries.append([end, mu])

    def raise_alarm(self, now, alarm_id):
        if not self.machine.can_fire("raise_alarm"):
            return
        self.alarm_id = alarm_id
        self.log(log_types.EV_ALARM, [alarm_id, 1])
        self.fire("raise_alarm", now)
        self.hw.ui.alarm(True, alarm_id)

    def fault(self, now, reason):
        """Latch safe-stop: no delivery until service. Persisted through the log."""
        self.gate.latch(reason)
        if not self.latched:
            self.latched = reason
            self.alarm_id = reason
            self.log(log_types.EV_SAFE_STOP, reason)
        if self.machine.can_fire("fault"):
            self.fire("fault", now)
        self.hw.ui.alarm(True, reason)

    def warn(self, warning):
        if warning not in self.warnings:
            self.warnings.append(warning)
            self.log(log_types.EV_WARNING, warning)

    # -- interlock helpers ------------------------------------------------------------
    def check_fresh(self, now, cmd_id, issued):
        """A remote command is fresh (issued within its age limit, not in the future) and
        new. Ids are remembered for the whole age limit, so a replay inside it is always
        caught; more commands than can be tracked in that time are refused."""
        if issued is None or cmd_id is None:
            return
        max_age = self.limits.max_command_age_ms
        age = now - issued
        if age < 0 or age > max_age:
            raise Refused(results.ERR_INTERLOCK, "IL-CMD-STALE")
        self.recent_ids = [e for e in self.recent_ids if now - e[1] <= max_age]
        for seen, _ in self.recent_ids:
            if seen == cmd_id:
                raise Refused(results.ERR_INTERLOCK, "IL-DUPLICATE-CMD")
        if len(self.recent_ids) >= MAX_TRACKED_IDS:
            raise Refused(results.ERR_INTERLOCK, "IL-CMD-RATE")

    def remember(self, cmd_id, issued):
        if cmd_id is not None:
            self.recent_ids.append([cmd_id, issued])

    def check_basal_deliverable(self, hourly_mu_h, daily_mu):
        """Refuse basal the rolling limits could not carry. A basal block is reserved when it
        starts and counts for a window plus a margin after it ends, so the ledger holds up to
        (block + window + margin) worth of basal: a program the pump accepts must fit that,
        or it would run into its own limit and alarm."""
        limits = self.limits
        length, margin = WINDOW_1H
        if hourly_mu_h * (BASAL_BLOCK_MS + length + margin) // length > limits.max_1h_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-ROLLING-1H")
        length, margin = WINDOW_24H
        if daily_mu * (BASAL_BLOCK_MS + length + margin) // length > limits.max_24h_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-ROLLING-24H")

    def check_windows(self, now, mu):
        if not self.ledger.fits(now, WINDOW_1H, mu, self.limits.max_1h_mu):
            raise Refused(results.ERR_INTERLOCK, "IL-ROLLING-1H")
        if not self.ledger.fits(now, WINDOW_24H, mu, self.limits.max_24h_mu):
            raise Refused(results.ERR_INTERLOCK, "IL-ROLLING-24H")

    def insulin_on_board(self, now):
        return self.ledger.insulin_on_board(now, self.limits.peak_minutes,
                                            self.limits.dia_minutes)

    # -- commands ---------------------------------------------------------------------
    def bolus(self, now, mu, duration_ms, cmd_id, issued):
        if self.state != T.DELIVERING:
            raise Refused(results.ERR_STATE, "bolus needs delivering state")
        self.check_fresh(now, cmd_id, issued)
        limits = self.limits
        if mu > limits.max_bolus_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-BOLUS-MAX")
        if self.engine.bolus_active():
            raise Refused(results.ERR_STATE, "a bolus is already running")
        if self.last_bolus is not None and now - self.last_bolus < limits.min_bolus_interval_ms:
            raise Refused(results.ERR_INTERLOCK, "IL-BOLUS-INTERVAL")
        if self.hw.reservoir.remaining_mu() < mu:
            raise Refused(results.ERR_INTERLOCK, "IL-RESERVOIR-EMPTY")
        if self.insulin_on_board(now) + mu > limits.max_iob_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-IOB-MAX")
        self.check_windows(now, mu)
        pulses = mu // PULSE_MU
        if duration_ms:
            end = now + duration_ms + BOLUS_SLACK_MS
        else:
            end = now + pulses * delivery.PULSE_INTERVAL_MS + BOLUS_SLACK_MS
        self._bolus_end = end
        self.remember(cmd_id, issued)
        self.last_bolus = now
        extra = {"bolus": now}
        if cmd_id is not None:
            extra["id"] = [cmd_id, issued]
        self._apply_deltas([[end, mu]], now, extra)
        if duration_ms:
            self.engine.start_extended(pulses, duration_ms)
        else:
            self.engine.start_bolus(pulses)
        return pulses

    def cancel_bolus(self, now):
        if not self.engine.bolus_active():
            raise Refused(results.ERR_STATE, "no bolus running")
        return self._refund_bolus(now) * PULSE_MU

    def _refund_bolus(self, now):
        """Stop the running bolus and refund its undelivered pulses; returns them."""
        left = self.engine.cancel_boluses()
        self.gate.cancel_boluses()
        self._apply_deltas([[self._bolus_end, -left * PULSE_MU]], now)
        return left

    def temp_basal(self, now, value, is_percent, duration_ms, cmd_id, issued):
        if self.state != T.DELIVERING:
            raise Refused(results.ERR_STATE, "temporary basal needs delivering state")
        self.check_fresh(now, cmd_id, issued)
        limits = self.limits
        if duration_ms > limits.max_temp_duration_ms:
            raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        if is_percent:
            highest = max(self.engine.program) * value // 100
            if value > limits.max_temp_percent or highest > limits.max_temp_basal_mu_h:
                raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        elif value > limits.max_temp_basal_mu_h:
            raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        else:
            highest = value
        program = self.engine.program
        hours_ms = min(duration_ms, 24 * MS_PER_HOUR)
        day = sum(program) // 2 + max(0, highest - min(program)) * hours_ms // MS_PER_HOUR
        self.check_basal_deliverable(max(highest, max(program)), day)
        self.engine.accrue(now, self.clock.wall_s())
        self.remember(cmd_id, issued)
        self.engine.temp = (value, is_percent, now + duration_ms)

    def cancel_temp_basal(self, now):
        if self.engine.temp is None:
            raise Refused(results.ERR_STATE, "no temporary basal running")
        self.engine.accrue(now, self.clock.wall_s())
        self.engine.temp = None
        self.gate.clear_temp()

    def set_program(self, now, rates):
        if self.state in (T.SAFE_STOP, T.UPDATE_PENDING):
            raise Refused(results.ERR_STATE, "settings locked in %s" % self.state)
        limits = self.limits
        if max(rates) > limits.max_basal_mu_h:
            raise Refused(results.ERR_INTERLOCK, "IL-BASAL-MAX")
        temp = self.engine.temp
        if temp is not None and temp[1] and \
                max(rates) * temp[0] // 100 > limits.max_temp_basal_mu_h:
            raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        self.check_basal_deliverable(max(rates), sum(rates) // 2)
        self.engine.accrue(now, self.clock.wall_s())
        self.engine.program = list(rates)
        self.program_set = True

    def set_limits(self, now, values):
        if self.state not in (T.STOPPED, T.SUSPENDED, T.SELF_TEST, T.ALARM):
            raise Refused(results.ERR_STATE, "limits change only when not delivering")
        try:
            fresh = self.limits.updated(values)
        except (TypeError, ValueError) as exc:
            raise Refused(results.ERR_RANGE, str(exc))
        if max(self.engine.program) > fresh.max_basal_mu_h:
            raise Refused(results.ERR_INTERLOCK, "IL-BASAL-MAX")
        self.limits = fresh
        return fresh

    def prime(self, now, mu):
        if self.state != T.STOPPED:
            raise Refused(results.ERR_STATE, "prime needs stopped state")
        if mu > self.limits.max_prime_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-PRIME-MAX")
        if self.hw.reservoir.remaining_mu() < mu:
            raise Refused(results.ERR_INTERLOCK, "IL-RESERVOIR-EMPTY")
        self.fire("prime", now)
        self.engine.prime_pulses = mu // PULSE_MU

    def set_wall_clock(self, now, wall_s):
        self.engine.accrue(now, self.clock.wall_s())
        self.gate.sync()
        old = self.clock.wall_s()
        self.clock.set_wall(wall_s)
        self.gate.sync()
        self.log(log_types.EV_CLOCK, [old, wall_s])

    def service_reset(self, now):
        self._service_authorized = True
        try:
            self.fire("service_reset", now)
        finally:
            self._service_authorized = False
        self.latched = ""
        self.alarm_id = ""
        self.log(log_types.EV_SERVICE, "reset")
        self.hw.ui.alarm(False)

    def self_test(self, now):
        """Boot check. A latch or a damaged log fails it (safe-stop, reason already logged);
        a flat battery is a recoverable alarm, cleared by a new battery."""
        if not self.guard("hardware_ok"):
            self.fire("self_test_failed", now)
            return
        self.fire("self_test_passed", now)
        if self.hw.battery.percent() <= self.limits.battery_critical_percent:
            self.raise_alarm(now, "IL-BATTERY-CRITICAL")

    def acknowledge(self, now):
        self.fire("acknowledge", now)
        self.log(log_types.EV_ALARM, [self.alarm_id, 0])
        self.alarm_id = ""
        self.hw.ui.alarm(False)

    # -- the delivery loop --------------------------------------------------------------
    def tick(self, now):
        """Run up to ``now``; returns the tick at which to run next."""
        if now < self.last_tick:
            self.fault(now, "IL-CLOCK-MONOTONIC")
            self.last_tick = now
            return now + SUPERVISION_MS
        gap = now - self.last_tick
        self.last_tick = now
        self.hw.watchdog.feed()
        state = self.machine.state
        if state == T.DELIVERING:
            if gap > WATCHDOG_MS:
                self.raise_alarm(now, "IL-WATCHDOG")
                return now + SUPERVISION_MS
            if self._supervise(now):
                return self._deliver(now)
            return now + SUPERVISION_MS
        if state == T.PRIMING:
            if self._supervise(now):
                return self._prime(now)
        return now + SUPERVISION_MS

    def _supervise(self, now):
        """Battery and reservoir checks; False if an alarm stopped delivery."""
        limits = self.limits
        level = self.hw.battery.percent()
        if level <= limits.battery_critical_percent:
            self.raise_alarm(now, "IL-BATTERY-CRITICAL")
            return False
        if level <= limits.battery_low_percent:
            self.warn("IL-BATTERY-LOW")
        left = self.hw.reservoir.remaining_mu()
        if left < PULSE_MU:
            self.raise_alarm(now, "IL-RESERVOIR-EMPTY")
            return False
        if left <= limits.reservoir_low_mu:
            self.warn("IL-RESERVOIR-LOW")
        return True

    def _deliver(self, now):
        engine = self.engine
        rate = engine.accrue(now, self.clock.wall_s())
        if now >= self._bolus_end and engine.bolus_active():
            self._bolus_overrun(now)
        kind = engine.due(now, priming=False)
        if kind is not None:
            if kind == delivery.BASAL and not self._basal_reserved(now, rate):
                return now + SUPERVISION_MS
            if not self._pulse(kind, now):
                return now + SUPERVISION_MS
            if engine.ext_pulses == 0 and engine.bolus_pulses == 0 and kind != delivery.BASAL:
                self.gate.cancel_boluses()
        wake = engine.next_due(now, rate)
        limit = now + SUPERVISION_MS
        temp = engine.temp
        if temp is not None and temp[2] < limit:
            limit = temp[2]
        return limit if wake is None or wake > limit else max(wake, now + 1)

    def _bolus_overrun(self, now):
        """A bolus never delivers past its reservation: what is left is cancelled, refunded
        and reported, so the ledger always covers every pulse it allowed."""
        self._refund_bolus(now)
        self.log(log_types.EV_WARNING, "IL-BOLUS-OVERRUN")

    def _prime(self, now):
        kind = self.engine.due(now, priming=True)
        if kind == delivery.PRIME:
            if not self._pulse(kind, now):
                return now + SUPERVISION_MS
        if self.engine.prime_pulses == 0:
            self.fire("prime_done", now)
            return now + SUPERVISION_MS
        return max(self.engine.next_pulse_at, now + 1)

    def _basal_reserved(self, now, rate):
        if self.block_left > 0 and now < self.block_end:
            return True
        # exactly the pulses that fall due in the block at this rate (one is due now)
        wanted = (self.engine.basal_acc + rate * BASAL_BLOCK_MS) // delivery.PULSE_WORK
        room = min(self.ledger.room(now, WINDOW_1H, self.limits.max_1h_mu),
                   self.ledger.room(now, WINDOW_24H, self.limits.max_24h_mu)) // PULSE_MU
        deltas = []
        if self.block_left > 0:
            deltas.append([self.block_end, -self.block_left * PULSE_MU])
            room += self.block_left
        pulses = min(wanted, room)
        if pulses <= 0:
            self._apply_deltas(deltas, now)
            self.block_left = 0
            limit_id = "IL-ROLLING-1H" if not self.ledger.fits(
                now, WINDOW_1H, PULSE_MU, self.limits.max_1h_mu) else "IL-ROLLING-24H"
            self.raise_alarm(now, limit_id)
            return False
        self.block_end = now + BASAL_BLOCK_MS
        self.block_left = pulses
        deltas.append([self.block_end, pulses * PULSE_MU])
        self._apply_deltas(deltas, now)
        return True

    def _pulse(self, kind, now):
        """One pulse through the monitor, then the encoder and pressure checks."""
        before = self.encoder()
        if not self.gate.pulse(kind, now):
            self.fault(now, self.gate.latched or "SM-CONTROLLER-FAULT")
            return False
        # The pulse has moved insulin: account for it before any check can stop delivery.
        self.engine.consume(kind, now)
        if kind == delivery.BASAL:
            self.block_left -= 1
        if self.encoder() - before < 1:
            self.fault(now, "IL-MOTOR-ENCODER")
            return False
        return self._check_pressure(now)

    def _check_pressure(self, now):
        """Occlusion: pressure over the limit, or rising after each of the last pulses."""
        mbar = self.hw.pressure.read()
        history = self.pressures
        history.append(mbar)
        if len(history) > OCCLUSION_TREND_PULSES:
            del history[0]
        limit = self.limits.occlusion_mbar
        rising = len(history) == OCCLUSION_TREND_PULSES and all(
            history[i] < history[i + 1] for i in range(len(history) - 1)) and \
            history[-1] - history[0] >= limit // 3
        if mbar >= limit or rising:
            self.pressures = []
            self.raise_alarm(now, "IL-OCCLUSION")
            return False
        return True
