"""Regression tests for safety defects once present in the pump core.

Each test states the scenario that used to fail; together with the fix they pin down
behaviour the other suites did not reach.
"""
import pytest

from bootloader.flash import PowerCut
from pump import audit_log, delivery, results, therapy_table as T
from pump.hal import MemoryHardware
from pump.limits import Limits
from pump.pump import Pump
from pump.units import MS_PER_HOUR, MS_PER_MINUTE

from pump_fixtures import KEY, change_reservoir, make_pump, new_flash, prime, region, run_for

# Duplicate detection remembers only the last 32 command ids, with no time bound tied to
# max_command_age_ms: after 32 temp-basal commands (no rate limit) a still-fresh bolus
# command can be replayed and is delivered a second time.

@pytest.mark.verifies("IL-DUPLICATE-CMD")
def test_replayed_bolus_id_is_refused_while_fresh():
    limits = Limits({"max_command_age_ms": 600000, "min_bolus_interval_ms": MS_PER_MINUTE})
    pump, hw, _ = make_pump(rate_mu_h=1000, limits=limits)
    issued = hw.clock.ticks_ms()
    assert pump.bolus(2000, cmd_id=b"bolus-0001", issued_ms=issued).ok
    for i in range(32):
        now = hw.clock.ticks_ms()
        assert pump.temp_basal(MS_PER_HOUR, percent=100, cmd_id=1000 + i, issued_ms=now).ok
    run_for(pump, hw, 3 * MS_PER_MINUTE)              # bolus done; command still "fresh"
    replay = pump.bolus(2000, cmd_id=b"bolus-0001", issued_ms=issued)
    assert replay.code == results.ERR_INTERLOCK and replay.reason == "IL-DUPLICATE-CMD", replay


# An extended bolus faster than the motor pacing (one pulse per 2 s), or slowed by basal
# pulses, keeps delivering after its reservation's end; the ledger then forgets pulses that
# are still inside the rolling hour (and dates IOB too early).

def _track_extended(pump):
    engine = pump.controller.engine
    original = engine.consume
    times = []

    def consume(kind, now):
        if kind == delivery.EXTENDED:
            times.append(now)
        original(kind, now)
    engine.consume = consume
    return times


def test_extended_bolus_faster_than_the_motor_is_refused():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    result = pump.bolus(10000, duration_ms=15 * MS_PER_MINUTE)     # 400 pulses in 900 s
    assert result.code == results.ERR_RANGE


def test_extended_pulses_stay_inside_their_reservation_beside_a_high_temp_basal():
    limits = Limits({"max_1h_mu": 25000, "max_24h_mu": 150000,     # room for both
                     "max_temp_multiple": 5})
    pump, hw, _ = make_pump(rate_mu_h=1000, limits=limits)
    assert pump.temp_basal(2 * MS_PER_HOUR, rate_mu_h=5000).ok     # max temp basal
    times = _track_extended(pump)
    t0 = hw.clock.ticks_ms()
    assert pump.bolus(10000, duration_ms=60 * MS_PER_MINUTE).ok     # 400 pulses, one per 9 s
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert len(times) == 400
    assert times[-1] < t0 + 60 * MS_PER_MINUTE + 2 * MS_PER_MINUTE  # within the reservation
    now = hw.clock.ticks_ms()
    for back in (0, 30 * MS_PER_MINUTE):
        delivered = sum(25 for t in hw.motor.log if now - back - MS_PER_HOUR < t <= now - back)
        assert pump.controller.ledger.window_total(now - back, (3600000, 60000)) >= delivered


