"""Simulated NOR flash with power-cut injection.

NOR rules as on real parts: sectors erase to 0xFF; programming can only clear bits (an
attempt to set one is a driver bug and raises); writes are aligned to the program unit.
Each sector counts its erases (wear).

Power cuts: ``schedule_cut(op_index, where)`` makes the op_index-th program/erase (counted
from 0 since the flash was made) lose power ``"before"`` it does anything, in the
``"middle"`` (a program lands as a prefix, an erase erases a prefix of the sector) or
``"after"`` it completes. The operation raises ``PowerCut`` and the flash stays dead until
``power_on()``, so code under test cannot write on after the cut. ``PowerCut`` lives in
``hal.faults`` (a ``BaseException``: no software-fault handler swallows it); it is
re-exported here for the flash's users.
"""

from hal.faults import PowerCut  # noqa: F401  (re-exported)


class FlashError(Exception):
    """A driver broke a NOR rule: misaligned, out of range, or setting bits."""


ERASED = 0xFF


def check_geometry(size, sector_size, align):
    """A flash is whole sectors of whole write units; FlashError otherwise."""
    if align <= 0 or sector_size <= 0 or size <= 0 or size % sector_size \
            or sector_size % align:
        raise FlashError("size must be a multiple of sector_size, itself of align")


ERASED = b"\xff" * 256     # a chunk of erased flash: checks and fills go this much at once


def erased(read, addr, length):
    """Whether ``read(addr, length)`` would be all 0xFF, read a chunk at a time: a check
    of a whole sector must not need a sector-sized buffer (a board's heap, fragmented after
    hours of running, may not have one in one piece)."""
    end = addr + length
    while addr < end:
        size = min(len(ERASED), end - addr)
        if read(addr, size) != ERASED[:size]:
            return False
        addr += size
    return True


def erase_into(data, start, length):
    """Set ``data[start:start + length]`` to 0xFF a chunk at a time (no buffer of
    ``length``)."""
    end = start + length
    while start < end:
        size = min(len(ERASED), end - start)
        data[start:start + size] = ERASED[:size]
        start += size


def _erased(size, sector_size):
    """``size`` bytes of erased flash: one buffer of ``size`` allocated, not two (a board's
    heap has no room for a second copy). A seam too: a device main that takes the buffer
    before its imports, so it fragments nothing, puts it in here
    (tools/bench/bench_micropython.py)."""
    data = bytearray(size)
    erase_into(data, 0, size)
    return data


class NorFlash:
    def __init__(self, size, sector_size=4096, align=4):
        check_geometry(size, sector_size, align)
        self.size = size
        self.sector_size = sector_size
        self.align = align
        self._data = _erased(size, sector_size)
        self.erase_counts = [0] * (size // sector_size)
        self.op_count = 0
        self._cut = None          # (op_index, where, fraction_num, fraction_den)
        self.powered = True

    # -- fault injection -------------------------------------------------------------
    def schedule_cut(self, op_index, where="middle", fraction=(1, 2)):
        """Cut power at the op_index-th program/erase; ``fraction`` sizes a middle cut."""
        if where not in ("before", "middle", "after"):
            raise ValueError("where must be before, middle or after")
        if not 0 <= fraction[0] <= fraction[1] or fraction[1] == 0:
            raise ValueError("fraction must be num/den with 0 <= num <= den, den > 0")
        self._cut = (op_index, where, fraction[0], fraction[1])

    def power_on(self):
        self.powered = True
        self._cut = None

    def _begin(self):
        if not self.powered:
            raise PowerCut("flash is unpowered")
        index = self.op_count
        self.op_count += 1
        if self._cut is not None and self._cut[0] == index:
            self.powered = False
            return self._cut
        return None

    # -- access ---------------------------------------------------------------------
    def _check_range(self, addr, length):
        if addr < 0 or length < 0 or addr + length > self.size:
            raise FlashError("access outside flash: 0x%x+%d" % (addr, length))

    def read(self, addr, length):
        self._check_range(addr, length)
        return bytes(self._data[addr:addr + length])

    def program(self, addr, data):
        data = bytes(data)
        self._check_range(addr, len(data))
        if addr % self.align or len(data) % self.align:
            raise FlashError("unaligned program at 0x%x+%d" % (addr, len(data)))
        for i in range(len(data)):
            if data[i] & ~self._data[addr + i] & 0xFF:
                raise FlashError("program would set bits at 0x%x" % (addr + i))
        cut = self._begin()
        if cut is not None:
            _, where, num, den = cut
            if where == "before":
                raise PowerCut("cut before program")
            if where == "middle":
                keep = (len(data) * num // den) // self.align * self.align
                data = data[:keep]
        # NOR programming clears bits (old & data); the check above made every bit set in
        # data already set in old, so that is data itself: written as is, no copies.
        self._data[addr:addr + len(data)] = data
        if cut is not None:
            raise PowerCut("cut during/after program")

    def erase(self, addr):
        """Erase the sector that starts at ``addr``."""
        self._check_range(addr, self.sector_size)
        if addr % self.sector_size:
            raise FlashError("erase address 0x%x is not a sector start" % addr)
        cut = self._begin()
        length = self.sector_size
        if cut is not None:
            _, where, num, den = cut
            if where == "before":
                raise PowerCut("cut before erase")
            if where == "middle":
                length = self.sector_size * num // den
        erase_into(self._data, addr, length)
        self.erase_counts[addr // self.sector_size] += 1
        if cut is not None:
            raise PowerCut("cut during/after erase")

    def is_erased(self, addr, length):
        self._check_range(addr, length)
        return erased(self.read, addr, length)

    # -- images ---------------------------------------------------------------------
    def image(self):
        """The whole flash content, as a file of it would hold."""
        return bytes(self._data)

    @classmethod
    def from_image(cls, data, sector_size=4096, align=4):
        flash = cls(len(data), sector_size, align)
        flash._data[:] = data
        return flash


class FlashRegion:
    """A window onto part of a flash, with addresses relative to its start."""

    def __init__(self, flash, offset, size):
        if offset % flash.sector_size or size % flash.sector_size:
            raise FlashError("region must be sector aligned")
        if offset < 0 or offset + size > flash.size:
            raise FlashError("region outside flash")
        self.flash = flash
        self.offset = offset
        self.size = size
        self.sector_size = flash.sector_size
        self.align = flash.align

    def _at(self, addr, length):
        if addr < 0 or length < 0 or addr + length > self.size:
            raise FlashError("access outside region: 0x%x+%d" % (addr, length))
        return self.offset + addr

    def read(self, addr, length):
        return self.flash.read(self._at(addr, length), length)

    def program(self, addr, data):
        self.flash.program(self._at(addr, len(data)), data)

    def erase(self, addr):
        self.flash.erase(self._at(addr, self.sector_size))

    def is_erased(self, addr, length):
        self._at(addr, length)
        return erased(self.read, addr, length)
