"""`pumpsim run`: the closed-loop simulation, the unmodified firmware against a virtual
patient in virtual time, written to ``--out DIR`` as report.html, metrics.json and
trajectory.csv (one directory per patient and seed when there are several, which run on
local worker processes).
"""

import argparse
import multiprocessing
import os
import sys

from sim.cli import CliError

PROFILES = ("secure",)
MODES = ("fast", "real")


def register(subparsers):
    parser = subparsers.add_parser(
        "run", help="closed-loop simulation of a virtual patient on the pump firmware",
        description="Simulate a virtual patient (UVA/Padova model) on the real firmware and "
                    "secure channel in virtual time; writes report.html, metrics.json and "
                    "trajectory.csv.")
    parser.add_argument("--scenario", metavar="FILE.toml",
                        help="scenario file (docs/scenarios.md); default: one adult, one "
                             "day, three meals")
    parser.add_argument("--patient", help="a patient name (adult#001) or a cohort: adults, "
                                          "adolescents, children, all")
    parser.add_argument("--days", type=_positive_int, help="days to simulate")
    parser.add_argument("--seed", type=_seed, nargs="+", help="one or more seeds")
    parser.add_argument("--controller", choices=("none", "aid"),
                        help="none: the patient boluses; aid: an oref0-style loop on the "
                             "gateway sets temp basals")
    parser.add_argument("--profile", choices=PROFILES, help="security profile")
    parser.add_argument("--mode", choices=MODES, default="fast",
                        help="fast: one process, in-memory link, virtual time")
    parser.add_argument("--out", default="out", metavar="DIR", help="output directory")
    parser.add_argument("--workers", type=_positive_int,
                        help="worker processes for several runs (default: the CPU count)")
    parser.set_defaults(func=main)


def _whole(low, high, what):
    """argparse type: a whole number in low..high, else one line saying what it must be."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError("%r: %s" % (text, what))
        return value
    return parse


_positive_int = _whole(1, 1 << 31, "must be at least 1")
_seed = _whole(0, (1 << 32) - 1, "a seed is 0..4294967295")


def _scenario(args):
    from sim import scenario as S
    try:
        loaded = S.load(args.scenario) if args.scenario else S.default()
    except S.ScenarioError as exc:
        raise CliError(str(exc)) from None
    return loaded


def jobs(args, scenario):
    from sim.patient.cohort import COHORTS, expand
    selection = args.patient or scenario.run.patient
    try:
        patients = expand(selection)
    except (ValueError, TypeError) as exc:
        raise CliError("%s (or a cohort: %s)" % (exc, ", ".join(COHORTS))) from None
    seeds = args.seed or [scenario.run.seed]
    days = args.days or scenario.run.days
    controller = args.controller or scenario.run.controller
    return [(patient, seed, days, controller) for patient in patients for seed in seeds]


def _directory(out, job, several):
    patient, seed = job[0], job[1]
    if not several:
        return out
    return os.path.join(out, "%s-seed%d" % (patient.replace("#", ""), seed))


def simulate(scenario, job, directory, progress=None):
    """One run, written to ``directory``; returns (job, metrics, paths, ended)."""
    from sim.loop import output
    from sim.loop.simulation import Simulation
    patient, seed, days, controller = job
    run = Simulation(scenario, patient, seed=seed, days=days, controller=controller,
                     progress=progress).run()
    paths = output.write(run, directory)
    return job, run["metrics"], paths, run["ended"]


def _worker(task):
    scenario, job, directory = task
    return simulate(scenario, job, directory)


def headline(metrics):
    g = metrics["glucose_true"]
    if not g["samples"]:
        return "no glucose samples"
    return ("time in range %.1f %%, below 70 %.1f %%, below 54 %.1f %%, above 180 %.1f %%, "
            "mean %.0f mg/dL, CV %.1f %%, GMI %.1f %%, insulin %.1f U/day" % (
                g["time_in_range_70_180_pct"], g["time_below_70_pct"],
                g["time_below_54_pct"], g["time_above_180_pct"], g["mean_mg_dl"],
                g["cv_pct"], g["gmi_pct"], metrics["insulin"]["per_day_u"]))


def main(args):
    if args.mode == "real":
        raise CliError("--mode real needs the pump on a real link with the gateway service, "
                       "which this version does not have yet; use --mode fast")
    scenario = _scenario(args)
    if args.profile and args.profile != scenario.run.profile:
        raise CliError("profile %r is not known; known: %s" % (args.profile,
                                                                ", ".join(PROFILES)))
    work = jobs(args, scenario)
    several = len(work) > 1
    tasks = [(scenario, job, _directory(args.out, job, several)) for job in work]
    results = _run_all(tasks, args.workers)
    failed = 0
    for job, metrics, paths, ended in results:
        print("%s seed %d: %s" % (job[0], job[1], headline(metrics)))
        print("  report: %s" % os.path.abspath(paths["report.html"]))
        if ended:
            failed += 1
            print("  run ended early: %s" % ended)
    if several:
        from sim.loop import output
        print("summary of %d runs: %s" % (len(results), os.path.abspath(
            output.write_summary(results, args.out))))
    return 3 if failed else 0


def _run_all(tasks, workers):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    total_days = sum(task[1][2] for task in tasks)
    quiet = not sys.stderr.isatty()
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:.1f}/{task.total:.0f} patient-days"),
               TimeRemainingColumn())
    with Progress(*columns, disable=quiet, transient=True) as bar:
        task_id = bar.add_task("simulating", total=total_days)
        if len(tasks) == 1:
            scenario, job, directory = tasks[0]

            def progress(tick):
                bar.update(task_id, completed=tick / 86400000.0)
            return [simulate(scenario, job, directory, progress)]
        results = []
        count = min(workers or os.cpu_count() or 1, len(tasks))
        context = multiprocessing.get_context("spawn")
        with context.Pool(count) as pool:
            for result in pool.imap(_worker, tasks):
                bar.advance(task_id, result[0][2])
                results.append(result)
        return results
