"""`pumpsim capture keys`: let Wireshark / tshark decrypt a capture of the pump's link.

``pumpsim serve --capture run.pcapng --keylog run.keys`` records every CoAP message and
the OSCORE contexts the pump derives (after each handshake and key update; a debugging
aid for the simulator, never for a device). This command turns the key log into
Wireshark's ``oscore_contexts`` table and prints the tshark command that shows the
decrypted inner requests and responses::

    pumpsim capture keys run.keys --out oscore_contexts
    tshark -r run.pcapng -o 'uat:oscore_contexts:"03","2b",...' -O coap,oscore

Both the key log and the table hold master secrets: they are written owner-only (0600).
"""

import os
import shlex

from sim import capture
from sim.cli import CliError


def cmd_keys(args):
    try:
        contexts = capture.read_keylog(args.keylog)
    except OSError as exc:
        raise CliError("cannot read %s: %s" % (args.keylog, exc.strerror or exc))
    except ValueError as exc:
        raise CliError("%s: %s" % (args.keylog, exc))
    if not contexts:
        raise CliError("%s holds no OSCORE context (no session was established)"
                       % args.keylog)
    if os.path.lexists(args.out) and not args.force:
        raise CliError("%s exists; use --force to overwrite" % args.out)
    try:
        capture.write_oscore_contexts(args.out, contexts)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (args.out, exc.strerror or exc))
    except ValueError as exc:
        raise CliError(str(exc))
    print("wrote %s: %d OSCORE context%s (Wireshark's oscore_contexts table, mode 0600)"
          % (args.out, len(contexts), "" if len(contexts) == 1 else "s"))
    command = ["tshark", "-r", args.pcap or "CAPTURE.pcapng"] + \
        capture.tshark_args(args.out) + ["-O", "coap,oscore"]
    print("decrypt with: %s" % shlex.join(command))
    print("or copy %s into your Wireshark profile as oscore_contexts" % args.out)
    return 0


def register(subparsers):
    parser = subparsers.add_parser("capture", help="decrypt captures of the pump's link",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="capture_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("keys", help="a key log (serve --keylog) as Wireshark's OSCORE "
                                    "contexts table")
    p.add_argument("keylog", help="the key log written by pumpsim serve --keylog")
    p.add_argument("--out", default="oscore_contexts",
                   help="table to write (default %(default)s)")
    p.add_argument("--pcap", help="the capture, to print the full tshark command")
    p.add_argument("--force", action="store_true", help="overwrite an existing table")
    p.set_defaults(func=cmd_keys)
