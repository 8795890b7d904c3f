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
from sim.gateway.monitor import MAX_REFUSED_HANDSHAKES

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


def gateway(keys, device, db, *options, speed=SPEED, timeout=10):
    return PUMPSIM + ["gateway", "--port", device.path, "--identity",
                      str(keys / "gateway.key"), "--pump", str(keys / "pump.ccs"),
                      "--timeout", str(timeout), "monitor", "--db", str(db), "--speed",
                      str(speed)] + list(options)


def _diverged(db):
    """What the store says of a diverged log, and its security events (for a failure)."""
    connection = sqlite3.connect(str(db))
    try:
        return [list(row) for row in connection.execute(
            "SELECT * FROM meta WHERE key = 'log_diverged'")] + \
            [list(row) for row in connection.execute("SELECT * FROM security_events")]
    except sqlite3.Error as exc:
        return "unreadable: %s" % exc
    finally:
        connection.close()


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
    assert seqs == list(range(1, head + 1)), (                # the pump's whole log
        "stored up to %s of %d; last run said: %s %s; store: %s"
        % (seqs[-1] if seqs else None, head, final.stdout, final.stderr, _diverged(db)))
    assert counts["deliveries"] == reservations > 50         # a day of basal
    assert counts["alarms"] == alarms
    assert counts["readings"] >= 200                          # a day of 5-minute readings


AIOCOAP_CLIENT = pathlib.Path(sys.executable).parent / "aiocoap-client"


