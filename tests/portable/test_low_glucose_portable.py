"""CGM input and predictive low-glucose suspend, hazard by hazard, on both interpreters.

H-HYPO-BASAL: basal must stop while glucose falls towards a low, and start again once it
rises. H-THERAPY-LOSS: a hold never lasts past its bounds, nor without glucose data.
H-CGM-INPUT: a stale, reordered, implausible or future reading never reaches the interlock.
"""

from pump import audit_log, plgs, results
from pump.limits import Limits
from pump.units import MS_PER_HOUR, MS_PER_MINUTE

from pump_fixtures import KEY, make_pump, reboot, region, run_for
from evidence_links import verifies

FIVE = 5 * MS_PER_MINUTE


def feed(pump, hw, values, every=FIVE):
    """One reading now, then one every ``every`` ms (the pump running between them)."""
    outcomes = []
    for index, value in enumerate(values):
        if index:
            run_for(pump, hw, every)
        outcomes.append(pump.cgm_reading(value, hw.clock.ticks_ms()))
    return outcomes


def pulses_during(pump, hw, ms):
    before = hw.motor.pulses
    run_for(pump, hw, ms)
    return hw.motor.pulses - before


def warnings(flash):
    return [r.data for r in audit_log.verify(region(flash), KEY)
            if r.type == audit_log.EV_WARNING and type(r.data) is list and
            r.data[0] == "IL-PLGS"]


def test_prediction_is_the_least_squares_line_30_minutes_on():
    readings = [(0, 140), (FIVE, 130), (2 * FIVE, 120), (3 * FIVE, 110)]
    assert plgs.predicted(readings) == 110 - 60          # -2 mg/dL/min for 30 min
    assert plgs.predicted(readings[:2]) is None           # too few for a trend
    flat = [(0, 100), (FIVE, 100), (2 * FIVE, 100)]
    assert plgs.predicted(flat) == 100


@verifies("IL-PLGS")
def test_falling_glucose_holds_basal_and_rising_glucose_resumes_it():
    """IL-PLGS (H-HYPO-BASAL)."""
    pump, hw, flash = make_pump(rate_mu_h=1200)
    outcomes = feed(pump, hw, [150, 140, 130, 120])       # 80 predicted ... 60 at the last
    assert all(r.ok for r in outcomes)
    assert pump.status()["plgs_hold"] and pump.status()["basal_mu_h"] == 0
    assert pulses_during(pump, hw, 10 * MS_PER_MINUTE) == 0
    assert pump.bolus(500).ok                              # boluses stay possible
    feed(pump, hw, [118, 125])                             # rising, predicted above 80
    assert not pump.status()["plgs_hold"]
    assert pulses_during(pump, hw, MS_PER_HOUR) >= 47      # 1.2 U/h = 48 pulses
    texts = [w[1] for w in warnings(flash)]
    assert texts[0] == "hold: predicted low" and texts[-1] == "resume: rising"


def test_a_low_reading_holds_at_once_without_a_trend():
    pump, hw, flash = make_pump()
    assert pump.cgm_reading(65, hw.clock.ticks_ms()).ok
    assert pump.status()["plgs_hold"]


@verifies("IL-CGM-STALE", "IL-CGM-ORDER", "IL-CGM-IMPLAUSIBLE")
def test_stale_future_reordered_and_implausible_readings_are_refused():
    """IL-CGM-STALE, IL-CGM-ORDER, IL-CGM-IMPLAUSIBLE (H-CGM-INPUT)."""
    pump, hw, flash = make_pump()
    run_for(pump, hw, MS_PER_HOUR)
    now = hw.clock.ticks_ms()
    cases = [((60, now - 11 * MS_PER_MINUTE), "IL-CGM-STALE"),
             ((60, now + MS_PER_MINUTE), "IL-CGM-STALE"),
             ((19, now), "IL-CGM-IMPLAUSIBLE"), ((601, now), "IL-CGM-IMPLAUSIBLE")]
    for (value, tick), reason in cases:
        result = pump.cgm_reading(value, tick)
        assert result.code == results.ERR_INTERLOCK and result.reason == reason, result
    assert pump.cgm_reading(120, now - FIVE).ok
    assert pump.cgm_reading(60, now - FIVE + 30000).reason == "IL-CGM-ORDER"
    assert pump.cgm_reading(60, now).reason == "IL-CGM-IMPLAUSIBLE"   # -12 mg/dL/min
    assert pump.cgm_reading(110, now).ok
    assert pump.cgm_reading(True, now).code == results.ERR_TYPE
    assert not pump.status()["plgs_hold"] and pump.refusals["IL-CGM-STALE"] == 2


