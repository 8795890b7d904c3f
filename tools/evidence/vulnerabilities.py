"""Dependency vulnerability check against published advisories, which never passes by
default: every component is either checked by a source that answered for it, or listed
as not checked with the reason.

Sources, each tried and its outcome recorded:
- pip-audit with PyPI's vulnerability data (the per-release JSON API);
- pip-audit with OSV;
- PyPI's project JSON, whose ``vulnerabilities`` are those of the project's latest
  release, so it checks a component only when the installed version is that release.
pip-audit prints "No known vulnerabilities found" and exits 0 even when it audited
nothing (every dependency "not found"); here a dependency pip-audit skipped counts as not
checked, so a check that reached no advisory data reads "not performed", never "none
found".

A component counts as checked only when an answer actually carries advisory data: a
``vulnerabilities`` list in PyPI's JSON (a mirror or proxy that serves the project pages
without it has checked nothing), a ``vulns`` list in pip-audit's report. pip-audit's PyPI
service itself reads a missing ``vulnerabilities`` key as "none", so the check asks the
same per-release endpoint and believes that service only when the answer carries the list.
"""

import concurrent.futures
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

from tools.evidence import vulnerability_decisions

PYPI = "https://pypi.org/pypi"
NO_ADVISORY_DATA = ("the answer carries no advisory data (no 'vulnerabilities' list), as "
                    "from a mirror that does not serve advisories")
PERFORMED = "performed"
PARTIAL = "partial"
NOT_PERFORMED = "not performed"


def _key(name):
    return name.lower().replace("_", "-").replace(".", "-")


def fetch_json(url, timeout=20):
    """(HTTP status, parsed body or None); OSError when nothing answered. A new opener
    each time, so the proxy settings of the environment at the call are the ones used."""
    try:
        with urllib.request.build_opener().open(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read().decode("utf8"))
    except urllib.error.HTTPError as exc:
        return exc.code, None


def short_error(text):
    """One short line for a connection failure or a tool's last error line."""
    host = re.search(r"Failed to resolve '([^']+)'", text)
    if host:
        return "cannot resolve %s (no DNS answer: the host is not reachable from here)" % (
            host.group(1))
    if "Unable to connect to proxy" in text or "ProxyError" in text:
        return "cannot connect to the proxy"
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text.strip()[:200]


def advisory_list(body, key="vulnerabilities"):
    """The advisories an answer carries, or None when it carries no advisory data (the key
    missing, or not a list of objects)."""
    vulns = body.get(key) if isinstance(body, dict) else None
    if not isinstance(vulns, list) or not all(isinstance(v, dict) for v in vulns):
        return None
    return vulns


class SourceResult:
    """What one source said: the components it audited ({key: [vulns]}), those it skipped
    ({key: reason}), and a one-line note (or the error that stopped it).
    ``release_json``: its advisories come from PyPI's per-release JSON (pip-audit's PyPI
    service), so it is believed only where that endpoint carries advisory data."""

    def __init__(self, name, audited=None, skipped=None, note="", error="",
                 release_json=False):
        self.name = name
        self.audited = audited or {}
        self.skipped = skipped or {}
        self.note = note
        self.error = error
        self.release_json = release_json

    def disbelieve(self, why):
        """Count every component this source audited as skipped, for ``why``."""
        if self.audited:
            for key in self.audited:
                self.skipped[key] = why
            self.note += "; not believed: %s" % why
            self.audited = {}


def pip_audit(service, timeout=300, cache_dir=None):
    """Run pip-audit on this environment with one vulnerability service (and its own
    HTTP cache, or ``cache_dir``)."""
    name = "pip-audit (%s)" % {"pypi": "PyPI per-release JSON", "osv": "OSV"}[service]
    command = [sys.executable, "-m", "pip_audit", "-s", service, "-f", "json",
               "--progress-spinner", "off"]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SourceResult(name, error="did not finish: %s" % exc)
    return parse_pip_audit(name, done.stdout, done.stderr, done.returncode,
                           release_json=service == "pypi")


def parse_pip_audit(name, stdout, stderr="", returncode=0, release_json=False):
    """A SourceResult from pip-audit's JSON output (``-f json``): a dependency with a
    ``skip_reason``, or without a ``vulns`` list, was not audited, whatever pip-audit
    printed about it."""
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return SourceResult(name, error="no result (exit %d): %s"
                            % (returncode, short_error(lines[-1]) if lines else "no output"),
                            release_json=release_json)
    audited, skipped = {}, {}
    for dep in report.get("dependencies", []):
        vulns = advisory_list(dep, "vulns")
        if "skip_reason" in dep:
            skipped[_key(dep["name"])] = dep["skip_reason"]
        elif vulns is None:
            skipped[_key(dep["name"])] = NO_ADVISORY_DATA
        else:
            audited[_key(dep["name"])] = [
                {"id": v.get("id"), "aliases": v.get("aliases", []),
                 "fixed_in": v.get("fix_versions", []), "summary": v.get("description", "")}
                for v in vulns]
    note = "%d audited, %d skipped" % (len(audited), len(skipped))
    if skipped and not audited:
        reasons = sorted({r.split(":")[0] for r in skipped.values()})
        note += " (every dependency skipped: %s)" % "; ".join(reasons)
    return SourceResult(name, audited, skipped, note, release_json=release_json)


