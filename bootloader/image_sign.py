"""Build and sign MCUboot images the way imgtool does, through the crypto seam.

``sign_image`` lays out header, payload, protected TLVs (SEC_CNT) and TLVs (SHA256,
KEYHASH or PUBKEY, ED25519 or ECDSASIG) exactly as ``imgtool sign`` would for the same
inputs, so ``imgtool verify`` accepts the result. Key files are a host concern: callers
pass raw private keys (sim/commands/image.py reads PEM).
"""

from secure_channel import crypto

from bootloader import image as fmt
from bootloader import sigkeys
from bootloader.otp import KEY_ED25519, KEY_P256


class SignError(ValueError):
    """Inputs that cannot make an image (size, header, version or key out of range)."""


def _u16(v):
    return v.to_bytes(2, "little")


def _u32(v):
    return v.to_bytes(4, "little")


def _tlv(kind, value):
    return _u16(kind) + _u16(len(value)) + value


def parse_spki(der):
    """Inverse of ``sigkeys.spki``: return (kind, raw public key)."""
    der = bytes(der)
    if len(der) == len(sigkeys.SPKI_ED25519) + 32 and der.startswith(sigkeys.SPKI_ED25519):
        return KEY_ED25519, der[len(sigkeys.SPKI_ED25519):]
    if len(der) == len(sigkeys.SPKI_P256) + 64 and der.startswith(sigkeys.SPKI_P256):
        return KEY_P256, der[len(sigkeys.SPKI_P256):]
    raise sigkeys.KeyFormatError("not an Ed25519 or P-256 SubjectPublicKeyInfo")


def _der_int(value):
    raw = value.to_bytes(32, "big")
    i = 0
    while i < 31 and raw[i] == 0:
        i += 1
    raw = raw[i:]
    if raw[0] & 0x80:
        raw = b"\x00" + raw
    return b"\x02" + bytes((len(raw),)) + raw


def ecdsa_der_from_raw(signature):
    """64-byte r||s -> DER SEQUENCE { INTEGER r, INTEGER s }."""
    if len(signature) != 64:
        raise sigkeys.KeyFormatError("raw ECDSA signature must be 64 bytes")
    body = _der_int(int.from_bytes(signature[:32], "big")) + \
        _der_int(int.from_bytes(signature[32:], "big"))
    return b"\x30" + bytes((len(body),)) + body


def parse_version(text):
    """``maj[.min[.rev[+build]]]`` -> (major, minor, revision, build), imgtool's rules."""
    build = 0
    if "+" in text:
        text, b = text.split("+", 1)
        build = _number(b, 0xFFFFFFFF)
    parts = text.split(".")
    if not 1 <= len(parts) <= 3:
        raise SignError("version must be maj.min.rev+build")
    nums = [_number(p, lim) for p, lim in zip(parts, (0xFF, 0xFF, 0xFFFF))]
    while len(nums) < 3:
        nums.append(0)
    return (nums[0], nums[1], nums[2], build)


def _number(text, limit):
    if not text or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise SignError("bad version number %r" % text)
    value = int(text)
    if value > limit:
        raise SignError("version field %d above %d" % (value, limit))
    return value


def auto_security_counter(version):
    """imgtool's ``--security-counter auto``: major << 24 | minor << 16 | revision."""
    return (version[0] << 24) + (version[1] << 16) + version[2]


def public_of(kind, private):
    if kind == KEY_ED25519:
        return crypto.ed25519_public(private)
    if kind == KEY_P256:
        return crypto.p256_public(private)
    raise SignError("unknown key kind %r" % (kind,))


def sign_image(body, kind, private, version=(0, 0, 0, 0), security_counter=None,
               header_size=fmt.HEADER_SIZE, pad_header=True, load_addr=0,
               public_key_format="hash", extra_protected=()):
    """Return the signed image bytes.

    ``body`` is the firmware binary. With ``pad_header`` it gets ``header_size`` bytes of
    0xff in front (imgtool --pad-header); without, its first ``header_size`` bytes must be
    zero and are overwritten. ``kind`` None makes an unsigned image (SHA256 only).
    """
    if not fmt.HEADER_SIZE <= header_size <= 0xFFFF:
        raise SignError("header size must be 32..65535")
    body = bytes(body)
    if pad_header:
        payload = bytearray(b"\xff" * header_size + body)
    else:
        if body[:header_size] != b"\x00" * header_size or len(body) < header_size:
            raise SignError("image does not start with %d zero bytes; use --pad-header"
                            % header_size)
        payload = bytearray(body)
    img_size = len(payload) - header_size
    if img_size > 0xFFFFFFFF:
        raise SignError("image too large")
    for field, limit in zip(version, (0xFF, 0xFF, 0xFFFF, 0xFFFFFFFF)):
        if not 0 <= field <= limit:
            raise SignError("version field out of range")

    prot_entries = b""
    if security_counter is not None:
        if not 0 <= security_counter <= 0xFFFFFFFF:
            raise SignError("security counter must fit 32 bits")
        prot_entries += _tlv(fmt.TLV_SEC_CNT, _u32(security_counter))
    for kind_extra, value in extra_protected:
        prot_entries += _tlv(kind_extra, bytes(value))
    protected = b""
    if prot_entries:
        protected = _u16(fmt.TLV_PROT_INFO_MAGIC) + \
            _u16(fmt.TLV_INFO_SIZE + len(prot_entries)) + prot_entries
    if len(protected) > 0xFFFF:
        raise SignError("protected TLVs too large")

    header = (_u32(fmt.IMAGE_MAGIC) + _u32(load_addr) + _u16(header_size) +
              _u16(len(protected)) + _u32(img_size) + _u32(0) +
              bytes((version[0], version[1])) + _u16(version[2]) + _u32(version[3]) +
              _u32(0))
    payload[:fmt.HEADER_SIZE] = header
    hashed = bytes(payload) + protected
    digest = crypto.sha256(hashed)

    tlvs = _tlv(fmt.TLV_SHA256, digest)
    if kind is not None:
        public = public_of(kind, private)
        if public_key_format == "hash":
            tlvs += _tlv(fmt.TLV_KEYHASH, sigkeys.key_hash(kind, public))
        elif public_key_format == "full":
            tlvs += _tlv(fmt.TLV_PUBKEY, sigkeys.spki(kind, public))
        else:
            raise SignError("public key format must be hash or full")
        if kind == KEY_ED25519:
            tlvs += _tlv(fmt.TLV_ED25519, crypto.ed25519_sign(private, digest))
        else:
            raw = crypto.ecdsa_p256_sign(private, hashed)
            tlvs += _tlv(fmt.TLV_ECDSASIG, ecdsa_der_from_raw(raw))
    area = _u16(fmt.TLV_INFO_MAGIC) + _u16(fmt.TLV_INFO_SIZE + len(tlvs)) + tlvs
    return hashed + area
