"""`pumpsim gateway` end to end: every command against a running pump (in this process on
CoAP over UDP, and `pumpsim serve --pty` as a child process), its output (lines, tables,
JSON), exit statuses, human units, a resumable update upload, and back-off waited out.

The pump runs in real time in a thread (``sim.pump_server.serve``); the test drives the
CLI's ``main`` in this thread. Waits are deadlines for a pump that has died, not timing
assertions.
"""

import json
import os
import re
import pathlib
import signal
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bootloader"))

from bootloader_fixtures import factory_device  # noqa: E402
from sessions_helpers import Bench  # noqa: E402
from bootloader import app_api, boot  # noqa: E402
from pump import audit_log, therapy_table as T  # noqa: E402
from secure_channel.link import framing  # noqa: E402
from secure_channel.protocol import schema as S
from secure_channel.sessions import trust
from secure_channel.sessions import wire as W  # noqa: E402
from secure_channel.sessions.backoff import Policy  # noqa: E402
from secure_channel.coap import message as M, numbers as N  # noqa: E402
from secure_channel.protocol.update_stager import UpdateStager  # noqa: E402
from sim import cli, keyfiles  # noqa: E402
from sim.commands import gateway as G  # noqa: E402
from sim.gateway_client import GatewayError  # noqa: E402
from sim.gateway_input import CMD_ID_BYTES  # noqa: E402
from sim.pump_server import PumpNode, UdpEndpoint, serve  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
DEADLINE = 20.0
ROLES = ("gateway", "clinician", "patient", "service")
posix_only = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX PTYs")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Identity files for the pump, one peer of each role and a stranger; trust.cbor."""
    directory = tmp_path_factory.mktemp("gateway-keys")
    trusted = trust.TrustList()
    for kind, kid in (("pump", 1), ("gateway", 2), ("clinician", 3), ("patient", 4),
                      ("service", 5), ("stranger", 9)):
        identity = keyfiles.generate("clinician" if kind == "stranger" else kind,
                                     bytes((kid,)))
        keyfiles.write_private(str(directory / (kind + ".key")),
                               keyfiles.encode_identity(identity))
        keyfiles.write_public(str(directory / (kind + ".ccs")), identity.credential.value)
        if kind in ROLES:
            trusted.add(kind, identity.credential)
    keyfiles.write_public(str(directory / "trust.cbor"), trusted.encode())
    return directory


class Pump:
    """A PumpNode served on UDP from a thread; ``lock`` keeps the test's reads of the
    pump apart from the serving thread. ``confirm`` presses the pump's button whenever a
    remote bolus awaits it."""

    def __init__(self, keys, updater=None, **options):
        identity = keyfiles.load_identity(str(keys / "pump.key"))
        self.node = PumpNode(identity.private_key, identity.credential,
                             keyfiles.load_trust(str(keys / "trust.cbor")), **options)
        self.node.dispatcher.updater = updater
        self.lock = threading.Lock()
        self.confirm = False
        for name in ("advance_to", "step"):
            setattr(self.node, name, self._locked(getattr(self.node, name)))
        self.endpoint = UdpEndpoint("127.0.0.1", 0)
        self.udp = "%s:%d" % self.endpoint.address
        self._stop = threading.Event()
        self.thread = threading.Thread(target=serve, args=(self.node, self.endpoint),
                                       kwargs={"stop": self._hook}, daemon=True)
        self.thread.start()

    def _locked(self, call):
        def locked(*args, **kwargs):
            with self.lock:
                return call(*args, **kwargs)
        return locked

    def _hook(self):
        dispatcher = self.node.dispatcher
        if self.confirm and (dispatcher.gate.pending is not None or
                             dispatcher.install_gate.pending is not None):
            self.node.hw.ui.pressed = True
        return self._stop.is_set()

    def status(self):
        with self.lock:
            return self.node.pump.status()

    def records(self):
        with self.lock:
            return audit_log.verify(self.node.flash, self.node.log_key,
                                    self.node.pump.log_head())

    def close(self):
        self._stop.set()
        self.thread.join(DEADLINE)
        self.endpoint.close()


