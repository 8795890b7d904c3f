"""The session layer's firmware modules stay firmware (nothing host-only, so they run on
MicroPython), and the telemetry message fits its wire budget on the real stack."""

import pathlib
import re

from sessions_helpers import GATEWAY, make_node, peer_session
from secure_channel import framing, protocol
from secure_channel import session_wire as W
from secure_channel.protocol_doc import largest_telemetry

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)
HOST_ONLY = {"typing", "dataclasses", "enum", "abc", "time", "os", "threading", "socket",
             "select", "tty", "termios", "serial", "subprocess", "pathlib", "secrets",
             "random", "sim", "tools"}
FIRMWARE = ["secure_channel/%s.py" % name for name in (
    "trust", "session_wire", "sessions", "peer", "backoff", "refusal_log")]
WIRE_BUDGET = 64


def test_session_modules_import_nothing_host_only():
    for name in FIRMWARE:
        used = {m.split(".")[0] for m in IMPORT.findall((ROOT / name).read_text())}
        assert not used & HOST_ONLY, "%s imports %s" % (name, sorted(used & HOST_ONLY))


def test_largest_telemetry_fits_one_64_byte_frame_protected():
    node = make_node()
    client = peer_session(GATEWAY)
    out = node.manager.receive(client.connect(), 0)
    node.manager.receive(client.receive(out[0], 0)[1], 0)
    request = client.request(protocol.encode_request("telemetry", 65535, {}), 0)
    answer = node.feed(framing.encode_frame(request))
    assert len(answer) <= WIRE_BUDGET
    session = node.manager.session_of(GATEWAY.credential.kid)
    body = W.decode(client.request(protocol.encode_request("telemetry", 1, {}), 0)).body
    _, exchange = session.context.unprotect_request(body, 0)
    largest = session.context.protect_response(largest_telemetry(), exchange, now=0)
    assert len(framing.encode_frame(W.encode(W.RESPONSE, largest, session.cid))) \
        <= WIRE_BUDGET
