"""A baseline automated-insulin-delivery (AID) controller for the gateway side of the
simulator: every 5 minutes, after a CGM reading, it decides a temporary basal for the pump.

It follows the temp-basal logic of OpenAPS oref0's determine-basal as the OpenAPS
documentation explains it (docs/aid-controller.md lists the pages and the rules); it is
written from that text, not from oref0's code. No super micro boluses, no autosens, no meal
assist or unannounced-meal detection: temporary basals only.

Theory of operation, per call:

1. Glucose status. From the readings of the last 45 minutes: the newest BG, ``delta``
   (average change per 5 min against the readings 2.5-7.5 min before the newest),
   ``short_avgdelta`` (2.5-17.5 min), ``long_avgdelta`` (17.5-42.5 min). If the newest
   reading is more than 12 min old, or fewer than 3 readings fall in the last 20 min, or
   no reading lies 2.5-17.5 min before the newest, the controller does not dose: it
   cancels a high temp (the safe failure) and otherwise changes nothing.
2. Insulin effect. ``BGI = -activity * ISF * 5`` (mg/dL per 5 min), activity in U/min;
   ``minDelta = min(delta, short_avgdelta)``; ``deviation = 30/5 * (minDelta - BGI)``.
3. Predictions. ``naive eventual BG = BG - IOB * ISF``; ``eventualBG = naive + deviation``;
   ``minPredBG = min(eventualBG, BG + 6 * minDelta)`` (the 30-min linear extrapolation).
4. Rules, first match wins:
   - BG < threshold or minPredBG < threshold: zero temp for 30 min (low-glucose suspend);
   - eventualBG < target: ``rate = basal + 2 * (eventualBG - target) / ISF``, at least 0;
   - eventualBG > target and BG not already falling as fast as it must to reach target
     within DIA/2: ``insulinReq = (eventualBG - target) / ISF`` (IOB is already in
     eventualBG), at most ``max_iob - IOB`` and at least 0; ``rate = basal + 2 *
     insulinReq`` (insulinReq over 30 min), capped at the max safe basal
     ``min(max_basal, 3 * max daily basal, 4 * current basal)``;
   - otherwise the scheduled basal.
5. Rates are rounded down to whole mU/h (the pump takes absolute rates in integer mU/h).
   A rate within 25 mU/h (one pulse an hour) of the scheduled basal means "scheduled
   basal": cancel a running temp, or change nothing. A temp already running at the
   wanted rate (within 25 mU/h; exactly, for a zero temp) with more than 20 min left is
   left alone.

A ``Decision`` is one of three actions: set a temp (``rate_u_h`` >= 0, ``duration_min``
> 0), cancel the temp (``rate_u_h`` None, ``duration_min`` 0), or no change (both None).
``to_pump`` and ``pump_command`` turn it into what the pump accepts.

Activity. When the caller gives no ``activity_u_per_min``, it is estimated from the last
two calls: ``activity = (IOB_before - IOB_now + net insulin delivered in between) /
minutes``, where the net insulin (temp rate minus scheduled basal) comes from the temps
this controller issued, assumed enacted; when the caller reports the running temp and it
disagrees with that record, the smaller of the two accounts is taken (less insulin
counted as delivered means less activity, hence less insulin). The estimate is floored at
``-basal / 60`` U/min: net activity cannot be more negative than a full stop of the
scheduled basal, and insulin the controller does not know about (a manual bolus) would
otherwise show up as a large negative activity. Without a previous call 0-15 min ago the
activity is taken as 0; with positive IOB that understates the insulin effect, which is
the direction that gives less insulin.

Bad arguments (wrong types, NaN, unsorted readings, a reading after ``now``) raise
TypeError or ValueError with a one-line message before anything changes; data that is
merely too thin or too old gives a Decision, never an exception.
"""

import math
from dataclasses import dataclass

from pump.limits import HARD_RANGES

__all__ = ["Profile", "Decision", "GlucoseStatus", "AidController", "glucose_status",
           "to_pump", "pump_command", "CANCEL", "STALE_REASON"]

MU_PER_U = 1000
MS_PER_MINUTE = 60000

TEMP_MINUTES = 30              # every temp this controller sets runs 30 min
MIN_PUMP_TEMP_MINUTES = 15     # the pump refuses shorter temps (pump.pump.MIN_TEMP_MS)
KEEP_IF_MINUTES_LEFT = 20      # a matching temp with more than this left is left alone
MATCH_MU_H = 25                # rates closer than one 25 mU pulse an hour are "the same"
MAX_PUMP_RATE_MU_H = HARD_RANGES["max_temp_basal_mu_h"][2]

