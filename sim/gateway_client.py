"""The gateway's side of the pump link (host side): its own session, and relayed ones.

``Gateway`` owns the link to the pump (a ``FramedLink`` over a PTY, serial port, TCP or
memory) and one ``peer.PeerSession`` of its own. Other peers (a clinician's app, a
service tool) reach the pump through it: the gateway forwards their CoAP requests
(``relay``) and hands the pump's answers back to whoever they belong to, as a CoAP
intermediary routing on tokens (``Router``). It never holds a key of a relayed session:
the clinician's EDHOC handshake and OSCORE requests run end to end with the pump, so the
gateway can read none of it, and whatever it changes the pump refuses and logs.

``SessionClient`` drives one ``PeerSession`` to completion with blocking waits: connect,
request (key update first when the keys' budget runs low, a new handshake when the pump
says the session is gone, and, within ``patience_s``, waiting out the retry time of a busy
or backing-off pump), key update. ``Gateway.client`` is the gateway's own;
``Gateway.relayed_client(endpoint, peer)`` is a relayed peer's, for tests and demos in
one process (in the field that peer runs on its own device).

``Gateway.tamper`` (None in normal use) lets tests play a dishonest relay: a callable
``tamper(endpoint, payload) -> [payloads]`` that may change, drop, repeat or hold back
what a relayed peer sent.
"""

import os
import socket
import time

from secure_channel.edhoc import messages as msgs
from secure_channel.sessions import peer as P
from secure_channel.protocol import requester
from secure_channel.sessions import wire as W
from secure_channel.coap import layer, message as M, numbers as N, protect
from secure_channel.errors import EDHOC_PEER, RECORD_KEY_UPDATE, RecordError
from secure_channel.sessions.refusal_log import name_of

SELF = "self"
TIMEOUT_S = 5.0
RECONNECT = (W.SESSION_UNKNOWN, RECORD_KEY_UPDATE)   # the session is gone: a new handshake
ALREADY_RAN = "already-ran"     # GatewayError.code: a repeated command had run the first time


# What a GatewayError is about: the step that was refused or went unanswered.
HANDSHAKE = "handshake"
KEY_UPDATE = "key-update"
REQUEST = "request"


class GatewayError(Exception):
    """A request that did not get an answer, or was refused; one line.

    ``code``: the refusal code (None when nothing came back); ``retry_ms``: the wait the
    pump announced (an unprotected 5.03 with Max-Age: SESSION-BACKOFF, SESSION-BUSY);
    ``stage``: HANDSHAKE, KEY_UPDATE or REQUEST, the step it ended; ``no_answer``: true
    when the pump did not answer in time (a dead link, a pump that is not there).
    """

    def __init__(self, message, code=None, retry_ms=0, stage=None, no_answer=False):
        super().__init__(message)
        self.code = code
        self.retry_ms = retry_ms
        self.stage = stage
        self.no_answer = no_answer


