"""The attacker on a real link, UDP or a serial line (``sim.attack.relay``).

First the rules of the fast mode's ``LinkTap`` on the sans-IO ``Relay`` with a fake clock:
drop with a probability, delay and reorder inside a window, modify a plain (legacy)
request, flip a byte of a sealed one, inject on time; over UDP, each gateway gets its own
answers; on a serial line (a scripted pair of ends) one frame is one message, whatever
the reads cut, a damaged frame is dropped and counted, a delayed one is framed when it
is due, and the answers to injected requests stay with the attacker; bad flags are one
line. Then a real relay process between a real ``pumpsim device --udp`` and a real
gateway:

- with no rule a monitor cycle passes, and what the relay recorded is OSCORE-protected
  CoAP (no request readable; tshark dissects it);
- dropping everything takes the link down (the gateway's exit 4);
- the recorded requests sent to the same pump again later are all refused: nothing runs,
  the pump logs the refusals, and the gateway's next cycle files them; the capture also
  feeds the fast mode's ``pumpsim attack replay``.

The same relay on a PTY line (``--pty``) in front of ``pumpsim device --pty``: a cycle
passes and only sealed messages are recorded; dropping everything takes the link down.

Every wait on a process or a line has a deadline.
"""

import argparse
import os
import queue
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import real_tool

from pump import audit_log as L
from secure_channel import cbor
from secure_channel.coap import message as M, numbers as N
from secure_channel.link import framing
from sim import cli, pcapng
from sim.attack import relay as R
from sim.attack.legacy import request_bytes
from sim.attack.link import Rule, decode_plain
from sim.cli import CliError

ROOT = Path(__file__).resolve().parents[3]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
# `pumpsim attack relay` without depending on sim/commands/attack.py registering it.
RELAY = [sys.executable, "-c", "\n".join((
    "import argparse, sys",
    "from sim.attack import relay",
    "from sim.cli import CliError",
    "parser = argparse.ArgumentParser(prog='pumpsim attack')",
    "relay.register(parser.add_subparsers())",
    "args = parser.parse_args(sys.argv[1:])",
    "try:",
    "    sys.exit(args.func(args))",
    "except CliError as exc:",
    "    sys.exit('pumpsim attack: error: %s' % exc)"))]
DEADLINE = 30.0
SPEED = "60"
FOREVER = float("inf")


