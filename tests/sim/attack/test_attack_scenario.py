"""Attack scenario files: every refusal names the file, the line and the field.

Hazard: a typo in a scenario (a field that does not apply, a command the pump does not
know, fields the protocol refuses) silently turns an attack into no attack, and the
"blocked" verdict that follows is a lie.
"""

import pytest

from sim.attack import scenario as S
from sim.scenario import ScenarioError

HEAD = '''title = "t"
[expect]
legacy = "succeeded"
secure = "blocked"
'''


def refused(text, name="bad.toml"):
    with pytest.raises(ScenarioError) as caught:
        S.loads(text, name)
    return str(caught.value)


def test_a_good_file_loads_with_its_actions():
    scenario = S.loads(HEAD + '''
[[actions]]
kind = "command"
at = "10:30"
attacker = "gateway"
command = "bolus"
fields = { mu = 5000, duration_ms = 0 }
repeat = 2
every_min = 30
''', "good.toml")
    assert scenario.name == "good"
    action, = scenario.actions
    assert (action.kind, action.at_min, action.attacker, action.repeat) == \
        ("command", 630, "gateway", 2)
    assert scenario.expect == {"legacy": "succeeded", "secure": "blocked"}


@pytest.mark.parametrize("body, where", [
    ('[[actions]]\nkind = "comand"\nat = "10:00"\n', "bad.toml:7: actions[0].kind"),
    ('[[actions]]\nkind = "command"\nat = "10:00"\ncommand = "bolos"\n',
     "bad.toml:9: actions[0].command: unknown command \"bolos\"; did you mean bolus?"),
    ('[[actions]]\nkind = "command"\nat = "10:00"\ncommand = "bolus"\n'
     'fields = { mu = 3 }\n', "bad.toml:10: actions[0].fields: the pump protocol refuses"),
    ('[[actions]]\nkind = "eavesdrop"\nat = "10:00"\nimage = "unsigned"\n',
     "bad.toml:9: actions[0].image: unknown field"),
    ('[[actions]]\nkind = "image"\nat = "10:00"\n', "actions[0]: missing field image"),
    ('[[actions]]\nkind = "replay"\nat = "10:00"\ncaptured_from = "11:00"\n'
     'captured_to = "11:05"\n', "actions[0].at: a replay comes after what it replays"),
    ('[[actions]]\nkind = "link"\nat = "25:00"\nrule = "drop"\nduration_min = 5\n',
     "bad.toml:8: actions[0].at"),
    ('[[actions]]\nkind = "link"\nat = "10:00"\nrule = "jam"\nduration_min = 5\n',
     "bad.toml:9: actions[0].rule"),
])
def test_a_bad_action_is_refused_at_its_line_and_field(body, where):
    assert where in refused(HEAD + "\n" + body)


@pytest.mark.parametrize("body, where", [
    ('kind = "link"\nat = "23:00"\nrule = "drop"\nduration_min = 61\n',
     "actions[0].duration_min: 61 min from 23:00 runs past the end of the simulated day"),
    ('kind = "command"\nat = "15:00"\ncommand = "status"\nrepeat = 100\nevery_min = 60\n',
     "actions[0].every_min: the last of 100, 60 min apart from 15:00"),
    ('kind = "command"\nat = "15:00"\ncommand = "status"\nrepeat = 3\n',
     "actions[0].repeat: repeat needs every_min"),
    ('kind = "link"\nat = "10:00"\nrule = "drop"\nduration_min = 5\ncommand = "bolus"\n',
     "actions[0].command: does not apply to rule drop"),
    ('kind = "link"\nat = "10:00"\nrule = "delay"\nduration_min = 5\n',
     "actions[0]: rule delay needs delay_min"),
    ('kind = "link"\nat = "10:00"\nrule = "modify"\nduration_min = 5\n'
     'command = "cgm_reading"\nfields = { colour = 1 }\n',
     "actions[0].fields.colour: cgm_reading has no field colour"),
    ('kind = "link"\nat = "10:00"\nrule = "modify"\nduration_min = 5\n'
     'command = "cgm_reading"\nfields = { mg_dl = 5000 }\n', "actions[0].fields.mg_dl"),
    ('kind = "cgm-spoof"\nat = "10:00"\nduration_min = 5\n',
     "actions[0].mg_dl: give exactly one of mg_dl"),
    ('kind = "cgm-spoof"\nat = "10:00"\nduration_min = 5\nmg_dl = 300\noffset_mg_dl = 5\n',
     "actions[0].mg_dl: give exactly one of mg_dl"),
    ('kind = "flood"\nat = "10:00"\nframes = "garbage"\ncount = 100000\n'
     '[[actions]]\nkind = "fuzz"\nat = "11:00"\ncount = 100000\n'
     '[[actions]]\nkind = "fuzz"\nat = "12:00"\ncount = 1\n',
     "actions: 200001 flood and fuzz frames in all, above the 200000"),
])
def test_what_a_timeline_cannot_do_is_refused_before_it_runs(body, where):
    """An action that would run past the day, or a rule with keys it ignores, would give
    a verdict about an attack that never happened."""
    assert where in refused(HEAD + "\n[[actions]]\n" + body)


def test_the_expectation_and_the_actions_are_required():
    assert "expect: missing" in refused('title = "t"\n[[actions]]\nkind = "eavesdrop"\n'
                                        'at = "10:00"\n')
    assert "actions: missing" in refused(HEAD)
    assert "expect.secure" in refused('[expect]\nlegacy = "blocked"\nsecure = "maybe"\n')
    assert "bad.toml:2: nme: unknown field" in refused('title = "t"\nnme = "x"\n')


def test_a_library_name_or_a_path_is_found_and_a_typo_gets_a_suggestion(tmp_path):
    assert S.find("forged-bolus").name == "forged-bolus"
    path = tmp_path / "mine.toml"
    path.write_text(HEAD + '[[actions]]\nkind = "eavesdrop"\nat = "00:00"\n')
    assert S.find(str(path)).name == "mine"
    with pytest.raises(ScenarioError) as caught:
        S.find("forged-bolsu")
    assert "did you mean forged-bolus" in str(caught.value)


def test_every_library_file_has_a_reference_and_a_description():
    for scenario in S.library():
        assert scenario.reference and scenario.description.strip(), scenario.name
        assert set(scenario.expect) == set(S.PROFILES)


def test_the_docs_name_every_key_kind_and_built_in_scenario():
    import pathlib
    text = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "attack-lab.md").read_text()
    for section, keys in S.KEYS.items():
        for key in keys:
            assert "`%s`" % key in text, (section, key)
    for kind in S.KINDS + S.IMAGES + S.ATTACKERS:
        assert "`%s`" % kind in text, kind
    for scenario in S.library():
        assert "`%s`" % scenario.name in text, scenario.name


def test_a_hostile_key_or_file_name_is_shown_in_an_error_never_obeyed():
    """An error line goes to a terminal: a bidi override or an escape sequence from the
    file must not reorder or recolour it."""
    message = refused('title = "t"\n"ev\u202eil" = 1\n', "x\u202e.toml")
    assert "\u202e" not in message
    assert 'x\\u202e.toml:2: "ev\\u202eil": unknown field' in message
