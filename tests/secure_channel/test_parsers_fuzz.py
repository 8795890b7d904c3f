"""Every parser of the secure channel, fuzzed: only its defined error may escape.

Inputs mix random bytes, random CBOR sequences and mutations (bit flips, truncations,
insertions, deletions, interesting CBOR heads) of valid messages, so the fuzzing reaches
past the CBOR layer into the EDHOC, COSE and OSCORE checks. The ``ci`` profile runs at
least 1,000 examples per parser (``examples(1000)``); ``deep`` runs 20,000.
"""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import examples
from mutations import mutate_bytes
from sc_helpers import CCS_I, CCS_R, KEY_I, KEY_R, STORE, os_rng
from rfc9529_vectors import INVALID, TRACE_1, TRACE_2
from secure_channel import cbor, cose
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.edhoc import messages as msgs
from secure_channel.oscore import context as oscore, cose_form
from secure_channel.errors import EdhocError, RecordError

FUZZ = settings(max_examples=examples(1000), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


cbor_values = st.recursive(
    st.one_of(st.integers(-(1 << 64), (1 << 64) - 1), st.binary(max_size=40),
              st.text(max_size=12), st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.integers(-30, 30), st.text(max_size=3)), children,
                        max_size=5),
        st.builds(cbor.Tag, st.integers(0, 300), children)),
    max_leaves=8)


@st.composite
def cbor_sequences(draw):
    return b"".join(cbor.encode(v) for v in draw(st.lists(cbor_values, min_size=1,
                                                          max_size=6)))


@st.composite
def mutate(draw, seed):
    return mutate_bytes(draw, seed)


def inputs(*seeds):
    return st.one_of(st.binary(max_size=120), cbor_sequences(),
                     st.sampled_from(seeds).flatmap(mutate), st.sampled_from(seeds))


M1 = [TRACE_2["message_1"], TRACE_1["message_1"], TRACE_2["message_1_first"]] + \
    [v for k, v in INVALID.items() if "message_1" in k]
PT2 = [TRACE_2["PLAINTEXT_2"], TRACE_1["PLAINTEXT_2"]] + \
    [v for k, v in INVALID.items() if "PLAINTEXT_2" in k]
PT3 = [TRACE_2["PLAINTEXT_3"], TRACE_1["PLAINTEXT_3"]]
ERRORS = [TRACE_2["error"], msgs.encode_error(1, "x"), msgs.encode_error(2, [6, 2]),
          msgs.encode_error(3, True)]
BSTR_MESSAGES = [TRACE_2["message_2"], TRACE_2["message_3"], TRACE_1["message_4"]]


# --- CBOR ---------------------------------------------------------------------------------

@pytest.mark.verifies("DC-PARSERS")
@FUZZ
@given(inputs(*(M1 + PT2 + ERRORS)))
def test_cbor_decode(data):
    for canonical in (True, False):
        try:
            value = cbor.decode(data, canonical)
        except cbor.CBORError:
            continue
        if canonical:
            assert cbor.encode(value) == data      # one accepted encoding per value


@FUZZ
@given(inputs(*(M1 + PT2)))
def test_cbor_decode_sequence(data):
    try:
        items = cbor.decode_sequence(data)
    except cbor.CBORError:
        return
    assert b"".join(cbor.encode(i) for i in items) == data


# --- COSE and credentials -----------------------------------------------------------------

ENCRYPT0 = [cbor.encode([b"", {4: b"\x25", 6: b"\x05"}, b"\xae" * 14]),
            cbor.encode(cbor.Tag(16, [cbor.encode({1: 10}), {5: b"\x00" * 13}, b"x" * 9]))]


@pytest.mark.verifies("DC-PARSERS")
@FUZZ
@given(inputs(*ENCRYPT0))
def test_cose_decode_encrypt0(data):
    try:
        protected, _, unprotected, ciphertext = cose.decode_encrypt0(data)
    except cose.CoseError:
        return
    assert isinstance(protected, bytes) and isinstance(unprotected, dict)


