"""The register against what the attack lab found: every control the lab saw act in the
secure profile is listed for the threat; a threat whose scenario was unsafe in the secure
profile records an action, and its severity is no lower than the harm the lab saw; the
register and the cybersecurity management plan list every such outcome of the campaign
that was run."""

import copy

from evidence_helpers import real_evidence
from tools.evidence import build, documents, plans, risks, runs, threat_model, threats, trace
from tools.evidence import vulnerabilities as V


def _run(scenario, patient="adult#001", seed=1, controls=(), verdict="blocked", unsafe=False,
         low=80.0, ended=None):
    expected = "succeeded" if scenario in ("stolen-clinician", "cgm-spoof-gateway",
                                           "gateway-temp-basal") else "blocked"
    return {"scenario": scenario, "profile": "secure", "patient": patient, "seed": seed,
            "verdict": verdict, "expected": expected, "matches": verdict == expected,
            "unsafe": unsafe, "controls": list(controls), "ended": ended,
            "outcome": {"min_glucose_mg_dl": low, "below_54_min": 200 if low < 54 else 0}}


FATAL = "glucose fell to 9.4 mg/dL, below the patient model's valid range (10 mg/dL)"

# What the full campaign (3 patients, 2 seeds) saw in the secure profile.
FULL_CAMPAIGN = [
    _run("delayed-command", "child#001", 2, ["IL-CGM-STALE", "IL-CGM-URGENT-LOW"], low=42.7),
    _run("stolen-clinician", "child#001", 1, ["IL-CGM-LOST", "IL-CGM-URGENT-LOW",
                                              "IL-ROLLING-24H", "SC-REMOTE-BOLUS-OFF"],
         "succeeded", True, 9.4, FATAL),
    _run("stolen-clinician", "adult#001", 1, ["IL-CGM-URGENT-LOW", "IL-PLGS-LIMIT",
                                              "SC-REMOTE-BOLUS-OFF"], "succeeded", True, 41.2),
    _run("cgm-spoof-gateway", "child#001", 1, ["IL-CGM-URGENT-LOW"], "succeeded", True, 50.0),
    _run("gateway-temp-basal", "child#001", 1, ["IL-CGM-URGENT-LOW", "IL-PLGS-LIMIT"],
         "succeeded", True, 47.1),
]


def test_the_register_lists_every_control_the_full_campaign_saw_act(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    problems = trace.check_scenarios(model.library, runs.library_names(), FULL_CAMPAIGN,
                                     controls, {r.id for r in register})
    assert [p for p in problems if not p.endswith("has no result in the campaign")] == []
    assert trace.check_lab_outcomes(register, FULL_CAMPAIGN) == []


def test_an_unsafe_secure_outcome_needs_an_action_and_a_severity_to_match(tmp_path):
    library = copy.deepcopy(threats.THREATS)
    clinician = next(t for t in library if t.id == "T-STOLEN-CLINICIAN-KEY")
    clinician.action, clinician.severity = "", 4
    register = risks.register(threat_model.build(tmp_path / "threats.json", library))
    problems = trace.check_lab_outcomes(register, FULL_CAMPAIGN)
    assert problems == [
        "risk T-STOLEN-CLINICIAN-KEY: the attack lab found stolen-clinician unsafe in the "
        "secure profile (adult#001 seed 1: 41.2 mg/dL; child#001 seed 1: 9.4 mg/dL, the day "
        "ended) and no action is recorded",
        "risk T-STOLEN-CLINICIAN-KEY: severity 4 (critical), but stolen-clinician ended the "
        "patient's day in the secure profile (child#001 seed 1): severity 5 (catastrophic)"]


def test_the_register_and_the_plan_name_every_unsafe_secure_outcome(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    text = documents.risk_register(register, FULL_CAMPAIGN)
    row = next(line for line in text.splitlines() if line.startswith("| T-STOLEN-CLINICIAN-KEY"))
    assert "UNSAFE: stolen-clinician (adult#001 seed 1: 41.2 mg/dL; child#001 seed 1: " \
           "9.4 mg/dL, the day ended)" in row
    gateway = next(line for line in text.splitlines() if line.startswith("| T-COMPROMISED"))
    assert "cgm-spoof-gateway (child#001 seed 1: 50.0 mg/dL)" in gateway
    report = V.check([], sources=[])
    counts = build.summary_counts(register, controls, {}, FULL_CAMPAIGN)
    plan = plans.cybersecurity_management(model, register, controls, {}, FULL_CAMPAIGN,
                                          report, counts)
    unsafe = plan.split("## Unsafe in the secure profile")[1].split("\n## ")[0]
    for scenario, patient, low, risk in (
            ("stolen-clinician", "child#001", "9.4", "T-STOLEN-CLINICIAN-KEY"),
            ("stolen-clinician", "adult#001", "41.2", "T-STOLEN-CLINICIAN-KEY"),
            ("cgm-spoof-gateway", "child#001", "50.0", "T-COMPROMISED-GATEWAY"),
            ("gateway-temp-basal", "child#001", "47.1", "T-COMPROMISED-GATEWAY")):
        assert any(scenario in line and patient in line and low in line and risk in line
                   for line in unsafe.splitlines()), (scenario, patient)
    assert "adult#001, child#001" in unsafe and "seeds 1, 2" in unsafe
    assert "delayed-command" not in unsafe
