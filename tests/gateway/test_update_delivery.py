"""A firmware update delivered by the home gateway over the secure channel.

The pump here is the real firmware on memory hardware, booted by the real bootloader from
an MCUboot flash (``bootloader_fixtures.factory_device``), behind its real session manager;
the gateway's ``sim.gateway.update.ImageDelivery`` talks to it through
``sim.loop.channel.FastChannel`` (EDHOC and OSCORE, in memory, in virtual time). Every
request costs the pump some of its time, so therapy visibly runs during the transfer.

Hazards (docs/hazards.md, docs/updates.md): basal stops for the transfer (H-THERAPY-LOSS);
an image is swapped in without the patient (IL-UPDATE-CONSENT); the pause for the swap
does not end (IL-UPDATE-SWAP); a mixed, unsigned, foreign, tampered or older image runs
(IL-UPDATE-IMAGE, and the bootloader's own check at boot); the security counter rises
before the new image proved itself, so a revert is refused.
"""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bootloader"))

from bootloader_fixtures import factory_device, private_key  # noqa: E402
from bootloader import app_api, boot, flash_map as fm, image_sign, trailer as tr  # noqa: E402
from bootloader.flash import NorFlash  # noqa: E402
from bootloader.otp import KEY_ED25519  # noqa: E402
from pump import audit_log as L, therapy_table as T  # noqa: E402
from pump.hal import CountingRng, MemoryHardware  # noqa: E402
from pump.pump import Pump  # noqa: E402
from pump.update_install import INSTALL_MAX_MS  # noqa: E402
from secure_channel import crypto  # noqa: E402
from secure_channel.edhoc import credentials  # noqa: E402
from secure_channel.link import framing  # noqa: E402
from secure_channel.protocol import requester  # noqa: E402
from secure_channel.protocol import schema as S  # noqa: E402
from secure_channel.protocol.dispatch import Dispatcher, verified_log_reader  # noqa: E402
from secure_channel.protocol.update_stager import CONSENT_MS, UpdateStager  # noqa: E402
from secure_channel.sessions import manager as sessions, trust  # noqa: E402
from secure_channel.sessions.peer import PeerSession  # noqa: E402
from sim.gateway import update as U  # noqa: E402
from sim.loop.channel import ChannelDown, FastChannel  # noqa: E402

LOG_KEY = b"update delivery test: audit-log key"
BASAL_MU_H = 1000                       # one 25 mU pulse every 90 s
PULSE_MS = 90 * 1000
FLASH_OP_MS = 20                        # what one erase or program costs the bootloader


def _identity(name, kid):
    counter = 0
    while True:
        private = crypto.sha256(("%s|%d" % (name, counter)).encode())
        if crypto.p256_valid_private(private):
            break
        counter += 1
    return private, credentials.ccs(trust.make_ccs(crypto.p256_public(private), kid, name))


PUMP_ID = _identity("pump", b"\x01")
GATEWAY_ID = _identity("gateway", b"\x02")


