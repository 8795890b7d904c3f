"""A real run, captured and decrypted: `pumpsim serve --udp --capture --keylog`, our gateway
asks for the status, `pumpsim capture keys` exports the contexts, and tshark (no plug-in)
shows the EDHOC exchange at /.well-known/edhoc, then inside OSCORE the inner GET /status
and its 2.05 CBOR answer."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import real_tool

from secure_channel import cbor
from secure_channel.sessions.peer import PeerSession
from sim import capture, cli, keyfiles
from sim.coap_udp import UdpLink
from sim.gateway_client import Gateway

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
FIELDS = ["coap.code", "coap.token", "coap.opt.uri_path_recon", "coap.opt.ctype",
          "oscore.code", "oscore.opt.uri_path", "oscore.opt.ctype", "frame.comment",
          "coap.opt.object_security_kid"]


@pytest.fixture(scope="module")
def tshark():
    return real_tool("tshark")


def _serve_and_ask(tmp_path):
    keys = tmp_path / "keys"
    assert cli.main(["keys", "init", str(keys)]) == 0
    pcap, keylog = tmp_path / "run.pcapng", tmp_path / "run.keys"
    child = subprocess.Popen(
        PUMPSIM + ["serve", "--identity", str(keys / "pump.key"), "--trust",
                   str(keys / "trust.cbor"), "--udp", "127.0.0.1:0", "--capture", str(pcap),
                   "--keylog", str(keylog), "--idle-exit", "30"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("pump serving on coap://127.0.0.1:"), child.stderr.read()
        port = int(line.split(":")[2].split()[0])
        identity = keyfiles.load_identity(str(keys / "gateway.key"))
        peer = PeerSession(identity.credential, identity.private_key,
                           keyfiles.load_credential(str(keys / "pump.ccs")), os.urandom)
        gateway = Gateway(UdpLink(("127.0.0.1", port)), peer, timeout_s=20)
        status = gateway.client.request("status")
        gateway.link.close()
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert "capture written to %s (6 messages)" % pcap in out, out
    return pcap, keylog, status


def test_a_captured_run_decrypts_to_the_inner_get_status(tshark, tmp_path, capsys):
    pcap, keylog, status = _serve_and_ask(tmp_path)
    assert os.stat(keylog).st_mode & 0o777 == 0o600
    table = tmp_path / "oscore_contexts"
    assert cli.main(["capture", "keys", str(keylog), "--out", str(table),
                     "--pcap", str(pcap)]) == 0
    printed = capsys.readouterr().out
    assert "1 OSCORE context" in printed and "decrypt with: tshark -r" in printed
    assert os.stat(table).st_mode & 0o777 == 0o600
    config = tmp_path / "wireshark"
    config.mkdir()
    args = [tshark, "-n", "-r", str(pcap), *capture.tshark_args(str(table)), "-T", "fields",
            "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in FIELDS:
        args += ["-e", name]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(config)))
    assert result.returncode == 0, result.stderr
    packets = [dict(zip(FIELDS, line.split("\t"))) for line in result.stdout.splitlines()]
    assert len(packets) == 6, packets
    m1, m2, m3, m4, request, response = packets
    for edhoc in (m1, m3):
        assert edhoc["coap.code"] == "2" and edhoc["coap.opt.uri_path_recon"] == \
            "/.well-known/edhoc"
    # application/edhoc+cbor-seq (64): tshark 4.0 predates its registration
    assert m2["coap.code"] == "68" and m2["coap.opt.ctype"] in (
        "application/edhoc+cbor-seq", "Unknown Type 64")
    assert "peer -> pump" in m1["frame.comment"] and "pump -> peer" in m2["frame.comment"]
    # OSCORE: outer POST / 2.04, inner GET /status and its 2.05 CBOR answer, decrypted.
    assert request["coap.code"] == "2" and request["coap.opt.object_security_kid"]
    assert request["oscore.code"] == "1" and request["oscore.opt.uri_path"] == "status"
    assert response["coap.code"] == "68" and response["oscore.code"] == "69"
    assert response["oscore.opt.ctype"] == "application/cbor"
    assert status.name == "status" and status.fields["state"] == 3


def test_capture_keys_refuses_what_is_not_a_key_log(tmp_path, capsys):
    bad = tmp_path / "bad.keys"
    bad.write_bytes(cbor.encode({1: 2}))
    assert cli.main(["capture", "keys", str(bad), "--out", str(tmp_path / "t")]) == 2
    assert "not a key log" in capsys.readouterr().err
    empty = tmp_path / "empty.keys"
    empty.write_bytes(b"")
    assert cli.main(["capture", "keys", str(empty), "--out", str(tmp_path / "t")]) == 2
    assert "no OSCORE context" in capsys.readouterr().err
