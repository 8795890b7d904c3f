"""Receives a software update over the protocol, stages it with the bootloader and sees it
through: the pump's side of docs/updates.md.

The dispatcher drives an ``UpdateStager``:

- ``begin(size, digest)`` and ``write(offset, data)`` -> ``(received, staged)``: the image
  goes in order into the secondary slot (``bootloader.app_api.UpdateWriter``) while
  therapy runs. A repeat of the last chunk is acknowledged again, so a lost answer costs
  nothing; after a reset the writer's staging record says how far the slot holds the
  image and ``received`` is where the transfer goes on. After the last byte the slot is
  checked against the announced SHA-256 and the image vetted as the bootloader will vet
  it (``Bootloader.vet_update``: key, signature, hash, security counter, version);
  refused, it is dropped (IL-UPDATE-IMAGE), so the patient is never asked about an image
  that would not boot.
- ``install()``, once the patient confirmed on the pump's button (the dispatcher's gate)
  and the pump paused therapy: the request for a test boot is written, and the device
  must reset now. ``withdraw()`` takes it back, the image staying staged; ``cancel()``
  drops it all.
- ``tick(pump)``, from the main loop: takes back a request the pump no longer pauses for
  (IL-UPDATE-SWAP ended the pause); on a trial image, runs the self-test once and then
  confirms the image (``Bootloader.confirm``: image_ok first, then the security counter)
  or asks for the reset after which the bootloader reverts it.
- ``status_fields()``: update_status's answer (the dispatcher adds "awaiting").

Refusals raise ``StageError`` (a ValueError) with one line for the peer and the audit
log. The bootloader checks signature, hash, counter and version again at boot: what is
checked here only spares the patient a pointless pause.
"""

from bootloader import boot as bt
from bootloader.app_api import UpdateError
from bootloader.boot import BootError
from bootloader.image import ImageError
from bootloader.otp import OtpError
from pump import therapy_table as T
from secure_channel.protocol import schema as S

CONSENT_MS = 300000            # how long the pump waits for the patient's press, ms
_BOOT_NOTES = (bt.EV_UPDATE_REJECTED, bt.EV_UPDATE_STARTED, bt.EV_INSTALL_RESUMED,
               bt.EV_REVERT, bt.EV_REVERT_RESUMED, bt.EV_REVERT_IMPOSSIBLE, bt.EV_RECOVERY)
_NOTE_MAX = 64


class StageError(ValueError):
    """A staging step refused; the message is one line for the peer and the audit log."""


def self_test_passed(pump):
    """A new image's self-test: the pump came up, passed its boot self-test and runs
    (not in safe-stop), its audit log sound."""
    return pump.state not in (T.SELF_TEST, T.SAFE_STOP) and not pump.log.problem


def boot_note(result):
    """The boot's last word on an update (installed, refused and why, reverted), or ""."""
    note = ""
    if result is not None:
        for code, _, text in result.events:
            if code in _BOOT_NOTES:
                note = text
    return note[:_NOTE_MAX]


