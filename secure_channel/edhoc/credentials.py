"""EDHOC authentication credentials (RFC 9528 §3.5): CCS with a COSE_Key, and X.509.

A ``Credential`` holds CRED_x exactly as it enters the transcript (``value``, a CBOR data
item), the raw public key and its curve, and how it is identified: by 'kid', by value
('kccs', label 14), or for certificates by hash ('x5t', label 34) or by value ('x5chain').

Validating a credential (certificate path, CCS trust anchor, identity) is the application's
job (RFC 9528 Appendix D); a ``CredentialStore`` holds the credentials it already trusts.
"""

from secure_channel import cbor, cose, crypto

KEY_X25519 = 1
KEY_ED25519 = 2
KEY_P256 = 3

_CWT_SUB = 2
_CWT_CNF = 8
_CNF_COSE_KEY = 1

_OID_ED25519 = b"\x06\x03\x2b\x65\x70"
_OID_EC_PUBLIC_KEY = b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
_OID_PRIME256V1 = b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"


class CredentialError(ValueError):
    """A credential that cannot be parsed or used."""


class Credential:
    """One authentication credential; build it with ``ccs`` or ``x509``."""

    __slots__ = ("kind", "value", "public_key", "key_type", "kid", "subject", "der")

    def __init__(self, kind, value, public_key, key_type, kid=None, subject=None, der=None):
        self.kind = kind            # "ccs" or "x509"
        self.value = value          # CRED_x: the CBOR data item in the transcript
        self.public_key = public_key
        self.key_type = key_type
        self.kid = kid
        self.subject = subject
        self.der = der

    def __eq__(self, other):
        return isinstance(other, Credential) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return "Credential(%s, kid=%r)" % (self.kind, self.kid)

    def x5t(self):
        """COSE_CertHash with SHA-256/64 (RFC 9360), for X.509 credentials."""
        return [cose.ALG_SHA256_64, crypto.sha256(self.der)[:8]]

    def id_cred(self, by_value=False):
        """The encoded ID_CRED_x header map identifying this credential."""
        if self.kind == "x509":
            if by_value:
                return b"\xa1\x18\x21" + cbor.encode(self.der)   # {33: bstr} x5chain
            return cbor.encode({cose.HDR_X5T: self.x5t()})
        if by_value or self.kid is None:
            return b"\xa1\x0e" + self.value                       # {14: CCS} kccs
        return cbor.encode({cose.HDR_KID: self.kid})


def ccs(value):
    """Parse CRED_x bytes holding a CWT Claims Set with a 'cnf' COSE_Key (RFC 8392/8747)."""
    if not isinstance(value, (bytes, bytearray)):
        raise CredentialError("CCS must be bytes")
    value = bytes(value)
    try:
        claims = cbor.decode(value, canonical=False)
    except cbor.CBORError as exc:
        raise CredentialError("CCS not decodable: %s" % exc)
    return _ccs_from_claims(claims, value)


def _ccs_from_claims(claims, value):
    if not isinstance(claims, dict):
        raise CredentialError("CCS is not a map")
    cnf = claims.get(_CWT_CNF)
    if not isinstance(cnf, dict) or _CNF_COSE_KEY not in cnf:
        raise CredentialError("CCS has no cnf COSE_Key")
    try:
        key = cose.parse_cose_key(cnf[_CNF_COSE_KEY])
    except cose.CoseError as exc:
        raise CredentialError(str(exc))
    subject = claims.get(_CWT_SUB)
    if subject is not None and not isinstance(subject, str):
        raise CredentialError("CCS sub is not a text string")
    if key.kty == cose.KTY_EC2:
        key_type = KEY_P256
    elif key.crv == cose.CRV_X25519:
        key_type = KEY_X25519
    else:
        key_type = KEY_ED25519
    return Credential("ccs", value, key.raw_public(), key_type, key.kid, subject)


def x509(der, public_key=None, key_type=None):
    """An X.509 credential: CRED_x is the DER certificate as a CBOR byte string.

    The subject public key is read from the certificate (Ed25519 or P-256) unless given.
    The certificate's signature and path are not checked here: that is the application's.
    """
    if not isinstance(der, (bytes, bytearray)) or not der:
        raise CredentialError("certificate must be non-empty bytes")
    der = bytes(der)
    if public_key is None:
        public_key, key_type = _spki_public_key(der)
    elif key_type not in (KEY_ED25519, KEY_X25519, KEY_P256):
        raise CredentialError("key_type required with public_key")
    return Credential("x509", cbor.encode(der), bytes(public_key), key_type, der=der)


