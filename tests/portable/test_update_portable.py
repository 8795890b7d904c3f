"""Software updates on the pump's side, on CPython and MicroPython (plain asserts: the
MicroPython runner runs this file too).

The transfer into the secondary slot leaves therapy alone; the swap needs the patient's
press (IL-UPDATE-CONSENT) and pauses basal for a bounded time (IL-UPDATE-SWAP); a reboot
in the pause resumes the therapy that ran; the staging record in the secondary trailer
lets a transfer go on after a reboot from the last whole sector written. Images here are
unsigned (the MicroPython backend has no signatures): signature checks are the CPython
tests' (tests/gateway/test_update_delivery.py).
"""

from bootloader import app_api, flash_map as fm, image_sign, trailer as tr
from pump import therapy_table as T
from pump.update_install import INSTALL_MAX_MS
from pump.units import MS_PER_MINUTE
from secure_channel import crypto
from secure_channel.protocol import dispatch
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import schema as S
from secure_channel.protocol.update_stager import StageError, UpdateStager

from pump_fixtures import KEY, make_pump, reboot, run_for
from evidence_links import verifies


def _image(size=1500, version=(2, 0, 0, 0)):
    body = bytes((i * 7 + version[0]) & 0xFF for i in range(size))
    return image_sign.sign_image(body, None, None, version, 2)


def _slot(sectors=16):
    flash_map = fm.small_map(slot_sectors=sectors)
    return flash_map, flash_map.new_flash()


def _request_state(flash, flash_map):
    secondary = tr.Trailer(flash_map.region(flash, fm.SECONDARY), flash_map)
    return secondary.magic_state()


# -- the pump ------------------------------------------------------------------------------

@verifies("IL-UPDATE-CONSENT")
def test_install_needs_the_patients_press():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    for confirmed in (False, 1, None):
        result = pump.install_update(confirmed)
        assert not result.ok and result.reason == "IL-UPDATE-CONSENT"
        assert pump.state == T.DELIVERING
    assert pump.refusals["IL-UPDATE-CONSENT"] == 3


def test_begin_update_leaves_therapy_alone():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.begin_update(4096).ok and pump.state == T.DELIVERING
    assert pump.begin_update(0).code != 0 and pump.state == T.DELIVERING
    pulses = hw.motor.pulses
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert hw.motor.pulses - pulses >= 19


@verifies("IL-UPDATE-SWAP")
def test_install_pauses_basal_and_resumes_by_itself_after_the_bound():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    pulses = hw.motor.pulses
    assert pump.install_update(True).ok and pump.state == T.UPDATE_PENDING
    run_for(pump, hw, INSTALL_MAX_MS - 1000)
    assert hw.motor.pulses == pulses and pump.state == T.UPDATE_PENDING
    assert pump.status()["basal_mu_h"] == 0
    run_for(pump, hw, 2000)
    status = pump.status()
    assert status["state"] == T.DELIVERING and "IL-UPDATE-SWAP" in status["alerts"]
    assert status["no_basal_ms"] >= INSTALL_MAX_MS
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.state == T.DELIVERING and hw.motor.pulses - pulses >= 6    # no safe-stop


def test_cancel_update_resumes_the_therapy_that_ran():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.cancel_update().code != 0                      # nothing to cancel
    assert pump.install_update(True).ok
    assert pump.cancel_update().ok and pump.state == T.DELIVERING
    pulses = hw.motor.pulses
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert hw.motor.pulses > pulses and pump.state == T.DELIVERING
    assert pump.suspend(30 * MS_PER_MINUTE).ok
    end = pump.controller.suspend_end
    assert pump.install_update(True).ok and pump.cancel_update().ok
    assert pump.state == T.SUSPENDED and pump.controller.suspend_end == end
    run_for(pump, hw, 31 * MS_PER_MINUTE)
    assert pump.state == T.DELIVERING
    stopped, _, _ = make_pump(rate_mu_h=1000, start=False)
    assert stopped.install_update(True).ok and stopped.cancel_update().ok
    assert stopped.state == T.STOPPED


