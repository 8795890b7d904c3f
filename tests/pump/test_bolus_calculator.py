"""The bolus calculator, from its hazards: exact hand-computed examples, every segment
boundary, insulin on board, negative correction, stale / implausible / low glucose, the cap,
rounding down to pulses, the confirmation, and properties checked against an exact
rational oracle (fractions.Fraction) that shares no code with the calculator."""

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from pump import bolus_calculator as bc, results
from pump.limits import HARD_RANGES, Limits
from pump.results import Refused
from pump.units import MS_PER_MINUTE

from conftest import examples
from pump_fixtures import make_pump, run_for

# start minute, carb ratio (tenths of g/U), ISF (mg/dL per U), target low, target high
SEGMENTS = [
    [0, 150, 50, 100, 120],        # 00:00  15.0 g/U
    [360, 100, 40, 90, 110],       # 06:00  10.0 g/U
    [720, 120, 45, 100, 120],      # 12:00  12.0 g/U
    [1080, 125, 50, 100, 140],     # 18:00  12.5 g/U
]
CALC = bc.BolusCalculator(SEGMENTS)
LIMITS = Limits()                  # max_bolus_mu 10000
FRESH = 5 * MS_PER_MINUTE
NOW = 1000000                      # a monotonic tick


def suggest(minute=390, carbs=60, glucose=None, age=FRESH, iob=0, limits=LIMITS, now=NOW,
            calc=CALC):
    return calc.suggest(minute, carbs, glucose, age, iob, limits, now)


def refused(fn, *args):
    with pytest.raises(Refused) as info:
        fn(*args)
    return info.value


# -- exact arithmetic, hand-computed ------------------------------------------------------

def test_carbs_and_correction_to_the_high_target():
    # 06:30: 60 g / 10.0 g/U = 6.000 U; (190 - 110) / 40 = 2.000 U
    s = suggest(glucose=190)
    assert (s.carb_mu, s.correction_mu, s.iob_subtracted_mu) == (6000, 2000, 0)
    assert s.total_mu == 8000 and s.uncapped_mu == 8000
    assert s.target_mg_dl == 110 and s.segment == 1 and s.glucose_used
    assert s.flags == ()


@pytest.mark.verifies("IL-CALC-IOB")
def test_insulin_on_board_reduces_the_correction():
    s = suggest(glucose=190, iob=1500)
    assert s.total_mu == 6500 and s.iob_subtracted_mu == 1500
    assert s.flags == ("IL-CALC-IOB",)


def test_insulin_on_board_larger_than_the_correction_never_reduces_the_carb_part():
    s = suggest(glucose=190, iob=3000)                 # 3 U on board, 2 U correction
    assert s.total_mu == 6000 and s.iob_subtracted_mu == 2000 and s.carb_mu == 6000
    assert "IL-CALC-IOB" in s.flags
    assert suggest(glucose=190, iob=50000).total_mu == 6000


def test_insulin_on_board_is_not_used_in_range_below_target_or_without_glucose():
    assert suggest(glucose=100, iob=5000).total_mu == 6000          # in range 90..110
    assert suggest(glucose=110, iob=5000).total_mu == 6000          # the high end is in range
    assert suggest(glucose=90, iob=5000).total_mu == 6000           # the low end too
    assert suggest(glucose=None, iob=5000).total_mu == 6000
    assert suggest(glucose=80, iob=5000).total_mu == 5750


def test_negative_correction_below_the_low_target_reduces_the_carb_bolus():
    # (80 - 90) / 40 = -0.250 U
    s = suggest(glucose=80)
    assert s.correction_mu == -250 and s.total_mu == 5750 and s.target_mg_dl == 90
    assert s.flags == (bc.FLAG_BELOW_TARGET,)
    # (70 - 90) / 40 = -0.5 U: the lowest glucose that is not a hypo
    assert suggest(glucose=70).total_mu == 5500


