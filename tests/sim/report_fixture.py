"""A realistic run dict, as the simulator hands it to `sim.report`, for the report tests.

One day (or ``days`` days, each the same day) of adult#001 on the secure profile, starting
2026-01-01 00:00 UTC, with samples every 5 min. Meals of 45 g at 07:00, 70 g at 12:00 and
80 g at 18:30 are bolused by a carbohydrate ratio, with a correction after dinner. A low
late in the morning makes the pump suspend basal (IL-PLGS, 10:00-10:40), the CGM is warming
up for the first 30 min (no readings), an occlusion alarm fires at 15:10, and the secure
channel sees one refused request and one stale session. Metrics come from `sim.metrics`,
as in a real run. Deterministic: the CGM noise comes from ``random.Random(seed)``.
"""

import math
import random

from sim.metrics import run_metrics

START_WALL_S = 1767225600            # 2026-01-01 00:00:00 UTC
STEP_MIN = 5
BASAL_U_H = 0.8
MEALS = ((7 * 60, 45, 4.5), (12 * 60, 70, 7.0), (18 * 60 + 30, 80, 6.5))   # min, g, U
CORRECTION = (21 * 60, 1.5)
SUSPEND = (10 * 60, 10 * 60 + 40)


def _bump(dt_min, peak_min, height):
    """A meal-shaped glucose excursion: rises to ``height`` at ``peak_min``, then decays."""
    if dt_min <= 0:
        return 0.0
    x = dt_min / peak_min
    return height * x * math.exp(1 - x)


def _bg(t):
    """True BG (mg/dL) at minute ``t`` of a day."""
    g = 118 + 12 * math.sin(2 * math.pi * (t - 240) / 1440)        # dawn rise, night dip
    g += _bump(t - 420, 75, 70)                                     # breakfast
    g -= _bump(t - 545, 62, 104)                                    # late-morning low
    g += _bump(t - 720, 80, 85)                                     # lunch
    g += _bump(t - 1110, 90, 165)                                   # under-bolused dinner
    g -= _bump(t - 1260, 110, 55)                                   # correction
    return max(g, 40.0)


def _iob(t, boluses):
    """Insulin on board (U) of the boluses in the last 4 h, on a quadratic decay."""
    return sum(units * (1 - (t - tb) / 240) ** 2 for tb, units in boluses if 0 <= t - tb < 240)


def sample_run(days=1, seed=1):
    """The run dict of ``days`` identical days (each with the events above)."""
    rng = random.Random(seed)
    day = 1440
    samples, boluses, carbs, suspends, events = [], [], [], [], []
    for d in range(days):
        base = d * day
        for t_meal, grams, units in MEALS:
            carbs.append({"t_min": float(base + t_meal), "grams": grams})
            boluses.append({"t_min": float(base + t_meal), "units": units, "kind": "meal"})
        boluses.append({"t_min": float(base + CORRECTION[0]), "units": CORRECTION[1],
                        "kind": "correction"})
        suspends.append({"start_min": float(base + SUSPEND[0]), "end_min": float(base + SUSPEND[1]),
                         "why": "IL-PLGS"})
        events += [
            {"t_min": base + 595.0, "kind": "alert", "id": "IL-LOW-PREDICTED",
             "text": "glucose predicted below 70 mg/dL within 30 min"},
            {"t_min": base + float(SUSPEND[0]), "kind": "suspend", "id": "IL-PLGS",
             "text": "basal suspended: predictive low-glucose suspend"},
            {"t_min": base + float(SUSPEND[1]), "kind": "resume", "id": "IL-PLGS",
             "text": "basal resumed: glucose rising"},
            {"t_min": base + 910.0, "kind": "alarm", "id": "IL-OCCLUSION",
             "text": "occlusion: delivery stopped"},
            {"t_min": base + 915.5, "kind": "refusal", "id": "4.01 Unauthorized",
             "text": "bolus request without a valid session"},
            {"t_min": base + 1000.0, "kind": "security", "id": "SESSION_STALE",
             "text": "session older than its lifetime: new handshake required"},
            {"t_min": base + 1190.0, "kind": "warning", "id": "IL-RESERVOIR-LOW",
             "text": "reservoir below 20 U"},
        ]
    bolus_times = [(b["t_min"], b["units"]) for b in boluses]
    recent = 0                                  # boluses before bolus_times[recent] are over
    basal_total, basal_offset = 0.0, 0.0
    n = days * day // STEP_MIN
    for i in range(n):
        t = float(i * STEP_MIN)
        in_day = t % day
        suspended = SUSPEND[0] <= in_day < SUSPEND[1]
        rate = 0.0 if suspended else BASAL_U_H
        if 14 * 60 <= in_day < 16 * 60:
            rate = 1.1                                               # afternoon profile
        basal_total += rate * STEP_MIN / 60
        basal_offset = basal_offset * 0.985 + (rate - BASAL_U_H) * STEP_MIN / 60
        while recent < len(bolus_times) and t - bolus_times[recent][0] >= 240:
            recent += 1
        bg = _bg(in_day)
        cgm = None if t < 30 else round(bg + rng.gauss(0, 6) + 4 * math.sin(t / 97))
        samples.append({"t_min": t, "bg": round(bg, 1), "cgm": cgm, "basal_u_h": rate,
                        "iob_u": round(max(0.0, _iob(t, bolus_times[recent:recent + 8]) + basal_offset), 2)})
    bolus_total = sum(b["units"] for b in boluses)
    metrics = run_metrics([s["bg"] for s in samples], [s["cgm"] for s in samples],
                          {"basal_u": basal_total, "bolus_u": bolus_total}, events, days)
    return {
        "title": "adult#001, %d day%s, secure profile" % (days, "" if days == 1 else "s"),
        "patient": "adult#001", "seed": seed, "days": days, "profile": "secure",
        "controller": "none",
        "start_wall_s": START_WALL_S,
        "samples": samples,
        "boluses": boluses,
        "carbs": carbs,
        "suspends": suspends,
        "events": events,
        "channel": {"handshakes": 3 * days, "messages": 612 * days,
                    "bytes_on_wire": 40211 * days, "refusals": {"4.01 Unauthorized": 2 * days},
                    "retransmissions": 0, "security_events": {"SESSION_STALE": days}},
        "metrics": metrics,
    }
