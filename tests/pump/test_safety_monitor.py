"""Fault injection: a faulty controller gets at most one pulse past what is due before the
independent safety monitor stops delivery, latches safe-stop and cuts motor power."""


import pytest

from pump import delivery, results, therapy_table as T
from pump.units import MS_PER_HOUR, MS_PER_MINUTE

from pump_fixtures import change_reservoir, make_pump, prime, run_for


def _latched(pump, hw, reason):
    assert pump.state == T.SAFE_STOP
    assert pump.monitor.latched == reason
    assert not hw.motor.enabled


@pytest.mark.verifies("SM-BASAL-RATE")
def test_extra_basal_pulses_are_stopped_within_one_pulse():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    run_for(pump, hw, MS_PER_HOUR)
    before = hw.motor.pulses
    engine = pump.controller.engine
    # fault: a basal pulse is "due" whenever the motor pacing allows one
    engine.due = lambda now, priming: delivery.BASAL if now >= engine.next_pulse_at else None
    start = hw.clock.ticks_ms()
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-BASAL-RATE")
    # What was due at 1 U/h until the last pulse, plus one pulse at most.
    due = (hw.motor.log[-1] - start) * 1000 // (25 * MS_PER_HOUR)
    assert hw.motor.pulses - before <= due + 1


@pytest.mark.verifies("SM-BOLUS-BUDGET")
def test_bolus_pulses_beyond_the_declared_bolus_are_refused():
    pump, hw, _ = make_pump(rate_mu_h=0)
    engine = pump.controller.engine
    engine.start_bolus = lambda pulses: setattr(engine, "bolus_pulses", pulses * 2)
    assert pump.bolus(1000).ok
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-BOLUS-BUDGET")
    assert hw.motor.pulses == 40                  # exactly the 1 U that was asked for


@pytest.mark.verifies("SM-BOLUS-BUDGET")
def test_skipped_bolus_limit_is_caught_before_any_pulse():
    pump, hw, _ = make_pump(rate_mu_h=0)
    controller = pump.controller
    controller.limits = controller.limits.updated(                  # fault: the controller's
        {"max_bolus_mu": 25000, "max_iob_mu": 30000, "max_1h_mu": 30000})   # copy corrupted
    result = pump.bolus(20000)
    assert result.code == results.ERR_INTERNAL and result.reason == "SM-BOLUS-BUDGET"
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-BOLUS-BUDGET")
    assert hw.motor.pulses == 0


def _pulses_in_last(hw, window_ms):
    now = hw.clock.ticks_ms()
    return sum(1 for t in hw.motor.log if t > now - window_ms)


@pytest.mark.verifies("SM-OVER-1H")
def test_skipped_rolling_hour_interlock_is_caught_at_the_limit():
    pump, hw, _ = make_pump(rate_mu_h=0, start=False)
    assert pump.set_limits({"max_1h_mu": 3000, "min_bolus_interval_ms": MS_PER_MINUTE}).ok
    assert pump.start().ok
    pump.controller.check_windows = lambda now, mu: None           # fault: interlock skipped
    assert pump.bolus(2000).ok
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.bolus(2000).ok                                     # the controller let it by
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-OVER-1H")
    assert hw.motor.pulses == 3000 // 25                           # stopped exactly at the limit


@pytest.mark.verifies("SM-OVER-24H")
def test_skipped_rolling_day_interlock_is_caught_at_the_limit():
    pump, hw, _ = make_pump(rate_mu_h=0, start=False)
    assert pump.set_limits({"max_24h_mu": 15000, "max_1h_mu": 12000, "max_iob_mu": 30000}).ok
    assert pump.start().ok
    pump.controller.check_windows = lambda now, mu: None
    assert pump.bolus(10000).ok
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert pump.bolus(10000).ok
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-OVER-24H")
    assert hw.motor.pulses == 15000 // 25


@pytest.mark.verifies("SM-RUNAWAY")
def test_runaway_motor_during_a_pulse():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    hw.motor.extra_steps = 1
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-RUNAWAY")
    assert hw.motor.pulses == 1


@pytest.mark.verifies("SM-RUNAWAY")
def test_runaway_motor_between_pulses():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    before = hw.motor.pulses
    hw.motor.drift(3)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-RUNAWAY")
    assert hw.motor.pulses == before


