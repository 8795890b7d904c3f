"""bootloader.flash: the NOR rules and power cuts the swap and key store rely on.

Runs on CPython and MicroPython (plain asserts; tools/micropython/run.py runs it there).
"""

from bootloader.flash import FlashError, FlashRegion, NorFlash, PowerCut

SECTOR = 256


def make(sectors=4, align=4):
    return NorFlash(sectors * SECTOR, sector_size=SECTOR, align=align)


def raises(exc_type, fn, *args):
    """Call fn(*args) and return the exception it must raise."""
    try:
        fn(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (fn, exc_type.__name__))


def test_fresh_flash_is_erased():
    flash = make()
    assert flash.read(0, 4 * SECTOR) == b"\xff" * (4 * SECTOR)
    assert flash.is_erased(0, 4 * SECTOR)
    assert flash.erase_counts == [0, 0, 0, 0]
    assert flash.op_count == 0


def test_geometry_is_checked():
    raises(FlashError, NorFlash, 1000, 256, 4)      # not a whole number of sectors
    raises(FlashError, NorFlash, 1024, 250, 4)      # sector not a multiple of align
    raises(FlashError, NorFlash, 0, 256, 4)


def test_program_only_clears_bits():
    flash = make()
    flash.program(8, b"\xf0\x0f\xaa\xff")
    assert flash.read(8, 4) == b"\xf0\x0f\xaa\xff"
    flash.program(8, b"\x30\x00\x0a\x5a")             # clears further bits: allowed
    assert flash.read(8, 4) == b"\x30\x00\x0a\x5a"
    assert not flash.is_erased(8, 4)
    assert flash.is_erased(0, 8) and flash.is_erased(12, SECTOR - 12)


def test_program_that_would_set_bits_raises_and_changes_nothing():
    flash = make()
    flash.program(0, b"\x00\x00\x00\x00")
    ops = flash.op_count
    exc = raises(FlashError, flash.program, 0, b"\x00\x01\x00\x00")
    assert "set bits" in str(exc)
    assert flash.read(0, 4) == b"\x00\x00\x00\x00"
    assert flash.op_count == ops                        # refused before it started


def test_erase_restores_ff_and_counts_wear():
    flash = make()
    flash.program(SECTOR, b"\x00" * SECTOR)
    flash.program(2 * SECTOR, b"\x00" * 4)
    flash.erase(SECTOR)
    assert flash.is_erased(SECTOR, SECTOR)
    assert flash.read(2 * SECTOR, 4) == b"\x00" * 4     # the next sector is untouched
    flash.erase(SECTOR)
    flash.erase(3 * SECTOR)
    assert flash.erase_counts == [0, 2, 0, 1]


def test_alignment_and_range():
    flash = make()
    raises(FlashError, flash.program, 2, b"\x00" * 4)
    raises(FlashError, flash.program, 4, b"\x00" * 3)
    raises(FlashError, flash.program, 4 * SECTOR - 4, b"\x00" * 8)
    raises(FlashError, flash.program, -4, b"\x00" * 4)
    raises(FlashError, flash.erase, 4)
    raises(FlashError, flash.erase, 4 * SECTOR)
    raises(FlashError, flash.read, 4 * SECTOR - 1, 2)
    raises(FlashError, flash.read, -1, 1)
    assert flash.op_count == 0
    assert make(align=1).program(3, b"\x00") is None  # byte-programmable parts exist too


def test_power_cut_before_program():
    flash = make()
    flash.schedule_cut(1, "before")
    flash.program(0, b"\x00" * 4)                     # op 0 completes
    raises(PowerCut, flash.program, 4, b"\x00" * 4)   # op 1 loses power first
    assert flash.read(0, 8) == b"\x00" * 4 + b"\xff" * 4


