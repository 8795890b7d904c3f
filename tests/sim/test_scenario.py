"""Scenario files: defaults, the example files, every refusal with its exact file, line and
field, typo suggestions, the line finder, and fuzzing (only ScenarioError ever escapes)."""

import dataclasses
import datetime
import pathlib
import re
import textwrap

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import examples
from sim import scenario
from sim.scenario import ScenarioError

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "sim" / "scenarios"
DOC = ROOT / "docs" / "scenarios.md"


def _source(text):
    """A test's TOML: dedented, without the newline that opens a triple-quoted literal."""
    text = textwrap.dedent(text)
    return text[1:] if text.startswith("\n") else text


def refused(text, name="late.toml"):
    """The message of the ScenarioError that ``text`` gets."""
    with pytest.raises(ScenarioError) as caught:
        scenario.loads(_source(text), name)
    return str(caught.value)


def ok(text, name="s.toml"):
    return scenario.loads(_source(text), name)


# -- defaults and the example files -----------------------------------------------------

def test_empty_text_is_the_default_scenario():
    assert scenario.loads("") == scenario.default()
    assert scenario.loads("# nothing but a comment\n\n") == scenario.default()


def test_default_scenario_is_one_adult_one_day_three_on_time_meals():
    s = scenario.default()
    assert (s.name, s.run.days, s.run.patient, s.source) == ("default", 1, "adult#001",
                                                             "<default>")
    assert [(m.time_min, m.carbs_g, m.bolus) for m in s.meals] == [
        (7 * 60, 45, "on-time"), (12 * 60 + 30, 70, "on-time"), (19 * 60, 80, "on-time")]
    assert all(m.days is None and m.bolus_offset_min == 0 for m in s.meals)
    assert s.exercise == ()


def test_default_toml_equals_default():
    loaded = scenario.load(SCENARIOS / "default.toml")
    assert loaded == scenario.default()
    assert loaded.source == str(SCENARIOS / "default.toml")


def test_default_toml_spells_out_every_field():
    """default.toml is the reference: each key of each section appears in it (except the
    two the patient model supplies, the every-day meal `days`, and exercise, faults and
    updates:
    there are none)."""
    text = (SCENARIOS / "default.toml").read_text()
    implicit = {"carb_ratio_g_u", "isf_mg_dl_u", "days", "exercise", "faults", "updates"}
    for section, keys in scenario.KEYS.items():
        for key in keys if section not in ("exercise", "faults", "updates") else ():
            if key not in implicit:
                assert re.search(r"^%s = |^\[+%s\]+" % (key, key), text, re.M), (section, key)


def test_dataclass_defaults():
    assert scenario.Run() == scenario.Run(1, "adult#001", 1, "secure", "none",
                                          datetime.date(2026, 1, 1))
    assert scenario.Therapy().basal_u_h == ((0, None),)
    assert (scenario.Therapy().target_low, scenario.Therapy().target_high) == (100, 120)
    assert scenario.Behaviour() == scenario.Behaviour(5, 0, 0, 3, 1200, 10)
    assert scenario.Cgm() == scenario.Cgm("Dexcom", 10, 0.005, 0.0, True, "channel")
    assert scenario.Exercise(600) == scenario.Exercise(600, 30, 0.5, None)


def test_meal_bolus_offset_default_follows_the_bolus_kind():
    assert scenario.Meal(420, 45, bolus="late").bolus_offset_min == 30
    assert scenario.Meal(420, 45, bolus="pre").bolus_offset_min == 15
    assert scenario.Meal(420, 45, bolus="forgotten").bolus_offset_min == 0
    assert scenario.Meal(420, 45, bolus="late").bolus_time_min == 450
    assert scenario.Meal(420, 45, bolus="pre").bolus_time_min == 405
    assert scenario.Meal(420, 45, bolus="forgotten").bolus_time_min is None
    assert scenario.Meal(420, 45, counted_error_pct=-30).counted_carbs_g == 32   # 31.5 up
    assert scenario.Meal(420, 45, counted_error_pct=100).counted_carbs_g == 90


def test_example_files_load():
    late = scenario.load(SCENARIOS / "late-and-forgotten.toml")
    assert late.run.days == 7 and late.name == "late-and-forgotten"
    assert {m.bolus for m in late.meals} == {"on-time", "late", "forgotten", "pre"}
    assert late.behaviour.forget_bolus_pct == 10
    assert late.meals[0].time_min == 435 and late.meals[0].bolus_offset_min == 30
    exercise = scenario.load(SCENARIOS / "exercise.toml")
    assert exercise.run.days == 3 and len(exercise.exercise) == 3
    assert exercise.therapy.basal_u_h == ((0, 0.9), (14 * 60, 0.5), (18 * 60, 0.9))
    assert exercise.cgm.sensor == "GuardianRT"


def test_every_shipped_scenario_loads():
    files = sorted(SCENARIOS.glob("*.toml"))
    assert len(files) >= 3
    for path in files:
        assert scenario.load(path).name == path.stem


