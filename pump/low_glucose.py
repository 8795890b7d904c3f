"""CGM input and low-glucose suspend in the therapy controller (IL-CGM-*, IL-PLGS).

Part of ``TherapyController`` (a mixin over its state, as ``Continuity``). Readings are
checked by ``pump.cgm_input``; ``pump.plgs`` decides when basal is held and resumed; this
applies the decisions: a hold refunds the unused basal block (the reservation no longer
flows) and delivers no basal pulse until released; leaving delivery releases it. Every
hold and release is logged as a warning (``[IL-PLGS, why]``); the ends that need the
patient's attention (IL-PLGS-LIMIT, IL-CGM-LOST) and an urgent low (IL-CGM-URGENT-LOW)
alert. A hold survives a reboot through the therapy record.
"""

from pump import audit_log as log_types
from pump import plgs, therapy_table as T
from pump.continuity import SUPERVISION_MS

PLGS = "IL-PLGS"


class LowGlucose:
    def cgm_reading(self, now, mg_dl, measured_ms):
        """Accept a reading (raises Refused naming the interlock) and act on it."""
        reading = self.cgm.accept(now, mg_dl, measured_ms)
        self.supervise_glucose(now)
        return reading

    def glucose_now(self, now):
        """(mg/dL, age ms) of the newest trusted reading, or (None, None)."""
        latest = self.cgm.latest()
        if latest is None:
            return None, None
        return latest[1], max(0, now - latest[0])

    def supervise_glucose(self, now):
        readings = self.cgm.readings
        if self.plgs.urgent_low(now, readings):
            self.alert(now, "IL-CGM-URGENT-LOW")
        delivering = self.machine.state == T.DELIVERING
        if self.plgs.held and (not delivering or not self.limits.plgs_on):
            self._release_basal(now, "not delivering" if not delivering else "off")
            return
        if not self.limits.plgs_on:
            return
        action, why = self.plgs.decide(now, readings, self.limits.plgs_threshold_mg_dl,
                                       delivering, lambda: self._no_basal_budget(now))
        if action == plgs.HOLD:
            self._hold_basal(now, why)
        elif action == plgs.BLOCKED:
            self.alert(now, why)
        elif action == plgs.RESUME:
            self._release_basal(now, why)
            if why[:3] == "IL-":
                self.alert(now, why)

    def _no_basal_budget(self, now):
        """Missing basal (ms) PLGS may still cause before IL-NO-DELIVERY's bound."""
        return self.limits.max_no_basal_ms - self.watch.total(now) - SUPERVISION_MS

    def _hold_basal(self, now, why, since=None):
        engine = self.engine
        engine.accrue(now, self.clock.wall_s())
        self.plgs.hold(now if since is None else since)
        engine.held = True
        engine.basal_acc = 0
        self._apply_deltas(self._block_refund(), now, {"blk": None})
        self.log(log_types.EV_WARNING, [PLGS, "hold: " + why])
        self.note_therapy()

    def _release_basal(self, now, why):
        self.plgs.resume(now, why)
        engine = self.engine
        engine.held = False
        engine.basal_acc = 0
        engine.last = now
        self.last_basal_at = now          # the pulse clock restarts, as after a suspend
        self.log(log_types.EV_WARNING, [PLGS, "resume: " + why])
        self.note_therapy()
