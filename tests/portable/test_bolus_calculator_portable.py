"""The bolus calculator's main paths on both interpreters (plain asserts: the MicroPython
runner runs this file too). The exhaustive cases and properties are in
tests/pump/test_bolus_calculator.py."""

from pump import bolus_calculator as bc, results
from pump.limits import Limits
from pump.results import Refused
from pump.units import MS_PER_MINUTE

from pump_fixtures import make_pump, run_for

SEGMENTS = [
    [0, 150, 50, 100, 120],        # 00:00  15.0 g/U, 50 mg/dL/U, 100..120 mg/dL
    [360, 100, 40, 90, 110],       # 06:00  10.0 g/U
    [1080, 125, 50, 100, 140],     # 18:00  12.5 g/U
]
CALC = bc.BolusCalculator(SEGMENTS)
LIMITS = Limits()
NOW = 1000000
FRESH = 5 * MS_PER_MINUTE


def suggest(minute=390, carbs=60, glucose=None, age=FRESH, iob=0, limits=LIMITS):
    return CALC.suggest(minute, carbs, glucose, age, iob, limits, NOW)


def refusal(fn, *args):
    try:
        fn(*args)
    except Refused as error:
        return error
    raise AssertionError("not refused")


def test_calc_carbs_correction_and_insulin_on_board():
    assert suggest(glucose=190).total_mu == 8000              # 6 U carbs + 2 U correction
    assert suggest(glucose=190, iob=1500).total_mu == 6500
    s = suggest(glucose=190, iob=3000)                        # IOB above the correction
    assert s.total_mu == 6000 and s.flags == ("IL-CALC-IOB",)


def test_calc_negative_correction_and_rounding_down():
    assert suggest(glucose=80).total_mu == 5750               # -0.25 U
    assert suggest(carbs=2, glucose=75).total_mu == 0          # never negative
    s = suggest(minute=1080, carbs=37, glucose=163)            # 2.96 + 0.46 = 3.42 U
    assert s.total_mu == 3400 and s.total_mu % 25 == 0


def test_calc_segment_boundaries():
    for minute, segment in ((0, 0), (359, 0), (360, 1), (1079, 1), (1080, 2), (1439, 2)):
        assert suggest(minute=minute).segment == segment
    assert refusal(suggest, 1440).code == results.ERR_RANGE


def test_calc_untrusted_glucose():
    stale = suggest(glucose=190, age=bc.MAX_GLUCOSE_AGE_MS + 1)
    assert stale.total_mu == 6000 and stale.flags == ("IL-CALC-BG-STALE",)
    implausible = suggest(glucose=601)
    assert implausible.total_mu == 6000 and implausible.flags == ("IL-CALC-BG-RANGE",)
    hypo = suggest(glucose=65)
    assert hypo.total_mu == 0 and hypo.flags == ("IL-CALC-HYPO",)
    assert suggest(glucose=10).flags == ("IL-CALC-BG-RANGE", "IL-CALC-HYPO")


def test_calc_cap_and_input_checks():
    s = suggest(glucose=100, limits=Limits({"max_bolus_mu": 5010}))
    assert s.total_mu == 5000 and s.flags == ("IL-CALC-BOLUS-MAX",)
    assert refusal(suggest, 390, 251).reason == "IL-CALC-CARBS-MAX"
    assert refusal(suggest, 390, True).code == results.ERR_TYPE
    assert refusal(suggest, 390, 60, 150, FRESH, -1).code == results.ERR_RANGE


def test_calc_settings_refused_with_a_reason():
    error = refusal(bc.BolusCalculator, [[30, 100, 50, 100, 120]])
    assert error.reason == "IL-CALC-SETTINGS" and "minute 0" in error.detail
    error = refusal(bc.BolusCalculator, [[0, 100, 50, 130, 120]])
    assert "low target above high" in error.detail
    assert refusal(bc.BolusCalculator, [[0, 100, 50, 100, 120.5]]).code == results.ERR_TYPE


def test_calc_confirmation():
    s = suggest(glucose=190)
    args = bc.bolus_arguments(s, 8000, NOW + MS_PER_MINUTE, 0)
    assert args["mu"] == 8000 and args["duration_ms"] == 0 and args["cmd_id"] is None
    assert refusal(bc.bolus_arguments, s, 8025, NOW, 0).code == results.ERR_RANGE
    late = NOW + bc.ADVICE_LIFETIME_MS + 1
    assert refusal(bc.bolus_arguments, s, 8000, late, 0).reason == "IL-CALC-ADVICE-STALE"
    assert refusal(bc.bolus_arguments, s, 8000, NOW, 25).reason == "IL-CALC-ADVICE-STALE"
    assert refusal(bc.bolus_arguments, suggest(glucose=60), 25, NOW, 0).reason == \
        "IL-CALC-HYPO"


def test_calc_confirmed_suggestion_delivered_by_the_pump():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    now = hw.clock.ticks_ms()
    s = CALC.suggest(bc.minute_of_day(hw.clock.wall_s()), 30, 170, FRESH,
                     pump.status()["iob_mu"], pump.controller.limits, now)
    assert s.total_mu == 3000                     # 30 / 15 = 2 U, (170 - 120) / 50 = 1 U
    result = pump.bolus(**bc.bolus_arguments(s, s.total_mu, now, pump.status()["iob_mu"]))
    assert result.ok and result.value == 3000
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.status()["bolus_left_mu"] == 0


def test_calc_a_press_before_the_suggestion_does_not_confirm_it():
    """H-CALC-INPUT: a press latched before the suggestion was shown (the patient pressed
    for something else, or the button bounced) must not confirm a dose nobody saw."""
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.set_calculator([[0, 150, 50, 100, 120]]).ok
    hw.ui.pressed = True                          # pressed first...
    run_for(pump, hw, 10 * 1000)
    assert pump.suggest_bolus(30).ok              # ...then the suggestion is shown
    result = pump.confirm_suggestion()
    assert not result.ok and result.code == results.ERR_GUARD, result
    assert pump.suggest_bolus(30).ok
    hw.ui.pressed = True                          # a press after it confirms
    result = pump.confirm_suggestion()
    assert result.ok and result.value > 0, result