class PumpDevice:
    """A pump whose software lives in bootloader flash. ``power_up`` is what a reset does:
    the bootloader runs (a swap costs ``FLASH_OP_MS`` per flash operation while the clock
    runs on), then the firmware starts on the same hardware (the secure store, clock,
    plunger and reservoir survive; RAM does not), with its update stager and sessions."""

    def __init__(self, version=(1, 0, 0, 0), counter=1, body=None):
        self.dev = factory_device(version=version, counter=counter,
                                  flash_map=fm.small_map(slot_sectors=32))
        if body is not None:
            self.dev.v1 = self.dev.sign(version, counter, body=body)
            self.dev.install_factory(self.dev.v1)
            self.dev.boot()
        self.hw = MemoryHardware()
        self.data = NorFlash(16 * 4096, 4096)          # the pump's own flash: its audit log
        self.trusted = trust.TrustList([("gateway", GATEWAY_ID[1])])
        self.peer = PeerSession(GATEWAY_ID[1], GATEWAY_ID[0], PUMP_ID[1],
                                CountingRng(b"gateway"))
        self.channel = FastChannel(None, peer=self.peer)
        self.boots = []                  # BootResult of every power-up
        self.self_test_passes = True
        self.reboot_on_install = True
        self.events = []
        self.states = []                 # the therapy state at every request
        self.power_up()
        assert self.pump.set_basal_program([BASAL_MU_H] * 48).ok
        assert self.pump.start().ok

    # -- power ----------------------------------------------------------------------------
    def power_up(self):
        if self.boots:                   # RAM is lost; what is not RAM survives
            fresh = MemoryHardware(clock=self.hw.clock)
            fresh.secure_store = self.hw.secure_store
            fresh.motor.steps = self.hw.motor.steps
            fresh.motor.pulses = self.hw.motor.pulses
            fresh.motor.log = self.hw.motor.log
            fresh.reservoir.mu = self.hw.reservoir.mu
            self.hw = fresh
        ops = self.dev.flash.op_count
        result = boot.Bootloader(self.dev.flash, self.dev.map).boot()
        self.boot_ms = (self.dev.flash.op_count - ops) * FLASH_OP_MS
        self.hw.clock.advance(self.boot_ms)
        self.boots.append(result)
        self.pump = Pump(self.hw, self.data, LOG_KEY)
        self.stager = UpdateStager(app_api.UpdateWriter(self.dev.flash, self.dev.map),
                                   loader=boot.Bootloader(self.dev.flash, self.dev.map),
                                   boot=result, self_test=self._self_test)
        self.dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal,
                                     updater=self.stager,
                                     log_reader=verified_log_reader(self.data, LOG_KEY))
        self.channel.manager = sessions.SessionManager(
            PUMP_ID[1], PUMP_ID[0], self.trusted, self.dispatcher,
            CountingRng(b"pump %d" % len(self.boots)))

    def _self_test(self, pump):
        if self.self_test_passes is None:         # still testing
            return None
        return self.self_test_passes and pump.state not in (T.SELF_TEST, T.SAFE_STOP)

    # -- time -----------------------------------------------------------------------------
    def now(self):
        return self.pump.clock.ticks_ms()

    def run_for(self, ms):
        """The main loop: the pump, then the dispatcher's timers (the patient's button, a
        trial image's self-test); a reset it asks for is done at once."""
        end = self.hw.clock.ticks_ms() + ms
        while True:
            wake = self.pump.tick()
            if self._dispatch():
                continue
            now = self.hw.clock.ticks_ms()
            if now >= end:
                return
            self.hw.clock.advance(max(1, min(wake - self.now(), end - now)))

    def _dispatch(self):
        events = self.dispatcher.tick(self.now())
        self.events.extend(e[0] for e in events)
        for event in events:
            if event[0] == "update-revert" or (event[0] == "install" and
                                               self.reboot_on_install):
                self.power_up()
                break
        return bool(events)             # what changed runs at once, as the next loop turn

    def press(self):
        self.hw.ui.pressed = True

    # -- what the device holds ------------------------------------------------------------
    @property
    def running(self):
        return self.boots[-1].image.version

    def otp_counter(self):
        return self.dev.otp.security_counter()

    def log(self):
        return L.verify(self.data, LOG_KEY, self.pump.log_head())

    def commands(self):
        return [r.data["op"] for r in self.log() if r.type == L.EV_COMMAND]

    def refusals(self):
        return [r.data for r in self.log() if r.type == L.EV_REFUSAL]

    def request_in_flash(self):
        secondary = tr.Trailer(self.dev.map.region(self.dev.flash, fm.SECONDARY), self.dev.map)
        return secondary.magic_state() != tr.MAGIC_BLANK


class Link:
    """The gateway's client: ``request(name, fields)`` over the FastChannel, each costing
    ``per_request_ms`` of the pump's time. ``cut_before`` / ``cut_after``: request numbers
    that fail before being sent, or whose answer is lost after the pump acted on it;
    ``at``: request number -> something to do to the device first (a power cycle)."""

    def __init__(self, device, per_request_ms=15000):
        self.device = device
        self.per_request_ms = per_request_ms
        self.count = 0
        self.cut_before = set()
        self.cut_after = set()
        self.at = {}
        self.names = []
        self.chunk_bytes = 0

    def request(self, name, fields):
        device = self.device
        device.run_for(self.per_request_ms)
        number = self.count
        self.count += 1
        if number in self.at:
            self.at.pop(number)()
        if number in self.cut_before:
            raise ChannelDown("link cut")
        device.states.append(device.pump.state)
        answer = device.channel.request(name, fields, device.now())
        self.names.append(name)
        if name == "image_chunk":
            self.chunk_bytes += len(fields["data"])
        if number in self.cut_after:
            raise ChannelDown("answer lost")
        return answer


