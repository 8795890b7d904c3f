"""Our client (PeerSession, Gateway over UdpLink) against aiocoap's EDHOC + OSCORE *server*
(aiocoap runs the EDHOC responder through lakers, OSCORE itself), over UDP loopback.

The mirror image of test_aiocoap_edhoc_interop (aiocoap's client against our pump): here
aiocoap is the pump, with a CCS credential {14: ...} of its own, and serves GET /status
with a CBOR map. Both EDHOC flows are run: message_3 on its own (RFC 9528 A.2, answered
with message_4 in the 2.04, which our peer verifies) and combined with the first OSCORE
request (RFC 9668).
"""

import os

import pytest

from conftest import real_component

from secure_channel import cbor
from secure_channel.edhoc import handshake as edhoc
from secure_channel.sessions import peer as P
from secure_channel.coap import message as M, numbers as N
from sim import keyfiles
from sim.coap_udp import UdpLink
from sim.gateway_client import Gateway

aiocoap = real_component("aiocoap")
real_component("lakers")
from sim.aiocoap_server import AiocoapServer  # noqa: E402

SERVER = keyfiles.generate("pump", b"\x01")
GATEWAY = keyfiles.generate("gateway", b"\x02")
STRANGER = keyfiles.generate("gateway", b"\x05")
# A schema-valid status body (protocol_schema "status"), so the pump-protocol client
# (Gateway.client.request("status")) can parse aiocoap's answer as well.
STATUS = {2: 3, 5: 0, 6: 200000, 7: 90, 8: 1000, 9: 0, 10: False, 11: 7, 12: False,
          13: False}
TIMEOUT_S = 10


@pytest.fixture(scope="module")
def server():
    running = AiocoapServer(SERVER, [("gateway", GATEWAY)], STATUS)
    yield running
    running.close()


class Wire:
    """Our PeerSession on a UdpLink to the server, one datagram at a time."""

    def __init__(self, server, identity=GATEWAY, combined=False):
        self.link = UdpLink(server.address)
        self.peer = P.PeerSession(identity.credential, identity.private_key,
                                  SERVER.credential, os.urandom, combined=combined)

    def send(self, data):
        self.link.send(data)

    def answer(self):
        got = self.link.poll(TIMEOUT_S)
        assert len(got) == 1, got
        return got[0]

    def feed(self, data):
        return self.peer.receive(data, 0)

    def close(self):
        self.link.close()


def _status_request():
    return M.Message(N.CON, N.GET).set_path("status")


def _handshake(wire):
    """message_1 .. message_2 (and, unless combined, message_3 .. message_4)."""
    wire.send(wire.peer.connect())
    event, reply = wire.feed(wire.answer())
    assert event.kind == P.ESTABLISHED, event
    if wire.peer.combined:
        assert reply is None             # message_3 waits for the first request
        return
    assert reply is not None
    wire.send(reply)
    data = wire.answer()
    assert M.decode(data).code == N.CHANGED and M.decode(data).payload  # message_4
    event, reply = wire.feed(data)
    assert event.kind == P.CONFIRMED and reply is None, event


def _get_status(wire):
    wire.send(wire.peer.request(_status_request(), 0))
    data = wire.answer()
    event, reply = wire.feed(data)
    assert event.kind == P.RESPONSE, event
    assert reply is None
    return data, event.value


