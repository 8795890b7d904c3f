"""The attack report (`sim.attack.report`) and its tables and files (`sim.attack.tables`).

Hazards: a scenario title, action detail or job error that reaches the page, the terminal
or a spreadsheet unescaped runs as script, as terminal control codes or as a formula for
whoever reads the results; a hand-edited results file that fails with a traceback, or
worse draws a wrong picture, instead of saying which run and field are wrong; a failed
campaign job that silently disappears makes a campaign look cleaner than it was; a legacy
run read as a secure one; bars not drawn to scale; a report or file that changes from one
run of the same campaign to the next (workers finish in any order) cannot be diffed.
"""

import csv
import io
import json
import math
import os
import pathlib
import re
import sys

import pytest
from rich.console import Console

SIM_TESTS = str(pathlib.Path(__file__).resolve().parents[1])
if SIM_TESTS not in sys.path:       # report_fixture, when only this directory is collected
    sys.path.insert(0, SIM_TESTS)

from attack_results_fixture import sample_results  # noqa: E402
from report_fixture import (HOSTILE, Page, assert_no_markup_injected,  # noqa: E402
                            assert_same_bytes_every_time, assert_self_contained)
from sim.attack import report, tables  # noqa: E402
from sim.attack.tables import ResultsError  # noqa: E402

TERMINAL = "\x1b[2J\x1b]8;;http://evil/\x07[bold red]x[/]\u202e"


def cell(text, scenario, profile):
    """The HTML of one matrix cell."""
    m = re.search(r'<td class="cell[^"]*" data-scenario="%s" data-profile="%s">(.*?)</td>'
                  % (re.escape(scenario), profile), text)
    assert m, (scenario, profile)
    return m.group(0)


@pytest.fixture(scope="module")
def results():
    return sample_results()


@pytest.fixture(scope="module")
def page_html(results):
    return report.render(results)


def shuffled(results):
    """The same results as a campaign might return them: another order, keys reversed."""
    def reverse(value):
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value
    return [reverse(r) for r in reversed(results)]


# --- determinism ----------------------------------------------------------------------------

def test_the_same_results_give_the_same_bytes(results, tmp_path):
    assert_same_bytes_every_time(report.write_report, report.render, results, tmp_path)


def test_the_order_runs_come_back_in_does_not_change_any_file(results, tmp_path):
    other = shuffled(results)
    assert other != results and [r.get("scenario") for r in other] != [
        r.get("scenario") for r in results]
    assert report.render(other) == report.render(results)
    for write in (tables.write_json, tables.write_csv):
        write(results, tmp_path / "a")
        write(other, tmp_path / "b")
        assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes(), write


# --- content --------------------------------------------------------------------------------

def test_the_headline_counts(page_html):
    head = page_html[:page_html.index("Outcome per scenario")]
    for label, value in (("runs", "12"), ("as expected", "10 <small>of 11</small>"),
                         ("failed jobs", "1"), ("unsafe \u00b7 secure", "0 <small>of 6</small>"),
                         ("unsafe \u00b7 legacy", "3 <small>of 5</small>")):
        assert '<div class="k">%s</div><div class="v">%s</div>' % (label, value) in head, label
    assert "\u2717 target all" in head           # cgm-spoof was not as expected


