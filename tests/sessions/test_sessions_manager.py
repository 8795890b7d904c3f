"""The pump's session manager: handshakes, roles from credentials, one session per peer,
replay and order, key update when the budget runs out, and refusals counted and logged."""

import os

import pytest

from sessions_helpers import (
    CLINICIAN, GATEWAY, PATIENT, SERVICE, STRANGER, Bench, Identity, coap, exchange,
    handshake, make_node, peer_session, refusal, request,
)
from secure_channel import cbor
from secure_channel.edhoc import credentials
from secure_channel.link import framing
from secure_channel.sessions import peer as P
from secure_channel.protocol import roles
from secure_channel.sessions import manager as sessions
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N
from secure_channel.errors import (
    EDHOC_CREDENTIAL, EDHOC_MALFORMED, EDHOC_PEER, RECORD_AUTH, RECORD_REPLAY,
)
from secure_channel.sessions.trust import TrustError, TrustList
from sim.gateway_client import GatewayError


def test_gateway_handshake_and_status_request():
    bench = Bench()
    answer = bench.gateway.client.request("status")
    assert answer.name == "status" and answer.fields["state"] == 3
    session = bench.manager.session_of(GATEWAY.credential.kid)
    assert session.role == roles.GATEWAY and session.requests == 1
    assert bench.manager.counts == {} and bench.manager.stats["faults"] == 0
    assert bench.refusals() == []


@pytest.mark.verifies("SC-EDHOC-AUTH", "SC-ROLE-MATRIX")
@pytest.mark.parametrize("identity", [GATEWAY, CLINICIAN, PATIENT, SERVICE])
def test_role_comes_from_the_trusted_credential(identity):
    bench = Bench(gateway_identity=identity)
    answer = bench.gateway.client.request("set_basal_program", {"rates": [900] * 48})
    allowed = roles.permission(identity.role, "set_basal_program") == roles.ALLOW
    assert answer.is_error != allowed
    if not allowed:
        assert answer.fields["code"] == 32
        assert bench.refusals() == [("set_basal_program", "forbidden: role %s may not send "
                                     "set_basal_program" % identity.role)]
    assert bench.manager.session_of(identity.credential.kid).role == identity.role


def test_the_trust_list_entry_is_the_authority_on_the_role():
    """A credential without a role claim gets the role the pump's trust list gives it; a
    credential whose claim disagrees with the entry cannot be trusted at all."""
    plain = Identity(None, b"\x07", "tool without a claim")
    node = make_node()
    node.manager.trust = TrustList([("service", plain.credential)])
    bench = Bench(node=node, gateway_identity=plain)
    assert bench.gateway.client.request("status").name == "status"
    assert node.manager.session_of(b"\x07").role == roles.SERVICE
    answer = bench.gateway.client.request("telemetry")
    assert answer.is_error and answer.fields["code"] == 32      # service sees no glucose
    with pytest.raises(TrustError):
        TrustList([("clinician", PATIENT.credential)])


@pytest.mark.verifies("SC-EDHOC-AUTH")
def test_untrusted_credential_is_refused_and_logged():
    bench = Bench(gateway_identity=STRANGER)
    with pytest.raises(GatewayError) as caught:
        bench.gateway.client.request("status", reconnect=False)
    assert caught.value.code == EDHOC_PEER                 # the pump sent an EDHOC error
    # message_3 is refused with an EDHOC error; the client sends no request on it.
    assert bench.manager.counts == {"EDHOC-CREDENTIAL": 1}
    assert bench.manager.sessions == {}
    (op, why), = bench.refusals()
    assert op == "edhoc" and why.startswith("EDHOC-CREDENTIAL: ") and "untrusted kid 06" in why


