"""An independent EDHOC + OSCORE CoAP server to test and measure our client against:
aiocoap (EDHOC through lakers, OSCORE its own) on UDP loopback, in a background thread.

``AiocoapServer(identity, peers, body)`` serves ``GET /status`` with the CBOR map
``body`` to any peer among ``peers`` [(label, identity)], as a pump would; its own
credential is ``identity``'s CCS (``{14: CCS}`` to aiocoap). Host-only; needs the test
extra (aiocoap[oscore], lakers-python).
"""

import asyncio
import threading

import aiocoap
import aiocoap.credentials
import aiocoap.edhoc
import aiocoap.resource
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

from secure_channel import cbor

TIMEOUT_S = 10


class _Status(aiocoap.resource.Resource):
    def __init__(self, body):
        super().__init__()
        self.body = body
        self.requests = []

    async def render_get(self, request):
        self.requests.append(request.remote)
        return aiocoap.Message(code=aiocoap.CONTENT, payload=cbor.encode(self.body),
                               content_format=60)


class AiocoapServer:
    def __init__(self, identity, peers, body):
        self.identity = identity
        self.peers = peers
        self.status = _Status(body)
        self.credentials = aiocoap.credentials.CredentialsMap()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.context = None
        self._call(self._start())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT_S)

    async def _start(self):
        site = aiocoap.resource.Site()
        site.add_resource(["status"], self.status)
        self.context = await aiocoap.Context.create_server_context(
            OscoreSiteWrapper(site, self.credentials), bind=("127.0.0.1", 0),
            transports=["udp6"])
        self.address = ("127.0.0.1", _udp_port(self.context))
        self.uri = "coap://127.0.0.1:%d" % self.address[1]
        entries = {self.uri + "/*": {"edhoc-oscore": {
            "suite": 2, "method": 3, "own_cred_style": "by-key-id",
            "own_cred": {14: cbor.decode(self.identity.credential.value)},
            "private_key": {1: 2, -1: 1, -4: self.identity.private_key},
        }}}
        for label, identity in self.peers:
            entries[":" + label] = {"edhoc-oscore": {
                "suite": 2, "method": 3,
                "peer_cred": {14: cbor.decode(identity.credential.value)}}}
        self.credentials.load_from_dict(entries)

    def responder_contexts(self):
        """aiocoap's EDHOC responder contexts: (all, the completed ones)."""
        found = [v for v in list(self.credentials.values())
                 if isinstance(v, aiocoap.edhoc.EdhocResponderContext)]
        return found, [v for v in found if not v._incomplete]

    def context_of(self, c_r):
        """aiocoap's completed OSCORE context for the handshake it called ``c_r``."""
        done = [v for v in self.responder_contexts()[1] if v.recipient_id == c_r]
        assert len(done) == 1, done
        return done[0]

    async def _prune(self):
        done = [k for k, v in self.credentials.items()
                if isinstance(v, aiocoap.edhoc.EdhocResponderContext)]
        complete = 0
        for key in done:
            complete += not self.credentials[key]._incomplete
            del self.credentials[key]
        return complete

    def prune(self):
        """Drop finished handshakes (aiocoap keeps every one and runs out of its 47
        one-byte C_R values); returns how many had completed."""
        return self._call(self._prune())

    def close(self):
        self._call(self.context.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT_S)
        self.loop.close()


def _udp_port(context):
    for interface in context.request_interfaces:
        manager = getattr(interface, "token_interface", None)
        transport = getattr(getattr(manager, "message_interface", None), "transport", None)
        if transport is not None:
            return transport.get_extra_info("socket").getsockname()[1]
    raise RuntimeError("aiocoap server has no UDP socket")
