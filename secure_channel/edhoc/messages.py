"""Encoding and strict parsing of EDHOC messages (RFC 9528 §5, §6, Appendix C.2).

Pure functions over bytes: no keys, no state. Every parser accepts only deterministic
CBOR matching the CDDL of its message and raises ``EdhocError(EDHOC_MALFORMED)`` otherwise
(the session adds the error message for the peer). Byte-string identifiers (C_I, C_R and a
lone 'kid') use the compact representation of RFC 9528 §3.3.2 both ways.
"""

from secure_channel import cbor, cose
from secure_channel.errors import EDHOC_MALFORMED, EdhocError

# EDHOC error codes (RFC 9528 §6).
ERR_UNSPECIFIED = 1
ERR_WRONG_SUITE = 2
ERR_UNKNOWN_CREDENTIAL = 3

MAX_MESSAGE = 8192          # bound on any EDHOC message we parse
MAX_SUITES = 16             # bound on SUITES_I / SUITES_R entries


def _malformed(why):
    return EdhocError(EDHOC_MALFORMED, why)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _one_byte_int(raw):
    """True if a 1-byte string is the CBOR encoding of an int in -24..23."""
    return len(raw) == 1 and (raw[0] <= 0x17 or 0x20 <= raw[0] <= 0x37)


def encode_identifier(raw):
    """C_x or kid: the one-byte CBOR int if ``raw`` is one, else a CBOR byte string."""
    raw = bytes(raw)
    if _one_byte_int(raw):
        return raw
    return cbor.encode(raw)


def decode_identifier(item):
    """Inverse of ``encode_identifier`` for a decoded item; refuses surplus encodings."""
    if _is_int(item):
        if -24 <= item <= 23:
            return cbor.encode(item)
        raise _malformed("identifier integer out of -24..23")
    if isinstance(item, bytes):
        if _one_byte_int(item):
            raise _malformed("identifier must use its integer representation")
        return item
    raise _malformed("identifier is neither bstr nor int")


def _read_items(data, what):
    """Decode a deterministic CBOR sequence into [(item, raw bytes)]."""
    if not isinstance(data, (bytes, bytearray)):
        raise _malformed("%s must be bytes" % what)
    data = bytes(data)
    if len(data) > MAX_MESSAGE:
        raise _malformed("%s too long" % what)
    items = []
    pos = 0
    try:
        while pos < len(data):
            item, end = cbor.decode_prefix(data, pos)
            items.append((item, data[pos:end]))
            pos = end
    except cbor.CBORError as exc:
        raise _malformed("%s: %s" % (what, exc))
    return items


# --- EAD (RFC 9528 §3.8) ---------------------------------------------------------------

def encode_ead(items):
    """EAD items as a CBOR sequence; ``items`` are (label, value-or-None) pairs."""
    out = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise EdhocError(EDHOC_MALFORMED, "EAD item must be (label, value)")
        label, value = item
        if not _is_int(label) or not -65536 <= label <= 65535:
            raise EdhocError(EDHOC_MALFORMED, "EAD label must be an int")
        out.append(cbor.encode(label))
        if value is not None:
            if not isinstance(value, (bytes, bytearray)):
                raise EdhocError(EDHOC_MALFORMED, "EAD value must be bytes")
            out.append(cbor.encode(bytes(value)))
    return b"".join(out)


def _decode_ead(items):
    """Parse trailing (item, raw) pairs as EAD; returns a list of (label, value-or-None)."""
    result = []
    i = 0
    while i < len(items):
        label = items[i][0]
        if not _is_int(label):
            raise _malformed("EAD label is not an int")
        value = None
        if i + 1 < len(items) and isinstance(items[i + 1][0], bytes):
            value = items[i + 1][0]
            i += 1
        result.append((label, value))
        i += 1
    return result


# --- message_1 -------------------------------------------------------------------------

def encode_suites(suites):
    suites = list(suites)
    if len(suites) == 1:
        return cbor.encode(suites[0])
    return cbor.encode(suites)


def encode_message_1(method, suites_i, g_x, c_i, ead=b""):
    return (cbor.encode(method) + encode_suites(suites_i) + cbor.encode(bytes(g_x))
            + encode_identifier(c_i) + ead)


def _decode_suites(item):
    if _is_int(item):
        return [item]
    if isinstance(item, list) and 2 <= len(item) <= MAX_SUITES:
        for suite in item:
            if not _is_int(suite):
                raise _malformed("suite is not an int")
        return item
    raise _malformed("SUITES must be an int or an array of 2 or more ints")


def decode_message_1(data):
    """Return (method, suites_i list, g_x, c_i, ead list)."""
    items = _read_items(data, "message_1")
    if len(items) < 4:
        raise _malformed("message_1 has too few elements")
    method = items[0][0]
    if not _is_int(method):
        raise _malformed("METHOD is not an int")
    suites = _decode_suites(items[1][0])
    g_x = items[2][0]
    if not isinstance(g_x, bytes):
        raise _malformed("G_X is not a byte string")
    c_i = decode_identifier(items[3][0])
    return method, suites, g_x, c_i, _decode_ead(items[4:])


