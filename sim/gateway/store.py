"""The gateway's store: one SQLite file holding everything the gateway has acknowledged.

Readings, the pump's status, its audit-log records (with the rows derived from them:
deliveries, alarms, security events), sessions and clock synchronisations. Built so that
nothing acknowledged is lost:

- every write is one transaction; a page of log records, the rows derived from it and the
  sequence number to ask for next commit together, so a restart after SIGKILL resumes at
  exactly the first record not stored; ``Store.transaction()`` makes several calls (a
  cycle's status, readings and page) one commit;
- a record stored again is skipped, a different one under a stored sequence number (a
  restarted or replaced log) refuses its page: nothing is dropped without a word;
- SQLite's failures (locked past the busy timeout, disk full, a damaged file) are one-line
  ``StoreError``s naming the file, on reads as on writes; a failed write stores nothing;
- WAL journal with ``synchronous=FULL``: a committed transaction survives a killed process
  and a power cut;
- the file is created mode 0600 (it holds health data) and refused when it is readable by
  others or is not an SQLite database;
- the schema is versioned (``PRAGMA user_version``) and migrated forward in order; a file
  from a newer version is refused rather than misread.
"""

import bisect
import json
import os
import sqlite3
import stat
import time

from secure_channel import cbor
from secure_channel.protocol import log_views

DEFAULT_PATH = os.path.join("~", ".local", "share", "pumpsim", "gateway.db")
BUSY_TIMEOUT_MS = 5000

# Each migration takes the schema from version N to N + 1; never edit one that shipped.
# Tables are STRICT: a value of the wrong type is refused, never stored to trip a reader.
MIGRATIONS = (
    # 1: the pump's data
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE readings (
        measured_s INTEGER PRIMARY KEY,        -- pump wall clock of the measurement, s
        mg_dl INTEGER NOT NULL,
        trend INTEGER NOT NULL,                -- -3..3
        source TEXT NOT NULL,                  -- 'sensor' (sent by the gateway) or 'pump'
        stored_s INTEGER NOT NULL) STRICT;
    CREATE TABLE status (
        at_s INTEGER PRIMARY KEY,              -- gateway wall clock, s
        state TEXT NOT NULL, alarm TEXT, iob_mu INTEGER NOT NULL,
        reservoir_mu INTEGER NOT NULL, battery_percent INTEGER NOT NULL,
        basal_mu_h INTEGER NOT NULL, glucose INTEGER) STRICT;
    CREATE TABLE log_records (
        seq INTEGER PRIMARY KEY, tick_ms INTEGER NOT NULL, wall_s INTEGER NOT NULL,
        type INTEGER NOT NULL,
        data BLOB,                             -- CBOR as logged; NULL: too large to send
        chain BLOB,                            -- chain hash after it; NULL: not known here
        verified INTEGER NOT NULL) STRICT;     -- 1: recomputed here from an earlier hash
    CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY REFERENCES log_records(seq), wall_s INTEGER NOT NULL,
        mu INTEGER NOT NULL,                   -- reserved (> 0) or refunded (< 0)
        bolus INTEGER NOT NULL) STRICT;
    CREATE TABLE alarms (
        seq INTEGER PRIMARY KEY REFERENCES log_records(seq), wall_s INTEGER NOT NULL,
        id TEXT NOT NULL, kind TEXT NOT NULL,  -- alarm, safe-stop, warning
        active INTEGER NOT NULL) STRICT;
    CREATE TABLE security_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL,
        source TEXT NOT NULL,                  -- pump (from its log), gateway, web
        kind TEXT NOT NULL, detail TEXT NOT NULL,
        seq INTEGER UNIQUE REFERENCES log_records(seq)) STRICT;
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL,
        peer TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL) STRICT;
    CREATE TABLE clock_syncs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL,
        pump_s INTEGER NOT NULL, step_s INTEGER NOT NULL, accepted INTEGER NOT NULL,
        detail TEXT NOT NULL) STRICT;
    CREATE INDEX alarms_by_time ON alarms(wall_s);
    CREATE INDEX security_by_time ON security_events(at_s);
    """,
    # 2: the caregiver's web page (sim/gateway/web): its account, sessions, login attempts
    """
    CREATE TABLE web_users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,           -- Argon2id, PHC string with its salt
        totp_secret TEXT,                      -- base32 (RFC 6238); NULL: no second factor
        totp_last_step INTEGER,                -- newest accepted step: each code works once
        created_s INTEGER NOT NULL, changed_s INTEGER NOT NULL) STRICT;
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,           -- SHA-256 of the cookie's token, hex
        name TEXT NOT NULL REFERENCES web_users(name) ON DELETE CASCADE,
        csrf TEXT NOT NULL, remote TEXT NOT NULL,
        created_s INTEGER NOT NULL, seen_s INTEGER NOT NULL,
        expires_s INTEGER NOT NULL) STRICT;    -- absolute; idle expiry counts from seen_s
    CREATE TABLE web_logins (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL, name TEXT NOT NULL,
        remote TEXT NOT NULL, ok INTEGER NOT NULL,
        detail TEXT NOT NULL) STRICT;          -- ok, wrong password or code, rate-limited,
                                               -- bad form (no CSRF token)
    CREATE INDEX web_logins_by_remote ON web_logins(remote, at_s);
    CREATE INDEX web_logins_by_name ON web_logins(name, at_s);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
