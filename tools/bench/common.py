"""Shared helpers for benchmarks: repeatable timing and one printed line per figure.

Benchmarks print ratios against a reference measured in the same run, never absolute
pass/fail on wall time, because shared machines drift.
"""

import time


def best_time(fn, repeat=5, min_seconds=0.2):
    """Best per-call time in seconds over ``repeat`` rounds of at least ``min_seconds``."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds / 10:
            break
        calls *= 2
    per_round = max(1, int(calls * (min_seconds / max(elapsed, 1e-9))))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(per_round):
            fn()
        best = min(best, (time.perf_counter() - start) / per_round)
    return best


def report(name, value, unit, target=None, reference=None):
    """Print one figure: ``name: value unit [vs reference] [target ...: met/MISSED]``.

    ``target`` is a tuple (op, limit) with op in ``"<="``/``">="``.
    """
    line = "%-58s %12.3f %s" % (name, value, unit)
    if reference:
        line += "   (reference: %s)" % reference
    if target is not None:
        op, limit = target
        ok = value <= limit if op == "<=" else value >= limit
        line += "   target %s %g: %s" % (op, limit, "met" if ok else "MISSED")
    print(line, flush=True)
    return value
