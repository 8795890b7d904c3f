"""Boot flow: updates, test boot, confirm, revert, refusals with logged reasons, recovery."""

import pytest

from bootloader import app_api, boot, flash_map as fm, image as fmt, image_sign, trailer as tr
from bootloader.otp import KEY_ED25519, KEY_P256
from secure_channel import crypto

from bootloader_fixtures import Device, factory_device, private_key


def _reject_code(result):
    for code, reject, _ in result.events:
        if code == boot.EV_UPDATE_REJECTED:
            return reject
    return None


def test_factory_boot_raises_counter_to_the_image():
    dev = factory_device(counter=5)
    assert dev.otp.security_counter() == 5
    result = dev.boot()
    assert result.mode == boot.MODE_CONFIRMED
    assert result.image.version == (1, 0, 0, 0)
    assert boot.EV_COUNTER_RAISED not in result.event_codes()


@pytest.mark.verifies("DC-UPDATE-REVERT")
def test_update_test_boot_confirm_then_counter():
    dev = factory_device(counter=1)
    dev.stage(dev.sign((1, 1, 0, 0), 4))
    result = dev.boot()
    assert result.mode == boot.MODE_TEST and result.image.version == (1, 1, 0, 0)
    assert boot.EV_UPDATE_STARTED in result.event_codes()
    # Not raised during the trial: a revert must stay possible.
    assert dev.otp.security_counter() == 1
    dev.loader().confirm()
    assert dev.otp.security_counter() == 4
    result = dev.boot()
    assert result.mode == boot.MODE_CONFIRMED and result.image.version == (1, 1, 0, 0)
    assert result.state == boot.CONFIRMED


@pytest.mark.verifies("DC-UPDATE-REVERT")
def test_unconfirmed_update_reverts():
    dev = factory_device()
    dev.stage(dev.sign((2, 0, 0, 0), 2))
    assert dev.boot().mode == boot.MODE_TEST
    result = dev.boot()
    assert boot.EV_REVERT in result.event_codes()
    assert result.image.version == (1, 0, 0, 0) and result.mode == boot.MODE_CONFIRMED
    assert dev.primary_bytes(size=len(dev.v1)) == dev.v1
    assert dev.otp.security_counter() == 1
    # The reverted image is not requested again.
    result = dev.boot()
    assert result.image.version == (1, 0, 0, 0)
    assert boot.EV_UPDATE_STARTED not in result.event_codes()


def test_permanent_update_needs_no_confirmation():
    dev = factory_device()
    dev.stage(dev.sign((2, 0, 0, 0), 2), permanent=True)
    result = dev.boot()
    assert result.mode == boot.MODE_CONFIRMED and result.image.version == (2, 0, 0, 0)
    assert dev.otp.security_counter() == 2
    assert dev.boot().image.version == (2, 0, 0, 0)


def test_update_sizes_differ_both_ways():
    dev = factory_device()
    big = dev.sign((2, 0, 0, 0), 2, body=b"\x5a" * 1500)
    dev.stage(big)
    dev.boot()
    dev.loader().confirm()
    small = dev.sign((3, 0, 0, 0), 3, body=b"\xa5" * 10)
    dev.stage(small)
    assert dev.boot().image.version == (3, 0, 0, 0)
    result = dev.boot()                       # revert to the big one
    assert result.image.version == (2, 0, 0, 0)
    assert dev.primary_bytes(size=len(big)) == big


def test_staging_refused_during_trial():
    dev = factory_device()
    dev.stage(dev.sign((2, 0, 0, 0), 2))
    dev.boot()
    with pytest.raises(app_api.UpdateError):
        dev.stage(dev.sign((3, 0, 0, 0), 3))


def test_staging_refuses_oversized_and_non_images():
    dev = factory_device()
    with pytest.raises(app_api.UpdateError):
        dev.stage(dev.sign((2, 0, 0, 0), 2, body=b"\x00" * dev.map.max_image_size))
    with pytest.raises(app_api.UpdateError):
        dev.stage(b"\x00" * 100)


