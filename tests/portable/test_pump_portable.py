"""Pump core behaviour, portable: these run under pytest and under MicroPython."""

from pump import audit_log, iob, results, therapy_table as T
from pump.fsm import InvalidTrigger, TableMachine
from pump.units import MS_PER_HOUR, MS_PER_MINUTE

from pump.hal import MemoryHardware
from pump_fixtures import KEY, make_pump, new_flash, region, run_for, change_reservoir, prime
from evidence_links import verifies


def test_basal_delivers_whole_pulses_at_the_programmed_rate():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 3 * MS_PER_HOUR)
    # 1 U/h for 3 h = 120 pulses; the last one may still be accruing.
    assert 119 <= hw.motor.pulses <= 120


def test_no_delivery_when_stopped_or_suspended():
    pump, hw, _ = make_pump(rate_mu_h=2000, start=False)
    run_for(pump, hw, MS_PER_HOUR)
    assert hw.motor.pulses == 0
    assert pump.start().ok
    run_for(pump, hw, MS_PER_HOUR)
    delivered = hw.motor.pulses
    assert pump.suspend().ok
    run_for(pump, hw, 45 * MS_PER_MINUTE)     # 1 h 45 min without basal in 6 h: no alarm yet
    assert hw.motor.pulses == delivered
    assert pump.resume().ok
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    # no burst after resuming: at most the 10 minutes' worth (2 U/h -> 13.3 pulses)
    assert hw.motor.pulses - delivered <= 14


@verifies("IL-DUPLICATE-CMD", "IL-BOLUS-MAX", "IL-CMD-STALE", "IL-BOLUS-INTERVAL")
def test_bolus_and_its_interlocks():
    pump, hw, _ = make_pump(rate_mu_h=0)
    now = hw.clock.ticks_ms()
    assert pump.bolus(2000, cmd_id=1, issued_ms=now).ok
    assert pump.bolus(2000, cmd_id=1, issued_ms=now).reason == "IL-DUPLICATE-CMD"
    assert pump.bolus(1000).code == results.ERR_STATE          # one bolus at a time
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert hw.motor.pulses == 80                                 # 2 U at 0.75 U/min
    now = hw.clock.ticks_ms()
    assert pump.bolus(11000, cmd_id=2, issued_ms=now).reason == "IL-BOLUS-MAX"
    assert pump.bolus(25, cmd_id=3, issued_ms=now - 61000).reason == "IL-CMD-STALE"
    assert pump.bolus(25, cmd_id=4, issued_ms=now + 1).reason == "IL-CMD-STALE"
    assert pump.bolus(1000).reason == "IL-BOLUS-INTERVAL"      # 5 min after the last
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.bolus(1000).ok


@verifies("IL-IOB-MAX")
def test_iob_limit_counts_insulin_still_active():
    pump, hw, _ = make_pump(rate_mu_h=0, start=False)
    assert pump.set_limits({"max_iob_mu": 5000}).ok
    assert pump.start().ok
    assert pump.bolus(4000).ok
    run_for(pump, hw, 20 * MS_PER_MINUTE)
    refused = pump.bolus(2000)
    assert refused.code == results.ERR_INTERLOCK and refused.reason == "IL-IOB-MAX"
    run_for(pump, hw, 5 * MS_PER_HOUR)
    assert pump.bolus(2000).ok


def test_refusal_changes_nothing_and_is_logged():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    before = pump.status()
    result = pump.bolus(30000)
    assert result.code == results.ERR_RANGE
    assert pump.bolus("10").code == results.ERR_TYPE
    assert pump.bolus(True).code == results.ERR_TYPE
    assert pump.bolus(1010).code == results.ERR_RANGE
    after = pump.status()
    assert after.pop("log_seq") >= before.pop("log_seq") + 4      # (+ a checkpoint)
    assert after == before
    records = audit_log.verify(region(flash), KEY)
    refusals = [r for r in records if r.type == audit_log.EV_REFUSAL]
    assert len(refusals) == 4 and refusals[0].data["why"].startswith("mu=30000")


