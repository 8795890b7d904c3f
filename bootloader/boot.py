"""The boot flow: validate, install or resume an update, test-boot it, revert unless confirmed.

State of the primary slot, read from its trailer (trailer.py):

    IDLE        no trailer magic: the image there is the confirmed one (factory state)
    INSTALLING  magic, copy_done unset: an install swap was cut short -> finish it
    TESTING     install done, image_ok unset: the new image is on trial
    CONFIRMED   install done, image_ok set
    REVERTING   revert_started, revert_done unset -> finish the revert
    REVERTED    revert_done: the previous image is back

One boot:
1. finish whatever a power cut interrupted (INSTALLING, REVERTING);
2. TESTING at power-up means the trial image was reset without confirming -> revert
   (if the image to go back to is valid; else keep the trial image rather than brick);
3. with a confirmed image in place, a request in the secondary trailer is validated
   (signature by a provisioned, unrevoked key; hash; security counter >= the OTP counter;
   no version downgrade) and swapped in for a test boot, or refused with a logged reason
   and cancelled;
4. the primary is validated; if it fails, the secondary is tried as a recovery (test
   install); with no valid image anywhere the boot ends with ``image`` None;
5. for a confirmed image, the OTP security counter is raised to its counter.

A trailer in a state no power cut leaves (decayed or tampered flash: a swap log entry
that cannot be completed) makes the flash refuse a write. The boot then stops swapping,
logs ``EV_FLASH_FAULT`` and starts the primary only if it verifies, as a test boot (the
counter is not raised); otherwise it ends with ``image`` None. Never an exception.

The running image confirms itself with ``Bootloader.confirm()`` after its self-test; only
then is the OTP counter raised to the new image's counter.
"""

from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import trailer as tr
from bootloader import verify as vf
from bootloader.flash import FlashError
from bootloader.image import ImageError
from bootloader.otp import OtpError, OtpFuses
from bootloader.swap import Swapper

IDLE = "idle"
INSTALLING = "installing"
TESTING = "testing"
CONFIRMED = "confirmed"
REVERTING = "reverting"
REVERTED = "reverted"
_CONFIRMED_STATES = (IDLE, CONFIRMED, REVERTED)

MODE_CONFIRMED = "confirmed"
MODE_TEST = "test"

# Boot events: (code, reject code or 0, one-line text) are logged for each boot.
EV_BOOT = 1
EV_UPDATE_REJECTED = 2
EV_UPDATE_STARTED = 3
EV_INSTALL_RESUMED = 4
EV_REVERT = 5
EV_REVERT_RESUMED = 6
EV_REVERT_IMPOSSIBLE = 7
EV_PRIMARY_INVALID = 8
EV_RECOVERY = 9
EV_COUNTER_RAISED = 10
EV_COUNTER_FAILED = 11
EV_NO_VALID_IMAGE = 12
EV_CONFIRMED = 13
EV_FLASH_FAULT = 14

EVENT_NAMES = {
    EV_BOOT: "boot", EV_UPDATE_REJECTED: "update-rejected",
    EV_UPDATE_STARTED: "update-started", EV_INSTALL_RESUMED: "install-resumed",
    EV_REVERT: "revert", EV_REVERT_RESUMED: "revert-resumed",
    EV_REVERT_IMPOSSIBLE: "revert-impossible", EV_PRIMARY_INVALID: "primary-invalid",
    EV_RECOVERY: "recovery", EV_COUNTER_RAISED: "counter-raised",
    EV_COUNTER_FAILED: "counter-failed", EV_NO_VALID_IMAGE: "no-valid-image",
    EV_CONFIRMED: "confirmed", EV_FLASH_FAULT: "flash-fault",
}


class BootError(Exception):
    """An operation the current slot state does not allow (e.g. confirm during a swap)."""


class BootPolicy:
    """Version policy for updates."""

    def __init__(self, allow_downgrade=False, compare_build=False):
        self.allow_downgrade = allow_downgrade
        self.compare_build = compare_build


class BootResult:
    """Outcome of one boot: the image started (None if none is valid) and the log."""

    __slots__ = ("image", "mode", "state", "events", "security_counter")

    def __init__(self, image, mode, state, events, security_counter):
        self.image = image                  # verify.ImageInfo of the primary, or None
        self.mode = mode                    # MODE_CONFIRMED, MODE_TEST or None
        self.state = state
        self.events = events
        self.security_counter = security_counter

    def event_codes(self):
        return [e[0] for e in self.events]