def test_power_cut_in_middle_of_program_lands_a_prefix():
    flash = make()
    flash.schedule_cut(0, "middle")
    raises(PowerCut, flash.program, 0, b"\x00" * 16)
    assert flash.read(0, 16) == b"\x00" * 8 + b"\xff" * 8
    # The prefix is whole program units: a third of 16 bytes is 5, so 4 land.
    flash = make()
    flash.schedule_cut(0, "middle", fraction=(1, 3))
    raises(PowerCut, flash.program, 0, b"\x00" * 16)
    assert flash.read(0, 16) == b"\x00" * 4 + b"\xff" * 12


def test_power_cut_after_program_completes_it():
    flash = make()
    flash.schedule_cut(0, "after")
    raises(PowerCut, flash.program, 0, b"\x12\x34\x56\x78")
    assert flash.read(0, 4) == b"\x12\x34\x56\x78"


def test_power_cut_during_erase():
    for where, erased, count in (("before", 0, 0), ("middle", SECTOR // 2, 1),
                                 ("after", SECTOR, 1)):
        flash = make()
        flash.program(0, b"\x00" * SECTOR)
        flash.schedule_cut(1, where)
        raises(PowerCut, flash.erase, 0)
        expected = b"\xff" * erased + b"\x00" * (SECTOR - erased)
        assert flash.read(0, SECTOR) == expected, where
        assert flash.erase_counts[0] == count, where


def test_flash_stays_dead_until_power_on():
    flash = make()
    flash.schedule_cut(0, "after")
    raises(PowerCut, flash.program, 0, b"\x00" * 4)
    assert not flash.powered
    raises(PowerCut, flash.program, 4, b"\x00" * 4)
    raises(PowerCut, flash.erase, SECTOR)
    assert flash.read(4, 4) == b"\xff" * 4 and flash.erase_counts[1] == 0
    flash.power_on()
    assert flash.powered
    flash.program(4, b"\x00" * 4)
    flash.erase(SECTOR)
    assert flash.read(4, 4) == b"\x00" * 4 and flash.erase_counts[1] == 1


def test_power_on_clears_a_pending_cut():
    flash = make()
    flash.schedule_cut(5, "before")
    flash.power_on()
    for i in range(8):
        flash.program(4 * i, b"\x00" * 4)
    assert flash.op_count == 8


def test_schedule_cut_checks_where():
    raises(ValueError, make().schedule_cut, 0, "during")


def test_image_round_trip():
    flash = make()
    flash.program(SECTOR + 4, b"\x01\x02\x03\x04")
    copy = NorFlash.from_image(flash.image(), sector_size=SECTOR, align=4)
    assert copy.image() == flash.image()
    assert copy.read(SECTOR + 4, 4) == b"\x01\x02\x03\x04"


def test_region_translates_addresses_and_stays_inside():
    flash = make()
    region = FlashRegion(flash, SECTOR, 2 * SECTOR)
    region.program(4, b"\x00" * 4)
    assert flash.read(SECTOR + 4, 4) == b"\x00" * 4
    assert region.read(4, 4) == b"\x00" * 4
    region.erase(SECTOR)
    assert flash.erase_counts == [0, 0, 1, 0]
    region.erase(0)
    assert region.is_erased(0, 2 * SECTOR)
    raises(FlashError, region.read, 2 * SECTOR - 2, 4)
    raises(FlashError, region.program, 2 * SECTOR, b"\x00" * 4)
    raises(FlashError, region.program, -4, b"\x00" * 4)
    raises(FlashError, region.erase, 2 * SECTOR)
    assert flash.is_erased(0, SECTOR) and flash.is_erased(3 * SECTOR, SECTOR)


def test_region_bounds():
    flash = make()
    raises(FlashError, FlashRegion, flash, 4, SECTOR)           # not sector aligned
    raises(FlashError, FlashRegion, flash, 0, SECTOR + 4)
    raises(FlashError, FlashRegion, flash, 3 * SECTOR, 2 * SECTOR)
    raises(FlashError, FlashRegion, flash, -SECTOR, SECTOR)
    whole = FlashRegion(flash, 0, 4 * SECTOR)
    assert whole.size == 4 * SECTOR and whole.sector_size == SECTOR and whole.align == 4
