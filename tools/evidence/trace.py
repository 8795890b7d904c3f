"""The traceability matrix (risk -> control, with where it lives -> verifying test or
attack scenario -> latest result) and the completeness checks that make the build fail.

Every check returns sentences that name what is missing, so the build's failure says
what to fix: a risk without a control or valid scores, an ALARP hazard whose rationale
names none of its controls, a control without a passing linked test, a linked test that
failed, was skipped or expected to fail, a linked test that vanished before it ran (a module
skipped at module level, a collection error, a deselected test, a file never collected), a
control ID that does not exist in the code, a test marker naming an unknown ID, an attack
scenario that stopped at an unknown control or one the register does not list for it, or
whose verdict was not the expected one, a scenario the register does not know, and a
scenario unsafe in the secure profile whose threat records no action or too low a severity.
"""

from tools.evidence import risks, scoring

PASSED = "passed"


class Row:
    """One line of the matrix."""

    def __init__(self, risk, control, kind, evidence, result, detail="", where=""):
        self.risk = risk
        self.control = control
        self.where = where          # where the control lives in the code
        self.kind = kind            # "test" or "scenario"
        self.evidence = evidence
        self.result = result
        self.detail = detail

    def as_list(self):
        return [self.risk, self.control, self.where, self.kind, self.evidence, self.result,
                self.detail]


COLUMNS = ["risk", "control", "where it lives", "evidence kind", "evidence", "latest result",
           "detail"]
RESULT_COLUMN = COLUMNS.index("latest result")


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
        why = risk.score_problem
        if why == "":
            problems.append("risk %s has no severity and likelihood scores" % risk.id)
        elif why:
            problems.append("risk %s: %s" % (risk.id, why))
        elif risk.residual == scoring.UNACCEPTABLE and not risk.action:
            problems.append("risk %s: residual risk is unacceptable and no action is "
                            "recorded" % risk.id)
        elif (risk.kind == "hazard" and risk.residual != scoring.ACCEPTABLE
              and not any(cid in risk.rationale for cid in risk.controls)):
            problems.append("risk %s: residual risk is %s and its rationale names none of "
                            "its controls" % (risk.id, risk.residual))
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
    return problems + risks.unknown_scores()


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


def _function(nodeid):
    """(file, test function name) of a node id: ``tests/x.py::Class::test_y[3]``."""
    path, _, rest = nodeid.partition("::")
    return path, rest.split("::")[-1].split("[")[0]


def _module_state(path, modules):
    """The collection state recorded for ``path`` or for a folder that holds it."""
    for where in sorted(modules, key=len, reverse=True):
        if path == where or path.startswith(where.rstrip("/") + "/"):
            return modules[where]
    return None


def check_collection(run):
    """What the run lost before it ran a test, against what the test files declare: a
    module skipped at module level or that failed to collect, a linked test deselected
    or removed by a hook, a file or a test that collection never reached."""
    collection = run.collection or {}
    modules = collection.get("modules", {})
    deselected = collection.get("deselected", {})
    removed = collection.get("removed", {})
    collected = {}
    for nodeid in list(run.links) + list(deselected) + list(removed):
        path, name = _function(nodeid)
        collected.setdefault(path, set()).add(name)
    problems = []
    for path in sorted(set(run.declared) | set(modules)):
        declared = run.declared.get(path, {})
        ids = ", ".join(sorted({cid for f in declared.values() for cid in f})) or "no ID"
        state = modules.get(path) or (_module_state(path, modules) if declared else None)
        if state is not None:
            if state["state"] == "skipped" and not declared:
                continue                # a module without linked tests may skip
            what = ("skipped at module level" if state["state"] == "skipped"
                    else "collection error")
            lost = ("linked tests of %s did not run" % ids if declared
                    else "any linked tests in it did not run")
            problems.append("%s: %s (%s): %s" % (path, what, state["reason"], lost))
            continue
        missing = {name: cids for name, cids in declared.items()
                   if name not in collected.get(path, set())}
        if not missing:
            continue
        if path not in collected:
            problems.append("%s: not collected: linked tests of %s did not run" % (path, ids))
            continue
        for name in sorted(missing):
            problems.append("linked test %s::%s (%s) was not collected"
                            % (path, name, ", ".join(missing[name]) or "no ID"))
    for nodeid in sorted(deselected):
        problems.append("linked test %s (%s) was deselected and did not run"
                        % (nodeid, ", ".join(deselected[nodeid])))
    for nodeid in sorted(removed):
        problems.append("linked test %s (%s) was collected but removed from the run"
                        % (nodeid, ", ".join(removed[nodeid])))
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


