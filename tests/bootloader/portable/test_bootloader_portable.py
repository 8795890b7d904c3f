"""bootloader on CPython and MicroPython: flash map, OTP fuses, swap, image parsing, and
a boot that verifies Ed25519 and ECDSA-P256 signatures.

Plain asserts only: tools/micropython/run.py runs this module under MicroPython too, where
the crypto seam is the pure-Python backend, so the signed boot below is the check that
the firmware's own signature verification works on the interpreter it ships on. The
full boot matrix (revocation, rollback, power cuts, imgtool) is in tests/bootloader.
"""

from bootloader import app_api, boot, provision
from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import image_sign, otp as otpm, swap, trailer as tr
from bootloader import verify as vf
from bootloader.flash import NorFlash, PowerCut
from bootloader.otp import KEY_ED25519, KEY_P256


def _counter_rng():
    state = [0]

    def rng(n):
        out = bytearray()
        while len(out) < n:
            state[0] += 1
            out.append((state[0] * 167 + 13) & 0xFF)
        return bytes(out)
    return rng


MODULES = ("app_api", "boot", "escrow", "flash", "flash_map", "image", "image_sign",
           "keystore", "otp", "provision", "sigkeys", "swap", "trailer", "verify")


def test_every_bootloader_module_imports():
    for name in MODULES:
        module = __import__("bootloader." + name, None, None, [name])
        assert module.__name__ == "bootloader." + name


def test_flash_map_descriptor_round_trip():
    flash_map = fm.small_map()
    flash = flash_map.new_flash()
    flash_map.write_descriptor(flash)
    again = fm.FlashMap.read_descriptor(flash.read)
    assert again.slot_size == flash_map.slot_size
    assert again.offset(fm.OTP) == flash_map.offset(fm.OTP)
    assert again.trailer_sectors + again.swap_sectors == flash_map.slot_size // 256


def test_otp_fuses_only_set_and_counter_is_monotonic():
    flash_map = fm.small_map()
    flash = flash_map.new_flash()
    fuses = otpm.OtpFuses(flash_map.region(flash, fm.OTP))
    fuses.provision_device_key(_counter_rng())
    assert fuses.device_key_state() == "present"
    assert fuses.raise_security_counter(4)
    assert not fuses.raise_security_counter(2)
    assert fuses.security_counter() == 4
    flash.schedule_cut(flash.op_count, "middle")
    try:
        fuses.raise_security_counter(9)
        raise AssertionError("no cut")
    except PowerCut:
        pass
    flash.power_on()
    assert fuses.security_counter() == 4
    fuses.raise_security_counter(9)
    assert fuses.security_counter() == 9
    fuses.destroy_device_key()
    assert fuses.device_key_state() == "destroyed"


def test_swap_resumes_after_a_cut_at_every_op():
    flash_map = fm.small_map(slot_sectors=4)
    sector = flash_map.sector_size
    base = flash_map.new_flash()
    primary = flash_map.region(base, fm.PRIMARY)
    secondary = flash_map.region(base, fm.SECONDARY)
    a = bytes((i * 7) & 0xFF for i in range(sector * 3))
    b = bytes((i * 11 + 5) & 0xFF for i in range(sector * 3))
    primary.program(0, a)
    secondary.program(0, b)
    tr.Trailer(primary, flash_map).open(tr.SWAP_TEST, 3)
    image = base.image()
    probe = NorFlash.from_image(image, sector, flash_map.align)
    swap.Swapper(probe, flash_map).run(tr.LOG_INSTALL, 3)
    ops = probe.op_count
    assert flash_map.region(probe, fm.PRIMARY).read(0, 3 * sector) == b
    for index in range(ops):
        flash = NorFlash.from_image(image, sector, flash_map.align)
        flash.schedule_cut(index, "middle")
        try:
            swap.Swapper(flash, flash_map).run(tr.LOG_INSTALL, 3)
        except PowerCut:
            pass
        flash.power_on()
        swap.Swapper(flash, flash_map).run(tr.LOG_INSTALL, 3)
        assert flash_map.region(flash, fm.PRIMARY).read(0, 3 * sector) == b
        assert flash_map.region(flash, fm.SECONDARY).read(0, 3 * sector) == a


