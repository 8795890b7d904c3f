"""The caregiver's page in a real browser: headless Chromium against waitress on loopback.

Hazards: a plot that parses but draws nothing (no points, a path outside its box); a page
that stops following the store without saying so (no live update); a page that needs
anything from outside (it must work offline); a text from the store that runs as script
or creates an element in the caregiver's browser; a wrong password that still logs in.
Chromium, chromedriver and selenium come from `make setup`; outside CI a missing one
skips, under CI=true it fails.
"""

import threading
import time

import pytest

from conftest import headless_chromium
from web_fixture import HOSTILE, NAME, PASSWORD, add_hostile_event, fill_day
from sim.gateway.store import Store
from sim.gateway.web import serve

WAIT_S = 15                    # the page polls every second here
NEW_READING = 345

PLOT = """
const svg = document.getElementById('plot');
const box = svg.getBoundingClientRect();
const path = svg.querySelector('path[data-series="glucose"]');
const band = svg.querySelector('rect.band');
const inside = el => { const r = el.getBoundingClientRect();
  return r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 &&
         r.bottom <= box.bottom + 1 && r.width > 0 && r.height > 0; };
return {width: box.width, height: box.height, points: Number(svg.dataset.points),
        last: svg.dataset.last,
        segments: path ? path.getAttribute('d').split(/[ML]/).length - 1 : 0,
        path_inside: path ? inside(path) : false,
        band_inside: band ? inside(band) : false,
        path_width: path ? path.getBBox().width : 0};
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), 1200, 1000)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The page over a day of readings ending ten minutes ago, on a free loopback port."""
    path = fill_day(str(tmp_path_factory.mktemp("web") / "gateway.db"),
                    now=int(time.time()) - 600)
    stop, ports = threading.Event(), []
    thread = threading.Thread(target=serve, args=(path, "127.0.0.1", 0), daemon=True,
                              kwargs={"ready": ports.append, "stop": stop, "poll_s": 1})
    thread.start()
    deadline = time.monotonic() + 10
    while not ports and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ports, "the page did not start listening"
    try:
        yield "http://127.0.0.1:%d" % ports[0], path
    finally:
        stop.set()
        thread.join(10)


def _wait(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(condition, what)


def _log_in(driver, base, password=PASSWORD):
    driver.delete_all_cookies()
    driver.get(base + "/")
    assert driver.current_url == base + "/login"                # redirected: no session
    driver.find_element("id", "name").send_keys(NAME)
    driver.find_element("id", "password").send_keys(password)
    driver.find_element("id", "login").click()


def _updates(driver):
    return int(driver.execute_script("return document.body.dataset.updates || '0'"))


def _severe(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_log_in_see_the_plot_and_a_new_reading_arrive_live(browser, served):
    base, path = served
    _log_in(browser, base)
    _wait(browser, lambda d: d.current_url == base + "/" and _updates(d) >= 1, "first poll")
    plot = browser.execute_script(PLOT)
    assert plot["width"] > 600 and plot["height"] > 200, plot
    assert 280 <= plot["points"] <= 288 and plot["segments"] == plot["points"], plot
    assert plot["path_inside"] and plot["band_inside"] and plot["path_width"] > 500, plot
    assert browser.find_element("id", "pump-state").text == "delivering"
    assert browser.find_element("id", "pump-iob").text == "1.25 U"
    assert browser.find_element("id", "glucose-arrow").text == "\u21ca"
    assert "min ago" in browser.find_element("id", "glucose-age").text
    first = browser.find_element("id", "glucose-value").text
    assert first.isdigit() and int(first) != NEW_READING

    store = Store(path)
    store.add_readings([(int(time.time()), NEW_READING, 2)], source="sensor")
    store.close()
    _wait(browser, lambda d: d.find_element("id", "glucose-value").text == str(NEW_READING),
          "the new reading shown without a reload")
    assert browser.find_element("id", "glucose-arrow").text == "\u2191"
    assert browser.find_element("id", "glucose-age").text == "just now"
    _wait(browser, lambda d: d.execute_script(PLOT)["last"] == str(NEW_READING),
          "the plot redrawn with it")
    assert browser.execute_script("return performance.getEntriesByType('navigation')"
                                  ".length") == 1             # no reload happened
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(base + "/") for url in loaded), loaded
    assert _severe(browser) == []


def test_markup_in_a_security_event_is_shown_as_text(browser, served):
    base, path = served
    _log_in(browser, base)
    _wait(browser, lambda d: _updates(d) >= 1, "first poll")
    add_hostile_event(path, now=int(time.time()))
    _wait(browser, lambda d: HOSTILE in d.find_element("id", "events").text,
          "the event shown live")
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script(
        "return document.querySelectorAll('#events script, #events img, #events svg, "
        "main script, main img').length") == 0
    assert browser.execute_script("return document.scripts.length") == 1
    from selenium.common.exceptions import NoAlertPresentException
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    browser.refresh()                                         # server-rendered: the same
    assert HOSTILE in browser.find_element("id", "events").text
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert _severe(browser) == []


def test_a_wrong_password_is_refused(browser, served):
    base, _path = served
    _log_in(browser, base, password="wrong horse battery staple")
    # the click posts the form: wait for the answer page, not the page it leaves
    _wait(browser, lambda d: d.find_elements("id", "login-message"), "the refusal shown")
    message = browser.find_element("id", "login-message").text
    assert message == "Wrong name, password or code."
    assert browser.current_url == base + "/login"
    assert "pumpsim_session" not in {c["name"] for c in browser.get_cookies()}
    browser.get(base + "/api/current")
    assert "login required" in browser.find_element("tag name", "body").text
