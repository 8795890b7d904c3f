"""Resumable swap of the primary and secondary slots through the scratch sector.

Sector i is exchanged in three steps, each followed by its entry in the primary trailer's
progress log (trailer.py):

    1. erase scratch,      copy secondary[i] -> scratch
    2. erase secondary[i], copy primary[i]   -> secondary[i]
    3. erase primary[i],   copy scratch      -> primary[i]

A step only reads data that no earlier unlogged step has destroyed, so after a power cut
the first unlogged step is simply done again, from the start. The same procedure swaps
back for a revert, logged in the revert log. Trailer sectors are never swapped.
"""

from bootloader import flash_map as fm
from bootloader import trailer as tr


class Swapper:
    def __init__(self, flash, flash_map):
        self.map = flash_map
        self.primary = flash_map.region(flash, fm.PRIMARY)
        self.secondary = flash_map.region(flash, fm.SECONDARY)
        self.scratch = flash_map.region(flash, fm.SCRATCH)
        self.sector = flash_map.sector_size
        self.trailer = tr.Trailer(self.primary, flash_map)

    def _copy(self, src, src_addr, dst, dst_addr):
        data = src.read(src_addr, self.sector)
        if not dst.is_erased(dst_addr, self.sector):
            dst.erase(dst_addr)
        if data != b"\xff" * self.sector:
            dst.program(dst_addr, data)

    def _step(self, index):
        sector, step = index // tr.STEPS, index % tr.STEPS
        addr = sector * self.sector
        if step == 0:
            self._copy(self.secondary, addr, self.scratch, 0)
        elif step == 1:
            self._copy(self.primary, addr, self.secondary, addr)
        else:
            self._copy(self.scratch, 0, self.primary, addr)

    def run(self, log, count):
        """Do (or finish) the swap of the first ``count`` sectors, logged in ``log``."""
        total = tr.STEPS * count
        index = self.trailer.progress(log, count)
        while index < total:
            self._step(index)
            self.trailer.mark(log, index)
            index += 1
