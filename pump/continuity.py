"""Therapy continuity: what a reboot resumes, and basal that must not go missing unseen.

Part of ``TherapyController`` (a mixin over its state; MicroPython has multiple inheritance).

- What a reboot must resume (delivering or suspended, a temporary basal, an alarm, a
  reservoir change, a bolus under way, the therapy a software update's swap paused:
  ``pump.update_install``) is logged as a small therapy record whenever it
  changes; ``resume_after_boot`` restores it once self-test passes, reports a bolus the
  reboot cut, and counts the basal the reboot cost.
- Missing basal (``pump.basal_watch``) is supervised at every tick: beyond the clinician's
  bound, without the patient confirming on the pump, IL-NO-DELIVERY sounds and a peer's
  suspend or low temporary basal ends. Suspends end by themselves and remind meanwhile.
- Missing basal and sounding alerts also travel in the anchor every minute
  (``volatile_record``), so a reboot forgets neither.
"""

from pump import audit_log as log_types
from pump import delivery, therapy_table as T
from pump.basal_watch import FULL, SCALE, BasalWatch, WINDOW_MS as WATCH_WINDOW_MS
from pump.results import Refused
from pump.safety_monitor import PulseChannel
from pump.units import MS_PER_MINUTE, PULSE_MU

SUPERVISION_MS = MS_PER_MINUTE           # longest sleep between ticks
REMINDER_MS = 15 * MS_PER_MINUTE         # while suspended
PULSE_GRACE_MS = 5 * MS_PER_MINUTE       # a basal pulse later than due by this is missing
NO_DELIVERY = "IL-NO-DELIVERY"
INTERRUPTED = "IL-BOLUS-INTERRUPTED"


