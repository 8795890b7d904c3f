"""RFC 9529 traces 1 and 2 reproduced byte for byte, and its invalid messages refused.

The traces' ephemeral private keys enter through the RNG seam (``scripted_rng``); every
message and every derived value the trace prints that our API exposes is compared.
"""

import pytest

from sc_helpers import scripted_rng
from rfc9529_vectors import INVALID, TRACE_1, TRACE_2
from secure_channel import errors
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.oscore import from_edhoc as edhoc_oscore


def run_trace(t, method, suite, cred_i, cred_r, suites_i=None):
    store = credentials.CredentialStore([cred_i, cred_r])
    ini = initiator.Initiator(cred_i, t["SK_I"], scripted_rng(t["X"]), method=method,
                          suites=suites_i or (suite,), selected_suite=suite, c_i=t["C_I"])
    rsp = edhoc.Responder(cred_r, t["SK_R"], scripted_rng(t["Y"]), methods=(method,),
                          suites=(suite,), c_r=t["C_R"])
    m1 = ini.message_1()
    assert m1 == t["message_1"]
    ev1 = rsp.receive_message_1(m1)
    assert (ev1.method, ev1.suite, ev1.c_i, ev1.ead) == (method, suite, t["C_I"], [])
    m2 = rsp.message_2()
    assert m2 == t["message_2"]
    ev2 = ini.receive_message_2(m2)
    assert ev2.c_r == t["C_R"] and ev2.credential is None and ev2.ead == []
    ini.verify_message_2(store.lookup(ev2.id_cred))
    assert ini.peer_credential == cred_r
    m3 = ini.message_3()
    assert m3 == t["message_3"]
    ev3 = rsp.receive_message_3(m3)
    rsp.verify_message_3(store.lookup(ev3.id_cred))
    assert rsp.peer_credential == cred_i
    m4 = rsp.message_4()
    assert m4 == t["message_4"]
    assert ini.receive_message_4(m4).ead == []
    return ini, rsp


def check_key_material(t, ini, rsp):
    for side in (ini, rsp):
        assert side._prk_out == t["PRK_out"]
        assert side._prk_exporter == t["PRK_exporter"]
        assert side.exporter(0, b"", 16) == t["OSCORE_Master_Secret"]
        assert side.exporter(1, b"", 8) == t["OSCORE_Master_Salt"]
    client = ini.oscore_parameters()
    server = rsp.oscore_parameters()
    assert client[:3] == (t["OSCORE_Master_Secret"], t["OSCORE_Master_Salt"],
                          t["Client_s_OSCORE_Sender_ID"])
    assert server[2] == t["Server_s_OSCORE_Sender_ID"] == client[3]
    assert client[4:] == (10, -16)
    for side in (ini, rsp):
        side.key_update(t["context_for_KeyUpdate"])
        assert side._prk_out == t["PRK_out_after_KeyUpdate"]
        assert side._prk_exporter == t["PRK_exporter_after_KeyUpdate"]
        assert side.exporter(0, b"", 16) == t["OSCORE_Master_Secret_after_KeyUpdate"]
        assert side.exporter(1, b"", 8) == t["OSCORE_Master_Salt_after_KeyUpdate"]


def test_trace_1_x509_signatures_suite_0():
    t = TRACE_1
    cred_i = credentials.x509(t["CRED_I"])
    cred_r = credentials.x509(t["CRED_R"])
    assert cred_i.public_key == t["PK_I"] and cred_r.public_key == t["PK_R"]
    assert cred_r.value == t["CRED_R_item"] and cred_i.value == t["CRED_I_item"]
    assert cred_r.id_cred() == t["ID_CRED_R_item"]
    assert cred_i.id_cred() == t["ID_CRED_I_item"]
    ini, rsp = run_trace(t, 0, 0, cred_i, cred_r)
    check_key_material(t, ini, rsp)


