"""The CoAP message layer (RFC 7252 §4) on both interpreters: piggybacked and separate
responses, de-duplication, RST and 4.02, retransmission with back-off, timeouts."""

from pump.hal import CountingRng
from secure_channel.coap import client as C, layer as Y, message as M, numbers as N

PEER = ("127.0.0.1", 40000)


def _server(calls):
    def handler(request, address, now):
        calls.append(request.path)
        if request.path == "/later":
            return None
        return M.Message(code=N.CONTENT, payload=b"hi").add(N.CONTENT_FORMAT, N.TEXT_PLAIN)
    return Y.ServerLayer(handler, CountingRng(b"server"))


def _get(path, mtype=N.CON, mid=0x1234, token=b"\x01\x02"):
    return M.encode(M.Message(mtype, N.GET, mid, token).set_path(path))


def test_con_request_gets_a_piggybacked_response_and_a_duplicate_runs_once():
    calls = []
    server = _server(calls)
    [(data, address)] = server.receive(_get("/hello"), PEER, 0)
    answer = M.decode(data)
    assert address == PEER and answer.mtype == N.ACK and answer.mid == 0x1234
    assert answer.token == b"\x01\x02" and answer.code == N.CONTENT and answer.payload == b"hi"
    again = server.receive(_get("/hello"), PEER, 5000)          # a retransmission
    assert again == [(data, PEER)] and calls == ["/hello"]
    assert server.counts["duplicates"] == 1
    server.receive(_get("/hello"), ("127.0.0.1", 40001), 5000)   # another peer, same MID
    assert calls == ["/hello", "/hello"]
    server.receive(_get("/hello"), PEER, Y.EXCHANGE_LIFETIME_MS + 1)   # expired: new
    assert len(calls) == 3


def test_ping_unknown_critical_option_and_malformed_con():
    server = _server([])
    [(data, _)] = server.receive(M.encode(M.Message(N.CON, N.EMPTY, 7)), PEER, 0)
    assert M.decode(data).mtype == N.RST and M.decode(data).mid == 7
    request = M.Message(N.CON, N.GET, 8, b"t").set_path("/hello").add(2049, b"x")
    [(data, _)] = server.receive(M.encode(request), PEER, 0)
    assert M.decode(data).code == N.BAD_OPTION
    elective = M.Message(N.CON, N.GET, 9, b"t").set_path("/hello").add(2048, b"x")
    [(data, _)] = server.receive(M.encode(elective), PEER, 0)
    assert M.decode(data).code == N.CONTENT                     # elective: ignored
    [(data, _)] = server.receive(b"\x40\x01\x00\x0a\xf1", PEER, 0)   # CON, malformed
    assert M.decode(data).mtype == N.RST and M.decode(data).mid == 10
    assert server.receive(b"\x50\x01\x00\x0b\xf1", PEER, 0) == []   # NON malformed: dropped
    assert server.receive(b"\x00", PEER, 0) == []


def test_separate_response_is_confirmable_and_retransmitted_until_acknowledged():
    calls = []
    server = _server(calls)
    [(data, _)] = server.receive(_get("/later"), PEER, 0)
    assert M.decode(data).mtype == N.ACK and M.decode(data).code == N.EMPTY
    [(late, _)] = server.respond_later(b"\x01\x02", PEER, M.Message(code=N.CHANGED), 1000)
    late_message = M.decode(late)
    assert late_message.mtype == N.CON and late_message.token == b"\x01\x02"
    sent = []
    now = 1000
    for _ in range(200):
        now += 1000
        sent.extend(server.tick(now))
    assert len(sent) == Y.MAX_RETRANSMIT and server.counts["gave_up"] == 1
    server.receive(_get("/later", mid=0x2000), PEER, now)
    [(late, _)] = server.respond_later(b"\x01\x02", PEER, M.Message(code=N.CHANGED), now)
    mid = M.decode(late).mid
    server.receive(M.encode(M.Message(N.ACK, N.EMPTY, mid)), PEER, now)
    assert server.tick(now + 100000) == []                       # acknowledged: no retries


def test_client_retransmits_with_back_off_then_times_out():
    client = C.ClientLayer(CountingRng(b"client"))
    token, [(data, _)] = client.request(M.Message(code=N.GET).set_path("/x"), PEER, 0)
    times = []
    now = 0
    while now < 200000 and not client.events:
        now += 100
        if client.tick(now):
            times.append(now)
    assert len(times) == Y.MAX_RETRANSMIT
    gaps = [b - a for a, b in zip([0] + times, times)]
    assert all(gaps[i + 1] >= 2 * gaps[i] - 200 for i in range(len(gaps) - 1))
    assert 2000 <= gaps[0] <= 3100
    assert client.events == [(token, C.ClientLayer.TIMEOUT)]


def test_client_matches_piggybacked_and_separate_responses_by_token():
    client = C.ClientLayer(CountingRng(b"client2"))
    calls = []
    server = _server(calls)
    token, [(data, _)] = client.request(M.Message(code=N.GET).set_path("/hello"), PEER, 0)
    for reply, _ in server.receive(data, PEER, 0):
        client.receive(reply, PEER, 0)
    assert client.events[0][0] == token and client.events[0][1].payload == b"hi"
    token2, [(data, _)] = client.request(M.Message(code=N.GET).set_path("/later"), PEER, 0)
    for reply, _ in server.receive(data, PEER, 0):
        assert client.receive(reply, PEER, 0) == []                # empty ACK
    [(late, _)] = server.respond_later(token2, PEER, M.Message(code=N.CHANGED), 10)
    [(ack, _)] = client.receive(late, PEER, 10)
    assert M.decode(ack).mtype == N.ACK and client.events[1][0] == token2
    assert client.tick(100000) == []                              # nothing left to resend
