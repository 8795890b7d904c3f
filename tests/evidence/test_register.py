"""The register's completeness checks against the code: a control removed from the code
or a control ID that does not exist is named, so is a risk without a control; the real
register is complete."""

import copy

from evidence_helpers import AREAS, real_evidence
from pump import hazards
from secure_channel import controls as sc_controls
from tools.evidence import catalogue, risks, threat_model, threats, trace


def test_the_real_register_is_complete(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    assert trace.check_model(model) == []
    assert trace.check_register(register, controls, AREAS) == []
    assert {r.kind for r in register} == {"hazard", "threat"}
    assert {r.id for r in register} >= set(hazards.HAZARDS)


def test_a_security_control_removed_from_the_code_is_named(tmp_path, monkeypatch):
    monkeypatch.delitem(sc_controls.CONTROLS, "SC-ECHO-FRESH")
    model, controls, register = real_evidence(tmp_path)
    problems = trace.check_register(register, controls, AREAS)
    assert "control SC-ECHO-FRESH (risk T-DELAY-COMMAND) does not exist in the code" in problems


def test_an_interlock_removed_from_the_code_is_named(tmp_path, monkeypatch):
    monkeypatch.delitem(hazards.INTERLOCKS, "IL-UPDATE-SWAP")
    model, controls, register = real_evidence(tmp_path)
    problems = trace.check_register(register, controls, AREAS)
    assert "control IL-UPDATE-SWAP (risk T-UPDATE-DISRUPTION) does not exist in the code" \
        in problems
    assert any(p.startswith("control IL-UPDATE-SWAP (SDLC area") for p in problems)


def test_a_control_id_that_does_not_exist_is_named(tmp_path):
    library = copy.deepcopy(threats.THREATS)
    library[0].controls += ("SC-MADE-UP",)
    model = threat_model.build(tmp_path / "threats.json", library)
    controls, _ = catalogue.load()
    problems = trace.check_register(risks.register(model), controls, AREAS)
    assert problems == ["control SC-MADE-UP (risk %s) does not exist in the code"
                        % library[0].id]


def test_a_design_control_whose_code_is_gone_does_not_exist():
    design = {"DC-GONE": ("a control whose function was deleted",
                          ("pump.pin:no_such_function",))}
    controls, problems = catalogue.load(design)
    assert "DC-GONE" not in controls
    assert problems == ["control DC-GONE does not exist in the code: pump.pin:no_such_function:"
                        " pump.pin has no no_such_function"]


def test_a_hazard_without_controls_or_scores_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(hazards.HAZARDS, "H-NEW", ("use", "New hazard", "cause", "effect"))
    model, controls, register = real_evidence(tmp_path)
    problems = trace.check_register(register, controls, AREAS)
    assert "risk H-NEW has no control" in problems
    assert "risk H-NEW has no severity and likelihood scores" in problems


def test_an_unacceptable_residual_risk_needs_an_action(tmp_path):
    library = copy.deepcopy(threats.THREATS)
    gateway = next(t for t in library if t.id == "T-COMPROMISED-GATEWAY")
    gateway.action = ""
    model = threat_model.build(tmp_path / "threats.json", library)
    controls, _ = catalogue.load()
    problems = trace.check_register(risks.register(model), controls, AREAS)
    assert problems == ["risk T-COMPROMISED-GATEWAY: residual risk is unacceptable and no "
                        "action is recorded"]


def test_a_threat_that_applies_to_nothing_is_named(tmp_path):
    library = copy.deepcopy(threats.THREATS)
    library[0].condition = "target.name == 'no such element'"
    model = threat_model.build(tmp_path / "threats.json", library)
    assert trace.check_model(model) == ["threat %s applies to no element of the threat model"
                                        % library[0].id]
    assert library[0].id not in {r.id for r in risks.register(model)}