class Continuity:
    """Reboot resumption and missing-basal supervision, for ``TherapyController``."""

    def therapy_record(self):
        """What a reboot resumes (logged as EV_THERAPY whenever it changes)."""
        engine = self.engine
        state = self.machine.state if hasattr(self, "machine") else T.SELF_TEST
        record = {"mode": state, "tube": self.tubing_left, "rsv": self.reservoir_at_rewind}
        if engine.temp is not None:
            record["temp"] = list(engine.temp)
            if state == T.DELIVERING:
                record["def"] = self.basal_deficit(self.last_tick)[0]
        if state == T.SUSPENDED:
            record["susp"] = [self.suspend_end, self.suspend_confirmed]
        if state == T.ALARM:
            record["alarm"] = [self.alarm_id, self.alarm_resume]
        if state == T.UPDATE_PENDING:
            record["upd"] = self.install_record()
        if self.running_bolus is not None:
            record["bolus"] = list(self.running_bolus[:4])
        if self.plgs.held:
            record["plgs"] = self.plgs.held_since
        if self.plgs.rearm_at > self.last_tick:
            record["rearm"] = self.plgs.rearm_at
        return record

    def note_therapy(self):
        """Log the therapy record if it changed since it was last logged."""
        if self.machine.state == T.SELF_TEST:
            return
        record = self.therapy_record()
        if record != self._therapy_logged:
            self._therapy_logged = record
            self.log(log_types.EV_THERAPY, record)

    def volatile_record(self):
        """What the anchor carries every minute: missing basal and alerts, which change too
        often for the log but must not be forgotten by a reboot."""
        now = self.last_tick
        alerts = [[i, e[0], e[1]] for i, e in sorted(self.alerts.active.items())
                  if i != self.alarm_id and i != self.latched]
        return [self.watch.snapshot(now), alerts]

    def restore_volatile(self, record, now):
        gaps, alerts = record
        self.watch = BasalWatch(gaps)
        for alert_id, raised, level in alerts:
            self.alerts.restore(alert_id, raised, level, now)

    def resume_after_boot(self, now):
        """Restore the therapy a reboot interrupted (after self-test passed); returns the
        state to declare to the safety monitor: DELIVERING, SUSPENDED, REWOUND or None."""
        record, self.restored = self.restored, None
        if record and record.get("rearm"):
            self.plgs.rearm_at = record["rearm"]
        block, self.restored_block = self.restored_block, None
        if block is not None:
            self._refund_block_cut_by_reboot(now, block)
        if not record or self.state != T.STOPPED:
            return None
        if record.get("mode") == T.UPDATE_PENDING:      # reset into, or out of, an update
            record = self.resumed_after_install(record)
        self.tubing_left = record.get("tube", 0)
        bolus = record.get("bolus")
        if bolus is not None:
            self._report_interrupted(now, bolus)
        self.reservoir_at_rewind = record.get("rsv", 0)
        mode = record.get("mode")
        if mode in T.CHANGE_STATES:
            self.rewind(now)                    # a change cut by a reboot starts over
            return T.REWOUND
        if mode == T.ALARM:
            alarm = record.get("alarm") or ["IL-WATCHDOG", False]
            self.raise_alarm(now, alarm[0])
            self.alarm_resume = bool(alarm[1])
            return None
        if mode not in (T.DELIVERING, T.SUSPENDED):
            return None
        if mode == T.DELIVERING:
            self._count_reboot_loss(now)
        try:
            self.booting = True
            self.fire("start", now)
        except Refused:
            self.raise_alarm(now, "IL-RESERVOIR-EMPTY" if not self.guard("reservoir_ok")
                             else "IL-BATTERY-CRITICAL")
            return None
        finally:
            self.booting = False
        temp = record.get("temp")
        if temp is not None and temp[2] > now:
            self.engine.temp = (temp[0], bool(temp[1]), temp[2])
        susp = record.get("susp")
        if mode == T.SUSPENDED and susp is not None and susp[0] is not None and susp[0] > now:
            self.suspend(now, min(susp[0] - now, self.limits.max_suspend_ms), bool(susp[1]))
            return T.SUSPENDED
        if record.get("plgs") is not None and self.limits.plgs_on:
            self._hold_basal(now, "held before the reboot", since=record["plgs"])
        return T.DELIVERING

    def count_power_off(self, now):
        """The power-off time the clock saw at boot is basal that did not flow (whether or
        not it is credited as elapsed), whatever the therapy state was."""
        if self.program_set and max(self.engine.program) > 0 and self.off_ms > 0:
            self.watch.add_missing(now, min(self.off_ms, WATCH_WINDOW_MS))

    def _count_reboot_loss(self, now):
        """A reboot while delivering also costs the pulse the restarted accumulator owes."""
        scheduled = self.engine.scheduled_rate(self.clock.wall_s())
        if self.program_set and scheduled:
            self.watch.add_missing(now, delivery.PULSE_WORK // scheduled)

    def _report_interrupted(self, now, bolus):
        start, mu, end, encoder = bolus
        moved = self.encoder_now - encoder
        delivered = mu if moved < 0 else min(mu, moved * PULSE_MU)
        self.interrupted = [mu, delivered]
        self.log(log_types.EV_DELIVERED, [mu, delivered])
        self.warn(INTERRUPTED)
        self.alert(now, INTERRUPTED)

    def basal_deficit(self, now):
        """(parts per SCALE of the program missing now, since when): nothing expected is
        no deficit; not delivering is a full one; a temporary basal below the program a
        partial one; and basal pulses that stop coming while delivering (a reboot loop, a
        stalled engine) a full one from when the next pulse was due."""
        engine = self.engine
        if not self.program_set or max(engine.program) == 0:
            return 0, None
        if self.machine.state != T.DELIVERING:
            return FULL, None
        wall = self.clock.wall_s()
        scheduled = engine.scheduled_rate(wall)
        if scheduled == 0:
            return 0, None
        rate = engine.basal_rate(now, wall)
        if rate > 0:
            due = self.last_basal_at + delivery.PULSE_WORK // rate + PULSE_GRACE_MS
            if now > due:
                return FULL, due
        if rate >= scheduled:
            return 0, None
        return (scheduled - rate) * SCALE // scheduled, None

    def _supervise_basal(self, now):
        """IL-NO-DELIVERY: missing basal beyond the bound, unless the patient confirmed on
        the pump, alarms; a peer's suspend or low temporary basal then ends."""
        deficit, since = self.basal_deficit(now)
        self.watch.update(now, deficit, since)
        lost = self.engine.lost_work
        if lost:
            self.engine.lost_work = 0
            scheduled = self.engine.scheduled_rate(self.clock.wall_s())
            if scheduled:
                self.watch.add_missing(now, lost // scheduled)
                deficit = deficit or 1       # a shortfall now: judge the bound below
        alerting = NO_DELIVERY in self.alerts.active
        if alerting and self.hw.ui.confirm_pressed():
            self.confirmed_until = now + self.limits.max_no_basal_ms
            self.log(log_types.EV_ALARM, [NO_DELIVERY, 0])
            self.alerts.clear(NO_DELIVERY)
            return
        if not deficit or now < self.confirmed_until or self.machine.state == T.SAFE_STOP:
            return
        if self.watch.total(now) < self.limits.max_no_basal_ms:
            return
        self.alert(now, NO_DELIVERY)
        state = self.machine.state
        if state == T.SUSPENDED and not self.suspend_confirmed:
            self._auto_resume(now)
        elif state == T.DELIVERING and self.engine.temp is not None and since is None:
            self._end_temp(now)
            self.log(log_types.EV_WARNING, [NO_DELIVERY, "temp basal ended"])

    def _auto_resume(self, now):
        try:
            self.fire("resume", now)
        except Refused:
            self.raise_alarm(now, NO_DELIVERY)
            return
        self.channel.stops.append(PulseChannel.RESUME)

    def _suspended(self, now):
        if self.suspend_end is not None and now >= self.suspend_end:
            self._auto_resume(now)
            self.note_therapy()
            return now + 1
        if now >= self.next_reminder:
            left = (self.suspend_end - now) // MS_PER_MINUTE if self.suspend_end else 0
            self.hw.ui.show("suspended: no insulin, resumes in %d min" % left)
            self.next_reminder = now + REMINDER_MS
        self.note_therapy()
        wake = now + SUPERVISION_MS
        if self.suspend_end is not None and self.suspend_end < wake:
            wake = max(self.suspend_end, now + 1)
        return wake
