"""The telemetry message fits its wire budget on the real stack (the firmware modules stay
MicroPython-safe: tests/test_layout.py)."""

from sessions_helpers import GATEWAY, handshake, make_node, peer_session, request
from secure_channel.link import framing
from secure_channel.protocol import resources
from secure_channel.coap import message as M, numbers as N, protect
from secure_channel.protocol.doc import largest_telemetry

WIRE_BUDGET = 64


def test_largest_telemetry_fits_one_64_byte_frame_protected():
    """The 5-minute telemetry answer on the serial wire: CoAP header, token, OSCORE
    option, the encrypted inner response (code, Content-Format, the CBOR body), the tag,
    and the COBS+CRC frame around it."""
    node = make_node()
    client = peer_session(GATEWAY)
    handshake(node.manager, client, 0)
    answer = node.feed(framing.encode_frame(request(client, "telemetry", 0)))
    assert len(answer) <= WIRE_BUDGET
    session = node.manager.session_of(GATEWAY.credential.kid)
    outer = M.decode(request(client, "telemetry", 0))
    _, exchange = protect.unprotect_request(session.context, outer, 0)
    inner = resources.response_message(largest_telemetry(), N.CONTENT)
    largest = protect.protect_response(session.context, inner, exchange, now=0)
    largest.mtype, largest.mid, largest.token = N.ACK, outer.mid, outer.token
    size = len(framing.encode_frame(M.encode(largest)))
    assert size <= WIRE_BUDGET, size
