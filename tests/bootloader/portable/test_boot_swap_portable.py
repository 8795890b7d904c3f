"""The whole boot flow on CPython and MicroPython: swap, test boot, revert and confirm of
Ed25519- and ECDSA-P256-signed images, and a boot that never lets an exception out for an
image it cannot verify (garbage, truncated, forged, oversized, or trailers full of noise).

Hazard: a bootloader that raises on a bad image does not boot at all (a bricked pump: no
therapy) or, worse, is caught somewhere that boots the slot anyway. So every boot below
must return a ``BootResult``; its image is either None or one this test signed, and the
primary slot then holds exactly that image's bytes. Plain asserts only.
"""

from bootloader import app_api, boot, provision
from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import image_sign, trailer as tr
from bootloader.otp import KEY_ED25519, KEY_P256

ED25519_KEY = bytes(range(32))
P256_KEY = bytes(range(1, 33))


def _rng(seed=1):
    state = [seed]

    def rng(n):
        out = bytearray()
        while len(out) < n:
            state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
            out.append((state[0] >> 16) & 0xFF)
        return bytes(out)
    return rng


def _device():
    flash_map = fm.small_map(slot_sectors=16)
    flash = flash_map.new_flash()
    provision.provision_device(flash, flash_map, _rng(7), [
        (KEY_ED25519, image_sign.public_of(KEY_ED25519, ED25519_KEY)),
        (KEY_P256, image_sign.public_of(KEY_P256, P256_KEY))])
    return flash_map, flash


def _body(version, extra=0):
    return bytes((version * 29 + i) & 0xFF for i in range(600 + 90 * version + extra))


def _signed(kind, version, counter, extra=0):
    key = ED25519_KEY if kind == KEY_ED25519 else P256_KEY
    return image_sign.sign_image(_body(version, extra), kind, key, (version, 0, 0, 0),
                                 counter)


def _primary(flash, flash_map, length):
    return flash_map.region(flash, fm.PRIMARY).read(0, length)


def _boot(flash, flash_map):
    return boot.Bootloader(flash, flash_map).boot()


def test_swap_test_boot_revert_and_confirm_across_both_signature_kinds():
    flash_map, flash = _device()
    v1 = _signed(KEY_ED25519, 1, 1)
    provision.write_image(flash, flash_map, fm.PRIMARY, v1)
    result = _boot(flash, flash_map)
    assert result.mode == boot.MODE_CONFIRMED and result.image.version == (1, 0, 0, 0)

    # An ECDSA-P256 update on trial, not confirmed: the next boot reverts to v1.
    v2 = _signed(KEY_P256, 2, 2, extra=700)              # bigger: more sectors swapped
    app_api.stage_update(flash, flash_map, v2)
    result = _boot(flash, flash_map)
    assert result.mode == boot.MODE_TEST and result.image.key_kind == KEY_P256
    assert boot.EV_UPDATE_STARTED in result.event_codes()
    assert _primary(flash, flash_map, len(v2)) == v2
    assert result.security_counter == 1                  # not raised during the trial
    result = _boot(flash, flash_map)
    assert boot.EV_REVERT in result.event_codes(), result.events
    assert result.mode == boot.MODE_CONFIRMED and result.image.version == (1, 0, 0, 0)
    assert _primary(flash, flash_map, len(v1)) == v1 and result.security_counter == 1

    # Staged again and confirmed by the running image: the counter follows it.
    app_api.stage_update(flash, flash_map, v2)
    assert _boot(flash, flash_map).mode == boot.MODE_TEST
    info = boot.Bootloader(flash, flash_map).confirm()
    assert info.version == (2, 0, 0, 0)
    result = _boot(flash, flash_map)
    assert result.mode == boot.MODE_CONFIRMED and result.image.key_kind == KEY_P256
    assert result.security_counter == 2

    # A smaller Ed25519 update after it, swapped, confirmed; then nothing left to revert to.
    v3 = _signed(KEY_ED25519, 3, 3)
    app_api.stage_update(flash, flash_map, v3)
    assert _boot(flash, flash_map).image.version == (3, 0, 0, 0)
    boot.Bootloader(flash, flash_map).confirm()
    result = _boot(flash, flash_map)
    assert result.image.version == (3, 0, 0, 0) and result.security_counter == 3
    assert _primary(flash, flash_map, len(v3)) == v3


def _garbage(seed, length):
    return _rng(seed)(length)


def _stage_raw(flash, flash_map, data):
    """Put ``data`` in the secondary slot with an update request, as a writer that did not
    verify it (or flash that decayed after it did) would leave it."""
    secondary = flash_map.region(flash, fm.SECONDARY)
    for addr in range(0, flash_map.slot_size, flash_map.sector_size):
        secondary.erase(addr)
    limit = flash_map.max_image_size
    data = data[:limit]
    data += b"\xff" * (-len(data) % flash_map.align)
    secondary.program(0, data)
    tr.Trailer(secondary, flash_map).write_magic()


