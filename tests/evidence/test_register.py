"""The register's completeness checks against the code: a control removed from the code
or a control ID that does not exist is named, so is a risk without a control; the real
register is complete."""

import copy

from evidence_helpers import AREAS, real_evidence
from pump import hazards
from secure_channel import controls as sc_controls
from tools.evidence import catalogue, documents, render, risks, threat_model, threats, trace


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
    assert [p for p in problems if p.startswith("control DC-")] == [
        "control DC-GONE does not exist in the code: pump.pin:no_such_function: pump.pin has "
        "no no_such_function"]


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


def test_a_hazard_scored_out_of_range_or_a_bad_cvss_vector_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(risks.HAZARD_SCORES, "H-POWER", (7, 3, 1, ()))
    library = copy.deepcopy(threats.THREATS)
    library[0].after = "AV:X/AC:H/PR:H/UI:N"
    model = threat_model.build(tmp_path / "threats.json", library)
    controls, _ = catalogue.load()
    register = risks.register(model)
    problems = trace.check_register(register, controls, AREAS)
    assert problems == [
        "risk H-POWER: severity and likelihood are 1..5, got 7, 3",
        "risk %s: CVSS vector 'AV:X/AC:H/PR:H/UI:N': AV:X is not a v3.1 value" % library[0].id]
    rows = documents.register_rows(register)            # and the register still renders
    assert [r for r in rows if r[0] == "H-POWER"][0][REGISTER["initial"]] == "not scored"


REGISTER = {name: index for index, name in enumerate(documents.REGISTER_COLUMNS)}


def test_the_register_shows_each_threats_cvss_vectors_and_where_the_after_score_comes_from(
        tmp_path):
    _model, _controls, register = real_evidence(tmp_path)
    rows = {row[0]: row for row in documents.register_rows(register)}
    spoof = rows["T-SPOOF-COMMAND"]
    assert spoof[REGISTER["CVSS before"]] == "AV:A/AC:L/PR:N/UI:N (2.84)"
    assert spoof[REGISTER["CVSS after"]] == "AV:L/AC:H/PR:H/UI:N (0.46)"
    assert spoof[REGISTER["likelihood after"]] == "E1"
    assert rows["H-OVERDOSE"][REGISTER["CVSS before"]] == "-"
    text = documents.risk_register(register)
    assert "## Where the scores after the controls come from" in text
    assert "threats.py" in text and "HAZARD_SCORES" in text


def test_every_alarp_hazard_names_the_controls_that_bound_it(tmp_path):
    _model, _controls, register = real_evidence(tmp_path)
    open_hazards = [r for r in register if r.kind == "hazard" and r.residual != "acceptable"]
    assert open_hazards
    for risk in open_hazards:
        named = [cid for cid in risk.controls if cid in risk.rationale]
        assert len(named) >= 2, (risk.id, risk.rationale)
        assert "bounded by %d controls" % len(risk.controls) not in risk.rationale
    assert len({r.rationale for r in open_hazards}) == len(open_hazards)


def test_an_alarp_rationale_that_names_no_control_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(risks.ALARP_RATIONALES, "H-UNDERDOSE",
                        "what remains is the risk of insulin therapy itself")
    _model, controls, register = real_evidence(tmp_path)
    problems = trace.check_register(register, controls, AREAS)
    assert problems == ["risk H-UNDERDOSE: residual risk is ALARP and its rationale names "
                        "none of its controls"]


def test_the_matrix_files_carry_where_each_control_lives(tmp_path):
    _model, controls, register = real_evidence(tmp_path)
    links = {"tests/pump/test_limits.py::test_bolus": {"ids": ["IL-BOLUS-MAX"],
                                                       "outcome": "passed", "duration": 0.1}}
    rows = trace.matrix(register, links, [], controls)
    where = trace.COLUMNS.index("where it lives")
    [row] = [r.as_list() for r in rows if r.evidence == "tests/pump/test_limits.py::test_bolus"
             and r.risk == "H-OVERDOSE"]
    assert row[where] == controls["IL-BOLUS-MAX"].where and row[where].startswith("pump/")
    assert render.csv_text(trace.COLUMNS, [row]).splitlines()[0].split(",")[where] == \
        "where it lives"
    page = documents.traceability_html(controls, register, AREAS, links, [], rows)
    assert page.count("<th>where</th>") == 1 and page.count("<th>where it lives</th>") == 1
    assert "<td>%s</td>" % controls["SC-EDHOC-AUTH"].where in page
