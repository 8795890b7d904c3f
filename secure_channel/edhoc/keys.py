"""EDHOC key schedule (RFC 9528 §4) and the per-suite key agreement and signatures.

EDHOC_Extract is HKDF-Extract and EDHOC_Expand is HKDF-Expand with SHA-256 (all suites
here use SHA-256). Key agreement and signatures dispatch on the suite's curve; every
failure of a public key or signature is reported as ValueError for the session to map.
"""

from secure_channel import cbor, crypto
from secure_channel.edhoc.suites import CURVE_X25519, SIG_EDDSA

# EDHOC_KDF info labels (RFC 9528 Figure 6, Appendix H).
KEYSTREAM_2 = 0
SALT_3E2M = 1
MAC_2 = 2
K_3 = 3
IV_3 = 4
SALT_4E3M = 5
MAC_3 = 6
PRK_OUT = 7
K_4 = 8
IV_4 = 9
PRK_EXPORTER = 10
KEY_UPDATE = 11

HASH_LENGTH = 32
MAX_EXPAND = 255 * HASH_LENGTH


def _uint(n):
    return cbor.encode(n)


def h(data):
    return crypto.sha256(data)


def extract(salt, ikm):
    return crypto.hkdf_extract(salt, ikm)


def kdf(prk, label, context, length):
    """EDHOC_KDF(PRK, info_label, context, length) with info = (label, bstr, uint)."""
    info = cbor.encode(label) + cbor.encode(bytes(context)) + _uint(length)
    return crypto.hkdf_expand(prk, info, length)


def bstr(data):
    return cbor.encode(bytes(data))


def exporter_prk(prk_out):
    return kdf(prk_out, PRK_EXPORTER, b"", HASH_LENGTH)


# --- key agreement ----------------------------------------------------------------------

def ephemeral_keypair(suite, rng):
    """(private, public G_X/G_Y in compact form) drawn from the HAL RNG."""
    if suite.curve == CURVE_X25519:
        private = crypto.random_bytes(rng, 32)
        return private, crypto.x25519_public(private)
    for _ in range(8):
        private = crypto.random_bytes(rng, 32)
        if crypto.p256_valid_private(private):
            return private, crypto.p256_public(private)[:32]
    raise ValueError("RNG gave no valid P-256 scalar in 8 draws")


def ecdh(suite, private, peer_public):
    """Shared secret on the suite's curve; ValueError for an invalid or low-order key."""
    if suite.curve == CURVE_X25519:
        if len(peer_public) != 32:
            raise ValueError("X25519 public key must be 32 bytes")
        return crypto.x25519_shared(private, peer_public)
    if len(peer_public) not in (32, 64):
        raise ValueError("P-256 public key must be 32 or 64 bytes")
    return crypto.p256_shared(private, peer_public)


def static_public(suite, private):
    """The public static DH key for a private one, as a credential would carry it."""
    if suite.curve == CURVE_X25519:
        return crypto.x25519_public(private)
    return crypto.p256_public(private)


# --- signatures ---------------------------------------------------------------------------

def sign(suite, private, data):
    if suite.signature == SIG_EDDSA:
        return crypto.ed25519_sign(private, data)
    return crypto.ecdsa_p256_sign(private, data)


def verify(suite, public, data, signature):
    if suite.signature == SIG_EDDSA:
        return len(public) == 32 and crypto.ed25519_verify(public, data, signature)
    return len(public) == 64 and crypto.ecdsa_p256_verify(public, data, signature)


def signature_length(suite):
    return 64
