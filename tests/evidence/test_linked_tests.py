"""The links from tests to controls, read by the real pytest plugin from real runs: a
control whose linked tests are removed is named, and so are a test naming a control that
does not exist, a failing linked test, a skipped one, an expected failure, and linked tests
that vanished before they ran (a module skipped at module level, a collection error, a
deselected test, a file left out of collection)."""

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
    return runs.run_linked_tests(root / "tests.json", paths=(rel,), cwd=root,
                                 echo=False).links


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


VANISHING = {
    "tests/test_module_skip.py": '''
import pytest

pytest.skip("needs a component this machine lacks", allow_module_level=True)


@pytest.mark.verifies("SC-EDHOC-AUTH")
def test_handshake():
    assert True
''',
    "tests/test_broken.py": '''
import pytest
import no_such_module_for_the_evidence_test


@pytest.mark.verifies("IL-BOLUS-MAX")
def test_bolus_limit():
    assert True
''',
    "tests/test_selected.py": '''
import pytest


@pytest.mark.verifies("IL-BASAL-MAX")
def test_runs():
    assert True


@pytest.mark.verifies("IL-BASAL-MAX", "IL-TEMP-BASAL-MAX")
def test_deselected():
    assert True


@pytest.mark.verifies("IL-IOB-MAX")
@pytest.mark.xfail(reason="a known defect")
def test_xfails():
    assert False


@pytest.mark.verifies("IL-ROLLING-1H")
@pytest.mark.xfail(reason="was a known defect")
def test_xpasses():
    assert True
''',
    "tests/ignored/conftest.py": 'collect_ignore = ["test_left_out.py"]\n',
    "tests/ignored/test_left_out.py": '''
import pytest


@pytest.mark.verifies("IL-ROLLING-24H")
def test_left_out():
    assert True
''',
}


def test_linked_tests_that_vanish_before_they_run_are_named_with_their_file(tmp_path):
    root = scratch_tree(tmp_path, VANISHING)
    paths = sorted({rel.split("/")[0] + "/" + rel.split("/")[1] for rel in VANISHING})
    assert paths == ["tests/ignored", "tests/test_broken.py", "tests/test_module_skip.py",
                     "tests/test_selected.py"]
    run = runs.run_linked_tests(root / "tests.json", paths=paths, cwd=root, echo=False,
                                extra=("--deselect", "tests/test_selected.py::test_deselected"))
    # the other files still ran, despite the collection error
    assert run.links["tests/test_selected.py::test_runs"]["outcome"] == "passed"
    assert run.links["tests/test_selected.py::test_xfails"]["outcome"] == "xfailed"
    assert run.links["tests/test_selected.py::test_xpasses"]["outcome"] == "xpassed"
    problems = trace.check_collection(run)
    assert problems == [
        "tests/ignored/test_left_out.py: not collected: linked tests of IL-ROLLING-24H did "
        "not run",
        "tests/test_broken.py: collection error (ModuleNotFoundError: No module named "
        "'no_such_module_for_the_evidence_test'): linked tests of IL-BOLUS-MAX did not run",
        "tests/test_module_skip.py: skipped at module level (needs a component this machine "
        "lacks): linked tests of SC-EDHOC-AUTH did not run",
        "linked test tests/test_selected.py::test_deselected (IL-BASAL-MAX, "
        "IL-TEMP-BASAL-MAX) was deselected and did not run",
    ]
    model, controls, register = real_evidence(tmp_path)
    everything = trace.completeness(model, controls, register, AREAS, run.links, [], [], run)
    assert set(problems) <= set(everything)
    assert "linked test tests/test_selected.py::test_xfails (IL-IOB-MAX) xfailed" in everything
    assert "linked test tests/test_selected.py::test_xpasses (IL-ROLLING-1H) xpassed" \
        in everything
    assert not any("skipped" in p and "test_x" in p for p in everything)


def test_a_complete_run_loses_nothing(tmp_path):
    rel = "tests/test_selected.py"
    source = VANISHING[rel].split("@pytest.mark.verifies(\"IL-IOB-MAX\")")[0]
    root = scratch_tree(tmp_path, {rel: source})
    run = runs.run_linked_tests(root / "tests.json", paths=(rel,), cwd=root, echo=False)
    assert sorted(run.links) == [rel + "::test_deselected", rel + "::test_runs"]
    assert trace.check_collection(run) == []
