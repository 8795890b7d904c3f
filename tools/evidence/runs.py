"""The latest results the evidence is built from: a pytest run of every test linked to a
control, and a short attack-lab campaign. Both run as subprocesses with their own
progress on the console (pytest's dots, the campaign's progress line), so the slow part
of the build shows what it is doing.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN = "tools.evidence.pytest_links"


class RunError(Exception):
    """A run produced no results to read (it crashed or could not start)."""


def pytest_command(out_file, paths=("tests",), extra=()):
    return [sys.executable, "-m", "pytest", "-p", PLUGIN, "--evidence-out", str(out_file),
            "-m", "verifies", "-q", "-p", "no:cacheprovider", *extra, *map(str, paths)]


def _echoed(command, cwd, env, echo):
    """Run ``command``, passing its output through as it comes when ``echo``; return
    (exit status, output text)."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    chunks = []
    while True:
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        chunks.append(chunk)
        if echo:
            sys.stdout.write(chunk.decode("utf8", "replace"))
            sys.stdout.flush()
    proc.stdout.close()
    return proc.wait(), b"".join(chunks).decode("utf8", "replace")


def run_linked_tests(out_file, paths=("tests",), cwd=ROOT, extra=(), echo=True):
    """Run the linked tests (HYPOTHESIS_PROFILE=ci) and return (links, exit status,
    output): links maps each test's node id to {"ids", "outcome", "duration"}."""
    env = dict(os.environ, HYPOTHESIS_PROFILE="ci")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out_file = pathlib.Path(out_file)
    if out_file.exists():
        out_file.unlink()
    status, output = _echoed(pytest_command(out_file, paths, extra), cwd, env, echo)
    if not out_file.exists():
        raise RunError("pytest wrote no results (exit status %d)" % status)
    data = json.loads(out_file.read_text())
    return data["tests"], data["exitstatus"], output


def powercut_lines(output):
    """The power-cut coverage figures the bootloader tests print at the end of a run."""
    return [line.strip() for line in output.splitlines()
            if line.strip().startswith("power-cut points")]


def campaign_command(out_dir, patients=1, seeds=1):
    return [sys.executable, "-m", "sim.cli", "attack", "campaign", "--profile", "both",
            "--patients", str(patients), "--seeds", str(seeds), "--out", str(out_dir)]


def run_campaign(out_dir, patients=1, seeds=1):
    """Run the scenario library in both profiles; return the results (results.json)."""
    out_dir = pathlib.Path(out_dir)
    results = out_dir / "results.json"
    if results.exists():
        results.unlink()
    done = subprocess.run(campaign_command(out_dir, patients, seeds), cwd=ROOT)
    if not results.exists():
        raise RunError("the attack campaign wrote no results (exit status %d)"
                       % done.returncode)
    return json.loads(results.read_text())


def library_names():
    """The names of the built-in attack scenarios."""
    from sim.attack import scenario
    return [s.name for s in scenario.library()]
