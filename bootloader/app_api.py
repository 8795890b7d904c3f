"""What the running application calls: stage an update in the secondary slot.

``UpdateWriter`` receives an image in chunks (as the gateway delivers it), writes it to the
secondary slot and, only when all of it is in flash, writes the request into the secondary
trailer (magic, plus image_ok for a permanent update). A power cut before that leaves no
request, so the bootloader never sees half an image as an update. Staging is refused
while the running image is on trial, because the secondary then holds its fallback.

Confirmation after the self-test is ``boot.Bootloader.confirm()``.
"""

from bootloader import boot as bt
from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import trailer as tr
from bootloader.image import ImageError


class UpdateError(ValueError):
    """A staging step that is not allowed now or does not fit the slot."""


class UpdateWriter:
    def __init__(self, flash, flash_map):
        fm.check_flash(flash, flash_map)
        self.map = flash_map
        self.region = flash_map.region(flash, fm.SECONDARY)
        self.trailer = tr.Trailer(self.region, flash_map)
        self.primary_trailer = tr.Trailer(flash_map.region(flash, fm.PRIMARY), flash_map)
        self.size = None
        self.written = 0
        self.pending = b""

    def begin(self, size):
        """Cancel any earlier request and erase room for an image of ``size`` bytes."""
        state = bt.classify(self.primary_trailer.read())
        if state not in bt._CONFIRMED_STATES:
            raise UpdateError("running image is %s; confirm it before staging an update"
                              % state)
        if not 0 < size <= self.map.max_image_size:
            raise UpdateError("image of %d bytes does not fit the %d-byte slot"
                              % (size, self.map.max_image_size))
        self.trailer.erase()
        sector = self.map.sector_size
        for addr in range(0, (size + sector - 1) // sector * sector, sector):
            if not self.region.is_erased(addr, sector):
                self.region.erase(addr)
        self.size = size
        self.written = 0
        self.pending = b""

    def write(self, chunk):
        if self.size is None:
            raise UpdateError("begin() first")
        chunk = bytes(chunk)
        if self.written + len(self.pending) + len(chunk) > self.size:
            raise UpdateError("more data than announced")
        data = self.pending + chunk
        cut = len(data) - len(data) % self.map.align
        if cut:
            self._program(self.written, data[:cut])
            self.written += cut
        self.pending = data[cut:]

    def _program(self, addr, data):
        sector = self.map.sector_size
        pos = 0
        while pos < len(data):
            step = min(sector - (addr + pos) % sector, len(data) - pos)
            piece = data[pos:pos + step]
            if piece != b"\xff" * len(piece):
                self.region.program(addr + pos, piece)
            pos += step

    def finish(self, permanent=False):
        """Flush the tail, check the image structure, then write the request."""
        if self.size is None:
            raise UpdateError("begin() first")
        if self.pending:
            pad = (-len(self.pending)) % self.map.align
            self._program(self.written, self.pending + b"\xff" * pad)
            self.written += len(self.pending)
            self.pending = b""
        if self.written != self.size:
            raise UpdateError("image incomplete: %d of %d bytes" % (self.written, self.size))
        try:
            fmt.image_extent(self.region.read(0, self.size), self.size)
        except ImageError as exc:
            raise UpdateError("staged data is not an image: %s" % exc)
        if permanent:
            self.trailer.set_image_ok()
        self.trailer.write_magic()
        self.size = None


def stage_update(flash, flash_map, image, permanent=False, chunk=256):
    """Stage a whole image (bytes). A slot-sized image padded by imgtool is trimmed."""
    image = bytes(image)
    try:
        _, _, total = fmt.image_extent(image, len(image))
    except ImageError as exc:
        raise UpdateError("not an image: %s" % exc)
    image = image[:total]
    writer = UpdateWriter(flash, flash_map)
    writer.begin(len(image))
    for pos in range(0, len(image), chunk):
        writer.write(image[pos:pos + chunk])
    writer.finish(permanent)
