"""A gateway relays a clinician's end-to-end session: a CoAP intermediary, it routes on
tokens and connection identifiers, holds no key of that session, and whatever it changes (a flipped byte, a replay, a
reordering, its own role in place of the clinician's) the pump refuses and logs, while
the pump's session with the gateway itself keeps working."""

import pytest

from sessions_helpers import CLINICIAN, GATEWAY, PATIENT, STRANGER, Bench, peer_session
from secure_channel import cbor, numbers
from secure_channel.oscore import context as oscore
from secure_channel.sessions import peer as P
from secure_channel.protocol import requester
from secure_channel.sessions import wire as W
from secure_channel.coap import message as M, numbers as N, protect
from secure_channel.edhoc import messages as msgs
from secure_channel.errors import RECORD_AUTH
from sim.gateway_client import GatewayError

PROGRAM = [850] * 48


class Recorder:
    """A relay hook that records what passes and can rewrite OSCORE requests."""

    def __init__(self):
        self.seen = []
        self.rewrite = None          # callable(payload) -> [payloads]

    def __call__(self, endpoint, payload):
        self.seen.append(payload)
        if self.rewrite is not None and M.decode(payload).has(N.OSCORE):
            return self.rewrite(payload)
        return [payload]


def relayed_bench():
    bench = Bench()
    recorder = Recorder()
    bench.gateway.tamper = recorder
    clinician = bench.relayed(CLINICIAN)
    assert bench.gateway.client.request("status").name == "status"   # gateway's own
    assert clinician.request("status").name == "status"              # end to end
    return bench, clinician, recorder


def assert_gateway_still_works(bench):
    answer = bench.gateway.client.request("telemetry")
    assert answer.name == "telemetry" and not answer.is_error


def test_clinician_session_through_the_gateway_is_end_to_end():
    bench, clinician, recorder = relayed_bench()
    answer = clinician.request("set_basal_program", {"rates": PROGRAM})
    assert answer.name == "set_basal_program" and not answer.is_error
    assert bench.node.pump.controller.engine.program == PROGRAM
    manager = bench.manager
    ours = manager.session_of(GATEWAY.credential.kid)
    theirs = manager.session_of(CLINICIAN.credential.kid)
    assert ours.role == "gateway" and theirs.role == "clinician"
    assert ours.cid != theirs.cid                        # OSCORE kid = C_R, distinct
    # What the gateway relayed never shows the clinician's plaintext, and the gateway
    # could not have keyed it: its own session's keys are not the clinician's.
    secret = cbor.encode(PROGRAM)
    assert recorder.seen and not any(secret in payload for payload in recorder.seen)
    assert ours.context.recipient_key != theirs.context.recipient_key
    assert bench.gateway.client.peer.context.sender_key != theirs.context.recipient_key
    assert manager.counts == {}


def test_the_gateway_cannot_forge_a_request_in_the_clinician_session():
    bench, clinician, _ = relayed_bench()
    theirs = bench.manager.session_of(CLINICIAN.credential.kid)
    own = bench.gateway.client.peer
    # Its best try: protect with its own keys, then claim the clinician's kid.
    outer, _ = protect.protect_request(
        own.context, requester.request_message("set_basal_program", {"rates": PROGRAM}), 0)
    piv, kid, _ = protect.request_header(outer)
    outer.remove(N.OSCORE)
    outer.add(N.OSCORE, oscore.compress(piv, theirs.cid))
    outer.mid, outer.token = 0x7777, b"\x77"
    bench.gateway.send_raw(M.encode(outer))
    for _ in range(3):
        bench.gateway.turn()
    assert bench.manager.counts == {"RECORD-AUTH": 1}
    assert bench.node.pump.controller.engine.program == [1000] * 48
    assert any(op == "oscore" and why.startswith("RECORD-AUTH: session %02x (clinician)"
                                                 % theirs.cid[0])
               for op, why in bench.refusals())
    assert clinician.request("status").name == "status"
    assert_gateway_still_works(bench)


