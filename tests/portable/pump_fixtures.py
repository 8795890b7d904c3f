"""Shared set-up for portable pump tests (plain Python: runs on CPython and MicroPython)."""

from bootloader.flash import FlashRegion, NorFlash
from pump import main_loop
from pump.hal import MemoryHardware
from pump.pump import Pump

KEY = b"audit-log-mac-key-for-tests-0001"
SECTOR = 4096


def new_flash(sectors=8):
    return NorFlash(sectors * SECTOR, SECTOR)


def make_pump(rate_mu_h=1000, start=True, flash=None, hw=None, limits=None):
    hw = hw or MemoryHardware()
    flash = flash or new_flash()
    pump = Pump(hw, flash, KEY, limits)
    if rate_mu_h is not None:
        assert pump.set_basal_program([rate_mu_h] * 48).ok
    if start:
        assert pump.start().ok
    return pump, hw, flash


def reboot(hw, flash):
    """Power cycle: RAM is lost; the flash, the secure store, the RTC-backed clock, the
    plunger position and the reservoir survive."""
    fresh = MemoryHardware(clock=hw.clock)
    fresh.secure_store = hw.secure_store
    fresh.motor.steps = hw.motor.steps
    fresh.reservoir.mu = hw.reservoir.mu
    return Pump(fresh, flash, KEY), fresh


def change_reservoir(pump, hw, fresh_mu=300000):
    """Stop, rewind, swap the old reservoir for a fresh one and load it: the pump is then
    ready to fill the tubing."""
    pump.stop()
    hw.reservoir.mu = min(hw.reservoir.mu, 20000)      # the old one, nearly empty
    assert pump.rewind().ok
    hw.reservoir.mu = fresh_mu
    assert pump.load_reservoir().ok


def prime(pump, hw, mu):
    """Fill the tubing; the patient confirms on the pump that the set is disconnected."""
    hw.ui.pressed = True
    return pump.prime(mu)


def run_for(pump, hw, ms):
    """Drive the pump as its main loop would: sleep until the tick it asks for."""
    main_loop.run_for(pump, hw.clock, ms)


def region(flash):
    return FlashRegion(flash, 0, flash.size)


def raises(exc_type, fn, *args):
    """True if ``fn(*args)`` raises ``exc_type`` (False if it returns)."""
    try:
        fn(*args)
    except exc_type:
        return True
    return False
