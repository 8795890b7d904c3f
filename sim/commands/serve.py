"""`pumpsim serve`: run a pump with its secure channel on a PTY, a serial port or TCP.

The pump (unmodified firmware on simulated hardware, in real time) answers EDHOC
handshakes and protected requests from any peer in its trust list. One of:

    --pty                 create a PTY pair, print the path a peer opens (two processes)
    --port PATH_OR_URL    a serial device, a PTY slave, or any pyserial URL
    --listen HOST:PORT    accept a TCP connection (peers use pyserial's socket://HOST:PORT)
    --udp HOST:PORT       CoAP over UDP (RFC 7252): any CoAP stack, e.g. aiocoap-client

``--capture FILE.pcapng`` records every CoAP message in and out, for Wireshark / tshark;
``--keylog FILE`` writes the OSCORE contexts of the run (owner-only) for ``pumpsim capture
keys``, so tshark can show the decrypted requests: a simulator debugging aid.

The first line on stdout says where it serves; on exit (``--seconds``, ``--idle-exit``,
SIGTERM or Ctrl-C) it prints what it did, from its counters and its verified audit log.
"""

import signal
import sys

from pump import audit_log
from sim import keyfiles
from sim.cli import CliError, host_port, positive_seconds
from sim.pump_server import PumpNode, TcpServerTransport, UdpEndpoint, serve


def _open_transport(args):
    if args.pty:
        from sim.transport_pty import open_pty
        transport, path = open_pty()
        return transport, "PTY %s" % path
    if args.port:
        from sim.transport_serial import open_serial
        try:
            return open_serial(args.port), args.port
        except Exception as exc:       # pyserial raises SerialException, ValueError, OSError
            raise CliError("cannot open %s: %s" % (args.port, str(exc).splitlines()[0]))
    if args.udp:
        host, port = args.udp
        try:
            endpoint = UdpEndpoint(host, port)
        except (ValueError, OSError) as exc:
            raise CliError("cannot bind UDP %s:%d: %s" % (host, port,
                                                          getattr(exc, "strerror", None) or exc))
        return endpoint, "coap://%s:%d (UDP)" % endpoint.address
    host, port = args.listen
    try:
        transport = TcpServerTransport(host, port)
    except (ValueError, OSError) as exc:        # unknown host, port in use, no permission
        raise CliError("cannot listen on %s:%d: %s" % (host, port,
                                                        getattr(exc, "strerror", None) or exc))
    return transport, "%s:%d" % transport.address


def summary(node):
    """Lines describing what the pump's channel did."""
    manager = node.manager
    stats = manager.stats
    lines = ["sessions established %d, requests %d, key updates %d, handshakes started %d"
             % (stats["established"], stats["requests"], stats["key_updates"],
                stats["handshakes"])]
    counts = manager.counts
    if counts:
        lines.append("channel refused: " + ", ".join("%s=%d" % (name, counts[name])
                                                      for name in sorted(counts)))
    else:
        lines.append("channel refused: none")
    try:
        records = audit_log.verify(node.flash, node.log_key, node.pump.log_head())
        refusals = sum(1 for r in records if r.type == audit_log.EV_REFUSAL)
        lines.append("audit log verified: %d records, %d refusals (channel and commands)"
                     % (len(records), refusals))
    except audit_log.LogIntegrityError as exc:
        lines.append("audit log FAILED verification: %s" % exc)
    else:
        counts = {}
        for record in records:
            counts[record.type] = counts.get(record.type, 0) + 1
        lines.append("audit log head seq %d: %d reservations, %d alarm and warning events"
                     % (node.pump.log_head()[0], counts.get(audit_log.EV_RESERVE, 0),
                        sum(counts.get(t, 0) for t in (audit_log.EV_ALARM,
                                                       audit_log.EV_WARNING,
                                                       audit_log.EV_SAFE_STOP))))
    lines.append("therapy: %s, %d pulses delivered" % (node.pump.state,
                                                       node.hw.motor.pulses))
    return lines


