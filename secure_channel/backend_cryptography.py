"""CPython crypto backend over pyca/cryptography. Imported only by ``secure_channel.crypto``."""

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

NAME = "cryptography"
_CURVE = ec.SECP256R1()


def sha256(data):
    return hashlib.sha256(data).digest()


def hmac_sha256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def aes_ccm_encrypt(key, nonce, plaintext, aad, tag_length):
    return AESCCM(key, tag_length).encrypt(nonce, plaintext, aad)


def aes_ccm_decrypt(key, nonce, ciphertext, aad, tag_length):
    try:
        return AESCCM(key, tag_length).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        return None


class CcmKey:
    """One AES-CCM key, expanded once; ``decrypt`` raises ``failure`` on a bad tag."""

    __slots__ = ("_decrypt", "_failure", "encrypt")

    def __init__(self, key, tag_length, failure):
        aead = AESCCM(key, tag_length)
        self.encrypt = aead.encrypt
        self._decrypt = aead.decrypt
        self._failure = failure

    def decrypt(self, nonce, ciphertext, aad):
        try:
            return self._decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise self._failure("AEAD tag mismatch")


def x25519_public(private):
    key = x25519.X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes_raw()


def x25519_shared(private, peer_public):
    key = x25519.X25519PrivateKey.from_private_bytes(private)
    return key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))


def _p256_private(private):
    return ec.derive_private_key(int.from_bytes(private, "big"), _CURVE)


def _p256_point(public):
    if len(public) == 32:
        encoded = b"\x02" + public
    elif len(public) == 64:
        encoded = b"\x04" + public
    else:
        raise ValueError("P-256 public key must be 32 or 64 bytes")
    return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, encoded)


def p256_public(private):
    numbers = _p256_private(private).public_key().public_numbers()
    return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def p256_shared(private, peer_public):
    return _p256_private(private).exchange(ec.ECDH(), _p256_point(peer_public))


_ECDSA_VERIFY = ec.ECDSA(hashes.SHA256())
_ECDSA_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))
try:
    _ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
except TypeError:  # cryptography < 42 has no RFC 6979 option
    _ECDSA = _ECDSA_VERIFY


def ecdsa_p256_sign(private, data):
    # RFC 6979 deterministic nonces: no randomness is drawn outside the HAL RNG.
    der = _p256_private(private).sign(data, _ECDSA)
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecdsa_p256_verify(public, data, signature):
    return _ecdsa_verify(public, data, signature, _ECDSA_VERIFY)


def ecdsa_p256_verify_digest(public, digest, signature):
    if len(digest) != 32:
        return False
    return _ecdsa_verify(public, digest, signature, _ECDSA_PREHASHED)


def _ecdsa_verify(public, data, signature, algorithm):
    if len(signature) != 64:
        return False
    try:
        point = _p256_point(public)
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        point.verify(der, data, algorithm)
        return True
    except (InvalidSignature, ValueError):
        return False


def sha256_hasher():
    return hashlib.sha256()


def ed25519_public(private):
    return ed25519.Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def ed25519_sign(private, data):
    return ed25519.Ed25519PrivateKey.from_private_bytes(private).sign(data)


def ed25519_verify(public, data, signature):
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
        return True
    except (InvalidSignature, ValueError):
        return False
