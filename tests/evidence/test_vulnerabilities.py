"""The dependency check never passes silently: with no advisory source reachable it says
"not performed" and why; a pip-audit run that skipped every dependency is no pass; a
component no source answered for is listed as not checked; a finding needs a decision."""

from evidence_helpers import closed_port
from tools.evidence import documents, vulnerabilities as V

COMPONENTS = [("cbor2", "5.6.0"), ("transitions", "0.9.0")]


def test_with_no_reachable_advisory_source_the_check_is_not_performed(monkeypatch, tmp_path):
    proxy = "http://127.0.0.1:%d" % closed_port()
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # the real pip-audit twice (an empty cache: no answer kept from an earlier run), then
    # PyPI's JSON, all through a proxy that refuses every connection
    report = V.check(COMPONENTS, cache_dir=tmp_path / "cache")
    assert report.status == V.NOT_PERFORMED
    assert [s.name for s in report.sources] == [
        "pip-audit (PyPI per-release JSON)", "pip-audit (OSV)",
        "PyPI project JSON (advisories of the latest release)"]
    assert all(s.error and not s.audited for s in report.sources), \
        [(s.name, s.note, s.error) for s in report.sources]
    assert all("proxy" in s.error or "refused" in s.error for s in report.sources)
    assert [u[0] for u in report.unchecked] == ["cbor2", "transitions"]
    assert report.findings == [] and report.problems() == []
    assert report.summary().startswith("NOT PERFORMED: no advisory source answered")
    text = documents.vulnerability_report(report)
    assert "not performed" in text and "No known vulnerabilities" not in text
    assert "No advisory was found" not in text


# What pip-audit 2.10 printed on stdout here, while its stderr said "No known
# vulnerabilities found" and it exited 0: the per-release JSON API answered 404.
PIP_AUDIT_SKIPPED_ALL = (
    '{"dependencies": [{"name": "cbor2", "skip_reason": "Dependency not found on PyPI and '
    'could not be audited: cbor2 (5.6.0)"}, {"name": "transitions", "skip_reason": '
    '"Dependency not found on PyPI and could not be audited: transitions (0.9.0)"}], '
    '"fixes": []}')


def test_pip_audit_skipping_every_dependency_is_not_a_pass():
    skipped_all = V.parse_pip_audit("pip-audit (PyPI per-release JSON)",
                                    PIP_AUDIT_SKIPPED_ALL, "No known vulnerabilities found", 0)
    assert skipped_all.audited == {} and set(skipped_all.skipped) == {"cbor2", "transitions"}
    assert "every dependency skipped" in skipped_all.note
    report = V.check(COMPONENTS, sources=[lambda: skipped_all], fetch=_offline)
    assert report.status == V.NOT_PERFORMED
    assert report.unchecked[0] == ("cbor2", "5.6.0", "pip-audit (PyPI per-release JSON): "
                                   "Dependency not found on PyPI and could not be audited")


def _offline(url, timeout=20):
    raise OSError("offline")


def test_pip_audit_findings_are_read():
    out = ('{"dependencies": [{"name": "cbor2", "version": "5.6.0", "vulns": [{"id": '
           '"PYSEC-1", "fix_versions": ["5.6.1"], "aliases": ["CVE-1"], "description": "d"}]}]}')
    result = V.parse_pip_audit("pip-audit (OSV)", out)
    assert result.audited == {"cbor2": [{"id": "PYSEC-1", "aliases": ["CVE-1"],
                                         "fixed_in": ["5.6.1"], "summary": "d"}]}
    failed = V.parse_pip_audit("pip-audit (OSV)", "", "Traceback...\nrequests.exceptions."
                               "ConnectionError: Failed to resolve 'api.osv.dev' ([Errno -2])", 1)
    assert failed.error == ("no result (exit 1): cannot resolve api.osv.dev (no DNS answer: "
                            "the host is not reachable from here)")


def test_a_partial_check_lists_what_was_not_checked():
    one = V.SourceResult("PyPI project JSON", audited={"cbor2": []},
                         skipped={"transitions": "installed 0.9.0 is not the latest release"})
    report = V.check(COMPONENTS, sources=[lambda: one], fetch=_offline)
    assert report.status == V.PARTIAL
    assert report.summary() == ("PARTIAL: 1 of 2 host components checked, 0 finding(s); 1 not "
                                "checked (listed with the reason)")
    assert "## Not checked" in documents.vulnerability_report(report)


