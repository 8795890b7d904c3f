"""Gateway store: telemetry rows filed per second through ``Store``, as the gateway
service files them each cycle (its status, a 24-reading CGM history of which only the new
readings are stored, and a page of up to 32 audit-log records with their deliveries,
alarms and security events), against a bare ``executemany`` of exactly the same rows into
the same schema with the same settings (WAL, ``synchronous=FULL``, foreign keys),
measured in the same run. Target: the store's path at 50 % of the bare one or more.

The bare path commits once per cycle, the least the store's durability allows (a page and
the rows derived from it commit together). The store is measured two ways: each call its
own commit (three per cycle: ``add_status``, ``add_readings``, ``add_log_page``), and the
three calls in one ``Store.transaction()`` (one commit per cycle, as durable: nothing is
acknowledged before it). The records are a real pump's: the firmware on memory hardware
doing thirty days of basal, boluses, temporary basals, suspends, refusals and alarms, its
log read back through ``pump.audit_log.verify``.

Run: ``.venv/bin/python tools/bench/run.py gateway_store``.
"""

import os
import shutil
import sqlite3
import tempfile
import time

from common import report

from bootloader.flash import FlashRegion, NorFlash
from pump import audit_log as L
from pump.hal import MemoryHardware
from pump.main_loop import run_for
from pump.pump import Pump
from pump.units import MS_PER_MINUTE
from sim.gateway import store as G

KEY = b"bench-gateway-store-log-key-0001"
WALL0 = 1780000000
PAGE = 32
HISTORY = 24                 # the readings a cgm_history answer carries
ROUNDS = 5


def pump_records(days=30):
    """A real pump's verified records for ``days`` days of varied therapy."""
    hw = MemoryHardware()
    flash = NorFlash(256 * 4096, 4096)
    pump = Pump(hw, flash, KEY)
    assert pump.set_basal_program([800] * 16 + [1200] * 32).ok and pump.start().ok
    assert pump.set_wall_clock(WALL0).ok

    def run(minutes):
        run_for(pump, hw.clock, minutes * MS_PER_MINUTE)
    for day in range(days):
        for hour in range(0, 24, 3):
            pump.bolus(1000 + 250 * (hour % 5))
            run(40)
            pump.temp_basal(30 * MS_PER_MINUTE, percent=50 + 25 * (hour % 4))
            run(20)
            pump.cancel_temp_basal()
            pump.bolus(100000)                         # refused: out of range
            if hour == 12:
                pump.suspend(30 * MS_PER_MINUTE)
                run(35)
            if hour == 18 and day % 2 == 0:
                hw.pressure.mbar = 1600                # an occlusion, then cleared
                run(10)
                hw.pressure.mbar = 100
                pump.acknowledge()
            run(180 - 60 - (35 if hour == 12 else 0) - (10 if hour == 18 and day % 2 == 0
                                                        else 0))
    records = L.verify(FlashRegion(flash, 0, flash.size), KEY, pump.log_head())
    return [(r.seq, r.tick, r.wall, r.type, r.data, r.chain, True) for r in records]


class Cycle:
    """What the service stores in one cycle: status, readings, one log page."""

    def __init__(self, index, page):
        self.at_s = WALL0 + 300 * index
        self.status = {"state": "delivering", "alarm": None, "iob_mu": 1000 + index,
                       "reservoir_mu": 250000 - 25 * index, "battery_percent": 90,
                       "basal_mu_h": 1000}
        self.history = [(self.at_s - 300 * age, 100 + (index - age) % 80,
                         (index - age) % 7 - 3) for age in range(HISTORY)]
        self.page = page


def cycles(records):
    pages = [records[i:i + PAGE] for i in range(0, len(records), PAGE)]
    return [Cycle(i, page) for i, page in enumerate(pages)]


