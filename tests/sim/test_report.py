"""The run report (`sim.report`): one self-contained, deterministic HTML page.

Hazards: a report that fetches anything (a script, a font, a picture) shows something else,
or nothing, offline and can leak that it was opened; event ids and texts come from attack
scenarios, so a string that reaches the page unescaped is script injection into whoever
reads the report; a long run that is drawn point by point makes a page no browser opens,
and one drawn by plain subsampling hides the single low reading that matters most; a
report that changes from one render to the next cannot be diffed or hashed.
"""

import copy
import re

import pytest

from report_fixture import (HOSTILE, Page, assert_no_markup_injected,
                            assert_same_bytes_every_time, assert_self_contained, sample_run)
from sim import report
from sim.report import ReportError

PLOTS = {"glucose", "insulin", "carbs", "events", "channel", "range"}


@pytest.fixture(scope="module")
def day():
    return sample_run()


@pytest.fixture(scope="module")
def day_html(day):
    return report.render(day)


def empty_run():
    return {"title": "no data", "patient": "adult#001", "seed": 1, "days": 1,
            "profile": "secure", "controller": "none", "start_wall_s": 1767225600,
            "samples": [], "boluses": [], "carbs": [], "suspends": [], "events": [],
            "channel": {}, "metrics": {
                "glucose_true": {"samples": 0}, "glucose_cgm": {"samples": 0},
                "insulin": {"total_u": None, "basal_u": None, "bolus_u": None,
                            "per_day_u": None},
                "events": {}}}


# --- determinism ----------------------------------------------------------------------------

def test_the_same_run_gives_the_same_bytes(day, tmp_path):
    assert_same_bytes_every_time(report.write, report.render, day, tmp_path)


def test_dict_order_does_not_change_the_bytes(day):
    shuffled = copy.deepcopy(day)
    shuffled["channel"]["refusals"] = {"5.03 Service Unavailable": 1, "4.01 Unauthorized": 2}
    again = copy.deepcopy(shuffled)
    again["channel"]["refusals"] = dict(reversed(list(shuffled["channel"]["refusals"].items())))
    again["metrics"]["events"] = dict(reversed(list(shuffled["metrics"]["events"].items())))
    assert report.render(shuffled) == report.render(again)


# --- content --------------------------------------------------------------------------------

def test_every_plot_is_an_inline_svg_with_a_title(day_html):
    page = Page(day_html)
    assert sorted(page.plots()) == sorted(PLOTS)
    for name in PLOTS:
        assert page.first_child[name] == "title", name
        assert page.texts[name][0].strip()


def test_the_header_has_the_headline_metrics(day, day_html):
    head = day_html[:day_html.index('data-plot="range"')]
    true = day["metrics"]["glucose_true"]
    for label in ("in range 70\u2013180", "below 70", "below 54", "above 180", "above 250",
                  "mean glucose", "CV", "GMI", "LBGI / HBGI", "total insulin"):
        assert '<div class="k">%s</div>' % label in head, label
    assert "%.1f\u2009%%" % true["time_in_range_70_180_pct"] in head
    assert "%.1f\u2009%%" % true["gmi_pct"] in head
    assert "%.1f" % day["metrics"]["insulin"]["total_u"] in head
    assert "adult#001" in head and "2026-01-01 00:00" in head


def test_each_plot_draws_its_data(day_html, day):
    page = Page(day_html)
    assert page.find("glucose", "path", **{"data-series": "bg"})
    assert page.find("glucose", "path", **{"data-series": "cgm"})
    assert page.find("glucose", "line", **{"data-ref": "54"})
    assert page.find("glucose", "line", **{"data-ref": "250"})
    assert len(page.find("glucose", "rect", **{"class": "suspend"})) == len(day["suspends"])
    assert page.find("insulin", "path", **{"data-series": "basal"})
    assert page.find("insulin", "path", **{"data-series": "iob"})
    assert len(page.find("insulin", "g", **{"class": "stem"})) == len(day["boluses"])
    assert "4.5 U" in page.plot_text("insulin")
    assert len(page.find("carbs", "rect", **{"class": "carb"})) == len(day["carbs"])
    assert len(page.find("events", "g", **{"class": "mark"})) == len(day["events"])
    assert {a["data-range"] for a in page.find("range", "rect") if "data-range" in a} >= {
        "in_range", "high", "very_high", "low"}
    assert "612" in page.plot_text("channel")
    for name in PLOTS:
        assert "none:" not in page.plot_text(name), name


