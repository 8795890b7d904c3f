"""Firmware-signing keys as MCUboot names them: SubjectPublicKeyInfo DER, key hash, DER signatures.

MCUboot's KEYHASH TLV is SHA-256 over the public key in SubjectPublicKeyInfo DER (what
imgtool embeds), and its ECDSASIG TLV holds an ASN.1 DER ``SEQUENCE { r, s }``. Our crypto
seam speaks raw keys (Ed25519 32 bytes, P-256 x||y) and raw r||s, so this module converts,
strictly: each key has exactly one accepted encoding. It holds what a board needs to check
an image; the signer's directions (raw r||s to DER, SubjectPublicKeyInfo back to a raw
key) are in ``image_sign``.
"""

from secure_channel import crypto

from bootloader.otp import KEY_ED25519, KEY_P256

# SubjectPublicKeyInfo prefixes: SEQUENCE { AlgorithmIdentifier, BIT STRING }.
SPKI_ED25519 = b"\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"
SPKI_P256 = (
    b"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
    b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00" b"\x04")

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ECDSA_SIG_MAX = 72      # imgtool --pad-sig pads DER signatures with zeros to 72 bytes


class KeyFormatError(ValueError):
    """Bytes that are not a public key or signature in the one accepted encoding."""


def spki(kind, public):
    """SubjectPublicKeyInfo DER of a raw public key."""
    if kind == KEY_ED25519 and len(public) == 32:
        return SPKI_ED25519 + bytes(public)
    if kind == KEY_P256 and len(public) == 64:
        return SPKI_P256 + bytes(public)
    raise KeyFormatError("bad public key for kind %r" % (kind,))


def key_hash(kind, public):
    return crypto.sha256(spki(kind, public))


def _read_der_int(data, off):
    if off + 2 > len(data) or data[off] != 0x02:
        raise KeyFormatError("ECDSA signature: INTEGER expected")
    length = data[off + 1]
    if length == 0 or length > 33 or off + 2 + length > len(data):
        raise KeyFormatError("ECDSA signature: bad INTEGER length")
    raw = data[off + 2:off + 2 + length]
    if raw[0] & 0x80:
        raise KeyFormatError("ECDSA signature: negative INTEGER")
    if length > 1 and raw[0] == 0 and not raw[1] & 0x80:
        raise KeyFormatError("ECDSA signature: INTEGER not minimal")
    value = int.from_bytes(raw, "big")
    if value == 0 or value >= P256_ORDER:
        raise KeyFormatError("ECDSA signature: INTEGER out of range")
    return value, off + 2 + length


def ecdsa_raw_from_der(der):
    """Strict DER -> 64-byte r||s; trailing zero padding (imgtool --pad-sig) is allowed."""
    der = bytes(der)
    if len(der) < 8 or len(der) > ECDSA_SIG_MAX or der[0] != 0x30:
        raise KeyFormatError("ECDSA signature: SEQUENCE expected")
    length = der[1]
    if length & 0x80 or 2 + length > len(der):
        raise KeyFormatError("ECDSA signature: bad SEQUENCE length")
    if der[2 + length:] != b"\x00" * (len(der) - 2 - length):
        raise KeyFormatError("ECDSA signature: trailing bytes")
    r, off = _read_der_int(der, 2)
    s, off = _read_der_int(der, off)
    if off != 2 + length:
        raise KeyFormatError("ECDSA signature: extra data in SEQUENCE")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
