"""`pumpsim export`: Nightscout JSON that its API v1 accepts and CSV for spreadsheets,
from a store that is only ever read.

The Nightscout schema below is written from Nightscout's own documents, not from the
exporter: cgm-remote-monitor 15.0.7 (commit 7e0e77f), ``lib/server/swagger.yaml`` (the
/api/v1 schemas Entry, Treatment, Devicestatus, pump, pumpbattery, pumpstatus) and, for
the fields that schema leaves open, the code that reads them: ``lib/plugins/direction.js``
(direction names), ``lib/plugins/careportal.js`` (event types), ``lib/client/careportal.js``
(a combo bolus's enteredinsulin and relative), ``lib/plugins/pump.js`` (battery.percent,
extended), ``lib/plugins/iob.js`` (pump.iob.iob), API v3's ``lib/api3/swagger.yaml``
(DocumentBase.device, "Temp Basal" among the event types).
"""

import csv
import datetime
import decimal
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

import pytest
from hypothesis import given, strategies as st

from pump import audit_log as L
from pump.units import MS_PER_MINUTE
from secure_channel import cbor
from sim.gateway import export as E
from sim.gateway import store as G
from sim.gateway.store import Store

import pump_fixtures as F
from pump_day import WALL0, day

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUMBER = "number"           # JSON number: int or float, never a bool
STRING = "string"
BOOLEAN = "boolean"

# -- Nightscout's schema, from its documents ----------------------------------------------

# swagger.yaml components/schemas/Entry; device from API v3 DocumentBase
ENTRY = {"type": STRING, "dateString": STRING, "date": NUMBER, "sgv": NUMBER,
         "direction": STRING, "noise": NUMBER, "filtered": NUMBER, "unfiltered": NUMBER,
         "rssi": NUMBER, "device": STRING}
# lib/plugins/direction.js dir2Char
DIRECTION_NAMES = {"NONE", "TripleUp", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat",
                   "FortyFiveDown", "SingleDown", "DoubleDown", "TripleDown",
                   "NOT COMPUTABLE", "RATE OUT OF RANGE"}
# swagger.yaml components/schemas/Treatment, with API v3's Treatment fields (duration,
# preBolus, splitNow, splitExt, percent, absolute, targetTop, targetBottom, profile,
# reason) and lib/client/careportal.js's combo bolus fields (enteredinsulin, relative)
TREATMENT = {"_id": STRING, "eventType": STRING, "created_at": STRING, "glucose": STRING,
             "glucoseType": STRING, "carbs": NUMBER, "protein": NUMBER, "fat": NUMBER,
             "insulin": NUMBER, "units": STRING, "transmitterId": STRING,
             "sensorCode": STRING, "notes": STRING, "enteredBy": STRING,
             "duration": NUMBER, "preBolus": NUMBER, "splitNow": NUMBER, "splitExt": NUMBER,
             "percent": NUMBER, "absolute": NUMBER, "targetTop": NUMBER,
             "targetBottom": NUMBER, "profile": STRING, "reason": STRING,
             "enteredinsulin": NUMBER, "relative": NUMBER}
# lib/plugins/careportal.js getEventTypes, and "Temp Basal" (what careportal.js saves a
# Temp Basal Start/End as; API v3's example list)
EVENT_TYPES = {"BG Check", "Snack Bolus", "Meal Bolus", "Correction Bolus",
               "Carb Correction", "Combo Bolus", "Announcement", "Note", "Question",
               "Exercise", "Site Change", "Sensor Start", "Sensor Change", "Sensor Stop",
               "Pump Battery Change", "Insulin Change", "Temp Basal", "Profile Switch",
               "D.A.D. Alert"}
# swagger.yaml Devicestatus (required: device, created_at), pump, pumpbattery (+ percent,
# lib/plugins/pump.js), pumpstatus; pump.iob from lib/plugins/iob.js, pump.extended from
# lib/plugins/pump.js
DEVICESTATUS = {"device": STRING, "created_at": STRING, "openaps": "object",
                "loop": "object", "uploader": "object", "xdripjs": "object",
                "pump": {"clock": STRING, "reservoir": NUMBER, "manufacturer": STRING,
                         "model": STRING, "extended": "object",
                         "battery": {"status": STRING, "voltage": NUMBER, "percent": NUMBER},
                         "status": {"status": STRING, "bolusing": BOOLEAN,
                                    "suspended": BOOLEAN, "timestamp": STRING},
                         "iob": {"iob": NUMBER, "bolusiob": NUMBER, "timestamp": STRING}}}
