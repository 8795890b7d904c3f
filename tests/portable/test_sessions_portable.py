"""Session layer pieces that need no curve or AES, on CPython and on MicroPython: EDHOC
over CoAP and the refusal bodies, back-off, the throttled refusal log, trust lists, and the
session manager refusing what it cannot use (logged in the pump's own audit log) without
touching therapy. Plain asserts only.
"""

from binascii import unhexlify

from pump import audit_log
from pump.hal import CountingRng
from pump_fixtures import KEY, make_pump, raises, region, run_for
from secure_channel import cbor
from secure_channel.sessions import wire as W
from secure_channel.sessions import trust
from secure_channel.coap import message as M, numbers as N
from secure_channel.sessions.backoff import Backoff, Policy
from secure_channel.protocol.dispatch import Dispatcher
from secure_channel.sessions.refusal_log import RefusalLog
from secure_channel.sessions.manager import SessionManager

# A P-256 public key (x || y) for building CCS; no curve arithmetic is done with it here.
PUBLIC = unhexlify(
    "bbc34960526ea4d32e940cad2a234148ddc21791a12afbcbac93622046dd44f0"
    "4519e257236b2a0ce2023f0931f1f386ca7afda64fcde0108c224c51eabf6072")


def test_edhoc_requests_and_their_payload_prefixes():
    request = W.message_1_request(b"\x03\x02")
    assert request.code == N.POST and request.path == "/.well-known/edhoc"
    assert request.uint(N.CONTENT_FORMAT) == N.CID_EDHOC_CBOR_SEQ
    assert W.split_edhoc_payload(request.payload) == (None, b"\x03\x02")
    assert W.message_3_request(b"\x07", b"\x41\x00").payload == b"\x07\x41\x00"
    assert W.split_edhoc_payload(b"\x41\x18\x41\x00") == (b"\x18", b"\x41\x00")
    for bad in (b"", b"\xf5", b"\x07", b"\xff", b"\x41\x07\x00", b"\x48" + bytes(9),
                b"\xf4\x00"):
        assert raises(W.WireError, W.split_edhoc_payload, bad), bad
    assert W.split_combined(b"\x42ab" + bytes(9)) == (b"\x42ab", bytes(9))
    for bad in (b"", b"\x42ab", b"\x01" + bytes(9), b"\x5f"):
        assert raises(W.WireError, W.split_combined, bad), bad


def test_refusal_bodies():
    answer = W.refusal(N.SERVICE_UNAVAILABLE, W.SESSION_BACKOFF, 2500)
    assert answer.uint(N.MAX_AGE) == 3 and answer.uint(N.CONTENT_FORMAT) == N.CBOR
    assert W.read_refusal(answer) == (W.SESSION_BACKOFF, 2500)
    assert not W.refusal(N.UNAUTHORIZED, W.SESSION_UNKNOWN).has(N.MAX_AGE)
    other = M.Message(code=N.SERVICE_UNAVAILABLE, payload=b"busy").add(N.MAX_AGE, 4)
    assert W.read_refusal(other) == (None, 4000)             # a standard server's answer
    for bad in (cbor.encode([1]), cbor.encode([True, 0]), cbor.encode([1, -1]),
                cbor.encode([70000, 0]), b"\x82\x01"):
        assert W.read_refusal(M.Message(code=N.BAD_REQUEST, payload=bad)) == (None, 0)
    assert raises(W.WireError, W.refusal, N.BAD_REQUEST, -1)


def test_backoff_on_ticks():
    backoff = Backoff(Policy(threshold=2, base_ms=100, max_ms=300, forget_ms=1000))
    assert backoff.failure(0) == 0
    assert backoff.failure(1) == 100
    assert backoff.blocked(100) and not backoff.blocked(101)
    assert backoff.failure(150) == 200
    assert backoff.failure(400) == 300               # capped
    assert backoff.remaining(500) == 200
    assert not backoff.idle(1399) and backoff.idle(1400)
    assert backoff.failure(5000) == 0                # forgotten: free again
    backoff.success(5001)
    assert backoff.level == 0 and backoff.total == 5
    assert raises(ValueError, Policy, 1, 10, 5)
    assert raises(ValueError, Policy, True)


def test_refusal_log_budget_and_summary():
    written = []
    log = RefusalLog(lambda op, why: written.append((op, why)), budget=2, window_ms=100)
    for i in range(5):
        log.refuse("oscore", 204, "forged %d" % i, i)
    assert written == [("oscore", "RECORD-AUTH: forged 0"), ("oscore", "RECORD-AUTH: forged 1")]
    log.refuse("frame", W.SESSION_MALFORMED, "junk", 150)   # a new window: summary first
    assert written[2] == ("session", "SESSION-SUMMARY: 3 more: RECORD-AUTH=3")
    assert written[3] == ("frame", "SESSION-MALFORMED: junk")
    assert log.logged + log.summarized == log.total == 6

    def broken(op, why):
        raise OSError("flash busy")
    failing = RefusalLog(broken)
    failing.refuse("frame", W.SESSION_MALFORMED, "x", 0)
    assert failing.audit_failures == 1 and failing.total == 1


def _ccs(kid, role):
    return trust.make_ccs(PUBLIC, kid, "peer", role)


