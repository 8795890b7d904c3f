"""EDHOC sessions of ours against each other: every method and suite, refusals, EAD."""

import pytest
from hypothesis import given, settings, strategies as st

from conftest import examples
from sc_helpers import (CCS_I, CCS_R, KEY_I, KEY_R, STORE, handshake, new_pair, os_rng,
                     p256_pair)
from secure_channel import cbor, errors
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.edhoc import messages as edhoc_messages

GENERIC = edhoc_messages.encode_error(1, edhoc.DIAGNOSTIC)


@pytest.mark.parametrize("method", [0, 1, 2, 3])
@pytest.mark.parametrize("suite", [0, 1, 2, 3])
@pytest.mark.parametrize("by_value", [False, True])
def test_handshake_every_method_and_suite(method, suite, by_value):
    ini, rsp, store = new_pair(method, suite, by_value)
    handshake(ini, rsp, store)
    assert ini.completed and rsp.completed
    assert ini.exporter(0, b"", 16) == rsp.exporter(0, b"", 16)
    assert ini.exporter(5, b"ctx", 40) == rsp.exporter(5, b"ctx", 40)
    assert ini.receive_message_4(rsp.message_4([(7, b"ack")])).ead == [(7, b"ack")]
    ini.key_update(b"\x01")
    rsp.key_update(b"\x01")
    assert ini.exporter(0, b"", 16) == rsp.exporter(0, b"", 16)
    assert ini.oscore_parameters()[2] == rsp.oscore_parameters()[3] == rsp.c_r


def test_wrong_state_is_refused_and_state_kept():
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    for call in (lambda: ini.message_3(), lambda: ini.receive_message_2(b"\x40"),
                 lambda: ini.exporter(0, b"", 16), lambda: rsp.message_2(),
                 lambda: rsp.receive_message_3(b"\x40")):
        with pytest.raises(errors.EdhocError) as refused:
            call()
        assert refused.value.code == errors.EDHOC_STATE
        assert refused.value.peer_message is None
    m1 = ini.message_1()
    rsp.receive_message_1(m1)
    with pytest.raises(errors.EdhocError) as refused:
        rsp.receive_message_1(m1)                 # a duplicate message_1
    assert refused.value.code == errors.EDHOC_STATE
    assert rsp.state == edhoc.RCVD_M1             # unchanged: the session goes on
    ev2 = ini.receive_message_2(rsp.message_2())
    ini.verify_message_2(STORE.lookup(ev2.id_cred))
    ev3 = rsp.receive_message_3(ini.message_3())
    rsp.verify_message_3(STORE.lookup(ev3.id_cred))
    assert ini.exporter(0, b"", 16) == rsp.exporter(0, b"", 16)


def _through_message_2():
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    rsp.receive_message_1(ini.message_1())
    return ini, rsp, rsp.message_2()


@pytest.mark.parametrize("position", range(45))
def test_any_corruption_of_message_2_gives_the_same_refusal(position):
    ini, _, m2 = _through_message_2()
    bad = bytearray(m2)
    bad[position] ^= 0x04
    with pytest.raises(errors.EdhocError) as refused:
        ev2 = ini.receive_message_2(bytes(bad))
        ini.verify_message_2(STORE.lookup(ev2.id_cred) or CCS_R)
    assert refused.value.peer_message == GENERIC
    assert ini.state == edhoc.ABORTED


@pytest.mark.parametrize("position", range(19))
def test_any_corruption_of_message_3_gives_the_same_refusal(position):
    ini, rsp, m2 = _through_message_2()
    ev2 = ini.receive_message_2(m2)
    ini.verify_message_2(STORE.lookup(ev2.id_cred))
    bad = bytearray(ini.message_3())
    bad[position] ^= 0x80
    with pytest.raises(errors.EdhocError) as refused:
        ev3 = rsp.receive_message_3(bytes(bad))
        rsp.verify_message_3(STORE.lookup(ev3.id_cred))
    assert refused.value.code in (errors.EDHOC_VERIFY, errors.EDHOC_MALFORMED)
    assert refused.value.peer_message == GENERIC
    assert rsp.state == edhoc.ABORTED


