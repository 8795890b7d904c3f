"""Flash map: where the bootloader, the two image slots, scratch, key store and OTP live.

One NOR device holds six areas, each a whole number of sectors:

    BOOTLOADER  bootloader code; its first bytes hold this map's descriptor
    PRIMARY     slot the pump runs from
    SECONDARY   slot an update is staged in (and the fallback during a test boot)
    SCRATCH     one sector, the temporary copy of each sector during a swap
    KEYSTORE    sealed key records, two banks (see keystore.py)
    OTP         fuse block: bits can only be set, never erased (see otp.py)

Each slot ends with its trailer (see trailer.py): the last ``trailer_sectors`` sectors,
never swapped, holding the update request flags and the swap progress log. An image may
use only the sectors before them (``max_image_size``).

The descriptor lets tools read a raw flash image without knowing its geometry:
``b"PMAP"``, version, area count, sector size, write alignment, flash size, then
(id, offset, size) per area, then the first 8 bytes of SHA-256 over all of that.
"""

from secure_channel import crypto

from bootloader.flash import FlashError, FlashRegion

BOOTLOADER = 0
PRIMARY = 1
SECONDARY = 2
SCRATCH = 3
KEYSTORE = 4
OTP = 5

AREA_NAMES = {BOOTLOADER: "bootloader", PRIMARY: "primary", SECONDARY: "secondary",
              SCRATCH: "scratch", KEYSTORE: "keystore", OTP: "otp"}
AREA_IDS = (BOOTLOADER, PRIMARY, SECONDARY, SCRATCH, KEYSTORE, OTP)

DESCRIPTOR_MAGIC = b"PMAP"
DESCRIPTOR_VERSION = 1

# Trailer fields are spaced by MAX_ALIGN as in MCUboot, so a trailer written by
# `imgtool sign --pad` (magic, image_ok) is read the same way here.
MAX_ALIGN = 8
TRAILER_FLAGS_SIZE = 64        # magic (16) + six 8-byte fields, see trailer.py


class FlashMapError(ValueError):
    """A flash map that cannot be used: overlapping, unaligned or missing areas."""


def _u32(value):
    return value.to_bytes(4, "little")


def _rd32(data, off):
    return int.from_bytes(data[off:off + 4], "little")


def trailer_geometry(slot_size, sector_size, align):
    """Return (trailer_sectors, swap_sectors) for a slot.

    The trailer holds the flag fields and two progress logs (install and revert) of three
    ``align``-byte entries per swapped sector; it takes the fewest whole sectors that fit.
    """
    if slot_size % sector_size or slot_size <= 0:
        raise FlashMapError("slot size must be a positive multiple of the sector size")
    if align not in (1, 2, 4, 8):
        raise FlashMapError("write alignment must be 1, 2, 4 or 8")
    sectors = slot_size // sector_size
    for trailer in range(1, sectors):
        swap = sectors - trailer
        if TRAILER_FLAGS_SIZE + 6 * swap * align <= trailer * sector_size:
            return trailer, swap
    raise FlashMapError("slot too small for its trailer")