COSE_KEYS = [cbor.decode(CCS_R.value)[8][1], {1: 1, 2: b"k", -1: 4, -2: bytes(32)},
             {1: 1, -1: 6, -2: bytes(range(32))}]


@FUZZ
@given(st.one_of(cbor_values, st.tuples(
    st.sampled_from(COSE_KEYS),
    st.dictionaries(st.sampled_from([1, 2, 3, -1, -2, -3, -4]),
                    st.one_of(st.integers(-8, 8), st.binary(max_size=40), st.booleans()),
                    max_size=3)).map(lambda pair: _merge(pair[0], pair[1]))))
def test_cose_parse_cose_key(value):
    try:
        key = cose.parse_cose_key(value)
    except cose.CoseError:
        return
    assert len(key.raw_public()) in (32, 64)


@FUZZ
@given(inputs(CCS_R.value, CCS_I.value))
def test_credentials_ccs(data):
    try:
        credential = credentials.ccs(data)
    except credentials.CredentialError:
        return
    assert credential.value == data


@FUZZ
@given(inputs(TRACE_1["CRED_R"], TRACE_1["CRED_I"]))
def test_credentials_x509_der(data):
    try:
        credential = credentials.x509(data)
    except credentials.CredentialError:
        return
    assert len(credential.public_key) in (32, 64)


@FUZZ
@given(st.one_of(cbor_values, st.dictionaries(st.sampled_from([4, 14, 33, 34]), cbor_values,
                                              min_size=1)))
def test_credentials_from_id_cred(value):
    if not isinstance(value, dict):
        value = {14: value}
    try:
        credentials.from_id_cred(value)
    except credentials.CredentialError:
        pass


# --- EDHOC messages -----------------------------------------------------------------------

def _merge(base, extra):
    merged = dict(base)
    merged.update(extra)
    return merged


def expect_edhoc_error(call, *args):
    try:
        return call(*args)
    except EdhocError as exc:
        assert exc.peer_message is None or msgs.decode_error(exc.peer_message)
        return None


@FUZZ
@given(inputs(*M1))
def test_decode_message_1(data):
    expect_edhoc_error(msgs.decode_message_1, data)


@FUZZ
@given(inputs(*PT2), st.sampled_from([8, 16, 64]))
def test_decode_plaintext_2(data, mac_length):
    expect_edhoc_error(msgs.decode_plaintext_2, data, mac_length)


@FUZZ
@given(inputs(*PT3), st.sampled_from([8, 16, 64]))
def test_decode_plaintext_3_and_4(data, mac_length):
    expect_edhoc_error(msgs.decode_plaintext_3, data, mac_length)
    expect_edhoc_error(msgs.decode_plaintext_4, data)


@FUZZ
@given(inputs(*ERRORS))
def test_decode_error(data):
    expect_edhoc_error(msgs.decode_error, data)


@FUZZ
@given(inputs(*BSTR_MESSAGES))
def test_decode_bstr_message(data):
    expect_edhoc_error(msgs.decode_bstr_message, data, "message_2")


# --- EDHOC sessions fed hostile messages ------------------------------------------------

def assert_refused_cleanly(session, call, data):
    before = session.state
    try:
        return call(data)
    except EdhocError as exc:
        assert exc.peer_message is None or msgs.decode_error(exc.peer_message)
        assert session.state in (edhoc.ABORTED, before)
        return None


@pytest.mark.verifies("DC-PARSERS")
@FUZZ
@given(inputs(*M1))
def test_responder_receive_message_1(data):
    for suites in ((2,), (0,)):
        credential, key = (CCS_R, KEY_R) if suites == (2,) else (X25519_CRED, KEY_R)
        rsp = edhoc.Responder(credential, key, os_rng, methods=(0, 1, 2, 3), suites=suites)
        assert_refused_cleanly(rsp, rsp.receive_message_1, data)


