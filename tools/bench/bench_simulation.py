"""The closed-loop simulator's speed: one patient-day in fast mode (every message through the
real secure channel, the unmodified firmware, the UVA/Padova patient, CGM, behaviour)
against simglucose's own one-day run of the same patient and meals (its T1DSimEnv with
the Dexcom sensor, the Insulet pump and its basal-bolus controller), measured in this run;
and the wall time of one patient-year on one core.
"""

import datetime
import logging
import time
import warnings

from common import report

MEALS = [(7, 45), (12.5, 70), (19, 80)]          # the default scenario's meals


def ours(days):
    from sim import scenario as S
    from sim.loop.simulation import Simulation
    simulation = Simulation(S.default(), "adult#001", days=days)
    start = time.perf_counter()
    run = simulation.run()
    elapsed = time.perf_counter() - start
    if run["ended"]:
        raise RuntimeError("the run ended early: %s" % run["ended"])
    return elapsed, run


def simglucose_day():
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    from simglucose.actuator.pump import InsulinPump
    from simglucose.controller.basal_bolus_ctrller import BBController
    from simglucose.patient.t1dpatient import T1DPatient
    from simglucose.sensor.cgm import CGMSensor
    from simglucose.simulation.env import T1DSimEnv
    from simglucose.simulation.scenario import CustomScenario
    from simglucose.simulation.sim_engine import SimObj
    start_time = datetime.datetime(2026, 1, 1)
    env = T1DSimEnv(T1DPatient.withName("adult#001"), CGMSensor.withName("Dexcom", seed=1),
                    InsulinPump.withName("Insulet"),
                    CustomScenario(start_time=start_time, scenario=MEALS))
    simulation = SimObj(env, BBController(), datetime.timedelta(days=1), animate=False,
                        path=None)
    start = time.perf_counter()
    simulation.simulate()
    return time.perf_counter() - start


def main():
    day = min(ours(1)[0] for _ in range(3))
    reference = simglucose_day()
    report("one patient-day, fast mode, real secure channel", day * 1000, "ms")
    report("simglucose one-day run, same patient and meals", reference * 1000, "ms")
    report("speed-up over simglucose (patient-day)", reference / day, "x",
           target=(">=", 50), reference="simglucose measured above")
    year, run = ours(365)
    report("one patient-year, fast mode, one core (%d messages)"
           % run["channel"]["messages"], year, "s", target=("<=", 60))
