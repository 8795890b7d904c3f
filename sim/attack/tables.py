"""Attack-run results: checked, in a terminal table, and stored as JSON and CSV.

A result is the JSON-safe dict one attack run produces (scenario, profile, patient, seed,
expected and actual verdict, patient outcome, the controls that stopped it, the attacker's
actions, the glucose trace with and without the attack), or ``{"job": ..., "error": ...}``
for a campaign job that failed. ``validate(results)`` checks a list of them and hands back
``Run`` records in one canonical order (scenario, profile, patient, seed), so a campaign
whose workers finish in any order still gives the same files.

Why so careful: results files are edited by hand and their strings come from attack
scenarios. Every bad field raises ``ResultsError`` with one line naming the run index and
the field (``results[3]['outcome']['min_glucose_mg_dl']: expected a number, got str``),
never a traceback; strings never reach the terminal as markup or control codes (``visible``)
nor a spreadsheet as a formula (``write_csv``). Files are written atomically: a crash leaves
the old file or the new one, never half of one.
"""

import csv
import dataclasses
import io
import json
import math
import os
import secrets
import unicodedata

from rich import box
from rich.table import Table
from rich.text import Text

__all__ = ["PROFILES", "VERDICTS", "OUTCOME_KEYS", "ResultsError", "Run", "validate",
           "visible", "summary_table", "write_json", "read_json", "write_csv", "atomic_write"]

PROFILES = ("secure", "legacy")         # display order; legacy is the teaching profile
VERDICTS = ("blocked", "succeeded")
OUTCOME_KEYS = ("min_glucose_mg_dl", "below_54_min", "below_70_min", "above_250_min",
                "insulin_u", "attack_insulin_u", "baseline_min_glucose_mg_dl")
MAX_MIN = 20 * 366 * 1440               # times beyond 20 years are refused
MAX_DEPTH = 16                          # nesting of a result's JSON
MAX_ID = 64                             # characters of a control id
LEGACY_NOTE = "legacy = the deliberately insecure teaching profile"


class ResultsError(ValueError):
    """A result cannot be used: a field missing, of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One checked result. A failed job has ``error`` set and only the job's identity."""

    index: int                          # position in the list it came from
    raw: dict                           # the result as given (for the JSON file)
    scenario: str
    profile: str                        # "" when a failed job does not say
    patient: str
    seed: object                        # int, or None when a failed job does not say
    title: str = ""
    reference: str = ""
    expected: str = ""
    verdict: str = ""
    matches: bool = False
    unsafe: bool = False
    outcome: dict = dataclasses.field(default_factory=dict)
    security_events: tuple = ()         # ((name, count), ...) sorted by name
    controls: tuple = ()
    actions: tuple = ()                 # ((at_min, kind, effect, detail), ...) in time order
    minutes: tuple = ()
    glucose: tuple = ()                 # with the attack, None where there is no value
    baseline: tuple = ()                # without it; may be empty
    ended: object = None                # None, or why the run ended early
    error: object = None                # None, or why the job failed

    @property
    def failed(self):
        return self.error is not None


# --- checking -------------------------------------------------------------------------------

def _key(key):
    """A key as shown in an error path: quoted, escaped, short."""
    text = repr(key)
    return text if len(text) <= 60 else text[:56] + "...'"


def _json(value, where, depth=0):
    """Refuse what JSON cannot hold or UTF-8 cannot write, wherever it hides."""
    if depth > MAX_DEPTH:
        raise ResultsError("%s: nested too deeply" % where)
    if value is None or type(value) in (bool, int):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise ResultsError("%s: expected a finite number" % where)
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ResultsError("%s: not valid Unicode (a lone surrogate)" % where) from None
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _json(item, "%s[%d]" % (where, i), depth + 1)
    elif isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise ResultsError("%s: keys must be strings, got %s" % (where, type(k).__name__))
            _json(k, "%s key" % where, depth + 1)
            _json(item, "%s[%s]" % (where, _key(k)), depth + 1)
    else:
        raise ResultsError("%s: not JSON data (%s)" % (where, type(value).__name__))


def _get(d, key, where, required=True):
    if key not in d:
        if required:
            raise ResultsError("%s[%s]: missing" % (where, _key(key)))
        return None
    return d[key]


def _str(value, where, empty=True):
    if not isinstance(value, str):
        raise ResultsError("%s: expected a string, got %s" % (where, type(value).__name__))
    if not empty and not value.strip():
        raise ResultsError("%s: must not be empty" % where)
    return value