def test_negative_correction_never_makes_the_suggestion_negative():
    # 2 g / 10 g/U = 0.2 U; (75 - 90) / 40 = -0.375 U
    s = suggest(carbs=2, glucose=75)
    assert s.total_mu == 0 and s.uncapped_mu == 0 and s.correction_mu == -375


def test_correction_only_without_carbs():
    s = suggest(carbs=0, glucose=250)                  # (250 - 110) / 40 = 3.5 U
    assert s.total_mu == 3500 and s.carb_mu == 0


def test_rounding_down_to_whole_pulses():
    # 18:00: 37 g / 12.5 g/U = 2.960 U; (163 - 140) / 50 = 0.460 U; 3.420 U -> 136 pulses
    s = suggest(minute=1080, carbs=37, glucose=163)
    assert (s.carb_mu, s.correction_mu, s.total_mu) == (2960, 460, 3400)
    # 00:00: 1 g / 15.0 g/U = 66.67 mU -> 2 pulses, never 3
    assert suggest(minute=0, carbs=1).total_mu == 50
    # 00:00: 0 g, (121 - 120) / 50 = 20 mU: less than a pulse -> nothing
    assert suggest(minute=0, carbs=0, glucose=121).total_mu == 0


def test_the_total_is_rounded_once_not_per_part():
    # 00:00: 7 g / 15.0 g/U = 466.67 mU; (131 - 120) / 50 = 220 mU; 686.67 mU -> 675 mU.
    # Rounding each part to pulses first would give 450 + 200 = 650.
    s = suggest(minute=0, carbs=7, glucose=131)
    assert (s.carb_mu, s.correction_mu, s.total_mu) == (466, 220, 675)
    # 7 g / 15.0 g/U = 466.67 mU; (126 - 120) / 45 = 133.33 mU: exactly 600 mU together.
    # Each part floored to whole mU first would give 599 mU -> 575.
    calc = bc.BolusCalculator([[0, 150, 45, 100, 120]])
    assert suggest(minute=0, carbs=7, glucose=126, calc=calc).total_mu == 600


def test_tenths_of_a_gram_per_unit_in_the_carb_ratio():
    calc = bc.BolusCalculator([[0, 45, 30, 100, 120]])                # 4.5 g/U
    assert suggest(minute=0, carbs=9, calc=calc).total_mu == 2000     # 9 / 4.5 = 2 U
    assert suggest(minute=0, carbs=10, calc=calc).total_mu == 2200    # 2.222 U -> 2.200


# -- segments by time of day --------------------------------------------------------------

@pytest.mark.parametrize("minute, segment, carb_mu", [
    (0, 0, 4000), (359, 0, 4000), (360, 1, 6000), (719, 1, 6000),
    (720, 2, 5000), (1079, 2, 5000), (1080, 3, 4800), (1439, 3, 4800),
])
def test_every_segment_boundary(minute, segment, carb_mu):
    s = suggest(minute=minute, carbs=60)          # 60/15, 60/10, 60/12, 60/12.5
    assert s.segment == segment and s.carb_mu == carb_mu
    assert s.carb_ratio_dg == SEGMENTS[segment][1] and s.isf == SEGMENTS[segment][2]


def test_a_single_segment_covers_the_whole_day():
    calc = bc.BolusCalculator([[0, 100, 50, 100, 120]])
    for minute in (0, 1, 719, 1438, 1439):
        assert suggest(minute=minute, calc=calc).segment == 0


def test_minute_of_day_outside_the_day_is_refused():
    for minute in (-1, 1440, 100000):
        assert refused(suggest, minute).code == results.ERR_RANGE


def test_minute_of_day_from_the_wall_clock_matches_the_basal_slots():
    assert bc.minute_of_day(0) == 0
    assert bc.minute_of_day(86399) == 1439
    assert bc.minute_of_day(86400 + 6 * 3600) == 360
    assert bc.minute_of_day(-60) == 1439


# -- glucose that cannot be trusted ---------------------------------------------------------

