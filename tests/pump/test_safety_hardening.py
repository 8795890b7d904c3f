"""Hazard-driven tests for therapy continuity, history that cannot be erased away, the
monitor's independence, limits on every source of insulin, and time that lies.

Each test names the hazard it guards against; each one failed on the pump core before the
interlock it exercises existed.
"""
import pytest
from hypothesis import given, settings, strategies as st

from pump import audit_log, delivery, iob, results, therapy_table as T
from pump.hal import MemoryHardware
from pump.limits import Limits
from pump.pump import Pump
from pump.units import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU, is_int

from conftest import examples
from pump_fixtures import KEY, make_pump, new_flash, reboot, run_for


_reboot = reboot


# -- 1. therapy survives a reboot ------------------------------------------------------

def test_reboot_while_delivering_resumes_basal():
    """H-UNDERDOSE: a reboot must not silently stop insulin."""
    pump, hw, flash = make_pump(rate_mu_h=1200)
    run_for(pump, hw, MS_PER_HOUR)
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.state == T.DELIVERING
    run_for(pump2, hw2, 6 * MS_PER_HOUR)
    assert hw2.motor.pulses >= 6 * 48 - 2          # 1.2 U/h = 48 pulses an hour


def test_reboot_keeps_temp_basal_with_its_remaining_duration():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    assert pump.temp_basal(2 * MS_PER_HOUR, percent=200).ok
    run_for(pump, hw, MS_PER_HOUR)
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.status()["temp_basal"]
    run_for(pump2, hw2, MS_PER_HOUR)
    assert 78 <= hw2.motor.pulses <= 81              # 2 U/h for the hour that was left
    run_for(pump2, hw2, MS_PER_HOUR)
    assert not pump2.status()["temp_basal"]
    assert 78 + 38 <= hw2.motor.pulses <= 81 + 41    # then 1 U/h


@pytest.mark.verifies("IL-BOLUS-INTERRUPTED")
def test_reboot_during_bolus_does_not_resume_it_and_reports_the_remainder():
    pump, hw, flash = make_pump(rate_mu_h=0)
    assert pump.bolus(4000).ok                     # 160 pulses, 320 s
    run_for(pump, hw, 100 * 1000)                  # about 50 delivered
    delivered = hw.motor.pulses
    pump2, hw2 = _reboot(hw, flash)
    run_for(pump2, hw2, 10 * MS_PER_MINUTE)
    assert hw2.motor.pulses == 0                   # not resumed
    interrupted = pump2.status()["bolus_interrupted"]
    assert interrupted == [4000, delivered * PULSE_MU]
    records = audit_log.verify(flash_region(flash), KEY)
    assert any(r.type == audit_log.EV_WARNING and r.data == "IL-BOLUS-INTERRUPTED"
               for r in records)
    # the whole bolus still counts: insulin on board never understated
    assert pump2.status()["iob_mu"] >= delivered * PULSE_MU


def flash_region(flash):
    from bootloader.flash import FlashRegion
    return FlashRegion(flash, 0, flash.size)


def test_active_alarm_stays_active_after_a_reboot():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    hw.pressure.mbar = 5000
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.state == T.ALARM
    pump2, hw2 = _reboot(hw, flash)
    hw2.pressure.mbar = 5000
    assert pump2.state == T.ALARM and pump2.status()["alarm"] == "IL-OCCLUSION"
    assert hw2.ui.alarm_active


def test_failed_self_test_alarms():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    hw.battery.level = 2
    pump2, hw2 = _reboot(hw, flash)
    hw2.battery.level = 2
    pump2 = Pump(hw2, flash, KEY)
    assert pump2.state in (T.ALARM, T.SAFE_STOP) and hw2.ui.alarm_active


# -- 1/2. IL-NO-DELIVERY, bounded suspends and zero temps, escalation ---------------------

@pytest.mark.verifies("IL-NO-DELIVERY")
def test_peer_zero_temp_basal_renewed_forever_is_bounded():
    """H-UNDERDOSE: a gateway must not starve the patient with zero temps it renews."""
    pump, hw, _ = make_pump(rate_mu_h=1000)
    for _ in range(12):                            # renewed every 2 h for a day
        pump.temp_basal(2 * MS_PER_HOUR, percent=0)
        run_for(pump, hw, 2 * MS_PER_HOUR)
    assert hw.motor.pulses >= 24 * 40 * 6 // 10     # most of the day's basal was delivered
    assert "IL-NO-DELIVERY" in pump.status()["alerts"] or \
        any(a == "IL-NO-DELIVERY" for a in pump.controller.alerts.raised_ids)


def test_short_aid_zero_temps_stay_possible_within_the_bound():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    for _ in range(3):                              # three 30 min zero temps in 6 h
        assert pump.temp_basal(30 * MS_PER_MINUTE, percent=0).ok
        run_for(pump, hw, 2 * MS_PER_HOUR)
    assert "IL-NO-DELIVERY" not in pump.status()["alerts"]