STALE_MINUTES = 12             # newest reading older than this: no dosing
RECENT_MINUTES = 20            # ... and at least RECENT_COUNT readings in this window
RECENT_COUNT = 3
HISTORY_MINUTES = 45           # readings older than this are not looked at
DELTA_WINDOW = (2.5, 7.5)      # minutes before the newest reading
SHORT_WINDOW = (2.5, 17.5)
LONG_WINDOW = (17.5, 42.5)
PREDICTION_MINUTES = 30        # deviation and the linear extrapolation look 30 min ahead
ESTIMATE_MAX_GAP_MINUTES = 15  # activity is estimated only from a call at most this old

STALE_REASON = "stale/insufficient CGM data"

# to_pump's answer for a cancel: duration 0 means cancel_temp_basal, as in Decision.
CANCEL = (None, 0)


def _real(name, value, low=None, high=None, low_open=False):
    """A finite int or float (never bool) inside [low, high] (or (low, high])."""
    if type(value) is bool or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, not %r" % (name, value))
    if not math.isfinite(value):
        raise ValueError("%s must be finite, not %r" % (name, value))
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError("%s must be %s %s, not %r"
                         % (name, ">" if low_open else ">=", low, value))
    if high is not None and value > high:
        raise ValueError("%s must be <= %s, not %r" % (name, high, value))
    return value


def _floor_mu(rate_u_h):
    """U/h -> whole mU/h, rounded down (the epsilon absorbs binary noise like 569.99..)."""
    return int(math.floor(rate_u_h * MU_PER_U + 1e-6))


@dataclass(frozen=True)
class Profile:
    """The therapy settings the controller doses from (U, U/h, mg/dL, hours).

    ``current_basal_u_h`` is the pump program's scheduled rate now; replace the
    controller's ``profile`` when the program moves to another slot. ``max_basal_u_h`` is
    the absolute ceiling for temps; ``max_iob_u`` the controller's own IOB ceiling (the
    pump's IL-IOB-MAX still applies). ``threshold_mg_dl`` None means oref0's rule
    ``target - 0.5 * (target - 40)`` (75 for a target of 110). ``carb_ratio_g_u`` is kept
    for completeness: this baseline has no meal assist and does not use it.
    """

    current_basal_u_h: float
    max_daily_basal_u_h: float
    isf_mg_dl_u: float
    carb_ratio_g_u: float
    target_mg_dl: float
    max_iob_u: float
    max_basal_u_h: float
    dia_hours: float
    max_daily_safety_multiplier: float = 3
    current_basal_safety_multiplier: float = 4
    threshold_mg_dl: float = None

    def __post_init__(self):
        _real("current_basal_u_h", self.current_basal_u_h, 0, 35)
        _real("max_daily_basal_u_h", self.max_daily_basal_u_h, 0, 35, low_open=True)
        _real("isf_mg_dl_u", self.isf_mg_dl_u, 1, 1000)
        _real("carb_ratio_g_u", self.carb_ratio_g_u, 0, 500, low_open=True)
        _real("target_mg_dl", self.target_mg_dl, 70, 200)
        _real("max_iob_u", self.max_iob_u, 0, 50)
        _real("max_basal_u_h", self.max_basal_u_h, 0, MAX_PUMP_RATE_MU_H / MU_PER_U)
        _real("dia_hours", self.dia_hours, 2, 8)
        _real("max_daily_safety_multiplier", self.max_daily_safety_multiplier, 1, 10)
        _real("current_basal_safety_multiplier", self.current_basal_safety_multiplier,
              1, 10)
        if self.current_basal_u_h > self.max_daily_basal_u_h:
            raise ValueError("current_basal_u_h %r is above max_daily_basal_u_h %r"
                             % (self.current_basal_u_h, self.max_daily_basal_u_h))
        if self.max_basal_u_h < self.current_basal_u_h:
            raise ValueError("max_basal_u_h %r is below current_basal_u_h %r"
                             % (self.max_basal_u_h, self.current_basal_u_h))
        if self.threshold_mg_dl is None:
            target = self.target_mg_dl
            object.__setattr__(self, "threshold_mg_dl", target - 0.5 * (target - 40))
        else:
            _real("threshold_mg_dl", self.threshold_mg_dl, 40)
            if self.threshold_mg_dl >= self.target_mg_dl:
                raise ValueError("threshold_mg_dl %r must be below target_mg_dl %r"
                                 % (self.threshold_mg_dl, self.target_mg_dl))

    @property
    def max_safe_basal_u_h(self):
        """The ceiling for any temp: the lowest of the absolute max basal, 3x the highest
        scheduled rate and 4x the current one (with the profile's multipliers)."""
        return min(self.max_basal_u_h,
                   self.max_daily_safety_multiplier * self.max_daily_basal_u_h,
                   self.current_basal_safety_multiplier * self.current_basal_u_h)

    def max_safe_cap(self):
        """(ceiling U/h, which setting sets it): for the reason text."""
        caps = (
            (self.max_basal_u_h, "max basal"),
            (self.max_daily_safety_multiplier * self.max_daily_basal_u_h,
             "%gx max daily basal" % self.max_daily_safety_multiplier),
            (self.current_basal_safety_multiplier * self.current_basal_u_h,
             "%gx current basal" % self.current_basal_safety_multiplier),
        )
        return min(caps, key=lambda cap: cap[0])


