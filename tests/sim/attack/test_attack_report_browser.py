"""The attack report in a real browser: headless Chromium opens it from a file:// URL.

Hazards: a plot that parses but draws nothing (a zero-sized bar, a trace outside its
viewBox, a style that hides it) passes every text test and shows the reader a blank box;
bars that are not to scale on the screen; a page that needs anything besides itself; a
hostile scenario title that runs as script in the reader's browser. Chromium, chromedriver
and selenium come from `make setup`; outside CI a missing one skips, under CI=true it fails.
"""

import io

import pytest

from attack_results_fixture import sample_results
from conftest import headless_chromium, real_component
from sim.attack import report
from sim.attack.report import PROFILE_COLOURS

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


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), WIDTH, 900)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, results, path):
    report.write_report(results, path)
    driver.get(path.resolve().as_uri())
    return driver.get_log("browser")


def test_every_plot_is_drawn_to_scale_and_nothing_is_loaded(browser, tmp_path):
    image_module = real_component("PIL.Image")
    logs = _open(browser, sample_results(), tmp_path / "attack.html")
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').length") == 0

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
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
    png = browser.get_screenshot_as_png()
    (tmp_path / "attack.png").write_bytes(png)
    image = image_module.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (WIDTH, height)
    counts = {rgb: n for n, rgb in image.getcolors(maxcolors=1 << 22)}
    for profile, colour in PROFILE_COLOURS.items():
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert counts.get(rgb, 0) > 1000, (profile, colour)


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
    logs = _open(browser, results, tmp_path / "hostile.html")
    assert [entry for entry in logs if entry["level"] == "SEVERE"] == []
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script(
        "return document.querySelectorAll('script, img, svg:not([data-plot])').length") == 0
    matrix = browser.find_element("css selector", "table.matrix").text
    assert "<script>window.pwned = 1</script>" in matrix