def test_peer_suspend_is_bounded_and_auto_resumes_with_reminders():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    assert pump.suspend().ok                        # default: the maximum suspend time
    assert pump.suspend().code == results.ERR_STATE
    run_for(pump, hw, 90 * MS_PER_MINUTE)
    assert pump.state == T.SUSPENDED
    assert sum(1 for line in hw.ui.lines if "suspended" in line) >= 5   # every 15 min
    run_for(pump, hw, 60 * MS_PER_MINUTE)
    assert pump.state == T.DELIVERING               # resumed at the suspend's end


@pytest.mark.verifies("IL-SUSPEND-MAX")
def test_suspend_longer_than_the_clinician_bound_is_refused():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    limit = pump.controller.limits.max_suspend_ms
    assert pump.suspend(limit + MS_PER_MINUTE).reason == "IL-SUSPEND-MAX"


def test_no_delivery_alarm_when_stopped_with_a_program_escalates():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    assert pump.stop().ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    alerts = pump.status()["alerts"]
    assert "IL-NO-DELIVERY" in alerts
    assert pump.controller.alerts.level("IL-NO-DELIVERY") >= 2
    assert hw.ui.alarm_active


def test_patient_confirmed_suspend_continues_without_alarm():
    pump, hw, _ = make_pump(rate_mu_h=1200, limits=Limits({"max_suspend_ms": 4 * MS_PER_HOUR}))
    hw.ui.pressed = True                            # confirmed on the pump's own button
    assert pump.suspend(4 * MS_PER_HOUR).ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    assert pump.state == T.SUSPENDED
    assert "IL-NO-DELIVERY" not in pump.status()["alerts"]


@pytest.mark.verifies("IL-WATCHDOG")
def test_watchdog_alarm_acknowledged_resumes_therapy():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    hw.clock.advance(5 * MS_PER_MINUTE)             # one late main-loop tick
    pump.tick()
    assert pump.state == T.ALARM and pump.status()["alarm"] == "IL-WATCHDOG"
    assert pump.acknowledge().ok
    assert pump.state == T.DELIVERING
    pump.acknowledge  # the patient may still choose to stay stopped:
    hw.clock.advance(5 * MS_PER_MINUTE)
    pump.tick()
    assert pump.acknowledge(resume=False).ok and pump.state == T.STOPPED


def test_unacknowledged_alarm_repeats_and_escalates():
    pump, hw, _ = make_pump(rate_mu_h=1200)
    hw.pressure.mbar = 5000
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    level = pump.controller.alerts.level("IL-OCCLUSION")
    run_for(pump, hw, 20 * MS_PER_MINUTE)
    assert pump.controller.alerts.level("IL-OCCLUSION") > level
    assert hw.ui.alarm_level == 3


# -- 3. dose history that erasing flash cannot reset ------------------------------------

def _last_sector(flash, sectors=8):
    newest, best = None, -1
    for index in range(sectors):
        raw = flash.read(index * 4096, 8)
        if raw[:4] == b"PLG1":
            seq = int.from_bytes(raw[4:8], "big")
            if seq > best:
                newest, best = index, seq
    return newest


def test_erasing_the_newest_log_sector_does_not_reopen_the_bolus_limit():
    """H-OVERDOSE/H-TAMPER: an ordinary NOR erase must not forget the last bolus."""
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 20 * MS_PER_HOUR)             # several sectors in use
    assert pump.bolus(10000).ok
    run_for(pump, hw, 15 * MS_PER_MINUTE)
    flash.erase(_last_sector(flash) * 4096)
    pump2, hw2 = _reboot(hw, flash)
    pump2.service_reset(True)
    pump2.start()
    assert not pump2.bolus(10000).ok


