"""Back-off after repeated authentication failures (per session, per peer, global), on the
monotonic tick counter, and therapy running on time through an attack burst."""

import os

import pytest
from hypothesis import given, settings, strategies as st

from conftest import examples
from sessions_helpers import (
    CLINICIAN, GATEWAY, STRANGER, Bench, coap, make_node, peer_session, refusal, request,
)
from secure_channel.link import framing
from secure_channel.oscore import context as oscore
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N
from secure_channel.sessions.backoff import Backoff, Policy
from secure_channel.sessions.refusal_log import RefusalLog
from secure_channel.sessions.manager import SessionManager

MINUTE = 60000


def test_backoff_grows_doubles_caps_and_forgets():
    backoff = Backoff(Policy(threshold=3, base_ms=1000, max_ms=8000, forget_ms=MINUTE))
    assert [backoff.failure(t) for t in (0, 1, 2)] == [0, 0, 1000]
    assert backoff.blocked(500) and backoff.remaining(500) == 502
    assert not backoff.blocked(1002)
    assert [backoff.failure(t) for t in (1100, 3200, 7300, 15400, 23500)] == \
        [2000, 4000, 8000, 8000, 8000]
    assert backoff.blocks == 6 and backoff.total == 8
    assert not backoff.idle(23500 + MINUTE - 1)
    assert backoff.idle(23500 + MINUTE)               # forgotten after a quiet minute
    assert [backoff.failure(t) for t in (90000, 90001, 90002)] == [0, 0, 1000]
    backoff.success(90003)
    assert not backoff.blocked(90003) and backoff.failure(90004) == 0


@given(st.lists(st.integers(min_value=0, max_value=5000), max_size=60),
       st.integers(0, 5), st.integers(1, 5000), st.integers(1, 50000))
@settings(max_examples=examples(1000))
def test_backoff_never_shrinks_a_block_and_respects_the_cap(gaps, threshold, base, extra):
    policy = Policy(threshold=threshold, base_ms=base, max_ms=base + extra, forget_ms=10 ** 9)
    backoff = Backoff(policy)
    now = 0
    last_delay = 0
    for gap in gaps:
        now += gap
        before = backoff.until
        delay = backoff.failure(now)
        assert 0 <= delay <= policy.max_ms
        if delay:
            assert delay >= min(last_delay, policy.max_ms)      # growing, never shrinking
            last_delay = delay
            assert backoff.blocked(now) and backoff.remaining(now) == backoff.until - now
        if before is not None and backoff.until is not None:
            assert backoff.until >= before
    assert backoff.total == len(gaps)


def test_refusal_log_writes_a_budget_then_a_summary_and_counts_everything():
    written = []
    log = RefusalLog(lambda op, reason: written.append((op, reason)), budget=3, window_ms=1000)
    for i in range(10):
        log.refuse("oscore", 204 if i % 2 else 203, "detail %d" % i, i)
    assert len(written) == 3 and log.pending == 7
    log.flush(999)
    assert len(written) == 3
    log.flush(1000)
    assert written[-1] == ("session", "SESSION-SUMMARY: 7 more: RECORD-AUTH=4 RECORD-REPLAY=3")
    assert log.logged + log.summarized == log.total == 10
    assert log.counts == {"RECORD-AUTH": 5, "RECORD-REPLAY": 5}
    # Many names: the summary continues over as many records as it needs, each short.
    for i in range(40):
        log.refuse("frame", "NAME-%02d" % i, "x", 2000 + i)
    before = len(written)
    log.flush(5000)
    summary = [why for op, why in written[before:]]
    assert len(summary) > 1 and summary[1].startswith("SESSION-SUMMARY+: ")
    assert summary[0].startswith("SESSION-SUMMARY: 37 more: NAME-03=1 NAME-04=1")
    assert all(len(why) <= 80 for op, why in written)
    assert sum(why.count("=") for why in summary) == 37


