"""The gateway's side of the pump link (host side): its own session, and relayed ones.

``Gateway`` owns the link to the pump (a ``FramedLink`` over a PTY, serial port, TCP or
memory) and one ``peer.PeerSession`` of its own. Other peers (a clinician's app, a
service tool) reach the pump through it: the gateway forwards their envelopes
(``relay``) and hands the pump's answers back to whoever they are addressed to, routing
on connection identifiers alone (``Router``). It never holds a key of a relayed session:
the clinician's EDHOC handshake and OSCORE requests run end to end with the pump, so the
gateway can read none of it, and whatever it changes the pump refuses and logs.

``SessionClient`` drives one ``PeerSession`` to completion with blocking waits: connect,
request (key update first when the keys' budget runs low, a new handshake when the pump
says the session is gone), key update. ``Gateway.client`` is the gateway's own;
``Gateway.relayed_client(endpoint, peer)`` is a relayed peer's, for tests and demos in
one process (in the field that peer runs on its own device).

``Gateway.tamper`` (None in normal use) lets tests play a dishonest relay: a callable
``tamper(endpoint, payload) -> [payloads]`` that may change, drop, repeat or hold back
what a relayed peer sent.
"""

import socket
import time

from secure_channel import edhoc_messages as msgs
from secure_channel import oscore, peer as P, protocol
from secure_channel import session_wire as W
from secure_channel.errors import EDHOC_PEER, RECORD_KEY_UPDATE, RecordError
from secure_channel.refusal_log import name_of

SELF = "self"
TIMEOUT_S = 5.0
RECONNECT = (W.SESSION_UNKNOWN, RECORD_KEY_UPDATE)   # the session is gone: a new handshake


class GatewayError(Exception):
    """A request that did not get an answer, or was refused; one line."""

    def __init__(self, message, code=None, retry_ms=0):
        super().__init__(message)
        self.code = code
        self.retry_ms = retry_ms


class Router:
    """Which endpoint behind the gateway a connection identifier belongs to.

    Learned from what the endpoints send: C_I from message_1 (for message_2 and handshake
    errors), C_R from message_3 and from the kid of requests (for responses). An endpoint
    may not use an identifier another endpoint holds.
    """

    def __init__(self):
        self.by_c_i = {}
        self.by_c_r = {}
        self.refused = 0

    def c_i_in_use(self, but=None):
        return [c_i for c_i in self.by_c_i if self.by_c_i[c_i] != but]

    def upstream(self, endpoint, payload):
        """Check and learn from a payload an endpoint sends; returns it, or None (refused)."""
        try:
            envelope = W.decode(payload)
            if envelope.kind == W.EDHOC_1:
                c_i = msgs.decode_message_1(envelope.body)[3]
                if self.by_c_i.get(c_i, endpoint) != endpoint:
                    raise ValueError("C_I in use by another endpoint")
                self.by_c_i[c_i] = endpoint
            elif envelope.kind == W.EDHOC_3:
                self.by_c_r[envelope.cid] = endpoint
            elif envelope.kind == W.REQUEST:
                kid = oscore.decompress(oscore.split(envelope.body)[0])[1]
                if kid is None or self.by_c_r.get(kid) != endpoint:
                    raise ValueError("request on a session the endpoint does not hold")
            else:
                raise ValueError("not a peer-to-pump envelope")
        except ValueError:
            self.refused += 1
            return None
        return payload

    def downstream(self, payload):
        """The endpoint a payload from the pump is for, or None."""
        try:
            envelope = W.decode(payload)
        except W.WireError:
            return None
        table = self.by_c_i if envelope.kind in W.BY_C_I else self.by_c_r
        return table.get(envelope.cid)


class Gateway:
    def __init__(self, link, peer, now_ms=None, idle=None, timeout_s=TIMEOUT_S):
        self.link = link
        self.router = Router()
        self.now_ms = now_ms or (lambda: int(time.monotonic() * 1000))
        self.idle = idle                # called while waiting: runs an in-process pump
        self.timeout_s = timeout_s
        self.endpoints = {}             # endpoint -> deliver(payload)
        self.unroutable = 0
        self.tamper = None
        self._inbox = []
        self.endpoints[SELF] = self._inbox.append
        self.client = SessionClient(peer, self._send_own, self._inbox, self)

    def _send_own(self, payload):
        if self.router.upstream(SELF, payload) is None:
            raise GatewayError("own payload refused by the router")
        self.link.send(payload)

    def relay(self, endpoint, payload):
        """Forward what a relayed endpoint sent; returns False if the router refused it."""
        if self.router.upstream(endpoint, payload) is None:
            return False
        payloads = [payload] if self.tamper is None else self.tamper(endpoint, payload)
        for item in payloads:           # a dishonest relay sends whatever it likes
            self.link.send(item)
        return True

    def send_raw(self, payload):
        """Put any payload on the link, unchecked (tests of a dishonest gateway)."""
        self.link.send(payload)

    def attach(self, endpoint, deliver):
        self.endpoints[endpoint] = deliver

    def relayed_client(self, endpoint, peer):
        """A SessionClient for ``peer`` whose traffic goes through this gateway's relay."""
        inbox = []
        self.attach(endpoint, inbox.append)
        return SessionClient(peer, lambda payload: self.relay(endpoint, payload), inbox, self)

    def turn(self, timeout=0.02):
        """Let I/O happen once: run an in-process pump, read the link, route what came."""
        if self.idle is not None:
            self.idle()
            timeout = 0
        for payload in self.link.poll(timeout):
            deliver = self.endpoints.get(self.router.downstream(payload))
            if deliver is None:
                self.unroutable += 1
            else:
                deliver(payload)