def _choice(value, where, choices):
    if not isinstance(value, str) or value not in choices:
        raise ResultsError("%s: expected one of %s" % (where, ", ".join(map(repr, choices))))
    return value


def _bool(value, where):
    if type(value) is not bool:
        raise ResultsError("%s: expected true or false, got %s" % (where, type(value).__name__))
    return value


def _int(value, where, minimum=-2 ** 63):
    if type(value) is not int:
        raise ResultsError("%s: expected an integer, got %s" % (where, type(value).__name__))
    if not minimum <= value < 2 ** 64:
        raise ResultsError("%s: must be from %d to 2**64 - 1" % (where, minimum))
    return value


def _num(value, where, none=False, minimum=None, maximum=None):
    if value is None and none:
        return None
    if type(value) not in (int, float):
        raise ResultsError("%s: expected a number, got %s" % (where, type(value).__name__))
    if abs(value) > 1e300:
        raise ResultsError("%s: out of range" % where)
    if minimum is not None and value < minimum:
        raise ResultsError("%s: must be >= %g" % (where, minimum))
    if maximum is not None and value > maximum:
        raise ResultsError("%s: must be <= %g" % (where, maximum))
    return float(value)


def _list(value, where):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ResultsError("%s: expected a list, got %s" % (where, type(value).__name__))
    return value


def _dict(value, where, none=True):
    if value is None and none:
        return {}
    if not isinstance(value, dict):
        raise ResultsError("%s: expected an object, got %s" % (where, type(value).__name__))
    return value


def _failed_job(result, where, index):
    job = _dict(_get(result, "job", where), where + "['job']", none=False)
    error = _str(_get(result, "error", where), where + "['error']", empty=False)
    w = where + "['job']"
    scenario = _get(job, "scenario", w, required=False)
    profile = _get(job, "profile", w, required=False)
    patient = _get(job, "patient", w, required=False)
    seed = _get(job, "seed", w, required=False)
    return Run(
        index=index, raw=result, error=error,
        scenario="" if scenario is None else _str(scenario, w + "['scenario']"),
        profile="" if profile is None else _choice(profile, w + "['profile']", PROFILES),
        patient="" if patient is None else _str(patient, w + "['patient']"),
        seed=None if seed is None else _int(seed, w + "['seed']"))


def _trace(value, where):
    """(minutes, glucose, baseline). ``glucose[i]`` and ``baseline[i]`` are at
    ``minutes[i]``; the baseline may be longer (the attacked run ended early) or shorter."""
    trace = _dict(value, where)
    minutes = [_num(t, "%s['minutes'][%d]" % (where, i), minimum=0, maximum=MAX_MIN)
               for i, t in enumerate(_list(trace.get("minutes"), where + "['minutes']"))]
    if any(b < a for a, b in zip(minutes, minutes[1:])):
        raise ResultsError("%s['minutes']: must not decrease" % where)
    series = {}
    for name in ("glucose", "baseline"):
        w = "%s[%r]" % (where, name)
        values = _list(trace.get(name), w)
        if name == "glucose" and len(values) != len(minutes):
            raise ResultsError("%s: %d values for %d minutes" % (w, len(values), len(minutes)))
        series[name] = [_num(v, "%s[%d]" % (w, i), none=True, minimum=0)
                        for i, v in enumerate(values)]
    return tuple(minutes), tuple(series["glucose"]), tuple(series["baseline"])


