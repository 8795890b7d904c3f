"""Identity, credential and trust-list files (host side): ``pumpsim keys``, ``serve``, ``gateway``.

Three CBOR files, described in docs/sessions.md:

- identity (``NAME.key``, private, written with mode 0600 only):
  ``{1: 1 (version), 2: kind text, 3: P-256 private scalar (32 bytes), 4: CCS bytes}``;
  kind is ``pump`` or a peer role (patient, clinician, gateway, service);
- credential (``NAME.ccs``, public): the CCS itself, a CWT Claims Set with sub and a cnf
  COSE_Key (EC2 P-256 with kid), nothing else, so that any EDHOC implementation (lakers,
  aiocoap) takes it; older credentials may carry a role claim (``trust.ROLE_CLAIM``);
- trust list (``trust.cbor``, public): ``secure_channel.trust``'s format, what the pump
  accepts: ``{1: 1, 2: [[role, CCS], ...]}``.

Every problem with a file is a ``CliError``: one line, never a traceback.
"""

import os
import secrets

from secure_channel import cbor, crypto
from secure_channel.edhoc import credentials
from secure_channel.protocol import roles
from secure_channel.sessions import trust
from sim.cli import CliError, read_file as read_limited

PUMP = "pump"
KINDS = (PUMP, "patient", "clinician", "gateway", "service")
IDENTITY_VERSION = 1
MAX_FILE = 64 * 1024
PRIVATE_MODE = 0o600


class Identity:
    """One party's identity: kind, static P-256 DH private key, credential."""

    __slots__ = ("kind", "private_key", "credential")

    def __init__(self, kind, private_key, credential):
        self.kind = kind
        self.private_key = private_key
        self.credential = credential

    @property
    def role(self):
        return None if self.kind == PUMP else self.kind


def generate(kind, kid, subject=None):
    """A fresh identity (key from the OS RNG; a P-256 scalar in range)."""
    if kind not in KINDS:
        raise CliError("kind must be one of %s" % ", ".join(KINDS))
    while True:
        private = secrets.token_bytes(32)
        if crypto.p256_valid_private(private):
            break
    public = crypto.p256_public(private)
    # A plain CCS (sub + cnf), as every EDHOC stack parses it (lakers refuses other
    # claims); the role is the trust list's business, never the credential's.
    try:
        ccs = trust.make_ccs(public, kid, subject or kind)
    except trust.TrustError as exc:
        raise CliError(str(exc))
    return Identity(kind, private, credentials.ccs(ccs))


def encode_identity(identity):
    return cbor.encode({1: IDENTITY_VERSION, 2: identity.kind, 3: identity.private_key,
                        4: identity.credential.value})


# -- reading -------------------------------------------------------------------------------
def read_file(path):
    return read_limited(path, MAX_FILE, "key file")


def decode_file(path, data):
    try:
        return cbor.decode(data, canonical=False)
    except cbor.CBORError as exc:
        raise CliError("%s is not a CBOR key file: %s" % (path, exc))


def classify(item):
    """'identity', 'trust-list', 'credential' or None for a decoded file."""
    if not isinstance(item, dict):
        return None
    if 3 in item and 4 in item:
        return "identity"
    if set(item) == {1, 2} and isinstance(item.get(2), list):
        return "trust-list"
    if 8 in item:
        return "credential"
    return None


def parse_identity(path, data):
    item = decode_file(path, data)
    if classify(item) != "identity":
        raise CliError("%s is not an identity (private key) file" % path)
    if item.get(1) != IDENTITY_VERSION or item.get(1) is True or set(item) != {1, 2, 3, 4}:
        raise CliError("%s: unsupported identity file version or fields" % path)
    kind, private, ccs = item[2], item[3], item[4]
    if kind not in KINDS:
        raise CliError("%s: unknown identity kind %r" % (path, str(kind)[:16]))
    if not isinstance(private, bytes) or not crypto.p256_valid_private(private):
        raise CliError("%s: private key is not a P-256 scalar" % path)
    credential = _credential(path, ccs)
    if credential.key_type != credentials.KEY_P256 or \
            credential.public_key != crypto.p256_public(private):
        raise CliError("%s: credential does not match the private key" % path)
    return Identity(kind, private, credential)


def _credential(path, ccs):
    if not isinstance(ccs, bytes):
        raise CliError("%s: credential is not a byte string" % path)
    try:
        credential = credentials.ccs(ccs)
        claimed = trust.role_claim(credential)
    except (credentials.CredentialError, trust.TrustError) as exc:
        raise CliError("%s: bad credential: %s" % (path, exc))
    if credential.kid is None:
        raise CliError("%s: credential has no kid" % path)
    if claimed is not None and claimed not in roles.ROLES:
        raise CliError("%s: credential claims unknown role %r" % (path, claimed[:16]))
    return credential


def check_private_mode(path):
    """Refuse a private key file that group or others may read (POSIX)."""
    if os.name != "posix":
        return
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError as exc:
        raise CliError("cannot read %s: %s" % (path, exc.strerror or exc))
    if mode & 0o077:
        raise CliError("%s has mode %04o: a private key must be owner-only "
                       "(chmod 600 %s)" % (path, mode, path))


def load_identity(path):
    data = read_file(path)
    check_private_mode(path)
    return parse_identity(path, data)


def load_credential(path):
    """A credential from a .ccs file (or the public part of an identity file)."""
    data = read_file(path)
    item = decode_file(path, data)
    kind = classify(item)
    if kind == "identity":
        return parse_identity(path, data).credential
    if kind != "credential":
        raise CliError("%s is not a credential (CCS) file" % path)
    return _credential(path, data)


def load_trust(path):
    data = read_file(path)
    try:
        return trust.decode(data)
    except trust.TrustError as exc:
        raise CliError("%s: not a usable trust list: %s" % (path, exc))


# -- writing -------------------------------------------------------------------------------
def _check_target(path, force):
    if os.path.lexists(path):
        if not force:
            raise CliError("%s exists; use --force to overwrite" % path)
        try:
            os.unlink(path)
        except OSError as exc:
            raise CliError("cannot replace %s: %s" % (path, exc.strerror or exc))


def write_private(path, data, force=False):
    """Write ``data`` to a new file created owner-only (0600) from the start."""
    _check_target(path, force)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (path, exc.strerror or exc))
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, PRIVATE_MODE)      # exactly 0600, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (path, exc.strerror or exc))
    finally:
        os.close(fd)


def write_public(path, data, force=False):
    _check_target(path, force)
    try:
        with open(path, "xb") as f:
            f.write(data)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (path, exc.strerror or exc))


def parse_kid(text):
    """A kid given as hex (``0x2b`` or ``2b``), 1..7 bytes."""
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        kid = bytes.fromhex(digits)
    except ValueError:
        raise CliError("kid must be hex, e.g. 0x2b: %r" % text)
    if not 1 <= len(kid) <= trust.MAX_KID:
        raise CliError("kid must be 1..%d bytes" % trust.MAX_KID)
    return kid