# Requests that change nothing in the pump: safe to send again after a lost session.
READ_ONLY = frozenset(("status", "telemetry", "cgm_history", "delivery_records", "alarms",
                       "read_log", "confirm_status"))


class SessionClient:
    """Blocking driver of one PeerSession (see the module docstring)."""

    def __init__(self, peer, send, inbox, gateway):
        self.peer = peer
        self._send = send
        self._inbox = inbox
        self.gateway = gateway
        self.msg_id = 0
        self.events = []               # every event seen, for tests and reports

    def _drain(self):
        """Take in what arrived while no request was outstanding: late, stale answers."""
        while self._inbox:
            event, reply = self.peer.receive(self._inbox.pop(0), self.gateway.now_ms())
            self.events.append(event)
            if reply is not None:
                self._send(reply)

    def _wait(self, kinds):
        deadline = time.monotonic() + self.gateway.timeout_s
        while True:
            while self._inbox:
                event, reply = self.peer.receive(self._inbox.pop(0), self.gateway.now_ms())
                self.events.append(event)
                if reply is not None:
                    self._send(reply)
                if event.kind in kinds:
                    return event
            if time.monotonic() > deadline:
                raise GatewayError("no answer from the pump within %g s"
                                   % self.gateway.timeout_s)
            self.gateway.turn()

    def connect(self):
        """Run a handshake; returns once message_3 is sent (the first answer confirms it)."""
        avoid = self.gateway.router.c_i_in_use()
        self._inbox[:] = []
        self._send(self.peer.connect(avoid))
        event = self._wait((P.ESTABLISHED, P.REFUSED))
        if event.kind == P.REFUSED:
            raise GatewayError("handshake refused: %s" % _refusal(event), event.code,
                               event.retry_ms)

    def key_update(self):
        now = self.gateway.now_ms()
        self._send(self.peer.key_update(now))
        event = self._wait((P.KEY_UPDATED, P.REFUSED))
        if event.kind == P.REFUSED:
            raise GatewayError("key update refused: %s" % name_of(event.code), event.code,
                               event.retry_ms)

    def request_bytes(self, data):
        """Send one protected request; returns the response plaintext."""
        if not self.peer.ready:
            self.connect()
        if self.peer.needs_key_update(self.gateway.now_ms()):
            try:
                self.key_update()
            except RecordError as exc:       # too late to rekey: the keys are used up
                if exc.code != RECORD_KEY_UPDATE:
                    raise
                self.connect()
        self._drain()
        try:
            payload = self.peer.request(data, self.gateway.now_ms())
        except RecordError as exc:
            if exc.code != RECORD_KEY_UPDATE:
                raise
            self.connect()
            payload = self.peer.request(data, self.gateway.now_ms())
        self._send(payload)
        event = self._wait((P.RESPONSE, P.REFUSED))
        if event.kind == P.REFUSED:
            raise GatewayError("request refused: %s" % _refusal(event), event.code,
                               event.retry_ms)
        return event.value

    def request(self, name, fields=None, reconnect=True):
        """One pump-protocol request; returns the decoded response (``protocol.Parsed``).

        A notice that the session is gone (pump restarted, keys ran out, handshake
        refused) triggers one new handshake when ``reconnect``, and a retry only of a
        request that is safe to send twice: one that reads, or one with a ``cmd_id`` the
        pump de-duplicates. A notice is unauthenticated, so anyone on the wire can forge
        one after the command has run; such a command is never sent again.
        """
        self.msg_id = (self.msg_id + 1) & 0xFFFF
        fields = fields or {}
        data = protocol.encode_request(name, self.msg_id, fields)
        try:
            plaintext = self.request_bytes(data)
        except GatewayError as exc:
            if not reconnect or self.peer.ready or exc.code not in RECONNECT:
                raise
            self.connect()
            if name not in READ_ONLY and "cmd_id" not in fields:
                raise GatewayError("session lost after sending %s: not sent again, it may "
                                   "have run; read the status or the log" % name, exc.code)
            plaintext = self.request_bytes(data)
        return protocol.decode_response(plaintext)


def tcp_nodelay(transport):
    """Send small frames at once on a pyserial ``socket://`` port (no Nagle delay): a
    request right behind message_3 must not wait for the pump's delayed ACK."""
    sock = getattr(getattr(transport, "port", None), "_socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    return transport


def _refusal(event):
    """One line for a refusal event: its name, what it means, when to retry."""
    text = name_of(event.code)
    if event.code == EDHOC_PEER:
        text += " (the pump refused the handshake: is this credential in its trust list?)"
    if event.retry_ms:
        text += " (retry in %d ms)" % event.retry_ms
    return text
