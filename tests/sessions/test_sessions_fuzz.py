"""Fuzzing every new parser and entry point: the envelope and notice codecs, the trust
list, the session manager's receive/feed, the peer's receive and the gateway's router.
Whatever arrives is refused with a defined error (or answered), never an exception, and
the established session keeps working."""

import os

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import examples
from sessions_helpers import CLINICIAN, GATEWAY, PATIENT, make_node, peer_session, trust_list
from secure_channel import backoff, cbor, framing, protocol, trust
from secure_channel import peer as P
from secure_channel import session_wire as W
from sim.gateway_client import Router

NEVER = backoff.Policy(threshold=10 ** 9, base_ms=0, max_ms=0, forget_ms=0)
SETTINGS = settings(max_examples=examples(1000),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _established():
    node = make_node(session_policy=NEVER, peer_policy=NEVER, global_policy=NEVER,
                     max_handshakes=64, audit_budget=4)
    client = peer_session(GATEWAY)
    out = node.manager.receive(client.connect(), 0)
    node.manager.receive(client.receive(out[0], 0)[1], 0)
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
        SAMPLES.extend([message_1, message_3,
                        CLIENT.request(protocol.encode_request("status", 1, {}), 0),
                        W.encode(W.NOTICE_R, W.encode_notice(204, 5, b"\x01"), b"\x07"),
                        W.encode(W.RESPONSE, bytes(12), b"\x07")])
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
    msg_id = NODE.manager.stats["frames"] & 0xFFFF
    out = NODE.manager.receive(CLIENT.request(protocol.encode_request("status", msg_id, {}),
                                              0), 0)
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
def test_envelope_decode_accepts_or_refuses(data):
    try:
        envelope = W.decode(data)
    except W.WireError:
        return
    again = W.encode(envelope.kind, envelope.body, envelope.cid)
    assert again == data


@given(st.sampled_from(sorted(W.KIND_NAMES)), st.binary(min_size=1, max_size=40),
       st.binary(max_size=7))
@SETTINGS
def test_envelope_round_trip(kind, body, cid):
    addressed = kind not in (W.EDHOC_1, W.REQUEST)
    payload = W.encode(kind, body, cid if addressed else None)
    envelope = W.decode(payload)
    assert (envelope.kind, envelope.body) == (kind, body)
    assert envelope.cid == (cid if addressed else None)


@given(st.binary(max_size=40))
@SETTINGS
def test_notice_decode_accepts_or_refuses(data):
    try:
        code, retry, piv = W.decode_notice(data)
    except W.WireError:
        return
    assert W.encode_notice(code, retry, piv) == data


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
            sample = CLIENT.request(protocol.encode_request("status", 3, {}), 0)
        else:
            sample = _samples()[index]
        payload = _mutate(sample, position, value, how)
    else:
        payload = case
    before = NODE.manager.log.total
    out = NODE.manager.receive(payload, 0)
    for reply in out:
        assert W.decode(reply).kind in W.FROM_PUMP
    # Either answered as a protocol step, or refused: never silently lost, and never a
    # fault contained by the session layer (every refusal has its own code).
    assert out or NODE.manager.log.total > before or W.decode(payload).kind == W.EDHOC_3
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
    assert event.kind in (P.IGNORED, P.REFUSED, P.ESTABLISHED)
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


@given(st.binary(max_size=40))
@SETTINGS
def test_control_message_parsers(data):
    from secure_channel import sessions
    nonce = sessions._key_update_nonce(data)
    assert nonce is None or (len(nonce) == 8 and sessions.key_update_request(nonce) == data)
    context = sessions.key_update_answer(data)
    assert context is None or len(context) == 16