def load_pump_keys(args):
    """The pump's identity and trust list from ``--identity`` and ``--trust``."""
    identity = keyfiles.load_identity(args.identity)
    if identity.kind != keyfiles.PUMP:
        raise CliError("%s is a %s identity, not the pump's" % (args.identity, identity.kind))
    trust_list = keyfiles.load_trust(args.trust)
    if trust_list.by_kid(identity.credential.kid) is not None:
        raise CliError("the pump's own kid is in %s" % args.trust)
    return identity, trust_list


def cmd_serve(args):
    identity, trust_list = load_pump_keys(args)
    return serve_node(args, lambda: PumpNode(identity.private_key, identity.credential,
                                             trust_list), "pump")


def serve_node(args, make_node, what, speed=1.0):
    """Open the transport, build the node, serve it until stopped; print the summary."""
    transport, where = _open_transport(args)
    capture = None
    if args.capture:
        from sim.capture import Capture
        try:
            capture = Capture(args.capture, where)
        except OSError as exc:
            transport.close()
            raise CliError("cannot write %s: %s" % (args.capture, exc.strerror or exc))
    keylog = None
    if args.keylog:
        from sim.capture import KeyLog
        try:
            keylog = KeyLog(args.keylog)
        except OSError as exc:
            transport.close()
            raise CliError("cannot write %s: %s" % (args.keylog, exc.strerror or exc))
    stopping = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append("terminated"))
    # Ctrl-C stops the loop like SIGTERM (a KeyboardInterrupt could land anywhere), and
    # exits 130 after the summary, as `gateway` does
    previous_int = signal.signal(signal.SIGINT, lambda *_: stopping.append("interrupted"))
    try:
        node = make_node()
        if capture is not None:
            node.manager.tap = capture.record
        if keylog is not None:
            node.manager.keylog = keylog
        print("%s serving on %s" % (what, where), flush=True)
        why = serve(node, transport, args.seconds, args.idle_exit,
                    lambda: bool(stopping) or bool(getattr(node, "ended", None)), speed=speed)
        if "interrupted" in stopping:
            why = "interrupted"
        elif getattr(node, "ended", None):
            why = node.ended
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        transport.close()
        if capture is not None:
            capture.close()
        if keylog is not None:
            keylog.close()
    print("stopped (%s)" % why)
    if capture is not None:
        print("capture written to %s (%d messages)" % (args.capture, capture.count))
    for line in summary(node):
        print(line)
    sys.stdout.flush()
    return 130 if why == "interrupted" else 0


def add_transport_arguments(parser):
    """--identity, --trust, where to serve, capture, key log, how long."""
    parser.add_argument("--identity", required=True, help="the pump's identity (.key)")
    parser.add_argument("--trust", required=True, help="the pump's trust list")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new PTY pair")
    where.add_argument("--port", help="serial device, PTY slave or pyserial URL")
    where.add_argument("--listen", type=host_port, metavar="HOST:PORT",
                       help="HOST:PORT to accept one TCP peer at a time")
    where.add_argument("--udp", type=host_port, metavar="HOST:PORT",
                       help="HOST:PORT for CoAP over UDP (e.g. 127.0.0.1:5683)")
    parser.add_argument("--capture", metavar="FILE.pcapng",
                        help="record every CoAP message for Wireshark/tshark")
    parser.add_argument("--keylog", metavar="FILE",
                        help="write the OSCORE contexts of this run (owner-only) for "
                             "pumpsim capture keys")
    parser.add_argument("--seconds", type=positive_seconds,
                        help="stop after this many seconds")
    parser.add_argument("--idle-exit", type=positive_seconds,
                        help="stop after this many seconds without input")


def register(subparsers):
    parser = subparsers.add_parser("serve", help="run a pump that answers secure sessions",
                                   description=__doc__.splitlines()[0])
    add_transport_arguments(parser)
    parser.set_defaults(func=cmd_serve)
