"""The build as a whole, with its slow steps cut short: an aborted build never leaves a
summary saying "no problems", stale files of an earlier build never survive, and a hazard
added to the table without scores is named, with exit status 1 and no traceback."""

import functools
import json

from evidence_helpers import scratch_tree
from pump import hazards
from tools.evidence import build, runs, sbom, vulnerabilities

LINKED = '''
import pytest


@pytest.mark.verifies("IL-BOLUS-MAX")
def test_bolus_limit():
    assert 1 + 1 == 2
'''

HOST_BOM = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "metadata": {"component": {"type": "application", "bom-ref": "root-component",
                               "name": "secure-insulin-pump", "version": "0.1.0"}},
    "components": [{"type": "library", "bom-ref": "cbor2==5.6.0", "name": "cbor2",
                    "version": "5.6.0", "purl": "pkg:pypi/cbor2@5.6.0"}],
    "dependencies": [{"ref": "root-component", "dependsOn": ["cbor2==5.6.0"]},
                     {"ref": "cbor2==5.6.0", "dependsOn": []}],
}


def _offline(url, timeout=20):
    raise OSError("offline")


def quick_steps(monkeypatch, tmp_path):
    """The real build with small inputs: the linked tests of a one-file tree, no campaign,
    a one-component host SBOM and a vulnerability check with no sources."""
    tree = scratch_tree(tmp_path, {"tests/test_linked.py": LINKED})
    real_run = runs.run_linked_tests
    monkeypatch.setattr(runs, "run_linked_tests", lambda out_file, **_kw: real_run(
        out_file, paths=("tests",), cwd=tree, echo=False))
    monkeypatch.setattr(runs, "run_campaign", lambda out_dir, patients, seeds: [])
    monkeypatch.setattr(sbom, "host_bom", lambda python=None: json.loads(json.dumps(HOST_BOM)))
    monkeypatch.setattr(vulnerabilities, "check", functools.partial(
        vulnerabilities.check, sources=[], fetch=_offline))


def _main(tmp_path, out):
    return build.main(["--out", str(out), "--docs", str(tmp_path / "docs")])


def _earlier_build(out):
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"state": "complete", "problems": []}))
    (out / "risk-register.md").write_text("the register of an earlier build\n")
    (out / "from-an-earlier-build.txt").write_text("stale\n")


def test_an_aborted_build_never_leaves_a_summary_saying_no_problems(tmp_path, monkeypatch,
                                                                    capsys):
    quick_steps(monkeypatch, tmp_path)
    out = tmp_path / "evidence"
    _earlier_build(out)
    killed = tmp_path / ".evidence.building-4194399-x1"     # a build killed outright
    (killed / "campaign").mkdir(parents=True)
    during = {}

    def crash(out_file, **_kw):
        during["summary"] = json.loads((out / "summary.json").read_text())
        raise runs.RunError("pytest wrote no results (exit status 4)")
    monkeypatch.setattr(runs, "run_linked_tests", crash)
    assert _main(tmp_path, out) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    # while the build ran, the earlier summary no longer read as complete
    assert during["summary"]["state"] != "complete" and during["summary"]["problems"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] == "aborted"
    assert summary["problems"] == [
        "the build was aborted at step 3/8 (tests linked to controls): pytest wrote no "
        "results (exit status 4)"]
    assert "aborted at step 3/8" in captured.err
    # nothing of the earlier build is left; what the aborted one wrote before step 3 is
    assert not (out / "from-an-earlier-build.txt").exists()
    assert not (out / "risk-register.md").exists()
    assert (out / "threat-model.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "evidence", "tree"]
    assert not killed.exists()


def test_an_unexpected_error_is_one_line_and_an_aborted_summary(tmp_path, monkeypatch, capsys):
    quick_steps(monkeypatch, tmp_path)

    def broken(out_dir, patients, seeds):
        raise ValueError("results.json is not a list")
    monkeypatch.setattr(runs, "run_campaign", broken)
    out = tmp_path / "evidence"
    assert _main(tmp_path, out) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] == "aborted"
    assert summary["problems"][0].startswith(
        "the build was aborted at step 4/8 (attack-lab campaign): ValueError: results.json is "
        "not a list")


def test_a_new_hazard_without_scores_is_named_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(hazards.HAZARDS, "H-NEW", ("use", "New hazard", "a cause", "an effect"))
    quick_steps(monkeypatch, tmp_path)
    out = tmp_path / "evidence"
    _earlier_build(out)
    assert _main(tmp_path, out) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err, captured.err
    assert "  - risk H-NEW has no control\n" in captured.out
    assert "  - risk H-NEW has no severity and likelihood scores\n" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] == "incomplete"
    assert "risk H-NEW has no severity and likelihood scores" in summary["problems"]
    register = (out / "risk-register.md").read_text()
    row = next(line for line in register.splitlines() if line.startswith("| H-NEW |"))
    assert "not scored" in row
    assert not (out / "from-an-earlier-build.txt").exists()
    assert (out / "traceability.csv").exists() and (out / "sbom.cdx.json").exists()
