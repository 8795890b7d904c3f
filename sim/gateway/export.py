"""The gateway's store written out for Nightscout and for spreadsheets, never changed.

The store is opened read-only (an SQLite ``file:...?mode=ro`` URI: no migration, no
write, not even to an older file) and read in one transaction, so every file of an export
is the same moment of the store even while the gateway goes on filing. The files appear
together or not at all: they are written into a new folder beside ``--out`` and renamed
to it at the end, and an ``--out`` that exists and holds anything is refused rather than
mixed with. Files are mode 0600 in a 0700 folder: they hold health data, as the store.

Nightscout (``nightscout``): the three collections of its REST API v1, each a JSON array
that ``POST /api/v1/entries``, ``/api/v1/treatments`` and ``/api/v1/devicestatus`` accept
as it is. Field names, types and meanings follow cgm-remote-monitor 15.0.7 (commit
7e0e77f): ``lib/server/swagger.yaml`` (schemas Entry, Treatment, Devicestatus, pump) and,
where that schema leaves a field open, the code that reads it:

- ``entries.json``: one ``type: "sgv"`` entry per reading: ``sgv`` mg/dL, ``date`` epoch
  ms, ``dateString`` ISO 8601 UTC, ``direction`` named as ``lib/plugins/direction.js``
  (the pump's trend -3..3 is Dexcom's seven arrows, DoubleDown .. DoubleUp).
- ``treatments.json``: ``created_at`` ISO 8601, insulin in units (mU / 1000, exact), and
  ``eventType`` from ``lib/plugins/careportal.js``: "Correction Bolus" (or "Meal Bolus"
  with ``carbs`` when the bolus confirmed a calculator suggestion for them), "Combo
  Bolus" for an extended one (``enteredinsulin``, ``relative`` U/h, ``duration``,
  ``splitNow``/``splitExt`` as ``lib/client/careportal.js`` writes them), "Temp Basal"
  (``percent`` is the change, pump percent - 100, or ``absolute`` U/h, and ``duration``
  in minutes, as ``lib/profilefunctions.js`` reads them; a duration of 0 ends the one
  running, ``lib/data/ddata.js``), a "Temp Basal" of ``absolute: 0`` for every time the
  pump did not deliver (suspended, stopped, alarm, powered off) and one of duration 0
  when it resumed, "Announcement" for an alarm or safe-stop raised
  (``lib/server/treatments.js`` marks it ``isAnnouncement``), and "Note" for
  acknowledgements, warnings and security events. Nightscout keys a treatment without
  an identifier on ``created_at`` and ``eventType`` (``upsertQueryFor``), so treatments
  of one type in the same second are merged here into one: the last temp basal is the
  one that ran, notes are joined.
- ``devicestatus.json``: one per status row: ``device``, ``created_at`` and ``pump``
  with ``clock``, ``reservoir`` (U), ``battery.percent`` and ``status.status`` /
  ``status.suspended`` (``lib/plugins/pump.js``), ``iob.iob`` (U, ``lib/plugins/iob.js``)
  and ``extended`` (shown by the pump plugin as they are).

Spreadsheets (``csv``): one CSV file per table of the pump's data, with its columns as
stored, and beside them each time as ISO 8601 UTC (``*_utc``) and each mU amount in units
(``*_u``); log records' data as JSON and their chain hash as hex. Text that a spreadsheet
would run as a formula (starting ``= + - @``, tab or CR) is quoted with a leading ``'``
(OWASP, "CSV Injection"): some of it, such as a refused command's name, comes from
whoever talked to the pump. The web page's accounts and sessions (password hashes,
second factors, session tokens) and the store's own ``meta`` are never exported.
"""

import csv
import datetime
import io
import json
import os
import shutil
import sqlite3
import tempfile
import urllib.parse

from pump import audit_log as L
from pump import therapy_table as T
from pump.bolus_calculator import ADVICE_LIFETIME_MS
from pump.hazards import INTERLOCKS
from secure_channel import cbor
from sim.gateway import store as G

DEVICE = "pumpsim://gateway"
ENTERED_BY = "pumpsim"
MS_PER_MINUTE = 60000

# The pump's trend (schema: -3 falling > 3 mg/dL/min .. 3 rising > 3 mg/dL/min) as
# Nightscout's direction names (lib/plugins/direction.js), Dexcom's seven arrows.
DIRECTIONS = {-3: "DoubleDown", -2: "SingleDown", -1: "FortyFiveDown", 0: "Flat",
              1: "FortyFiveUp", 2: "SingleUp", 3: "DoubleUp"}
UNKNOWN_DIRECTION = "NOT COMPUTABLE"

