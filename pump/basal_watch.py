"""Time without basal, on monotonic ticks: the accounting behind IL-NO-DELIVERY.

Loss of basal is a hazard of its own (hyperglycaemia, then ketoacidosis within hours), so
every minute in which a basal program exists but no basal flows is counted, whatever the
cause: a suspend, a stop, an alarm, a zero temporary basal, a reservoir change or the pump
being off. ``total(now)`` is that time within the last ``WINDOW_MS``; the controller alarms
when it passes the clinician's bound unless the patient confirmed on the pump.

Gaps are kept as [start, end] (end None while open). At most ``MAX_GAPS`` are kept: beyond
that the two oldest are merged, which only overstates the time without basal.
"""

from pump.units import MS_PER_HOUR

WINDOW_MS = 6 * MS_PER_HOUR
MAX_GAPS = 12


class BasalWatch:
    def __init__(self, gaps=None):
        self.gaps = [list(g) for g in gaps] if gaps else []

    @property
    def open(self):
        return bool(self.gaps) and self.gaps[-1][1] is None

    def update(self, now, flowing):
        if flowing:
            if self.open:
                self.gaps[-1][1] = now
        elif not self.open:
            self.gaps.append([now, None])
            if len(self.gaps) > MAX_GAPS:
                first = self.gaps.pop(0)
                self.gaps[0][0] = first[0]

    def total(self, now):
        start = now - WINDOW_MS
        total = 0
        for begin, end in self.gaps:
            end = now if end is None else end
            if end > start:
                total += end - (begin if begin > start else start)
        return total

    def prune(self, now):
        start = now - WINDOW_MS
        self.gaps = [g for g in self.gaps if g[1] is None or g[1] > start]

    def snapshot(self, now):
        self.prune(now)
        return [list(g) for g in self.gaps]
