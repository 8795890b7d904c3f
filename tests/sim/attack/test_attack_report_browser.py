"""The attack report in a real browser: headless Chromium opens it from a file:// URL.

Hazards: a plot that parses but draws nothing (a zero-sized bar, a trace outside its
viewBox, a style that hides it) passes every text test and shows the reader a blank box;
bars that are not to scale on the screen; a page that needs anything besides itself; a
hostile scenario title that runs as script in the reader's browser. Chromium, chromedriver
and selenium come from `make setup`; outside CI a missing one skips, under CI=true it fails.
"""

import pathlib
import sys

SIM_TESTS = str(pathlib.Path(__file__).resolve().parents[1])
if SIM_TESTS not in sys.path:       # report_fixture, when only this directory is collected
    sys.path.insert(0, SIM_TESTS)

from attack_results_fixture import sample_results  # noqa: E402
from conftest import real_component  # noqa: E402
from report_fixture import (assert_loaded_cleanly, assert_no_script_ran,  # noqa: E402
                            browser_fixture, full_page_screenshot, open_report, rgb)
from sim.attack import report  # noqa: E402
from sim.attack.report import PROFILE_COLOURS  # noqa: E402

WIDTH = 1200

# What each plot must draw, found by a selector, each element with a non-empty box at least
# partly inside its plot: areas (both sides > 0) and lines (one side > 0).
TRACE = {"areas": ('path[data-series="attack"]', 'path[data-series="baseline"]', "rect.band"),
         "lines": ('line[data-ref="54"]', "g.action line")}
DRAWN = {"minglucose": {"areas": ("rect[data-bar]",),
                        "lines": ('line[data-ref="54"]', 'line[data-ref="70"]',
                                  "line[data-baseline]")},
         **{"trace-%d" % i: TRACE for i in (1, 2, 3, 4)}}

MEASURE = """
const out = {};
for (const svg of document.querySelectorAll('svg[data-plot]')) {
  const box = svg.getBoundingClientRect();
  const inside = r => r.right > box.left && r.left < box.right && r.bottom > box.top &&
                      r.top < box.bottom;
  const want = arguments[0][svg.dataset.plot] || {areas: [], lines: []};
  const data = {};
  for (const [kind, selectors] of Object.entries(want)) {
    for (const sel of selectors) {
      const all = [...svg.querySelectorAll(sel)];
      data[sel] = [all.length, all.filter(el => {
        const b = el.getBBox();
        const drawn = kind === 'areas' ? b.width > 0 && b.height > 0
                                       : b.width > 0 || b.height > 0;
        return drawn && inside(el.getBoundingClientRect()); }).length];
    }
  }
  out[svg.dataset.plot] = {width: box.width, height: box.height, data: data,
                           title: svg.querySelector(':scope > title').textContent};
}
return out;
"""

BARS = """
return [...document.querySelectorAll('rect[data-bar]')].map(el => [
  parseFloat(el.dataset.bar), el.getBoundingClientRect().width]);
"""


browser = browser_fixture(WIDTH)


def test_every_plot_is_drawn_to_scale_and_nothing_is_loaded(browser, tmp_path):
    image_module = real_component("PIL.Image")
    logs = open_report(browser, report.write_report, sample_results(), tmp_path / "attack.html")
    assert_loaded_cleanly(browser, logs)

    plots = browser.execute_script(MEASURE, DRAWN)
    assert set(plots) == set(DRAWN)
    for name, plot in plots.items():
        assert plot["width"] > 400 and plot["height"] > 60, (name, plot)
        assert plot["title"], name
        for selector, (present, drawn) in plot["data"].items():
            assert present > 0 and drawn == present, (name, selector, plot)
    assert plots["minglucose"]["data"]["rect[data-bar]"][0] == 9

    bars = browser.execute_script(BARS)                 # on the screen, one scale for all
    per_unit = [width / value for value, width in bars]
    assert max(per_unit) - min(per_unit) < 0.02 * max(per_unit), bars

    width, scroll = browser.execute_script("const e = document.documentElement; "
                                           "return [e.clientWidth, e.scrollWidth]")
    assert scroll == width                              # nothing overflows sideways

    # The actions log is closed until the reader opens a scenario.
    shown = ("return document.querySelector('details[data-scenario=\"forged-bolus\"] tbody')"
             ".checkVisibility()")
    assert browser.execute_script(shown) is False
    browser.find_element("css selector", 'details[data-scenario="forged-bolus"] summary').click()
    assert browser.execute_script(shown) is True

    # The whole page in one screenshot: the bars in both profiles' colours, the banner.
    _png, _height, counts = full_page_screenshot(browser, image_module, WIDTH,
                                                 tmp_path / "attack.png")
    for profile, colour in PROFILE_COLOURS.items():
        assert counts.get(rgb(colour), 0) > 1000, (profile, colour)


def test_a_hostile_scenario_title_does_not_run_in_the_browser(browser, tmp_path):
    hostile = ('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
               '<svg onload="window.pwned = 3"></svg>')
    results = sample_results()
    for r in results:
        if "job" in r:
            r["error"] = hostile
            continue
        r["title"] = hostile
        r["scenario"] = hostile + r["scenario"]
        r["actions"] = [dict(a, detail=hostile) for a in r["actions"]]
    logs = open_report(browser, report.write_report, results, tmp_path / "hostile.html")
    assert_no_script_ran(browser, logs)
    assert browser.execute_script(
        "return document.querySelectorAll('script, img, svg:not([data-plot])').length") == 0
    matrix = browser.find_element("css selector", "table.matrix").text
    assert "<script>window.pwned = 1</script>" in matrix