def test_time_axis_reads_as_clock_time_then_day_numbers(day_html):
    page = Page(day_html)
    ticks = page.plot_text("glucose")
    assert "06:00" in ticks and "12:00" in ticks and "day " not in ticks
    three = Page(report.render(sample_run(days=3)))
    assert "day 2" in three.plot_text("glucose") and "day 3" in three.plot_text("glucose")
    assert "day 2 15:10:00" in three.plot_text("events")      # the second day's occlusion
    assert "glucose (mg/dL)" in ticks
    assert "basal (U/h)" in page.plot_text("insulin")
    assert "carbs (g)" in page.plot_text("carbs")


def test_the_range_bar_uses_the_consensus_colours(day_html):
    page = Page(day_html)
    fills = {a["data-range"]: a["fill"] for a in page.find("range", "rect") if "data-range" in a}
    colours = {key: colour for key, _name, _span, colour in report.RANGES}
    assert fills == {key: colours[key] for key in fills}
    assert [key for key, *_ in report.RANGES] == [
        "very_low", "low", "in_range", "high", "very_high"]


# --- self-contained -------------------------------------------------------------------------

def test_nothing_is_loaded_from_anywhere(day_html):
    assert_self_contained(day_html)


def test_hostile_text_from_the_run_is_escaped(day):
    run = copy.deepcopy(day)
    run["title"] = "</title><script>alert(0)</script>"
    run["patient"] = '"><svg onload=alert(3)>'
    run["boluses"].append({"t_min": 100.0, "units": 1.0, "kind": HOSTILE})
    run["suspends"].append({"start_min": 200.0, "end_min": 230.0, "why": HOSTILE})
    run["events"].append({"t_min": 300.0, "kind": "security", "id": HOSTILE, "text": HOSTILE})
    run["events"].append({"t_min": 310.0, "kind": HOSTILE, "id": "x", "text": "y"})
    run["channel"]["refusals"][HOSTILE] = 1
    run["channel"]["security_events"][HOSTILE] = 1
    run["metrics"]["events"]["security"] = {HOSTILE: 1}
    text = report.render(run)
    assert_no_markup_injected(text)
    assert "<svg onload" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text        # shown, as text


def test_very_long_text_is_shortened(day):
    run = copy.deepcopy(day)
    run["events"].append({"t_min": 300.0, "kind": "alarm", "id": "A" * 100000,
                          "text": "B" * 100000})
    text = report.render(run)
    assert "A" * 1000 not in text and "B" * 1000 not in text
    assert len(text) < len(report.render(day)) + 5000


# --- long runs ------------------------------------------------------------------------------

def _path_values(page, series):
    """The glucose values a drawn glucose path reaches, read back through the 54 and 250
    reference lines' pixel rows."""
    (path,) = page.find("glucose", "path", **{"data-series": series})
    points = re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", path["d"])
    ys = [float(y) for _x, y in points]
    y54 = float(page.find("glucose", "line", **{"data-ref": "54"})[0]["y1"])
    y250 = float(page.find("glucose", "line", **{"data-ref": "250"})[0]["y1"])
    per_pixel = (250 - 54) / (y54 - y250)
    return [54 + (y54 - y) * per_pixel for y in ys], len(points)


@pytest.fixture(scope="module")
def year():
    return sample_run(days=365)


def test_a_year_stays_small_and_keeps_a_single_low(year):
    plain = Page(report.render(year))
    lows, _ = _path_values(plain, "bg")
    assert min(lows) > 60                  # the fixture's own lows stay above 60 mg/dL

    run = copy.deepcopy(year)
    dip = 200 * 288 + 3 * 12 + 1           # day 201, 03:05: one sample, in a flat night
    assert 90 < run["samples"][dip]["bg"] < 140
    run["samples"][dip]["bg"] = 40.0
    run["samples"][dip + 7]["cgm"] = 40
    text = report.render(run)
    assert len(text.encode("utf-8")) < 3_000_000
    page = Page(text)
    values, points = _path_values(page, "bg")
    assert points <= 2 * report.BUCKETS
    assert min(values) == pytest.approx(40, abs=1.0)
    cgm, points = _path_values(page, "cgm")
    assert points <= 2 * report.BUCKETS
    assert min(cgm) == pytest.approx(40, abs=1.0)
    assert "day 1" in page.plot_text("glucose") and "Dec" in page.plot_text("glucose")
    assert "the first 1,000 of 2,555 events" in text


