"""Factory escrow of device credentials, encrypted to the escrow service's X25519 key.

At the factory the device exports its credentials (the key store's keys) so that a failed
board or a corrupted key store can be recovered. The export is sealed to the escrow
public key with an ephemeral X25519 key (ECIES style):

    shared = X25519(ephemeral, escrow_public)
    key    = HKDF(salt = ephemeral_public || escrow_public, ikm = shared,
                  info = "pump-escrow-v1", 16 bytes)
    blob   = CBOR [1, device_id, ephemeral_public, nonce (13),
                   AES-CCM(key, nonce, CBOR {key_id: key}, aad = CBOR [1, device_id,
                   ephemeral_public])]

Only the holder of the escrow private key can open it; ``open_export`` is used there, and
``restore`` re-seals the recovered keys into a (new or re-provisioned) device's key store.
"""

from secure_channel import cbor, crypto

VERSION = 1
INFO = b"pump-escrow-v1"
NONCE_SIZE = 13
TAG_SIZE = 16


class EscrowError(ValueError):
    """An escrow blob that is malformed or does not open with this key."""


def _random(rng, n):
    out = rng(n)
    if not isinstance(out, (bytes, bytearray)) or len(out) != n:
        raise EscrowError("RNG did not return %d bytes" % n)
    return bytes(out)


def _key(shared, ephemeral_public, escrow_public):
    prk = crypto.hkdf_extract(ephemeral_public + escrow_public, shared)
    return crypto.hkdf_expand(prk, INFO, 16)


def export_credentials(keystore, escrow_public, rng, key_ids=None):
    """Seal the store's keys (all, or ``key_ids``) to ``escrow_public``; returns bytes."""
    escrow_public = bytes(escrow_public)
    if len(escrow_public) != 32:
        raise EscrowError("escrow public key must be 32 bytes (X25519)")
    if key_ids is None:
        key_ids = keystore.key_ids()
    credentials = {}
    for key_id in key_ids:
        credentials[key_id] = keystore.get(key_id)
    device_id = keystore.device_id()
    ephemeral = _random(rng, 32)
    ephemeral_public = crypto.x25519_public(ephemeral)
    shared = crypto.x25519_shared(ephemeral, escrow_public)
    nonce = _random(rng, NONCE_SIZE)
    aad = cbor.encode([VERSION, device_id, ephemeral_public])
    sealed = crypto.aes_ccm_encrypt(_key(shared, ephemeral_public, escrow_public), nonce,
                                    cbor.encode(credentials), aad, TAG_SIZE)
    return cbor.encode([VERSION, device_id, ephemeral_public, nonce, sealed])


def open_export(blob, escrow_private):
    """Return (device_id, {key_id: key}) from an export; EscrowError if it does not open."""
    try:
        items = cbor.decode(bytes(blob))
    except cbor.CBORError as exc:
        raise EscrowError("escrow blob is not CBOR: %s" % exc)
    if not isinstance(items, list) or len(items) != 5 or items[0] != VERSION:
        raise EscrowError("not a version-1 escrow blob")
    _, device_id, ephemeral_public, nonce, sealed = items
    for value, size in ((device_id, 8), (ephemeral_public, 32), (nonce, NONCE_SIZE)):
        if not isinstance(value, bytes) or len(value) != size:
            raise EscrowError("malformed escrow blob")
    if not isinstance(sealed, bytes) or len(sealed) < TAG_SIZE:
        raise EscrowError("malformed escrow blob")
    try:
        escrow_public = crypto.x25519_public(escrow_private)
        shared = crypto.x25519_shared(escrow_private, ephemeral_public)
    except ValueError as exc:
        raise EscrowError("bad escrow key: %s" % exc)
    aad = cbor.encode([VERSION, device_id, ephemeral_public])
    try:
        plain = crypto.aes_ccm_decrypt(_key(shared, ephemeral_public, escrow_public), nonce,
                                       sealed, aad, TAG_SIZE)
    except crypto.AuthenticationFailed:
        raise EscrowError("escrow blob does not open with this key")
    credentials = cbor.decode(plain)
    if not isinstance(credentials, dict):
        raise EscrowError("malformed escrow credentials")
    for key_id, key in credentials.items():
        if not isinstance(key_id, int) or isinstance(key_id, bool) \
                or not isinstance(key, bytes):
            raise EscrowError("malformed escrow credentials")
    return device_id, credentials


def restore(keystore, credentials):
    """Re-seal recovered credentials into ``keystore`` (under that device's own key)."""
    keystore.format()
    for key_id in sorted(credentials):
        keystore.put(key_id, credentials[key_id])
