"""A pump with a live secure session, on CPython and MicroPython: the pump's session
manager (EDHOC responder, OSCORE server) and a gateway's ``PeerSession`` (initiator,
client) complete an EDHOC handshake over a framed in-memory byte link and exchange
protected requests (status, a temporary basal and its effect, an altered one refused)
while the pump's main loop keeps therapy running between the link's turns.

Under MicroPython every curve, hash and AEAD operation here is the pure-Python backend,
so this is the check that the pump's own end of the channel works on the interpreter it
ships on. The wider session matrix (relay, back-off, key update) is in tests/sessions.
Plain asserts only.
"""

from pump import audit_log
from pump.hal import CountingRng
from pump_fixtures import KEY, make_pump, region
from secure_channel import crypto
from secure_channel.coap import numbers as N
from secure_channel.edhoc import credentials
from secure_channel.link.framed import FramedLink
from secure_channel.link.memory import memory_pair
from secure_channel.protocol import requester
from secure_channel.protocol import schema as S
from secure_channel.protocol.dispatch import Dispatcher
from secure_channel.sessions import peer as P
from secure_channel.sessions import trust
from secure_channel.sessions.manager import SessionManager

PUMP_KEY = bytes(range(1, 33))                   # P-256 scalars in [1, n - 1]
GATEWAY_KEY = bytes(range(40, 72))
STRANGER_KEY = bytes(range(90, 122))
DELIVERING = S.STATE_CODES["delivering"]
SLICE_MS = 1000                                  # main-loop time between link turns


def _credential(private, kid, role):
    return credentials.ccs(trust.make_ccs(crypto.p256_public(private), kid,
                                          role or "pump", role))


class Node:
    """The pump firmware with its session manager on one end of a byte link."""

    def __init__(self):
        self.pump, self.hw, self.flash = make_pump()
        self.dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal)
        gateway = _credential(GATEWAY_KEY, b"\x02", "gateway")
        self.manager = SessionManager(_credential(PUMP_KEY, b"\x01", None), PUMP_KEY,
                                      trust.TrustList([("gateway", gateway)]),
                                      self.dispatcher, CountingRng(b"pump"))
        self.end, far = memory_pair()
        self.link = FramedLink(far)
        self.turns = 0

    def now(self):
        return self.hw.clock.ticks_ms()

    def turn(self):
        """One pass of the board's loop: the pump's tick, then the link's bytes."""
        wake = self.pump.tick()
        now = self.now()
        data = self.end.read(4096)
        if data:
            out = self.manager.feed(data, now)
            if out:
                self.end.write(out)
        self.dispatcher.tick(now)
        self.manager.tick(now)
        self.turns += 1
        # The loop sleeps until the pump's next tick, but never longer than a slice:
        # the link must be looked at again soon.
        self.hw.clock.advance(max(1, min(wake - now, SLICE_MS)))

    def run(self, ms):
        end = self.now() + ms
        while self.now() < end:
            self.turn()


def _exchange(node, gateway, message):
    """Send ``message`` (CoAP bytes) from the gateway; turn the pump's loop until the
    gateway has an event for it."""
    gateway.send(message)
    for _ in range(50):
        node.turn()
        for payload in gateway.poll():
            return payload
    raise AssertionError("no answer from the pump")


def _connect(node, peer):
    link = node.link
    event, reply = peer.receive(_exchange(node, link, peer.connect()), node.now())
    assert event.kind == P.ESTABLISHED, event
    event, _ = peer.receive(_exchange(node, link, reply), node.now())
    assert event.kind == P.CONFIRMED, event


def _request(node, peer, name, fields=None):
    """One protected request; a command challenged for freshness (4.01 + Echo) is sent
    once more, as the gateway does."""
    for _ in range(2):
        inner = requester.request_message(name, fields or {})
        answer = _exchange(node, node.link, peer.request(inner, node.now()))
        event, _ = peer.receive(answer, node.now())
        assert event.kind == P.RESPONSE, event
        if not (event.value.code == N.UNAUTHORIZED and event.value.has(N.ECHO)):
            break
    return requester.parse_response(name, event.value)


def test_edhoc_then_protected_status_and_temp_basal_while_the_main_loop_runs():
    node = Node()
    node.run(10 * 60 * 1000)                                     # 10 min of basal first
    before = node.hw.motor.pulses
    assert before > 0
    peer = P.PeerSession(_credential(GATEWAY_KEY, b"\x02", "gateway"), GATEWAY_KEY,
                         _credential(PUMP_KEY, b"\x01", None), CountingRng(b"gateway"))
    _connect(node, peer)
    assert len(node.manager.sessions) == 1

    status = _request(node, peer, "status")
    assert not status.is_error and status.fields["state"] == DELIVERING, status
    answer = _request(node, peer, "temp_basal", {"percent": 0, "duration_ms": 30 * 60000})
    assert not answer.is_error, answer
    assert _request(node, peer, "status").fields["temp_basal"]
    pulses = node.hw.motor.pulses
    node.run(25 * 60 * 1000)
    assert node.hw.motor.pulses == pulses                        # 0 % for 30 minutes
    node.run(40 * 60 * 1000)
    assert node.hw.motor.pulses > pulses                         # and then basal again
    status = _request(node, peer, "status")
    assert status.fields["state"] == DELIVERING and not status.fields["temp_basal"]

    # A protected command altered on the way fails its AEAD check: refused, logged, and
    # the temporary basal is not cancelled; the session stays usable.
    assert not _request(node, peer, "temp_basal",
                        {"percent": 50, "duration_ms": 30 * 60000}).is_error
    wire = bytearray(peer.request(requester.request_message("cancel_temp_basal", {}),
                                  node.now()))
    wire[-1] ^= 1
    node.link.send(bytes(wire))
    for _ in range(20):
        node.turn()
    node.link.poll()
    assert node.manager.counts.get("RECORD-AUTH", 0) == 1, node.manager.counts
    assert _request(node, peer, "status").fields["temp_basal"]
    assert not _request(node, peer, "status").is_error
    assert node.manager.stats["faults"] == 0
    records = audit_log.verify(region(node.flash), KEY, node.pump.log_head())
    ops = [r.data.get("op") for r in records if r.type == audit_log.EV_REFUSAL]
    assert "oscore" in ops, ops


def test_an_untrusted_gateway_never_gets_a_session_and_therapy_goes_on():
    node = Node()
    stranger = P.PeerSession(_credential(STRANGER_KEY, b"\x02", "gateway"), STRANGER_KEY,
                             _credential(PUMP_KEY, b"\x01", None), CountingRng(b"x"))
    link = node.link
    event, reply = stranger.receive(_exchange(node, link, stranger.connect()), node.now())
    assert event.kind == P.ESTABLISHED                     # the pump is authenticated ...
    event, _ = stranger.receive(_exchange(node, link, reply), node.now())
    assert event.kind == P.REFUSED, event                  # ... the stranger is not
    assert len(node.manager.sessions) == 0
    node.run(60 * 60 * 1000)
    assert node.pump.state == "delivering" and node.hw.motor.pulses == 40