DATE_FIELDS = {"dateString", "created_at", "clock", "timestamp"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def check(obj, schema, where):
    """Every field is one the schema names, of its type; dates ISO 8601."""
    assert isinstance(obj, dict), where
    for name, value in obj.items():
        assert name in schema, "%s: %r is not a Nightscout field" % (where, name)
        kind = schema[name]
        if isinstance(kind, dict):
            check(value, kind, "%s.%s" % (where, name))
        elif kind == NUMBER:
            assert type(value) in (int, float), (where, name, value)
        elif kind == STRING:
            assert type(value) is str, (where, name, value)
        elif kind == BOOLEAN:
            assert type(value) is bool, (where, name, value)
        else:
            assert isinstance(value, dict), (where, name, value)
        if name in DATE_FIELDS:
            assert ISO_UTC.match(value), (where, name, value)
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch_ms(text):
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
               * 1000)


# -- stores to export ---------------------------------------------------------------------

STATUS = {"state": "delivering", "alarm": None, "iob_mu": 1250, "reservoir_mu": 180025,
          "battery_percent": 80, "basal_mu_h": 1000}


def filled(path, records=None):
    store = Store(path)
    for page in (day().pages() if records is None else
                 [records[i:i + 32] for i in range(0, len(records), 32)]):
        store.add_log_page(page)
    store.add_readings([(WALL0 + 300 * i, 100 + 3 * i, i % 7 - 3) for i in range(14)])
    store.add_status(STATUS, at_s=WALL0 + 600)
    store.add_status(dict(STATUS, state="suspended", alarm="IL-OCCLUSION", iob_mu=1,
                          reservoir_mu=0, basal_mu_h=0), glucose=143, at_s=WALL0 + 900)
    store.add_security_event("session refused", "unknown credential", at_s=WALL0 + 30)
    store.close()
    return path


@pytest.fixture
def db(tmp_path):
    return filled(str(tmp_path / "gateway.db"))


def nightscout(db, out):
    E.export(db, "nightscout", str(out))
    return {name[:-5]: json.loads((out / name).read_text()) for name in E.NIGHTSCOUT_FILES}


