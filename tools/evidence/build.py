"""Build the regulatory evidence into out/evidence/ and fail, naming what is missing,
when it would be incomplete.

    python -m tools.evidence [--out DIR] [--docs DIR] [--patients N] [--seeds N]
                             [--strict-vulnerabilities]

Steps: the threat model (pytm) and its diagram; the control catalogue and the risk
register; the tests linked to controls (pytest -m verifies); a short attack-lab campaign
(the library in both profiles); the register, the traceability matrix and their checks;
the SBOM (cyclonedx-bom); the dependency vulnerability check; the plans. Exit status 0
when the evidence is complete, 1 when a check failed (each problem is printed) or the
build was aborted, 2 for a bad flag, 130 when interrupted. A vulnerability check that
could not be performed is printed loudly and written into the reports;
``--strict-vulnerabilities`` makes it a failure too.

The build writes into a fresh directory beside the output directory and puts it in its
place at the end, so no file of an earlier build survives next to new ones; an aborted
build still takes its place, with a ``summary.json`` whose state is "aborted" and whose
problem says at which step and why. While a build runs, the earlier summary reads
"superseded".
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:            # run as tools/evidence/build.py
    sys.path.insert(0, str(ROOT))

from tools.evidence import (catalogue as catalogue_mod, documents, plans, render,  # noqa: E402
                            risks, runs, sbom, scoring, sdlc, threat_model, trace,
                            vulnerabilities)

STEPS = 8
COMPLETE, INCOMPLETE, ABORTED, SUPERSEDED = "complete", "incomplete", "aborted", "superseded"
# Errors with a message of their own; anything else is named with its type and place.
EXPECTED_ERRORS = (runs.RunError, sbom.SbomError, OSError, RuntimeError)


class Progress:
    """Numbered steps with their time on the console."""

    def __init__(self, total):
        self.total = total
        self.number = 0
        self.name = "start"
        self.started = time.monotonic()
        self._step = None

    def step(self, name, detail=""):
        self.done()
        self.number += 1
        self.name = name
        self._step = time.monotonic()
        print("[%d/%d] %s%s" % (self.number, self.total, name,
                                " (%s)" % detail if detail else ""), flush=True)

    def done(self):
        if self._step is not None:
            print("      %.1f s" % (time.monotonic() - self._step), flush=True)
            self._step = None

    def where(self):
        return "step %d/%d (%s)" % (self.number, self.total, self.name)

    def elapsed(self):
        return time.monotonic() - self.started


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")


def _write_if_changed(path, text):
    if not path.exists() or path.read_text(encoding="utf8") != text:
        _write(path, text)


def render_svg(dot_text, svg_path):
    """Draw the DOT with Graphviz; False (and nothing written) without ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        return False
    done = subprocess.run([dot, "-Tsvg"], input=dot_text, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("dot failed: %s" % done.stderr.strip()[:200])
    _write_if_changed(svg_path, done.stdout)
    return True


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tools.evidence",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "out" / "evidence"),
                        help="where to write the evidence (default out/evidence)")
    parser.add_argument("--docs", default=str(ROOT / "docs"),
                        help="where the threat model's page and diagram go (default docs)")
    parser.add_argument("--patients", type=int, default=1, choices=(1, 2, 3),
                        help="attack campaign: the first N patients (default 1: adult#001)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="attack campaign: seeds 1..N (default 1)")
    parser.add_argument("--strict-vulnerabilities", action="store_true",
                        help="fail when the vulnerability check is partial or not performed")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    return args


def main(argv=None):
    return build(parse_args(argv))


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary_text(data):
    return json.dumps(data, indent=1) + "\n"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_builds(out):
    """The directories of earlier builds into ``out`` that were killed outright (their
    process is gone); a build still running keeps its own."""
    prefix = ".%s.building-" % out.name
    for path in out.parent.glob(prefix + "*"):
        pid = path.name[len(prefix):].split("-")[0]
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _begin(out):
    """A fresh directory beside ``out`` to build into, and ``out``'s summary marked as
    superseded meanwhile, so that a build killed outright leaves no summary saying "no
    problems" behind either."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_builds(out)
    work = pathlib.Path(tempfile.mkdtemp(prefix=".%s.building-%d-" % (out.name, os.getpid()),
                                         dir=out.parent))
    summary = out / "summary.json"
    if summary.is_file():
        try:
            earlier = json.loads(summary.read_text(encoding="utf8"))
        except ValueError:
            earlier = {}
        earlier = earlier if isinstance(earlier, dict) else {}
        earlier.update(state=SUPERSEDED, problems=[
            "a newer build started at %s and has not finished; this directory holds the "
            "build before it, whose problems were: %s" % (
                _now(), "; ".join(earlier.get("problems") or []) or "none")])
        _write(summary, _summary_text(earlier))
    return work


def _replace(out, work):
    """Put the finished (or aborted) build in ``out``'s place; nothing of an earlier build
    survives in it."""
    earlier = None
    if out.exists() or out.is_symlink():
        earlier = out.with_name(".%s.replaced-%d" % (out.name, os.getpid()))
        if earlier.exists():
            shutil.rmtree(earlier)
        os.rename(out, earlier)
    os.rename(work, out)
    if earlier is not None:
        if earlier.is_dir() and not earlier.is_symlink():
            shutil.rmtree(earlier)
        else:
            earlier.unlink()


def _reason(exc):
    """One line for what stopped the build."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, EXPECTED_ERRORS):
        return str(exc) or type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    place = ""
    if frames:
        path = pathlib.Path(frames[-1].filename)
        try:
            path = path.resolve().relative_to(ROOT)
        except ValueError:
            pass
        place = " (at %s:%d)" % (path.as_posix(), frames[-1].lineno)
    return "%s: %s%s" % (type(exc).__name__, exc, place)


def build(args):
    """Build into a fresh directory and put it in ``args.out``'s place at the end; a build
    stopped by an error or an interrupt still replaces it, with a summary that says
    "aborted" and why. Exit status: 0 complete, 1 incomplete or aborted, 130 interrupted."""
    out = pathlib.Path(args.out)
    progress = Progress(STEPS)
    try:
        work = _begin(out)
    except OSError as exc:
        print("evidence: cannot prepare %s: %s" % (out, exc), file=sys.stderr)
        return 1
    try:
        counts, report, problems = _build(args, work, progress)
    except (Exception, KeyboardInterrupt) as exc:
        progress.done()
        problem = "the build was aborted at %s: %s" % (progress.where(), _reason(exc))
        _write(work / "summary.json", _summary_text({
            "state": ABORTED, "step": progress.number, "problems": [problem],
            "seconds": round(progress.elapsed(), 1)}))
        try:
            _replace(out, work)
        except OSError as move:
            print("evidence: the aborted build stays in %s (%s)" % (work, move),
                  file=sys.stderr)
        print("evidence: %s" % problem, file=sys.stderr)
        print("evidence: %s holds what was written before that, and a summary saying "
              "aborted" % out, file=sys.stderr)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    _replace(out, work)
    print_summary(out, counts, report, problems)
    return 1 if problems else 0


def _build(args, out, progress):
    """Every step, writing into ``out``; (counts, vulnerability report, problems)."""
    docs = pathlib.Path(args.docs)
    problems = []

    progress.step("threat model", "pytm")
    model = threat_model.build(out / "threats.json")
    dot_text = model.dot()
    _write(out / "threat-model.dot", dot_text)
    drawn = render_svg(dot_text, docs / "threat-model.svg")
    if drawn:
        shutil.copyfile(docs / "threat-model.svg", out / "threat-model.svg")
    else:
        print("      Graphviz dot not found: diagram left as DOT (make setup installs it)")
    page = documents.threat_model(model, "threat-model.svg")
    _write_if_changed(docs / "threat-model.md", page)
    _write(out / "threat-model.md", page)

    progress.step("controls in the code and the risk register")
    catalogue, catalogue_problems = catalogue_mod.load()
    problems += catalogue_problems
    register = risks.register(model)

    progress.step("tests linked to controls", "pytest -m verifies, HYPOTHESIS_PROFILE=ci")
    linked = runs.run_linked_tests(out / "tests.json")
    links = linked.links

    progress.step("attack-lab campaign", "library, both profiles, %d patient(s), %d seed(s)"
                  % (args.patients, args.seeds))
    results = runs.run_campaign(out / "campaign", args.patients, args.seeds)
    problems += trace.completeness(model, catalogue, register, sdlc.AREAS, links, results,
                                   runs.library_names(), linked)

    progress.step("risk register, traceability matrix and SDLC mapping")
    _write(out / "risk-register.md", documents.risk_register(register, results))
    _write(out / "risk-register.csv", render.csv_text(
        documents.REGISTER_COLUMNS, documents.register_rows(register, results)))
    rows = trace.matrix(register, links, results, catalogue)
    _write(out / "traceability.md", documents.traceability(catalogue, register, sdlc.AREAS,
                                                           links, results, rows))
    _write(out / "traceability.csv", render.csv_text(trace.COLUMNS,
                                                     [r.as_list() for r in rows]))
    _write(out / "traceability.html", documents.traceability_html(
        catalogue, register, sdlc.AREAS, links, results, rows))
    _write(out / "sdlc-controls.md", documents.sdlc_controls(sdlc.AREAS, catalogue, links))
    _write(out / "sdlc-controls.csv", render.csv_text(
        documents.SDLC_COLUMNS, documents.sdlc_rows(sdlc.AREAS, catalogue, links)))

    progress.step("SBOM", "cyclonedx-bom")
    version = plans.pyproject()["project"]["version"]
    bom, sbom_problems = sbom.build(version)
    problems += sbom_problems
    _write(out / "sbom.cdx.json", json.dumps(bom, indent=1, sort_keys=True) + "\n")
    components = sbom.host_components(bom)

    progress.step("dependency vulnerability check", "%d host components" % len(components))
    report = vulnerabilities.check(components)
    problems += report.problems()
    _write(out / "vulnerabilities.md", documents.vulnerability_report(report))
    _write(out / "vulnerabilities.json", json.dumps(report.as_dict(), indent=1) + "\n")
    if args.strict_vulnerabilities and report.status != vulnerabilities.PERFORMED:
        problems.append("vulnerability check %s (--strict-vulnerabilities)" % report.status)

    progress.step("plans")
    counts = summary_counts(register, catalogue, links, results)
    counts["test_functions_declared"] = sum(len(f) for f in linked.declared.values())
    firmware = next(c for c in bom["components"] if c.get("bom-ref") == sbom.FIRMWARE_REF)
    sbom_counts = {"host": len(components), "firmware_digest": firmware["hashes"][0]["content"]}
    _write(out / "cybersecurity-management-plan.md", plans.cybersecurity_management(
        model, register, catalogue, links, results, report, counts))
    _write(out / "software-maintenance-plan.md",
           plans.software_maintenance(sbom_counts, report, counts))
    _write(out / "update-validation-plan.md",
           plans.update_validation(links, results, runs.powercut_lines(linked.output)))
    progress.done()

    counts["state"] = INCOMPLETE if problems else COMPLETE
    counts["vulnerability_check"] = report.status
    counts["problems"] = problems
    counts["seconds"] = round(progress.elapsed(), 1)
    _write(out / "summary.json", _summary_text(counts))
    return counts, report, problems


def summary_counts(register, catalogue, links, results):
    claimed = trace.claimed_controls(register, sdlc.AREAS)
    outcomes = [entry["outcome"] for entry in links.values()]
    return {
        "risks": len(register), "hazards": sum(r.kind == "hazard" for r in register),
        "threats": sum(r.kind == "threat" for r in register),
        "residual_not_acceptable": sum(r.residual == scoring.UNACCEPTABLE for r in register),
        "residual_alarp": sum(r.residual == scoring.ALARP for r in register),
        "controls": len(claimed & set(catalogue)), "controls_in_code": len(catalogue),
        "tests": len(links), "test_functions": len({n.split("[")[0] for n in links}),
        "tests_passed": outcomes.count(trace.PASSED),
        "tests_failed": len(outcomes) - outcomes.count(trace.PASSED),
        "scenario_runs": len(results),
        "scenarios": len({r.get("scenario") for r in results}),
        "scenario_expected": sum(1 for r in results if r.get("matches")),
    }


def print_summary(out, counts, report, problems):
    print()
    print("evidence: %d risks (%d hazards, %d threats; residual %d ALARP, %d not acceptable "
          "with actions), %d controls, %d linked test cases of %d test functions (%d "
          "declared in the source; %d passed, %d not), %d scenario runs of %d scenarios (%d "
          "as expected)" % (
              counts["risks"], counts["hazards"], counts["threats"], counts["residual_alarp"],
              counts["residual_not_acceptable"], counts["controls"], counts["tests"],
              counts["test_functions"], counts.get("test_functions_declared", 0),
              counts["tests_passed"], counts["tests_failed"], counts["scenario_runs"],
              counts["scenarios"], counts["scenario_expected"]))
    line = "vulnerability check: %s" % report.summary()
    if report.status != vulnerabilities.PERFORMED:
        line = "WARNING: " + line
    print(line)
    print("wrote %s in %.0f s" % (out, counts["seconds"]))
    if problems:
        print("\nEVIDENCE INCOMPLETE: %d problem(s)" % len(problems))
        for problem in problems:
            print("  - " + problem)


if __name__ == "__main__":
    sys.exit(main())