def _run(result, index):
    where = "results[%d]" % index
    if not isinstance(result, dict):
        raise ResultsError("%s: expected an object, got %s" % (where, type(result).__name__))
    _json(result, where)
    if "error" in result:
        return _failed_job(result, where, index)

    def field(key, check, *args, required=True):
        value = _get(result, key, where, required)
        return check(value, "%s[%r]" % (where, key), *args)

    expected = field("expected", _choice, VERDICTS)
    verdict = field("verdict", _choice, VERDICTS)
    matches = field("matches", _bool)
    if matches != (expected == verdict):
        raise ResultsError("%s['matches']: is %s, but expected is %r and verdict %r"
                           % (where, "true" if matches else "false", expected, verdict))
    outcome = field("outcome", _dict, False)
    values = {}
    for key in OUTCOME_KEYS:            # attack insulin is a difference: < 0 when it cut delivery
        value = _get(outcome, key, where + "['outcome']")
        values[key] = _num(value, "%s['outcome'][%r]" % (where, key), none=True,
                           minimum=None if key == "attack_insulin_u" else 0)

    counts = field("security_events", _dict, required=False)
    events = tuple(sorted((name, _int(n, "%s['security_events'][%s]" % (where, _key(name)), 0))
                          for name, n in counts.items()))
    controls = []
    for i, c in enumerate(field("controls", _list, required=False)):
        w = "%s['controls'][%d]" % (where, i)
        c = _str(c, w, empty=False)
        if len(c) > MAX_ID or any(ch.isspace() for ch in c):
            raise ResultsError("%s: a control id: at most %d characters, no spaces" % (w, MAX_ID))
        controls.append(c)
    actions = []
    for i, a in enumerate(field("actions", _list, required=False)):
        w = "%s['actions'][%d]" % (where, i)
        a = _dict(a, w, none=False)
        actions.append((_num(_get(a, "at_min", w), w + "['at_min']", minimum=0, maximum=MAX_MIN),
                        _str(_get(a, "kind", w), w + "['kind']"),
                        _str(_get(a, "effect", w), w + "['effect']"),
                        _str(a.get("detail", ""), w + "['detail']")))
    actions.sort(key=lambda a: a[0])
    minutes, glucose, baseline = _trace(result.get("trace"), where + "['trace']")
    scenario = field("scenario", _str, False)
    title, reference, ended = (result.get(k) for k in ("title", "reference", "ended"))
    return Run(
        index=index, raw=result, scenario=scenario,
        title=scenario if title is None else _str(title, where + "['title']") or scenario,
        reference="" if reference is None else _str(reference, where + "['reference']"),
        profile=field("profile", _choice, PROFILES), patient=field("patient", _str, False),
        seed=field("seed", _int), expected=expected, verdict=verdict, matches=matches,
        unsafe=field("unsafe", _bool), outcome=values, security_events=events,
        controls=tuple(sorted(set(controls))), actions=tuple(actions), minutes=minutes,
        glucose=glucose, baseline=baseline,
        ended=None if ended is None else _str(ended, where + "['ended']"))


def _order(run):
    profile = PROFILES.index(run.profile) if run.profile in PROFILES else len(PROFILES)
    seed = run.seed if run.seed is not None else -1
    return (run.scenario, profile, run.patient, seed, run.failed, run.index)


def validate(results):
    """``results`` (a list of result dicts) as ``Run`` records in canonical order: scenario,
    profile (secure first), patient, seed. Raises ``ResultsError`` naming the run and field."""
    if not isinstance(results, (list, tuple)):
        raise ResultsError("results: expected a list of runs, got %s" % type(results).__name__)
    return sorted((_run(r, i) for i, r in enumerate(results)), key=_order)


# --- the terminal table ---------------------------------------------------------------------

def visible(text):
    """``text`` with every control, format and line-separator character (ESC, CR, bidi
    overrides, ...) written out as ``\\x1b``/``\\u202e``: shown, never obeyed, by a terminal
    or a browser."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append("\\x%02x" % ord(ch) if ord(ch) < 0x100 else "\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def _text(value, style=""):
    """A cell as rich ``Text``: never parsed as console markup."""
    return Text(visible(value), style=style)


def _glucose_style(value):
    if value is None:
        return "dim"
    if value < 54:
        return "bold red"
    if value < 70:
        return "red"
    if value > 250:
        return "dark_orange"
    return ""


def _number(value, digits=1):
    return "\u2013" if value is None else "%.*f" % (digits, value)


def summary_table(results, title="Attack runs"):
    """A rich ``Table`` of ``results``, one row per run (a failed job included): what the
    attack aimed at, what happened, whether it was as expected and whether it harmed."""
    runs = validate(results)
    table = Table(title=_text(title), box=box.SIMPLE_HEAD, header_style="bold")
    for name, justify in (("scenario", "left"), ("profile", "left"), ("patient", "left"),
                          ("seed", "right"), ("expected", "left"), ("verdict", "left"),
                          ("match", "center"), ("unsafe", "center"),
                          ("min glucose\nmg/dL", "right"), ("attack\ninsulin U", "right"),
                          ("controls / error", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    for run in runs:
        profile = _text(run.profile or "\u2013", "bold yellow" if run.profile == "legacy" else "")
        who = [_text(run.scenario or "\u2013"), profile, _text(run.patient or "\u2013"),
               _text("\u2013" if run.seed is None else run.seed)]
        if run.failed:
            table.add_row(*who, _text("\u2013", "dim"), _text("FAILED", "bold red"),
                          _text("\u2013", "dim"), _text("\u2013", "dim"), _text("\u2013", "dim"),
                          _text("\u2013", "dim"), _text("error: " + run.error, "red"))
            continue
        low = run.outcome["min_glucose_mg_dl"]
        table.add_row(
            *who, _text(run.expected),
            _text(run.verdict, "red" if run.verdict == "succeeded" else "green"),
            _text("\u2713", "bold green") if run.matches else _text("\u2717", "bold red"),
            _text("UNSAFE", "bold white on red") if run.unsafe else _text("no", "dim"),
            _text(_number(low), _glucose_style(low)),
            _text(_number(run.outcome["attack_insulin_u"], 2)),
            _text(" ".join(run.controls) or "\u2013", "" if run.controls else "dim"))
    done = [r for r in runs if not r.failed]
    parts = ["%d runs" % len(runs), "%d as expected" % sum(r.matches for r in done),
             "%d unsafe (%d on secure)" % (sum(r.unsafe for r in done),
                                           sum(r.unsafe for r in done if r.profile == "secure"))]
    if len(done) < len(runs):
        parts.append("%d failed" % (len(runs) - len(done)))
    if any(r.profile == "legacy" for r in runs):
        parts.append(LEGACY_NOTE)
    table.caption = "; ".join(parts)
    return table


# --- files ----------------------------------------------------------------------------------

def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` through a temporary file beside it and
    ``os.replace``: readers see the old file or the new one, never a part. The file gets
    the usual permissions (umask), as ``open`` would give it."""
    path = os.fspath(path)
    tmp = "%s.%s.tmp" % (path, secrets.token_hex(4))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(results, path):
    """Store ``results`` as a JSON list, one run per line, in canonical order with sorted
    keys and ASCII escapes: the same results give the same bytes, and a diff shows runs."""
    runs = validate(results)
    lines = [json.dumps(r.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                        allow_nan=False) for r in runs]
    text = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
    atomic_write(path, text.encode("ascii"))


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ResultsError("duplicate key %s in an object" % _key(key))
        seen[key] = value
    return seen


