"""The one narrow crypto interface of the firmware.

Everything in the repository that needs a primitive calls these functions, never a
library. The backend is chosen once at import: ``backend_cryptography`` (pyca/cryptography)
on CPython, ``backend_pure`` (hashlib plus pure Python) where that is missing, as on
MicroPython. Randomness never comes from here: callers pass bytes from the HAL RNG.

Key and point formats are raw bytes throughout:
- X25519 / Ed25519: 32-byte private and public keys; Ed25519 signatures 64 bytes.
- P-256: 32-byte big-endian private scalar; public keys as 32-byte x (EDHOC style) or
  64-byte x||y; ECDSA signatures as 64-byte r||s (COSE style).
"""

from secure_channel import constant_time

try:
    from secure_channel import backend_cryptography as _backend
except ImportError:
    from secure_channel import backend_pure as _backend

BACKEND_NAME = _backend.NAME

# Order of the P-256 group: a private scalar must lie in [1, P256_ORDER - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class AuthenticationFailed(ValueError):
    """An AEAD tag or a signature did not verify."""


constant_time_equal = constant_time.equal   # no early exit on the first difference


def random_bytes(rng, n):
    """Draw ``n`` bytes from a HAL RNG callable ``rng(n) -> bytes``; the only randomness used."""
    out = rng(n)
    if not isinstance(out, (bytes, bytearray)) or len(out) != n:
        raise ValueError("RNG returned %s, not %d bytes" % (type(out).__name__, n))
    return bytes(out)


def sha256(data):
    return _backend.sha256(data)


def sha256_hasher():
    """An incremental SHA-256 (``update``, ``digest``), for data read from flash in chunks."""
    return _backend.sha256_hasher()


def hmac_sha256(key, data):
    return _backend.hmac_sha256(key, data)


def hkdf_extract(salt, ikm):
    return hmac_sha256(salt if salt else b"\x00" * 32, ikm)


def hkdf_expand(prk, info, length):
    """RFC 5869 HKDF-Expand with SHA-256."""
    if length > 255 * 32:
        raise ValueError("HKDF output too long")
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac_sha256(prk, block + info + bytes((counter,)))
        out += block
        counter += 1
    return out[:length]


def aes_ccm_encrypt(key, nonce, plaintext, aad, tag_length=8):
    """AES-CCM (RFC 3610); returns ciphertext || tag."""
    return _backend.aes_ccm_encrypt(key, nonce, plaintext, aad, tag_length)


def aes_ccm_decrypt(key, nonce, ciphertext, aad, tag_length=8):
    """Inverse of ``aes_ccm_encrypt``; raises AuthenticationFailed on a bad tag."""
    result = _backend.aes_ccm_decrypt(key, nonce, ciphertext, aad, tag_length)
    if result is None:
        raise AuthenticationFailed("AEAD tag mismatch")
    return result


def aes_ccm_key(key, tag_length=8):
    """An AES-CCM key expanded once, for many messages under one key (record layer).

    Returns an object with ``encrypt(nonce, plaintext, aad)`` (ciphertext || tag) and
    ``decrypt(nonce, ciphertext, aad)`` (raises AuthenticationFailed on a bad tag).
    """
    if len(key) not in (16, 24, 32) or tag_length not in (4, 6, 8, 10, 12, 14, 16):
        raise ValueError("bad AES-CCM key or tag length")
    return _backend.CcmKey(bytes(key), tag_length, AuthenticationFailed)


def x25519_public(private):
    return _backend.x25519_public(private)


def x25519_shared(private, peer_public):
    """X25519; raises ValueError for a bad key or an all-zero result (RFC 7748 §6)."""
    if len(private) != 32 or len(peer_public) != 32:
        raise ValueError("X25519 keys are 32 bytes")
    shared = _backend.x25519_shared(private, peer_public)
    if not any(shared):
        raise ValueError("X25519 result is all zero")
    return shared


def p256_valid_private(private):
    """True if 32 bytes ``private`` encode a scalar in [1, order - 1]."""
    if len(private) != 32:
        return False
    d = int.from_bytes(private, "big")
    return 0 < d < P256_ORDER


def p256_public(private):
    """Return the 64-byte x||y public key for a 32-byte private scalar."""
    return _backend.p256_public(private)


def p256_shared(private, peer_public):
    """ECDH on P-256; ``peer_public`` is x (32 bytes, either y works) or x||y (64 bytes)."""
    return _backend.p256_shared(private, peer_public)


def ecdsa_p256_sign(private, data):
    """ECDSA with SHA-256; returns the 64-byte r||s signature."""
    return _backend.ecdsa_p256_sign(private, data)


def ecdsa_p256_verify(public, data, signature):
    """``public`` is 64-byte x||y; returns True or False, never raises on bad input."""
    return _backend.ecdsa_p256_verify(public, data, signature)


def ecdsa_p256_verify_digest(public, digest, signature):
    """As ``ecdsa_p256_verify`` over a SHA-256 digest already computed, so a firmware image
    is hashed once for both its hash check and its signature."""
    return _backend.ecdsa_p256_verify_digest(public, digest, signature)


def ed25519_public(private):
    return _backend.ed25519_public(private)


def ed25519_sign(private, data):
    return _backend.ed25519_sign(private, data)


def ed25519_verify(public, data, signature):
    """Returns True or False, never raises on bad input."""
    return _backend.ed25519_verify(public, data, signature)
