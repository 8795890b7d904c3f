"""Interoperability with an independent implementation: lakers-python (suite 2, method 3).

Handshakes run in both directions, with credentials by reference ('kid') and by value
('kccs'); both sides must derive the same exporter outputs and key-update results, and our
messages must have lakers' sizes (37/45/19 bytes with kid credentials).
"""

import pytest

from sc_helpers import CCS_I, CCS_R, KEY_I, KEY_R, STORE, os_rng
from rfc9529_vectors import TRACE_2
from secure_channel import errors
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.oscore import from_edhoc as edhoc_oscore
from secure_channel.oscore import context as oscore

lakers = pytest.importorskip("lakers")

TRANSFER = {False: "ByReference", True: "ByValue"}
KU_CONTEXT = TRACE_2["context_for_KeyUpdate"]


def lakers_credential(credential):
    return lakers.Credential(credential.value)


def transfer(by_value):
    return getattr(lakers.CredentialTransfer, TRANSFER[by_value])


def check_same_keys(ours, theirs):
    for label, context, length in ((0, b"", 16), (1, b"", 8), (7, b"pump", 32)):
        assert ours.exporter(label, context, length) == \
            bytes(theirs.edhoc_exporter(label, list(context), length))
    ours.key_update(KU_CONTEXT)
    theirs.edhoc_key_update(list(KU_CONTEXT))
    assert ours.exporter(0, b"", 16) == bytes(theirs.edhoc_exporter(0, [], 16))


def start_with_lakers_responder(by_value=False):
    """message_1 and message_2 with a lakers Responder.

    lakers picks its C_R at random without avoiding C_I; we refuse C_R == C_I (it would
    make the OSCORE Sender and Recipient IDs equal, RFC 9528 §3.3.3), so on that rare
    draw the handshake is started again.
    """
    for _ in range(20):
        ini = initiator.Initiator(CCS_I, KEY_I, os_rng, method=3, suites=(2,), by_value=by_value)
        rsp = lakers.EdhocResponder(KEY_R, lakers_credential(CCS_R))
        m1 = ini.message_1()
        rsp.process_message_1(m1)
        m2 = rsp.prepare_message_2(transfer(by_value), None, None)
        try:
            return ini, rsp, m1, m2, ini.receive_message_2(m2)
        except errors.EdhocError as exc:
            if "C_R equals C_I" not in str(exc):
                raise
    raise AssertionError("lakers chose C_R == C_I 20 times")


@pytest.mark.parametrize("by_value", [False, True])
def test_our_initiator_with_lakers_responder(by_value):
    ini, rsp, m1, m2, ev2 = start_with_lakers_responder(by_value)
    assert (ev2.credential is not None) == by_value
    ini.verify_message_2(STORE.lookup(ev2.id_cred, ev2.credential))
    assert ini.peer_credential == CCS_R
    m3 = ini.message_3()
    id_cred_i, ead_3 = rsp.parse_message_3(m3)
    rsp.verify_message_3(lakers.credential_check_or_fetch(id_cred_i, lakers_credential(CCS_I)))
    rsp.completed_without_message_4()
    if not by_value:
        assert [len(m1), len(m2), len(m3)] == [37, 45, 19]
    check_same_keys(ini, rsp)


@pytest.mark.parametrize("by_value", [False, True])
def test_lakers_initiator_with_our_responder(by_value):
    ini = lakers.EdhocInitiator()
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng, methods=(3,), suites=(2,), by_value=by_value)
    m1 = ini.prepare_message_1(None, None)
    ev1 = rsp.receive_message_1(m1)
    assert (ev1.method, ev1.suite) == (3, 2)
    m2 = rsp.message_2()
    c_r, id_cred_r, ead_2 = ini.parse_message_2(m2)
    ini.verify_message_2(KEY_I, lakers_credential(CCS_I),
                         lakers.credential_check_or_fetch(id_cred_r, lakers_credential(CCS_R)))
    m3, prk_out = ini.prepare_message_3(transfer(by_value), None)
    ev3 = rsp.receive_message_3(m3)
    rsp.verify_message_3(STORE.lookup(ev3.id_cred, ev3.credential))
    ini.completed_without_message_4()
    assert rsp._prk_out == bytes(prk_out)
    if not by_value:
        assert [len(m1), len(m2), len(m3)] == [37, 45, 19]
    check_same_keys(rsp, ini)


def test_lakers_message_4_and_oscore_keys():
    ini, rsp, _, _, ev2 = start_with_lakers_responder()
    ini.verify_message_2(STORE.lookup(ev2.id_cred))
    id_cred_i, _ = rsp.parse_message_3(ini.message_3())
    rsp.verify_message_3(lakers.credential_check_or_fetch(id_cred_i, lakers_credential(CCS_I)))
    assert ini.receive_message_4(rsp.prepare_message_4(None)).ead == []
    ctx = edhoc_oscore.security_context(ini)
    secret = bytes(rsp.edhoc_exporter(0, [], 16))
    salt = bytes(rsp.edhoc_exporter(1, [], 8))
    peer = oscore.SecurityContext(secret, salt, ctx.recipient_id, ctx.sender_id)
    request, exchange = ctx.protect_request(b"status")
    assert peer.unprotect_request(request)[0] == b"status"


def test_tampered_lakers_message_2_is_refused():
    for _ in range(20):
        ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
        rsp = lakers.EdhocResponder(KEY_R, lakers_credential(CCS_R))
        rsp.process_message_1(ini.message_1())
        m2 = bytearray(rsp.prepare_message_2(transfer(False), None, None))
        m2[-1] ^= 0x01       # flips a bit of MAC_2
        try:
            ev2 = ini.receive_message_2(bytes(m2))
            break
        except errors.EdhocError as exc:      # C_R == C_I drawn by lakers: start again
            assert "C_R equals C_I" in str(exc)
    with pytest.raises(errors.EdhocError) as refused:
        ini.verify_message_2(STORE.lookup(ev2.id_cred))
    assert refused.value.code == errors.EDHOC_VERIFY
    assert refused.value.peer_message == b"\x01" + b"\x77EDHOC processing failed"
