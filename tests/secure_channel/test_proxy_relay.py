"""The gateway as a CoAP forward proxy: an aiocoap client (a clinician's app) reaches the
pump through it with EDHOC + OSCORE end to end; the proxy sees only outer options and
ciphertext, and its own session with the pump carries on beside."""

import asyncio
import os
import threading

import pytest

from conftest import real_component

from secure_channel import cbor
from secure_channel.sessions import trust
from secure_channel.coap import message as M, numbers as N
from secure_channel.sessions.peer import PeerSession
from sim import aiocoap_credentials, keyfiles
from sim.coap_proxy import ForwardProxy
from sim.coap_udp import UdpLink
from sim.gateway_client import Gateway
from sim.pump_server import PumpNode, UdpEndpoint, serve

aiocoap = real_component("aiocoap")
cbor_diag = real_component("cbor_diag")
import aiocoap.proxy.client  # noqa: E402
import cbor2  # noqa: E402

PUMP = keyfiles.generate("pump", b"\x01")
GATEWAY = keyfiles.generate("gateway", b"\x02")
CLINICIAN = keyfiles.generate("clinician", b"\x03")
TEMP = cbor.encode({2: 30 * 60 * 1000, 3: 150})


class Seen:
    """A relay hook that keeps every byte the proxy forwards to the pump."""

    def __init__(self):
        self.data = []

    def __call__(self, endpoint, data):
        self.data.append((endpoint, data))
        return [data]


@pytest.fixture
def home():
    trust_list = trust.TrustList([("gateway", GATEWAY.credential),
                                  ("clinician", CLINICIAN.credential)])
    node = PumpNode(PUMP.private_key, PUMP.credential, trust_list)
    pump_end = UdpEndpoint("127.0.0.1", 0)
    stop = threading.Event()
    threads = [threading.Thread(target=serve, args=(node, pump_end),
                                kwargs={"stop": stop.is_set}, daemon=True)]
    gateway = Gateway(UdpLink(pump_end.address), PeerSession(
        GATEWAY.credential, GATEWAY.private_key, PUMP.credential, os.urandom), timeout_s=20)
    gateway.tamper = Seen()
    proxy = ForwardProxy(gateway, pump_host="pump")
    lock = threading.Lock()

    def run_proxy():
        while not stop.is_set():
            with lock:
                proxy.serve_once()
    threads.append(threading.Thread(target=run_proxy, daemon=True))
    for thread in threads:
        thread.start()
    yield node, gateway, proxy, lock
    stop.set()
    for thread in threads:
        thread.join(5)
    proxy.close()
    pump_end.close()


def _through(proxy, tmp_path, requests):
    # aiocoap names a proxied request coap://pump:<the proxy's port>/...: match any port.
    out, _ = aiocoap_credentials.write(CLINICIAN, PUMP.credential, "coap://pump*",
                                       str(tmp_path / "clinician.diag"))
    credentials = cbor2.loads(cbor_diag.diag2cbor(open(out).read()))

    async def main():
        context = await aiocoap.Context.create_client_context()
        context.client_credentials.load_from_dict(credentials)
        via = aiocoap.proxy.client.ProxyForwarder("coap://127.0.0.1:%d" % proxy.address[1],
                                                   context)
        answers = []
        try:
            for code, path, payload in requests:
                message = aiocoap.Message(code=code, uri="coap://pump" + path, payload=payload)
                if payload:
                    message.opt.content_format = 60
                answers.append(await asyncio.wait_for(via.request(message).response, 30))
        finally:
            await context.shutdown()
        return answers
    return asyncio.run(main())


def test_a_clinician_app_reaches_the_pump_end_to_end_through_the_proxy(home, tmp_path):
    node, gateway, proxy, lock = home
    status, temp = _through(proxy, tmp_path, [(aiocoap.GET, "/status", b""),
                                              (aiocoap.POST, "/temp-basal", TEMP)])
    assert status.code == aiocoap.CONTENT and isinstance(cbor.decode(status.payload), dict)
    assert temp.code == aiocoap.CHANGED, temp.payload
    assert node.pump.status()["temp_basal"]
    # The pump knows the session as the clinician's, not the gateway's.
    roles = sorted(s.role for s in node.manager.sessions.values())
    assert roles == ["clinician"]
    # What crossed the proxy: EDHOC and OSCORE, no plaintext of the inner requests.
    forwarded = [data for _, data in gateway.tamper.data]
    assert forwarded and not any(TEMP in data or b"temp-basal" in data or b"status" in data
                                 for data in forwarded)
    outer = [M.decode(data) for data in forwarded]
    assert all(m.path == "/.well-known/edhoc" or m.has(N.OSCORE) for m in outer)
    assert not any(m.has(N.PROXY_SCHEME) or m.has(N.URI_HOST) for m in outer)
    # The gateway's own session works beside it.
    with lock:
        assert gateway.client.request("status").name == "status"
    assert node.manager.counts == {} and node.manager.stats["faults"] == 0
    assert proxy.counts["refused"] == 0 and proxy.counts["answered"] >= 2


def test_the_proxy_refuses_other_origins_and_proxy_uri(home):
    _, _, proxy, _ = home
    other = M.Message(N.CON, N.GET, 5, b"\x05").add(N.URI_HOST, "elsewhere")
    other.add(N.PROXY_SCHEME, "coap")
    assert M.decode(proxy.handle(M.encode(other), ("127.0.0.1", 9))).code == \
        N.PROXYING_NOT_SUPPORTED
    uri = M.Message(N.CON, N.GET, 6, b"\x06").add(N.PROXY_URI, "coap://pump/status")
    assert M.decode(proxy.handle(M.encode(uri), ("127.0.0.1", 9))).code == \
        N.PROXYING_NOT_SUPPORTED
    direct = M.Message(N.CON, N.GET, 7, b"\x07").set_path("status")
    assert M.decode(proxy.handle(M.encode(direct), ("127.0.0.1", 9))).code == N.NOT_FOUND
    plain = M.Message(N.CON, N.GET, 8, b"\x08").set_path("status")
    plain.add(N.PROXY_SCHEME, "coap").add(N.URI_HOST, "pump")    # no OSCORE: refused
    assert M.decode(proxy.handle(M.encode(plain), ("127.0.0.1", 9))).code == N.BAD_REQUEST
    assert proxy.counts["refused"] == 4 and proxy.counts["forwarded"] == 0


def test_the_proxy_keeps_a_bounded_number_of_clients_and_the_newest_are_served(home):
    """Every source address is a client of the proxy; anyone on the home network can use
    a new one per datagram. The proxy keeps the most recent and forgets the oldest (their
    answers then have nowhere to go), so its tables stay bounded."""
    _, gateway, proxy, lock = home
    stranger = PeerSession(CLINICIAN.credential, CLINICIAN.private_key, PUMP.credential,
                           os.urandom)
    with lock:
        for port in range(1, ForwardProxy.MAX_CLIENTS + 40):
            request = M.decode(stranger.connect())
            request.add(N.PROXY_SCHEME, "coap").add(N.URI_HOST, "pump")
            assert proxy.handle(M.encode(request), ("127.0.0.1", port)) is None
        clients = [name for name in gateway.endpoints if name.startswith("udp ")]
    assert len(clients) == ForwardProxy.MAX_CLIENTS
    assert "udp 127.0.0.1:%d" % (ForwardProxy.MAX_CLIENTS + 39) in clients
    assert "udp 127.0.0.1:1" not in clients