class UpdateStager:
    """See the module docstring. ``loader``: a ``boot.Bootloader`` over the same flash
    (vetting, the running version, confirmation); ``boot``: this boot's ``BootResult``;
    ``self_test(pump)``: the new image's self-test, True, False or None (not decided
    yet: asked again at the next tick; default ``self_test_passed``);
    ``confirm``: what confirms a trial image, if not ``loader.confirm``."""

    def __init__(self, writer, confirm=None, loader=None, boot=None, self_test=None):
        self.writer = writer
        self.loader = loader
        if confirm is None and loader is not None:
            confirm = loader.confirm
        self._confirm = confirm
        self._self_test = self_test or self_test_passed
        self.note = boot_note(boot)
        self.state = S.UPDATE_IDLE
        self.staged_version = None
        self._last = None           # (offset, data) of the last chunk written
        self.running = None
        self.trial = False
        self._read_running()
        self._tested = not self.trial
        self._recover()

    # -- what the device holds ------------------------------------------------------------
    def _read_running(self):
        if self.loader is None:
            return
        info, _ = self.loader.check(self.loader.primary)
        self.running = info.version if info is not None else None
        self.trial = self.loader.state() == bt.TESTING

    def _recover(self):
        """A transfer or staged image from before the reset, as the staging record has it."""
        if self.writer.recover() is None:
            return
        if not self.writer.finished:
            self.state = S.UPDATE_RECEIVING
            return
        try:
            self._vet()
        except StageError:
            self.writer.cancel()
            return
        self.state = S.UPDATE_STAGED

    @property
    def received(self):
        return self.writer.received if self.state != S.UPDATE_IDLE else 0

    @property
    def staged(self):
        return self.state in (S.UPDATE_STAGED, S.UPDATE_INSTALLING)

    # -- receiving --------------------------------------------------------------------------
    def begin(self, size, digest):
        if self.state == S.UPDATE_INSTALLING:
            raise StageError("an install is under way: cancel_update first")
        try:
            self.writer.begin(size, digest)
        except (UpdateError, ImageError) as exc:
            raise StageError(str(exc))
        self.state = S.UPDATE_RECEIVING
        self.staged_version = None
        self._last = None

    def write(self, offset, data):
        if self._last == (offset, data) and offset + len(data) == self.received:
            return self.received, self.staged          # the answer was lost: again
        if self.state != S.UPDATE_RECEIVING:
            raise StageError("no update in progress: begin_update first")
        if offset != self.received:
            raise StageError("chunk at offset %d, expected %d" % (offset, self.received))
        if offset + len(data) > self.writer.size:
            raise StageError("chunk runs past the announced size %d" % self.writer.size)
        try:
            self.writer.write(data)
            self._last = (offset, data)
            if self.received == self.writer.size:
                self.writer.finish()
                self._vet()
                self.state = S.UPDATE_STAGED
        except (UpdateError, ImageError) as exc:
            self._drop()
            raise StageError("IL-UPDATE-IMAGE %s" % exc)
        except StageError:
            self._drop()
            raise
        return self.received, self.staged

    def _vet(self):
        """Refuse what the next boot would refuse; note the staged image's version."""
        if self.loader is None:
            return
        info, err = self.loader.vet_update()
        if err is not None:
            raise StageError("IL-UPDATE-IMAGE %s" % err)
        self.staged_version = info.version

    def _drop(self):
        self.writer.cancel()
        self.state = S.UPDATE_IDLE
        self.staged_version = None
        self._last = None

    # -- installing ---------------------------------------------------------------------------
    def check_staged(self):
        """Refuse an install when nothing verified is staged."""
        if self.state != S.UPDATE_STAGED:
            raise StageError("no verified image staged: send it first")

    def install(self):
        """Write the request for a test boot (the pump has paused therapy): reset now."""
        self.check_staged()
        try:
            self.writer.request()
        except (UpdateError, ImageError) as exc:
            raise StageError(str(exc))
        self.state = S.UPDATE_INSTALLING

    def withdraw(self):
        """The pause ended without the reset: take the request back, keep the image."""
        if self.state != S.UPDATE_INSTALLING:
            return
        try:
            self.writer.withdraw()
        except UpdateError:
            self._drop()
            return
        self.state = S.UPDATE_STAGED

    def cancel(self):
        self._drop()

    def confirm(self):
        if self._confirm is None:
            raise StageError("no bootloader to confirm with")
        try:
            self._confirm()
        except (BootError, OtpError, ImageError) as exc:
            raise StageError(str(exc))
        self._read_running()
        self._tested = True

    # -- the main loop -------------------------------------------------------------------------
    def tick(self, pump):
        """[(event, None, None)]: 'install-withdrawn', 'update-confirmed', or
        'update-revert' (reset now: the trial image failed its self-test)."""
        events = []
        if self.state == S.UPDATE_INSTALLING and pump.state != T.UPDATE_PENDING:
            self.withdraw()
            events.append(("install-withdrawn", None, None))
        if self.trial and not self._tested:
            passed = self._self_test(pump)
            if passed is None:                       # not decided yet: ask again
                return events
            self._tested = True
            if passed:
                try:
                    self.confirm()
                except StageError:
                    passed = False
            if passed:
                pump.note_update("update_confirmed", {"version": list(self.running or ())})
                events.append(("update-confirmed", None, None))
            else:
                events.append(("update-revert", None, None))
        return events

    def status_fields(self):
        fields = {"phase": self.state, "trial": self.trial}
        if self.running is not None:
            fields["version"] = list(self.running)
        if self.loader is not None:
            fields["security_counter"] = self.loader.otp.security_counter()
        if self.state != S.UPDATE_IDLE:
            fields["size"] = self.writer.size
            fields["received"] = self.received
            fields["digest"] = self.writer.digest
        if self.staged_version is not None:
            fields["staged_version"] = list(self.staged_version)
        if self.note:
            fields["note"] = self.note
        return fields

    def install_prompt(self):
        """What the display asks the patient."""
        version = self.staged_version
        name = "%d.%d.%d" % (version[0], version[1], version[2]) if version else "update"
        return "Install %s? Insulin pauses a few minutes. Press OK" % name