@pytest.fixture
def pump(keys):
    pumps = []

    def start(**options):
        pumps.append(Pump(keys, **options))
        return pumps[-1]
    yield start
    for item in pumps:
        item.close()


def gateway(capsys, keys, where, who, *words, timeout=None):
    """Run `pumpsim gateway` in this process: (exit status, stdout, stderr)."""
    link = ["--udp", where] if ":" in where else ["--port", where]
    argv = ["gateway"] + link + ["--identity", str(keys / (who + ".key")), "--pump",
                                 str(keys / "pump.ccs")]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    code = cli.main(argv + list(words))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def json_lines(out):
    return [json.loads(line) for line in out.splitlines()]


# -- reading -----------------------------------------------------------------------------------

def test_reads_print_readable_lines_and_tables(capsys, keys, pump):
    p = pump()
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "status", "telemetry",
                             "cgm-history", "alarms", "delivery-records", "read-log")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("status: ") and "state=delivering" in lines[0]
    assert "basal_mu_h=1000" in lines[0] and "temp_basal=False" in lines[0]
    assert lines[1].startswith("telemetry: ") and "cgm=(mg_dl=110 trend=0" in lines[1]
    assert lines[2].split() == ["age", "mg/dL", "trend"]
    header = [line for line in lines if line.startswith("seq  ")][-1]
    assert header.split() == ["seq", "time", "type", "details"]
    table = lines[lines.index(header) + 1:]
    assert table[-1].startswith("(log head #")
    rows = table[:-1]
    assert any(" command " in row and "start" in row for row in rows)
    assert any(" state " in row and "stopped -> delivering" in row for row in rows)
    for row in rows:                       # columns, not Python reprs
        assert row.split()[0].isdigit() and row.split()[1].startswith("2026-")
        assert not any(mark in row for mark in ("{", "['", "b'", "Record(", "None"))
    assert err.startswith("gateway session: 7 requests")       # the log's head, one page


def test_json_is_one_object_per_answer_with_named_fields(capsys, keys, pump):
    p = pump()
    code, out, err = gateway(capsys, keys, p.udp, "clinician", "--json", "status",
                             "cgm-history", "--count", "2", "read-log", "--count", "3")
    assert code == 0, err
    status, history, log = json_lines(out)
    assert status == {"request": "status", "ok": True, "fields": status["fields"]}
    assert status["fields"]["state"] == S.STATE_CODES[T.DELIVERING]
    assert status["fields"]["remote_bolus"] is False
    assert history["fields"]["readings"][0]["mg_dl"] == 110
    records = log["fields"]["records"]
    assert len(records) == 3 and set(records[0]) == {"seq", "tick_ms", "wall_s", "type",
                                                     "data"}
    assert log["fields"]["head_seq"] == records[-1]["seq"]


# -- therapy commands --------------------------------------------------------------------------

def test_temp_basal_suspend_resume_change_the_pump(capsys, keys, pump):
    p = pump()
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "temp-basal", "--percent",
                             "150", "--minutes", "30", "status")
    assert code == 0, err
    assert "temp_basal=True" in out and "basal_mu_h=1500" in out
    assert p.status()["temp_basal"] is True
    commands = [r.data for r in p.records() if r.type == audit_log.EV_COMMAND]
    temp = [c for c in commands if c["op"] == "temp_basal"][0]
    assert temp["args"]["percent"] == 150 and temp["args"]["duration_ms"] == 30 * 60000
    assert len(temp["args"]["cmd_id"]) == CMD_ID_BYTES          # a fresh id by default
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "--json", "suspend", "status")
    assert code == 0, err
    assert json_lines(out)[1]["fields"]["state"] == S.STATE_CODES[T.SUSPENDED]
    assert p.status()["state"] == T.SUSPENDED
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "resume",
                             "temp-basal", "--rate", "0.8", "--minutes", "45",
                             "cancel-temp-basal", "status")
    assert code == 0, err
    assert "state=delivering" in out and "temp_basal=False" in out
    rates = [c["args"].get("rate_mu_h") for c in
             (r.data for r in p.records() if r.type == audit_log.EV_COMMAND)
             if c["op"] == "temp_basal"]
    assert rates == [None, 800]                          # 0.8 U/h, exactly 800 mU/h
    assert p.status()["state"] == T.DELIVERING and not p.status()["temp_basal"]