def new_image(device, version=(2, 0, 0, 0), counter=2, size=5000, **kw):
    body = bytes((version[0] * 31 + version[1] * 7 + i * 13) & 0xFF for i in range(size))
    return device.dev.sign(version, counter, body=body, **kw)


def deliver_and_install(device, link, image, **options):
    """Upload, ask for the install, the patient presses, the pump reboots; the outcome."""
    delivery = U.ImageDelivery(link, image, chunk=512, **options)
    assert delivery.upload().staged
    delivery.install()
    device.press()
    return delivery, delivery.wait(lambda: device.run_for(1000))


# -- a whole update --------------------------------------------------------------------------

def test_full_update_over_the_secure_link_keeps_basal_and_confirms_the_new_version():
    device = PumpDevice()
    link = Link(device, per_request_ms=40000)           # a slow link: minutes of basal
    image = new_image(device)
    seen = []
    delivery = U.ImageDelivery(link, image, chunk=512,
                               progress=lambda stage, done, total: seen.append(
                                   (stage, done, total)))
    pulses_before = device.hw.motor.pulses
    started = device.now()
    upload = delivery.upload()
    transfer_ms = device.now() - started
    # The transfer never touched therapy: delivering at every request, basal on time.
    assert upload.staged and upload.offset == len(image)
    assert set(device.states) == {T.DELIVERING}
    assert transfer_ms > 4 * PULSE_MS
    assert device.hw.motor.pulses - pulses_before >= transfer_ms // PULSE_MS - 1
    assert device.pump.status()["no_basal_ms"] == 0
    chunks = [done for stage, done, total in seen if stage == U.CHUNK]
    assert chunks == sorted(chunks) and chunks[-1] == len(image)
    assert (U.STAGED, len(image), len(image)) in seen
    # Staged, not installed: the old image runs until the patient says so.
    status = delivery.status()
    assert status["phase"] == S.UPDATE_STAGED and status["digest"] == crypto.sha256(image)
    assert status["version"] == [1, 0, 0, 0] and status["staged_version"] == [2, 0, 0, 0]
    assert not device.request_in_flash() and len(device.boots) == 1
    assert delivery.install() == CONSENT_MS // 1000
    assert delivery.status()["phase"] == S.UPDATE_AWAITING
    missing_before = device.pump.status()["no_basal_ms"]
    device.press()
    outcome = delivery.wait(lambda: device.run_for(1000))
    assert outcome.phase == U.INSTALLED and outcome.version == (2, 0, 0, 0)
    assert device.running == (2, 0, 0, 0) and device.boots[-1].mode == boot.MODE_TEST
    assert device.otp_counter() == 2
    assert "install" in device.events and "update-confirmed" in device.events
    assert [stage for stage, _, _ in seen][-1] == U.INSTALLED
    # The pause for the swap is visible and bounded: the basal it cost is counted.
    status = device.pump.status()
    assert status["state"] == T.DELIVERING and not status["alarm"]
    missing = status["no_basal_ms"] - missing_before
    assert device.boot_ms > 0                     # the swap took the pump's time
    # The pause's open gap and the power-off time overlap (counted twice: an overstatement
    # is the safe side), plus the pulse a restarted basal accumulator owes.
    assert device.boot_ms <= missing <= 2 * device.boot_ms + PULSE_MS + 1000
    assert "IL-NO-DELIVERY" not in status["alerts"]
    assert {"begin_update", "install_update", "update_confirmed"} <= set(device.commands())


def test_the_pump_reports_its_version_and_trial_through_update_status():
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    delivery = U.ImageDelivery(link, new_image(device), chunk=512)
    status = delivery.status()
    assert status["version"] == [1, 0, 0, 0] and status["trial"] is False
    assert status["security_counter"] == 1 and status["phase"] == S.UPDATE_IDLE
    delivery.upload()
    delivery.install()
    device.self_test_passes = None                  # the new image takes its time
    device.press()
    trial = delivery.wait(lambda: device.run_for(1000), polls=20)
    assert trial.phase == U.TRIAL and trial.version == (2, 0, 0, 0) and trial.trial
    status = delivery.status()
    assert status["version"] == [2, 0, 0, 0] and status["trial"] is True
    assert status["security_counter"] == 1                  # not before it is confirmed
    assert device.pump.state == T.DELIVERING                # therapy back meanwhile
    device.self_test_passes = True
    assert delivery.wait(lambda: device.run_for(1000)).phase == U.INSTALLED
    status = delivery.status()
    assert status["version"] == [2, 0, 0, 0] and status["trial"] is False
    assert status["security_counter"] == 2 and status["phase"] == S.UPDATE_IDLE
    assert "installing 2.0.0" in status["note"]