@pytest.mark.verifies("IL-CALC-BG-STALE")
def test_stale_glucose_is_not_used_for_a_correction():
    limit = bc.MAX_GLUCOSE_AGE_MS
    assert limit == 15 * MS_PER_MINUTE
    assert suggest(glucose=190, age=limit).total_mu == 8000            # 15 min: still fresh
    s = suggest(glucose=190, age=limit + 1)
    assert s.total_mu == 6000 and s.correction_mu == 0 and not s.glucose_used
    assert s.flags == ("IL-CALC-BG-STALE",)
    assert "no correction" in s.reasons[0]


def test_stale_glucose_below_target_does_not_reduce_either():
    assert suggest(glucose=80, age=bc.MAX_GLUCOSE_AGE_MS + 1).total_mu == 6000


def test_stale_low_glucose_still_withholds_the_bolus():
    s = suggest(glucose=60, age=bc.MAX_GLUCOSE_AGE_MS + 1)
    assert s.total_mu == 0 and s.flags == ("IL-CALC-BG-STALE", "IL-CALC-HYPO")


@pytest.mark.verifies("IL-CALC-BG-RANGE")
def test_implausible_glucose_is_not_used_for_a_correction():
    assert suggest(glucose=600).total_mu == 10000                       # 18.25 U, capped
    s = suggest(glucose=601)
    assert s.total_mu == 6000 and s.flags == ("IL-CALC-BG-RANGE",) and not s.glucose_used
    assert suggest(glucose=65535).total_mu == 6000


def test_glucose_below_the_plausible_range_withholds_the_bolus():
    s = suggest(glucose=19)
    assert s.total_mu == 0 and s.flags == ("IL-CALC-BG-RANGE", "IL-CALC-HYPO")
    assert suggest(glucose=0).total_mu == 0
    s = suggest(glucose=20)
    assert s.total_mu == 0 and s.flags == ("IL-CALC-HYPO",)


@pytest.mark.verifies("IL-CALC-HYPO")
def test_hypo_suggests_no_bolus_for_carbs():
    s = suggest(carbs=100, glucose=69)
    assert s.total_mu == 0 and s.carb_mu == 10000 and s.flags == ("IL-CALC-HYPO",)
    assert "low" in s.reasons[0]


def test_no_glucose_means_carbs_only():
    s = suggest(glucose=None, age=None, iob=3000)
    assert s.total_mu == 6000 and s.flags == (bc.FLAG_NO_GLUCOSE,)
    assert s.glucose_mg_dl is None and s.target_mg_dl is None


# -- the maximum bolus --------------------------------------------------------------------

@pytest.mark.verifies("IL-CALC-BOLUS-MAX")
def test_capped_by_the_maximum_bolus():
    limits = Limits({"max_bolus_mu": 5000})
    s = suggest(glucose=100, limits=limits)
    assert s.total_mu == 5000 and s.uncapped_mu == 6000
    assert s.flags == ("IL-CALC-BOLUS-MAX",)
    assert "maximum bolus" in s.reasons[0]
    assert refused(bc.bolus_arguments, s, 5025, NOW, 0).code == results.ERR_RANGE
    assert suggest(glucose=100, limits=Limits({"max_bolus_mu": 6000})).flags == ()
    assert suggest(limits=limits).flags == (bc.FLAG_NO_GLUCOSE, "IL-CALC-BOLUS-MAX")


def test_a_maximum_bolus_between_pulses_caps_at_the_pulse_below():
    s = suggest(limits=Limits({"max_bolus_mu": 5010}))
    assert s.total_mu == 5000


# -- input validation ---------------------------------------------------------------------

@pytest.mark.verifies("IL-CALC-CARBS-MAX")
def test_carbs_above_the_maximum_entry_are_refused():
    assert suggest(carbs=bc.MAX_CARBS_G).carb_mu == 25000
    error = refused(suggest, 390, bc.MAX_CARBS_G + 1)
    assert (error.code, error.reason) == (results.ERR_INTERLOCK, "IL-CALC-CARBS-MAX")