@verifies("IL-ROLLING-1H")
def test_rolling_hour_limit_on_monotonic_ticks_not_wall_clock():
    pump, hw, _ = make_pump(rate_mu_h=0, start=False)
    assert pump.set_limits({"max_1h_mu": 3000, "max_24h_mu": 20000,
                            "min_bolus_interval_ms": MS_PER_MINUTE}).ok
    assert pump.start().ok
    assert pump.bolus(2000).ok
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.bolus(1500).reason == "IL-ROLLING-1H"
    # Moving the wall clock a day ahead must not reopen the window.
    assert pump.set_wall_clock(hw.clock.wall_s() + 86400).ok
    assert pump.bolus(1500).reason == "IL-ROLLING-1H"
    # The reservation (2 U, ending 160 s + 2 min slack after the bolus) counts for 1 h + 1 min.
    run_for(pump, hw, MS_PER_HOUR)
    assert pump.bolus(1500).reason == "IL-ROLLING-1H"
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.bolus(1500).ok


@verifies("IL-TEMP-BASAL-MAX")
def test_temp_basal_and_its_limit():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.temp_basal(MS_PER_HOUR, percent=300).code == results.ERR_RANGE
    assert pump.temp_basal(MS_PER_HOUR, percent=250).reason == "IL-TEMP-BASAL-MAX"
    assert pump.temp_basal(MS_PER_HOUR, rate_mu_h=6000).reason == "IL-TEMP-BASAL-MAX"
    assert pump.temp_basal(MS_PER_HOUR, percent=50).ok
    start = hw.motor.pulses
    run_for(pump, hw, MS_PER_HOUR)
    assert 19 <= hw.motor.pulses - start <= 21       # 0.5 U/h for an hour = 20 pulses


@verifies("IL-BASAL-MAX", "IL-ROLLING-24H")
def test_basal_program_limit():
    pump, hw, _ = make_pump(rate_mu_h=None, start=False)
    assert pump.set_basal_program([3500] * 48).reason == "IL-BASAL-MAX"
    assert pump.set_basal_program([2600] * 48).reason == "IL-ROLLING-24H"   # 62.4 U > 60 U a day
    assert pump.set_basal_program([1000] * 47).code == results.ERR_RANGE
    assert pump.set_basal_program([1000] * 48).ok


@verifies("IL-OCCLUSION")
def test_occlusion_alarm_stops_delivery_until_cleared_and_acknowledged():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    hw.pressure.mbar = 1600
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert pump.state == T.ALARM and pump.status()["alarm"] == "IL-OCCLUSION"
    stopped_at = hw.motor.pulses
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert hw.motor.pulses == stopped_at
    assert pump.acknowledge().code == results.ERR_GUARD   # still occluded
    hw.pressure.mbar = 100
    assert pump.acknowledge(resume=False).ok and pump.state == T.STOPPED


def test_acknowledging_an_alarm_resumes_the_therapy_it_interrupted():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    hw.pressure.mbar = 1600
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.state == T.ALARM
    hw.pressure.mbar = 100
    assert pump.acknowledge().ok and pump.state == T.DELIVERING
    before = hw.motor.pulses
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert hw.motor.pulses - before >= 19              # 2 U/h: 20 pulses in 30 min


@verifies("IL-OCCLUSION")
def test_occlusion_detected_from_pressure_trend():
    pressures = [200, 400, 600, 800, 1000, 1200]

    class Rising:
        def read(self):
            return pressures.pop(0) if pressures else 1400
    hw = MemoryHardware()
    hw.pressure = Rising()
    pump, hw, _ = make_pump(rate_mu_h=0, hw=hw)
    assert pump.bolus(1000).ok
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.status()["alarm"] == "IL-OCCLUSION"
    assert hw.motor.pulses == 4                      # stopped at the fourth rising reading