@verifies("IL-PLGS", "IL-CGM-IMPLAUSIBLE")
def test_a_sensor_reading_below_its_range_keeps_basal_held():
    """H-HYPO-BASAL: a sensor reports a glucose below its range as its LOW value (Dexcom
    39, Navigator 32). That is the lowest glucose there is, not a missing one: refused,
    the hold would end after 20 min (IL-CGM-LOST) and basal run into a severe low. It is
    taken as the range's floor, 40 mg/dL; above the range, as 400."""
    pump, hw, flash = make_pump(rate_mu_h=1200)
    assert pump.cgm_reading(45, hw.clock.ticks_ms()).ok
    assert pump.status()["plgs_hold"]
    for _ in range(12):                               # an hour of LOW
        run_for(pump, hw, 5 * MS_PER_MINUTE)
        result = pump.cgm_reading(39, hw.clock.ticks_ms())
        assert result.ok, result
        assert pump.status()["plgs_hold"], pump.status()
        assert pump.status()["glucose"][0] == 40
    assert "IL-CGM-LOST" not in pump.status()["alerts"]
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.cgm_reading(450, hw.clock.ticks_ms()).reason == "IL-CGM-IMPLAUSIBLE"  # rate
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    assert pump.cgm_reading(19, hw.clock.ticks_ms()).reason == "IL-CGM-IMPLAUSIBLE"


@verifies("IL-CGM-LOST")
def test_hold_ends_when_glucose_data_is_lost():
    """IL-CGM-LOST (H-THERAPY-LOSS): no trusted reading for 20 min resumes basal."""
    pump, hw, flash = make_pump(rate_mu_h=1200)
    assert pump.cgm_reading(62, hw.clock.ticks_ms()).ok
    run_for(pump, hw, 19 * MS_PER_MINUTE)
    assert pump.status()["plgs_hold"]
    run_for(pump, hw, 2 * MS_PER_MINUTE)
    status = pump.status()
    assert not status["plgs_hold"] and "IL-CGM-LOST" in status["alerts"]
    assert pulses_during(pump, hw, MS_PER_HOUR) >= 47


@verifies("IL-PLGS-LIMIT")
def test_hold_is_bounded_and_never_causes_a_no_delivery_alarm():
    """IL-PLGS-LIMIT (H-THERAPY-LOSS): a sensor stuck low cannot withhold basal past the
    missing-basal budget; PLGS then waits 30 min before holding again."""
    pump, hw, flash = make_pump(rate_mu_h=1200)
    start = hw.clock.ticks_ms()
    held_at = None
    value = 64
    for _ in range(40):                                    # 3 h 20 min of readings < 70
        pump.cgm_reading(value, hw.clock.ticks_ms())
        value = 65 if value == 64 else 64
        if not pump.status()["plgs_hold"] and held_at is None and \
                hw.clock.ticks_ms() > start:
            held_at = hw.clock.ticks_ms()
        status = pump.status()
        assert "IL-NO-DELIVERY" not in status["alerts"], status
        run_for(pump, hw, FIVE)
    assert held_at is not None and held_at - start <= 2 * MS_PER_HOUR
    assert "IL-PLGS-LIMIT" in pump.status()["alerts"]
    assert pump.status()["no_basal_ms"] < Limits().max_no_basal_ms


