"""The closed loop end to end: the firmware, the secure channel, the patient, the outputs.

Hazards: a simulation that silently drops insulin (the patient must get exactly what the
motor pushed into the line, no more, no less); a run that is not reproducible (a tester
must replay an attack and see the same patient); a dead link that hangs the run; a report
that is not drawn in a real browser.
"""

import dataclasses
import json
import subprocess
import sys

import pytest

from pump import audit_log
from sim import scenario as S
from sim.loop import output
from sim.loop.simulation import Simulation
from sim.loop.world import LOG_KEY
from bootloader.flash import FlashRegion

from test_report_browser import DRAWN, MEASURE, browser  # noqa: F401 (a fixture)


def run_once(scenario=None, patient="adult#001", **options):
    simulation = Simulation(scenario or S.default(), patient, **options)
    return simulation, simulation.run()


@pytest.fixture(scope="module")
def default_run():
    return run_once()


def test_the_same_seed_gives_byte_identical_outputs_and_another_seed_does_not(tmp_path):
    first = output.write(run_once(seed=7)[1], tmp_path / "a")
    second = output.write(run_once(seed=7)[1], tmp_path / "b")
    other = output.write(run_once(seed=8)[1], tmp_path / "c")
    for name in ("metrics.json", "trajectory.csv", "report.html"):
        assert open(first[name], "rb").read() == open(second[name], "rb").read(), name
    assert open(first["trajectory.csv"], "rb").read() != \
        open(other["trajectory.csv"], "rb").read()


def test_every_message_goes_through_the_secure_channel_and_the_log_verifies(default_run):
    simulation, run = default_run
    channel = run["channel"]
    assert channel["handshakes"] == 1 and channel["refusals"] == {}
    assert channel["messages"] >= 2 * 288                  # a reading every 5 min, answered
    world = simulation.world
    assert world.manager.stats["requests"] >= 288
    records = audit_log.verify(FlashRegion(world.flash, 0, world.flash.size), LOG_KEY,
                               world.pump.log_head())
    commands = [r.data["op"] for r in records if r.type == audit_log.EV_COMMAND]
    assert commands.count("bolus") == 3 and "set_wall_clock" in commands
    assert len(world.pump.controller.cgm.readings) >= 2


def test_the_patient_gets_exactly_what_the_motor_delivered(default_run):
    simulation, run = default_run
    hw = simulation.world.hw
    delivered_u = run["metrics"]["insulin"]["total_u"]
    assert delivered_u == pytest.approx(hw.motor.steps * 0.025 - hw.line.to_air_mu / 1000.0
                                        - hw.line.trapped_mu / 1000.0)
    assert run["metrics"]["insulin"]["bolus_u"] == pytest.approx(
        sum(b["units"] for b in run["boluses"]))
    assert len(run["boluses"]) == 3 and len(run["carbs"]) == 3
    glucose = run["metrics"]["glucose_true"]
    assert glucose["samples"] == 288 and 60 < glucose["mean_mg_dl"] < 200
    assert run["samples"][0]["t_min"] == 0 and run["samples"][-1]["t_min"] == 1435


def test_an_overcounted_meal_is_caught_by_low_glucose_suspend():
    """Carbs counted double: the calculator boluses too much; PLGS must hold basal."""
    meals = tuple(dataclasses.replace(m, counted_error_pct=100) for m in S.DEFAULT_MEALS)
    scenario = dataclasses.replace(S.default(), meals=meals)
    _, run = run_once(scenario)
    holds = [e for e in run["events"] if e["kind"] == "suspend" and e["id"] == "IL-PLGS"]
    assert holds and run["suspends"]
    _, baseline = run_once()
    assert run["metrics"]["insulin"]["basal_u"] < baseline["metrics"]["insulin"]["basal_u"]


def with_faults(text):
    return S.loads(text, "faults.toml")