def test_remote_bolus_confirmed_on_the_pump_and_refusals_exit_3(capsys, keys, pump):
    p = pump(remote_bolus=True)
    p.confirm = True
    code, out, err = gateway(capsys, keys, p.udp, "patient", "bolus", "1.5")
    assert code == 0, err
    assert out.splitlines() == ["bolus: awaiting confirmation on the pump",
                                "confirm_status: started, 1.5 U"]
    assert "awaiting confirmation on the pump: press its button" in err
    boluses = [r.data["args"] for r in p.records()
               if r.type == audit_log.EV_COMMAND and r.data["op"] == "bolus"]
    assert len(boluses) == 1 and boluses[0]["mu"] == 1500 and "cmd_id" in boluses[0]
    code, out, err = gateway(capsys, keys, p.udp, "patient", "confirm-status")
    assert code == 0 and out == "confirm_status: started, 1.5 U\n"
    # The clinician's bolus right after: the pump refuses it (one running already).
    code, out, err = gateway(capsys, keys, p.udp, "clinician", "--json", "bolus", "1")
    assert code == G.EXIT_REFUSED
    refused = json_lines(out)[-1]
    assert refused["ok"] is False and refused["request"] == "confirm_status"
    line = [item for item in err.splitlines() if "refused" in item]
    assert len(line) == 1 and line[0].startswith("pumpsim gateway: bolus refused: ")
    assert refused["error"]["reason"] in line[0]
    # The gateway may never bolus: refused by the permission matrix.
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "bolus", "1")
    assert code == G.EXIT_REFUSED and out == ""
    assert one_line(err) == ("pumpsim gateway: bolus refused: forbidden: role gateway may "
                             "not send bolus")
    code, out, err = gateway(capsys, keys, p.udp, "patient", "cancel-bolus")
    assert code == 0 and out.startswith("cancel_bolus: done, ")


def test_a_bolus_not_confirmed_is_refused_or_cancelled(capsys, keys, pump):
    p = pump(remote_bolus=True)
    p.node.dispatcher.gate.timeout_ms = 1000      # the pump's window: 1 s
    code, out, err = gateway(capsys, keys, p.udp, "patient", "bolus", "0.5")
    assert code == G.EXIT_REFUSED
    assert err.splitlines()[-1] == ("pumpsim gateway: bolus refused: confirm-expired: "
                                    "not confirmed on the pump in time")
    # The CLI's own --timeout shorter than the pump's window: it drops the bolus.
    p.node.dispatcher.gate.timeout_ms = 30000
    code, out, err = gateway(capsys, keys, p.udp, "patient", "bolus", "0.5", timeout=1)
    assert code == G.EXIT_REFUSED
    assert err.splitlines()[-1] == ("pumpsim gateway: bolus refused: not confirmed on the "
                                    "pump within 1 s: cancelled, 0 U not delivered")
    assert p.node.dispatcher.gate.pending is None
    assert not any(r.data["op"] == "bolus" for r in p.records()
                   if r.type == audit_log.EV_COMMAND)


# -- settings ----------------------------------------------------------------------------------

def test_basal_program_limits_and_time_sync(capsys, keys, pump, tmp_path):
    p = pump()
    rates = tmp_path / "rates.txt"
    rates.write_text("# night\n0.8*12\n# day\n1.1 1.1 1.1 1.1,1.2*20\n0.75*12  # evening\n")
    code, out, err = gateway(capsys, keys, p.udp, "clinician", "basal-program", "--file",
                             str(rates), "suspend", "limits", "max_bolus_mu=8U",
                             "max_suspend_ms=1.5h", "battery_low_percent=25", "resume")
    assert code == 0, err
    assert out.splitlines()[0] == "set_basal_program: done"
    with p.lock:
        limits = p.node.pump.controller.limits
        program = list(p.node.pump.controller.engine.program)
        assert (limits.max_bolus_mu, limits.max_suspend_ms, limits.battery_low_percent) \
            == (8000, 90 * 60000, 25)
    assert program == [800] * 12 + [1100] * 4 + [1200] * 20 + [750] * 12
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "limits", "max_bolus_mu=9000")
    assert code == G.EXIT_REFUSED and "forbidden" in one_line(err)
    code, out, err = gateway(capsys, keys, p.udp, "patient", "--json", "time-sync")
    assert code == 0, err
    assert json_lines(out)[0]["fields"]["ticks_ms"] >= 0
    with p.lock:
        import time
        assert abs(p.node.hw.clock.wall_s() - time.time()) < 60