@verifies("IL-RESERVOIR-LOW", "IL-RESERVOIR-EMPTY", "IL-BATTERY-LOW", "IL-BATTERY-CRITICAL")
def test_reservoir_and_battery_interlocks():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    hw.reservoir.mu = 8000
    run_for(pump, hw, 2 * MS_PER_MINUTE)
    assert "IL-RESERVOIR-LOW" in pump.status()["warnings"]
    assert pump.bolus(9000).reason == "IL-RESERVOIR-EMPTY"
    hw.reservoir.mu = 10
    run_for(pump, hw, 2 * MS_PER_MINUTE)
    assert pump.status()["alarm"] == "IL-RESERVOIR-EMPTY"
    hw.reservoir.mu = 100000
    assert pump.acknowledge(resume=False).ok and pump.start().ok
    hw.battery.level = 15
    run_for(pump, hw, 2 * MS_PER_MINUTE)
    assert "IL-BATTERY-LOW" in pump.status()["warnings"]
    hw.battery.level = 4
    run_for(pump, hw, 2 * MS_PER_MINUTE)
    assert pump.status()["alarm"] == "IL-BATTERY-CRITICAL"
    assert pump.start().code == results.ERR_STATE


@verifies("IL-MOTOR-ENCODER")
def test_stalled_motor_is_a_safe_stop():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    hw.motor.stuck = True
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.state == T.SAFE_STOP and pump.status()["alarm"] == "IL-MOTOR-ENCODER"


@verifies("IL-WATCHDOG")
def test_watchdog_gap_alarms_and_never_catches_up():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    delivered = hw.motor.pulses
    hw.clock.advance(MS_PER_HOUR)               # the controller was not scheduled for an hour
    pump.tick()
    assert pump.status()["alarm"] == "IL-WATCHDOG"
    assert hw.motor.pulses == delivered


@verifies("IL-PRIME-MAX")
def test_prime_only_in_a_reservoir_change_and_within_limit():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    assert prime(pump, hw, 500).code == results.ERR_STATE
    change_reservoir(pump, hw)
    assert prime(pump, hw, 25000).reason == "IL-PRIME-MAX"
    assert prime(pump, hw, 500).ok and pump.state == T.PRIMING
    run_for(pump, hw, MS_PER_MINUTE)
    assert hw.motor.pulses == 20 and pump.state == T.LOADED


def test_state_machine_refuses_illegal_triggers():
    machine = TableMachine(lambda name: True)
    try:
        machine.fire("resume")
    except InvalidTrigger:
        pass
    else:
        raise AssertionError("resume accepted in self_test")
    assert machine.fire("self_test_passed") and machine.state == T.STOPPED
    guarded = TableMachine(lambda name: name != "program_set", initial=T.STOPPED)
    assert guarded.fire("start") is False and guarded.state == T.STOPPED


def test_iob_curve_is_integer_and_monotonic():
    values = [iob.remaining_ppm(m, 75, 300) for m in range(0, 310, 5)]
    assert values[0] == iob.SCALE and values[-1] == 0
    assert all(values[i] >= values[i + 1] for i in range(len(values) - 1))
    assert iob.remaining_ppm(75, 75, 300) == 7500          # a quarter absorbed at the peak


@verifies("SC-LOG-CHAIN")
def test_log_detects_edits_deletions_and_truncation():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 40 * MS_PER_HOUR)
    head = pump.log_head()
    assert pump.log._sector_seq >= 3
    records = audit_log.verify(region(flash), KEY, head)
    assert len(records) == head[0]
    data = bytearray(flash.image())
    # Edit: flip a bit inside the body of a committed record in the first sector.
    edited = bytearray(data)
    edited[audit_log.HEADER_LEN + 10] ^= 0x01
    assert _fails(edited, flash, head)
    # Delete: erase a middle sector.
    deleted = bytearray(data)
    deleted[4096:8192] = b"\xff" * 4096
    assert _fails(deleted, flash, head)
    # Truncate: erase the newest sector; only the head the pump reported shows it.
    newest = pump.log._sector
    truncated = bytearray(data)
    truncated[newest * 4096:(newest + 1) * 4096] = b"\xff" * 4096
    assert _fails(truncated, flash, head)
    # Forgery without the key.
    try:
        audit_log.verify(region(flash), b"x" * 32)
    except audit_log.LogIntegrityError:
        pass
    else:
        raise AssertionError("log verified under the wrong key")


