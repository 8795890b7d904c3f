"""bootloader on CPython and MicroPython: flash map, OTP fuses, swap, image parsing.

Plain asserts only: tools/micropython/run.py runs this module under MicroPython too. It
uses only SHA-256 from the crypto seam, so it runs before the pure backend has signatures;
signature checks are covered by the CPython tests in tests/bootloader.
"""

from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import image_sign, otp as otpm, swap, trailer as tr
from bootloader import verify as vf
from bootloader.flash import NorFlash, PowerCut


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
