"""A peer's end of one session with the pump (EDHOC Initiator + OSCORE client), sans-IO.

The gateway, a clinician's or patient's app, or a service tool holds one ``PeerSession``
per pump. It makes CoAP messages (``session_wire``) and takes the pump's; it never
touches a port or a clock (``now`` is the caller's monotonic ms)::

    peer = PeerSession(my_credential, my_private_key, pump_credential, rng)
    link.send(peer.connect())                    # POST /.well-known/edhoc: true, message_1
    event, reply = peer.receive(data, now)       # 2.04 message_2 -> ESTABLISHED, reply:
    link.send(reply)                             #   POST /.well-known/edhoc: C_R, message_3
    event, _ = peer.receive(data, now)           # 2.04 -> CONFIRMED
    link.send(peer.request(inner_request, now))  # OSCORE request (coap.protect)
    event, _ = peer.receive(data, now)           # RESPONSE -> event.value: inner response

Commands (methods other than GET) carry the pump's latest Echo (RFC 9175), taken from its
last protected answer; a command without a fresh one is answered 4.01 with a new Echo and
did not run: send it again (``SessionClient`` does).

With ``combined=True`` there is no separate message_3: it rides on the first request (RFC
9668), one round trip less. Answers are matched by token; anything else is IGNORED.

One request is outstanding at a time (stop and wait, as on a serial line); sending the
next one abandons the previous exchange, whose late answer then fails to verify. Before a
request, ``needs_key_update(now)`` says when 7/8 of the keys' budget is spent: send
``key_update(now)`` and wait for the KEY_UPDATED event. A ``REFUSED`` event whose
``restart`` is true (the pump has no such session, or its keys ran out) means: connect
again. Unprotected error answers are unauthenticated, so they are only ever taken as
that advice.
"""

from secure_channel import crypto, numbers
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.oscore import from_edhoc as edhoc_oscore
from secure_channel.edhoc import messages as msgs
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N, protect
from secure_channel.errors import (
    EDHOC_PEER, RECORD_KEY_UPDATE, RECORD_STATE, EdhocError, EdhocPeerError, RecordError,
)
from secure_channel.sessions.manager import (
    MAX_AGE_MS, NONCE_LENGTH, key_update_answer, key_update_request,
)

IDLE = "idle"
HANDSHAKE = "handshake"
READY = "ready"

ESTABLISHED = "established"      # message_2 verified; reply (message_3) must be sent
CONFIRMED = "confirmed"          # the pump took message_3: the session exists there
RESPONSE = "response"            # value: the response plaintext
KEY_UPDATED = "key-updated"
REFUSED = "refused"              # code, retry_ms; restart: connect again
IGNORED = "ignored"              # not for this session, or a stale/forged answer

_RESTART = (W.SESSION_UNKNOWN, RECORD_KEY_UPDATE)
TOKEN_LENGTH = 4
_SAFE_METHODS = (N.GET, N.FETCH)
_EDHOC_FORMAT = bytes((N.EDHOC_CBOR_SEQ,))
_MESSAGE_2, _CONFIRM, _RESPONSE = "message_2", "confirm", "response"   # what we wait for


class Event:
    __slots__ = ("kind", "value", "code", "retry_ms", "restart")

    def __init__(self, kind, value=None, code=None, retry_ms=0, restart=False):
        self.kind = kind
        self.value = value
        self.code = code
        self.retry_ms = retry_ms
        self.restart = restart

    def __repr__(self):
        return "Event(%s, code=%r, retry_ms=%r)" % (self.kind, self.code, self.retry_ms)