@pytest.mark.verifies("IL-LOG-INTEGRITY", "IL-HISTORY-UNKNOWN")
def test_restoring_an_older_flash_image_is_detected_at_boot():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, MS_PER_HOUR)
    image = flash.read(0, flash.size)
    assert pump.bolus(10000).ok
    run_for(pump, hw, 15 * MS_PER_MINUTE)
    for index in range(flash.size // 4096):
        flash.erase(index * 4096)
    flash.program(0, image)                         # the attacker's rollback
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.state == T.SAFE_STOP and pump2.status()["alarm"] == "IL-LOG-INTEGRITY"
    assert pump2.service_reset(True).ok
    assert pump2.start().ok
    assert pump2.bolus(10000).reason == "IL-HISTORY-UNKNOWN"


def test_service_reset_after_corruption_keeps_clinician_limits():
    limits = Limits({"max_bolus_mu": 1000})
    pump, hw, flash = make_pump(rate_mu_h=1000, limits=None)
    pump.stop()
    assert pump.set_limits({"max_bolus_mu": 1000}).ok
    assert pump.start().ok
    run_for(pump, hw, MS_PER_HOUR)
    raw = bytearray(flash.read(4096 * 0, 4096))
    flash.erase(0)
    raw[300] ^= 0x01                                 # one bit
    flash.program(0, bytes(raw))
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.state == T.SAFE_STOP
    assert pump2.service_reset(True).ok
    assert pump2.controller.limits.max_bolus_mu == 1000
    assert pump2.monitor._limits.max_bolus_mu == 1000
    assert pump2.start().ok                         # the program survived too
    run_for(pump2, hw2, 6 * MS_PER_HOUR)               # the unknown history window passes
    assert pump2.bolus(10000).reason == "IL-BOLUS-MAX"   # checked before the 24 h window
    assert limits.max_bolus_mu == 1000


@pytest.mark.verifies("IL-HISTORY-UNKNOWN")
def test_unknown_history_refuses_boluses_until_the_action_window_passed():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, MS_PER_HOUR)
    for index in range(flash.size // 4096):
        flash.erase(index * 4096)                   # the whole log gone
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.state == T.SAFE_STOP
    assert pump2.service_reset(True).ok and pump2.start().ok
    assert pump2.bolus(1000).reason == "IL-HISTORY-UNKNOWN"
    assert pump2.status()["iob_mu"] >= pump2.controller.limits.max_iob_mu
    run_for(pump2, hw2, MS_PER_HOUR)
    assert hw2.motor.pulses >= 38                   # basal continues within limits
    run_for(pump2, hw2, 5 * MS_PER_HOUR)
    assert pump2.status()["iob_mu"] < 1000          # the action window has passed, but
    assert pump2.bolus(1000).reason == "IL-HISTORY-UNKNOWN"   # the 24 h window is unknown
    run_for(pump2, hw2, 19 * MS_PER_HOUR)
    assert pump2.bolus(1000).ok and pump2.status()["history_known"]


@pytest.mark.verifies("IL-SETTINGS-INTEGRITY")
def test_tampered_settings_record_is_detected():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    store = hw.secure_store
    name = "settings"
    blob = bytearray(store.read(name))
    blob[-20] ^= 1
    store.write(name, bytes(blob))
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.state == T.SAFE_STOP
    assert pump2.status()["alarm"] == "IL-SETTINGS-INTEGRITY"


# -- 4. priming and the reservoir change --------------------------------------------------

def _change(pump, hw):
    assert pump.stop().ok or pump.state == T.STOPPED
    hw.reservoir.mu = 10000                         # the old reservoir, nearly empty
    assert pump.rewind().ok and pump.state == T.REWOUND
    hw.reservoir.mu = 300000                        # a fresh one
    assert pump.load_reservoir().ok and pump.state == T.LOADED


@pytest.mark.verifies("IL-PRIME-MAX")
def test_tubing_fill_is_bounded_per_reservoir_change():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    _change(pump, hw)
    assert pump.prime(10000).code == results.ERR_GUARD     # not confirmed disconnected
    hw.ui.pressed = True
    assert pump.prime(15000).ok
    run_for(pump, hw, 20 * MS_PER_MINUTE)
    hw.ui.pressed = True
    assert pump.prime(10000).reason == "IL-PRIME-MAX"       # 25 U > 20 U per change
    hw.ui.pressed = True
    assert pump.prime(5000).ok


@pytest.mark.verifies("IL-CANNULA-MAX")
def test_cannula_fill_counts_as_delivered_insulin():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    _change(pump, hw)
    hw.ui.pressed = True
    assert pump.connect().ok and pump.state == T.CONNECTED
    assert pump.fill_cannula(5000).reason == "IL-CANNULA-MAX"
    assert pump.fill_cannula(300).ok
    run_for(pump, hw, MS_PER_MINUTE)
    assert pump.state == T.STOPPED
    assert pump.status()["iob_mu"] >= 250
    now = hw.clock.ticks_ms()
    assert pump.controller.ledger.window_total(now, (3600000, 60000)) >= 300


def test_priming_outside_a_reservoir_change_is_refused():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    hw.ui.pressed = True
    assert pump.prime(1000).code == results.ERR_STATE


@pytest.mark.verifies("SM-PRIME-BUDGET")
def test_monitor_keeps_its_own_tubing_budget():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    _change(pump, hw)
    hw.ui.pressed = True
    assert pump.prime(1000).ok
    pump.controller.engine.prime_pulses += 2000                  # fault: far more
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert pump.monitor.latched == "SM-PRIME-BUDGET"
    assert hw.motor.pulses <= 41


# -- 5. a monitor that is independent in fact ---------------------------------------------

def test_controller_cannot_reach_the_motor_or_the_monitor():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    controller = pump.controller
    assert not hasattr(controller, "gate")
    assert not hasattr(controller.hw, "motor")
    for value in _reachable(controller):
        assert value is not hw.motor and value is not pump.monitor and value is not pump


def _reachable(root, limit=4000):
    """Every object reachable from ``root`` through attributes, containers, bound methods
    and closures."""
    seen, stack, out = set(), [root], []
    while stack and len(out) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (int, str, bytes, bool, float, type(None))):
            continue
        seen.add(id(obj))
        out.append(obj)
        if isinstance(obj, dict):
            stack.extend(obj.values())
            continue
        if isinstance(obj, (list, tuple, set)):
            stack.extend(obj)
            continue
        if hasattr(obj, "__self__") and not isinstance(obj, type):
            stack.append(obj.__self__)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                stack.append(cell.cell_contents)
            except ValueError:
                pass
        names = list(getattr(obj, "__dict__", {}).keys())
        for klass in type(obj).__mro__:
            names.extend(getattr(klass, "__slots__", ()))
        for name in names:
            try:
                stack.append(getattr(obj, name))
            except AttributeError:
                pass
    return out