def test_a_reboot_while_installing_resumes_therapy():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.install_update(True).ok
    pump2, hw2 = reboot(hw, flash)
    assert pump2.state == T.DELIVERING
    pulses = hw2.motor.pulses
    run_for(pump2, hw2, 10 * MS_PER_MINUTE)
    assert hw2.motor.pulses - pulses >= 6 and pump2.state == T.DELIVERING
    assert pump2.suspend(30 * MS_PER_MINUTE).ok
    end = pump2.controller.suspend_end
    assert pump2.install_update(True).ok
    pump3, hw3 = reboot(hw2, flash)
    assert pump3.state == T.SUSPENDED and pump3.controller.suspend_end == end


def test_install_refused_in_an_alarm_or_a_reservoir_change():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    hw.battery.level = 3
    run_for(pump, hw, MS_PER_MINUTE)
    assert pump.state == T.ALARM and not pump.can_install_update()
    assert pump.install_update(True).code != 0 and pump.state == T.ALARM
    changing, hw2, _ = make_pump(rate_mu_h=1000)
    assert changing.stop().ok and changing.rewind().ok
    assert not changing.can_install_update()
    assert changing.install_update(True).code != 0 and changing.state == T.REWOUND


# -- the staging record -----------------------------------------------------------------------

@verifies("DC-UPDATE-RESUME")
def test_a_transfer_goes_on_after_a_reboot_from_the_last_whole_sector():
    flash_map, flash = _slot()
    image = _image(2500)
    writer = app_api.UpdateWriter(flash, flash_map)
    writer.begin(len(image), crypto.sha256(image))
    writer.write(image[:700])
    writer.write(image[700:900])
    again = app_api.UpdateWriter(flash, flash_map)              # RAM lost: a reboot
    assert again.recover() == 3 * flash_map.sector_size
    assert again.size == len(image) and again.digest == crypto.sha256(image)
    again.write(image[3 * flash_map.sector_size:])
    again.finish()
    region = flash_map.region(flash, fm.SECONDARY)
    assert region.read(0, len(image)) == image
    assert _request_state(flash, flash_map) == tr.MAGIC_BLANK    # staged, not requested
    third = app_api.UpdateWriter(flash, flash_map)
    assert third.recover() == len(image) and third.finished
    third.request()
    assert _request_state(flash, flash_map) == tr.MAGIC_GOOD


@verifies("IL-UPDATE-IMAGE")
def test_other_bytes_than_announced_are_refused_and_never_requested():
    flash_map, flash = _slot()
    image = _image(2000)
    writer = app_api.UpdateWriter(flash, flash_map)
    writer.begin(len(image), crypto.sha256(image))
    writer.write(image[:1000] + _image(2000, (3, 0, 0, 0))[1000:])
    try:
        writer.finish()
        raise AssertionError("a mixed image was accepted")
    except app_api.UpdateError as exc:
        assert "digest" in str(exc)
    assert app_api.UpdateWriter(flash, flash_map).recover() is None
    try:
        writer.request()
        raise AssertionError("requested without a verified image")
    except app_api.UpdateError:
        pass
    assert _request_state(flash, flash_map) == tr.MAGIC_BLANK


def test_withdraw_keeps_the_staged_image_without_the_request():
    flash_map, flash = _slot()
    image = _image(1800)
    writer = app_api.UpdateWriter(flash, flash_map)
    writer.begin(len(image), crypto.sha256(image))
    writer.write(image)
    writer.finish()
    writer.request()
    writer.withdraw()
    assert _request_state(flash, flash_map) == tr.MAGIC_BLANK
    again = app_api.UpdateWriter(flash, flash_map)
    assert again.recover() == len(image) and again.finished


# -- the dispatcher and the patient's button ---------------------------------------------------

def _updating(timeout_ms=30000):
    pump, hw, flash = make_pump(rate_mu_h=1000)
    flash_map, slot = _slot()
    stager = UpdateStager(app_api.UpdateWriter(slot, flash_map))
    audit = []
    d = dispatch.Dispatcher(pump, lambda op, reason: audit.append((op, reason)),
                            log_reader=dispatch.verified_log_reader(flash, KEY),
                            updater=stager, install_timeout_ms=timeout_ms)
    return d, pump, hw, stager, audit, (slot, flash_map)


