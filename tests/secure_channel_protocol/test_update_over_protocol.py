"""An update delivered in chunks over the protocol, staged with the real bootloader API,
test-booted, then confirmed through the protocol."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bootloader"))

from bootloader_fixtures import factory_device  # noqa: E402
from bootloader import app_api, boot  # noqa: E402
from proto_helpers import Harness  # noqa: E402
from pump import results, therapy_table as T  # noqa: E402
from secure_channel.protocol import schema as S  # noqa: E402
from secure_channel.protocol.update_stager import UpdateStager  # noqa: E402


def setup():
    dev = factory_device()
    stager = UpdateStager(app_api.UpdateWriter(dev.flash, dev.map),
                          confirm=lambda: dev.loader().confirm())
    harness = Harness(updater=stager, start=False)
    return dev, harness


def send_image(harness, image, chunk=200):
    reply = None
    for offset in range(0, len(image), chunk):
        reply = harness.ask("gateway", "image_chunk",
                            {"offset": offset, "data": image[offset:offset + chunk]})
        assert not reply.is_error, reply
    return reply


def test_update_staged_test_booted_and_confirmed():
    dev, harness = setup()
    image = dev.sign((2, 0, 0, 0), 2)
    assert not harness.ask("gateway", "begin_update", {"size": len(image)}).is_error
    assert harness.pump.state == T.UPDATE_PENDING
    last = send_image(harness, image)
    assert last.fields == {"received": len(image), "staged": True}
    final = list(range(0, len(image), 200))[-1]
    again = harness.ask("gateway", "image_chunk", {"offset": final, "data": image[final:]})
    assert again.fields == {"received": len(image), "staged": True}   # a resend is harmless
    result = dev.boot()
    assert result.mode == boot.MODE_TEST and result.image.version == (2, 0, 0, 0)
    assert not harness.ask("service", "confirm_update").is_error
    result = dev.boot()
    assert result.mode == boot.MODE_CONFIRMED and result.image.version == (2, 0, 0, 0)
    assert harness.audit == []


def test_refused_update_steps_are_answered_and_audited():
    dev, harness = setup()
    image = dev.sign((2, 0, 0, 0), 2)
    early = harness.ask("gateway", "image_chunk", {"offset": 0, "data": image[:10]})
    assert early.fields["code"] == results.ERR_STATE
    assert not harness.ask("gateway", "begin_update", {"size": len(image)}).is_error
    skipped = harness.ask("gateway", "image_chunk", {"offset": 10, "data": image[10:20]})
    assert skipped.fields["code"] == S.UPDATE_REFUSED and "expected 0" in \
        skipped.fields["reason"]
    huge = harness.ask("gateway", "begin_update", {"size": 1 << 24})
    assert huge.fields["code"] == results.ERR_STATE          # the pump: not from this state
    assert not harness.ask("gateway", "cancel_update").is_error
    assert harness.pump.state == T.STOPPED
    too_big = harness.ask("gateway", "begin_update", {"size": 1 << 24})
    assert too_big.fields["code"] == S.UPDATE_REFUSED
    assert harness.pump.state == T.STOPPED                   # left update mode again
    assert not harness.ask("gateway", "confirm_update").is_error   # already confirmed: a no-op
    ops = [op for op, _ in harness.audit]
    assert ops[:3] == ["image_chunk", "image_chunk", "begin_update"]


def test_garbage_image_is_not_staged():
    dev, harness = setup()
    junk = bytes(range(256)) * 4
    assert not harness.ask("gateway", "begin_update", {"size": len(junk)}).is_error
    reply = None
    for offset in range(0, len(junk), 256):
        reply = harness.ask("gateway", "image_chunk",
                            {"offset": offset, "data": junk[offset:offset + 256]})
    assert reply.fields["code"] == S.UPDATE_REFUSED
    assert harness.audit[-1][1].startswith("update-refused: staged data is not an image")
    assert dev.boot().image.version == (1, 0, 0, 0)