@pytest.mark.verifies("SC-SESSION-BACKOFF")
def test_repeated_forgeries_block_the_session_with_growing_delays():
    node = make_node()
    manager = node.manager
    client = peer_session(GATEWAY)
    out = manager.receive(client.connect(), 0)
    manager.receive(client.receive(out[0], 0)[1], 0)
    session = manager.session_of(GATEWAY.credential.kid)
    forged = bytearray(request(client, "status", 0))
    forged[-1] ^= 1
    retries = []
    now = 0
    for attempt in range(6):
        forged[2:4] = (0x1000 + attempt).to_bytes(2, "big")   # each a new message
        out = manager.receive(bytes(forged), now)
        retries.append(W.read_refusal(coap(out))[1])
        now += retries[-1]                 # wait out each block, then forge again
    assert retries == [0, 0, 1000, 2000, 4000, 8000]
    assert session.backoff.blocked(now - 1)
    # While blocked, even a genuine request is refused without being decrypted.
    good = request(client, "status", now - 1)
    out = manager.receive(good, now - 1)
    assert coap(out).code == N.SERVICE_UNAVAILABLE and refusal(out) == W.SESSION_BACKOFF
    assert coap(out).uint(N.MAX_AGE) == 1                  # whole seconds, rounded up
    assert session.context.refused == 6                  # the AEAD saw only the forgeries
    out = manager.receive(request(client, "status", now), now)
    assert coap(out).code == N.CHANGED and coap(out).has(N.OSCORE)
    assert not session.backoff.blocked(now) and session.backoff.level == 0   # cleared
    assert manager.counts == {"RECORD-AUTH": 6, "SESSION-BACKOFF": 1}


@pytest.mark.verifies("SC-SESSION-BACKOFF")
def test_failed_handshakes_pause_new_handshakes_but_not_sessions():
    node = make_node()
    manager = node.manager
    gateway = peer_session(GATEWAY)
    out = manager.receive(gateway.connect(), 0)
    manager.receive(gateway.receive(out[0], 0)[1], 0)
    for _ in range(6):                      # six strangers fail at message_3
        stranger = peer_session(STRANGER)
        out = manager.receive(stranger.connect(), 100)
        manager.receive(stranger.receive(out[0], 100)[1], 100)
    assert manager.global_backoff.blocked(100)
    started = manager.stats["handshakes"]
    newcomer = peer_session(CLINICIAN)
    out = manager.receive(newcomer.connect(), 200)
    assert W.read_refusal(coap(out)) == (W.SESSION_BACKOFF, 900)
    assert coap(out).code == N.SERVICE_UNAVAILABLE
    assert manager.stats["handshakes"] == started          # no key agreement was run
    out = manager.receive(request(gateway, "status", 200), 200)
    assert coap(out).has(N.OSCORE)                          # the session is untouched
    out = manager.receive(newcomer.connect(), 1100)
    assert coap(out).code == N.CHANGED                      # message_2


def test_a_peer_failing_its_handshake_is_paused_alone():
    node = make_node()
    manager = node.manager
    for i in range(3):                     # someone without the clinician's key, 3 times
        impostor = peer_session(CLINICIAN)
        impostor._private = STRANGER.private_key
        out = manager.receive(impostor.connect(), i)
        manager.receive(impostor.receive(out[0], i)[1], i)
    peer = manager.peer_backoff[CLINICIAN.credential.kid]
    assert peer.blocked(10) and not manager.global_backoff.blocked(10)
    real = peer_session(CLINICIAN)
    out = manager.receive(real.connect(), 10)
    out = manager.receive(real.receive(out[0], 10)[1], 10)
    assert refusal(out) == W.SESSION_BACKOFF
    patient = peer_session(GATEWAY)                       # another peer is not affected
    out = manager.receive(patient.connect(), 10)
    assert coap(manager.receive(patient.receive(out[0], 10)[1], 10)).code == N.CHANGED
    later = 10 + peer.remaining(10)
    out = manager.receive(real.connect(), later)
    assert coap(manager.receive(real.receive(out[0], later)[1], later)).code == N.CHANGED
    assert manager.session_of(CLINICIAN.credential.kid) is not None
    assert CLINICIAN.credential.kid not in manager.peer_backoff
    assert manager.counts == {"EDHOC-VERIFY": 3, "SESSION-BACKOFF": 1}