def test_hostile_controller_calling_everything_reachable_gets_at_most_one_pulse():
    pump, hw, _ = make_pump(rate_mu_h=0)
    controller = pump.controller
    args_options = [(), (0,), (1,), (True,), (delivery.BOLUS, 0), (delivery.BASAL, 0),
                    (delivery.PRIME, 0), (0, 100000), ("x", 0)]
    targets = []
    for obj in _reachable(controller):
        if isinstance(obj, (dict, list, tuple, set)) or type(obj).__module__ == "builtins":
            continue
        for name in dir(obj):
            if name.startswith("__"):
                continue
            try:
                attr = getattr(obj, name)
            except Exception:
                continue
            if callable(attr) and not isinstance(attr, type):
                targets.append(attr)
    assert len(targets) > 50
    for _ in range(3):
        for target in targets:
            for args in args_options:
                now = hw.clock.ticks_ms()
                try:
                    target(*((a if a != 0 else now) if isinstance(a, int) and
                             not isinstance(a, bool) else a for a in args))
                except BaseException:
                    pass
        pump.tick()
    assert hw.motor.pulses <= 1, "a hostile controller moved the motor %d times" % (
        hw.motor.pulses)


@pytest.mark.verifies("SM-IOB-MAX")
def test_monitor_enforces_insulin_on_board_itself():
    """Controller's IOB check disabled: the monitor stops stacked boluses."""
    limits = Limits({"min_bolus_interval_ms": MS_PER_MINUTE, "max_1h_mu": 40000,
                     "max_24h_mu": 200000, "max_iob_mu": 15000})
    pump, hw, _ = make_pump(rate_mu_h=0, limits=limits)
    pump.controller.insulin_on_board = lambda now: 0          # fault
    for _ in range(5):
        pump.bolus(10000)
        run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.monitor.latched == "SM-IOB-MAX"
    assert hw.motor.pulses * PULSE_MU <= 15000 + 2 * PULSE_MU + 1000


@pytest.mark.verifies("SM-BOLUS-INTERVAL")
def test_monitor_enforces_the_bolus_interval_itself():
    pump, hw, _ = make_pump(rate_mu_h=0)
    pump.controller.last_bolus = None
    original = pump.controller.bolus

    def forgetful(now, *args):
        pump.controller.last_bolus = None                       # fault
        return original(now, *args)
    pump.controller.bolus = forgetful
    assert pump.bolus(500).ok
    run_for(pump, hw, MS_PER_MINUTE)
    result = pump.bolus(500)
    assert not result.ok and pump.monitor.latched == "SM-BOLUS-INTERVAL"
    assert hw.motor.pulses == 20


def test_no_spurious_latch_after_reboots_at_random_points():
    pump, hw, flash = make_pump(rate_mu_h=2000, flash=new_flash(24))
    for i in range(40):
        if i % 5 == 0:
            pump.bolus(2000)
        run_for(pump, hw, (7 + i * 13 % 50) * MS_PER_MINUTE)
        pump, hw = _reboot(hw, flash)
        assert not pump.monitor.latched, (i, pump.monitor.latched)
        assert pump.state == T.DELIVERING, (i, pump.state, pump.status()["alarm"])


# -- 6. limits on all insulin -----------------------------------------------------------

def test_high_temp_basal_is_capped_by_max_iob():
    limits = Limits({"max_temp_basal_mu_h": 15000, "max_1h_mu": 40000, "max_24h_mu": 200000,
                     "max_temp_percent": 250})
    pump, hw, _ = make_pump(rate_mu_h=3000, limits=limits)
    assert pump.bolus(10000).ok
    assert pump.temp_basal(10 * MS_PER_HOUR, rate_mu_h=12000).ok
    worst = 0
    for _ in range(10 * 12):
        run_for(pump, hw, 5 * MS_PER_MINUTE)
        worst = max(worst, _excess_iob(hw, 3000, pump.controller.limits))
    assert worst <= limits.max_iob_mu + PULSE_MU, worst


def _excess_iob(hw, scheduled_mu_h, limits):
    """Insulin on board from the motor's own log above a scheduled basal (mU)."""
    now = hw.clock.ticks_ms()
    total = 0
    for tick in hw.motor.log:
        minutes = (now - tick) // MS_PER_MINUTE
        total += iob.dose_on_board(PULSE_MU, minutes, limits.peak_minutes, limits.dia_minutes)
    basal = 0
    step = MS_PER_MINUTE
    start = max(0, now - limits.dia_minutes * MS_PER_MINUTE)
    first = hw.motor.log[0] if hw.motor.log else now
    for t in range(max(start, first), now, step):
        minutes = (now - t) // MS_PER_MINUTE
        basal += iob.dose_on_board(scheduled_mu_h * step // MS_PER_HOUR, minutes,
                                   limits.peak_minutes, limits.dia_minutes)
    return total - basal


