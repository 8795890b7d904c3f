"""RFC 8613 Appendix C test vectors (key derivation, nonces, protected requests and
responses) and the §6.3 header compression examples."""

import pytest

from secure_channel import cbor
from secure_channel.oscore import context as oscore, cose_form

H = bytes.fromhex
SECRET = H("0102030405060708090a0b0c0d0e0f10")
SALT = H("9e7ca92223786340")
ID_CONTEXT = H("37cbf3210017a2d3")

# (name, master salt, id context, client SID, client RID, client sender key, recipient key,
#  common IV, client sender nonce, client recipient nonce) -- Appendix C.1 to C.3.
KEY_VECTORS = [
    ("C.1", SALT, None, b"", H("01"),
     "f0910ed7295e6ad4b54fc793154302ff", "ffb14e093c94c9cac9471648b4f98710",
     "4622d4dd6d944168eefb54987c", "4622d4dd6d944168eefb54987c",
     "4722d4dd6d944169eefb54987c"),
    ("C.2", b"", None, H("00"), H("01"),
     "321b26943253c7ffb6003b0b64d74041", "e57b5635815177cd679ab4bcec9d7dda",
     "be35ae297d2dace910c52e99f9", "bf35ae297d2dace910c52e99f9",
     "bf35ae297d2dace810c52e99f9"),
    ("C.3", SALT, ID_CONTEXT, b"", H("01"),
     "af2a1300a5e95788b356336eeecd2b92", "e39a0c7c77b43f03b4b39ab9a268699f",
     "2ca58fb85ff1b81c0b7181b85e", "2ca58fb85ff1b81c0b7181b85e",
     "2da58fb85ff1b81d0b7181b85e"),
]

INFO = {
    "C.1": ("8540f60a634b657910", "854101f60a634b657910", "8540f60a6249560d"),
    "C.2": ("854100f60a634b657910", "854101f60a634b657910", "8540f60a6249560d"),
    "C.3": ("85404837cbf3210017a2d30a634b657910", "8541014837cbf3210017a2d30a634b657910",
            "85404837cbf3210017a2d30a6249560d"),
}


@pytest.mark.parametrize("vector", KEY_VECTORS, ids=[v[0] for v in KEY_VECTORS])
def test_key_derivation_client_and_server(vector):
    name, salt, id_ctx, sid, rid, s_key, r_key, iv, s_nonce, r_nonce = vector
    sender_info, recipient_info, iv_info = INFO[name]
    assert cbor.encode([sid, id_ctx, 10, "Key", 16]).hex() == sender_info
    assert cbor.encode([rid, id_ctx, 10, "Key", 16]).hex() == recipient_info
    assert cbor.encode([b"", id_ctx, 10, "IV", 13]).hex() == iv_info
    client = oscore.SecurityContext(SECRET, salt, sid, rid, id_context=id_ctx)
    server = oscore.SecurityContext(SECRET, salt, rid, sid, id_context=id_ctx)
    assert (client.sender_key.hex(), client.recipient_key.hex()) == (s_key, r_key)
    assert (server.sender_key.hex(), server.recipient_key.hex()) == (r_key, s_key)
    assert client.common_iv.hex() == server.common_iv.hex() == iv
    zero = oscore.encode_piv(0)
    assert zero == b"\x00"
    assert oscore.nonce(client.common_iv, sid, zero).hex() == s_nonce
    assert oscore.nonce(client.common_iv, rid, zero).hex() == r_nonce


# (name, context from C.x, plaintext, kid context sent, option value, ciphertext)
REQUEST_VECTORS = [
    ("C.4", 0, "01b3747631", False, "0914", "612f1092f1776f1c1668b3825e"),
    ("C.5", 1, "01b3747631", False, "091400", "4ed339a5a379b0b8bc731fffb0"),
    ("C.6", 2, "01b3747631", True, "19140837cbf3210017a2d3", "72cd7273fd331ac45cffbe55c3"),
]


