"""CoAP over UDP loopback against an independent stack: aiocoap as client of our message
layer, and our client against an aiocoap server."""
import asyncio
import socket
import threading

import pytest

from conftest import real_component

from secure_channel.coap import message as M, numbers as N
from sim.coap_udp import UdpCoapClient, UdpCoapServer

aiocoap = real_component("aiocoap")
import aiocoap.resource as resource  # noqa: E402


@pytest.fixture
def server():
    calls = []

    def handler(request, address, now):
        calls.append((request.code, request.path, request.payload))
        if request.path == "/hello" and request.code == N.GET:
            return M.Message(code=N.CONTENT, payload=b"hi").add(N.CONTENT_FORMAT,
                                                                N.TEXT_PLAIN)
        if request.path == "/echo" and request.code == N.POST:
            return M.Message(code=N.CHANGED, payload=request.payload)
        return M.Message(code=N.NOT_FOUND)
    udp = UdpCoapServer(handler).start()
    udp.calls = calls
    yield udp
    udp.close()


def _aiocoap_request(code, uri, payload=b""):
    async def main():
        context = await aiocoap.Context.create_client_context()
        try:
            request = aiocoap.Message(code=code, uri=uri, payload=payload)
            return await asyncio.wait_for(context.request(request).response, 20)
        finally:
            await context.shutdown()
    return asyncio.run(main())


def test_aiocoap_client_gets_and_posts_to_our_server(server):
    host, port = server.address
    answer = _aiocoap_request(aiocoap.GET, "coap://%s:%d/hello" % (host, port))
    assert answer.code == aiocoap.CONTENT and answer.payload == b"hi"
    assert answer.opt.content_format == 0
    answer = _aiocoap_request(aiocoap.POST, "coap://%s:%d/echo" % (host, port), b"\xa1\x01\x02")
    assert answer.code == aiocoap.CHANGED and answer.payload == b"\xa1\x01\x02"
    answer = _aiocoap_request(aiocoap.GET, "coap://%s:%d/nothing" % (host, port))
    assert answer.code == aiocoap.NOT_FOUND


def test_a_retransmitted_con_runs_once_and_gets_the_same_answer(server):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    data = M.encode(M.Message(N.CON, N.POST, 0x4242, b"\x09", [(N.URI_PATH, b"echo")],
                              b"once"))
    sock.sendto(data, server.address)
    first = sock.recv(1500)
    sock.sendto(data, server.address)
    second = sock.recv(1500)
    sock.close()
    assert first == second and M.decode(first).payload == b"once"
    assert [c for c in server.calls if c[1] == "/echo"] == [(N.POST, "/echo", b"once")]


class _Hello(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=b"from aiocoap", content_format=0)


def _free_udp_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_our_client_against_an_aiocoap_server():
    ready = threading.Event()
    holder = {}
    port = _free_udp_port()

    def run():
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        site = resource.Site()
        site.add_resource(["hello"], _Hello())

        async def start():
            holder["context"] = await aiocoap.Context.create_server_context(
                site, bind=("127.0.0.1", port))
            ready.set()
        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(holder["context"].shutdown())
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    client = UdpCoapClient(("127.0.0.1", port))
    try:
        answer = client.request(M.Message(code=N.GET).set_path("/hello"))
    finally:
        client.close()
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(5)
    assert answer.code == N.CONTENT and answer.payload == b"from aiocoap"
