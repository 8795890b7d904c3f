"""The pump's session manager: several authenticated sessions over one link, sans-IO.

CoAP messages in, CoAP messages out (``session_wire`` tells which); no clock, no port,
no thread. ``receive`` takes one message (``feed``: raw link bytes, deframed) and returns
what to send back; a CoAP message layer (``coap.layer.ServerLayer``) acknowledges,
de-duplicates retransmissions (a repeated command runs once) and refuses unknown critical
options.

- ``POST /.well-known/edhoc`` with ``true`` || message_1 starts a handshake: the pump is
  the EDHOC Responder (method 3, suite 2, credentials by kid), picks a fresh one-byte C_R
  unique among its handshakes and sessions, and answers message_2 in a 2.04.
- ``POST /.well-known/edhoc`` with C_R || message_3 finishes it (or an OSCORE request
  carrying the EDHOC option and message_3, RFC 9668): the credential named in message_3
  is looked up in the pump's ``trust.TrustList``; only a trusted credential can verify,
  and its trust entry gives the session its role. The session is keyed by C_R (the
  OSCORE kid of the peer's requests) and replaces any earlier session of the same peer.
- An OSCORE request is unprotected (``coap.protect``) with that session's context (its
  own replay window and budgets); the inner request goes to the pump's resources
  (``resources.serve``) with the session's role, never a role from the message, and the
  inner response is protected into the 2.04 answer.

A gateway relaying a clinician's session is, to the pump, just another peer on the link
with its own C_R and keys; the gateway routes on connection identifiers and holds no key
of that session, so it can neither read nor forge it.

Refusals. Every refused frame is dropped, counted by stable name and written to the audit
log through ``refusal_log.RefusalLog`` (``counts``), and leaves every session as it was.
The sender gets an EDHOC error (4.00) or an unprotected refusal (code and retry-after,
``session_wire.refusal``).

Back-off (``backoff.Backoff``, monotonic ticks). Failed OSCORE verifications (forged or
corrupted requests) count against their session; replayed and reordered ones are refused
by the replay window before any AEAD and cost nothing, so they are counted and logged but
start no back-off. Failed handshakes count against the pump as a whole
(``global_backoff``, up to 5 min) and, when message_3 named a trusted kid, against that
peer; abandoned ones (no message_3 in time, or evicted from a full table by a newer
message_1 once older than 2 s) against a short back-off of their own (``abandon_backoff``,
at most 10 s), so that anyone able to send message_1 can slow new handshakes but never
lock everyone out for long after it stops. From its
policy's threshold on, each subject is blocked with a delay that doubles per further
failure; a blocked subject is refused before any AEAD or curve operation, so an attack
burst costs the pump little and its main loop keeps therapy on time. A blocked session
or peer never blocks another one; the global back-off stops new handshakes only.

Freshness (RFC 9175 Echo). A command that changes something (any method but GET/FETCH)
runs only if its inner request carries an Echo value the pump issued at most
ECHO_FRESH_MS ago; otherwise the pump answers a protected 4.01 with a fresh Echo and the
command does not run, so a command held back on the way and released later cannot act
late. Every answer to a command carries a new Echo, so only the first command after a
while costs the extra round trip; a combined EDHOC + OSCORE request is fresh by the
handshake's own time limit. A stale Echo is a refusal (SESSION-STALE), logged.

Key update. The inner request ``POST /session/key-update`` with a CBOR byte string
``nonce`` (8 bytes) asks for a key update (EDHOC_KeyUpdate, RFC 9528 Appendix H). The
pump answers 2.04 with ``context`` (16 bytes) = nonce || its own nonce under
the old keys and switches to ``edhoc_oscore.key_update(session, context)``; it keeps the
old context until the first request verifies under the new one, and answers a repeated
update request (the peer missed the answer) with the same context. A context whose time
budget (``max_age_ms``) is used up ends its session: the peer gets a 4.01 refusal and
runs a new handshake.
"""

