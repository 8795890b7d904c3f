"""A pytest plugin that records, for every selected test, the controls its
``@pytest.mark.verifies(...)`` markers name and its outcome, and writes them as JSON.

Loaded by the evidence build: ``pytest -p tools.evidence.pytest_links --evidence-out
FILE -m verifies``. A test passes only if its setup, call and teardown all passed; a
skip, an expected failure or an error is not a verification.
"""

import json

MARKER = "verifies"
_LINKS = {}


def pytest_addoption(parser):
    parser.addoption("--evidence-out", default=None,
                     help="write the tests linked to controls and their outcomes here (JSON)")


def pytest_configure(config):
    config.addinivalue_line("markers", "%s(*ids): the controls this test verifies" % MARKER)
    _LINKS.clear()


def pytest_collection_finish(session):
    for item in session.items:
        ids = set()
        for mark in item.iter_markers(MARKER):
            ids.update(str(arg) for arg in mark.args)
        _LINKS[item.nodeid] = {"ids": sorted(ids), "outcome": "not run", "duration": 0.0}


def pytest_runtest_logreport(report):
    entry = _LINKS.get(report.nodeid)
    if entry is None:
        return
    entry["duration"] = round(entry["duration"] + report.duration, 3)
    if report.skipped or hasattr(report, "wasxfail"):
        entry["outcome"] = "skipped"
    elif report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
    elif report.when == "call" and entry["outcome"] == "not run":
        entry["outcome"] = "passed"


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--evidence-out")
    if path:
        with open(path, "w", encoding="utf8") as out:
            json.dump({"exitstatus": int(exitstatus), "tests": _LINKS}, out, indent=1,
                      sort_keys=True)
