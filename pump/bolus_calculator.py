"""Bolus calculator: a suggested bolus from carbohydrates, glucose and insulin on board.

It only *suggests*. The patient confirms the amount; ``bolus_arguments`` turns the confirmed
suggestion into the arguments of ``Pump.bolus`` (mu, cmd_id, issued_ms, duration_ms), where
every bolus interlock still applies (IL-BOLUS-MAX, IL-IOB-MAX, IL-ROLLING-1H/24H,
IL-BOLUS-INTERVAL, IL-HISTORY-UNKNOWN, ...). None of those is repeated here, except that
the suggestion never exceeds the maximum bolus (it is capped and says so).

Settings, integers only (one list of up to 8 segments by time of day, as a Tandem profile):

    [start_minute, carb_ratio_dg, isf, target_low, target_high]

    start_minute   minute of the day the segment starts, 0..1439; the first starts at 0,
                   starts strictly increase, a segment lasts until the next one starts
    carb_ratio_dg  grams of carbohydrate one unit covers, in tenths of a gram (decigrams
                   per U): 10..1500 = 1.0..150.0 g/U, so 4.5 g/U is 45
    isf            insulin sensitivity factor, mg/dL one unit lowers glucose: 5..400
    target_low,    target range in mg/dL, 70..200 each, low <= high (equal: one target)
    target_high

Formulas (Medtronic Bolus Wizard, which corrects to the nearer end of a target range), with
G the glucose and IOB insulin on board above scheduled basal, all in mU:

    carb       = carbs_g * 10000 / carb_ratio_dg
    G > high:  total = carb + max(0, (G - high) * 1000 / isf - IOB)
    G < low:   total = max(0, carb + (G - low) * 1000 / isf)     (negative correction)
    otherwise, or no usable glucose:  total = carb

IOB reduces only the correction, never the carb part, and is used only when glucose is
above the range (as the Bolus Wizard; Omnipod also uses IOB only with a known glucose).
The total is computed exactly, over the common denominator carb_ratio_dg * isf, and
rounded *down* once to whole 25 mU pulses, then capped at max_bolus_mu (rounded down to a
pulse). The parts reported beside it (``carb_mu``, ``correction_mu``) are rounded towards
zero and are for display.

Untrusted glucose may only take insulin away (hazards in pump/hazards.py):
- older than 15 min (IL-CALC-BG-STALE) or outside 20..600 mg/dL (IL-CALC-BG-RANGE): no
  correction either way, carbs only;
- any reading below 70 mg/dL, even a stale or implausibly low one (IL-CALC-HYPO): no bolus
  is suggested and none can be confirmed from the suggestion; the patient treats the low
  (a manual bolus remains the patient's own decision, under the pump's interlocks).
A suggestion expires 5 min after it was made, or as soon as insulin on board is higher
than it was (IL-CALC-ADVICE-STALE), or when the glucose it used turns 15 min old
(IL-CALC-BG-STALE): the patient then calculates again.
"""

from pump import results
from pump.limits import HARD_RANGES, Limits
from pump.results import Refused
from pump.units import MS_PER_MINUTE, PULSE_MU, SECONDS_PER_DAY, is_int

MINUTES_PER_DAY = 1440
MAX_SEGMENTS = 8
CARB_RATIO_DG = (10, 1500)         # 1.0 .. 150.0 g/U
ISF_MG_DL_U = (5, 400)
TARGET_MG_DL = (70, 200)
MAX_CARBS_G = 250
HYPO_MG_DL = 70                    # below: no bolus suggested
PLAUSIBLE_MG_DL = (20, 600)        # a meter's or CGM's reporting range
MAX_GLUCOSE_AGE_MS = 15 * MS_PER_MINUTE
ADVICE_LIFETIME_MS = 5 * MS_PER_MINUTE
MAX_GLUCOSE_INPUT = 65535          # beyond: not a reading at all (refused, not flagged)
MAX_IOB_INPUT_MU = 1000000
MAX_TICK = (1 << 63) - 1

FLAG_NO_GLUCOSE = "no-glucose"
FLAG_BELOW_TARGET = "below-target"

MESSAGES = {
    FLAG_NO_GLUCOSE: "no glucose: carbs only, no correction",
    FLAG_BELOW_TARGET: "glucose below the low target: carb bolus reduced",
    "IL-CALC-BG-STALE": "glucose older than 15 min: no correction",
    "IL-CALC-BG-RANGE": "glucose outside 20..600 mg/dL: no correction",
    "IL-CALC-HYPO": "glucose below 70 mg/dL: treat the low; no bolus suggested",
    "IL-CALC-IOB": "insulin on board subtracted from the correction",
    "IL-CALC-BOLUS-MAX": "capped at the maximum bolus",
}


class SettingsRefused(Refused):
    """Calculator settings refused (IL-CALC-SETTINGS); ``detail`` says what is wrong."""

    def __init__(self, detail):
        Refused.__init__(self, results.ERR_INTERLOCK, "IL-CALC-SETTINGS")
        self.detail = detail[:Refused.MAX_REASON]


_int = results.check_int


