"""An adaptive Dormand–Prince 5(4) integrator in plain Python (the method of scipy's
``dopri5`` and ``RK45``, which simglucose uses), sized for small systems integrated over
short spans many times.

Why our own: the model has 13 states and is advanced one minute at a time; at that size
the cost of calling into scipy dominates, and the simulator then needs neither numpy nor
scipy. Step-size control is the textbook one (Hairer, Nørsett & Wanner, *Solving ODEs I*,
II.4): a mixed absolute/relative error per component, the RMS norm, the 0.9 safety factor
and a growth between 0.2× and 10× per step. The step size carries from one call to the next,
so a quiet stretch costs one step per span; the derivative at the end of a span is handed
back for reuse when the next span has the same inputs (first same as last).
"""

import math

# Butcher tableau of Dormand & Prince (1980), and the weights of the embedded error estimate
# (5th- minus 4th-order weights).
A21 = 1 / 5
A31, A32 = 3 / 40, 9 / 40
A41, A42, A43 = 44 / 45, -56 / 15, 32 / 9
A51, A52, A53, A54 = 19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729
A61, A62, A63, A64, A65 = 9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656
B1, B3, B4, B5, B6 = 35 / 384, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84
E1, E3, E4, E5, E6, E7 = (71 / 57600, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525,
                          -1 / 40)

SAFETY = 0.9
GROW_MAX = 10.0
SHRINK_MIN = 0.2
MAX_STEPS = 100000          # per call; a well-posed minute takes a handful


class IntegrationError(RuntimeError):
    """The integrator could not reach the end of the span (step size underflow, too many
    steps or a non-finite derivative): the model state is not to be trusted."""


def dopri5(f, args, y, span, h, rtol, atol, k1=None):
    """Integrate ``y' = f(y, *args)`` (autonomous) over ``span`` from ``y``.

    ``h`` is the first step to try, ``k1`` (optional) the derivative at ``y`` with these
    ``args``. Returns ``(y_end, h_next, k_end)``: the state at the end, the step size to try
    next, and the derivative at ``y_end`` (valid for the same ``args``).
    """
    n = len(y)
    if k1 is None:
        k1 = f(y, *args)
    t = 0.0
    steps = 0
    while t < span:
        steps += 1
        if steps > MAX_STEPS:
            raise IntegrationError("more than %d steps in one span" % MAX_STEPS)
        last = h >= span - t
        hs = span - t if last else h
        if hs <= span * 1e-13 + 1e-300 and not last:
            raise IntegrationError("step size underflow at t=%g" % t)
        k2 = f([yi + hs * A21 * a for yi, a in zip(y, k1)], *args)
        k3 = f([yi + hs * (A31 * a + A32 * b) for yi, a, b in zip(y, k1, k2)], *args)
        k4 = f([yi + hs * (A41 * a + A42 * b + A43 * c)
                for yi, a, b, c in zip(y, k1, k2, k3)], *args)
        k5 = f([yi + hs * (A51 * a + A52 * b + A53 * c + A54 * d)
                for yi, a, b, c, d in zip(y, k1, k2, k3, k4)], *args)
        k6 = f([yi + hs * (A61 * a + A62 * b + A63 * c + A64 * d + A65 * e)
                for yi, a, b, c, d, e in zip(y, k1, k2, k3, k4, k5)], *args)
        y_new = [yi + hs * (B1 * a + B3 * c + B4 * d + B5 * e + B6 * g)
                 for yi, a, c, d, e, g in zip(y, k1, k3, k4, k5, k6)]
        k7 = f(y_new, *args)
        acc = 0.0
        for yi, yn, a, c, d, e, g, k in zip(y, y_new, k1, k3, k4, k5, k6, k7):
            scale = atol + rtol * max(abs(yi), abs(yn))
            err = hs * (E1 * a + E3 * c + E4 * d + E5 * e + E6 * g + E7 * k) / scale
            acc += err * err
        err = math.sqrt(acc / n)
        if not math.isfinite(err):
            raise IntegrationError("non-finite error estimate at t=%g" % t)
        if err <= 1.0:
            t = span if last else t + hs
            y, k1 = y_new, k7
            factor = GROW_MAX if err == 0.0 else min(GROW_MAX, SAFETY * err ** -0.2)
            if not last or hs >= h:
                h = hs * factor
            elif factor < 1.0:
                # a step cut short to land on the span's end may only shrink the next one
                h = min(h, hs * factor)
        else:
            h = hs * max(SHRINK_MIN, SAFETY * err ** -0.2)
    return y, h, k1