def test_values_are_converted():
    s = ok("""
        name = "x"
        [run]
        days = 3
        start = "2026-02-03"
        [[meals]]
        time = 07:30:00
        carbs_g = 10
        days = [3, 1]
        [therapy]
        carb_ratio_g_u = 10
        basal_u_h = [["00:00", 1], ["06:30", 1.25]]
        [behaviour]
        reservoir_change_time = "7:05"
        """)
    assert s.run.start == datetime.date(2026, 2, 3)
    assert s.meals == (scenario.Meal(450, 10, days=(1, 3)),)
    assert s.therapy.carb_ratio_g_u == 10.0 and type(s.therapy.carb_ratio_g_u) is float
    assert s.therapy.basal_u_h == ((0, 1.0), (390, 1.25))
    assert s.behaviour.reservoir_change_time == 425


def test_meals_missing_means_default_meals_and_empty_means_none():
    assert ok("[run]\ndays = 2\n").meals == scenario.DEFAULT_MEALS
    assert ok("meals = []\n").meals == ()


def test_basal_forms():
    assert ok('[therapy]\nbasal_u_h = "patient"\n').therapy.basal_u_h == ((0, None),)
    assert ok("[therapy]\nbasal_u_h = 0.8\n").therapy.basal_u_h == ((0, 0.8),)


def test_name_comes_from_the_file_stem_unless_given():
    assert ok("", "some/dir/weekend.toml").name == "weekend"
    assert ok('name = "other"\n', "some/dir/weekend.toml").name == "other"
    assert ok("").source == "s.toml"
    assert scenario.loads("").name == "default"


def test_scenarios_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.default().run.days = 2


# -- every refusal, with its line -------------------------------------------------------

def test_the_briefs_example_line_and_field():
    assert refused("""
        [run]
        days = 2

        [[meals]]
        time = "07:00"
        carbs_g = 45

        [[meals]]
        time = "12:30"
        carbs_g = 70

        [[meals]]
        time = "19:00"
        # dinner
        carbs_g = 900
        """) == "late.toml:15: meals[2].carbs_g: 900 is above the maximum 250 g"


