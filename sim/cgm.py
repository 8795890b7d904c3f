"""A continuous glucose monitor for the closed-loop simulator: what the controller sees.

A controller doses from CGM readings, so the simulated sensor is as imperfect as a real
one: interstitial glucose lags blood glucose (first-order, time constant ``lag_minutes``,
integrated exactly); readings carry correlated, skewed noise; some are missing (dropouts,
warm-up); the gain drifts between calibrations, with an optional offset; the output is an
integer clipped to the sensor's reporting range.

The noise is simglucose's sensor model with its parameters per sensor (``cgm_sensors.csv``;
simglucose names no source for them, they are attributed to Facchinetti et al.; MIT
licence, see ``patient/LICENSE-simglucose.txt``). As in simglucose: an AR(1) in the normal
domain on a 15-minute grid, ``z[0] ~ N(0, 1)``, ``z[k] = PACF * (z[k-1] + w[k])`` (its
stationary variance is PACF²/(1 - PACF²), 0.96 for 0.7, not 1); each knot through the
Johnson SU transform ``xi + lambda * sinh((z - gamma) / delta)``; the knots joined by a
not-a-knot cubic spline over pieces of 10 intervals (150 minutes), each piece starting at
the last knot of the one before. So readings have simglucose's mean, spread and
autocorrelation at the sample time, kinks at piece joins included.

What differs: random numbers from ``random.Random`` (same statistics, not numpy's sequence
for a seed); the noise is a function of time since the first update (simglucose counts
samples), so it does not depend on which times are read; readings are rounded to integer
mg/dL; simglucose reads the patient's subcutaneous glucose with no lag filter, dropouts,
warm-up or drift; our Dexcom reads every 5 minutes up to 400 mg/dL (simglucose: 3, 600).
"""

import csv
import math
import pathlib
import random
from dataclasses import dataclass

__all__ = ["SENSORS", "CgmSensor", "SensorParameters", "sensor_parameters"]

TABLE = pathlib.Path(__file__).resolve().parent / "cgm_sensors.csv"
KNOT_MINUTES = 15           # simglucose's noise grid (MDL_SAMPLE_TIME)
PIECE_INTERVALS = 10        # knot intervals per spline piece (simglucose's PRECOMPUTE)
PIECE_MINUTES = KNOT_MINUTES * PIECE_INTERVALS
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class SensorParameters:
    """One row of the sensor table."""

    name: str
    pacf: float             # AR(1) coefficient on the 15-minute grid
    gamma: float            # Johnson SU shape
    lam: float              # Johnson SU scale, mg/dL
    delta: float            # Johnson SU shape
    xi: float               # Johnson SU location, mg/dL
    sample_minutes: int     # minutes between readings
    min_mg_dl: int          # reporting range
    max_mg_dl: int