@pytest.mark.parametrize("where", ["ciphertext", "tag", "partial_iv", "kid", "flags"])
def test_a_flipped_byte_is_caught_and_logged(where):
    bench, clinician, recorder = relayed_bench()
    bench.gateway.timeout_s = 0.3

    def flip(payload):
        message = M.decode(payload)
        option = bytearray(message.first(N.OSCORE))
        body = bytearray(message.payload)
        if where in ("ciphertext", "tag"):
            body[0 if where == "ciphertext" else -1] ^= 0x04
        else:
            option[{"partial_iv": 1, "kid": -1, "flags": 0}[where]] ^= 0x04
        message.remove(N.OSCORE)
        message.add(N.OSCORE, bytes(option))
        message.payload = bytes(body)
        return [M.encode(message)]

    recorder.rewrite = flip
    with pytest.raises(GatewayError):
        clinician.request("set_basal_program", {"rates": PROGRAM}, reconnect=False)
    recorder.rewrite = None
    assert bench.node.pump.controller.engine.program == [1000] * 48
    counts = bench.manager.counts
    assert sum(counts.values()) == 1, counts
    logged = [why for op, why in bench.refusals() if op in ("oscore", "frame")]
    assert len(logged) == 1 and logged[0].split(":")[0] in counts
    assert_gateway_still_works(bench)


def _new_mid(payload):
    message = M.decode(payload)
    message.mid ^= 0x5555
    return M.encode(message)


def test_a_duplicate_runs_once_and_a_replay_is_caught_and_logged():
    bench, clinician, recorder = relayed_bench()
    clinician.request("resume")             # any command: the pump's answer holds an Echo
    recorder.rewrite = lambda payload: [payload, payload]          # sent twice, same MID
    assert clinician.request("suspend").name == "suspend"
    bench.gateway.turn()
    assert bench.manager.counts == {}                               # a CoAP duplicate:
    assert bench.manager.layer.counts["duplicates"] == 1            # answered, not run
    recorder.rewrite = lambda payload: [payload, _new_mid(payload)]  # a replay
    assert clinician.request("resume").name == "resume"
    recorder.rewrite = None
    bench.gateway.turn()
    assert bench.manager.counts == {"RECORD-REPLAY": 1}
    assert [why.split(":")[0] for op, why in bench.refusals()] == [
        "resume not allowed in delivering", "RECORD-REPLAY"]      # the priming command
    assert bench.node.pump.state == "delivering"
    assert clinician.request("status").fields["state"] == 3       # the clinician goes on
    assert_gateway_still_works(bench)


def test_a_reordering_is_caught_and_logged():
    bench, clinician, recorder = relayed_bench()
    peer = clinician.peer
    held = []

    def hold_first(payload):
        if not held:
            held.append(payload)
            return []
        return [payload, held.pop()]                                 # second, then first

    recorder.rewrite = hold_first
    first = peer.request(requester.request_message("suspend", {}), bench.node.now())
    bench.gateway.relay("clinician", first)
    second = peer.request(requester.request_message("resume", {}), bench.node.now())
    bench.gateway.relay("clinician", second)
    for _ in range(3):
        bench.gateway.turn()
    # The later command ran, the earlier one arriving after it was refused: commands are
    # never applied out of order.
    assert bench.manager.counts == {"RECORD-REPLAY": 1}
    assert bench.node.pump.state == "delivering"              # the suspend never ran
    assert [why for op, why in bench.refusals() if op == "oscore"][0].startswith(
        "RECORD-REPLAY: session ")
    recorder.rewrite = None
    assert_gateway_still_works(bench)


def test_the_gateway_cannot_substitute_its_own_role():
    bench, clinician, _ = relayed_bench()
    # 1. In its own session the gateway is a gateway, whatever it sends.
    answer = bench.gateway.client.request("set_basal_program", {"rates": PROGRAM})
    assert answer.is_error and answer.fields["code"] == 32
    # 2. A handshake naming the clinician's kid, without the clinician's key, fails.
    impostor = peer_session(CLINICIAN)
    impostor._private = GATEWAY.private_key
    impostor_client = bench.gateway.relayed_client("impostor", impostor)
    bench.gateway.timeout_s = 0.3
    with pytest.raises(GatewayError):
        impostor_client.request("set_basal_program", {"rates": PROGRAM}, reconnect=False)
    # 3. Its router will not let one endpoint use another's session.
    gateway_cid = bench.gateway.client.peer.c_r
    stolen = M.Message(N.CON, N.POST, 9, b"\x09", [(N.OSCORE, oscore.compress(
        b"\x09", gateway_cid))], bytes(12))
    assert bench.gateway.relay("clinician", M.encode(stolen)) is False
    assert bench.node.pump.controller.engine.program == [1000] * 48
    reasons = [why.split(":")[0] for op, why in bench.refusals()]
    assert reasons[0] == "forbidden" and "EDHOC-VERIFY" in reasons
    assert bench.manager.session_of(CLINICIAN.credential.kid).role == "clinician"
    assert clinician.request("status").name == "status"             # the real one is fine
    assert_gateway_still_works(bench)


