"""Receives an update image over the protocol and stages it with the bootloader.

The dispatcher drives an object with ``begin(size)``, ``write(offset, data)`` ->
``(received, staged)``, ``confirm()`` and ``cancel()``, raising ``StageError`` (a
ValueError) to refuse a step. ``UpdateStager`` is that object over
``bootloader.app_api.UpdateWriter``: chunks must arrive in order (a repeat of the last
chunk is acknowledged again, so a lost response costs nothing); after the last byte the
image's structure is checked and the request written for a test boot. Signatures,
hashes, security counter and downgrade are the bootloader's checks at the next boot, not
this module's. ``confirm`` marks the running test-booted image good
(``boot.Bootloader.confirm``).
"""

from bootloader.app_api import UpdateError
from bootloader.boot import BootError
from bootloader.image import ImageError
from bootloader.otp import OtpError


class StageError(ValueError):
    """A staging step refused; the message is one line for the peer and the audit log."""


class UpdateStager:
    def __init__(self, writer, confirm=None):
        self.writer = writer
        self._confirm = confirm
        self.size = None
        self.received = 0
        self.staged = False
        self._last = None           # (offset, data) of the last chunk written

    def begin(self, size):
        try:
            self.writer.begin(size)
        except (UpdateError, ImageError) as exc:
            raise StageError(str(exc))
        self.size = size
        self.received = 0
        self.staged = False
        self._last = None

    def write(self, offset, data):
        if self.size is None:
            if self._last == (offset, data):
                return self.received, self.staged
            raise StageError("no update in progress: begin_update first")
        if self._last == (offset, data) and offset + len(data) == self.received:
            return self.received, self.staged
        if offset != self.received:
            raise StageError("chunk at offset %d, expected %d" % (offset, self.received))
        if self.received + len(data) > self.size:
            raise StageError("chunk runs past the announced size %d" % self.size)
        try:
            self.writer.write(data)
            self.received += len(data)
            self._last = (offset, data)
            if self.received == self.size:
                self.writer.finish(permanent=False)
                self.staged = True
                self.size = None
        except (UpdateError, ImageError) as exc:
            self.size = None
            raise StageError(str(exc))
        return self.received, self.staged

    def confirm(self):
        if self._confirm is None:
            raise StageError("no bootloader to confirm with")
        try:
            self._confirm()
        except (BootError, OtpError, ImageError) as exc:
            raise StageError(str(exc))

    def cancel(self):
        self.size = None
        self._last = None