def _load_table(path):
    """The sensor table by name, in file order; ``#`` lines are comments."""
    with open(path, newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {row["Name"]: _row_to_parameters(row) for row in rows}


def _row_to_parameters(row):
    number = {key: float(value) for key, value in row.items() if key != "Name"}
    return SensorParameters(
        name=row["Name"], pacf=number["PACF"], gamma=number["gamma"],
        lam=number["lambda"], delta=number["delta"], xi=number["xi"],
        sample_minutes=int(number["sample_time"]), min_mg_dl=int(number["min"]),
        max_mg_dl=int(number["max"]))


_TABLE = _load_table(TABLE)
SENSORS = tuple(_TABLE)


def sensor_parameters(sensor):
    """The table row of ``sensor``; ValueError naming the valid sensors otherwise."""
    if type(sensor) is not str or sensor not in _TABLE:
        raise ValueError("unknown sensor %r; valid sensors: %s"
                         % (sensor, ", ".join(SENSORS)))
    return _TABLE[sensor]


# -- noise ------------------------------------------------------------------------------

def johnson_su(z, p):
    """The Johnson SU transform of a standard-normal-domain value ``z``."""
    return p.xi + p.lam * math.sinh((z - p.gamma) / p.delta)


def not_a_knot_spline(knots):
    """The not-a-knot cubic spline through ``knots`` at 0, 1, 2 ..., as a function of
    position (what scipy's ``interp1d(kind="cubic")`` draws); needs at least 5 knots."""
    curvature = _not_a_knot_curvatures(knots)
    last = len(knots) - 2

    def spline(x):
        i = min(int(x), last)
        b = x - i
        a = 1.0 - b
        return (a * knots[i] + b * knots[i + 1]
                + ((a ** 3 - a) * curvature[i] + (b ** 3 - b) * curvature[i + 1]) / 6.0)
    return spline


def _not_a_knot_curvatures(y):
    """Second derivatives at unit spacing. Continuity ``m[i-1] + 4 m[i] + m[i+1] = 6 Δ²y[i]``
    with not-a-knot ends ``m[0] = 2 m[1] - m[2]`` (likewise at the far end) gives
    ``m[1]`` and ``m[n-1]`` directly; the rest is tridiagonal (Thomas algorithm)."""
    n = len(y) - 1
    rhs = [6.0 * (y[i - 1] - 2.0 * y[i] + y[i + 1]) for i in range(1, n)]
    m = [0.0] * (n + 1)
    m[1], m[n - 1] = rhs[0] / 6.0, rhs[-1] / 6.0
    inner = rhs[1:-1]                       # equations for m[2] .. m[n-2]
    inner[0] -= m[1]
    inner[-1] -= m[n - 1]
    m[2:n - 1] = _solve_tridiagonal_4(inner)
    m[0] = 2.0 * m[1] - m[2]
    m[n] = 2.0 * m[n - 1] - m[n - 2]
    return m


def _solve_tridiagonal_4(d):
    """Solve ``x[j-1] + 4 x[j] + x[j+1] = d[j]`` (missing neighbours are zero)."""
    c_prime, d_prime = [], []
    for j, value in enumerate(d):
        denominator = 4.0 - (c_prime[j - 1] if j else 0.0)
        c_prime.append(1.0 / denominator)
        d_prime.append((value - (d_prime[j - 1] if j else 0.0)) / denominator)
    x = d_prime[:]
    for j in range(len(d) - 2, -1, -1):
        x[j] -= c_prime[j] * x[j + 1]
    return x


class _SplineNoise:
    """simglucose's noise as a function of minutes since the start; times only go on."""

    def __init__(self, params, rng):
        self._params = params
        self._rng = rng
        self._z = rng.gauss(0.0, 1.0)
        self._last_knot = johnson_su(self._z, params)
        self._piece_index = -1
        self._piece = None

    def at(self, minutes):
        index = int(minutes // PIECE_MINUTES)
        while self._piece_index < index:
            self._next_piece()
        return self._piece((minutes - index * PIECE_MINUTES) / KNOT_MINUTES)

    def _next_piece(self):
        knots = [self._last_knot] + [self._next_knot() for _ in range(PIECE_INTERVALS)]
        self._last_knot = knots[-1]
        self._piece = not_a_knot_spline(knots)
        self._piece_index += 1

    def _next_knot(self):
        self._z = self._params.pacf * (self._z + self._rng.gauss(0.0, 1.0))
        return johnson_su(self._z, self._params)


# -- dropouts ---------------------------------------------------------------------------

class _Dropouts:
    """Two states per reading: present -> missing with probability ``rate``, missing ->
    present with ``1 / mean_length``, so runs are geometric with that mean."""

    def __init__(self, rate, mean_length, rng):
        self._rate = rate
        self._end = 1.0 / mean_length
        self._rng = rng
        self._missing = False

    def next_is_missing(self):
        draw = self._rng.random()
        self._missing = draw >= self._end if self._missing else draw < self._rate
        return self._missing


# -- the sensor -------------------------------------------------------------------------

class CgmSensor:
    """One CGM sensor worn from the first `update` on.

    `update` is given blood glucose at a time (at least every minute); the blood glucose
    is held over the span since the previous call, and the interstitial value follows it
    exactly: ``I = B + (I - B) * exp(-dt / lag)``. `read` is called every `sample_minutes`
    and gives an int mg/dL or None (warm-up or dropout); reading at a later time than the
    last update holds the last blood glucose. Times are float minutes and never go back.
    """

    def __init__(self, sensor="Dexcom", seed=0, lag_minutes=10.0, dropout_rate=0.005,
                 dropout_mean_readings=3.0, drift_percent_per_day=0.0, offset_mg_dl=0.0,
                 warmup_minutes=0, noise=True):
        self._params = sensor_parameters(sensor)
        if type(seed) is not int:
            raise ValueError("seed must be an int, not %r" % (seed,))
        self._lag = _number(lag_minutes, "lag_minutes", low=0.0)
        rate = _number(dropout_rate, "dropout_rate", low=0.0, high=1.0)
        mean_length = _number(dropout_mean_readings, "dropout_mean_readings", low=1.0)
        self._drift = _number(drift_percent_per_day, "drift_percent_per_day") / 100.0
        self._offset = _number(offset_mg_dl, "offset_mg_dl")
        self._warmup = _number(warmup_minutes, "warmup_minutes", low=0.0)
        if type(noise) is not bool:
            raise ValueError("noise must be True or False, not %r" % (noise,))
        seeds = random.Random(seed)
        self._noise = _SplineNoise(self._params, random.Random(seeds.getrandbits(64)))
        self._noise_on = noise
        self._dropouts = _Dropouts(rate, mean_length, random.Random(seeds.getrandbits(64)))
        self._start = None          # time of the first update
        self._now = None            # latest time seen
        self._blood = None
        self._interstitial = None
        self._calibrated_at = None
        self._last_read = None      # (time, reading)

    @property
    def sample_minutes(self):
        """Minutes between readings, from the sensor table."""
        return self._params.sample_minutes

    @property
    def interstitial_mg_dl(self):
        """The interstitial glucose at the latest time seen, mg/dL."""
        self._require_started()
        return self._interstitial

    def update(self, t_minutes, blood_glucose_mg_dl):
        """Advance the interstitial state to ``t_minutes`` with this blood glucose."""
        t = _number(t_minutes, "t_minutes")
        blood = _number(blood_glucose_mg_dl, "blood_glucose_mg_dl")
        if self._start is None:
            self._start = self._now = self._calibrated_at = t
            self._blood = self._interstitial = blood
            return
        self._advance(t, blood)

    def read(self, t_minutes):
        """The reading at ``t_minutes``, int mg/dL in the sensor's range, or None."""
        t = _number(t_minutes, "t_minutes")
        self._require_started()
        if self._last_read is not None and self._last_read[0] == t:
            return self._last_read[1]
        self._advance(t, self._blood)
        reading = self._reading(t)
        self._last_read = (t, reading)
        return reading

    def calibrate(self, t_minutes):
        """A calibration at ``t_minutes``: the drift starts again from a gain of 1."""
        t = _number(t_minutes, "t_minutes")
        self._require_started()
        self._check_not_earlier(t)
        self._calibrated_at = t

    def _advance(self, t, blood):
        self._check_not_earlier(t)
        if self._lag == 0.0:
            self._interstitial = blood
        else:
            decay = math.exp(-(t - self._now) / self._lag)
            self._interstitial = blood + (self._interstitial - blood) * decay
        self._blood = blood
        self._now = t

    def _reading(self, t):
        if t - self._start < self._warmup or self._dropouts.next_is_missing():
            return None
        days = (t - self._calibrated_at) / MINUTES_PER_DAY
        value = self._interstitial * (1.0 + self._drift * days) + self._offset
        if self._noise_on:
            value += self._noise.at(t - self._start)
        return min(max(round(value), self._params.min_mg_dl), self._params.max_mg_dl)

    def _check_not_earlier(self, t):
        if t < self._now:
            raise ValueError("t_minutes %r is earlier than the latest time seen, %r"
                             % (t, self._now))

    def _require_started(self):
        if self._start is None:
            raise RuntimeError("the sensor has no glucose yet: call update() first")


def _number(value, name, low=None, high=None):
    """``value`` as a float if it is a finite int or float (not bool) within the bounds."""
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError("%s must be a finite number, not %r" % (name, value))
    if high is not None and not low <= value <= high:
        raise ValueError("%s must be in %r..%r, not %r" % (name, low, high, value))
    if low is not None and value < low:
        raise ValueError("%s must be >= %r, not %r" % (name, low, value))
    return float(value)
