"""A realistic run dict, as the simulator hands it to `sim.report`, for the report tests.

One day (or ``days`` days, each the same day) of adult#001 on the secure profile, starting
2026-01-01 00:00 UTC, with samples every 5 min. Meals of 45 g at 07:00, 70 g at 12:00 and
80 g at 18:30 are bolused by a carbohydrate ratio, with a correction after dinner. A low
late in the morning makes the pump suspend basal (IL-PLGS, 10:00-10:40), the CGM is warming
up for the first 30 min (no readings), an occlusion alarm fires at 15:10, and the secure
channel sees one refused request and one stale session. Metrics come from `sim.metrics`,
as in a real run. Deterministic: the CGM noise comes from ``random.Random(seed)``.

Also what the run report's tests and the attack report's tests both read a page with (the
same HTML rules, the same headless Chromium), so the two reports are held to one standard.
"""

import copy
import html.parser
import io
import math
import random
import re

import pytest

from conftest import headless_chromium
from sim.metrics import run_metrics

START_WALL_S = 1767225600            # 2026-01-01 00:00:00 UTC
STEP_MIN = 5
BASAL_U_H = 0.8
MEALS = ((7 * 60, 45, 4.5), (12 * 60, 70, 7.0), (18 * 60 + 30, 80, 6.5))   # min, g, U
CORRECTION = (21 * 60, 1.5)
SUSPEND = (10 * 60, 10 * 60 + 40)


def _bump(dt_min, peak_min, height):
    """A meal-shaped glucose excursion: rises to ``height`` at ``peak_min``, then decays."""
    if dt_min <= 0:
        return 0.0
    x = dt_min / peak_min
    return height * x * math.exp(1 - x)


def _bg(t):
    """True BG (mg/dL) at minute ``t`` of a day."""
    g = 118 + 12 * math.sin(2 * math.pi * (t - 240) / 1440)        # dawn rise, night dip
    g += _bump(t - 420, 75, 70)                                     # breakfast
    g -= _bump(t - 545, 62, 104)                                    # late-morning low
    g += _bump(t - 720, 80, 85)                                     # lunch
    g += _bump(t - 1110, 90, 165)                                   # under-bolused dinner
    g -= _bump(t - 1260, 110, 55)                                   # correction
    return max(g, 40.0)


def _iob(t, boluses):
    """Insulin on board (U) of the boluses in the last 4 h, on a quadratic decay."""
    return sum(units * (1 - (t - tb) / 240) ** 2 for tb, units in boluses if 0 <= t - tb < 240)


def sample_run(days=1, seed=1):
    """The run dict of ``days`` identical days (each with the events above)."""
    rng = random.Random(seed)
    day = 1440
    samples, boluses, carbs, suspends, events = [], [], [], [], []
    for d in range(days):
        base = d * day
        for t_meal, grams, units in MEALS:
            carbs.append({"t_min": float(base + t_meal), "grams": grams})
            boluses.append({"t_min": float(base + t_meal), "units": units, "kind": "meal"})
        boluses.append({"t_min": float(base + CORRECTION[0]), "units": CORRECTION[1],
                        "kind": "correction"})
        suspends.append({"start_min": float(base + SUSPEND[0]), "end_min": float(base + SUSPEND[1]),
                         "why": "IL-PLGS"})
        events += [
            {"t_min": base + 595.0, "kind": "alert", "id": "IL-LOW-PREDICTED",
             "text": "glucose predicted below 70 mg/dL within 30 min"},
            {"t_min": base + float(SUSPEND[0]), "kind": "suspend", "id": "IL-PLGS",
             "text": "basal suspended: predictive low-glucose suspend"},
            {"t_min": base + float(SUSPEND[1]), "kind": "resume", "id": "IL-PLGS",
             "text": "basal resumed: glucose rising"},
            {"t_min": base + 910.0, "kind": "alarm", "id": "IL-OCCLUSION",
             "text": "occlusion: delivery stopped"},
            {"t_min": base + 915.5, "kind": "refusal", "id": "4.01 Unauthorized",
             "text": "bolus request without a valid session"},
            {"t_min": base + 1000.0, "kind": "security", "id": "SESSION_STALE",
             "text": "session older than its lifetime: new handshake required"},
            {"t_min": base + 1190.0, "kind": "warning", "id": "IL-RESERVOIR-LOW",
             "text": "reservoir below 20 U"},
        ]
    bolus_times = [(b["t_min"], b["units"]) for b in boluses]
    recent = 0                                  # boluses before bolus_times[recent] are over
    basal_total, basal_offset = 0.0, 0.0
    n = days * day // STEP_MIN
    for i in range(n):
        t = float(i * STEP_MIN)
        in_day = t % day
        suspended = SUSPEND[0] <= in_day < SUSPEND[1]
        rate = 0.0 if suspended else BASAL_U_H
        if 14 * 60 <= in_day < 16 * 60:
            rate = 1.1                                               # afternoon profile
        basal_total += rate * STEP_MIN / 60
        basal_offset = basal_offset * 0.985 + (rate - BASAL_U_H) * STEP_MIN / 60
        while recent < len(bolus_times) and t - bolus_times[recent][0] >= 240:
            recent += 1
        bg = _bg(in_day)
        cgm = None if t < 30 else round(bg + rng.gauss(0, 6) + 4 * math.sin(t / 97))
        samples.append({"t_min": t, "bg": round(bg, 1), "cgm": cgm, "basal_u_h": rate,
                        "iob_u": round(max(0.0, _iob(t, bolus_times[recent:recent + 8]) + basal_offset), 2)})
    bolus_total = sum(b["units"] for b in boluses)
    metrics = run_metrics([s["bg"] for s in samples], [s["cgm"] for s in samples],
                          {"basal_u": basal_total, "bolus_u": bolus_total}, events, days)
    return {
        "title": "adult#001, %d day%s, secure profile" % (days, "" if days == 1 else "s"),
        "patient": "adult#001", "seed": seed, "days": days, "profile": "secure",
        "controller": "none",
        "start_wall_s": START_WALL_S,
        "samples": samples,
        "boluses": boluses,
        "carbs": carbs,
        "suspends": suspends,
        "events": events,
        "channel": {"handshakes": 3 * days, "messages": 612 * days,
                    "bytes_on_wire": 40211 * days, "refusals": {"4.01 Unauthorized": 2 * days},
                    "retransmissions": 0, "security_events": {"SESSION_STALE": days}},
        "metrics": metrics,
    }


