"""Insulin input from what the motor delivered: (minute, pulses) records -> U/min per minute.

The simulator feeds the patient the pulses the pump's motor actually moved (25 mU each,
`pump.units.PULSE_MU`), not what was commanded. The model takes an infusion rate held
constant over each minute, so the pulses of minute ``m`` become a rate of
``pulses * 0.025`` U/min over ``[m, m + 1)``: the insulin a minute receives is exactly the
insulin delivered in it.
"""

from pump.units import PULSE_MU

MU_PER_U = 1000


def pulses_to_rates(deliveries, minutes, start_minute=0):
    """Per-minute insulin rates (U/min) for the ``minutes`` minutes from ``start_minute``.

    ``deliveries`` is an iterable of ``(minute, pulses)`` with int minutes and pulse counts
    >= 0; several records of one minute add up. A record outside the window is refused
    (ValueError) rather than dropped: silently losing delivered insulin would hide an
    overdose.
    """
    for value, what in ((minutes, "minutes"), (start_minute, "start_minute")):
        if type(value) is not int or value < 0:
            raise ValueError("%s must be an int >= 0, not %r" % (what, value))
    pulses = [0] * minutes
    for record in deliveries:
        if type(record) not in (tuple, list) or len(record) != 2:
            raise ValueError("a delivery is a (minute, pulses) pair, not %r" % (record,))
        minute, count = record
        if type(minute) is not int or type(count) is not int or count < 0:
            raise ValueError("a delivery is (int minute, int pulses >= 0), not %r"
                             % (record,))
        index = minute - start_minute
        if not 0 <= index < minutes:
            raise ValueError("delivery at minute %d is outside minutes %d..%d"
                             % (minute, start_minute, start_minute + minutes - 1))
        pulses[index] += count
    return [count * PULSE_MU / MU_PER_U for count in pulses]
