"""Insulin on board from a documented activity curve, in integers.

The curve is the bilinear (triangular) insulin-activity model used by Walsh and by many
open-source dosing systems: activity rises linearly from 0 to a peak at ``peak`` minutes
and falls linearly to 0 at the duration of insulin action ``dia``. The fraction of a dose
still on board ``t`` minutes after delivery is the area not yet under the curve:

    t <= peak:       1 - t^2 / (peak * dia)
    peak < t < dia:  (dia - t)^2 / (dia * (dia - peak))
    t >= dia:        0

returned here in parts per ``SCALE`` (integer arithmetic, so MicroPython and CPython agree
to the bit). The pump counts a dose as delivered at the *end* of its reservation, which only
ever overstates insulin on board: the conservative direction for the IOB interlock.
"""

SCALE = 10000


def remaining_ppm(minutes, peak, dia):
    """Fraction of a dose still active ``minutes`` after delivery, in parts per SCALE."""
    if minutes <= 0:
        return SCALE
    if minutes >= dia:
        return 0
    if minutes <= peak:
        return SCALE - (SCALE * minutes * minutes) // (peak * dia)
    left = dia - minutes
    # ceil division keeps the estimate on the high (safe) side
    return -((-SCALE * left * left) // (dia * (dia - peak)))


def dose_on_board(mu, minutes, peak, dia):
    """mU of a dose of ``mu`` still on board after ``minutes`` (rounded up)."""
    return -((-mu * remaining_ppm(minutes, peak, dia)) // SCALE)
