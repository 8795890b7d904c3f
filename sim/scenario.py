"""Scenario files for ``pumpsim run --scenario FILE.toml``: who the patient is, what they eat
and when, how they bolus, when they exercise, what the therapy settings and the CGM are.

A scenario is TOML, read with the standard library's ``tomllib`` and checked field by field
against the schema below (every field, range and default: docs/scenarios.md). Every field
has a default, so an empty file is the default scenario (`default()`). A file without
``[[meals]]`` gets the default three meals; ``meals = []`` means no meals.

Every refusal is a `ScenarioError` (a ValueError) with one line that names the file, the
line and the field::

    late.toml:12: meals[2].carbs_g: 900 is above the maximum 250 g
    late.toml:7: meals[0].carb_g: unknown field; did you mean carbs_g?
    late.toml:3: invalid TOML: Invalid value (column 9)

tomllib gives line numbers only for syntax errors. For a bad value the line is found by
`_Locator`, which scans the source text for the line of every key, table header, array of
tables entry and array element; a path it cannot place falls back to its parent's line
(for a table, the header's).
"""

import bisect
import datetime
import difflib
import json
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field

MAX_FILE_BYTES = 1 << 20            # 1 MiB: a larger file is not a scenario
FIRST_START = datetime.date(1970, 1, 1)
LAST_END = datetime.date(2199, 12, 31)
MINUTES_PER_DAY = 1440

BOLUS_KINDS = ("on-time", "late", "forgotten", "pre")
DEFAULT_BOLUS_OFFSET_MIN = {"on-time": 0, "late": 30, "forgotten": 0, "pre": 15}
SENSORS = ("Dexcom", "GuardianRT", "Navigator")
TRANSPORTS = ("channel", "local")
CONTROLLERS = ("none", "aid")
FAULT_KINDS = ("occlusion", "reboot", "sensor-failure", "battery-drain")
PATIENT_BASAL = None                # a basal segment rate of None: the patient's own basal

__all__ = ["Meal", "Exercise", "Fault", "Update", "Therapy", "Behaviour", "Cgm", "Run", "Scenario",
           "ScenarioError", "load", "loads", "default", "MAX_FILE_BYTES", "BOLUS_KINDS",
           "SENSORS", "TRANSPORTS", "CONTROLLERS", "DEFAULT_MEALS", "KEYS"]


class ScenarioError(ValueError):
    """A scenario file that cannot be used: ``source:line: field: reason`` (parts that do
    not apply are left out). The parts are also attributes."""

    def __init__(self, source, line, field_name, reason):
        self.source, self.line, self.field, self.reason = source, line, field_name, reason
        where = source if line is None else "%s:%d" % (source, line)
        super().__init__(visible("%s: %s" % (where, reason if not field_name
                                              else "%s: %s" % (field_name, reason))))


