"""A software update during a simulated day: the gateway's ImageDelivery sends the signed
image over the secure channel while basal runs, the patient confirms on the pump's
button, the real bootloader swaps and test-boots, the new image confirms itself; the pause
is bounded and shown. Declined and failed updates leave the old image running."""

import dataclasses
import pathlib

from bootloader import flash_map as fm
from bootloader.otp import OtpFuses
from pump import therapy_table as T
from sim import scenario as S
from sim.loop.simulation import Simulation

UPDATE = S.Update(time_min=14 * 60, version=(2, 0, 0, 0))


def run_with(**change):
    scenario = dataclasses.replace(S.default(), updates=(dataclasses.replace(UPDATE, **change),))
    simulation = Simulation(scenario, "adult#001")
    return simulation, simulation.run()


def counter(simulation):
    software = simulation.world.software
    return OtpFuses(software.map.region(software.flash, fm.OTP)).security_counter()


def updates(run):
    return [e["id"] for e in run["events"] if e["kind"] == "update"]


def pauses(run):
    return [s for s in run["suspends"] if s["why"] == "update"]


def test_an_update_delivered_confirmed_and_installed_with_a_bounded_pause():
    simulation, run = run_with()
    assert run["ended"] is None
    assert simulation.world.software.running == (2, 0, 0, 0)
    assert updates(run) == ["UPDATE", "PROMPT", "INSTALL", "RUNNING", "UPDATE-CONFIRMED"]
    assert counter(simulation) == 2                      # raised once confirmed
    [pause] = pauses(run)
    assert 0 < pause["end_min"] - pause["start_min"] <= 2          # IL-UPDATE-SWAP's bound
    assert simulation.world.pump.state == T.DELIVERING
    baseline = Simulation(S.default(), "adult#001").run()
    assert abs(run["metrics"]["insulin"]["total_u"] -
               baseline["metrics"]["insulin"]["total_u"]) < 0.5    # therapy kept


def test_an_update_the_patient_does_not_confirm_changes_nothing():
    simulation, run = run_with(press=False)
    assert simulation.world.software.running == (1, 0, 0, 0)
    assert updates(run) == ["UPDATE", "PROMPT", "INSTALL-EXPIRED"]
    assert pauses(run) == [] and counter(simulation) == 1
    assert simulation.world.pump.state == T.DELIVERING


def test_an_image_that_fails_its_self_test_is_reverted_and_never_raises_the_counter():
    simulation, run = run_with(self_test="fail")
    assert simulation.world.software.running == (1, 0, 0, 0)
    assert updates(run) == ["UPDATE", "PROMPT", "INSTALL", "RUNNING", "UPDATE-REVERT",
                            "RUNNING"]
    assert counter(simulation) == 1
    assert len(pauses(run)) == 2 and pauses(run)[1]["start_min"] >= pauses(run)[0]["end_min"]
    assert simulation.world.pump.state == T.DELIVERING


def test_the_update_scenario_file_runs():
    scenario = S.load(pathlib.Path(__file__).resolve().parents[2] / "sim/scenarios/update.toml")
    simulation = Simulation(scenario, "adult#001")
    run = simulation.run()
    assert "UPDATE-CONFIRMED" in updates(run)


def test_an_update_is_not_installed_over_a_running_meal_bolus():
    """H-UPDATE / H-UNDERDOSE: the swap's pause would end a running bolus, and its rest
    would never be given. The pump holds the install while a bolus runs or a suggestion
    awaits the patient (IL-UPDATE-BOLUS); the gateway asks again afterwards."""
    meal = S.Meal(14 * 60, 100)
    scenario = dataclasses.replace(
        S.default(), meals=(meal,),
        updates=(dataclasses.replace(UPDATE, time_min=14 * 60, press_after_min=1),))
    with_update = Simulation(scenario, "adult#001").run()
    without = Simulation(dataclasses.replace(scenario, updates=()), "adult#001").run()
    assert abs(with_update["metrics"]["insulin"]["total_u"] -
               without["metrics"]["insulin"]["total_u"]) < 0.5
    assert [b["units"] for b in with_update["boluses"]] == \
        [b["units"] for b in without["boluses"]]
    steps = [e["id"] for e in with_update["events"] if e["kind"] == "update"]
    assert "IL-UPDATE-BOLUS" in steps and steps[-1] == "UPDATE-CONFIRMED"   # later