# --- message_2, message_3, message_4: one byte string each -------------------------------

def encode_bstr_message(payload):
    return cbor.encode(bytes(payload))


def decode_bstr_message(data, what):
    """message_2/3/4: exactly one byte string."""
    items = _read_items(data, what)
    if len(items) != 1 or not isinstance(items[0][0], bytes):
        raise _malformed("%s must be a single byte string" % what)
    return items[0][0]


def is_error_message(data):
    """True if ``data`` starts with an int: an error, not message_2/3/4 (a byte string)."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        return False
    return (data[0] >> 5) in (0, 1)


# --- ID_CRED in PLAINTEXT_2 / PLAINTEXT_3 (RFC 9528 §3.5.3.2) ----------------------------

def encode_id_cred_compact(id_cred):
    """The ID_CRED field of a plaintext: a lone kid shrinks to its identifier encoding."""
    try:
        header = cbor.decode(id_cred)
    except cbor.CBORError:
        raise EdhocError(EDHOC_MALFORMED, "ID_CRED not decodable")
    if isinstance(header, dict) and len(header) == 1 and cose.HDR_KID in header:
        return encode_identifier(header[cose.HDR_KID])
    return id_cred


def _decode_id_cred(item, raw):
    """Return (header map, encoded map) for the ID_CRED field of a plaintext."""
    if isinstance(item, dict):
        if len(item) == 1 and cose.HDR_KID in item:
            raise _malformed("lone kid must use the compact encoding")
        if not item:
            raise _malformed("empty ID_CRED")
        try:
            cose.check_header_map(item)
        except cose.CoseError as exc:
            raise _malformed(str(exc))
        return item, raw
    kid = decode_identifier(item)
    header = {cose.HDR_KID: kid}
    return header, cbor.encode(header)


def encode_plaintext_2(c_r, id_cred_r, signature_or_mac, ead=b""):
    return (encode_identifier(c_r) + encode_id_cred_compact(id_cred_r)
            + cbor.encode(bytes(signature_or_mac)) + ead)


def decode_plaintext_2(data, mac_length):
    """Return (c_r, id_cred map, encoded ID_CRED_R, Signature_or_MAC_2, ead list)."""
    items = _read_items(data, "PLAINTEXT_2")
    if len(items) < 3:
        raise _malformed("PLAINTEXT_2 has too few elements")
    c_r = decode_identifier(items[0][0])
    header, id_cred = _decode_id_cred(items[1][0], items[1][1])
    tag = items[2][0]
    if not isinstance(tag, bytes) or len(tag) != mac_length:
        raise _malformed("Signature_or_MAC_2 has the wrong length")
    return c_r, header, id_cred, tag, _decode_ead(items[3:])


def encode_plaintext_3(id_cred_i, signature_or_mac, ead=b""):
    return encode_id_cred_compact(id_cred_i) + cbor.encode(bytes(signature_or_mac)) + ead


def decode_plaintext_3(data, mac_length):
    """Return (id_cred map, encoded ID_CRED_I, Signature_or_MAC_3, ead list)."""
    items = _read_items(data, "PLAINTEXT_3")
    if len(items) < 2:
        raise _malformed("PLAINTEXT_3 has too few elements")
    header, id_cred = _decode_id_cred(items[0][0], items[0][1])
    tag = items[1][0]
    if not isinstance(tag, bytes) or len(tag) != mac_length:
        raise _malformed("Signature_or_MAC_3 has the wrong length")
    return header, id_cred, tag, _decode_ead(items[2:])


def decode_plaintext_4(data):
    """PLAINTEXT_4 is only EAD_4."""
    return _decode_ead(_read_items(data, "PLAINTEXT_4"))


# --- error (RFC 9528 §6) -----------------------------------------------------------------

def encode_error(err_code, err_info):
    return cbor.encode(err_code) + cbor.encode(err_info)


def decode_error(data):
    """Return (err_code, err_info, suites_r or None)."""
    items = _read_items(data, "error")
    if len(items) != 2:
        raise _malformed("error must have exactly ERR_CODE and ERR_INFO")
    err_code, err_info = items[0][0], items[1][0]
    if not _is_int(err_code):
        raise _malformed("ERR_CODE is not an int")
    suites_r = None
    if err_code == ERR_UNSPECIFIED and not isinstance(err_info, str):
        raise _malformed("ERR_INFO of error 1 must be a text string")
    if err_code == ERR_WRONG_SUITE:
        suites_r = _decode_suites(err_info)
    if err_code == ERR_UNKNOWN_CREDENTIAL and err_info is not True:
        raise _malformed("ERR_INFO of error 3 must be true")
    return err_code, err_info, suites_r