def test_relayed_patient_and_clinician_at_once():
    bench, clinician, _ = relayed_bench()
    patient = bench.relayed(PATIENT, endpoint="patient")
    for _ in range(3):
        assert patient.request("telemetry").name == "telemetry"
        assert clinician.request("status").name == "status"
        assert bench.gateway.client.request("status").name == "status"
    assert len(bench.manager.sessions) == 3
    assert bench.gateway.unroutable == 0 and bench.manager.counts == {}


def test_clinician_session_in_backoff_does_not_block_the_gateway():
    bench, clinician, recorder = relayed_bench()
    bench.gateway.timeout_s = 0.2
    recorder.rewrite = lambda payload: [payload[:-1] + bytes((payload[-1] ^ 1,))]  # tag
    for _ in range(4):
        with pytest.raises(GatewayError):
            clinician.request("status", reconnect=False)
    recorder.rewrite = None
    theirs = bench.manager.session_of(CLINICIAN.credential.kid)
    assert theirs.backoff.blocked(bench.node.now())
    with pytest.raises(GatewayError) as caught:
        clinician.request("status", reconnect=False)
    assert caught.value.code == W.SESSION_BACKOFF and caught.value.retry_ms > 0
    assert_gateway_still_works(bench)
    bench.advance(caught.value.retry_ms)
    assert clinician.request("status").name == "status"
    assert bench.manager.counts["RECORD-AUTH"] == 3
    assert RECORD_AUTH in clinician.peer.refused
    assert P.REFUSED in [e.kind for e in clinician.events]


def test_a_gateway_that_sets_up_its_session_again_and_again_never_runs_out_of_identifiers():
    bench, clinician, recorder = relayed_bench()
    for _ in range(60):                     # more than the 48 one-byte identifiers
        bench.gateway.client.connect()
        assert_gateway_still_works(bench)
    assert clinician.request("status").name == "status"        # the relayed one is kept
    holders = list(bench.gateway.router.by_c_r.values())
    assert holders.count("self") == 1 and holders.count("clinician") == 1


def test_a_relayed_client_that_starts_over_again_and_again_is_not_refused():
    bench, clinician, recorder = relayed_bench()
    for _ in range(60):
        clinician.connect()
        assert clinician.request("status").name == "status"
    assert_gateway_still_works(bench)


def test_the_gateways_own_handshake_takes_an_identifier_a_dead_relayed_session_held():
    bench, clinician, recorder = relayed_bench()
    router = bench.gateway.router
    for cid in list(numbers.IDENTIFIERS):         # stale claims of sessions long gone
        router.by_c_r.setdefault(cid, "clinician")
    bench.gateway.client.connect()                # whatever C_R the pump chooses
    assert_gateway_still_works(bench)


def choosing(peer, c_i):
    """Make ``peer``'s next message_1 carry exactly ``c_i``."""
    connect = peer.connect
    others = [other for other in numbers.IDENTIFIERS if other != c_i]
    peer.connect = lambda avoid=(): connect(avoid=others)
    return peer


def junk_message_3(c_r, index):
    junk = W.message_3_request(c_r, b"\x41\x00")
    junk.mtype, junk.mid, junk.token = N.CON, 0x1000 + index, bytes((index,))
    return M.encode(junk)


def test_a_relayed_client_may_choose_the_c_i_the_gateways_own_session_has():
    """An independent client (aiocoap) picks its C_I at random, knowing nothing of the
    gateway's own session: one time in 48 it is the same. The pump tells sessions apart
    by C_R, so that is no conflict, and refusing it would refuse a clinician for nothing."""
    bench, clinician, recorder = relayed_bench()
    own = bench.gateway.client.peer.c_i
    choosing(clinician.peer, own)
    clinician.connect()
    assert clinician.peer.c_i == own
    assert clinician.request("status").name == "status"
    assert_gateway_still_works(bench)
    assert bench.gateway.router.refused == 0