@pytest.mark.verifies("SC-EDHOC-AUTH")
def test_peer_that_does_not_know_the_pump_key_fails_verification():
    """A peer with a trusted kid but another key (an impostor) fails at message_3."""
    node = make_node()
    impostor = peer_session(CLINICIAN)
    impostor._private = STRANGER.private_key
    out = node.manager.receive(impostor.connect(), 0)
    event, reply = impostor.receive(out[0], 0)
    assert event.kind == P.ESTABLISHED                   # it can read message_2 ...
    out = node.manager.receive(reply, 0)
    answer = coap(out)                                   # ... but not prove the key:
    assert answer.code == N.BAD_REQUEST                  # an EDHOC error in a 4.00
    assert answer.first(N.CONTENT_FORMAT) == bytes((N.EDHOC_CBOR_SEQ,))
    assert node.manager.counts == {"EDHOC-VERIFY": 1}
    assert node.manager.sessions == {}


def test_one_session_per_peer_and_several_peers_at_once():
    node = make_node()
    manager = node.manager
    clients = {i.role: peer_session(i) for i in (GATEWAY, CLINICIAN, PATIENT, SERVICE)}
    for client in clients.values():
        handshake(manager, client, 0)
    assert len(manager.sessions) == 4
    cids = {client.c_r for client in clients.values()}
    assert len(cids) == 4                                  # addressed by C_R, all distinct
    for role, client in clients.items():
        assert exchange(manager, client, "status", 0).name == "status"
    again = peer_session(GATEWAY)
    handshake(manager, again, 0)                          # the gateway reconnects
    assert len(manager.sessions) == 4 and manager.stats["replaced"] == 1
    assert exchange(manager, again, "status", 0).name == "status"
    old = clients["gateway"]
    out = manager.receive(request(old, "status", 0), 0)
    assert coap(out).code == N.UNAUTHORIZED and refusal(out) == W.SESSION_UNKNOWN
    event, _ = old.receive(out[0], 0)
    assert event.kind == P.REFUSED and event.code == W.SESSION_UNKNOWN and event.restart


def test_session_table_is_bounded_and_evicts_the_least_recently_used():
    node = make_node(max_sessions=2)
    manager = node.manager
    a, b, c = peer_session(GATEWAY), peer_session(CLINICIAN), peer_session(PATIENT)
    handshake(manager, a, 0)
    handshake(manager, b, 10)
    exchange(manager, a, "status", 20)
    handshake(manager, c, 30)
    assert manager.stats["evicted"] == 1
    assert sorted(s.role for s in manager.sessions.values()) == ["gateway", "patient"]


@pytest.mark.verifies("SC-OSCORE-REPLAY")
def test_replayed_and_reordered_requests_are_refused_and_session_stays_usable():
    node = make_node()
    manager = node.manager
    client = peer_session(CLINICIAN)
    handshake(manager, client, 0)
    first = request(client, "status", 0)
    second = request(client, "status", 0)
    assert coap(manager.receive(second, 0)).has(N.OSCORE)
    late = manager.receive(first, 0)                       # reordered: older than the last
    assert coap(late).code == N.UNAUTHORIZED and refusal(late) == RECORD_REPLAY
    # A retransmission (same Message ID) is the CoAP layer's: the same answer, run once.
    assert manager.receive(second, 0) == manager.receive(second, 0)
    replayed = bytearray(second)
    replayed[2] ^= 0x55                                    # a new Message ID: a replay
    again = manager.receive(bytes(replayed), 0)
    assert refusal(again) == RECORD_REPLAY
    assert manager.counts == {"RECORD-REPLAY": 2}
    assert manager.stats["requests"] == 1
    assert exchange(manager, client, "status", 0).name == "status"
    refusals = [why for op, why in Bench(node=node).refusals() if op == "oscore"]
    assert len(refusals) == 2 and all(w.startswith("RECORD-REPLAY: session ") for w in refusals)


@pytest.mark.verifies("SC-OSCORE-AEAD")
def test_forged_request_is_refused_with_auth_and_logged():
    node = make_node()
    manager = node.manager
    client = peer_session(GATEWAY)
    handshake(manager, client, 0)
    payload = bytearray(request(client, "status", 0))
    payload[-1] ^= 0x01
    out = manager.receive(bytes(payload), 0)
    assert coap(out).code == N.BAD_REQUEST and refusal(out) == RECORD_AUTH    # §8.2
    assert manager.counts == {"RECORD-AUTH": 1}
    assert exchange(manager, client, "status", 0).name == "status"