class Clock:
    """A clock the test moves (seconds)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Tape:
    """A capture in memory: (data, from_pump) as ``Capture.record`` gets them."""

    def __init__(self):
        self.records = []

    def record(self, data, from_pump):
        self.records.append((bytes(data), from_pump))


def sealed(mid=9, size=24):
    """An OSCORE-protected request as the relay sees one: outer options, ciphertext."""
    return M.encode(M.Message(N.CON, N.POST, mid, mid.to_bytes(2, "big"),
                              [(N.OSCORE, b"\x09\x05")], bytes(range(size))))


# -- the sans-IO core ----------------------------------------------------------------------

def test_drop_follows_its_probability_draw_by_draw():
    rule = Rule("drop", 0, FOREVER, probability=0.3)
    relay = R.Relay([rule], rng=random.Random(5))
    draws = random.Random(5)
    passed = [bool(relay.from_gateway(request_bytes("status", {}, mid))) for mid in range(200)]
    assert passed == [draws.random() >= 0.3 for _ in range(200)]
    assert rule.hits == passed.count(False) and 30 < rule.hits < 90
    assert relay.counts["to_pump"] == passed.count(True)


def test_drop_with_probability_one_and_zero():
    everything, nothing = Rule("drop", 0, FOREVER), Rule("drop", 0, FOREVER, probability=0)
    dropping, passing = R.Relay([everything]), R.Relay([nothing])
    assert [dropping.from_gateway(b"x%d" % i) for i in range(20)] == [[]] * 20
    assert [passing.from_gateway(b"x%d" % i) for i in range(20)] == \
        [[(b"x%d" % i, 0.0)] for i in range(20)]
    assert everything.hits == 20 and nothing.hits == 0


def test_delay_holds_requests_back_only_inside_its_window():
    clock = Clock()
    rule = Rule("delay", 1000, 2000, delay_ms=250)
    relay = R.Relay([rule], clock=clock)
    got = []
    for at in (0.5, 1.0, 1.999, 2.0, 3.0):
        clock.now = at
        got.append(relay.from_gateway(b"at %g" % at))
    assert got == [[(b"at 0.5", 0.0)], [(b"at 1", 0.25)], [(b"at 1.999", 0.25)],
                   [(b"at 2", 0.0)], [(b"at 3", 0.0)]]
    assert rule.hits == 2


def test_reorder_holds_one_and_sends_it_after_the_next():
    clock = Clock()
    rule = Rule("reorder", 0, 1000)
    relay = R.Relay([rule], clock=clock)
    assert relay.from_gateway(b"first") == []
    assert relay.from_gateway(b"second") == [(b"second", 0.0), (b"first", 0.0)]
    assert relay.from_gateway(b"third") == []
    clock.now = 1.0                                   # the window is over
    assert relay.from_gateway(b"fourth") == [(b"fourth", 0.0)]
    assert rule.hits == 3


def test_modify_rewrites_a_plain_request_for_its_command_and_records_the_original():
    tape = Tape()
    rule = Rule("modify", 0, FOREVER, command="bolus", fields={"mu": 9000})
    relay = R.Relay([rule], capture=tape)
    bolus = request_bytes("bolus", {"mu": 1000, "duration_ms": 0}, 7)
    [(changed, delay)] = relay.from_gateway(bolus)
    name, fields, message = decode_plain(changed)
    assert (name, fields, delay) == ("bolus", {"mu": 9000, "duration_ms": 0}, 0.0)
    original = M.decode(bolus)
    assert (message.mid, message.token, message.mtype) == (original.mid, original.token,
                                                           original.mtype)
    status = request_bytes("status", {}, 8)
    assert relay.from_gateway(status) == [(status, 0.0)]          # another command
    assert rule.hits == 1
    assert tape.records == [(bolus, False), (status, False)]      # what it saw, unchanged
    answer = b"\x62\x44\x00\x07\x00\x07"
    assert relay.from_pump(answer) == [answer]
    assert tape.records[-1] == (answer, True)


def test_modify_flips_one_byte_near_the_end_of_a_sealed_frame():
    rule = Rule("modify", 0, FOREVER, command="bolus", fields={"mu": 9000})
    relay = R.Relay([rule], rng=random.Random(3))
    flipped = set()
    for mid in range(40):
        frame = sealed(mid)
        [(changed, _)] = relay.from_gateway(frame)
        differ = [i for i in range(len(frame)) if frame[i] != changed[i]]
        assert len(changed) == len(frame) and len(differ) == 1
        assert differ[0] >= len(frame) - 8 and frame[differ[0]] ^ changed[differ[0]] == 1
        flipped.add(len(frame) - differ[0])
    assert rule.hits == 40 and len(flipped) > 4
    assert relay.from_gateway(b"short") == [(b"short", 0.0)]    # nothing to flip


def test_the_first_active_rule_that_acts_decides():
    rules = [Rule("drop", 0, FOREVER, probability=0), Rule("delay", 0, FOREVER, delay_ms=40),
             Rule("drop", 0, FOREVER)]
    assert R.Relay(rules).from_gateway(b"frame") == [(b"frame", 0.04)]
    assert [r.hits for r in rules] == [0, 1, 0]


def test_injections_come_due_on_the_relays_clock_and_their_answers_are_counted():
    clock = Clock()
    relay = R.Relay([], clock=clock, inject=[(1.0, b"late"), (0.5, b"early"), (0.5, b"too")])
    clock.now = 0.4
    assert relay.due() == [] and relay.next_due_s() == pytest.approx(0.1)
    clock.now = 0.6
    assert relay.due() == [b"early", b"too"]
    clock.now = 5.0
    assert relay.due() == [b"late"] and relay.next_due_s() is None
    unauthorized = M.encode(M.Message(N.ACK, N.UNAUTHORIZED, 1, b""))
    relay.injected_answer(unauthorized)
    relay.injected_answer(b"\xff")
    assert relay.answers == {"4.01": 1, "not CoAP": 1}
    assert relay.counts["injected"] == 3 and relay.counts["injected_answers"] == 2
    assert relay.counts["from_pump"] == 0                          # not a gateway's


# -- the UDP transport, in a thread -----------------------------------------------------------

def test_over_udp_each_gateway_gets_its_own_answers_also_when_delayed():
    pump = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gateways = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sock in [pump] + gateways:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(DEADLINE)
    rule = Rule("delay", 0, FOREVER, delay_ms=50)
    ready, done, result = queue.Queue(), threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(R.run_relay(
        ("127.0.0.1", 0), pump.getsockname(), [rule], duration_s=DEADLINE, ready=ready.put,
        stop=done.is_set)))
    thread.start()
    try:
        address = ready.get(timeout=DEADLINE)
        for number, gateway in enumerate(gateways):
            gateway.sendto(b"from %d" % number, address)
        sources = set()
        for _ in gateways:                      # the pump answers whoever sent it
            data, source = pump.recvfrom(100)
            pump.sendto(b"re " + data, source)
            sources.add(source)
        for number, gateway in enumerate(gateways):
            assert gateway.recvfrom(100) == (b"re from %d" % number, address)
    finally:
        done.set()
        thread.join(DEADLINE)
        for sock in [pump] + gateways:
            sock.close()
    assert len(sources) == 2                    # one socket to the pump per gateway
    relay, why = result[0]
    assert why == "stopped" and rule.hits == 2
    assert (relay.counts["from_gateway"], relay.counts["to_pump"],
            relay.counts["from_pump"]) == (2, 2, 2)


# -- a serial line, with scripted ends ---------------------------------------------------------

class End:
    """One end of a serial line, scripted: ``read`` hands out the chunks ``feed`` was
    given, one a read, as a port cuts them; ``written`` is what the relay wrote."""

    def __init__(self, fd):
        self.fd = fd                        # only a key to wait on, never used here
        self.chunks = []
        self.written = bytearray()

    def feed(self, *chunks):
        self.chunks.extend(chunks)

    def read(self, max_bytes=4096, timeout=0):
        return self.chunks.pop(0) if self.chunks else b""

    def write(self, data):
        self.written += data
        return len(data)

    def close(self):
        pass


def bad_crc_frame(payload):
    crc = framing.crc16(payload) ^ 0x0001
    return b"\0" + framing.cobs_encode(payload + crc.to_bytes(2, "big")) + b"\0"


def test_on_a_serial_line_a_frame_is_a_message_whatever_the_reads_cut():
    clock, tape = Clock(), Tape()
    first, second, third, late = (sealed(mid) for mid in (1, 2, 3, 4))
    replayed = sealed(7)
    relay = R.Relay([Rule("delay", 1000, 2000, delay_ms=250)], capture=tape, clock=clock,
                    inject=[(0.5, replayed), (0.5, b"\x40" * 2000)])
    gateway, pump = End(3), End(4)
    link = R._SerialLink(gateway, pump, "/dev/pts/98", "/dev/pts/99")
    loop = R._Loop(relay, link)
    frame = framing.encode_frame

    def read(end, *chunks):
        end.feed(*chunks)
        for _ in chunks:
            link.read(link.gateway if end is gateway else link.pump, loop)

    read(gateway, frame(first)[:7])                              # half a frame: nothing
    assert pump.written == b""
    read(gateway, frame(first)[7:], frame(second) + frame(third) + bad_crc_frame(first))
    assert pump.written == frame(first) + frame(second) + frame(third)
    assert link.gateway.deframer.dropped["bad_crc"] == 1         # dropped, counted
    clock.now = 1.5                                              # in the delay's window
    read(gateway, frame(late))
    assert pump.written == frame(first) + frame(second) + frame(third)
    loop._send_due(float("inf"))           # the delay is over; the injections are due
    assert pump.written == b"".join(frame(m) for m in (first, second, third, late,
                                                       replayed))
    assert link.too_long == 1                                    # no frame holds 2000 B
    answer, to_attacker = (M.encode(M.Message(N.ACK, N.CHANGED, mid, mid.to_bytes(2, "big"),
                                              [], b"re")) for mid in (1, 7))
    read(pump, frame(to_attacker) + frame(answer)[:3], frame(answer)[3:])
    assert gateway.written == frame(answer)           # the attacker's answer kept back
    assert relay.answers == {"2.04": 1} and relay.counts["injected"] == 2
    assert tape.records == [(m, False) for m in (first, second, third, late)] + \
        [(answer, True)]
    assert link.summary() == ["  frames dropped from the gateway's line: bad_crc 1",
                              "  not framed (over 1024 bytes): 1"]
    assert "serial" in link.name and link.address == "/dev/pts/98"


# -- the command's flags ---------------------------------------------------------------------

UDP = ("--listen", "127.0.0.1:0", "--pump", "127.0.0.1:5683")


def _args(*flags, link=UDP):
    parser = argparse.ArgumentParser()
    R.register(parser.add_subparsers())
    return parser.parse_args(["relay"] + list(link) + list(flags))


def test_flags_make_the_rules_in_order_within_the_window():
    rules = R.rules_from(_args("--modify", "bolus:mu=5000", "--reorder", "--drop", "0.5",
                               "--modify", "bolus:cmd_id=0a0b", "--delay-ms", "100",
                               "--modify", "time_sync:wall_s=0", "--from-s", "2",
                               "--for-s", "3"))
    assert [r.kind for r in rules] == ["drop", "delay", "reorder", "modify", "modify"]
    assert all((r.start, r.end) == (2000, 5000) for r in rules)
    assert rules[0].probability == 0.5 and rules[1].delay_ms == 100
    assert (rules[3].command, rules[3].fields) == ("bolus", {"mu": 5000,
                                                             "cmd_id": b"\x0a\x0b"})
    assert (rules[4].command, rules[4].fields) == ("time_sync", {"wall_s": 0})
    assert R.rules_from(_args()) == []
    assert R.rules_from(_args("--drop", "1"))[0].end == FOREVER


@pytest.mark.parametrize("flags, said", [
    (("--drop", "1.5"), "--drop: '1.5': a probability"),
    (("--drop", "nan"), "--drop: 'nan': a probability"),
    (("--delay-ms", "-5"), "--delay-ms: '-5': a whole number"),
    (("--modify", "bolus"), "expected COMMAND:FIELD=VALUE"),
    (("--modify", "nosuch:mu=1"), "unknown command 'nosuch'"),
    (("--modify", "bolus:volume=1"), "bolus has no field 'volume'"),
    (("--modify", "bolus:mu=lots"), "mu is an integer in 25..25000"),
    (("--modify", "bolus:mu=99999"), "mu is an integer in 25..25000"),
    (("--modify", "bolus:cmd_id=zz"), "cmd_id is 1..16 bytes in hex"),
    (("--for-s", "0"), "--for-s: '0': must be a positive"),
    (("--from-s", "-1"), "--from-s: '-1': must be 0 or more"),
    (("--seconds", "soon"), "--seconds: 'soon' is not a number"),
    (("--listen", "5683"), "--listen: '5683' is not HOST:PORT"),
    (("--pump", "127.0.0.1:0"), "--pump: give the pump's port"),
    (("--inject-at-s", "1"), "--inject-at-s needs --inject"),
    (("--inject", "/nonexistent/x.pcapng"), "cannot read /nonexistent/x.pcapng"),
])
def test_a_bad_flag_is_one_line_before_anything_is_bound(flags, said):
    args = _args(*flags)
    with pytest.raises(CliError) as refused:
        args.func(args)
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_a_capture_with_no_request_to_a_pump_is_refused(tmp_path):
    from sim.capture import Capture
    path = tmp_path / "answers.pcapng"
    with Capture(path, "test") as capture:
        capture.record(b"\x60\x44\x00\x01", True)
    args = _args("--inject", str(path))
    with pytest.raises(CliError, match="holds no message to a pump"):
        args.func(args)


@pytest.mark.parametrize("link", [(), ("--pty",), ("--pump-port", "/dev/null"),
                                  ("--listen", "127.0.0.1:0"), UDP + ("--pty",),
                                  ("--pty", "--pump-port", "/dev/null", "--pump", "h:1")])
def test_the_link_is_udp_or_a_serial_line_each_given_whole(link):
    args = _args(link=link)
    with pytest.raises(CliError, match=r"^give --listen HOST:PORT and --pump HOST:PORT "
                                       r"\(UDP\), or --pty and --pump-port DEV"):
        args.func(args)


@pytest.mark.parametrize("port, said", [
    ("/nonexistent/tty", "cannot open /nonexistent/tty: "),
    ("loop://", "cannot open loop://: not a port the relay can wait on"),
    ("nosuch://x", "cannot open nosuch://x: "),
])
def test_a_pump_port_that_cannot_be_opened_is_one_line(port, said):
    args = _args(link=("--pty", "--pump-port", port))
    with pytest.raises(CliError) as refused:
        args.func(args)
    assert str(refused.value).startswith(said) and "\n" not in str(refused.value)


# -- real processes: device, relay, gateway ---------------------------------------------------

class Process:
    """A child process whose stdout lines a thread collects, so no read can hang."""

    def __init__(self, argv):
        self.popen = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, pattern, timeout=DEADLINE):
        """The match of the first line (from now) with ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop(check=False)
                pytest.fail("no line matching %r; printed: %s; stderr: %s"
                            % (pattern, "".join(self.seen), self.popen.stderr.read()))
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self, check=True):
        """SIGTERM and wait; everything printed on stdout."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=DEADLINE)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(timeout=DEADLINE)
        err = self.popen.stderr.read()
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        if check:
            assert self.popen.returncode == 0, err
        return "".join(self.seen)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    assert cli.main(["keys", "init", str(directory)]) == 0
    return directory


def start_device(keys):
    """`pumpsim device --udp` on a port of its own: (process, (host, port))."""
    device = Process(PUMPSIM + ["device", "--identity", str(keys / "pump.key"), "--trust",
                                str(keys / "trust.cbor"), "--udp", "127.0.0.1:0",
                                "--speed", SPEED, "--idle-exit", str(DEADLINE)])
    found = device.expect(r"coap://(127\.0\.0\.1):(\d+) \(UDP\)")
    return device, (found.group(1), int(found.group(2)))


@pytest.fixture(scope="module")
def pump(keys):
    device, address = start_device(keys)
    yield address
    device.stop()


def start_relay(pump, *flags):
    relay = Process(RELAY + ["relay", "--listen", "127.0.0.1:0", "--pump", "%s:%d" % pump,
                             "--seconds", str(DEADLINE)] + list(flags))
    found = relay.expect(r"relay on udp (127\.0\.0\.1):(\d+) for the pump at ")
    return relay, "%s:%s" % found.groups()


def gateway_cycle(keys, address, db, timeout="5", link="--udp"):
    return subprocess.run(
        PUMPSIM + ["gateway", link, address, "--identity", str(keys / "gateway.key"),
                   "--pump", str(keys / "pump.ccs"), "--timeout", timeout, "monitor",
                   "--db", str(db), "--speed", SPEED, "--cycles", "1"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=DEADLINE)


@pytest.fixture(scope="module")
def recorded(keys, tmp_path_factory):
    """One monitor cycle through a relay with no rule, recorded, on a pump of its own (no
    other test's gateway replaces the session recorded): (capture path, gateway run, what
    the relay printed, the store, the pump's address)."""
    directory = tmp_path_factory.mktemp("recorded")
    capture, db = directory / "link.pcapng", directory / "g.db"
    device, address = start_device(keys)
    try:
        relay, through = start_relay(address, "--capture", str(capture))
        try:
            run = gateway_cycle(keys, through, db)
        finally:
            printed = relay.stop()
        yield capture, run, printed, db, address
    finally:
        device.stop()


def is_edhoc(message):
    return message.path == "/.well-known/edhoc" and not message.has(N.OSCORE)


def test_a_cycle_through_the_relay_passes_and_its_capture_is_protected_coap(recorded):
    capture, run, printed, db, _ = recorded
    assert run.returncode == 0, run.stderr
    assert "cycle 1:" in run.stdout
    sent = int(re.search(r"gateways -> pump: (\d+) in, \1 out; pump -> gateways: (\d+)",
                         printed).group(1))
    assert "capture written to %s (%d messages)" % (capture, 2 * sent) in printed
    contents = pcapng.read_capture(capture)
    requests = [p.payload for p in contents.packets if not p.from_pump]
    assert contents.skipped == () and len(requests) == sent == len(contents.packets) // 2
    assert not [r for r in requests if decode_plain(r) is not None]   # nothing readable
    messages = [M.decode(r) for r in requests]
    protected = [m for m in messages if m.has(N.OSCORE)]
    assert len(protected) >= 3                                        # status, cgm, log
    assert all(is_edhoc(m) for m in messages if not m.has(N.OSCORE))  # the handshake only
    for m in protected:                            # no pump command in the outer message
        assert m.path in ("", "/") and m.values(N.URI_QUERY) == []


def test_tshark_dissects_the_relays_capture_as_coap_with_oscore(recorded, tmp_path):
    tshark = real_tool("tshark")
    capture = recorded[0]
    config = tmp_path / "wireshark"                  # not the developer's own profile
    config.mkdir()
    out = subprocess.run(
        [tshark, "-n", "-r", str(capture), "-T", "fields", "-E", "separator=/t",
         "-e", "udp.dstport", "-e", "coap.code", "-e", "coap.opt.object_security_kid",
         "-e", "coap.opt.uri_path_recon"],
        capture_output=True, text=True, timeout=DEADLINE,
        env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(config)))
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert len(rows) == len(pcapng.read_packets(capture))
    assert all(code for _, code, _, _ in rows)                       # every one is CoAP
    to_pump = [row for row in rows if row[0] == "5683"]
    assert all(kid or path == "/.well-known/edhoc" for _, _, kid, path in to_pump)
    assert sum(1 for _, _, kid, _ in to_pump if kid) >= 3