# -- resuming ---------------------------------------------------------------------------------

@pytest.mark.verifies("DC-UPDATE-RESUME")
@pytest.mark.parametrize("cut", ["before", "after"])
def test_a_cut_link_mid_transfer_resumes_where_the_pump_stopped(cut):
    device = PumpDevice()
    link = Link(device)
    image = new_image(device)
    (link.cut_before if cut == "before" else link.cut_after).add(5)
    first = U.ImageDelivery(link, image, chunk=512, link_errors=())
    with pytest.raises(ChannelDown):
        first.upload()
    # The next attempt (a new run of the gateway) asks the pump where it stopped.
    seen = []
    again = U.ImageDelivery(link, image, chunk=512,
                            progress=lambda stage, done, total: seen.append((stage, done)))
    assert again.upload().staged
    resumed = [done for stage, done in seen if stage == U.RESUME]
    assert resumed and 0 < resumed[0] < len(image)
    assert link.chunk_bytes <= len(image) + 512
    assert link.names.count("begin_update") == 1
    assert set(device.states) == {T.DELIVERING}
    again.install()
    device.press()
    assert again.wait(lambda: device.run_for(1000)).phase == U.INSTALLED
    assert device.running == (2, 0, 0, 0) and device.otp_counter() == 2


def test_a_lost_link_is_retried_within_one_delivery():
    device = PumpDevice()
    link = Link(device)
    image = new_image(device)
    link.cut_before.update((4, 9))
    link.cut_after.add(7)
    delivery = U.ImageDelivery(link, image, chunk=512, link_errors=(ChannelDown,))
    assert delivery.upload().staged
    assert device.stager.state == S.UPDATE_STAGED
    assert link.chunk_bytes <= len(image) + 2 * 512


@pytest.mark.verifies("DC-UPDATE-RESUME")
def test_a_pump_reboot_mid_transfer_resumes_from_what_the_slot_holds():
    device = PumpDevice()
    link = Link(device)
    image = new_image(device)
    link.at[6] = device.power_up                     # power cycle before request 6
    seen = []                                        # chunks not whole sectors: some lost
    delivery = U.ImageDelivery(link, image, chunk=300,
                               progress=lambda stage, done, total: seen.append((stage, done)))
    assert delivery.upload().staged
    resumed = [done for stage, done in seen if stage == U.RESUME]
    sector = device.dev.map.sector_size
    assert resumed and resumed[0] % sector == 0 and 0 < resumed[0] < len(image)
    assert len(device.boots) == 2 and device.boots[-1].image.version == (1, 0, 0, 0)
    assert device.channel.stats["reconnects"] >= 1
    secondary = device.dev.map.region(device.dev.flash, fm.SECONDARY)
    assert secondary.read(0, len(image)) == image
    assert device.pump.state == T.DELIVERING                  # therapy resumed at boot
    delivery.install()
    device.press()
    assert delivery.wait(lambda: device.run_for(1000)).phase == U.INSTALLED
    assert device.running == (2, 0, 0, 0) and device.otp_counter() == 2


@pytest.mark.verifies("DC-UPDATE-RESUME")
def test_a_staged_image_survives_a_reboot_and_is_installed_without_sending_it_again():
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    image = new_image(device)
    delivery = U.ImageDelivery(link, image, chunk=512)
    assert delivery.upload().staged
    sent = link.chunk_bytes
    device.power_up()
    assert device.stager.state == S.UPDATE_STAGED
    assert U.ImageDelivery(link, image, chunk=512).upload().staged
    assert link.chunk_bytes == sent
    delivery.install()
    device.press()
    assert delivery.wait(lambda: device.run_for(1000)).phase == U.INSTALLED


