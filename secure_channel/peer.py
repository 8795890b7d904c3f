"""A peer's end of one session with the pump (EDHOC Initiator + OSCORE client), sans-IO.

The gateway, a clinician's or patient's app, or a service tool holds one ``PeerSession``
per pump. It makes envelope payloads (``session_wire``) and takes the pump's; it never
touches a port or a clock (``now`` is the caller's monotonic ms)::

    peer = PeerSession(my_credential, my_private_key, pump_credential, rng)
    link.send(peer.connect())                    # EDHOC_1
    event, reply = peer.receive(payload, now)    # EDHOC_2 -> ESTABLISHED, reply EDHOC_3
    link.send(reply)
    link.send(peer.request(request_bytes, now))  # REQUEST
    event, _ = peer.receive(payload, now)        # RESPONSE -> event.value: plaintext

One request is outstanding at a time (stop and wait, as on a serial line); sending the
next one abandons the previous exchange, whose late answer then fails to verify. Before a
request, ``needs_key_update(now)`` says when 7/8 of the keys' budget is spent: send
``key_update(now)`` and wait for the KEY_UPDATED event. A ``REFUSED`` event whose
``restart`` is true (the pump has no such session, or its keys ran out) means: connect
again. Notices are unauthenticated, so they are only ever taken as that advice.
"""

from secure_channel import credentials, crypto, edhoc, edhoc_oscore
from secure_channel import session_wire as W
from secure_channel.errors import (
    EDHOC_PEER, RECORD_KEY_UPDATE, RECORD_STATE, EdhocError, EdhocPeerError, RecordError,
)
from secure_channel.sessions import (
    MAX_AGE_MS, NONCE_LENGTH, key_update_answer, key_update_request,
)

IDLE = "idle"
HANDSHAKE = "handshake"
READY = "ready"

ESTABLISHED = "established"      # message_2 verified; reply (message_3) must be sent
RESPONSE = "response"            # value: the response plaintext
KEY_UPDATED = "key-updated"
REFUSED = "refused"              # code, retry_ms; restart: connect again
IGNORED = "ignored"              # not for this session, or a stale/forged answer

_RESTART = (W.SESSION_UNKNOWN, RECORD_KEY_UPDATE)
_IDENTIFIERS = [bytes((v,)) for v in range(0x18)] + [bytes((v,)) for v in range(0x20, 0x38)]


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
                 max_messages=None, max_age_ms=MAX_AGE_MS):
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
        self.state = IDLE
        self.edhoc = None
        self.context = None
        self.c_i = None
        self.c_r = None
        self._exchange = None
        self._updating = None          # the nonce of a key update awaiting its answer
        self.refused = {}              # event code -> count, for answers we refused
        self.key_updates = 0

    # -- routing -------------------------------------------------------------------------
    def owns(self, envelope):
        """True if an envelope from the pump is addressed to this session."""
        if envelope.kind in W.BY_C_I:
            return self.state == HANDSHAKE and envelope.cid == self.c_i
        return self.c_r is not None and envelope.cid == self.c_r

    # -- handshake -----------------------------------------------------------------------
    def connect(self, avoid=()):
        """Start a new handshake (dropping any session); returns the EDHOC_1 payload.

        ``avoid``: C_I values another session on the same link is using.
        """
        start = crypto.random_bytes(self.rng, 1)[0] % len(_IDENTIFIERS)
        c_i = None
        for offset in range(len(_IDENTIFIERS)):
            candidate = _IDENTIFIERS[(start + offset) % len(_IDENTIFIERS)]
            if candidate not in avoid:
                c_i = candidate
                break
        if c_i is None:
            raise ValueError("no free connection identifier")
        self.edhoc = edhoc.Initiator(self.credential, self._private, self.rng,
                                     method=self.method, suites=(self.suite,), c_i=c_i)
        self.context = None
        self.c_i = c_i
        self.c_r = None
        self._exchange = None
        self._updating = None
        self.state = HANDSHAKE
        return W.encode(W.EDHOC_1, self.edhoc.message_1())

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

    def request(self, plaintext, now):
        """Protect one request (a pump-protocol message); returns the REQUEST payload.

        Raises RecordError(RECORD_KEY_UPDATE) once the keys' budget is used up (connect
        again), or RECORD_STATE without an established session.
        """
        if self.state != READY:
            raise RecordError(RECORD_STATE, "no established session")
        message, self._exchange = self.context.protect_request(plaintext, now)
        self._updating = None
        return W.encode(W.REQUEST, message)

    def key_update(self, now):
        """Ask the pump for a key update; returns the REQUEST payload."""
        nonce = crypto.random_bytes(self.rng, NONCE_LENGTH)
        payload = self.request(key_update_request(nonce), now)
        self._updating = nonce
        return payload

    # -- what the pump sends -------------------------------------------------------------
    def _refused(self, code, retry_ms=0, restart=False):
        self.refused[code] = self.refused.get(code, 0) + 1
        if restart:
            self.state = IDLE
            self.context = None
            self._exchange = None
        return Event(REFUSED, code=code, retry_ms=retry_ms, restart=restart)

    def receive(self, payload, now):
        """A payload from the pump; returns (Event, reply payload or None)."""
        try:
            envelope = W.decode(payload)
        except W.WireError:
            return Event(IGNORED, code=W.SESSION_MALFORMED), None
        if not self.owns(envelope):
            return Event(IGNORED, code=W.SESSION_UNKNOWN), None
        kind = envelope.kind
        if kind == W.EDHOC_2 or kind == W.ERROR_I:
            return self._message_2(envelope.body, now)
        if kind == W.ERROR_R:
            return self._refused(EDHOC_PEER, 0, True), None
        if kind == W.NOTICE_I or kind == W.NOTICE_R:
            try:
                code, retry_ms, piv = W.decode_notice(envelope.body)
            except W.WireError:
                return Event(IGNORED, code=W.SESSION_MALFORMED), None
            if piv is not None and (self._exchange is None or piv != self._exchange.piv):
                return Event(IGNORED, code=code), None      # about another request
            restart = kind == W.NOTICE_I or code in _RESTART
            return self._refused(code, retry_ms, restart), None
        if kind == W.RESPONSE:
            return self._response(envelope.body, now), None
        return Event(IGNORED, code=W.SESSION_MALFORMED), None

    def _message_2(self, body, now):
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
                reply = W.encode(W.EDHOC_3, exc.peer_message, self.edhoc.c_r)
            return self._refused(exc.code, 0, True), reply
        self.c_r = self.edhoc.c_r
        self.context = self._context(now)
        self.state = READY
        return Event(ESTABLISHED), W.encode(W.EDHOC_3, message_3, self.c_r)

    def _response(self, body, now):
        if self.state != READY or self._exchange is None:
            return Event(IGNORED, code=RECORD_STATE)
        try:
            plaintext = self.context.unprotect_response(body, self._exchange, now)
        except RecordError as exc:
            self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
            return Event(IGNORED, code=exc.code)
        self._exchange = None
        if self._updating is not None:
            self._updating = None
            update = key_update_answer(plaintext)
            if update is None:
                return self._refused(RECORD_KEY_UPDATE, 0, True)
            self.context = self._context(now, update)
            self.key_updates += 1
            return Event(KEY_UPDATED)
        if self.edhoc.state != edhoc.PERSISTED:
            self.edhoc.confirm()          # the pump's first answer confirms its keys
        return Event(RESPONSE, plaintext)