from secure_channel import cbor, crypto, numbers
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.oscore import from_edhoc as edhoc_oscore
from secure_channel.link import framing
from secure_channel.protocol import resources
from secure_channel.edhoc import messages as msgs
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N, protect
from secure_channel.coap.layer import ServerLayer
from secure_channel.sessions.backoff import Backoff, Policy
from secure_channel.errors import (
    EDHOC_CREDENTIAL, EDHOC_MALFORMED, EDHOC_PEER, EDHOC_VERIFY, RECORD_AUTH,
    RECORD_KEY_UPDATE, RECORD_MALFORMED, RECORD_REPLAY, RECORD_UNKNOWN_ID, EdhocError,
    EdhocPeerError, RecordError,
)
from secure_channel.sessions.refusal_log import RefusalLog

MAX_SESSIONS = 6
MAX_HANDSHAKES = 3
HANDSHAKE_TIMEOUT_MS = 10000
REPLAY_WINDOW = 1                  # in order only: see docs/sessions.md
MAX_AGE_MS = 12 * 3600 * 1000      # time budget of one set of session keys
KEY_UPDATE_PATH = "/session/key-update"     # inner resource of the session layer itself
NONCE_LENGTH = 8
LINK = "link"                      # the address of the one peer on a point-to-point link
MAX_REQUEST_PAYLOAD = 1024        # RFC 7252 §4.6: no request the pump takes is larger
ECHO_FRESH_MS = 30000              # a command must follow the pump's Echo within this
_SAFE_METHODS = (N.GET, N.FETCH)   # they change nothing: no freshness proof needed

SESSION_POLICY = Policy(threshold=3, base_ms=1000, max_ms=60000, forget_ms=600000)
PEER_POLICY = Policy(threshold=3, base_ms=2000, max_ms=300000, forget_ms=1800000)
GLOBAL_POLICY = Policy(threshold=6, base_ms=1000, max_ms=300000, forget_ms=1800000)
ABANDON_POLICY = Policy(threshold=6, base_ms=1000, max_ms=10000, forget_ms=60000)
MIN_HANDSHAKE_AGE_MS = 2000        # a pending handshake younger than this is never evicted

# Unprotected answers to refused OSCORE requests (RFC 8613 §8.2).
_RECORD_COAP = {RECORD_AUTH: N.BAD_REQUEST, RECORD_REPLAY: N.UNAUTHORIZED,
                RECORD_UNKNOWN_ID: N.UNAUTHORIZED, RECORD_KEY_UPDATE: N.UNAUTHORIZED,
                RECORD_MALFORMED: N.BAD_REQUEST}
_RECORD_FAILURES = (RECORD_AUTH,)  # a replay is refused before any AEAD: no back-off
_HANDSHAKE_FAILURES = (EDHOC_VERIFY, EDHOC_CREDENTIAL, EDHOC_MALFORMED)
_hex = numbers.hex_id


class _Taken:
    """``in``: an identifier C_I uses, or a handshake or session holds."""

    def __init__(self, c_i, *tables):
        self.c_i = c_i
        self.tables = tables

    def __contains__(self, candidate):
        if candidate == self.c_i:
            return True
        for table in self.tables:
            if candidate in table:
                return True
        return False


class Handshake:
    """A handshake waiting for message_3."""

    __slots__ = ("responder", "c_i", "c_r", "started")

    def __init__(self, responder, c_i, c_r, started):
        self.responder = responder
        self.c_i = c_i
        self.c_r = c_r
        self.started = started


class Session:
    """An established session: peer, role, keys and its own back-off."""

    __slots__ = ("cid", "c_i", "kid", "role", "edhoc", "context", "previous",
                 "update_context", "backoff", "created", "last_used", "requests",
                 "key_updates")

    def __init__(self, cid, c_i, kid, role, session, context, now, policy):
        self.cid = cid                  # C_R: the pump's Recipient ID, the peer's kid
        self.c_i = c_i
        self.kid = kid                  # the peer credential's kid (trust-list key)
        self.role = role                # from the trust list entry, nothing else
        self.edhoc = session
        self.context = context
        self.previous = None            # the old context while a key update is pending
        self.update_context = None
        self.backoff = Backoff(policy)
        self.created = now
        self.last_used = now
        self.requests = 0
        self.key_updates = 0


