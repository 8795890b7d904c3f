"""Session benchmarks: the bytes on the wire of the 5-minute telemetry message (one CGM
reading and the pump's status: a CoAP response protected by OSCORE, framed), and protected round trips per
second between two processes over a PTY pair, against the same exchange in one process.

Sizes are measured on the real stack (PeerSession -> framing -> SessionManager ->
dispatcher -> back), not estimated. Run: ``.venv/bin/python tools/bench/run.py session``.
"""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile

from common import best_time, report

from secure_channel.link import framing
from secure_channel.protocol import requester, resources
from secure_channel.coap import message as M, numbers as N, protect
from secure_channel.link.framed import FramedLink
from secure_channel.sessions.peer import PeerSession
from secure_channel.link.memory import memory_pair
from sim.transport_serial import open_serial
from sim import keyfiles
from sim.gateway_client import Gateway
from sim.pump_server import PumpNode

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]


def _identities(directory):
    made = {}
    for kind, kid in (("pump", b"\x01"), ("gateway", b"\x02")):
        identity = keyfiles.generate(kind, kid)
        made[kind] = identity
        keyfiles.write_private(os.path.join(directory, kind + ".key"),
                               keyfiles.encode_identity(identity))
    from secure_channel.sessions import trust
    trust_list = trust.TrustList([("gateway", made["gateway"].credential)])
    with open(os.path.join(directory, "trust.cbor"), "wb") as f:
        f.write(trust_list.encode())
    return made, trust_list


def _handshake(node, peer):
    out = node.manager.receive(peer.connect(), node.now())
    out = node.manager.receive(peer.receive(out[0], node.now())[1], node.now())
    peer.receive(out[0], node.now())


def bench_telemetry_size(made, trust_list):
    pump, gateway = made["pump"], made["gateway"]
    node = PumpNode(pump.private_key, pump.credential, trust_list)
    node.advance_to(5 * 60 * 1000)                      # a reading 0..5 minutes old
    peer = PeerSession(gateway.credential, gateway.private_key, pump.credential, os.urandom)
    _handshake(node, peer)
    request = peer.request(requester.request_message("telemetry", {}), node.now())
    request_frame = framing.encode_frame(request)
    wire = node.feed(request_frame)                     # exactly what the pump writes
    payloads = framing.Deframer().feed(wire)
    assert len(payloads) == 1
    outer = M.decode(payloads[0])
    event, _ = peer.receive(payloads[0], node.now())
    inner = event.value
    fields = requester.parse_response("telemetry", inner).fields
    assert "cgm" in fields and "state" in fields, fields
    header = len(payloads[0]) - len(outer.payload)
    report("telemetry response on the wire (CGM + status, protected, framed)", len(wire),
           "bytes", target=("<=", 64),
           reference="CBOR body %d + inner code/options %d + tag 8 + CoAP header, token, "
           "OSCORE option %d + COBS/CRC/delimiters %d"
           % (len(inner.payload), len(outer.payload) - 8 - len(inner.payload), header,
              len(wire) - len(payloads[0])))
    report("telemetry request on the wire (protected, framed)", len(request_frame), "bytes")
    # The largest telemetry the schema allows, through the same record layer and framing.
    from secure_channel.protocol.doc import largest_telemetry
    session = node.manager.session_of(gateway.credential.kid)
    outer = M.decode(peer.request(requester.request_message("telemetry", {}), node.now()))
    _, exchange = protect.unprotect_request(session.context, outer, node.now())
    largest = resources.response_message(largest_telemetry(), N.CONTENT)
    answer = protect.protect_response(session.context, largest, exchange, now=node.now())
    answer.mtype, answer.mid, answer.token = N.ACK, outer.mid, outer.token
    wire = framing.encode_frame(M.encode(answer))
    report("largest telemetry the schema allows, on the wire", len(wire), "bytes",
           target=("<=", 64), reference="CBOR body %d bytes" % len(largest.payload))


def _in_process_rate(made, trust_list):
    pump, gateway = made["pump"], made["gateway"]
    node = PumpNode(pump.private_key, pump.credential, trust_list)
    pump_end, gateway_end = memory_pair()

    def turn():
        data = pump_end.read(65536)
        if data:
            pump_end.write(node.feed(data))

    client = Gateway(FramedLink(gateway_end), PeerSession(
        gateway.credential, gateway.private_key, pump.credential, os.urandom),
        now_ms=node.now, idle=turn).client
    client.request("telemetry")
    return best_time(lambda: client.request("telemetry"), repeat=3, min_seconds=0.3)


def bench_pty_round_trips(directory, made, trust_list):
    child = subprocess.Popen(
        PUMPSIM + ["serve", "--identity", os.path.join(directory, "pump.key"), "--trust",
                   os.path.join(directory, "trust.cbor"), "--pty", "--idle-exit", "30"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    link = None
    try:
        line = child.stdout.readline()
        if not line.startswith("pump serving on PTY "):
            raise RuntimeError("pump did not start: %s%s" % (line, child.stderr.read()))
        link = FramedLink(open_serial(line.split()[-1]))
        gateway = made["gateway"]
        client = Gateway(link, PeerSession(gateway.credential, gateway.private_key,
                                           made["pump"].credential, os.urandom),
                         timeout_s=10).client
        client.request("telemetry")                     # handshake and warm-up
        pty = best_time(lambda: client.request("telemetry"), repeat=3, min_seconds=0.5)
    finally:
        if link is not None:
            link.close()
        child.send_signal(signal.SIGTERM)
        try:
            child.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
    memory = _in_process_rate(made, trust_list)
    report("protected telemetry round trips, two processes over a PTY pair", 1.0 / pty,
           "per s")
    report("protected telemetry round trips, one process, memory link", 1.0 / memory,
           "per s")
    report("PTY round-trip rate relative to the in-process rate", 100.0 * memory / pty, "%",
           reference="same requests, no I/O")


def main():
    with tempfile.TemporaryDirectory() as directory:
        made, trust_list = _identities(directory)
        bench_telemetry_size(made, trust_list)
        if hasattr(os, "openpty"):
            bench_pty_round_trips(directory, made, trust_list)
        else:
            print("PTY round trips: skipped (no POSIX pseudo-terminals here)")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