def _attack_frames(gateway_request, clinician_cid, count):
    """A mix of what an attacker on the link can send, framed: forgeries on the
    clinician's session, replays of the gateway's, a handshake flood, garbage, noise."""
    frames = []
    for i in range(count):
        kind = i % 5
        if kind == 0:                                      # forged, fresh Partial IV
            piv = (1000 + i).to_bytes(2, "big")
            payload = M.encode(M.Message(N.CON, N.POST, i, b"\xa7", [(N.OSCORE, oscore.compress(
                piv, clinician_cid))], os.urandom(20)))
        elif kind == 1:                                    # replayed, as a new message
            message = M.decode(gateway_request)
            message.mid = (message.mid + 1 + i) & 0xFFFF
            payload = M.encode(message)
        elif kind == 2:
            payload = peer_session(STRANGER).connect()     # handshake flood
        elif kind == 3:
            payload = os.urandom(1 + i % 40)               # garbage
        else:
            frames.append(os.urandom(30))                  # line noise, unframed
            continue
        frames.append(framing.encode_frame(payload))
    return frames


@pytest.mark.verifies("SC-SESSION-BACKOFF")
def test_therapy_keeps_its_time_through_an_attack_burst():
    hours = 2
    control = make_node()
    control.advance_to(hours * 3600 * 1000)
    expected = control.hw.motor.pulses

    bench = Bench(node=make_node(audit_budget=8, audit_window_ms=MINUTE))
    node = bench.node
    client = bench.gateway.client
    clinician = bench.relayed(CLINICIAN)
    assert client.request("status").name == "status"
    assert clinician.request("status").name == "status"
    replayed = request(client.peer, "status", node.now())
    bench.gateway.send_raw(replayed)
    bench.gateway.turn()
    clinician_cid = clinician.peer.c_r
    frames = _attack_frames(replayed, clinician_cid, 2000)
    start = node.now()
    # Two hours of pump time in 1 s main-loop steps; an attack burst of 2,000 frames over
    # the first ten minutes; the gateway's own telemetry every 5 minutes throughout.
    for second in range(hours * 3600):
        node.advance_to(start + second * 1000)
        if second < 600:
            for frame in frames[second * 10 // 3:(second + 1) * 10 // 3]:
                node.feed(frame)
        if second % 300 == 299:
            answer = client.request("telemetry")
            assert answer.name == "telemetry" and answer.fields["state"] == 3
    node.advance_to(start + hours * 3600 * 1000)
    manager = node.manager
    assert node.pump.state == "delivering" and not node.hw.ui.alarm_active
    assert abs(node.hw.motor.pulses - expected) <= 1          # basal on time, no more
    assert manager.stats["faults"] == 0 and node.pump.monitor.latched == ""
    counts = manager.counts
    assert counts["RECORD-AUTH"] >= 3 and counts["RECORD-REPLAY"] == 400
    assert counts["SESSION-BACKOFF"] > 300 and counts["SESSION-MALFORMED"] > 300
    # The expensive work was bounded by the back-off: at most about one key agreement per
    # 5 s for 400 tries over 10 minutes, few AEAD runs for 400 forgeries.
    assert manager.stats["handshakes"] < 130
    assert manager.session_of(CLINICIAN.credential.kid).context.refused < 60
    assert clinician.request("status").name == "status"      # usable again after it
    # Every refusal is in the audit log: one by one up to the budget, then summarized.
    log = manager.log
    manager.tick(node.now() + MINUTE)
    assert log.logged + log.summarized == log.total == sum(counts.values())
    records = bench.refusals()
    assert len(records) < 400
    # Rebuild the counts from the audit log alone: records one by one, plus summaries.
    from_log = {}
    for op, why in records:
        if why.startswith("SESSION-SUMMARY"):
            for part in why.split(":", 1)[1].split():
                if "=" in part:
                    name, count = part.split("=")
                    from_log[name] = from_log.get(name, 0) + int(count)
        elif op in ("frame", "coap", "edhoc", "oscore", "session"):
            name = why.split(":")[0]
            from_log[name] = from_log.get(name, 0) + 1
    assert from_log == counts
    totals = [int(w.split()[1]) for op, w in records if w.startswith("SESSION-SUMMARY:")]
    assert totals and sum(totals) == log.summarized


def test_session_manager_refuses_bad_construction():
    node = make_node()
    for bad in ({"dispatcher": object()}, {"rng": None}, {"private_key": b"short"},
                {"credential": b"not a credential"}, {"trust": [1, 2]}):
        options = {"credential": node.manager.credential, "private_key": b"\x01" * 32,
                   "trust": node.manager.trust, "dispatcher": node.dispatcher,
                   "rng": os.urandom}
        options.update(bad)
        try:
            SessionManager(**options)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)
