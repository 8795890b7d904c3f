"""Staging an update in chunks, resumable across resets: the staging record.

``app_api.UpdateWriter`` keeps, in the secondary slot's trailer, the announced size and
SHA-256 of the image being received and a mark per sector written. A transfer is replayed
with the power cut before, in the middle of and after every flash operation; after each
cut the device boots (the old image must run unless the request was complete), the writer
recovers what the record says, and the transfer goes on from there. It must always end
with exactly the announced image staged and test-booted, never a request for anything
else, and never have to send again more than a sector and a chunk.
"""

from bootloader import app_api, boot, flash_map as fm, trailer as tr
from bootloader.flash import NorFlash, PowerCut
from secure_channel import crypto

from bootloader_fixtures import factory_device, report

CHUNK = 100


def _send(writer, image, start, sent=None):
    for offset in range(start, len(image), CHUNK):
        if sent is not None:
            sent[0] = offset
        writer.write(image[offset:offset + CHUNK])
    writer.finish()
    writer.request()


def _transfer(flash, dev, image, sent=None):
    writer = app_api.UpdateWriter(flash, dev.map)
    writer.begin(len(image), crypto.sha256(image))
    _send(writer, image, 0, sent)


def _requested(flash, dev):
    trailer = tr.Trailer(dev.map.region(flash, fm.SECONDARY), dev.map)
    return trailer.magic_state() == tr.MAGIC_GOOD


def test_every_cut_of_a_chunked_transfer_resumes_to_the_announced_image(request):
    dev = factory_device()
    image = dev.sign((2, 0, 0, 0), 2, body=bytes(i * 5 & 0xFF for i in range(1300)))
    base = dev.flash.image()
    fresh = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
    _transfer(fresh, dev, image)
    ops = fresh.op_count
    points = 0
    for index in range(ops):
        for where in ("before", "middle", "after"):
            flash = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
            flash.schedule_cut(index, where)
            sent = [0]
            try:
                _transfer(flash, dev, image, sent)
            except PowerCut:
                pass
            else:
                raise AssertionError("cut %d/%s did not happen" % (index, where))
            flash.power_on()
            points += 1
            requested = _requested(flash, dev)
            if requested:                       # the last write landed: the swap is due
                result = dev.boot(flash)
                assert result.image.version == (2, 0, 0, 0), (index, where)
                continue
            writer = app_api.UpdateWriter(flash, dev.map)
            start = writer.recover()
            if start is None:                   # nothing usable: the transfer begins again
                writer.begin(len(image), crypto.sha256(image))
                start = 0
            else:
                assert writer.digest == crypto.sha256(image) and writer.size == len(image)
                assert start == len(image) or start % dev.map.sector_size == 0
                assert start >= sent[0] - dev.map.sector_size - CHUNK, (index, where)
            if start == len(image) and writer.finished:
                writer.request()
            else:
                _send(writer, image, start)
            result = dev.boot(flash)
            assert result.mode == boot.MODE_TEST, (index, where, result.events)
            assert result.image.version == (2, 0, 0, 0)
            assert dev.primary_bytes(flash, len(image)) == image
    report(request.config, "power-cut points, chunked staging and resume",
           "%d (%d flash ops, cut before/middle/after each)" % (points, ops))


def test_a_boot_in_the_middle_of_a_transfer_runs_the_old_image_and_keeps_the_record():
    dev = factory_device()
    image = dev.sign((2, 0, 0, 0), 2, body=b"\x3c" * 1300)
    writer = app_api.UpdateWriter(dev.flash, dev.map)
    writer.begin(len(image), crypto.sha256(image))
    writer.write(image[:900])
    result = dev.boot()
    assert result.image.version == (1, 0, 0, 0)
    assert boot.EV_UPDATE_STARTED not in result.event_codes()
    again = app_api.UpdateWriter(dev.flash, dev.map)
    assert again.recover() == 900 // dev.map.sector_size * dev.map.sector_size


def test_the_record_is_dropped_by_the_install_and_by_a_refusal():
    dev = factory_device()
    image = dev.sign((2, 0, 0, 0), 2)
    dev.stage(image)
    assert dev.boot().image.version == (2, 0, 0, 0)
    assert app_api.UpdateWriter(dev.flash, dev.map).recover() is None
    dev.loader().confirm()
    old = dev.sign((1, 5, 0, 0), 1)                 # below the counter: refused at boot
    dev.stage(old)
    assert dev.boot().image.version == (2, 0, 0, 0)
    assert app_api.UpdateWriter(dev.flash, dev.map).recover() is None


def test_a_map_without_room_for_the_record_restarts_transfers():
    flash_map = fm.standard_map(slot_size=2 * 256, sector_size=256, align=1,
                                bootloader_size=256, keystore_sectors=4)
    writer = app_api.UpdateWriter(flash_map.new_flash(), flash_map)
    assert not writer.resumable
    image = b"\x00" * 100
    try:
        writer.begin(len(image), crypto.sha256(image))
    except app_api.UpdateError:
        raise AssertionError("staging must still work without resume")
    writer.write(image[:50])
    assert app_api.UpdateWriter(writer.region.flash, flash_map).recover() is None