@pytest.mark.verifies("SM-PULSE-RATE")
def test_unpaced_pulses_are_stopped():
    pump, hw, _ = make_pump(rate_mu_h=0)
    engine = pump.controller.engine
    original = engine.consume

    def consume_without_pacing(kind, now):
        original(kind, now)
        engine.next_pulse_at = now                                   # fault: no pacing
    engine.consume = consume_without_pacing
    assert pump.bolus(2000).ok
    run_for(pump, hw, MS_PER_MINUTE)
    _latched(pump, hw, "SM-PULSE-RATE")
    assert hw.motor.pulses == 1


@pytest.mark.verifies("SM-PRIME-BUDGET")
def test_prime_beyond_its_budget_is_stopped():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    change_reservoir(pump, hw)
    assert prime(pump, hw, 500).ok
    pump.controller.engine.prime_pulses += 10                        # fault
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-PRIME-BUDGET")
    assert hw.motor.pulses == 20


@pytest.mark.verifies("SM-CONTROLLER-FAULT")
def test_controller_exception_ends_in_safe_stop_without_delivery():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    before = hw.motor.pulses

    def broken(now):
        raise RuntimeError("injected controller fault")
    pump.controller._deliver = broken
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-CONTROLLER-FAULT")
    del pump.controller._deliver                                     # "repaired", still latched
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert hw.motor.pulses == before
    assert pump.start().code == results.ERR_STATE


def test_latch_survives_a_reboot_and_needs_service():
    from pump.pump import Pump
    from pump_fixtures import KEY
    pump, hw, flash = make_pump(rate_mu_h=1000)
    hw.motor.extra_steps = 1
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    hw.motor.extra_steps = 0
    rebooted = Pump(hw, flash, KEY)
    assert rebooted.state == T.SAFE_STOP and rebooted.monitor.latched == "SM-RUNAWAY"
    assert rebooted.service_reset(False).code == results.ERR_GUARD
    assert rebooted.service_reset(True).ok and rebooted.state == T.STOPPED
    assert rebooted.start().ok
    run_for(rebooted, hw, MS_PER_HOUR)
    assert rebooted.state == T.DELIVERING


@pytest.mark.verifies("IL-CLOCK-MONOTONIC")
def test_clock_going_backwards_is_a_safe_stop():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    hw.clock._ticks -= 5000                                           # corrupted tick counter
    pump.tick()
    assert pump.state == T.SAFE_STOP and pump.status()["alarm"] == "IL-CLOCK-MONOTONIC"


@pytest.mark.verifies("IL-ROLLING-24H")
def test_basal_withheld_at_the_daily_limit_raises_an_alarm():
    pump, hw, _ = make_pump(rate_mu_h=None, start=False)
    assert pump.set_limits({"max_24h_mu": 20000, "max_1h_mu": 12000}).ok
    assert pump.set_basal_program([800] * 48).ok                   # 19.2 U a day
    assert pump.start().ok
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert pump.bolus(2000).reason == "IL-ROLLING-24H"           # with the day's basal: > 20 U
    pump.controller._basal_to_come = lambda *args: 0              # fault: basal ignored
    assert pump.bolus(2000).ok
    run_for(pump, hw, 18 * MS_PER_HOUR)
    assert pump.bolus(5000).reason == "IL-ROLLING-24H"             # 16 U + 2 U + 5 U > 20 U
    run_for(pump, hw, 6 * MS_PER_HOUR)
    assert pump.status()["alarm"] == "IL-ROLLING-24H"              # basal could not continue
    for t in hw.motor.log:                                          # no 24 h window over 20 U
        assert sum(1 for u in hw.motor.log if t - 24 * MS_PER_HOUR < u <= t) * 25 <= 20000


@pytest.mark.verifies("SM-CANNULA-BUDGET")
def test_cannula_fill_beyond_its_declared_fill_is_stopped():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    change_reservoir(pump, hw)
    hw.ui.pressed = True
    assert pump.connect().ok
    assert pump.fill_cannula(250).ok                                 # 10 pulses declared
    pump.controller.engine.cannula_pulses += 10                      # fault
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    _latched(pump, hw, "SM-CANNULA-BUDGET")
    assert hw.motor.pulses == 10
