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

try:
    from secure_channel import backend_cryptography as _backend
except ImportError:
    from secure_channel import backend_pure as _backend

BACKEND_NAME = _backend.NAME


class AuthenticationFailed(ValueError):
    """An AEAD tag or a signature did not verify."""


def constant_time_equal(a, b):
    """Compare two byte strings without an early exit on the first difference."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def sha256(data):
    return _backend.sha256(data)


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


def x25519_public(private):
    return _backend.x25519_public(private)


def x25519_shared(private, peer_public):
    return _backend.x25519_shared(private, peer_public)


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


def ed25519_public(private):
    return _backend.ed25519_public(private)


def ed25519_sign(private, data):
    return _backend.ed25519_sign(private, data)


def ed25519_verify(public, data, signature):
    """Returns True or False, never raises on bad input."""
    return _backend.ed25519_verify(public, data, signature)
