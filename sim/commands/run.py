"""`pumpsim run`: the closed-loop simulation, the unmodified firmware against a virtual
patient in virtual time, written to ``--out DIR`` as report.html, metrics.json and
trajectory.csv (one directory per patient and seed when there are several, which run on
local worker processes).
"""

import argparse
import multiprocessing
import os
import signal
import sys

from sim.cli import CliError
from sim.loop.world import SetupRefused

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
    parser.add_argument("--days", type=_days, help="days to simulate (1..3660)")
    parser.add_argument("--seed", type=_seed, nargs="+", help="one or more seeds")
    parser.add_argument("--controller", choices=("none", "aid"),
                        help="none: the patient boluses; aid: an oref0-style loop on the "
                             "gateway sets temp basals")
    parser.add_argument("--profile", choices=PROFILES, help="security profile")
    parser.add_argument("--mode", choices=MODES, default="fast",
                        help="fast: one process, in-memory link, virtual time")
    parser.add_argument("--device", metavar="micropython|micropython-unix|PORT",
                        help="run the firmware on a device in the loop: `micropython` (the "
                             "WebAssembly port, in a child process), `micropython-unix` (the "
                             "unix port) or the serial port of a board running "
                             "tools/board/hil_main.py (docs/hil.md)")
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
_days = _whole(1, 3660, "days are 1..3660")
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
    selection = scenario.run.patient if args.patient is None else args.patient
    try:
        patients = expand(selection)
    except (ValueError, TypeError) as exc:
        raise CliError("%s (or a cohort: %s)" % (exc, ", ".join(COHORTS))) from None
    seeds = []
    for seed in args.seed or [scenario.run.seed]:    # each seed once, in the order given
        if seed not in seeds:
            seeds.append(seed)
    days = args.days or scenario.run.days
    controller = args.controller or scenario.run.controller
    return [(patient, seed, days, controller) for patient in patients for seed in seeds]


def _directory(out, job, several):
    patient, seed = job[0], job[1]
    if not several:
        return out
    return os.path.join(out, "%s-seed%d" % (patient.replace("#", ""), seed))


def simulate(scenario, job, directory, progress=None, device=None):
    """One run, written to ``directory``; returns (job, metrics, paths, ended).
    ``device``: where the firmware runs (``sim.loop.hil.open_device``), else here."""
    from sim.loop import output
    from sim.loop.simulation import Simulation
    patient, seed, days, controller = job
    os.makedirs(directory, exist_ok=True)
    store = os.path.join(directory, "gateway.db")
    for stale in (store, store + "-wal", store + "-shm"):   # a new run, a new home gateway
        if os.path.exists(stale):
            os.remove(stale)
    opened = None
    if device is not None:
        from sim.loop.hil import open_device
        opened = open_device(device)
    try:
        run = Simulation(scenario, patient, seed=seed, days=days, controller=controller,
                         progress=progress, gateway_db=store, device=opened).run()
    finally:
        if opened is not None:
            opened.close()
    paths = output.write(run, directory)
    paths["gateway.db"] = store
    return job, run["metrics"], paths, run["ended"]


def _worker(task):
    scenario, job, directory, device = task
    return simulate(scenario, job, directory, device=device)


