"""The pump's trust list: which peer credentials it accepts, and the role each one carries.

A peer's role (patient, clinician, gateway, service) is bound to its credential, never
taken from a message. Two places say it, and they must agree:

- the credential itself: a CCS (CWT Claims Set, RFC 8392) whose private-use claim
  ``ROLE_CLAIM`` (-65537) holds the role as text. The whole CCS enters the EDHOC
  transcript, so the claim is authenticated with the key;
- the trust list the pump holds, provisioned with the pump (``pumpsim keys trust``): one
  entry per peer, ``[role, CCS bytes]``. This is the authority: a credential that is not
  in it is unknown, whatever it claims.

``TrustList.lookup(id_cred, by_value)`` answers a received ID_CRED with the trusted
``Entry`` (role + credential) or None; the session layer hands the entry's credential to
``edhoc.Responder.verify_message_3``, and its role to the dispatcher once that verified.

Wire format of a trust list (deterministic CBOR)::

    {1: 1 (format version), 2: [[role text, CCS bstr], ...]}

Parsing is strict (``decode`` raises ``TrustError`` for anything else): at most
``MAX_ENTRIES`` entries, CCS of at most ``MAX_CCS`` bytes with a kid, known roles, no kid
twice, and a CCS role claim, if present, equal to the entry's role.
"""

from secure_channel import cbor, cose, numbers
from secure_channel.edhoc import credentials
from secure_channel.protocol import roles

ROLE_CLAIM = -65537          # CWT private-use claim (RFC 8392 §9.1: below -65536)
FORMAT_VERSION = 1
MAX_ENTRIES = 32
MAX_CCS = 512
MAX_KID = 7                  # a kid is also a compact identifier: at most 7 bytes
MAX_LIST = 2 + MAX_ENTRIES * (MAX_CCS + 16)

_CWT_SUB = 2
_CWT_CNF = 8
_CNF_COSE_KEY = 1


class TrustError(ValueError):
    """A trust list, trust entry or role claim that cannot be accepted."""


class Entry:
    """One trusted peer: its ``role`` and ``credential`` (a ``credentials.Credential``)."""

    __slots__ = ("role", "credential")

    def __init__(self, role, credential):
        self.role = role
        self.credential = credential

    @property
    def kid(self):
        return self.credential.kid

    def __repr__(self):
        return "Entry(%s, kid=%r)" % (self.role, self.credential.kid)


def role_claim(credential_or_bytes):
    """The role text a CCS claims (``ROLE_CLAIM``), or None; TrustError if unreadable."""
    value = credential_or_bytes
    if isinstance(value, credentials.Credential):
        value = value.value
    if not isinstance(value, (bytes, bytearray)):
        raise TrustError("credential must be CCS bytes")
    try:
        claims = cbor.decode(bytes(value), canonical=False)
    except cbor.CBORError:
        raise TrustError("credential is not CBOR")
    if not isinstance(claims, dict):
        raise TrustError("credential is not a claims map")
    role = claims.get(ROLE_CLAIM)
    if role is not None and not isinstance(role, str):
        raise TrustError("role claim is not text")
    return role


def make_ccs(public_key, kid, subject=None, role=None):
    """CCS bytes for a P-256 public key (64 bytes x||y) with a kid and optional sub/role."""
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 64:
        raise TrustError("P-256 public key must be 64 bytes x||y")
    if not isinstance(kid, (bytes, bytearray)) or not 1 <= len(kid) <= MAX_KID:
        raise TrustError("kid must be 1..%d bytes" % MAX_KID)
    key = {cose.KEY_KTY: cose.KTY_EC2, cose.KEY_KID: bytes(kid), cose.KEY_CRV: cose.CRV_P256,
           cose.KEY_X: bytes(public_key[:32]), cose.KEY_Y: bytes(public_key[32:])}
    claims = {_CWT_CNF: {_CNF_COSE_KEY: key}}
    if subject is not None:
        if not isinstance(subject, str):
            raise TrustError("subject must be text")
        claims[_CWT_SUB] = subject
    if role is not None:
        claims[ROLE_CLAIM] = _check_role(role)
    return cbor.encode(claims)


def _check_role(role):
    if not isinstance(role, str) or role not in roles.ROLES:
        raise TrustError("role must be one of %s" % ", ".join(roles.ROLES))
    return role


