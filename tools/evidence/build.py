"""Build the regulatory evidence into out/evidence/ and fail, naming what is missing,
when it would be incomplete.

    python -m tools.evidence [--out DIR] [--docs DIR] [--patients N] [--seeds N]
                             [--strict-vulnerabilities]

Steps: the threat model (pytm) and its diagram; the control catalogue and the risk
register; the tests linked to controls (pytest -m verifies); a short attack-lab campaign
(the library in both profiles); the traceability matrix and its checks; the SBOM
(cyclonedx-bom); the dependency vulnerability check; the plans. Exit status 0 when the
evidence is complete, 1 when a check failed (each problem is printed), 2 for a bad flag.
A vulnerability check that could not be performed is printed loudly and written into the
reports; ``--strict-vulnerabilities`` makes it a failure too.
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:            # run as tools/evidence/build.py
    sys.path.insert(0, str(ROOT))

from tools.evidence import (catalogue as catalogue_mod, documents, plans, render,  # noqa: E402
                            risks, runs, sbom, scoring, sdlc, threat_model, trace,
                            vulnerabilities)


class Progress:
    """Numbered steps with their time on the console."""

    def __init__(self, total):
        self.total = total
        self.number = 0
        self.started = time.monotonic()
        self._step = None

    def step(self, text):
        self.done()
        self.number += 1
        self._step = time.monotonic()
        print("[%d/%d] %s" % (self.number, self.total, text), flush=True)

    def done(self):
        if self._step is not None:
            print("      %.1f s" % (time.monotonic() - self._step), flush=True)
            self._step = None

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
    args = parse_args(argv)
    try:
        return build(args)
    except (runs.RunError, sbom.SbomError, OSError, RuntimeError) as exc:
        print("evidence: %s" % exc, file=sys.stderr)
        return 1


def build(args):
    out = pathlib.Path(args.out)
    docs = pathlib.Path(args.docs)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(8)
    problems = []

    progress.step("threat model (pytm)")
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
    _write(out / "risk-register.md", documents.risk_register(register))
    _write(out / "risk-register.csv", render.csv_text(documents.REGISTER_COLUMNS,
                                                      documents.register_rows(register)))

    progress.step("tests linked to controls (pytest -m verifies, HYPOTHESIS_PROFILE=ci)")
    links, _status, output = runs.run_linked_tests(out / "tests.json")

    progress.step("attack-lab campaign (library, both profiles, %d patient(s), %d seed(s))"
                  % (args.patients, args.seeds))
    results = runs.run_campaign(out / "campaign", args.patients, args.seeds)
    problems += trace.completeness(model, catalogue, register, sdlc.AREAS, links, results,
                                   runs.library_names())

    progress.step("traceability matrix and SDLC mapping")
    rows = trace.matrix(register, links, results)
    _write(out / "traceability.md", documents.traceability(catalogue, register, sdlc.AREAS,
                                                           links, results, rows))
    _write(out / "traceability.csv", render.csv_text(trace.COLUMNS,
                                                     [r.as_list() for r in rows]))
    _write(out / "traceability.html", render.html_page(
        "Traceability matrix", [documents.GENERATED, "Risk -> control -> verifying test or "
                                "attack-lab scenario -> latest result."],
        trace.COLUMNS, [r.as_list() for r in rows], result_column=4))
    _write(out / "sdlc-controls.md", documents.sdlc_controls(sdlc.AREAS, catalogue, links))
    _write(out / "sdlc-controls.csv", render.csv_text(
        documents.SDLC_COLUMNS, documents.sdlc_rows(sdlc.AREAS, catalogue, links)))

    progress.step("SBOM (cyclonedx-bom)")
    version = plans.pyproject()["project"]["version"]
    bom, sbom_problems = sbom.build(version)
    problems += sbom_problems
    _write(out / "sbom.cdx.json", json.dumps(bom, indent=1, sort_keys=True) + "\n")
    components = sbom.host_components(bom)

    progress.step("dependency vulnerability check (%d host components)" % len(components))
    report = vulnerabilities.check(components)
    problems += report.problems()
    _write(out / "vulnerabilities.md", documents.vulnerability_report(report))
    _write(out / "vulnerabilities.json", json.dumps(report.as_dict(), indent=1) + "\n")
    if args.strict_vulnerabilities and report.status != vulnerabilities.PERFORMED:
        problems.append("vulnerability check %s (--strict-vulnerabilities)" % report.status)

    progress.step("plans")
    counts = summary_counts(register, catalogue, links, results)
    sbom_counts = {"host": len(components), "firmware_digest": bom["components"][0]
                   ["hashes"][0]["content"]}
    _write(out / "cybersecurity-management-plan.md", plans.cybersecurity_management(
        model, register, catalogue, links, results, report, counts))
    _write(out / "software-maintenance-plan.md",
           plans.software_maintenance(sbom_counts, report, counts))
    _write(out / "update-validation-plan.md",
           plans.update_validation(links, results, runs.powercut_lines(output)))
    progress.done()

    counts["vulnerability_check"] = report.status
    counts["problems"] = problems
    counts["seconds"] = round(progress.elapsed(), 1)
    _write(out / "summary.json", json.dumps(counts, indent=1) + "\n")
    print_summary(out, counts, report, problems)
    return 1 if problems else 0


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
          "with actions), %d controls, %d linked test cases of %d test functions (%d passed, "
          "%d not), %d scenario runs of %d scenarios (%d as expected)" % (
              counts["risks"], counts["hazards"], counts["threats"], counts["residual_alarp"],
              counts["residual_not_acceptable"], counts["controls"], counts["tests"],
              counts["test_functions"], counts["tests_passed"], counts["tests_failed"],
              counts["scenario_runs"], counts["scenarios"], counts["scenario_expected"]))
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
