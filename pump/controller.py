"""The therapy controller: state machine, delivery engine, reservation ledger and interlocks.

Commands arrive already type- and range-checked (``pump.pump``); here they meet the state
machine (is this legal now?) and the interlocks (is it safe?). A refusal raises ``Refused``
before anything changes. Delivery runs in ``tick``: one pulse at most per call, each one
reserved in the ledger (and the audit log) first and then *requested* through a
``PulseChannel``: the controller holds neither the motor nor the safety monitor, so nothing
it can reach moves the motor. Every window and interval uses the monotonic tick counter;
the wall clock only picks the basal slot.

Continuity: what a reboot must resume (delivering or suspended, a temporary basal, an
alarm, a reservoir change, a bolus under way) is logged as a small therapy record whenever
it changes; ``resume_after_boot`` restores it once self-test passes. Time without basal is
counted (``BasalWatch``) and alarmed (IL-NO-DELIVERY) unless the patient confirmed on the
pump; every alarm repeats and escalates until acknowledged.
"""

from pump import audit_log as log_types
from pump import delivery, iob, results, therapy_table as T
from pump.alarms import Annunciator
from pump.basal_watch import BasalWatch
from pump.continuity import SUPERVISION_MS, Continuity
from pump.cgm_input import CgmInput
from pump.fsm import create_machine
from pump.ledger import ACTIVE, SCHEDULED, WINDOW_1H, WINDOW_24H, Ledger
from pump.low_glucose import LowGlucose
from pump.plgs import LowGlucoseSuspend
from pump.reservoir_change import ReservoirChange
from pump.results import Refused
from pump.safety_monitor import PulseChannel
from pump.units import MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU
from pump.update_install import UpdateInstall

BASAL_BLOCK_MS = 15 * MS_PER_MINUTE      # basal is reserved a quarter hour at a time
MAX_TRACKED_IDS = 64                     # remote commands tracked within their age limit
BOLUS_SLACK_MS = 2 * MS_PER_MINUTE       # a bolus reservation's end beyond its schedule
OCCLUSION_TREND_PULSES = 4