def test_a_clinician_is_relayed_end_to_end_while_the_gateway_keeps_its_own_cycles(
        keys, tmp_path):
    if not AIOCOAP_CLIENT.exists():
        pytest.fail("aiocoap-client is missing: make setup installs it")
    device = Device(keys, "--speed", "60")
    monitor = subprocess.Popen(gateway(keys, device, tmp_path / "g.db", "--relay",
                                       "127.0.0.1:0", speed=60),
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = monitor.stdout.readline()
        assert line.startswith("relay for coap://pump on coap://127.0.0.1:"), \
            line + monitor.stderr.read()
        creds = tmp_path / "clinician.diag"
        assert cli.main(["keys", "aiocoap-credentials", "--identity",
                         str(keys / "clinician.key"), "--pump", str(keys / "pump.ccs"),
                         "--uri", "coap://pump*", "--out", str(creds)]) == 0
        before = monitor.stdout.readline()
        assert before.startswith("cycle "), before
        through = subprocess.run([str(AIOCOAP_CLIENT), "--pretty-print", "--proxy",
                                  line.split()[-1], "--credentials", str(creds),
                                  "coap://pump/status"],
                                 capture_output=True, text=True, timeout=DEADLINE)
        assert through.returncode == 0, through.stderr
        assert "2: 3" in through.stdout.replace(":", ": ").replace("  ", " ")  # delivering
        after = [monitor.stdout.readline() for _ in range(2)]   # its own session goes on
        assert all(a.startswith("cycle ") for a in after), after
    finally:
        monitor.send_signal(signal.SIGTERM)
        out, err = monitor.communicate(timeout=DEADLINE)
        printed = device.stop()
    assert monitor.returncode == 0, err
    assert "relayed: forwarded 2, answered 2, refused 0" in out, out
    assert "sessions established 2" in printed, printed     # the gateway's and the clinician's


def test_a_gateway_the_pump_does_not_trust_is_told_in_one_line(keys, tmp_path):
    strangers = tmp_path / "strangers"
    assert cli.main(["keys", "init", str(strangers)]) == 0
    device = Device(keys)
    try:
        run = subprocess.run(
            PUMPSIM + ["gateway", "--port", device.path, "--identity",
                       str(strangers / "gateway.key"), "--pump", str(keys / "pump.ccs"),
                       "--timeout", "5", "monitor", "--db", str(tmp_path / "g.db")],
            cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=DEADLINE)
    finally:
        device.stop()
    assert run.returncode == 5
    lines = run.stderr.strip().splitlines()
    # One refused handshake may be a damaged frame: tried again, the third refusal ends it.
    assert len(lines) == MAX_REFUSED_HANDSHAKES, lines
    assert all("trying again in" in line for line in lines[:-1]), lines
    assert lines[-1].startswith("gateway: the pump refused this gateway: handshake refused")
    assert "Traceback" not in run.stderr
    connection = sqlite3.connect(str(tmp_path / "g.db"))       # the caregiver sees it
    kinds = [k for k, in connection.execute("SELECT kind FROM security_events")]
    connection.close()
    assert kinds == ["handshake refused"] * MAX_REFUSED_HANDSHAKES


def test_a_pump_that_goes_away_is_reported_and_retried_and_the_store_is_kept(keys, tmp_path):
    device = Device(keys, "--speed", "600")
    db = tmp_path / "g.db"
    monitor = subprocess.Popen(gateway(keys, device, db, speed=600, timeout=1),
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert monitor.stdout.readline().startswith("cycle 1:")
        device.stop()                                   # the pump is gone
        deadline = time.monotonic() + DEADLINE
        line = ""
        while "pump not answering" not in line and time.monotonic() < deadline:
            line = monitor.stderr.readline()
        assert "pump not answering" in line and "retrying in" in line, line
        assert monitor.poll() is None                   # still running, retrying
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.communicate(timeout=DEADLINE)
    assert monitor.returncode == 0
    integrity, seqs, counts = store_rows(db)
    assert integrity == "ok" and counts["log_records"] == len(seqs) > 0


@pytest.mark.parametrize("problem", ["not a database", "readable by others"])
def test_a_bad_store_file_is_refused_in_one_line_before_anything_is_sent(keys, tmp_path,
                                                                          problem):
    db = tmp_path / "g.db"
    if problem == "not a database":
        db.write_bytes(os.urandom(4096))
        db.chmod(0o600)
    else:
        db.touch()
        db.chmod(0o644)
    device = Device(keys)
    try:
        run = subprocess.run(gateway(keys, device, db), cwd=ROOT, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=DEADLINE)
    finally:
        printed = device.stop()
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and str(db) in run.stderr, run.stderr
    assert "requests 0" in printed                       # nothing was asked of the pump


def test_the_gateway_serves_the_caregivers_page_from_what_it_filed(keys, tmp_path):
    import http.cookiejar
    import json
    import urllib.parse
    import urllib.request
    device = Device(keys, "--speed", "600")
    password = "correct horse battery staple 42\n"
    monitor = subprocess.Popen(gateway(keys, device, tmp_path / "g.db", "--web",
                                       "127.0.0.1:0", speed=600),
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        monitor.stdin.write(password)                   # the first start sets it
        monitor.stdin.close()
        line = ""
        while not line.startswith("caregiver's page on "):
            line = monitor.stdout.readline()
            assert line, monitor.stderr.read()
        url = line.split()[-1]
        assert monitor.stdout.readline().startswith("cycle ")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = opener.open(url + "login", timeout=DEADLINE).read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({"csrf": csrf, "name": "caregiver",
                                       "password": password.strip()}).encode()
        opener.open(url + "login", data, timeout=DEADLINE)
        current = json.loads(opener.open(url + "api/current", timeout=DEADLINE).read())
        assert current["pump"]["state"] == "delivering"
        assert 40 <= current["glucose"]["mg_dl"] <= 400
        day = json.loads(opener.open(url + "api/glucose", timeout=DEADLINE).read())
        assert len(day["points"]) >= 1
    finally:
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=DEADLINE)
        device.stop()
    assert monitor.returncode == 0, monitor.stderr.read()


def test_the_same_gateway_over_coap_on_udp(keys, tmp_path):
    device = subprocess.Popen(
        PUMPSIM + ["device", "--identity", str(keys / "pump.key"), "--trust",
                   str(keys / "trust.cbor"), "--udp", "127.0.0.1:0", "--speed", "600",
                   "--idle-exit", str(DEADLINE)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = device.stdout.readline()
        address = re.search(r"coap://(127\.0\.0\.1:\d+) \(UDP\)", line).group(1)
        run = subprocess.run(
            PUMPSIM + ["gateway", "--udp", address, "--identity", str(keys / "gateway.key"),
                       "--pump", str(keys / "pump.ccs"), "monitor", "--db",
                       str(tmp_path / "g.db"), "--speed", "600", "--cycles", "3"],
            cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=DEADLINE)
    finally:
        device.send_signal(signal.SIGTERM)
        out, err = device.communicate(timeout=DEADLINE)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("cycle ") == 3
    integrity, seqs, counts = store_rows(tmp_path / "g.db")
    assert integrity == "ok" and seqs and seqs == list(range(1, len(seqs) + 1))
    assert device.returncode == 0, err