@pytest.mark.verifies("IL-UPDATE-IMAGE")
def test_a_continuation_with_other_bytes_is_never_staged():
    """A gateway that resumes the pump's transfer with the bytes of another image gets a
    refusal at the last chunk (the digest announced at begin_update), not a mixed image."""
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    v2 = new_image(device)
    v3 = new_image(device, (3, 0, 0, 0), 3)
    assert len(v2) == len(v3)
    link.cut_before.add(4)
    with pytest.raises(ChannelDown):
        U.ImageDelivery(link, v2, chunk=512, link_errors=()).upload()
    received = device.stager.received
    answer = None
    for offset in range(received, len(v3), 512):
        answer = link.request("image_chunk", {"offset": offset,
                                              "data": v3[offset:offset + 512]})
    assert answer.is_error and answer.fields["code"] == S.UPDATE_REFUSED
    assert "IL-UPDATE-IMAGE" in answer.fields["reason"]
    assert device.stager.state == S.UPDATE_IDLE and not device.request_in_flash()
    # An honest gateway with the other image starts over instead of resuming.
    link.cut_before.clear()
    delivery = U.ImageDelivery(link, v3, chunk=512)
    assert delivery.upload().staged
    delivery.install()
    device.press()
    assert delivery.wait(lambda: device.run_for(1000)).version == (3, 0, 0, 0)


# -- images that must never run -----------------------------------------------------------------

def _unsigned(device):
    return image_sign.sign_image(b"u" * 3000, None, None, (2, 0, 0, 0), 2)


def _foreign_key(device):
    other = private_key(KEY_ED25519, "not provisioned")
    return image_sign.sign_image(b"f" * 3000, KEY_ED25519, other, (2, 0, 0, 0), 2)


def _tampered(device):
    image = bytearray(new_image(device))
    image[700] ^= 0x01
    return bytes(image)


def _downgrade(device):
    return new_image(device, (0, 9, 0, 0), 1)


def _rollback(device):
    return new_image(device, (2, 0, 0, 0), 0)        # security counter below the OTP's 1


@pytest.mark.verifies("IL-UPDATE-IMAGE", "SC-IMAGE-SIGNATURE", "SC-IMAGE-ROLLBACK")
@pytest.mark.parametrize("make, reason", [
    (_unsigned, "unsigned"), (_foreign_key, "unknown-key"), (_tampered, "hash-mismatch"),
    (_downgrade, "downgrade"), (_rollback, "rollback")])
def test_a_refused_image_never_becomes_the_running_image(make, reason):
    device = PumpDevice()
    link = Link(device, per_request_ms=2000)
    image = make(device)
    delivery = U.ImageDelivery(link, image, chunk=512)
    with pytest.raises(U.DeliveryError) as refused:
        delivery.upload()
    assert "IL-UPDATE-IMAGE" in str(refused.value) and reason in str(refused.value)
    assert refused.value.code == S.UPDATE_REFUSED
    assert device.stager.state == S.UPDATE_IDLE and not device.request_in_flash()
    install = link.request("install_update", {})
    assert install.is_error and install.fields["code"] == S.UPDATE_REFUSED
    assert set(device.states) == {T.DELIVERING} and device.running == (1, 0, 0, 0)
    # The bootloader is the last guard: staged behind the pump's back, it is still refused.
    writer = app_api.UpdateWriter(device.dev.flash, device.dev.map)
    writer.begin(len(image), crypto.sha256(image))
    writer.write(image)
    writer.finish()
    writer.request()
    device.power_up()
    assert device.running == (1, 0, 0, 0) and device.otp_counter() == 1
    assert boot.EV_UPDATE_REJECTED in device.boots[-1].event_codes()
    assert reason in delivery.status()["note"]


# -- the patient decides --------------------------------------------------------------------------

@pytest.mark.verifies("IL-UPDATE-CONSENT", "SC-CONFIRM-ON-PUMP")
def test_the_patient_not_pressing_leaves_the_old_image_and_basal_running():
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    delivery = U.ImageDelivery(link, new_image(device), chunk=512)
    delivery.upload()
    device.press()                                  # a press before the request: not consent
    assert delivery.install() == CONSENT_MS // 1000
    pulses = device.hw.motor.pulses
    outcome = delivery.wait(lambda: device.run_for(10000))
    assert outcome.phase == U.DECLINED and outcome.version == (1, 0, 0, 0)
    assert device.running == (1, 0, 0, 0) and len(device.boots) == 1
    assert device.pump.state == T.DELIVERING and device.pump.status()["no_basal_ms"] == 0
    assert device.hw.motor.pulses - pulses >= CONSENT_MS // PULSE_MS - 1
    assert not device.request_in_flash() and "install-expired" in device.events
    assert any(r["op"] == "install_update" and "confirm-expired" in r["why"]
               for r in device.refusals())
    # Still staged: asked again later, the patient may say yes then.
    assert delivery.status()["phase"] == S.UPDATE_STAGED
    delivery.install()
    device.press()
    assert delivery.wait(lambda: device.run_for(1000)).phase == U.INSTALLED