def ask(d, hw, role, name, fields=None):
    return protocol.decode_response(d.handle(protocol.encode_request(name, 1, fields),
                                             role, hw.clock.ticks_ms()))


def _upload(d, hw, image, chunk=400):
    assert not ask(d, hw, "gateway", "begin_update",
                   {"size": len(image), "digest": crypto.sha256(image)}).is_error
    answer = None
    for offset in range(0, len(image), chunk):
        answer = ask(d, hw, "gateway", "image_chunk",
                     {"offset": offset, "data": image[offset:offset + chunk]})
        assert not answer.is_error, answer
    return answer


@verifies("SC-CONFIRM-ON-PUMP", "IL-UPDATE-CONSENT")
def test_the_swap_waits_for_the_patients_button():
    d, pump, hw, stager, audit, slot = _updating()
    image = _image(2200)
    assert _upload(d, hw, image).fields == {}            # held to its end: staged
    status = ask(d, hw, "gateway", "update_status").fields
    assert status["phase"] == S.UPDATE_STAGED and status["received"] == len(image)
    assert pump.state == T.DELIVERING
    answer = ask(d, hw, "gateway", "install_update")
    assert answer.fields == {"wait_s": 30}
    assert ask(d, hw, "gateway", "update_status").fields["phase"] == S.UPDATE_AWAITING
    hw.clock.advance(5000)
    assert d.tick(hw.clock.ticks_ms()) == [] and pump.state == T.DELIVERING
    hw.ui.pressed = True
    assert d.tick(hw.clock.ticks_ms()) == [("install", "gateway", 1)]
    assert pump.state == T.UPDATE_PENDING and _request_state(*slot) == tr.MAGIC_GOOD
    assert ask(d, hw, "gateway", "update_status").fields["phase"] == S.UPDATE_INSTALLING
    assert not ask(d, hw, "gateway", "cancel_update").is_error     # no reset came: undo
    assert pump.state == T.DELIVERING and _request_state(*slot) == tr.MAGIC_BLANK
    assert stager.state == S.UPDATE_IDLE and audit == []


def test_an_install_not_confirmed_in_time_keeps_therapy_and_the_image():
    d, pump, hw, stager, audit, slot = _updating(timeout_ms=10000)
    _upload(d, hw, _image(1600))
    assert not ask(d, hw, "gateway", "install_update").is_error
    again = ask(d, hw, "gateway", "install_update")
    assert again.is_error and again.fields["code"] == S.CONFIRM_BUSY
    hw.clock.advance(10000)
    hw.ui.pressed = True                              # too late: does not count
    assert d.tick(hw.clock.ticks_ms()) == [("install-expired", "gateway", 1)]
    assert pump.state == T.DELIVERING and stager.state == S.UPDATE_STAGED
    assert _request_state(*slot) == tr.MAGIC_BLANK
    assert [a[1].split(":")[0] for a in audit] == ["confirm-busy", "confirm-expired"]


def test_update_steps_out_of_order_are_refused():
    d, pump, hw, stager, audit, slot = _updating()
    early = ask(d, hw, "gateway", "image_chunk", {"offset": 0, "data": b"\x01" * 16})
    assert early.fields["code"] == S.UPDATE_REFUSED
    nothing = ask(d, hw, "gateway", "install_update")
    assert nothing.fields["code"] == S.UPDATE_REFUSED
    image = _image(1200)
    assert not ask(d, hw, "gateway", "begin_update",
                   {"size": len(image), "digest": crypto.sha256(image)}).is_error
    skipped = ask(d, hw, "gateway", "image_chunk", {"offset": 10, "data": image[10:20]})
    assert skipped.fields["code"] == S.UPDATE_REFUSED
    assert ask(d, hw, "patient", "install_update").fields["code"] == S.FORBIDDEN
    assert ask(d, hw, "patient", "update_status").fields["phase"] == S.UPDATE_RECEIVING
    try:
        stager.begin(0, b"\x00" * 32)
        raise AssertionError("an empty image was accepted")
    except StageError:
        pass
    assert pump.state == T.DELIVERING