@pytest.mark.verifies("IL-TEMP-BASAL-MAX")
def test_temp_basal_above_four_times_the_highest_scheduled_rate_is_refused():
    limits = Limits({"max_temp_basal_mu_h": 15000, "max_1h_mu": 20000, "max_24h_mu": 200000})
    pump, hw, _ = make_pump(rate_mu_h=1000, limits=limits)
    assert pump.temp_basal(MS_PER_HOUR, rate_mu_h=4025).reason == "IL-TEMP-BASAL-MAX"
    assert pump.temp_basal(MS_PER_HOUR, rate_mu_h=4000).ok


def test_basal_owed_during_boluses_is_delivered():
    pump, hw, _ = make_pump(rate_mu_h=1500)
    for hour in (2, 8, 14):
        run_for(pump, hw, hour * MS_PER_HOUR - hw.clock.ticks_ms())
        assert pump.bolus(4000).ok
    run_for(pump, hw, MS_PER_DAY - hw.clock.ticks_ms())
    delivered = hw.motor.pulses * PULSE_MU
    assert abs(delivered - (36000 + 12000)) <= PULSE_MU, delivered


# -- 7. time that lies -----------------------------------------------------------------

def test_wrapping_ticks_are_extended_to_a_monotonic_count():
    from pump.clock import ExtendedClock, WrappingTicks
    raw = WrappingTicks(period=1 << 30, start=(1 << 30) - 5000)
    clock = ExtendedClock(raw.ticks_ms, raw.ticks_diff, wall_s=1767225600)
    hw = MemoryHardware(clock=clock, reservoir_mu=400000)
    pump, hw, _ = make_pump(rate_mu_h=1000, hw=hw)
    end = clock.ticks_ms() + 13 * MS_PER_DAY
    while clock.ticks_ms() < end:
        wake = pump.tick()
        raw.advance(max(1, min(wake - clock.ticks_ms(), MS_PER_MINUTE)))
    assert pump.state == T.DELIVERING and not pump.monitor.latched
    assert raw.wraps >= 1
    assert 13 * 24 * 40 - 5 <= hw.motor.pulses <= 13 * 24 * 40 + 1


def test_tick_counter_restarting_at_boot_keeps_windows():
    """A board without RTC: ticks start again at 0 after a reboot."""
    pump, hw, flash = make_pump(rate_mu_h=1000)
    hw.clock.advance(10 * MS_PER_HOUR)
    pump.tick()
    pump.acknowledge()
    assert pump.bolus(10000).ok
    run_for(pump, hw, 15 * MS_PER_MINUTE)
    from pump.hal import MemoryClock
    restarted = MemoryClock(ticks_ms=0)
    hw2 = MemoryHardware(clock=restarted)
    hw2.secure_store = hw.secure_store
    pump2 = Pump(hw2, flash, KEY)
    assert pump2.state == T.DELIVERING, pump2.status()["alarm"]
    assert pump2.bolus(10000).code == results.ERR_INTERLOCK
    run_for(pump2, hw2, 2 * MS_PER_HOUR)
    assert pump2.state == T.DELIVERING and hw2.motor.pulses >= 78


@pytest.mark.verifies("IL-CLOCK-JUMP")
def test_forward_jump_of_the_tick_counter_does_not_reopen_limits():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.bolus(10000).ok
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    hw.clock.advance(25 * MS_PER_HOUR)              # the counter jumps
    pump.tick()
    assert pump.status()["alarm"] == "IL-CLOCK-JUMP"
    assert pump.acknowledge().ok
    run_for(pump, hw, MS_PER_HOUR)
    assert not pump.bolus(10000).ok


# -- 8. inputs --------------------------------------------------------------------------

class LyingInt(int):
    def __le__(self, other):
        return True

    def __ge__(self, other):
        return True

    def __gt__(self, other):
        return False

    def __lt__(self, other):
        return False


def test_int_subclasses_are_refused():
    assert not is_int(LyingInt(5)) and not is_int(True) and is_int(5)
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)
    result = pump.set_limits({"max_bolus_mu": LyingInt(1000000)})
    assert result.code == results.ERR_TYPE
    assert pump.controller.limits.max_bolus_mu == 10000
    assert pump.monitor._limits.max_bolus_mu == 10000


def test_record_refusal_survives_a_hostile_str():
    class Hostile:
        def __str__(self):
            raise RuntimeError("boom")
    pump, hw, _ = make_pump(rate_mu_h=1000)
    pump.record_refusal(Hostile(), Hostile())
    assert pump.state == T.DELIVERING


# -- found by attacking the design from its documentation ---------------------------------