class PeerSession:
    """``pump``: the pump's Credential, or a CredentialStore of pump credentials."""

    def __init__(self, credential, private_key, pump, rng, method=3, suite=2,
                 max_messages=None, max_age_ms=MAX_AGE_MS, combined=False):
        if isinstance(pump, credentials.Credential):
            pump = credentials.CredentialStore([pump])
        if not isinstance(pump, credentials.CredentialStore):
            raise ValueError("pump must be a Credential or a CredentialStore")
        self.credential = credential
        self._private = private_key
        self.pump = pump
        self.rng = rng
        self.method = method
        self.suite = suite
        self.max_messages = max_messages
        self.max_age_ms = max_age_ms
        self.combined = combined
        self.state = IDLE
        self.token = None               # of the outstanding request
        self._waiting = None
        self._message_3 = None          # held for a combined request (RFC 9668)
        self.echo = None                # the pump's latest Echo, sent with the next command
        self._mid = int.from_bytes(crypto.random_bytes(rng, 2), "big")
        self.edhoc = None
        self.context = None
        self.c_i = None
        self.c_r = None
        self._exchange = None
        self._updating = None          # the nonce of a key update awaiting its answer
        self.refused = {}              # event code -> count, for answers we refused
        self.key_updates = 0

    # -- messages ----------------------------------------------------------------------
    def _send(self, request, waiting):
        """Header fields for a request to the pump, and what its answer will be."""
        request.mtype = N.CON
        request.mid = self._mid
        self._mid = (self._mid + 1) & 0xFFFF
        request.token = crypto.random_bytes(self.rng, TOKEN_LENGTH)
        self.token = request.token
        self._waiting = waiting
        return M.encode(request)

    def owns(self, message):
        """True if a CoAP message from the pump answers this session's outstanding request."""
        return self.token is not None and message.token == self.token and \
            N.is_response(message.code)

    # -- handshake -----------------------------------------------------------------------
    def connect(self, avoid=()):
        """Start a new handshake (dropping any session); returns the message_1 request.

        ``avoid``: C_I values another session on the same link is using.
        """
        c_i = numbers.allocate_identifier(self.rng, avoid)
        if c_i is None:
            raise ValueError("no free connection identifier")
        self.edhoc = initiator.Initiator(self.credential, self._private, self.rng,
                                     method=self.method, suites=(self.suite,), c_i=c_i)
        self.context = None
        self.c_i = c_i
        self.c_r = None
        self._exchange = None
        self._updating = None
        self._message_3 = None
        self.echo = None
        self.state = HANDSHAKE
        return self._send(W.message_1_request(self.edhoc.message_1()), _MESSAGE_2)

    def _context(self, now, update=None):
        limits = {"max_messages": self.max_messages, "max_age": self.max_age_ms, "now": now}
        if update is None:
            return edhoc_oscore.security_context(self.edhoc, **limits)
        return edhoc_oscore.key_update(self.edhoc, update, **limits)

    # -- requests ------------------------------------------------------------------------
    @property
    def ready(self):
        return self.state == READY

    def needs_key_update(self, now):
        return self.state == READY and self.context.needs_key_update(now)

    def request(self, inner, now):
        """Protect one inner CoAP request (a pump resource); returns the CoAP message.

        With ``combined``, the first request after message_2 carries message_3 too (RFC
        9668). Raises RecordError(RECORD_KEY_UPDATE) once the keys' budget is used up
        (connect again), or RECORD_STATE without an established session.
        """
        if self.state != READY:
            raise RecordError(RECORD_STATE, "no established session")
        if self.echo is not None and inner.code not in _SAFE_METHODS:
            inner = M.Message(inner.mtype, inner.code, inner.mid, inner.token,
                              [(n, v) for n, v in inner.options if n != N.ECHO]
                              + [(N.ECHO, self.echo)], inner.payload)
            self.echo = None
        outer, self._exchange = protect.protect_request(self.context, inner, now)
        self._updating = None
        if self._message_3 is not None:
            outer.add(N.EDHOC, b"")
            outer.payload = self._message_3 + outer.payload
            self._message_3 = None
        return self._send(outer, _RESPONSE)

    def key_update(self, now):
        """Ask the pump for a key update; returns the CoAP request."""
        nonce = crypto.random_bytes(self.rng, NONCE_LENGTH)
        data = self.request(key_update_request(nonce), now)
        self._updating = nonce
        return data

    # -- what the pump sends -------------------------------------------------------------
    def _refused(self, code, retry_ms=0, restart=False):
        self.refused[code] = self.refused.get(code, 0) + 1
        if restart:
            self.state = IDLE
            self.context = None
            self._exchange = None
            self._message_3 = None
        return Event(REFUSED, code=code, retry_ms=retry_ms, restart=restart)

    def receive(self, payload, now):
        """A CoAP message from the pump; returns (Event, reply message or None)."""
        try:
            message = M.decode(payload)
        except M.CoapFormatError:
            return Event(IGNORED, code=W.SESSION_MALFORMED), None
        if not self.owns(message):
            return Event(IGNORED, code=W.SESSION_UNKNOWN), None
        waiting = self._waiting
        if waiting == _RESPONSE and message.has(N.OSCORE):
            return self._response(message, now), None
        self.token = None
        self._waiting = None
        edhoc_format = message.first(N.CONTENT_FORMAT) == _EDHOC_FORMAT
        if waiting == _MESSAGE_2 and (message.code == N.CHANGED or edhoc_format):
            return self._message_2(message.payload, now, message.code == N.CHANGED)
        if waiting == _CONFIRM and message.code == N.CHANGED:
            return self._message_4(message.payload), None
        if edhoc_format:              # an EDHOC error: the handshake is over
            return self._refused(EDHOC_PEER, 0, True), None
        code, retry_ms = W.read_refusal(message)
        if code is None:
            code = W.SESSION_MALFORMED
        restart = waiting != _RESPONSE or code in _RESTART
        return self._refused(code, retry_ms, restart), None

    def _message_4(self, body):
        """The answer to message_3: empty, or message_4 (key confirmation, §5.5)."""
        if body:
            try:
                self.edhoc.receive_message_4(body)
            except EdhocError as exc:
                return self._refused(exc.code, 0, True)
        return Event(CONFIRMED)

    def _message_2(self, body, now, changed):
        if not changed and not msgs.is_error_message(body):
            return self._refused(W.SESSION_MALFORMED, 0, True), None
        try:
            received = self.edhoc.receive_message_2(body)
            self.edhoc.verify_message_2(self.pump.lookup(received.id_cred,
                                                         received.credential))
            message_3 = self.edhoc.message_3()
        except EdhocPeerError as exc:
            return self._refused(exc.code, 0, True), None
        except EdhocError as exc:
            reply = None
            if exc.peer_message and self.edhoc.c_r is not None:
                reply = self._send(W.message_3_request(self.edhoc.c_r, exc.peer_message),
                                   None)
            return self._refused(exc.code, 0, True), reply
        self.c_r = self.edhoc.c_r
        self.context = self._context(now)
        self.state = READY
        if self.combined:
            self._message_3 = message_3
            return Event(ESTABLISHED), None
        return Event(ESTABLISHED), self._send(W.message_3_request(self.c_r, message_3),
                                              _CONFIRM)

    def _response(self, outer, now):
        if self.state != READY or self._exchange is None:
            return Event(IGNORED, code=RECORD_STATE)
        try:
            inner = protect.unprotect_response(self.context, outer, self._exchange, now)
        except RecordError as exc:
            self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
            return Event(IGNORED, code=exc.code)
        self._exchange = None
        self.token = None
        self._waiting = None
        echo = inner.first(N.ECHO)
        if echo is not None:          # authenticated: the pump's freshness token (RFC 9175)
            self.echo = echo
        if self._updating is not None:
            self._updating = None
            update = key_update_answer(inner)
            if update is None:
                return self._refused(RECORD_KEY_UPDATE, 0, True)
            self.context = self._context(now, update)
            self.key_updates += 1
            return Event(KEY_UPDATED)
        if self.edhoc.state != edhoc.PERSISTED:
            self.edhoc.confirm()          # the pump's first answer confirms its keys
        return Event(RESPONSE, inner)
