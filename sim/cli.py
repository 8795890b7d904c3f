"""`pumpsim`: the one console command. Each module in ``sim/commands`` adds subcommands.

A command module defines ``register(subparsers)``; the parser it adds sets ``func`` to a
callable taking the parsed arguments and returning an exit code. Expected failures are
``CliError``: one line on stderr and exit 2, never a traceback.
"""

import argparse
import importlib
import pkgutil
import sys

from sim import commands


class CliError(Exception):
    """A bad file, flag or input: reported as one line, exit status 2."""


def read_file(path, limit=None, what="file"):
    """A file's bytes, or a CliError naming the file and why it could not be read.
    With ``limit``, a larger file is refused as not being the ``what`` expected."""
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except OSError as exc:
        raise CliError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    if limit is not None and len(data) > limit:
        raise CliError("%s is larger than %d bytes: not a %s" % (path, limit, what))
    return data


def positive_seconds(text):
    """argparse type: a number of seconds above zero (``--seconds``, ``--timeout``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("%r: must be a positive number of seconds" % text)
    return value


def host_port(text):
    """argparse type: ``HOST:PORT`` (or ``:PORT``, loopback) with a port in 0..65535 (0: the
    system picks one, printed on the first line); returns (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("%r is not HOST:PORT" % text)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("%r: the port must be 0..65535" % text)
    return (host.strip("[]") or "127.0.0.1", int(port))


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pumpsim", description="Secure insulin-pump firmware simulator and tools.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module("sim.commands." + info.name)
        module.register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except CliError as exc:
        print("pumpsim %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pumpsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run through the imported module, not this __main__ copy: command modules raise
    # sim.cli.CliError, which must be the class main() catches.
    from sim.cli import main as cli_main
    sys.exit(cli_main())