def test_pumpsim_attack_replay_takes_the_relays_capture_and_the_replay_is_blocked(recorded,
                                                                                  capsys):
    assert cli.main(["attack", "replay", str(recorded[0]), "--profile", "secure"]) == 0
    assert re.search(r"replay\s+secure\s+adult#001\s+1\s+blocked\s+blocked",
                     capsys.readouterr().out)


def test_a_relay_that_drops_everything_takes_the_link_down(keys, pump, tmp_path):
    relay, address = start_relay(pump, "--drop", "1.0")
    try:
        run = gateway_cycle(keys, address, tmp_path / "g.db", timeout="2")
    finally:
        printed = relay.stop()
    assert run.returncode == 4, run.stderr                       # --cycles ran out, failed
    assert "gateway: pump not answering" in run.stderr and "Traceback" not in run.stderr
    hits = int(re.search(r"drop p=1 \(0 s\.\.\): (\d+) hits?", printed).group(1))
    assert hits >= 1 and re.search(r"gateways -> pump: %d in, 0 out" % hits, printed)


def test_the_captured_requests_replayed_later_into_the_same_pump_are_all_refused(
        keys, recorded):
    capture, run, _, db, pump = recorded
    assert run.returncode == 0, run.stderr
    filed = max(seq for seq, in sqlite3.connect(str(db)).execute(
        "SELECT seq FROM log_records"))
    inject = R.injections(str(capture), 0.2)
    relay, why = R.run_relay(("127.0.0.1", 0), pump, [], duration_s=2.0, inject=inject)
    assert why == "time" and relay.counts["injected"] == len(inject)
    assert relay.counts["injected_answers"] == len(inject)       # the pump answered each
    messages = [M.decode(data) for _, data in inject]
    first_messages = sum(1 for m in messages if is_edhoc(m) and m.payload[:1] == b"\xf5")
    accepted = sum(n for code, n in relay.answers.items() if code.startswith("2."))
    assert first_messages == accepted == 1     # a new message_2 to message_1, nothing else
    assert sum(relay.answers.values()) - accepted == len(inject) - 1 >= 4
    again = gateway_cycle(keys, "%s:%d" % pump, db)              # files the pump's log
    assert again.returncode == 0, again.stderr
    connection = sqlite3.connect(str(db))
    try:
        since = connection.execute("SELECT type, data FROM log_records WHERE seq > ?",
                                   (filed,)).fetchall()
        events = [kind + ": " + detail for kind, detail in connection.execute(
            "SELECT kind, detail FROM security_events WHERE source = 'pump' AND seq > ?",
            (filed,))]
    finally:
        connection.close()
    assert not [t for t, _ in since if t in (L.EV_COMMAND, L.EV_CLOCK, L.EV_SERVICE)]
    refusals = [cbor.decode(data) for t, data in since if t == L.EV_REFUSAL]
    assert len(refusals) == len(inject) - 1 == len(events)
    assert sum(1 for e in events if e.startswith("refused oscore: RECORD-REPLAY")) == \
        sum(1 for m in messages if m.has(N.OSCORE))
    assert [e for e in events if e.startswith("refused edhoc: SESSION-UNKNOWN")]