@FUZZ
@given(st.data())
def test_initiator_receive_message_2(data):
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    rsp.receive_message_1(ini.message_1())
    m2 = data.draw(inputs(rsp.message_2(), *BSTR_MESSAGES + ERRORS))
    event = assert_refused_cleanly(ini, ini.receive_message_2, m2)
    if event is not None:
        assert_refused_cleanly(ini, ini.verify_message_2,
                               STORE.lookup(event.id_cred, event.credential))


@FUZZ
@given(st.data())
def test_responder_receive_message_3(data):
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    rsp.receive_message_1(ini.message_1())
    event = ini.receive_message_2(rsp.message_2())
    ini.verify_message_2(STORE.lookup(event.id_cred))
    m3 = data.draw(inputs(ini.message_3(), *BSTR_MESSAGES + ERRORS))
    event = assert_refused_cleanly(rsp, rsp.receive_message_3, m3)
    if event is not None:
        assert_refused_cleanly(rsp, rsp.verify_message_3,
                               STORE.lookup(event.id_cred, event.credential))


SESSION_PAIR = []


@FUZZ
@given(st.data())
def test_initiator_receive_message_4(data):
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    rsp.receive_message_1(ini.message_1())
    event = ini.receive_message_2(rsp.message_2())
    ini.verify_message_2(STORE.lookup(event.id_cred))
    event = rsp.receive_message_3(ini.message_3())
    rsp.verify_message_3(STORE.lookup(event.id_cred))
    m4 = data.draw(inputs(rsp.message_4([(3, b"x")]), *ERRORS))
    assert_refused_cleanly(ini, ini.receive_message_4, m4)


def _x25519_credential():
    from secure_channel import crypto
    public = crypto.x25519_public(KEY_R)
    return credentials.ccs(cbor.encode({8: {1: {1: 1, 2: b"\x32", -1: 4, -2: public}}}))


X25519_CRED = _x25519_credential()


# --- record layer -----------------------------------------------------------------------

CLIENT = oscore.SecurityContext(bytes(16), b"", b"\x01", b"")
SERVER = oscore.SecurityContext(bytes(16), b"", b"", b"\x01", replay_window=64)
REQUESTS = [CLIENT.protect_request(b"x" * n)[0] for n in (0, 1, 64)]


@FUZZ
@given(inputs(*REQUESTS))
def test_oscore_split_and_decompress(data):
    try:
        option, ciphertext = oscore.split(data)
        piv, kid, kid_context = oscore.decompress(option)
    except RecordError:
        return
    assert oscore.compress(piv, kid, kid_context) == option or option[:1] == b"\x00"


@FUZZ
@given(inputs(*(ENCRYPT0 + [cose_form.to_cose(b"\x09\x14", b"c" * 9)])))
def test_oscore_from_cose(data):
    try:
        cose_form.from_cose(data)
    except RecordError:
        pass


@pytest.mark.verifies("DC-PARSERS")
@FUZZ
@given(inputs(*REQUESTS))
def test_oscore_unprotect_request(data):
    try:
        SERVER.unprotect_request(data)
    except RecordError:
        pass


@FUZZ
@given(st.data())
def test_oscore_unprotect_response(data):
    client = oscore.SecurityContext(bytes(16), b"", b"\x01", b"")
    server = oscore.SecurityContext(bytes(16), b"", b"", b"\x01")
    request, exchange = client.protect_request(b"q")
    _, server_exchange = server.unprotect_request(request)
    response = server.protect_response(b"r" * 20, server_exchange,
                                       new_piv=data.draw(st.booleans()))
    message = data.draw(inputs(response, *REQUESTS))
    try:
        assert client.unprotect_response(message, exchange) == b"r" * 20
        assert message == response
    except RecordError:
        assert not exchange.answered
