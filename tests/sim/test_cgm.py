"""The CGM sensor model (sim/cgm.py): lag, noise, dropouts, drift, range and bad input.

Hazard: a controller doses from what the CGM reports, not from blood glucose. A sensor
model that is quieter, quicker, never silent or never wrong makes a closed loop look safer
than it would be on a patient. The noise is compared with simglucose's own generator
(the reference the sensor parameters come from); the lag with the exact solution of the
first-order filter; dropouts, drift and clipping with what their parameters promise.
"""

import csv
import math
import pathlib
import random
import warnings

import numpy
import pytest
from scipy.interpolate import interp1d

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import simglucose       # a test dependency, always installed: no skip
    from simglucose.sensor.noise_gen import CGMNoise

from sim import cgm
from sim.cgm import SENSORS, CgmSensor

DAY = 24 * 60


def quiet_sensor(**overrides):
    """A sensor without noise or dropouts, so that a reading is the model's value."""
    kwargs = {"noise": False, "dropout_rate": 0.0}
    kwargs.update(overrides)
    return CgmSensor(**kwargs)


def day_of_readings(sensor, glucose=lambda t: 140 + 60 * math.sin(t / 180)):
    """Readings every sample time over a day, updating the sensor every minute."""
    readings = []
    for t in range(DAY):
        sensor.update(t, glucose(t))
        if t % sensor.sample_minutes == 0:
            readings.append(sensor.read(t))
    return readings


# -- the sensor table ---------------------------------------------------------------------

def test_the_three_sensors_of_simglucose_are_offered():
    assert SENSORS == ("Dexcom", "GuardianRT", "Navigator")


@pytest.mark.parametrize("sensor, minutes", [("Dexcom", 5), ("GuardianRT", 5),
                                             ("Navigator", 1)])
def test_sample_time_comes_from_the_table_as_an_int(sensor, minutes):
    assert type(CgmSensor(sensor).sample_minutes) is int
    assert CgmSensor(sensor).sample_minutes == minutes


def test_table_is_simglucoses_except_the_documented_dexcom_cadence_and_range():
    ours = pathlib.Path(cgm.__file__).with_name("cgm_sensors.csv")
    theirs = pathlib.Path(simglucose.__file__).parent / "params" / "sensor_params.csv"

    def rows(path):
        with open(path, newline="") as f:
            lines = [line for line in f if not line.startswith("#")]
        return {row["Name"]: {k: float(v) for k, v in row.items() if k != "Name"}
                for row in csv.DictReader(lines)}

    ours, theirs = rows(ours), rows(theirs)
    assert set(ours) == set(theirs)
    theirs["Dexcom"].update(sample_time=5.0, max=400.0)
    assert ours == theirs


# -- physiological lag --------------------------------------------------------------------

@pytest.mark.parametrize("lag", [5.0, 10.0, 20.0])
@pytest.mark.parametrize("step_minutes", [1.0, 0.25])
def test_step_in_blood_glucose_is_63_percent_through_after_the_lag(lag, step_minutes):
    # An Euler step of 1 minute would be at 65.1 % after 10 minutes (67.2 % after 5).
    sensor = quiet_sensor(lag_minutes=lag)
    sensor.update(0.0, 100.0)
    steps = round(2 * lag / step_minutes)
    fractions = {}
    for k in range(1, steps + 1):
        t = k * step_minutes
        sensor.update(t, 200.0)
        fractions[t] = (sensor.interstitial_mg_dl - 100.0) / 100.0
    assert fractions[lag] == pytest.approx(1 - math.exp(-1), abs=0.01)
    assert fractions[2 * lag] == pytest.approx(1 - math.exp(-2), abs=0.01)


def test_one_long_update_lands_where_many_short_ones_do():
    # Exact integration does not depend on how the span is cut; Euler does.
    one, many = quiet_sensor(), quiet_sensor()
    one.update(0, 100)
    many.update(0, 100)
    one.update(30, 250)
    for t in range(1, 31):
        many.update(t, 250)
    assert one.interstitial_mg_dl == pytest.approx(many.interstitial_mg_dl, abs=1e-9)
    assert one.interstitial_mg_dl == pytest.approx(250 - 150 * math.exp(-3), abs=1e-9)