@pytest.mark.parametrize("words, message", [
    (["status", "bolus", "1.0001"], "bolus: 1.0001 U is not a whole number of mU"),
    (["status", "bolus", "1.01"], "bolus: 1.01 U is not a multiple of 0.025 U"),
    (["status", "bolus", "30"], "bolus: 30 U is outside 0.025 U..25 U"),
    (["status", "bolus", "-1"], "bolus: '-1' is not a number of U"),
    (["status", "bolus", "2", "--cmd-id", "xyz"], "--cmd-id must be hex"),
    (["status", "temp-basal", "--percent", "150", "--minutes", "10"],
     "temp-basal --minutes: 10 min is outside 15 min..1440 min"),
    (["status", "temp-basal", "--rate", "0.0001", "--minutes", "30"],
     "temp-basal: 0.0001 U/h is not a whole number of mU/h"),
    (["status", "temp-basal", "--minutes", "30"],
     "one of the arguments --percent --rate is required"),
    (["status", "basal-program", "--rates", "0.8*47"], "47 rates given, the program has 48"),
    (["status", "basal-program", "--rates", "0.8*24,20*24"], "20 U/h is outside 0 U/h..10 U/h"),
    (["status", "limits", "max_bolus_mu=8U/h"], "unit 'U/h' does not fit (use U)"),
    (["status", "limits", "max_bolus_mu=26U"], "limits max_bolus_mu: 26 U is outside"),
    (["status", "limits", "no_such=1"], "limits: no limit 'no_such'"),
    (["status", "update", "upload"], "update upload: give the image FILE"),
    (["status", "status", "--json"], "options of pumpsim gateway itself go before"),
    (["status", "frobnicate"], "unknown command 'frobnicate'"),
    ([], "give at least one command"),
])
def test_bad_values_are_one_line_usage_errors_and_nothing_is_sent(capsys, keys, words,
                                                                   message):
    import socket
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    try:
        where = "127.0.0.1:%d" % listener.getsockname()[1]
        code, out, err = gateway(capsys, keys, where, "gateway", *words)
        assert code == G.EXIT_USAGE and out == ""
        assert message in one_line(err), err
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.recv(2048)                      # not even message_1
    finally:
        listener.close()


def test_no_answer_and_untrusted_peers_have_their_own_exit_status(capsys, keys, pump):
    import socket
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        code, out, err = gateway(capsys, keys, "127.0.0.1:%d" % silent.getsockname()[1],
                                 "gateway", "status", timeout=0.3)
    finally:
        silent.close()
    assert code == G.EXIT_NO_ANSWER
    assert one_line(err) == ("pumpsim gateway: error: status: no answer from the pump "
                             "within 0.3 s")
    p = pump()
    code, out, err = gateway(capsys, keys, p.udp, "stranger", "status")
    assert code == G.EXIT_SESSION and out == ""
    assert "handshake refused: EDHOC-PEER" in one_line(err)


# -- software update ---------------------------------------------------------------------------

