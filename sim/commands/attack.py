"""`pumpsim attack`: scripted attacks on the simulated pump, with the patient's outcome.

    pumpsim attack list
    pumpsim attack run NAME|FILE.toml... [--profile secure|both|legacy] [--out DIR]
    pumpsim attack campaign [--scenario NAME|FILE]... [--patients 3] [--seeds 2]
                            [--workers N | --scheduler tcp://HOST:PORT] --out DIR
    pumpsim attack replay CAPTURE.pcapng [--profile ...] [--at HH:MM] [--out DIR]

Each run plays the scenario's timeline on a simulated day (the unmodified firmware, a
virtual patient, the gateway) and the same day without the attack, and prints a verdict
(blocked or succeeded) against the scenario's expectation, the patient outcome and the
controls that stopped it (docs/attack-lab.md). ``--out DIR`` writes results.json,
results.csv and report.html. The profile is secure unless ``--profile both`` or ``legacy``:
the legacy profile is deliberately insecure, for teaching, and says so when it runs.

Exit status: 0 every verdict as expected (for a replay: the secure pump's); 1 a verdict
not as expected, or a job that failed; 2 a bad flag or file (one line on stderr); 130
interrupted.
"""

import argparse
import os
import signal
import sys

from sim.cli import CliError

PROFILE_CHOICES = ("secure", "both", "legacy")
COAP_PORT = 5683


def _profiles(choice):
    return ("legacy", "secure") if choice == "both" else (choice,)


def _warn_legacy(profiles):
    if "legacy" in profiles:
        from sim.attack.legacy import BANNER
        from rich.console import Console
        Console(stderr=True).print("[bold red]*** %s ***[/]" % BANNER, soft_wrap=True)


def _scenario(name):
    """A built-in by name or a file; a file may not take a built-in's name (its results
    would read as the built-in's)."""
    from sim.attack import scenario as S
    try:
        scenario = S.find(name)
    except S.ScenarioError as exc:
        raise CliError(str(exc)) from None
    builtin = os.path.join(S.LIBRARY, scenario.name + ".toml")
    if os.path.exists(builtin) and \
            os.path.realpath(scenario.source) != os.path.realpath(builtin):
        raise CliError("%s: name %r is a built-in scenario's; give yours another name"
                       % (scenario.source, scenario.name))
    return scenario


def _patient(name):
    from sim.patient.cohort import names
    if name not in names():
        raise CliError("unknown patient %r; the cohort: adolescent#001..010, "
                       "adult#001..010, child#001..010" % name)
    return name


def _finish(results, out, title, judged=("legacy", "secure")):
    """Print the table; write the files; the exit status (from the runs of the
    ``judged`` profiles)."""
    from rich.console import Console
    from sim.attack import report, tables
    Console(width=None if sys.stdout.isatty() else 200).print(
        tables.summary_table(results, title=title))
    if out:
        try:
            os.makedirs(out, exist_ok=True)
            tables.write_json(results, os.path.join(out, "results.json"))
            tables.write_csv(results, os.path.join(out, "results.csv"))
            report.write_report(results, os.path.join(out, "report.html"), title=title)
        except OSError as exc:
            raise CliError("cannot write to %s: %s" % (out, exc.strerror or exc)) from None
        print("wrote %s (report.html, results.json, results.csv)" % os.path.abspath(out))
    failed = [r for r in results if "error" in r]
    wrong = [r for r in results if "error" not in r and not r["matches"]
             and r["profile"] in judged]
    for r in results:
        if "error" not in r and r["ended"]:
            print("ENDED EARLY: %s in the %s profile (%s, seed %d): %s" % (
                r["scenario"], r["profile"], r["patient"], r["seed"], r["ended"]),
                file=sys.stderr)
    for r in wrong:
        print("NOT AS EXPECTED: %s in the %s profile (%s, seed %d): %s, expected %s"
              % (r["scenario"], r["profile"], r["patient"], r["seed"], r["verdict"],
                 r["expected"]), file=sys.stderr)
    for r in failed:
        print("FAILED: %s: %s" % (r["job"], r["error"]), file=sys.stderr)
    judged_runs = [r for r in results if "error" in r or r["profile"] in judged]
    print("%d runs%s: %d as expected, %d not, %d failed; unsafe outcomes: legacy %d, "
          "secure %d" % (len(results), "" if len(judged_runs) == len(results) else
                         " (%d judged)" % len(judged_runs),
                         len(judged_runs) - len(wrong) - len(failed), len(wrong),
                         len(failed),
                         sum(1 for r in results if r.get("unsafe") and r["profile"] == "legacy"),
                         sum(1 for r in results if r.get("unsafe") and r["profile"] == "secure")))
    return 1 if wrong or failed else 0


def cmd_list(args):
    from rich.console import Console
    from rich.table import Table
    from sim.attack import scenario as S
    table = Table(title="Built-in attack scenarios (%s)" % S.LIBRARY)
    for column in ("name", "title", "reference", "legacy", "secure"):
        table.add_column(column, overflow="fold")
    for scenario in S.library():
        table.add_row(scenario.name, scenario.title, scenario.reference,
                      scenario.expect["legacy"], scenario.expect["secure"])
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def cmd_run(args):
    from sim.attack import runner
    from sim.attack import campaign
    for name in args.scenarios:
        _scenario(name)
    patient = _patient(args.patient)
    profiles = _profiles(args.profile)
    _warn_legacy(profiles)
    jobs = [dict(job, patient=patient, seed=args.seed)
            for job in runner.campaign_jobs(args.scenarios, 1, 1, profiles)]
    results = campaign.run_jobs(runner.run_job, jobs, workers=1)   # a fault: a row
    return _finish(results, args.out, "Attack runs")


