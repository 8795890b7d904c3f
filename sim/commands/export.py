"""`pumpsim export`: the gateway's store as Nightscout JSON or as CSV for spreadsheets.

    pumpsim export [--db FILE] nightscout --out DIR
    pumpsim export [--db FILE] csv --out DIR

``nightscout`` writes entries.json (sgv readings), treatments.json (boluses, temp basals,
times without delivery, alarms and notes) and devicestatus.json (reservoir, battery,
state, insulin on board): JSON arrays that Nightscout's /api/v1/entries, /treatments and
/devicestatus accept as they are (docs/gateway-store.md). ``csv`` writes one CSV file per
table of the pump's data, times also in ISO 8601 UTC and amounts also in units.

The store is only read (opened read-only; the gateway may go on writing to it). DIR must
be new or empty: the files appear there together when all are written, or not at all.
They are private (0600 in a 0700 folder): they hold health data.

Exit status: 0 written; 2 a bad flag, a store that cannot be read, or a DIR that exists
and is not empty (one line on stderr; nothing written).
"""

import argparse
import os

from sim.cli import CliError
from sim.gateway import export as E
from sim.gateway import store as G


def cmd_export(args):
    try:
        sizes = E.export(args.db, args.format, args.out)
    except E.ExportError as exc:
        raise CliError(str(exc)) from None
    out = os.path.abspath(os.path.expanduser(args.out))
    for name, count in sizes.items():
        print("wrote %s: %d %s" % (os.path.join(out, name), count,
                                   "rows" if name.endswith(".csv") else "objects"))
    return 0


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="write the gateway's store as Nightscout JSON or CSV",
        description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.path.expanduser(G.DEFAULT_PATH), metavar="FILE",
                        help="the gateway's store (default %s)" % G.DEFAULT_PATH)
    formats = parser.add_subparsers(dest="format", metavar="FORMAT")
    formats.required = True
    for name, text in (("nightscout", "entries, treatments and devicestatus JSON for "
                                      "Nightscout's API v1"),
                       ("csv", "one CSV file per table, for spreadsheets")):
        sub = formats.add_parser(name, help=text, description=text)
        sub.add_argument("--out", required=True, metavar="DIR",
                         help="a new or empty folder to write the files into")
        sub.set_defaults(func=cmd_export)