class TherapyController(Continuity, ReservoirChange, LowGlucose, UpdateInstall):
    """Decides every dose; asks the safety monitor (through ``channel``) for each pulse."""

    def __init__(self, hw, channel, limits, log, now, state=None):
        self.clock = hw.clock
        self.hw = hw                      # clock, pressure, reservoir, battery, ui, watchdog
        self.channel = channel
        self.limits = limits
        self.log = log                    # log(type, data)
        self.engine = delivery.DeliveryEngine()
        self.ledger = Ledger()
        self.alerts = Annunciator(hw.ui)
        self.watch = BasalWatch()
        self.cgm = CgmInput()
        self.plgs = LowGlucoseSuspend(now)
        self.program_set = False
        self.recent_ids = []
        self.last_bolus = None
        self.latched = ""
        self.alarm_id = ""
        self.alarm_resume = False         # acknowledging resumes the therapy it interrupted
        self.warnings = []
        self.boot_problem = ""
        self.block_left = 0
        self.block_total = 0
        self.block_active = 0             # pulses of the block above scheduled basal
        self.block_end = 0
        self.block_encoder = 0
        self.running_bolus = None                 # [start, mu, end, encoder at start, delivered]
        self.interrupted = None           # [planned mU, delivered mU] of a bolus cut by reboot
        self.suspend_end = None
        self.suspend_confirmed = False
        self.next_reminder = 0
        self.confirmed_until = 0          # the patient accepted no basal until this tick
        self.tubing_left = 0              # mU of tubing fill left for this reservoir change
        self.unknown_until = None         # insulin on board unknown before this tick
        self.blocked_until = None         # nothing above scheduled basal before this tick
        self.encoder_now = 0              # plunger position, read for us by the pump
        self.last_basal_at = now          # tick of the last basal pulse (anchored)
        self.booting = False
        self.reservoir_at_rewind = 0
        self.restored = None              # therapy record to resume after self-test
        self.restored_block = None        # the basal block a reboot cut: [end, n, active, enc]
        self.off_ms = 0                   # power-off time the clock saw at this boot
        self.pressures = []
        self.last_tick = now
        self._pending = None
        self._service_authorized = False
        self._therapy_logged = None
        if state:
            self.restore(state)
        self.machine = create_machine(self.guard)

    # -- persistent state -------------------------------------------------------------
    def persistent_state(self):
        """What survives a reboot; written as each log sector's checkpoint."""
        now = self.last_tick
        self.ledger.prune(now, self.limits.dia_minutes)
        return {
            "program": list(self.engine.program), "program_set": self.program_set,
            "limits": self.limits.as_list(), "ledger": self.ledger.snapshot(),
            "ids": [list(e) for e in self.recent_ids], "last_bolus": self.last_bolus,
            "latched": self.latched, "therapy": self._therapy_logged,
            "gaps": self.watch.snapshot(now), "unknown": self.unknown_until,
            "block": self._block_record(),
            "blocked": self.blocked_until,
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
        self.restored = state.get("therapy")
        self.restored_block = state.get("block")
        self.blocked_until = state.get("blocked")
        self.watch = BasalWatch(state.get("gaps"))
        self.unknown_until = state.get("unknown")
        self._therapy_logged = self.restored

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
        if name == "patient_confirmed":
            return self.hw.ui.confirm_pressed() is True
        raise ValueError("unknown guard %s" % name)

    def _alarm_cleared(self):
        alarm = self.alarm_id
        if alarm == "IL-OCCLUSION":
            return self.hw.pressure.read() < self.limits.occlusion_mbar
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
        if before in (T.PRIMING, T.FILLING_CANNULA) and after != before:
            self.engine.prime_pulses = 0          # an interrupted fill is never resumed
            self.engine.cannula_pulses = 0
            self.channel.stops.append(PulseChannel.STOP_FILL)
        if after == T.DELIVERING and before != T.DELIVERING:
            self.engine.restart_accrual(now)
            self.block_left = 0
            if not self.booting:                  # a reboot must not hide missing pulses
                self.last_basal_at = now
        if before == T.SUSPENDED and after != T.SUSPENDED:
            self.suspend_end = None
            self.suspend_confirmed = False
        if before == T.UPDATE_PENDING and after != T.UPDATE_PENDING:
            self.install_prior = None             # an alarm or a fault ends the pause too
            self.install_deadline = None
        self.log(log_types.EV_STATE, [before, after, trigger])
        return after

    def _leave_delivery(self, now):
        """Boluses and the unused basal block are cancelled and refunded in one record."""
        deltas = self._bolus_refund()
        deltas.extend(self._block_refund())
        self._apply_deltas(deltas, now, {"blk": None})
        self._bolus_ended()
        self.engine.temp = None
        self.engine.temp_cap = None
        self.channel.stops.append(PulseChannel.STOP_THERAPY)

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
        for entry in deltas:
            self.ledger.entries.append(list(entry))

    def raise_alarm(self, now, alarm_id):
        if not self.machine.can_fire("raise_alarm"):
            return
        resume = self.machine.state == T.DELIVERING or (
            self.machine.state == T.UPDATE_PENDING and self.install_prior is not None
            and self.install_prior[0] == T.DELIVERING)
        self.alarm_id = alarm_id
        self.log(log_types.EV_ALARM, [alarm_id, 1])
        self.fire("raise_alarm", now)
        self.alarm_resume = resume
        self.alerts.raise_(alarm_id, now)

    def alert(self, now, alert_id):
        """An alert that does not stop delivery (it is annunciated and escalates)."""
        if alert_id not in self.alerts.active:
            self.log(log_types.EV_ALARM, [alert_id, 1])
            self.alerts.raise_(alert_id, now)

    def fault(self, now, reason):
        """Latch safe-stop: no delivery until service. Persisted through the log."""
        self.channel.stops.append(PulseChannel.STOP_THERAPY)
        self.channel.fault = reason
        if not self.latched:
            self.latched = reason
            self.alarm_id = reason
            self.log(log_types.EV_SAFE_STOP, reason)
        if self.machine.can_fire("fault"):
            self.fire("fault", now)
        self.alerts.raise_(reason, now)

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

    def check_basal_deliverable(self, hourly_mu_h, daily_mu, limits=None):
        """Refuse basal the rolling limits could not carry. A basal block is reserved when it
        starts and counts for a window plus a margin after it ends, so the ledger holds up to
        (block + window + margin) worth of basal: a program the pump accepts must fit that,
        or it would run into its own limit and alarm."""
        limits = limits or self.limits
        length, margin = WINDOW_1H
        if hourly_mu_h * (BASAL_BLOCK_MS + length + margin) // length > limits.max_1h_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-ROLLING-1H")
        length, margin = WINDOW_24H
        if daily_mu * (BASAL_BLOCK_MS + length + margin) // length > limits.max_24h_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-ROLLING-24H")

    def check_windows(self, now, mu, rate=None):
        """A dose fits both windows together with the basal still to be reserved in them:
        otherwise accepting it would run basal into the limit later (IL-ROLLING alarm,
        basal withheld) instead of refusing it now."""
        limits = self.limits
        for window, limit, name in ((WINDOW_1H, limits.max_1h_mu, "IL-ROLLING-1H"),
                                    (WINDOW_24H, limits.max_24h_mu, "IL-ROLLING-24H")):
            need = self.ledger.window_total(now, window) + mu + \
                self._basal_to_come(now, window, rate)
            if need > limit:
                raise Refused(results.ERR_INTERLOCK, name)

    def _basal_to_come(self, now, window, temp_rate=None):
        """Basal the window will hold at steady state beyond what it holds now (with a
        temporary basal at ``temp_rate`` about to start, if given)."""
        if self.machine.state != T.DELIVERING:
            return 0
        length, margin = window
        engine = self.engine
        program = engine.program
        rate = max(max(program), engine.basal_rate(now, self.clock.wall_s()),
                   temp_rate or 0)
        if length == WINDOW_1H[0]:
            steady = rate * (BASAL_BLOCK_MS + length + margin) // MS_PER_HOUR
        else:
            steady = sum(program) // 2 * (BASAL_BLOCK_MS + length + margin) // length
            if temp_rate is not None and temp_rate > min(program):
                steady += (temp_rate - min(program)) * (BASAL_BLOCK_MS + margin) // \
                    MS_PER_HOUR
        held = self.ledger.window_total(now, window, SCHEDULED)
        return steady - held if steady > held else 0

    def history_unknown(self, now):
        """Insulin on board unknown: the first insulin-action window after the loss."""
        return self.unknown_until is not None and now < self.unknown_until

    def history_known(self, now):
        """Neither insulin on board nor the 24 h window is still taken as worst case."""
        return self.blocked_until is None or now >= self.blocked_until

    def check_history(self, now):
        """Unknown dose history means worst case: insulin on board is taken as full for one
        insulin-action window, and the 24 h window as full for a day, so nothing above
        scheduled basal is given until the lost doses can no longer count."""
        if not self.history_known(now):
            raise Refused(results.ERR_INTERLOCK, "IL-HISTORY-UNKNOWN")

    def insulin_on_board(self, now):
        limits = self.limits
        known = self.ledger.insulin_on_board(now, limits.peak_minutes, limits.dia_minutes)
        if self.history_unknown(now):
            start = self.unknown_until - limits.dia_minutes * MS_PER_MINUTE
            phantom = iob.dose_on_board(limits.max_iob_mu, (now - start) // MS_PER_MINUTE,
                                        limits.peak_minutes, limits.dia_minutes)
            return known + phantom
        return known

    def iob_room(self, now):
        return max(0, self.limits.max_iob_mu - self.insulin_on_board(now))

    def forget_history(self, now):
        """The log was lost: start a fresh ledger that assumes the worst until DIA passed."""
        self.ledger.entries = []
        self.recent_ids = []
        self.last_bolus = now
        self.unknown_until = now + self.limits.dia_minutes * MS_PER_MINUTE
        self.blocked_until = now + WINDOW_24H[0] + WINDOW_24H[1]
        self.warn("IL-HISTORY-UNKNOWN")

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
        self.check_history(now)
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
            run = pulses * delivery.PULSE_INTERVAL_MS
            # basal pulses go first while it runs: leave room for them
            basal = self.engine.basal_rate(now, self.clock.wall_s())
            run += (basal * run // delivery.PULSE_WORK + 1) * delivery.PULSE_INTERVAL_MS
            end = now + run + BOLUS_SLACK_MS
        self.remember(cmd_id, issued)
        self.last_bolus = now
        extra = {"bolus": now}
        if cmd_id is not None:
            extra["id"] = [cmd_id, issued]
        self._apply_deltas([[end, mu, ACTIVE]], now, extra)
        self.running_bolus = [now, mu, end, self.encoder_now, 0]
        self.interrupted = None
        if duration_ms:
            self.engine.start_extended(pulses, duration_ms)
        else:
            self.engine.start_bolus(pulses)
        return pulses

    def cancel_bolus(self, now):
        if not self.engine.bolus_active():
            raise Refused(results.ERR_STATE, "no bolus running")
        left = self.engine.bolus_pulses + self.engine.ext_pulses
        self._apply_deltas(self._bolus_refund(), now)
        self._bolus_ended()
        return left * PULSE_MU

    def _bolus_refund(self):
        """Stop the running bolus; the ledger delta that refunds its undelivered pulses."""
        left = self.engine.cancel_boluses()
        self.channel.stops.append(PulseChannel.STOP_BOLUSES)
        if left and self.running_bolus is not None:
            return [[self.running_bolus[2], -left * PULSE_MU, ACTIVE]]
        return []

    def _bolus_ended(self):
        bolus = self.running_bolus
        if bolus is not None:
            self.running_bolus = None
            self.log(log_types.EV_DELIVERED, [bolus[1], bolus[4] * PULSE_MU])

    def temp_basal(self, now, value, is_percent, duration_ms, cmd_id, issued):
        if self.state != T.DELIVERING:
            raise Refused(results.ERR_STATE, "temporary basal needs delivering state")
        self.check_fresh(now, cmd_id, issued)
        limits = self.limits
        if duration_ms > limits.max_temp_duration_ms:
            raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        program = self.engine.program
        if is_percent:
            highest = max(program) * value // 100
            if value > limits.max_temp_percent or highest > limits.max_temp_basal_mu_h:
                raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        elif value > limits.max_temp_basal_mu_h:
            raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        else:
            highest = value
        if highest > max(program) * limits.max_temp_multiple:
            raise Refused(results.ERR_INTERLOCK, "IL-TEMP-BASAL-MAX")
        if (value > 100 if is_percent else value > min(program)):
            self.check_history(now)
        self.check_windows(now, 0, rate=highest)
        hours_ms = min(duration_ms, 24 * MS_PER_HOUR)
        day = sum(program) // 2 + max(0, highest - min(program)) * hours_ms // MS_PER_HOUR
        self.check_basal_deliverable(max(highest, max(program)), day)
        self.engine.accrue(now, self.clock.wall_s())
        self.remember(cmd_id, issued)
        self.engine.temp = (value, is_percent, now + duration_ms)
        self.block_left_to_refund(now)
        self._temp_cap(now, self.engine.scheduled_rate(self.clock.wall_s()))

    def block_left_to_refund(self, now):
        """A rate change ends the basal block: refund its unused pulses, start afresh."""
        self._apply_deltas(self._block_refund(), now, {"blk": None})

    def _block_refund(self):
        left = self.block_left
        if left <= 0:
            self.block_left = 0
            return []
        delivered = self.block_total - left
        active_unused = max(0, self.block_active - delivered)
        deltas = []
        if active_unused:
            deltas.append([self.block_end, -active_unused * PULSE_MU, ACTIVE])
        if left - active_unused:
            deltas.append([self.block_end, -(left - active_unused) * PULSE_MU, SCHEDULED])
        self.block_left = 0
        return deltas

    def cancel_temp_basal(self, now):
        if self.engine.temp is None:
            raise Refused(results.ERR_STATE, "no temporary basal running")
        self._end_temp(now)

    def _end_temp(self, now):
        self.engine.accrue(now, self.clock.wall_s())
        self.engine.temp = None
        self.engine.temp_cap = None
        self.block_left_to_refund(now)
        self.channel.stops.append(PulseChannel.STOP_TEMP)

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
        self.block_left_to_refund(now)

    def set_limits(self, now, values):
        if self.state not in (T.STOPPED, T.SUSPENDED, T.SELF_TEST, T.ALARM):
            raise Refused(results.ERR_STATE, "limits change only when not delivering")
        try:
            fresh = self.limits.updated(values)
        except (TypeError, ValueError) as exc:
            raise Refused(results.ERR_RANGE, str(exc))
        program = self.engine.program
        if max(program) > fresh.max_basal_mu_h:
            raise Refused(results.ERR_INTERLOCK, "IL-BASAL-MAX")
        self.check_basal_deliverable(max(program), sum(program) // 2, fresh)
        self.limits = fresh
        return fresh

    def suspend(self, now, duration_ms, confirmed):
        if duration_ms > self.limits.max_suspend_ms:
            raise Refused(results.ERR_INTERLOCK, "IL-SUSPEND-MAX")
        self.fire("suspend", now)
        self.suspend_end = now + duration_ms
        self.suspend_confirmed = confirmed
        if confirmed:
            self.confirmed_until = self.suspend_end
        self.next_reminder = now
        return self.suspend_end

    def stop(self, now):
        state = self.state
        trigger = "stop_fill" if state == T.PRIMING else \
            "stop_cannula" if state == T.FILLING_CANNULA else "stop"
        return self.fire(trigger, now)

    def acknowledge(self, now, resume):
        """Acknowledge the alarm (and every alert). Therapy an alarm interrupted resumes,
        unless the patient chooses otherwise (``resume`` False) or it cannot."""
        if self.state == T.ALARM:
            if not self._alarm_cleared():
                raise Refused(results.ERR_GUARD, "acknowledge refused by a guard in alarm")
            alarm = self.alarm_id
            trigger = "acknowledge"
            if resume and self.alarm_resume and self.guard("reservoir_ok") and \
                    self.guard("battery_ok") and self.guard("program_set"):
                trigger = "acknowledge_resume"
            self.fire(trigger, now)
            self.log(log_types.EV_ALARM, [alarm, 0])
            self.alerts.clear(alarm)
            self.alarm_id = ""
            self.alarm_resume = False
        elif not self.alerts.active:
            raise Refused(results.ERR_STATE, "no alarm to acknowledge")
        for alert_id in self.alerts.ids():
            if alert_id != self.latched:
                self.log(log_types.EV_ALARM, [alert_id, 0])
                self.alerts.clear(alert_id)
        self._supervise_basal(now)      # missing basal cannot be acknowledged away
        return self.state

    # -- clock and service --------------------------------------------------------------
    def set_wall_clock(self, now, wall_s):
        self.engine.accrue(now, self.clock.wall_s())
        old = self.clock.wall_s()
        self.clock.set_wall(wall_s)
        self.block_left_to_refund(now)
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
        self.alerts.clear_all()
        self._supervise_basal(now)

    def self_test(self, now):
        """Boot check. A latch or a damaged log fails it (safe-stop, reason already logged);
        a flat battery is a recoverable alarm, cleared by a new battery."""
        if not self.guard("hardware_ok"):
            self.fire("self_test_failed", now)
            self.alerts.raise_(self.latched or self.boot_problem, now)
            return
        self.fire("self_test_passed", now)
        if self.hw.battery.percent() <= self.limits.battery_critical_percent:
            self.raise_alarm(now, "IL-BATTERY-CRITICAL")

    # -- the delivery loop --------------------------------------------------------------
    def tick(self, now, clock_events=()):
        """Run up to ``now``; returns the tick at which to run next. A pulse is requested
        through the channel (the pump then calls ``pulse_done``)."""
        if now < self.last_tick:
            self.fault(now, "IL-CLOCK-MONOTONIC")
            self.last_tick = now
            return now + SUPERVISION_MS
        self.last_tick = now
        self.hw.watchdog.feed()
        for kind, gap in clock_events:
            self._clock_event(now, kind, gap)
        wake = self.alerts.tick(now)
        self.supervise_glucose(now)
        self._supervise_basal(now)
        state = self.machine.state
        if state == T.DELIVERING:
            if self._supervise(now):
                return self._deliver(now)
        elif state in (T.PRIMING, T.FILLING_CANNULA):
            if self._supervise(now):
                return self._fill(now)
        elif state == T.SUSPENDED:
            return self._suspended(now)
        elif state == T.UPDATE_PENDING:
            return self._installing(now)
        self.note_therapy()
        limit = now + SUPERVISION_MS
        return limit if wake is None or wake > limit else max(wake, now + 1)

    def _clock_event(self, now, kind, gap):
        self.log(log_types.EV_WARNING, [kind, gap])
        if kind == "IL-CLOCK-MONOTONIC":
            self.fault(now, kind)
        else:                 # a late main loop is a fault whatever the therapy state
            self.raise_alarm(now, kind)

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
        engine.accrue(now, self.clock.wall_s())
        bolus = self.running_bolus
        if bolus is not None and now >= bolus[2] and engine.bolus_active():
            self._bolus_overrun(now)
        kind = engine.due(now, priming=False)
        if kind is not None:
            if kind != delivery.BASAL or self._basal_reserved(now):
                return self._request(kind)
        self.note_therapy()
        return self._delivery_wake(now, engine.basal_rate(now, self.clock.wall_s()))

    def _request(self, kind):
        self._pending = kind
        self.channel.request = kind
        return self.last_tick

    def _delivery_wake(self, now, rate):
        engine = self.engine
        wake = engine.next_due(now, rate)
        limit = now + SUPERVISION_MS
        temp = engine.temp
        if temp is not None and now < temp[2] < limit:
            limit = temp[2]
        return limit if wake is None or wake > limit else max(wake, now + 1)

    def _bolus_overrun(self, now):
        """A bolus never delivers past its reservation: what is left is cancelled, refunded
        and reported, so the ledger always covers every pulse it allowed."""
        self._apply_deltas(self._bolus_refund(), now)
        self._bolus_ended()
        self.log(log_types.EV_WARNING, "IL-BOLUS-OVERRUN")

    def _temp_cap(self, now, scheduled):
        """The rate a temporary basal may run at in the next block: the scheduled rate plus
        what insulin on board leaves room for (max IOB bounds temp basal too)."""
        engine = self.engine
        engine.temp_cap = None
        rate = engine.basal_rate(now, self.clock.wall_s())
        if rate <= scheduled:
            return rate
        room = 0 if self.history_unknown(now) else self.iob_room(now)
        engine.temp_cap = scheduled + room * MS_PER_HOUR // BASAL_BLOCK_MS
        return engine.basal_rate(now, self.clock.wall_s())

    def _basal_reserved(self, now):
        if self.block_left > 0 and now < self.block_end:
            return True
        engine = self.engine
        scheduled = engine.scheduled_rate(self.clock.wall_s())
        rate = self._temp_cap(now, scheduled)
        # exactly the pulses that fall due in the block at this rate (one is due now)
        wanted = (engine.basal_acc + rate * BASAL_BLOCK_MS) // delivery.PULSE_WORK
        room = min(self.ledger.room(now, WINDOW_1H, self.limits.max_1h_mu),
                   self.ledger.room(now, WINDOW_24H, self.limits.max_24h_mu)) // PULSE_MU
        deltas = self._block_refund()
        for entry in deltas:
            room -= entry[1] // PULSE_MU          # refunds give room back
        pulses = min(wanted, room)
        active = 0
        if rate > scheduled and pulses > 0:        # the part above the program is IOB
            base = min(pulses, scheduled * BASAL_BLOCK_MS // delivery.PULSE_WORK)
            active = min(pulses - base, self.iob_room(now) // PULSE_MU)
            pulses = base + active
        if pulses <= 0:
            self._apply_deltas(deltas, now, {"blk": None})
            limit_id = "IL-ROLLING-1H" if not self.ledger.fits(
                now, WINDOW_1H, PULSE_MU, self.limits.max_1h_mu) else "IL-ROLLING-24H"
            self.raise_alarm(now, limit_id)
            return False
        end = now + BASAL_BLOCK_MS
        if pulses - active:
            deltas.append([end, (pulses - active) * PULSE_MU, SCHEDULED])
        if active:
            deltas.append([end, active * PULSE_MU, ACTIVE])
        # The plunger position lets a reboot refund what this block did not deliver. The
        # block becomes current only once logged: a checkpoint written before this record
        # must not name a block whose reservation it does not hold.
        self._apply_deltas(deltas, now, {"blk": [end, pulses, active, self.encoder_now]})
        self.block_end = end
        self.block_left = pulses
        self.block_total = pulses
        self.block_active = active
        self.block_encoder = self.encoder_now
        return True

    def _block_record(self):
        if self.block_left <= 0:
            return None
        return [self.block_end, self.block_total, self.block_active, self.block_encoder]

    def _refund_block_cut_by_reboot(self, now, block):
        """The basal block running at a reboot: refund what the plunger says it did not
        deliver (its movement since the block began bounds what the block delivered)."""
        end, pulses, active, encoder = block
        moved = self.encoder_now - encoder
        if end <= now - BASAL_BLOCK_MS or moved < 0:
            return
        self.block_end, self.block_total, self.block_active = end, pulses, active
        self.block_left = pulses - min(pulses, moved)
        self._apply_deltas(self._block_refund(), now, {"blk": None})

    def pulse_done(self, now, delivered, moved, reason):
        """The monitor answered the pulse request; returns the tick to run next at."""
        kind, self._pending = self._pending, None
        if kind is None:
            return now + 1
        if not delivered:
            self.fault(now, reason or "SM-CONTROLLER-FAULT")
            return now + SUPERVISION_MS
        # The pulse has moved insulin: account for it before any check can stop delivery.
        engine = self.engine
        engine.consume(kind, now)
        if kind == delivery.BASAL:
            self.block_left -= 1
            self.last_basal_at = now
        elif kind in (delivery.BOLUS, delivery.EXTENDED) and self.running_bolus is not None:
            self.running_bolus[4] += 1
            if not engine.bolus_active():
                self._bolus_ended()
                self.channel.stops.append(PulseChannel.STOP_BOLUSES)
        if moved < 1:
            self.fault(now, "IL-MOTOR-ENCODER")
            return now + SUPERVISION_MS
        if not self._check_pressure(now):
            return now + SUPERVISION_MS
        if kind in (delivery.PRIME, delivery.CANNULA):
            return self._fill_wake(now)
        self.note_therapy()
        return self._delivery_wake(now, engine.basal_rate(now, self.clock.wall_s()))

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