@pytest.mark.parametrize("vector", REQUEST_VECTORS, ids=[v[0] for v in REQUEST_VECTORS])
def test_protected_requests(vector):
    name, index, plaintext, send_ctx, option, ciphertext = vector
    _, salt, id_ctx, sid, rid = KEY_VECTORS[index][:5]
    client = oscore.SecurityContext(SECRET, salt, sid, rid, id_context=id_ctx,
                                    send_kid_context=send_ctx)
    client.sender_seq = 20
    message, exchange = client.protect_request(H(plaintext))
    assert oscore.split(message) == (H(option), H(ciphertext))
    assert exchange.piv == b"\x14"
    server = oscore.SecurityContext(SECRET, salt, rid, sid, id_context=id_ctx)
    assert server.unprotect_request(message)[0] == H(plaintext)


@pytest.mark.parametrize("new_piv,option,ciphertext", [
    (False, "", "dbaad1e9a7e7b2a813d3c31524378303cdafae119106"),              # C.7
    (True, "0100", "4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"),           # C.8
])
def test_protected_responses(new_piv, option, ciphertext):
    client = oscore.SecurityContext(SECRET, SALT, b"", H("01"))
    server = oscore.SecurityContext(SECRET, SALT, H("01"), b"")
    client.sender_seq = 20
    request, client_exchange = client.protect_request(H("01b3747631"))
    _, exchange = server.unprotect_request(request)
    response = server.protect_response(H("45ff48656c6c6f20576f726c6421"), exchange,
                                       new_piv=new_piv)
    assert oscore.split(response) == (H(option), H(ciphertext))
    assert client.unprotect_response(response, client_exchange) == \
        H("45ff48656c6c6f20576f726c6421")


def test_aad_example_of_section_5_4():
    assert oscore.aad(H("00"), H("25")).hex() == "8368456e63727970743040498501810a4100412540"


# RFC 8613 §6.3 examples 1, 2, 4 and 5: (COSE_Encrypt0 before, option value after).
CT = "aea0155667924dff8a24e4cb35b9"
COMPRESSION = [
    ({4: H("25"), 6: H("05")}, "090525"),
    ({4: b"", 6: H("00")}, "0900"),
    ({}, ""),
    ({6: H("07")}, "0107"),
]


@pytest.mark.parametrize("unprotected,option", COMPRESSION)
def test_header_compression_examples(unprotected, option):
    full = cbor.encode([b"", unprotected, H(CT)])
    assert cose_form.from_cose(full) == (H(option), H(CT))
    assert cose_form.to_cose(H(option), H(CT)) == full


def test_kid_context_compression_example_3():
    assert oscore.compress(H("05"), b"", H("44616c656b")).hex() == "19050544616c656b"
    assert oscore.decompress(H("19050544616c656b")) == (H("05"), b"", H("44616c656b"))


# -- the same vectors as whole CoAP messages (RFC 8613 C.4 to C.8) ------------------------

from secure_channel.coap import message as M, protect  # noqa: E402

# (name, context index, unprotected CoAP request, protected CoAP request)
COAP_REQUESTS = [
    ("C.4", 0, "44015d1f00003974396c6f63616c686f737483747631",
     "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e"),
    ("C.5", 1, "440171c30000b932396c6f63616c686f737483747631",
     "440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0"),
    ("C.6", 2, "44012f8eef9bbf7a396c6f63616c686f737483747631",
     "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3"),
]
UNPROTECTED_RESPONSE = "64455d1f00003974ff48656c6c6f20576f726c6421"
COAP_RESPONSES = [
    ("C.7", False, "64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106"),
    ("C.8", True, "64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"),
]


def _pair(index, send_ctx=False):
    _, salt, id_ctx, sid, rid = KEY_VECTORS[index][:5]
    client = oscore.SecurityContext(SECRET, salt, sid, rid, id_context=id_ctx,
                                    send_kid_context=send_ctx)
    server = oscore.SecurityContext(SECRET, salt, rid, sid, id_context=id_ctx)
    client.sender_seq = 20
    return client, server