def test_reboot_loop_that_starves_basal_is_alarmed():
    """H-THERAPY-LOSS: a brown-out loop rebooting every minute restarts the basal block each
    time, so no pulse ever comes while the pump believes it delivers."""
    pump, hw, flash = make_pump(rate_mu_h=500)           # one pulse every 3 min
    run_for(pump, hw, MS_PER_HOUR)
    before = hw.motor.pulses
    for _ in range(150):
        run_for(pump, hw, 60 * 1000)
        pump, hw = _reboot(hw, flash)
    assert hw.motor.pulses - before < 30                 # basal really was starved
    run_for(pump, hw, MS_PER_MINUTE)
    assert "IL-NO-DELIVERY" in pump.status()["alerts"] and hw.ui.alarm_active


def test_near_zero_temp_basal_counts_as_missing_basal():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.temp_basal(24 * MS_PER_HOUR, rate_mu_h=25).ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    assert "IL-NO-DELIVERY" in pump.status()["alerts"]
    assert not pump.status()["temp_basal"]               # the peer's low temp was ended
    before = hw.motor.pulses
    run_for(pump, hw, MS_PER_HOUR)
    assert hw.motor.pulses - before >= 38


def test_low_percent_temps_add_up_to_missing_basal():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.temp_basal(6 * MS_PER_HOUR, percent=25).ok      # 75 % missing
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert "IL-NO-DELIVERY" not in pump.status()["alerts"]      # 1.5 h of program missing
    run_for(pump, hw, 45 * MS_PER_MINUTE)
    assert "IL-NO-DELIVERY" in pump.status()["alerts"]


def test_late_main_loop_alarms_whatever_the_state():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.suspend().ok
    hw.clock.advance(30 * MS_PER_MINUTE)
    pump.tick()
    assert pump.state == T.ALARM and pump.status()["alarm"] == "IL-WATCHDOG"
    assert hw.ui.alarm_active


@pytest.mark.verifies("IL-RESERVOIR-EMPTY")
def test_empty_reservoir_alarm_leads_to_a_reservoir_change():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    hw.reservoir.mu = 50
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    assert pump.status()["alarm"] == "IL-RESERVOIR-EMPTY"
    assert pump.acknowledge().ok and pump.state == T.STOPPED   # nothing to resume with
    assert pump.rewind().ok
    hw.reservoir.mu = 300000
    assert pump.load_reservoir().ok
    hw.ui.pressed = True
    assert pump.prime(10000).ok
    run_for(pump, hw, 15 * MS_PER_MINUTE)
    hw.ui.pressed = True
    assert pump.connect().ok and pump.finish_change().ok and pump.start().ok


def test_tubing_budget_is_not_renewed_by_a_reboot_or_the_same_reservoir():
    pump, hw, flash = make_pump(rate_mu_h=1000, start=False)
    _change(pump, hw)
    hw.ui.pressed = True
    assert pump.prime(15000).ok
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    pump, hw = _reboot(hw, flash)                      # mid-fill: the change starts over
    assert pump.state == T.REWOUND
    assert pump.load_reservoir().ok                    # the same reservoir
    hw.ui.pressed = True
    assert pump.prime(10000).reason == "IL-PRIME-MAX"
    hw.ui.pressed = True
    assert pump.prime(5000).ok
    run_for(pump, hw, 5 * MS_PER_MINUTE)
    pump.stop()
    hw.ui.pressed = True
    assert pump.connect().ok and pump.finish_change().ok
    assert pump.rewind().ok and pump.load_reservoir().ok     # again, same reservoir
    hw.ui.pressed = True
    assert pump.prime(1000).reason == "IL-PRIME-MAX"


