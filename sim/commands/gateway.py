"""`pumpsim gateway`: connect to a pump as a peer and send protected requests.

Runs an EDHOC handshake with the identity given (any peer role: gateway, clinician,
patient, service), then each request named, and prints the decoded answers:

    pumpsim gateway --port /dev/pts/5 --identity keys/gateway.key \\
        --pump keys/pump.ccs status telemetry

``--port`` takes a serial device, a PTY slave path or a pyserial URL such as
``socket://127.0.0.1:4000`` (a pump started with ``pumpsim serve --listen``).
"""

import os
import sys
import time

from secure_channel import protocol_schema as S
from secure_channel.link import FramedLink
from secure_channel.peer import PeerSession
from sim import keyfiles
from sim.cli import CliError, positive_seconds
from sim.gateway_client import Gateway, GatewayError, tcp_nodelay

REQUESTS = {
    "status": {}, "telemetry": {}, "alarms": {}, "cgm-history": {"count": 3},
    "read-log": {"count": 4},
}


def describe(parsed):
    """One line per answer: its type and fields, or the error."""
    if parsed.is_error:
        return "error %s: %s" % (S.ERROR_NAMES.get(parsed.fields.get("code"), "?"),
                                 parsed.fields.get("reason", ""))
    fields = ", ".join("%s=%s" % (k, _readable(k, parsed.fields[k]))
                       for k in sorted(parsed.fields))
    return "%s: %s" % (parsed.name, fields or "(no fields)")


_STATE_NAMES = dict((code, name) for name, code in S.STATE_CODES.items())
_ALARM_NAMES = dict((code, name) for name, code in S.ALARM_CODES.items())


def _readable(key, value):
    """Wire codes back to the names the pump uses."""
    if key == "state" and value in _STATE_NAMES:
        return _STATE_NAMES[value]
    if key == "alarm" and value in _ALARM_NAMES:
        return _ALARM_NAMES[value]
    return repr(value)


def cmd_gateway(args):
    identity = keyfiles.load_identity(args.identity)
    if identity.kind == keyfiles.PUMP:
        raise CliError("%s is the pump's identity; use a peer's" % args.identity)
    pump_credential = keyfiles.load_credential(args.pump)
    from secure_channel.transport_serial import open_serial
    try:
        transport = tcp_nodelay(open_serial(args.port))
    except Exception as exc:         # pyserial raises SerialException, ValueError, OSError
        raise CliError("cannot open %s: %s" % (args.port, str(exc).splitlines()[0]))
    link = FramedLink(transport)
    try:
        peer = PeerSession(identity.credential, identity.private_key, pump_credential,
                           os.urandom)
        gateway = Gateway(link, peer, timeout_s=args.timeout)
        started = time.monotonic()
        try:
            gateway.client.connect()
            for name in args.requests:
                answer = gateway.client.request(name.replace("-", "_"), REQUESTS[name])
                print(describe(answer))
        except GatewayError as exc:
            raise CliError(str(exc))
        print("%s session: %d request%s in %.0f ms" % (
            identity.kind, len(args.requests), "" if len(args.requests) == 1 else "s",
            (time.monotonic() - started) * 1000), file=sys.stderr)
    finally:
        link.close()
    return 0


def register(subparsers):
    parser = subparsers.add_parser("gateway", help="talk to a pump over a secure session",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial device, PTY or pyserial URL")
    parser.add_argument("--identity", required=True, help="this peer's identity (.key)")
    parser.add_argument("--pump", required=True, help="the pump's credential (.ccs)")
    parser.add_argument("--timeout", type=positive_seconds, default=5.0,
                        help="seconds per answer")
    parser.add_argument("requests", nargs="+", choices=sorted(REQUESTS),
                        help="what to ask, in order")
    parser.set_defaults(func=cmd_gateway)
