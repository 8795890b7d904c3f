"""The gateway as a CoAP forward proxy (RFC 7252 §5.7, RFC 8613 §10): any CoAP client on
the home network reaches the pump behind the gateway, end to end.

A clinician's app (aiocoap, say) sends its requests to the gateway's UDP port with
``Proxy-Scheme: coap`` and ``Uri-Host: <pump name>``; its EDHOC handshake and OSCORE
requests cross the gateway untouched. The proxy takes the two proxy options off (they
are class U: outside OSCORE's protection, meant for proxies), gives the request the
gateway's own Message ID and token on the pump link (``gateway_client.Router``: hop by
hop, as CoAP intends) and returns the pump's answer to the client with the client's own.
It sees only outer options and ciphertext; it holds no key of the session, so it can
read and forge nothing: whatever it changes, the pump refuses and logs.

A request with ``Uri-Host: <pump name>`` and no Proxy-Scheme is taken too: the gateway
then acts as the pump's reverse proxy (§5.7.3), which is what a client sends when its
OSCORE layer keeps Uri-Host outside but encrypts or drops Proxy-Scheme (aiocoap 0.4
does).

Refused here: a request for another origin than the pump (5.05 Proxying Not Supported),
a Proxy-Uri (5.05: OSCORE needs the decomposed form, RFC 8613 §4.1.3.3), a request for
the gateway itself (4.04), and anything the router refuses (4.00). Host-only.
"""

import os
import select
import socket
import time

from secure_channel.coap import message as M, numbers as N

MAX_DATAGRAM = 1500


class ForwardProxy:
    """UDP on ``listen``; forwards to the pump through ``gateway`` (a ``Gateway`` whose
    link reaches the pump); ``pump_host`` is the Uri-Host the pump answers to.

    Each source address is a client; the ``MAX_CLIENTS`` that sent last are kept (anyone
    on the home network can use a new address per datagram), an older one is forgotten
    with what the gateway routes for it."""

    MAX_CLIENTS = 32

    def __init__(self, gateway, listen=("127.0.0.1", 0), pump_host="pump", rng=os.urandom):
        self.gateway = gateway
        self.pump_host = pump_host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(listen)
        self.address = self.sock.getsockname()[:2]
        self.rng = rng
        self.counts = {"forwarded": 0, "answered": 0, "refused": 0}
        self._clients = []             # endpoint names, the one that sent last at the end

    def _endpoint(self, address):
        name = "udp %s:%d" % address[:2]
        if name in self._clients:
            self._clients.remove(name)
        else:
            def deliver(data, address=address):
                self.counts["answered"] += 1
                self.sock.sendto(data, address)
            self.gateway.attach(name, deliver)
        self._clients.append(name)
        while len(self._clients) > self.MAX_CLIENTS:
            self.gateway.detach(self._clients.pop(0))
        return name

    def _refuse(self, request, code, why):
        self.counts["refused"] += 1
        answer = M.Message(N.ACK if request.mtype == N.CON else N.NON, code,
                           request.mid if request.mtype == N.CON else
                           int.from_bytes(self.rng(2), "big"), request.token,
                           payload=why.encode())
        return M.encode(answer)

    def handle(self, data, address):
        """One datagram from a client: forwarded, or answered at once (a refusal)."""
        try:
            request = M.decode(data)
        except M.CoapFormatError:
            return None
        if request.code == N.EMPTY or not N.is_request(request.code):
            return None                       # ACK/RST/pings/responses: nothing to relay
        if request.has(N.PROXY_URI):
            return self._refuse(request, N.PROXYING_NOT_SUPPORTED,
                                "use Proxy-Scheme and Uri-Host (OSCORE needs them apart)")
        scheme = request.first(N.PROXY_SCHEME)
        host = request.first(N.URI_HOST, b"")
        if scheme is None and host != self.pump_host.encode():
            return self._refuse(request, N.NOT_FOUND, "this is a proxy: address the pump "
                                "with Proxy-Scheme coap and Uri-Host %s" % self.pump_host)
        if scheme not in (None, b"coap") or host != self.pump_host.encode():
            return self._refuse(request, N.PROXYING_NOT_SUPPORTED,
                                "this gateway reaches only coap://%s" % self.pump_host)
        for number in (N.PROXY_SCHEME, N.URI_HOST, N.URI_PORT):
            request.remove(number)
        if not self.gateway.relay(self._endpoint(address), M.encode(request)):
            return self._refuse(request, N.BAD_REQUEST, "the pump takes only EDHOC and "
                                "OSCORE: give the client credentials (pumpsim keys "
                                "aiocoap-credentials)")
        self.counts["forwarded"] += 1
        return None

    def serve_once(self, timeout=0.02):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if ready:
            data, address = self.sock.recvfrom(MAX_DATAGRAM)
            answer = self.handle(data, address)
            if answer is not None:
                self.sock.sendto(answer, address)
        self.gateway.turn(0)

    def serve(self, stop, seconds=None):
        start = time.monotonic()
        while not stop() and (seconds is None or time.monotonic() - start < seconds):
            self.serve_once()

    def close(self):
        self.sock.close()