def _unverifiable(v1):
    """Images no key of the device signed, or that do not parse at all."""
    p256 = _signed(KEY_P256, 2, 2)
    forged = bytearray(p256)
    forged[-1] ^= 1                                         # the end of the DER signature
    body_flip = bytearray(_signed(KEY_ED25519, 2, 2))
    body_flip[40] ^= 0x80                                    # payload changed after signing
    huge = bytearray(v1)
    huge[12:16] = (0x7FFFFFF0).to_bytes(4, "little")         # img_size past the slot
    tlv_lie = bytearray(v1)
    hashed = fmt.parse(v1).header.hdr_size + fmt.parse(v1).header.img_size
    tlv_lie[hashed + 2:hashed + 4] = b"\xff\xff"             # TLV area "65535 bytes"
    magic_only = fmt.IMAGE_MAGIC.to_bytes(4, "little") + _garbage(5, 400)
    unsigned = image_sign.sign_image(_body(2), None, None, (2, 0, 0, 0), 2)
    stranger = image_sign.sign_image(_body(2), KEY_ED25519, b"\x07" * 32, (2, 0, 0, 0), 2)
    return [("garbage", _garbage(3, 1500)), ("zeros", bytes(900)),
            ("magic then garbage", magic_only), ("truncated", p256[:len(p256) // 2]),
            ("forged signature", bytes(forged)), ("payload changed", bytes(body_flip)),
            ("oversized header claim", bytes(huge)), ("TLV length lie", bytes(tlv_lie)),
            ("unsigned", unsigned), ("foreign key", stranger)]


def test_an_unverifiable_update_is_refused_and_the_confirmed_image_boots():
    flash_map, flash = _device()
    v1 = _signed(KEY_ED25519, 1, 1)
    provision.write_image(flash, flash_map, fm.PRIMARY, v1)
    for name, data in _unverifiable(v1):
        _stage_raw(flash, flash_map, data)
        try:
            result = _boot(flash, flash_map)
        except Exception as exc:                      # the hazard: no boot at all
            raise AssertionError("%s: boot raised %r" % (name, exc))
        assert result.image is not None and result.image.version == (1, 0, 0, 0), name
        assert result.mode == boot.MODE_CONFIRMED, name
        assert boot.EV_UPDATE_REJECTED in result.event_codes(), (name, result.events)
        assert _primary(flash, flash_map, len(v1)) == v1, name
        loader = boot.Bootloader(flash, flash_map)
        assert loader.request() is None, name              # the request was cancelled


def test_no_verifiable_image_anywhere_ends_in_no_boot_never_an_exception():
    flash_map = fm.small_map(slot_sectors=16)
    v1 = _signed(KEY_ED25519, 1, 1)
    for index, (name, data) in enumerate(_unverifiable(v1)):
        for with_request in (False, True):
            flash_map, flash = _device()
            limit = flash_map.max_image_size
            primary = flash_map.region(flash, fm.PRIMARY)
            blob = data[:limit] + b"\xff" * (-len(data[:limit]) % flash_map.align)
            primary.program(0, blob)
            if with_request:
                _stage_raw(flash, flash_map, _garbage(100 + index, 1200))
            try:
                result = _boot(flash, flash_map)
            except Exception as exc:
                raise AssertionError("%s: boot raised %r" % (name, exc))
            assert result.image is None and result.mode is None, (name, result.events)
            assert boot.EV_NO_VALID_IMAGE in result.event_codes(), name


def _noisy_trailer(flash, flash_map, area, seed, magic):
    """Fill a slot's trailer sectors with noise, the boot magic kept or not."""
    region = flash_map.region(flash, area)
    trailer = tr.Trailer(region, flash_map)
    trailer.erase()
    base = trailer.first_sector * trailer.sector_size
    size = trailer.sectors * trailer.sector_size
    noise = _garbage(seed, size - (16 if magic else 0))
    region.program(base, noise)
    if magic:
        trailer.write_magic()


def test_noise_in_the_trailers_never_makes_boot_raise_or_start_an_unverified_image():
    v1 = _signed(KEY_ED25519, 1, 1)
    v2 = _signed(KEY_P256, 2, 2)
    faults = 0
    for seed in range(6):
        for area in (fm.PRIMARY, fm.SECONDARY):
            flash_map, flash = _device()
            provision.write_image(flash, flash_map, fm.PRIMARY, v1)
            if seed % 2:
                app_api.stage_update(flash, flash_map, v2)
            _noisy_trailer(flash, flash_map, area, 40 + seed, magic=seed % 3 != 0)
            for _ in range(2):                           # and the boot after it
                try:
                    result = _boot(flash, flash_map)
                except Exception as exc:
                    raise AssertionError("seed %d area %d: boot raised %r"
                                         % (seed, area, exc))
                if boot.EV_FLASH_FAULT in result.event_codes():
                    faults += 1
                    assert result.mode in (boot.MODE_TEST, None)    # counter not raised
                if result.image is not None:
                    booted = v1 if result.image.version == (1, 0, 0, 0) else v2
                    assert result.image.version in ((1, 0, 0, 0), (2, 0, 0, 0))
                    assert _primary(flash, flash_map, len(booted)) == booted
    assert faults > 0               # a swap log no power cut leaves was met and contained