def test_trace_2_ccs_static_dh_suite_2_after_negotiation():
    t = TRACE_2
    cred_i = credentials.ccs(t["CRED_I_item"])
    cred_r = credentials.ccs(t["CRED_R_item"])
    assert cred_r.id_cred() == t["ID_CRED_R_item"]
    assert cred_i.id_cred() == t["ID_CRED_I_item"]
    assert cred_r.public_key == t["PK_R_x"] + t["PK_R_y"]
    # First message_1 selects suite 6, which the Responder refuses with SUITES_R = 2.
    rsp = edhoc.Responder(cred_r, t["SK_R"], scripted_rng(), suites=(2,))
    with pytest.raises(errors.EdhocError) as refused:
        rsp.receive_message_1(t["message_1_first"])
    assert refused.value.code == errors.EDHOC_SUITE
    assert refused.value.peer_message == t["error"]
    assert rsp.state == edhoc.ABORTED
    # The Initiator learns SUITES_R from the error and selects suite 2 next time.
    ini = initiator.Initiator(cred_i, t["SK_I"], scripted_rng(t["X_first"]), method=3,
                          suites=(6, 2), selected_suite=2, c_i=t["C_I_first"])
    ini.message_1()
    with pytest.raises(errors.EdhocPeerError) as peer:
        ini.receive_message_2(t["error"])
    assert peer.value.err_code == 2 and peer.value.suites_r == [2]
    assert initiator.select_suite((6, 2), peer.value.suites_r) == 2
    ini, rsp = run_trace(t, 3, 2, cred_i, cred_r, suites_i=(6, 2))
    check_key_material(t, ini, rsp)


def test_trace_2_message_sizes():
    assert [len(TRACE_2[m]) for m in ("message_1", "message_2", "message_3")] == [39, 45, 19]


def test_trace_2_oscore_context_from_exporter():
    ini, rsp = run_trace(TRACE_2, 3, 2, credentials.ccs(TRACE_2["CRED_I_item"]),
                         credentials.ccs(TRACE_2["CRED_R_item"]), suites_i=(6, 2))
    client = edhoc_oscore.security_context(ini)
    server = edhoc_oscore.security_context(rsp)
    assert client.sender_id == TRACE_2["Client_s_OSCORE_Sender_ID"] == server.recipient_id
    assert client.sender_key == server.recipient_key
    request, exchange = client.protect_request(b"bolus?")
    plaintext, server_exchange = server.unprotect_request(request)
    assert plaintext == b"bolus?"
    assert client.unprotect_response(server.protect_response(b"ok", server_exchange),
                                     exchange) == b"ok"


EXPECTED_CODE = {
    "Error in length of ephemeral key": errors.EDHOC_SUITE,      # selects suite 24
    "Error in elliptic curve representation": errors.EDHOC_VERIFY,
    "Error in elliptic curve point": errors.EDHOC_VERIFY,
    "Curve point of low order": errors.EDHOC_VERIFY,
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_messages_are_refused(name):
    """Each invalid message of RFC 9529 §4 is refused where it would be processed."""
    data = INVALID[name]
    t = TRACE_2
    cred_i = credentials.ccs(t["CRED_I_item"])
    cred_r = credentials.ccs(t["CRED_R_item"])
    if name.startswith(("Surplus map", "Surplus bstr encoding of ID", "Error in length of MAC")):
        from secure_channel.edhoc import messages as edhoc_messages
        with pytest.raises(errors.EdhocError) as refused:
            edhoc_messages.decode_plaintext_2(data, 8)
        assert refused.value.code == errors.EDHOC_MALFORMED
        return
    if "message_2" in name or name.startswith("Wrong number"):
        ini = initiator.Initiator(cred_i, t["SK_I"], scripted_rng(t["X"]), suites=(6, 2),
                              selected_suite=2, c_i=t["C_I"])
        ini.message_1()
        with pytest.raises(errors.EdhocError) as refused:
            ini.receive_message_2(data)
        assert ini.state == edhoc.ABORTED
    else:
        suite = 0 if "low order" in name else 2
        rsp = edhoc.Responder(cred_r if suite == 2 else _x25519_credential(), t["SK_R"],
                              scripted_rng(t["Y"]), suites=(suite,))
        with pytest.raises(errors.EdhocError) as refused:
            rsp.receive_message_1(data)
        assert rsp.state == edhoc.ABORTED
    assert refused.value.code == EXPECTED_CODE.get(name, errors.EDHOC_MALFORMED)
    assert refused.value.peer_message is not None


def _x25519_credential():
    from secure_channel import cbor, crypto
    public = crypto.x25519_public(TRACE_2["SK_R"])
    return credentials.ccs(cbor.encode({8: {1: {1: 1, 2: b"\x32", -1: 4, -2: public}}}))