def test_first_update_starts_the_sensor_in_equilibrium():
    sensor = quiet_sensor()
    sensor.update(0, 123.0)
    assert sensor.interstitial_mg_dl == 123.0
    assert sensor.read(0) == 123


def test_zero_lag_follows_blood_glucose_at_once():
    sensor = quiet_sensor(lag_minutes=0.0)
    sensor.update(0, 100)
    sensor.update(1, 180)
    assert sensor.interstitial_mg_dl == 180.0


def test_read_after_the_last_update_holds_the_last_blood_glucose():
    sensor = quiet_sensor()
    sensor.update(0, 100)
    sensor.update(1, 200)
    held = sensor.read(10)
    assert held == round(200 - 100 * math.exp(-1))


# -- noise against simglucose -------------------------------------------------------------

def lag1_autocorrelation(series):
    return float(numpy.corrcoef(series[:-1], series[1:])[0, 1])


def our_noise(sensor_name, count, seed):
    """Noise alone: constant glucose far from the range bounds, readings minus glucose."""
    sensor = CgmSensor(sensor_name, seed=seed, dropout_rate=0.0)
    sensor.update(0, 200.0)
    step = sensor.sample_minutes
    return numpy.array([sensor.read(k * step) - 200.0 for k in range(count)])


def simglucose_noise(sensor_name, count, seed):
    """simglucose's generator with the same sensor row (so the same sample time), its
    values rounded as our readings are (at 1 minute that rounding alone lowers the lag-1
    autocorrelation by 0.0006)."""
    row = cgm.sensor_parameters(sensor_name)
    params = {"PACF": row.pacf, "gamma": row.gamma, "lambda": row.lam,
              "delta": row.delta, "xi": row.xi, "sample_time": float(row.sample_minutes)}
    generator = CGMNoise(params, seed=seed)
    return numpy.round(200.0 + numpy.array([next(generator) for _ in range(count)])) - 200.0


# Spread of the statistics over seeds, of ours and of simglucose's alike: sd 0.35 (mean),
# 0.27 (standard deviation), 0.0014 (lag-1 autocorrelation) at 5 minutes, and 0.00009
# (lag-1) at 1 minute. Each tolerance is about 4.5 sd of the difference of two samples.
# Noise drawn every 5 minutes without simglucose's spline (lag-1 0.70) or from an AR at
# 5 minutes with the 15-minute correlation (0.85) is far outside them; the shape of the
# spline between knots is checked against scipy's below.
TOLERANCES = {5: (2.2, 1.7, 0.009), 1: (2.2, 1.7, 0.0006)}


@pytest.mark.parametrize("sensor_name", ["Dexcom", "Navigator"])
def test_noise_statistics_match_simglucoses_generator(sensor_name):
    # The same span at each sample time: 6,667 knots of the 15-minute grid (69 days).
    sample_minutes = CgmSensor(sensor_name).sample_minutes
    count = 20000 * 5 // sample_minutes
    ours = our_noise(sensor_name, count, seed=1)
    theirs = simglucose_noise(sensor_name, count, seed=1)
    mean_tol, sd_tol, lag1_tol = TOLERANCES[sample_minutes]
    assert ours.mean() == pytest.approx(theirs.mean(), abs=mean_tol)
    assert ours.std() == pytest.approx(theirs.std(), abs=sd_tol)
    assert lag1_autocorrelation(ours) == pytest.approx(lag1_autocorrelation(theirs),
                                                       abs=lag1_tol)


def test_spline_is_scipys_not_a_knot_cubic_as_simglucose_uses():
    rng = random.Random(7)
    knots = [rng.gauss(0, 10) for _ in range(11)]
    ours = cgm.not_a_knot_spline(knots)
    theirs = interp1d(range(11), knots, kind="cubic")
    for k in range(0, 10 * 15 + 1):
        x = k / 15
        assert ours(x) == pytest.approx(float(theirs(x)), abs=1e-9)


def test_noise_depends_on_time_not_on_which_times_are_read():
    every, sparse = CgmSensor(seed=3, dropout_rate=0.0), CgmSensor(seed=3, dropout_rate=0.0)
    every.update(0, 150)
    sparse.update(0, 150)
    at_every = {t: every.read(t) for t in range(0, DAY, 5)}
    at_sparse = {t: sparse.read(t) for t in range(0, DAY, 355)}
    assert all(at_every[t] == reading for t, reading in at_sparse.items())


