"""CoAP benchmarks: EDHOC over CoAP + one protected GET on UDP loopback against aiocoap,
and a protected request + response through ``coap.protect`` against the raw AES-CCM
operations it contains, all measured in one run.

- Handshake + GET: our gateway client (``Gateway`` + ``PeerSession``, combined=True) to
  our pump (``PumpNode`` served on UDP), against an aiocoap client to an aiocoap server
  (EDHOC through lakers, combined request as well). Each iteration runs a fresh EDHOC: a
  new ``PeerSession`` on our side, a new client context on aiocoap's. Only the request is
  timed (message_1 until the inner 2.05 is in hand, two round trips each); making the
  session object or the context is not. Both servers run in a thread of this process, so
  both pay the same GIL and loopback costs.
- Record layer on whole CoAP messages: protect_request, unprotect_request,
  protect_response, unprotect_response (64-byte payloads each way) against the four raw
  AES-CCM-16-64-128 operations they contain, on pre-expanded ``crypto.aes_ccm_key``
  objects and 64-byte data.

Run: ``.venv/bin/python tools/bench/run.py coap``.
"""

import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import threading
import time

from common import best_time, report

from secure_channel import cbor, crypto
from secure_channel.oscore import context as oscore
from secure_channel.sessions import trust
from secure_channel.coap import message as M, numbers as N, protect
from secure_channel.sessions.peer import PeerSession
from sim import aiocoap_credentials, keyfiles
from sim.coap_udp import UdpLink
from sim.gateway_client import Gateway
from sim.pump_server import PumpNode, UdpEndpoint, serve

PAYLOAD = bytes(range(64))
ROUNDS = 10                   # interleaved rounds of each side, best round counts
PER_ROUND = 20                # fresh handshakes per round
TIMEOUT_S = 10
STATUS = {2: 3, 5: 0, 6: 200000, 7: 90, 8: 1000, 9: 0, 10: False, 11: 0, 12: False,
          13: False}


# -- our client and pump --------------------------------------------------------------------

class OurPump:
    def __init__(self, pump, gateway):
        trust_list = trust.TrustList([("gateway", gateway.credential)])
        self.node = PumpNode(pump.private_key, pump.credential, trust_list)
        self.endpoint = UdpEndpoint("127.0.0.1", 0)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=serve, args=(self.node, self.endpoint),
                                       kwargs={"stop": self._stop.is_set}, daemon=True)
        self.thread.start()

    def close(self):
        self._stop.set()
        self.thread.join(5)
        self.endpoint.close()


def our_round(link, pump, gateway, n):
    """Mean seconds of ``n`` fresh handshakes + GET /status, ours to ours."""
    total = 0.0
    for _ in range(n):
        peer = PeerSession(gateway.credential, gateway.private_key, pump.credential,
                           os.urandom, combined=True)
        client = Gateway(link, peer, timeout_s=TIMEOUT_S).client
        start = time.perf_counter()
        parsed = client.request("status")
        total += time.perf_counter() - start
        assert "state" in parsed.fields, parsed
        assert [e.kind for e in client.events] == ["established", "response"], client.events
    return total / n


# -- aiocoap client and server ----------------------------------------------------------------

def _aiocoap():
    try:
        import aiocoap
        import aiocoap.credentials
        import aiocoap.edhoc
        import aiocoap.resource
        import cbor_diag
        from aiocoap.oscore_sitewrapper import OscoreSiteWrapper    # imports lakers
    except ImportError as exc:
        return None, str(exc)
    return (aiocoap, cbor_diag, OscoreSiteWrapper), None