def test_message_1s_with_every_c_i_leave_the_gateway_and_a_clinician_their_sessions():
    """Anyone on the home network can send message_1s (no credential needed): 48 of them,
    one per C_I, must not leave the gateway unable to pick an identifier of its own."""
    bench = Bench()
    gateway = bench.gateway
    for index, c_i in enumerate(numbers.IDENTIFIERS):
        endpoint = "stranger %d" % index
        gateway.attach(endpoint, [].append)
        assert gateway.relay(endpoint, choosing(peer_session(STRANGER), c_i).connect())
        gateway.turn()
    bench.advance(120000)
    gateway.turn()
    assert gateway.client.request("status").name == "status"
    assert bench.relayed(CLINICIAN).request("status").name == "status"


def test_a_clinician_that_starts_over_again_and_again_does_not_lock_out_a_patient():
    """The pump gives a C_R out again once its session is over: an endpoint's old claims
    must not refuse the next endpoint the pump gives it to."""
    bench, clinician, recorder = relayed_bench()
    for _ in range(60):
        clinician.connect()
        assert clinician.request("status").name == "status"
    patient = bench.relayed(PATIENT, "patient")
    for _ in range(5):
        patient.connect()
        assert patient.request("status").name == "status"
    assert bench.gateway.router.refused == 0


def test_junk_message_3s_claim_no_identifier_for_the_endpoint_that_sent_them():
    """A message_3 the pump refuses gives its sender nothing: junk for every C_R holds no
    C_R back from the clinician the pump gives it to, now or later."""
    bench, clinician, recorder = relayed_bench()
    gateway = bench.gateway
    gateway.attach("intruder", [].append)
    for index, c_r in enumerate(numbers.IDENTIFIERS):
        gateway.relay("intruder", junk_message_3(c_r, index))
        gateway.turn()
    assert "intruder" not in gateway.router.by_c_r.values()
    for _ in range(3):
        bench.advance(60000)
        clinician.connect()
        assert clinician.request("status").name == "status"
    assert_gateway_still_works(bench)


def stranger_handshake(gateway, endpoint, mid):
    """message_1 from an identity the pump does not trust: it still gets message_2 (the
    pump learns who the initiator is only from message_3). Returns the pump's C_R."""
    peer = peer_session(STRANGER)
    answers = []
    gateway.attach(endpoint, answers.append)
    request = M.decode(peer.connect())
    request.mid = mid
    assert gateway.relay(endpoint, M.encode(request))
    gateway.turn()
    peer.receive(answers[-1], 0)
    return peer.c_r


def test_an_edhoc_error_for_its_own_handshake_earns_no_c_r():
    """The pump answers an EDHOC error in place of message_3 with a success (the handshake
    is over): that must not credit its sender with the C_R."""
    bench, clinician, recorder = relayed_bench()
    gateway = bench.gateway
    c_r = stranger_handshake(gateway, "intruder", 0x100)
    error = W.message_3_request(c_r, msgs.encode_error(1, "bye"))
    error.mtype, error.mid, error.token = N.CON, 0x101, b"\x01"
    assert gateway.relay("intruder", M.encode(error))
    gateway.turn()
    assert gateway.router.by_c_r.get(c_r) != "intruder"


def test_a_message_id_used_again_for_other_bytes_is_a_new_exchange():
    """A junk message_3 naming the clinician's C_R, then the same Message ID for a
    message_3 the pump takes: the second answer credits what the second request named,
    never the first's C_R, so the clinician's session stays the clinician's."""
    bench, clinician, recorder = relayed_bench()
    gateway = bench.gateway
    theirs = clinician.peer.c_r
    junk = W.message_3_request(theirs, b"\x41\x00")
    junk.mtype, junk.mid, junk.token = N.CON, 0x4242, b"\x42"
    assert gateway.relay("intruder", M.encode(junk))
    gateway.turn()
    bench.advance(250000)                        # the pump's de-duplication has forgotten it
    mine = stranger_handshake(gateway, "intruder", 0x4300)
    error = W.message_3_request(mine, msgs.encode_error(1, "bye"))
    error.mtype, error.mid, error.token = N.CON, 0x4242, b"\x42"
    assert gateway.relay("intruder", M.encode(error))
    gateway.turn()
    assert gateway.router.by_c_r[theirs] == "clinician"
    assert clinician.request("status", reconnect=False).name == "status"
