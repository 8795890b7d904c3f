"""A pump with its secure channel on a byte transport (host side): for `pumpsim serve`,
tests and benchmarks.

``PumpNode`` wires the unmodified firmware together: ``pump.Pump`` on in-memory hardware,
the ``Dispatcher`` (audit: the pump's own log), and the ``SessionManager`` holding the
pump's identity and trust list. Time is the pump's monotonic tick: ``advance_to`` runs
the pump's main loop up to a tick (virtual time in tests), ``serve`` follows the host's
monotonic clock (real time, for two processes over a PTY pair, a serial port or TCP).
A CGM reading is stored every 5 minutes so telemetry has one to report.
"""

import os
import select
import socket
import time

from bootloader.flash import NorFlash
from pump import main_loop
from pump.hal import MemoryHardware
from pump.pump import Pump
from secure_channel.sessions import manager as sessions
from secure_channel.protocol.dispatch import Dispatcher, verified_log_reader
from secure_channel.protocol.telemetry import CgmBuffer

LOG_KEY = b"pumpsim serve: audit-log MAC key (simulation only)"
CGM_PERIOD_MS = 5 * 60 * 1000
SECTOR = 4096


class ServedNode:
    """What ``serve`` drives: ``now()`` and ``advance_to(ticks)`` in the node's time, the
    session layer's clock ``session_now()`` and its ``manager``."""

    def session_now(self):
        return self.now()

    def feed(self, data):
        """Bytes from the link in, bytes to write back out (at the current tick)."""
        return self.manager.feed(data, self.session_now())

    def step(self, transport, timeout=0):
        """Read what ``transport`` has (waiting up to ``timeout`` s), answer it."""
        if isinstance(transport, UdpEndpoint):
            return transport.step(self, timeout)
        data = transport.read(4096, timeout)
        if data:
            out = self.feed(data)
            if out:
                transport.write(out)
        return bool(data)


class PumpNode(ServedNode):
    """Pump + dispatcher + session manager, driven by ``feed`` and ``advance_to``."""

    def __init__(self, private_key, credential, trust, hw=None, flash=None, rng=os.urandom,
                 basal_mu_h=1000, start=True, log_key=LOG_KEY, remote_bolus=False,
                 **manager_options):
        self.hw = hw or MemoryHardware()
        self.flash = flash or NorFlash(16 * SECTOR, SECTOR)
        self.log_key = log_key
        self.pump = Pump(self.hw, self.flash, log_key)
        if basal_mu_h is not None:
            self.pump.set_basal_program([basal_mu_h] * 48)
        if start:
            self.pump.start()
        self.cgm = CgmBuffer()
        self._next_cgm = self.now()
        self._feed_cgm(self.now())
        self.dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal, cgm=self.cgm,
                                     log_reader=verified_log_reader(self.flash, log_key,
                                                                     self.pump.log_head),
                                     remote_bolus=remote_bolus)
        self.manager = sessions.SessionManager(credential, private_key, trust,
                                               self.dispatcher, rng, **manager_options)

    def now(self):
        return self.hw.clock.ticks_ms()

    def _feed_cgm(self, now):
        while self._next_cgm <= now:
            self.cgm.add(self._next_cgm, 110, 0)
            self._next_cgm += CGM_PERIOD_MS

    def advance_to(self, ticks):
        """Run the pump's main loop up to ``ticks``, then the channel's timers."""
        now = self.now()
        if ticks > now:
            main_loop.run_for(self.pump, self.hw.clock, ticks - now)
        else:
            self.pump.tick()
        now = self.now()
        self._feed_cgm(now)
        self.dispatcher.tick(now)
        self.manager.tick(now)


def serve(node, transport, seconds=None, idle_exit=None, stop=None, clock=time.monotonic,
          speed=1.0):
    """Serve in real time (``speed`` times faster) until ``seconds`` pass, ``idle_exit`` s
    pass without input, or ``stop()`` turns true. The node's time follows ``clock``."""
    start = clock()
    base = node.now()
    last_input = start
    while True:
        now_s = clock()
        node.advance_to(base + int((now_s - start) * 1000 * speed))
        if node.step(transport, 0.02):
            last_input = clock()
        if stop is not None and stop():
            return "stopped"
        if seconds is not None and clock() - start >= seconds:
            return "time"
        if idle_exit is not None and clock() - last_input >= idle_exit:
            return "idle"


class UdpEndpoint:
    """CoAP over UDP (RFC 7252 §3): one datagram is one CoAP message, no framing; each
    peer address is its own endpoint to the pump's message layer."""

    MAX_DATAGRAM = 1500

    def __init__(self, host="127.0.0.1", port=5683, capture=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.address = self.sock.getsockname()[:2]
        self.capture = capture

    def step(self, node, timeout=0):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        data, address = self.sock.recvfrom(self.MAX_DATAGRAM)
        if self.capture is not None:
            self.capture.record(data, from_pump=False)
        for reply in node.manager.receive(data, node.session_now(), address):
            if self.capture is not None:
                self.capture.record(reply, from_pump=True)
            self.sock.sendto(reply, address)
        return True

    def close(self):
        self.sock.close()


class TcpServerTransport:
    """Bytes over one TCP connection at a time, accepted on ``(host, port)``.

    The peer connects with pyserial's ``socket://host:port`` URL (``transport_serial``),
    as it would to a board behind a serial-to-TCP bridge. Writes with no peer connected
    are dropped (the link is down); a new connection starts a new byte stream.
    """

    def __init__(self, host="127.0.0.1", port=0):
        self.server = socket.create_server((host, port))
        self.address = self.server.getsockname()[:2]
        self.conn = None

    def read(self, max_bytes=4096, timeout=0):
        if self.conn is None:
            ready, _, _ = select.select([self.server], [], [], timeout)
            if ready:
                self.conn, _ = self.server.accept()
                self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return b""
        ready, _, _ = select.select([self.conn], [], [], timeout)
        if not ready:
            return b""
        try:
            data = self.conn.recv(max_bytes)
        except OSError:
            data = b""
        if not data:
            self.conn.close()
            self.conn = None
        return data

    def write(self, data):
        if self.conn is None:
            return len(data)
        try:
            self.conn.sendall(bytes(data))
        except OSError:
            self.conn.close()
            self.conn = None
        return len(data)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.server.close()