@verifies("IL-PLGS-LIMIT")
def test_the_missing_basal_budget_bounds_the_hold():
    pump, hw, flash = make_pump(rate_mu_h=1200)
    assert pump.suspend(90 * MS_PER_MINUTE).ok
    run_for(pump, hw, 90 * MS_PER_MINUTE + MS_PER_MINUTE)
    assert pump.status()["state"] == "delivering"
    for _ in range(12):
        pump.cgm_reading(60, hw.clock.ticks_ms())
        run_for(pump, hw, FIVE)
    status = pump.status()
    assert not status["plgs_hold"] and "IL-PLGS-LIMIT" in status["alerts"]
    assert "IL-NO-DELIVERY" not in status["alerts"]


def test_a_hold_survives_a_reboot_and_lost_data_is_timed_from_the_boot():
    pump, hw, flash = make_pump(rate_mu_h=1200)
    assert pump.cgm_reading(62, hw.clock.ticks_ms()).ok
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.status()["plgs_hold"]
    assert pulses_during(pump2, hw2, 15 * MS_PER_MINUTE) == 0
    run_for(pump2, hw2, 6 * MS_PER_MINUTE)                 # 21 min since the boot
    assert not pump2.status()["plgs_hold"]
    assert "IL-CGM-LOST" in pump2.status()["alerts"]


@verifies("IL-CGM-URGENT-LOW")
def test_urgent_low_alerts_and_repeats_after_30_minutes():
    """IL-CGM-URGENT-LOW."""
    pump, hw, flash = make_pump()
    assert pump.cgm_reading(50, hw.clock.ticks_ms()).ok
    assert "IL-CGM-URGENT-LOW" in pump.status()["alerts"]
    assert pump.acknowledge().ok
    for minutes in (5, 10, 15, 20, 25):
        run_for(pump, hw, FIVE)
        assert pump.cgm_reading(50 + minutes % 2, hw.clock.ticks_ms()).ok
        assert "IL-CGM-URGENT-LOW" not in pump.status()["alerts"], minutes
    run_for(pump, hw, FIVE)
    assert pump.cgm_reading(50, hw.clock.ticks_ms()).ok
    assert "IL-CGM-URGENT-LOW" in pump.status()["alerts"]


def test_plgs_off_never_holds():
    pump, hw, flash = make_pump(limits=Limits({"plgs_on": 0}))
    feed(pump, hw, [80, 70, 60, 50])
    assert not pump.status()["plgs_hold"]


def test_leaving_delivery_releases_the_hold_and_a_suspend_is_not_undone():
    pump, hw, flash = make_pump()
    assert pump.cgm_reading(62, hw.clock.ticks_ms()).ok
    assert pump.suspend(30 * MS_PER_MINUTE).ok
    run_for(pump, hw, MS_PER_MINUTE)
    assert not pump.status()["plgs_hold"] and pump.status()["state"] == "suspended"


# -- found by a review that attacked the documented rules -----------------------------

def test_a_one_minute_sensor_predicts_a_low_as_a_five_minute_one():
    """Readings every minute (or extra ones relayed in between) must not shrink the
    prediction's window below its 9 minutes."""
    pump, hw, flash = make_pump()
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    value = 150
    while value >= 120 and not pump.status()["plgs_hold"]:
        assert pump.cgm_reading(value, hw.clock.ticks_ms()).ok
        run_for(pump, hw, MS_PER_MINUTE)
        value -= 2
    assert pump.status()["plgs_hold"], value


def test_a_low_that_plgs_cannot_act_on_is_never_silent():
    pump, hw, flash = make_pump()
    hw.ui.pressed = True
    assert pump.suspend(2 * MS_PER_HOUR).ok
    run_for(pump, hw, 2 * MS_PER_HOUR + MS_PER_MINUTE)
    pump.acknowledge()
    assert pump.cgm_reading(60, hw.clock.ticks_ms()).ok
    status = pump.status()
    assert not status["plgs_hold"] and "IL-PLGS-LIMIT" in status["alerts"]


