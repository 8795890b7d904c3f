"""The gateway's SQLite store, from its hazards: health data readable by others, a file
from another version or not a database at all, a lock or a full disk in the middle of a
write, a kill between two pages, and records filed twice or wrongly."""

import os
import random
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading

import pytest
from hypothesis import given, strategies as st

from pump import audit_log as L
from sim.gateway import store as G
from sim.gateway.store import Store, StoreError

from pump_day import WALL0, day

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATUS = {"state": "delivering", "alarm": None, "iob_mu": 1250, "reservoir_mu": 180000,
          "battery_percent": 80, "basal_mu_h": 1000}


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "gateway.db")


def one_line(exc_info, path, *words):
    """The StoreError is one line naming the file (and the words given)."""
    text = str(exc_info.value)
    assert exc_info.type is StoreError
    assert "\n" not in text and path in text, text
    for word in words:
        assert word in text, text
    return text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def fill(store, pages=None):
    for page in (day().pages() if pages is None else pages):
        store.add_log_page(page)
    store.add_readings([(WALL0 + 300 * i, 100 + i, 0) for i in range(30)])
    store.add_status(STATUS, at_s=WALL0)


# -- who may read it ----------------------------------------------------------------------

@pytest.mark.verifies("DC-STORE-PRIVATE")
def test_a_new_store_and_its_journal_are_created_for_the_owner_only(tmp_path):
    old = os.umask(0)                      # not the umask's doing: the store's own modes
    try:
        folder = tmp_path / "new" / "folder"
        path = str(folder / "gateway.db")
        store = Store(path)
        store.add_status(STATUS, at_s=WALL0)
        for name in (path, path + "-wal", path + "-shm"):
            assert os.path.exists(name), name
            assert mode(name) == 0o600, (name, oct(mode(name)))
        assert mode(str(folder)) == 0o700
        store.close()
    finally:
        os.umask(old)


@pytest.mark.verifies("DC-STORE-PRIVATE")
@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604, 0o660])
def test_an_existing_file_others_can_read_is_refused_and_left_alone(path, bits):
    store = Store(path)
    fill(store)
    store.close()
    os.chmod(path, bits)
    with open(path, "rb") as f:
        before = f.read()
    with pytest.raises(StoreError) as exc:
        Store(path)
    one_line(exc, path, "chmod 600")
    with open(path, "rb") as f:
        assert f.read() == before
    assert mode(path) == bits


# -- what version it is --------------------------------------------------------------------

