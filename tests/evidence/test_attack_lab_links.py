"""The attack lab's results against the register: a scenario stopped by a control the
code does not have, one whose verdict was not the expected one, one the register does not
know, and one without a result are each named."""

import copy

from evidence_helpers import real_evidence
from tools.evidence import runs, threats, trace


def _result(scenario, profile="secure", controls=(), matches=True):
    return {"scenario": scenario, "profile": profile, "patient": "adult#001", "seed": 1,
            "verdict": "blocked", "expected": "blocked" if matches else "succeeded",
            "matches": matches, "controls": list(controls)}


def test_every_library_scenario_is_named_by_a_threat_of_the_register(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    library = runs.library_names()
    assert len(library) >= 20
    results = [_result(name) for name in library]
    assert trace.check_scenarios(model.library, library, results, controls,
                                 {r.id for r in register}) == []


def test_unknown_stopping_control_wrong_verdict_and_missing_result_are_named(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    library = runs.library_names()
    results = [_result(name) for name in library if name != "flood"]
    results[0] = _result(results[0]["scenario"], controls=["SC-NOT-IN-THE-CODE"])
    results[1] = _result(results[1]["scenario"], matches=False)
    results[2] = _result(results[2]["scenario"], controls=["IL-BOLUS-MAX"])
    problems = trace.check_scenarios(model.library, library, results, controls,
                                     {r.id for r in register})
    where = "%s (secure, adult#001, seed 1)"
    assert problems[0] == ("scenario %s was stopped by SC-NOT-IN-THE-CODE, which does not "
                           "exist in the code" % (where % results[0]["scenario"]))
    assert problems[1] == ("scenario %s: verdict blocked, expected succeeded"
                           % (where % results[1]["scenario"]))
    assert problems[2].startswith("scenario %s was stopped by IL-BOLUS-MAX, which the "
                                  "register does not list for " % (where % results[2]["scenario"]))
    assert problems[3:] == ["scenario flood has no result in the campaign"]


def test_a_scenario_no_threat_names_is_named(tmp_path):
    library = copy.deepcopy(threats.THREATS)
    for threat in library:
        threat.scenarios = tuple(s for s in threat.scenarios if s != "fuzz")
    model, controls, register = real_evidence(tmp_path)
    problems = trace.check_scenarios(library, runs.library_names(), [], controls,
                                     {r.id for r in register})
    assert "scenario fuzz is in the attack library but no threat in the register names it" \
        in problems