@pytest.mark.parametrize("combined", [False, True], ids=["message_4", "combined"])
def test_our_peer_completes_edhoc_with_aiocoap_and_reads_status_twice(server, combined):
    before, done_before = server.responder_contexts()
    calls = len(server.status.requests)
    wire = Wire(server, combined=combined)
    try:
        _handshake(wire)
        outer, inner = _get_status(wire)
        assert M.decode(outer).has(N.OSCORE)
        assert inner.code == N.CONTENT
        assert inner.first(N.CONTENT_FORMAT) == M.encode_uint(N.CBOR)
        assert cbor.decode(bytes(inner.payload)) == STATUS
        # Both ends finished EDHOC: ours confirmed the responder's keys (message_4, or
        # the first protected answer), aiocoap's verified message_3 and made a context.
        assert wire.peer.edhoc.state == edhoc.PERSISTED
        found, done = server.responder_contexts()
        assert len(found) == len(before) + 1 and len(done) == len(done_before) + 1
        theirs, ours = server.context_of(wire.peer.c_r), wire.peer.context
        assert (theirs.recipient_key, theirs.sender_key, theirs.common_iv) == \
            (ours.sender_key, ours.recipient_key, ours.common_iv)
        # The second request reuses the session: no new handshake on either side.
        context = wire.peer.context
        _, inner = _get_status(wire)
        assert inner.code == N.CONTENT and cbor.decode(bytes(inner.payload)) == STATUS
        assert wire.peer.context is context and wire.peer.ready
        assert len(server.responder_contexts()[0]) == len(found)
        assert len(server.status.requests) == calls + 2
    finally:
        wire.close()


def _flip(data, index):
    data = bytearray(data)
    data[index] ^= 0x01
    return bytes(data)


def test_a_tampered_aiocoap_response_is_ignored_and_the_real_one_accepted(server):
    wire = Wire(server, combined=True)
    try:
        _handshake(wire)
        wire.send(wire.peer.request(_status_request(), 0))
        genuine = wire.answer()
        # One bit flipped in the ciphertext, then in the tag: both must fail to verify.
        for index in (len(genuine) - 9, len(genuine) - 1):
            event, reply = wire.feed(_flip(genuine, index))
            assert event.kind == P.IGNORED, event
            assert reply is None
        assert wire.peer.ready
        event, _ = wire.feed(genuine)
        assert event.kind == P.RESPONSE
        assert cbor.decode(bytes(event.value.payload)) == STATUS
        event, _ = wire.feed(genuine)                 # and only once
        assert event.kind == P.IGNORED
    finally:
        wire.close()


@pytest.mark.parametrize("combined", [False, True], ids=["message_4", "combined"])
def test_the_gateway_client_reads_aiocoap_status_through_the_pump_protocol(server,
                                                                          combined):
    link = UdpLink(server.address)
    try:
        peer = P.PeerSession(GATEWAY.credential, GATEWAY.private_key, SERVER.credential,
                             os.urandom, combined=combined)
        gateway = Gateway(link, peer, timeout_s=TIMEOUT_S)
        first = gateway.client.request("status")
        second = gateway.client.request("status")
        for parsed in (first, second):
            assert parsed.fields["state"] == STATUS[2]
            assert parsed.fields["reservoir_mu"] == STATUS[6]
        kinds = [event.kind for event in gateway.client.events]
        expected = [P.ESTABLISHED] + ([] if combined else [P.CONFIRMED])
        assert kinds == expected + [P.RESPONSE, P.RESPONSE]
    finally:
        link.close()


def test_a_tampered_message_4_from_aiocoap_ends_the_handshake(server):
    wire = Wire(server, combined=False)
    try:
        wire.send(wire.peer.connect())
        event, reply = wire.feed(wire.answer())
        assert event.kind == P.ESTABLISHED
        wire.send(reply)
        message_4 = wire.answer()
        event, _ = wire.feed(_flip(message_4, len(message_4) - 1))
        assert event.kind == P.REFUSED and event.restart, event
        assert not wire.peer.ready
    finally:
        wire.close()


def test_aiocoap_refuses_a_client_it_has_no_credential_for(server):
    wire = Wire(server, identity=STRANGER)
    try:
        wire.send(wire.peer.connect())
        event, reply = wire.feed(wire.answer())
        assert event.kind == P.ESTABLISHED    # message_2 is the server's proof, not ours
        wire.send(reply)
        event, _ = wire.feed(wire.answer())
        assert event.kind == P.REFUSED and event.restart, event
        assert not wire.peer.ready
    finally:
        wire.close()
