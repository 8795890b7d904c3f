"""The device and the gateway as two real processes over a PTY pair: `pumpsim device`
(firmware, patient, CGM) and `pumpsim gateway ... monitor` filing the pump's data in
SQLite. The gateway is killed with SIGKILL again and again mid-run: the store stays
sound, never loses a row it had, and in the end holds exactly the pump's own log.

Sleeps below only pick moments to kill at; every wait on a process has a deadline.
"""

import os
import pathlib
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from sim import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
DEADLINE = 60.0
SPEED = 3000            # one simulated day in under 30 s
pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX PTYs")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    assert cli.main(["keys", "init", str(directory)]) == 0
    return directory


class Device:
    """`pumpsim device --pty` in a child process; its stdout lines collected."""

    def __init__(self, keys, *options):
        self.process = subprocess.Popen(
            PUMPSIM + ["device", "--identity", str(keys / "pump.key"), "--trust",
                       str(keys / "trust.cbor"), "--pty", "--idle-exit", str(DEADLINE)]
            + list(options), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert " serving on PTY " in line, line + self.process.stderr.read()
        self.path = line.split(" serving on PTY ")[1].strip()
        self.lines = []
        self.over = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if "days are over" in line:
                self.over.set()

    def stop(self):
        """SIGTERM; returns everything it printed."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=DEADLINE)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self._reader.join(DEADLINE)
        assert self.process.returncode == 0, self.process.stderr.read()
        return "".join(self.lines)


def gateway(keys, device, db, *options):
    return PUMPSIM + ["gateway", "--port", device.path, "--identity",
                      str(keys / "gateway.key"), "--pump", str(keys / "pump.ccs"),
                      "--timeout", "10", "monitor", "--db", str(db), "--speed", str(SPEED)] \
        + list(options)


def store_rows(db):
    """Integrity, the stored log's sequence numbers and the row counts (a new connection,
    as after a crash)."""
    connection = sqlite3.connect(str(db))
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        seqs = [s for s, in connection.execute("SELECT seq FROM log_records ORDER BY seq")]
        counts = {t: connection.execute("SELECT COUNT(*) FROM %s" % t).fetchone()[0]
                  for t in ("readings", "status", "log_records", "deliveries", "alarms")}
    finally:
        connection.close()
    return integrity, seqs, counts


def test_a_gateway_killed_again_and_again_loses_nothing_and_ends_with_the_pumps_log(
        keys, tmp_path):
    device = Device(keys, "--days", "1", "--speed", str(SPEED))
    db = tmp_path / "gateway.db"
    rng = random.Random(11)
    before = None
    kills = 0
    try:
        while not device.over.is_set() and kills < 12:
            process = subprocess.Popen(gateway(keys, device, db), cwd=ROOT,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.8, 2.5))           # a moment to kill it at
            process.send_signal(signal.SIGKILL)
            _, err = process.communicate(timeout=DEADLINE)
            assert process.returncode == -signal.SIGKILL, err
            kills += 1
            if not db.exists():
                continue
            assert oct(db.stat().st_mode & 0o777) == "0o600"
            integrity, seqs, counts = store_rows(db)
            assert integrity == "ok"
            assert seqs == list(range(1, len(seqs) + 1))     # no gap, no duplicate
            if before is not None:                           # nothing acknowledged lost
                assert all(counts[t] >= before[t] for t in counts), (before, counts)
            before = counts
        assert kills >= 5
        assert before is not None and before["log_records"] > 0
        assert device.over.wait(DEADLINE), "the device's day did not end"
        final = subprocess.run(gateway(keys, device, db, "--cycles", "1"), cwd=ROOT,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=DEADLINE)
        assert final.returncode == 0, final.stderr
        assert "cycle 1:" in final.stdout
    finally:
        printed = device.stop()
    head = int(re.search(r"audit log head seq (\d+): (\d+) reservations, (\d+) alarm",
                         printed).group(1))
    reservations, alarms = map(int, re.search(
        r"head seq \d+: (\d+) reservations, (\d+) alarm", printed).groups())
    assert "audit log verified" in printed
    integrity, seqs, counts = store_rows(db)
    assert integrity == "ok"
    assert seqs == list(range(1, head + 1))                  # the pump's whole log
    assert counts["deliveries"] == reservations > 50         # a day of basal
    assert counts["alarms"] == alarms
    assert counts["readings"] >= 200                          # a day of 5-minute readings