@dataclass(frozen=True)
class Decision:
    """What to do with the temporary basal, and why.

    set a temp: ``rate_u_h`` >= 0 (a whole number of mU/h) and ``duration_min`` > 0;
    cancel the running temp: ``rate_u_h`` None and ``duration_min`` 0;
    no change: ``rate_u_h`` None and ``duration_min`` None.
    ``eventual_bg`` and ``min_pred_bg`` (mg/dL) are None when the CGM data was unusable.
    """

    rate_u_h: float
    duration_min: int
    reason: str
    eventual_bg: float = None
    min_pred_bg: float = None

    def __post_init__(self):
        if not isinstance(self.reason, str):
            raise TypeError("reason must be a str, not %r" % (self.reason,))
        if self.rate_u_h is None:
            if not (self.duration_min is None or
                    (type(self.duration_min) is int and self.duration_min == 0)):
                raise ValueError("without a rate, duration_min is 0 (cancel) or None "
                                 "(no change), not %r" % (self.duration_min,))
        else:
            _real("rate_u_h", self.rate_u_h, 0, MAX_PUMP_RATE_MU_H / MU_PER_U)
            if type(self.duration_min) is not int or self.duration_min <= 0:
                raise ValueError("a temp needs an int duration_min > 0, not %r"
                                 % (self.duration_min,))
        for name in ("eventual_bg", "min_pred_bg"):
            if getattr(self, name) is not None:
                _real(name, getattr(self, name))

    @property
    def action(self):
        """"set", "cancel" or "none"."""
        if self.rate_u_h is not None:
            return "set"
        return "cancel" if self.duration_min == 0 else "none"


def to_pump(decision):
    """The decision in the pump's units: ``(rate_mu_h, duration_ms)`` for a temp (rate
    rounded down to whole mU/h), ``CANCEL`` (``(None, 0)``: send cancel_temp_basal) for a
    cancel, None when there is nothing to send."""
    if not isinstance(decision, Decision):
        raise TypeError("to_pump takes a Decision, not %r" % (decision,))
    action = decision.action
    if action == "none":
        return None
    if action == "cancel":
        return CANCEL
    if decision.duration_min < MIN_PUMP_TEMP_MINUTES:
        raise ValueError("the pump's shortest temp is %d min, not %d"
                         % (MIN_PUMP_TEMP_MINUTES, decision.duration_min))
    return _floor_mu(decision.rate_u_h), decision.duration_min * MS_PER_MINUTE


def pump_command(decision):
    """The decision as a pump operation: ``("temp_basal", {"duration_ms", "rate_mu_h"})``,
    ``("cancel_temp_basal", {})`` or None (names as in pump.Pump and the protocol)."""
    sent = to_pump(decision)
    if sent is None:
        return None
    if sent == CANCEL:
        return "cancel_temp_basal", {}
    rate_mu_h, duration_ms = sent
    return "temp_basal", {"duration_ms": duration_ms, "rate_mu_h": rate_mu_h}


@dataclass(frozen=True)
class GlucoseStatus:
    """The newest BG and its trends (mg/dL per 5 min); ``usable`` False says why not."""

    usable: bool
    why: str
    glucose: float = None
    age_min: float = None
    delta: float = None
    short_avgdelta: float = None
    long_avgdelta: float = None

    @property
    def min_delta(self):
        """The smaller of delta and short_avgdelta (the one present if only one is)."""
        return min(d for d in (self.delta, self.short_avgdelta) if d is not None)


