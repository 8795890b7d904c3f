"""The controller's reservation ledger: every dose is reserved before a pulse moves.

A reservation ``[end, mu, kind]`` says "up to ``mu`` will be delivered between now and
``end``". The rolling 1 h and 24 h limits count every reservation; insulin on board counts
the reservations of kind ``ACTIVE``: insulin above the scheduled basal (boluses, extended
boluses, cannula fill, the part of a temporary basal above the program), as OpenAPS bounds
them with max_iob. A reservation is written to the audit log before its pulses, so after a
power cut the ledger is rebuilt from the log and can only overstate what was delivered.

Window rule: a reservation counts against a window of length W until ``end + W + margin``.
Any W-long interval that saw one of its pulses therefore saw the reservation counted when it
was checked; the margin is the safety monitor's bucket width, so every delivery the ledger
allows is also inside the monitor's coarser, independent envelope.
"""

from pump import iob
from pump.units import MS_PER_MINUTE

WINDOW_1H = (3600000, 60000)          # (length, margin = monitor bucket) in ms
WINDOW_24H = (86400000, 900000)

SCHEDULED = 0                         # scheduled basal: windows only
ACTIVE = 1                            # above scheduled basal: windows and insulin on board


def _kind(entry):
    return entry[2] if len(entry) > 2 else ACTIVE


class Ledger:
    def __init__(self):
        self.entries = []                 # [end_tick, mu, kind]; mu < 0 is a refund

    def reserve(self, end, mu, kind=ACTIVE):
        self.entries.append([end, mu, kind])

    def refund(self, end, mu, kind=ACTIVE):
        if mu:
            self.entries.append([end, -mu, kind])

    def window_total(self, now, window, kind=None):
        """mU reserved in the window ending at ``now`` (of one ``kind``, or all)."""
        length, margin = window
        total = 0
        for entry in self.entries:
            if entry[0] + length + margin > now and (kind is None or _kind(entry) == kind):
                total += entry[1]
        return total

    def fits(self, now, window, mu, limit):
        return self.window_total(now, window) + mu <= limit

    def room(self, now, window, limit):
        return max(0, limit - self.window_total(now, window))

    def insulin_on_board(self, now, peak, dia):
        """Conservative IOB (mU) above scheduled basal: in-progress reservations count in
        full, refunds decay like the dose they return."""
        total = 0
        for entry in self.entries:
            if len(entry) > 2 and entry[2] != ACTIVE:     # _kind, inlined: a hot loop
                continue
            end, mu = entry[0], entry[1]
            if end >= now:
                total += mu
            else:
                minutes = (now - end) // MS_PER_MINUTE
                if minutes < dia:
                    if mu > 0:
                        total += iob.dose_on_board(mu, minutes, peak, dia)
                    else:
                        total -= (-mu * iob.remaining_ppm(minutes, peak, dia)) // iob.SCALE
        return max(0, total)

    def prune(self, now, dia_minutes):
        keep_ms = max(WINDOW_24H[0] + WINDOW_24H[1], dia_minutes * MS_PER_MINUTE)
        self.entries = [e for e in self.entries if e[0] + keep_ms > now]

    def compacted(self, granularity=900000):
        """Entries merged with each end moved *later* to a multiple of ``granularity``.

        A later end only overstates window totals and IOB, so compaction is always safe; it
        bounds the checkpoint that stores the ledger whatever the command rate was.
        """
        merged = {}
        for entry in self.entries:
            key = (-((-entry[0]) // granularity) * granularity, _kind(entry))
            merged[key] = merged.get(key, 0) + entry[1]
        return sorted([key[0], mu, key[1]] for key, mu in merged.items() if mu)

    def snapshot(self, max_entries=64):
        if len(self.entries) > max_entries:
            return self.compacted()
        return [list(e) for e in self.entries]