def rows_of(cycle_list):
    """The rows the store files for these cycles, prepared for executemany: new readings
    only (each cycle brings one the store does not have), the log rows CBOR-encoded, the
    derived rows as the store derives them."""
    out = []
    seen = set()
    for cycle in cycle_list:
        status = [(cycle.at_s, "delivering", None, cycle.status["iob_mu"],
                   cycle.status["reservoir_mu"], 90, 1000, None)]
        readings = []
        for measured, mg_dl, trend in sorted(cycle.history):
            if measured not in seen:
                seen.add(measured)
                readings.append((measured, mg_dl, trend, "pump", cycle.at_s))
        out.append((status, readings) + G.page_rows(cycle.page))
    return out


def count(prepared):
    return sum(len(table) for unit in prepared for table in unit)


def _file(store, cycle):
    store.add_status(cycle.status, at_s=cycle.at_s)
    store.add_readings(cycle.history, source="pump")
    store.add_log_page(cycle.page)


def through_store(path, cycle_list, together):
    """Seconds to file the cycles: each call its own commit, or (``together``) each
    cycle's calls in one transaction."""
    store = G.Store(path, clock=lambda: WALL0)
    start = time.perf_counter()
    for cycle in cycle_list:
        if together:
            with store.transaction():
                _file(store, cycle)
        else:
            _file(store, cycle)
    elapsed = time.perf_counter() - start
    counts = store.counts()
    store.close()
    return elapsed, counts


def bare(path, prepared):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    for script in G.MIGRATIONS:
        db.executescript(script)
    start = time.perf_counter()
    for status, readings, logs, deliveries, alarms, events in prepared:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO status VALUES (?, ?, ?, ?, ?, ?, ?, ?)", status)
        db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?)", readings)
        db.executemany("INSERT INTO log_records VALUES (?, ?, ?, ?, ?, ?, ?)", logs)
        db.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?)", deliveries)
        db.executemany("INSERT INTO alarms VALUES (?, ?, ?, ?, ?)", alarms)
        db.executemany("INSERT INTO security_events (at_s, source, kind, detail, seq) "
                       "VALUES (?, ?, ?, ?, ?)", events)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def main():
    records = pump_records()
    cycle_list = cycles(records)
    prepared = rows_of(cycle_list)
    rows = count(prepared)
    # on a disk, as a gateway's store is, not a RAM-backed /tmp where commits cost nothing
    folder = tempfile.mkdtemp(prefix=".bench-gateway-store-", dir=os.path.dirname(
        os.path.abspath(__file__)))
    try:
        times = {"calls": [], "cycle": [], "bare": []}
        for round_ in range(ROUNDS):         # interleaved: drift hits all three alike
            for way, together in (("calls", False), ("cycle", True)):
                elapsed, counts = through_store(
                    os.path.join(folder, "%s%d.db" % (way, round_)), cycle_list, together)
                filed = sum(counts[t] for t in ("readings", "status", "log_records",
                                                "deliveries", "alarms", "security_events"))
                if filed != rows:
                    raise RuntimeError("the store filed %d rows, the bare path %d"
                                       % (filed, rows))
                times[way].append(elapsed)
            times["bare"].append(bare(os.path.join(folder, "bare%d.db" % round_), prepared))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rate = {way: rows / min(seconds) for way, seconds in times.items()}
    report("bare executemany of the same rows, one commit per cycle", rate["bare"], "rows/s",
           reference="%d rows: %d cycles of status + new readings + a page of up to %d "
           "records (%d in all) and their derived rows" % (rows, len(cycle_list), PAGE,
                                                             len(records)))
    report("Store, one transaction per cycle: rows/s", rate["cycle"], "rows/s")
    report("Store, one transaction per cycle, vs bare executemany",
           100 * rate["cycle"] / rate["bare"], "%", target=(">=", 50))
    report("Store, each call its own commit: rows/s", rate["calls"], "rows/s",
           reference="three commits per cycle")
    report("Store, each call its own commit, vs bare executemany",
           100 * rate["calls"] / rate["bare"], "%",
           reference="one commit per cycle with Store.transaction(), above")