def test_the_matrix_has_the_outcome_of_each_scenario_on_each_profile(page_html):
    forged = cell(page_html, "forged-bolus", "legacy")
    assert 'class="cell bad"' in forged and "unsafe 2 of 2" in forged
    assert "33\u2009mg/dL" in forged and "\u00d72" in forged
    assert "no control stopped it" in forged
    secure = cell(page_html, "forged-bolus", "secure")
    assert 'class="cell good"' in secure and "<code>SC-EDHOC-AUTH</code>" in secure
    assert "patient safe" in secure and "as expected" in secure
    assert "<code>SC-OSCORE-REPLAY</code>" in cell(page_html, "replay-bolus", "secure")
    assert "stopped by <code>SC-EDHOC-AUTH</code>" in secure
    capped = cell(page_html, "basal-tamper", "legacy")      # acted, did not stop it
    assert "controls that acted <code>IL-TEMP-BASAL-MAX</code>" in capped
    spoof = cell(page_html, "cgm-spoof", "secure")
    assert 'class="cell odd"' in spoof and "1 of 1 not as expected (expected blocked)" in spoof
    assert "not run" in cell(page_html, "cgm-spoof", "legacy")
    assert "1 job failed" in cell(page_html, "firmware-downgrade", "secure")
    assert "CVE-2016-5086" in page_html           # the scenario's reference


def test_legacy_runs_are_labelled_as_the_insecure_teaching_profile(results, page_html):
    label = "deliberately insecure teaching profile"
    assert '<aside class="warn" role="note"><b>Legacy profile: the %s.</b>' % label in page_html
    matrix = page_html[page_html.index("Outcome per scenario"):page_html.index("Lowest glucose")]
    assert label in matrix.split("</thead>")[0]
    page = Page(page_html)
    assert "legacy (%s)" % label in page.plot_text("minglucose")
    legacy = [r for r in results if r.get("profile") == "legacy"]
    table = page_html[page_html.index("All runs"):page_html.index("Attacker actions")]
    assert table.count("legacy \u00b7 insecure") == len(legacy)
    assert page_html.count('title="%s"' % label) >= 2 * len(legacy)    # table, traces, ...

    secure_only = report.render([r for r in results if r.get("profile") != "legacy"
                                 and "job" not in r])
    assert '<aside class="warn"' not in secure_only
    assert secure_only.count("legacy \u00b7 insecure") == 1       # the matrix column only
    assert "not run" in cell(secure_only, "forged-bolus", "legacy")


def test_the_bars_are_drawn_to_scale_against_the_54_and_70_lines(results, page_html):
    page = Page(page_html)
    bars = page.find("minglucose", "rect")
    bars = [b for b in bars if "data-bar" in b]
    lowest = {}
    for r in results:
        if "outcome" in r:
            key = (r["scenario"], r["profile"])
            lowest[key] = min(lowest.get(key, 1e9), r["outcome"]["min_glucose_mg_dl"])
    assert {(b["data-scenario"], b["data-profile"]): float(b["data-bar"]) for b in bars} == (
        pytest.approx(lowest))
    x0 = float(bars[0]["x"])
    scale = {float(b["width"]) / float(b["data-bar"]) for b in bars}
    assert max(scale) - min(scale) < 0.02           # one mg/dL is one width everywhere
    k = next(iter(scale))
    for value in (54, 70):
        (line,) = page.find("minglucose", "line", **{"data-ref": str(value)})
        assert float(line["x1"]) == pytest.approx(x0 + value * k, abs=0.3)
    assert len(page.find("minglucose", "line")) >= len(bars)       # baselines, grid, refs
    text = page.plot_text("minglucose")
    assert "lowest glucose during the run (mg/dL)" in text
    assert all(tick in text.split() for tick in ("0", "50", "100", "150"))
    assert "\u00b7 unsafe 2 of 2" in text and "not run" in text and "failed" in text