def test_unknown_history_refuses_temp_basal_above_the_program():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    for index in range(flash.size // 4096):
        flash.erase(index * 4096)
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.service_reset(True).ok and pump2.start().ok
    assert pump2.temp_basal(MS_PER_HOUR, percent=200).reason == "IL-HISTORY-UNKNOWN"
    assert pump2.temp_basal(MS_PER_HOUR, rate_mu_h=4000).reason == "IL-HISTORY-UNKNOWN"
    assert pump2.temp_basal(MS_PER_HOUR, percent=50).ok


def test_tampered_settings_keep_the_limits_the_log_recorded():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    pump.stop()
    assert pump.set_limits({"max_bolus_mu": 2000, "max_iob_mu": 2000}).ok
    blob = bytearray(hw.secure_store.read("settings"))
    blob[5] ^= 1
    hw.secure_store.write("settings", bytes(blob))
    pump2, hw2 = _reboot(hw, flash)
    assert pump2.status()["alarm"] == "IL-SETTINGS-INTEGRITY"
    assert pump2.service_reset(True).ok
    assert pump2.controller.limits.max_bolus_mu == 2000
    assert pump2.monitor._limits.max_iob_mu == 2000


@settings(max_examples=examples(20), deadline=None)
@given(rate=st.integers(200, 2000).map(lambda r: r // 25 * 25),
       boluses=st.lists(st.tuples(st.integers(30, 23 * 60), st.integers(1, 120)),
                        max_size=4))
def test_a_day_delivers_the_program_plus_the_boluses(rate, boluses):
    """H-UNDERDOSE: over a day, delivered = programmed basal + accepted boluses, to within
    one pulse, however boluses and basal interleave."""
    limits = Limits({"max_iob_mu": 50000, "max_1h_mu": 40000, "max_24h_mu": 200000,
                     "min_bolus_interval_ms": MS_PER_MINUTE})
    pump, hw, _ = make_pump(rate_mu_h=rate, limits=limits)
    accepted = 0
    for minute, pulses in sorted(boluses):
        target = minute * MS_PER_MINUTE
        if target > hw.clock.ticks_ms():
            run_for(pump, hw, target - hw.clock.ticks_ms())
        if pump.bolus(pulses * PULSE_MU).ok:
            accepted += pulses * PULSE_MU
    run_for(pump, hw, MS_PER_DAY - hw.clock.ticks_ms())
    delivered = hw.motor.pulses * PULSE_MU
    assert abs(delivered - (rate * 24 + accepted)) <= PULSE_MU, (delivered, rate * 24, accepted)


# -- found by a second attack from the documentation ---------------------------------------

def test_reboot_loop_without_rtc_is_alarmed():
    """A board without RTC in a brown-out loop: each boot restarts the tick counter, so pump
    time must still move on (the anchor's heartbeat) for missing basal to be counted."""
    from pump.hal import MemoryClock
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    for _ in range(200):
        fresh = MemoryHardware(clock=MemoryClock(ticks_ms=0))
        fresh.secure_store, fresh.motor.steps = hw.secure_store, hw.motor.steps
        pump, hw = Pump(fresh, flash, KEY), fresh
        run_for(pump, hw, 60 * 1000)
    assert "IL-NO-DELIVERY" in pump.status()["alerts"] and hw.ui.alarm_active


def test_a_main_loop_late_by_less_than_the_watchdog_loses_no_basal():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    for _ in range(6 * 60):                       # ticks every 60 s, whatever it asked for
        hw.clock.advance(60 * 1000)
        pump.tick()
    assert hw.motor.pulses >= 6 * 40 - 1


def test_a_loop_too_slow_to_keep_up_is_counted_as_missing_basal():
    pump, hw, _ = make_pump(rate_mu_h=2400)       # 64 pulses an hour
    for _ in range(4 * 36):                       # one tick every 100 s: one pulse at most
        hw.clock.advance(100 * 1000)
        pump.tick()
    assert hw.motor.pulses <= 4 * 36
    assert pump.status()["no_basal_ms"] >= MS_PER_HOUR
    for _ in range(3 * 36):
        hw.clock.advance(100 * 1000)
        pump.tick()
    assert "IL-NO-DELIVERY" in pump.status()["alerts"]


def test_an_rtc_jumping_at_every_power_up_cannot_add_up_elapsed_time():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    assert pump.bolus(10000).ok
    run_for(pump, hw, 15 * MS_PER_MINUTE)
    accepted = 0
    for _ in range(12):                           # 1 s glitch, RTC +15 min each time
        hw.clock.advance(15 * MS_PER_MINUTE)
        pump, hw = reboot(hw, flash)
        accepted += pump.bolus(10000).ok
        run_for(pump, hw, 1000)
    assert accepted == 0


@pytest.mark.verifies("IL-ROLLING-1H")
def test_a_bolus_that_basal_would_push_over_the_hour_is_refused_not_alarmed_later():
    pump, hw, _ = make_pump(rate_mu_h=2000)
    assert pump.bolus(10000).reason == "IL-ROLLING-1H"     # 10 U + 2 U/h basal > 12 U
    assert pump.bolus(9000).ok
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert pump.state == T.DELIVERING, pump.status()["alarm"]


@pytest.mark.verifies("IL-HISTORY-UNKNOWN")
def test_after_history_loss_the_24h_window_is_taken_as_full():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    for index in range(flash.size // 4096):
        flash.erase(index * 4096)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.service_reset(True).ok and pump2.start().ok
    run_for(pump2, hw2, 6 * MS_PER_HOUR)                   # past the insulin-action window
    assert pump2.bolus(5000).reason == "IL-HISTORY-UNKNOWN"
    assert pump2.state == T.DELIVERING                     # basal still runs
    run_for(pump2, hw2, 19 * MS_PER_HOUR)
    assert pump2.bolus(5000).ok


@pytest.mark.verifies("IL-SETTINGS-INTEGRITY")
def test_a_removed_settings_record_is_detected():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    del hw.secure_store.records["settings"]
    pump2, hw2 = reboot(hw, flash)
    assert pump2.status()["alarm"] == "IL-SETTINGS-INTEGRITY"



# -- found by a third attack from the documentation ----------------------------------------

def test_lowering_the_program_after_history_loss_does_not_open_the_24h_window():
    pump, hw, flash = make_pump(rate_mu_h=2400)
    run_for(pump, hw, 20 * MS_PER_HOUR)
    for index in range(flash.size // 4096):
        flash.erase(index * 4096)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.service_reset(True).ok
    assert pump2.set_basal_program([25] * 48).ok and pump2.start().ok
    run_for(pump2, hw2, 6 * MS_PER_HOUR)
    assert pump2.bolus(5000).reason == "IL-HISTORY-UNKNOWN"


def test_power_off_time_counts_as_missing_basal():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, MS_PER_HOUR)
    hw.clock.advance(3 * MS_PER_HOUR)                  # off for 3 h (the RTC saw it)
    pump2, hw2 = reboot(hw, flash)
    run_for(pump2, hw2, MS_PER_MINUTE)
    assert pump2.status()["no_basal_ms"] >= 3 * MS_PER_HOUR
    assert "IL-NO-DELIVERY" in pump2.status()["alerts"]


def test_reboot_loop_with_short_uptime_is_alarmed():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    run_for(pump, hw, 10 * MS_PER_MINUTE)
    for _ in range(150):                               # up 50 s, off at once
        run_for(pump, hw, 50 * 1000)
        pump, hw = reboot(hw, flash)
    run_for(pump, hw, 1000)
    assert "IL-NO-DELIVERY" in pump.status()["alerts"] and hw.ui.alarm_active


def test_missing_basal_and_escalation_survive_a_reboot():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    assert pump.stop().ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    level = pump.controller.alerts.level("IL-NO-DELIVERY")
    missing = pump.status()["no_basal_ms"]
    assert level >= 2
    pump2, hw2 = reboot(hw, flash)
    assert pump2.status()["no_basal_ms"] >= missing
    assert pump2.controller.alerts.level("IL-NO-DELIVERY") >= level


def test_a_temp_basal_after_a_bolus_must_fit_the_hour_with_it():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.bolus(8500).ok
    assert pump.temp_basal(2 * MS_PER_HOUR, rate_mu_h=4000).reason == "IL-ROLLING-1H"
    run_for(pump, hw, 2 * MS_PER_HOUR)
    assert pump.state == T.DELIVERING


def test_acknowledging_does_not_silence_missing_basal():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    assert pump.stop().ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    assert pump.acknowledge(resume=False).ok
    assert "IL-NO-DELIVERY" in pump.status()["alerts"] and hw.ui.alarm_active


def test_missing_basal_is_remembered_across_a_damaged_log_and_its_service():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    assert pump.stop().ok
    run_for(pump, hw, 3 * MS_PER_HOUR)
    for index in range(flash.size // 4096):
        flash.erase(index * 4096)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.state == T.SAFE_STOP
    assert pump2.service_reset(True).ok and pump2.state == T.STOPPED
    assert pump2.status()["no_basal_ms"] >= 3 * MS_PER_HOUR
    assert "IL-NO-DELIVERY" in pump2.status()["alerts"] and hw2.ui.alarm_active


@pytest.mark.verifies("IL-ROLLING-1H", "IL-ROLLING-24H")
def test_limits_the_program_could_not_run_under_are_refused():
    pump, hw, _ = make_pump(rate_mu_h=1000, start=False)          # 24 U a day
    assert pump.set_limits({"max_24h_mu": 20000, "max_1h_mu": 5000}).reason == \
        "IL-ROLLING-24H"
    assert pump.set_limits({"max_1h_mu": 1000}).reason == "IL-ROLLING-1H"
    assert pump.set_limits({"max_24h_mu": 30000}).ok


def test_a_day_in_safe_stop_after_tampering_counts_as_missing_basal():
    """Found by the deep stateful run: the anchor's heartbeat stopped with the log, so a
    power cycle and a service reset forgot a day without basal."""
    pump, hw, flash = make_pump(rate_mu_h=400)
    run_for(pump, hw, 20 * MS_PER_HOUR)
    newest, best = 0, -1
    for index in range(8):
        raw = flash.read(index * 4096, 8)
        if raw[:4] == b"PLG1" and int.from_bytes(raw[4:8], "big") > best:
            newest, best = index, int.from_bytes(raw[4:8], "big")
    flash.erase(newest * 4096)
    pump, hw = reboot(hw, flash)
    assert pump.state == T.SAFE_STOP
    run_for(pump, hw, 24 * MS_PER_HOUR)
    pump, hw = reboot(hw, flash)
    assert pump.service_reset(True).ok
    assert pump.status()["no_basal_ms"] >= 2 * MS_PER_HOUR
    assert "IL-NO-DELIVERY" in pump.status()["alerts"] and hw.ui.alarm_active


def test_power_off_while_stopped_counts_as_missing_basal():
    pump, hw, flash = make_pump(rate_mu_h=1000)
    assert pump.stop().ok
    hw.clock.advance(3 * MS_PER_HOUR)
    pump2, hw2 = reboot(hw, flash)
    assert pump2.status()["no_basal_ms"] >= 3 * MS_PER_HOUR


def test_a_stale_button_press_does_not_confirm_a_later_suspend():
    pump, hw, _ = make_pump(rate_mu_h=1000)
    hw.ui.pressed = True                               # pressed for nothing
    run_for(pump, hw, 30 * MS_PER_MINUTE)
    assert pump.suspend(MS_PER_HOUR).ok
    assert pump.controller.suspend_confirmed is False