def test_key_update_when_the_message_budget_runs_low():
    bench = Bench(max_messages=8)
    client = bench.gateway.client
    for i in range(30):
        assert client.request("status").name == "status"
    session = bench.manager.session_of(GATEWAY.credential.kid)
    assert client.peer.key_updates >= 3
    assert session.key_updates == client.peer.key_updates
    assert bench.manager.stats["established"] == 1          # rekeyed, never re-handshaken
    assert bench.manager.counts == {}


def test_key_update_answer_lost_then_repeated():
    node = make_node()
    manager = node.manager
    client = peer_session(GATEWAY)
    handshake(manager, client, 0)
    lost = manager.receive(client.key_update(0), 0)         # the answer never arrives
    assert len(lost) == 1
    assert exchange(manager, client, "status", 0).name == "status"  # old keys work
    out = manager.receive(client.key_update(0), 0)
    event, _ = client.receive(out[0], 0)
    assert event.kind == P.KEY_UPDATED
    session = manager.session_of(GATEWAY.credential.kid)
    assert session.key_updates == 1 and session.previous is not None
    assert exchange(manager, client, "status", 0).name == "status"
    assert session.previous is None                        # committed by the new keys


def test_time_budget_ends_the_session_and_the_peer_reconnects():
    bench = Bench(node=make_node(max_age_ms=60000), max_age_ms=10 ** 9)
    client = bench.gateway.client
    assert client.request("status").name == "status"
    bench.advance(61000)
    assert client.request("status").name == "status"        # notice -> new handshake
    assert bench.manager.stats["established"] == 2 and bench.manager.stats["ended"] == 1
    assert bench.manager.counts == {"RECORD-KEY-UPDATE": 1}


def test_the_peer_rekeys_before_the_pump_time_budget_ends():
    bench = Bench(node=make_node(max_age_ms=80000), max_age_ms=80000)
    client = bench.gateway.client
    for _ in range(12):
        assert client.request("status").name == "status"
        bench.advance(15000)
    assert client.peer.key_updates >= 2 and bench.manager.stats["established"] == 1
    assert bench.manager.counts == {}


def test_abandoned_handshakes_expire_and_a_full_table_says_busy():
    node = make_node(max_handshakes=2, handshake_timeout_ms=5000)
    manager = node.manager
    for _ in range(2):
        out = manager.receive(peer_session(GATEWAY).connect(), 0)
        assert coap(out).code == N.CHANGED                 # message_2
    client = peer_session(CLINICIAN)
    out = manager.receive(client.connect(), 1000)
    answer = coap(out)
    # Full, and its oldest entry is younger than MIN_HANDSHAKE_AGE_MS: wait until it is.
    assert answer.code == N.SERVICE_UNAVAILABLE and answer.uint(N.MAX_AGE) == 1
    assert W.read_refusal(answer) == (W.SESSION_BUSY, 1000)
    event, _ = client.receive(out[0], 1000)
    assert event.kind == P.REFUSED and event.retry_ms == 1000
    manager.tick(5000)
    assert manager.handshakes == {} and manager.stats["expired"] == 2
    handshake(manager, client, 5000)
    assert manager.counts == {"SESSION-BUSY": 1, "SESSION-TIMEOUT": 2}


def _message(request, mid=1):
    request.mtype, request.mid, request.token = N.CON, mid, b"\x01"
    return M.encode(request)