def _refused(dev, image, code):
    dev.stage(image)
    result = dev.boot()
    assert _reject_code(result) == code, result.events
    assert result.image.version == fmt.parse(dev.v1).header.version
    assert result.mode == boot.MODE_CONFIRMED
    # The request is cancelled: the next boot does not try again.
    again = dev.boot()
    assert boot.EV_UPDATE_REJECTED not in again.event_codes()
    return result


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_refuses_unsigned():
    dev = factory_device()
    unsigned = image_sign.sign_image(b"x" * 500, None, None, (2, 0, 0, 0), 2)
    _refused(dev, unsigned, fmt.REJECT_UNSIGNED)


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_refuses_unknown_key():
    dev = factory_device()
    stranger = private_key(KEY_ED25519, "stranger")
    image = image_sign.sign_image(b"x" * 500, KEY_ED25519, stranger, (2, 0, 0, 0), 2)
    _refused(dev, image, fmt.REJECT_UNKNOWN_KEY)


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_refuses_revoked_key_and_accepts_the_next_key():
    dev = factory_device(kinds=(KEY_ED25519, KEY_P256))
    dev.otp.revoke_key(0)
    # Key 0 also signed the running image: revoked means never run again, so with no
    # other valid image the device does not start (it has nothing it may run).
    _refused_update = dev.sign((2, 0, 0, 0), 2, key=0)
    dev.stage(_refused_update)
    result = dev.boot()
    assert _reject_code(result) == fmt.REJECT_REVOKED_KEY
    assert boot.EV_PRIMARY_INVALID in result.event_codes()
    assert result.image is None
    # A new image signed by the unrevoked key recovers the device.
    good = dev.sign((2, 0, 0, 0), 2, key=1)
    dev.stage(good)
    result = dev.boot()
    assert result.image.version == (2, 0, 0, 0) and result.image.key_index == 1


@pytest.mark.verifies("SC-IMAGE-SIGNATURE")
def test_refuses_tampered_payload_and_tlvs():
    dev = factory_device()
    image = bytearray(dev.sign((2, 0, 0, 0), 2))
    parsed = fmt.parse(bytes(image))
    payload = bytearray(image)
    payload[parsed.header.hdr_size + 10] ^= 1
    _refused(dev, bytes(payload), fmt.REJECT_HASH_MISMATCH)
    sig = bytearray(image)
    kind, off, length = parsed.tlvs[-1]
    sig[off + 5] ^= 0x80
    _refused(dev, bytes(sig), fmt.REJECT_BAD_SIGNATURE)
    counter = bytearray(image)
    _, off, _ = parsed.protected[0]
    counter[off] ^= 0x40           # raise SEC_CNT: covered by the hash
    _refused(dev, bytes(counter), fmt.REJECT_HASH_MISMATCH)


def test_refuses_truncated_image_in_slot():
    dev = factory_device()
    image = dev.sign((2, 0, 0, 0), 2)
    writer = app_api.UpdateWriter(dev.flash, dev.map)
    writer.begin(len(image), crypto.sha256(image))
    writer.write(image[:len(image) - 70])
    # Simulate a staging agent that writes the request anyway.
    tr.Trailer(dev.map.region(dev.flash, fm.SECONDARY), dev.map).write_magic()
    result = dev.boot()
    assert _reject_code(result) in (fmt.REJECT_BAD_TLV, fmt.REJECT_TRUNCATED,
                                    fmt.REJECT_HASH_MISMATCH)
    assert result.image.version == (1, 0, 0, 0)


def test_refuses_oversized_header_claims():
    dev = factory_device()
    image = bytearray(dev.sign((2, 0, 0, 0), 2))
    image[12:16] = (dev.map.max_image_size).to_bytes(4, "little")
    secondary = dev.map.region(dev.flash, fm.SECONDARY)
    secondary.program(0, bytes(image[:256]))
    tr.Trailer(secondary, dev.map).write_magic()
    result = dev.boot()
    assert _reject_code(result) == fmt.REJECT_OVERSIZED
    assert result.image.version == (1, 0, 0, 0)


@pytest.mark.verifies("SC-IMAGE-ROLLBACK")
def test_refuses_rollback_below_security_counter():
    dev = factory_device(counter=5)
    _refused(dev, dev.sign((2, 0, 0, 0), 4), fmt.REJECT_ROLLBACK)


@pytest.mark.verifies("SC-IMAGE-ROLLBACK")
def test_refuses_version_downgrade_even_with_good_counter():
    dev = factory_device(version=(3, 0, 0, 0), counter=1)
    _refused(dev, dev.sign((2, 9, 0, 0), 7), fmt.REJECT_DOWNGRADE)


def test_downgrade_allowed_by_policy():
    dev = factory_device(version=(3, 0, 0, 0), counter=1)
    dev.stage(dev.sign((2, 9, 0, 0), 7))
    loader = boot.Bootloader(dev.flash, dev.map, boot.BootPolicy(allow_downgrade=True))
    assert loader.boot().image.version == (2, 9, 0, 0)


