"""The gateway's store: one SQLite file holding everything the gateway has acknowledged.

Readings, the pump's status, its audit-log records (with the rows derived from them:
deliveries, alarms, security events), sessions and clock synchronisations. Built so that
nothing acknowledged is lost:

- every write is one transaction; a page of log records, the rows derived from it and the
  sequence number to ask for next commit together, so a restart after SIGKILL resumes at
  exactly the first record not stored;
- WAL journal with ``synchronous=FULL``: a committed transaction survives a killed process
  and a power cut;
- the file is created mode 0600 (it holds health data) and refused when it is readable by
  others or is not an SQLite database;
- the schema is versioned (``PRAGMA user_version``) and migrated forward in order; a file
  from a newer version is refused rather than misread.
"""

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
MIGRATIONS = (
    # 1: the pump's data
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE readings (
        measured_s INTEGER PRIMARY KEY,        -- pump wall clock of the measurement, s
        mg_dl INTEGER NOT NULL,
        trend INTEGER NOT NULL,                -- -3..3
        source TEXT NOT NULL,                  -- 'sensor' (sent by the gateway) or 'pump'
        stored_s INTEGER NOT NULL);
    CREATE TABLE status (
        at_s INTEGER PRIMARY KEY,              -- gateway wall clock, s
        state TEXT NOT NULL, alarm TEXT, iob_mu INTEGER NOT NULL,
        reservoir_mu INTEGER NOT NULL, battery_percent INTEGER NOT NULL,
        basal_mu_h INTEGER NOT NULL, glucose INTEGER);
    CREATE TABLE log_records (
        seq INTEGER PRIMARY KEY, tick_ms INTEGER NOT NULL, wall_s INTEGER NOT NULL,
        type INTEGER NOT NULL,
        data BLOB,                             -- CBOR as logged; NULL: too large to send
        chain BLOB,                            -- chain hash after it; NULL: not known here
        verified INTEGER NOT NULL);            -- 1: recomputed here from an earlier hash
    CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY REFERENCES log_records(seq), wall_s INTEGER NOT NULL,
        mu INTEGER NOT NULL,                   -- reserved (> 0) or refunded (< 0)
        bolus INTEGER NOT NULL);
    CREATE TABLE alarms (
        seq INTEGER PRIMARY KEY REFERENCES log_records(seq), wall_s INTEGER NOT NULL,
        id TEXT NOT NULL, kind TEXT NOT NULL,  -- alarm, safe-stop, warning
        active INTEGER NOT NULL);
    CREATE TABLE security_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL,
        source TEXT NOT NULL,                  -- pump (from its log), gateway, web
        kind TEXT NOT NULL, detail TEXT NOT NULL,
        seq INTEGER UNIQUE REFERENCES log_records(seq));
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL,
        peer TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE clock_syncs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL,
        pump_s INTEGER NOT NULL, step_s INTEGER NOT NULL, accepted INTEGER NOT NULL,
        detail TEXT NOT NULL);
    CREATE INDEX alarms_by_time ON alarms(wall_s);
    CREATE INDEX security_by_time ON security_events(at_s);
    """,
    # 2: the caregiver's web page: its accounts, sessions and login attempts
    """
    CREATE TABLE web_users (
        name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, totp_secret TEXT,
        created_s INTEGER NOT NULL);
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES web_users(name),
        csrf TEXT NOT NULL, created_s INTEGER NOT NULL, expires_s INTEGER NOT NULL);
    CREATE TABLE web_logins (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_s INTEGER NOT NULL, name TEXT NOT NULL,
        remote TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL);
    CREATE INDEX web_logins_by_remote ON web_logins(remote, at_s);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
READING_SAME_S = 150      # readings come every 5 min: one within 150 s is the same one


class StoreError(Exception):
    """The store cannot be opened or written; the message is one line naming the file."""


