"""Alarm annunciation: every alarm and alert repeats and escalates until acknowledged.

Levels follow commercial pumps: 1 (display + beep), 2 (louder, repeated), 3 (siren, the
highest). An unacknowledged alarm climbs one level every ``ESCALATE_MS`` and is sounded
again each time, so a missed alarm is never a silent one. Alarms that stop delivery (the
therapy state machine's ALARM and SAFE_STOP) and alerts that do not (IL-NO-DELIVERY, an
interrupted bolus) share this one annunciator; the display always shows the most severe.
"""

from pump.units import MS_PER_MINUTE

ESCALATE_MS = 5 * MS_PER_MINUTE
MAX_LEVEL = 3
HISTORY = 16


class Annunciator:
    def __init__(self, ui):
        self.ui = ui
        self.active = {}            # id -> [raised_tick, level, next_escalation_tick]
        self.raised_ids = []        # the most recent ids raised, for status and tests

    def raise_(self, alarm_id, now):
        if alarm_id in self.active:
            return
        self.active[alarm_id] = [now, 1, now + ESCALATE_MS]
        self.raised_ids.append(alarm_id)
        if len(self.raised_ids) > HISTORY:
            del self.raised_ids[0]
        self._sound()

    def restore(self, alarm_id, raised, level, now):
        """After a reboot: an alert that was sounding sounds again at the level it had."""
        if alarm_id not in self.active:
            self.active[alarm_id] = [raised, min(max(level, 1), MAX_LEVEL), now + ESCALATE_MS]
            self.raised_ids.append(alarm_id)
            self._sound()

    def clear(self, alarm_id):
        if self.active.pop(alarm_id, None) is not None:
            self._sound()

    def clear_all(self):
        self.active = {}
        self._sound()

    def level(self, alarm_id):
        entry = self.active.get(alarm_id)
        return entry[1] if entry else 0

    def ids(self):
        return sorted(self.active)

    def tick(self, now):
        """Escalate what is due; returns the next tick this needs to run at (or None)."""
        changed = False
        wake = None
        for entry in self.active.values():
            if now >= entry[2]:
                if entry[1] < MAX_LEVEL:
                    entry[1] += 1
                entry[2] = now + ESCALATE_MS
                changed = True
            if wake is None or entry[2] < wake:
                wake = entry[2]
        if changed:
            self._sound()
        return wake

    def _sound(self):
        if not self.active:
            self.ui.alarm(False, "", 0)
            return
        top = None
        for alarm_id in sorted(self.active):        # dict order differs on MicroPython
            level = self.active[alarm_id][1]
            if top is None or level > top[1]:
                top = (alarm_id, level)
        self.ui.alarm(True, top[0], top[1])