def test_unknown_or_wrong_credential_refused_like_a_bad_mac():
    ini, _, m2 = _through_message_2()
    ini.receive_message_2(m2)
    with pytest.raises(errors.EdhocError) as unknown:
        ini.verify_message_2(None)
    ini2, _, m2 = _through_message_2()
    ini2.receive_message_2(m2)
    _, other = p256_pair()       # a real key, but not the Responder's
    impostor = credentials.ccs(cbor.encode({8: {1: {1: 2, 2: b"2", -1: 1,
                                                   -2: other.public_key[:32],
                                                   -3: other.public_key[32:]}}}))
    with pytest.raises(errors.EdhocError) as wrong:
        ini2.verify_message_2(impostor)
    assert unknown.value.peer_message == wrong.value.peer_message == GENERIC
    assert wrong.value.code == errors.EDHOC_VERIFY


def test_cipher_suite_negotiation():
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng, suites=(2, 3))
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng, suites=(3, 2), selected_suite=2)
    with pytest.raises(errors.EdhocError) as refused:
        rsp.receive_message_1(ini.message_1())       # 3 is preferred and supported
    assert refused.value.code == errors.EDHOC_SUITE
    with pytest.raises(errors.EdhocPeerError) as peer:
        ini.receive_message_2(refused.value.peer_message)
    assert peer.value.suites_r == [3]
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng, suites=(3, 2),
                          selected_suite=initiator.select_suite((3, 2), peer.value.suites_r))
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng, suites=(2, 3))
    handshake(ini, rsp)
    assert ini.suite.value == rsp.suite.value == 3


def test_responder_refuses_unaccepted_method():
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng, method=3)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng, methods=(0,))
    with pytest.raises(errors.EdhocError) as refused:
        rsp.receive_message_1(ini.message_1())
    assert refused.value.peer_message == GENERIC


def test_ead_items_passed_through_padding_dropped_critical_checked():
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng, ead_labels=(5,))
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng, ead_labels=(9,))
    ev1 = rsp.receive_message_1(ini.message_1([(0, b"\x00" * 4), (-9, b"voucher"), (40, None)]))
    assert ev1.ead == [(-9, b"voucher"), (40, None)]
    ev2 = ini.receive_message_2(rsp.message_2([(-5, b"x"), (0, None)]))
    assert ev2.ead == [(-5, b"x")]
    ini.verify_message_2(STORE.lookup(ev2.id_cred))
    ev3 = rsp.receive_message_3(ini.message_3([(12, b"")]))
    assert ev3.ead == [(12, b"")]
    rsp.verify_message_3(STORE.lookup(ev3.id_cred))
    assert ini.exporter(0, b"", 16) == rsp.exporter(0, b"", 16)


def test_unknown_critical_ead_aborts_with_error():
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    with pytest.raises(errors.EdhocError) as refused:
        rsp.receive_message_1(ini.message_1([(-77, b"?")]))
    assert refused.value.code == errors.EDHOC_EAD
    assert refused.value.peer_message == GENERIC
    assert rsp.state == edhoc.ABORTED


def test_peer_error_aborts_initiator():
    ini, _, _ = _through_message_2()
    with pytest.raises(errors.EdhocPeerError) as peer:
        ini.receive_message_2(GENERIC)
    assert (peer.value.err_code, peer.value.err_info) == (1, edhoc.DIAGNOSTIC)
    assert peer.value.peer_message is None and ini.state == edhoc.ABORTED


def test_credential_must_fit_method_and_suite():
    with pytest.raises(errors.EdhocError) as refused:
        initiator.Initiator(CCS_I, KEY_I, os_rng, method=3, suites=(0,))   # P-256 key, X25519 suite
    assert refused.value.code == errors.EDHOC_CONFIG


def test_rng_must_return_requested_bytes():
    ini = initiator.Initiator(CCS_I, KEY_I, lambda n: b"\x01")
    with pytest.raises(errors.EdhocError) as refused:
        ini.message_1()
    assert refused.value.code == errors.EDHOC_CONFIG


@settings(max_examples=examples(200))
@given(st.binary(max_size=7))
def test_identifier_representation_round_trips(raw):
    encoded = edhoc_messages.encode_identifier(raw)
    assert edhoc_messages.decode_identifier(cbor.decode(encoded)) == raw
    assert len(encoded) == (1 if len(raw) == 1 and (raw[0] <= 0x17 or 0x20 <= raw[0] <= 0x37)
                            else len(raw) + 1)
