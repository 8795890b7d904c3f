"""CoAP over UDP on the host: the firmware's sans-IO message layer on a real socket.

``UdpCoapServer`` puts a ``ServerLayer`` on a UDP socket and serves it from a thread
(loopback by default); ``UdpCoapClient`` drives a ``ClientLayer`` over a socket and blocks
for one answer. Both are thin: reliability, de-duplication and matching are the layer's.
"""

import os
import select
import socket
import threading
import time

from secure_channel.coap import client as coap_client, layer as coap_layer

MAX_DATAGRAM = 1500


def now_ms():
    return int(time.monotonic() * 1000)


class UdpCoapServer:
    def __init__(self, handler, host="127.0.0.1", port=0, rng=os.urandom):
        self.layer = coap_layer.ServerLayer(handler, rng)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.address = self.sock.getsockname()
        self._stop = threading.Event()
        self._thread = None
        self.lock = threading.Lock()       # handlers may share state with the test/CLI

    def _send(self, out):
        for data, address in out:
            self.sock.sendto(data, address)

    def serve_once(self, timeout_s=0.05):
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        with self.lock:
            if ready:
                data, address = self.sock.recvfrom(MAX_DATAGRAM)
                self._send(self.layer.receive(data, address, now_ms()))
            self._send(self.layer.tick(now_ms()))

    def start(self):
        def loop():
            while not self._stop.is_set():
                self.serve_once()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def respond_later(self, token, address, response):
        with self.lock:
            self._send(self.layer.respond_later(token, address, response, now_ms()))

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.sock.close()


class UdpCoapClient:
    def __init__(self, server_address, rng=os.urandom):
        self.layer = coap_client.ClientLayer(rng)
        self.server = server_address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def request(self, message, timeout_s=30.0, confirmable=True):
        """Send a request and wait for its response (a ``Message``), or TimeoutError."""
        token, out = self.layer.request(message, self.server, now_ms(), confirmable)
        for data, address in out:
            self.sock.sendto(data, address)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if ready:
                data, address = self.sock.recvfrom(MAX_DATAGRAM)
                for reply, to in self.layer.receive(data, address, now_ms()):
                    self.sock.sendto(reply, to)
            for data, address in self.layer.tick(now_ms()):
                self.sock.sendto(data, address)
            for index, (got, answer) in enumerate(self.layer.events):
                if got == token:
                    del self.layer.events[index]
                    if answer == coap_client.ClientLayer.TIMEOUT:
                        raise TimeoutError("no answer from %s:%d" % self.server)
                    return answer
        raise TimeoutError("no answer from %s:%d within %g s" % (self.server + (timeout_s,)))

    def close(self):
        self.sock.close()


class UdpLink:
    """The ``FramedLink`` interface (send / poll / close) over UDP to one CoAP server: one
    payload, one datagram. Lets the gateway client talk to a pump (or any EDHOC + OSCORE
    server, e.g. aiocoap's) on ``coap://HOST:PORT``."""

    def __init__(self, server_address, bind=("127.0.0.1", 0)):
        self.server = server_address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)

    def send(self, payload):
        self.sock.sendto(bytes(payload), self.server)
        return len(payload)

    def poll(self, timeout=0):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        out = []
        while ready:
            data, address = self.sock.recvfrom(MAX_DATAGRAM)
            if address[:2] == tuple(self.server[:2]):
                out.append(data)
            ready, _, _ = select.select([self.sock], [], [], 0)
        return out

    def close(self):
        self.sock.close()