@pytest.mark.verifies("SC-UNPROTECTED-REFUSED")
def test_message_3_for_no_handshake_and_what_may_not_come_to_the_pump():
    node = make_node()
    manager = node.manager
    out = manager.receive(_message(W.message_3_request(b"\x07", b"\x41\x00")), 0)
    assert refusal(out) == W.SESSION_UNKNOWN
    response = M.Message(N.CON, N.CHANGED, 2, b"\x02", payload=b"\x00" * 9)
    assert coap(manager.receive(M.encode(response), 0)).mtype == N.RST
    assert manager.receive(b"\x05", 0) == []               # not CoAP: dropped, counted
    plain = M.Message(code=N.GET).set_path("status")       # a resource without OSCORE
    out = manager.receive(_message(plain, 3), 0)
    assert coap(out).code == N.UNAUTHORIZED and refusal(out) == W.SESSION_UNPROTECTED
    assert manager.counts == {"SESSION-UNKNOWN": 1, "SESSION-MALFORMED": 1,
                              "SESSION-UNPROTECTED": 1}


def test_framing_drops_are_counted_and_logged():
    node = make_node()
    frame = framing.encode_frame(b"\x05abc")
    noisy = bytearray(frame)
    noisy[2] ^= 0x40
    out = node.feed(bytes(noisy) + b"\x00\x13\x11\x00" + b"\x01" * 2000 + b"\x00")
    assert out == b""
    assert node.manager.counts["FRAME-BAD-CRC"] == 1
    assert node.manager.counts["FRAME-TOO-LONG"] == 1
    ops = [op for op, _ in Bench(node=node).refusals()]
    assert ops.count("frame") == sum(node.manager.counts.values())


def test_an_edhoc_error_from_the_peer_ends_the_handshake_and_is_logged():
    node = make_node()
    manager = node.manager
    client = peer_session(GATEWAY)
    client.pump = credentials.CredentialStore([])          # it trusts no pump key
    out = manager.receive(client.connect(), 0)
    event, reply = client.receive(out[0], 0)
    assert event.kind == P.REFUSED and event.code == EDHOC_CREDENTIAL
    sent = M.decode(reply)                                   # its EDHOC error message,
    assert sent.path == W.EDHOC_PATH                         # C_R || error, to the pump
    assert coap(manager.receive(reply, 0)).code == N.CHANGED
    assert manager.counts == {"EDHOC-PEER": 1} and manager.handshakes == {}


def test_a_malformed_key_update_is_refused_inside_the_session():
    node = make_node()
    manager = node.manager
    client = peer_session(PATIENT)
    handshake(manager, client, 0)
    inner = M.Message(code=N.POST, payload=cbor.encode([2, os.urandom(8)]))
    out = manager.receive(client.request(inner.set_path("session/key-update"), 0), 0)
    event, _ = client.receive(out[0], 0)
    assert event.kind == P.RESPONSE and event.value.code == N.BAD_REQUEST
    other = M.Message(code=N.GET).set_path("control")
    out = manager.receive(client.request(other, 0), 0)
    event, _ = client.receive(out[0], 0)
    assert event.value.code == N.NOT_FOUND                   # the resources' answer
    assert manager.stats["key_updates"] == 0


def test_identifiers_stay_unique_and_within_one_byte():
    node = make_node(max_handshakes=40, max_sessions=40)
    manager = node.manager
    for _ in range(40):
        manager.receive(peer_session(GATEWAY).connect(), 0)
    cids = list(manager.handshakes)
    assert len(cids) == 40 and all(len(c) == 1 for c in cids)
    assert len(set(cids)) == 40


def test_message_1_with_a_long_c_i_is_refused_with_its_own_code_when_busy_or_backed_off():
    """A C_I longer than 7 bytes cannot be an OSCORE Recipient ID: the refusal is counted
    as malformed and answered, never contained as a session-layer fault."""
    from secure_channel.edhoc import messages as msgs
    long_c_i = b"\x01" * 8
    body = msgs.encode_message_1(3, [2], b"\x02" * 32, long_c_i)
    for busy in (True, False):
        node = make_node(max_handshakes=1)
        manager = node.manager
        if busy:
            manager.receive(peer_session(GATEWAY).connect(), 0)
        out = manager.receive(_message(W.message_1_request(body)), 0)
        assert refusal(out) == EDHOC_MALFORMED
        assert "SESSION-FAULT" not in manager.counts and manager.counts, manager.counts
    node = make_node()
    node.manager.global_backoff.failure(0)
    for _ in range(10):
        node.manager.global_backoff.failure(0)
    assert refusal(node.manager.receive(_message(W.message_1_request(body)), 0)) == \
        EDHOC_MALFORMED
    assert "SESSION-FAULT" not in node.manager.counts