def aiocoap_round(modules, server, client_credentials, n):
    """Mean seconds of ``n`` fresh client contexts' EDHOC + GET /status, aiocoap to
    aiocoap; checks that every one ran a handshake the server completed."""
    aiocoap = modules[0]

    async def run():
        total = 0.0
        for _ in range(n):
            context = await aiocoap.Context.create_client_context(
                transports=["oscore", "udp6"])
            try:
                context.client_credentials.load_from_dict(client_credentials)
                request = aiocoap.Message(code=aiocoap.GET, uri=server.uri + "/status")
                start = time.perf_counter()
                answer = await asyncio.wait_for(context.request(request).response,
                                                TIMEOUT_S)
                total += time.perf_counter() - start
            finally:
                await context.shutdown()
            assert answer.code == aiocoap.CONTENT, answer
            assert cbor.decode(answer.payload) == STATUS
        return total / n

    server.prune()
    calls = len(server.status.requests)
    mean = asyncio.run(run())
    assert server.prune() == n and len(server.status.requests) == calls + n, \
        "aiocoap skipped EDHOC"
    return mean


def bench_handshake_get(directory):
    pump = keyfiles.generate("pump", b"\x01")
    gateway = keyfiles.generate("gateway", b"\x02")
    modules, missing = _aiocoap()
    ours_server = OurPump(pump, gateway)
    link = UdpLink(ours_server.endpoint.address)
    server = None
    try:
        our_round(link, pump, gateway, 3)                         # warm-up
        if modules is None:
            ours = min(our_round(link, pump, gateway, PER_ROUND) for _ in range(ROUNDS))
            report("EDHOC + protected GET /status, UDP loopback (ours)", ours * 1e3, "ms",
                   reference="aiocoap not available: %s" % missing)
            return
        cbor_diag = modules[1]
        import cbor2            # aiocoap's own dependency
        from sim.aiocoap_server import AiocoapServer
        server = AiocoapServer(pump, [("gateway", gateway)], STATUS)
        out, _ = aiocoap_credentials.write(gateway, pump.credential, server.uri + "/*",
                                           os.path.join(directory, "gateway.diag"))
        with open(out) as f:
            client_credentials = cbor2.loads(cbor_diag.diag2cbor(f.read()))
        aiocoap_round(modules, server, client_credentials, 3)     # warm-up
        ours = theirs = float("inf")
        for _ in range(ROUNDS):            # interleaved, best round of each
            ours = min(ours, our_round(link, pump, gateway, PER_ROUND))
            theirs = min(theirs, aiocoap_round(modules, server, client_credentials,
                                               PER_ROUND))
        stats = ours_server.node.manager.stats
        assert stats["faults"] == 0, stats
        assert stats["established"] == 3 + ROUNDS * PER_ROUND, stats   # fresh EDHOC each
    finally:
        link.close()
        ours_server.close()
        if server is not None:
            server.close()
    report("EDHOC + protected GET /status, UDP loopback (ours)", ours * 1e3, "ms",
           reference="Gateway + PeerSession combined -> PumpNode, fresh EDHOC each")
    report("EDHOC + protected GET /status, UDP loopback (aiocoap)", theirs * 1e3, "ms",
           reference="aiocoap %s client -> aiocoap server, lakers EDHOC, combined"
           % _version("aiocoap"))
    report("EDHOC + GET time relative to aiocoap <-> aiocoap", ours / theirs, "x",
           target=("<=", 0.5), reference="same run, best of %d rounds of %d"
           % (ROUNDS, PER_ROUND))


def _version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:     # a version string is decoration only
        return "?"


# -- record layer on CoAP messages --------------------------------------------------------

def _contexts():
    secret, salt = bytes(range(16)), b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
    client = oscore.SecurityContext(secret, salt, b"", b"\x01")
    server = oscore.SecurityContext(secret, salt, b"\x01", b"")
    return client, server


def _messages():
    request = M.Message(N.CON, N.POST, mid=0x1234, token=b"\x01\x02\x03\x04")
    request.set_path("status")
    request.add(N.CONTENT_FORMAT, M.encode_uint(N.CBOR))
    request.payload = PAYLOAD
    response = M.Message(N.ACK, N.CONTENT, mid=0x1234, token=b"\x01\x02\x03\x04")
    response.add(N.CONTENT_FORMAT, M.encode_uint(N.CBOR))
    response.payload = PAYLOAD
    return request, response


