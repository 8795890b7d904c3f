"""RFC 8613 Appendix C test vectors (key derivation, nonces, protected requests and
responses) and the §6.3 header compression examples."""

import pytest

from secure_channel import cbor, oscore

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
    assert oscore.from_cose(full) == (H(option), H(CT))
    assert oscore.to_cose(H(option), H(CT)) == full


def test_kid_context_compression_example_3():
    assert oscore.compress(H("05"), b"", H("44616c656b")).hex() == "19050544616c656b"
    assert oscore.decompress(H("19050544616c656b")) == (H("05"), b"", H("44616c656b"))
