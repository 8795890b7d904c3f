"""One attack run: a day of the simulated patient with the attacker's timeline played on
it, against the same day without the attack, in one profile.

Both days run the unmodified firmware, the patient and the gateway exactly as ``pumpsim
run`` does (``sim.loop.simulation``), with the same seed; the only difference is the
attacker, so every difference in glucose and insulin is the attack's. The attacker sits on
the link (``sim.attack.link.LinkTap``) in both days, so an eavesdropper, a jammer and a
replayer see the same frames the gateway sends.

The result (``run``, a JSON-safe dict) carries the verdict against the scenario's
expectation, the patient outcome, the security events the pump raised and the controls
that stopped the attack, named by their IDs in the code (``SC-...`` in
``secure_channel.controls``, ``IL-...`` in ``pump.hazards``): those that refused the
attacker's own frames, and the interlocks whose alarms the attack raised.

Verdict. An attack *succeeded* when any of its actions took effect: the pump ran an
attacker's command, a replayed frame acted, an image of the attacker's ran, a spoofed
reading was taken, the eavesdropper read therapy data, or a link manipulation hit the
gateway's traffic; otherwise it was *blocked*. Unsafe outcome: the attack caused at least
``UNSAFE_BELOW_54_MIN`` more minutes below 54 mg/dL, or ``UNSAFE_ABOVE_250_MIN`` more above
250 mg/dL, or delivered at least ``UNSAFE_INSULIN_U`` more insulin than the day without it,
or ended the day early below 54 mg/dL (glucose beyond the patient model's range: a
hypoglycaemia that is fatal without treatment).
"""

import os

from pump.units import MS_PER_MINUTE
from secure_channel.protocol import schema as S
from secure_channel.sessions import trust
from sim.attack import actions as A
from sim.attack import scenario as attack_scenario
from sim.attack.link import LinkTap
from sim.loop.simulation import Simulation
from sim.loop.world import seeded_identity
from sim.patient.cohort import names as patient_names

UNSAFE_BELOW_54_MIN = 15
UNSAFE_ABOVE_250_MIN = 60
UNSAFE_INSULIN_U = 2.0
CAMPAIGN_PATIENTS = ("adult#001", "adolescent#001", "child#001")


def trust_list(seed):
    """The pump's trust list in the lab: the gateway, a clinician and the patient's phone
    (the identities an attacker may steal); never the outsider's key."""
    return trust.TrustList([(role, seeded_identity(seed, role, kid)[1])
                            for role, kid in A.TRUSTED])


def _day(scenario, profile, patient, seed, attack):
    simulation = Simulation(scenario.base, patient, seed=seed, days=1, profile=profile,
                            bootloader=scenario.uses_bootloader, trusted=trust_list(seed))
    simulation.survive_link_loss = True
    world = simulation.world
    world.dispatcher.remote_bolus = scenario.remote_bolus
    tap = LinkTap(world, simulation.kernel, seed)
    attacker = A.Attacker(simulation, tap, profile, seed)
    attacker.schedule(scenario.actions, attack)
    result = simulation.run()
    return simulation, attacker, result


def _glucose(result):
    return [sample["bg"] for sample in result["samples"]]


def _minutes(values, test):
    return 5 * sum(1 for value in values if test(value))


def _alarms(result):
    """Alarms raised in a day, by ID (the interlocks that tripped)."""
    counts = {}
    for event in result["events"]:
        if event["kind"] == "alarm":
            counts[event["id"]] = counts.get(event["id"], 0) + 1
    return counts


def _refusals(simulation):
    """Every refusal the pump made, by stable name: the session layer's and the
    dispatcher's (an interlock refusal counts under its interlock ID)."""
    world = simulation.world
    counts = dict(world.manager.counts)
    for code, count in world.dispatcher.refusals.items():
        name = S.ERROR_NAMES.get(code, str(code))
        counts[name] = counts.get(name, 0) + count
    return counts


_BASELINES = {}
_BASELINES_KEPT = 64


def _baseline(scenario, profile, patient, seed):
    """The day without the attack: what the comparison needs of it. Kept per process, as
    most scenarios share it (the same day unless they need a bootloader, remote bolus or
    legitimate traffic of their own); it is deterministic, so keeping it changes nothing."""
    legitimate = tuple(repr(a) for a in scenario.actions if a.kind == "phone-bolus")
    key = (profile, patient, seed, scenario.uses_bootloader, scenario.remote_bolus,
           legitimate)
    if key not in _BASELINES:
        sim, _, result = _day(scenario, profile, patient, seed, attack=False)
        if len(_BASELINES) >= _BASELINES_KEPT:
            _BASELINES.pop(next(iter(_BASELINES)))
        _BASELINES[key] = {"glucose": _glucose(result), "alarms": _alarms(result),
                           "insulin_u": sim.recorder.delivered_mu / 1000.0,
                           "refusals": _refusals(sim), "ended": result["ended"]}
    return _BASELINES[key]