def test_a_forged_session_unknown_notice_never_makes_a_command_run_twice():
    """A man in the middle drops the pump's answer to a temp basal and forges the
    unauthenticated 4.01 "session unknown" with the request's token. The client may
    reconnect, but it must not send the therapy command again: it has already run."""
    bench = Bench()
    client = bench.gateway.client
    assert client.request("status").name == "status"
    # An honest command first: its answer carries the Echo the next one needs, so the
    # attacked command runs at its first sending, as it would in a busy session.
    assert not client.request("temp_basal", {"percent": 50, "duration_ms": 30 * 60000}).is_error
    before = len([r for r in _records(bench) if r.type == 2 and r.data["op"] == "temp_basal"])
    honest_turn = bench._pump_turn
    bench.gateway.idle = _forging_session_unknown(bench)
    runs = bench.node.pump.refusals.copy()
    with pytest.raises(GatewayError):
        client.request("temp_basal", {"percent": 50, "duration_ms": 30 * 60000})
    bench.gateway.idle = honest_turn
    temp_commands = [r for r in _records(bench) if r.type == 2 and r.data["op"] == "temp_basal"]
    assert len(temp_commands) == before + 1, temp_commands      # ran once, not twice
    assert bench.node.pump.refusals == runs
    assert client.request("status").name == "status"            # reads may be retried


def _forging_session_unknown(bench, forget_sessions=False):
    """A man in the middle for ``bench.gateway.idle``: the pump runs the next request, its
    answer is dropped and an unprotected 4.01 "session unknown" forged in its place (with
    ``forget_sessions``, the pump also loses its sessions, as after a restart)."""
    from secure_channel.link import framing
    forged = []

    def turn():
        data = bench.pump_end.read(65536)
        if not data:
            return
        out = bench.node.feed(data)
        if out and not forged:
            answer = M.decode(framing.Deframer().feed(out)[0])
            notice = W.refusal(N.UNAUTHORIZED, W.SESSION_UNKNOWN)
            notice.mtype, notice.mid, notice.token = N.ACK, answer.mid, answer.token
            forged.append(out)                          # the real answer is dropped
            if forget_sessions:
                bench.manager.sessions.clear()
            bench.pump_end.write(framing.encode_frame(M.encode(notice)))
        elif out:
            bench.pump_end.write(out)
    return turn


def _records(bench):
    from pump import audit_log
    return audit_log.verify(bench.node.flash, bench.node.log_key, bench.node.pump.log_head())


# -- freshness of commands: the Echo option (RFC 9175) ----------------------------------

TEMP = {"percent": 50, "duration_ms": 30 * 60000}


def _command(manager, client, now, fields=TEMP):
    out = manager.receive(request(client, "temp_basal", now, fields), now)
    event, _ = client.receive(out[0], now)
    assert event.kind == P.RESPONSE
    return event.value


@pytest.mark.verifies("SC-ECHO-FRESH")
def test_a_command_without_a_fresh_echo_is_challenged_and_does_not_run():
    node = make_node()
    manager = node.manager
    client = peer_session(CLINICIAN)
    handshake(manager, client, 0)
    assert exchange(manager, client, "status", 0).name == "status"     # reads: never
    assert manager.stats["echo_challenges"] == 0
    answer = _command(manager, client, 10)
    assert answer.code == N.UNAUTHORIZED and answer.first(N.ECHO) == b"\x0a"
    assert not node.pump.status()["temp_basal"]                      # it did not run
    answer = _command(manager, client, 20)                             # with the Echo
    assert answer.code == N.CHANGED and node.pump.status()["temp_basal"]
    assert answer.has(N.ECHO)                                          # for the next one
    assert _command(manager, client, 30).code == N.CHANGED            # no new challenge
    assert manager.stats["echo_challenges"] == 1 and manager.counts == {}