class FlashMap:
    """Areas of one flash device, by id; every area sector aligned and disjoint."""

    def __init__(self, sector_size, align, flash_size, areas):
        self.sector_size = sector_size
        self.align = align
        self.flash_size = flash_size
        self.areas = {}
        for area_id, offset, size in areas:
            if area_id not in AREA_NAMES:
                raise FlashMapError("unknown area id %d" % area_id)
            if area_id in self.areas:
                raise FlashMapError("duplicate area %s" % AREA_NAMES[area_id])
            if offset % sector_size or size % sector_size or size <= 0:
                raise FlashMapError("area %s not sector aligned" % AREA_NAMES[area_id])
            if offset < 0 or offset + size > flash_size:
                raise FlashMapError("area %s outside flash" % AREA_NAMES[area_id])
            self.areas[area_id] = (offset, size)
        for area_id in AREA_IDS:
            if area_id not in self.areas:
                raise FlashMapError("missing area %s" % AREA_NAMES[area_id])
        spans = sorted(self.areas.values())
        for i in range(1, len(spans)):
            if spans[i - 1][0] + spans[i - 1][1] > spans[i][0]:
                raise FlashMapError("areas overlap")
        if self.areas[PRIMARY][1] != self.areas[SECONDARY][1]:
            raise FlashMapError("primary and secondary slots must be the same size")
        if self.areas[SCRATCH][1] < sector_size:
            raise FlashMapError("scratch needs a sector")
        if self.areas[KEYSTORE][1] < 2 * sector_size:
            raise FlashMapError("key store needs two sectors")
        self.slot_size = self.areas[PRIMARY][1]
        self.trailer_sectors, self.swap_sectors = trailer_geometry(
            self.slot_size, sector_size, align)
        self.max_image_size = self.swap_sectors * sector_size

    def offset(self, area_id):
        return self.areas[area_id][0]

    def size(self, area_id):
        return self.areas[area_id][1]

    def region(self, flash, area_id):
        offset, size = self.areas[area_id]
        return FlashRegion(flash, offset, size)

    def new_flash(self):
        """A blank NorFlash of this geometry."""
        from bootloader.flash import NorFlash
        return NorFlash(self.flash_size, self.sector_size, self.align)

    # -- descriptor -------------------------------------------------------------------
    def encode(self):
        body = bytearray(DESCRIPTOR_MAGIC)
        body += bytes((DESCRIPTOR_VERSION, len(AREA_IDS), 0, 0))
        body += _u32(self.sector_size) + _u32(self.align) + _u32(self.flash_size)
        for area_id in AREA_IDS:
            offset, size = self.areas[area_id]
            body += _u32(area_id) + _u32(offset) + _u32(size)
        body += crypto.sha256(bytes(body))[:8]
        return bytes(body)

    @classmethod
    def decode(cls, data):
        """Parse a descriptor; raises FlashMapError on anything malformed."""
        data = bytes(data)
        if len(data) < 20 or data[:4] != DESCRIPTOR_MAGIC:
            raise FlashMapError("no flash map descriptor")
        if data[4] != DESCRIPTOR_VERSION:
            raise FlashMapError("unsupported flash map version %d" % data[4])
        count = data[5]
        if count != len(AREA_IDS):
            raise FlashMapError("flash map has %d areas, expected %d" % (count, len(AREA_IDS)))
        end = 20 + 12 * count
        if len(data) < end + 8:
            raise FlashMapError("flash map descriptor truncated")
        if not crypto.constant_time_equal(crypto.sha256(data[:end])[:8], data[end:end + 8]):
            raise FlashMapError("flash map descriptor check failed")
        sector_size = _rd32(data, 8)
        align = _rd32(data, 12)
        flash_size = _rd32(data, 16)
        if sector_size == 0 or align not in (1, 2, 4, 8) or sector_size % align:
            raise FlashMapError("bad flash geometry")
        areas = []
        for i in range(count):
            base = 20 + 12 * i
            areas.append((_rd32(data, base), _rd32(data, base + 4), _rd32(data, base + 8)))
        return cls(sector_size, align, flash_size, areas)

    def encoded_size(self):
        return 20 + 12 * len(AREA_IDS) + 8

    def write_descriptor(self, flash):
        """Program the descriptor at the start of the (erased) bootloader area."""
        blob = self.encode()
        pad = (-len(blob)) % self.align
        region = self.region(flash, BOOTLOADER)
        region.program(0, blob + b"\xff" * pad)

    @classmethod
    def read_descriptor(cls, read):
        """Parse the descriptor through ``read(offset, length)`` of the whole flash."""
        head = read(0, 20)
        if head[:4] != DESCRIPTOR_MAGIC:
            raise FlashMapError("no flash map descriptor")
        return cls.decode(read(0, 20 + 12 * head[5] + 8))


def standard_map(slot_size=0x140000, sector_size=4096, align=4,
                 bootloader_size=0x10000, keystore_sectors=2, otp_size=None):
    """The pump's layout: bootloader, two slots, scratch, key store, OTP, in that order.

    The OTP block takes at least 1 KiB (``otp.MIN_SIZE``), rounded up to whole sectors.
    """
    if otp_size is None:
        otp_size = (1024 + sector_size - 1) // sector_size * sector_size
    areas = []
    offset = 0
    for area_id, size in ((BOOTLOADER, bootloader_size), (PRIMARY, slot_size),
                          (SECONDARY, slot_size), (SCRATCH, sector_size),
                          (KEYSTORE, keystore_sectors * sector_size), (OTP, otp_size)):
        areas.append((area_id, offset, size))
        offset += size
    return FlashMap(sector_size, align, offset, areas)


def small_map(slot_sectors=8, sector_size=256, align=4):
    """A tiny layout with the same structure, for tests that cut power at every op."""
    return standard_map(slot_size=slot_sectors * sector_size, sector_size=sector_size,
                        align=align, bootloader_size=sector_size,
                        keystore_sectors=4)


def check_flash(flash, flash_map):
    if flash.size != flash_map.flash_size or flash.sector_size != flash_map.sector_size \
            or flash.align != flash_map.align:
        raise FlashError("flash does not match its map")