def _exchange_fn(wire=False):
    client, server = _contexts()
    request, response = _messages()
    if not wire:
        def exchange():
            outer, pending = protect.protect_request(client, request)
            inner, bound = protect.unprotect_request(server, outer)
            answer = protect.protect_response(server, response, bound)
            return protect.unprotect_response(client, answer, pending)
    else:
        def exchange():
            outer, pending = protect.protect_request(client, request)
            inner, bound = protect.unprotect_request(server, M.decode(M.encode(outer)))
            answer = protect.protect_response(server, response, bound)
            return protect.unprotect_response(client, M.decode(M.encode(answer)), pending)
    return exchange, client, server


def _record_fn():
    """The same exchange one layer down: the record layer on plaintext bytes, no CoAP
    messages (what bench_secure_channel measures against one encrypt + decrypt)."""
    client, server = _contexts()
    request, response = (protect.inner_plaintext(m) for m in _messages())

    def exchange():
        record, pending = client.protect_request(request)
        _, bound = server.unprotect_request(record)
        return client.unprotect_response(server.protect_response(response, bound), pending)
    return exchange


def _raw_fn():
    client_key = crypto.aes_ccm_key(bytes(16), 8)
    server_key = crypto.aes_ccm_key(bytes(range(16)), 8)
    nonce_1, nonce_2 = bytes(13), bytes(range(13))
    aad = bytes(20)

    def raw():
        request = client_key.encrypt(nonce_1, PAYLOAD, aad)       # client protects
        plaintext = client_key.decrypt(nonce_1, request, aad)     # server verifies
        reply = server_key.encrypt(nonce_2, plaintext, aad)       # server protects
        return server_key.decrypt(nonce_2, reply, aad)            # client verifies
    return raw


def _profile(exchange, calls=20000):
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        exchange()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(12)
    total = stats.total_tt
    print("   profile of %d exchanges (tottime, top 12 of %.3f s):" % (calls, total))
    for line in out.getvalue().splitlines():
        if line.strip() and (line.lstrip()[:1].isdigit() or "ncalls" in line):
            print("     " + line.rstrip())


def bench_record_layer():
    exchange, client, server = _exchange_fn()
    got = exchange()
    assert got.code == N.CONTENT and bytes(got.payload) == PAYLOAD
    wire_exchange, _, _ = _exchange_fn(wire=True)
    assert bytes(wire_exchange().payload) == PAYLOAD
    record = _record_fn()
    assert record() == protect.inner_plaintext(_messages()[1])
    raw = _raw_fn()
    assert raw() == PAYLOAD
    ours = wired = records = reference = float("inf")
    for _ in range(4):         # interleaved, best of each: drift hits all alike
        ours = min(ours, best_time(exchange, repeat=3))
        wired = min(wired, best_time(wire_exchange, repeat=3))
        records = min(records, best_time(record, repeat=3))
        reference = min(reference, best_time(raw, repeat=3))
    assert server.replay._top == client.sender_seq - 1 and server.refused == 0
    report("protected request+response via coap.protect, 64-byte payloads", 1.0 / ours,
           "per s")
    report("  the same with CoAP encode/decode of both outer messages", 1.0 / wired,
           "per s")
    report("raw AES-CCM-16-64-128 enc+dec+enc+dec, 64 bytes", 1.0 / reference, "per s")
    share = report("coap.protect request+response rate relative to raw AES-CCM x4",
                   100.0 * reference / ours, "%", target=(">=", 50),
                   reference="crypto.aes_ccm_key, the 4 AEAD operations of one exchange")
    report("  with CoAP encode/decode, relative to raw AES-CCM x4",
           100.0 * reference / wired, "%")
    report("  record layer alone (oscore.SecurityContext on bytes), same ratio",
           100.0 * reference / records, "%", reference="the rest is coap.protect's")
    if share < 50:
        _profile(exchange)


def main():
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        bench_handshake_get(directory)
    bench_record_layer()
    report("bench_coap wall time (kept under ~60 s)", time.perf_counter() - started, "s")


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    main()