NIGHTSCOUT_FILES = ("entries.json", "treatments.json", "devicestatus.json")
CSV_TABLES = ("readings", "status", "log_records", "deliveries", "alarms", "security_events",
              "sessions", "clock_syncs")
TIME_COLUMNS = ("measured_s", "stored_s", "at_s", "wall_s", "pump_s")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportError(Exception):
    """The store cannot be read or the export cannot be written; one line."""


# -- numbers and times ---------------------------------------------------------------------

def units(mu):
    """mU (or mU/h) as units: exact, since every amount is whole mU. ``mu / 1000`` is the
    double nearest the decimal with three places, which is what JSON's text of it reads
    back as; whole units stay integers."""
    return mu // 1000 if mu % 1000 == 0 else mu / 1000


def units_text(mu):
    """mU as the exact decimal text of units, "-0.025", for spreadsheets."""
    sign = "-" if mu < 0 else ""
    whole, part = divmod(abs(mu), 1000)
    return "%s%d.%03d" % (sign, whole, part)


def iso(seconds):
    """Epoch seconds as ISO 8601 UTC with milliseconds, as JavaScript's toISOString()."""
    when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


def minutes(start, end):
    """Minutes from one record to a later one: on the pump's tick (a clock change in
    between cannot stretch it), or its wall clock if the tick went backwards (a reboot)."""
    ticks = end[1] - start[1]
    if ticks < 0:
        ticks = (end[2] - start[2]) * 1000
    return max(0, ticks) / MS_PER_MINUTE


# -- the store, read-only ------------------------------------------------------------------