@pytest.mark.verifies("IL-BOLUS-OVERRUN")
def test_bolus_that_overruns_its_reservation_is_cut_off_and_refunded():
    pump, hw, _ = make_pump(rate_mu_h=0)
    engine = pump.controller.engine
    original = engine.consume

    def slow_motor(kind, now):                 # the motor paces at 5 s instead of 2 s
        original(kind, now)
        engine.next_pulse_at = now + 5000
    engine.consume = slow_motor
    assert pump.bolus(5000).ok                 # 200 pulses: 400 s planned + 120 s slack
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert "IL-BOLUS-OVERRUN" in pump.controller.warnings or hw.motor.pulses < 200
    # no pulse after the reservation's end: 400 s planned + one basal pulse + 120 s slack
    assert hw.motor.log[-1] < 522000
    now = hw.clock.ticks_ms()
    delivered = sum(25 for t in hw.motor.log if t > now - MS_PER_HOUR)
    assert pump.controller.ledger.window_total(now, (3600000, 60000)) >= delivered
    assert pump.state == T.DELIVERING


# Erasing the oldest sectors of a log whose ring has not wrapped yet verifies, even
# against the head the live pump reported: history deleted without detection.

def test_deleting_the_first_sectors_is_detected():
    pump, hw, flash = make_pump(rate_mu_h=1000)         # 8-sector ring
    assert pump.bolus(2000).ok                          # the evidence
    run_for(pump, hw, 40 * MS_PER_HOUR)
    head = pump.log_head()
    used = [i for i in range(8) if not flash.is_erased(i * 4096, 4096)]
    assert 3 <= len(used) < 8, used                     # ring not yet wrapped
    before = audit_log.verify(region(flash), KEY, head)
    assert before[0].seq == 1
    for index in used[:2]:                              # attacker erases sectors seq 1 and 2
        flash.erase(index * 4096)
    with pytest.raises(audit_log.LogIntegrityError):
        records = audit_log.verify(region(flash), KEY, head)
        print("verified: %d records, first seq %d (was 1)" % (len(records), records[0].seq))


# The safety monitor is never told that therapy was suspended (or stopped / alarmed):
# its basal budget keeps following the program, so a faulty controller that keeps pulsing
# basal after a suspend is never stopped.

def test_monitor_stops_basal_pulses_while_suspended():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    run_for(pump, hw, MS_PER_HOUR)
    assert pump.suspend().ok                     # e.g. patient suspends for a low
    controller = pump.controller
    controller.tick = lambda now: controller._deliver(now)   # fault: state check skipped
    before = hw.motor.pulses
    run_for(pump, hw, 2 * MS_PER_HOUR)
    extra = hw.motor.pulses - before
    assert extra <= 1, "%d pulses (%d mU) delivered while suspended; monitor latched=%r, state=%s" % (
        extra, extra * 25, pump.monitor.latched, pump.state)


# Prime pulses left over from an interrupted prime are delivered in DELIVERING, outside
# every limit (no ledger reservation, excluded from the monitor's windows).

def test_stopped_prime_is_not_delivered_to_patient_after_start():
    pump, hw, _ = make_pump(rate_mu_h=0, start=False)
    change_reservoir(pump, hw)
    assert prime(pump, hw, 20000).ok                       # 800 pulses into the tubing
    run_for(pump, hw, 4000)                           # a couple of prime pulses
    assert pump.stop().ok                             # user aborts priming
    assert pump.stop().ok and pump.state == T.STOPPED  # and the reservoir change
    primed = hw.motor.pulses
    assert pump.start().ok                            # basal program is 0 mU/h
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert pump.state == T.DELIVERING
    delivered = hw.motor.pulses - primed
    # basal 0, no bolus: nothing may be delivered to the patient
    assert delivered == 0, "%d pulses (%d mU) delivered in DELIVERING with no therapy; ledger IOB=%d" % (
        delivered, delivered * 25, pump.status()["iob_mu"])


def test_alarm_during_prime_then_ack_then_start():
    pump, hw, _ = make_pump(rate_mu_h=0, start=False)
    change_reservoir(pump, hw)
    assert prime(pump, hw, 10000).ok
    run_for(pump, hw, 4000)
    hw.pressure.mbar = 5000                           # occlusion while priming
    run_for(pump, hw, 4000)
    assert pump.state == T.ALARM
    hw.pressure.mbar = 100
    assert pump.acknowledge().ok and pump.state == T.STOPPED   # nothing to resume
    primed = hw.motor.pulses
    assert pump.start().ok
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    delivered = hw.motor.pulses - primed
    assert delivered == 0, "%d pulses delivered to the patient after ack+start" % delivered