def test_noise_off_reports_the_interstitial_value():
    assert set(day_of_readings(quiet_sensor(), lambda t: 150.0)) == {150}


# -- determinism ----------------------------------------------------------------------------

def test_same_seed_same_readings_other_seed_other_readings():
    def run(seed):
        return day_of_readings(CgmSensor(seed=seed, dropout_rate=0.05))
    first = run(11)
    assert first == run(11)
    assert first != run(12)
    assert None in first and len(set(first)) > 20


def test_other_seed_other_dropouts():
    def missing(seed):
        sensor = quiet_sensor(seed=seed, dropout_rate=0.05)
        return [k for k, r in enumerate(day_of_readings(sensor)) if r is None]
    assert missing(11) == missing(11)
    assert missing(11) != missing(12)


# -- dropouts -----------------------------------------------------------------------------

def dropout_runs(readings, **dropouts):
    """Lengths of the runs of missing readings, and how many readings were present."""
    sensor = CgmSensor(seed=5, noise=False, **dropouts)
    sensor.update(0, 150)
    runs, present, current = [], 0, 0
    for k in range(readings):
        if sensor.read(5 * k) is None:
            current += 1
            continue
        present += 1
        if current:
            runs.append(current)
            current = 0
    return runs, present


def test_dropouts_start_at_the_rate_and_last_the_mean_length():
    # ~1,900 dropouts: the rate is within 3 % (1 sd), the mean length within 0.06 (1 sd).
    runs, present = dropout_runs(100000, dropout_rate=0.02, dropout_mean_readings=3.0)
    assert len(runs) / present == pytest.approx(0.02, rel=0.12)
    assert sum(runs) / len(runs) == pytest.approx(3.0, abs=0.25)
    assert max(runs) > 6            # geometric, not fixed length


def test_mean_length_one_gives_single_missing_readings():
    runs, _ = dropout_runs(20000, dropout_rate=0.05, dropout_mean_readings=1.0)
    assert len(runs) > 500 and set(runs) == {1}


def test_no_dropouts_at_rate_zero():
    assert None not in day_of_readings(CgmSensor(dropout_rate=0.0))


def test_default_dropouts_are_rare_and_three_readings_long():
    # ~490 dropouts: the rate within 4.5 % (1 sd), the mean length within 0.11 (1 sd).
    runs, present = dropout_runs(100000)
    assert len(runs) / present == pytest.approx(0.005, rel=0.25)
    assert sum(runs) / len(runs) == pytest.approx(3.0, abs=0.5)


# -- warm-up ------------------------------------------------------------------------------

def test_no_reading_during_warm_up_after_the_first_update():
    sensor = quiet_sensor(warmup_minutes=120)
    start = 1000
    sensor.update(start, 150)
    readings = {}
    for t in range(start, start + 200, 5):
        sensor.update(t, 150)
        readings[t - start] = sensor.read(t)
    assert all(readings[m] is None for m in range(0, 120, 5))
    assert all(readings[m] == 150 for m in range(120, 200, 5))


def test_no_warm_up_by_default():
    sensor = quiet_sensor()
    sensor.update(0, 150)
    assert sensor.read(0) == 150


# -- calibration drift and offset ---------------------------------------------------------

@pytest.mark.parametrize("drift, expected", [(5.0, 110), (-10.0, 80), (0.0, 100)])
def test_gain_after_two_days_is_the_configured_drift(drift, expected):
    sensor = quiet_sensor(drift_percent_per_day=drift)
    sensor.update(0, 100)
    sensor.update(2 * DAY, 100)
    assert sensor.read(2 * DAY) == expected


def test_calibration_resets_the_drift():
    sensor = quiet_sensor(drift_percent_per_day=5.0)
    sensor.update(0, 100)
    assert sensor.read(DAY) == 105
    sensor.calibrate(2 * DAY)
    assert sensor.read(2 * DAY) == 100
    assert sensor.read(3 * DAY) == 105


def test_offset_is_added_to_the_reading():
    sensor = quiet_sensor(offset_mg_dl=-7.0, drift_percent_per_day=10.0)
    sensor.update(0, 100)
    assert sensor.read(0) == 93
    assert sensor.read(DAY) == 103


# -- output range -------------------------------------------------------------------------