def test_an_occluded_line_alarms_and_the_patient_clears_it():
    simulation = Simulation(with_faults('[[faults]]\nkind = "occlusion"\ntime = "03:00"\n'),
                            "adult#001")
    run = simulation.run()
    alarms = [e["id"] for e in run["events"] if e["kind"] == "alarm"]
    assert "IL-OCCLUSION" in alarms
    assert simulation.world.hw.line.trapped_mu == 0          # cleared: the surge went in
    assert run["samples"][-1]["state"] == "delivering"


def test_the_aid_controller_sets_temp_basals_over_the_channel():
    simulation, run = run_once(controller="aid", days=2)
    assert simulation.recorder.decisions > 0
    temps = [r for r in audit_log.verify(
        FlashRegion(simulation.world.flash, 0, simulation.world.flash.size), LOG_KEY)
        if r.type == audit_log.EV_COMMAND and r.data["op"] == "temp_basal"]
    assert temps
    for refusal in run["channel"]["refusals"]:           # the pump's limits still apply
        assert refusal.startswith("temp_basal: IL-"), refusal
    # the loop keeps its zero temps inside the pump's missing-basal bound, and does no
    # worse than the patient alone
    alarms = [e["id"] for e in run["events"] if e["kind"] == "alarm"]
    assert alarms.count("IL-NO-DELIVERY") <= 2, alarms
    _, alone = run_once(days=2)
    with_loop, without = run["metrics"]["glucose_true"], alone["metrics"]["glucose_true"]
    assert with_loop["time_below_54_pct"] == 0.0
    assert with_loop["time_in_range_70_180_pct"] >= without["time_in_range_70_180_pct"] - 2


def test_three_days_include_a_reservoir_change_and_basal_goes_on():
    simulation, run = run_once(days=3)
    changes = [e for e in run["events"] if e["id"] == "reservoir-change"]
    assert len(changes) == 1
    assert run["samples"][-1]["state"] == "delivering"
    assert run["samples"][-1]["reservoir_u"] > 250


def test_a_dead_link_ends_the_run_cleanly_with_what_was_simulated(tmp_path):
    simulation = Simulation(S.default(), "adult#001")
    receive = simulation.world.manager.receive

    def dying(payload, now, *rest):
        return receive(payload, now, *rest) if now < 6 * 3600000 else []
    simulation.world.manager.receive = dying
    run = simulation.run()
    assert run["ended"] and "secure channel down" in run["ended"]
    assert 60 < len(run["samples"]) < 288
    paths = output.write(run, tmp_path)
    assert json.loads(open(paths["metrics.json"]).read())["ended"] == run["ended"]
    # the figures are of the hours simulated, not of a whole day: insulin per day is the
    # rate of those hours (6 h of a day is not a quarter of the daily dose per day)
    figures = run["metrics"]
    assert 0.25 <= figures["days"] < 0.26
    insulin = figures["insulin"]
    assert insulin["per_day_u"] == pytest.approx(insulin["total_u"] / figures["days"],
                                                 rel=1e-3)
    from sim.commands.run import headline
    assert "of the first 6.0 h only" in headline(figures, run["ended"])


