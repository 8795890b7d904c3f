"""Slot trailer: update request flags and the swap progress log, at the end of each slot.

Offsets from the slot end (fields 8 bytes apart, as MCUboot with BOOT_MAX_ALIGN 8):

    -16  magic (16 bytes)    MCUboot's boot magic: the trailer is in use
    -24  image_ok            0x01: image confirmed (or an update requested as permanent)
    -32  copy_done           0x01: the install swap finished
    -40  swap_info           SWAP_TEST or SWAP_PERM: what the install was asked to be
    -48  swap_size           sectors swapped: u32 LE and its complement
    -56  revert_started      0x01: the revert swap has begun
    -64  revert_done         0x01: the revert swap finished
    then the install log (3 entries of ``align`` bytes per swapped sector) and, before it,
    the revert log. An entry reads 0x01 once its step is complete.

The secondary slot's trailer is the request mailbox: an image staged with magic (and
image_ok for a permanent update), the way ``imgtool sign --pad [--confirm]`` leaves it.
The primary slot's trailer records the install, the test boot and a revert. Every field is
written once between two erases of the trailer, and the magic is written last when a
trailer is opened, so each power cut leaves a state the boot flow can read and resume.

Staging record. The swap logs of the secondary trailer are never used (the swap logs in
the primary's), so while an update is received their space holds what a reset must not
forget (``app_api.UpdateWriter``), from the start of the revert log up:

    +0   size          u32 LE and its complement: the image announced
    +8   digest        SHA-256 the whole image must have (32 bytes)
    +40  sector marks  one ``align``-byte entry per image sector, 0x01 once it is written

The digest is programmed before the size, so a cut leaves either a whole record or one
whose size check fails. The record goes with the trailer: erased by a new transfer, by the
install that consumes the request and by a refusal, like the request itself. A map whose
trailer is too small for it (``stage_fits``) simply cannot resume a transfer.
"""

BOOT_MAGIC = (b"\x77\xc2\x95\xf3\x60\xd2\xef\x7f"
              b"\x35\x52\x50\x0f\x2c\xb6\x79\x80")

OFF_MAGIC = 16
OFF_IMAGE_OK = 24
OFF_COPY_DONE = 32
OFF_SWAP_INFO = 40
OFF_SWAP_SIZE = 48
OFF_REVERT_STARTED = 56
OFF_REVERT_DONE = 64

FLAG_SET = 0x01
SWAP_TEST = 2
SWAP_PERM = 3
SWAP_NAMES = {SWAP_TEST: "test", SWAP_PERM: "permanent"}

LOG_INSTALL = 0
LOG_REVERT = 1
STEPS = 3

STAGE_DIGEST_SIZE = 32
STAGE_HEADER = 8 + STAGE_DIGEST_SIZE

MAGIC_GOOD = "good"
MAGIC_BLANK = "blank"
MAGIC_BAD = "bad"


class TrailerState:
    __slots__ = ("magic", "image_ok", "copy_done", "swap_type", "swap_count",
                 "revert_started", "revert_done")

    def __init__(self, magic, image_ok, copy_done, swap_type, swap_count,
                 revert_started, revert_done):
        self.magic = magic
        self.image_ok = image_ok
        self.copy_done = copy_done
        self.swap_type = swap_type
        self.swap_count = swap_count
        self.revert_started = revert_started
        self.revert_done = revert_done