def test_fault_during_prime_then_service_reset_then_start_does_not_relatch():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    change_reservoir(pump, hw)
    assert prime(pump, hw, 10000).ok
    run_for(pump, hw, 4000)
    hw.motor.drift(2)                                 # a real runaway while priming: latched
    run_for(pump, hw, 4000)
    assert pump.state == T.SAFE_STOP
    hw.motor.drift(0)
    assert pump.service_reset(True).ok               # serviced
    assert pump.start().ok
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.state == T.DELIVERING, "after service: state %s latched %r" % (
        pump.state, pump.monitor.latched)


# set_basal_program accepts a program whose hourly total fits max_1h_mu, but basal is
# reserved 15 min ahead (+1 pulse per block) and counted for 1 h + 1 min after each block's
# end, so the ledger sees ~76 min of the program: delivery stops with an IL-ROLLING-1H alarm.

@pytest.mark.verifies("IL-ROLLING-1H")
def test_program_the_rolling_hour_cannot_carry_is_refused_and_an_accepted_one_runs():
    limits = Limits({"max_1h_mu": 3000, "max_24h_mu": 100000})
    pump, hw, _ = make_pump(rate_mu_h=None, start=False, limits=limits)
    assert pump.set_basal_program([2500] * 48).reason == "IL-ROLLING-1H"
    assert pump.set_basal_program([2300] * 48).ok     # 2.3 U/h x 76/60 fits 3 U
    assert pump.start().ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    assert pump.state == T.DELIVERING, pump.controller.alarm_id
    assert 3 * 92 - 2 <= hw.motor.pulses <= 3 * 92


# After a reboot the safety monitor is seeded from the ledger in ledger order; an entry
# older than the monitor's window, seeded after a newer one, lands in a live bucket (ring
# aliasing), so the monitor counts old delivery as recent and falsely latches safe-stop.

def test_no_false_latch_after_reboot_with_long_extended_bolus():
    pump, hw, flash = make_pump(rate_mu_h=2400)                 # 2.4 U/h, 1 h limit 12 U
    assert pump.bolus(1000, duration_ms=8 * MS_PER_HOUR).ok    # 1 U over 8 h (end in future)
    run_for(pump, hw, 6 * MS_PER_HOUR)
    # power cycle: same flash, same RTC-backed monotonic clock
    hw2 = MemoryHardware(clock=hw.clock)
    hw2.secure_store = hw.secure_store
    hw2.motor.steps = hw.motor.steps
    pump2 = Pump(hw2, flash, KEY)
    ledger_1h = pump2.controller.ledger.window_total(hw.clock.ticks_ms(), (3600000, 60000))
    monitor_1h = pump2.monitor._window_1h.count(hw.clock.ticks_ms()) * 25
    assert pump2.state == T.DELIVERING                          # resumed after the reboot
    run_for(pump2, hw2, 10 * MS_PER_MINUTE)
    assert pump2.state == T.DELIVERING, (
        "state %s latched %r after reboot; ledger 1h total %d mU, monitor seeded 1h count %d mU"
        % (pump2.state, pump2.monitor.latched, ledger_1h, monitor_1h))


# A refusal whose reason echoes attacker-sized input (an unknown limit name) makes the
# refusal record larger than a log sector; the ValueError escapes the entry point.

def test_long_unknown_limit_name_is_refused_not_raised():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    try:
        result = pump.set_limits({"x" * 5000: 1})
    except Exception as exc:                      # must never escape an entry point
        raise AssertionError("set_limits raised %s: %s" % (type(exc).__name__, exc))
    assert result.code == results.ERR_RANGE


# A percent temporary basal is checked against max_temp_basal_mu_h only when it starts;
# raising the basal program while it runs pushes the effective rate over the limit.

