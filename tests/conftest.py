"""Hypothesis profiles: `ci` (bounded, used by `make test`) and `deep` (long runs)."""

import os
import pathlib
import sys

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "deep", max_examples=20000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def examples(ci, deep=None):
    """Per-test example count scaled to the active profile (ci count is the floor)."""
    profile = os.environ.get("HYPOTHESIS_PROFILE", "dev")
    if profile == "deep":
        return deep if deep is not None else ci * 20
    if profile == "ci":
        return ci
    return max(10, ci // 10)


# Portable test helpers (plain modules shared with the MicroPython run) are importable
# from every test directory.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "portable"))


def real_component(module):
    """Import ``module`` (aiocoap, lakers, cbor_diag, simglucose, ...) for a test of a real
    component: outside CI a missing one skips the test module; under CI=true it fails,
    because a skip there would hide a missing set-up step."""
    import importlib
    import pytest
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def real_tool(name):
    """The path of a real command-line tool (tshark, ...), by the same rule."""
    import shutil
    import pytest
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("%s is not installed but CI is set: `make setup` installs it; this "
                        "test must run in CI" % name)
        pytest.skip("%s not installed (make setup installs it)" % name)
    return path


CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")


def headless_chromium(profile_dir, width, height):
    """A Selenium driver for Debian's headless Chromium and chromium-driver (real
    components, by the rule of ``real_component``), its console log kept."""
    webdriver = real_component("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = real_tool("chromium")
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument("--user-data-dir=%s" % profile_dir)
    options.add_argument("--window-size=%d,%d" % (width, height))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=real_tool("chromedriver")),
        options=options)
    driver.set_page_load_timeout(10)
    return driver