def _version_1(path):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(G.MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    return db


def test_a_version_1_database_is_migrated_keeping_every_row(path):
    db = _version_1(path)
    db.execute("INSERT INTO readings VALUES (?, ?, ?, ?, ?)", (WALL0, 123, -1, "pump", WALL0))
    db.execute("INSERT INTO status VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (WALL0, "suspended", None, 500, 90000, 40, 0, 123))
    db.execute("INSERT INTO log_records VALUES (?, ?, ?, ?, ?, ?, ?)",
               (1, 0, WALL0, L.EV_BOOT, b"\xa0", b"\x11" * 32, 1))
    db.execute("INSERT INTO deliveries VALUES (1, ?, 1500, 1)", (WALL0,))
    db.execute("INSERT INTO sessions (at_s, peer, outcome, detail) VALUES (?, ?, ?, ?)",
               (WALL0, "gateway", "ok", ""))
    db.close()

    store = Store(path)
    assert store.version == G.SCHEMA_VERSION > 1
    assert store.readings_since(0) == [(WALL0, 123, -1)]
    assert store.latest_status()["state"] == "suspended"
    assert list(store.log_records()) == [(1, 0, WALL0, L.EV_BOOT, {}, b"\x11" * 32, True)]
    counts = store.counts()
    assert (counts["deliveries"], counts["sessions"]) == (1, 1)
    tables = {name for name, in store.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"web_users", "web_sessions", "web_logins"} <= tables
    store.add_log_page(day().pages()[0][1:])         # and it is written to as before
    assert store.integrity() == "ok"
    store.close()
    assert Store(path).version == G.SCHEMA_VERSION    # opened again: nothing to do


def test_a_second_gateway_migrating_at_the_same_time_does_not_fail(path, monkeypatch):
    """Two gateways started together both read version 1; the second must find the
    migration done by the first once it gets the write lock, not fail on it."""
    _version_1(path).close()
    Store(path).close()                                # the first one migrated
    stale = iter([1])
    real = Store.version.fget

    def version(store):
        return next(stale, None) or real(store)        # what the second read before
    monkeypatch.setattr(Store, "version", property(version))
    store = Store(path)
    assert real(store) == G.SCHEMA_VERSION
    store.close()


def test_a_database_from_a_newer_schema_is_refused_and_left_alone(path):
    Store(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA user_version = %d" % (G.SCHEMA_VERSION + 1))
    db.close()
    with pytest.raises(StoreError) as exc:
        Store(path)
    one_line(exc, path, "newer")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == G.SCHEMA_VERSION + 1
    db.close()


# -- not a database, or a damaged one -----------------------------------------------------

@pytest.mark.parametrize("content", [
    bytes(random.Random(1).randrange(256) for _ in range(8192)),
    b"SQLite format 3\x00" + bytes(random.Random(2).randrange(256) for _ in range(4080)),
    b"readings,mg_dl\n1780000000,120\n",
])
def test_a_file_that_is_not_a_database_is_one_line_and_left_alone(path, content):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(StoreError) as exc:
        Store(path)
    one_line(exc, path, "not a gateway database")
    with open(path, "rb") as f:
        assert f.read() == content


def _use(store):
    """Every way the service and the page read or write the store."""
    store.counts()
    store.readings_since(0)
    store.latest_status()
    store.last_log()
    store.meta("log_diverged")
    list(store.log_records())
    store.add_readings([(WALL0 + 10 ** 6, 100, 0)])
    store.add_status(STATUS, at_s=WALL0 + 10 ** 6)
    store.add_security_event("test", "written after the damage")


def _stored(path):
    store = Store(path)
    fill(store)
    for i in range(400):                  # enough rows for many pages of the file
        store.add_session("gateway", "ok", "session %d" % i)
    store.close()                         # checkpointed: everything in the main file
    return os.path.getsize(path)


def test_a_truncated_database_gives_one_line_never_an_sqlite3_traceback(path):
    size = _stored(path)
    os.truncate(path, size // 2)
    with pytest.raises(StoreError) as exc:
        _use(Store(path))
    one_line(exc, path, "corrupt")


def test_a_damaged_table_gives_one_line_never_an_sqlite3_traceback(path):
    """The schema intact, the tables' pages overwritten: the file opens, and the damage
    shows only when a table is read or written."""
    _stored(path)
    db = sqlite3.connect(path)
    page = db.execute("PRAGMA page_size").fetchone()[0]
    roots = [root for root, in db.execute(
        "SELECT rootpage FROM sqlite_master WHERE type = 'table'")]
    db.close()
    noise = random.Random(3)
    with open(path, "r+b") as f:
        for root in roots:
            f.seek((root - 1) * page + 8)
            f.write(bytes(noise.randrange(256) for _ in range(page - 16)))
    store = Store(path)
    assert store.integrity() != "ok"
    with pytest.raises(StoreError) as exc:
        _use(store)
    one_line(exc, path, "corrupt")
    for read in (store.counts, store.latest_status, store.last_log,
                 lambda: list(store.log_records()), lambda: store.readings_since(0)):
        with pytest.raises(StoreError):
            read()
    store.close()


# -- another writer, a full disk, a kill ---------------------------------------------------

def _hold_write_lock(path):
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO sessions (at_s, peer, outcome, detail) "
                  "VALUES (0, 'x', 'y', '')")
    return other


def test_a_database_locked_by_another_writer_is_locked_after_the_busy_timeout(path):
    store = Store(path, busy_timeout_ms=50)
    fill(store)
    before = store.counts()
    other = _hold_write_lock(path)
    with pytest.raises(StoreError) as exc:
        store.add_status(STATUS, at_s=WALL0 + 300)
    one_line(exc, path, "locked")
    with pytest.raises(StoreError):
        store.add_log_page(day().pages()[0])
    assert store.counts() == before        # readers are not blocked by the writer (WAL)
    other.execute("ROLLBACK")
    other.close()
    store.add_status(STATUS, at_s=WALL0 + 300)         # the lock gone, writing goes on
    assert store.counts()["status"] == before["status"] + 1
    store.close()


def test_a_lock_released_within_the_busy_timeout_is_waited_for(path):
    store = Store(path, busy_timeout_ms=30000)
    other = _hold_write_lock(path)
    release = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store.add_status(STATUS, at_s=WALL0)            # waits, then writes
    finally:
        release.join()
        other.close()
    assert store.counts()["status"] == 1
    assert store.counts()["sessions"] == 1              # the other writer's row
    store.close()


@pytest.mark.verifies("DC-STORE-DURABLE")
def test_a_full_disk_refuses_the_page_whole_and_keeps_what_was_committed(path):
    store = Store(path)
    first, rest = day().pages(16)[0], day().pages(16)[1:]
    store.add_log_page(first)
    store.add_readings([(WALL0, 100, 0)])
    committed = store.counts()
    records = list(store.log_records())
    # The file may not grow by a single page more: a disk with no room left.
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute("PRAGMA max_page_count = %d" % pages)
    failed = None
    for page in rest:
        try:
            store.add_log_page(page)
        except StoreError as exc:
            failed = exc
            break
    assert failed is not None, "the store never ran out of room"
    text = str(failed)
    assert "\n" not in text and path in text and "disk is full" in text
    stored = [r[0] for r in store.log_records()]
    assert stored[:len(records)] == [r[0] for r in records]
    assert len(stored) % 16 == 0           # whole pages only: none half-stored
    assert store.readings_since(0) == [(WALL0, 100, 0)]
    store.db.execute("PRAGMA max_page_count = 1073741823")     # room again: it goes on
    for page in rest:
        store.add_log_page(page)
    assert [r[0] for r in store.log_records()] == [r.seq for r in day().records]
    assert store.integrity() == "ok"
    store.close()
    assert committed["log_records"] == 16


_WRITER = """
import sys
sys.path[:0] = [%r, %r, %r]
from pump_day import day
from sim.gateway.store import Store
store = Store(sys.argv[1])
stored = 0
for k in range(1000):
    for page in day().pages(8):
        store.add_log_page([(r[0] + 1000 * k,) + tuple(r[1:]) for r in page])
        stored += len(page)
        print(stored, flush=True)       # acknowledged: committed
"""


@pytest.mark.verifies("DC-STORE-DURABLE")
def test_a_writer_killed_mid_stream_leaves_whole_pages_and_an_intact_file(path):
    code = _WRITER % (ROOT, os.path.join(ROOT, "tests", "portable"),
                      os.path.dirname(os.path.abspath(__file__)))
    child = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == 40:
                break
    finally:
        child.kill()                      # SIGKILL: no clean-up of any kind
        child.wait()
    assert len(acknowledged) == 40, child.stderr.read()
    sizes = [len(page) for page in day().pages(8)] * 1000
    boundaries = {sum(sizes[:n]) for n in range(len(sizes))}
    store = Store(path)
    assert store.integrity() == "ok"
    seqs = [r[0] for r in store.log_records()]
    # every acknowledged page is there, whole, and at most the one being written after it
    assert len(seqs) in boundaries
    assert acknowledged[-1] <= len(seqs) <= acknowledged[-1] + max(sizes)
    derived = {seq for table in ("deliveries", "alarms") for seq, in store.db.execute(
        "SELECT seq FROM %s" % table)}
    assert derived <= set(seqs)
    assert store.last_log()[0] == max(seqs)
    store.close()


# -- what is filed -------------------------------------------------------------------------

def test_readings_within_reading_same_s_are_one_reading(path):
    store = Store(path)
    t = WALL0
    assert store.add_readings([(t, 100, 0), (t + 300, 105, 1), (t + 600, 110, 2)]) == 3
    # the same history pulled again, its ages read a few seconds off, one reading new
    again = [(t + 2, 100, 0), (t + 299, 105, 1), (t + 601, 110, 2), (t + 903, 112, 2)]
    assert store.add_readings(again, source="sensor") == 1
    # one sent by the sensor path and pulled from the pump as well: the same reading
    assert store.add_readings([(t + 1200, 120, 0), (t + 1200 + G.READING_SAME_S - 1,
                                                    121, 0)]) == 1
    assert store.add_readings([(t - G.READING_SAME_S + 1, 99, 0)]) == 0
    assert store.add_readings([(t - G.READING_SAME_S, 98, 0)]) == 1    # far enough
    assert store.add_readings([]) == 0
    assert [r[0] - t for r in store.readings_since(0)] == [
        -G.READING_SAME_S, 0, 300, 600, 903, 1200]
    store.close()


_READING = st.tuples(st.integers(0, 3000), st.integers(20, 600), st.integers(-3, 3))


@given(st.lists(st.lists(_READING, max_size=12), max_size=4))
def test_a_reading_is_kept_exactly_when_none_is_stored_within_reading_same_s(pulls):
    """Against the rule itself: pulled in any batches, a reading is new iff no reading
    already stored (or earlier in its batch, in time order) is closer than
    READING_SAME_S."""
    kept = []
    with tempfile.TemporaryDirectory() as folder:
        store = Store(os.path.join(folder, "g.db"))
        for batch in pulls:
            expected = 0
            for measured, mg_dl, trend in sorted(batch):
                if all(abs(measured - other) >= G.READING_SAME_S for other in kept):
                    kept.append(measured)
                    expected += 1
            assert store.add_readings([(WALL0 + m, g, t) for m, g, t in batch]) == expected
        assert [r[0] - WALL0 for r in store.readings_since(0)] == sorted(kept)
        store.close()


def test_a_log_page_stored_twice_adds_nothing(path):
    store = Store(path)
    fill(store)
    before = store.counts()
    rows = list(store.log_records())
    for page in day().pages():
        store.add_log_page(page)
    store.add_log_page(day().pages(5)[3])          # and a page cut differently
    assert store.counts() == before
    assert list(store.log_records()) == rows
    store.close()


def test_a_record_that_differs_from_the_stored_one_is_refused_not_dropped(path):
    """A record with a stored sequence number but another chain hash is another log
    (the pump's restarted after service, or a forgery): it must not vanish silently."""
    store = Store(path)
    pages = day().pages()
    store.add_log_page(pages[0])
    before = store.counts()
    other = [(seq, tick, wall + 1, rtype, data, bytes(32), True)
             for seq, tick, wall, rtype, data, chain, verified in pages[0][-4:]]
    with pytest.raises(StoreError) as exc:
        store.add_log_page(other + pages[1])
    one_line(exc, path, "seq %d" % other[0][0])
    assert store.counts() == before                  # nothing of that page stored
    store.close()


def test_a_page_is_one_transaction(path):
    """A page whose last record cannot be stored stores none of its records, nor any
    row derived from them."""
    store = Store(path)
    page = list(day().pages()[0])
    seq, tick, wall, rtype, data, chain, verified = page[-1]
    page[-1] = (seq, None, wall, rtype, data, chain, verified)    # no tick: refused
    with pytest.raises(StoreError) as exc:
        store.add_log_page(page)
    one_line(exc, path)
    assert set(store.counts().values()) == {0}
    store.close()


def test_derived_rows_are_what_the_real_pump_did(path):
    store = Store(path)
    for page in day().pages():
        store.add_log_page(page)
    records = {r.seq: r for r in day().records}

    # Deliveries: one per reservation; each bolus reserved whole, a refund negative.
    deliveries = store.db.execute("SELECT seq, wall_s, mu, bolus FROM deliveries "
                                  "ORDER BY seq").fetchall()
    assert [d[0] for d in deliveries] == [r.seq for r in day().of_type(L.EV_RESERVE)]
    assert all(d[1] == records[d[0]].wall for d in deliveries)
    boluses = [d[2] for d in deliveries if d[3]]
    assert boluses == [c.data["args"]["mu"] for c in day().commands("bolus")] == [1500, 4500]
    occluded = next(r for r in day().of_type(L.EV_ALARM) if r.data[1] == 1)
    refund = [d for d in deliveries if d[1] == occluded.wall]
    assert refund and all(d[2] < 0 and not d[3] for d in refund)   # the unused basal block

    # Alarms and warnings, raised and acknowledged, at the pump's time.
    alarms = store.db.execute("SELECT wall_s, id, kind, active FROM alarms "
                              "ORDER BY seq").fetchall()
    acknowledged = next(r for r in day().of_type(L.EV_ALARM) if r.data[1] == 0)
    warned = day().of_type(L.EV_WARNING)[0]
    assert alarms == [(occluded.wall, "IL-OCCLUSION", "alarm", 1),
                      (acknowledged.wall, "IL-OCCLUSION", "alarm", 0),
                      (warned.wall, "IL-RESERVOIR-LOW", "warning", 1)]

    # Security events: the refused bolus and the clock set, nothing else.
    events = store.db.execute("SELECT at_s, source, kind, detail, seq FROM security_events "
                              "ORDER BY seq").fetchall()
    refusal = day().of_type(L.EV_REFUSAL)[0]
    clock = day().of_type(L.EV_CLOCK)[0]
    assert events == [
        (clock.wall, "pump", "clock set",
         "%d -> %d (%+d s)" % (clock.data[0], WALL0, WALL0 - clock.data[0]), clock.seq),
        (refusal.wall, "pump", "refused bolus", "mu=100000 outside 25..25000", refusal.seq)]

    # And the records themselves, as the pump logged them.
    assert list(store.log_records()) == day().rows()
    assert store.last_log() == (day().records[-1].seq, day().records[-1].chain)
    store.close()


def test_calls_in_one_transaction_commit_together_at_its_end(path):
    store = Store(path)
    other = sqlite3.connect(path)
    pages = day().pages()
    with store.transaction():
        store.add_status(STATUS, at_s=WALL0)
        store.add_readings([(WALL0, 100, 0)])
        store.add_log_page(pages[0])
        # nothing is acknowledged yet: another reader sees none of it
        assert other.execute("SELECT COUNT(*) FROM log_records").fetchone()[0] == 0
    assert other.execute("SELECT COUNT(*) FROM log_records").fetchone()[0] == len(pages[0])
    assert other.execute("SELECT COUNT(*) FROM status").fetchone()[0] == 1
    other.close()
    store.close()


def test_an_error_leaving_a_transaction_rolls_all_of_it_back(path):
    store = Store(path)
    with pytest.raises(KeyError):
        with store.transaction():
            store.add_readings([(WALL0, 100, 0)])
            store.add_log_page(day().pages()[0])
            store.add_status({"state": "delivering"})           # incomplete: KeyError
    assert set(store.counts().values()) == {0}
    store.add_log_page(day().pages()[0])                         # and the store goes on
    assert store.counts()["log_records"] == len(day().pages()[0])
    store.close()


def test_a_call_refused_inside_a_transaction_is_undone_alone(path):
    store = Store(path)
    pages = day().pages()
    store.add_log_page(pages[0])
    other = [(seq, tick, wall + 1, rtype, data, chain, verified)
             for seq, tick, wall, rtype, data, chain, verified in pages[0]]
    with store.transaction():
        store.add_status(STATUS, at_s=WALL0)
        with pytest.raises(StoreError):
            store.add_log_page(other)                             # another log: refused
        store.add_log_page(pages[1])
    counts = store.counts()
    assert counts["status"] == 1
    assert counts["log_records"] == len(pages[0]) + len(pages[1])
    assert list(store.log_records()) == day().rows()[:counts["log_records"]]
    store.close()


@pytest.mark.verifies("DC-STORE-PRIVATE")
def test_a_symbolic_link_as_the_store_is_refused_and_its_target_left_alone(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not the store's")
    link = tmp_path / "gateway.db"
    link.symlink_to(target)
    with pytest.raises(G.StoreError, match="symbolic link"):
        G.Store(str(link))
    assert target.read_bytes() == b"not the store's"
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "nowhere.db")
    with pytest.raises(G.StoreError, match="symbolic link"):
        G.Store(str(dangling))
    assert not (tmp_path / "nowhere.db").exists()