def test_update_upload_resumes_where_the_pump_stopped(capsys, keys, pump):
    dev = factory_device()
    stager = UpdateStager(app_api.UpdateWriter(dev.flash, dev.map),
                          loader=boot.Bootloader(dev.flash, dev.map))
    p = pump(updater=stager)                         # delivering all along
    image = dev.sign((2, 0, 0, 0), 2)
    path = keys / "image.bin"
    path.write_bytes(image)
    assert len(image) > 5 * 128
    code, out, err = gateway(capsys, keys, p.udp, "service", "update", "upload", str(path),
                             "--chunk", "128", "--max-chunks", "3")
    assert code == 0, err
    assert "stopped after 3 chunks at byte 384 of %d" % len(image) in err
    assert stager.received == 384 and p.status()["state"] == T.DELIVERING
    # A second run asks the pump where it is and continues from there.
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "--json", "update", "upload",
                             str(path), "--chunk", "128")
    assert code == 0, err
    assert "resuming the upload at byte 384 of %d" % len(image) in err
    assert "%d of %d bytes (100%%)" % (len(image), len(image)) in err
    last = json_lines(out)[-1]                          # the pump's word: staged
    assert last["request"] == "update_status" and last["fields"]["phase"] == S.UPDATE_STAGED
    assert last["fields"]["received"] == len(image)
    assert [r for r in p.records() if r.type == audit_log.EV_REFUSAL] == []   # no probing
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "update", "info")
    assert code == 0 and "phase=2" in out and "staged_version=(major=2 minor=0" in out, out
    with p.lock:
        assert dev.boot().image.version == (1, 0, 0, 0)     # staged is not installed
    p.confirm = True                                     # the patient presses the button
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "update", "install")
    assert code == 0, err
    assert "confirmed on the pump" in out and p.status()["state"] == T.UPDATE_PENDING
    with p.lock:
        result = dev.boot()
    assert result.mode == boot.MODE_TEST and result.image.version == (2, 0, 0, 0)
    code, out, err = gateway(capsys, keys, p.udp, "service", "update", "confirm")
    assert code == 0 and out == "confirm_update: done\n"
    with p.lock:
        assert dev.boot().mode == boot.MODE_CONFIRMED
    code, out, err = gateway(capsys, keys, p.udp, "service", "update", "cancel", "status")
    assert code == 0 and "state=delivering" in out               # the pause undone
    code, out, err = gateway(capsys, keys, p.udp, "patient", "update", "cancel")
    assert code == G.EXIT_REFUSED and "forbidden" in one_line(err)


def test_update_upload_of_a_refused_image_exits_3(capsys, keys, pump):
    dev = factory_device()
    stager = UpdateStager(app_api.UpdateWriter(dev.flash, dev.map),
                          loader=boot.Bootloader(dev.flash, dev.map))
    p = pump(updater=stager)
    path = keys / "old.bin"
    path.write_bytes(dev.sign((0, 5, 0, 0), 1))
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "update", "upload", str(path))
    assert code == G.EXIT_REFUSED
    assert "IL-UPDATE-IMAGE downgrade" in one_line(err.splitlines()[-1])
    assert stager.state == S.UPDATE_IDLE


# -- back-off ----------------------------------------------------------------------------------

def test_back_off_is_waited_out_within_the_timeout(capsys, keys, pump):
    p = pump(global_policy=Policy(threshold=2, base_ms=2000, max_ms=2000, forget_ms=60000))
    for _ in range(2):                  # two failed handshakes start the global back-off
        code, out, err = gateway(capsys, keys, p.udp, "stranger", "status")
        assert code == G.EXIT_SESSION
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "status", timeout=0.5)
    assert code == G.EXIT_SESSION                         # the wait is longer: not waited
    assert "SESSION-BACKOFF" in one_line(err) and "retry in" in err
    code, out, err = gateway(capsys, keys, p.udp, "gateway", "status", timeout=10)
    assert code == 0, err
    assert out.startswith("status: ")
    busy = [line for line in err.splitlines() if "pump busy" in line]
    assert len(busy) == 1 and re.match(r"pumpsim gateway: pump busy, retrying in \d+ s$",
                                       busy[0])
    assert p.node.manager.counts["SESSION-BACKOFF"] == 2


class ForgingBench(Bench):
    """A Bench whose wire answers the next protected request with a forged 5.03 (retry
    in 500 ms) after handing it to the pump: the man in the middle who drops the answer
    of a command that ran and makes the client believe it did not."""

    def __init__(self):
        super().__init__()
        self.forge = 0
        self.deframer = framing.Deframer()
        client = self.gateway.client
        client.patience_s = 5.0
        client.clock = lambda: self.node.now() / 1000.0
        client.sleep = lambda seconds: self.advance(int(seconds * 1000) + 1)

    def _pump_turn(self):
        data = self.pump_end.read(65536)
        for payload in self.deframer.feed(data) if data else ():
            message = M.decode(payload)
            answer = self.node.feed(framing.encode_frame(payload))
            if self.forge and message.has(N.OSCORE):
                self.forge -= 1
                forged = W.refusal(N.SERVICE_UNAVAILABLE, W.SESSION_BACKOFF, 500)
                forged.mtype, forged.mid, forged.token = N.ACK, message.mid, message.token
                answer = framing.encode_frame(M.encode(forged))
            if answer:
                self.pump_end.write(answer)


