"""Therapy limits: the numbers the interlocks enforce, each with a hard range.

A clinician may move a limit only inside its hard range (``HARD_RANGES``); the combined
settings must also be consistent (a 1 h limit above the 24 h limit is refused).
All values are integers: mU, mU/h, ms, percent, mbar, minutes.
"""

from pump.units import MS_PER_HOUR, MS_PER_MINUTE, is_int

# name: (default, minimum, maximum)
HARD_RANGES = {
    "max_bolus_mu": (10000, 25, 25000),
    "max_basal_mu_h": (3000, 25, 10000),
    "max_temp_basal_mu_h": (5000, 25, 15000),
    "max_temp_percent": (200, 100, 250),
    "max_temp_duration_ms": (24 * MS_PER_HOUR, 15 * MS_PER_MINUTE, 24 * MS_PER_HOUR),
    "max_iob_mu": (15000, 25, 50000),
    "max_1h_mu": (12000, 25, 40000),
    "max_24h_mu": (60000, 25, 200000),
    "min_bolus_interval_ms": (10 * MS_PER_MINUTE, MS_PER_MINUTE, 2 * MS_PER_HOUR),
    "max_command_age_ms": (60000, 1000, 600000),
    "max_prime_mu": (20000, 25, 30000),              # tubing fill, per reservoir change
    "max_cannula_fill_mu": (500, 25, 1000),          # counts as delivered insulin
    "max_temp_multiple": (4, 1, 10),                 # temp basal <= this x highest program rate
    "max_suspend_ms": (2 * MS_PER_HOUR, 15 * MS_PER_MINUTE, 8 * MS_PER_HOUR),
    "max_no_basal_ms": (2 * MS_PER_HOUR, 30 * MS_PER_MINUTE, 4 * MS_PER_HOUR),  # in any 6 h
    "reservoir_low_mu": (20000, 1000, 100000),
    "occlusion_mbar": (1500, 500, 3000),
    "battery_low_percent": (20, 5, 50),
    "battery_critical_percent": (5, 1, 20),
    "dia_minutes": (300, 120, 480),
    "peak_minutes": (75, 30, 150),
    "plgs_on": (1, 0, 1),                            # predictive low-glucose suspend
    "plgs_threshold_mg_dl": (80, 60, 120),           # hold basal if predicted below in 30 min
}

NAMES = tuple(sorted(HARD_RANGES))


class Limits:
    """One consistent set of limits. Copies are independent (the safety monitor keeps its own)."""

    def __init__(self, values=None):
        for name in NAMES:
            setattr(self, name, HARD_RANGES[name][0])
        if values:
            self._apply(values)

    def _apply(self, values):
        for name in values:
            if name not in HARD_RANGES:
                raise ValueError("unknown limit %r" % (name,))
            value = values[name]
            if not is_int(value):
                raise TypeError("limit %s must be an integer" % name)
            _, low, high = HARD_RANGES[name]
            if not low <= value <= high:
                raise ValueError("limit %s=%d outside %d..%d" % (name, value, low, high))
            setattr(self, name, value)
        problem = self.inconsistency()
        if problem:
            raise ValueError(problem)

    def inconsistency(self):
        if self.max_1h_mu > self.max_24h_mu:
            return "max_1h_mu above max_24h_mu"
        if self.max_basal_mu_h > self.max_temp_basal_mu_h:
            return "max_basal_mu_h above max_temp_basal_mu_h"
        if self.battery_critical_percent >= self.battery_low_percent:
            return "battery_critical_percent not below battery_low_percent"
        if self.peak_minutes >= self.dia_minutes:
            return "peak_minutes not below dia_minutes"
        return ""

    def updated(self, values):
        """A new Limits with ``values`` applied; raises TypeError/ValueError, self unchanged."""
        fresh = Limits(self.as_dict())
        fresh._apply(values)
        return fresh

    def as_dict(self):
        return dict((name, getattr(self, name)) for name in NAMES)

    def as_list(self):
        """Values in ``NAMES`` order: the compact form stored in checkpoints."""
        return [getattr(self, name) for name in NAMES]

    @classmethod
    def from_list(cls, values):
        if len(values) != len(NAMES):
            raise ValueError("stored limits have %d values, not %d" % (len(values), len(NAMES)))
        return cls(dict(zip(NAMES, values)))