@pytest.mark.parametrize("text, expected", [
    # run
    ('[run]\nseed = 1\ndays = 0\n', "late.toml:3: run.days: 0 is below the minimum 1"),
    ('[run]\ndays = 3661\n', "late.toml:2: run.days: 3661 is above the maximum 3660"),
    ('run.days = "2"\n', 'late.toml:1: run.days: expected an integer, got a string ("2")'),
    ('[run]\ndays = 2.0\n', "late.toml:2: run.days: expected an integer, got a float (2.0)"),
    ('[run]\ndays = true\n',
     "late.toml:2: run.days: expected an integer, got a boolean (true)"),
    ('[run]\npatient = ""\n', "late.toml:2: run.patient: must not be empty"),
    ('[run]\npatient = 1\n', "late.toml:2: run.patient: expected a string, got an integer (1)"),
    ('[run]\nseed = -1\n', "late.toml:2: run.seed: -1 is below the minimum 0"),
    ('[run]\nseed = 4294967296\n',
     "late.toml:2: run.seed: 4294967296 is above the maximum 4294967295"),
    ('[run]\nprofile = "  "\n', "late.toml:2: run.profile: must not be empty"),
    ('[run]\ncontroller = "AID"\n',
     'late.toml:2: run.controller: "AID" is not one of "none", "aid"; did you mean "aid"?'),
    ('[run]\nstart = "2026-13-01"\n',
     'late.toml:2: run.start: "2026-13-01" is not an ISO date (YYYY-MM-DD)'),
    ('[run]\nstart = 2026-01-01T08:00:00\n',
     "late.toml:2: run.start: expected a date (2026-01-01), got a date-time "
     "(2026-01-01 08:00:00)"),
    ('[run]\nstart = 2199-12-01\ndays = 100\n',
     "late.toml:2: run.start: the run's 100 days would end after 2199-12-31"),
    ('[run]\nstart = 1969-12-31\n',
     "late.toml:2: run.start: 1969-12-31 is outside 1970-01-01..2199-12-31 (the pump's "
     "clock counts from 1970; the report's axis ends in 2199)"),
    ('[run]\nstart = 2500-06-01\n',
     "late.toml:2: run.start: 2500-06-01 is outside 1970-01-01..2199-12-31 (the pump's "
     "clock counts from 1970; the report's axis ends in 2199)"),
    ('run = 3\n', "late.toml:1: run: expected a table, got an integer (3)"),
    # meals
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 0\n',
     "late.toml:3: meals[0].carbs_g: 0 is below the minimum 1 g"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 45.5\n',
     "late.toml:3: meals[0].carbs_g: expected an integer, got a float (45.5)"),
    ('[[meals]]\ncarbs_g = 45\n', "late.toml:1: meals[0]: missing field time"),
    ('[[meals]]\ntime = "07:00"\n\n[[meals]]\ntime = "08:00"\n',
     "late.toml:1: meals[0]: missing field carbs_g"),
    ('[[meals]]\ntime = "7"\ncarbs_g = 4\n',
     'late.toml:2: meals[0].time: "7" is not a time of day "HH:MM" (00:00..23:59)'),
    ('[[meals]]\ntime = "24:00"\ncarbs_g = 4\n',
     'late.toml:2: meals[0].time: "24:00" is not a time of day "HH:MM" (00:00..23:59)'),
    ('[[meals]]\ntime = "07:60"\ncarbs_g = 4\n',
     'late.toml:2: meals[0].time: "07:60" is not a time of day "HH:MM" (00:00..23:59)'),
    ('[[meals]]\ntime = 700\ncarbs_g = 4\n',
     'late.toml:2: meals[0].time: expected a time of day "HH:MM" (a string), '
     'got an integer (700)'),
    ('[[meals]]\ntime = 07:00:30\ncarbs_g = 4\n',
     'late.toml:2: meals[0].time: 07:00:30 is not on the minute (write "HH:MM")'),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\nduration_min = 121\n',
     "late.toml:4: meals[0].duration_min: 121 is above the maximum 120 min"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\nduration_min = 0\n',
     "late.toml:4: meals[0].duration_min: 0 is below the minimum 1 min"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\ncounted_error_pct = -51\n',
     "late.toml:4: meals[0].counted_error_pct: -51 is below the minimum -50 %"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\ncounted_error_pct = 101\n',
     "late.toml:4: meals[0].counted_error_pct: 101 is above the maximum 100 %"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\nbolus = "forgot"\n',
     'late.toml:4: meals[0].bolus: "forgot" is not one of "on-time", "late", "forgotten", '
     '"pre"; did you mean "forgotten"?'),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\nbolus = "sideways"\n',
     'late.toml:4: meals[0].bolus: "sideways" is not one of "on-time", "late", "forgotten", '
     '"pre"'),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\nbolus = "late"\nbolus_offset_min = 181\n',
     "late.toml:5: meals[0].bolus_offset_min: 181 is above the maximum 180 min"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\nbolus_offset_min = 10\n',
     'late.toml:4: meals[0].bolus_offset_min: applies only to bolus = "late" or "pre" '
     '(this meal\'s bolus is "on-time")'),
    ('[[meals]]\ntime = "00:10"\ncarbs_g = 4\nbolus = "pre"\n',
     "late.toml:4: meals[0].bolus: the bolus 15 min before 00:10 would fall before the run "
     "starts on day 1"),
    ('[[meals]]\ntime = "00:10"\ncarbs_g = 4\nbolus = "pre"\nbolus_offset_min = 11\n',
     "late.toml:5: meals[0].bolus_offset_min: the bolus 11 min before 00:10 would fall "
     "before the run starts on day 1"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\ndays = [1, 2]\n',
     "late.toml:4: meals[0].days[1]: day 2 is after the last day of the run (run.days = 1)"),
    ('[run]\ndays = 3\n[[meals]]\ntime = "07:00"\ncarbs_g = 4\ndays = [\n  1,\n  0,\n]\n',
     "late.toml:8: meals[0].days[1]: 0 is below the minimum 1 (day 1 is the first day)"),
    ('[run]\ndays = 3\n[[meals]]\ntime = "07:00"\ncarbs_g = 4\ndays = [2, 2]\n',
     "late.toml:6: meals[0].days[1]: day 2 is listed twice"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\ndays = []\n',
     "late.toml:4: meals[0].days: is empty: leave days out for every day"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\ndays = 1\n',
     "late.toml:4: meals[0].days: expected an array of day numbers, got an integer (1)"),
    ('[[meals]]\ntime = "07:00"\ncarbs_g = 4\ndays = ["1"]\n',
     'late.toml:4: meals[0].days[0]: expected an integer, got a string ("1")'),
    ('meals = 3\n', "late.toml:1: meals: expected an array of tables ([[meals]]), "
                    "got an integer (3)"),
    ('[meals]\ntime = "07:00"\n',
     "late.toml:1: meals: expected an array of tables ([[meals]]), got a table"),
    ('meals = [1]\n', "late.toml:1: meals[0]: expected a table, got an integer (1)"),
    # exercise
    ('[[exercise]]\nduration_min = 30\n', "late.toml:1: exercise[0]: missing field time"),
    ('[[exercise]]\ntime = "17:00"\nduration_min = 4\n',
     "late.toml:3: exercise[0].duration_min: 4 is below the minimum 5 min"),
    ('[[exercise]]\ntime = "17:00"\nduration_min = 241\n',
     "late.toml:3: exercise[0].duration_min: 241 is above the maximum 240 min"),
    ('[[exercise]]\ntime = "17:00"\nintensity = 1.5\n',
     "late.toml:3: exercise[0].intensity: 1.5 is above the maximum 1"),
    ('[[exercise]]\ntime = "17:00"\nintensity = -0.1\n',
     "late.toml:3: exercise[0].intensity: -0.1 is below the minimum 0"),
    ('[[exercise]]\ntime = "17:00"\nintensity = nan\n',
     "late.toml:3: exercise[0].intensity: nan is not a finite number"),
    ('[[exercise]]\ntime = "17:00"\nintensity = "high"\n',
     'late.toml:3: exercise[0].intensity: expected a number, got a string ("high")'),
    ('[[exercise]]\ntime = "17:00"\ndays = [2]\n',
     "late.toml:3: exercise[0].days[0]: day 2 is after the last day of the run "
     "(run.days = 1)"),
    # therapy
    ('[therapy]\nbasal_u_h = "own"\n',
     'late.toml:2: therapy.basal_u_h: "own": expected "patient", a rate in U/h or an array '
     'of ["HH:MM", rate] segments'),
    ('[therapy]\nbasal_u_h = true\n',
     'late.toml:2: therapy.basal_u_h: expected "patient", a rate in U/h or an array of '
     '["HH:MM", rate] segments, got a boolean (true)'),
    ('[therapy]\nbasal_u_h = 10.5\n',
     "late.toml:2: therapy.basal_u_h: 10.5 is above the maximum 10 U/h"),
    ('[therapy]\nbasal_u_h = []\n',
     "late.toml:2: therapy.basal_u_h: is empty: at least one segment, from 00:00"),
    ('[therapy]\nbasal_u_h = [["01:00", 1]]\n',
     "late.toml:2: therapy.basal_u_h[0][0]: the first segment must start at 00:00"),
    ('[therapy]\nbasal_u_h = [\n  ["00:00", 1],\n  ["06:15", 1],\n]\n',
     "late.toml:4: therapy.basal_u_h[1][0]: 06:15: the pump's basal program changes only "
     "on the half hour"),
    ('[therapy]\nbasal_u_h = [\n  ["00:00", 1],\n  ["06:00", 1],\n  ["05:00", 1],\n]\n',
     "late.toml:5: therapy.basal_u_h[2][0]: 05:00 is not after the previous segment's 06:00"),
    ('[therapy]\nbasal_u_h = [\n  ["00:00", 1],\n  ["06:00", -1],\n]\n',
     "late.toml:4: therapy.basal_u_h[1][1]: -1 is below the minimum 0 U/h"),
    ('[therapy]\nbasal_u_h = [["00:00", 1, 2]]\n',
     'late.toml:2: therapy.basal_u_h[0]: expected a ["HH:MM", rate in U/h] pair, '
     'got an array'),
    ('[therapy]\nbasal_u_h = [1]\n',
     'late.toml:2: therapy.basal_u_h[0]: expected a ["HH:MM", rate in U/h] pair, '
     'got an integer (1)'),
    ('[therapy]\ncarb_ratio_g_u = 0.5\n',
     "late.toml:2: therapy.carb_ratio_g_u: 0.5 is below the minimum 1 g/U"),
    ('[therapy]\ncarb_ratio_g_u = 151\n',
     "late.toml:2: therapy.carb_ratio_g_u: 151 is above the maximum 150 g/U"),
    ('[therapy]\nisf_mg_dl_u = 4\n',
     "late.toml:2: therapy.isf_mg_dl_u: 4 is below the minimum 5 mg/dL/U"),
    ('[therapy]\nisf_mg_dl_u = inf\n',
     "late.toml:2: therapy.isf_mg_dl_u: inf is not a finite number"),
    ('[therapy]\ntarget_low = 69\n',
     "late.toml:2: therapy.target_low: 69 is below the minimum 70 mg/dL"),
    ('[therapy]\ntarget_high = 201\n',
     "late.toml:2: therapy.target_high: 201 is above the maximum 200 mg/dL"),
    ('[therapy]\ntarget_low = 130\ntarget_high = 120\n',
     "late.toml:3: therapy.target_high: 120 is below target_low 130"),
    ('[therapy]\ntarget_low = 130\n',
     "late.toml:1: therapy.target_high: 120 is below target_low 130"),
    # behaviour
    ('[behaviour]\nalarm_ack_delay_min = 241\n',
     "late.toml:2: behaviour.alarm_ack_delay_min: 241 is above the maximum 240 min"),
    ('[behaviour]\nforget_bolus_pct = -1\n',
     "late.toml:2: behaviour.forget_bolus_pct: -1 is below the minimum 0 %"),
    ('[behaviour]\nlate_bolus_pct = 101\n',
     "late.toml:2: behaviour.late_bolus_pct: 101 is above the maximum 100 %"),
    ('[behaviour]\nforget_bolus_pct = 60\nlate_bolus_pct = 50\n',
     "late.toml:3: behaviour.late_bolus_pct: forget_bolus_pct + late_bolus_pct is 110 %, "
     "above 100 %"),
    ('[behaviour]\nreservoir_change_every_days = 8\n',
     "late.toml:2: behaviour.reservoir_change_every_days: 8 is above the maximum 7"),
    ('[behaviour]\nreservoir_change_every_days = 0\n',
     "late.toml:2: behaviour.reservoir_change_every_days: 0 is below the minimum 1"),
    ('[behaviour]\nreservoir_change_time = 2000\n',
     'late.toml:2: behaviour.reservoir_change_time: expected a time of day "HH:MM" '
     '(a string), got an integer (2000)'),
    ('[behaviour]\nconfirm_delay_s = 0\n',
     "late.toml:2: behaviour.confirm_delay_s: 0 is below the minimum 1 s"),
    ('[behaviour]\nconfirm_delay_s = 121\n',
     "late.toml:2: behaviour.confirm_delay_s: 121 is above the maximum 120 s"),
    # cgm
    ('[cgm]\nsensor = "dexcom"\n',
     'late.toml:2: cgm.sensor: "dexcom" is not one of "Dexcom", "GuardianRT", "Navigator"; '
     'did you mean "Dexcom"?'),
    ('[cgm]\nlag_min = 31\n', "late.toml:2: cgm.lag_min: 31 is above the maximum 30 min"),
    ('[cgm]\nlag_min = -1\n', "late.toml:2: cgm.lag_min: -1 is below the minimum 0 min"),
    ('[cgm]\ndropout_rate = 0.6\n',
     "late.toml:2: cgm.dropout_rate: 0.6 is above the maximum 0.5"),
    ('[cgm]\ndrift_pct_per_day = -11\n',
     "late.toml:2: cgm.drift_pct_per_day: -11 is below the minimum -10 %/day"),
    ('[cgm]\nnoise = "yes"\n',
     'late.toml:2: cgm.noise: expected a boolean (true or false), got a string ("yes")'),
    ('[cgm]\nnoise = 1\n',
     "late.toml:2: cgm.noise: expected a boolean (true or false), got an integer (1)"),
    ('[cgm]\ntransport = "usb"\n',
     'late.toml:2: cgm.transport: "usb" is not one of "channel", "local"'),
    # top level
    ('name = ""\n', "late.toml:1: name: must not be empty"),
    ('description = 3\n', "late.toml:1: description: expected a string, got an integer (3)"),
])
def test_refusal_names_file_line_and_field(text, expected):
    assert refused(text) == expected