# -- real processes on a PTY line: device --pty, relay --pty, gateway --port ------------------

def start_pty_device(keys):
    """`pumpsim device --pty`: (process, the path of its PTY)."""
    device = Process(PUMPSIM + ["device", "--identity", str(keys / "pump.key"), "--trust",
                                str(keys / "trust.cbor"), "--pty", "--speed", SPEED,
                                "--idle-exit", str(DEADLINE)])
    return device, device.expect(r" serving on PTY (\S+)$").group(1)


def start_pty_relay(pump_port, *flags):
    relay = Process(RELAY + ["relay", "--pty", "--pump-port", pump_port, "--seconds",
                             str(DEADLINE)] + list(flags))
    found = relay.expect(r"^relay on PTY (\S+) for the pump at %s$" % re.escape(pump_port))
    return relay, found.group(1)


@pytest.mark.skipif(not hasattr(os, "openpty") and not os.environ.get("CI"),
                    reason="needs POSIX PTYs")
def test_on_a_pty_line_a_cycle_passes_sealed_and_dropping_everything_takes_it_down(
        keys, tmp_path):
    capture = tmp_path / "line.pcapng"
    device, pump_port = start_pty_device(keys)
    try:
        relay, line = start_pty_relay(pump_port, "--capture", str(capture))
        try:
            run = gateway_cycle(keys, line, tmp_path / "g.db", link="--port")
        finally:
            printed = relay.stop()
        dropping, dropping_line = start_pty_relay(pump_port, "--drop", "1.0")
        try:
            down = gateway_cycle(keys, dropping_line, tmp_path / "g.db", timeout="2",
                                 link="--port")
        finally:
            dropped = dropping.stop()
    finally:
        device.stop()
    assert run.returncode == 0, run.stderr
    assert "cycle 1:" in run.stdout
    sent = int(re.search(r"gateways -> pump: (\d+) in, \1 out; pump -> gateways: \1$",
                         printed, re.M).group(1))
    assert "frames dropped" not in printed
    contents = pcapng.read_capture(capture)
    requests = [p.payload for p in contents.packets if not p.from_pump]
    assert len(requests) == sent == len(contents.packets) // 2 >= 4
    assert all(p.comment.startswith("serial relay %s -> %s" % (line, pump_port))
               for p in contents.packets)
    assert not [p for p in contents.packets if decode_plain(p.payload) is not None]
    messages = [M.decode(r) for r in requests]
    assert sum(1 for m in messages if m.has(N.OSCORE)) >= 3          # status, cgm, log
    assert all(is_edhoc(m) for m in messages if not m.has(N.OSCORE))  # the handshake only
    assert down.returncode == 4, down.stderr                     # --cycles ran out, failed
    assert "gateway: pump not answering" in down.stderr and "Traceback" not in down.stderr
    hits = int(re.search(r"drop p=1 \(0 s\.\.\): (\d+) hits?", dropped).group(1))
    assert hits >= 1 and re.search(r"gateways -> pump: %d in, 0 out" % hits, dropped)