def _credential(ccs):
    if not isinstance(ccs, (bytes, bytearray)) or not 0 < len(ccs) <= MAX_CCS:
        raise TrustError("credential must be 1..%d bytes of CCS" % MAX_CCS)
    try:
        return credentials.ccs(bytes(ccs))
    except credentials.CredentialError as exc:
        raise TrustError("credential: %s" % exc)


class TrustList:
    """Trusted peer credentials by kid, each with its role."""

    def __init__(self, entries=()):
        self._entries = []
        for role, credential in entries:
            self.add(role, credential)

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(list(self._entries))

    def add(self, role, credential):
        """Trust ``credential`` (a Credential or CCS bytes) for ``role``; returns the Entry."""
        _check_role(role)
        if not isinstance(credential, credentials.Credential):
            credential = _credential(credential)
        if credential.kind != "ccs":
            raise TrustError("only CCS credentials carry a role")
        if len(credential.value) > MAX_CCS:
            raise TrustError("credential longer than %d bytes" % MAX_CCS)
        kid = credential.kid
        if not isinstance(kid, bytes) or not 1 <= len(kid) <= MAX_KID:
            raise TrustError("credential needs a kid of 1..%d bytes" % MAX_KID)
        claimed = role_claim(credential)
        if claimed is not None and claimed != role:
            raise TrustError("credential claims role %s, entry says %s"
                             % (claimed[:16], role))
        if len(self._entries) >= MAX_ENTRIES:
            raise TrustError("trust list holds at most %d entries" % MAX_ENTRIES)
        for entry in self._entries:
            if entry.credential.kid == kid:
                raise TrustError("kid %s is already in the trust list" % _hex(kid))
        entry = Entry(role, credential)
        self._entries.append(entry)
        return entry

    def by_kid(self, kid):
        for entry in self._entries:
            if entry.credential.kid == kid:
                return entry
        return None

    def lookup(self, id_cred, by_value=None):
        """The Entry a received ID_CRED names, or None.

        ``by_value`` (a credential the peer sent in ID_CRED) matches only a byte-identical
        trusted credential; otherwise the lookup is by 'kid' alone.
        """
        if by_value is not None:
            value = getattr(by_value, "value", None)
            for entry in self._entries:
                if entry.credential.value == value:
                    return entry
            return None
        if not isinstance(id_cred, dict):
            return None
        kid = id_cred.get(cose.HDR_KID)
        if not isinstance(kid, bytes):
            return None
        return self.by_kid(kid)

    def credential_store(self):
        """The trusted credentials as a ``credentials.CredentialStore``."""
        return credentials.CredentialStore([e.credential for e in self._entries])

    def encode(self):
        # Entries in kid order, so one trust list has one encoding.
        ordered = sorted(self._entries, key=lambda e: e.credential.kid)
        return cbor.encode({1: FORMAT_VERSION,
                            2: [[e.role, e.credential.value] for e in ordered]})


def decode(data):
    """Parse a trust list (see the module docstring); raises TrustError."""
    if not isinstance(data, (bytes, bytearray)):
        raise TrustError("trust list must be bytes")
    if len(data) > MAX_LIST:
        raise TrustError("trust list longer than %d bytes" % MAX_LIST)
    try:
        doc = cbor.decode(bytes(data))
    except cbor.CBORError as exc:
        raise TrustError("trust list is not deterministic CBOR: %s" % exc)
    if not isinstance(doc, dict) or len(doc) != 2 or 1 not in doc or 2 not in doc:
        raise TrustError("trust list must be a map {1: version, 2: entries}")
    version = doc[1]
    if version is True or version is False or version != FORMAT_VERSION:
        raise TrustError("trust list format version must be %d" % FORMAT_VERSION)
    items = doc[2]
    if not isinstance(items, list):
        raise TrustError("trust list entries must be an array")
    if len(items) > MAX_ENTRIES:
        raise TrustError("trust list holds at most %d entries" % MAX_ENTRIES)
    trust = TrustList()
    for item in items:
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str) \
                or not isinstance(item[1], bytes):
            raise TrustError("each entry must be [role text, CCS bytes]")
        trust.add(item[0], item[1])
    return trust


_hex = numbers.hex_id