def test_unknown_fields_suggest_the_nearest_known_one():
    assert refused("""
        [[meals]]
        time = "07:00"
        carb_g = 45
        """) == "late.toml:3: meals[0].carb_g: unknown field; did you mean carbs_g?"
    assert refused('[run]\n\ndayz = 3\n') == \
        "late.toml:3: run.dayz: unknown field; did you mean days?"
    assert refused('[behavior]\n') == \
        "late.toml:1: behavior: unknown field; did you mean behaviour?"
    assert refused('[[meal]]\ntime = "07:00"\n') == \
        "late.toml:1: meal: unknown field; did you mean meals?"
    assert refused('[cgm]\nLag_Min = 3\n') == \
        "late.toml:2: cgm.Lag_Min: unknown field; did you mean lag_min?"


def test_faults_are_checked_like_every_section():
    assert refused('[[faults]]\nkind = "rebot"\ntime = "03:00"\n') == (
        'late.toml:2: faults[0].kind: "rebot" is not one of "occlusion", "reboot", '
        '"sensor-failure", "battery-drain"; did you mean "reboot"?')
    assert refused('[[faults]]\nkind = "reboot"\ntime = "03:00"\nday = 2\n') == \
        "late.toml:4: faults[0].day: day 2 is after the run's 1 days"
    assert refused('[[faults]]\ntime = "03:00"\n') == \
        "late.toml:1: faults[0]: missing field kind"
    loaded = scenario.loads('[run]\ndays = 2\n[[faults]]\nkind = "sensor-failure"\n'
                            'time = "03:00"\nday = 2\nduration_min = 45\n')
    assert loaded.faults == (scenario.Fault("sensor-failure", 180, 2, 45),)