class SessionManager:
    """Pump side of every peer session on one link (see the module docstring).

    ``credential``/``private_key``: the pump's CCS and static P-256 DH key.
    ``trust``: a ``trust.TrustList``. ``dispatcher``: has ``handle(data, role, now)``.
    ``rng``: the HAL RNG. ``audit``: ``audit(op, reason)``, by default the dispatcher's.
    """

    def __init__(self, credential, private_key, trust, dispatcher, rng, audit=None,
                 methods=(3,), suites=(2,), max_sessions=MAX_SESSIONS,
                 max_handshakes=MAX_HANDSHAKES, handshake_timeout_ms=HANDSHAKE_TIMEOUT_MS,
                 replay_window=REPLAY_WINDOW, max_age_ms=MAX_AGE_MS,
                 session_policy=SESSION_POLICY, peer_policy=PEER_POLICY,
                 global_policy=GLOBAL_POLICY, abandon_policy=ABANDON_POLICY,
                 audit_budget=None, audit_window_ms=None,
                 max_payload=framing.MAX_PAYLOAD):
        if audit is None:
            audit = getattr(dispatcher, "audit", None)
        if not callable(getattr(dispatcher, "handle", None)):
            raise ValueError("dispatcher must have handle(data, role, now)")
        self.serve = lambda inner, role, now: resources.serve(dispatcher, inner, role, now)
        if not callable(rng):
            raise ValueError("rng must be callable")
        if not isinstance(credential, credentials.Credential) or \
                not isinstance(private_key, (bytes, bytearray)) or len(private_key) != 32:
            raise ValueError("the pump's credential and a 32-byte private key are needed")
        if not callable(getattr(trust, "lookup", None)):
            raise ValueError("trust must be a trust.TrustList")
        self.credential = credential
        self._private = private_key
        self.trust = trust
        self.dispatcher = dispatcher
        self.rng = rng
        self.methods = tuple(methods)
        self.suites = tuple(suites)
        self.max_sessions = max_sessions
        self.max_handshakes = max_handshakes
        self.handshake_timeout_ms = handshake_timeout_ms
        self.replay_window = replay_window
        self.max_age_ms = max_age_ms
        self.session_policy = session_policy
        self.peer_policy = peer_policy
        log_args = {}
        if audit_budget is not None:
            log_args["budget"] = audit_budget
        if audit_window_ms is not None:
            log_args["window_ms"] = audit_window_ms
        self.log = RefusalLog(audit, **log_args)
        self.global_backoff = Backoff(global_policy)
        self.abandon_backoff = Backoff(abandon_policy)
        self.peer_backoff = {}          # kid -> Backoff (trusted kids only: bounded)
        self.handshakes = {}            # C_R -> Handshake
        self.sessions = {}              # C_R -> Session
        self.deframer = framing.Deframer(max_payload)
        self.layer = ServerLayer(self._handle, rng)
        self.tap = None                 # host tools: tap(message, from_pump), e.g. a capture
        self.keylog = None              # host tools: keylog(OSCORE parameters) per context
        self.max_payload = max_payload
        self.stats = {"frames": 0, "handshakes": 0, "established": 0, "requests": 0,
                      "responses": 0, "key_updates": 0, "replaced": 0, "evicted": 0,
                      "expired": 0, "ended": 0, "faults": 0, "echo_challenges": 0}

    # -- counters ------------------------------------------------------------------------
    @property
    def counts(self):
        """Refusals by stable name, ever."""
        return self.log.counts

    def _refuse(self, op, code, detail, now):
        self.log.refuse(op, code, detail, now)

    def session_of(self, kid):
        """The session of the peer whose credential has ``kid``, or None."""
        for cid in self.sessions:
            if self.sessions[cid].kid == kid:
                return self.sessions[cid]
        return None

    # -- entry points --------------------------------------------------------------------
    def feed(self, chunk, now):
        """Raw bytes from the link in; the framed bytes to write back out."""
        dropped = self.deframer.dropped
        before = [dropped[reason] for reason in framing.DROP_REASONS]
        payloads = self.deframer.feed(chunk)
        for index, reason in enumerate(framing.DROP_REASONS):
            for _ in range(dropped[reason] - before[index]):
                self._refuse("frame", "FRAME-" + reason.upper().replace("_", "-"),
                             "frame dropped by the deframer", now)
        out = []
        for payload in payloads:
            for reply in self.receive(payload, now):
                out.append(framing.encode_frame(reply, self.max_payload))
        return b"".join(out)

    def receive(self, payload, now, address=LINK):
        """One CoAP message from ``address`` in; the messages to send back to it."""
        self.stats["frames"] += 1
        if self.tap is not None:
            self.tap(payload, False)
        malformed = self.layer.counts["malformed"]
        try:
            out = self.layer.receive(payload, address, now)
        except Exception as exc:        # a bug here must not take the pump down; 0 in tests
            self.stats["faults"] += 1
            self._refuse("session", W.SESSION_FAULT, "contained %s" % type(exc).__name__,
                         now)
            return []
        if self.layer.counts["malformed"] != malformed:
            self._refuse("coap", W.SESSION_MALFORMED, "not a CoAP message", now)
        replies = [data for data, _ in out]
        if self.tap is not None:
            for data in replies:
                self.tap(data, True)
        return replies

    def _handle(self, request, address, now):
        """The CoAP handler: EDHOC at /.well-known/edhoc, OSCORE everywhere else."""
        try:
            problem = request.option_problem()
            if problem is not None:     # RFC 7252 §5.4.3: a malformed option is refused
                self._refuse("coap", W.SESSION_MALFORMED, problem[1], now)
                return W.refusal(N.BAD_OPTION, W.SESSION_MALFORMED)
            if request.has(N.PROXY_URI) or request.has(N.PROXY_SCHEME):
                self._refuse("coap", W.SESSION_MALFORMED, "a proxy request: the pump is "
                             "no proxy", now)  # RFC 7252 §5.7.2
                return W.refusal(N.PROXYING_NOT_SUPPORTED, W.SESSION_MALFORMED)
            if len(request.payload) > MAX_REQUEST_PAYLOAD:
                self._refuse("coap", W.SESSION_MALFORMED, "%d-byte payload"
                             % len(request.payload), now)
                refused = W.refusal(N.REQUEST_ENTITY_TOO_LARGE, W.SESSION_MALFORMED)
                return refused.add(N.SIZE1, MAX_REQUEST_PAYLOAD)    # RFC 7252 §5.10.9
            if request.has(N.OSCORE):
                return self._request(request, now)
            if request.path == W.EDHOC_PATH:
                if request.code != N.POST:
                    self._refuse("edhoc", W.SESSION_MALFORMED, "EDHOC takes only POST", now)
                    return W.refusal(N.METHOD_NOT_ALLOWED, W.SESSION_MALFORMED)
                try:
                    c_r, body = W.split_edhoc_payload(request.payload)
                except W.WireError as exc:
                    self._refuse("edhoc", EDHOC_MALFORMED, str(exc), now)
                    return W.refusal(N.BAD_REQUEST, EDHOC_MALFORMED)
                if c_r is None:
                    return self._message_1(body, now)
                return self._message_3(c_r, body, now)
            self._refuse("coap", W.SESSION_UNPROTECTED, "%s %s without OSCORE"
                         % (N.code_text(request.code), request.path[:40]), now)
            return W.refusal(N.UNAUTHORIZED, W.SESSION_UNPROTECTED)
        except Exception as exc:        # a bug here must not take the pump down; 0 in tests
            self.stats["faults"] += 1
            self._refuse("session", W.SESSION_FAULT, "contained %s" % type(exc).__name__,
                         now)
            return W.refusal(N.INTERNAL_SERVER_ERROR, W.SESSION_FAULT)

    def tick(self, now):
        """Expire abandoned handshakes, end the audit window, forget idle back-offs."""
        self._expire_handshakes(now)
        self.log.flush(now)
        for kid in list(self.peer_backoff):
            if self.peer_backoff[kid].idle(now):
                del self.peer_backoff[kid]

    # -- handshakes ----------------------------------------------------------------------
    def _expire_handshakes(self, now):
        for c_r in list(self.handshakes):
            handshake = self.handshakes[c_r]
            if now - handshake.started >= self.handshake_timeout_ms:
                self._abandon(c_r, "abandoned", now)

    def _abandon(self, c_r, how, now):
        """An unfinished handshake goes: it costs the pump a key agreement, so it counts
        against the pump's short abandon back-off (never the long one of failed
        verifications: anyone can start a handshake and walk away)."""
        del self.handshakes[c_r]
        self.stats["expired"] += 1
        self.abandon_backoff.failure(now)
        self._refuse("edhoc", W.SESSION_TIMEOUT, "handshake C_R %s %s" % (_hex(c_r), how),
                     now)

    def _make_room(self, now):
        """A full handshake table gives up its oldest entry once that is older than
        MIN_HANDSHAKE_AGE_MS: an honest peer finishes in a round trip, so a few stale
        message_1s cannot keep newcomers out. Returns the ms to wait, 0 if room."""
        if len(self.handshakes) < self.max_handshakes:
            return 0
        oldest = None
        for key in sorted(self.handshakes):
            started = self.handshakes[key].started
            if oldest is None or started < self.handshakes[oldest].started:
                oldest = key
        age = now - self.handshakes[oldest].started
        if age < MIN_HANDSHAKE_AGE_MS:
            return MIN_HANDSHAKE_AGE_MS - age
        self._abandon(oldest, "evicted by a newer one", now)
        return 0

    def _new_cid(self, c_i):
        return numbers.allocate_identifier(self.rng, _Taken(c_i, self.handshakes,
                                                            self.sessions))

    def _message_1(self, body, now):
        try:
            c_i = msgs.decode_message_1(body)[3]
        except ValueError as exc:
            self._refuse("edhoc", EDHOC_MALFORMED, "message_1: %s" % _detail(exc), now)
            return W.refusal(N.BAD_REQUEST, EDHOC_MALFORMED)
        if len(c_i) > W.MAX_CID:       # it would be our OSCORE Recipient ID: at most 7
            self._refuse("edhoc", EDHOC_MALFORMED, "message_1: C_I longer than %d bytes"
                         % W.MAX_CID, now)
            return W.refusal(N.BAD_REQUEST, EDHOC_MALFORMED)
        wait = max(self.global_backoff.remaining(now), self.abandon_backoff.remaining(now))
        if wait:
            self._refuse("edhoc", W.SESSION_BACKOFF, "handshakes paused for %d ms" % wait,
                         now)
            return W.refusal(N.SERVICE_UNAVAILABLE, W.SESSION_BACKOFF, wait)
        self._expire_handshakes(now)
        wait = self._make_room(now)
        c_r = self._new_cid(c_i) if not wait else None
        if c_r is None:
            self._refuse("edhoc", W.SESSION_BUSY, "%d handshakes in progress"
                         % len(self.handshakes), now)
            return W.refusal(N.SERVICE_UNAVAILABLE, W.SESSION_BUSY, max(wait, 1))
        try:
            responder = edhoc.Responder(self.credential, self._private, self.rng,
                                        methods=self.methods, suites=self.suites, c_r=c_r)
            responder.receive_message_1(body)
            message_2 = responder.message_2()
        except EdhocError as exc:
            self._refuse("edhoc", exc.code, "message_1 from C_I %s refused" % _hex(c_i), now)
            if exc.code == EDHOC_VERIFY:
                self.global_backoff.failure(now)
            if exc.peer_message:
                return W.edhoc_response(exc.peer_message, error=True)
            return W.refusal(N.BAD_REQUEST, exc.code)
        self.handshakes[c_r] = Handshake(responder, c_i, c_r, now)
        self.stats["handshakes"] += 1
        return W.edhoc_response(message_2)

    def _message_3(self, c_r, body, now):
        session, refused = self._finish(c_r, body, now)
        if session is None:
            return refused
        return W.edhoc_response(session.edhoc.message_4())      # key confirmation

    def _finish(self, c_r, body, now):
        """Take message_3 for handshake ``c_r``: (Session, None) or (None, response)."""
        self._expire_handshakes(now)
        handshake = self.handshakes.pop(c_r, None)     # one message_3 per handshake
        if handshake is None:
            self._refuse("edhoc", W.SESSION_UNKNOWN, "message_3 for no handshake (C_R %s)"
                         % _hex(c_r), now)
            return None, W.refusal(N.BAD_REQUEST, W.SESSION_UNKNOWN)
        responder = handshake.responder
        try:
            received = responder.receive_message_3(body)
        except EdhocPeerError as exc:
            self._refuse("edhoc", EDHOC_PEER, "peer aborted handshake C_R %s (error %d)"
                         % (_hex(c_r), exc.err_code), now)
            return None, W.edhoc_response(b"")
        except EdhocError as exc:
            return None, self._handshake_failed(c_r, exc, None, now)
        entry = self.trust.lookup(received.id_cred, received.credential)
        if entry is not None:
            peer = self.peer_backoff.get(entry.kid)
            wait = peer.remaining(now) if peer is not None else 0
            if wait:
                self._refuse("edhoc", W.SESSION_BACKOFF, "peer %s kid %s paused for %d ms"
                             % (entry.role, _hex(entry.kid), wait), now)
                return None, W.refusal(N.SERVICE_UNAVAILABLE, W.SESSION_BACKOFF, wait)
        try:
            responder.verify_message_3(entry.credential if entry is not None else None)
        except EdhocError as exc:
            return None, self._handshake_failed(c_r, exc, entry, now, received.id_cred)
        if entry is not None and entry.kid in self.peer_backoff:
            del self.peer_backoff[entry.kid]
        return self._establish(handshake, entry, now), None

    def _handshake_failed(self, c_r, exc, entry, now, id_cred=None):
        if entry is not None:
            who = "%s kid %s" % (entry.role, _hex(entry.kid))
        else:
            kid = id_cred.get(4) if isinstance(id_cred, dict) else None
            who = "untrusted kid %s" % _hex(kid[:7]) if isinstance(kid, bytes) else "unknown peer"
        self._refuse("edhoc", exc.code, "message_3 on C_R %s from %s refused"
                     % (_hex(c_r), who), now)
        if exc.code in _HANDSHAKE_FAILURES:
            self.global_backoff.failure(now)
            if entry is not None:
                peer = self.peer_backoff.get(entry.kid)
                if peer is None:
                    peer = self.peer_backoff[entry.kid] = Backoff(self.peer_policy)
                peer.failure(now)
        if exc.peer_message:
            return W.edhoc_response(exc.peer_message, error=True)
        return W.refusal(N.BAD_REQUEST, exc.code)

    def _establish(self, handshake, entry, now):
        for cid in list(self.sessions):
            if self.sessions[cid].kid == entry.kid:        # one session per peer
                del self.sessions[cid]
                self.stats["replaced"] += 1
        if len(self.sessions) >= self.max_sessions:
            victim = None
            for cid in sorted(self.sessions):
                if victim is None or self.sessions[cid].last_used < victim.last_used:
                    victim = self.sessions[cid]
            del self.sessions[victim.cid]
            self.stats["evicted"] += 1
        context = self._context(handshake.responder, now)
        session = Session(handshake.c_r, handshake.c_i, entry.kid, entry.role,
                          handshake.responder, context, now, self.session_policy)
        self.sessions[handshake.c_r] = session
        self.stats["established"] += 1
        return session

    def _context(self, responder, now, update=None):
        limits = {"replay_window": self.replay_window, "max_age": self.max_age_ms,
                  "now": now}
        if update is None:
            context = edhoc_oscore.security_context(responder, **limits)
        else:
            context = edhoc_oscore.key_update(responder, update, **limits)
        if self.keylog is not None:     # host debugging only, never on a device
            self.keylog(responder.oscore_parameters())
        return context

    # -- protected requests --------------------------------------------------------------
    def _request(self, outer, now):
        try:
            piv, kid, _ = protect.request_header(outer)
            if piv is None or kid is None:
                raise RecordError(RECORD_MALFORMED, "request without kid or Partial IV")
            if len(kid) > W.MAX_CID:
                raise RecordError(RECORD_MALFORMED, "kid longer than 7 bytes")
        except RecordError as exc:
            self._refuse("oscore", exc.code, _detail(exc), now)
            return W.refusal(N.BAD_OPTION, exc.code)
        fresh = False
        if outer.has(N.EDHOC):          # RFC 9668: message_3 rides on this request
            try:
                message_3, ciphertext = W.split_combined(outer.payload)
            except W.WireError as exc:
                self._refuse("edhoc", EDHOC_MALFORMED, str(exc), now)
                return W.refusal(N.BAD_REQUEST, EDHOC_MALFORMED)
            session, refused = self._finish(kid, message_3, now)
            if session is None:
                return refused
            fresh = True                # within the handshake's own time limit
            outer = M.Message(outer.mtype, outer.code, outer.mid, outer.token,
                              [(n, v) for n, v in outer.options if n != N.EDHOC], ciphertext)
        session = self.sessions.get(kid)
        if session is None:
            self._refuse("oscore", W.SESSION_UNKNOWN, "request for no session (kid %s)"
                         % _hex(kid), now)
            return W.refusal(N.UNAUTHORIZED, W.SESSION_UNKNOWN)
        wait = session.backoff.remaining(now)
        if wait:
            self._refuse("oscore", W.SESSION_BACKOFF, "session %s (%s) paused for %d ms"
                         % (_hex(kid), session.role, wait), now)
            return W.refusal(N.SERVICE_UNAVAILABLE, W.SESSION_BACKOFF, wait)
        context = session.context
        try:
            inner, exchange = protect.unprotect_request(context, outer, now)
            if session.previous is not None:            # the peer uses the new keys
                session.previous = None
                session.update_context = None
        except RecordError as exc:
            error = exc
            inner = None
            if exc.code == RECORD_AUTH and session.previous is not None:
                context = session.previous
                try:
                    inner, exchange = protect.unprotect_request(context, outer, now)
                except RecordError as old_exc:
                    error = old_exc
            if inner is None:
                return self._record_refused(session, error, now)
        session.backoff.success(now)
        session.last_used = now
        session.requests += 1
        self.stats["requests"] += 1
        if inner.path == KEY_UPDATE_PATH:
            return self._key_update(session, context, exchange, inner, now)
        safe = inner.code in _SAFE_METHODS
        dated = inner.path in resources.SELF_DATED_PATHS
        if not safe and not dated and not fresh and not self._echo_fresh(session, inner, now):
            challenge = M.Message(code=N.UNAUTHORIZED).add(N.ECHO, _echo_value(now))
            self.stats["echo_challenges"] += 1
            return self._respond(session, context, challenge, exchange, now)
        response = self.serve(inner, session.role, now)
        if not safe:                    # the next command needs no challenge round trip
            response.add(N.ECHO, _echo_value(now))
        return self._respond(session, context, response, exchange, now)

    def _echo_fresh(self, session, inner, now):
        """A state-changing request carries an Echo this pump issued at most
        ECHO_FRESH_MS ago (RFC 9175 §2.3): one held back on the way is refused."""
        value = inner.first(N.ECHO)
        if value is None:
            return False                 # the usual first command: a challenge, no alarm
        issued = M.decode_uint(value) if len(value) <= 8 else -1
        if issued >= 0 and 0 <= now - issued <= ECHO_FRESH_MS:
            return True
        self._refuse("oscore", W.SESSION_STALE, "session %s (%s): %s with an Echo %s"
                     % (_hex(session.cid), session.role, N.code_text(inner.code),
                        "%d ms old" % (now - issued) if issued >= 0 else "not ours"), now)
        return False

    def _record_refused(self, session, error, now):
        self._refuse("oscore", error.code, "session %s (%s): %s"
                     % (_hex(session.cid), session.role, _detail(error)), now)
        if error.code in _RECORD_FAILURES:
            session.backoff.failure(now)
        if error.code == RECORD_KEY_UPDATE:
            self._end(session)
        wait = session.backoff.remaining(now)
        if wait:
            return W.refusal(N.SERVICE_UNAVAILABLE, error.code, wait)
        return W.refusal(_RECORD_COAP.get(error.code, N.BAD_REQUEST), error.code)

    def _end(self, session):
        if self.sessions.get(session.cid) is session:
            del self.sessions[session.cid]
            self.stats["ended"] += 1

    def _respond(self, session, context, inner, exchange, now):
        try:
            outer = protect.protect_response(context, inner, exchange, now=now)
        except RecordError as exc:
            self._refuse("oscore", exc.code, "session %s (%s): response not protected: %s"
                         % (_hex(session.cid), session.role, _detail(exc)), now)
            if exc.code == RECORD_KEY_UPDATE:
                self._end(session)
            return W.refusal(N.UNAUTHORIZED, exc.code)
        self.stats["responses"] += 1
        return outer

    def _key_update(self, session, context, exchange, inner, now):
        nonce = _key_update_nonce(inner)
        if nonce is None:
            return self._respond(session, context, M.Message(code=N.BAD_REQUEST), exchange,
                                 now)
        if context is session.previous:
            update = session.update_context       # the peer missed our answer: repeat it
        else:
            update = bytes(nonce) + crypto.random_bytes(self.rng, NONCE_LENGTH)
            new_context = self._context(session.edhoc, now, update)
            session.previous = context
            session.context = new_context
            session.update_context = update
            session.key_updates += 1
            self.stats["key_updates"] += 1
        answer = M.Message(code=N.CHANGED, payload=cbor.encode(update))
        answer.add(N.CONTENT_FORMAT, N.CBOR)
        return self._respond(session, context, answer, exchange, now)