def load_image(region, limit):
    """Read exactly the bytes of the image at the start of ``region`` (or raise ImageError)."""
    head = region.read(0, min(fmt.HEADER_SIZE, limit))
    header = fmt.parse_header(head)
    hashed = header.hdr_size + header.img_size + header.protect_tlv_size
    if hashed + fmt.TLV_INFO_SIZE > limit:
        raise ImageError(fmt.REJECT_OVERSIZED, "image of %d bytes exceeds the %d available"
                         % (hashed + fmt.TLV_INFO_SIZE, limit))
    info = region.read(hashed, fmt.TLV_INFO_SIZE)
    total = hashed + max(fmt.TLV_INFO_SIZE, info[2] | info[3] << 8)
    return region.read(0, min(total, limit))


def image_sectors(region, flash_map):
    """Sectors covered by the image in ``region`` per its header; all if unreadable."""
    try:
        head = region.read(0, fmt.HEADER_SIZE)
        header = fmt.parse_header(head)
        hashed = header.hdr_size + header.img_size + header.protect_tlv_size
        info = region.read(hashed, fmt.TLV_INFO_SIZE) \
            if hashed + fmt.TLV_INFO_SIZE <= flash_map.max_image_size else b"\xff\xff"
        if info[0] | info[1] << 8 != fmt.TLV_INFO_MAGIC:
            return flash_map.swap_sectors
        total = hashed + (info[2] | info[3] << 8)
    except ImageError:
        return flash_map.swap_sectors
    sectors = (total + flash_map.sector_size - 1) // flash_map.sector_size
    return max(1, min(sectors, flash_map.swap_sectors))


def classify(state):
    if state.magic != tr.MAGIC_GOOD:
        return IDLE
    if state.revert_done:
        return REVERTED
    if state.revert_started:
        return REVERTING
    if not state.copy_done:
        return INSTALLING
    if state.image_ok:
        return CONFIRMED
    return TESTING


