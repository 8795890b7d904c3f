"""Shared set-up for the session tests: identities, a pump node in virtual time, a gateway
on an in-memory link to it, and a clinician relayed through that gateway."""

import os

from secure_channel import crypto
from secure_channel.edhoc import credentials
from secure_channel.protocol import requester
from secure_channel.sessions import trust
from secure_channel.sessions import peer as P
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N
from secure_channel.link.framed import FramedLink
from secure_channel.sessions.peer import PeerSession
from secure_channel.link.memory import memory_pair
from sim.gateway_client import Gateway
from sim.pump_server import PumpNode


class Identity:
    def __init__(self, role, kid, subject=None):
        while True:
            private = os.urandom(32)
            if crypto.p256_valid_private(private):
                break
        self.role = role
        self.private_key = private
        self.credential = credentials.ccs(trust.make_ccs(
            crypto.p256_public(private), kid, subject or role or "pump", role))


PUMP = Identity(None, b"\x01")
GATEWAY = Identity("gateway", b"\x02")
CLINICIAN = Identity("clinician", b"\x03")
PATIENT = Identity("patient", b"\x04")
SERVICE = Identity("service", b"\x05")
STRANGER = Identity("clinician", b"\x06")          # not in the pump's trust list
PEERS = (GATEWAY, CLINICIAN, PATIENT, SERVICE)


def trust_list(peers=PEERS):
    return trust.TrustList([(p.role, p.credential) for p in peers])


def make_node(**options):
    return PumpNode(PUMP.private_key, PUMP.credential, trust_list(), **options)


def peer_session(identity, **options):
    return PeerSession(identity.credential, identity.private_key, PUMP.credential,
                       os.urandom, **options)


class Bench:
    """A pump node and a gateway on a memory link, in the node's virtual time."""

    def __init__(self, node=None, gateway_identity=GATEWAY, **peer_options):
        self.node = node or make_node()
        pump_end, gateway_end = memory_pair()
        self.pump_end = pump_end
        self.wire = []                      # every chunk the pump wrote, for size checks
        self.gateway = Gateway(FramedLink(gateway_end),
                               peer_session(gateway_identity, **peer_options),
                               now_ms=self.node.now, idle=self._pump_turn, timeout_s=2.0)

    def _pump_turn(self):
        data = self.pump_end.read(65536)
        if data:
            out = self.node.feed(data)
            if out:
                self.wire.append(out)
                self.pump_end.write(out)

    def relayed(self, identity, endpoint="clinician", **peer_options):
        return self.gateway.relayed_client(endpoint, peer_session(identity, **peer_options))

    def advance(self, ms):
        self.node.advance_to(self.node.now() + ms)

    @property
    def manager(self):
        return self.node.manager

    def refusals(self):
        """(op, why) of every refusal record in the pump's verified audit log."""
        from pump import audit_log
        records = audit_log.verify(self.node.flash, self.node.log_key,
                                   self.node.pump.log_head())
        return [(r.data["op"], r.data["why"]) for r in records
                if r.type == audit_log.EV_REFUSAL]


# -- one manager, peers driven by hand (no link) -------------------------------------------

def coap(out):
    """The one CoAP message a manager answered with."""
    assert len(out) == 1, out
    return M.decode(out[0])


def refusal(out):
    """The refusal code of the one unprotected answer in ``out``."""
    return W.read_refusal(coap(out))[0]


def request(client, name, now, fields=None):
    """The CoAP message of one pump-protocol request from ``client``."""
    return client.request(requester.request_message(name, fields or {}), now)


def exchange(manager, client, name, now, fields=None):
    """One request through a manager directly: returns the decoded answer (Parsed). A
    command the pump challenges for freshness (4.01 with Echo) is sent once more."""
    for _ in range(2):
        out = manager.receive(request(client, name, now, fields), now)
        assert len(out) == 1
        event, _ = client.receive(out[0], now)
        assert event.kind == P.RESPONSE, event
        if not (event.value.code == N.UNAUTHORIZED and event.value.has(N.ECHO)):
            break
    return requester.parse_response(name, event.value)


def handshake(manager, client, now):
    """connect, message_2, message_3 and its answer (message_4): the session exists."""
    out = manager.receive(client.connect(), now)
    event, reply = client.receive(out[0], now)
    assert event.kind == P.ESTABLISHED, event
    out = manager.receive(reply, now)
    event, _ = client.receive(out[0], now)
    assert event.kind == P.CONFIRMED, event