def test_unknown_field_without_a_near_one_lists_the_known_ones():
    assert refused('[cgm]\ncolour = "red"\n') == (
        "late.toml:2: cgm.colour: unknown field (known: sensor, lag_min, dropout_rate, "
        "drift_pct_per_day, noise, transport)")
    assert refused('# c\n\nzzz = 1\n') == (
        "late.toml:3: zzz: unknown field (known: name, description, run, meals, exercise, "
        "therapy, behaviour, cgm, faults, updates)")


def test_unknown_field_in_a_subtable_of_an_array_entry():
    assert refused("""
        [[meals]]
        time = "07:00"
        carbs_g = 45
        [[meals]]
        time = "08:00"
        carbs_g = 45
        [meals.extra]
        x = 1
        """) == ("late.toml:7: meals[1].extra: unknown field (known: time, carbs_g, "
                 "duration_min, counted_error_pct, bolus, bolus_offset_min, days)")


# -- overlaps ---------------------------------------------------------------------------

def test_meals_may_not_overlap_on_the_same_day():
    assert refused("""
        [[meals]]
        time = "12:00"
        carbs_g = 40
        duration_min = 30

        [[meals]]
        time = "12:20"
        carbs_g = 20
        """) == ("late.toml:7: meals[1].time: 12:20 for 15 min on day 1 overlaps meals[0] "
                 "(12:00 for 30 min on day 1)")