def _recent_readings(now_min, readings):
    """The readings of the last HISTORY_MINUTES, oldest first, validated.

    Only those are read: older ones cannot change a decision, and a long simulation must
    not cost a full scan every 5 minutes. The newest reading is always included."""
    if not isinstance(readings, (list, tuple)):
        raise TypeError("readings must be a list of (t_min, mg/dL), not %r"
                        % (type(readings).__name__,))
    picked = []
    later = None
    for index in range(len(readings) - 1, -1, -1):
        item = readings[index]
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError("a reading is a (t_min, mg/dL) pair, not %r" % (item,))
        t, glucose = item
        _real("reading time", t)
        _real("reading glucose", glucose, 0, 1000, low_open=True)
        if t > now_min:
            raise ValueError("reading at %r is after now_min %r" % (t, now_min))
        if later is not None and t >= later:
            raise ValueError("readings must be oldest first with distinct times (%r then %r)"
                             % (t, later))
        later = t
        if picked and now_min - t > HISTORY_MINUTES:
            break
        picked.append((t, glucose))
    picked.reverse()
    return picked


def _average_rate(newest, readings, window):
    """Average change per 5 min from each reading ``window`` minutes before the newest."""
    t0, bg = newest
    rates = [(bg - g) * 5 / (t0 - t) for t, g in readings
             if window[0] <= t0 - t <= window[1]]
    return sum(rates) / len(rates) if rates else None


def glucose_status(now_min, readings):
    """BG, delta, short and long average deltas from ``readings`` (oldest first)."""
    _real("now_min", now_min)
    recent = _recent_readings(now_min, readings)
    if not recent:
        return GlucoseStatus(False, "no CGM readings")
    newest = recent[-1]
    age = now_min - newest[0]
    if age > STALE_MINUTES:
        return GlucoseStatus(False, "newest reading is %.0f min old (> %d)"
                             % (age, STALE_MINUTES), newest[1], age)
    count = sum(1 for t, _ in recent if now_min - t <= RECENT_MINUTES)
    if count < RECENT_COUNT:
        return GlucoseStatus(False, "%d readings in the last %d min (< %d)"
                             % (count, RECENT_MINUTES, RECENT_COUNT), newest[1], age)
    earlier = recent[:-1]
    short = _average_rate(newest, earlier, SHORT_WINDOW)
    if short is None:
        return GlucoseStatus(False, "no reading %g-%g min before the newest"
                             % SHORT_WINDOW, newest[1], age)
    return GlucoseStatus(True, "", newest[1], age,
                         _average_rate(newest, earlier, DELTA_WINDOW), short,
                         _average_rate(newest, earlier, LONG_WINDOW))


def _temp_pair(current_temp):
    if current_temp is None:
        return None
    if not isinstance(current_temp, (list, tuple)) or len(current_temp) != 2:
        raise TypeError("current_temp is (rate_u_h, minutes_left) or None, not %r"
                        % (current_temp,))
    rate, left = current_temp
    _real("current_temp rate_u_h", rate, 0, MAX_PUMP_RATE_MU_H / MU_PER_U)
    _real("current_temp minutes_left", left, 0, 24 * 60)
    return rate, left


def _matches(wanted_mu, running_mu):
    if wanted_mu == 0 or running_mu == 0:
        return wanted_mu == running_mu
    return abs(wanted_mu - running_mu) < MATCH_MU_H