class Bootloader:
    """Runs the boot flow on a NorFlash laid out by ``flash_map``."""

    def __init__(self, flash, flash_map, policy=None, log=None):
        fm.check_flash(flash, flash_map)
        self.flash = flash
        self.map = flash_map
        self.policy = policy or BootPolicy()
        self.log = log
        self.otp = OtpFuses(flash_map.region(flash, fm.OTP))
        self.primary = flash_map.region(flash, fm.PRIMARY)
        self.secondary = flash_map.region(flash, fm.SECONDARY)
        self.primary_trailer = tr.Trailer(self.primary, flash_map)
        self.secondary_trailer = tr.Trailer(self.secondary, flash_map)
        self.swapper = Swapper(flash, flash_map)
        self.events = []

    # -- helpers -------------------------------------------------------------------------
    def _event(self, code, text, reject=0):
        self.events.append((code, reject, text))
        if self.log is not None:
            self.log(code, reject, text)

    def state(self):
        return classify(self.primary_trailer.read())

    def request(self):
        """SWAP_TEST or SWAP_PERM if the secondary trailer holds an update request."""
        if self.secondary_trailer.magic_state() != tr.MAGIC_GOOD:
            return None
        return tr.SWAP_PERM if self.secondary_trailer.read().image_ok else tr.SWAP_TEST

    def check(self, region, min_counter=None):
        """Verify the image in a slot: (ImageInfo, None) or (None, ImageError)."""
        if min_counter is None:
            min_counter = self.otp.security_counter()
        try:
            data = load_image(region, self.map.max_image_size)
            info = vf.verify(data, vf.Keyring.from_otp(self.otp), min_counter,
                             self.map.max_image_size)
            return info, None
        except ImageError as exc:
            return None, exc

    def _swap_count(self):
        count = self.primary_trailer.swap_count()
        return count if count is not None else self.map.swap_sectors

    # -- install and revert ------------------------------------------------------------------
    def _start_install(self, swap_type):
        count = max(image_sectors(self.primary, self.map),
                    image_sectors(self.secondary, self.map))
        self.primary_trailer.erase()
        self.primary_trailer.open(swap_type, count)
        self._finish_install()

    def _finish_install(self):
        if not self.secondary_trailer.is_erased():
            self.secondary_trailer.erase()          # the request is consumed
        self.swapper.run(tr.LOG_INSTALL, self._swap_count())
        self.primary_trailer.set_flag(tr.OFF_COPY_DONE)
        if self.primary_trailer.read().swap_type == tr.SWAP_PERM:
            self.primary_trailer.set_image_ok()

    def _start_revert(self):
        self.primary_trailer.set_flag(tr.OFF_REVERT_STARTED)
        self._finish_revert()

    def _finish_revert(self):
        self.swapper.run(tr.LOG_REVERT, self._swap_count())
        self.primary_trailer.set_flag(tr.OFF_REVERT_DONE)

    def vet_update(self):
        """What the next boot decides about the image in the secondary slot: (ImageInfo,
        None) to install it, (None, ImageError) to refuse it (signature by a provisioned,
        unrevoked key; hash; security counter; no version downgrade). The running
        application asks the same before it offers an update to the patient."""
        current, _ = self.check(self.primary)
        new, err = self.check(self.secondary)
        if err is None and current is not None and not self.policy.allow_downgrade:
            try:
                vf.check_version(new, current, self.policy.compare_build)
            except ImageError as exc:
                return None, exc
        return new, err

    def _try_update(self, swap_type):
        new, err = self.vet_update()
        if err is not None:
            self._event(EV_UPDATE_REJECTED, "update refused: %s" % err, err.code)
            self.secondary_trailer.erase()          # cancel the request
            return False
        self._event(EV_UPDATE_STARTED, "installing %s (%s, security counter %d)"
                    % (new.header.version_text(), tr.SWAP_NAMES[swap_type],
                       new.security_counter))
        self._start_install(swap_type)
        return True

    def _raise_counter(self, info):
        try:
            if self.otp.raise_security_counter(info.security_counter):
                self._event(EV_COUNTER_RAISED, "security counter raised to %d"
                            % info.security_counter)
        except OtpError as exc:
            self._event(EV_COUNTER_FAILED, "security counter not raised: %s" % exc)

    # -- the boot flow --------------------------------------------------------------------
    def boot(self):
        self.events = []
        try:
            return self._boot()
        except FlashError as exc:
            self._event(EV_FLASH_FAULT, "flash refused a write during boot: %s" % exc)
        info, err = self.check(self.primary)
        if info is None:
            self._event(EV_NO_VALID_IMAGE, "no valid image in flash")
            return BootResult(None, None, self.state(), self.events,
                              self.otp.security_counter())
        self._event(EV_BOOT, "booting %s (%s, security counter %d)"
                    % (info.header.version_text(), MODE_TEST, info.security_counter))
        return BootResult(info, MODE_TEST, self.state(), self.events,
                          self.otp.security_counter())

    def _boot(self):
        state = self.state()
        if state == INSTALLING:
            self._event(EV_INSTALL_RESUMED, "resuming an interrupted install")
            self._finish_install()
            state = self.state()
        elif state == REVERTING:
            self._event(EV_REVERT_RESUMED, "resuming an interrupted revert")
            self._finish_revert()
            state = REVERTED
        elif state == TESTING:
            state = self._revert_unconfirmed()

        if state in _CONFIRMED_STATES:
            request = self.request()
            if request is not None and self._try_update(request):
                state = self.state()

        info, err = self.check(self.primary)
        if info is None:
            self._event(EV_PRIMARY_INVALID, "primary image invalid: %s" % err, err.code)
            info, state = self._recover(state)
            if info is None:
                self._event(EV_NO_VALID_IMAGE, "no valid image in flash")
                return BootResult(None, None, state, self.events,
                                  self.otp.security_counter())
        if state in _CONFIRMED_STATES:
            self._raise_counter(info)
            mode = MODE_CONFIRMED
        else:
            mode = MODE_TEST
        self._event(EV_BOOT, "booting %s (%s, security counter %d)"
                    % (info.header.version_text(), mode, info.security_counter))
        return BootResult(info, mode, state, self.events, self.otp.security_counter())

    def _revert_unconfirmed(self):
        """The trial image was reset without confirming itself: go back if we can."""
        old, err = self.check(self.secondary)
        if old is None:
            self._event(EV_REVERT_IMPOSSIBLE,
                        "trial image unconfirmed but the previous image is invalid (%s); "
                        "keeping the trial image" % err, err.code)
            return TESTING
        self._event(EV_REVERT, "trial image not confirmed: reverting to %s"
                    % old.header.version_text())
        self._start_revert()
        return REVERTED

    def _recover(self, state):
        """The primary is invalid: bring in a valid secondary, for a trial boot."""
        other, err = self.check(self.secondary)
        if other is None:
            return None, state
        if state == TESTING:
            self._event(EV_REVERT, "trial image invalid: reverting")
            self._start_revert()
        else:
            self._event(EV_RECOVERY, "recovering %s from the secondary slot"
                        % other.header.version_text())
            self._start_install(tr.SWAP_TEST)
        state = self.state()
        info, err = self.check(self.primary)
        return info, state

    # -- called by the running image ------------------------------------------------------
    def confirm(self):
        """Mark the running trial image good, then raise the OTP counter to its counter."""
        self.events = []
        state = self.state()
        if state in (INSTALLING, REVERTING):
            raise BootError("cannot confirm during a swap")
        info, err = self.check(self.primary)
        if info is None:
            raise BootError("primary image invalid: %s" % err)
        if state == TESTING:
            self.primary_trailer.set_image_ok()
            self._event(EV_CONFIRMED, "image %s confirmed" % info.header.version_text())
        self._raise_counter(info)
        return info