def run(scenario, profile, patient="adult#001", seed=1):
    """The attack ``scenario`` (an ``AttackScenario``) in ``profile``; a result dict."""
    if profile not in attack_scenario.PROFILES:
        raise ValueError("profile %r is not one of %s"
                         % (profile, ", ".join(attack_scenario.PROFILES)))
    base = _baseline(scenario, profile, patient, seed)
    sim, attacker, attacked = _day(scenario, profile, patient, seed, attack=True)
    glucose, baseline = _glucose(attacked), base["glucose"]
    lowest = min(glucose) if glucose else None
    if attacked["ended"] is not None:       # the last glucose, where the day stopped
        lowest = min(lowest or 1e9, sim.world.patient.plasma_glucose_mg_dl)
    insulin = sim.recorder.delivered_mu / 1000.0
    base_insulin = base["insulin_u"]
    outcome = {
        "min_glucose_mg_dl": round(lowest, 1) if lowest is not None else None,
        "below_54_min": _minutes(glucose, lambda g: g < 54),
        "below_70_min": _minutes(glucose, lambda g: g < 70),
        "above_250_min": _minutes(glucose, lambda g: g > 250),
        "insulin_u": round(insulin, 3),
        "attack_insulin_u": round(insulin - base_insulin, 3),
        "baseline_min_glucose_mg_dl": round(min(baseline), 1) if baseline else None,
    }
    unsafe = (outcome["below_54_min"] - _minutes(baseline, lambda g: g < 54)
              >= UNSAFE_BELOW_54_MIN
              or outcome["above_250_min"] - _minutes(baseline, lambda g: g > 250)
              >= UNSAFE_ABOVE_250_MIN
              or outcome["attack_insulin_u"] >= UNSAFE_INSULIN_U
              or (attacked["ended"] is not None and base["ended"] is None
                  and lowest is not None and lowest < 54))   # the day ended in a severe low
    before, after = base["refusals"], _refusals(sim)
    events = {name: after[name] - before.get(name, 0) for name in sorted(after)
              if after[name] > before.get(name, 0)}
    # The controls are those that refused the attacker's own frames, and the interlocks
    # whose alarms the attack raised; a refusal of the gateway's traffic (a session the
    # attacker's displaced, a frame it damaged) is a security event, not a stopping control.
    stopped = set(attacker.controls)
    base_alarms = base["alarms"]
    for ident, count in _alarms(attacked).items():     # an interlock that tripped
        if count > base_alarms.get(ident, 0) and ident.startswith("IL-"):
            stopped.add(ident)
    verdict = "succeeded" if attacker.succeeded else "blocked"
    expected = scenario.expect[profile]
    return {
        "scenario": scenario.name, "title": scenario.title, "reference": scenario.reference,
        "profile": profile, "patient": patient, "seed": seed,
        "expected": expected, "verdict": verdict, "matches": verdict == expected,
        "unsafe": bool(unsafe), "outcome": outcome, "security_events": events,
        "controls": sorted(stopped), "actions": attacker.log,
        "trace": {"minutes": [sample["t_min"] for sample in attacked["samples"]],
                  "glucose": [round(g, 1) for g in glucose],
                  "baseline": [round(g, 1) for g in baseline]},
        "ended": attacked["ended"],
    }


def replay_frames(frames, profile, patient="adult#001", seed=1, at_min=12 * 60,
                  source="capture"):
    """Send ``frames`` ((offset ms, CoAP message) pairs, e.g. a capture's requests to a
    pump, timed as they were recorded) to the simulated pump from minute ``at_min``: what
    did it do with them? A frame that would fall after the day's end is sent at its end."""
    scenario = attack_scenario.AttackScenario(
        name="replay", title="Replay of %s" % source, reference="",
        description="recorded frames sent again", expect={p: "blocked" for p in
                                                           attack_scenario.PROFILES},
        remote_bolus=False, source=source, base=attack_scenario.base.default(),
        actions=(attack_scenario.Action(kind="frames", at_min=at_min,
                                        data=tuple((int(t), bytes(f)) for t, f in frames)),))
    return run(scenario, profile, patient, seed)


def run_job(job):
    """One campaign job ``{"scenario": a built-in's name, "profile", "patient", "seed"}``;
    a scenario of the user's travels as its text (``"toml"``, with its file name in
    ``"source"``), so a Dask worker needs no copy of the file."""
    if "toml" in job:
        scenario = attack_scenario.loads(job["toml"], job["source"])
    else:
        scenario = attack_scenario.find(job["scenario"])
    return run(scenario, job["profile"], job["patient"], job["seed"])


def campaign_jobs(scenarios=None, patients=3, seeds=2, profiles=attack_scenario.PROFILES):
    """Jobs for scenarios (names or paths; None: the library) x profiles x the first
    ``patients`` of ``CAMPAIGN_PATIENTS`` (or a list of names) x seeds 1..``seeds``."""
    if scenarios is None:
        scenarios = [s.name for s in attack_scenario.library()]
    scenarios = [_job_scenario(name) for name in scenarios]
    if isinstance(patients, int):
        if not 1 <= patients <= len(CAMPAIGN_PATIENTS):
            raise ValueError("patients: 1..%d" % len(CAMPAIGN_PATIENTS))
        patients = CAMPAIGN_PATIENTS[:patients]
    for name in patients:
        if name not in patient_names():
            raise ValueError("unknown patient %r" % name)
    return [dict(scenario, profile=profile, patient=patient, seed=seed)
            for scenario in scenarios for profile in profiles for patient in patients
            for seed in range(1, seeds + 1)]


def _job_scenario(name):
    """A built-in by name, or a file's text (checked here, before any job is sent)."""
    if os.path.exists(os.path.join(attack_scenario.LIBRARY, name + ".toml")):
        return {"scenario": name}
    with open(name, encoding="utf-8") as handle:
        text = handle.read()
    scenario = attack_scenario.loads(text, os.path.basename(name))
    return {"scenario": scenario.name, "toml": text, "source": os.path.basename(name)}


def minute_ms(minute):
    return int(minute * MS_PER_MINUTE)