def open_store(path):
    """A read-only connection to the store at ``path`` (ExportError if it is missing,
    not a gateway database, damaged, or from a newer gateway)."""
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise ExportError("cannot open %s: %s" % (path, "no such file" if not os.path.exists(
            path) else "not a file"))
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise ExportError("cannot open %s: %s" % (path, exc)) from None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {name for name, in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        db.close()
        raise ExportError("%s: %s" % (path, G._why(exc))) from None
    if version > G.SCHEMA_VERSION:
        db.close()
        raise ExportError("%s has schema %d, newer than this pumpsim's %d: upgrade pumpsim"
                          % (path, version, G.SCHEMA_VERSION))
    if version < 1 or not set(CSV_TABLES) <= tables:
        db.close()
        raise ExportError("%s is not a gateway database (no gateway schema in it)" % path)
    return db


class Snapshot:
    """The store's rows at one moment: a read transaction held while exporting."""

    def __init__(self, path):
        self.path = os.path.expanduser(path)
        self.db = open_store(path)
        self.db.execute("BEGIN")

    def close(self):
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.db.close()

    def rows(self, sql, args=()):
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise ExportError("%s: %s" % (self.path, G._why(exc))) from None

    def records(self, types):
        """Stored log records of ``types`` with their data decoded, oldest first:
        (seq, tick, wall, type, data); a record stored without data is left out."""
        marks = ", ".join("?" * len(types))
        out = []
        for seq, tick, wall, rtype, blob in self.rows(
                "SELECT seq, tick_ms, wall_s, type, data FROM log_records "
                "WHERE type IN (%s) AND data IS NOT NULL ORDER BY seq" % marks, tuple(types)):
            try:
                out.append((seq, tick, wall, rtype, cbor.decode(bytes(blob))))
            except (cbor.CBORError, ValueError, TypeError):
                raise ExportError("%s: log record seq %d: its data is not CBOR: the store "
                                  "is corrupt" % (self.path, seq)) from None
        return out

    def last_known_s(self):
        """The newest time the store knows of (a record or a status)."""
        latest = self.rows("SELECT MAX(wall_s) FROM log_records")[0][0]
        status = self.rows("SELECT MAX(at_s) FROM status")[0][0]
        return max(t for t in (latest, status, 0) if t is not None)


# -- Nightscout: entries --------------------------------------------------------------------

def entries(snapshot):
    """One sgv entry per reading, oldest first."""
    out = []
    for measured, mg_dl, trend in snapshot.rows(
            "SELECT measured_s, mg_dl, trend FROM readings ORDER BY measured_s"):
        out.append({"type": "sgv", "sgv": mg_dl, "date": measured * 1000,
                    "dateString": iso(measured),
                    "direction": DIRECTIONS.get(trend, UNKNOWN_DIRECTION),
                    "device": DEVICE})
    return out


# -- Nightscout: treatments -----------------------------------------------------------------

def _treatment(wall, event_type, **fields):
    item = {"eventType": event_type, "created_at": iso(wall), "enteredBy": ENTERED_BY}
    item.update((k, v) for k, v in fields.items() if v is not None)
    return item


def _args(data):
    """A command record's arguments, or {} for a record not shaped as the pump logs."""
    args = data.get("args") if isinstance(data, dict) else None
    return args if isinstance(args, dict) else {}


def _bolus(record, carbs):
    seq, tick, wall, rtype, data = record
    args = _args(data)
    mu = args.get("mu")
    duration_ms = args.get("duration_ms") or 0
    if type(mu) is not int or mu <= 0 or type(duration_ms) is not int:
        return None
    if duration_ms:
        return _treatment(wall, "Combo Bolus", insulin=0, enteredinsulin=units(mu),
                          splitNow=0, splitExt=100, duration=duration_ms / MS_PER_MINUTE,
                          relative=units(mu) * MS_PER_MINUTE * 60 / duration_ms,
                          notes="extended bolus %s U over %g min" % (
                              units_text(mu), duration_ms / MS_PER_MINUTE))
    if carbs:
        return _treatment(wall, "Meal Bolus", insulin=units(mu), carbs=carbs,
                          notes="bolus %s U for %d g (calculator)" % (units_text(mu), carbs))
    return _treatment(wall, "Correction Bolus", insulin=units(mu),
                      notes="bolus %s U" % units_text(mu))


def _delivered(item, planned, delivered, start, end):
    """What a bolus delivered, once its end is logged: the amount given, and for an
    extended bolus stopped early the time it ran."""
    if delivered == planned:
        return
    note = "%s U programmed, %s U delivered" % (units_text(planned), units_text(delivered))
    if item["eventType"] == "Combo Bolus":
        ran = minutes(start, end)
        item["enteredinsulin"] = units(delivered)
        item["duration"] = ran
        item["relative"] = units(delivered) * 60 / ran if ran else 0
    else:
        item["insulin"] = units(delivered)
    item["notes"] += " (%s)" % note


def _temp_basal(record):
    seq, tick, wall, rtype, data = record
    args = _args(data)
    duration_ms = args.get("duration_ms")
    if type(duration_ms) is not int or duration_ms <= 0:
        return None
    length = duration_ms / MS_PER_MINUTE
    if type(args.get("percent")) is int:
        percent = args["percent"]
        return _treatment(wall, "Temp Basal", percent=percent - 100, duration=length,
                          notes="temp basal %d%% for %g min" % (percent, length))
    if type(args.get("rate_mu_h")) is int:
        rate = args["rate_mu_h"]
        return _treatment(wall, "Temp Basal", absolute=units(rate), duration=length,
                          notes="temp basal %s U/h for %g min" % (units_text(rate), length))
    return None


_STOPPED_BY = {"suspend": "suspended", "stop": "stopped", "raise_alarm": "alarm",
               "fault": "safe-stop"}


def _therapy(snapshot):
    """Boluses, temp basals and the times without delivery, from the pump's log."""
    out = []
    suggestion = None              # (tick, carbs_g) of a suggestion not yet followed
    bolus = None                   # (item, planned mU, start record) awaiting its end
    off = None                     # (record, why) delivery stopped at
    for record in snapshot.records((L.EV_COMMAND, L.EV_STATE, L.EV_DELIVERED, L.EV_BOOT)):
        seq, tick, wall, rtype, data = record
        if rtype == L.EV_COMMAND and isinstance(data, dict):
            op = data.get("op")
            args = _args(data)
            if op == "suggest_bolus":
                carbs = args.get("carbs_g")
                suggestion = (tick, carbs) if type(carbs) is int and carbs > 0 else None
                continue
            if op == "bolus":
                carbs = None
                if suggestion is not None and 0 <= tick - suggestion[0] <= ADVICE_LIFETIME_MS:
                    carbs = suggestion[1]
                item = _bolus(record, carbs)
                if item is not None:
                    out.append(item)
                    bolus = (item, args["mu"], record)
            elif op == "temp_basal":
                item = _temp_basal(record)
                if item is not None:
                    out.append(item)
            elif op == "cancel_temp_basal":
                out.append(_treatment(wall, "Temp Basal", duration=0,
                                      notes="temp basal cancelled"))
            suggestion = None
        elif rtype == L.EV_DELIVERED and isinstance(data, list) and len(data) == 2:
            if bolus is not None and data[0] == bolus[1] and type(data[1]) is int and \
                    data[1] >= 0:
                _delivered(bolus[0], data[0], data[1], bolus[2], record)
                bolus = None
        elif rtype == L.EV_BOOT and isinstance(data, dict) and off is None:
            off_ms = data.get("off_ms")
            boots = data.get("boots")
            if type(boots) is int and boots > 1 and type(off_ms) is int and off_ms > 0 and \
                    data.get("restarted") is False:   # restarted: the time off is unknown
                # powered off while delivering: no delivery from the cut to this boot
                off = ((seq, tick - off_ms, wall - off_ms // 1000, rtype, data), "pump off")
        elif rtype == L.EV_STATE and isinstance(data, list) and len(data) == 3:
            before, after, trigger = data
            if before == T.DELIVERING and after != T.DELIVERING and off is None:
                off = (record, _STOPPED_BY.get(trigger, str(after)))
            elif after == T.DELIVERING and before != T.DELIVERING and off is not None:
                out.extend(_no_delivery(off, minutes(off[0], record), record))
                off = None
    if off is not None:                     # still not delivering: as far as is known
        length = max(0, snapshot.last_known_s() - off[0][2]) / 60
        out.extend(_no_delivery(off, length))
    return out


def _no_delivery(off, length, resumed=None):
    """A time without delivery as a temp basal of 0 U/h, and the record it ended at (a
    duration-0 temp basal: the program runs again)."""
    start, why = off
    items = []
    if length > 0:
        items.append(_treatment(start[2], "Temp Basal", absolute=0, duration=length,
                                reason=why, notes="no delivery: %s" % why))
    else:
        items.append(_treatment(start[2], "Note", notes="no delivery: %s" % why))
    if resumed is not None:
        items.append(_treatment(resumed[2], "Temp Basal", duration=0, reason="resume",
                                notes="delivery resumed"))
    return items


def _events(snapshot):
    """Alarms as announcements; acknowledgements, warnings, security events as notes."""
    out = []
    for wall, ident, kind, active in snapshot.rows(
            "SELECT wall_s, id, kind, active FROM alarms ORDER BY seq"):
        meaning = INTERLOCKS.get(ident, (None, ""))[1]
        text = "%s %s%s" % (kind, ident, ": " + meaning if meaning else "")
        if not active:
            out.append(_treatment(wall, "Note", notes="%s %s acknowledged" % (kind, ident)))
        elif kind == "warning":
            out.append(_treatment(wall, "Note", notes=text))
        else:
            out.append(_treatment(wall, "Announcement", notes=text))
    for at_s, source, kind, detail in snapshot.rows(
            "SELECT at_s, source, kind, detail FROM security_events ORDER BY at_s, id"):
        out.append(_treatment(at_s, "Note", notes="security event (%s): %s%s" % (
            source, kind, ": " + detail if detail else "")))
    return out


def _merge_same_second(items):
    """One treatment per (created_at, eventType), which is Nightscout's key for a
    treatment without an identifier: the last temp basal of a second is the one that ran
    (the earlier ones lasted no time), boluses add up, notes are joined."""
    merged = {}
    order = []
    for item in items:
        key = (item["created_at"], item["eventType"])
        kept = merged.get(key)
        if kept is None:
            merged[key] = dict(item)
            order.append(key)
            continue
        notes = "; ".join(n for n in (kept.get("notes"), item.get("notes")) if n)
        if item["eventType"] == "Temp Basal":
            kept.clear()
            kept.update(item)
        else:
            for name in ("insulin", "carbs", "enteredinsulin"):
                if name in item:
                    kept[name] = item[name] + kept.get(name, 0)
        if notes:
            kept["notes"] = notes
    return [merged[key] for key in sorted(order)]


def treatments(snapshot):
    return _merge_same_second(_therapy(snapshot) + _events(snapshot))


# -- Nightscout: devicestatus ---------------------------------------------------------------

def devicestatus(snapshot):
    """One device status per stored pump status, oldest first."""
    out = []
    for at_s, state, alarm, iob, reservoir, battery, basal, glucose in snapshot.rows(
            "SELECT at_s, state, alarm, iob_mu, reservoir_mu, battery_percent, basal_mu_h, "
            "glucose FROM status ORDER BY at_s"):
        when = iso(at_s)
        extended = {"basal_U_h": units(basal)}
        if alarm:
            extended["alarm"] = alarm
        if glucose is not None:
            extended["glucose_mg_dl"] = glucose
        out.append({"device": DEVICE, "created_at": when, "pump": {
            "clock": when, "reservoir": units(reservoir), "battery": {"percent": battery},
            "status": {"status": state, "suspended": state == T.SUSPENDED,
                       "timestamp": when},
            "iob": {"iob": units(iob), "timestamp": when},
            "extended": extended}})
    return out


def nightscout(snapshot):
    """{file name: its JSON array}."""
    return {"entries.json": entries(snapshot), "treatments.json": treatments(snapshot),
            "devicestatus.json": devicestatus(snapshot)}


# -- CSV --------------------------------------------------------------------------------------

def _cell(value, text_column):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if value is None:
        return ""
    if text_column and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _units_column(name):
    """The column beside an mU one that gives it in units: mu -> u, iob_mu -> iob_u,
    basal_mu_h -> basal_u_h; None for any other column."""
    if name == "mu" or name.endswith("_mu"):
        return name[:-2] + "u"
    if name.endswith("_mu_h"):
        return name[:-4] + "u_h"
    return None


def table_csv(snapshot, table):
    """One table as (CSV text, rows): its columns, each time also as ``*_utc`` and each
    mU amount also as ``*_u``; log records' data as JSON and a ``type_name``."""
    columns = snapshot.rows("PRAGMA table_info(%s)" % table)
    names = [c[1] for c in columns]
    text = {c[1] for c in columns if (c[2] or "").upper() == "TEXT"}
    header = []
    for name in names:
        header.append(name)
        if name in TIME_COLUMNS:
            header.append(name + "_utc")
        if _units_column(name):
            header.append(_units_column(name))
        if table == "log_records" and name == "type":
            header.append("type_name")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    rows = snapshot.rows("SELECT * FROM %s ORDER BY rowid" % table)
    for row in rows:
        out = []
        for name, value in zip(names, row):
            if table == "log_records" and name == "data":
                try:
                    out.append("" if value is None else G.as_json(cbor.decode(bytes(value))))
                except (cbor.CBORError, ValueError, TypeError):
                    raise ExportError("%s: log record seq %d: its data is not CBOR: the "
                                      "store is corrupt" % (snapshot.path, row[0])) from None
                continue
            out.append(_cell(value, name in text))
            if name in TIME_COLUMNS:
                out.append("" if value is None else iso(value))
            if _units_column(name):
                out.append("" if value is None else units_text(value))
            if table == "log_records" and name == "type":
                out.append(L.TYPE_NAMES.get(value, str(value)))
        writer.writerow(out)
    return buffer.getvalue(), len(rows)


def csv_files(snapshot):
    """{file name: (CSV text, rows)}, one file per table."""
    return {table + ".csv": table_csv(snapshot, table) for table in CSV_TABLES}


# -- writing ----------------------------------------------------------------------------------

def check_out(out):
    """Refuse an ``--out`` that exists and is not an empty folder (nothing is mixed
    into an earlier export or overwritten)."""
    if os.path.lexists(out):
        if not os.path.isdir(out) or os.path.islink(out):
            raise ExportError("--out %s exists and is not a folder: give a new folder"
                              % out)
        if os.listdir(out):
            raise ExportError("--out %s exists and is not empty: give a new or empty "
                              "folder (nothing was written)" % out)


def write_files(files, out):
    """Write ``{name: text}`` into the folder ``out``, all or nothing: into a private
    folder beside it first, renamed to ``out`` when every file is written."""
    out = os.path.abspath(os.path.expanduser(out))
    check_out(out)
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):        # made by whom, with which mode? the user's call
        raise ExportError("cannot create %s: its folder %s does not exist" % (out, parent))
    try:
        staging = tempfile.mkdtemp(prefix=".%s-" % os.path.basename(out), dir=parent)
    except OSError as exc:
        raise ExportError("cannot create %s: %s" % (out, exc.strerror or exc)) from None
    try:
        for name, text in files.items():
            fd = os.open(os.path.join(staging, name),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        check_out(out)                     # still new or empty: then it becomes the export
        os.rename(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError("cannot write %s: %s (nothing was written)"
                          % (out, exc.strerror or exc)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [os.path.join(out, name) for name in files]


def _json(items):
    return json.dumps(items, indent=1, sort_keys=True, allow_nan=False) + "\n"


def export(db_path, kind, out):
    """Export the store at ``db_path`` as ``kind`` ("nightscout" or "csv") into the new
    folder ``out``; returns {file name: number of rows or objects written}."""
    check_out(os.path.abspath(os.path.expanduser(out)))
    snapshot = Snapshot(db_path)
    try:
        if kind == "nightscout":
            collections = nightscout(snapshot)
            files = {name: _json(items) for name, items in collections.items()}
            sizes = {name: len(items) for name, items in collections.items()}
        elif kind == "csv":
            tables = csv_files(snapshot)
            files = {name: text for name, (text, rows) in tables.items()}
            sizes = {name: rows for name, (text, rows) in tables.items()}
        else:
            raise ExportError("unknown export format %r (nightscout, csv)" % kind)
    finally:
        snapshot.close()
    write_files(files, out)
    return sizes