def test_program_raise_during_percent_temp_respects_max_temp_basal():
    pump, hw, _ = make_pump(rate_mu_h=2000)            # limits: max_basal 3000, max_temp 5000 mU/h
    limit = pump.controller.limits.max_temp_basal_mu_h
    assert pump.temp_basal(4 * MS_PER_HOUR, percent=200).ok     # 4000 mU/h <= 5000: accepted
    result = pump.set_basal_program([3000] * 8 + [2000] * 40)   # 00:00-04:00: 200 % of 3000 = 6000 mU/h
    run_for(pump, hw, 2 * MS_PER_HOUR)
    rate = pump.status()["basal_mu_h"]
    start = hw.clock.ticks_ms() - MS_PER_HOUR
    last_hour = sum(1 for t in hw.motor.log if t > start) * 25
    assert rate <= limit and last_hour <= limit + 50, (
        "set_basal_program -> %r; running at %d mU/h, %d mU in the last hour, max_temp_basal_mu_h=%d"
        % (result, rate, last_hour, limit))


# A power cut while a new sector header is being programmed can leave the header's MAC
# partly written; the next boot reports 'forged' and latches safe-stop. A power cut must only
# lose the record being written (DESIGN.md), not brick therapy until service.

def _session(hw, flash):
    pump = Pump(hw, flash, KEY)
    assert pump.set_basal_program([1200] * 48).ok
    assert pump.start().ok
    run_for(pump, hw, 30 * MS_PER_HOUR)


def _header_ops():
    hw, flash = MemoryHardware(), new_flash(2)
    ops = []
    original = flash.program

    def program(addr, data):
        if addr % flash.sector_size == 0 and len(data) == 60:
            ops.append(flash.op_count)
        return original(addr, data)
    flash.program = program
    _session(hw, flash)
    return ops


def test_cut_late_in_header_program_does_not_brick_the_pump():
    ops = _header_ops()
    assert len(ops) >= 2                  # first sector at boot, then a rotation
    op = ops[1]
    hw, flash = MemoryHardware(), new_flash(2)
    flash.schedule_cut(op, "middle", fraction=(4, 5))    # 48 of 60 header bytes land
    try:
        _session(hw, flash)
        raise AssertionError("cut never happened")
    except PowerCut:
        pass
    flash.power_on()
    rebooted = Pump(hw, flash, KEY)
    assert not rebooted.log.problem and rebooted.state == T.DELIVERING, (
        "after a power cut: state=%s log problem=%r" % (rebooted.state, rebooted.log.problem))


@pytest.mark.verifies("IL-CMD-RATE")
def test_more_fresh_commands_than_can_be_tracked_are_refused():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    for i in range(64):
        assert pump.temp_basal(MS_PER_HOUR, percent=100, cmd_id=i,
                               issued_ms=hw.clock.ticks_ms()).ok
    refused = pump.temp_basal(MS_PER_HOUR, percent=100, cmd_id=99,
                              issued_ms=hw.clock.ticks_ms())
    assert refused.reason == "IL-CMD-RATE"
    hw.clock.advance(61000)                            # the tracked ones are now too old
    assert pump.temp_basal(MS_PER_HOUR, percent=100, cmd_id=99,
                           issued_ms=hw.clock.ticks_ms()).ok


@pytest.mark.verifies("IL-DUPLICATE-CMD")
def test_replay_is_caught_across_a_reboot():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    issued = hw.clock.ticks_ms()
    assert pump.bolus(1000, cmd_id=b"once", issued_ms=issued).ok
    rebooted = Pump(hw, flash, KEY)
    assert rebooted.state == T.DELIVERING
    assert rebooted.bolus(1000, cmd_id=b"once", issued_ms=issued).reason == "IL-DUPLICATE-CMD"


@pytest.mark.verifies("SM-NOT-DELIVERING")
def test_monitor_refuses_therapy_pulses_after_a_stop():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.stop().ok
    before = hw.motor.pulses
    assert not pump.monitor.pulse(delivery.BASAL, hw.clock.ticks_ms() + 5000)
    assert pump.monitor.latched == "SM-NOT-DELIVERING" and hw.motor.pulses == before
