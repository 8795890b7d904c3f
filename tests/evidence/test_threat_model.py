"""The threat model and the scoring: docs/threat-model.md is the model's current page,
the model has the system's boundaries and flows, and the scores follow CVSS v3.1."""

import pytest

from evidence_helpers import ROOT, real_evidence
from tools.evidence import documents, scoring, threats


def test_docs_threat_model_page_is_generated_from_the_current_model(tmp_path):
    model, _controls, _register = real_evidence(tmp_path)
    page = (ROOT / "docs" / "threat-model.md").read_text()
    assert page == documents.threat_model(model, "threat-model.svg"), \
        "docs/threat-model.md is stale: run make evidence"
    assert (ROOT / "docs" / "threat-model.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_the_model_has_its_boundaries_flows_and_findings(tmp_path):
    model, _controls, _register = real_evidence(tmp_path)
    assert {b.name for b in model.boundaries} >= {"Pump", "Patient's home", "Clinic",
                                                  "Manufacturer", "Hospital (planned)"}
    assert "subgraph cluster_boundary_Pump" in model.dot()
    found = {name for _tid, name in model.findings}
    assert "Therapy reports (planned)" not in found          # out of scope
    assert set(model.findings_of("T-REPLAY-COMMAND")) == {
        "Commands, readings, time sync", "Remote bolus",
        "Clinician session relayed by the gateway"}
    assert {t.id for t in threats.THREATS} == {tid for tid, _name in model.findings}


def test_cvss_exploitability_and_acceptability():
    assert scoring.exploitability_subscore("AV:N/AC:L/PR:N/UI:N") == 3.89
    assert scoring.exploitability_level("AV:N/AC:L/PR:N/UI:N") == 5
    assert scoring.exploitability_level("AV:P/AC:H/PR:H/UI:R") == 1
    assert [scoring.acceptability(5, p) for p in (1, 2, 3)] == [
        scoring.ACCEPTABLE, scoring.ALARP, scoring.UNACCEPTABLE]
    with pytest.raises(ValueError, match="AV:X"):
        scoring.exploitability_subscore("AV:X/AC:L/PR:N/UI:N")
    with pytest.raises(ValueError, match="exactly AV, AC, PR and UI"):
        scoring.exploitability_subscore("AV:N/AC:L")
    for threat in threats.THREATS:
        assert scoring.exploitability_level(threat.after) <= \
            scoring.exploitability_level(threat.before), threat.id