def test_cancel_drops_the_request_awaiting_the_patient():
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    delivery = U.ImageDelivery(link, new_image(device), chunk=512)
    delivery.upload()
    delivery.install()
    delivery.cancel()
    device.press()
    device.run_for(5000)
    assert device.pump.state == T.DELIVERING and device.running == (1, 0, 0, 0)
    assert delivery.status()["phase"] == S.UPDATE_IDLE and len(device.boots) == 1


@pytest.mark.verifies("IL-UPDATE-SWAP")
def test_the_pause_ends_by_itself_when_the_reboot_does_not_come():
    """IL-UPDATE-SWAP: confirmed, the pump pauses basal for the swap; if the reset never
    comes it resumes the therapy that ran, withdraws the swap request and alerts."""
    device = PumpDevice()
    device.reboot_on_install = False
    link = Link(device, per_request_ms=1000)
    delivery = U.ImageDelivery(link, new_image(device), chunk=512)
    delivery.upload()
    delivery.install()
    device.press()
    device.run_for(1000)
    assert device.pump.state == T.UPDATE_PENDING and device.request_in_flash()
    assert delivery.status()["phase"] == S.UPDATE_INSTALLING
    device.run_for(INSTALL_MAX_MS)
    status = device.pump.status()
    assert status["state"] == T.DELIVERING and "IL-UPDATE-SWAP" in status["alerts"]
    assert INSTALL_MAX_MS <= status["no_basal_ms"] <= INSTALL_MAX_MS + 2 * PULSE_MS
    assert not device.request_in_flash()
    assert delivery.status()["phase"] == S.UPDATE_STAGED
    device.power_up()                                   # a later reset swaps nothing
    assert device.running == (1, 0, 0, 0) and device.pump.state == T.DELIVERING


# -- the security counter ---------------------------------------------------------------------------

@pytest.mark.verifies("SC-IMAGE-ROLLBACK", "DC-UPDATE-REVERT")
def test_security_counter_rises_only_after_confirmation():
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    v2 = new_image(device, (2, 0, 0, 0), 2)
    device.self_test_passes = False                    # the new image fails its self-test
    delivery, outcome = deliver_and_install(device, link, v2)
    trial = [b for b in device.boots if b.mode == boot.MODE_TEST]
    assert trial and trial[0].image.version == (2, 0, 0, 0)
    assert trial[0].security_counter == 1             # not raised while on trial
    assert outcome.phase == U.REVERTED and "revert" in outcome.note
    assert device.running == (1, 0, 0, 0) and device.otp_counter() == 1
    assert device.pump.state == T.DELIVERING
    # Confirmed after its self-test, the counter follows the image.
    device.self_test_passes = True
    delivery, outcome = deliver_and_install(device, link, v2)
    assert outcome.phase == U.INSTALLED and device.otp_counter() == 2
    # An image below the counter is refused by the pump, and at boot if staged anyway.
    old = new_image(device, (3, 0, 0, 0), 1)
    with pytest.raises(U.DeliveryError) as refused:
        U.ImageDelivery(link, old, chunk=512).upload()
    assert "rollback" in str(refused.value)
    device.dev.stage(old)
    device.power_up()
    assert device.running == (2, 0, 0, 0) and device.otp_counter() == 2
    assert any(code == boot.EV_UPDATE_REJECTED and "rollback" in text
               for code, _, text in device.boots[-1].events)


def test_the_largest_chunk_fits_one_frame_with_its_echo():
    device = PumpDevice()
    link = Link(device, per_request_ms=1000)
    link.request("cancel_update", {})                 # a command: the peer holds an Echo
    assert device.peer.echo is not None
    inner = requester.request_message("image_chunk", {"offset": S.MAX_IMAGE - S.MAX_CHUNK,
                                                      "data": b"\x5a" * S.MAX_CHUNK})
    wire = device.peer.request(inner, device.now())
    assert len(wire) <= framing.MAX_PAYLOAD
    assert len(framing.encode_frame(wire)) <= framing.MAX_PAYLOAD + 16
    image = new_image(device, size=2 * S.MAX_CHUNK)
    delivery = U.ImageDelivery(link, image, chunk=S.MAX_CHUNK)
    assert delivery.upload().staged and device.dispatcher.faults == 0
