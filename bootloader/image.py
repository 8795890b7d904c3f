"""MCUboot image format: header, protected TLVs, TLVs. Parsing only; checks are in verify.py.

    +-----------------------------+ 0
    | header (32 bytes, LE)       |   magic 0x96f3b83d, load_addr, hdr_size, protect_tlv_size,
    | ... padding to hdr_size     |   img_size, flags, version (u8 u8 u16 u32), pad
    +-----------------------------+ hdr_size
    | payload (img_size bytes)    |
    +-----------------------------+ hdr_size + img_size
    | protected TLV info 0x6908   |   present iff protect_tlv_size != 0; its length
    | protected TLVs (SEC_CNT...) |   field equals protect_tlv_size
    +-----------------------------+   <- everything above is hashed and signed
    | TLV info 0x6907, length     |
    | TLVs (SHA256, KEYHASH or    |   each TLV: type u16, length u16, value
    |  PUBKEY, ED25519/ECDSASIG)  |
    +-----------------------------+

Every malformed input raises ``ImageError`` with one of the REJECT_* codes and a one-line
reason; nothing else escapes ``parse``.
"""

IMAGE_MAGIC = 0x96F3B83D
HEADER_SIZE = 32
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
TLV_INFO_SIZE = 4
TLV_HEADER_SIZE = 4
MAX_TLVS = 32
NO_LIMIT = 1 << 40

TLV_KEYHASH = 0x01
TLV_PUBKEY = 0x02
TLV_SHA256 = 0x10
TLV_SHA384 = 0x11
TLV_SHA512 = 0x12
TLV_RSA2048 = 0x20
TLV_ECDSASIG = 0x22
TLV_RSA3072 = 0x23
TLV_ED25519 = 0x24
TLV_SIG_PURE = 0x25
TLV_DEPENDENCY = 0x40
TLV_SEC_CNT = 0x50
TLV_BOOT_RECORD = 0x60
TLV_UUID_VID = 0x74
TLV_UUID_CID = 0x75
TLV_VENDOR_MIN = 0x00A0

TLV_NAMES = {
    0x01: "KEYHASH", 0x02: "PUBKEY", 0x10: "SHA256", 0x11: "SHA384", 0x12: "SHA512",
    0x20: "RSA2048", 0x22: "ECDSASIG", 0x23: "RSA3072", 0x24: "ED25519", 0x25: "SIG_PURE",
    0x30: "ENCRSA2048", 0x31: "ENCKW", 0x32: "ENCEC256", 0x33: "ENCX25519",
    0x34: "ENCX25519_SHA512", 0x40: "DEPENDENCY", 0x50: "SEC_CNT", 0x60: "BOOT_RECORD",
    0x70: "DECOMP_SIZE", 0x71: "DECOMP_SHA", 0x72: "DECOMP_SIGNATURE",
    0x73: "COMP_DEC_SIZE", 0x74: "UUID_VID", 0x75: "UUID_CID",
}

FLAG_PIC = 0x01
FLAG_ENCRYPTED_AES128 = 0x04
FLAG_ENCRYPTED_AES256 = 0x08
FLAG_NON_BOOTABLE = 0x10
FLAG_RAM_LOAD = 0x20
FLAG_ROM_FIXED = 0x100
FLAG_COMPRESSED_LZMA1 = 0x200
FLAG_COMPRESSED_LZMA2 = 0x400
FLAG_COMPRESSED_ARM_THUMB = 0x800
FLAGS_ACCEPTED = FLAG_PIC | FLAG_ROM_FIXED

# Rejection codes: every refusal of an image is exactly one of these.
REJECT_BAD_MAGIC = 1
REJECT_BAD_HEADER = 2
REJECT_TRUNCATED = 3
REJECT_OVERSIZED = 4
REJECT_BAD_TLV = 5
REJECT_NO_HASH = 6
REJECT_HASH_MISMATCH = 7
REJECT_UNSIGNED = 8
REJECT_UNKNOWN_KEY = 9
REJECT_REVOKED_KEY = 10
REJECT_BAD_SIGNATURE = 11
REJECT_NO_SECURITY_COUNTER = 12
REJECT_ROLLBACK = 13
REJECT_DOWNGRADE = 14
REJECT_UNSUPPORTED = 15

REJECT_NAMES = {
    REJECT_BAD_MAGIC: "bad-magic", REJECT_BAD_HEADER: "bad-header",
    REJECT_TRUNCATED: "truncated", REJECT_OVERSIZED: "oversized",
    REJECT_BAD_TLV: "bad-tlv", REJECT_NO_HASH: "no-hash",
    REJECT_HASH_MISMATCH: "hash-mismatch", REJECT_UNSIGNED: "unsigned",
    REJECT_UNKNOWN_KEY: "unknown-key", REJECT_REVOKED_KEY: "revoked-key",
    REJECT_BAD_SIGNATURE: "bad-signature", REJECT_NO_SECURITY_COUNTER: "no-security-counter",
    REJECT_ROLLBACK: "rollback", REJECT_DOWNGRADE: "downgrade",
    REJECT_UNSUPPORTED: "unsupported",
}


