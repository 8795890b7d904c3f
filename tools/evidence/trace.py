"""The traceability matrix (risk -> control -> verifying test or attack scenario ->
latest result) and the completeness checks that make the build fail.

Every check returns sentences that name what is missing, so the build's failure says
what to fix: a risk without a control, a control without a passing linked test, a linked
test that failed, a control ID that does not exist in the code, a test marker naming an
unknown ID, an attack scenario that stopped at an unknown control or whose verdict was
not the expected one, a scenario the register does not know.
"""

PASSED = "passed"


class Row:
    """One line of the matrix."""

    def __init__(self, risk, control, kind, evidence, result, detail=""):
        self.risk = risk
        self.control = control
        self.kind = kind            # "test" or "scenario"
        self.evidence = evidence
        self.result = result
        self.detail = detail

    def as_list(self):
        return [self.risk, self.control, self.kind, self.evidence, self.result, self.detail]


COLUMNS = ["risk", "control", "evidence kind", "evidence", "latest result", "detail"]


def tests_by_control(links):
    """control ID -> [(node id, outcome)]."""
    by_control = {}
    for nodeid in sorted(links):
        for cid in links[nodeid]["ids"]:
            by_control.setdefault(cid, []).append((nodeid, links[nodeid]["outcome"]))
    return by_control


def claimed_controls(register, areas):
    ids = set()
    for risk in register:
        ids.update(risk.controls)
    for _area, _claim, control_ids, _nist in areas:
        ids.update(control_ids)
    return ids


def check_register(register, catalogue, areas):
    problems = []
    for risk in register:
        if not risk.controls:
            problems.append("risk %s has no control" % risk.id)
        if risk.severity is None or risk.before is None or risk.after is None:
            problems.append("risk %s has no severity and likelihood scores" % risk.id)
        elif risk.residual == "unacceptable" and not risk.action:
            problems.append("risk %s: residual risk is unacceptable and no action is "
                            "recorded" % risk.id)
        for cid in risk.controls:
            if cid not in catalogue:
                problems.append("control %s (risk %s) does not exist in the code"
                                % (cid, risk.id))
    for area, _claim, control_ids, _nist in areas:
        for cid in control_ids:
            if cid not in catalogue:
                problems.append("control %s (SDLC area %r) does not exist in the code"
                                % (cid, area))
    claimed = claimed_controls(register, areas)
    for cid in sorted(set(catalogue) - claimed):
        problems.append("control %s exists in the code but no risk or SDLC area in the "
                        "register names it" % cid)
    return problems


def check_tests(register, catalogue, areas, links):
    problems = []
    for nodeid in sorted(links):
        ids = links[nodeid]["ids"]
        if not ids:
            problems.append("test %s has a verifies marker without a control ID" % nodeid)
        for cid in ids:
            if cid not in catalogue:
                problems.append("test %s names %s, which does not exist in the code"
                                % (nodeid, cid))
        if links[nodeid]["outcome"] != PASSED:
            problems.append("linked test %s (%s) %s" % (nodeid, ", ".join(ids),
                                                       links[nodeid]["outcome"]))
    by_control = tests_by_control(links)
    for cid in sorted(claimed_controls(register, areas) & set(catalogue)):
        tests = by_control.get(cid, [])
        if not tests:
            problems.append("control %s has no linked test" % cid)
        elif not any(outcome == PASSED for _node, outcome in tests):
            problems.append("control %s: none of its %d linked tests passed"
                            % (cid, len(tests)))
    return problems


def _scenario_threats(threats):
    named = {}
    for threat in threats:
        for name in threat.scenarios:
            named.setdefault(name, []).append(threat)
    return named


def check_scenarios(threats, library, results, catalogue, register_ids):
    problems = []
    named = _scenario_threats(threats)
    for name in sorted(set(named) - set(library)):
        problems.append("scenario %s (named by %s) is not in the attack library"
                        % (name, ", ".join(t.id for t in named[name])))
    for name in sorted(set(library) - set(named)):
        problems.append("scenario %s is in the attack library but no threat in the "
                        "register names it" % name)
    for name in sorted(named):
        if not any(t.id in register_ids for t in named[name]):
            problems.append("scenario %s: no threat naming it is in the register" % name)
    seen = set()
    for result in results:
        name, profile = result.get("scenario"), result.get("profile")
        seen.add(name)
        where = "%s (%s, %s, seed %s)" % (name, profile, result.get("patient"),
                                          result.get("seed"))
        if result.get("error"):
            problems.append("scenario %s did not run: %s" % (where, result["error"]))
            continue
        if not result.get("matches"):
            problems.append("scenario %s: verdict %s, expected %s"
                            % (where, result.get("verdict"), result.get("expected")))
        listed = set()
        for threat in named.get(name, []):
            listed.update(threat.controls)
        for cid in result.get("controls", []):
            if cid not in catalogue:
                problems.append("scenario %s was stopped by %s, which does not exist in "
                                "the code" % (where, cid))
            elif profile == "secure" and named.get(name) and cid not in listed:
                problems.append("scenario %s was stopped by %s, which the register does "
                                "not list for %s" % (where, cid,
                                                     ", ".join(t.id for t in named[name])))
    for name in sorted(set(library) - seen):
        problems.append("scenario %s has no result in the campaign" % name)
    return problems


def check_model(model):
    return ["threat %s applies to no element of the threat model" % t.id
            for t in model.library if not model.findings_of(t.id)]


def completeness(model, catalogue, register, areas, links, results, library):
    """Every problem that makes the evidence incomplete, in the order a reader fixes them:
    the model, the register, the tests, the attack lab."""
    register_ids = {risk.id for risk in register}
    return (check_model(model) + check_register(register, catalogue, areas)
            + check_tests(register, catalogue, areas, links)
            + check_scenarios(model.library, library, results, catalogue, register_ids))


def matrix(register, links, results):
    """The rows: for each risk, each control with each linked test and its outcome, then
    each attack scenario run of the risk with the controls that stopped it."""
    by_control = tests_by_control(links)
    rows = []
    for risk in register:
        for cid in risk.controls:
            tests = by_control.get(cid)
            if not tests:
                rows.append(Row(risk.id, cid, "test", "-", "missing"))
            for nodeid, outcome in tests or ():
                rows.append(Row(risk.id, cid, "test", nodeid, outcome))
        for name in risk.scenarios:
            for result in results:
                if result.get("scenario") != name:
                    continue
                evidence = "%s [%s, %s, seed %s]" % (name, result.get("profile"),
                                                     result.get("patient"), result.get("seed"))
                ok = result.get("matches") and not result.get("error")
                outcome = PASSED if ok else "failed"
                detail = "%s (expected %s)%s; stopped by: %s" % (
                    result.get("verdict"), result.get("expected"),
                    ", unsafe" if result.get("unsafe") else "",
                    ", ".join(result.get("controls", [])) or "nothing")
                rows.append(Row(risk.id, ", ".join(result.get("controls", [])) or "-",
                                "scenario", evidence, outcome, detail))
    return rows