READING_SAME_S = 150      # readings come every 5 min: one within 150 s is the same one


class StoreError(Exception):
    """The store cannot be opened or written; the message is one line naming the file."""


def _open_private(path):
    """Create the file mode 0600 if absent; refuse an existing one others can read, and a
    symbolic link (it could point the gateway's writes at another file)."""
    if os.path.islink(path):
        raise StoreError("%s is a symbolic link: give the store's own path" % path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise StoreError("cannot open %s: %s" % (path, exc.strerror or exc)) from None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError("%s is readable by other users (mode %o): chmod 600 it"
                         % (path, stat.S_IMODE(mode)))


class Store:
    def __init__(self, path, clock=time.time, busy_timeout_ms=BUSY_TIMEOUT_MS):
        """Open (creating it mode 0600) and migrate the store at ``path``. A write waits
        up to ``busy_timeout_ms`` for another writer before it fails as locked."""
        self.path = os.path.expanduser(path)
        self.clock = clock
        folder = os.path.dirname(self.path)
        if folder and not os.path.isdir(folder):
            try:
                os.makedirs(folder, 0o700)
            except OSError as exc:
                raise StoreError("cannot create %s: %s" % (folder, exc.strerror)) from None
        _open_private(self.path)
        self.db = None
        self._depth = 0                       # transactions open, the outermost first
        try:
            self.db = sqlite3.connect(self.path, timeout=busy_timeout_ms / 1000,
                                      isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = %d" % busy_timeout_ms)
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError("%s: cannot use a WAL journal (%s)" % (self.path, mode))
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            for suffix in ("-wal", "-shm"):       # the journal holds the same data
                if os.path.exists(self.path + suffix):
                    os.chmod(self.path + suffix, 0o600)
        except (sqlite3.DatabaseError, OSError, StoreError) as exc:
            if self.db is not None:
                self.db.close()                   # no connection (and lock) left behind
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, OSError):
                raise StoreError("%s: %s" % (self.path, exc.strerror or exc)) from None
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None

    # -- schema ---------------------------------------------------------------------------
    @property
    def version(self):
        return self._rows("PRAGMA user_version")[0][0]

    def _migrate(self):
        version = self.version
        if version > SCHEMA_VERSION:
            raise StoreError("%s has schema %d, newer than this gateway's %d: upgrade pumpsim"
                             % (self.path, version, SCHEMA_VERSION))
        for number in range(version, SCHEMA_VERSION):
            try:
                self.db.executescript("BEGIN IMMEDIATE;" + MIGRATIONS[number] +
                                      ";PRAGMA user_version = %d; COMMIT;" % (number + 1))
            except sqlite3.DatabaseError:
                _rollback(self.db)
                if self.version > number:
                    # Another gateway opening the same file migrated it while this one
                    # waited for the write lock: go on from the version it left.
                    return self._migrate()
                raise

    def close(self):
        self.db.close()

    def _rows(self, sql, args=()):
        """All rows of a query; SQLite's failures (a corrupt page found only now) become
        one-line StoreErrors, as for writes."""
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None

    # -- writing --------------------------------------------------------------------------
    def transaction(self):
        """``with store.transaction():`` the store's calls inside commit together, once,
        at the end (as durable as each alone, at the cost of one commit). A call that
        fails inside is undone alone (a savepoint) and raises its StoreError; an error
        leaving the block rolls back everything in it."""
        return _Transaction(self)

    _transaction = transaction

    def _now(self):
        return int(self.clock())

    def set_meta(self, key, value):
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def meta(self, key, default=None):
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return default if not rows else rows[0][0]

    def add_readings(self, rows, source="pump"):
        """Readings ``[(measured_s, mg_dl, trend)]``; one already stored (within
        READING_SAME_S) is skipped, so a history pulled again after a gap adds only what
        is new. Returns how many were added."""
        rows = sorted(rows)
        if not rows:
            return 0
        with self._transaction():           # the check and the insert see the same rows
            near = [r[0] for r in self.db.execute(
                "SELECT measured_s FROM readings WHERE measured_s BETWEEN ? AND ? "
                "ORDER BY measured_s",
                (rows[0][0] - READING_SAME_S, rows[-1][0] + READING_SAME_S))]
            fresh = []
            now = self._now()
            for measured, mg_dl, trend in rows:
                # the nearest stored time above measured - READING_SAME_S, if any
                index = bisect.bisect_right(near, measured - READING_SAME_S)
                if index < len(near) and near[index] < measured + READING_SAME_S:
                    continue
                bisect.insort(near, measured)
                fresh.append((measured, mg_dl, trend, source, now))
            if fresh:
                self.db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?)", fresh)
        return len(fresh)

    def add_status(self, status, glucose=None, at_s=None):
        """The pump's status (``status`` answer or telemetry, names as in the protocol)."""
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO status VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self._now() if at_s is None else at_s, status["state"], status.get("alarm"),
                 status["iob_mu"], status["reservoir_mu"], status["battery_percent"],
                 status["basal_mu_h"], glucose))

    def last_log(self):
        """(seq, chain) of the newest stored record, or None."""
        rows = self._rows("SELECT seq, chain FROM log_records ORDER BY seq DESC LIMIT 1")
        if not rows:
            return None
        seq, chain = rows[0]
        return seq, None if chain is None else bytes(chain)

    def add_log_page(self, records):
        """Store one page of checked records ``[(seq, tick, wall, type, data, chain,
        verified)]`` with the deliveries, alarms and security events they hold, in one
        transaction. A record already stored (the same record again) is skipped; one
        whose seq is stored with other contents belongs to another log and refuses the
        whole page, as does a record the schema refuses: nothing of the page is stored,
        nothing is dropped silently."""
        log_rows, deliveries, alarms, events = page_rows(records)
        if not log_rows:
            return
        with self._transaction():
            stored = {row[0]: row for row in self.db.execute(
                "SELECT * FROM log_records WHERE seq BETWEEN ? AND ?",
                (min(r[0] for r in log_rows), max(r[0] for r in log_rows)))}
            if stored or len(set(r[0] for r in log_rows)) < len(log_rows):
                log_rows = self._unstored(log_rows, stored)
                new = set(row[0] for row in log_rows)
                deliveries = [row for row in deliveries if row[0] in new]
                alarms = [row for row in alarms if row[0] in new]
                events = [row for row in events if row[4] in new]
            cursor = self.db.cursor()
            cursor.executemany("INSERT INTO log_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                               log_rows)
            if deliveries:
                cursor.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?)", deliveries)
            if alarms:
                cursor.executemany("INSERT INTO alarms VALUES (?, ?, ?, ?, ?)", alarms)
            if events:
                cursor.executemany("INSERT INTO security_events "
                                   "(at_s, source, kind, detail, seq) VALUES (?, ?, ?, ?, ?)",
                                   events)

    def _unstored(self, log_rows, stored):
        """The rows not stored yet (nor earlier in the page); StoreError for a record
        whose seq is stored with other contents."""
        fresh = []
        for row in log_rows:
            if row[0] in stored:
                if not _same_record(stored[row[0]], row):
                    raise StoreError("%s: log record seq %d differs from the one stored "
                                     "(another log: restarted or replaced); page not "
                                     "stored" % (self.path, row[0]))
                continue
            stored[row[0]] = row
            fresh.append(row)
        return fresh

    def add_security_event(self, kind, detail, source="gateway", at_s=None):
        with self._transaction():
            self.db.execute("INSERT INTO security_events (at_s, source, kind, detail) "
                            "VALUES (?, ?, ?, ?)",
                            (self._now() if at_s is None else at_s, source, kind, detail))

    def add_session(self, peer, outcome, detail=""):
        with self._transaction():
            self.db.execute("INSERT INTO sessions (at_s, peer, outcome, detail) "
                            "VALUES (?, ?, ?, ?)", (self._now(), peer, outcome, detail))

    def add_clock_sync(self, pump_s, step_s, accepted, detail):
        with self._transaction():
            self.db.execute("INSERT INTO clock_syncs (at_s, pump_s, step_s, accepted, detail)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (self._now(), pump_s, step_s, 1 if accepted else 0, detail))

    # -- reading --------------------------------------------------------------------------
    def counts(self):
        """Rows per table: what a check against the pump's own log compares."""
        tables = ("readings", "status", "log_records", "deliveries", "alarms",
                  "security_events", "sessions", "clock_syncs")
        return {t: self._rows("SELECT COUNT(*) FROM %s" % t)[0][0] for t in tables}

    def integrity(self):
        """``PRAGMA integrity_check``: "ok" or the problems found."""
        try:
            return "; ".join(r[0] for r in self.db.execute("PRAGMA integrity_check"))
        except sqlite3.DatabaseError as exc:      # too damaged to be checked at all
            return _why(exc)

    def readings_since(self, since_s):
        return self._rows("SELECT measured_s, mg_dl, trend FROM readings "
                          "WHERE measured_s >= ? ORDER BY measured_s", (since_s,))

    def latest_status(self):
        rows = self._rows("SELECT * FROM status ORDER BY at_s DESC LIMIT 1")
        if not rows:
            return None
        names = ("at_s", "state", "alarm", "iob_mu", "reservoir_mu", "battery_percent",
                 "basal_mu_h", "glucose")
        return dict(zip(names, rows[0]))

    def log_records(self, from_seq=0):
        """Stored records from ``from_seq``: (seq, tick, wall, type, data, chain, verified)."""
        try:
            for seq, tick, wall, rtype, blob, chain, verified in self.db.execute(
                    "SELECT * FROM log_records WHERE seq >= ? ORDER BY seq", (from_seq,)):
                try:
                    data = None if blob is None else cbor.decode(blob)
                except (cbor.CBORError, ValueError, TypeError):
                    raise StoreError("%s: log record seq %d: its data is not CBOR: "
                                     "the store is corrupt" % (self.path, seq)) from None
                yield (seq, tick, wall, rtype, data, None if chain is None else bytes(chain),
                       bool(verified))
        except sqlite3.DatabaseError as exc:
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None


def page_rows(records):
    """The rows a page of checked records ``[(seq, tick, wall, type, data, chain,
    verified)]`` files: (log_records, deliveries, alarms, security_events), each ready for
    ``executemany``."""
    log_rows, deliveries, alarms, events = [], [], [], []
    for seq, tick, wall, rtype, data, chain, verified in records:
        blob = None if data is None else cbor.encode(data)
        log_rows.append((seq, tick, wall, rtype, blob, chain, 1 if verified else 0))
        mu = log_views.delivery(rtype, data)
        if mu is not None:
            deliveries.append((seq, wall, mu[0], 1 if mu[1] else 0))
        alarm = log_views.alarm(rtype, data)
        if alarm is not None:
            alarms.append((seq, wall, alarm[0], alarm[2], 1 if alarm[1] else 0))
        event = log_views.security_event(rtype, data)
        if event is not None:
            events.append((wall, "pump", event[0], event[1], seq))
    return log_rows, deliveries, alarms, events


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``, rolled back on an error; inside another one, a
    savepoint. SQLite's failures (disk full, locked, corrupt) become one-line StoreErrors
    naming the file."""

    def __init__(self, store):
        self.store = store
        self.db = store.db
        self.path = store.path
        self.savepoint = None

    def __enter__(self):
        try:
            if self.store._depth == 0 and not self.db.in_transaction:
                self.db.execute("BEGIN IMMEDIATE")
            else:                                 # inside one (ours, or the caller's)
                if not self.db.in_transaction:
                    raise StoreError("%s: the enclosing transaction was rolled back by "
                                     "SQLite after an earlier error" % self.path)
                self.savepoint = "store_%d" % self.store._depth
                self.db.execute("SAVEPOINT " + self.savepoint)
        except sqlite3.DatabaseError as exc:
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None
        self.store._depth += 1

    def __exit__(self, kind, exc, trace):
        self.store._depth -= 1
        if kind is None:
            try:
                if self.savepoint is not None:
                    self.db.execute("RELEASE " + self.savepoint)
                elif self.db.in_transaction:
                    self.db.execute("COMMIT")
                else:
                    raise StoreError("%s: the transaction was rolled back by SQLite after "
                                     "an earlier error; nothing in it was stored" % self.path)
                return False
            except sqlite3.DatabaseError as error:
                exc = error
        if self.savepoint is None:
            _rollback(self.db)
        elif self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK TO " + self.savepoint)
                self.db.execute("RELEASE " + self.savepoint)
            except sqlite3.DatabaseError:
                pass
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None
        return False


def _same_record(stored, row):
    """Is ``row`` the stored record again? Same tick, wall time and type, and the same
    data and chain hash wherever both are known (data too large to send, or a hash not
    recomputed here, is NULL on one side)."""
    if tuple(stored[1:4]) != tuple(row[1:4]):
        return False
    for index in (4, 5):
        known = stored[index] is not None and row[index] is not None
        if known and bytes(stored[index]) != bytes(row[index]):
            return False
    return True


def _rollback(db):
    """End a failed transaction; the error reported is the one that failed it, not a
    second one from the rollback (SQLite may have rolled back by itself already)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass


def _why(exc):
    text = str(exc)
    if "full" in text:
        return "the disk is full; nothing was lost, the write is retried later"
    if "locked" in text or "busy" in text:
        return "the database is locked by another process"
    if "not a database" in text or "malformed" in text:
        return "not a gateway database, or it is corrupt (%s)" % text
    return text


def as_json(value):
    """A stored CBOR value as JSON text (byte strings as hex) for exports and the page."""
    def plain(item):
        if isinstance(item, (bytes, bytearray)):
            return bytes(item).hex()
        if isinstance(item, dict):
            return {str(k): plain(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [plain(v) for v in item]
        return item
    return json.dumps(plain(value), sort_keys=True)
