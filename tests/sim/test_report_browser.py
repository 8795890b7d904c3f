"""The run report in a real browser: headless Chromium opens report.html from a file:// URL.

Hazards: an SVG that parses but draws nothing (a zero-sized plot, a path outside its
viewBox, a style that hides it) passes every text test and shows the reader a blank box; a
page that needs anything besides itself loads it, or fails to, in the reader's browser; a
hostile event id that runs as script in the reader's browser. Chromium, chromedriver and
selenium come from `make setup`; outside CI a missing one skips, under CI=true it fails.
"""

from conftest import real_component
from report_fixture import (assert_loaded_cleanly, assert_no_script_ran, browser_fixture,
                            full_page_screenshot, open_report, rgb, sample_run)
from sim import report

WIDTH = 1200

# What each plot must draw: its data, found by a selector, with a non-empty box.
DRAWN = {
    "glucose": ('path[data-series="bg"]', 'path[data-series="cgm"]', "rect.band",
                "rect.suspend"),
    "insulin": ('path[data-series="basal"]', 'path[data-series="iob"]', "g.stem"),
    "carbs": ("rect.carb",),
    "events": ("g.mark", "rect.suspend"),
    "channel": ("rect",),
    "range": ("rect[data-range]",),
}

MEASURE = """
const out = {};
for (const svg of document.querySelectorAll('svg[data-plot]')) {
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('path, rect, circle, polyline')].filter(el => {
    const b = el.getBBox(); return b.width > 0 && b.height > 0; }).length;
  const data = {};   // drawn, and at least partly inside the plot's box on the page
  const inside = r => r.right > box.left && r.left < box.right && r.bottom > box.top &&
                      r.top < box.bottom;
  for (const sel of arguments[0][svg.dataset.plot] || []) {
    data[sel] = [...svg.querySelectorAll(sel)].filter(el => {
      const b = el.getBBox();
      return b.width > 0 && b.height > 0 && inside(el.getBoundingClientRect()); }).length;
  }
  out[svg.dataset.plot] = {width: box.width, height: box.height, drawn: drawn, data: data,
                           title: svg.querySelector(':scope > title').textContent};
}
return out;
"""


browser = browser_fixture(WIDTH)


def test_every_plot_is_drawn_and_the_page_is_not_blank(browser, tmp_path):
    image_module = real_component("PIL.Image")
    logs = open_report(browser, report.write, sample_run(days=2), tmp_path / "report.html")
    assert_loaded_cleanly(browser, logs)

    plots = browser.execute_script(MEASURE, DRAWN)
    assert set(plots) == set(DRAWN)
    for name, plot in plots.items():
        assert plot["width"] > 400 and plot["height"] > 60, (name, plot)
        assert plot["drawn"] > 0, (name, plot)
        assert plot["title"], name
        for selector, count in plot["data"].items():
            assert count > 0, (name, selector, plot)

    # The whole page in one screenshot: a viewport as tall as the document.
    png, height, counts = full_page_screenshot(browser, image_module, WIDTH,
                                               tmp_path / "report.png")
    assert browser.execute_script(
        "return [innerWidth, innerHeight, document.documentElement.scrollWidth]") == [
            WIDTH, height, WIDTH]                       # nothing overflows sideways
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(counts) > 200                            # text, plots, anti-aliasing
    for key, _name, _span, colour in report.RANGES:     # the range bar, in its colours
        if key in ("in_range", "high", "very_high"):
            assert counts.get(rgb(colour), 0) > 500, (key, colour)


def test_hostile_text_does_not_run_in_the_browser(browser, tmp_path):
    run = sample_run()
    hostile = ('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
               '<svg onload="window.pwned = 3">')
    run["title"] = hostile
    run["events"].append({"t_min": 300.0, "kind": "security", "id": hostile, "text": hostile})
    run["boluses"].append({"t_min": 100.0, "units": 1.0, "kind": hostile})
    logs = open_report(browser, report.write, run, tmp_path / "hostile.html")
    assert_no_script_ran(browser, logs)
    assert browser.execute_script("return document.querySelectorAll('script, img').length") == 0
    assert "<script>window.pwned = 1</script>" in browser.find_element("tag name", "h1").text