def _no_constant(name):
    raise ResultsError("%s is not a JSON number" % name)


def read_json(path):
    """The results list in the JSON file at ``path``, checked by ``validate``. A file that is
    not UTF-8, not JSON, has duplicate keys or NaN raises ``ResultsError``; a missing or
    unreadable file raises ``OSError``."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        results = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_no_duplicates,
                             parse_constant=_no_constant)
    except ResultsError as e:
        raise ResultsError("%s: %s" % (name, e)) from None
    except UnicodeDecodeError as e:
        raise ResultsError("%s: not UTF-8 text (byte %d)" % (name, e.start)) from None
    except json.JSONDecodeError as e:
        raise ResultsError("%s: not JSON: %s" % (name, e)) from None
    except (ValueError, RecursionError) as e:      # an integer of 5,000 digits, deep nesting
        raise ResultsError("%s: not usable JSON: %s" % (name, str(e).splitlines()[0])) from None
    validate(results)
    return results


CSV_COLUMNS = ("scenario", "title", "reference", "profile", "patient", "seed", "expected",
               "verdict", "matches", "unsafe") + OUTCOME_KEYS + (
               "controls", "security_events", "actions", "ended", "error")


def _cell(value):
    """A CSV cell. A string that a spreadsheet would run as a formula (=, +, -, @, tab, CR
    first) gets a leading apostrophe (OWASP's CSV-injection rule); control and bidi
    characters are written out as in the terminal."""
    if value is None:
        return ""
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is float:
        return repr(value)
    if type(value) is int:
        return str(value)
    value = str(value)
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return visible(value)         # an ESC or a bidi override is shown, never obeyed


def write_csv(results, path):
    """Store ``results`` as CSV (RFC 4180, UTF-8), one row per run in canonical order: the
    outcome flattened into columns, controls joined by a space, security events as a JSON
    object, the number of attacker actions; a failed job has its error and its identity."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for run in validate(results):
        row = {"scenario": run.scenario, "profile": run.profile, "patient": run.patient,
               "seed": run.seed, "error": run.error}
        if not run.failed:
            row.update(title=run.raw.get("title"), reference=run.reference,
                       expected=run.expected, verdict=run.verdict, matches=run.matches,
                       unsafe=run.unsafe, controls=" ".join(run.controls),
                       security_events=json.dumps(dict(run.security_events), sort_keys=True,
                                                  separators=(",", ":")),
                       actions=len(run.actions), ended=run.ended)
            for key in OUTCOME_KEYS:                # as given: 0 stays 0, 72.3 stays 72.3
                row[key] = run.raw["outcome"][key]
        writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
    atomic_write(path, out.getvalue().encode("utf-8"))
