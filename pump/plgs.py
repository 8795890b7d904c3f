"""Predictive low-glucose suspend (IL-PLGS), as Tandem Basal-IQ and Medtronic SmartGuard.

Basal is held (not a suspend of the state machine: boluses, alarms and the missing-basal
watch go on) when the trusted CGM series (``pump.cgm_input``) says glucose is below
``LOW_MG_DL`` now, or is predicted below the clinician's threshold within ``HORIZON_MS``.
The prediction is the least-squares line through the readings of the last
``LOOKBACK_MS``, extended ``HORIZON_MS`` past the newest; it needs ``MIN_READINGS``
readings spanning at least ``MIN_SPAN_MS``, else only the current value counts.

Basal resumes, whichever comes first:
- glucose rises (the newest reading above the one before) at or above ``LOW_MG_DL`` and is
  no longer predicted below the threshold;
- the hold reached ``MAX_HOLD_MS``, or the missing-basal budget of IL-NO-DELIVERY is
  spent (the hold counts as missing basal, so PLGS can never be the cause of a
  no-delivery alarm): IL-PLGS-LIMIT alerts, and PLGS waits ``REARM_MS`` before holding
  again;
- no trusted reading for ``LOST_MS`` (since the last reading or the boot): IL-CGM-LOST
  alerts. A pump that cannot see glucose must not keep withholding insulin.

All arithmetic is integer (mg/dL, ms); the slope's fraction is kept exact.
"""

from pump.units import MS_PER_HOUR, MS_PER_MINUTE

LOW_MG_DL = 70
URGENT_LOW_MG_DL = 55
HORIZON_MS = 30 * MS_PER_MINUTE
LOOKBACK_MS = 20 * MS_PER_MINUTE
MIN_READINGS = 3
MIN_SPAN_MS = 9 * MS_PER_MINUTE
MAX_HOLD_MS = 2 * MS_PER_HOUR
REARM_MS = 30 * MS_PER_MINUTE
LOST_MS = 20 * MS_PER_MINUTE
MIN_BUDGET_MS = 5 * MS_PER_MINUTE      # less missing-basal budget than this: no new hold
URGENT_REPEAT_MS = 30 * MS_PER_MINUTE
INTERRUPTIONS = ("not delivering", "off")     # releases that are not an end of the low

HOLD = "hold"
RESUME = "resume"
BLOCKED = "blocked"            # a hold is called for but its budget is spent: alert


def predicted(readings, horizon_ms=HORIZON_MS):
    """Glucose predicted ``horizon_ms`` after the newest reading (int mg/dL), or None when
    the recent readings are too few or too close together for a trend."""
    if not readings:
        return None
    newest = readings[-1][0]
    recent = [r for r in readings if newest - r[0] <= LOOKBACK_MS]
    if len(recent) < MIN_READINGS or newest - recent[0][0] < MIN_SPAN_MS:
        return None
    n = len(recent)
    sum_t = sum_g = sum_tt = sum_tg = 0
    for tick, mg_dl in recent:
        t = (tick - newest) // 1000            # seconds before the newest (<= 0)
        sum_t += t
        sum_g += mg_dl
        sum_tt += t * t
        sum_tg += t * mg_dl
    denominator = n * sum_tt - sum_t * sum_t
    if denominator <= 0:
        return None
    slope_num = n * sum_tg - sum_t * sum_g      # slope = slope_num / denominator mg/dL/s
    # the fitted value at the newest reading, plus the slope over the horizon
    at_newest = (sum_g * denominator - slope_num * sum_t) // (n * denominator)
    return at_newest + slope_num * (horizon_ms // 1000) // denominator


class LowGlucoseSuspend:
    """Decides HOLD and RESUME from the trusted readings; the controller applies them."""

    def __init__(self, now=0):
        self.held_since = None
        self.rearm_at = 0
        self.started = now             # the boot: 'no reading yet' is timed from here
        self.urgent_at = None          # when the urgent-low alert was last raised
        self._forecast = (None, None)  # (newest reading, its prediction): once per reading
        self._interrupted = None       # (held_since, released) of a hold cut short
        self.blocked_at = None         # when a hold that could not be made was last told

    def _predicted(self, readings):
        newest = readings[-1] if readings else None
        if self._forecast[0] != newest:
            self._forecast = (newest, predicted(readings))
        return self._forecast[1]

    @property
    def held(self):
        return self.held_since is not None

    def decide(self, now, readings, threshold, delivering, budget):
        """(action, reason) with action HOLD, RESUME, BLOCKED or None. ``readings`` are the
        accepted readings, oldest first; ``budget()`` the missing-basal time left before
        IL-NO-DELIVERY's bound (asked only when it matters: it is summed over a window)."""
        latest = readings[-1] if readings else None
        seen = latest[0] if latest else self.started
        if self.held:
            if now - seen > LOST_MS:
                return RESUME, "IL-CGM-LOST"
            if now - self.held_since >= MAX_HOLD_MS or budget() <= 0:
                return RESUME, "IL-PLGS-LIMIT"
            rising = len(readings) >= 2 and readings[-1][1] > readings[-2][1]
            forecast = self._predicted(readings)
            if rising and latest[1] >= LOW_MG_DL and (forecast is None or
                                                       forecast >= threshold):
                return RESUME, "rising"
            return None, ""
        if not delivering or latest is None or now - latest[0] > LOST_MS:
            return None, ""
        why = ""
        if latest[1] < LOW_MG_DL:
            why = "low"
        else:
            forecast = self._predicted(readings)
            if forecast is not None and forecast < threshold:
                why = "predicted low"
        if not why:
            return None, ""
        if now < self.rearm_at or budget() < MIN_BUDGET_MS:
            # the patient must know it cannot act: told once, again every 30 min
            if self.blocked_at is not None and now - self.blocked_at < URGENT_REPEAT_MS:
                return None, ""
            self.blocked_at = now
            return BLOCKED, "IL-PLGS-LIMIT"
        return HOLD, why

    def hold(self, now):
        """A hold that follows one cut short by a suspend, an alarm or PLGS turned off
        (within REARM_MS) continues it: its 2 h are counted from the first."""
        interrupted = self._interrupted
        self.held_since = now
        if interrupted is not None and now - interrupted[1] <= REARM_MS:
            self.held_since = interrupted[0]
        self._interrupted = None

    def resume(self, now, reason):
        if reason in INTERRUPTIONS:
            self._interrupted = (self.held_since, now)
        self.held_since = None
        if reason == "IL-PLGS-LIMIT":
            self.rearm_at = now + REARM_MS

    def urgent_low(self, now, readings):
        """True when the urgent-low alert should sound now: a fresh reading below
        URGENT_LOW_MG_DL, first time or again ``URGENT_REPEAT_MS`` after the last one."""
        latest = readings[-1] if readings else None
        if latest is None or now - latest[0] > LOST_MS:
            return False
        if latest[1] >= LOW_MG_DL:
            self.urgent_at = None
            return False
        if latest[1] >= URGENT_LOW_MG_DL:
            return False
        if self.urgent_at is not None and now - self.urgent_at < URGENT_REPEAT_MS:
            return False
        self.urgent_at = now
        return True