@pytest.mark.verifies("SC-ECHO-FRESH")
def test_a_command_held_back_past_the_echo_window_is_refused_and_logged():
    node = make_node()
    manager = node.manager
    client = peer_session(CLINICIAN)
    handshake(manager, client, 0)
    assert _command(manager, client, 0).code == N.UNAUTHORIZED         # Echo issued at 0
    held = request(client, "temp_basal", 0, TEMP)                      # sent, held back
    later = sessions.ECHO_FRESH_MS + 1
    out = manager.receive(held, later)                                 # released late
    event, _ = client.receive(out[0], later)
    assert event.value.code == N.UNAUTHORIZED and event.value.has(N.ECHO)
    assert not node.pump.status()["temp_basal"]
    assert manager.counts == {"SESSION-STALE": 1}
    (op, why), = Bench(node=node).refusals()
    assert op == "oscore" and why.startswith("SESSION-STALE: ") and "ms old" in why


def test_a_combined_request_is_fresh_by_its_handshake():
    node = make_node()
    manager = node.manager
    client = peer_session(CLINICIAN, combined=True)
    out = manager.receive(client.connect(), 0)
    event, reply = client.receive(out[0], 0)
    assert event.kind == P.ESTABLISHED and reply is None
    assert _command(manager, client, 5).code == N.CHANGED
    assert manager.stats["echo_challenges"] == 0


def test_an_echo_from_the_future_or_too_long_is_not_ours():
    node = make_node()
    manager = node.manager
    client = peer_session(CLINICIAN)
    handshake(manager, client, 1000)
    for value in (b"\x07\xd0", bytes(9)):                              # 2000 ms; 9 bytes
        client.echo = value
        assert _command(manager, client, 1000).code == N.UNAUTHORIZED
    assert manager.counts == {"SESSION-STALE": 2}


def test_the_client_does_not_resend_a_command_held_back_on_the_way():
    """A relay holds a suspend past the Echo window and releases it: the pump refuses it as
    stale, and the client, seeing its challenge come back late, does not send it again
    (which would make it run late after all). Found by an independent attack."""
    bench = Bench()
    client = bench.gateway.client
    assert client.request("status").name == "status"
    seconds = [0.0]
    client.clock = lambda: seconds[0]
    held = []

    def holding_turn():
        data = bench.pump_end.read(65536)
        if data and not held:
            held.append(data)                    # hold the command back for 40 s
            bench.advance(40000)
            seconds[0] += 40.0
            data = held[0]
        if data:
            out = bench.node.feed(data)
            if out:
                bench.pump_end.write(out)
    bench.gateway.idle = holding_turn
    with pytest.raises(GatewayError) as caught:
        client.request("suspend")
    assert caught.value.code == W.SESSION_STALE and "not sent again" in str(caught.value)
    assert bench.node.pump.state == "delivering"              # the late suspend never ran
    assert bench.manager.stats["echo_challenges"] == 1


def test_proxy_requests_and_oversized_payloads_are_refused_before_any_key():
    node = make_node()
    manager = node.manager
    client = peer_session(CLINICIAN)
    handshake(manager, client, 0)
    outer = M.decode(request(client, "status", 0))
    outer.add(N.PROXY_URI, "coap://pump/status")
    answer = coap(manager.receive(M.encode(outer), 0))
    assert answer.code == N.PROXYING_NOT_SUPPORTED
    big = M.decode(request(client, "status", 0))
    big.mid ^= 1
    big.payload += bytes(4000)
    answer = coap(manager.receive(M.encode(big), 0))
    assert answer.code == N.REQUEST_ENTITY_TOO_LARGE and answer.uint(N.SIZE1) == 1024
    session = manager.session_of(CLINICIAN.credential.kid)
    assert session.context.refused == 0 and not session.backoff.blocked(0)  # no AEAD ran
    assert manager.counts == {"SESSION-MALFORMED": 2}
    assert exchange(manager, client, "status", 0).name == "status"


