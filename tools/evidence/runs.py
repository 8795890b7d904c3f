"""The latest results the evidence is built from: a pytest run of every test linked to a
control, and a short attack-lab campaign. Both run as subprocesses with their own
progress on the console (pytest's dots, the campaign's progress line), so the slow part
of the build shows what it is doing.
"""

import ast
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN = "tools.evidence.pytest_links"
TEST_FILES = ("test_*.py", "*_test.py")


class RunError(Exception):
    """A run produced no results to read (it crashed or could not start)."""


class LinkedRun:
    """One pytest run of the linked tests: ``links`` maps each test that was run to
    {"ids", "outcome", "duration"}; ``collection`` is what collection lost (``modules``
    skipped at module level or in error, linked tests ``deselected`` or ``removed``);
    ``declared`` maps each test file to {function name: control IDs} as its source
    declares them, whatever the run did with it."""

    def __init__(self, links, exitstatus, output, collection, declared):
        self.links = links
        self.exitstatus = exitstatus
        self.output = output
        self.collection = collection
        self.declared = declared


def pytest_command(out_file, paths=("tests",), extra=()):
    return [sys.executable, "-m", "pytest", "-p", PLUGIN, "--evidence-out", str(out_file),
            "-m", "verifies", "-q", "-p", "no:cacheprovider",
            "--continue-on-collection-errors", *extra, *map(str, paths)]


def _marker_ids(decorator):
    """The control IDs of a ``verifies(...)`` decorator (``pytest.mark.verifies`` or the
    portable ``verifies``), or None for any other decorator."""
    if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("verifies"):
        return [arg.value for arg in decorator.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return None


def declared_links(paths=("tests",), cwd=ROOT):
    """{test file: {function name: sorted IDs}} for every function that a ``verifies``
    decorator marks, read from the source of the test files under ``paths``: the linked
    tests a run is expected to have, independent of what collection made of them."""
    cwd = pathlib.Path(cwd)
    files = set()
    for path in paths:
        path = cwd / path
        if path.is_file():
            files.add(path)
        elif path.is_dir():
            files.update(f for pattern in TEST_FILES for f in path.rglob(pattern))
    declared = {}
    for path in sorted(files):
        try:
            tree = ast.parse(path.read_text(encoding="utf8"), str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue                    # pytest reports it as a collection error
        functions = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                marks = [_marker_ids(d) for d in node.decorator_list]
                marks = [ids for ids in marks if ids is not None]
                if marks:
                    functions.setdefault(node.name, set()).update(*marks)
        if functions:
            declared[path.resolve()] = {name: sorted(ids) for name, ids in functions.items()}
    return declared


def _relative(declared, rootdir):
    """``declared`` keyed by each file's path relative to pytest's rootdir, as node ids
    are."""
    rootdir = pathlib.Path(rootdir).resolve()
    out = {}
    for path, functions in declared.items():
        try:
            out[path.relative_to(rootdir).as_posix()] = functions
        except ValueError:
            out[path.as_posix()] = functions
    return out


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
    """Run the linked tests (HYPOTHESIS_PROFILE=ci) and return a ``LinkedRun``."""
    env = dict(os.environ, HYPOTHESIS_PROFILE="ci")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out_file = pathlib.Path(out_file)
    if out_file.exists():
        out_file.unlink()
    declared = declared_links(paths, cwd)
    status, output = _echoed(pytest_command(out_file, paths, extra), cwd, env, echo)
    if not out_file.exists():
        raise RunError("pytest wrote no results (exit status %d)" % status)
    try:
        data = json.loads(out_file.read_text())
        tests, exitstatus = data["tests"], data["exitstatus"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError("pytest's results in %s cannot be read: %s" % (out_file, exc)) from None
    collection = data.get("collection", {})
    declared = _relative(declared, data.get("rootdir") or cwd)
    return LinkedRun(tests, exitstatus, output, collection, declared)


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
