"""`pumpsim web`: the caregiver's web page over a gateway store, alone.

    pumpsim web --db FILE [--listen HOST:PORT] [--allow-remote] [--totp] [--user NAME]
    pumpsim web --db FILE [--user NAME] passwd [--totp | --no-totp]

The page shows the current glucose (trend arrow, age), the last 24 h of readings as a
plot, the pump's state, insulin on board, reservoir and battery, recent alarms and
security events, read from the store and updated every few seconds. It changes nothing.

It listens on 127.0.0.1:8080 unless --listen says otherwise (port 0: any free one; the
first line printed names the address). An address other machines can reach is refused
unless --allow-remote is given: the page carries health data and a password, and
waitress speaks plain HTTP, so put an HTTPS reverse proxy in front of it.

There is no default password. When the store has no account yet, the command asks for a
password (twice, hidden, on a terminal; one line of stdin otherwise), applies the policy
(docs/gateway-web.md) and creates the account; given nothing, the page shows only how to
set one. --totp adds a TOTP second factor at that point (its otpauth:// URI is printed
once) and refuses to start for an account without one. `passwd` sets a new password
(creating the account if needed) and ends the account's sessions; with --totp it makes a
new second factor, with --no-totp it removes it.

Stops on Ctrl-C or SIGTERM. Exit status: 0 stopped, 2 a bad flag, address, store or
password (one line on stderr), 130 interrupted.
"""

import argparse
import os
import signal
import sys
import threading

from sim.cli import CliError, host_port

DEFAULT_LISTEN = ("127.0.0.1", 8080)


def _url(host, port):
    return "http://%s:%d/" % ("[%s]" % host if ":" in host else host, port)


def _passwd(args, web):
    if args.listen is not None or args.allow_remote:
        raise CliError("passwd: --listen and --allow-remote are for serving the page")
    second_factor = True if args.totp else (False if args.no_totp else None)
    web.set_password(args.db, sys.stdin, sys.stdout, name=args.user,
                     second_factor=second_factor)
    return 0


def _run(args, web):
    if args.no_totp:
        raise CliError("--no-totp goes with passwd (it removes the second factor)")
    host, port = args.listen or DEFAULT_LISTEN
    web.check_address(host, args.allow_remote)
    web.first_start(args.db, sys.stdin, sys.stdout, name=args.user, second_factor=args.totp)
    if args.totp and not web.has_second_factor(args.db, args.user):
        raise CliError("--totp: %s has no second factor; add one with `pumpsim web --db %s "
                       "--user %s passwd --totp`" % (args.user, args.db, args.user))
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _n, _f: stop.set())
    try:
        web.serve(args.db, host, port, stop=stop, allow_remote=args.allow_remote,
                  ready=lambda actual: print("web page on %s" % _url(host, actual),
                                             flush=True))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("stopped", flush=True)
    return 0


def cmd_web(args):
    from sim.gateway.store import StoreError      # here: Flask loads only for this command
    from sim.gateway import web
    if not os.path.isfile(args.db):
        raise CliError("no gateway store at %s (the gateway creates it)" % args.db)
    try:
        return _passwd(args, web) if args.action == "passwd" else _run(args, web)
    except (web.WebError, StoreError) as exc:
        raise CliError(str(exc)) from None


def register(subparsers):
    parser = subparsers.add_parser(
        "web", help="the caregiver's web page over a gateway store",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=["passwd"],
                        help="passwd: set the account's password (and second factor)")
    parser.add_argument("--db", required=True, metavar="FILE", help="the gateway's store")
    parser.add_argument("--listen", type=host_port, metavar="HOST:PORT",
                        help="address to serve on (default 127.0.0.1:8080)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow an address other machines can reach (behind HTTPS)")
    parser.add_argument("--user", default="caregiver", metavar="NAME",
                        help="the account (default caregiver)")
    factor = parser.add_mutually_exclusive_group()
    factor.add_argument("--totp", action="store_true",
                        help="require a TOTP second factor (set one up when creating)")
    factor.add_argument("--no-totp", action="store_true",
                        help="with passwd: remove the second factor")
    parser.set_defaults(func=cmd_web)
