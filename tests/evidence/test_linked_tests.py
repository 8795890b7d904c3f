"""The links from tests to controls, read by the real pytest plugin from real runs: a
control whose linked tests are removed is named, and so are a test naming a control that
does not exist, a failing linked test and a skipped one."""

import ast

from evidence_helpers import AREAS, ROOT, real_evidence, scratch_tree
from tools.evidence import runs, trace

MONITOR_TESTS = ROOT / "tests" / "pump" / "test_safety_monitor.py"
RUNAWAY = "SM-RUNAWAY"


def _without_tests_of(source, control):
    """The module's source with every test function that verifies ``control`` removed."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                control in ast.get_source_segment(source, d) for d in node.decorator_list):
            first = min(d.lineno for d in node.decorator_list)
            cut.append((first - 1, node.end_lineno))
    assert cut, "no test of %s in the module" % control
    for start, end in reversed(cut):
        del lines[start:end]
    return "".join(lines)


def _links(root, rel):
    links, _status, _output = runs.run_linked_tests(root / "tests.json", paths=(rel,),
                                                    cwd=root, echo=False)
    return links


def test_removing_the_linked_tests_of_a_control_makes_the_build_name_it(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    source = MONITOR_TESTS.read_text()
    rel = "tests/pump/test_safety_monitor.py"
    before = _links(scratch_tree(tmp_path / "with", {rel: source}), rel)
    runaway = [node for node, entry in before.items() if RUNAWAY in entry["ids"]]
    assert runaway and all(before[node]["outcome"] == "passed" for node in runaway)
    problems = trace.completeness(model, controls, register, AREAS, before, [], [])
    assert not any(RUNAWAY in p for p in problems)

    after = _links(scratch_tree(tmp_path / "without", {rel: _without_tests_of(source, RUNAWAY)}),
                   rel)
    assert not set(runaway) & set(after) and len(after) == len(before) - len(runaway)
    problems = trace.completeness(model, controls, register, AREAS, after, [], [])
    assert "control %s has no linked test" % RUNAWAY in problems


BAD_LINKS = '''
import pytest


@pytest.mark.verifies("IL-BOLUS-MAX")
def test_fails():
    assert 1 + 1 == 3


@pytest.mark.verifies("SC-NO-SUCH-CONTROL")
def test_names_nothing_real():
    assert True


@pytest.mark.verifies("IL-BASAL-MAX")
def test_skips():
    pytest.skip("not a verification")


def test_not_linked():
    assert True
'''


def test_unknown_ids_failures_and_skips_are_named(tmp_path):
    model, controls, register = real_evidence(tmp_path)
    rel = "tests/test_bad_links.py"
    links = _links(scratch_tree(tmp_path, {rel: BAD_LINKS}), rel)
    assert sorted(links) == ["%s::test_%s" % (rel, n) for n in
                             ("fails", "names_nothing_real", "skips")]
    problems = trace.completeness(model, controls, register, AREAS, links, [], [])
    assert ("test %s::test_names_nothing_real names SC-NO-SUCH-CONTROL, which does not "
            "exist in the code" % rel) in problems
    assert "linked test %s::test_fails (IL-BOLUS-MAX) failed" % rel in problems
    assert "control IL-BOLUS-MAX: none of its 1 linked tests passed" in problems
    assert "linked test %s::test_skips (IL-BASAL-MAX) skipped" % rel in problems


def test_every_control_in_the_register_has_a_marker_in_the_suite(tmp_path):
    """What `make evidence` checks on a run, checked on the source: every control the
    register claims is named by a verifies marker, and every marker names a real one."""
    _model, controls, register = real_evidence(tmp_path)
    marked = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("verifies"):
                marked.update(arg.value for arg in node.args)
    claimed = trace.claimed_controls(register, AREAS)
    assert claimed - marked == set()
    assert marked - set(controls) == set()