class AidController:
    """The loop's decision maker. Holds the profile, the temp it last commanded and the
    previous call's IOB (for the activity estimate); deterministic given its calls."""

    def __init__(self, profile):
        if not isinstance(profile, Profile):
            raise TypeError("AidController needs a Profile, not %r" % (profile,))
        self.profile = profile
        self._record = None       # (rate_u_h, start_min, end_min) as commanded or reported
        self._previous = None   # (now_min, iob_u, scheduled basal U/h) of the last call

    # -- public ------------------------------------------------------------------------
    def decide(self, now_min, readings, iob_u, activity_u_per_min=None, current_temp=None):
        """The temp basal for now. ``readings``: (t_min, mg/dL), oldest first, gaps
        allowed; ``iob_u``: net IOB from the pump (U); ``activity_u_per_min``: net
        insulin activity, or None to estimate it; ``current_temp``: the pump's running
        temp as (rate_u_h, minutes_left), or None if none is reported."""
        profile = self.profile
        if not isinstance(profile, Profile):
            raise TypeError("controller profile must be a Profile, not %r" % (profile,))
        _real("now_min", now_min)
        _real("iob_u", iob_u, -50, 100)
        if activity_u_per_min is not None:
            _real("activity_u_per_min", activity_u_per_min, -5, 5)
        reported = _temp_pair(current_temp)
        if self._previous is not None and now_min < self._previous[0]:
            raise ValueError("now_min %r is before the previous call's %r"
                             % (now_min, self._previous[0]))
        status = glucose_status(now_min, readings)

        # Everything is validated; from here on nothing raises.
        if activity_u_per_min is None:
            activity, activity_note = self._estimate_activity(now_min, iob_u, reported)
        else:
            activity, activity_note = activity_u_per_min, "given"
        commanded = self._commanded(now_min)
        running = commanded if reported is None else (reported if reported[1] > 0 else None)
        if status.usable:
            decision = self._dose(status, iob_u, activity, activity_note, running,
                                  reported)
        else:
            decision = self._stale(status, (running, commanded))
        self._remember(now_min, iob_u, reported, decision)
        return decision

    # -- the rules ---------------------------------------------------------------------
    def _dose(self, status, iob, activity, activity_note, running, reported):
        p = self.profile
        isf, target, basal = p.isf_mg_dl_u, p.target_mg_dl, p.current_basal_u_h
        bg = status.glucose
        min_delta = status.min_delta
        bgi = -activity * isf * 5 + 0.0   # + 0.0: no "-0.0" in the reason
        steps = PREDICTION_MINUTES / 5
        deviation = steps * (min_delta - bgi)
        naive = bg - iob * isf
        eventual = naive + deviation
        min_pred = min(eventual, bg + steps * min_delta)
        facts = ("BG %.0f, delta %s, minDelta %+.1f, BGI %+.1f (activity %s), dev %+.0f, "
                 "ISF %g, target %g, IOB %.2f U; eventual BG %.0f, minPredBG %.0f"
                 % (bg, "n/a" if status.delta is None else "%+.1f" % status.delta,
                    min_delta, bgi, activity_note, deviation, isf, target, iob,
                    eventual, min_pred))

        threshold = p.threshold_mg_dl
        if bg < threshold or min_pred < threshold:
            low = "BG" if bg < threshold else "minPredBG"
            why = "%s %.0f < threshold %.0f: low-glucose suspend, zero temp" % (
                low, bg if low == "BG" else min_pred, threshold)
            return self._set_temp(0, facts, why, eventual, min_pred, running, reported)

        if eventual < target:
            insulin_req = (eventual - target) / isf
            rate = max(0.0, basal + 2 * insulin_req)
            why = ("eventual BG %.0f < target %g: insulinReq %.2f U, low temp %.3f U/h"
                   % (eventual, target, insulin_req, rate))
            return self._set_temp(_floor_mu(rate), facts, why, eventual, min_pred, running,
                              reported)

        if eventual > target:
            # BG must not already be falling as fast as it must to reach target within
            # DIA/2 (the insulin effect BGI plus the rest spread over DIA/2).
            blocks = p.dia_hours * 60 / 2 / 5
            expected_delta = bgi + (target - eventual) / blocks
            if min_delta <= expected_delta:
                why = ("eventual BG %.0f > target %g but minDelta %+.1f <= expected delta "
                       "%+.1f: already falling fast enough, scheduled basal"
                       % (eventual, target, min_delta, expected_delta))
                return self._scheduled(facts, why, eventual, min_pred, running)
            insulin_req = (eventual - target) / isf
            notes = []
            room = p.max_iob_u - iob
            if insulin_req > room:
                notes.append("max IOB %g U leaves %.2f U" % (p.max_iob_u, max(0.0, room)))
                insulin_req = max(0.0, room)
            rate = basal + 2 * insulin_req
            cap, cap_name = p.max_safe_cap()
            if rate > cap:
                notes.append("%.3f U/h capped at max safe basal %.3f U/h, %s"
                             % (rate, cap, cap_name))
                rate = cap
            why = "eventual BG %.0f > target %g: insulinReq %.2f U, high temp %.3f U/h" % (
                eventual, target, insulin_req, rate)
            if notes:
                why += " (" + "; ".join(notes) + ")"
            return self._set_temp(_floor_mu(rate), facts, why, eventual, min_pred, running, reported)

        why = "eventual BG %.0f = target %g: scheduled basal" % (eventual, target)
        return self._scheduled(facts, why, eventual, min_pred, running)

    def _set_temp(self, rate_mu, facts, why, eventual, min_pred, running, reported):
        """Set ``rate_mu`` for 30 min, unless it is the scheduled basal or already runs."""
        basal_mu = _floor_mu(self.profile.current_basal_u_h)
        if rate_mu > 0 and abs(rate_mu - basal_mu) < MATCH_MU_H:
            return self._scheduled(facts, why + " ~ scheduled basal", eventual, min_pred,
                                   running)
        if reported is not None and reported[1] > KEEP_IF_MINUTES_LEFT and \
                _matches(rate_mu, _floor_mu(reported[0])):
            return Decision(None, None, "%s; %s; temp %.3f U/h already running, %.0f min "
                            "left: no change" % (facts, why, reported[0], reported[1]),
                            eventual, min_pred)
        rate = rate_mu / MU_PER_U
        return Decision(rate, TEMP_MINUTES, "%s; %s; setting %.3f U/h for %d min"
                        % (facts, why, rate, TEMP_MINUTES), eventual, min_pred)

    def _scheduled(self, facts, why, eventual, min_pred, running):
        """Back to the program: cancel a temp that differs from it, else no change."""
        basal_mu = _floor_mu(self.profile.current_basal_u_h)
        if running is not None and not _matches(basal_mu, _floor_mu(running[0])):
            return Decision(None, 0, "%s; %s; cancelling temp %.3f U/h"
                            % (facts, why, running[0]), eventual, min_pred)
        return Decision(None, None, "%s; %s; no change" % (facts, why), eventual, min_pred)

    def _stale(self, status, temps):
        """No dosing on unusable data: cancel any high temp (the one the pump reports or
        the one this controller commanded), leave a low temp or the program to run."""
        basal_mu = _floor_mu(self.profile.current_basal_u_h)
        highs = [t for t in temps if t is not None and _floor_mu(t[0]) > basal_mu]
        if highs:
            return Decision(None, 0, "%s (%s); cancelling high temp %.3f U/h"
                            % (STALE_REASON, status.why, highs[0][0]))
        return Decision(None, None, "%s (%s); no change" % (STALE_REASON, status.why))

    # -- what the controller remembers -------------------------------------------------
    def _commanded(self, now_min):
        """(rate_u_h, minutes_left) of the temp last commanded (or reported), if running."""
        if self._record is not None and self._record[2] > now_min:
            return self._record[0], self._record[2] - now_min
        return None

    def _net_delivered(self, start, end, basal, temp):
        """Insulin above (below) ``basal`` from ``temp`` (rate, from, to) in [start, end]."""
        if temp is None:
            return 0.0
        overlap = min(end, temp[2]) - max(start, temp[1])
        return max(0.0, overlap) * (temp[0] - basal) / 60

    def _estimate_activity(self, now_min, iob, reported):
        previous = self._previous
        if previous is None:
            return 0.0, "0: no previous IOB"
        then, iob_then, basal = previous
        minutes = now_min - then
        if not 0 < minutes <= ESTIMATE_MAX_GAP_MINUTES:
            return 0.0, "0: previous IOB %g min ago" % minutes
        net = self._net_delivered(then, now_min, basal, self._record)
        if reported is not None:
            # The pump's word on the running temp, taken as the rate of the whole
            # interval; where it disagrees with the record, count the smaller delivery.
            as_reported = (reported[0] - basal) * minutes / 60 if reported[1] > 0 else 0.0
            net = min(net, as_reported)
        activity = (iob_then - iob + net) / minutes
        floor = -basal / 60
        if activity < floor:
            return floor, "%.4f U/min (floored)" % floor
        return activity, "%.4f U/min est." % activity

    def _remember(self, now_min, iob, reported, decision):
        if reported is not None:
            self._record = (reported[0], now_min, now_min + reported[1]) \
                if reported[1] > 0 else None
        action = decision.action
        if action == "set":
            self._record = (decision.rate_u_h, now_min, now_min + decision.duration_min)
        elif action == "cancel":
            self._record = None
        self._previous = (now_min, iob, self.profile.current_basal_u_h)