def test_trust_list_binds_roles_to_credentials():
    trust_list = trust.TrustList([("gateway", _ccs(b"\x02", "gateway")),
                                  ("clinician", _ccs(b"\x03", None))])
    data = trust_list.encode()
    parsed = trust.decode(data)
    assert parsed.encode() == data and len(parsed) == 2
    assert parsed.lookup({4: b"\x03"}).role == "clinician"
    assert parsed.lookup({4: b"\x09"}) is None and parsed.lookup("junk") is None
    assert trust.role_claim(parsed.by_kid(b"\x02").credential) == "gateway"
    # A credential claiming one role cannot be trusted for another; kids are unique.
    assert raises(trust.TrustError, trust_list.add, "service", _ccs(b"\x04", "gateway"))
    assert raises(trust.TrustError, trust_list.add, "patient", _ccs(b"\x02", "patient"))
    assert raises(trust.TrustError, trust_list.add, "pump", _ccs(b"\x05", None))
    for bad in (b"", b"\xa0", cbor.encode({1: 2, 2: []}), cbor.encode({1: True, 2: []}),
                cbor.encode({1: 1, 2: [["gateway"]]}), cbor.encode({1: 1, 2: [[1, b"x"]]}),
                cbor.encode({1: 1, 2: [["admin", _ccs(b"\x06", None)]]})):
        assert raises(trust.TrustError, trust.decode, bad), bad


def _manager():
    pump, hw, flash = make_pump()
    dispatcher = Dispatcher(pump, audit=pump.record_refusal)
    pump_ccs = trust.make_ccs(PUBLIC, b"\x01", "pump")
    from secure_channel.edhoc import credentials
    manager = SessionManager(credentials.ccs(pump_ccs), b"\x01" * 32,
                             trust.TrustList([("gateway", _ccs(b"\x02", "gateway"))]),
                             dispatcher, CountingRng(b"portable"))
    return pump, hw, flash, manager


def test_manager_refuses_without_crypto_and_logs_in_the_pump_log():
    pump, hw, flash, manager = _manager()
    now = hw.clock.ticks_ms()
    # An OSCORE request for a session that does not exist: 4.01, same token (RFC 8613).
    request = M.Message(N.CON, N.POST, 0x1234, b"\xaa", [(N.OSCORE, b"\x09\x01\x07")],
                        bytes(12))
    out = manager.receive(M.encode(request), now)
    assert len(out) == 1
    answer = M.decode(out[0])
    assert (answer.mtype, answer.code, answer.mid, answer.token) == \
        (N.ACK, N.UNAUTHORIZED, 0x1234, b"\xaa")
    assert W.read_refusal(answer) == (W.SESSION_UNKNOWN, 0)
    # A message_1 with a method the pump does not accept (refused before any curve).
    message_1 = cbor.encode(0) + cbor.encode(2) + cbor.encode(bytes(32)) + cbor.encode(5)
    edhoc = W.message_1_request(message_1)
    edhoc.mtype, edhoc.mid, edhoc.token = N.CON, 0x1235, b"\xab"
    answer = M.decode(manager.receive(M.encode(edhoc), now)[0])
    assert answer.code == N.BAD_REQUEST and answer.token == b"\xab"
    assert answer.uint(N.CONTENT_FORMAT) == N.EDHOC_CBOR_SEQ         # an EDHOC error
    # Garbage, and a response sent to the pump (a CON one gets RST).
    assert manager.receive(b"\x99\x00", now) == []
    wrong = M.Message(N.NON, N.CHANGED, 9, b"\x01", payload=b"\x00" * 9)
    assert manager.receive(M.encode(wrong), now) == []
    assert manager.feed(b"\x00\x04\x01\x02\x03\x00", now) == b""          # bad CRC
    assert manager.counts == {"SESSION-UNKNOWN": 1, "EDHOC-MALFORMED": 1,
                              "SESSION-MALFORMED": 1, "FRAME-BAD-CRC": 1}
    assert manager.stats["faults"] == 0
    records = audit_log.verify(region(flash), KEY, pump.log_head())
    refusals = [r.data for r in records if r.type == audit_log.EV_REFUSAL]
    assert len(refusals) == 4
    assert refusals[0]["op"] == "oscore" and refusals[0]["why"].startswith("SESSION-UNKNOWN")
    # Therapy went on regardless.
    run_for(pump, hw, 3600000)
    assert pump.state == "delivering" and hw.motor.pulses == 40


def test_connection_identifiers_come_from_one_table():
    from secure_channel import numbers
    assert len(numbers.IDENTIFIERS) == 48 and len(set(numbers.IDENTIFIERS)) == 48
    for raw in numbers.IDENTIFIERS:                       # each a one-byte CBOR int
        assert cbor.decode(raw) in range(-24, 24)
    rng = CountingRng(b"ids")
    last = numbers.IDENTIFIERS[17]
    assert numbers.allocate_identifier(rng, numbers.IDENTIFIERS[:17] +
                                       numbers.IDENTIFIERS[18:]) == last
    assert numbers.allocate_identifier(rng, numbers.IDENTIFIERS) is None
    assert numbers.hex_id(b"") == "''" and numbers.hex_id(b"\x0a\x2b") == "0a2b"