@pytest.mark.parametrize("kwargs, code", [
    ({"carbs": 60.0}, results.ERR_TYPE), ({"carbs": True}, results.ERR_TYPE),
    ({"carbs": -1}, results.ERR_RANGE), ({"minute": 390.0}, results.ERR_TYPE),
    ({"glucose": 150.0}, results.ERR_TYPE), ({"glucose": False}, results.ERR_TYPE),
    ({"glucose": -5}, results.ERR_RANGE), ({"glucose": 65536}, results.ERR_RANGE),
    ({"glucose": 150, "age": None}, results.ERR_TYPE),
    ({"glucose": 150, "age": -1}, results.ERR_RANGE),
    ({"glucose": 150, "age": 1.5}, results.ERR_TYPE),
    ({"iob": -1}, results.ERR_RANGE), ({"iob": 0.5}, results.ERR_TYPE),
    ({"iob": bc.MAX_IOB_INPUT_MU + 1}, results.ERR_RANGE),
    ({"limits": {"max_bolus_mu": 1000}}, results.ERR_TYPE),
    ({"now": None}, results.ERR_TYPE), ({"now": -1}, results.ERR_RANGE),
])
def test_bad_arguments_are_refused(kwargs, code):
    with pytest.raises(Refused) as info:
        suggest(**kwargs)
    assert info.value.code == code


def test_int_subclasses_are_refused():
    class Liar(int):
        def __gt__(self, other):
            return False
    assert refused(suggest, 390, Liar(1000)).code == results.ERR_TYPE


# -- settings -----------------------------------------------------------------------------

def settings_problem(segments):
    with pytest.raises(Refused) as info:
        bc.BolusCalculator(segments)
    return info.value


@pytest.mark.verifies("IL-CALC-SETTINGS")
@pytest.mark.parametrize("segments, detail", [
    ([], "1..8 segments"),
    ([[60 * i * 3, 100, 50, 100, 120] for i in range(9)], "1..8 segments"),
    ([[30, 100, 50, 100, 120]], "minute 0"),
    ([[0, 100, 50, 100, 120], [600, 100, 50, 100, 120], [300, 100, 50, 100, 120]], "sorted"),
    ([[0, 100, 50, 100, 120], [0, 100, 50, 100, 120]], "sorted"),
    ([[0, 100, 50, 100, 120], [1440, 100, 50, 100, 120]], "start"),
    ([[0, 9, 50, 100, 120]], "carb ratio"),
    ([[0, 1501, 50, 100, 120]], "carb ratio"),
    ([[0, 100, 4, 100, 120]], "sensitivity"),
    ([[0, 100, 401, 100, 120]], "sensitivity"),
    ([[0, 100, 50, 69, 120]], "target"),
    ([[0, 100, 50, 100, 201]], "target"),
    ([[0, 100, 50, 130, 120]], "low target above high"),
    ([[0, 100, 50, 100]], "5 values"),
])
def test_bad_settings_are_refused_with_a_reason(segments, detail):
    error = settings_problem(segments)
    assert (error.code, error.reason) == (results.ERR_INTERLOCK, "IL-CALC-SETTINGS")
    assert detail in error.detail, error.detail


@pytest.mark.parametrize("segments", [
    None, "segments", [(0, 100, 50, 100, 120.0)], [[0, True, 50, 100, 120]],
    [None], [[0, 100, 50, 100, "120"]], ([0, 100, 50, 100, 120],) * 2 + (7,),
])
def test_settings_of_the_wrong_type_are_refused(segments):
    assert settings_problem(segments).code == results.ERR_TYPE


def test_settings_at_the_edges_of_their_ranges_are_accepted():
    calc = bc.BolusCalculator([[0, 10, 5, 70, 70], [1439, 1500, 400, 200, 200]])
    assert calc.as_list() == [[0, 10, 5, 70, 70], [1439, 1500, 400, 200, 200]]
    assert suggest(minute=0, carbs=1, calc=calc).total_mu == 1000      # 1 g at 1.0 g/U
    bc.BolusCalculator([[i * 180, 100, 50, 100, 120] for i in range(8)])


