"""The pause in therapy for a software update's swap, bounded, and what comes back after it.

Part of ``TherapyController`` (a mixin over its state, as ``continuity`` is). Receiving an
image never touches therapy (the secure channel writes the secondary slot while basal
runs); only the swap does: the bootloader exchanges the slots at the next reset, with the
motor still. So once the patient confirmed the install on the pump's button
(IL-UPDATE-CONSENT, checked by ``Pump.install_update``), the controller leaves delivering,
suspended or stopped for UPDATE_PENDING, remembering which, and the device resets into
the new image:

- the therapy record logged for UPDATE_PENDING carries what ran before (``upd``), so the
  new image (or the old one, after a revert) resumes it at boot like any reboot, and the
  power-off time the clock saw is counted as missing basal (IL-NO-DELIVERY);
- if the reset does not come within ``INSTALL_MAX_MS`` the pause ends by itself: the
  therapy that ran before resumes and IL-UPDATE-SWAP alerts (the secure channel then
  takes the swap request back);
- the missing basal of the pause is counted from its first millisecond, like any other.

A temporary basal ends with the pause (as with any stop of delivery); a running bolus
never meets it (IL-UPDATE-BOLUS, ``Pump.install_blocked``); a suspend comes back with the
end it had.
"""

from pump import results, therapy_table as T
from pump.continuity import SUPERVISION_MS
from pump.results import Refused
from pump.safety_monitor import PulseChannel
from pump.units import MS_PER_MINUTE

INSTALL_MAX_MS = 2 * MS_PER_MINUTE      # longest pause waiting for the reset into the image
SWAP = "IL-UPDATE-SWAP"


class UpdateInstall:
    """The install pause, for ``TherapyController``."""

    install_prior = None       # [mode, suspend end, suspend confirmed] while paused
    install_deadline = None

    def begin_install(self, now):
        """Pause therapy for the swap; returns the tick the pause ends at by itself."""
        prior = [self.state, self.suspend_end, self.suspend_confirmed]
        self.fire("install_update", now)
        self.install_prior = prior
        self.install_deadline = now + INSTALL_MAX_MS
        self.hw.ui.show("Installing update: insulin paused, back within %d min"
                        % (INSTALL_MAX_MS // MS_PER_MINUTE))
        self._supervise_basal(now)            # the pause is missing basal from now on
        self.note_therapy()
        return self.install_deadline

    def end_install(self, now):
        """Leave the pause: the therapy that ran before it comes back; returns the state."""
        if self.state != T.UPDATE_PENDING:
            raise Refused(results.ERR_STATE, "cancel_update needs update_pending state")
        mode, end, confirmed = self.install_prior or [T.STOPPED, None, False]
        self.install_prior = None
        self.install_deadline = None
        if mode not in (T.DELIVERING, T.SUSPENDED):
            self.fire("cancel_update", now)
            return self.state
        try:
            self.fire("update_resume", now)
        except Refused:
            self.fire("cancel_update", now)
            self.raise_alarm(now, "IL-RESERVOIR-EMPTY" if not self.guard("reservoir_ok")
                             else "IL-BATTERY-CRITICAL")
            return self.state
        if mode == T.SUSPENDED and end is not None and end > now:
            self.suspend(now, min(end - now, self.limits.max_suspend_ms), confirmed)
        return self.state

    def install_record(self):
        """What the therapy record of the pause carries: the mode before it, and a
        suspend's end."""
        mode, end, confirmed = self.install_prior or [T.STOPPED, None, False]
        return [mode, end, confirmed]

    def resumed_after_install(self, record):
        """The therapy record a reboot in the pause leaves, as the record of what ran
        before it (``resume_after_boot`` resumes that)."""
        mode, end, confirmed = record.get("upd") or [T.STOPPED, None, False]
        before = dict(record)
        before["mode"] = mode
        if mode == T.SUSPENDED:
            before["susp"] = [end, confirmed]
        return before

    def _installing(self, now):
        """The main loop in the pause: end it at its bound (the reset did not come)."""
        deadline = self.install_deadline
        if deadline is None or now >= deadline:
            state = self.end_install(now)
            if state == T.DELIVERING:
                self.channel.stops.append(PulseChannel.RESUME)
            self.alert(now, SWAP)
            self.note_therapy()
            return now + 1
        self.note_therapy()
        return min(deadline, now + SUPERVISION_MS)