class Router:
    """The gateway as a CoAP intermediary on the pump link (RFC 7252 §5.7): which endpoint
    behind it each answer from the pump belongs to.

    Every request an endpoint sends gets the gateway's own Message ID and token on the
    pump link (tokens and Message IDs are hop by hop; OSCORE protects neither), so two
    endpoints can never collide there, and the answer is handed back with the endpoint's
    own. A retransmission (same endpoint, same Message ID) keeps its Message ID on the
    link, so the pump de-duplicates it and a command runs once. An endpoint may send
    OSCORE requests only on sessions it set up itself: a C_R becomes the endpoint's when
    the pump accepts its message_3 (a success answer to it), whoever held it before (the
    pump gives out only identifiers of no live session, so an earlier claim is stale). A
    message_3 the pump refuses gives its sender nothing, so junk cannot hold a C_R back
    from anyone. A C_I is the initiator's own choice and no conflict when two share it
    (the pump tells sessions apart by C_R): a client that knows nothing of the others
    (aiocoap) picks the gateway's one time in 48. The gateway needs no key for any of
    this.
    """

    MAX_EXCHANGES = 256

    def __init__(self):
        self.by_c_r = {}               # C_R -> the endpoint whose message_3 the pump took
        self.refused = 0
        self._next_mid = int.from_bytes(os.urandom(2), "big")
        self._hops = {}                # (endpoint, mid) -> (link mid, link token, request)
        self._tokens = {}              # link token -> (endpoint, token, mid, message_3 C_R)
        self._order = []

    def release(self, endpoint):
        """Forget the C_Rs ``endpoint`` holds (it is gone, or starting over)."""
        for cid in [cid for cid, owner in self.by_c_r.items() if owner == endpoint]:
            del self.by_c_r[cid]

    def upstream(self, endpoint, payload):
        """Check a request an endpoint sends; returns the bytes to put on the pump link,
        or None (refused)."""
        try:
            message = M.decode(payload)
            if not N.is_request(message.code):
                raise ValueError("not a request")
            message_3 = None
            if message.has(N.OSCORE):
                kid = protect.request_header(message)[1]
                if message.has(N.EDHOC) and kid is not None:
                    message_3 = kid            # EDHOC + OSCORE (RFC 9668)
                elif kid is None or self.by_c_r.get(kid) != endpoint:
                    raise ValueError("request on a session the endpoint does not hold")
            elif message.path == W.EDHOC_PATH:
                c_r, body = W.split_edhoc_payload(message.payload)
                if c_r is None:
                    msgs.decode_message_1(body)
                elif not msgs.is_error_message(body):   # an error ends, earns nothing
                    message_3 = c_r
            else:
                raise ValueError("not a request for the pump's channel")
        except (ValueError, RecordError):
            self.refused += 1
            return None
        return M.encode(self._outbound(endpoint, message, message_3, payload))

    def _outbound(self, endpoint, message, message_3, payload):
        key = (endpoint, message.mid)
        hop = self._hops.get(key)
        if hop is not None and hop[2] != payload:
            # the Message ID again with other bytes: a new exchange, never the old route
            self._tokens.pop(self._hops.pop(key)[1], None)
            self._order.remove(key)
            hop = None
        if hop is None:                   # a new exchange; a retransmission keeps its hop
            token = os.urandom(4)         # unguessable: answers cannot be misrouted
            while token in self._tokens:
                token = os.urandom(4)
            hop = self._hops[key] = (self._next_mid, token, payload)
            self._next_mid = (self._next_mid + 1) & 0xFFFF
            self._tokens[token] = (endpoint, message.token, message.mid, message_3)
            self._order.append(key)
            while len(self._order) > self.MAX_EXCHANGES:
                old_token = self._hops.pop(self._order.pop(0))[1]
                self._tokens.pop(old_token, None)
        mid, token, _ = hop
        message.mid = mid
        message.token = token
        return message

    def downstream(self, payload):
        """(endpoint, the answer as that endpoint must see it) for a message from the
        pump, or (None, None)."""
        try:
            message = M.decode(payload)
        except M.CoapFormatError:
            return None, None
        route = self._tokens.get(message.token) if message.code != N.EMPTY else None
        if route is None:
            return None, None
        endpoint, token, mid, message_3 = route
        if message_3 is not None and message.code >> 5 == 2:
            self.by_c_r[message_3] = endpoint         # the pump took its message_3
        message.token = token
        if message.mtype == N.ACK:
            message.mid = mid
        return endpoint, M.encode(message)


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
        self.client = SessionClient(peer, self._send_own, self._inbox, self, SELF)

    def _send_own(self, payload):
        data = self.router.upstream(SELF, payload)
        if data is None:
            raise GatewayError("own message refused by the router")
        self.link.send(data)

    def relay(self, endpoint, payload):
        """Forward what a relayed endpoint sent; returns False if the router refused it."""
        data = self.router.upstream(endpoint, payload)
        if data is None:
            return False
        payloads = [data] if self.tamper is None else self.tamper(endpoint, data)
        for item in payloads:           # a dishonest relay sends whatever it likes
            self.link.send(item)
        return True

    def send_raw(self, payload):
        """Put any payload on the link, unchecked (tests of a dishonest gateway)."""
        self.link.send(payload)

    def attach(self, endpoint, deliver):
        self.endpoints[endpoint] = deliver

    def detach(self, endpoint):
        """Forget a relayed endpoint: answers for it are dropped, its C_Rs free."""
        self.endpoints.pop(endpoint, None)
        self.router.release(endpoint)

    def relayed_client(self, endpoint, peer):
        """A SessionClient for ``peer`` whose traffic goes through this gateway's relay."""
        inbox = []
        self.attach(endpoint, inbox.append)
        return SessionClient(peer, lambda payload: self.relay(endpoint, payload), inbox, self,
                             endpoint)

    def turn(self, timeout=0.02):
        """Let I/O happen once: run an in-process pump, read the link, route what came."""
        if self.idle is not None:
            self.idle()
            timeout = 0
        for payload in self.link.poll(timeout):
            endpoint, data = self.router.downstream(payload)
            deliver = self.endpoints.get(endpoint)
            if deliver is None:
                self.unroutable += 1
            else:
                deliver(data)


# Requests that change nothing in the pump: safe to send again after a lost session.
READ_ONLY = frozenset(("status", "telemetry", "cgm_history", "delivery_records", "alarms",
                       "read_log", "confirm_status", "update_status"))


