"""`pumpsim proxy`: the gateway as the pump's CoAP forward proxy on the home network.

Any CoAP client (aiocoap-client, a clinician's app) reaches the pump behind the gateway,
with its own EDHOC + OSCORE session end to end; the gateway keeps its own session beside
it and holds no key of the relayed ones::

    pumpsim proxy --listen 127.0.0.1:5684 --port /dev/pts/5 \\
        --identity keys/gateway.key --pump keys/pump.ccs
    aiocoap-client --proxy coap://127.0.0.1:5684 --credentials creds.diag \\
        coap://pump/status

``--port`` (serial, PTY, pyserial URL) or ``--udp HOST:PORT`` is the link to the pump;
``--pump-host`` the name clients use for it (Uri-Host, default ``pump``).
"""

import os
import signal

from secure_channel.link.framed import FramedLink
from secure_channel.sessions.peer import PeerSession
from sim import keyfiles
from sim.cli import CliError, host_port, positive_seconds
from sim.coap_proxy import ForwardProxy
from sim.gateway_client import Gateway, tcp_nodelay


def _link(args):
    if args.udp:
        from sim.coap_udp import UdpLink
        return UdpLink(args.udp)
    from sim.transport_serial import open_serial
    try:
        return FramedLink(tcp_nodelay(open_serial(args.port)))
    except Exception as exc:         # pyserial raises SerialException, ValueError, OSError
        raise CliError("cannot open %s: %s" % (args.port, str(exc).splitlines()[0]))


def cmd_proxy(args):
    identity = keyfiles.load_identity(args.identity)
    if identity.kind == keyfiles.PUMP:
        raise CliError("%s is the pump's identity; use the gateway's" % args.identity)
    pump = keyfiles.load_credential(args.pump)
    link = _link(args)
    gateway = Gateway(link, PeerSession(identity.credential, identity.private_key, pump,
                                        os.urandom))
    try:
        proxy = ForwardProxy(gateway, args.listen, args.pump_host)
    except OSError as exc:
        link.close()
        raise CliError("cannot listen on %s:%d: %s" % (args.listen + (exc.strerror or exc,)))
    stopping = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append("terminated"))
    previous_int = signal.signal(signal.SIGINT, lambda *_: stopping.append("interrupted"))
    try:
        print("proxy for coap://%s on coap://%s:%d" % ((args.pump_host,) + proxy.address),
              flush=True)
        proxy.serve(lambda: bool(stopping), args.seconds)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        proxy.close()
        link.close()
    counts = proxy.counts
    print("stopped: forwarded %d, answered %d, refused %d, unroutable %d"
          % (counts["forwarded"], counts["answered"], counts["refused"], gateway.unroutable))
    return 130 if "interrupted" in stopping else 0


def register(subparsers):
    parser = subparsers.add_parser("proxy", help="forward CoAP clients to the pump "
                                                 "(end-to-end OSCORE through the gateway)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=host_port, default=("127.0.0.1", 5684),
                        metavar="HOST:PORT", help="UDP address for clients "
                                                  "(default 127.0.0.1:5684)")
    to = parser.add_mutually_exclusive_group(required=True)
    to.add_argument("--port", help="link to the pump: serial device, PTY or pyserial URL")
    to.add_argument("--udp", type=host_port, metavar="HOST:PORT",
                    help="link to the pump: CoAP over UDP")
    parser.add_argument("--identity", required=True, help="the gateway's identity (.key)")
    parser.add_argument("--pump", required=True, help="the pump's credential (.ccs)")
    parser.add_argument("--pump-host", default="pump",
                        help="the name clients give the pump (Uri-Host, default pump)")
    parser.add_argument("--seconds", type=positive_seconds, help="stop after this long")
    parser.set_defaults(func=cmd_proxy)