def test_a_finding_needs_a_decision():
    vuln = {"id": "PYSEC-0000-1", "aliases": ["CVE-0000-1"], "fixed_in": ["5.7"],
            "summary": "a flaw"}
    source = V.SourceResult("PyPI project JSON", audited={"cbor2": [vuln], "transitions": []})
    report = V.check(COMPONENTS, sources=[lambda: source], decisions={}, fetch=_offline)
    assert report.status == V.PERFORMED
    assert report.problems({}) == ["vulnerability PYSEC-0000-1 in cbor2 5.6.0 has no decision "
                                   "(tools/evidence/vulnerability_decisions.py)"]
    decided = {"PYSEC-0000-1": ("cbor2", "not affected", "the decoder in question is unused")}
    report = V.check(COMPONENTS, sources=[lambda: source], decisions=decided, fetch=_offline)
    assert report.problems(decided) == []
    assert report.findings[0]["decision"] == "not affected"


def test_the_pypi_latest_release_source_checks_only_components_at_the_latest_release():
    answers = {"cbor2": {"info": {"version": "5.6.0"}, "vulnerabilities": [
        {"id": "GHSA-x", "aliases": [], "fixed_in": ["5.6.1"], "summary": "s"}]},
               "transitions": {"info": {"version": "0.9.3"}, "vulnerabilities": []}}

    def fetch(url, timeout=20):
        return 200, answers[url.split("/")[-2]]
    result = V.pypi_latest(COMPONENTS, fetch)
    assert list(result.audited) == ["cbor2"] and result.audited["cbor2"][0]["id"] == "GHSA-x"
    assert "not the latest release (0.9.3)" in result.skipped["transitions"]


def _mirror(answers):
    """A fetch that answers PyPI's JSON URLs from ``answers`` (package -> body)."""
    def fetch(url, timeout=20):
        parts = url.rstrip("/").split("/")
        package = parts[-2] if parts[-2] in answers else parts[-3]
        return 200, answers[package]
    return fetch


def test_a_pypi_answer_that_carries_no_advisory_data_checks_nothing():
    # a mirror that serves the project pages without advisories: no key, or not a list
    fetch = _mirror({"cbor2": {"info": {"version": "5.6.0"}},
                     "transitions": {"info": {"version": "0.9.0"}, "vulnerabilities": None}})
    result = V.pypi_latest(COMPONENTS, fetch)
    assert result.audited == {}
    assert all("carries no advisory data" in why for why in result.skipped.values())
    report = V.check(COMPONENTS, sources=[lambda: result], fetch=fetch)
    assert report.status == V.NOT_PERFORMED
    assert [u[0] for u in report.unchecked] == ["cbor2", "transitions"]
    assert "carries no advisory data" in report.unchecked[0][2]
    assert "No advisory was found" not in documents.vulnerability_report(report)


CLEAN_AUDIT = ('{"dependencies": [{"name": "cbor2", "version": "5.6.0", "vulns": []}, '
               '{"name": "transitions", "version": "0.9.0", "vulns": []}], "fixes": []}')


def test_pip_audit_on_an_index_whose_release_json_has_no_advisories_checks_nothing():
    """pip-audit's PyPI service reads a missing ``vulnerabilities`` key as "none"; the
    check asks the same endpoint itself and believes pip-audit only when it carries data."""
    name = "pip-audit (PyPI per-release JSON)"
    audit = V.parse_pip_audit(name, CLEAN_AUDIT, release_json=True)
    assert set(audit.audited) == {"cbor2", "transitions"}
    mirror = _mirror({"cbor2": {"info": {"version": "5.6.0"}},
                      "transitions": {"info": {"version": "0.9.0"}}})
    report = V.check(COMPONENTS, sources=[lambda: audit], fetch=mirror)
    assert report.status == V.NOT_PERFORMED, report.summary()
    assert "carries no advisory data" in report.unchecked[0][2]
    assert "no 'vulnerabilities' list" in report.probe

    audit = V.parse_pip_audit(name, CLEAN_AUDIT, release_json=True)
    pypi = _mirror({"cbor2": {"info": {"version": "5.6.0"}, "vulnerabilities": []},
                    "transitions": {"info": {"version": "0.9.0"}, "vulnerabilities": []}})
    assert V.check(COMPONENTS, sources=[lambda: audit], fetch=pypi).status == V.PERFORMED


def test_a_pip_audit_dependency_without_a_vulns_list_is_not_checked():
    out = '{"dependencies": [{"name": "cbor2", "version": "5.6.0"}]}'
    result = V.parse_pip_audit("pip-audit (OSV)", out)
    assert result.audited == {} and "carries no advisory data" in result.skipped["cbor2"]