class Trailer:
    """The trailer of one slot (a FlashRegion covering the whole slot)."""

    def __init__(self, region, flash_map):
        self.region = region
        self.align = flash_map.align
        self.sector_size = flash_map.sector_size
        self.swap_sectors = flash_map.swap_sectors
        self.first_sector = flash_map.swap_sectors
        self.sectors = flash_map.trailer_sectors
        self.end = region.size
        log_size = STEPS * self.swap_sectors * self.align
        self.log_size = log_size
        self.log_base = (self.end - OFF_REVERT_DONE - log_size,
                         self.end - OFF_REVERT_DONE - 2 * log_size)

    # -- reading ------------------------------------------------------------------------
    def _byte(self, off):
        return self.region.read(self.end - off, 1)[0]

    def _flag(self, off):
        return self._byte(off) == FLAG_SET

    def magic_state(self):
        raw = self.region.read(self.end - OFF_MAGIC, 16)
        if raw == BOOT_MAGIC:
            return MAGIC_GOOD
        if raw == b"\xff" * 16:
            return MAGIC_BLANK
        return MAGIC_BAD

    def swap_count(self):
        raw = self.region.read(self.end - OFF_SWAP_SIZE, 8)
        count = int.from_bytes(raw[:4], "little")
        if int.from_bytes(raw[4:], "little") != count ^ 0xFFFFFFFF:
            return None
        if not 0 < count <= self.swap_sectors:
            return None
        return count

    def read(self):
        info = self._byte(OFF_SWAP_INFO)
        return TrailerState(self.magic_state(), self._flag(OFF_IMAGE_OK),
                            self._flag(OFF_COPY_DONE),
                            info if info in (SWAP_TEST, SWAP_PERM) else None,
                            self.swap_count(), self._flag(OFF_REVERT_STARTED),
                            self._flag(OFF_REVERT_DONE))

    def is_erased(self):
        base = self.first_sector * self.sector_size
        return self.region.is_erased(base, self.sectors * self.sector_size)

    # -- writing ------------------------------------------------------------------------
    def erase(self):
        """Erase the trailer sectors, the one holding the magic first."""
        for i in range(self.sectors - 1, -1, -1):
            addr = (self.first_sector + i) * self.sector_size
            if not self.region.is_erased(addr, self.sector_size):
                self.region.erase(addr)

    def _write_unit(self, off, value):
        unit = bytes((value,)) + b"\xff" * (self.align - 1)
        if self.align > 8:
            raise ValueError("alignment above 8")
        self.region.program(self.end - off, unit)

    def set_flag(self, off):
        if not self._flag(off):
            self._write_unit(off, FLAG_SET)

    def set_image_ok(self):
        self.set_flag(OFF_IMAGE_OK)

    def open(self, swap_type, count):
        """Start an install record in an erased trailer: size, type, then the magic."""
        self.region.program(self.end - OFF_SWAP_SIZE, count.to_bytes(4, "little") +
                            (count ^ 0xFFFFFFFF).to_bytes(4, "little"))
        self._write_unit(OFF_SWAP_INFO, swap_type)
        self.write_magic()

    def write_magic(self):
        self.region.program(self.end - OFF_MAGIC, BOOT_MAGIC)

    # -- swap progress log ------------------------------------------------------------
    def _entry_addr(self, log, index):
        return self.log_base[log] + index * self.align

    def progress(self, log, count):
        """Index of the first incomplete step (sector * 3 + step) of ``count`` sectors."""
        length = STEPS * count * self.align
        raw = self.region.read(self.log_base[log], length)
        for index in range(STEPS * count):
            if raw[index * self.align] != FLAG_SET:
                return index
        return STEPS * count

    def mark(self, log, index):
        self.region.program(self._entry_addr(log, index),
                            bytes((FLAG_SET,)) + b"\xff" * (self.align - 1))

    # -- staging record (secondary slot only) ------------------------------------------
    def stage_fits(self):
        """Whether the record (header and a mark per sector) fits the unused swap logs."""
        return STAGE_HEADER + self.swap_sectors * self.align <= 2 * self.log_size

    def _stage_base(self):
        return self.log_base[LOG_REVERT]

    def open_stage(self, size, digest):
        """Write the record of a transfer into an erased trailer: digest, then size."""
        if len(digest) != STAGE_DIGEST_SIZE or not 0 < size < 0xFFFFFFFF:
            raise ValueError("staging record needs a size and a 32-byte digest")
        base = self._stage_base()
        self.region.program(base + 8, bytes(digest))
        self.region.program(base, size.to_bytes(4, "little") +
                            (size ^ 0xFFFFFFFF).to_bytes(4, "little"))

    def read_stage(self):
        """(size, digest) of the transfer recorded here, or None."""
        raw = self.region.read(self._stage_base(), STAGE_HEADER)
        size = int.from_bytes(raw[:4], "little")
        if int.from_bytes(raw[4:8], "little") != size ^ 0xFFFFFFFF or size == 0:
            return None
        return size, raw[8:]

    def mark_staged(self, index):
        """Sector ``index`` of the image is written."""
        self.region.program(self._stage_base() + STAGE_HEADER + index * self.align,
                            bytes((FLAG_SET,)) + b"\xff" * (self.align - 1))

    def staged_sectors(self, count):
        """How many of the first ``count`` sectors are marked written, in order."""
        raw = self.region.read(self._stage_base() + STAGE_HEADER, count * self.align)
        for index in range(count):
            if raw[index * self.align] != FLAG_SET:
                return index
        return count