def test_overlap_names_the_later_meal_even_when_it_comes_first_in_the_file():
    assert refused("""
        [[meals]]
        time = "12:10"
        carbs_g = 20

        [[meals]]
        time = "12:00"
        carbs_g = 40
        duration_min = 30
        """) == ("late.toml:2: meals[0].time: 12:10 for 15 min on day 1 overlaps meals[1] "
                 "(12:00 for 30 min on day 1)")


def test_meals_touching_end_to_start_do_not_overlap():
    s = ok('[[meals]]\ntime = "12:00"\ncarbs_g = 40\n\n[[meals]]\ntime = "12:15"\ncarbs_g = 9\n')
    assert len(s.meals) == 2


def test_meals_at_the_same_time_on_different_days_do_not_overlap():
    s = ok("""
        [run]
        days = 3
        [[meals]]
        time = "12:00"
        carbs_g = 40
        days = [1, 3]
        [[meals]]
        time = "12:00"
        carbs_g = 60
        days = [2]
        """)
    assert [m.days for m in s.meals] == [(1, 3), (2,)]


def test_a_listed_day_meal_overlapping_an_every_day_meal():
    assert refused("""
        [run]
        days = 5
        [[meals]]
        time = "12:00"
        carbs_g = 40
        [[meals]]
        time = "12:05"
        carbs_g = 60
        days = [4]
        """) == ("late.toml:7: meals[1].time: 12:05 for 15 min on day 4 overlaps meals[0] "
                 "(12:00 for 15 min on day 4)")
    assert refused("""
        [run]
        days = 5
        [[meals]]
        time = "12:10"
        carbs_g = 40
        [[meals]]
        time = "12:00"
        carbs_g = 60
        days = [4]
        """) == ("late.toml:4: meals[0].time: 12:10 for 15 min on day 4 overlaps meals[1] "
                 "(12:00 for 15 min on day 4)")


def test_a_meal_past_midnight_overlaps_the_next_days_first_meal():
    text = """
        [run]
        days = 2
        [[meals]]
        time = "23:55"
        carbs_g = 30
        [[meals]]
        time = "00:05"
        carbs_g = 20
        """
    assert refused(text) == ("late.toml:7: meals[1].time: 00:05 for 15 min on day 2 "
                             "overlaps meals[0] (23:55 for 15 min on day 1)")
    # On a one-day run there is no next day to collide with.
    assert len(ok(text.replace("days = 2", "days = 1")).meals) == 2


def test_a_listed_day_meal_past_midnight_and_the_next_days_meal():
    assert refused("""
        [run]
        days = 3
        [[meals]]
        time = "00:00"
        carbs_g = 30
        days = [3]
        [[meals]]
        time = "23:50"
        carbs_g = 20
        duration_min = 20
        days = [2]
        """) == ("late.toml:4: meals[0].time: 00:00 for 15 min on day 3 overlaps meals[1] "
                 "(23:50 for 20 min on day 2)")
    assert refused("""
        [run]
        days = 3
        [[meals]]
        time = "00:00"
        carbs_g = 30
        [[meals]]
        time = "23:50"
        carbs_g = 20
        duration_min = 20
        days = [1]
        """) == ("late.toml:4: meals[0].time: 00:00 for 15 min on day 2 overlaps meals[1] "
                 "(23:50 for 20 min on day 1)")


def test_exercise_may_not_overlap_exercise_but_may_overlap_meals():
    assert refused("""
        [[exercise]]
        time = "17:00"
        duration_min = 60

        [[exercise]]
        time = "17:30"
        """) == ("late.toml:6: exercise[1].time: 17:30 for 30 min on day 1 overlaps "
                 "exercise[0] (17:00 for 60 min on day 1)")
    s = ok('[[exercise]]\ntime = "19:00"\nduration_min = 60\n')
    assert s.exercise == (scenario.Exercise(1140, 60),) and len(s.meals) == 3


def _brute_force_overlap(items, run_days):
    """Whether two items share an absolute minute of the run: the reference for the
    day-by-day check."""
    taken = {}
    for index, (start, duration, days) in enumerate(items):
        for day in (days or range(1, run_days + 1)):
            base = (day - 1) * 1440 + start
            for minute in range(base, base + duration):
                if minute in taken and taken[minute] != index:
                    return True
                taken[minute] = index
    return False


_minutes = st.integers(0, 1439) | st.integers(1320, 1439) | st.integers(0, 120)  # midnight


@settings(max_examples=examples(300))
@given(st.integers(1, 4).flatmap(lambda run_days: st.tuples(st.just(run_days), st.lists(
    st.tuples(_minutes, st.integers(1, 120),
              st.none() | st.sets(st.integers(1, run_days), min_size=1).map(
                  lambda s: tuple(sorted(s)))), max_size=6))))
