"""Missing basal, on monotonic ticks: the accounting behind IL-NO-DELIVERY.

Loss of basal is a hazard of its own (hyperglycaemia, then ketoacidosis within hours), so
basal that a program asks for but that does not flow is counted, whatever the cause: a
suspend, a stop, an alarm, a temporary basal below the program (a zero temp counts in
full, a 25 % temp three quarters of its time), a reservoir change, the pump being off, or
pulses that stop coming while the pump believes it delivers (a reboot loop). ``total(now)``
is that missing basal within the last ``WINDOW_MS``, in milliseconds of the full program;
the controller alarms when it passes the clinician's bound unless the patient confirmed on
the pump.

Gaps are kept as [start, end, deficit] (end None while open; deficit in parts per
``SCALE`` of the scheduled rate). At most ``MAX_GAPS`` are kept: beyond that the two oldest
are merged into one full gap holding the same missing basal and ending where the later one
ended, which keeps the amount and only makes it leave the window later.
"""

from pump.units import MS_PER_HOUR

WINDOW_MS = 6 * MS_PER_HOUR
MAX_GAPS = 12
SCALE = 1000
FULL = SCALE


class BasalWatch:
    def __init__(self, gaps=None):
        self.gaps = [list(g) for g in gaps] if gaps else []

    def _open(self):
        return self.gaps[-1] if self.gaps and self.gaps[-1][1] is None else None

    def update(self, now, deficit, since=None):
        """From ``now`` on (or from ``since``, when the deficit began earlier and is only
        noticed now) the program is short by ``deficit`` parts per SCALE."""
        current = self._open()
        if current is not None:
            if current[2] == deficit:
                return
            current[1] = now
        if deficit <= 0:
            return
        start = now
        if since is not None and since < now:
            start = since
            if self.gaps and self.gaps[-1][1] is not None and self.gaps[-1][1] > start:
                start = self.gaps[-1][1]
        self.gaps.append([start, None, deficit])
        self._bound()

    def _bound(self):
        while len(self.gaps) > MAX_GAPS and self.gaps[1][1] is not None:
            first, second = self.gaps[0], self.gaps[1]
            missing = ((first[1] - first[0]) * first[2] +
                       (second[1] - second[0]) * second[2]) // FULL
            self.gaps[1] = [second[1] - missing, second[1], FULL]
            del self.gaps[0]

    def add_missing(self, now, ms):
        """Basal that should have flowed before ``now`` but did not (lost to a main loop
        that ran too rarely): counted as ``ms`` of the full program missing."""
        if ms <= 0:
            return
        current = self._open()
        self.gaps.insert(len(self.gaps) - 1 if current is not None else len(self.gaps),
                         [now - ms, now, FULL])
        self._bound()

    def total(self, now):
        start = now - WINDOW_MS
        total = 0
        for begin, end, deficit in self.gaps:
            end = now if end is None else end
            if end > start:
                total += (end - (begin if begin > start else start)) * deficit
        total //= SCALE
        return total if total < WINDOW_MS else WINDOW_MS      # overlaps only overstate

    def prune(self, now):
        start = now - WINDOW_MS
        self.gaps = [g for g in self.gaps if g[1] is None or g[1] > start]

    def snapshot(self, now):
        self.prune(now)
        return [list(g) for g in self.gaps]