def test_corrupted_primary_recovers_from_secondary():
    dev = factory_device()
    dev.stage(dev.sign((2, 0, 0, 0), 2))
    dev.boot()
    dev.loader().confirm()
    # Bit rot in the running image: the old image in the secondary is below the counter,
    # so there is nothing to recover from: no valid image, the device does not start.
    primary = dev.map.region(dev.flash, fm.PRIMARY)
    primary.program(64, b"\x00\x00\x00\x00")
    result = dev.boot()
    assert result.image is None
    assert boot.EV_NO_VALID_IMAGE in result.event_codes()


def test_corrupted_primary_with_valid_secondary_is_recovered():
    dev = factory_device()
    spare = dev.sign((1, 0, 1, 0), 1)
    app_api.stage_update(dev.flash, dev.map, spare)
    # Cancel the request, leaving a valid image in the secondary.
    tr.Trailer(dev.map.region(dev.flash, fm.SECONDARY), dev.map).erase()
    dev.map.region(dev.flash, fm.PRIMARY).program(64, b"\x00\x00\x00\x00")
    result = dev.boot()
    assert boot.EV_RECOVERY in result.event_codes()
    assert result.image.version == (1, 0, 1, 0) and result.mode == boot.MODE_TEST
    dev.loader().confirm()
    assert dev.boot().mode == boot.MODE_CONFIRMED


def test_trial_image_kept_when_revert_target_is_invalid():
    dev = factory_device()
    dev.stage(dev.sign((2, 0, 0, 0), 2))
    dev.boot()
    dev.map.region(dev.flash, fm.SECONDARY).program(64, b"\x00\x00\x00\x00")
    result = dev.boot()
    assert boot.EV_REVERT_IMPOSSIBLE in result.event_codes()
    assert result.image.version == (2, 0, 0, 0) and result.mode == boot.MODE_TEST


def test_imgtool_style_padded_request_is_honoured():
    dev = factory_device()
    image = dev.sign((2, 0, 0, 0), 2)
    padded = bytearray(image + b"\xff" * (dev.map.slot_size - len(image)))
    padded[-tr.OFF_MAGIC:] = tr.BOOT_MAGIC
    padded[-tr.OFF_IMAGE_OK] = tr.FLAG_SET          # imgtool sign --confirm
    secondary = dev.map.region(dev.flash, fm.SECONDARY)
    for addr in range(0, dev.map.slot_size, dev.map.sector_size):
        chunk = bytes(padded[addr:addr + dev.map.sector_size])
        if chunk != b"\xff" * len(chunk):
            secondary.program(addr, chunk)
    result = dev.boot()
    assert result.image.version == (2, 0, 0, 0) and result.mode == boot.MODE_CONFIRMED


def test_ecdsa_device_end_to_end():
    dev = factory_device(kinds=(KEY_P256,))
    dev.stage(dev.sign((2, 0, 0, 0), 2, public_key_format="full"))
    assert dev.boot().image.version == (2, 0, 0, 0)
    dev.loader().confirm()
    assert dev.otp.security_counter() == 2


def test_log_callback_receives_every_event():
    dev = factory_device()
    seen = []
    loader = boot.Bootloader(dev.flash, dev.map, log=lambda *e: seen.append(e))
    dev.stage(image_sign.sign_image(b"x", None, None, (2, 0, 0, 0), 2))
    result = loader.boot()
    assert seen == result.events
    assert all(isinstance(text, str) and "\n" not in text for _, _, text in seen)


def test_counter_fuses_exhausted_is_logged_not_fatal():
    dev = Device()
    otp = dev.otp
    for value in range(1, otp.counter_slots + 1):
        otp.raise_security_counter(value)
    top = otp.counter_slots
    dev.v1 = dev.sign((1, 0, 0, 0), top + 5)
    dev.install_factory(dev.v1)
    result = dev.boot()
    assert boot.EV_COUNTER_FAILED in result.event_codes()
    assert result.image is not None and otp.security_counter() == top


def test_confirm_refused_during_swap():
    dev = factory_device()
    dev.stage(dev.sign((2, 0, 0, 0), 2))
    loader = dev.loader()
    loader.primary_trailer.erase()
    loader.primary_trailer.open(tr.SWAP_TEST, 2)
    with pytest.raises(boot.BootError):
        loader.confirm()