def _trace_values(page, plot, series):
    """The glucose values a trace path reaches, read back through the 54 line and the
    70-180 band's pixel rows."""
    (path,) = page.find(plot, "path", **{"data-series": series})
    ys = [float(y) for _x, y in re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", path["d"])]
    (band,) = page.find(plot, "rect", **{"class": "band"})
    y180, y70 = float(band["y"]), float(band["y"]) + float(band["height"])
    per_pixel = (180 - 70) / (y70 - y180)
    (line,) = page.find(plot, "line", **{"data-ref": "54"})
    assert 70 + (y70 - float(line["y1"])) * per_pixel == pytest.approx(54, abs=0.5)
    return [70 + (y70 - y) * per_pixel for y in ys]


def test_the_worst_cases_are_the_lowest_runs_with_and_without_the_attack(page_html):
    page = Page(page_html)
    traces = [p for p in page.plots() if p.startswith("trace-")]
    assert traces == ["trace-1", "trace-2", "trace-3", "trace-4"]
    lows = [33.0, 37.8, 47.4, 62.7]                  # the fixture's four lowest runs
    for plot, low in zip(traces, lows):
        attack = _trace_values(page, plot, "attack")
        baseline = _trace_values(page, plot, "baseline")
        assert min(attack) == pytest.approx(low, abs=1.0), plot
        assert min(baseline) > 100, plot
        assert page.find(plot, "g", **{"class": "action"}), plot
        assert "hours since the run started" in page.plot_text(plot)
        assert "glucose (mg/dL)" in page.plot_text(plot)
    assert "ended early: stopped at 17:40" in page_html
    assert "forged-bolus" in page.find("trace-1", "svg")[0]["aria-label"]
    assert len([p for p in Page(report.render(sample_results(), worst=1)).plots()
                if p.startswith("trace-")]) == 1
    with pytest.raises(ValueError, match="worst"):
        report.render(sample_results(), worst=-1)


def test_failed_jobs_are_rows_everywhere(results, page_html, tmp_path):
    error = "ValueError: image revision 3 is older than the running revision 5"
    table = page_html[page_html.index("All runs"):page_html.index("Attacker actions")]
    assert table.count("<tr>") == len(results) + 1       # the header row, every run
    assert '<span class="no">job failed:</span> %s' % error in table

    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(tables.summary_table(results))
    out = console.file.getvalue()
    assert "firmware-downgrade" in out and "FAILED" in out and "error: " + error in out
    assert "1 failed" in out

    tables.write_csv(results, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text("utf-8"))))
    assert len(rows) == len(results)
    (failed,) = [r for r in rows if r["error"]]
    assert failed["error"] == error and failed["scenario"] == "firmware-downgrade"
    assert failed["verdict"] == "" and failed["seed"] == "1"
    tables.write_json(results, tmp_path / "r.json")
    assert sum("error" in r for r in tables.read_json(tmp_path / "r.json")) == 1


def test_each_scenario_has_its_actions_in_a_closed_details_block(page_html):
    blocks = re.findall(r'<details data-scenario="([^"]+)">(.*?)</details>', page_html)
    assert [name for name, _ in blocks] == ["basal-tamper", "cgm-spoof", "firmware-downgrade",
                                            "forged-bolus", "link-jam", "replay-bolus"]
    body = dict(blocks)
    assert "4 actions in 4 runs" in body["forged-bolus"]
    assert body["replay-bolus"].count("<tr>") == 6 + 1
    assert "bolus 10.000 U: RECORD-AUTH" in body["forged-bolus"]
    assert "15:05" in body["replay-bolus"]           # at 905 min, as h:mm
    assert "none: no actions recorded" in body["firmware-downgrade"]
    assert "<details open" not in page_html


def test_the_terminal_table_has_the_columns_and_colours():
    results = sample_results()
    table = tables.summary_table(results)
    assert [c.header for c in table.columns] == [
        "scenario", "profile", "patient", "seed", "expected", "verdict", "match", "unsafe",
        "min glucose\nmg/dL", "attack\ninsulin U", "controls / error"]
    rows = list(zip(*[list(c.cells) for c in table.columns]))
    assert len(rows) == len(results)
    by = {(r[0].plain, r[1].plain, r[2].plain): r for r in rows}
    forged = by[("forged-bolus", "legacy", "adolescent#003")]
    assert forged[7].plain == "UNSAFE" and "red" in str(forged[7].style)
    assert forged[8].plain == "33.0" and "red" in str(forged[8].style)
    assert forged[9].plain == "10.00" and forged[1].style == "bold yellow"
    spoof = by[("cgm-spoof", "secure", "adult#001")]
    assert spoof[6].plain == "\u2717" and "red" in str(spoof[6].style)
    assert by[("replay-bolus", "secure", "adult#001")][10].plain == "SC-OSCORE-REPLAY"
    assert "legacy = the deliberately insecure teaching profile" in table.caption


