"""EDHOC + OSCORE against aiocoap (which runs EDHOC through lakers and OSCORE itself), over
UDP loopback: aiocoap is the pump's client, from the credentials `pumpsim keys
aiocoap-credentials` writes."""

import asyncio
import os
import threading

import pytest

from conftest import real_component

from secure_channel import cbor
from secure_channel.sessions import trust
from sim import aiocoap_credentials, keyfiles
from sim.pump_server import PumpNode, UdpEndpoint, serve

aiocoap = real_component("aiocoap")
cbor_diag = real_component("cbor_diag")
import cbor2  # noqa: E402  (aiocoap's own dependency)

PUMP = keyfiles.generate("pump", b"\x01")
CLINICIAN = keyfiles.generate("clinician", b"\x03")
PATIENT = keyfiles.generate("patient", b"\x04")


@pytest.fixture
def pump():
    trust_list = trust.TrustList([("clinician", CLINICIAN.credential),
                                  ("patient", PATIENT.credential)])
    node = PumpNode(PUMP.private_key, PUMP.credential, trust_list)
    endpoint = UdpEndpoint("127.0.0.1", 0)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(node, endpoint),
                              kwargs={"stop": stop.is_set}, daemon=True)
    thread.start()
    node.uri = "coap://127.0.0.1:%d" % endpoint.address[1]
    yield node
    stop.set()
    thread.join(5)
    endpoint.close()


def _credentials(tmp_path, identity, uri):
    out, key = aiocoap_credentials.write(identity, PUMP.credential, uri + "/*",
                                         str(tmp_path / "creds.diag"))
    assert os.stat(key).st_mode & 0o777 == 0o600
    return cbor2.loads(cbor_diag.diag2cbor(open(out).read()))


def _exchange(credentials, requests):
    """Run ``requests`` [(code, path, payload)] in one aiocoap client context."""
    async def main():
        context = await aiocoap.Context.create_client_context()
        context.client_credentials.load_from_dict(credentials)
        answers = []
        try:
            for code, uri, payload in requests:
                message = aiocoap.Message(code=code, uri=uri, payload=payload)
                if payload:
                    message.opt.content_format = 60
                answers.append(await asyncio.wait_for(context.request(message).response,
                                                      30))
        finally:
            await context.shutdown()
        return answers
    return asyncio.run(main())


def test_aiocoap_reads_status_and_sets_a_temp_basal_as_clinician(pump, tmp_path):
    creds = _credentials(tmp_path, CLINICIAN, pump.uri)
    status, temp, again = _exchange(creds, [
        (aiocoap.GET, pump.uri + "/status", b""),
        (aiocoap.POST, pump.uri + "/temp-basal",
         cbor.encode({2: 30 * 60 * 1000, 3: 50})),
        (aiocoap.GET, pump.uri + "/status", b""),
    ])
    assert status.code == aiocoap.CONTENT, status
    assert status.opt.content_format == 60
    assert isinstance(cbor.decode(status.payload), dict)
    assert temp.code == aiocoap.CHANGED, (temp, temp.payload)
    assert again.code == aiocoap.CONTENT
    # aiocoap 0.4 runs a new EDHOC (combined with the request) for every request: it
    # stores the established context on the transport but looks for it on the
    # credentials. The pump keeps one session per peer: each replaces the last.
    stats = pump.manager.stats
    assert stats["established"] == 3 and stats["replaced"] == 2 and stats["faults"] == 0
    sessions = list(pump.manager.sessions.values())
    assert len(sessions) == 1 and sessions[0].role == "clinician"
    assert pump.pump.status()["temp_basal"]


def test_a_refused_bolus_is_a_coap_error_with_the_cbor_reason(pump, tmp_path):
    creds = _credentials(tmp_path, PATIENT, pump.uri)
    answer, = _exchange(creds, [(aiocoap.POST, pump.uri + "/bolus",
                                 cbor.encode({2: 1000}))])
    assert answer.code.is_successful() is False
    body = cbor.decode(answer.payload)
    assert isinstance(body, dict) and body
    assert pump.hw.motor.pulses == 0


def test_an_identity_not_on_the_trust_list_gets_no_session(pump, tmp_path):
    stranger = keyfiles.generate("clinician", b"\x09")
    creds = _credentials(tmp_path, stranger, pump.uri)
    with pytest.raises(Exception):
        _exchange(creds, [(aiocoap.GET, pump.uri + "/status", b"")])
    assert pump.manager.stats["established"] == 0
    assert pump.manager.stats["faults"] == 0
