"""Transports move bytes; framing does the rest. pyserial loop:// and socket://, a PTY pair
between two processes, and the in-memory pair, each carrying a framed round trip.

Waits below are deadlines for a peer that has died, not timing assertions.
"""

import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest

from secure_channel.link import framing
from secure_channel.link.framed import FramedLink
from secure_channel.link.memory import memory_pair
from sim.transport_pty import close_slave, open_pty
from sim.transport_serial import open_serial

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEADLINE = 20.0


def receive(link, count=1, deadline=DEADLINE):
    got = []
    end = time.monotonic() + deadline
    while len(got) < count and time.monotonic() < end:
        got += link.poll(timeout=0.05)
    return got


def test_pyserial_loopback_url():
    link = FramedLink(open_serial("loop://"))
    try:
        link.send(b"\x00hello\x00")
        link.transport.write(b"noise without a delimiter")
        link.send(b"after the noise")
        assert receive(link, 2) == [b"\x00hello\x00", b"after the noise"]
        assert link.deframer.dropped[framing.BAD_COBS] + \
            link.deframer.dropped[framing.BAD_CRC] == 1
    finally:
        link.close()


def test_pyserial_socket_url():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def echo():
        conn, _ = server.accept()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    link = FramedLink(open_serial("socket://127.0.0.1:%d" % port))
    try:
        payloads = [bytes(range(256)), b"", b"x" * 1024]
        for payload in payloads:
            link.send(payload)
        assert receive(link, 3) == payloads
    finally:
        link.close()
        thread.join(5)
        server.close()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")
def test_pty_pair_between_two_processes():
    master, path = open_pty()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, str(HERE / "pty_echo_child.py"), path], env=env,
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    link = FramedLink(master)
    try:
        assert receive(link) == [b"ready"], "child did not start"
        payloads = [b"telemetry", bytes(range(256)) * 2, b"\x00\x00\x00"]
        for payload in payloads:
            link.send(payload)
        assert receive(link, 3) == [b"echo:" + p for p in payloads]
        master.write(b"\x13\x11garbage\x00" + b"\x01" * 3000)   # noise, then an over-long frame
        link.send(b"stats")
        assert receive(link) == [b"stats:bad_cobs=1,bad_crc=0,too_long=1,too_short=0"]
        link.send(b"quit")
        assert child.wait(DEADLINE) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        close_slave(master)
        master.close()
        child.stderr.close()


def test_memory_pair_carries_frames_in_any_chunking():
    a, b = memory_pair()
    sender, receiver = FramedLink(a), FramedLink(b)
    for i in range(20):
        sender.send(bytes([i]) * i)
    got = []
    while True:
        data = b.read(7)
        if not data:
            break
        got += receiver.deframer.feed(data)
    assert got == [bytes([i]) * i for i in range(20)]