def probe_release_endpoint(components, fetch=fetch_json):
    """(what PyPI's per-release JSON answered for the first component, whether that answer
    carries advisory data): why pip-audit's PyPI service found nothing, and whether what it
    found can be believed."""
    if not components:
        return "", False
    name, version = components[0]
    url = "%s/%s/%s/json" % (PYPI, name, version)
    try:
        status, body = fetch(url)
    except OSError as exc:
        return "GET %s: %s" % (url, short_error(str(exc))), False
    if status != 200:
        return "GET %s: HTTP %d" % (url, status), False
    if advisory_list(body) is None:
        return ("GET %s: HTTP 200 with no 'vulnerabilities' list: this index serves no "
                "advisories" % url), False
    return "GET %s: HTTP 200 with advisory data" % url, True


def pypi_latest(components, fetch=fetch_json, workers=8):
    """PyPI's project JSON: advisories of the latest release, for components at it."""
    name = "PyPI project JSON (advisories of the latest release)"
    audited, skipped, errors = {}, {}, []

    def one(component):
        package, version = component
        try:
            status, body = fetch("%s/%s/json" % (PYPI, package))
        except OSError as exc:
            return package, version, None, "unreachable: %s" % short_error(str(exc))
        if status != 200 or not body:
            return package, version, None, "HTTP %d" % status
        latest = (body.get("info") or {}).get("version")
        if latest != version:
            return package, version, None, ("installed %s is not the latest release (%s), "
                                            "for which alone this source has advisories"
                                            % (version, latest))
        vulns = advisory_list(body)
        if vulns is None:
            return package, version, None, NO_ADVISORY_DATA
        return package, version, vulns, ""

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for package, version, vulns, why in pool.map(one, components):
            if vulns is None:
                skipped[_key(package)] = why
                if why.startswith("unreachable"):
                    errors.append(why)
                continue
            audited[_key(package)] = [
                {"id": v.get("id"), "aliases": v.get("aliases", []),
                 "fixed_in": v.get("fixed_in", []), "summary": v.get("summary") or
                 (v.get("details") or "")[:200]} for v in vulns]
    note = "%d checked, %d not checked" % (len(audited), len(skipped))
    if errors and not audited:
        return SourceResult(name, skipped=skipped, error=errors[0])
    return SourceResult(name, audited, skipped, note)


class Report:
    def __init__(self, status, components, sources, findings, unchecked, probe):
        self.status = status
        self.components = components
        self.sources = sources
        self.findings = findings
        self.unchecked = unchecked
        self.probe = probe

    def summary(self):
        checked = len(self.components) - len(self.unchecked)
        if self.status == NOT_PERFORMED:
            return ("NOT PERFORMED: no advisory source answered for any of the %d host "
                    "components (%s)" % (len(self.components), "; ".join(
                        "%s: %s" % (s.name, s.error or s.note) for s in self.sources)))
        text = "%s: %d of %d host components checked, %d finding(s)" % (
            self.status.upper(), checked, len(self.components), len(self.findings))
        if self.unchecked:
            text += "; %d not checked (listed with the reason)" % len(self.unchecked)
        return text

    def problems(self, decisions=None):
        decisions = vulnerability_decisions.DECISIONS if decisions is None else decisions
        out = []
        for finding in self.findings:
            if finding["id"] not in decisions:
                out.append("vulnerability %s in %s %s has no decision "
                           "(tools/evidence/vulnerability_decisions.py)"
                           % (finding["id"], finding["package"], finding["version"]))
        return out

    def as_dict(self):
        return {"status": self.status, "summary": self.summary(), "probe": self.probe,
                "sources": [{"name": s.name, "note": s.note, "error": s.error,
                             "audited": len(s.audited), "skipped": len(s.skipped)}
                            for s in self.sources],
                "findings": self.findings,
                "not_checked": [{"package": p, "version": v, "why": w}
                                for p, v, w in self.unchecked]}


def check(components, sources=None, decisions=None, fetch=fetch_json, cache_dir=None):
    """Check (name, version) components; ``sources`` are callables returning a
    SourceResult (default: pip-audit/PyPI, pip-audit/OSV, PyPI latest-release JSON)."""
    decisions = vulnerability_decisions.DECISIONS if decisions is None else decisions
    if sources is None:
        sources = [lambda: pip_audit("pypi", cache_dir=cache_dir),
                   lambda: pip_audit("osv", cache_dir=cache_dir),
                   lambda: pypi_latest(components, fetch)]
    results = [source() for source in sources]
    probe, carries = probe_release_endpoint(components, fetch)
    if not carries:
        for result in results:
            if result.release_json:
                result.disbelieve("PyPI's per-release JSON here %s" % (
                    "carries no advisory data (no 'vulnerabilities' list)"
                    if "HTTP 200" in probe else "gave no answer to check"))
    findings, unchecked = [], []
    for package, version in components:
        key = _key(package)
        answered = [r for r in results if key in r.audited]
        if not answered:
            whys = ["%s: %s" % (r.name, r.skipped.get(key, "").split(":")[0] or
                                ("no result" if r.error else "not listed")) for r in results]
            unchecked.append((package, version, "; ".join(whys)))
            continue
        seen = set()
        for result in answered:
            for vuln in result.audited[key]:
                ids = {vuln["id"], *vuln.get("aliases", [])}
                if ids & seen:
                    continue
                seen |= ids
                decision = decisions.get(vuln["id"])
                findings.append({"package": package, "version": version, "id": vuln["id"],
                                 "aliases": vuln.get("aliases", []),
                                 "fixed_in": vuln.get("fixed_in", []),
                                 "summary": vuln.get("summary", ""), "source": result.name,
                                 "decision": decision[1] if decision else "NONE",
                                 "why": decision[2] if decision else ""})
    if not components or len(unchecked) == len(components):
        status = NOT_PERFORMED
    elif unchecked:
        status = PARTIAL
    else:
        status = PERFORMED
    return Report(status, components, results, findings, unchecked, probe)