@example((2, [(0, 15, None), (1430, 20, (1,))]))      # listed, past midnight, every-day
@example((2, [(1430, 20, None), (5, 10, None)]))      # every-day past midnight
@example((3, [(600, 30, None), (610, 10, (2,))]))     # listed inside an every-day one
@example((3, [(610, 30, None), (600, 20, (2,))]))     # listed running into one
@example((3, [(100, 10, None), (1430, 30, (3,))]))    # past the run's last midnight: fine
def test_overlap_check_agrees_with_brute_force(case):
    """The check looks only at listed days, their next days and two frames for every-day
    items; it must still find exactly the overlaps a minute-by-minute walk over the run
    finds."""
    run_days, items = case
    found = scenario._first_overlap_by_day(items, run_days)
    assert (found is not None) == _brute_force_overlap(items, run_days)
    if found is not None:
        earlier, later, day = found
        assert earlier[2] != later[2] and 1 <= day <= run_days


# -- syntax, size, encoding, files ------------------------------------------------------

def test_toml_syntax_error_reports_the_line_tomllib_gives():
    assert refused('[run]\ndays = 1\nseed = \n') == \
        "late.toml:3: invalid TOML: Invalid value (column 8)"
    assert refused('[run]\ndays = 1\ndays = 2\n').startswith(
        "late.toml:3: invalid TOML: Cannot overwrite a value")


def test_toml_error_at_the_end_reports_the_last_line():
    assert refused('[run]\ndays = [1,\n  2,\n') == \
        "late.toml:3: invalid TOML: Invalid value (at the end of the file)"


def test_too_deep_and_too_long_numbers_are_scenario_errors():
    assert refused("a = " + "[" * 5000) == "late.toml: invalid TOML: nested too deeply"
    assert refused("# x\n\na = " + "9" * 5000).startswith("late.toml:3: invalid TOML: Exceeds")


def test_file_size_limit():
    big = "# " + "x" * scenario.MAX_FILE_BYTES + "\n"
    assert refused(big) == "late.toml: larger than 1048576 bytes: not a scenario"
    assert scenario.loads("#" * (scenario.MAX_FILE_BYTES - 1) + "\n") == scenario.default()


def test_load_reads_files_and_names_them_in_errors(tmp_path):
    path = tmp_path / "weekend.toml"
    path.write_text('[run]\ndays = 2\n\n[cgm]\nlag_min = 99\n')
    with pytest.raises(ScenarioError) as caught:
        scenario.load(path)
    assert str(caught.value) == "%s:5: cgm.lag_min: 99 is above the maximum 30 min" % path
    assert (caught.value.source, caught.value.line, caught.value.field) == (
        str(path), 5, "cgm.lag_min")
    path.write_text('[run]\ndays = 2\n')
    assert scenario.load(str(path)).name == "weekend"