# --- self-contained, and hostile text -------------------------------------------------------

def test_nothing_is_loaded_from_anywhere(page_html):
    assert_self_contained(page_html)


def _set_everywhere(results, text):
    """``text`` in every string of the results that is free text (not an enum)."""
    for r in results:
        if "job" in r:
            r["job"].update(scenario=text, patient=text)
            r["error"] = text
            continue
        r.update(scenario=text + r["scenario"], title=text, reference=text, patient=text,
                 ended=text)
        r["security_events"][text] = 1
        r["controls"].append(text.replace(" ", "")[:60])
        for a in r["actions"]:
            a.update(kind=text, effect=text, detail=text)
    return results


def test_hostile_text_in_every_field_is_escaped():
    results = _set_everywhere(sample_results(), HOSTILE)
    text = report.render(results, title="</title>" + HOSTILE)
    assert_no_markup_injected(text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text       # shown, as text
    assert text.count("&lt;script&gt;") > 50


@pytest.mark.parametrize("field", ["scenario", "title", "reference", "patient", "ended",
                                   "event", "control", "kind", "effect", "detail", "error",
                                   "job"])
def test_hostile_text_in_each_field_alone_is_escaped(field):
    results = sample_results()
    good = next(r for r in results if r.get("profile") == "legacy" and r["actions"])
    failed = next(r for r in results if "job" in r)
    if field in ("scenario", "title", "reference", "patient", "ended"):
        good[field] = HOSTILE
    elif field == "event":
        good["security_events"][HOSTILE] = 2
    elif field == "control":
        good["controls"].append("<script>alert(1)</script><img/src=x/onerror=alert(2)>")
    elif field in ("kind", "effect", "detail"):
        good["actions"][0][field] = HOSTILE
    elif field == "error":
        failed["error"] = HOSTILE
    else:
        failed["job"]["scenario"] = HOSTILE
    text = report.render(results)
    assert_no_markup_injected(text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_control_and_bidi_characters_are_shown_not_obeyed(tmp_path):
    results = _set_everywhere(sample_results(), TERMINAL)
    text = report.render(results)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[2J" in text and "\\u202e" in text

    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(tables.summary_table(results, title=TERMINAL))
    out = console.file.getvalue()
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "[bold red]x[/]" in out      # markup shown, as text

    coloured = Console(file=io.StringIO(), width=400, force_terminal=True,
                       color_system="truecolor")
    coloured.print(tables.summary_table(results))
    assert "\x1b[2J" not in coloured.file.getvalue()
    assert "\x1b]8;;http://evil" not in coloured.file.getvalue()


def test_a_csv_cell_never_starts_a_formula(tmp_path):
    results = sample_results()
    results[0]["title"] = '=HYPERLINK("http://evil/","click")'
    results[0]["patient"] = "+1+cmd|' /C calc'!A0"
    results[1]["reference"] = "@SUM(1+1)"
    results[2]["ended"] = "-2+3"
    tables.write_csv(results, tmp_path / "r.csv")
    for row in csv.reader(io.StringIO((tmp_path / "r.csv").read_text("utf-8"))):
        for value in row:
            assert value[:1] not in ("=", "+", "-", "@"), value
    text = (tmp_path / "r.csv").read_text("utf-8")
    assert "'=HYPERLINK" in text and "'+1+cmd" in text and "'@SUM" in text and "'-2+3" in text


def test_a_csv_cell_carries_no_terminal_or_bidi_control(tmp_path):
    """A CSV opened with cat or in a spreadsheet must not obey an ESC sequence or flip
    text with a bidi override from a hostile scenario title."""
    results = sample_results()
    results[0]["title"] = "\x1b]8;;http://evil/\x07click\x1b]8;;\x07 \u202etxt.exe"
    tables.write_csv(results, tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text("utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]8;;http://evil/\\x07click" in text and "\\u202etxt.exe" in text


def test_very_long_text_is_shortened():
    results = sample_results()
    results[0]["title"] = "A" * 100000
    results[1]["actions"][0]["detail"] = "B" * 100000
    text = report.render(results)
    assert "A" * 1000 not in text and "B" * 1000 not in text
    assert len(text) < len(report.render(sample_results())) + 5000


# --- files ----------------------------------------------------------------------------------

def test_json_round_trip(results, tmp_path):
    path = tmp_path / "results.json"
    tables.write_json(results, path)
    data = path.read_bytes()
    assert data.isascii() and data.endswith(b"]\n")
    assert data.count(b"\n") == len(results) + 2               # one run per line
    back = tables.read_json(path)
    canonical = [run.raw for run in tables.validate(results)]
    assert back == canonical
    key = lambda r: json.dumps(r, sort_keys=True)                       # noqa: E731
    assert sorted(map(key, back)) == sorted(map(key, results))
    assert report.render(back) == report.render(results)
    tables.write_json(back, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == data
    tables.write_json([], tmp_path / "none.json")
    assert tables.read_json(tmp_path / "none.json") == []


def test_csv_round_trip(results, tmp_path):
    path = tmp_path / "results.csv"
    tables.write_csv(results, path)
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == len(results) + 1               # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert list(rows[0]) == list(tables.CSV_COLUMNS)
    runs = [r for r in tables.validate(results) if not r.failed]
    done = [row for row in rows if not row["error"]]
    assert len(done) == len(runs)
    for run, row in zip(runs, done):
        raw_run = run.raw
        for key in ("scenario", "title", "reference", "profile", "patient", "expected",
                    "verdict"):
            assert row[key] == raw_run[key], key
        assert int(row["seed"]) == raw_run["seed"]
        assert row["matches"] == ("true" if raw_run["matches"] else "false")
        assert row["unsafe"] == ("true" if raw_run["unsafe"] else "false")
        for key in tables.OUTCOME_KEYS:
            assert float(row[key]) == raw_run["outcome"][key], key
        assert row["controls"].split() == sorted(raw_run["controls"])
        assert json.loads(row["security_events"]) == raw_run["security_events"]
        assert int(row["actions"]) == len(raw_run["actions"])
        assert row["ended"] == (raw_run["ended"] or "")


def test_a_missing_value_is_an_empty_cell_and_a_dash(tmp_path):
    results = sample_results()
    results[0]["outcome"]["min_glucose_mg_dl"] = None
    results[0]["trace"] = None
    tables.write_csv(results, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text("utf-8"))))
    row = next(r for r in rows if r["scenario"] == "link-jam" and r["profile"] == "legacy")
    assert row["min_glucose_mg_dl"] == ""
    text = report.render(results)
    table = text[text.index("All runs"):text.index("Attacker actions")]
    assert "<td class=\"n\">\u2013 (118)</td>" in table
    assert 'data-scenario="link-jam" data-profile="legacy"' not in text.split("</table>")[1]
    assert cell(text, "link-jam", "legacy").count("lowest glucose \u2013") == 1


def test_writes_are_atomic_and_leave_nothing_behind(results, tmp_path):
    path = tmp_path / "out.html"
    path.write_text("old report")
    bad = sample_results()
    bad[4]["verdict"] = "maybe"
    for write in (report.write_report, tables.write_json, tables.write_csv):
        with pytest.raises(ResultsError):
            write(bad, path)
        assert path.read_text() == "old report"             # a bad result writes nothing
    report.write_report(results, path)
    assert path.read_bytes().startswith(b"<!DOCTYPE html>")
    assert sorted(os.listdir(tmp_path)) == ["out.html"]     # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # as open() would make it
    with pytest.raises(OSError):
        tables.write_json(results, tmp_path / "missing" / "r.json")


# --- bad input ------------------------------------------------------------------------------

def _set(index, *keys, value):
    def mutate(results):
        target = results[index]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return mutate


def _drop(index, key):
    return lambda results: results[index].pop(key)


BAD = [
    (_set(1, "outcome", "min_glucose_mg_dl", value="72"),
     "results[1]['outcome']['min_glucose_mg_dl']: expected a number, got str"),
    (_set(1, "outcome", "min_glucose_mg_dl", value=math.nan),
     "results[1]['outcome']['min_glucose_mg_dl']: expected a finite number"),
    (_set(1, "outcome", "insulin_u", value=-1), "results[1]['outcome']['insulin_u']: must be"),
    (_set(1, "outcome", "insulin_u", value=10 ** 400),
     "results[1]['outcome']['insulin_u']: out of range"),
    (lambda r: r[1]["outcome"].pop("below_54_min"),
     "results[1]['outcome']['below_54_min']: missing"),
    (_set(1, "outcome", value=[]), "results[1]['outcome']: expected an object, got list"),
    (_drop(2, "verdict"), "results[2]['verdict']: missing"),
    (_set(2, "verdict", value="maybe"),
     "results[2]['verdict']: expected one of 'blocked', 'succeeded'"),
    (_set(2, "profile", value="insecure"),
     "results[2]['profile']: expected one of 'secure', 'legacy'"),
    (_set(2, "matches", value=False),
     "results[2]['matches']: is false, but expected is 'blocked' and verdict 'blocked'"),
    (_set(2, "unsafe", value=0), "results[2]['unsafe']: expected true or false, got int"),
    (_set(2, "seed", value=True), "results[2]['seed']: expected an integer, got bool"),
    (_set(2, "scenario", value=""), "results[2]['scenario']: must not be empty"),
    (_set(2, "title", value=7), "results[2]['title']: expected a string, got int"),
    (_set(2, "title", value="\udc80"), "results[2]['title']: not valid Unicode"),
    (_set(2, "controls", value=["SC EDHOC"]), "results[2]['controls'][0]: a control id"),
    (_set(2, "controls", value="SC-EDHOC-AUTH"), "results[2]['controls']: expected a list"),
    (_set(2, "security_events", "RECORD-AUTH", value=-1),
     "results[2]['security_events']['RECORD-AUTH']: must be"),
    (_set(2, "actions", value=[7]), "results[2]['actions'][0]: expected an object, got int"),
    (_set(2, "actions", 0, "at_min", value=-5), "results[2]['actions'][0]['at_min']: must be"),
    (lambda r: r[2]["actions"][0].pop("effect"), "results[2]['actions'][0]['effect']: missing"),
    (lambda r: r[2]["trace"]["glucose"].pop(), "results[2]['trace']['glucose']: 288 values "
                                                "for 289 minutes"),
    (_set(2, "trace", "baseline", 3, value=-1.0), "results[2]['trace']['baseline'][3]: must"),
    (lambda r: r[2]["trace"]["minutes"].reverse(),
     "results[2]['trace']['minutes']: must not decrease"),
    (_set(2, "trace", "glucose", 5, value="high"),
     "results[2]['trace']['glucose'][5]: expected a number"),
    (_set(2, "ended", value=False), "results[2]['ended']: expected a string, got bool"),
    (_set(2, "security_events", value={"A": {"deep": json.loads("[" * 20 + "]" * 20)}}),
     "results[2]['security_events']['A']"),
    (_set(2, "extra", value={1, 2}), "results[2]['extra']: not JSON data (set)"),
    (_set(3, "error", value=None), "results[3]['error']: expected a string"),
    (_set(3, "job", value="firmware-downgrade"), "results[3]['job']: expected an object"),
    (_set(3, "job", "profile", value="root"), "results[3]['job']['profile']: expected one of"),
    (lambda r: r.__setitem__(5, "forged-bolus"), "results[5]: expected an object, got str"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _f, m in BAD])
def test_a_bad_result_is_one_clear_error_naming_run_and_field(mutate, message):
    for entry in (report.render, tables.validate, tables.summary_table):
        results = sample_results()
        mutate(results)
        with pytest.raises(ResultsError) as caught:
            entry(results)
        text = str(caught.value)
        assert text.startswith(message), (entry, text)
        assert "\n" not in text and len(text) < 200


def test_a_hostile_key_in_an_error_message_is_escaped():
    results = sample_results()
    results[2]["security_events"]["\x1b[2J" + "K" * 500] = "many"
    with pytest.raises(ResultsError) as caught:
        tables.validate(results)
    text = str(caught.value)
    assert text.startswith("results[2]['security_events']['\\x1b[2JKKK")
    assert "\x1b" not in text and len(text) < 200


def test_results_must_be_a_list():
    with pytest.raises(ResultsError, match=r"^results: expected a list of runs, got dict$"):
        report.render({"runs": []})


@pytest.mark.parametrize("content, message", [
    (b'[{"scenario": "x",', "not JSON: Expecting"),
    (b"[NaN]", "NaN is not a JSON number"),
    (b'[{"verdict": "blocked", "verdict": "succeeded"}]', "duplicate key 'verdict'"),
    (b'["\xff"]', "not UTF-8 text (byte 2)"),
    (b"[" + b"1" * 5000 + b"]", "not usable JSON"),
    (b"[" * 100000 + b"]" * 100000, "not usable JSON"),
    (b'{"results": []}', "results: expected a list of runs"),
])
def test_a_bad_json_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_bytes(content)
    with pytest.raises(ResultsError) as caught:
        tables.read_json(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_hand_edited_file_names_the_run_and_field(results, tmp_path):
    path = tmp_path / "results.json"
    tables.write_json(results, path)
    lines = path.read_text("ascii").splitlines()
    lines[3] = lines[3].replace('"min_glucose_mg_dl":', '"min_glucose_mg_dl":"low","x":', 1)
    path.write_text("\n".join(lines), "ascii")
    with pytest.raises(ResultsError, match=r"^results\[2\]\['outcome'\]\['min_glucose_mg_dl"
                                           r"'\]: expected a number, got str$"):
        tables.read_json(path)
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines[:3] + [lines[-1]]).encode().replace(
        b",\n]", b"\n]"))
    assert len(tables.read_json(path)) == 2             # a byte-order mark is fine


def test_a_run_that_ended_early_is_compared_with_its_baseline_as_far_as_it_went():
    results = sample_results()
    (early,) = [r for r in results if r.get("ended")]
    assert len(early["trace"]["baseline"]) > len(early["trace"]["minutes"])
    page = Page(report.render(results))
    (attack,) = page.find("trace-1", "path", **{"data-series": "attack"})
    (baseline,) = page.find("trace-1", "path", **{"data-series": "baseline"})
    last_x = [float(re.findall(r"[ML](-?[\d.]+) ", p["d"])[-1]) for p in (attack, baseline)]
    assert last_x[0] == last_x[1] == report.X1        # both end where the attacked run did
    assert "16" in page.plot_text("trace-1").split() and "24" not in page.plot_text(
        "trace-1").split()


def test_an_attack_that_cut_delivery_has_negative_attack_insulin(tmp_path):
    results = sample_results()
    jam = next(r for r in results if r.get("scenario") == "link-jam")
    jam["outcome"]["attack_insulin_u"] = -1.3                # a difference to the baseline
    assert "<td class=\"n\">41.20 (-1.30)</td>" in report.render(results)
    tables.write_csv(results, tmp_path / "r.csv")
    assert ",-1.3," in (tmp_path / "r.csv").read_text("utf-8")   # a number, not a formula