# --- a report page, as text -----------------------------------------------------------------

EXTERNAL_TAGS = {"script", "link", "img", "iframe", "object", "embed", "base", "audio",
                 "video", "source", "track", "frame", "image", "use"}
URL_ATTRIBUTES = {"src", "href", "xlink:href", "srcset", "action", "formaction", "data",
                  "poster", "background", "ping"}
HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


class Page(html.parser.HTMLParser):
    """Every element as (tag, attrs, enclosing data-plot or None), each plot's text, and
    each plot's first child element (the run report checks that it is a <title>)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.texts, self.first_child = [], {}, {}
        self._plot, self._depth = None, 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "data-plot" in attrs:
            self._plot, self._depth = attrs["data-plot"], 0
            self.texts[self._plot] = []
        elif self._plot is not None:
            if self._depth == 0 and self._plot not in self.first_child:
                self.first_child[self._plot] = tag
            self._depth += 1
        self.elements.append((tag, attrs, self._plot))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self._plot is not None:
            if tag == "svg" and self._depth == 0:
                self._plot = None
            else:
                self._depth -= 1

    def handle_data(self, data):
        if self._plot is not None:
            self.texts[self._plot].append(data)

    def plots(self):
        return [a["data-plot"] for t, a, _p in self.elements if t == "svg" and "data-plot" in a]

    def plot_text(self, name):
        return " ".join(self.texts[name])

    def find(self, plot, tag, **attrs):
        return [a for t, a, p in self.elements
                if p == plot and t == tag and all(a.get(k) == v for k, v in attrs.items())]


def assert_same_bytes_every_time(write, render, data, tmp_path):
    """``write`` gives ``data`` and a copy of it the same bytes, and they are ``render(data)``
    in UTF-8, a whole HTML page: a report that changes from one render to the next cannot be
    diffed or hashed."""
    write(data, tmp_path / "a.html")
    write(copy.deepcopy(data), tmp_path / "b.html")
    first = (tmp_path / "a.html").read_bytes()
    assert first == (tmp_path / "b.html").read_bytes()
    assert first == render(data).encode("utf-8")
    assert first.startswith(b"<!DOCTYPE html>")


def assert_self_contained(text):
    """The page loads nothing from anywhere (no URL, no loading element or attribute, no
    event handler) and its Content-Security-Policy forbids it: a report is read offline,
    and a fetch would show something else or leak that it was opened."""
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"\bsrc\s*=", text, re.I)
    assert "url(" not in text and "@import" not in text
    page = Page(text)
    for tag, attrs, _plot in page.elements:
        assert tag not in EXTERNAL_TAGS, tag
        assert not URL_ATTRIBUTES & set(attrs), (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    csp = [a["content"] for t, a, _p in page.elements
           if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]


def assert_no_markup_injected(text):
    """No <script> or <img>, and no on* attribute, made it into the page: hostile text from
    a run or a scenario is shown as text, never run."""
    assert "<script" not in text.lower() and "<img" not in text.lower()
    for tag, attrs, _plot in Page(text).elements:
        assert tag not in {"script", "img"}
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)


# --- a report page, in headless Chromium ----------------------------------------------------

def browser_fixture(width, height=900):
    """A module-scoped fixture: one headless Chromium of ``width`` x ``height`` for all of a
    module's tests (starting one is slow), quit at the end. Assign it to ``browser``."""
    @pytest.fixture(scope="module")
    def browser(tmp_path_factory):
        driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), width, height)
        try:
            yield driver
        finally:
            driver.quit()
    return browser


def open_report(driver, write, data, path):
    """``write(data, path)``, then open ``path`` from its file:// URL, as a reader would;
    the browser's console log of the load."""
    write(data, path)
    driver.get(path.resolve().as_uri())
    return driver.get_log("browser")


def assert_loaded_cleanly(driver, logs):
    """No error or warning in the console and not one resource fetched: a page that needs
    anything besides itself loads it, or fails to, in the reader's browser."""
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []
    assert driver.execute_script(
        "return performance.getEntriesByType('resource').length") == 0


def assert_no_script_ran(driver, logs):
    """The hostile text's scripts (each sets ``window.pwned``) did not run, and nothing
    failed loudly trying."""
    assert [entry for entry in logs if entry["level"] == "SEVERE"] == []
    assert driver.execute_script("return window.pwned === undefined")


def full_page_screenshot(driver, image_module, width, path):
    """The whole page in one screenshot, saved as PNG at ``path``: a viewport as tall as the
    document, since a plain screenshot shows only its first screen. Returns the PNG bytes,
    the page's height and each RGB colour's pixel count (``image_module`` is PIL.Image)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    image = image_module.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (width, height)
    return png, height, {rgb: n for n, rgb in image.getcolors(maxcolors=1 << 22)}


def rgb(colour):
    """``#rrggbb`` as an (r, g, b) tuple, as PIL counts it."""
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