def test_settings_are_copied_not_shared():
    segments = [[0, 100, 50, 100, 120]]
    calc = bc.BolusCalculator(segments)
    segments[0][1] = 10
    assert calc.as_list() == [[0, 100, 50, 100, 120]]
    calc.as_list()[0][1] = 10
    assert suggest(minute=0, calc=calc).carb_mu == 6000


# -- confirmation into the pump's bolus command ---------------------------------------------

def test_a_confirmed_suggestion_becomes_the_bolus_command_arguments():
    s = suggest(glucose=190)
    args = bc.bolus_arguments(s, 8000, NOW + MS_PER_MINUTE, 0)
    assert args == {"mu": 8000, "cmd_id": None, "issued_ms": None, "duration_ms": 0}
    args = bc.bolus_arguments(s, 5000, NOW, 0, cmd_id=7, issued_ms=NOW)   # edited down
    assert args == {"mu": 5000, "cmd_id": 7, "issued_ms": NOW, "duration_ms": 0}


def test_confirming_more_than_the_suggestion_is_refused():
    s = suggest(glucose=190)
    assert refused(bc.bolus_arguments, s, 8025, NOW, 0).code == results.ERR_RANGE


@pytest.mark.verifies("IL-CALC-HYPO")
def test_confirming_a_bolus_during_a_hypo_is_refused():
    s = suggest(glucose=60)
    error = refused(bc.bolus_arguments, s, 1000, NOW, 0)
    assert (error.code, error.reason) == (results.ERR_INTERLOCK, "IL-CALC-HYPO")


@pytest.mark.parametrize("mu, code", [
    (0, results.ERR_RANGE), (30, results.ERR_RANGE), (-25, results.ERR_RANGE),
    (1000.0, results.ERR_TYPE), (True, results.ERR_TYPE), (None, results.ERR_TYPE),
])
def test_confirmed_amount_must_be_whole_pulses(mu, code):
    s = suggest(glucose=190)
    assert refused(bc.bolus_arguments, s, mu, NOW, 0).code == code


@pytest.mark.verifies("IL-CALC-ADVICE-STALE")
def test_an_old_suggestion_cannot_be_confirmed():
    s = suggest()
    life = bc.ADVICE_LIFETIME_MS
    assert bc.bolus_arguments(s, 6000, NOW + life, 0)["mu"] == 6000
    for now in (NOW + life + 1, NOW - 1):
        error = refused(bc.bolus_arguments, s, 6000, now, 0)
        assert (error.code, error.reason) == (results.ERR_INTERLOCK, "IL-CALC-ADVICE-STALE")


@pytest.mark.verifies("IL-CALC-ADVICE-STALE")
def test_a_suggestion_cannot_be_confirmed_after_insulin_on_board_rose():
    s = suggest(glucose=190, iob=1000)
    assert bc.bolus_arguments(s, 7000, NOW, 400)["mu"] == 7000          # it decayed
    error = refused(bc.bolus_arguments, s, 7000, NOW, 1001)
    assert error.reason == "IL-CALC-ADVICE-STALE"


@pytest.mark.verifies("IL-CALC-BG-STALE")
def test_a_correction_cannot_be_confirmed_once_its_glucose_is_stale():
    s = suggest(glucose=190, age=14 * MS_PER_MINUTE)
    assert bc.bolus_arguments(s, 8000, NOW + MS_PER_MINUTE, 0)["mu"] == 8000
    error = refused(bc.bolus_arguments, s, 8000, NOW + MS_PER_MINUTE + 1, 0)
    assert (error.code, error.reason) == (results.ERR_INTERLOCK, "IL-CALC-BG-STALE")
    carbs_only = suggest(glucose=None, age=None)
    assert bc.bolus_arguments(carbs_only, 6000, NOW + 4 * MS_PER_MINUTE, 0)["mu"] == 6000


def test_only_a_suggestion_can_be_confirmed():
    fake = type("Fake", (), {"total_mu": 25000})()
    assert refused(bc.bolus_arguments, fake, 1000, NOW, 0).code == results.ERR_TYPE


