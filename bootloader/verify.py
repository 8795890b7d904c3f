"""Image verification: hash, signing key, signature, security counter, version policy.

What is accepted, in the order it is checked (the first failure is the reason reported):

1. structure (image.parse): header, sizes within the limit, both TLV areas well formed;
2. protected TLVs: exactly one SEC_CNT (4 bytes); only TLVs that carry no verification
   data may sit there (SEC_CNT, DEPENDENCY, BOOT_RECORD, UUIDs, vendor types);
3. unprotected TLVs: at most one each of SHA256, KEYHASH or PUBKEY, ED25519 or ECDSASIG;
   nothing else (no RSA, no encryption, no "pure" signatures);
4. SHA256 equals SHA-256 over header, payload and protected TLVs (else: tampered);
5. a signature TLV (else: unsigned) and a key id naming a key of the keyring (else:
   unknown key) that is not revoked;
6. the signature: Ed25519 over the 32-byte digest, or ECDSA-P256/SHA-256 over the hashed
   bytes (DER signature), exactly as imgtool makes them;
7. the security counter is not below ``min_security_counter`` (else: rollback).

Version policy (no downgrade) is ``check_version``, applied by the boot flow to updates.
"""

from secure_channel import crypto

from bootloader import image as fmt
from bootloader import sigkeys
from bootloader.image import ImageError
from bootloader.otp import KEY_ED25519, KEY_P256

_PROTECTED_ALLOWED = (fmt.TLV_SEC_CNT, fmt.TLV_DEPENDENCY, fmt.TLV_BOOT_RECORD,
                      fmt.TLV_UUID_VID, fmt.TLV_UUID_CID)
_UNPROTECTED_ALLOWED = (fmt.TLV_SHA256, fmt.TLV_KEYHASH, fmt.TLV_PUBKEY,
                        fmt.TLV_ED25519, fmt.TLV_ECDSASIG)
_SIG_KIND = {fmt.TLV_ED25519: KEY_ED25519, fmt.TLV_ECDSASIG: KEY_P256}


class KeyEntry:
    __slots__ = ("index", "kind", "public", "spki", "hash", "revoked")

    def __init__(self, index, kind, public, revoked=False):
        self.index = index
        self.kind = kind
        self.public = bytes(public)
        self.spki = sigkeys.spki(kind, public)
        self.hash = crypto.sha256(self.spki)
        self.revoked = revoked


class Keyring:
    """The firmware-signing public keys the device trusts, with their revocation state."""

    def __init__(self, entries=()):
        self.entries = list(entries)

    @classmethod
    def from_otp(cls, otp):
        return cls(KeyEntry(i, kind, pub, revoked)
                   for i, kind, pub, revoked in otp.signing_keys())

    def add(self, kind, public, revoked=False):
        entry = KeyEntry(len(self.entries), kind, public, revoked)
        self.entries.append(entry)
        return entry

    def by_hash(self, digest):
        for entry in self.entries:
            if crypto.constant_time_equal(entry.hash, digest):
                return entry
        return None

    def by_spki(self, der):
        for entry in self.entries:
            if entry.spki == der:
                return entry
        return None


class ImageInfo:
    """What a verified image says about itself."""

    __slots__ = ("header", "security_counter", "digest", "key_index", "key_kind",
                 "size")

    def __init__(self, header, security_counter, digest, key_index, key_kind, size):
        self.header = header
        self.security_counter = security_counter
        self.digest = digest
        self.key_index = key_index
        self.key_kind = key_kind
        self.size = size

    @property
    def version(self):
        return self.header.version


def _single(tlvs, kind, where):
    found = None
    for t, off, length in tlvs:
        if t == kind:
            if found is not None:
                raise ImageError(fmt.REJECT_BAD_TLV, "duplicate %s TLV in %s area"
                                 % (fmt.tlv_name(kind), where))
            found = (off, length)
    return found


def check_tlv_sets(parsed):
    """Steps 2 and 3: only allowed TLV types, no duplicates. Returns the security counter."""
    for kind, _, _ in parsed.protected:
        if kind not in _PROTECTED_ALLOWED and kind < fmt.TLV_VENDOR_MIN:
            raise ImageError(fmt.REJECT_BAD_TLV, "%s TLV not allowed in protected area"
                             % fmt.tlv_name(kind))
    for kind, _, _ in parsed.tlvs:
        if kind not in _UNPROTECTED_ALLOWED:
            if kind in _PROTECTED_ALLOWED or kind >= fmt.TLV_VENDOR_MIN:
                raise ImageError(fmt.REJECT_BAD_TLV, "%s TLV outside protected area"
                                 % fmt.tlv_name(kind))
            raise ImageError(fmt.REJECT_UNSUPPORTED, "unsupported %s TLV"
                             % fmt.tlv_name(kind))
    for kind in _UNPROTECTED_ALLOWED:
        _single(parsed.tlvs, kind, "unprotected")
    if parsed.header.flags & ~fmt.FLAGS_ACCEPTED:
        raise ImageError(fmt.REJECT_UNSUPPORTED, "unsupported image flags 0x%x"
                         % parsed.header.flags)