def test_image_parse_and_hash_rejections():
    data = image_sign.sign_image(b"firmware" * 40, None, None, (1, 2, 3, 4), 7,
                                 header_size=64)
    parsed = fmt.parse(data)
    assert parsed.header.version == (1, 2, 3, 4)
    assert parsed.header.hdr_size == 64 and parsed.total_size == len(data)
    assert vf.security_counter_of(data, parsed) == 7
    for blob, code in ((data, fmt.REJECT_UNSIGNED),
                       (data[:100], fmt.REJECT_TRUNCATED),
                       (b"\x00" * 64, fmt.REJECT_BAD_MAGIC),
                       (data[:70] + b"\x00" + data[71:], fmt.REJECT_HASH_MISMATCH)):
        try:
            vf.verify(blob, vf.Keyring())
            raise AssertionError("accepted")
        except fmt.ImageError as exc:
            assert exc.code == code, (exc.code, code)


# Signing keys for the signed boot: an Ed25519 seed and a P-256 scalar in [1, n - 1].
ED25519_KEY = bytes(range(32))
P256_KEY = bytes(range(1, 33))


def _signed_device():
    flash_map = fm.small_map(slot_sectors=16)
    flash = flash_map.new_flash()
    provision.provision_device(flash, flash_map, _counter_rng(), [
        (KEY_ED25519, image_sign.public_of(KEY_ED25519, ED25519_KEY)),
        (KEY_P256, image_sign.public_of(KEY_P256, P256_KEY))])
    return flash_map, flash


def _body(version):
    return bytes((version * 13 + i) & 0xFF for i in range(700 + 50 * version))


def test_boot_verifies_ed25519_then_an_ecdsa_p256_update():
    flash_map, flash = _signed_device()
    factory = image_sign.sign_image(_body(1), KEY_ED25519, ED25519_KEY, (1, 0, 0, 0), 1)
    provision.write_image(flash, flash_map, fm.PRIMARY, factory)
    result = boot.Bootloader(flash, flash_map).boot()
    assert result.mode == boot.MODE_CONFIRMED and result.image.key_kind == KEY_ED25519
    assert result.image.version == (1, 0, 0, 0) and result.security_counter == 1
    update = image_sign.sign_image(_body(2), KEY_P256, P256_KEY, (2, 0, 0, 0), 2)
    app_api.stage_update(flash, flash_map, update, permanent=True)
    result = boot.Bootloader(flash, flash_map).boot()
    assert result.image is not None, result.events
    assert result.image.version == (2, 0, 0, 0) and result.image.key_kind == KEY_P256
    assert result.image.key_index == 1 and result.security_counter == 2


def test_signature_checks_refuse_altered_and_foreign_signatures():
    keyring = vf.Keyring()
    keyring.add(KEY_ED25519, image_sign.public_of(KEY_ED25519, ED25519_KEY))
    keyring.add(KEY_P256, image_sign.public_of(KEY_P256, P256_KEY))
    for kind, private, sig_tlv in ((KEY_ED25519, ED25519_KEY, fmt.TLV_ED25519),
                                   (KEY_P256, P256_KEY, fmt.TLV_ECDSASIG)):
        image = image_sign.sign_image(_body(3), kind, private, (3, 0, 0, 0), 3)
        info = vf.verify(image, keyring)
        assert info.key_kind == kind and info.security_counter == 3
        parsed = fmt.parse(image)
        offset, length = [(off, n) for t, off, n in parsed.tlvs if t == sig_tlv][0]
        assert length >= 64
        # Flip a bit in the last byte of the signature (the end of s for ECDSA's DER).
        end = offset + length - 1
        altered = image[:end] + bytes((image[end] ^ 1,)) + image[end + 1:]
        try:
            vf.verify(altered, keyring)
            raise AssertionError("altered signature accepted")
        except fmt.ImageError as exc:
            assert exc.code == fmt.REJECT_BAD_SIGNATURE, exc.code
    # A signature by a key the device does not hold.
    stranger = image_sign.sign_image(_body(3), KEY_ED25519, b"\x07" * 32, (3, 0, 0, 0), 3)
    try:
        vf.verify(stranger, keyring)
        raise AssertionError("foreign key accepted")
    except fmt.ImageError as exc:
        assert exc.code == fmt.REJECT_UNKNOWN_KEY, exc.code