def test_a_lost_request_is_retransmitted_and_a_lost_answer_does_not_run_it_twice():
    """CoAP reliability (RFC 7252 §4.2): the client sends its Confirmable request again
    after ACK_TIMEOUT; the pump answers the copy from its cache, so the command runs once."""
    bench = Bench()
    client = bench.gateway.client
    client.request("resume")                  # primes the Echo: the next command goes once
    lost = {"request": 1, "answer": 1}

    def lossy_turn():
        data = bench.pump_end.read(65536)
        if not data:
            return
        if lost["request"]:
            lost["request"] -= 1                   # the first sending never arrives
            return
        out = bench.node.feed(data)
        if out and lost["answer"]:
            lost["answer"] -= 1                    # the pump's first answer is lost
            return
        if out:
            bench.pump_end.write(out)
    bench.gateway.idle = lossy_turn
    bench.gateway.timeout_s = 10                   # 2 s, then 4 s more
    answer = client.request("suspend")
    assert answer.name == "suspend" and not answer.is_error
    assert client.retransmissions == 2
    assert bench.manager.layer.counts["duplicates"] == 1
    suspends = [r for r in _records(bench) if r.type == 2 and r.data["op"] == "suspend"]
    assert len(suspends) == 1 and bench.node.pump.state == "suspended"


def test_a_repeated_command_that_had_run_is_reported_as_run_not_refused():
    """The answer to a temp basal with a cmd_id is dropped and a 4.01 "session unknown"
    forged: the client reconnects and repeats it (safe: the pump de-duplicates cmd_ids).
    The pump refuses the repeat (IL-DUPLICATE-CMD), so the first sending ran: the client
    must say so, not report a refusal (found by an independent attack)."""
    from sim.gateway_client import ALREADY_RAN
    bench = Bench()
    client = bench.gateway.client
    client.request("resume")                              # primes the Echo
    bench.gateway.idle = _forging_session_unknown(bench, forget_sessions=True)
    fields = {"percent": 50, "duration_ms": 30 * 60000, "cmd_id": b"\x01\x02\x03\x04",
              "issued_ms": bench.node.now()}
    with pytest.raises(GatewayError) as caught:
        client.request("temp_basal", fields)
    assert caught.value.code == ALREADY_RAN and "ran at its first sending" in str(caught.value)
    assert bench.node.pump.status()["temp_basal"]
    temp = [r for r in _records(bench) if r.type == 2 and r.data["op"] == "temp_basal"]
    assert len(temp) == 1


def test_stale_message_1s_cannot_keep_a_newcomer_out():
    """Anyone can send message_1 and walk away. A full table gives up its oldest entry
    for a newcomer once that entry is 2 s old, and abandoned handshakes pause new ones
    for at most 10 s, so the gateway gets in within one short back-off of the attack
    ending (found by an independent attack: it was locked out for minutes)."""
    node = make_node()
    manager = node.manager
    now = 0
    for _ in range(40):                       # an attacker: 3 message_1s every 2.5 s
        for _ in range(3):
            manager.receive(peer_session(STRANGER).connect(), now)
        now += 2500
    client = peer_session(GATEWAY)
    for attempt in range(20):                 # the gateway keeps trying, as it is told
        out = manager.receive(client.connect(), now)
        answer = coap(out)
        if answer.code == N.CHANGED:
            break
        now += W.read_refusal(answer)[1]
    assert answer.code == N.CHANGED, manager.counts
    assert now - 100000 <= 10000              # within one short back-off of the attack
    event, reply = client.receive(out[0], now)
    assert coap(manager.receive(reply, now)).code == N.CHANGED
    assert manager.session_of(GATEWAY.credential.kid) is not None
    assert not manager.global_backoff.blocked(now)       # no lockout of everyone