def unsafe_secure_runs(results, scenario):
    """The runs of ``scenario`` the lab judged unsafe in the secure profile, by patient
    and seed."""
    return sorted((r for r in results if r.get("scenario") == scenario
                   and r.get("profile") == "secure" and r.get("unsafe") and not r.get("error")),
                  key=lambda r: (str(r.get("patient")), str(r.get("seed"))))


def run_outcome(result):
    """``child#001 seed 1: 9.4 mg/dL, the day ended``: where a run went."""
    low = (result.get("outcome") or {}).get("min_glucose_mg_dl")
    text = "%s seed %s: %s" % (result.get("patient"), result.get("seed"),
                               "%.1f mg/dL" % low if isinstance(low, (int, float))
                               else "no glucose")
    return text + (", the day ended" if result.get("ended") else "")


def check_lab_outcomes(register, results):
    """A threat whose scenario the lab found unsafe in the secure profile must record an
    action, must not be scored acceptable, and must be at least as severe as the harm seen:
    catastrophic (5) when the patient's day ended, serious (3) otherwise."""
    problems = []
    for risk in register:
        for name in risk.scenarios:
            unsafe = unsafe_secure_runs(results, name)
            if not unsafe:
                continue
            where = "; ".join(run_outcome(r) for r in unsafe)
            if not risk.action:
                problems.append("risk %s: the attack lab found %s unsafe in the secure profile "
                                "(%s) and no action is recorded" % (risk.id, name, where))
            if risk.residual == scoring.ACCEPTABLE:
                problems.append("risk %s: residual risk scored acceptable, but the attack lab "
                                "found %s unsafe in the secure profile (%s)"
                                % (risk.id, name, where))
            if risk.severity not in scoring.SEVERITY:
                continue
            ended = [r for r in unsafe if r.get("ended")]
            need = 5 if ended else 3
            if risk.severity >= need:
                continue
            if ended:
                problems.append("risk %s: severity %d (%s), but %s ended the patient's day in "
                                "the secure profile (%s): severity 5 (catastrophic)" % (
                                    risk.id, risk.severity, scoring.SEVERITY[risk.severity],
                                    name, ", ".join("%s seed %s" % (r.get("patient"),
                                                                    r.get("seed"))
                                                    for r in ended)))
            else:
                problems.append("risk %s: severity %d (%s), but %s was unsafe in the secure "
                                "profile (%s): severity at least 3 (serious)" % (
                                    risk.id, risk.severity, scoring.SEVERITY[risk.severity],
                                    name, where))
    return problems


def check_model(model):
    return ["threat %s applies to no element of the threat model" % t.id
            for t in model.library if not model.findings_of(t.id)]


def completeness(model, catalogue, register, areas, links, results, library, run=None):
    """Every problem that makes the evidence incomplete, in the order a reader fixes them:
    the model, the register, the tests (with what their run lost, given the ``LinkedRun``),
    the attack lab."""
    register_ids = {risk.id for risk in register}
    return (check_model(model) + check_register(register, catalogue, areas)
            + (check_collection(run) if run is not None else [])
            + check_tests(register, catalogue, areas, links)
            + check_scenarios(model.library, library, results, catalogue, register_ids)
            + check_lab_outcomes(register, results))


def matrix(register, links, results, catalogue=None):
    """The rows: for each risk, each control (with where it lives, from ``catalogue``) with
    each linked test and its outcome, then each attack scenario run of the risk with the
    controls that stopped it."""
    catalogue = catalogue or {}

    def where(cids):
        return "; ".join(catalogue[c].where if c in catalogue else "not in the code"
                         for c in cids) or "-"
    by_control = tests_by_control(links)
    rows = []
    for risk in register:
        for cid in risk.controls:
            tests = by_control.get(cid)
            if not tests:
                rows.append(Row(risk.id, cid, "test", "-", "missing", where=where([cid])))
            for nodeid, outcome in tests or ():
                rows.append(Row(risk.id, cid, "test", nodeid, outcome, where=where([cid])))
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
                                "scenario", evidence, outcome, detail,
                                where=where(result.get("controls", []))))
    return rows