class SessionClient:
    """Blocking driver of one PeerSession (see the module docstring).

    ``patience_s``: how long one ``request`` may spend waiting out the retry times the
    pump announces (0, the default: fail at once). ``on_wait(seconds, error)`` is called
    before each such wait (the CLI prints "pump busy, retrying in N s"); ``sleep`` and
    ``clock`` (seconds) are the waiting and the time it counts, real time unless a test
    runs the pump in virtual time.
    """

    RETRY_MARGIN_S = 0.05       # past the pump's announced end of the block
    PROMPT_S = 5.0              # an Echo challenge later than this: the command was held

    def __init__(self, peer, send, inbox, gateway, endpoint=SELF):
        self.peer = peer
        self.endpoint = endpoint       # whose identifiers on the link (Router)
        self._send = send
        self._inbox = inbox
        self.gateway = gateway
        self.events = []               # every event seen, for tests and reports
        self.patience_s = 0.0
        self.on_wait = None
        self.sleep = time.sleep
        self.clock = time.monotonic
        self.waits = []                # (seconds, refusal code) of every wait, for reports
        self.retransmissions = 0
        self.sessions = 0              # handshakes completed
        self._outstanding = None       # the Confirmable request awaiting its answer

    def _send_request(self, data):
        """Send a Confirmable request and keep it for retransmission (RFC 7252 §4.2)."""
        self._outstanding = data
        self._send(data)

    def _drain(self):
        """Take in what arrived while no request was outstanding: late, stale answers."""
        while self._inbox:
            event, reply = self.peer.receive(self._inbox.pop(0), self.gateway.now_ms())
            self.events.append(event)
            if reply is not None:
                self._send_request(reply)

    def _wait(self, kinds, stage):
        """Wait for an event of ``kinds``; the outstanding request goes again after
        ACK_TIMEOUT, then twice as long each time, MAX_RETRANSMIT times at most: the
        same Message ID and token, so the pump answers a copy from its cache and a
        command runs once."""
        start = time.monotonic()
        deadline = start + self.gateway.timeout_s
        interval = layer.ACK_TIMEOUT_MS / 1000.0
        resend_at, tries = start + interval, 0
        while True:
            while self._inbox:
                event, reply = self.peer.receive(self._inbox.pop(0), self.gateway.now_ms())
                self.events.append(event)
                if reply is not None:
                    self._send_request(reply)
                    start = time.monotonic()
                    interval = layer.ACK_TIMEOUT_MS / 1000.0
                    resend_at, tries = start + interval, 0
                if event.kind in kinds:
                    return event
            now = time.monotonic()
            if now > deadline:
                raise GatewayError("no answer from the pump within %g s"
                                   % self.gateway.timeout_s, stage=stage, no_answer=True)
            if now >= resend_at and tries < layer.MAX_RETRANSMIT and self._outstanding:
                self._send(self._outstanding)
                self.retransmissions += 1
                tries += 1
                interval *= 2
                resend_at = now + interval
            self.gateway.turn()

    def connect(self):
        """Run a handshake; returns once the pump took message_3 (or, combined, once
        message_2 verified: message_3 then rides on the first request)."""
        router = self.gateway.router
        if self.endpoint == SELF:
            router.release(SELF)           # the gateway's own earlier session is over
        self._inbox[:] = []
        self._send_request(self.peer.connect())
        done = (P.ESTABLISHED,) if self.peer.combined else (P.CONFIRMED,)
        event = self._wait(done + (P.REFUSED,), HANDSHAKE)
        if event.kind == P.REFUSED:
            raise GatewayError("handshake refused: %s" % _refusal(event), event.code,
                               event.retry_ms, HANDSHAKE)
        self.sessions += 1

    def key_update(self):
        now = self.gateway.now_ms()
        self._send_request(self.peer.key_update(now))
        event = self._wait((P.KEY_UPDATED, P.REFUSED), KEY_UPDATE)
        if event.kind == P.REFUSED:
            raise GatewayError("key update refused: %s" % _refusal(event), event.code,
                               event.retry_ms, KEY_UPDATE)

    def request_bytes(self, data):
        """Send one protected inner request (a CoAP Message); returns the inner response.

        A command the pump challenges for freshness (a protected 4.01 with an Echo, RFC
        9175: authenticated, so the command did not run) is sent once more, now carrying
        that Echo, but only if the challenge came back promptly: a late one means the
        command was held on the way, and sending it again would make it run late after
        all. Then nothing is sent again and the user decides."""
        started = self.clock()
        inner = self._request_once(data)
        if inner.code == N.UNAUTHORIZED and inner.has(N.ECHO):
            late = self.clock() - started
            if late > self.PROMPT_S:
                raise GatewayError("the pump refused the command as stale: its answer took "
                                   "%.0f s (held on the way?); it did not run and was not "
                                   "sent again" % late, W.SESSION_STALE, 0, REQUEST)
            inner = self._request_once(data)
        return inner

    def _request_once(self, data):
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
        self._send_request(payload)
        event = self._wait((P.RESPONSE, P.REFUSED), REQUEST)
        if event.kind == P.REFUSED:
            raise GatewayError("request refused: %s" % _refusal(event), event.code,
                               event.retry_ms, REQUEST)
        return event.value

    def _wait_out(self, exc, started):
        """Wait the time the pump announced in ``exc``, or raise ``exc`` if that would
        take this request past ``patience_s``."""
        seconds = exc.retry_ms / 1000.0 + self.RETRY_MARGIN_S
        if self.clock() - started + seconds > self.patience_s:
            raise exc
        if self.on_wait is not None:
            self.on_wait(seconds, exc)
        self.waits.append((seconds, exc.code))
        self.sleep(seconds)

    def request(self, name, fields=None, reconnect=True):
        """One pump-protocol request; returns the decoded response (``protocol.Parsed``).

        A notice that the session is gone (pump restarted, keys ran out, handshake
        refused) triggers one new handshake when ``reconnect``, and a retry only of a
        request that is safe to send twice: one that reads, or one with a ``cmd_id`` the
        pump de-duplicates. A notice is unauthenticated, so anyone on the wire can forge
        one after the command has run; such a command is never sent again.

        A pump that is busy or backing off says how long to wait (``retry_ms``). Within
        ``patience_s`` this waits and tries again: a refused handshake or key update
        always (nothing of the request was sent), a refused request only if it is safe
        to send twice, by the same rule.
        """
        fields = fields or {}
        data = requester.request_message(name, fields)
        safe = name in READ_ONLY or "cmd_id" in fields
        started = self.clock()
        reconnected = False
        while True:
            try:
                inner = self.request_bytes(data)
            except GatewayError as exc:
                if exc.no_answer:
                    raise
                if exc.stage != REQUEST:           # the request itself was not sent
                    if exc.retry_ms:
                        self._wait_out(exc, started)
                        continue
                    if exc.stage == KEY_UPDATE and exc.code in RECONNECT and reconnect \
                            and not reconnected and not self.peer.ready:
                        reconnected = True         # request_bytes runs a new handshake
                        continue
                    raise
                if exc.code in RECONNECT and reconnect and not self.peer.ready \
                        and not reconnected:
                    reconnected = True
                    if not safe:
                        try:
                            self._connect_patiently(started)    # for the next request
                        except GatewayError:
                            pass
                        raise GatewayError(
                            "session lost after sending %s: not sent again, it may have "
                            "run; read the status or the log" % name, exc.code,
                            stage=REQUEST)
                    self._connect_patiently(started)
                    data = requester.request_message(name, fields)
                    continue
                if exc.retry_ms and safe:
                    self._wait_out(exc, started)
                    data = requester.request_message(name, fields)
                    continue
                if exc.retry_ms:
                    raise GatewayError(
                        "%s refused by an unprotected answer (%s): not sent again, it may "
                        "have run; read the status or the log" % (name, _refusal_text(exc)),
                        exc.code, exc.retry_ms, REQUEST)
                raise
            answer = requester.parse_response(name, inner)
            if reconnected and answer.is_error and \
                    "IL-DUPLICATE-CMD" in str(answer.fields.get("reason", "")):
                # The repeat of a command whose answer was lost: the pump knows its
                # cmd_id, so the first sending ran. Say so; "refused" would be untrue.
                raise GatewayError(
                    "%s ran at its first sending (its answer was lost; the pump refused the "
                    "repeat as a duplicate, IL-DUPLICATE-CMD): read the status" % name,
                    ALREADY_RAN, stage=REQUEST)
            return answer

    def _connect_patiently(self, started):
        """A new handshake, waiting out the pump's back-off within ``patience_s``."""
        while True:
            try:
                self.connect()
                return
            except GatewayError as exc:
                if exc.no_answer or not exc.retry_ms:
                    raise
                self._wait_out(exc, started)


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


def _refusal_text(exc):
    """The refusal name and retry time of a GatewayError, for a message built on it."""
    text = name_of(exc.code)
    if exc.retry_ms:
        text += ", retry in %d ms" % exc.retry_ms
    return text


def _refusal(event):
    """One line for a refusal event: its name, what it means, when to retry."""
    text = name_of(event.code)
    if event.code == EDHOC_PEER:
        text += " (the pump refused the handshake: is this credential in its trust list?)"
    if event.retry_ms:
        text += " (retry in %d ms)" % event.retry_ms
    return text