def _held_for(pump, hw, interrupt):
    """Readings of 65 every 5 min (a 4 h no-basal budget); ``interrupt`` after 110 min;
    returns how long basal stayed held in all."""
    start = hw.clock.ticks_ms()
    for step in range(60):
        if step == 22:
            interrupt(pump, hw)
        pump.cgm_reading(65, hw.clock.ticks_ms())
        if step > 22 and not pump.status()["plgs_hold"]:
            return hw.clock.ticks_ms() - start
        run_for(pump, hw, FIVE)
    return hw.clock.ticks_ms() - start


def _suspend_and_resume(pump, hw):
    assert pump.suspend(15 * MS_PER_MINUTE).ok
    run_for(pump, hw, MS_PER_MINUTE)
    assert pump.resume().ok


def test_a_suspend_does_not_restart_the_two_hours_of_a_hold():
    pump, hw, flash = make_pump(limits=Limits({"max_no_basal_ms": 4 * MS_PER_HOUR}))
    held = _held_for(pump, hw, _suspend_and_resume)
    assert held <= 2 * MS_PER_HOUR + 2 * FIVE, held
    assert "IL-PLGS-LIMIT" in pump.status()["alerts"]


def test_the_thirty_minutes_after_a_limit_survive_a_reboot():
    pump, hw, flash = make_pump(limits=Limits({"max_no_basal_ms": 4 * MS_PER_HOUR}))
    for _ in range(26):
        pump.cgm_reading(65, hw.clock.ticks_ms())
        run_for(pump, hw, FIVE)
    assert not pump.status()["plgs_hold"]          # the limit ended it at 2 h
    pump2, hw2 = reboot(hw, flash)
    assert pump2.cgm_reading(65, hw2.clock.ticks_ms()).ok
    assert not pump2.status()["plgs_hold"]


def test_a_low_plgs_cannot_act_on_is_told_again_only_every_30_minutes():
    pump, hw, flash = make_pump()
    hw.ui.pressed = True
    assert pump.suspend(2 * MS_PER_HOUR).ok
    run_for(pump, hw, 2 * MS_PER_HOUR + MS_PER_MINUTE)
    raised = []
    for _ in range(9):                                   # 45 min of readings of 60
        pump.cgm_reading(60, hw.clock.ticks_ms())
        if "IL-PLGS-LIMIT" in pump.status()["alerts"]:
            raised.append(hw.clock.ticks_ms())
            pump.acknowledge()
        run_for(pump, hw, FIVE)
    assert len(raised) == 2 and raised[1] - raised[0] >= 30 * MS_PER_MINUTE, raised


@verifies("IL-CGM-IMPLAUSIBLE")
def test_one_outlier_does_not_blind_the_pump_to_the_readings_after_it():
    """IL-CGM-IMPLAUSIBLE refuses the jump, but two readings that agree start a new
    series: a true low after a spurious high is acted on within one more reading."""
    pump, hw, flash = make_pump()
    assert pump.cgm_reading(300, hw.clock.ticks_ms()).ok
    run_for(pump, hw, FIVE)
    assert pump.cgm_reading(60, hw.clock.ticks_ms()).reason == "IL-CGM-IMPLAUSIBLE"
    run_for(pump, hw, FIVE)
    assert pump.cgm_reading(61, hw.clock.ticks_ms()).ok
    assert pump.status()["plgs_hold"] and pump.status()["glucose"][0] == 61
    run_for(pump, hw, FIVE)
    assert pump.cgm_reading(200, hw.clock.ticks_ms()).reason == "IL-CGM-IMPLAUSIBLE"
    run_for(pump, hw, FIVE)
    assert pump.cgm_reading(70, hw.clock.ticks_ms()).ok      # the outlier was alone
    assert pump.controller.cgm.readings[-2][1] == 61