@pytest.mark.verifies("IL-IOB-MAX", "IL-BOLUS-INTERVAL")
def test_the_pump_delivers_a_confirmed_suggestion_and_its_interlocks_still_apply():
    pump, hw, _ = make_pump(rate_mu_h=1000, limits=Limits({"max_iob_mu": 9000}))
    now = hw.clock.ticks_ms()
    status = pump.status()
    s = CALC.suggest(bc.minute_of_day(hw.clock.wall_s()), 60, 190, FRESH,
                     status["iob_mu"], pump.controller.limits, now)
    assert s.segment == 0 and s.total_mu == 5400    # 00:00: 60/15 = 4 U, 70/50 = 1.4 U
    ok = pump.bolus(**bc.bolus_arguments(s, s.total_mu, hw.clock.ticks_ms(),
                                         pump.status()["iob_mu"]))
    assert ok.ok and ok.value == 5400
    run_for(pump, hw, 9 * MS_PER_MINUTE)
    assert pump.status()["bolus_left_mu"] == 0
    # a second one: the calculator subtracts insulin on board from the correction only,
    # so the carb part goes to the pump, whose interlocks refuse it
    now = hw.clock.ticks_ms()
    iob_now = pump.status()["iob_mu"]
    assert iob_now > 5000
    again = CALC.suggest(bc.minute_of_day(hw.clock.wall_s()), 60, 190, FRESH, iob_now,
                         pump.controller.limits, now)
    assert again.total_mu == 4000
    result = pump.bolus(**bc.bolus_arguments(again, again.total_mu, now, iob_now))
    assert result.reason == "IL-BOLUS-INTERVAL"
    run_for(pump, hw, 2 * MS_PER_MINUTE)
    now = hw.clock.ticks_ms()
    iob_now = pump.status()["iob_mu"]
    again = CALC.suggest(bc.minute_of_day(hw.clock.wall_s()), 60, 190, FRESH, iob_now,
                         pump.controller.limits, now)
    result = pump.bolus(**bc.bolus_arguments(again, again.total_mu, now, iob_now))
    assert result.reason == "IL-IOB-MAX"


# -- properties -----------------------------------------------------------------------------