def _pumpsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sim.cli", "run", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_the_command_writes_the_files_and_prints_the_headline(tmp_path):
    done = _pumpsim("--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "time in range" in done.stdout and "report.html" in done.stdout
    for name in ("report.html", "metrics.json", "trajectory.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 1000


def test_bad_input_is_one_line_naming_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\ndays = 1\n\n[[meals]]\ntime = \"07:00\"\ncarbs_g = 900\n")
    done = _pumpsim("--scenario", str(bad), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert "bad.toml:6: meals[0].carbs_g" in done.stderr and "Traceback" not in done.stderr
    done = _pumpsim("--patient", "adult#99", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "adult#001" in done.stderr and "adults" in done.stderr
    done = _pumpsim("--mode", "real", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "pumpsim device --pty" in done.stderr


def test_several_patients_run_on_worker_processes(tmp_path):
    done = _pumpsim("--patient", "adult#002", "--seed", "1", "2", "--workers", "2",
                    "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for seed in (1, 2):
        assert (tmp_path / ("adult002-seed%d" % seed) / "report.html").exists()
    rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith("adult#002,1,1,none,")
    assert "summary of 2 runs" in done.stdout


def test_the_report_of_a_real_run_is_drawn_in_chromium(browser, default_run, tmp_path):  # noqa: F811
    paths = output.write(default_run[1], tmp_path)
    browser.get((tmp_path / "report.html").resolve().as_uri())
    logs = browser.get_log("browser")
    assert [e for e in logs if e["level"] in ("SEVERE", "WARNING")] == []
    plots = browser.execute_script(MEASURE, DRAWN)
    assert set(plots) == set(DRAWN)
    for name, plot in plots.items():
        assert plot["width"] > 400 and plot["height"] > 60 and plot["drawn"] > 0, name
    png = browser.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and paths["report.html"]


def test_a_reboot_resumes_therapy_and_the_gateway_sets_up_a_new_session():
    """H-THERAPY-LOSS in the loop: the pump power-cycles at 03:00 and must go on."""
    simulation = Simulation(with_faults('[[faults]]\nkind = "reboot"\ntime = "03:00"\n'),
                            "adult#001")
    run = simulation.run()
    assert simulation.world.boots == 2
    assert run["channel"]["handshakes"] == 2 and run["channel"]["reconnects"] >= 1
    after = [s for s in run["samples"] if 185 <= s["t_min"] <= 600]
    assert after and all(s["state"] == "delivering" and s["basal_u_h"] > 0 for s in after)
    refused = [e for e in run["events"] if e["kind"] == "refusal"]
    assert refused == [], refused                  # no reading refused as stale or future
    security = [e["id"] for e in run["events"] if e["kind"] == "security"]
    assert security and all(i.startswith("SESSION-UNKNOWN") for i in security)
    assert len(run["boluses"]) == 3


def test_a_sensor_failure_leaves_a_gap_and_a_flat_battery_is_replaced():
    simulation = Simulation(with_faults(
        '[[faults]]\nkind = "sensor-failure"\ntime = "02:00"\nduration_min = 60\n'
        '[[faults]]\nkind = "battery-drain"\ntime = "10:00"\n'), "adult#001")
    run = simulation.run()
    gap = [s for s in run["samples"] if 120 <= s["t_min"] < 180]
    assert len(gap) == 12 and all(s["cgm"] is None for s in gap)
    alarms = [e["id"] for e in run["events"] if e["kind"] == "alarm"]
    assert "IL-BATTERY-CRITICAL" in alarms
    assert run["samples"][-1]["battery_pct"] > 90 and run["samples"][-1]["state"] == \
        "delivering"
    assert {e["id"] for e in run["events"] if e["kind"] == "fault"} == {
        "sensor-failure", "battery-drain"}


def test_settings_and_outputs_are_checked_before_the_simulation(tmp_path):
    """Every refusal one line, exit 2, before any simulated time is spent."""
    high = tmp_path / "high.toml"
    high.write_text("[therapy]\nbasal_u_h = 10\n")
    done = _pumpsim("--scenario", str(high), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "IL-ROLLING-24H" in done.stderr
    assert "Traceback" not in done.stderr
    profile = tmp_path / "profile.toml"
    profile.write_text('[run]\nprofile = "insecure"\n')
    done = _pumpsim("--scenario", str(profile), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "run.profile 'insecure'" in done.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    done = _pumpsim("--out", str(a_file))
    assert done.returncode == 2 and "cannot write into --out" in done.stderr
    done = _pumpsim("--days", "4000", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "1..3660" in done.stderr
    done = _pumpsim("--patient", "", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "unknown patient ''" in done.stderr


def test_a_basal_above_the_default_maximum_is_set_by_the_clinician_limits():
    scenario = S.loads("[therapy]\nbasal_u_h = 4\n")
    simulation, run = run_once(scenario)
    assert run["ended"] is None and run["samples"][10]["basal_u_h"] == 4.0


def test_a_daily_reservoir_change_of_a_nearly_full_reservoir_is_skipped():
    scenario = S.loads('[run]\ndays = 2\n[behaviour]\nreservoir_change_every_days = 1\n'
                       'reservoir_change_time = "09:00"\n')
    _, run = run_once(scenario)
    kinds = [e["id"] for e in run["events"] if e["kind"] == "warning"]
    assert "reservoir-change-skipped" in kinds and "reservoir-change" in kinds
    assert {s["state"] for s in run["samples"]} <= {"delivering", "loaded", "primed",
                                                    "connected", "stopped", "priming",
                                                    "filling_cannula"}
    assert run["samples"][-1]["state"] == "delivering"
    assert "IL-NO-DELIVERY" not in [e["id"] for e in run["events"]]


def test_ctrl_c_stops_the_workers_without_tracebacks(tmp_path):
    import os
    import signal
    import time
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", "--patient", "adults", "--days", "30",
         "--workers", "2", "--out", str(tmp_path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        # a shell's background job ignores SIGINT, and its children with it: as a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err, err


def test_a_meal_bolus_withheld_for_a_low_is_asked_for_again_after_the_low():
    _, run = run_once(patient="child#008")
    skipped = [e["t_min"] for e in run["events"] if e["id"] == "bolus-skipped"
               and "below 70" in e["text"]]
    assert skipped
    for minute in skipped:
        later = [b for b in run["boluses"] if minute < b["t_min"] <= minute + 45]
        assert later, (minute, run["boluses"])


def test_a_bolus_cut_short_counts_what_the_pump_gave_not_what_was_asked():
    scenario = dataclasses.replace(S.default(), faults=(S.Fault("occlusion", 7 * 60),))
    simulation = Simulation(scenario, "adult#001", days=1)
    run = simulation.run()
    first = run["boluses"][0]
    assert first["units"] == 5.7 and 0 < first["delivered_u"] < 5.7     # cut by the kink
    assert any(e["id"] == "BOLUS-SHORT" for e in run["events"])
    records = audit_log.verify(FlashRegion(simulation.world.flash, 0,
                                           simulation.world.flash.size), LOG_KEY)
    given = sum(r.data[1] for r in records if r.type == audit_log.EV_DELIVERED)
    assert abs(run["metrics"]["insulin"]["bolus_u"] - given / 1000.0) < 1e-9


def test_a_safe_stop_is_an_alarm_on_the_report():
    """H-RUNAWAY: the motor moves by itself; the safety monitor latches safe-stop (no
    delivery + alarm). The report must show it: a silent stop is a hazard of its own."""
    simulation = Simulation(S.default(), "adult#001")
    assert simulation.start()
    simulation.advance(2 * 3600000)
    simulation.world.hw.motor.extra_steps = 1          # a runaway driver from now on
    simulation.advance(3 * 3600000)
    assert simulation.world.pump.state == "safe_stop"
    stops = [e for e in simulation.recorder.events if e["kind"] == "alarm" and
             e["text"].startswith("safe stop")]
    assert len(stops) == 1 and stops[0]["id"].startswith("SM-"), stops
    assert 120 <= stops[0]["t_min"] <= 180


def test_sigterm_to_the_command_stops_its_workers_too(tmp_path):
    """A service manager stops ``pumpsim run`` with SIGTERM to it alone: its workers must
    not go on simulating (and writing) as orphans."""
    import os
    import signal
    import time
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", "--patient", "adults", "--days", "30",
         "--workers", "2", "--out", str(tmp_path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(4)
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    for _ in range(100):                        # the group empties (30 days would not)
        left = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True,
                              text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert not left, "orphaned workers: %s" % left
