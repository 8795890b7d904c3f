"""`pumpsim device`: the simulated device (pump firmware, virtual patient, CGM) serving a
gateway in another process, on a PTY, a serial port, TCP or CoAP over UDP.

    pumpsim device --identity keys/pump.key --trust keys/pump.trust --pty
    pumpsim device ... --pty --speed 60          # an hour a minute

The patient lives the scenario (``--scenario``, ``--patient``, ``--seed``; docs/scenarios.md)
in virtual time moved along with the host's clock, ``--speed`` times faster. At speed 1
the run starts at the last midnight (UTC) and the day so far is simulated at once, so the
pump's clock agrees with the host's. The sensor feeds the pump through its own driver; a
gateway (``pumpsim gateway --port PTY ... monitor``) reads the pump over the secure
channel. Stops at ``--seconds``, ``--idle-exit``, SIGTERM, Ctrl-C or the run's end, and
prints what the pump did, from its verified audit log.
"""

import argparse

from sim.cli import CliError
from sim.commands.run import _days, _scenario, _seed
from sim.commands.serve import add_transport_arguments, load_pump_keys, serve_node

DEFAULT_DAYS = 30


def _speed(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not 1 <= value <= 100000:
        raise argparse.ArgumentTypeError("%r: the speed is 1 (real time) .. 100000" % text)
    return value


def cmd_device(args):
    from sim.loop.device import DeviceNode
    from sim.patient.cohort import expand
    scenario = _scenario(args)
    patient = args.patient or scenario.run.patient
    try:
        names = expand(patient)
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc)) from None
    if len(names) != 1:
        raise CliError("a device has one patient; %r is a cohort" % patient)
    if scenario.updates:
        raise CliError("%s: [[updates]] are delivered by the simulator's own gateway "
                       "(pumpsim run); this device has no bootloader flash" % scenario.source)
    if scenario.run.controller != "none":
        raise CliError("%s: the AID controller runs on the gateway, not on the device"
                       % scenario.source)
    identity, trust_list = load_pump_keys(args)
    seed = scenario.run.seed if args.seed is None else args.seed
    days = args.days or DEFAULT_DAYS

    def make_node():
        return DeviceNode(scenario, names[0], seed, days,
                          (identity.private_key, identity.credential), trust_list,
                          speed=args.speed)
    return serve_node(args, make_node, "device (%s, seed %d, speed %g)"
                      % (names[0], seed, args.speed), speed=args.speed)


def register(subparsers):
    parser = subparsers.add_parser(
        "device", help="the simulated pump and patient, serving a gateway",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_transport_arguments(parser)
    parser.add_argument("--scenario", metavar="FILE.toml", help="scenario file")
    parser.add_argument("--patient", help="one patient name (default adult#001)")
    parser.add_argument("--seed", type=_seed, help="the run's seed")
    parser.add_argument("--days", type=_days,
                        help="days the patient lives (default %d)" % DEFAULT_DAYS)
    parser.add_argument("--speed", type=_speed, default=1.0,
                        help="virtual time per host time (default 1: real time)")
    parser.set_defaults(func=cmd_device)
