"""What the running application calls: stage an update in the secondary slot.

``UpdateWriter`` receives an image in chunks (as the gateway delivers it) and writes it to
the secondary slot, erasing each sector just before its first byte lands, so a chunk costs
at most one erase and the application's main loop (therapy) keeps its pace. ``begin``
records the announced size and SHA-256 in the secondary trailer (trailer.py, staging
record) and every finished sector is marked there, so after a reset ``recover`` says how
far the slot holds the image and the transfer goes on from that sector. ``finish`` checks
the bytes in flash against the announced digest and the image's structure; only then may
``request`` write the request into the secondary trailer (magic, plus image_ok for a
permanent update). A power cut before that leaves no request, so the bootloader never
sees half an image, or another one than announced, as an update; its own signature check
at boot is the last guard. Staging is refused while the running image is on trial,
because the secondary then holds its fallback.

Confirmation after the self-test is ``boot.Bootloader.confirm()``.
"""

from bootloader import boot as bt
from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import trailer as tr
from bootloader.image import ImageError
from secure_channel import crypto

DIGEST_SIZE = tr.STAGE_DIGEST_SIZE


class UpdateError(ValueError):
    """A staging step that is not allowed now or does not fit the slot."""


class UpdateWriter:
    def __init__(self, flash, flash_map):
        fm.check_flash(flash, flash_map)
        self.map = flash_map
        self.region = flash_map.region(flash, fm.SECONDARY)
        self.trailer = tr.Trailer(self.region, flash_map)
        self.primary_trailer = tr.Trailer(flash_map.region(flash, fm.PRIMARY), flash_map)
        self.resumable = self.trailer.stage_fits()
        self._reset()

    def _reset(self):
        self.size = None
        self.digest = None
        self.written = 0
        self.pending = b""
        self.finished = False
        self._erased = 0           # sectors from here on are erased before their first write
        self._marked = 0           # sectors marked written in the staging record

    @property
    def received(self):
        """Bytes taken so far (programmed, or waiting for a whole program unit)."""
        return self.written + len(self.pending)

    def _sectors(self):
        return (self.size + self.map.sector_size - 1) // self.map.sector_size

    def _check_confirmed(self):
        state = bt.classify(self.primary_trailer.read())
        if state not in bt._CONFIRMED_STATES:
            raise UpdateError("running image is %s; confirm it before staging an update"
                              % state)

    # -- a transfer ---------------------------------------------------------------------
    def begin(self, size, digest):
        """Drop any earlier transfer or request; receive an image of ``size`` bytes whose
        SHA-256 is ``digest``."""
        self._check_confirmed()
        if type(size) is not int or not 0 < size <= self.map.max_image_size:
            raise UpdateError("image of %s bytes does not fit the %d-byte slot"
                              % (size, self.map.max_image_size))
        if type(digest) is not bytes or len(digest) != DIGEST_SIZE:
            raise UpdateError("digest must be the image's %d-byte SHA-256" % DIGEST_SIZE)
        self._reset()
        self.trailer.erase()
        if self.resumable:
            self.trailer.open_stage(size, digest)
        self.size = size
        self.digest = digest

    def recover(self):
        """After a reset: the transfer the staging record holds, continued from its first
        sector not marked written (returned: the offset to resume from; the image's size
        when all of it is there and verified again). None: no transfer to resume."""
        self._reset()
        if not self.resumable or self.trailer.is_erased():
            return None
        record = self.trailer.read_stage()
        if record is None or bt.classify(self.primary_trailer.read()) \
                not in bt._CONFIRMED_STATES:
            return None
        size, digest = record
        if size > self.map.max_image_size:
            return None
        self.size = size
        self.digest = digest
        done = self.trailer.staged_sectors(self._sectors())
        self._marked = done
        if done < self._sectors():
            self.written = done * self.map.sector_size
            self._erased = done
            if self.trailer.magic_state() != tr.MAGIC_BLANK:
                self._rewrite_record(done)       # a request cut half way: not one
            return self.written
        self.written = size
        self._erased = done
        try:
            self._verify()
        except UpdateError:
            self.cancel()
            return None
        self.finished = True
        if self.trailer.magic_state() == tr.MAGIC_BAD:
            self.withdraw()                      # a request cut half way: not one
        return size

    def write(self, chunk):
        if self.size is None or self.finished:
            raise UpdateError("begin() first")
        chunk = bytes(chunk)
        if self.received + len(chunk) > self.size:
            raise UpdateError("more data than announced")
        data = self.pending + chunk
        cut = len(data) - len(data) % self.map.align
        if cut:
            self._program(self.written, data[:cut])
            self.written += cut
            self._mark(self.written // self.map.sector_size)
        self.pending = data[cut:]

    def _program(self, addr, data):
        sector = self.map.sector_size
        pos = 0
        while pos < len(data):
            index = (addr + pos) // sector
            while self._erased <= index:         # first byte in this sector: erase it
                base = self._erased * sector
                if not self.region.is_erased(base, sector):
                    self.region.erase(base)
                self._erased += 1
            step = min(sector - (addr + pos) % sector, len(data) - pos)
            piece = data[pos:pos + step]
            if piece != b"\xff" * len(piece):
                self.region.program(addr + pos, piece)
            pos += step

    def _mark(self, upto):
        """Mark the sectors below ``upto`` written (each once, in order)."""
        if not self.resumable:
            return
        while self._marked < upto:
            self.trailer.mark_staged(self._marked)
            self._marked += 1

    def _rewrite_record(self, sectors):
        self.trailer.erase()
        self._marked = 0
        if self.resumable:
            self.trailer.open_stage(self.size, self.digest)
            self._mark(sectors)

    def finish(self):
        """Flush the tail, then check the bytes in flash: the announced digest and the
        image's structure. Refused, the transfer is dropped."""
        if self.size is None:
            raise UpdateError("begin() first")
        if self.finished:
            return
        if self.pending:
            pad = (-len(self.pending)) % self.map.align
            self._program(self.written, self.pending + b"\xff" * pad)
            self.written += len(self.pending)
            self.pending = b""
        if self.written != self.size:
            raise UpdateError("image incomplete: %d of %d bytes" % (self.written, self.size))
        try:
            self._verify()
        except UpdateError:
            self.cancel()
            raise
        self._mark(self._sectors())
        self.finished = True

    def _verify(self):
        hasher = crypto.sha256_hasher()
        sector = self.map.sector_size
        for pos in range(0, self.size, sector):
            hasher.update(self.region.read(pos, min(sector, self.size - pos)))
        if not crypto.constant_time_equal(hasher.digest(), self.digest):
            raise UpdateError("staged data does not match the announced digest")
        try:
            fmt.image_extent(self.region.read(0, self.size), self.size)
        except ImageError as exc:
            raise UpdateError("staged data is not an image: %s" % exc)

    # -- the request ---------------------------------------------------------------------
    def request(self, permanent=False):
        """Ask the bootloader to install the verified image at the next boot."""
        if not self.finished:
            raise UpdateError("no verified image staged")
        self._check_confirmed()
        if self.trailer.magic_state() != tr.MAGIC_BLANK:
            self.withdraw()
        if permanent:
            self.trailer.set_image_ok()
        self.trailer.write_magic()

    def withdraw(self):
        """Take the request back; the verified image stays staged (the record is written
        again without it)."""
        if not self.finished:
            raise UpdateError("no verified image staged")
        self._rewrite_record(self._sectors())

    def cancel(self):
        """Drop the transfer and any request: the trailer, record included, is erased."""
        if not self.trailer.is_erased():
            self.trailer.erase()
        self._reset()


def stage_update(flash, flash_map, image, permanent=False, chunk=256):
    """Stage a whole image (bytes). A slot-sized image padded by imgtool is trimmed."""
    image = bytes(image)
    try:
        _, _, total = fmt.image_extent(image, len(image))
    except ImageError as exc:
        raise UpdateError("not an image: %s" % exc)
    image = image[:total]
    writer = UpdateWriter(flash, flash_map)
    writer.begin(len(image), crypto.sha256(image))
    for pos in range(0, len(image), chunk):
        writer.write(image[pos:pos + chunk])
    writer.finish()
    writer.request(permanent)
