"""Fuzzing every new parser and entry point: EDHOC-over-CoAP payloads and refusal bodies,
the OSCORE option, the trust list, the session manager's receive/feed, the peer's receive
and the gateway's router.
Whatever arrives is refused with a defined error (or answered), never an exception, and
the established session keeps working."""

import os

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import examples
from sessions_helpers import (
    CLINICIAN, GATEWAY, PATIENT, handshake, make_node, peer_session, request, trust_list,
)
from secure_channel import cbor
from secure_channel.sessions import backoff
from secure_channel.link import framing
from secure_channel.oscore import context as oscore
from secure_channel.sessions import trust
from secure_channel.sessions import peer as P
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N, protect
from sim.gateway_client import Router

NEVER = backoff.Policy(threshold=10 ** 9, base_ms=0, max_ms=0, forget_ms=0)
SETTINGS = settings(max_examples=examples(1000),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _established():
    node = make_node(session_policy=NEVER, peer_policy=NEVER, global_policy=NEVER,
                     max_handshakes=64, audit_budget=4)
    client = peer_session(GATEWAY)
    handshake(node.manager, client, 0)
    return node, client


NODE, CLIENT = _established()
SAMPLES = []


def _samples():
    """Valid payloads of every kind, to mutate."""
    if not SAMPLES:
        other = peer_session(CLINICIAN)
        message_1 = other.connect()
        out = NODE.manager.receive(message_1, 0)
        _, message_3 = other.receive(out[0], 0)
        refused = W.refusal(N.SERVICE_UNAVAILABLE, 204, 5000)
        refused.mtype, refused.mid, refused.token = N.ACK, 7, b"\x07"
        answer = M.Message(N.ACK, N.CHANGED, 8, b"\x08", [(N.OSCORE, b"")], bytes(12))
        SAMPLES.extend([message_1, message_3, request(CLIENT, "status", 0),
                        M.encode(refused), M.encode(answer)])
    return SAMPLES


def _fresh_message_3():
    """A message_3 for a handshake the pump is waiting on (so mutations reach EDHOC)."""
    if len(NODE.manager.handshakes) > 32:           # abandoned by earlier examples
        NODE.manager.handshakes.clear()
    other = peer_session(CLINICIAN)
    out = NODE.manager.receive(other.connect(), 0)
    message_3 = other.receive(out[0], 0)[1]
    assert message_3 is not None
    return message_3


def _still_works():
    out = NODE.manager.receive(request(CLIENT, "status", 0), 0)
    event, _ = CLIENT.receive(out[0], 0)
    assert event.kind == P.RESPONSE
    assert NODE.manager.stats["faults"] == 0


mutation = st.tuples(st.integers(0, 2000), st.integers(1, 255), st.integers(0, 3))


def _mutate(sample, position, value, how):
    data = bytearray(sample)
    position %= len(data) + 1
    if how == 0 and position < len(data):
        data[position] ^= value                       # flip
    elif how == 1:
        del data[position:]                           # truncate
    elif how == 2:
        data[position:position] = bytes((value,)) * (value % 9 + 1)   # insert
    else:
        data += os.urandom(value % 64)                # extend
    return bytes(data)


@given(st.binary(max_size=80))
@SETTINGS
def test_edhoc_payload_parsers_accept_or_refuse(data):
    try:
        c_r, body = W.split_edhoc_payload(data)
    except W.WireError:
        pass
    else:
        assert body and (c_r is None or len(c_r) <= W.MAX_CID)
        rebuilt = W.message_1_request(body) if c_r is None else W.message_3_request(c_r, body)
        assert rebuilt.payload == data
    try:
        message_3, ciphertext = W.split_combined(data)
    except W.WireError:
        pass
    else:
        assert message_3 + ciphertext == data and ciphertext


@given(st.binary(max_size=40), st.sampled_from([N.BAD_REQUEST, N.UNAUTHORIZED,
                                                N.SERVICE_UNAVAILABLE]))
@SETTINGS
def test_refusal_bodies_round_trip_or_fall_back_to_max_age(body, code):
    response = M.Message(code=code, payload=body)
    refused, retry = W.read_refusal(response)
    if refused is not None:
        assert W.refusal(code, refused, retry).payload == body
    else:
        assert retry == 0


@given(st.binary(max_size=40), st.binary(max_size=40))
@SETTINGS
def test_oscore_option_and_unprotect_refuse_with_record_errors_only(option, payload):
    outer = M.Message(N.CON, N.POST, 1, b"\x01", [(N.OSCORE, option)], payload)
    try:
        protect.request_header(outer)
    except oscore.RecordError:
        pass
    session = NODE.manager.session_of(GATEWAY.credential.kid)
    try:
        protect.unprotect_request(session.context, outer, 0)
    except oscore.RecordError:
        pass


def _valid_trust_bytes():
    return trust_list().encode()


@given(st.one_of(st.binary(max_size=300),
                 st.tuples(st.integers(0, 2000), st.integers(1, 255), st.integers(0, 3))))
@SETTINGS
def test_trust_list_decode_accepts_or_refuses(case):
    if isinstance(case, tuple):
        data = _mutate(_valid_trust_bytes(), *case)
    else:
        data = case
    try:
        parsed = trust.decode(data)
    except trust.TrustError:
        return
    for entry in parsed:
        assert entry.role in ("patient", "clinician", "gateway", "service")
        claimed = trust.role_claim(entry.credential)
        assert claimed is None or claimed == entry.role
    assert trust.decode(parsed.encode()).encode() == parsed.encode()


@given(st.recursive(st.one_of(st.integers(-2 ** 64 + 1, 2 ** 64 - 1), st.binary(max_size=40),
                              st.text(max_size=12), st.booleans(), st.none()),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(st.integers(-3, 9), inner,
                                                            max_size=4)),
                    max_leaves=12))
