"""The gateway's end of the secure channel in fast mode: sans-IO, in memory, virtual time.

Every message is a real CoAP message through the real session layer: EDHOC to set up,
OSCORE on every request, the pump's Echo challenge answered, a lost session set up again.
Only the serial framing is skipped (the bytes pass from one object to the other). The
counters feed the report's channel statistics.
"""

from secure_channel.coap import numbers as N
from secure_channel.errors import RECORD_KEY_UPDATE, RecordError
from secure_channel.protocol import requester
from secure_channel.sessions import peer as P
from secure_channel.sessions.manager import ECHO_FRESH_MS


class ChannelDown(Exception):
    """The pump did not answer, or refused to set up a session: the run ends cleanly."""


class FastChannel:
    MAX_TRIES = 3
    ECHO_KEEP_MS = ECHO_FRESH_MS - 5000

    def __init__(self, manager, peer):
        self.manager = manager
        self.peer = peer
        self._echo_at = 0
        self.restarted = False          # a new session was needed: the pump may have rebooted
        self.stats = {"handshakes": 0, "messages": 0, "bytes_on_wire": 0,
                      "echo_challenges": 0, "refusals": {}, "reconnects": 0,
                      "security_events": {}}

    def _send(self, payload, now):
        self.stats["messages"] += 1
        self.stats["bytes_on_wire"] += len(payload)
        answers = self.manager.receive(payload, now)
        if len(answers) != 1:
            raise ChannelDown("the pump gave %d answers to one request" % len(answers))
        self.stats["messages"] += 1
        self.stats["bytes_on_wire"] += len(answers[0])
        return self.peer.receive(answers[0], now)

    def connect(self, now):
        self.stats["handshakes"] += 1
        event, reply = self._send(self.peer.connect(), now)
        if event.kind != P.ESTABLISHED:
            raise ChannelDown("handshake refused (%s)" % (event.code,))
        event, _ = self._send(reply, now)
        if event.kind != P.CONFIRMED:
            raise ChannelDown("handshake not confirmed (%s)" % (event.code,))

    def _count(self, table, key):
        self.stats[table][key] = self.stats[table].get(key, 0) + 1

    def request(self, name, fields, now):
        """One pump-protocol request; returns the parsed answer (``protocol.Parsed``).
        An Echo older than ``ECHO_KEEP_MS`` is not sent: the pump would take it for a
        command held back on the way; it challenges afresh instead."""
        if self.peer.echo is not None and now - self._echo_at > self.ECHO_KEEP_MS:
            self.peer.echo = None
        for _ in range(self.MAX_TRIES):
            if not self.peer.ready:
                self.connect(now)
            try:
                if self.peer.needs_key_update(now):
                    event, _ = self._send(self.peer.key_update(now), now)
                message = self.peer.request(requester.request_message(name, fields), now)
            except RecordError as exc:
                # The keys' budget ran out before an update got through (a link down for
                # hours): only a new handshake helps, as the pump will say too.
                if exc.code != RECORD_KEY_UPDATE:
                    raise
                self.stats["reconnects"] += 1
                self.connect(now)
                continue
            event, _ = self._send(message, now)
            if event.kind == P.REFUSED:
                self._count("security_events", "session refused %s" % (event.code,))
                self.stats["reconnects"] += 1
                self.restarted = True
                continue
            if event.kind != P.RESPONSE:
                raise ChannelDown("no answer to %s (%s)" % (name, event.kind))
            inner = event.value
            if inner.code == N.UNAUTHORIZED and inner.has(N.ECHO):
                self.stats["echo_challenges"] += 1
                continue                  # not run: send it again with the fresh Echo
            if inner.has(N.ECHO):
                self._echo_at = now
            answer = requester.parse_response(name, inner)
            if answer.is_error:
                self._count("refusals", "%s: %s" % (name, answer.fields.get("reason", "?")))
            return answer
        raise ChannelDown("%s not answered after %d tries" % (name, self.MAX_TRIES))


class ServiceClient:
    """The gateway service's client (``sim.gateway.service``) over the in-memory link, at
    the kernel's time: the one code path of the gateway, in fast mode."""

    def __init__(self, channel, now):
        self.channel = channel
        self.now = now

    @property
    def sessions(self):
        return self.channel.stats["handshakes"]

    def request(self, name, fields):
        from sim.gateway.service import LinkDown
        try:
            return self.channel.request(name, fields, self.now())
        except ChannelDown as exc:
            raise LinkDown(str(exc)) from None
