"""CGM readings the pump accepts: only fresh, ordered, plausible ones reach its interlocks.

A reading comes from the sensor over the secure channel (relayed by the gateway) or from a
local sensor driver. It carries the glucose in mg/dL and the tick it was measured at, on
the pump's monotonic counter (the sender learns it through time sync); the wall clock is
never used, so setting the clock cannot make an old reading look new. Refused, each with
its interlock ID (the reading is dropped, never stored):

- IL-CGM-STALE: measured more than ``MAX_AGE_MS`` ago, or in the future (a clock that
  lies, or a reading held back on the way);
- IL-CGM-ORDER: not measured at least ``MIN_SPACING_MS`` after the last accepted reading
  (a duplicate or a reordered one);
- IL-CGM-IMPLAUSIBLE: outside what any sensor reports (``SENSOR_MG_DL``), or changing
  faster than ``MAX_RATE_MG_DL_MIN`` since the last accepted reading (no physiology does
  that: a faulty sensor, a compression artefact or a forged value). One such outlier must
  not blind the pump to every reading after it: a reading refused for its rate is kept as
  a candidate, and when the next one agrees with it (a plausible rate between the two),
  both are taken as a new series and the older readings are dropped.

A reading outside the reporting range ``RANGE_MG_DL`` but one a sensor does send is its
LOW or HIGH (Dexcom reports a glucose below 40 mg/dL as 39, Navigator as 32): the lowest
or highest glucose there is, never a missing one. It is taken as the range's edge, so a
severe low keeps basal held (refused, the hold would end after ``plgs.LOST_MS`` with
IL-CGM-LOST and basal would run into it) and a HIGH never corrects beyond 400 mg/dL.

Only accepted readings are kept (the last ``HISTORY_MS``, at most ``HISTORY`` of them, so a
1-minute sensor's are all there), so low-glucose suspend and the bolus calculator see the
same trusted series.
"""

from pump import results
from pump.results import Refused
from pump.units import MS_PER_MINUTE

RANGE_MG_DL = (40, 400)            # a CGM's reporting range: LOW and HIGH beyond it
SENSOR_MG_DL = (20, 600)           # what any sensor sends (LOW 32..39, HIGH up to 600)
MAX_AGE_MS = 10 * MS_PER_MINUTE
FUTURE_MS = 5000                   # the sender's tick estimate may lead by this much
MIN_SPACING_MS = MS_PER_MINUTE
MAX_RATE_MG_DL_MIN = 10            # faster than any physiology (fastest seen ~ 5 mg/dL/min)
HISTORY_MS = 30 * MS_PER_MINUTE    # what the low-glucose prediction may look back on
HISTORY = 32                       # at most, whatever the sensor's rate (a 1-min CGM: 31)
MAX_TICK = (1 << 63) - 1


class RateRefused(Refused):
    """Refused for its rate of change alone (it may start a new series)."""


def _plausible_step(previous, measured_ms, mg_dl):
    """At most MAX_RATE_MG_DL_MIN from ``previous`` (tick, mg/dL) to this reading."""
    change = mg_dl - previous[1]
    if change < 0:
        change = -change
    return change * MS_PER_MINUTE <= MAX_RATE_MG_DL_MIN * (measured_ms - previous[0])


class CgmInput:
    def __init__(self):
        self.readings = []            # [(measured_ms, mg_dl)], oldest first
        self.refused = {}             # interlock ID -> count
        self.candidate = None         # the last reading refused for its rate only

    def accept(self, now, mg_dl, measured_ms):
        """Store the reading or raise Refused naming the interlock; returns the reading."""
        results.check_int("mg_dl", mg_dl, 0, 0xFFFF)
        results.check_int("measured_ms", measured_ms, 0, MAX_TICK)
        if SENSOR_MG_DL[0] <= mg_dl <= SENSOR_MG_DL[1]:
            mg_dl = min(max(mg_dl, RANGE_MG_DL[0]), RANGE_MG_DL[1])   # LOW / HIGH
        try:
            self._check(now, mg_dl, measured_ms)
            self.candidate = None
        except RateRefused:
            candidate, self.candidate = self.candidate, (measured_ms, mg_dl)
            if candidate is None or not _plausible_step(candidate, measured_ms, mg_dl):
                self._count("IL-CGM-IMPLAUSIBLE")
                raise Refused(results.ERR_INTERLOCK, "IL-CGM-IMPLAUSIBLE")
            self.readings = [candidate]            # two agreeing readings: a new series
            self.candidate = None
        except Refused as refusal:
            self._count(refusal.reason)
            raise
        readings = self.readings
        readings.append((measured_ms, mg_dl))
        while len(readings) > HISTORY or measured_ms - readings[0][0] > HISTORY_MS:
            del readings[0]
        return (measured_ms, mg_dl)

    def _count(self, reason):
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def _check(self, now, mg_dl, measured_ms):
        if measured_ms > now + FUTURE_MS or now - measured_ms > MAX_AGE_MS:
            raise Refused(results.ERR_INTERLOCK, "IL-CGM-STALE")
        if not RANGE_MG_DL[0] <= mg_dl <= RANGE_MG_DL[1]:
            raise Refused(results.ERR_INTERLOCK, "IL-CGM-IMPLAUSIBLE")
        last = self.readings[-1] if self.readings else self.candidate
        if last is not None and measured_ms - last[0] < MIN_SPACING_MS:
            raise Refused(results.ERR_INTERLOCK, "IL-CGM-ORDER")
        if self.readings and not _plausible_step(self.readings[-1], measured_ms, mg_dl):
            raise RateRefused(results.ERR_INTERLOCK, "IL-CGM-IMPLAUSIBLE")

    def latest(self):
        return self.readings[-1] if self.readings else None

    def fresh(self, now, max_age_ms=MAX_AGE_MS):
        """The readings no older than ``max_age_ms`` at ``now``, oldest first."""
        return [r for r in self.readings if 0 <= now - r[0] <= max_age_ms]

    def forget(self):
        """After a reboot or a sensor change the series starts again."""
        self.readings = []
