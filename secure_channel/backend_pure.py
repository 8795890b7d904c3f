"""Pure-Python crypto backend for MicroPython: hashlib's SHA-256 and code of our own.

Each primitive here is tested differentially against the CPython backend. Primitives not
yet written in pure Python raise ``NotImplementedError`` naming themselves, so a firmware
build that needs them fails loudly at the call, never silently.
"""

import hashlib

NAME = "pure"
_BLOCK = 64


def sha256(data):
    return hashlib.sha256(data).digest()


def sha256_hasher():
    return hashlib.sha256()


def hmac_sha256(key, data):
    """RFC 2104 HMAC over hashlib.sha256 (MicroPython boards often lack ``hmac``)."""
    if len(key) > _BLOCK:
        key = sha256(key)
    key = key + b"\x00" * (_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(data)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def _missing(name):
    def primitive(*args):
        raise NotImplementedError("pure backend has no %s yet" % name)
    return primitive


aes_ccm_encrypt = _missing("aes_ccm_encrypt")
aes_ccm_decrypt = _missing("aes_ccm_decrypt")


class CcmKey:
    """One AES-CCM key; a pure-Python version would expand the AES key schedule here."""

    def __init__(self, key, tag_length, failure):
        self._key = key
        self._tag_length = tag_length
        self._failure = failure

    def encrypt(self, nonce, plaintext, aad):
        return aes_ccm_encrypt(self._key, nonce, plaintext, aad, self._tag_length)

    def decrypt(self, nonce, ciphertext, aad):
        result = aes_ccm_decrypt(self._key, nonce, ciphertext, aad, self._tag_length)
        if result is None:
            raise self._failure("AEAD tag mismatch")
        return result

x25519_public = _missing("x25519_public")
x25519_shared = _missing("x25519_shared")
p256_public = _missing("p256_public")
p256_shared = _missing("p256_shared")
ecdsa_p256_sign = _missing("ecdsa_p256_sign")
ecdsa_p256_verify = _missing("ecdsa_p256_verify")
ecdsa_p256_verify_digest = _missing("ecdsa_p256_verify_digest")
ed25519_public = _missing("ed25519_public")
ed25519_sign = _missing("ed25519_sign")
ed25519_verify = _missing("ed25519_verify")
