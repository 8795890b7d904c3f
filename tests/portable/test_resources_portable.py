"""The pump protocol as CoAP resources, on CPython and on MicroPython: status, a confirmed
remote bolus, and the refusals of the resource layer.

Plain asserts only: this module also runs under tools/micropython/run.py.
"""

from pump_fixtures import KEY, make_pump
from secure_channel import cbor
from secure_channel.protocol import dispatch
from secure_channel.protocol import requester as Q, resources as R
from secure_channel.protocol import schema as S
from secure_channel.coap import message as M, numbers as N
from secure_channel.protocol.telemetry import CgmBuffer


def make(remote_bolus=False):
    pump, hw, flash = make_pump()
    audit = []
    d = dispatch.Dispatcher(pump, lambda op, reason: audit.append((op, reason)),
                            cgm=CgmBuffer(), log_reader=dispatch.verified_log_reader(flash, KEY),
                            remote_bolus=remote_bolus)
    return d, pump, hw, audit


def serve(d, hw, request, role="patient"):
    return R.serve(d, request, role, hw.clock.ticks_ms())


def body(response):
    assert response.values(N.CONTENT_FORMAT) == [b"\x3c"]
    return cbor.decode(response.payload)


def test_get_status():
    d, pump, hw, audit = make()
    request = Q.request_message("status", {})
    assert request.code == N.GET and request.path == "/status" and request.payload == b""
    response = serve(d, hw, request)
    assert response.code == N.CONTENT
    fields = body(response)
    assert S.KEY_TYPE not in fields and S.KEY_ID not in fields
    parsed = Q.parse_response("status", response)
    assert parsed.name == "status" and parsed.fields["state"] == fields[2]
    assert parsed.fields["basal_mu_h"] == pump.status()["basal_mu_h"]
    assert audit == [] and d.faults == 0


def test_a_remote_bolus_awaits_the_button_then_starts():
    d, pump, hw, audit = make(remote_bolus=True)
    request = Q.request_message("bolus", {"mu": 1000})
    assert request.code == N.POST and request.path == "/bolus"
    assert cbor.decode(request.payload) == {2: 1000}
    response = serve(d, hw, request)
    assert response.code == N.CHANGED
    assert Q.parse_response("bolus", response).fields == {"status": S.BOLUS_AWAITING}
    hw.clock.advance(2000)
    hw.ui.pressed = True
    assert d.tick(hw.clock.ticks_ms()) == [("started", "patient", R.REQUEST_ID)]
    assert pump.status()["bolus_left_mu"] > 0
    ask = Q.request_message("confirm_status", {"ref": R.REQUEST_ID})
    assert ask.values(N.URI_QUERY) == [b"ref=0"]
    done = Q.parse_response("confirm_status", serve(d, hw, ask))
    assert done.fields == {"status": S.BOLUS_STARTED, "mu": 1000}


def test_a_bolus_while_remote_bolus_is_off_is_4_03():
    d, pump, hw, audit = make()
    response = serve(d, hw, Q.request_message("bolus", {"mu": 1000}))
    assert response.code == N.FORBIDDEN and body(response)[2] == S.REMOTE_BOLUS_OFF
    parsed = Q.parse_response("bolus", response)
    assert parsed.is_error and parsed.fields["code"] == S.REMOTE_BOLUS_OFF
    assert pump.status()["bolus_left_mu"] == 0 and len(audit) == 1


def test_an_unknown_path_is_4_04_and_audited():
    d, pump, hw, audit = make()
    request = M.Message(N.CON, N.GET).set_path("/no/such/thing")
    response = serve(d, hw, request)
    assert response.code == N.NOT_FOUND
    assert body(response)[2] == S.UNKNOWN_TYPE
    assert audit == [("message", "unknown-type: no resource /no/such/thing")]
    assert d.faults == 0


def test_method_format_and_query_refusals():
    d, pump, hw, audit = make(remote_bolus=True)
    post_status = M.Message(N.CON, N.POST).set_path("/status")
    assert serve(d, hw, post_status).code == N.METHOD_NOT_ALLOWED
    as_json = Q.request_message("bolus", {"mu": 1000})
    as_json.remove(N.CONTENT_FORMAT)
    as_json.add(N.CONTENT_FORMAT, N.JSON)
    assert serve(d, hw, as_json).code == N.UNSUPPORTED_CONTENT_FORMAT
    bad_query = M.Message(N.CON, N.GET).set_path("/log").add(N.URI_QUERY, "count=01")
    assert serve(d, hw, bad_query).code == N.BAD_REQUEST
    assert d.gate.pending is None and len(audit) == 3
    log = Q.parse_response("read_log", serve(d, hw, Q.request_message(
        "read_log", {"from_seq": 1, "count": 2})))
    assert [r[0] for r in log.fields["records"]] == [1, 2]


def test_options_a_critical_one_malformed_is_4_02_an_elective_one_ignored():
    d, pump, hw, audit = make()
    bad_path = M.Message(N.CON, N.GET).add(N.URI_PATH, b"stat\xff")
    assert serve(d, hw, bad_path).code == N.BAD_OPTION
    block = M.Message(N.CON, N.GET).set_path("/status").add(N.BLOCK2, 6)
    assert serve(d, hw, block).code == N.BAD_OPTION
    elective = M.Message(N.CON, N.GET).set_path("/status").add(2000, b"x").add(N.ETAG, b"1")
    assert serve(d, hw, elective).code == N.CONTENT
    assert d.faults == 0 and len(audit) == 2
