"""Integer units used everywhere in the pump: never floats in dosing, limits or time.

Insulin is counted in milli-units (mU) and motor pulses of 25 mU (0.025 U); time in
milliseconds of the monotonic tick counter; rates in mU per hour.
"""

PULSE_MU = 25                 # one motor pulse delivers 0.025 U
MS_PER_SECOND = 1000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
SECONDS_PER_DAY = 24 * 3600
BASAL_SLOTS = 48              # one basal rate per half hour of the day
SLOT_SECONDS = SECONDS_PER_DAY // BASAL_SLOTS


def is_int(value):
    """True for exactly ``int``: ``bool`` and every subclass are refused (a subclass can lie
    in its comparisons; ``bool`` is an int on CPython but not on MicroPython)."""
    return type(value) is int


def pulses_for(mu):
    """Whole pulses in a dose; callers validate that doses are pulse multiples."""
    return mu // PULSE_MU