def _toward_zero(numerator, denominator):
    if numerator < 0:
        return -((-numerator) // denominator)
    return numerator // denominator


def minute_of_day(wall_s):
    """The minute of the day of a wall-clock time in seconds, as the basal program's
    half-hour slots count it (pump.delivery.slot_of)."""
    if not is_int(wall_s):
        raise Refused(results.ERR_TYPE, "wall_s must be an integer")
    return (wall_s % SECONDS_PER_DAY) // 60


def _checked_segments(segments):
    if type(segments) not in (list, tuple):
        raise Refused(results.ERR_TYPE, "segments must be a list")
    if not 1 <= len(segments) <= MAX_SEGMENTS:
        raise SettingsRefused("1..%d segments, not %d" % (MAX_SEGMENTS, len(segments)))
    for index, segment in enumerate(segments):       # shape and types first
        if type(segment) not in (list, tuple):
            raise Refused(results.ERR_TYPE, "segment %d must be a list" % index)
        if len(segment) != 5:
            raise SettingsRefused("segment %d: 5 values (start, carb ratio, ISF, low, high)"
                                  % index)
        for value in segment:
            if not is_int(value):
                raise Refused(results.ERR_TYPE, "segment %d: values must be integers" % index)
    previous = -1
    for index, (start, ratio, isf, low, high) in enumerate(segments):
        if index == 0 and start != 0:
            raise SettingsRefused("the first segment must start at minute 0")
        if not 0 <= start < MINUTES_PER_DAY:
            raise SettingsRefused("segment %d: start %d outside 0..1439" % (index, start))
        if start <= previous:
            raise SettingsRefused("segment %d: start not after the previous (sorted)" % index)
        previous = start
        if not CARB_RATIO_DG[0] <= ratio <= CARB_RATIO_DG[1]:
            raise SettingsRefused("segment %d: carb ratio %d dg/U outside 10..1500 "
                                  "(1.0..150.0 g/U)" % (index, ratio))
        if not ISF_MG_DL_U[0] <= isf <= ISF_MG_DL_U[1]:
            raise SettingsRefused("segment %d: sensitivity %d mg/dL/U outside 5..400"
                                  % (index, isf))
        for target in (low, high):
            if not TARGET_MG_DL[0] <= target <= TARGET_MG_DL[1]:
                raise SettingsRefused("segment %d: target %d mg/dL outside 70..200"
                                      % (index, target))
        if low > high:
            raise SettingsRefused("segment %d: low target above high" % index)
    return tuple(tuple(segment) for segment in segments)


class Suggestion:
    """What the calculator suggests and why. ``total_mu`` is the suggested bolus (whole
    pulses, capped); the other fields say how it was reached, for the confirmation screen."""

    __slots__ = ("total_mu", "uncapped_mu", "carb_mu", "correction_mu", "iob_mu",
                 "iob_subtracted_mu", "glucose_mg_dl", "glucose_age_ms", "glucose_used",
                 "target_mg_dl", "segment", "carb_ratio_dg", "isf", "target_low",
                 "target_high", "carbs_g", "minute", "flags", "made_ms")

    @property
    def reasons(self):
        return tuple(MESSAGES[flag] for flag in self.flags)

    def __repr__(self):
        return "Suggestion(%d mU, flags=%r)" % (self.total_mu, self.flags)


class BolusCalculator:
    """The clinician's calculator settings; ``suggest`` computes a suggestion from them."""

    def __init__(self, segments):
        self.segments = _checked_segments(segments)

    def as_list(self):
        return [list(segment) for segment in self.segments]

    def segment_at(self, minute):
        index = len(self.segments) - 1
        while self.segments[index][0] > minute:
            index -= 1
        return index

    def suggest(self, now_minute_of_day, carbs_g, glucose_mg_dl, glucose_age_ms, iob_mu,
                limits, now_ms):
        """A Suggestion for ``carbs_g`` grams at ``now_minute_of_day`` (wall clock, see
        ``minute_of_day``), glucose in mg/dL measured ``glucose_age_ms`` ago (or None),
        insulin on board above scheduled basal (``Pump.status()["iob_mu"]``), the pump's
        Limits and the monotonic tick ``now_ms`` (the suggestion expires from it).
        Raises Refused on a bad argument; untrusted glucose is flagged, not refused."""
        minute = _int("now_minute_of_day", now_minute_of_day, 0, MINUTES_PER_DAY - 1)
        if not is_int(carbs_g):
            raise Refused(results.ERR_TYPE, "carbs_g must be an integer")
        if carbs_g < 0:
            raise Refused(results.ERR_RANGE, "carbs_g must not be negative")
        if carbs_g > MAX_CARBS_G:
            raise Refused(results.ERR_INTERLOCK, "IL-CALC-CARBS-MAX")
        if glucose_mg_dl is not None:
            _int("glucose_mg_dl", glucose_mg_dl, 0, MAX_GLUCOSE_INPUT)
            _int("glucose_age_ms", glucose_age_ms, 0, MAX_TICK)
        elif glucose_age_ms is not None:
            _int("glucose_age_ms", glucose_age_ms, 0, MAX_TICK)
        _int("iob_mu", iob_mu, 0, MAX_IOB_INPUT_MU)
        if not isinstance(limits, Limits):
            raise Refused(results.ERR_TYPE, "limits must be the pump's Limits")
        max_bolus = _int("max_bolus_mu", limits.max_bolus_mu, *HARD_RANGES["max_bolus_mu"][1:])
        _int("now_ms", now_ms, 0, MAX_TICK)

        index = self.segment_at(minute)
        start, ratio, isf, low, high = self.segments[index]
        denominator = ratio * isf                     # every amount below is mU * this
        carb_n = carbs_g * 10000 * isf
        flags = []
        used = False
        hypo = False
        if glucose_mg_dl is None:
            flags.append(FLAG_NO_GLUCOSE)
        else:
            plausible = PLAUSIBLE_MG_DL[0] <= glucose_mg_dl <= PLAUSIBLE_MG_DL[1]
            fresh = glucose_age_ms <= MAX_GLUCOSE_AGE_MS
            if not plausible:
                flags.append("IL-CALC-BG-RANGE")
            if not fresh:
                flags.append("IL-CALC-BG-STALE")
            used = plausible and fresh
            if glucose_mg_dl < HYPO_MG_DL:
                flags.append("IL-CALC-HYPO")
                hypo = True

        correction_n = 0
        subtracted_n = 0
        target = None
        total_n = carb_n
        if hypo:
            total_n = 0
        elif used and glucose_mg_dl > high:
            target = high
            correction_n = (glucose_mg_dl - high) * 1000 * ratio
            subtracted_n = min(iob_mu * denominator, correction_n)
            if iob_mu:
                flags.append("IL-CALC-IOB")
            total_n = carb_n + correction_n - subtracted_n
        elif used and glucose_mg_dl < low:
            target = low
            correction_n = (glucose_mg_dl - low) * 1000 * ratio
            flags.append(FLAG_BELOW_TARGET)
            total_n = max(0, carb_n + correction_n)

        uncapped = (total_n // (denominator * PULSE_MU)) * PULSE_MU
        cap = (max_bolus // PULSE_MU) * PULSE_MU
        if uncapped > cap:
            flags.append("IL-CALC-BOLUS-MAX")

        s = Suggestion()
        s.total_mu = min(uncapped, cap)
        s.uncapped_mu = uncapped
        s.carb_mu = carb_n // denominator
        s.correction_mu = _toward_zero(correction_n, denominator)
        s.iob_mu = iob_mu
        s.iob_subtracted_mu = subtracted_n // denominator
        s.glucose_mg_dl = glucose_mg_dl
        s.glucose_age_ms = glucose_age_ms
        s.glucose_used = used
        s.target_mg_dl = target
        s.segment = index
        s.carb_ratio_dg = ratio
        s.isf = isf
        s.target_low = low
        s.target_high = high
        s.carbs_g = carbs_g
        s.minute = minute
        s.flags = tuple(flags)
        s.made_ms = now_ms
        return s


def bolus_arguments(suggestion, confirmed_mu, now_ms, iob_mu, cmd_id=None, issued_ms=None,
                    duration_ms=0):
    """The keyword arguments of ``Pump.bolus`` for a suggestion the patient confirmed,
    ``pump.bolus(**bolus_arguments(...))``. ``confirmed_mu`` is what the patient accepted:
    the suggestion, or less (whole pulses). ``now_ms`` and ``iob_mu`` are the tick and
    insulin on board at confirmation. The pump's own interlocks decide the rest; cmd_id,
    issued_ms and duration_ms are passed through for the pump to validate."""
    if type(suggestion) is not Suggestion:
        raise Refused(results.ERR_TYPE, "not a suggestion of this calculator")
    _int("confirmed_mu", confirmed_mu, PULSE_MU, MAX_IOB_INPUT_MU)
    if confirmed_mu % PULSE_MU:
        raise Refused(results.ERR_RANGE, "confirmed_mu must be a multiple of %d mU" % PULSE_MU)
    _int("now_ms", now_ms, 0, MAX_TICK)
    _int("iob_mu", iob_mu, 0, MAX_IOB_INPUT_MU)
    if confirmed_mu > suggestion.total_mu:
        if "IL-CALC-HYPO" in suggestion.flags:
            raise Refused(results.ERR_INTERLOCK, "IL-CALC-HYPO")
        raise Refused(results.ERR_RANGE, "confirmed_mu above the suggestion")
    age = now_ms - suggestion.made_ms
    if not 0 <= age <= ADVICE_LIFETIME_MS or iob_mu > suggestion.iob_mu:
        raise Refused(results.ERR_INTERLOCK, "IL-CALC-ADVICE-STALE")
    if suggestion.glucose_used and suggestion.glucose_age_ms + age > MAX_GLUCOSE_AGE_MS:
        raise Refused(results.ERR_INTERLOCK, "IL-CALC-BG-STALE")
    return {"mu": confirmed_mu, "cmd_id": cmd_id, "issued_ms": issued_ms,
            "duration_ms": duration_ms}