@SETTINGS
def test_trust_list_decode_of_any_cbor_value(value):
    try:
        trust.decode(cbor.encode({1: 1, 2: value}))
    except trust.TrustError:
        pass


@given(st.one_of(st.binary(max_size=120), st.tuples(st.integers(0, 4), mutation)))
@SETTINGS
def test_manager_receive_never_raises_and_the_session_survives(case):
    if isinstance(case, tuple):
        index, (position, value, how) = case
        if index == 1:
            sample = _fresh_message_3()
        elif index == 2:                                 # a fresh Partial IV: reaches the AEAD
            sample = request(CLIENT, "status", 0)
        else:
            sample = _samples()[index]
        payload = _mutate(sample, position, value, how)
    else:
        payload = case
    before = NODE.manager.log.total
    duplicates = NODE.manager.layer.counts["duplicates"]
    out = NODE.manager.receive(payload, 0)
    for reply in out:
        answer = M.decode(reply)
        assert answer.mtype in (N.ACK, N.RST, N.NON) and not N.is_request(answer.code)
    # Either answered, or refused and logged: never silently lost, and never a fault
    # contained by the session layer (every refusal has its own code). Only what needs
    # no answer goes unanswered: an ACK or RST, a response, a non-confirmable message,
    # or a duplicate already answered.
    if not out and NODE.manager.log.total == before and \
            NODE.manager.layer.counts["duplicates"] == duplicates:
        message = M.decode(payload)
        assert message.mtype != N.CON or not N.is_request(message.code) or \
            message.code == N.EMPTY
    assert "SESSION-FAULT" not in NODE.manager.counts, NODE.manager.counts
    _still_works()


@given(st.lists(st.binary(max_size=200), max_size=6))
@SETTINGS
def test_manager_feed_never_raises(chunks):
    for chunk in chunks:
        out = NODE.manager.feed(chunk, 0)
        assert framing.Deframer().feed(out) or out == b""
    _still_works()


@given(st.one_of(st.binary(max_size=80), st.tuples(st.integers(0, 4), mutation)))
@SETTINGS
def test_peer_receive_and_router_never_raise(case):
    if isinstance(case, tuple):
        index, (position, value, how) = case
        payload = _mutate(_samples()[index], position, value, how)
    else:
        payload = case
    client = peer_session(PATIENT)
    client.connect()
    event, reply = client.receive(payload, 0)
    assert event.kind in (P.IGNORED, P.REFUSED, P.ESTABLISHED, P.CONFIRMED)
    router = Router()
    router.upstream("a", payload)
    router.downstream(payload)
    CLIENT.receive(payload, 0)            # the established peer ignores or refuses it too
    _still_works()


def _identity_bytes():
    from sim import keyfiles
    return keyfiles.encode_identity(keyfiles.generate("gateway", b"\x02"))


IDENTITY = _identity_bytes()


@given(st.one_of(st.binary(max_size=200), mutation))
@SETTINGS
def test_identity_file_parser_gives_one_line_errors(case):
    from sim import keyfiles
    from sim.cli import CliError
    data = _mutate(IDENTITY, *case) if isinstance(case, tuple) else case
    try:
        identity = keyfiles.parse_identity("f.key", data)
    except CliError as exc:
        assert "\n" not in str(exc)
        return
    assert identity.credential.public_key is not None


@given(st.binary(max_size=40), st.sampled_from([N.POST, N.GET, N.CHANGED]))
@SETTINGS
def test_control_message_parsers(data, code):
    from secure_channel.sessions import manager as sessions
    inner = M.Message(code=code, payload=data)
    nonce = sessions._key_update_nonce(inner)
    assert nonce is None or (len(nonce) == 8 and
                             sessions.key_update_request(nonce).payload == data)
    context = sessions.key_update_answer(inner)
    assert context is None or len(context) == 16
