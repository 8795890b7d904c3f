"""Therapy continuity, anchored history, the reservoir change and wrapping ticks, on both
interpreters (plain asserts: the MicroPython runner runs this file too)."""

from pump import therapy_table as T
from pump.clock import ExtendedClock, WrappingTicks
from pump.hal import MemoryHardware
from pump.units import MS_PER_HOUR, MS_PER_MINUTE

from pump_fixtures import change_reservoir, make_pump, prime, reboot, run_for
from evidence_links import verifies


def test_reboot_resumes_basal_and_temp_basal():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    assert pump.temp_basal(2 * MS_PER_HOUR, percent=200).ok
    run_for(pump, hw, MS_PER_HOUR)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.state == T.DELIVERING and pump2.status()["temp_basal"]
    run_for(pump2, hw2, MS_PER_HOUR)
    assert 78 <= hw2.motor.pulses <= 81


@verifies("IL-LOG-INTEGRITY", "IL-HISTORY-UNKNOWN")
def test_erased_newest_sector_is_detected_and_history_then_unknown():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 20 * MS_PER_HOUR)
    assert pump.bolus(10000).ok
    run_for(pump, hw, 15 * MS_PER_MINUTE)
    newest, best = 0, -1
    for index in range(8):
        raw = flash.read(index * 4096, 8)
        if raw[:4] == b"PLG1" and int.from_bytes(raw[4:8], "big") > best:
            newest, best = index, int.from_bytes(raw[4:8], "big")
    flash.erase(newest * 4096)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.state == T.SAFE_STOP and pump2.status()["alarm"] == "IL-LOG-INTEGRITY"
    assert pump2.service_reset(True).ok and pump2.start().ok
    assert pump2.bolus(1000).reason == "IL-HISTORY-UNKNOWN"


@verifies("IL-PRIME-MAX")
def test_reservoir_change_bounds_tubing_and_counts_the_cannula():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    change_reservoir(pump, hw)
    assert prime(pump, hw, 15000).ok
    run_for(pump, hw, 21 * MS_PER_MINUTE)              # 600 pulses, one per 2 s
    assert pump.state == T.LOADED
    assert prime(pump, hw, 10000).reason == "IL-PRIME-MAX"
    hw.ui.pressed = True
    assert pump.connect().ok and pump.fill_cannula(300).ok
    run_for(pump, hw, MS_PER_MINUTE)
    assert pump.state == T.STOPPED and pump.status()["iob_mu"] >= 250


def test_suspend_from_a_peer_ends_by_itself():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    assert pump.suspend(30 * MS_PER_MINUTE).ok
    run_for(pump, hw, 31 * MS_PER_MINUTE)
    assert pump.state == T.DELIVERING


def test_wrapping_ticks_extend_to_a_monotonic_count():
    raw = WrappingTicks(period=1 << 20, start=(1 << 20) - 1000)     # wraps every 17 min
    clock = ExtendedClock(raw.ticks_ms, raw.ticks_diff, 1767225600)
    hw = MemoryHardware(clock=clock)
    pump, hw, _ = make_pump(rate_mu_h=1000, hw=hw)
    end = clock.ticks_ms() + 2 * MS_PER_HOUR
    while clock.ticks_ms() < end:
        wake = pump.tick()
        raw.advance(max(1, min(wake - clock.ticks_ms(), MS_PER_MINUTE)))
    assert raw.wraps >= 6 and pump.state == T.DELIVERING and not pump.monitor.latched
    assert 78 <= hw.motor.pulses <= 81