def _fails(image, flash, head):
    from bootloader.flash import NorFlash
    copy = NorFlash.from_image(bytes(image), flash.sector_size, flash.align)
    try:
        audit_log.verify(region(copy), KEY, head)
    except audit_log.LogIntegrityError:
        return True
    return False


def test_log_wraps_and_keeps_state_through_checkpoints():
    pump, hw, flash = make_pump(rate_mu_h=1000, flash=new_flash(3))
    run_for(pump, hw, 60 * MS_PER_HOUR)
    assert pump.log._sector_seq > 3                 # the ring has wrapped
    records = audit_log.verify(region(flash), KEY, pump.log_head())
    assert records[0].seq > 1
    from pump.pump import Pump
    again = Pump(hw, flash, KEY)
    assert again.controller.program_set and again.controller.engine.program[0] == 1000


@verifies("IL-LOG-INTEGRITY")
def test_tampered_log_boots_to_safe_stop():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    data = bytearray(flash.image())
    data[audit_log.HEADER_LEN + 12] ^= 0x04
    from bootloader.flash import NorFlash
    from pump.pump import Pump
    damaged = NorFlash.from_image(bytes(data), flash.sector_size, flash.align)
    rebooted = Pump(hw, damaged, KEY)
    assert rebooted.state == T.SAFE_STOP
    assert rebooted.status()["alarm"] == "IL-LOG-INTEGRITY"
    assert rebooted.start().code == results.ERR_STATE
    assert rebooted.service_reset(True).ok and rebooted.state == T.STOPPED


def test_a_peer_text_is_logged_on_one_line_without_marks_that_reorder_it():
    pump, hw, flash = make_pump()
    pump.record_refusal("op\nforged", "no resource /a\nb\r\nc\x00\u202eevil\u2028x\u200by")
    record = [r for r in audit_log.verify(region(flash), KEY)
              if r.type == audit_log.EV_REFUSAL][-1]
    assert record.data["op"] == "op?forged"
    assert record.data["why"] == "no resource /a?b??c??evil?x?y"


def test_the_anchor_sealed_field_by_field_is_the_whole_list_sealed():
    from pump import sealed as sealed_records
    from pump.hal import MemoryHardware as Hardware
    hw = Hardware()
    store = sealed_records.SealedStore(hw.secure_store, KEY)
    anchor = sealed_records.Anchor(1, 5, b"\x07" * 32, 2, 1000, 900, [5, 6], [[[1, 2, 3]], []])
    for change in (None, "alive", "volatile", "volatile-in-place", "basal"):
        if change == "alive":
            anchor.alive += 60000
        elif change == "volatile":
            anchor.volatile = [[[1, 2, 3], [4, 5, 6]], ["IL-X"]]
        elif change == "volatile-in-place":
            anchor.volatile[1].append("IL-Y")          # the same list, changed
        elif change == "basal":
            anchor.basal = None
        store.write_anchor(anchor)
        whole = sealed_records.seal(store._keys[sealed_records.ANCHOR], anchor.as_list())
        assert hw.secure_store.read(sealed_records.ANCHOR) == whole
        assert store.anchor().as_list() == anchor.as_list()


@verifies("IL-UPDATE-BOLUS")
def test_no_swap_pause_while_a_bolus_runs_or_awaits_the_patient():
    pump, hw, flash = make_pump()
    assert pump.can_install_update()
    assert pump.bolus(2000).ok
    run_for(pump, hw, 2 * MS_PER_MINUTE)                 # part of it given
    assert pump.install_blocked() == "IL-UPDATE-BOLUS"
    refused = pump.install_update(True)
    assert not refused.ok and refused.reason == "IL-UPDATE-BOLUS"
    assert pump.state == T.DELIVERING
    run_for(pump, hw, 20 * MS_PER_MINUTE)                # the bolus ends
    assert pump.status()["bolus_left_mu"] == 0 and pump.can_install_update()