def security_counter_of(data, parsed):
    found = _single(parsed.protected, fmt.TLV_SEC_CNT, "protected")
    if found is None:
        raise ImageError(fmt.REJECT_NO_SECURITY_COUNTER, "no protected security counter")
    off, length = found
    if length != 4:
        raise ImageError(fmt.REJECT_BAD_TLV, "security counter TLV of %d bytes" % length)
    return int.from_bytes(bytes(data[off:off + 4]), "little")


def _value(data, found):
    off, length = found
    return bytes(data[off:off + length])


def verify(data, keyring, min_security_counter=0, limit=None):
    """Verify the image at the start of ``data``; returns ImageInfo or raises ImageError."""
    parsed = fmt.parse(data, limit)
    check_tlv_sets(parsed)
    counter = security_counter_of(data, parsed)

    sha = _single(parsed.tlvs, fmt.TLV_SHA256, "unprotected")
    if sha is None:
        raise ImageError(fmt.REJECT_NO_HASH, "no SHA256 TLV")
    if sha[1] != 32:
        raise ImageError(fmt.REJECT_BAD_TLV, "SHA256 TLV of %d bytes" % sha[1])
    if isinstance(data, memoryview):
        hashed = data[:parsed.hashed_size]
    else:
        hashed = memoryview(data)[:parsed.hashed_size]
    digest = crypto.sha256(hashed)
    if not crypto.constant_time_equal(digest, _value(data, sha)):
        raise ImageError(fmt.REJECT_HASH_MISMATCH, "image hash does not match (tampered)")

    sig_tlv = None
    for kind in (fmt.TLV_ED25519, fmt.TLV_ECDSASIG):
        found = _single(parsed.tlvs, kind, "unprotected")
        if found is not None:
            if sig_tlv is not None:
                raise ImageError(fmt.REJECT_BAD_TLV, "more than one signature TLV")
            sig_tlv = (kind, found)
    if sig_tlv is None:
        raise ImageError(fmt.REJECT_UNSIGNED, "image is not signed")

    keyhash = _single(parsed.tlvs, fmt.TLV_KEYHASH, "unprotected")
    pubkey = _single(parsed.tlvs, fmt.TLV_PUBKEY, "unprotected")
    if keyhash is not None and pubkey is not None:
        raise ImageError(fmt.REJECT_BAD_TLV, "both KEYHASH and PUBKEY TLVs")
    if keyhash is not None:
        if keyhash[1] != 32:
            raise ImageError(fmt.REJECT_BAD_TLV, "KEYHASH TLV of %d bytes" % keyhash[1])
        entry = keyring.by_hash(_value(data, keyhash))
    elif pubkey is not None:
        entry = keyring.by_spki(_value(data, pubkey))
    else:
        raise ImageError(fmt.REJECT_UNKNOWN_KEY, "image names no signing key")
    if entry is None:
        raise ImageError(fmt.REJECT_UNKNOWN_KEY, "signed by a key that is not trusted")
    if entry.revoked:
        raise ImageError(fmt.REJECT_REVOKED_KEY, "signing key %d is revoked" % entry.index)

    sig_kind, found = sig_tlv
    if _SIG_KIND[sig_kind] != entry.kind:
        raise ImageError(fmt.REJECT_BAD_SIGNATURE, "%s signature for a %s key"
                         % (fmt.tlv_name(sig_kind), "ed25519" if entry.kind == KEY_ED25519
                            else "ecdsa-p256"))
    signature = _value(data, found)
    if sig_kind == fmt.TLV_ED25519:
        good = len(signature) == 64 and crypto.ed25519_verify(entry.public, digest, signature)
    else:
        try:
            raw = sigkeys.ecdsa_raw_from_der(signature)
        except sigkeys.KeyFormatError as exc:
            raise ImageError(fmt.REJECT_BAD_SIGNATURE, str(exc))
        good = crypto.ecdsa_p256_verify_digest(entry.public, digest, raw)
    if not good:
        raise ImageError(fmt.REJECT_BAD_SIGNATURE, "signature does not verify")

    if counter < min_security_counter:
        raise ImageError(fmt.REJECT_ROLLBACK, "security counter %d below %d"
                         % (counter, min_security_counter))
    return ImageInfo(parsed.header, counter, digest, entry.index, entry.kind,
                     parsed.total_size)


def version_key(version, compare_build=False):
    major, minor, revision, build = version
    return (major, minor, revision, build if compare_build else 0)


def check_version(new, current, compare_build=False):
    """Version policy for updates: never install a lower version than the running one."""
    if version_key(new.version, compare_build) < version_key(current.version, compare_build):
        raise ImageError(fmt.REJECT_DOWNGRADE, "version %s below running %s"
                         % (new.header.version_text(), current.header.version_text()))