@pytest.mark.parametrize("sensor_name, low, high", [("Dexcom", 39, 400),
                                                    ("GuardianRT", 39, 600),
                                                    ("Navigator", 32, 600)])
def test_values_beyond_the_range_are_reported_at_its_bounds(sensor_name, low, high):
    for glucose, bound in ((2000.0, high), (5.0, low)):
        sensor = quiet_sensor(sensor=sensor_name)
        assert set(day_of_readings(sensor, lambda t: glucose)) == {bound}


@pytest.mark.parametrize("sensor_name, low, high", [("Dexcom", 39, 400),
                                                    ("Navigator", 32, 600)])
def test_noisy_values_beyond_the_range_are_clipped_not_dropped(sensor_name, low, high):
    # The noise is skewed upwards (tens of mg/dL in its tail), so at 5 mg/dL some noisy
    # values land inside the range; the rest are reported at the bound, none beyond it.
    for glucose, bound in ((2000.0, high), (5.0, low)):
        sensor = CgmSensor(sensor_name, dropout_rate=0.0)
        readings = day_of_readings(sensor, lambda t: glucose)
        assert low <= min(readings) and max(readings) <= high
        assert readings.count(bound) > len(readings) // 2


def test_readings_are_ints_within_the_range():
    readings = day_of_readings(CgmSensor(seed=2, dropout_rate=0.0),
                               lambda t: 220 + 200 * math.sin(t / 90))
    assert all(type(r) is int and 39 <= r <= 400 for r in readings)
    assert 39 in readings and 400 in readings


# -- bad input ----------------------------------------------------------------------------

def test_unknown_sensor_is_refused_with_the_valid_names():
    with pytest.raises(ValueError) as caught:
        CgmSensor("Libre")
    message = str(caught.value)
    assert "Libre" in message and all(name in message for name in SENSORS)
    for not_a_name in (None, ["Dexcom"], b"Dexcom"):
        with pytest.raises(ValueError, match="unknown sensor"):
            CgmSensor(not_a_name)


@pytest.mark.parametrize("name, value", [
    ("seed", 1.5), ("seed", True), ("seed", "1"),
    ("lag_minutes", -1.0), ("lag_minutes", math.nan), ("lag_minutes", "10"),
    ("dropout_rate", -0.01), ("dropout_rate", 1.01), ("dropout_rate", math.nan),
    ("dropout_mean_readings", 0.5), ("dropout_mean_readings", math.inf),
    ("drift_percent_per_day", math.nan), ("offset_mg_dl", math.inf),
    ("offset_mg_dl", None), ("warmup_minutes", -5), ("warmup_minutes", True),
    ("noise", 1), ("noise", None),
])
def test_bad_parameter_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        CgmSensor(**{name: value})


@pytest.mark.parametrize("glucose", [math.nan, math.inf, "100", None, True])
def test_bad_blood_glucose_is_refused(glucose):
    sensor = CgmSensor()
    with pytest.raises(ValueError, match="blood_glucose_mg_dl"):
        sensor.update(0, glucose)


@pytest.mark.parametrize("t", [math.nan, -math.inf, "5", None, False])
def test_bad_time_is_refused(t):
    sensor = CgmSensor()
    with pytest.raises(ValueError, match="t_minutes"):
        sensor.update(t, 100)
    sensor.update(0, 100)
    for call in (sensor.read, sensor.calibrate):
        with pytest.raises(ValueError, match="t_minutes"):
            call(t)


def test_time_may_not_run_backwards():
    sensor = CgmSensor()
    sensor.update(10, 100)
    sensor.read(10)
    for call in (lambda: sensor.update(9, 100), lambda: sensor.read(9),
                 lambda: sensor.calibrate(9)):
        with pytest.raises(ValueError, match="earlier"):
            call()


def test_reading_twice_at_one_time_gives_one_reading():
    sensor = CgmSensor(dropout_rate=0.5, seed=4)
    sensor.update(0, 100)
    for t in range(0, 500, 5):
        assert sensor.read(t) == sensor.read(t)


def test_nothing_can_be_read_before_the_first_update():
    sensor = CgmSensor()
    for call in (lambda: sensor.read(0), lambda: sensor.interstitial_mg_dl,
                 lambda: sensor.calibrate(0)):
        with pytest.raises(RuntimeError, match="update"):
            call()