def _der_read(data, pos, end):
    """One DER TLV at ``pos``: (tag, content start, content end)."""
    if pos + 2 > end:
        raise CredentialError("DER truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 3 or pos + count > end:
            raise CredentialError("DER length not supported")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise CredentialError("DER truncated")
    return tag, pos, pos + length


def _spki_public_key(der):
    """Walk Certificate → TBSCertificate → SubjectPublicKeyInfo and return the key."""
    tag, start, end = _der_read(der, 0, len(der))
    if tag != 0x30 or end != len(der):
        raise CredentialError("not a DER certificate")
    tag, pos, tbs_end = _der_read(der, start, end)
    if tag != 0x30:
        raise CredentialError("no TBSCertificate")
    tag, _, next_pos = _der_read(der, pos, tbs_end)
    if tag == 0xA0:                      # explicit version
        pos = next_pos
    for _ in range(5):                   # serial, signature, issuer, validity, subject
        _, _, pos = _der_read(der, pos, tbs_end)
    tag, spki, spki_end = _der_read(der, pos, tbs_end)
    if tag != 0x30:
        raise CredentialError("no SubjectPublicKeyInfo")
    tag, alg, alg_end = _der_read(der, spki, spki_end)
    tag2, bits, bits_end = _der_read(der, alg_end, spki_end)
    if tag != 0x30 or tag2 != 0x03 or bits_end - bits < 2 or der[bits] != 0:
        raise CredentialError("bad SubjectPublicKeyInfo")
    algorithm = der[alg:alg_end]
    key = der[bits + 1:bits_end]
    if algorithm == _OID_ED25519 and len(key) == 32:
        return key, KEY_ED25519
    if algorithm == _OID_EC_PUBLIC_KEY + _OID_PRIME256V1 and len(key) == 65 and key[0] == 4:
        return key[1:], KEY_P256
    raise CredentialError("unsupported subject public key")


def from_id_cred(id_cred):
    """The credential carried by value in a decoded ID_CRED map, or None if by reference.

    Returns an untrusted Credential: the application decides whether to accept it.
    """
    if cose.HDR_KCCS in id_cred:
        claims = id_cred[cose.HDR_KCCS]
        return _ccs_from_claims(claims, cbor.encode(claims))
    if cose.HDR_X5CHAIN in id_cred:
        chain = id_cred[cose.HDR_X5CHAIN]
        if isinstance(chain, list):
            if not chain:
                raise CredentialError("empty x5chain")
            chain = chain[0]
        if not isinstance(chain, bytes):
            raise CredentialError("x5chain is not a byte string")
        return x509(chain)
    return None


class CredentialStore:
    """The peer credentials an endpoint trusts, looked up by a received ID_CRED map."""

    def __init__(self, credentials=()):
        self._credentials = []
        for credential in credentials:
            self.add(credential)

    def add(self, credential):
        if not isinstance(credential, Credential):
            raise CredentialError("not a Credential")
        self._credentials.append(credential)

    def lookup(self, id_cred, by_value=None):
        """The trusted credential an ID_CRED refers to, or None.

        ``by_value`` is the credential a peer sent in ID_CRED (see ``from_id_cred``): it is
        returned only if it is byte-for-byte one of the trusted credentials.
        """
        if by_value is not None:
            for credential in self._credentials:
                if credential.value == by_value.value:
                    return credential
            return None
        kid = id_cred.get(cose.HDR_KID) if isinstance(id_cred, dict) else None
        x5t = id_cred.get(cose.HDR_X5T) if isinstance(id_cred, dict) else None
        for credential in self._credentials:
            if kid is not None and credential.kind == "ccs" and credential.kid == kid:
                return credential
            if x5t is not None and credential.kind == "x509" and _x5t_matches(credential, x5t):
                return credential
        return None


def _x5t_matches(credential, x5t):
    if not isinstance(x5t, list) or len(x5t) != 2 or not isinstance(x5t[1], bytes):
        return False
    alg, digest = x5t
    if alg == cose.ALG_SHA256_64:
        return crypto.constant_time_equal(crypto.sha256(credential.der)[:8], digest)
    if alg == -16:   # SHA-256
        return crypto.constant_time_equal(crypto.sha256(credential.der), digest)
    return False