def test_load_refuses_missing_big_and_non_utf8_files(tmp_path):
    with pytest.raises(ScenarioError, match=r"nothing\.toml: cannot read: No such file"):
        scenario.load(tmp_path / "nothing.toml")
    with pytest.raises(ScenarioError, match=r": cannot read: Is a directory"):
        scenario.load(tmp_path)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (scenario.MAX_FILE_BYTES + 1))
    with pytest.raises(ScenarioError, match=r"big\.toml: larger than 1048576 bytes"):
        scenario.load(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[run]\n\npatient = "K\xf6nig"\n')
    with pytest.raises(ScenarioError) as caught:
        scenario.load(latin)
    assert str(caught.value) == "%s:3: not UTF-8 text (byte 0xf6 at column 13)" % latin
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf[run]\ndays = 2\n")
    assert scenario.load(bom).run.days == 2


def test_loads_wants_text():
    with pytest.raises(TypeError):
        scenario.loads(b"[run]\n")


def test_scenario_error_is_a_value_error_with_parts():
    error = ScenarioError("a.toml", 3, "run.days", "bad")
    assert isinstance(error, ValueError) and str(error) == "a.toml:3: run.days: bad"
    assert str(ScenarioError("a.toml", None, None, "cannot read: x")) == \
        "a.toml: cannot read: x"


# -- the line finder --------------------------------------------------------------------

def test_locator_follows_inline_arrays_of_tables():
    assert refused("""
        meals = [
          { time = "07:00", carbs_g = 40 },

          { time = "12:00", carbs_g = 400 },
        ]
        """) == "late.toml:4: meals[1].carbs_g: 400 is above the maximum 250 g"


def test_locator_follows_dotted_quoted_and_inline_keys():
    assert refused('# c\nrun = { seed = 1, days = 0 }\n') == \
        "late.toml:2: run.days: 0 is below the minimum 1"
    assert refused('[run]\n"days" = 0\n') == "late.toml:2: run.days: 0 is below the minimum 1"
    assert refused('cgm.noise = true\ncgm . lag_min = 99\n') == \
        "late.toml:2: cgm.lag_min: 99 is above the maximum 30 min"


def test_locator_is_not_fooled_by_strings_and_comments():
    assert refused('''
        description = """
        [[meals]]
        carbs_g = 900
        """
        # [[meals]]
        # carbs_g = 900
        [[meals]]
        time = '07:00'   # [[meals]] in a comment
        carbs_g = 900
        ''') == "late.toml:9: meals[0].carbs_g: 900 is above the maximum 250 g"


def test_locator_counts_array_entries_across_other_tables():
    assert refused("""
        [[meals]]
        time = "07:00"
        carbs_g = 40

        [run]
        days = 2

        [[exercise]]
        time = "10:00"

        [[meals]]
        time = "12:00"
        carbs_g = 40
        duration_min = 500
        """) == "late.toml:14: meals[1].duration_min: 500 is above the maximum 120 min"


def test_locator_falls_back_to_the_header_line():
    locator = scenario._Locator('x = 1\n\n[run]\ndays = 2\n[[meals]]\ntime = "07:00"\n')
    assert locator.line(("run", "seed")) == 3
    assert locator.line(("run", "days")) == 4
    assert locator.line(("meals", 0, "carbs_g")) == 5
    assert locator.line(("meals", 0, "time")) == 6
    assert locator.line(("nowhere",)) is None


def test_locator_handles_nested_values_and_dates_with_spaces():
    locator = scenario._Locator(textwrap.dedent("""\
        a = 1979-05-27 07:32:00
        b = [[1, 2], [3,
          4]]
        c = 3.25
        [t]
        d = { e = { f = 1 } }
        """))
    assert [locator.line(p) for p in [("a",), ("b", 1, 1), ("c",), ("t", "d", "e", "f")]] \
        == [1, 3, 4, 6]


# -- the documentation ------------------------------------------------------------------

def test_doc_mentions_every_field_and_key():
    doc = DOC.read_text()
    for cls in (scenario.Scenario, scenario.Run, scenario.Meal, scenario.Exercise,
                scenario.Therapy, scenario.Behaviour, scenario.Cgm, scenario.Fault):
        for f in dataclasses.fields(cls):
            assert "`%s`" % f.name in doc, (cls.__name__, f.name)
        assert "`%s`" % cls.__name__ in doc, cls.__name__
    for keys in scenario.KEYS.values():
        for key in keys:
            assert "`%s`" % key in doc or "`[%s]`" % key in doc or "`[[%s]]`" % key in doc, key


def test_doc_example_loads():
    example = re.search(r"## Example\n\n```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    s = scenario.loads(example, "late-lunch.toml")
    assert s.meals[1].bolus_offset_min == 45 and s.run.days == 2


# -- fuzzing ----------------------------------------------------------------------------

@settings(max_examples=examples(300))
@given(st.text(max_size=300))
def test_junk_text_raises_only_scenario_errors(text):
    try:
        scenario.loads(text, "junk.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("junk.toml")


_toml_alphabet = st.sampled_from(list('[]{}=,."\'#\n :-_0123456789abcdefghijklmnoptrsuvy'))


@settings(max_examples=examples(300))
@given(st.text(_toml_alphabet, max_size=200))
def test_toml_shaped_junk_raises_only_scenario_errors(text):
    try:
        scenario.loads(text, "junk.toml")
    except ScenarioError:
        pass


def _toml_value(value):
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is str:
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if type(value) is list:
        return "[%s]" % ", ".join(_toml_value(v) for v in value)
    if type(value) is float:
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    return str(value)


_scalars = (st.integers(-10 ** 12, 10 ** 12) | st.integers(-300, 4000) | st.booleans()
            | st.floats(allow_nan=True) | st.sampled_from(
                ["07:00", "23:59", "24:00", "patient", "late", "pre", "Dexcom", "aid", "",
                 "2026-01-01", "x"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


@st.composite
def _documents(draw):
    """TOML built from the schema's own keys (and a few wrong ones) with random values: the
    validators, not the TOML parser, are what this reaches."""
    lines = []
    for section, keys in scenario.KEYS.items():
        if not section or not draw(st.booleans()):
            continue
        arrays = ("meals", "exercise", "faults")
        repeat = draw(st.integers(1, 3)) if section in arrays else 1
        for _ in range(repeat):
            lines.append("[[%s]]" % section if section in arrays
                         else "[%s]" % section)
            for key in draw(st.lists(st.sampled_from(keys + ("carb_g", "x")), unique=True)):
                lines.append("%s = %s" % (key, _toml_value(draw(_values))))
    return "\n".join(lines) + "\n"


@settings(max_examples=examples(500))
@given(_documents())
def test_schema_shaped_documents_raise_only_scenario_errors(text):
    try:
        result = scenario.loads(text, "doc.toml")
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith("doc.toml:") and "\n" not in message
        line = int(message.split(":")[1])
        assert 1 <= line <= text.count("\n")
    else:
        assert isinstance(result, scenario.Scenario)


def test_updates_are_checked_like_every_section():
    assert refused('[[updates]]\ntime = "14:00"\nversion = "1.0.65536"\n') == (
        'late.toml:3: updates[0].version: "1.0.65536" is not a version '
        '"MAJOR.MINOR.REVISION" (e.g. "1.1.0")')
    assert refused('[[updates]]\ntime = "14:00"\npress_after_min = 5\n').startswith(
        "late.toml:3: updates[0].press_after_min: ")
    assert refused('[[updates]]\ntime = "14:00"\nversoin = "1.1.0"\n').startswith(
        "late.toml:3: updates[0].versoin: unknown field")
