"""The virtual patient on its own: cohort look-up, steady basal, simglucose's meal rule,
insulin accounting from motor pulses, the integrator, and the direction insulin acts in."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from sim.patient import IntegrationError, Patient, names, parameters, pulses_to_rates
from sim.patient.integrate import dopri5
from sim.patient.model import EAT_RATE_G_PER_MIN


# -- cohort -----------------------------------------------------------------------------

def test_cohort_has_ten_adolescents_ten_adults_ten_children():
    all_names = names()
    assert len(all_names) == 30
    for group in ("adolescent", "adult", "child"):
        assert ["%s#%03d" % (group, i) for i in range(1, 11)] == \
            [n for n in all_names if n.startswith(group + "#")]


def test_unknown_patient_is_refused_with_the_valid_names():
    with pytest.raises(ValueError) as caught:
        Patient.from_name("adult#011")
    message = str(caught.value)
    assert "adult#011" in message and all(name in message for name in names())
    with pytest.raises(TypeError):
        Patient.from_name(1)


def test_patient_starts_from_its_table_state():
    patient = Patient.from_name("adolescent#001")
    p = parameters("adolescent#001")
    assert patient.state == p.initial_state and patient.minute == 0
    assert patient.glucose_mg_dl == pytest.approx(p.Gb)
    assert patient.basal_u_per_min == pytest.approx(p.u2ss * p.BW / 6000)


# -- basal holds, no insulin does not ---------------------------------------------------

@pytest.mark.parametrize("name", names())
def test_own_basal_holds_glucose_for_a_day(name):
    """The table's initial state is the steady state of the patient's basal: a simulated
    day without meals must not wander (the table's rounding moves it by < 0.05 mg/dL,
    simglucose the same)."""
    patient = Patient.from_name(name)
    start = patient.glucose_mg_dl
    patient.step(24 * 60, 0.0, patient.basal_u_per_min)
    assert abs(patient.glucose_mg_dl - start) < 0.05
    assert patient.minute == 24 * 60


@pytest.mark.parametrize("name", ["adult#001", "adolescent#001", "child#001"])
def test_loss_of_basal_shows_as_hyperglycaemia(name):
    patient = Patient.from_name(name)
    start = patient.glucose_mg_dl
    patient.step(6 * 60, 0.0, 0.0)
    assert patient.glucose_mg_dl > start + 40


# -- meals ------------------------------------------------------------------------------

def test_announced_meal_is_eaten_at_5_g_per_minute():
    patient = Patient.from_name("adult#001")
    patient.step(1, 45)
    assert patient.carbs_eaten_g == 5 and patient.carbs_pending_g == 40
    patient.step(7)
    assert patient.carbs_eaten_g == 40 and patient.carbs_pending_g == 5
    patient.step(1)
    assert patient.carbs_eaten_g == 45 and patient.carbs_pending_g == 0
    before = patient.state
    patient.step(1)
    assert patient.carbs_eaten_g == 45
    assert patient.state[0] < before[0]                # the stomach empties, nothing added


def test_meal_raises_glucose():
    patient = Patient.from_name("adult#001")
    start = patient.glucose_mg_dl
    patient.step(1, 70, patient.basal_u_per_min)
    patient.step(90, 0, patient.basal_u_per_min)
    assert patient.glucose_mg_dl > start + 30


@settings(max_examples=examples(100))
@given(st.lists(st.integers(0, 12) | st.floats(0, 90, allow_nan=False), max_size=40))
def test_every_announced_gram_is_eaten_once_at_most_5_g_a_minute(announced):
    patient = Patient.from_name("child#001")
    eaten = 0.0
    for grams in announced:
        patient.step(1, grams)
        assert patient.carbs_eaten_g - eaten <= EAT_RATE_G_PER_MIN + 1e-9
        eaten = patient.carbs_eaten_g
    patient.step(int(math.ceil(patient.carbs_pending_g / EAT_RATE_G_PER_MIN)) + 1)
    assert patient.carbs_pending_g == 0
    assert patient.carbs_eaten_g == pytest.approx(sum(announced), abs=1e-9)


# -- steps of several minutes -----------------------------------------------------------

@settings(max_examples=examples(30))
@given(minutes=st.integers(1, 240), carbs=st.sampled_from([0.0, 2.0, 30.0]),
       insulin=st.floats(0, 0.2, allow_nan=False), name=st.sampled_from(names()),
       meal_before=st.sampled_from([0, 45]))
def test_one_step_of_n_minutes_equals_n_steps_of_one(minutes, carbs, insulin, name,
                                                     meal_before):
    one, many = Patient.from_name(name), Patient.from_name(name)
    for patient in (one, many):
        patient.step(1, meal_before, insulin)
    one.step(minutes, carbs, insulin)
    for _ in range(minutes):
        many.step(1, carbs, insulin)
    assert one.minute == many.minute == minutes + 1
    assert one.carbs_eaten_g == pytest.approx(many.carbs_eaten_g)
    assert one.glucose_mg_dl == pytest.approx(many.glucose_mg_dl, abs=1e-3)


@pytest.mark.parametrize("bad", [True, -1, 1.0, "1", None])
def test_step_refuses_a_bad_minute_count(bad):
    with pytest.raises(ValueError):
        Patient.from_name("adult#001").step(bad)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, True, "5", None])
def test_step_refuses_bad_rates(bad):
    patient = Patient.from_name("adult#001")
    with pytest.raises(ValueError):
        patient.step(1, bad, 0.0)
    with pytest.raises(ValueError):
        patient.step(1, 0.0, bad)
    assert patient.minute == 0 and patient.state == parameters("adult#001").initial_state


# -- insulin acts in one direction only ---------------------------------------------------

@settings(max_examples=examples(40))
@given(name=st.sampled_from(names()), minute=st.integers(0, 120),
       less=st.integers(0, 400), extra=st.integers(1, 400))
def test_more_delivered_insulin_never_means_higher_glucose(name, minute, less, extra):
    """Hazard: a simulated overdose must never look harmless. The model is monotone in its
    insulin input, so extra pulses may only lower glucose at every later minute."""
    horizon = 6 * 60
    low = pulses_to_rates([(minute, less)], horizon)
    high = pulses_to_rates([(minute, less + extra)], horizon)
    a, b = Patient.from_name(name), Patient.from_name(name)
    for m in range(horizon):
        carbs = 50 if m == 30 else 0
        a.step(1, carbs, a.basal_u_per_min + low[m])
        b.step(1, carbs, b.basal_u_per_min + high[m])
        assert b.glucose_mg_dl <= a.glucose_mg_dl + 1e-4
    assert b.glucose_mg_dl < a.glucose_mg_dl


# -- pulses to rates --------------------------------------------------------------------

@settings(max_examples=examples(200))
@given(st.lists(st.tuples(st.integers(0, 59), st.integers(0, 400)), max_size=50))
def test_pulses_become_the_same_insulin_minute_by_minute(deliveries):
    rates = pulses_to_rates(deliveries, 60)
    assert len(rates) == 60
    for minute in range(60):
        pulses = sum(n for m, n in deliveries if m == minute)
        assert rates[minute] == pytest.approx(pulses * 0.025)
    assert sum(rates) == pytest.approx(0.025 * sum(n for _, n in deliveries))


def test_pulses_window_starts_where_asked():
    assert pulses_to_rates([(100, 4), (102, 40)], 3, start_minute=100) == [0.1, 0.0, 1.0]


@pytest.mark.parametrize("deliveries", [
    [(60, 1)], [(-1, 1)], [(0, -1)], [(0, 1.0)], [(0.0, 1)], [(True, 1)], [(0, True)],
    [(0, 1, 2)], [5], ["01"]])
def test_pulses_outside_the_window_or_malformed_are_refused(deliveries):
    with pytest.raises(ValueError):
        pulses_to_rates(deliveries, 60)


def test_pulses_refuse_a_bad_window():
    for minutes, start in ((-1, 0), (True, 0), (10, -5), (10, 1.0)):
        with pytest.raises(ValueError):
            pulses_to_rates([], minutes, start)


# -- the integrator ---------------------------------------------------------------------

@settings(max_examples=examples(100))
@given(rate=st.floats(1e-4, 2.0), span=st.floats(0.01, 200), h=st.floats(1e-3, 100))
def test_integrator_follows_exponential_decay_and_a_rotation(rate, span, h):
    def f(y, k):
        return [-k * y[0], y[2], -y[1]]
    y, h_next, k_end = dopri5(f, (rate,), [3.0, 0.0, 1.0], span, h, 1e-8, 1e-10)
    assert y[0] == pytest.approx(3.0 * math.exp(-rate * span), rel=1e-5, abs=1e-9)
    assert y[1] == pytest.approx(math.sin(span), abs=1e-5)
    assert y[2] == pytest.approx(math.cos(span), abs=1e-5)
    assert h_next > 0 and k_end == pytest.approx(f(y, rate))


def test_integrator_refuses_a_non_finite_derivative():
    with pytest.raises(IntegrationError):
        dopri5(lambda y: [math.nan], (), [1.0], 1.0, 0.1, 1e-6, 1e-6)