def test_a_command_without_cmd_id_is_never_sent_again_after_an_unprotected_refusal():
    bench = ForgingBench()
    client = bench.gateway.client
    client.request("time_sync", {"wall_s": 1767229200})     # holds a fresh Echo now
    bench.forge = 1
    with pytest.raises(GatewayError) as caught:
        client.request("suspend")
    assert "not sent again, it may have run" in str(caught.value)
    assert bench.node.pump.state == T.SUSPENDED and client.waits == []
    suspends = [r for r in audit_log.verify(bench.node.flash, bench.node.log_key)
                if r.type == audit_log.EV_COMMAND and r.data["op"] == "suspend"]
    assert len(suspends) == 1
    # A read is safe to repeat: the client waits the 500 ms and asks again.
    bench.forge = 1
    assert client.request("status").fields["state"] == S.STATE_CODES[T.SUSPENDED]
    assert [code for _, code in client.waits] == [W.SESSION_BACKOFF]
    # So is a command with a cmd_id: the pump ran it once and refuses the repeat.
    client.request("resume")
    bench.forge = 1
    answer = client.request("temp_basal", {"duration_ms": 1800000, "percent": 120,
                                           "cmd_id": b"\x01\x02",
                                           "issued_ms": bench.node.now()})
    assert answer.is_error and answer.fields["reason"] == "IL-DUPLICATE-CMD"
    assert bench.node.pump.status()["temp_basal"] is True and len(client.waits) == 2


# -- a real pump process over a PTY ------------------------------------------------------------

@posix_only
def test_every_command_against_pumpsim_serve_on_a_pty(capsys, keys):
    process = subprocess.Popen(
        PUMPSIM + ["serve", "--identity", str(keys / "pump.key"), "--trust",
                   str(keys / "trust.cbor"), "--idle-exit", str(DEADLINE), "--pty"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("pump serving on PTY "), line + process.stderr.read()
        pty = line.strip()[len("pump serving on PTY "):]
        # The console command itself, as a user runs it.
        done = subprocess.run(
            PUMPSIM + ["gateway", "--port", pty, "--identity", str(keys / "gateway.key"),
                       "--pump", str(keys / "pump.ccs"), "temp-basal", "--percent", "120",
                       "--minutes", "60", "status"],
            cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == "temp_basal: done"
        assert "temp_basal=True" in done.stdout and "basal_mu_h=1200" in done.stdout
        code, out, err = gateway(capsys, keys, pty, "gateway", "--json", "suspend", "status",
                                 "resume", "status")
        assert code == 0, err
        states = [o["fields"]["state"] for o in json_lines(out) if o["request"] == "status"]
        assert states == [S.STATE_CODES[T.SUSPENDED], S.STATE_CODES[T.DELIVERING]]
        code, out, err = gateway(capsys, keys, pty, "patient", "bolus", "1")
        assert code == G.EXIT_REFUSED and out == ""
        assert one_line(err) == ("pumpsim gateway: bolus refused: remote-bolus-off: remote "
                                 "bolus is disabled")
        code, out, err = gateway(capsys, keys, pty, "clinician", "read-log", "--count", "8")
        assert code == 0, err
        rows = out.splitlines()
        assert rows[0].split() == ["seq", "time", "type", "details"] and len(rows) == 10
        assert any("refusal" in row and "remote bolus is disabled" in row for row in rows)
        code, out, err = gateway(capsys, keys, pty, "service", "update", "upload",
                                 str(keys / "pump.ccs"))
        assert code == G.EXIT_REFUSED and "unavailable: no update stager" in one_line(err)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        summary, _ = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0
    assert "sessions established 5" in summary and "audit log verified" in summary
