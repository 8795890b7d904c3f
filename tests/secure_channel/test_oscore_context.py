"""Record layer behaviour: replay window (RFC 8613 §7.4), refusals that leave the context
usable, budgets forcing a key update, and rekeying through EDHOC."""

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from conftest import examples
from sc_helpers import CCS_I, CCS_R, KEY_I, KEY_R, handshake, os_rng
from secure_channel import errors
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator
from secure_channel.oscore import from_edhoc as edhoc_oscore
from secure_channel.oscore import context as oscore
from secure_channel.oscore.replay import ReplayWindow

SECRET = bytes(range(16))


def pair(**limits):
    client = oscore.SecurityContext(SECRET, b"salt", b"\x01", b"\x02", **limits)
    server = oscore.SecurityContext(SECRET, b"salt", b"\x02", b"\x01", **limits)
    return client, server


def refused(call, code):
    with pytest.raises(errors.RecordError) as exc:
        call()
    assert exc.value.code == code
    return exc.value


def test_request_response_round_trip_and_sizes():
    client, server = pair()
    request, exchange = client.protect_request(b"x" * 64)
    assert len(request) == 1 + 3 + 64 + 8           # option length, flags+piv+kid, tag
    plaintext, server_exchange = server.unprotect_request(request)
    response = server.protect_response(b"y" * 64, server_exchange)
    assert len(response) == 1 + 64 + 8
    assert client.unprotect_response(response, exchange) == b"y" * 64


@pytest.mark.verifies("SC-OSCORE-REPLAY")
def test_replay_refused_and_context_still_usable():
    client, server = pair()
    first, _ = client.protect_request(b"1")
    server.unprotect_request(first)
    refused(lambda: server.unprotect_request(first), errors.RECORD_REPLAY)
    second, _ = client.protect_request(b"2")
    assert server.unprotect_request(second)[0] == b"2"
    assert server.refused == 1


def test_reordering_within_window_accepted_beyond_refused():
    client, server = pair(replay_window=32)
    messages = [client.protect_request(bytes((i,)))[0] for i in range(40)]
    server.unprotect_request(messages[39])
    assert server.unprotect_request(messages[10])[0] == b"\x0a"     # 29 back: inside
    refused(lambda: server.unprotect_request(messages[7]), errors.RECORD_REPLAY)   # 32 back
    refused(lambda: server.unprotect_request(messages[10]), errors.RECORD_REPLAY)
    assert server.unprotect_request(messages[8])[0] == b"\x08"      # 31 back: inside


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4, 10])
def test_truncated_requests_refused(cut):
    client, server = pair()
    request, _ = client.protect_request(b"dose 1.5 U")
    error = refused(lambda: server.unprotect_request(request[:cut]), errors.RECORD_MALFORMED)
    assert "truncated" in str(error) or "empty" in str(error)
    assert server.unprotect_request(request)[0] == b"dose 1.5 U"


@pytest.mark.verifies("SC-OSCORE-AEAD")
def test_truncated_by_tag_bytes_is_a_forgery():
    client, server = pair()
    request, _ = client.protect_request(b"dose 1.5 U")
    refused(lambda: server.unprotect_request(request[:-1]), errors.RECORD_AUTH)
    assert server.unprotect_request(request)[0] == b"dose 1.5 U"


@pytest.mark.verifies("SC-OSCORE-AEAD")
@pytest.mark.parametrize("position", range(1, 22))
def test_forged_requests_refused_window_not_moved(position):
    client, server = pair()
    request, _ = client.protect_request(b"dose 1.5 U")
    forged = bytearray(request)
    forged[position] ^= 0x01
    exc = pytest.raises(errors.RecordError, server.unprotect_request, bytes(forged)).value
    assert exc.code in (errors.RECORD_AUTH, errors.RECORD_UNKNOWN_ID, errors.RECORD_MALFORMED)
    assert server.replay.highest == -1                # a forgery never moves the window
    assert server.unprotect_request(request)[0] == b"dose 1.5 U"


def test_response_bound_to_its_request_and_accepted_once():
    client, server = pair()
    r1, ex1 = client.protect_request(b"a")
    r2, ex2 = client.protect_request(b"b")
    _, sx1 = server.unprotect_request(r1)
    _, sx2 = server.unprotect_request(r2)
    response1 = server.protect_response(b"A", sx1)
    refused(lambda: client.unprotect_response(response1, ex2), errors.RECORD_AUTH)
    assert client.unprotect_response(response1, ex1) == b"A"
    refused(lambda: client.unprotect_response(response1, ex1), errors.RECORD_STATE)
    refused(lambda: server.protect_response(b"A again", sx1), errors.RECORD_STATE)
    assert client.unprotect_response(server.protect_response(b"B", sx2), ex2) == b"B"


def test_wrong_kid_refused():
    client, server = pair()
    stranger = oscore.SecurityContext(SECRET, b"salt", b"\x03", b"\x02")
    request, _ = stranger.protect_request(b"x")
    refused(lambda: server.unprotect_request(request), errors.RECORD_UNKNOWN_ID)