def _open_private(path):
    """Create the file mode 0600 if absent; refuse an existing one others can read."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
    def __init__(self, path, clock=time.time):
        self.path = os.path.expanduser(path)
        self.clock = clock
        folder = os.path.dirname(self.path)
        if folder and not os.path.isdir(folder):
            try:
                os.makedirs(folder, 0o700)
            except OSError as exc:
                raise StoreError("cannot create %s: %s" % (folder, exc.strerror)) from None
        _open_private(self.path)
        try:
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                      isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError("%s: cannot use a WAL journal (%s)" % (self.path, mode))
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None
        for suffix in ("-wal", "-shm"):       # the journal holds the same data
            if os.path.exists(self.path + suffix):
                os.chmod(self.path + suffix, 0o600)

    # -- schema ---------------------------------------------------------------------------
    @property
    def version(self):
        return self.db.execute("PRAGMA user_version").fetchone()[0]

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
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def close(self):
        self.db.close()

    # -- writing --------------------------------------------------------------------------
    def _transaction(self):
        return _Transaction(self.db, self.path)

    def _now(self):
        return int(self.clock())

    def set_meta(self, key, value):
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def meta(self, key, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def add_readings(self, rows, source="pump"):
        """Readings ``[(measured_s, mg_dl, trend)]``; one already stored (within
        READING_SAME_S) is skipped, so a history pulled again after a gap adds only what
        is new. Returns how many were added."""
        rows = sorted(rows)
        if not rows:
            return 0
        near = [r[0] for r in self.db.execute(
            "SELECT measured_s FROM readings WHERE measured_s BETWEEN ? AND ?",
            (rows[0][0] - READING_SAME_S, rows[-1][0] + READING_SAME_S))]
        fresh = []
        for measured, mg_dl, trend in rows:
            if any(abs(measured - other) < READING_SAME_S for other in near):
                continue
            near.append(measured)
            fresh.append((measured, mg_dl, trend, source, self._now()))
        with self._transaction():
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
        row = self.db.execute(
            "SELECT seq, chain FROM log_records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def add_log_page(self, records):
        """Store one page of checked records ``[(seq, tick, wall, type, data, chain,
        verified)]`` with the deliveries, alarms and security events they hold, in one
        transaction. A record already stored is skipped."""
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
        with self._transaction():
            cursor = self.db.cursor()
            cursor.executemany("INSERT OR IGNORE INTO log_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                               log_rows)
            cursor.executemany("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?)",
                               deliveries)
            cursor.executemany("INSERT OR IGNORE INTO alarms VALUES (?, ?, ?, ?, ?)", alarms)
            cursor.executemany("INSERT OR IGNORE INTO security_events "
                               "(at_s, source, kind, detail, seq) VALUES (?, ?, ?, ?, ?)",
                               events)

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
        return {t: self.db.execute("SELECT COUNT(*) FROM %s" % t).fetchone()[0]
                for t in tables}

    def integrity(self):
        """``PRAGMA integrity_check``: "ok" or the problems found."""
        return "; ".join(r[0] for r in self.db.execute("PRAGMA integrity_check"))

    def readings_since(self, since_s):
        return self.db.execute("SELECT measured_s, mg_dl, trend FROM readings "
                               "WHERE measured_s >= ? ORDER BY measured_s",
                               (since_s,)).fetchall()

    def latest_status(self):
        row = self.db.execute("SELECT * FROM status ORDER BY at_s DESC LIMIT 1").fetchone()
        if row is None:
            return None
        names = ("at_s", "state", "alarm", "iob_mu", "reservoir_mu", "battery_percent",
                 "basal_mu_h", "glucose")
        return dict(zip(names, row))

    def log_records(self, from_seq=0):
        """Stored records from ``from_seq``: (seq, tick, wall, type, data, chain, verified)."""
        for seq, tick, wall, rtype, blob, chain, verified in self.db.execute(
                "SELECT * FROM log_records WHERE seq >= ? ORDER BY seq", (from_seq,)):
            yield (seq, tick, wall, rtype, None if blob is None else cbor.decode(blob),
                   None if chain is None else bytes(chain), bool(verified))


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``, rolled back on an error; SQLite's failures
    (disk full, locked, corrupt) become one-line StoreErrors naming the file."""

    def __init__(self, db, path):
        self.db = db
        self.path = path

    def __enter__(self):
        try:
            if not self.db.in_transaction:
                self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None

    def __exit__(self, kind, exc, trace):
        if kind is None:
            try:
                if self.db.in_transaction:
                    self.db.execute("COMMIT")
                return False
            except sqlite3.DatabaseError as error:
                exc = error
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError("%s: %s" % (self.path, _why(exc))) from None
        return False


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