class ImageError(ValueError):
    """An image refused for one defined reason: ``code`` (REJECT_*) and a one-line text."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason

    @property
    def name(self):
        return REJECT_NAMES.get(self.code, "unknown")

    def __str__(self):
        return "%s: %s" % (self.name, self.reason)


def _u16(data, off):
    return data[off] | data[off + 1] << 8


def _u32(data, off):
    return data[off] | data[off + 1] << 8 | data[off + 2] << 16 | data[off + 3] << 24


class ImageHeader:
    __slots__ = ("load_addr", "hdr_size", "protect_tlv_size", "img_size", "flags",
                 "version")

    def __init__(self, load_addr, hdr_size, protect_tlv_size, img_size, flags, version):
        self.load_addr = load_addr
        self.hdr_size = hdr_size
        self.protect_tlv_size = protect_tlv_size
        self.img_size = img_size
        self.flags = flags
        self.version = version          # (major, minor, revision, build)

    def version_text(self):
        return "%d.%d.%d+%d" % self.version


def parse_header(data):
    """Parse the fixed 32-byte header; checks magic and basic field sanity only."""
    if len(data) < 4:
        raise ImageError(REJECT_TRUNCATED, "image shorter than its magic")
    if _u32(data, 0) != IMAGE_MAGIC:
        raise ImageError(REJECT_BAD_MAGIC, "no image magic")
    if len(data) < HEADER_SIZE:
        raise ImageError(REJECT_TRUNCATED, "image shorter than its header")
    header = ImageHeader(_u32(data, 4), _u16(data, 8), _u16(data, 10), _u32(data, 12),
                         _u32(data, 16),
                         (data[20], data[21], _u16(data, 22), _u32(data, 24)))
    if header.hdr_size < HEADER_SIZE:
        raise ImageError(REJECT_BAD_HEADER, "header size %d below 32" % header.hdr_size)
    if header.protect_tlv_size and header.protect_tlv_size < TLV_INFO_SIZE:
        raise ImageError(REJECT_BAD_HEADER, "protected TLV size %d too small"
                         % header.protect_tlv_size)
    return header


class ParsedImage:
    """Structure of an image: header, TLV lists of (type, offset, length), sizes."""

    __slots__ = ("header", "protected", "tlvs", "hashed_size", "total_size")

    def __init__(self, header, protected, tlvs, hashed_size, total_size):
        self.header = header
        self.protected = protected      # [(type, value_offset, length)]
        self.tlvs = tlvs
        self.hashed_size = hashed_size  # header + payload + protected TLVs
        self.total_size = total_size    # ... + unprotected TLV area


def _walk_tlvs(data, start, total, protected):
    """Entries of one TLV area whose info header at ``start`` announces ``total`` bytes."""
    entries = []
    off = start + TLV_INFO_SIZE
    end = start + total
    while off < end:
        if len(entries) >= MAX_TLVS:
            raise ImageError(REJECT_BAD_TLV, "more than %d TLVs" % MAX_TLVS)
        if off + TLV_HEADER_SIZE > end:
            raise ImageError(REJECT_BAD_TLV, "TLV header crosses the area end")
        kind = _u16(data, off)
        length = _u16(data, off + 2)
        if off + TLV_HEADER_SIZE + length > end:
            raise ImageError(REJECT_BAD_TLV, "TLV 0x%x crosses the area end" % kind)
        entries.append((kind, off + TLV_HEADER_SIZE, length))
        off += TLV_HEADER_SIZE + length
    return entries


def image_extent(data, limit):
    """(header, hashed_size, total_size) from the header and TLV info fields alone.

    ``limit`` is the largest size the image may take (the slot's image area, or the file).
    """
    header = parse_header(data)
    hashed = header.hdr_size + header.img_size + header.protect_tlv_size
    if hashed + TLV_INFO_SIZE > limit:
        raise ImageError(REJECT_OVERSIZED, "image of %d bytes exceeds the %d available"
                         % (hashed + TLV_INFO_SIZE, limit))
    if hashed + TLV_INFO_SIZE > len(data):
        raise ImageError(REJECT_TRUNCATED, "image ends at %d, data at %d"
                         % (hashed + TLV_INFO_SIZE, len(data)))
    if _u16(data, hashed) != TLV_INFO_MAGIC:
        raise ImageError(REJECT_BAD_TLV, "no TLV info magic at 0x%x" % hashed)
    total = _u16(data, hashed + 2)
    if total < TLV_INFO_SIZE:
        raise ImageError(REJECT_BAD_TLV, "TLV area length %d too small" % total)
    if hashed + total > limit:
        raise ImageError(REJECT_OVERSIZED, "image of %d bytes exceeds the %d available"
                         % (hashed + total, limit))
    if hashed + total > len(data):
        raise ImageError(REJECT_TRUNCATED, "TLV area ends at %d, data at %d"
                         % (hashed + total, len(data)))
    return header, hashed, hashed + total


def parse(data, limit=None):
    """Parse the structure of an image in ``data`` (bytes-like); ``limit`` caps its size.

    Without a limit, an image that claims more bytes than ``data`` holds is truncated.
    """
    if limit is None:
        limit = NO_LIMIT
    header, hashed, total = image_extent(data, limit)
    prot_start = header.hdr_size + header.img_size
    protected = []
    if header.protect_tlv_size:
        if _u16(data, prot_start) != TLV_PROT_INFO_MAGIC:
            raise ImageError(REJECT_BAD_TLV, "no protected TLV info magic")
        if _u16(data, prot_start + 2) != header.protect_tlv_size:
            raise ImageError(REJECT_BAD_TLV, "protected TLV size disagrees with header")
        protected = _walk_tlvs(data, prot_start, header.protect_tlv_size, True)
    elif _u16(data, prot_start) == TLV_PROT_INFO_MAGIC:
        raise ImageError(REJECT_BAD_TLV, "protected TLVs not announced in header")
    tlvs = _walk_tlvs(data, hashed, total - hashed, False)
    return ParsedImage(header, protected, tlvs, hashed, total)


def tlv_name(kind):
    return TLV_NAMES.get(kind, "0x%02x" % kind)