def cmd_campaign(args):
    from rich.progress import Progress
    from sim.attack import campaign, runner
    if args.scenario:
        for name in args.scenario:
            _scenario(name)
    names = args.scenario or None
    try:
        jobs = runner.campaign_jobs(names, args.patients, args.seeds,
                                    _profiles(args.profile))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _warn_legacy(_profiles(args.profile))
    where = args.scheduler or "%d local workers" % (args.workers or os.cpu_count() or 1)
    signal.signal(signal.SIGTERM, _interrupted)     # stopped like Ctrl-C: workers too
    with Progress(transient=True, disable=not sys.stdout.isatty()) as bar:
        task = bar.add_task("%d runs on %s" % (len(jobs), where), total=len(jobs))
        try:
            results = campaign.run_jobs(runner.run_job, jobs, workers=args.workers,
                                        scheduler=args.scheduler,
                                        progress=lambda done, total: bar.update(
                                            task, completed=done))
        except campaign.CampaignError as exc:
            raise CliError(str(exc)) from None
    print("%d runs on %s" % (len(jobs), where))
    return _finish(results, args.out, "Attack campaign: %d runs" % len(jobs))


def cmd_replay(args):
    from sim import pcapng
    from sim.attack import runner
    try:
        capture = pcapng.read_capture(args.capture)
    except pcapng.CaptureError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError("cannot read %s: %s" % (args.capture, exc.strerror or exc)) from None
    to_pump = [packet for packet in capture.packets if packet.destination[1] == COAP_PORT]
    if not to_pump:
        raise CliError("%s holds no message to a pump (UDP to port %d)"
                       % (args.capture, COAP_PORT))
    first = next((p.time_us for p in to_pump if p.time_us is not None), 0)
    frames = [(((p.time_us or first) - first) // 1000, p.payload) for p in to_pump]
    patient = _patient(args.patient)
    profiles = _profiles(args.profile)
    _warn_legacy(profiles)
    print("%s: %d messages to the pump over %.1f min, sent again from %02d:%02d with "
          "their recorded spacing" % (args.capture, len(frames), frames[-1][0] / 60000.0,
                                      args.at // 60, args.at % 60))
    results = [runner.replay_frames(frames, profile, patient, args.seed, args.at,
                                    os.path.basename(args.capture))
               for profile in profiles]
    # a legacy pump may well run a capture again: only the secure pump's verdict counts
    return _finish(results, args.out, "Replay of %s" % os.path.basename(args.capture),
                   judged=("secure",))


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _clock(text):
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and int(hours) < 24
            and int(minutes) < 60):
        raise argparse.ArgumentTypeError("%r is not a time of day HH:MM" % text)
    return int(hours) * 60 + int(minutes)


def _count(low, high):
    def convert(text):
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError("%r: expected %d..%d" % (text, low, high))
        return int(text)
    return convert


def register(subparsers):
    parser = subparsers.add_parser(
        "attack", help="scripted attacks on the simulated pump, legacy vs secure",
        description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="attack_command", metavar="SUBCOMMAND")
    commands.required = True
    commands.add_parser("list", help="the built-in scenarios").set_defaults(func=cmd_list)
    from sim.attack import relay
    relay.register(commands)

    def common(sub):
        sub.add_argument("--profile", choices=PROFILE_CHOICES, default="secure",
                         help="security profile: secure (the default), both side by side, "
                              "or legacy, the deliberately insecure teaching profile")
        sub.add_argument("--out", metavar="DIR",
                         help="write results.json, results.csv and report.html here")

    run = commands.add_parser("run", help="run attack scenarios (names or TOML files)")
    run.add_argument("scenarios", nargs="+", metavar="NAME|FILE.toml")
    run.add_argument("--patient", default="adult#001", help="default adult#001")
    run.add_argument("--seed", type=_count(0, 2 ** 32 - 1), default=1, help="default 1")
    common(run)
    run.set_defaults(func=cmd_run)

    camp = commands.add_parser("campaign", help="scenarios x profiles x patients x seeds")
    camp.add_argument("--scenario", action="append", metavar="NAME|FILE.toml",
                      help="a scenario (repeatable; default: the whole library)")
    camp.add_argument("--patients", type=_count(1, 3), default=3,
                      help="the first N of adult#001, adolescent#001, child#001 (default 3)")
    camp.add_argument("--seeds", type=_count(1, 100), default=2, help="seeds 1..N (default 2)")
    place = camp.add_mutually_exclusive_group()
    place.add_argument("--workers", type=_count(1, 512), help="local worker processes "
                       "(default: one per CPU)")
    place.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on this Dask cluster instead")
    common(camp)
    camp.set_defaults(func=cmd_campaign)

    replay = commands.add_parser("replay", help="send a capture's messages to the pump again")
    replay.add_argument("capture", metavar="CAPTURE.pcapng")
    replay.add_argument("--at", type=_clock, default=12 * 60, metavar="HH:MM",
                        help="time of the simulated day to send them (default 12:00)")
    replay.add_argument("--patient", default="adult#001", help="default adult#001")
    replay.add_argument("--seed", type=_count(0, 2 ** 32 - 1), default=1, help="default 1")
    common(replay)
    replay.set_defaults(func=cmd_replay)
