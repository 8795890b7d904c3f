"""Pure-Python crypto backend for MicroPython: hashlib's SHA-256 and code of our own.

The primitives live in ``secure_channel.pure`` (SHA-512, AES, CCM, P-256, X25519,
Ed25519); this module puts the platform's own primitive in front where the port has one
(``hashlib.sha512``, ``cryptolib.aes`` in ECB mode) and gives the same functions, bytes
and exceptions as ``backend_cryptography``. Each primitive is tested against published
vectors on both interpreters and differentially against the CPython backend.
Randomness never enters here: keys and nonces come from callers, which draw them from the
HAL RNG; ECDSA nonces are derived (RFC 6979) and Ed25519 is deterministic.
"""

import hashlib

from secure_channel.pure import aes as _aes
from secure_channel.pure import ccm as _ccm
from secure_channel.pure import ed25519 as _ed25519
from secure_channel.pure import p256 as _p256
from secure_channel.pure import sha512 as _sha512
from secure_channel.pure import x25519 as _x25519

try:
    import cryptolib as _cryptolib            # MicroPython boards with AES in C
except ImportError:
    _cryptolib = None

NAME = "pure"
_BLOCK = 64
_ECB = 1                                       # cryptolib.aes mode number for ECB


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


if hasattr(hashlib, "sha512"):
    def sha512(data):
        return hashlib.sha512(data).digest()
else:
    sha512 = _sha512.sha512


# --- AES-CCM ------------------------------------------------------------------------------

_FIPS197_PLAIN = bytes(range(0, 256, 17))           # FIPS 197 C.1: 00112233...eeff
_FIPS197_CIPHER = b"\x69\xc4\xe0\xd8\x6a\x7b\x04\x30\xd8\xcd\xb7\x80\x70\xb4\xc5\x5a"


def _native_aes_works():
    """True if the port's cryptolib gives the FIPS 197 C.1 ciphertext (checked once)."""
    if _cryptolib is None:
        return False
    try:
        out = _cryptolib.aes(bytes(range(16)), _ECB).encrypt(_FIPS197_PLAIN)
    except (ValueError, TypeError, OSError):
        return False
    return bytes(out) == _FIPS197_CIPHER


_NATIVE_AES = _native_aes_works()


def _block_cipher(key):
    """A function encrypting one 16-byte block under ``key``: cryptolib's where the port
    has it (128- and 256-bit keys), else ours."""
    key = bytes(key)
    if len(key) not in (16, 24, 32):
        raise ValueError("AESCCM key must be 128, 192, or 256 bits.")
    if _NATIVE_AES and len(key) in (16, 32):
        return _cryptolib.aes(key, _ECB).encrypt
    return _aes.Aes(key).encrypt_block


def aes_ccm_encrypt(key, nonce, plaintext, aad, tag_length):
    return _ccm.Ccm(_block_cipher(key), tag_length).seal(nonce, plaintext, aad)


def aes_ccm_decrypt(key, nonce, ciphertext, aad, tag_length):
    """The plaintext, or None when the tag does not verify."""
    return _ccm.Ccm(_block_cipher(key), tag_length).open(nonce, ciphertext, aad)


class CcmKey:
    """One AES-CCM key, expanded once; ``decrypt`` raises ``failure`` on a bad tag."""

    __slots__ = ("_ccm", "_failure")

    def __init__(self, key, tag_length, failure):
        self._ccm = _ccm.Ccm(_block_cipher(key), tag_length)
        self._failure = failure

    def encrypt(self, nonce, plaintext, aad):
        return self._ccm.seal(nonce, plaintext, aad)

    def decrypt(self, nonce, ciphertext, aad):
        result = self._ccm.open(nonce, ciphertext, aad)
        if result is None:
            raise self._failure("AEAD tag mismatch")
        return result


# --- X25519 -------------------------------------------------------------------------------

def x25519_public(private):
    if len(private) != 32:
        raise ValueError("X25519 private key must be 32 bytes")
    return _x25519.public(private)


def x25519_shared(private, peer_public):
    shared = _x25519.x25519(private, peer_public)
    if not any(shared):
        raise ValueError("X25519 result is all zero")
    return shared


# --- P-256 --------------------------------------------------------------------------------

def p256_public(private):
    return _p256.public(private)


def p256_shared(private, peer_public):
    return _p256.shared(private, peer_public)


def ecdsa_p256_sign(private, data):
    # RFC 6979 deterministic nonces: no randomness is drawn outside the HAL RNG.
    return _p256.sign_digest(private, sha256(data), hmac_sha256)


def ecdsa_p256_verify(public, data, signature):
    return _p256.verify_digest(public, sha256(data), signature)


def ecdsa_p256_verify_digest(public, digest, signature):
    return _p256.verify_digest(public, digest, signature)


# --- Ed25519 ------------------------------------------------------------------------------

def ed25519_public(private):
    return _ed25519.public(private, sha512)


def ed25519_sign(private, data):
    return _ed25519.sign(private, data, sha512)


def ed25519_verify(public, data, signature):
    return _ed25519.verify(public, data, signature, sha512)
