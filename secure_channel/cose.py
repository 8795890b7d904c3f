"""The COSE (RFC 9052/9053) pieces this channel uses: Encrypt0, Sig_structure, COSE_Key.

Only what EDHOC and OSCORE need, strictly validated. Parsers raise ``CoseError`` for any
input they do not accept; nothing else escapes them.
"""

from secure_channel import cbor

# Common header parameter labels (RFC 9052 §3.1, RFC 8613 §5, RFC 9360, RFC 9528 §10.6).
HDR_ALG = 1
HDR_KID = 4
HDR_IV = 5
HDR_PARTIAL_IV = 6
HDR_KID_CONTEXT = 10
HDR_KCWT = 13
HDR_KCCS = 14
HDR_X5CHAIN = 33
HDR_X5T = 34

# COSE_Key labels and values (RFC 9052 §7, RFC 9053 §7).
KEY_KTY = 1
KEY_KID = 2
KEY_CRV = -1
KEY_X = -2
KEY_Y = -3
KTY_OKP = 1
KTY_EC2 = 2
CRV_P256 = 1
CRV_X25519 = 4
CRV_ED25519 = 6

ALG_SHA256_64 = -15        # truncated SHA-256, used by x5t
TAG_ENCRYPT0 = 16

_ENCRYPT0_PREFIX = b"\x83\x68Encrypt0"     # array(3), tstr "Encrypt0"
_SIGNATURE1_PREFIX = b"\x84\x6aSignature1"  # array(4), tstr "Signature1"


class CoseError(ValueError):
    """A COSE structure that this implementation does not accept."""


def _bstr(data):
    return cbor.encode(bytes(data))


def enc_structure(protected, external_aad):
    """AAD of COSE_Encrypt0 (RFC 9052 §5.3): ["Encrypt0", protected, external_aad]."""
    return _ENCRYPT0_PREFIX + _bstr(protected) + _bstr(external_aad)


def sig_structure(protected, external_aad, payload):
    """ToBeSigned of COSE_Sign1 (RFC 9052 §4.4): ["Signature1", protected, aad, payload]."""
    return _SIGNATURE1_PREFIX + _bstr(protected) + _bstr(external_aad) + _bstr(payload)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_header_map(headers):
    """Validate a decoded header map: int/tstr labels, and the types of the labels we use."""
    if not isinstance(headers, dict):
        raise CoseError("header map is not a map")
    for label in headers:
        if not (_is_int(label) or isinstance(label, str)):
            raise CoseError("header label is not int or tstr")
    for label in (HDR_KID, HDR_IV, HDR_PARTIAL_IV, HDR_KID_CONTEXT):
        if label in headers and not isinstance(headers[label], bytes):
            raise CoseError("header parameter %d is not a byte string" % label)
    return headers


def encode_encrypt0(protected, unprotected, ciphertext):
    """Untagged COSE_Encrypt0: [protected (bstr), unprotected (map), ciphertext (bstr)]."""
    return cbor.encode([bytes(protected), unprotected, bytes(ciphertext)])


def decode_encrypt0(data):
    """Return (protected bytes, protected map, unprotected map, ciphertext); tag 16 optional."""
    try:
        item = cbor.decode(data)
    except cbor.CBORError as exc:
        raise CoseError("COSE_Encrypt0 not decodable: %s" % exc)
    if isinstance(item, cbor.Tag):
        if item.tag != TAG_ENCRYPT0:
            raise CoseError("unexpected tag")
        item = item.value
    if not isinstance(item, list) or len(item) != 3:
        raise CoseError("COSE_Encrypt0 is not an array of 3")
    protected, unprotected, ciphertext = item
    if not isinstance(protected, bytes) or not isinstance(ciphertext, bytes):
        raise CoseError("COSE_Encrypt0 fields have wrong types")
    protected_map = {}
    if protected:
        try:
            protected_map = cbor.decode(protected)
        except cbor.CBORError:
            raise CoseError("protected header not decodable")
        check_header_map(protected_map)
    check_header_map(unprotected)
    for label in unprotected:
        if label in protected_map:
            raise CoseError("header parameter in both buckets")
    return protected, protected_map, unprotected, ciphertext


class CoseKey:
    """A public COSE_Key: ``kty``, ``crv``, ``kid`` (bytes or None), ``x``, ``y`` (or None)."""

    __slots__ = ("kty", "crv", "kid", "x", "y")

    def __init__(self, kty, crv, kid, x, y):
        self.kty = kty
        self.crv = crv
        self.kid = kid
        self.x = x
        self.y = y

    def raw_public(self):
        """The key as the crypto interface takes it: 32 bytes, or 64 bytes x||y for P-256."""
        if self.kty == KTY_EC2 and self.y is not None:
            return self.x + self.y
        return self.x


def parse_cose_key(key):
    """Validate a decoded COSE_Key map holding a public key of a curve used here."""
    if not isinstance(key, dict):
        raise CoseError("COSE_Key is not a map")
    kty = key.get(KEY_KTY)
    crv = key.get(KEY_CRV)
    x = key.get(KEY_X)
    kid = key.get(KEY_KID)
    if kid is not None and not isinstance(kid, bytes):
        raise CoseError("COSE_Key kid is not a byte string")
    if not isinstance(x, bytes) or len(x) != 32:
        raise CoseError("COSE_Key x must be 32 bytes")
    if kty == KTY_OKP and _is_int(crv) and crv in (CRV_X25519, CRV_ED25519):
        if KEY_Y in key:
            raise CoseError("OKP key with y")
        return CoseKey(kty, crv, kid, x, None)
    if kty == KTY_EC2 and crv == CRV_P256 and _is_int(crv):
        y = key.get(KEY_Y)
        if isinstance(y, bool) or y is None:
            y = None   # compact (x-only) representation
        elif not isinstance(y, bytes) or len(y) != 32:
            raise CoseError("COSE_Key y must be 32 bytes")
        return CoseKey(kty, crv, kid, x, y)
    raise CoseError("unsupported COSE_Key type or curve")