@pytest.mark.parametrize("vector", COAP_REQUESTS, ids=[v[0] for v in COAP_REQUESTS])
def test_protected_coap_requests_byte_for_byte(vector):
    name, index, plain, protected = vector
    client, server = _pair(index, send_ctx=(name == "C.6"))
    outer, _ = protect.protect_request(client, M.decode(H(plain)))
    assert M.encode(outer).hex() == protected
    inner, _ = protect.unprotect_request(server, M.decode(H(protected)))
    assert inner == M.decode(H(plain))
    assert protect.request_header(M.decode(H(protected)))[0] == b"\x14"


@pytest.mark.parametrize("name,new_piv,protected", COAP_RESPONSES,
                         ids=[v[0] for v in COAP_RESPONSES])
def test_protected_coap_responses_byte_for_byte(name, new_piv, protected):
    client, server = _pair(0)
    request, client_exchange = protect.protect_request(client, M.decode(H(COAP_REQUESTS[0][2])))
    _, exchange = protect.unprotect_request(server, M.decode(M.encode(request)))
    outer = protect.protect_response(server, M.decode(H(UNPROTECTED_RESPONSE)), exchange,
                                     new_piv=new_piv)
    assert M.encode(outer).hex() == protected
    inner = protect.unprotect_response(client, M.decode(H(protected)), client_exchange)
    assert inner == M.decode(H(UNPROTECTED_RESPONSE))


def test_class_u_options_stay_outside_and_class_e_inside():
    client, server = _pair(1)
    request = M.Message(code=0x02, mid=7, token=b"\x01")
    request.add(3, "pump.local").add(39, "coap").set_path("bolus")
    request.add(12, 60).add(252, b"\x01\x02")            # Content-Format, Echo: class E
    request.payload = b"\xa1\x02\x19\x03\xe8"
    outer, _ = protect.protect_request(client, request)
    numbers = sorted(n for n, _ in outer.options)
    assert numbers == [3, 9, 39]                          # Uri-Host, OSCORE, Proxy-Scheme
    assert b"bolus" not in M.encode(outer)
    inner, _ = protect.unprotect_request(server, M.decode(M.encode(outer)))
    assert inner == request


def test_proxy_uri_is_refused_and_class_u_inside_is_malformed():
    client, server = _pair(1)
    request = M.Message(code=0x01, token=b"\x01").add(35, "coap://pump/status")
    with pytest.raises(oscore.RecordError):
        protect.protect_request(client, request)
    # A peer that encrypts a Uri-Host (class U) breaks §4.1: refused after decryption.
    record, _ = client.protect_request(b"\x01" + M.encode_options([(3, b"x")]))
    option, ciphertext = oscore.split(record)
    outer = M.Message(code=0x02, token=b"\x02", options=[(9, option)], payload=ciphertext)
    with pytest.raises(oscore.RecordError) as info:
        protect.unprotect_request(server, outer)
    assert info.value.code == oscore.RECORD_MALFORMED


def test_class_e_options_a_relay_adds_outside_are_dropped_not_merged():
    """A relay cannot change what a protected request asks for (or a response says) by
    adding Uri-Path, Uri-Query or Content-Format outside the encryption."""
    client, server = _pair(1)
    request = M.Message(code=0x01, mid=3, token=b"\x03").set_path("log/alarms")
    outer, exchange = protect.protect_request(client, request)
    for number, value in ((11, b"status"), (15, b"from_seq=99999"), (12, b"\x32"),
                          (17, b"\x00")):
        outer.add(number, value)
    inner, server_exchange = protect.unprotect_request(server, M.decode(M.encode(outer)))
    assert inner == request
    answer = M.Message(code=0x45, payload=b"\xa1\x02\x80")
    protected = protect.protect_response(server, answer, server_exchange)
    protected.add(12, b"\x00").add(11, b"x")
    assert protect.unprotect_response(client, M.decode(M.encode(protected)), exchange) == \
        answer
