"""The built-in attack library against both profiles: every verdict as the scenario
expects, the published attacks harm the patient on the legacy link and never on the
secure one, each stopped by a named control that exists in the code.

Hazards: an attack lab whose verdicts are decided by the scenario and not by what the pump
did (a "blocked" that is only a label); a secure run that is safe only because the attack
never reached the pump (the attacker's frames must arrive, and be refused); a control ID
that names nothing in the code, so the evidence links to a ghost; a legacy profile that
leaks into a default.
"""

import os

import pytest

from pump import hazards
from secure_channel import controls
from sim.attack import runner, scenario as S
from sim.loop.world import World
from sim import scenario as base

PUBLISHED = ("forged-bolus", "replayed-bolus", "rogue-update", "settings-change")
LIBRARY = [s.name for s in S.library()]


@pytest.fixture(scope="module")
def results():
    """Every built-in scenario in both profiles, adult#001, seed 1 (the acceptance run)."""
    return {(r["scenario"], r["profile"]): r
            for r in (runner.run(s, profile) for s in S.library() for profile in S.PROFILES)}


def test_the_library_covers_every_attack_the_lab_names():
    kinds = {action.kind for s in S.library() for action in s.actions}
    assert set(S.KINDS) - {"phone-bolus"} <= kinds | {"frames"}
    images = {action.image for s in S.library() for action in s.actions if action.image}
    assert images == set(S.IMAGES)
    attackers = {action.attacker for s in S.library() for action in s.actions
                 if action.kind in ("command", "image", "cgm-spoof")}
    assert {"outsider", "gateway"} <= attackers
    assert set(PUBLISHED) <= set(LIBRARY)


@pytest.mark.parametrize("name", LIBRARY)
@pytest.mark.parametrize("profile", S.PROFILES)
def test_every_verdict_is_as_expected(results, name, profile):
    result = results[(name, profile)]
    assert result["ended"] is None, result["ended"]
    assert result["matches"], (result["verdict"], result["expected"], result["actions"])
    assert result["actions"], "the attack never ran"


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_published_attacks_harm_the_patient_only_on_the_legacy_link(results, name):
    legacy, secure = results[(name, "legacy")], results[(name, "secure")]
    assert legacy["verdict"] == "succeeded" and legacy["unsafe"]
    assert legacy["outcome"]["attack_insulin_u"] >= runner.UNSAFE_INSULIN_U or \
        legacy["outcome"]["below_54_min"] >= runner.UNSAFE_BELOW_54_MIN
    assert secure["verdict"] == "blocked" and not secure["unsafe"]
    assert secure["outcome"]["attack_insulin_u"] <= 0.0
    assert secure["controls"], "blocked, but by no named control"
    # the attacker's frames reached the pump and were refused there
    assert all(action["effect"] in ("refused", "held") for action in secure["actions"]
               if action["kind"] != "phone-bolus"), secure["actions"]


def test_the_controls_that_stopped_them_are_the_ones_for_each_attack(results):
    def stopped(name):
        return set(results[(name, "secure")]["controls"])
    assert {"SC-EDHOC-AUTH", "SC-UNPROTECTED-REFUSED"} <= stopped("forged-bolus")
    assert "SC-OSCORE-REPLAY" in stopped("replayed-bolus")
    assert "SC-EDHOC-AUTH" in stopped("settings-change")
    assert "SC-ROLE-MATRIX" in stopped("stolen-gateway-bolus")
    assert "SC-OSCORE-AEAD" in stopped("modify-in-flight")
    assert "SC-PIN-LOCKOUT" in stopped("pin-brute-force")
    for kind in S.IMAGES:
        assert "IL-UPDATE-IMAGE" in stopped("image-" + kind), kind


def test_every_control_named_exists_in_the_code(results):
    interlocks = set(hazards.INTERLOCKS)
    for result in results.values():
        for control in result["controls"]:
            assert control in controls.CONTROLS or control in interlocks, \
                (result["scenario"], control)
    for control, (_, where) in controls.CONTROLS.items():
        assert os.path.exists(os.path.join(os.path.dirname(base.__file__), "..", where)), \
            (control, where)


def test_an_eavesdropper_reads_the_legacy_link_and_nothing_of_the_secure_one(results):
    legacy = results[("eavesdrop", "legacy")]["actions"][0]["detail"]
    secure = results[("eavesdrop", "secure")]["actions"][0]["detail"]
    assert "glucose readings" in legacy and "288 glucose readings" in legacy, legacy
    assert "none readable" in secure, secure


def test_a_jammed_link_is_survived_by_the_pump_alone(results):
    for profile in S.PROFILES:
        result = results[("link-jam", profile)]
        assert not result["unsafe"]
        assert result["outcome"]["below_70_min"] == 0


def test_the_same_seed_gives_the_same_result_and_another_seed_another_day():
    scenario = S.find("replayed-bolus")
    first = runner.run(scenario, "legacy", "adolescent#001", 7)
    assert runner.run(scenario, "legacy", "adolescent#001", 7) == first
    other = runner.run(scenario, "legacy", "adolescent#001", 8)
    assert other["trace"] != first["trace"]


def test_the_legacy_profile_is_never_a_default():
    world = World(base.default(), "adult#001", 1)
    assert world.profile == "secure"
    from sim.commands import run
    assert "legacy" not in run.PROFILES
    with pytest.raises(ValueError):
        World(base.default(), "adult#001", 1, profile="plaintext")


def test_a_link_down_for_most_of_the_day_is_survived_without_a_fault():
    """The gateway's keys run out of time while every frame is dropped: a new handshake
    when the link is back, not a crash."""
    scenario = S.loads('title = "t"\n[expect]\nlegacy = "succeeded"\nsecure = "succeeded"\n'
                       '[[actions]]\nkind = "link"\nat = "01:00"\nrule = "drop"\n'
                       'duration_min = 1380\n', "down.toml")
    result = runner.run(scenario, "secure")
    assert result["ended"] is None and result["matches"]
    assert result["actions"][0]["at_min"] == 60          # a window is logged at its start


def test_a_users_scenario_travels_as_text_so_a_worker_needs_no_copy(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('title = "t"\n[expect]\nlegacy = "succeeded"\nsecure = "blocked"\n'
                    '[[actions]]\nkind = "eavesdrop"\nat = "00:00"\n')
    job, = runner.campaign_jobs([str(path)], 1, 1, ("secure",))
    path.unlink()
    assert job["scenario"] == "mine" and "toml" in job
    assert runner.run_job(job)["matches"]
