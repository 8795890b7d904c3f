"""OTP fuse semantics and the flash map (descriptor, geometry, trailer sizing)."""

import pytest
from hypothesis import given, settings, strategies as st

from bootloader import flash_map as fm, otp as otpm
from bootloader.flash import FlashError, NorFlash, PowerCut

from conftest import examples
from bootloader_fixtures import Rng


def _otp(flash_map=None):
    flash_map = flash_map or fm.small_map()
    flash = flash_map.new_flash()
    return flash, otpm.OtpFuses(flash_map.region(flash, fm.OTP)), flash_map


def test_bits_can_only_be_set():
    flash, otp, _ = _otp()
    otp.set_bits(0x30, b"\x01" + b"\x00" * 7)
    otp.set_bits(0x30, b"\x02" + b"\x00" * 7)
    assert otp.read(0x30, 8) == b"\x03" + b"\x00" * 7
    otp.set_bits(0x30, b"\x00" * 8)              # clearing is impossible: nothing changes
    assert otp.read(0x30, 8)[0] == 3
    with pytest.raises(otpm.OtpError):
        otp.set_bits(0x31, b"\x01" * 8)
    # The block is never erased by any OTP operation.
    start = fm.small_map().offset(fm.OTP) // flash.sector_size
    assert sum(flash.erase_counts[start:]) == 0


def test_device_key_lifecycle():
    _, otp, _ = _otp()
    assert otp.device_key_state() == "blank"
    with pytest.raises(otpm.OtpError):
        otp.device_key()
    otp.provision_device_key(Rng(b"k"))
    key = otp.device_key()
    assert len(key) == 32 and otp.device_key_state() == "present"
    with pytest.raises(otpm.OtpError):
        otp.provision_device_key(Rng(b"again"))
    otp.destroy_device_key()
    assert otp.device_key_state() == "destroyed"
    with pytest.raises(otpm.OtpError):
        otp.device_key()


def test_signing_keys_and_revocation():
    _, otp, _ = _otp()
    a = otp.add_signing_key(otpm.KEY_ED25519, b"\x01" * 32)
    b = otp.add_signing_key(otpm.KEY_P256, b"\x02" * 64)
    assert (a, b) == (0, 1)
    assert otp.add_signing_key(otpm.KEY_ED25519, b"\x01" * 32) == 0     # idempotent
    otp.revoke_key(0)
    assert [(i, r) for i, _, _, r in otp.signing_keys()] == [(0, True), (1, False)]
    with pytest.raises(otpm.OtpError):
        otp.add_signing_key(otpm.KEY_P256, b"\x02" * 32)
    with pytest.raises(otpm.OtpError):
        otp.revoke_key(otpm.KEYSLOT_COUNT)
    otp.add_signing_key(otpm.KEY_ED25519, b"\x03" * 32)
    otp.add_signing_key(otpm.KEY_ED25519, b"\x04" * 32)
    with pytest.raises(otpm.OtpError):
        otp.add_signing_key(otpm.KEY_ED25519, b"\x05" * 32)


@settings(max_examples=examples(100))
@given(values=st.lists(st.integers(0, otpm.COUNTER_MAX), max_size=12))
def test_security_counter_is_monotonic(values):
    _, otp, _ = _otp()
    best = 0
    for value in values:
        raised = otp.raise_security_counter(value)
        assert raised == (value > best)
        best = max(best, value)
        assert otp.security_counter() == best


def test_counter_raise_survives_a_cut_at_every_point():
    base_flash, otp, flash_map = _otp()
    otp.raise_security_counter(3)
    base = base_flash.image()
    for where in ("before", "middle", "after"):
        flash = NorFlash.from_image(base, flash_map.sector_size, flash_map.align)
        fuses = otpm.OtpFuses(flash_map.region(flash, fm.OTP))
        flash.schedule_cut(0, where)
        with pytest.raises(PowerCut):
            fuses.raise_security_counter(7)
        flash.power_on()
        assert fuses.security_counter() in (3, 7)
        assert fuses.security_counter() == (7 if where == "after" else 3)
        fuses.raise_security_counter(7)            # the retry lands in a fresh slot
        assert fuses.security_counter() == 7


def test_counter_exhaustion():
    _, otp, _ = _otp()
    for value in range(1, otp.counter_slots + 1):
        otp.raise_security_counter(value)
    with pytest.raises(otpm.OtpError):
        otp.raise_security_counter(otp.counter_slots + 1)
    assert otp.security_counter() == otp.counter_slots


def test_descriptor_round_trip_and_checks():
    for flash_map in (fm.standard_map(), fm.small_map(), fm.small_map(16, 512, 8)):
        again = fm.FlashMap.decode(flash_map.encode())
        assert again.areas == flash_map.areas
        assert (again.sector_size, again.align, again.flash_size) == \
            (flash_map.sector_size, flash_map.align, flash_map.flash_size)
    blob = bytearray(fm.small_map().encode())
    blob[25] ^= 1
    with pytest.raises(fm.FlashMapError):
        fm.FlashMap.decode(bytes(blob))
    with pytest.raises(fm.FlashMapError):
        fm.FlashMap.decode(b"PMAP")


@settings(max_examples=examples(200))
@given(blob=st.binary(max_size=120))
def test_descriptor_parser_fuzz(blob):
    try:
        fm.FlashMap.decode(b"PMAP" + blob)
    except fm.FlashMapError:
        pass


def test_trailer_geometry_fits_and_is_minimal():
    for slot_sectors in (2, 8, 64, 320):
        for align in (1, 4, 8):
            trailer, swap = fm.trailer_geometry(slot_sectors * 4096, 4096, align)
            assert trailer + swap == slot_sectors
            assert fm.TRAILER_FLAGS_SIZE + 6 * swap * align <= trailer * 4096
            if trailer > 1:
                assert fm.TRAILER_FLAGS_SIZE + 6 * (swap + 1) * align > (trailer - 1) * 4096
    with pytest.raises(fm.FlashMapError):
        fm.trailer_geometry(256, 256, 4)
    with pytest.raises(fm.FlashMapError):
        fm.trailer_geometry(4096 * 4, 4096, 3)


def test_bad_maps_refused():
    good = fm.small_map()
    areas = [(a, o, s) for a, (o, s) in good.areas.items()]
    with pytest.raises(fm.FlashMapError):
        fm.FlashMap(256, 4, good.flash_size, areas[:-1])
    overlap = [(a, (o - 256 if a == fm.SECONDARY else o), s) for a, o, s in areas]
    with pytest.raises(fm.FlashMapError):
        fm.FlashMap(256, 4, good.flash_size, overlap)
    with pytest.raises(FlashError):
        fm.check_flash(NorFlash(good.flash_size, 512, 4), good)
