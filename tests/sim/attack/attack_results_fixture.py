"""A small campaign's results, as the attack lab hands them to `sim.attack.report`.

Five scenarios on adult#001 (forged-bolus also on adolescent#003), each on the secure and
the legacy profile, one day each, seed 1, glucose every 5 min:

- forged-bolus: a 10 U bolus forged at 10:00. Refused on secure; on legacy it is
  delivered and the patient goes very low (the adolescent's run ends early).
- replay-bolus: a recorded 4.5 U bolus replayed at 15:00. Refused as a replay on secure;
  runs again on legacy, a low below 54.
- basal-tamper: the basal rate raised over the air at 08:00. Refused on secure; on legacy
  the temp-basal limit caps it: low, not unsafe.
- link-jam: the link jammed from 09:00 to 13:00. Succeeds on both (as expected): telemetry
  is lost, therapy goes on.
- cgm-spoof: on secure only, and not as expected (succeeded, expected blocked), harmless.

plus one campaign job that failed (firmware-downgrade). The list is in no particular order,
as a campaign's workers return it. Outcomes are computed from the traces, so they agree.
"""

import math

STEP = 5
DAY = 1440
MEALS = ((7 * 60, 60.0), (12 * 60, 75.0), (18 * 60 + 30, 85.0))      # min, mg/dL peak rise
INSULIN_U = 41.2


def _bump(dt, peak, height):
    """A meal- or bolus-shaped excursion: 0 before, ``height`` at ``peak`` min, then decays."""
    if dt <= 0:
        return 0.0
    x = dt / peak
    return height * x * math.exp(1 - x)


def _baseline(t, level):
    return level + sum(_bump(t - at, 70, rise) for at, rise in MEALS)


def _trace(level, dip=None, end=DAY):
    """Minutes, glucose with the attack, glucose without it. ``dip``: (at, peak, depth).
    An attacked run that ends early (``end``) has a shorter trace; its baseline does not."""
    day = list(range(0, DAY + 1, STEP))
    baseline = [round(_baseline(t, level), 1) for t in day]
    glucose = list(baseline)
    if dip is not None:
        at, peak, depth = dip
        glucose = [round(max(b - _bump(t - at, peak, depth), 20.0), 1)
                   for t, b in zip(day, baseline)]
    n = end // STEP + 1
    return {"minutes": day[:n], "glucose": glucose[:n], "baseline": baseline}


def _outcome(trace, attack_u):
    g = trace["glucose"]
    return {"min_glucose_mg_dl": min(g),
            "below_54_min": STEP * sum(v < 54 for v in g),
            "below_70_min": STEP * sum(v < 70 for v in g),
            "above_250_min": STEP * sum(v > 250 for v in g),
            "insulin_u": round(INSULIN_U + attack_u, 3), "attack_insulin_u": attack_u,
            "baseline_min_glucose_mg_dl": min(trace["baseline"])}


def _run(scenario, title, reference, profile, expected, verdict, trace, attack_u=0.0,
         patient="adult#001", unsafe=False, events=None, controls=(), actions=(), ended=None):
    return {"scenario": scenario, "title": title, "reference": reference, "profile": profile,
            "patient": patient, "seed": 1, "expected": expected, "verdict": verdict,
            "matches": expected == verdict, "unsafe": unsafe,
            "outcome": _outcome(trace, attack_u), "security_events": dict(events or {}),
            "controls": list(controls),
            "actions": [{"at_min": float(at), "kind": kind, "effect": effect, "detail": detail}
                        for at, kind, effect, detail in actions],
            "trace": trace, "ended": ended}


FORGED = ("forged-bolus", "Unauthenticated remote bolus",
          "Rapid7 2016 (Animas OneTouch Ping), CVE-2016-5086")
REPLAY = ("replay-bolus", "Replay of a recorded bolus command",
          "Radcliffe 2011 (Medtronic Paradigm); MiniMed CVE-2018-14781")
BASAL = ("basal-tamper", "Basal rate raised over the air", "Medtronic MiniMed CVE-2019-10964")
JAM = ("link-jam", "Radio link jammed for four hours", "")
SPOOF = ("cgm-spoof", "Spoofed CGM readings", "")


def sample_results():
    """A new list of results (mutate it freely): 11 runs and 1 failed job."""
    forged_refused = [(600, "inject", "refused", "bolus 10.000 U: RECORD-AUTH")]
    forged_taken = [(600, "inject", "delivered", "bolus 10.000 U")]
    replayed = [(420, "record", "observed", "bolus 4.500 U"),
                (900, "replay", "refused", "RECORD-REPLAY"),
                (905, "replay", "refused", "RECORD-REPLAY"),
                (910, "replay", "refused", "RECORD-REPLAY")]
    return [
        _run(*JAM, "legacy", "succeeded", "succeeded", _trace(118),
             actions=[(540, "jam", "link down", "4 h"), (780, "jam", "link up", "")]),
        _run(*FORGED, "legacy", "succeeded", "succeeded", _trace(112, (600, 160, 87)),
             attack_u=10.0, unsafe=True, actions=forged_taken),
        _run(*FORGED, "secure", "blocked", "blocked", _trace(112), events={"RECORD-AUTH": 1},
             controls=["SC-EDHOC-AUTH"], actions=forged_refused),
        {"job": {"scenario": "firmware-downgrade", "profile": "secure", "patient": "adult#001",
                 "seed": 1},
         "error": "ValueError: image revision 3 is older than the running revision 5"},
        _run(*REPLAY, "secure", "blocked", "blocked", _trace(112),
             events={"RECORD-REPLAY": 3}, controls=["SC-OSCORE-REPLAY"], actions=replayed),
        _run(*FORGED, "secure", "blocked", "blocked", _trace(124), patient="adolescent#003",
             events={"RECORD-AUTH": 1}, controls=["SC-EDHOC-AUTH"], actions=forged_refused),
        _run(*REPLAY, "legacy", "succeeded", "succeeded", _trace(112, (900, 140, 73)),
             attack_u=4.5, unsafe=True,
             actions=[(420, "record", "observed", "bolus 4.500 U"),
                      (900, "replay", "delivered", "bolus 4.500 U")]),
        _run(*BASAL, "secure", "blocked", "blocked", _trace(112), events={"RECORD-AUTH": 1},
             controls=["SC-EDHOC-AUTH"],
             actions=[(480, "inject", "refused", "temp basal 300 %: RECORD-AUTH")]),
        _run(*FORGED, "legacy", "succeeded", "succeeded",
             _trace(124, (600, 150, 103), end=1060), patient="adolescent#003", attack_u=10.0,
             unsafe=True, actions=forged_taken,
             ended="stopped at 17:40: glucose below 40 mg/dL for 30 min"),
        _run(*BASAL, "legacy", "succeeded", "succeeded", _trace(112, (480, 200, 60)),
             attack_u=1.6, controls=["IL-TEMP-BASAL-MAX"],
             actions=[(480, "inject", "delivered", "temp basal 300 %, capped at 200 %")]),
        _run(*JAM, "secure", "succeeded", "succeeded", _trace(118),
             events={"SESSION-TIMEOUT": 2},
             actions=[(540, "jam", "link down", "4 h"), (780, "jam", "link up", "")]),
        _run(*SPOOF, "secure", "blocked", "succeeded", _trace(112),
             actions=[(300, "spoof", "accepted", "CGM 180 mg/dL for 30 min")]),
    ]