def test_extreme_values_are_drawn_on_a_fitting_axis():
    run = {"start_wall_s": 0, "days": 1,
           "samples": [{"t_min": 0, "bg": 3000.0, "cgm": None, "basal_u_h": 40.0, "iob_u": 0},
                       {"t_min": 5, "bg": 1.0, "cgm": None, "basal_u_h": 0, "iob_u": 0}],
           "events": [{"t_min": 19 * 366 * 1440.0, "kind": "alarm", "id": "LATE", "text": ""}]}
    page = Page(report.render(run))
    ticks = page.plot_text("glucose").split()
    assert "3000" in ticks and "day 1" in page.plot_text("glucose")
    assert len(page.find("glucose", "text", **{"class": "tick"})) < 40   # a handful
    assert "40" in page.plot_text("insulin").split()


def test_out_of_order_samples_are_drawn_in_time_order(day):
    run = copy.deepcopy(day)
    run["samples"].reverse()
    assert report.render(run) == report.render(day)


# --- empty and missing ----------------------------------------------------------------------

def test_a_run_with_nothing_in_it_says_none_in_every_plot():
    text = report.render(empty_run())
    page = Page(text)
    assert {a["data-plot"] for t, a, _p in page.elements if "data-plot" in a} == PLOTS
    for name in PLOTS:
        assert "none" in page.plot_text(name), name
    cards = text[:text.index('data-plot="range"')]
    assert cards.count('<div class="v">\u2013</div>') >= 5


def test_missing_keys_are_empty_not_errors():
    text = report.render({})
    assert all('data-plot="%s"' % name in text for name in PLOTS)
    assert "simulated run" in text


def test_no_cgm_and_no_boluses(day):
    run = copy.deepcopy(day)
    for s in run["samples"]:
        s["cgm"] = None
    run["boluses"] = []
    run["events"] = []
    run["suspends"] = []
    page = Page(report.render(run))
    assert "CGM: none" in page.plot_text("glucose")
    assert not page.find("glucose", "path", **{"data-series": "cgm"})
    assert page.find("glucose", "path", **{"data-series": "bg"})
    assert "boluses: none" in page.plot_text("insulin")
    assert "none: no events" in page.plot_text("events")


def test_a_gap_in_the_samples_breaks_the_line(day):
    run = copy.deepcopy(day)
    for s in run["samples"][100:110]:
        s["bg"] = None
    page = Page(report.render(run))
    (path,) = page.find("glucose", "path", **{"data-series": "bg"})
    assert path["d"].count("M") == 2


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, field", [
    (lambda r: r["samples"][3].update(t_min="3"), "run['samples'][3]['t_min']"),
    (lambda r: r["samples"][3].update(bg=float("nan")), "run['samples'][3]['bg']"),
    (lambda r: r["samples"][3].update(bg=True), "run['samples'][3]['bg']"),
    (lambda r: r["boluses"][0].update(units=-1), "run['boluses'][0]['units']"),
    (lambda r: r["suspends"][0].update(end_min=1.0), "run['suspends'][0]"),
    (lambda r: r.update(events="alarm"), "run['events']"),
    (lambda r: r["events"].append(7), "run['events'][7]"),
    (lambda r: r["channel"].update(messages="many"), "run['channel']['messages']"),
    (lambda r: r["metrics"]["glucose_true"].update(lbgi=[1]), "run['metrics']['glucose_true']"),
    (lambda r: r.update(start_wall_s=1e20), "run['start_wall_s']"),
    (lambda r: r["events"][0].update(t_min=1e12), "run['events'][0]['t_min']"),
    (lambda r: r.update(days=10 ** 9), "run['days']"),
])
def test_bad_input_is_one_clear_error(day, mutate, field):
    run = copy.deepcopy(day)
    mutate(run)
    with pytest.raises(ReportError) as caught:
        report.render(run)
    message = str(caught.value)
    assert message.startswith(field) and "\n" not in message


def test_a_run_must_be_a_dict():
    with pytest.raises(ReportError, match="run: expected a dict"):
        report.render([])
