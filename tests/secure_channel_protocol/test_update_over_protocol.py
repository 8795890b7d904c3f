"""An update delivered in chunks over the protocol while therapy runs, staged with the real
bootloader API, installed once the patient pressed the pump's button, test-booted, then
confirmed through the protocol."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bootloader"))

from bootloader_fixtures import factory_device  # noqa: E402
from bootloader import app_api, boot  # noqa: E402
from proto_helpers import Harness  # noqa: E402
from pump import results, therapy_table as T  # noqa: E402
from secure_channel.crypto import sha256  # noqa: E402
from secure_channel.protocol import schema as S  # noqa: E402
from secure_channel.protocol.update_stager import UpdateStager  # noqa: E402


def setup(start=True):
    dev = factory_device()
    stager = UpdateStager(app_api.UpdateWriter(dev.flash, dev.map),
                          loader=boot.Bootloader(dev.flash, dev.map))
    harness = Harness(updater=stager, start=start)
    return dev, harness


def begin(harness, image):
    return harness.ask("gateway", "begin_update", {"size": len(image),
                                                   "digest": sha256(image)})


def send_image(harness, image, chunk=200):
    reply = None
    for offset in range(0, len(image), chunk):
        reply = harness.ask("gateway", "image_chunk",
                            {"offset": offset, "data": image[offset:offset + chunk]})
        assert not reply.is_error, reply
    return reply


def press_and_tick(harness):
    harness.hw.ui.pressed = True
    return [e[0] for e in harness.dispatcher.tick(harness.hw.clock.ticks_ms())]


def test_update_staged_while_delivering_installed_on_the_button_and_confirmed():
    dev, harness = setup()
    image = dev.sign((2, 0, 0, 0), 2)
    assert not begin(harness, image).is_error
    assert harness.pump.state == T.DELIVERING
    last = send_image(harness, image)
    assert last.fields == {}                        # held to its end: staged
    final = list(range(0, len(image), 200))[-1]
    again = harness.ask("gateway", "image_chunk", {"offset": final, "data": image[final:]})
    assert not again.is_error and again.fields == {}   # a resend is harmless
    status = harness.ask("gateway", "update_status").fields
    assert status["phase"] == S.UPDATE_STAGED and status["received"] == len(image)
    assert status["staged_version"] == [2, 0, 0, 0] and status["version"] == [1, 0, 0, 0]
    assert harness.pump.state == T.DELIVERING
    assert dev.boot().image.version == (1, 0, 0, 0)        # staged is not requested
    assert harness.ask("gateway", "install_update").fields == {"wait_s": 300}
    assert press_and_tick(harness) == ["install"]
    assert harness.pump.state == T.UPDATE_PENDING
    result = dev.boot()
    assert result.mode == boot.MODE_TEST and result.image.version == (2, 0, 0, 0)
    assert not harness.ask("service", "confirm_update").is_error
    result = dev.boot()
    assert result.mode == boot.MODE_CONFIRMED and result.image.version == (2, 0, 0, 0)
    assert harness.audit == []


def test_refused_update_steps_are_answered_and_audited():
    dev, harness = setup(start=False)
    image = dev.sign((2, 0, 0, 0), 2)
    early = harness.ask("gateway", "image_chunk", {"offset": 0, "data": image[:10]})
    assert early.fields["code"] == S.UPDATE_REFUSED
    assert not begin(harness, image).is_error
    skipped = harness.ask("gateway", "image_chunk", {"offset": 10, "data": image[10:20]})
    assert skipped.fields["code"] == S.UPDATE_REFUSED and "expected 0" in \
        skipped.fields["reason"]
    too_big = harness.ask("gateway", "begin_update", {"size": 1 << 24,
                                                      "digest": b"\x00" * 32})
    assert too_big.fields["code"] == S.UPDATE_REFUSED
    assert harness.pump.state == T.STOPPED                   # therapy never changed
    assert not harness.ask("gateway", "cancel_update").is_error
    assert not harness.ask("gateway", "confirm_update").is_error   # already confirmed: a no-op
    ops = [op for op, _ in harness.audit]
    assert ops == ["image_chunk", "image_chunk", "begin_update"]


def test_garbage_image_is_not_staged():
    dev, harness = setup()
    junk = bytes(range(256)) * 4
    assert not begin(harness, junk).is_error
    reply = None
    for offset in range(0, len(junk), 256):
        reply = harness.ask("gateway", "image_chunk",
                            {"offset": offset, "data": junk[offset:offset + 256]})
    assert reply.fields["code"] == S.UPDATE_REFUSED
    assert harness.audit[-1][1].startswith(
        "update-refused: IL-UPDATE-IMAGE staged data is not an image")
    assert harness.ask("gateway", "install_update").fields["code"] == S.UPDATE_REFUSED
    assert dev.boot().image.version == (1, 0, 0, 0)


def test_install_refused_while_therapy_cannot_pause():
    dev, harness = setup()
    image = dev.sign((2, 0, 0, 0), 2)
    begin(harness, image)
    send_image(harness, image)
    harness.hw.battery.level = 3                  # battery critical: an alarm
    harness.pump.tick()
    assert harness.pump.state == T.ALARM
    refused = harness.ask("gateway", "install_update")
    assert refused.fields["code"] == results.ERR_STATE
    assert dev.boot().image.version == (1, 0, 0, 0)