def _echo_value(now):
    """An Echo value (RFC 9175): the pump's tick, at least one byte. It travels inside
    OSCORE, so a delayed request cannot carry a newer one."""
    return M.encode_uint(now) or b"\x00"


def _key_update_nonce(inner):
    """The peer's nonce if ``inner`` is a well-formed key-update request, else None."""
    if inner.code != N.POST:
        return None
    try:
        item = cbor.decode(bytes(inner.payload))
    except (cbor.CBORError, TypeError):
        return None
    if isinstance(item, bytes) and len(item) == NONCE_LENGTH:
        return item
    return None


def key_update_request(nonce):
    """The inner request asking for a key update (peer side)."""
    request = M.Message(code=N.POST, payload=cbor.encode(bytes(nonce)))
    request.set_path(KEY_UPDATE_PATH)
    request.add(N.CONTENT_FORMAT, N.CBOR)
    return request


def key_update_answer(inner):
    """The 16-byte context from the pump's answer to a key update, or None."""
    if inner.code != N.CHANGED:
        return None
    try:
        item = cbor.decode(bytes(inner.payload))
    except (cbor.CBORError, TypeError):
        return None
    if isinstance(item, bytes) and len(item) == 2 * NONCE_LENGTH:
        return item
    return None


def _detail(exc):
    """The reason of a refusal (without its code's name), one line."""
    return str(getattr(exc, "reason", exc)).split("\n")[0]