def test_sequence_budget_forces_key_update():
    client, server = pair(max_seq=15)
    for i in range(16):
        assert client.needs_key_update() == (i >= 14)      # 7/8 of 15 reached at seq 14
        server.unprotect_request(client.protect_request(b"m")[0])
    refused(lambda: client.protect_request(b"m"), errors.RECORD_KEY_UPDATE)
    assert client.sender_seq == 16                         # no number is reused


def test_message_budget_forces_key_update():
    client, _ = pair(max_messages=8)
    for _ in range(8):
        client.protect_request(b"m")
    assert client.needs_key_update()
    refused(lambda: client.protect_request(b"m"), errors.RECORD_KEY_UPDATE)


def test_time_budget_forces_key_update_on_both_directions():
    client, server = pair(max_age=1000, now=5000)
    request, _ = client.protect_request(b"m", now=5100)
    assert not client.needs_key_update(now=5100)
    assert client.needs_key_update(now=5875)
    refused(lambda: client.protect_request(b"m", now=6000), errors.RECORD_KEY_UPDATE)
    refused(lambda: server.unprotect_request(request, now=6000), errors.RECORD_KEY_UPDATE)
    refused(lambda: client.protect_request(b"m"), errors.RECORD_CONFIG)   # ticks required


def test_key_update_through_edhoc_gives_fresh_working_contexts():
    ini = initiator.Initiator(CCS_I, KEY_I, os_rng)
    rsp = edhoc.Responder(CCS_R, KEY_R, os_rng)
    handshake(ini, rsp)
    client = edhoc_oscore.security_context(ini, max_messages=4)
    client.protect_request(b"before")
    old_request, _ = client.protect_request(b"before")    # sequence number 1, old keys
    new_client = edhoc_oscore.key_update(ini, b"\x00\x01")
    new_server = edhoc_oscore.key_update(rsp, b"\x00\x01")
    assert new_client.sender_key != client.sender_key
    request, exchange = new_client.protect_request(b"after")
    plaintext, server_exchange = new_server.unprotect_request(request)
    assert plaintext == b"after"
    refused(lambda: new_server.unprotect_request(old_request), errors.RECORD_AUTH)
    assert new_client.unprotect_response(new_server.protect_response(b"ok", server_exchange),
                                         exchange) == b"ok"


def test_equal_sender_and_recipient_ids_refused():
    refused(lambda: oscore.SecurityContext(SECRET, b"", b"\x01", b"\x01"), errors.RECORD_CONFIG)


class _ModelWindow:
    """Reference: a set of seen numbers and the highest one."""

    def __init__(self, size):
        self.size = size
        self.seen = set()

    def accepts(self, seq):
        top = max(self.seen) if self.seen else -1
        return seq not in self.seen and top - seq < self.size


@pytest.mark.verifies("SC-OSCORE-REPLAY")
@settings(max_examples=examples(300))
@given(st.integers(1, 64), st.lists(st.integers(0, 200), max_size=80))
def test_replay_window_matches_model(size, sequence):
    window = ReplayWindow(size)
    model = _ModelWindow(size)
    for seq in sequence:
        expected = model.accepts(seq)
        assert window.check(seq) == expected
        if expected:
            window.update(seq)
            model.seen.add(seq)


class RecordMachine(RuleBasedStateMachine):
    """Any interleaving of sends, deliveries, replays and forgeries keeps both sides sane."""

    def __init__(self):
        super().__init__()
        self.client, self.server = pair(replay_window=8)
        self.sent = []
        self.delivered = set()

    @rule(payload=st.binary(max_size=32))
    def send(self, payload):
        message, _ = self.client.protect_request(payload)
        self.sent.append((message, payload))

    @rule(data=st.data())
    def deliver(self, data):
        if not self.sent:
            return
        index = data.draw(st.integers(0, len(self.sent) - 1))
        message, payload = self.sent[index]
        highest = self.server.replay.highest
        try:
            plaintext, _ = self.server.unprotect_request(message)
        except errors.RecordError as exc:
            assert exc.code == errors.RECORD_REPLAY
            assert index in self.delivered or highest - index >= 8
            return
        assert plaintext == payload and index not in self.delivered
        self.delivered.add(index)

    @rule(data=st.data())
    def forge(self, data):
        if not self.sent:
            return
        message = bytearray(data.draw(st.sampled_from(self.sent))[0])
        position = data.draw(st.integers(0, len(message) - 1))
        message[position] ^= data.draw(st.integers(1, 255))
        highest = self.server.replay.highest
        with pytest.raises(errors.RecordError):
            self.server.unprotect_request(bytes(message))
        assert self.server.replay.highest == highest

    @invariant()
    def sequence_numbers_unique(self):
        assert self.client.sender_seq == len(self.sent)


TestRecordMachine = RecordMachine.TestCase
TestRecordMachine.settings = settings(max_examples=examples(100), stateful_step_count=30)
