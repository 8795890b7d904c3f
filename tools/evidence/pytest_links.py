"""A pytest plugin that records, for every linked test, the controls its
``@pytest.mark.verifies(...)`` markers name and its outcome, and what collection lost on
the way, and writes them as JSON.

Loaded by the evidence build: ``pytest -p tools.evidence.pytest_links --evidence-out
FILE -m verifies``. A test passes only if its setup, call and teardown all passed; a
skip, an expected failure (``xfailed``), an unexpected pass (``xpassed``) or an error is
not a verification. Besides the outcomes it records the modules that were skipped at
module level or failed to collect, and the linked tests that were collected but then
deselected (``--deselect``, ``-k``) or removed from the run by a hook, so that a linked test
that vanishes is named rather than merely missing from the count.
"""

import json

MARKER = "verifies"
_LINKS = {}
_COLLECTED = {}
_DESELECTED = {}
_MODULES = {}


def pytest_addoption(parser):
    parser.addoption("--evidence-out", default=None,
                     help="write the tests linked to controls and their outcomes here (JSON)")


def pytest_configure(config):
    config.addinivalue_line("markers", "%s(*ids): the controls this test verifies" % MARKER)
    for table in (_LINKS, _COLLECTED, _DESELECTED, _MODULES):
        table.clear()


def _ids(item):
    ids = set()
    for mark in item.iter_markers(MARKER):
        ids.update(str(arg) for arg in mark.args)
    return sorted(ids)


def _is_linked(item):
    return any(True for _mark in item.iter_markers(MARKER))


def pytest_itemcollected(item):
    if _is_linked(item):
        _COLLECTED[item.nodeid] = _ids(item)


def pytest_deselected(items):
    for item in items:
        if _is_linked(item):
            _DESELECTED[item.nodeid] = _ids(item)


def _reason(report):
    """One line: why a collector was skipped or failed."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text[len("Skipped: "):] if text.startswith("Skipped: ") else text
    lines = [line.strip() for line in str(longrepr).splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines or ["no detail"])[-1][:200]


def pytest_collectreport(report):
    """A module skipped at module level (``pytest.skip(..., allow_module_level=True)``,
    ``importorskip``) or one that failed to collect."""
    if report.nodeid and (report.skipped or report.failed):
        path = report.nodeid.split("::")[0]
        _MODULES[path] = {"state": "skipped" if report.skipped else "error",
                          "reason": _reason(report)}


def pytest_collection_finish(session):
    for item in session.items:
        if _is_linked(item):
            _LINKS[item.nodeid] = {"ids": _ids(item), "outcome": "not run", "duration": 0.0}


def pytest_runtest_logreport(report):
    entry = _LINKS.get(report.nodeid)
    if entry is None:
        return
    entry["duration"] = round(entry["duration"] + report.duration, 3)
    if hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
    elif report.skipped:
        entry["outcome"] = "skipped"
    elif report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
    elif report.when == "call" and entry["outcome"] == "not run":
        entry["outcome"] = "passed"


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--evidence-out")
    if not path:
        return
    removed = {node: ids for node, ids in _COLLECTED.items()
               if node not in _LINKS and node not in _DESELECTED}
    with open(path, "w", encoding="utf8") as out:
        json.dump({"exitstatus": int(exitstatus), "rootdir": str(session.config.rootpath),
                   "tests": _LINKS,
                   "collection": {"modules": _MODULES, "deselected": _DESELECTED,
                                  "removed": removed}}, out, indent=1, sort_keys=True)