def pumpsim(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def records_of(actions):
    """The verified records of a fresh pump after ``actions(pump, hw)``."""
    pump, hw, flash = F.make_pump(rate_mu_h=1000)
    assert pump.set_wall_clock(WALL0).ok
    actions(pump, hw)
    return [(r.seq, r.tick, r.wall, r.type, r.data, r.chain, True)
            for r in L.verify(F.region(flash), F.KEY, pump.log_head())]


# -- Nightscout ---------------------------------------------------------------------------

def test_every_exported_object_has_only_nightscout_fields_of_their_types(db, tmp_path):
    files = nightscout(db, tmp_path / "ns")
    assert all(isinstance(files[name], list) for name in files)      # what POST takes
    assert files["entries"] and files["treatments"] and files["devicestatus"]
    for i, entry in enumerate(files["entries"]):
        check(entry, ENTRY, "entries[%d]" % i)
        assert entry["type"] == "sgv" and entry["direction"] in DIRECTION_NAMES
        assert type(entry["date"]) is int and epoch_ms(entry["dateString"]) == entry["date"]
    for i, treatment in enumerate(files["treatments"]):
        check(treatment, TREATMENT, "treatments[%d]" % i)
        assert treatment["eventType"] in EVENT_TYPES
        assert "created_at" in treatment
    for i, status in enumerate(files["devicestatus"]):
        check(status, DEVICESTATUS, "devicestatus[%d]" % i)
        assert {"device", "created_at"} <= set(status)               # required


def test_entries_are_the_readings_with_nightscouts_direction(db, tmp_path):
    entries = nightscout(db, tmp_path / "ns")["entries"]
    expected = {-3: "DoubleDown", -2: "SingleDown", -1: "FortyFiveDown", 0: "Flat",
                1: "FortyFiveUp", 2: "SingleUp", 3: "DoubleUp"}
    assert [(e["date"], e["sgv"], e["direction"]) for e in entries] == [
        ((WALL0 + 300 * i) * 1000, 100 + 3 * i, expected[i % 7 - 3]) for i in range(14)]
    assert entries[0]["dateString"] == "2026-05-28T20:26:40.000Z"


@given(st.integers(min_value=-(1 << 32), max_value=1 << 32))
def test_insulin_converts_from_mu_to_units_exactly(mu):
    text = json.dumps(E.units(mu))
    assert decimal.Decimal(text) == decimal.Decimal(mu) / 1000
    assert decimal.Decimal(E.units_text(mu)) == decimal.Decimal(mu) / 1000


def test_units_in_the_files_are_the_stored_mu_over_1000(db, tmp_path):
    files = nightscout(db, tmp_path / "ns")
    first, second = files["devicestatus"]
    assert (first["pump"]["reservoir"], first["pump"]["iob"]["iob"]) == (180.025, 1.25)
    assert (second["pump"]["reservoir"], second["pump"]["iob"]["iob"]) == (0, 0.001)
    assert second["pump"]["status"] == {"status": "suspended", "suspended": True,
                                        "timestamp": second["created_at"]}
    assert second["pump"]["battery"] == {"percent": 80}
    text = (tmp_path / "ns" / "devicestatus.json").read_text()
    assert '"reservoir": 180.025' in text and '"iob": 0.001' in text
    boluses = [t["insulin"] for t in files["treatments"] if "Bolus" in t["eventType"]]
    assert boluses == [1.5, 4.5]


def _at(offset_s):
    return E.iso(WALL0 + offset_s)


def test_treatments_are_what_the_pump_did(db, tmp_path):
    treatments = nightscout(db, tmp_path / "ns")["treatments"]
    by_time = {}
    for t in treatments:
        by_time.setdefault(t["created_at"], []).append(t)
    commands = {c.data["op"]: c for c in reversed(day().of_type(L.EV_COMMAND))}
    bolus, meal = day().commands("bolus")
    correction = by_time[E.iso(bolus.wall)]
    assert [(t["eventType"], t["insulin"]) for t in correction] == [("Correction Bolus", 1.5)]
    meal_bolus = [t for t in by_time[E.iso(meal.wall)] if t["eventType"] == "Meal Bolus"]
    assert [(t["insulin"], t["carbs"]) for t in meal_bolus] == [(4.5, 45)]
    percent, absolute = day().commands("temp_basal")
    assert [(t["eventType"], t["percent"], t["duration"]) for t in by_time[
        E.iso(percent.wall)]] == [("Temp Basal", 50, 30)]           # 150 % is +50 %
    assert [(t["eventType"], t["absolute"], t["duration"]) for t in by_time[
        E.iso(absolute.wall)]] == [("Temp Basal", 0.5, 60)]
    cancel = commands["cancel_temp_basal"]
    assert [(t["eventType"], t["duration"]) for t in by_time[E.iso(cancel.wall)]] == [
        ("Temp Basal", 0)]                                           # ends the one running
    # suspended for 30 min: no basal, then the program again
    suspend = commands["suspend"]
    stopped = by_time[E.iso(suspend.wall)]
    assert [(t["eventType"], t["absolute"], t["duration"]) for t in stopped] == [
        ("Temp Basal", 0, 30)]
    resumed = by_time[E.iso(suspend.wall + 30 * 60)]
    assert [(t["eventType"], t["duration"]) for t in resumed] == [("Temp Basal", 0)]
    # the occlusion: announced, no delivery until acknowledged, then resumed
    raised, cleared = day().of_type(L.EV_ALARM)
    at_alarm = {t["eventType"]: t for t in by_time[E.iso(raised.wall)]}
    assert "IL-OCCLUSION" in at_alarm["Announcement"]["notes"]
    assert at_alarm["Temp Basal"]["absolute"] == 0
    assert at_alarm["Temp Basal"]["duration"] == (cleared.tick - raised.tick) / MS_PER_MINUTE
    at_ack = {t["eventType"]: t for t in by_time[E.iso(cleared.wall)]}
    assert "acknowledged" in at_ack["Note"]["notes"] and at_ack["Temp Basal"]["duration"] == 0
    warning = day().of_type(L.EV_WARNING)[0]
    assert "IL-RESERVOIR-LOW" in by_time[E.iso(warning.wall)][0]["notes"]
    notes = [t["notes"] for t in treatments if t["eventType"] == "Note"]
    assert any("refused bolus" in n for n in notes)
    assert any("session refused" in n and "gateway" in n for n in notes)
    assert not any("carbs" in t for t in treatments if t["eventType"] != "Meal Bolus")


def test_no_two_treatments_share_nightscouts_key_and_the_last_temp_basal_wins(tmp_path):
    """Nightscout keys a treatment on created_at and eventType: two in one second would
    overwrite each other on upload, the one that ran perhaps lost."""
    def actions(pump, hw):
        F.run_for(pump, hw, MS_PER_MINUTE)
        assert pump.temp_basal(30 * MS_PER_MINUTE, percent=150).ok
        assert pump.cancel_temp_basal().ok
        assert pump.temp_basal(30 * MS_PER_MINUTE, rate_mu_h=500).ok
        assert pump.suspend(20 * MS_PER_MINUTE).ok              # all in the same second
        F.run_for(pump, hw, 25 * MS_PER_MINUTE)
    path = filled(str(tmp_path / "g.db"), records_of(actions))
    treatments = nightscout(path, tmp_path / "ns")["treatments"]
    keys = [(t["created_at"], t["eventType"]) for t in treatments]
    assert len(keys) == len(set(keys))
    second = [t for t in treatments if t["created_at"] == _at(60) and
              t["eventType"] == "Temp Basal"]
    assert len(second) == 1
    assert (second[0]["absolute"], second[0]["duration"]) == (0, 20)   # the suspend ran
    for text in ("150%", "cancelled", "0.500 U/h", "suspended"):
        assert text in second[0]["notes"]


def test_an_extended_bolus_is_a_combo_bolus_and_a_stopped_one_says_what_it_gave(tmp_path):
    def actions(pump, hw):
        F.run_for(pump, hw, MS_PER_MINUTE)
        assert pump.bolus(3000, duration_ms=60 * MS_PER_MINUTE).ok
        F.run_for(pump, hw, 90 * MS_PER_MINUTE)
        assert pump.bolus(2000, duration_ms=120 * MS_PER_MINUTE).ok
        F.run_for(pump, hw, 30 * MS_PER_MINUTE)
        assert pump.cancel_bolus().ok
        F.run_for(pump, hw, 5 * MS_PER_MINUTE)
    records = records_of(actions)
    path = filled(str(tmp_path / "g.db"), records)
    combos = [t for t in nightscout(path, tmp_path / "ns")["treatments"]
              if t["eventType"] == "Combo Bolus"]
    whole, stopped = combos
    assert (whole["enteredinsulin"], whole["duration"], whole["relative"]) == (3, 60, 3)
    assert (whole["splitNow"], whole["splitExt"], whole["insulin"]) == (0, 100, 0)
    delivered = [r[4] for r in records if r[3] == L.EV_DELIVERED]
    assert delivered[0] == [3000, 3000] and delivered[1][0] == 2000
    gave = delivered[1][1]
    assert 0 < gave < 2000
    assert stopped["enteredinsulin"] == E.units(gave)
    assert stopped["duration"] == 30                          # it ran 30 of its 120 min
    assert "2.000 U programmed" in stopped["notes"]


def test_an_empty_store_exports_empty_collections_and_header_only_csv(tmp_path):
    path = str(tmp_path / "empty.db")
    Store(path).close()
    assert nightscout(path, tmp_path / "ns") == {"entries": [], "treatments": [],
                                                 "devicestatus": []}
    sizes = E.export(path, "csv", str(tmp_path / "csv"))
    assert set(sizes.values()) == {0}
    header = (tmp_path / "csv" / "readings.csv").read_bytes().decode()
    assert header == "measured_s,measured_s_utc,mg_dl,trend,source,stored_s,stored_s_utc\r\n"


# -- the command line ---------------------------------------------------------------------

def _not_a_gateway_db(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (name TEXT)")
    db.commit()
    db.close()


def _newer(path):
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = %d" % (G.SCHEMA_VERSION + 1))
    db.close()


@pytest.mark.parametrize("make, words", [
    (None, "no such file"),
    (lambda p: os.mkdir(p), "not a file"),
    (lambda p: open(p, "wb").write(os.urandom(5000)), "not a gateway database"),
    (lambda p: open(p, "wb").write(b""), "not a gateway database"),
    (_not_a_gateway_db, "not a gateway database"),
    (_newer, "newer"),
])
@pytest.mark.parametrize("kind", ["nightscout", "csv"])
def test_a_bad_db_is_one_line_on_stderr_and_exit_2(tmp_path, make, words, kind):
    path = str(tmp_path / "store.db")
    if make is not None:
        make(path)
    result = pumpsim("export", "--db", path, kind, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0] and path in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_an_existing_non_empty_out_is_refused_and_left_as_it_was(db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "entries.json").write_text("[] earlier\n")
    result = pumpsim("export", "--db", db, "nightscout", "--out", str(out))
    assert result.returncode == 2
    assert "not empty" in result.stderr and len(result.stderr.splitlines()) == 1
    assert os.listdir(out) == ["entries.json"]
    assert (out / "entries.json").read_text() == "[] earlier\n"
    afile = tmp_path / "a-file"
    afile.write_text("x")
    result = pumpsim("export", "--db", db, "csv", "--out", str(afile))
    assert result.returncode == 2 and "not a folder" in result.stderr
    assert afile.read_text() == "x"


def test_an_empty_out_is_used_and_the_files_are_private(db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = pumpsim("export", "--db", db, "nightscout", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == sorted(E.NIGHTSCOUT_FILES)
    assert "entries.json: 14 objects" in result.stdout
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    assert {oct((out / n).stat().st_mode & 0o777) for n in E.NIGHTSCOUT_FILES} == {"0o600"}
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out-")]   # no staging


def test_a_write_that_fails_leaves_no_export_at_all(db, tmp_path, monkeypatch):
    def no_room(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(E.os, "rename", no_room)
    with pytest.raises(E.ExportError) as exc:
        E.export(db, "csv", str(tmp_path / "out"))
    assert "No space left" in str(exc.value) and "nothing was written" in str(exc.value)
    assert not [n for n in os.listdir(tmp_path) if not n.startswith("gateway.db")]


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_export_never_writes_to_the_store(tmp_path, monkeypatch):
    """An older store is exported as it is (never migrated), its file unchanged, and
    every connection made is a read-only one."""
    path = str(tmp_path / "v1.db")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(G.MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO readings VALUES (?, 111, 0, 'pump', ?)", (WALL0, WALL0))
    db.close()
    before = _digest(path)
    uris = []
    real = sqlite3.connect

    def spy(database, *args, **kwargs):
        uris.append((database, kwargs.get("uri")))
        return real(database, *args, **kwargs)
    monkeypatch.setattr(sqlite3, "connect", spy)
    for kind in ("nightscout", "csv"):
        E.export(path, kind, str(tmp_path / kind))
    monkeypatch.undo()
    assert uris and all(uri and database.endswith("?mode=ro") for database, uri in uris)
    assert _digest(path) == before
    assert real(path).execute("PRAGMA user_version").fetchone()[0] == 1
    entries = json.loads((tmp_path / "nightscout" / "entries.json").read_text())
    assert [e["sgv"] for e in entries] == [111]


def test_an_export_while_the_gateway_writes_sees_only_what_was_committed(db, tmp_path):
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO readings VALUES (?, 222, 0, 'pump', ?)",
                   (WALL0 + 10 ** 6, WALL0))
    try:
        entries = nightscout(db, tmp_path / "ns")["entries"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert 222 not in [e["sgv"] for e in entries] and len(entries) == 14


# -- CSV ----------------------------------------------------------------------------------

def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_has_a_file_per_table_with_times_and_units_beside_the_stored_values(db,
                                                                               tmp_path):
    out = tmp_path / "csv"
    result = pumpsim("export", "--db", db, "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == sorted(t + ".csv" for t in E.CSV_TABLES)
    assert not {"web_users.csv", "web_sessions.csv", "meta.csv"} & set(os.listdir(out))
    deliveries = read_csv(out / "deliveries.csv")
    for row in deliveries:
        assert decimal.Decimal(row["u"]) * 1000 == int(row["mu"])
        assert row["wall_s_utc"] == E.iso(int(row["wall_s"]))
    assert any(row["u"].startswith("-0.") for row in deliveries)          # refunds
    status = read_csv(out / "status.csv")
    assert [(r["reservoir_u"], r["iob_u"], r["basal_u_h"]) for r in status] == [
        ("180.025", "1.250", "1.000"), ("0.000", "0.001", "0.000")]
    records = read_csv(out / "log_records.csv")
    assert [int(r["seq"]) for r in records] == [r.seq for r in day().records]
    first = day().records[0]
    assert records[0]["type_name"] == L.TYPE_NAMES[first.type]
    assert records[0]["chain"] == first.chain.hex()
    assert json.loads(records[0]["data"])["program_set"] is False


def test_csv_text_a_spreadsheet_would_run_as_a_formula_is_quoted(tmp_path):
    path = str(tmp_path / "g.db")
    store = Store(path)
    for i, text in enumerate(['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)",
                              "\tx", "plain"]):
        store.add_security_event("refused " + str(i), text, at_s=WALL0 + i)
    store.add_log_page(records_of(lambda pump, hw: None))
    store.close()
    E.export(path, "csv", str(tmp_path / "csv"))
    details = [r["detail"] for r in read_csv(tmp_path / "csv" / "security_events.csv")
               if r["source"] == "gateway"]
    assert details == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1+1", "'-2+3", "'@SUM(A1)",
                       "'\tx", "plain"]
    numbers = read_csv(tmp_path / "csv" / "deliveries.csv")
    assert all(not r["mu"].startswith("'") for r in numbers)     # numbers stay numbers


def test_a_pump_powered_off_while_delivering_delivered_nothing_until_it_resumed(tmp_path):
    pump, hw, flash = F.make_pump(rate_mu_h=1000)
    assert pump.set_wall_clock(WALL0).ok
    F.run_for(pump, hw, 10 * MS_PER_MINUTE)
    hw.clock.advance(20 * MS_PER_MINUTE)                  # the battery out for 20 min
    pump, hw = F.reboot(hw, flash)
    F.run_for(pump, hw, 10 * MS_PER_MINUTE)
    records = [(r.seq, r.tick, r.wall, r.type, r.data, r.chain, True)
               for r in L.verify(F.region(flash), F.KEY, pump.log_head())]
    boot = [r for r in records if r[3] == L.EV_BOOT][-1]
    assert boot[4]["off_ms"] == 20 * MS_PER_MINUTE and pump.state == "delivering"
    path = filled(str(tmp_path / "g.db"), records)
    treatments = nightscout(path, tmp_path / "ns")["treatments"]
    off = [t for t in treatments if t.get("reason") == "pump off"]
    assert [(t["created_at"], t["absolute"], t["duration"]) for t in off] == [
        (E.iso(boot[2] - 20 * 60), 0, 20)]
    assert any(t["created_at"] == E.iso(boot[2]) and t.get("reason") == "resume"
               for t in treatments)


_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["op", "args", "mu", "duration_ms", "percent", "rate_mu_h",
                         "carbs_g", "boots", "off_ms", "restarted", "d"]), inner, max_size=4),
    max_leaves=12)
_OPS = st.sampled_from(["bolus", "temp_basal", "cancel_temp_basal", "suggest_bolus", "x"])
_DATA = st.one_of(
    _VALUE,
    st.fixed_dictionaries({"op": _OPS, "args": _VALUE}),
    st.fixed_dictionaries({"op": _OPS, "args": st.dictionaries(st.sampled_from(
        ["mu", "duration_ms", "percent", "rate_mu_h", "carbs_g"]), st.integers(-5, 10 ** 7),
        max_size=3)}),
    st.lists(st.sampled_from(["delivering", "suspended", "stopped", "alarm", "suspend",
                              "resume", "raise_alarm"]), min_size=3, max_size=3))
_RECORD = st.tuples(st.sampled_from([L.EV_COMMAND, L.EV_STATE, L.EV_DELIVERED, L.EV_BOOT,
                                     L.EV_THERAPY]),
                    st.integers(0, 10 ** 7), st.integers(0, 3600), _DATA)


@given(st.lists(_RECORD, max_size=25))
def test_records_of_any_shape_export_without_an_error(records):
    """Whatever the log holds (a record the exporter does not expect, a damaged one),
    the export is written, never a traceback."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "g.db")
        Store(path).close()
        db = sqlite3.connect(path)
        for seq, (rtype, tick, wall, data) in enumerate(records, 1):
            db.execute("INSERT INTO log_records VALUES (?, ?, ?, ?, ?, NULL, 0)",
                       (seq, tick, WALL0 + wall, rtype, cbor.encode(data)))
        db.commit()
        db.close()
        for kind in ("nightscout", "csv"):
            E.export(path, kind, os.path.join(folder, kind))
        treatments = json.load(open(os.path.join(folder, "nightscout", "treatments.json")))
        for i, treatment in enumerate(treatments):
            check(treatment, TREATMENT, "treatments[%d]" % i)


def test_an_out_whose_folder_does_not_exist_is_refused_and_nothing_is_made(db, tmp_path):
    out = tmp_path / "missing" / "folder" / "ns"
    result = pumpsim("export", "--db", db, "nightscout", "--out", str(out))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "missing").exists()
