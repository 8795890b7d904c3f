"""Pump and gateway as two processes: `pumpsim serve` in a child process, the gateway here,
over a PTY pair (either side creating it) and over TCP through pyserial's socket:// URL.
Each completes an EDHOC handshake and a protected status request.

Waits below are deadlines for a peer that has died, not timing assertions.
"""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from secure_channel.link.framed import FramedLink
from secure_channel.sessions.peer import PeerSession
from sim.transport_pty import close_slave, open_pty
from sim.transport_serial import open_serial
from sim import cli, keyfiles
from sim.gateway_client import Gateway, tcp_nodelay

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
DEADLINE = 20.0
posix_only = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX PTYs")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    assert cli.main(["keys", "init", str(directory)]) == 0
    return directory


class Child:
    """`pumpsim serve` in a child process; ``where`` is the first line it prints."""

    def __init__(self, keys, *where):
        self.process = subprocess.Popen(
            PUMPSIM + ["serve", "--identity", str(keys / "pump.key"), "--trust",
                       str(keys / "trust.cbor"), "--idle-exit", str(DEADLINE)] + list(where),
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("pump serving on "), line + self.process.stderr.read()
        self.where = line.strip()[len("pump serving on "):]

    def stop(self):
        """SIGTERM; returns the summary the pump prints on its way out."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=DEADLINE)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        assert self.process.returncode == 0, err
        return out


def gateway_over(transport, keys):
    identity = keyfiles.load_identity(str(keys / "gateway.key"))
    peer = PeerSession(identity.credential, identity.private_key,
                       keyfiles.load_credential(str(keys / "pump.ccs")), os.urandom)
    return Gateway(FramedLink(transport), peer, timeout_s=DEADLINE)


@posix_only
def test_serve_on_its_own_pty_and_a_gateway_process_here(keys):
    child = Child(keys, "--pty")
    try:
        assert child.where.startswith("PTY ")
        gateway = gateway_over(open_serial(child.where[4:]), keys)
        try:
            answer = gateway.client.request("status")
            assert answer.name == "status" and answer.fields["state"] == 3
            assert gateway.client.request("telemetry").fields["cgm"][0] == 110
        finally:
            gateway.link.close()
        # A second peer process on the same PTY: the `pumpsim gateway` command itself,
        # as the clinician.
        result = subprocess.run(
            PUMPSIM + ["gateway", "--port", child.where[4:], "--identity",
                       str(keys / "clinician.key"), "--pump", str(keys / "pump.ccs"),
                       "status"], cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("status: ") and "state=delivering" in result.stdout
    finally:
        summary = child.stop()
    assert "sessions established 2, requests 3" in summary
    assert "channel refused: none" in summary and "audit log verified" in summary


@posix_only
def test_gateway_creates_the_pty_and_the_pump_opens_it(keys):
    master, path = open_pty()
    child = None
    try:
        child = Child(keys, "--port", path)      # it prints once the port is open
        close_slave(master)
        gateway = gateway_over(master, keys)
        assert gateway.client.request("status").name == "status"
    finally:
        if child is not None:
            summary = child.stop()
            assert "sessions established 1, requests 1" in summary
        close_slave(master)
        master.close()


def test_serve_on_tcp_and_a_gateway_through_a_pyserial_socket_url(keys):
    child = Child(keys, "--listen", "127.0.0.1:0")
    try:
        host, port = child.where.rsplit(":", 1)
        gateway = gateway_over(tcp_nodelay(open_serial("socket://%s:%s" % (host, port))), keys)
        try:
            assert gateway.client.request("status").name == "status"
            gateway.client.key_update()
            assert gateway.client.request("status").name == "status"
        finally:
            gateway.link.close()
    finally:
        summary = child.stop()
    assert "sessions established 1, requests 3, key updates 1" in summary


def test_ctrl_c_stops_serve_with_its_summary_and_the_same_status_as_gateway(keys):
    child = Child(keys, "--listen", "127.0.0.1:0")
    child.process.send_signal(signal.SIGINT)
    out, err = child.process.communicate(timeout=DEADLINE)
    assert child.process.returncode == 130, err
    assert "stopped (interrupted)" in out and "audit log verified" in out
