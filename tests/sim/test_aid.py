"""The baseline AID controller (sim/aid.py): each rule from a constructed situation, the
safety caps (with the examples table of the OpenAPS preferences page), the safe failure on
stale or thin CGM data, the activity estimate, the pump's units, and properties: higher BG
never lowers the rate, more IOB never raises it, every rate stays in [0, max safe basal],
and the same calls give the same decisions."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from pump.pump import Pump
from pump_fixtures import make_pump
from sim.aid import (CANCEL, STALE_REASON, AidController, Decision, Profile,
                     glucose_status, pump_command, to_pump)

NOW = 100


def profile(**changes):
    settings_ = dict(current_basal_u_h=1.0, max_daily_basal_u_h=1.2, isf_mg_dl_u=50,
                     carb_ratio_g_u=10, target_mg_dl=110, max_iob_u=3.0, max_basal_u_h=4.0,
                     dia_hours=5)
    settings_.update(changes)
    return Profile(**settings_)


def series(values, now=NOW, step=5):
    """Readings every ``step`` minutes, oldest first, the newest at ``now``."""
    n = len(values)
    return [(now - step * (n - 1 - i), v) for i, v in enumerate(values)]


def decide(values, iob=0.0, prof=None, **kwargs):
    return AidController(prof or profile()).decide(NOW, series(values), iob, **kwargs)


FLAT_TARGET = [110] * 5
RISING_HIGH = [150, 155, 160, 165, 170]       # +5 per 5 min: eventual BG 200 with IOB 0


# -- profile -------------------------------------------------------------------------

def test_threshold_defaults_to_orefs_rule():
    assert profile().threshold_mg_dl == 75                 # 110 - 0.5 * (110 - 40)
    assert profile(target_mg_dl=100).threshold_mg_dl == 70
    assert profile(threshold_mg_dl=80).threshold_mg_dl == 80


@pytest.mark.parametrize("changes, error", [
    ({"isf_mg_dl_u": True}, TypeError),
    ({"isf_mg_dl_u": "50"}, TypeError),
    ({"isf_mg_dl_u": math.nan}, ValueError),
    ({"isf_mg_dl_u": 0}, ValueError),
    ({"current_basal_u_h": -0.1}, ValueError),
    ({"current_basal_u_h": 1.5}, ValueError),              # above max daily basal
    ({"max_basal_u_h": 0.5}, ValueError),                  # below the current basal
    ({"max_iob_u": -1}, ValueError),
    ({"dia_hours": 1}, ValueError),
    ({"threshold_mg_dl": 110}, ValueError),                # not below target
    ({"threshold_mg_dl": 30}, ValueError),
    ({"max_daily_safety_multiplier": 0.5}, ValueError),
])
def test_bad_profiles_are_refused(changes, error):
    with pytest.raises(error):
        profile(**changes)


# The table "A few examples" of OpenAPS "Understanding your preferences and safety
# settings": max basal, current basal, highest scheduled basal, recommended, allowed.
OPENAPS_EXAMPLES = [
    (2.0, 1.0, 1.5, 3.0, 2.0),    # the pump's max basal binds
    (2.0, 0.4, 1.0, 1.8, 1.6),    # 4x current basal binds
    (3.0, 1.2, 1.2, 2.4, 2.4),    # nothing binds
    (2.5, 0.7, 0.8, 2.6, 2.4),    # 3x max daily basal binds
]


@pytest.mark.parametrize("max_basal, current, highest, recommended, allowed",
                         OPENAPS_EXAMPLES)
def test_safety_caps_reproduce_the_openaps_examples(max_basal, current, highest,
                                                    recommended, allowed):
    prof = profile(current_basal_u_h=current, max_daily_basal_u_h=highest,
                   max_basal_u_h=max_basal)
    assert prof.max_safe_basal_u_h == pytest.approx(min(max_basal, 3 * highest, 4 * current))
    # Flat BG, no IOB: eventual BG = BG, and rate = basal + 2 * (BG - target) / ISF.
    bg = 110 + 50 * (recommended - current) / 2
    d = decide([bg] * 5, prof=prof)
    assert d.action == "set" and d.duration_min == 30
    assert d.rate_u_h == pytest.approx(allowed, abs=0.001)
    assert d.rate_u_h <= prof.max_safe_basal_u_h
    if allowed < recommended:
        assert "capped at max safe basal" in d.reason


# -- glucose status ------------------------------------------------------------------

def test_deltas_are_average_changes_per_5_min_in_the_documented_windows():
    # 30 min of readings: +2/5 min until 10 min ago, then +6/5 min
    readings = [(70, 100), (75, 102), (80, 104), (85, 106), (90, 108), (95, 114),
                (100, 120)]
    s = glucose_status(100, readings)
    assert s.usable and s.glucose == 120 and s.age_min == 0
    assert s.delta == pytest.approx(6)                     # vs the reading 5 min before
    assert s.short_avgdelta == pytest.approx((6 + 6 + 14 * 5 / 15) / 3)   # 5, 10, 15 min
    assert s.long_avgdelta == pytest.approx((16 * 5 / 20 + 18 * 5 / 25 + 20 * 5 / 30) / 3)
    assert s.min_delta == pytest.approx(s.short_avgdelta)


def test_min_delta_is_the_smaller_of_delta_and_short_average():
    s = glucose_status(100, [(85, 150), (90, 160), (95, 170), (100, 172)])
    assert s.delta == pytest.approx(2) and s.short_avgdelta == pytest.approx((2 + 6 + 22 / 3) / 3)
    assert s.min_delta == pytest.approx(2)
    d = AidController(profile()).decide(100, [(85, 150), (90, 160), (95, 170), (100, 172)],
                                        0.0)
    assert d.eventual_bg == pytest.approx(172 + 6 * 2)


def test_a_gap_leaves_delta_to_the_short_average():
    s = glucose_status(100, [(80, 150), (85, 155), (100, 170)])
    assert s.usable and s.delta is None
    assert s.short_avgdelta == pytest.approx(5) and s.min_delta == pytest.approx(5)


@pytest.mark.parametrize("readings, why", [
    ([], "no CGM readings"),
    (series([110] * 5, now=NOW - 13), "13 min old"),
    ([(85, 110), (100, 110)], "2 readings in the last 20 min"),
    ([(70, 110), (75, 110), (90, 110), (100, 110)], "2 readings in the last 20 min"),
    ([(98, 110), (99, 110), (100, 110)], "no reading 2.5-17.5 min before"),
])
def test_unusable_cgm_data(readings, why):
    s = glucose_status(NOW, readings)
    assert not s.usable and why in s.why


def test_readings_older_than_45_min_are_not_read():
    # a long simulation hands over its whole history; only the last 45 min count
    history = [(t, "not read") for t in range(0, 40)] + [(40, 110)] + series([110] * 5)
    assert glucose_status(NOW, history).usable
    with pytest.raises(TypeError):
        glucose_status(NOW, [(60, "read")] + series([110] * 5))


def test_twelve_minutes_old_is_still_fresh():
    # (at a 5-min cadence a 12-min-old newest reading leaves only 2 in the last 20 min)
    assert glucose_status(NOW, series([110] * 5, now=NOW - 12, step=3)).usable
    assert not glucose_status(NOW, series([110] * 5, now=NOW - 12)).usable


# -- the rules -----------------------------------------------------------------------

def test_falling_fast_toward_a_low_sets_a_zero_temp():
    d = decide([160, 150, 140, 130, 120])                  # BG 120, -10 per 5 min
    assert (d.rate_u_h, d.duration_min) == (0.0, 30)
    assert d.eventual_bg == pytest.approx(60) and d.min_pred_bg == pytest.approx(60)
    assert "minPredBG 60 < threshold 75" in d.reason


def test_a_zero_temp_is_never_mistaken_for_a_tiny_program_rate():
    d = decide([70] * 5, prof=profile(current_basal_u_h=0.02))      # 20 mU/h program
    assert (d.rate_u_h, d.duration_min) == (0.0, 30)


def test_below_threshold_sets_a_zero_temp_whatever_the_prediction():
    d = decide([70] * 5, iob=-2.0)                         # eventual BG 170, BG 70
    assert (d.rate_u_h, d.duration_min) == (0.0, 30)
    assert "BG 70 < threshold 75" in d.reason


def test_the_30_min_extrapolation_alone_can_suspend():
    d = decide([120, 115, 110, 105, 100], iob=-1.0)        # eventual 120, BG in 30 min 70
    assert d.eventual_bg == pytest.approx(120) and d.min_pred_bg == pytest.approx(70)
    assert d.rate_u_h == 0.0


def test_flat_at_target_keeps_the_scheduled_basal():
    d = decide(FLAT_TARGET)
    assert d.action == "none" and d.eventual_bg == pytest.approx(110)


def test_flat_at_target_cancels_a_temp_and_keeps_a_neutral_one():
    assert decide(FLAT_TARGET, current_temp=(3.0, 25)).action == "cancel"
    assert decide(FLAT_TARGET, current_temp=(0.5, 25)).action == "cancel"
    assert decide(FLAT_TARGET, current_temp=(1.01, 25)).action == "none"


def test_eventual_below_target_sets_a_lower_temp():
    d = decide([100] * 5)                                  # insulinReq (100-110)/50 = -0.2
    assert (d.rate_u_h, d.duration_min) == (0.6, 30)       # 1.0 + 2 * -0.2


def test_a_rate_within_a_pulse_an_hour_of_the_program_is_the_program():
    d = decide([109.5] * 5)                                # 0.98 U/h wanted
    assert d.action == "none" and "scheduled basal" in d.reason


def test_rising_high_with_little_iob_sets_a_high_temp():
    d = decide(RISING_HIGH, prof=profile(max_daily_basal_u_h=2.0))   # cap 4.0 U/h
    # eventual 170 + 6 * 5 = 200; insulinReq 90/50 = 1.8; rate 1.0 + 3.6
    assert d.eventual_bg == pytest.approx(200)
    assert (d.rate_u_h, d.duration_min) == (4.0, 30)       # max basal 4.0 = 4x current


@pytest.mark.parametrize("changes, cap, name", [
    ({"max_basal_u_h": 2.0}, 2.0, "max basal"),
    ({}, 3.6, "3x max daily basal"),
    ({"current_basal_u_h": 0.5}, 2.0, "4x current basal"),
])
def test_each_safety_cap_binds_a_high_temp(changes, cap, name):
    d = decide(RISING_HIGH, prof=profile(**changes))
    assert d.rate_u_h == pytest.approx(cap) and name in d.reason
    assert "high temp %.3f U/h" % cap in d.reason


def test_max_iob_reached_gives_no_high_temp():
    high = [300, 305, 310, 315, 320]                       # eventual 320 - 150 + 30 = 200
    d = decide(high, iob=3.0)
    assert d.eventual_bg == pytest.approx(200) and d.action == "none"
    assert "max IOB 3 U leaves 0.00 U" in d.reason
    assert decide(high, iob=3.5, current_temp=(3.0, 25)).action == "cancel"
    assert decide(high, iob=0.0, prof=profile(max_iob_u=0)).action == "none"


def test_max_iob_limits_a_high_temp_to_the_room_left():
    d = decide([300, 305, 310, 315, 320], iob=2.8)         # room 0.2 U over 30 min
    assert d.rate_u_h == pytest.approx(1.4)


def test_high_but_already_falling_fast_enough_keeps_the_program():
    d = decide([200, 195, 190, 185, 180])                  # eventual 150, falling -5
    assert d.eventual_bg == pytest.approx(150) and d.action == "none"
    assert "already falling fast enough" in d.reason


def test_bgi_and_deviation_use_the_given_activity():
    d = decide([150] * 5, iob=1.0, activity_u_per_min=0.01)
    # BGI = -0.01 * 50 * 5 = -2.5; deviation = 6 * (0 + 2.5) = 15; naive = 150 - 50
    assert d.eventual_bg == pytest.approx(115) and d.min_pred_bg == pytest.approx(115)
    assert d.rate_u_h == pytest.approx(1.2)                # insulinReq 5/50 = 0.1


def test_gaps_in_readings_still_give_a_decision():
    readings = [(80, 150), (85, 155), (100, 170)]
    d = AidController(profile()).decide(NOW, readings, 0.0)
    assert d.action == "set" and "delta n/a" in d.reason
    assert d.eventual_bg == pytest.approx(200)


# -- the temp already running --------------------------------------------------------

@pytest.mark.parametrize("current, action", [
    ((3.6, 25), "none"),
    ((3.59, 25), "none"),             # within one pulse an hour
    ((3.6, 20), "set"),               # not more than 20 min left: renew
    ((3.5, 25), "set"),
    ((0.0, 25), "set"),
])
def test_a_matching_temp_with_time_left_is_left_alone(current, action):
    d = decide(RISING_HIGH, current_temp=current)
    assert d.action == action
    if action == "set":
        assert d.rate_u_h == pytest.approx(3.6)


def test_a_zero_temp_must_match_exactly():
    falling = [160, 150, 140, 130, 120]
    assert decide(falling, current_temp=(0.0, 25)).action == "none"
    assert decide(falling, current_temp=(0.02, 25)).rate_u_h == 0.0


# -- stale data: the safe failure ----------------------------------------------------

def test_stale_data_cancels_a_reported_high_temp_and_leaves_the_rest():
    old = series(RISING_HIGH, now=NOW - 15)
    for current, action in (((3.0, 20), "cancel"), ((0.5, 20), "none"), (None, "none"),
                            ((3.0, 0), "none")):
        d = AidController(profile()).decide(NOW, old, 0.0, current_temp=current)
        assert d.action == action and d.reason.startswith(STALE_REASON)
        assert d.eventual_bg is None and d.min_pred_bg is None


def test_stale_data_cancels_the_high_temp_this_controller_set():
    aid = AidController(profile())
    readings = series(RISING_HIGH)
    assert aid.decide(NOW, readings, 0.0).rate_u_h == pytest.approx(3.6)
    d = aid.decide(NOW + 15, readings, 0.3)                # no reading for 15 min
    assert d.action == "cancel" and STALE_REASON in d.reason
    assert aid.decide(NOW + 20, readings, 0.3).action == "none"   # cancelled already


def test_too_few_readings_do_not_dose_even_when_high():
    d = AidController(profile()).decide(NOW, [(90, 300), (100, 320)], 0.0)
    assert d.action == "none" and "insufficient" in d.reason


# -- the activity estimate -----------------------------------------------------------

def test_activity_is_estimated_from_iob_change_and_the_temp_issued():
    aid = AidController(profile())
    first = aid.decide(NOW, series([150] * 5), 0.0)
    assert first.rate_u_h == pytest.approx(2.6) and "no previous IOB" in first.reason
    # the 2.6 U/h temp added (2.6 - 1.0) * 5/60 U net; IOB rose only 0.1 U
    d = aid.decide(NOW + 5, series([150] * 6, now=NOW + 5), 0.1)
    activity = (0.0 - 0.1 + 1.6 * 5 / 60) / 5
    assert d.eventual_bg == pytest.approx(150 - 0.1 * 50 + 6 * activity * 50 * 5)


def test_a_temp_the_pump_did_not_run_counts_as_not_delivered():
    aid = AidController(profile())
    aid.decide(NOW, series([150] * 5), 0.0)                # commands 2.6 U/h
    d = aid.decide(NOW + 5, series([150] * 6, now=NOW + 5), 0.1, current_temp=(1.0, 0))
    # net 0 -> activity -0.02, floored at -basal/60; BGI +4.17, deviation -25
    assert "floored" in d.reason
    assert d.eventual_bg == pytest.approx(150 - 5 - 6 * 50 * 5 / 60)


def test_unknown_insulin_cannot_drive_the_activity_below_the_floor():
    aid = AidController(profile())
    aid.decide(NOW, series([150] * 5), 0.0)
    d = aid.decide(NOW + 5, series([150] * 6, now=NOW + 5), 2.0)   # a 2 U manual bolus
    assert "floored" in d.reason
    assert d.eventual_bg == pytest.approx(150 - 100 - 25)
    assert d.rate_u_h == 0.0


def test_no_estimate_from_an_old_previous_call():
    aid = AidController(profile())
    aid.decide(NOW, series(FLAT_TARGET), 0.0)
    d = aid.decide(NOW + 20, series(FLAT_TARGET, now=NOW + 20), 0.0)
    assert "previous IOB 20 min ago" in d.reason


# -- the pump's units ----------------------------------------------------------------

def test_to_pump_rounds_down_to_whole_mu_per_hour():
    assert to_pump(Decision(0.5699, 30, "")) == (569, 30 * 60000)
    assert to_pump(Decision(0.57, 30, "")) == (570, 30 * 60000)
    assert to_pump(Decision(0.0, 30, "")) == (0, 30 * 60000)
    assert to_pump(Decision(None, 0, "")) == CANCEL
    assert to_pump(Decision(None, None, "")) is None
    with pytest.raises(ValueError):
        to_pump(Decision(1.0, 10, ""))                    # the pump's minimum is 15 min
    with pytest.raises(TypeError):
        to_pump((1.0, 30))


@pytest.mark.parametrize("args", [(-0.1, 30), (None, 30), (1.0, 0), (1.0, 30.0),
                                  (None, False), (None, 0.0), (math.inf, 30)])
def test_malformed_decisions_are_refused(args):
    with pytest.raises((TypeError, ValueError)):
        Decision(*args, "")


def test_the_real_pump_accepts_what_the_controller_sends():
    pump, _hw, _flash = make_pump(rate_mu_h=1000)
    for values, expected in ((RISING_HIGH, "temp_basal"), ([160, 150, 140, 130, 120],
                                                          "temp_basal"),
                             (FLAT_TARGET, None)):
        name, kwargs = pump_command(decide(values, current_temp=(3.0, 25))) \
            if expected is None else pump_command(decide(values))
        assert name == (expected or "cancel_temp_basal")
        assert getattr(pump, name)(**kwargs).ok, name
    assert "rate_mu_h" in Pump.temp_basal.__code__.co_varnames


# -- bad arguments -------------------------------------------------------------------

@pytest.mark.parametrize("now, readings, iob, kwargs, error", [
    (NOW, [(100, 110), (95, 110)], 0.0, {}, ValueError),          # newest first
    (NOW, [(95, 110), (95, 111)], 0.0, {}, ValueError),           # same time twice
    (NOW, [(95, 110), (101, 110)], 0.0, {}, ValueError),          # after now
    (NOW, [(95, math.nan)], 0.0, {}, ValueError),
    (NOW, [(95, 0)], 0.0, {}, ValueError),
    (NOW, [(95, 110, 1)], 0.0, {}, TypeError),
    (NOW, "readings", 0.0, {}, TypeError),
    (NOW, [], True, {}, TypeError),
    (NOW, [], math.inf, {}, ValueError),
    (math.nan, [], 0.0, {}, ValueError),
    (NOW, [], 0.0, {"activity_u_per_min": "x"}, TypeError),
    (NOW, [], 0.0, {"current_temp": (1.0,)}, TypeError),
    (NOW, [], 0.0, {"current_temp": (-1.0, 10)}, ValueError),
])
def test_bad_arguments_raise_one_line_errors(now, readings, iob, kwargs, error):
    with pytest.raises(error) as caught:
        AidController(profile()).decide(now, readings, iob, **kwargs)
    assert "\n" not in str(caught.value)


def test_a_refused_call_changes_nothing_and_time_cannot_go_back():
    aid = AidController(profile())
    aid.decide(NOW, series(FLAT_TARGET), 0.0)
    with pytest.raises(ValueError):
        aid.decide(NOW + 5, [(NOW + 6, 110)], 0.0)
    d = aid.decide(NOW + 5, series(FLAT_TARGET, now=NOW + 5), 0.0)
    assert "est." in d.reason                              # still from the NOW call
    with pytest.raises(ValueError):
        aid.decide(NOW, series(FLAT_TARGET), 0.0)
    with pytest.raises(TypeError):
        AidController({"current_basal_u_h": 1.0})


# -- properties ----------------------------------------------------------------------

@st.composite
def profiles(draw):
    basal = draw(st.floats(0.05, 3.0))
    return Profile(current_basal_u_h=basal,
                   max_daily_basal_u_h=basal + draw(st.floats(0, 2)),
                   isf_mg_dl_u=draw(st.floats(10, 200)), carb_ratio_g_u=10,
                   target_mg_dl=draw(st.floats(80, 150)), max_iob_u=draw(st.floats(0, 6)),
                   max_basal_u_h=basal + draw(st.floats(0, 8)),
                   dia_hours=draw(st.floats(3, 7)))


@st.composite
def readings_at(draw, now):
    """Five-minute CGM readings of the last 45 min with dropouts, a trend and noise."""
    offset = draw(st.integers(0, 14))
    kept = draw(st.lists(st.booleans(), min_size=9, max_size=9))
    noise = draw(st.lists(st.floats(-5, 5), min_size=9, max_size=9))
    start = draw(st.floats(40, 400))
    slope = draw(st.floats(-15, 15))
    return [(now - offset - 5 * k, max(20.0, start - slope * k + noise[k]))
            for k in range(8, -1, -1) if kept[k]]


temps = st.one_of(st.none(), st.tuples(st.floats(0, 5), st.floats(0, 30)))
activities = st.one_of(st.none(), st.floats(-0.02, 0.1))


def effective(decision, basal, running):
    """The rate the pump runs after the decision."""
    if decision.action == "set":
        return decision.rate_u_h
    if decision.action == "cancel":
        return basal
    return running[0] if running is not None and running[1] > 0 else basal


def primed(prof, prime, now):
    """A controller that already decided once, 5 min before ``now``; and its temp."""
    aid = AidController(prof)
    first = aid.decide(now - 5, prime[0], prime[1])
    running = (first.rate_u_h, 25) if first.action == "set" else None
    return aid, running


@settings(max_examples=examples(100))
@given(profiles(), readings_at(NOW), st.floats(-2, 8), activities, temps)
def test_every_rate_is_within_zero_and_the_max_safe_basal(prof, readings, iob, activity,
                                                          current):
    d = AidController(prof).decide(NOW, readings, iob, activity, current)
    if d.action == "set":
        assert 0 <= d.rate_u_h <= prof.max_safe_basal_u_h
        assert d.rate_u_h * 1000 == pytest.approx(round(d.rate_u_h * 1000), abs=1e-6)
        assert d.duration_min == 30


@settings(max_examples=examples(60))
@given(profiles(), readings_at(NOW), st.floats(0, 150), st.floats(-2, 8), activities)
def test_higher_bg_never_gives_a_lower_rate(prof, readings, bump, iob, activity):
    higher = readings[:-1] + [(readings[-1][0], readings[-1][1] + bump)] if readings else []
    basal = prof.current_basal_u_h
    low = AidController(prof).decide(NOW, readings, iob, activity)
    high = AidController(prof).decide(NOW, higher, iob, activity)
    assert effective(low, basal, None) <= effective(high, basal, None)


@settings(max_examples=examples(60))
@given(profiles(), readings_at(NOW), st.floats(-2, 8), st.floats(0, 5), activities)
def test_more_iob_never_gives_a_higher_rate(prof, readings, iob, more, activity):
    basal = prof.current_basal_u_h
    less_d = AidController(prof).decide(NOW, readings, iob, activity)
    more_d = AidController(prof).decide(NOW, readings, iob + more, activity)
    assert effective(more_d, basal, None) <= effective(less_d, basal, None)


@settings(max_examples=examples(60))
@given(profiles(), readings_at(NOW - 5), st.floats(-2, 6), readings_at(NOW),
       st.floats(-2, 8), st.floats(0, 5), st.floats(0, 150))
def test_monotone_with_the_estimated_activity_too(prof, prime_readings, prime_iob,
                                                  readings, iob, more, bump):
    basal = prof.current_basal_u_h
    higher = readings[:-1] + [(readings[-1][0], readings[-1][1] + bump)] if readings else []
    rates = {}
    for key, (r, i) in {"base": (readings, iob), "more_iob": (readings, iob + more),
                        "higher_bg": (higher, iob)}.items():
        aid, running = primed(prof, (prime_readings, prime_iob), NOW)
        rates[key] = effective(aid.decide(NOW, r, i), basal, running)
    assert rates["more_iob"] <= rates["base"] <= rates["higher_bg"]


@settings(max_examples=examples(60))
@given(profiles(), readings_at(NOW), st.floats(0, 150), st.floats(-2, 8), st.floats(0, 5),
       activities, st.tuples(st.floats(0, 5), st.floats(0, 30)))
def test_monotone_within_a_pulse_an_hour_when_a_temp_runs(prof, readings, bump, iob, more,
                                                          activity, current):
    """A running temp within 25 mU/h of the wanted rate is kept, so the rate the pump
    runs may differ from the wanted one by up to that much, either way."""
    basal = prof.current_basal_u_h
    higher = readings[:-1] + [(readings[-1][0], readings[-1][1] + bump)] if readings else []

    def rate(r, i):
        return effective(AidController(prof).decide(NOW, r, i, activity, current), basal,
                         current)
    assert rate(readings, iob) <= rate(higher, iob) + 0.05
    assert rate(readings, iob + more) <= rate(readings, iob) + 0.05


@settings(max_examples=examples(25))
@given(profiles(), st.lists(st.tuples(st.integers(0, 1), st.floats(-1, 5), temps),
                            min_size=1, max_size=8),
       st.data())
def test_the_same_calls_give_the_same_decisions(prof, steps, data):
    calls = []
    now = NOW
    for skip, iob, current in steps:
        now += 5 * (1 + skip)
        calls.append((now, data.draw(readings_at(now)), iob, None, current))
    runs = []
    for _ in range(2):
        aid = AidController(prof)
        runs.append([aid.decide(*call) for call in calls])
    assert runs[0] == runs[1]
    for d in runs[0]:
        if d.action == "set":
            assert 0 <= d.rate_u_h <= prof.max_safe_basal_u_h