def visible(text):
    """``text`` with control and format characters (ESC, a bidi override) written out as
    escapes: a hostile file name, key or value is shown on the terminal, never obeyed."""
    return "".join("\\u%04x" % ord(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
                   else ch for ch in text)


# -- the data model ---------------------------------------------------------------------

@dataclass(frozen=True)
class Meal:
    """One meal: ``carbs_g`` eaten from ``time_min`` (minute of the day) over
    ``duration_min`` minutes; the patient counts ``counted_carbs_g`` and boluses for it
    as ``bolus`` says. ``days``: 1-based day numbers, or None for every day."""
    time_min: int
    carbs_g: int
    duration_min: int = 15
    counted_error_pct: int = 0
    bolus: str = "on-time"
    bolus_offset_min: int = None    # None: 30 for "late", 15 for "pre", else 0
    days: tuple = None

    def __post_init__(self):
        if self.bolus_offset_min is None:
            object.__setattr__(self, "bolus_offset_min",
                               DEFAULT_BOLUS_OFFSET_MIN.get(self.bolus, 0))

    @property
    def counted_carbs_g(self):
        """What the patient enters: carbs × (1 + error/100), rounded half up."""
        return (self.carbs_g * (100 + self.counted_error_pct) + 50) // 100

    @property
    def bolus_time_min(self):
        """Minute of the meal's day the bolus is given (below 0 or from 1440 on: the day
        before or after), or None when it is forgotten."""
        if self.bolus == "forgotten":
            return None
        if self.bolus == "late":
            return self.time_min + self.bolus_offset_min
        if self.bolus == "pre":
            return self.time_min - self.bolus_offset_min
        return self.time_min


@dataclass(frozen=True)
class Exercise:
    """Exercise from ``time_min`` for ``duration_min`` at ``intensity`` (fraction of the
    heart-rate reserve, 0..1). ``days`` as for meals."""
    time_min: int
    duration_min: int = 30
    intensity: float = 0.5
    days: tuple = None


@dataclass(frozen=True)
class Therapy:
    """The pump's settings. ``basal_u_h``: (start minute, U/h) segments from minute 0, on
    the half hour; a rate of None is the patient's own basal. None for the carb ratio or
    ISF: derived from the patient's parameters by the integrator."""
    basal_u_h: tuple = ((0, PATIENT_BASAL),)
    carb_ratio_g_u: float = None
    isf_mg_dl_u: float = None
    target_low: int = 100
    target_high: int = 120


@dataclass(frozen=True)
class Behaviour:
    """What the patient does besides eating. ``reservoir_change_time`` is a minute of the
    day (the file writes it "HH:MM")."""
    alarm_ack_delay_min: int = 5
    forget_bolus_pct: int = 0
    late_bolus_pct: int = 0
    reservoir_change_every_days: int = 3
    reservoir_change_time: int = 20 * 60
    confirm_delay_s: int = 10


@dataclass(frozen=True)
class Cgm:
    """The glucose sensor (simglucose's sensor models) and how its readings reach the pump."""
    sensor: str = "Dexcom"
    lag_min: int = 10
    dropout_rate: float = 0.005
    drift_pct_per_day: float = 0.0
    noise: bool = True
    transport: str = "channel"


@dataclass(frozen=True)
class Run:
    """How long, for whom and with what: ``patient`` is a patient or cohort name, checked
    by the integrator; ``seed`` drives every random draw."""
    days: int = 1
    patient: str = "adult#001"
    seed: int = 1
    profile: str = "secure"
    controller: str = "none"
    start: datetime.date = datetime.date(2026, 1, 1)


@dataclass(frozen=True)
class Fault:
    """A fault injected into the virtual hardware at ``time_min`` of day ``day``:
    ``occlusion`` (the line kinks until the patient clears it, at the alarm),
    ``reboot`` (a power cycle of the pump), ``sensor-failure`` (no CGM reading for
    ``duration_min``), ``battery-drain`` (the battery falls to 3 %)."""
    kind: str
    time_min: int
    day: int = 1
    duration_min: int = 60


@dataclass(frozen=True)
class Update:
    """A software update the gateway delivers at ``time_min`` of day ``day``: the signed
    image of ``version`` in chunks over the secure channel while therapy runs, then the
    pump asks the patient, who presses its button ``press_after_min`` later (or never,
    ``press = false``: the image stays staged). ``self_test = "fail"``: the new image
    fails its self-test and the bootloader reverts it."""
    time_min: int
    day: int = 1
    version: tuple = (1, 1, 0, 0)
    press: bool = True
    press_after_min: int = 2
    self_test: str = "pass"


DEFAULT_MEALS = (Meal(7 * 60, 45), Meal(12 * 60 + 30, 70), Meal(19 * 60, 80))


@dataclass(frozen=True)
class Scenario:
    """A whole scenario. ``source`` (the file, or "<default>") is not part of equality."""
    name: str = "default"
    description: str = ""
    run: Run = Run()
    meals: tuple = DEFAULT_MEALS
    exercise: tuple = ()
    therapy: Therapy = Therapy()
    behaviour: Behaviour = Behaviour()
    cgm: Cgm = Cgm()
    faults: tuple = ()
    updates: tuple = ()
    source: str = field(default="<default>", compare=False)


def default():
    """One adult, one day, breakfast 07:00 45 g, lunch 12:30 70 g, dinner 19:00 80 g, all
    bolused on time (the same as sim/scenarios/default.toml)."""
    return Scenario()


# -- entry points -----------------------------------------------------------------------

def load(path, reader=None):
    """The scenario in the TOML file at ``path``; ScenarioError if it cannot be read or used.
    ``reader``: the class that turns the parsed document into a scenario (the attack lab
    has its own)."""
    source = os.fspath(path)
    if isinstance(source, bytes):
        source = os.fsdecode(source)
    try:
        with open(source, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(source, None, None,
                            "cannot read: %s" % (exc.strerror or exc)) from None
    _check_size(source, len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(source, line, None, "not UTF-8 text (byte 0x%02x at column %d)"
                            % (data[exc.start], column)) from None
    return _parse(text, source, _stem(source), reader)


def loads(text, name="<string>", reader=None):
    """The scenario in TOML ``text``; ``name`` labels errors and, unless it is a
    ``<label>``, gives the scenario's default name (its file stem)."""
    if not isinstance(text, str):
        raise TypeError("scenario text must be str, not %s" % type(text).__name__)
    _check_size(name, len(text.encode("utf-8", "surrogatepass")))
    return _parse(text, name, "default" if name.startswith("<") else _stem(name), reader)


def _stem(source):
    return os.path.splitext(os.path.basename(source))[0] or "default"


def _check_size(source, size):
    if size > MAX_FILE_BYTES:
        raise ScenarioError(source, None, None, "larger than %d bytes: not a scenario"
                            % MAX_FILE_BYTES)


_TOML_POSITION = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


def _parse(text, source, stem, reader=None):
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        if found and found.group(1):
            raise ScenarioError(source, int(found.group(1)), None, "invalid TOML: %s (column %s)"
                                % (message[:found.start()], found.group(2))) from None
        last_line = text.rstrip("\n").count("\n") + 1
        raise ScenarioError(source, last_line, None, "invalid TOML: %s (at the end of the file)"
                            % (message[:found.start()] if found else message)) from None
    except RecursionError:
        raise ScenarioError(source, None, None, "invalid TOML: nested too deeply") from None
    except ValueError as exc:       # e.g. an integer beyond Python's digit limit
        long_number = re.search(r"[0-9_]{4000,}", text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        raise ScenarioError(source, line, None, "invalid TOML: %s" % str(exc).split(";")[0]) \
            from None
    return (reader or _Reader)(text, source).scenario(document, stem)


# -- the schema -------------------------------------------------------------------------
# Each converter takes (reader, path, value) and returns the field's value or raises
# through reader.fail. Each table is a tuple of (TOML key, dataclass attribute, converter).

_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
          (list, "an array"), (dict, "a table"), (datetime.datetime, "a date-time"),
          (datetime.date, "a date"), (datetime.time, "a time"))


def _kind(value):
    for kind, text in _KINDS:
        if type(value) is kind:
            return text
    return type(value).__name__


def _show(value):
    """A value as it would be written in TOML, cut to 40 characters."""
    if type(value) is bool:
        text = "true" if value else "false"
    elif type(value) is str:
        text = json.dumps(value, ensure_ascii=False)
    elif type(value) in (list, dict):
        return _kind(value)
    elif type(value) is float:
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _got(value):
    """What a wrong-typed value is: "an integer (7)", "an array"."""
    if type(value) in (list, dict):
        return _kind(value)
    return "%s (%s)" % (_kind(value), _show(value))


def _number_text(x):
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(x)


def _integer(low, high, unit=""):
    def convert(reader, path, value):
        if type(value) is not int:
            reader.fail(path, "expected an integer, got %s" % _got(value))
        return _in_range(reader, path, value, low, high, unit)
    return convert


def _number(low, high, unit=""):
    def convert(reader, path, value):
        if type(value) not in (int, float):
            reader.fail(path, "expected a number, got %s" % _got(value))
        if value != value or value in (float("inf"), float("-inf")):
            reader.fail(path, "%s is not a finite number" % _show(value))
        return float(_in_range(reader, path, value, low, high, unit))
    return convert


def _in_range(reader, path, value, low, high, unit):
    if value < low:
        reader.fail(path, "%s is below the minimum %s%s" % (_show(value), _number_text(low),
                                                            unit))
    if value > high:
        reader.fail(path, "%s is above the maximum %s%s" % (_show(value), _number_text(high),
                                                            unit))
    return value


def _choice(options):
    def convert(reader, path, value):
        if type(value) is not str:
            reader.fail(path, "expected a string, got %s" % _got(value))
        if value not in options:
            reader.fail(path, "%s is not one of %s%s" % (
                _show(value), ", ".join(json.dumps(o) for o in options),
                _suggest(value, options, quote=True)))
        return value
    return convert


def _text(empty_ok=False, limit=1000):
    def convert(reader, path, value):
        if type(value) is not str:
            reader.fail(path, "expected a string, got %s" % _got(value))
        if not value.strip() and not empty_ok:
            reader.fail(path, "must not be empty")
        if len(value) > limit:
            reader.fail(path, "longer than %d characters" % limit)
        return value
    return convert


def _boolean(reader, path, value):
    if type(value) is not bool:
        reader.fail(path, "expected a boolean (true or false), got %s"
                    % _got(value))
    return value


def _version(reader, path, value):
    """"MAJOR.MINOR.REVISION" (as imgtool writes it) to the image's version tuple."""
    found = type(value) is str and re.fullmatch(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,5})",
                                                value)
    if not found or int(found.group(1)) > 255 or int(found.group(2)) > 255 or \
            int(found.group(3)) > 65535:            # the image header's field widths
        reader.fail(path, "%s is not a version \"MAJOR.MINOR.REVISION\" (e.g. \"1.1.0\")"
                    % _show(value) if type(value) is str else
                    "expected a version string, got %s" % _got(value))
    return (int(found.group(1)), int(found.group(2)), int(found.group(3)), 0)


_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def _clock(reader, path, value):
    """"HH:MM" (or a TOML local time on the minute) to the minute of the day."""
    if type(value) is datetime.time:
        if value.second or value.microsecond:
            reader.fail(path, "%s is not on the minute (write \"HH:MM\")" % _show(value))
        return value.hour * 60 + value.minute
    if type(value) is not str:
        reader.fail(path, "expected a time of day \"HH:MM\" (a string), got %s"
                    % _got(value))
    found = _CLOCK.fullmatch(value)
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        reader.fail(path, "%s is not a time of day \"HH:MM\" (00:00..23:59)" % _show(value))
    return int(found.group(1)) * 60 + int(found.group(2))


def _date(reader, path, value):
    if type(value) is str:
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            reader.fail(path, "%s is not an ISO date (YYYY-MM-DD)" % _show(value))
    elif type(value) is not datetime.date:
        reader.fail(path, "expected a date (2026-01-01), got %s" % _got(value))
    if not FIRST_START <= value <= LAST_END:
        reader.fail(path, "%s is outside %s..%s (the pump's clock counts from 1970; the "
                    "report's axis ends in 2199)" % (value, FIRST_START, LAST_END))
    return value


def _days(reader, path, value):
    """1-based day numbers within run.days, each once, returned sorted."""
    if type(value) is not list:
        reader.fail(path, "expected an array of day numbers, got %s"
                    % _got(value))
    if not value:
        reader.fail(path, "is empty: leave days out for every day")
    seen = set()
    for index, day in enumerate(value):
        where = path + (index,)
        if type(day) is not int:
            reader.fail(where, "expected an integer, got %s" % _got(day))
        if day < 1:
            reader.fail(where, "%s is below the minimum 1 (day 1 is the first day)"
                        % _show(day))
        if day > reader.run_days:
            reader.fail(where, "day %s is after the last day of the run (run.days = %d)"
                        % (_show(day), reader.run_days))
        if day in seen:
            reader.fail(where, "day %d is listed twice" % day)
        seen.add(day)
    return tuple(sorted(seen))


_BASAL_RATE = _number(0, 10, " U/h")        # the pump's hard basal limit: 10 U/h


def _basal(reader, path, value):
    """"patient", one rate (U/h) for the whole day, or ["HH:MM", U/h] segments from 00:00."""
    if type(value) is str:
        if value != "patient":
            reader.fail(path, "%s: expected \"patient\", a rate in U/h or an array of "
                        "[\"HH:MM\", rate] segments" % _show(value))
        return ((0, PATIENT_BASAL),)
    if type(value) in (int, float):
        return ((0, _BASAL_RATE(reader, path, value)),)
    if type(value) is not list:
        reader.fail(path, "expected \"patient\", a rate in U/h or an array of [\"HH:MM\", "
                    "rate] segments, got %s" % _got(value))
    if not value:
        reader.fail(path, "is empty: at least one segment, from 00:00")
    segments = []
    for index, pair in enumerate(value):
        where = path + (index,)
        if type(pair) is not list or len(pair) != 2:
            reader.fail(where, "expected a [\"HH:MM\", rate in U/h] pair, got %s"
                        % _got(pair))
        start = _clock(reader, where + (0,), pair[0])
        rate = _BASAL_RATE(reader, where + (1,), pair[1])
        if index == 0 and start != 0:
            reader.fail(where + (0,), "the first segment must start at 00:00")
        if start % 30:
            reader.fail(where + (0,), "%s: the pump's basal program changes only on the "
                        "half hour" % _hhmm(start))
        if segments and start <= segments[-1][0]:
            reader.fail(where + (0,), "%s is not after the previous segment's %s"
                        % (_hhmm(start), _hhmm(segments[-1][0])))
        segments.append((start, rate))
    return tuple(segments)


_RUN = (
    ("days", "days", _integer(1, 3660)),
    ("patient", "patient", _text(limit=100)),
    ("seed", "seed", _integer(0, 2 ** 32 - 1)),
    ("profile", "profile", _text(limit=100)),
    ("controller", "controller", _choice(CONTROLLERS)),
    ("start", "start", _date),
)
_MEAL = (
    ("time", "time_min", _clock),
    ("carbs_g", "carbs_g", _integer(1, 250, " g")),
    ("duration_min", "duration_min", _integer(1, 120, " min")),
    ("counted_error_pct", "counted_error_pct", _integer(-50, 100, " %")),
    ("bolus", "bolus", _choice(BOLUS_KINDS)),
    ("bolus_offset_min", "bolus_offset_min", _integer(0, 180, " min")),
    ("days", "days", _days),
)
_EXERCISE = (
    ("time", "time_min", _clock),
    ("duration_min", "duration_min", _integer(5, 240, " min")),
    ("intensity", "intensity", _number(0, 1)),
    ("days", "days", _days),
)
_THERAPY = (
    ("basal_u_h", "basal_u_h", _basal),
    ("carb_ratio_g_u", "carb_ratio_g_u", _number(1, 150, " g/U")),
    ("isf_mg_dl_u", "isf_mg_dl_u", _number(5, 400, " mg/dL/U")),
    ("target_low", "target_low", _integer(70, 200, " mg/dL")),
    ("target_high", "target_high", _integer(70, 200, " mg/dL")),
)
_BEHAVIOUR = (
    ("alarm_ack_delay_min", "alarm_ack_delay_min", _integer(0, 240, " min")),
    ("forget_bolus_pct", "forget_bolus_pct", _integer(0, 100, " %")),
    ("late_bolus_pct", "late_bolus_pct", _integer(0, 100, " %")),
    ("reservoir_change_every_days", "reservoir_change_every_days", _integer(1, 7)),
    ("reservoir_change_time", "reservoir_change_time", _clock),
    ("confirm_delay_s", "confirm_delay_s", _integer(1, 120, " s")),
)
_CGM = (
    ("sensor", "sensor", _choice(SENSORS)),
    ("lag_min", "lag_min", _integer(0, 30, " min")),
    ("dropout_rate", "dropout_rate", _number(0, 0.5)),
    ("drift_pct_per_day", "drift_pct_per_day", _number(-10, 10, " %/day")),
    ("noise", "noise", _boolean),
    ("transport", "transport", _choice(TRANSPORTS)),
)
_FAULT = (
    ("kind", "kind", _choice(FAULT_KINDS)),
    ("time", "time_min", _clock),
    ("day", "day", _integer(1, 3660)),
    ("duration_min", "duration_min", _integer(1, 1440, " min")),
)
_UPDATE = (
    ("time", "time_min", _clock),
    ("day", "day", _integer(1, 3660)),
    ("version", "version", _version),
    ("press", "press", _boolean),
    ("press_after_min", "press_after_min", _integer(0, 4, " min")),
    ("self_test", "self_test", _choice(("pass", "fail"))),
)
_TOP = ("name", "description", "run", "meals", "exercise", "therapy", "behaviour", "cgm",
        "faults", "updates")

# Every TOML key, by section (docs/scenarios.md documents each; a test checks it).
KEYS = {"": _TOP, "run": tuple(k for k, _, _ in _RUN), "meals": tuple(k for k, _, _ in _MEAL),
        "exercise": tuple(k for k, _, _ in _EXERCISE),
        "therapy": tuple(k for k, _, _ in _THERAPY),
        "behaviour": tuple(k for k, _, _ in _BEHAVIOUR), "cgm": tuple(k for k, _, _ in _CGM),
        "faults": tuple(k for k, _, _ in _FAULT), "updates": tuple(k for k, _, _ in _UPDATE)}


def _suggest(word, options, quote=False):
    close = difflib.get_close_matches(word.lower(), [o.lower() for o in options], n=1)
    if not close:
        return ""
    match = next(o for o in options if o.lower() == close[0])
    return "; did you mean %s?" % (json.dumps(match) if quote else match)


def _hhmm(minute):
    return "%02d:%02d" % divmod(minute % MINUTES_PER_DAY, 60)


def _dotted(path):
    text = ""
    for part in path:
        if type(part) is int:
            text += "[%d]" % part
        else:
            shown = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            if len(shown) > 40:
                shown = shown[:37] + "..."
            text += ("." if text else "") + shown
    return text


# -- reading a parsed document ----------------------------------------------------------

class _Reader:
    """Turns tomllib's dict into a Scenario, raising ScenarioError at the first bad field."""

    def __init__(self, text, source):
        self.text, self.source = text, source
        self.run_days = Run.days
        self._locator = None

    def fail(self, path, reason):
        if self._locator is None:
            self._locator = _Locator(self.text)
        raise ScenarioError(self.source, self._locator.line(path), _dotted(path), reason)

    def table(self, path, value, fields, required=()):
        """The converted fields of a TOML table, by dataclass attribute."""
        if type(value) is not dict:
            self.fail(path, "expected a table, got %s" % _got(value))
        keys = [key for key, _, _ in fields]
        self.refuse_unknown(path, value, keys)
        for key in required:
            if key not in value:
                self.fail(path, "missing field %s" % key)
        return {attr: convert(self, path + (key,), value[key])
                for key, attr, convert in fields if key in value}

    def refuse_unknown(self, path, value, keys):
        for key in value:
            if key not in keys:
                hint = _suggest(key, keys) or " (known: %s)" % ", ".join(keys)
                self.fail(path + (key,), "unknown field" + hint)

    def entries(self, name, value):
        """The entries of an array of tables (each checked by the caller)."""
        if type(value) is not list:
            self.fail((name,), "expected an array of tables ([[%s]]), got %s"
                      % (name, _got(value)))
        return value

    def scenario(self, document, stem):
        self.refuse_unknown((), document, _TOP)
        name = _text(limit=200)(self, ("name",), document.get("name", stem))
        description = _text(empty_ok=True, limit=10000)(self, ("description",),
                                                         document.get("description", ""))
        run = Run(**self.table(("run",), document.get("run", {}), _RUN))
        if (LAST_END - run.start).days < run.days - 1:
            self.fail(("run", "start"), "the run's %d days would end after %s"
                      % (run.days, LAST_END))
        self.run_days = run.days
        if "meals" in document:
            meals = tuple(self.meal(index, entry) for index, entry in enumerate(
                self.entries("meals", document["meals"])))
        else:
            meals = DEFAULT_MEALS
        exercise = tuple(
            Exercise(**self.table(("exercise", index), entry, _EXERCISE, ("time",)))
            for index, entry in enumerate(self.entries("exercise", document.get("exercise", []))))
        therapy = Therapy(**self.table(("therapy",), document.get("therapy", {}), _THERAPY))
        behaviour = Behaviour(**self.table(("behaviour",), document.get("behaviour", {}),
                                           _BEHAVIOUR))
        cgm = Cgm(**self.table(("cgm",), document.get("cgm", {}), _CGM))
        faults = tuple(self.fault(index, entry) for index, entry in enumerate(
            self.entries("faults", document.get("faults", []))))
        updates = tuple(self.update(index, entry) for index, entry in enumerate(
            self.entries("updates", document.get("updates", []))))
        self.check_overlap("meals", meals)
        self.check_overlap("exercise", exercise)
        if therapy.target_low > therapy.target_high:
            self.fail(("therapy", "target_high"), "%d is below target_low %d"
                      % (therapy.target_high, therapy.target_low))
        if behaviour.forget_bolus_pct + behaviour.late_bolus_pct > 100:
            self.fail(("behaviour", "late_bolus_pct"), "forget_bolus_pct + late_bolus_pct is "
                      "%d %%, above 100 %%" % (behaviour.forget_bolus_pct
                                               + behaviour.late_bolus_pct))
        return Scenario(name=name, description=description, run=run, meals=meals,
                        exercise=exercise, therapy=therapy, behaviour=behaviour, cgm=cgm,
                        faults=faults, updates=updates, source=self.source)

    def update(self, index, entry):
        path = ("updates", index)
        update = Update(**self.table(path, entry, _UPDATE, ("time",)))
        if update.day > self.run_days:
            self.fail(path + ("day",), "day %d is after the run's %d days"
                      % (update.day, self.run_days))
        return update

    def fault(self, index, entry):
        path = ("faults", index)
        fault = Fault(**self.table(path, entry, _FAULT, ("kind", "time")))
        if fault.day > self.run_days:
            self.fail(path + ("day",), "day %d is after the run's %d days"
                      % (fault.day, self.run_days))
        return fault

    def meal(self, index, entry):
        path = ("meals", index)
        fields = self.table(path, entry, _MEAL, ("time", "carbs_g"))
        bolus = fields.get("bolus", Meal.bolus)
        if bolus in ("on-time", "forgotten") and fields.get("bolus_offset_min"):
            self.fail(path + ("bolus_offset_min",), "applies only to bolus = \"late\" or "
                      "\"pre\" (this meal's bolus is %s)" % json.dumps(bolus))
        meal = Meal(**fields)
        if meal.bolus == "pre" and meal.bolus_time_min < 0 and (meal.days is None
                                                                 or 1 in meal.days):
            key = "bolus_offset_min" if "bolus_offset_min" in fields else "bolus"
            self.fail(path + (key,), "the bolus %d min before %s would fall before the run "
                      "starts on day 1" % (meal.bolus_offset_min, _hhmm(meal.time_min)))
        return meal

    def check_overlap(self, section, items):
        """No two items of ``section`` may share a minute on any day."""
        hit = _first_overlap_by_day(
            [(item.time_min, item.duration_min, item.days) for item in items], self.run_days)
        if hit is None:
            return
        earlier, later, day = hit

        def span(interval):
            start, end, _, origin = interval
            return "%s for %d min on day %d" % (_hhmm(start), end - start, day + origin)
        self.fail((section, later[2], "time"), "%s overlaps %s[%d] (%s)"
                  % (span(later), section, earlier[2], span(earlier)))


def _first_overlap(intervals):
    """In a list of (start, end, index, origin) intervals, the first pair, in start order,
    that share a minute, or None."""
    reach = None
    for item in sorted(intervals):
        if reach is not None and item[0] < reach[1]:
            return reach, item
        if reach is None or item[1] > reach[1]:
            reach = item
    return None


def _first_overlap_by_day(items, run_days):
    """The first (earlier, later, day) pair of ``items`` — (minute, duration, days or None)
    — whose intervals meet on some day. An interval that runs past midnight continues on
    the next day (origin -1). Every-day items are checked once (days 1 and 2 stand for all
    days); items on listed days are checked on those days and the day after, against the
    every-day items by bisection, so the cost follows the file's size, not run_days."""
    every, listed = [], {}
    for index, (start, duration, days) in enumerate(items):
        if days is None:
            every.append((start, start + duration, index))
        else:
            for day in days:
                listed.setdefault(day, []).append((start, start + duration, index))

    def today(group):
        return [(start, end, index, 0) for start, end, index in group]

    def carried(group):
        return [(start - MINUTES_PER_DAY, end - MINUTES_PER_DAY, index, -1)
                for start, end, index in group if end > MINUTES_PER_DAY]

    frames = {1: sorted(today(every))}
    if run_days >= 2:
        frames[2] = sorted(today(every) + carried(every))
    for day, frame in frames.items():
        hit = _first_overlap(frame)
        if hit:
            return hit + (day,)
    starts = {day: [interval[0] for interval in frame] for day, frame in frames.items()}
    check_days = set(listed)
    check_days.update(day + 1 for day in listed if day < run_days)
    for day in sorted(check_days):
        part = today(listed.get(day, ())) + carried(listed.get(day - 1, ()))
        hit = _first_overlap(part)
        if hit:
            return hit + (day,)
        frame, frame_starts = frames[min(day, 2)], starts[min(day, 2)]
        for item in sorted(part):
            at = bisect.bisect_left(frame_starts, item[0])
            if at > 0 and frame[at - 1][1] > item[0]:
                return frame[at - 1], item, day
            if at < len(frame) and frame[at][0] < item[1]:
                return _ordered(frame[at], item) + (day,)
    return None


def _ordered(a, b):
    return (a, b) if a <= b else (b, a)


# -- where in the source text a path is -------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r'''
    (?P<space>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<comment>\#[^\n]*)
  | """(?P<mlbasic>(?:[^"\\]|\\[\s\S]|"(?!""))*)""""{0,2}
  | \'\'\'(?P<mlliteral>(?:[^']|'(?!''))*)\'\'\''{0,2}
  | "(?P<basic>(?:[^"\\\n]|\\.)*)"
  | '(?P<literal>[^'\n]*)'
  | (?P<punct>[\[\]{}=,.])
  | (?P<bare>[^\s\[\]{}=,.\#"']+)
  | (?P<bad>[\s\S])
''', re.VERBOSE)
_MAX_DEPTH = 64


class _Locator:
    """The line of each key, table header and array element of a TOML text, by path: a
    tuple of keys and array indices as the parsed document has them, so
    ``("meals", 2, "carbs_g")`` is the third ``[[meals]]`` entry's ``carbs_g``.

    It follows TOML's structure just far enough for that: headers (``[a.b]``, ``[[a]]``,
    counted per array), dotted and quoted keys, arrays and inline tables. It is only asked
    about text tomllib accepted, and on anything it does not understand it skips to the next
    line rather than fail."""

    def __init__(self, text):
        self.lines = {}
        self.tokens = []
        line = 1
        for found in _TOKEN.finditer(text):
            kind = found.lastgroup
            if kind in ("mlbasic", "mlliteral", "basic", "literal"):
                self.tokens.append(("str", found.group(kind), line, found.start()))
            elif kind in ("punct", "bare", "nl", "bad"):
                self.tokens.append((found.group() if kind == "punct" else kind,
                                    found.group(), line, found.start()))
            line += found.group().count("\n")
        self.at = 0
        self.arrays = {}            # array-of-tables path -> entries so far
        self._scan()

    def line(self, path):
        """The line of ``path``, else of its nearest ancestor found, else None."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def _peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else ("eof", "", 0, -1)

    def _take(self, *kinds):
        token = self._peek()
        if kinds and token[0] not in kinds:
            raise _NotUnderstood
        self.at += 1
        return token

    def _scan(self):
        table = ()
        while self.at < len(self.tokens):
            token = self._peek()
            try:
                if token[0] == "[":
                    table = self._header()
                elif token[0] in ("bare", "str"):
                    self._key_value(table)
            except _NotUnderstood:
                pass
            while self._peek()[0] not in ("nl", "eof"):     # rest of the line
                self.at += 1
            self.at += 1

    def _header(self):
        first = self._take("[")
        double = self._peek()[0] == "[" and self._peek()[3] == first[3] + 1
        if double:
            self._take("[")
        keys = self._keys()
        self._take("]")
        if double:
            self._take("]")
            base = self._concrete(keys[:-1]) + (keys[-1],)
            index = self.arrays.get(base, 0)
            self.arrays[base] = index + 1
            self.lines.setdefault(base, first[2])
            path = base + (index,)
        else:
            path = self._concrete(keys)
        self.lines.setdefault(path, first[2])
        return path

    def _concrete(self, keys):
        """A header's keys as a path: each array of tables on the way is its latest entry."""
        path = ()
        for key in keys:
            path += (key,)
            if path in self.arrays:
                path += (self.arrays[path] - 1,)
        return path

    def _keys(self):
        keys = [self._take("bare", "str")[1]]
        while self._peek()[0] == ".":
            self._take(".")
            keys.append(self._take("bare", "str")[1])
        return tuple(keys)

    def _key_value(self, table, depth=0):
        line = self._peek()[2]
        keys = self._keys()
        for end in range(1, len(keys) + 1):
            self.lines.setdefault(table + keys[:end], line)
        self._take("=")
        self._value(table + keys, depth)

    def _value(self, path, depth):
        token = self._take()
        if token[0] in ("[", "{") and depth >= _MAX_DEPTH:
            self._skip_nested()
        elif token[0] == "[":
            index = 0
            while True:
                while self._peek()[0] == "nl":
                    self._take()
                if self._peek()[0] == "]":
                    self._take()
                    return
                self.lines.setdefault(path + (index,), self._peek()[2])
                self._value(path + (index,), depth + 1)
                while self._peek()[0] == "nl":
                    self._take()
                if self._take(",", "]")[0] == "]":
                    return
                index += 1
        elif token[0] == "{":
            while self._peek()[0] != "}":
                self._key_value(path, depth + 1)
                if self._peek()[0] == ",":
                    self._take()
            self._take("}")
        elif token[0] in ("str", "bare"):
            while self._peek()[0] in ("str", "bare", "."):  # 3.14, 1979-05-27 07:32:00
                self._take()
        else:
            raise _NotUnderstood

    def _skip_nested(self):
        depth = 1
        while depth:
            kind = self._take()[0]
            if kind == "eof":
                raise _NotUnderstood
            depth += kind in ("[", "{")
            depth -= kind in ("]", "}")


class _NotUnderstood(Exception):
    """The locator met text it does not follow; it goes on at the next line."""