def _ignore_interrupts():
    """Workers leave Ctrl-C to the parent, which stops them (no traceback from each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _output_directory(path):
    """Make ``path`` a directory we can write into now, before hours of simulation."""
    if not path:
        raise CliError("--out needs a directory name")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".pumpsim-write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise CliError("cannot write into --out %s: %s" % (path, exc.strerror or exc)) \
            from None


def headline(metrics, ended=None):
    """The run's figures in one line; those of a run that ended early say which hours
    they are of."""
    g = metrics["glucose_true"]
    if not g["samples"]:
        return "no glucose samples"
    line = ("time in range %.1f %%, below 70 %.1f %%, below 54 %.1f %%, above 180 %.1f %%, "
            "mean %.0f mg/dL, CV %.1f %%, GMI %.1f %%, insulin %.1f U/day" % (
                g["time_in_range_70_180_pct"], g["time_below_70_pct"],
                g["time_below_54_pct"], g["time_above_180_pct"], g["mean_mg_dl"],
                g["cv_pct"], g["gmi_pct"], metrics["insulin"]["per_day_u"]))
    if ended:
        line += " (of the first %.1f h only: the run ended early)" % (metrics["days"] * 24)
    return line


def _terminated(signum, frame):
    raise KeyboardInterrupt          # stopped like Ctrl-C: the workers are stopped too


def main(args):
    signal.signal(signal.SIGTERM, _terminated)
    if args.mode == "real":
        raise CliError("--mode real is two processes: `pumpsim device --pty` and "
                       "`pumpsim gateway --port PTY ... monitor` (README, step by step)")
    scenario = _scenario(args)
    profile = args.profile or scenario.run.profile
    if profile not in PROFILES:
        raise CliError("%s: run.profile %r is not known; known: %s" % (
            scenario.source, profile, ", ".join(PROFILES)))
    work = jobs(args, scenario)
    several = len(work) > 1
    _output_directory(args.out)
    if args.device not in (None, "micropython", "micropython-unix") and several:
        raise CliError("--device %s: one board runs one patient and seed at a time (%d runs "
                       "asked); --device micropython runs several" % (args.device, len(work)))
    tasks = [(scenario, job, _directory(args.out, job, several), args.device)
             for job in work]
    from sim.loop.hil import DeviceError
    try:
        results = _run_all(tasks, args.workers)
    except SetupRefused as exc:
        raise CliError("%s: %s" % (scenario.source, exc)) from None
    except DeviceError as exc:
        raise CliError("--device %s: %s" % (args.device, exc)) from None
    except ValueError as exc:
        if args.device is None:
            raise
        raise CliError("--device %s: %s" % (args.device, exc)) from None
    failed = 0
    for job, metrics, paths, ended in results:
        print("%s seed %d: %s" % (job[0], job[1], headline(metrics, ended)))
        print("  report: %s" % os.path.abspath(paths["report.html"]))
        print("  gateway store: %s (pumpsim web --db, pumpsim export --db)"
              % os.path.abspath(paths["gateway.db"]))
        if ended:
            failed += 1
            print("  run ended early: %s" % ended)
    if several:
        from sim.loop import output
        print("summary of %d runs: %s" % (len(results), os.path.abspath(
            output.write_summary(results, args.out))))
    return 3 if failed else 0


class _PlainProgress:
    """Progress for a log or a pipe: a line at every tenth of the work."""

    def __init__(self, total):
        self.total = total
        self.done = 0.0
        self.shown = 0

    def update(self, done):
        self.done = done
        tenth = int(10 * done / self.total)
        if tenth > self.shown:
            self.shown = tenth
            print("simulated %.0f of %d patient-days" % (done, self.total), file=sys.stderr,
                  flush=True)


def _run_all(tasks, workers):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    total_days = sum(task[1][2] for task in tasks)
    terminal = sys.stderr.isatty()
    plain = _PlainProgress(total_days)
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:.1f}/{task.total:.0f} patient-days"),
               TimeRemainingColumn())
    with Progress(*columns, disable=not terminal, transient=True) as bar:
        task_id = bar.add_task("simulating", total=total_days)

        def update(done):
            bar.update(task_id, completed=done)
            if not terminal and total_days >= 10:
                plain.update(done)
        if len(tasks) == 1:
            scenario, job, directory, device = tasks[0]
            return [simulate(scenario, job, directory,
                             lambda tick: update(tick / 86400000.0), device)]
        results = []
        count = min(workers or os.cpu_count() or 1, len(tasks))
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(count, initializer=_ignore_interrupts)
        try:
            for result in pool.imap(_worker, tasks):
                results.append(result)
                update(sum(r[0][2] for r in results))
            pool.close()
        finally:
            pool.terminate()
            pool.join()
        return results
