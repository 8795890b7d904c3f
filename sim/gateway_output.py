"""What `pumpsim gateway` prints for the pump's answers (host side): readable lines and
tables by default, one JSON object per answer with ``--json``.

Both come from the answer's ``protocol.Parsed`` and the schema (``protocol_schema``), so a
field is named as docs/protocol.md names it. Readable output turns the pump's integer
units into human ones exactly (2500 mU is "2.5 U", never a rounded float) and its codes
into names (therapy states, alarm IDs, telemetry flags, audit-log record types).
"""

import datetime

from pump.audit_log import Record
from secure_channel.protocol import schema as S
from sim import log_format

STATE_NAMES = dict((code, name) for name, code in S.STATE_CODES.items())
ALARM_NAMES = dict((code, name) for name, code in S.ALARM_CODES.items())
_FLAG_NAMES = ((S.FLAG_TEMP_BASAL, "temp-basal"), (S.FLAG_BOLUS, "bolus"),
               (S.FLAG_RESERVOIR_LOW, "reservoir-low"), (S.FLAG_BATTERY_LOW, "battery-low"))
_TRENDS = {-3: "falling fast", -2: "falling", -1: "falling slowly", 0: "steady",
           1: "rising slowly", 2: "rising", 3: "rising fast"}


# -- numbers -----------------------------------------------------------------------------------

def decimal(value, scale):
    """``value / scale`` as exact decimal text, ``scale`` a power of ten: (2500, 1000) ->
    '2.5', (-25, 1000) -> '-0.025'."""
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(value), scale)
    if not part:
        return "%s%d" % (sign, whole)
    digits = len(str(scale)) - 1
    return ("%s%d.%0*d" % (sign, whole, digits, part)).rstrip("0")


def units(mu):
    return "%s U" % decimal(mu, 1000)


def rate(mu_h):
    return "%s U/h" % decimal(mu_h, 1000)


def minutes(ms):
    """Milliseconds as minutes: exact when whole seconds (90000 -> '1.5 min')."""
    if ms % 60000 == 0:
        return "%d min" % (ms // 60000)
    if ms % 1000 == 0:
        return "%d s" % (ms // 1000)
    return "%s s" % decimal(ms, 1000)


def wall_text(wall_s):
    """The pump's wall clock (UTC seconds) as 'YYYY-MM-DD HH:MM:SS'."""
    try:
        moment = datetime.datetime.fromtimestamp(wall_s, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "wall %d s" % wall_s
    return moment.strftime("%Y-%m-%d %H:%M:%S")


# -- tables ------------------------------------------------------------------------------------

def table(headers, rows):
    """Lines of a left-aligned table; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [headers] + rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return lines


def log_rows(records):
    """Table rows (seq, time, type, details) for read_log records [seq, tick_ms, wall_s,
    type, data]."""
    rows = []
    for seq, tick_ms, wall_s, rtype, data in records:
        record = Record(seq, tick_ms, wall_s, rtype, data)
        rows.append([str(seq), wall_text(wall_s), log_format.type_name(rtype),
                     log_format.details(record)])
    return rows


LOG_HEADERS = ["seq", "time", "type", "details"]


# -- readable answers --------------------------------------------------------------------------

def _value(name, value):
    """One field's value as text, in the pump's units (the field name says which)."""
    if name == "state" and value in STATE_NAMES:
        return STATE_NAMES[value]
    if name == "alarm" and isinstance(value, int) and not isinstance(value, bool):
        return ALARM_NAMES.get(value, "see-status")
    if name == "flags":
        return ",".join(text for bit, text in _FLAG_NAMES if value & bit) or "none"
    return log_format.plain(value)


def _tuple_text(field, value):
    return "(%s)" % " ".join("%s=%s" % (item.name, _value(item.name, value[i]))
                             for i, item in enumerate(field.items))


def fields_line(parsed):
    """'name: key=value, ...' with the fields sorted by name (status, telemetry, ...)."""
    specs = dict((f.name, f) for f in parsed.message.response)
    parts = []
    for key in sorted(parsed.fields):
        value = parsed.fields[key]
        field = specs.get(key)
        if field is not None and field.kind == S.TUPLE:
            text = _tuple_text(field, value)
        elif isinstance(value, bool):
            text = str(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = ",".join(value)
        else:
            text = _value(key, value)
        parts.append("%s=%s" % (key, text))
    return "%s: %s" % (parsed.name, ", ".join(parts) or "done")


def answer_lines(parsed):
    """The readable lines for one successful answer."""
    name = parsed.name
    f = parsed.fields
    if name == "cgm_history":
        rows = [[("%d s" % age), str(mg_dl), "%+d %s" % (trend, _TRENDS.get(trend, ""))]
                for mg_dl, trend, age in f["readings"]]
        if not rows:
            return ["cgm_history: no readings"]
        return table(["age", "mg/dL", "trend"], rows)
    if name == "delivery_records":
        rows = [[str(seq), wall_text(wall), units(mu), "bolus" if bolus else "basal"]
                for seq, wall, mu, bolus in f["records"]]
        return (table(["seq", "time", "insulin", "kind"], rows) if rows
                else ["delivery_records: none"]) + ["(next: --from %d)" % f["next_seq"]]
    if name == "alarms":
        rows = [[str(seq), wall_text(wall), ident, "raised" if active else "acknowledged"]
                for seq, wall, ident, active in f["events"]]
        return (table(["seq", "time", "id", "event"], rows) if rows
                else ["alarms: none"]) + ["(next: --from %d)" % f["next_seq"]]
    if name == "read_log":
        return table(LOG_HEADERS, log_rows(f["records"]))
    if name in ("bolus", "confirm_status"):
        if f["status"] == S.BOLUS_AWAITING:
            return ["%s: awaiting confirmation on the pump" % name]
        dose = (", %s" % units(f["mu"])) if "mu" in f else ""
        return ["%s: started%s" % (name, dose)]
    if name == "cancel_bolus":
        return ["cancel_bolus: done, %s not delivered" % units(f["cancelled_mu"])]
    if name == "time_sync":
        return ["time_sync: pump clock set; pump tick %d ms" % f["ticks_ms"]]
    return [fields_line(parsed)]


def error_text(parsed):
    """'<error-name>: <reason>' of an error answer."""
    code = parsed.fields.get("code")
    name = S.ERROR_NAMES.get(code, "error %s" % code)
    reason = parsed.fields.get("reason")
    return "%s: %s" % (name, reason) if reason else name


# -- JSON --------------------------------------------------------------------------------------

def _json_value(field, value):
    kind = field.kind if field is not None else S.ANY
    if kind == S.TUPLE and isinstance(value, list):
        return dict((item.name, _json_value(item, value[i]))
                    for i, item in enumerate(field.items))
    if kind == S.LIST and isinstance(value, list):
        return [_json_value(field.items, item) for item in value]
    return json_safe(value)


def json_safe(value):
    """A decoded CBOR value as JSON can hold it: bytes as hex text, map keys as text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return dict((str(k), json_safe(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def answer_json(request, parsed):
    """The JSON object of one answer: the request's name, ok, and the fields by name (or,
    for a refusal, the error's code, name and reason)."""
    if parsed.is_error:
        code = parsed.fields.get("code")
        return {"request": request, "ok": False,
                "error": {"code": code, "name": S.ERROR_NAMES.get(code, str(code)),
                          "reason": parsed.fields.get("reason", "")}}
    specs = dict((f.name, f) for f in parsed.message.response)
    fields = dict((k, _json_value(specs.get(k), v)) for k, v in parsed.fields.items())
    return {"request": request, "ok": True, "fields": fields}