def oracle(segments, minute, carbs, glucose, age, iob, max_bolus):
    """The documented formulas in exact rationals, written apart from the module."""
    start, ratio_dg, isf, low, high = [s for s in segments if s[0] <= minute][-1]
    carb = Fraction(carbs * 1000 * 10, ratio_dg)                  # mU
    usable = glucose is not None and 20 <= glucose <= 600 and age <= 15 * 60000
    if glucose is not None and glucose < 70:
        return 0
    total = carb
    if usable and glucose > high:
        total = carb + max(Fraction(0), Fraction((glucose - high) * 1000, isf) - iob)
    elif usable and glucose < low:
        total = max(Fraction(0), carb + Fraction((glucose - low) * 1000, isf))
    pulses = int(total // 25)
    return min(pulses * 25, max_bolus // 25 * 25)


@st.composite
def profiles(draw):
    count = draw(st.integers(1, bc.MAX_SEGMENTS))
    starts = [0] + sorted(draw(st.sets(st.integers(1, 1439), min_size=count - 1,
                                        max_size=count - 1)))
    segments = []
    for start in starts:
        low = draw(st.integers(70, 200))
        segments.append([start, draw(st.integers(10, 1500)), draw(st.integers(5, 400)),
                         low, draw(st.integers(low, 200))])
    return segments


glucoses = st.one_of(st.none(), st.integers(0, 700), st.integers(60, 200))
ages = st.integers(0, 20 * MS_PER_MINUTE)


@settings(max_examples=examples(500))
@given(profiles(), st.integers(0, 1439), st.integers(0, bc.MAX_CARBS_G), glucoses, ages,
       st.integers(0, 60000), st.integers(*HARD_RANGES["max_bolus_mu"][1:]),
       st.integers(0, bc.MAX_CARBS_G))
def test_suggestion_is_bounded_whole_pulses_exact_and_monotone_in_carbs(
        segments, minute, carbs, glucose, age, iob, max_bolus, more):
    calc = bc.BolusCalculator(segments)
    limits = Limits({"max_bolus_mu": max_bolus})
    s = calc.suggest(minute, carbs, glucose, age, iob, limits, NOW)
    assert 0 <= s.total_mu <= max_bolus
    assert s.total_mu % 25 == 0
    assert s.total_mu == oracle(segments, minute, carbs, glucose, age, iob, max_bolus)
    assert s.uncapped_mu % 25 == 0 and s.total_mu == min(s.uncapped_mu, max_bolus // 25 * 25)
    bigger = calc.suggest(minute, min(bc.MAX_CARBS_G, carbs + more), glucose, age, iob,
                          limits, NOW)
    assert bigger.total_mu >= s.total_mu
    if s.total_mu:
        assert bc.bolus_arguments(s, s.total_mu, NOW, iob)["mu"] == s.total_mu


@settings(max_examples=examples(300))
@given(profiles(), st.integers(0, 1439), st.integers(0, bc.MAX_CARBS_G),
       st.integers(0, 700), ages, st.integers(0, 60000))
def test_more_insulin_on_board_never_raises_the_suggestion(
        segments, minute, carbs, glucose, age, iob):
    calc = bc.BolusCalculator(segments)
    low = calc.suggest(minute, carbs, glucose, age, iob, LIMITS, NOW).total_mu
    high = calc.suggest(minute, carbs, glucose, age, iob + 500, LIMITS, NOW).total_mu
    assert high <= low


@settings(max_examples=examples(300))
@given(profiles(), st.integers(0, 1439), st.integers(0, bc.MAX_CARBS_G),
       st.one_of(st.integers(0, 19), st.integers(601, 65535), st.integers(0, 69)),
       ages, st.integers(0, 60000))
def test_untrusted_glucose_never_adds_insulin(segments, minute, carbs, glucose, age, iob):
    calc = bc.BolusCalculator(segments)
    carbs_only = calc.suggest(minute, carbs, None, None, iob, LIMITS, NOW).total_mu
    s = calc.suggest(minute, carbs, glucose, age, iob, LIMITS, NOW)
    assert s.total_mu <= carbs_only and s.correction_mu <= 0
    stale = calc.suggest(minute, carbs, 300, bc.MAX_GLUCOSE_AGE_MS + 1 + age, iob, LIMITS,
                         NOW)
    assert stale.total_mu == carbs_only


def _anything():
    return st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 7),
                     st.floats(allow_nan=True), st.text(max_size=3),
                     st.lists(st.integers(-5, 2000), max_size=6))


@settings(max_examples=examples(1000))
@given(st.lists(st.one_of(_anything(), st.lists(st.integers(-10, 2000), min_size=5,
                                                 max_size=5)), max_size=9))
def test_settings_fuzz_refuses_cleanly_or_accepts_only_valid(segments):
    try:
        calc = bc.BolusCalculator(segments)
    except Refused as error:
        assert error.code in (results.ERR_TYPE, results.ERR_INTERLOCK)
        return
    listed = calc.as_list()
    assert listed[0][0] == 0 and len(listed) <= bc.MAX_SEGMENTS
    assert all(a[0] < b[0] for a, b in zip(listed, listed[1:]))
    for start, ratio, isf, low, high in listed:
        assert 10 <= ratio <= 1500 and 5 <= isf <= 400 and 70 <= low <= high <= 200


@settings(max_examples=examples(1000))
@given(_anything(), _anything(), _anything(), _anything(), _anything(), _anything())
def test_suggest_fuzz_refuses_cleanly(minute, carbs, glucose, age, iob, now):
    try:
        s = CALC.suggest(minute, carbs, glucose, age, iob, LIMITS, now)
    except Refused as error:
        assert error.code in (results.ERR_TYPE, results.ERR_RANGE, results.ERR_INTERLOCK)
        return
    assert 0 <= s.total_mu <= LIMITS.max_bolus_mu and s.total_mu % 25 == 0
