"""The pump protocol as CoAP resources (secure_channel.resources), against a real dispatcher.

Written from RFC 7252 and the brief, not from the code: GET for what only reads (fields as
Uri-Query), POST/PUT for commands (fields as a CBOR payload), 4.04 / 4.05 / 4.15 / 4.06 /
4.02 / 4.00 for requests the resource layer refuses, and every answer the same as the
dispatcher gives to the equivalent protocol bytes. The fuzz test feeds arbitrary inner
messages; ``ci``: 1,000 examples.
"""

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from conftest import examples
from proto_helpers import VALID, Harness
from pump import results
from secure_channel import cbor
from secure_channel.crypto import sha256
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import requester as Q, resources as R
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S
from secure_channel.coap import message as M, numbers as N
from secure_channel.protocol.messages import ProtocolError
from test_protocol_fuzz import valid_fields
from test_update_over_protocol import setup as update_setup

FUZZ = settings(max_examples=examples(1000), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# What only reads, written out independently of the table: these must be GET.
READ_ONLY = {"status", "telemetry", "cgm_history", "delivery_records", "alarms", "read_log",
             "confirm_status", "update_status"}
SCHEMA_CODES = (S.MALFORMED, S.UNKNOWN_TYPE, S.BAD_FIELD_TYPE, S.OUT_OF_RANGE,
                S.MISSING_FIELD, S.UNKNOWN_FIELD, S.CONFLICT, S.TOO_LARGE, S.BAD_METHOD,
                S.BAD_CONTENT_FORMAT, S.BAD_OPTION, S.NOT_ACCEPTABLE)


def allowed_role(name):
    for role in roles.ROLES:
        if roles.permission(role, name) != roles.DENY:
            return role
    raise AssertionError(name)


def coap(method, path, queries=(), payload=b"", options=()):
    """A request to ``path`` segment by segment ("/status/" has an empty last one)."""
    request = M.Message(N.CON, method)
    for segment in (path[1:].split("/") if path != "/" else ()):
        request.add(N.URI_PATH, segment)
    for query in queries:
        request.add(N.URI_QUERY, query)
    for number, value in options:
        request.add(number, value)
    request.payload = payload
    return request


def serve(harness, request, role="clinician"):
    return R.serve(harness.dispatcher, request, role, harness.hw.clock.ticks_ms())


def answer(response):
    """(CoAP code, payload as a map or None) of a response."""
    if not response.payload:
        return response.code, None
    assert response.values(N.CONTENT_FORMAT) == [b"\x3c"]
    return response.code, cbor.decode(response.payload)


def refused(response, coap_code, error_code):
    code, body = answer(response)
    assert (N.code_text(code), body and body.get(2)) == (N.code_text(coap_code), error_code), \
        body
    return body


# -- the tables --------------------------------------------------------------------------------

def test_every_request_type_has_exactly_one_resource():
    assert sorted(R.BY_NAME) == sorted(S.COMMANDS)
    assert len(R.RESOURCES) == len(S.COMMANDS)
    paths = [r.path for r in R.RESOURCES]
    assert len(set(paths)) == len(paths)
    for resource in R.RESOURCES:
        assert resource.path.startswith("/") and resource.path == resource.path.lower()
        assert resource.method in (N.GET, N.POST, N.PUT)
        assert (resource.method == N.GET) == (resource.name in READ_ONLY), resource.name


def test_get_fields_are_unsigned_integers_fit_for_a_query():
    for resource in R.RESOURCES:
        if resource.method == N.GET:
            assert resource.queries == tuple(f.name for f in resource.message.request)
            for field in resource.message.request:
                assert field.kind == S.UINT, (resource.name, field.name)
        else:
            assert resource.queries == ()


def test_every_error_code_has_one_coap_code():
    codes = [row[0] for row in R.ERRORS]
    assert len(set(codes)) == len(codes)
    assert sorted(codes) == sorted(S.ERROR_NAMES)
    for code, status, why in R.ERRORS:
        assert status >> 5 in (4, 5) and status in N.CODE_NAMES and why, code
    assert R.status_of(S.FORBIDDEN) == R.status_of(S.REMOTE_BOLUS_OFF) == N.FORBIDDEN
    assert R.status_of(S.TOO_LARGE) == N.REQUEST_ENTITY_TOO_LARGE
    assert R.status_of(results.ERR_INTERNAL) == N.INTERNAL_SERVER_ERROR
    for code in (S.MALFORMED, S.BAD_FIELD_TYPE, S.OUT_OF_RANGE, S.MISSING_FIELD,
                 S.UNKNOWN_FIELD, S.CONFLICT):
        assert R.status_of(code) == N.BAD_REQUEST
    assert R.status_of(250) == R.UNMAPPED


# -- the same answer as the dispatcher ---------------------------------------------------------

def direct(harness, name, fields, role):
    data = harness.raw(protocol.encode_request(name, R.REQUEST_ID, fields), role)
    return data, protocol.decode_response(data)


@pytest.mark.parametrize("role", roles.ROLES)
@pytest.mark.parametrize("name", S.COMMANDS)
def test_each_resource_answers_as_the_dispatcher_does(name, role):
    plain, coaped = Harness(remote_bolus=True), Harness(remote_bolus=True)
    data, expected = direct(plain, name, VALID[name], role)
    response = serve(coaped, Q.request_message(name, VALID[name]), role)
    code, body = answer(response)
    raw = cbor.decode(data)
    assert body == ({k: v for k, v in raw.items() if k >= 2} or None)
    if expected.is_error:
        assert code == R.status_of(expected.fields["code"])
    else:
        assert code == (N.CONTENT if name in READ_ONLY else N.CHANGED)
    parsed = Q.parse_response(name, response)
    assert (parsed.name, parsed.fields) == (expected.name, expected.fields)
    assert coaped.audit == plain.audit
    assert coaped.dispatcher.faults == plain.dispatcher.faults == 0


@pytest.mark.parametrize("name", S.COMMANDS)
def test_each_resource_reaches_the_pump_for_a_permitted_role(name):
    harness = Harness(remote_bolus=True)
    parsed = Q.parse_response(name, serve(harness, Q.request_message(name, VALID[name]),
                                          allowed_role(name)))
    if parsed.is_error:
        assert parsed.fields["code"] not in SCHEMA_CODES + (S.FORBIDDEN, S.REMOTE_BOLUS_OFF), \
            parsed


@FUZZ
@given(st.data())
def test_valid_requests_round_trip_like_the_dispatcher(data):
    name = data.draw(st.sampled_from(S.COMMANDS))
    fields = data.draw(valid_fields(S.BY_NAME[name]))
    role = data.draw(st.sampled_from(roles.ROLES))
    plain, coaped = Harness(remote_bolus=True), Harness(remote_bolus=True)
    _, expected = direct(plain, name, fields, role)
    parsed = Q.parse_response(name, serve(coaped, Q.request_message(name, fields), role))
    assert (parsed.name, parsed.fields) == (expected.name, expected.fields)
    assert coaped.dispatcher.faults == 0


@pytest.mark.verifies("SC-ROLE-MATRIX", "SC-REMOTE-BOLUS-OFF")
def test_denied_roles_get_4_03_and_an_audit_record():
    for name in S.COMMANDS:
        for role in roles.ROLES + ("intruder", None):
            if roles.permission(role, name) != roles.DENY:
                continue
            harness = Harness()
            body = refused(serve(harness, Q.request_message(name, VALID[name]), role),
                           N.FORBIDDEN, S.FORBIDDEN)
            assert body[4] == S.BY_NAME[name].code
            assert len(harness.audit) == 1 and harness.audit[0][0] == name
    harness = Harness()                                   # remote bolus off by default
    refused(serve(harness, Q.request_message("bolus", {"mu": 500}), "patient"), N.FORBIDDEN,
            S.REMOTE_BOLUS_OFF)


@pytest.mark.verifies("SC-CONFIRM-ON-PUMP")
def test_remote_bolus_confirmation_over_coap():
    harness = Harness(remote_bolus=True)
    reply = Q.parse_response("bolus", serve(harness, Q.request_message("bolus", {"mu": 500}),
                                            "patient"))
    assert reply.fields == {"status": S.BOLUS_AWAITING}
    ask = Q.request_message("confirm_status", {"ref": R.REQUEST_ID})
    assert ask.code == N.GET and ask.values(N.URI_QUERY) == [b"ref=0"] and not ask.payload
    assert Q.parse_response("confirm_status", serve(harness, ask, "patient")).fields == {
        "status": S.BOLUS_AWAITING}
    harness.hw.ui.pressed = True
    assert harness.dispatcher.tick(harness.hw.clock.ticks_ms()) == [("started", "patient", 0)]
    response = serve(harness, ask, "patient")
    assert response.code == N.CONTENT
    assert Q.parse_response("confirm_status", response).fields == {
        "status": S.BOLUS_STARTED, "mu": 500}
    refused(serve(harness, ask, "clinician"), N.NOT_FOUND, S.NO_PENDING)


def test_another_request_id_names_the_bolus():
    harness = Harness(remote_bolus=True)
    bolus = Q.request_message("bolus", {"mu": 500})
    now = harness.hw.clock.ticks_ms()
    R.serve(harness.dispatcher, bolus, "patient", now, request_id=7)
    ask = Q.request_message("confirm_status", {"ref": 7})
    assert Q.parse_response("confirm_status", serve(harness, ask, "patient")).fields == {
        "status": S.BOLUS_AWAITING}
    for bad in (-1, 65536, True, "7"):
        with pytest.raises(ValueError):
            R.serve(harness.dispatcher, bolus, "patient", now, request_id=bad)


def test_an_update_over_coap_is_staged_and_confirmed():
    dev, harness = update_setup()
    image = dev.sign((2, 0, 0, 0), 2)

    def post(name, fields=None, role="gateway"):
        response = serve(harness, Q.request_message(name, fields), role)
        assert response.code == N.CHANGED, answer(response)
        return Q.parse_response(name, response)
    post("begin_update", {"size": len(image), "digest": sha256(image)})
    for offset in range(0, len(image), 500):
        last = post("image_chunk", {"offset": offset, "data": image[offset:offset + 500]})
    assert last.fields == {}                        # held to its end: staged
    status = Q.parse_response("update_status", serve(harness, Q.request_message(
        "update_status", {}), "patient"))
    assert status.fields["phase"] == S.UPDATE_STAGED
    assert post("install_update").fields == {"wait_s": 300}
    harness.hw.ui.pressed = True
    assert [e[0] for e in harness.dispatcher.tick(harness.hw.clock.ticks_ms())] == ["install"]
    dev.boot()
    post("confirm_update", role="service")
    assert harness.audit == [] and harness.dispatcher.faults == 0


@pytest.mark.verifies("IL-TEMP-BASAL-MAX")
def test_a_pump_refusal_maps_to_its_coap_code():
    harness = Harness()
    temp = Q.request_message("temp_basal", {"duration_ms": 3600000, "percent": 250})
    body = refused(serve(harness, temp, "patient"), N.UNPROCESSABLE_ENTITY, results.ERR_INTERLOCK)
    assert body[3] == "IL-TEMP-BASAL-MAX"
    limits = Q.request_message("set_limits", {"values": {"max_bolus_mu": 5000}})
    refused(serve(harness, limits), N.CONFLICT, results.ERR_STATE)     # while delivering
    cgm = Harness()
    cgm.dispatcher.cgm = None
    refused(serve(cgm, Q.request_message("cgm_history", {})), N.SERVICE_UNAVAILABLE,
            S.UNAVAILABLE)
    assert harness.audit == []                      # the pump logged its refusals itself


# -- what the resource layer refuses -----------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/status/", "/", "/Status", "/bolus/cancel/x",
                                  "/log/deliveries/1", "/.well-known/core"])
def test_no_resource_is_4_04(path):
    harness = Harness()
    refused(serve(harness, coap(N.GET, path)), N.NOT_FOUND, S.UNKNOWN_TYPE)
    assert harness.audit == [("message", "unknown-type: no resource %s" % path)]


def test_a_path_is_matched_by_segments_not_by_text():
    harness = Harness()
    one_segment = M.Message(N.CON, N.POST).add(N.URI_PATH, "bolus/cancel")
    refused(serve(harness, one_segment), N.NOT_FOUND, S.UNKNOWN_TYPE)
    long_path = coap(N.GET, "/" + "x" * 200)
    body = refused(serve(harness, long_path), N.NOT_FOUND, S.UNKNOWN_TYPE)
    assert len(body[3]) <= 64 and len(harness.audit[-1][1]) < 64


@pytest.mark.parametrize("method,path", [
    (N.GET, "/bolus"), (N.POST, "/status"), (N.PUT, "/bolus"), (N.POST, "/basal"),
    (N.DELETE, "/temp-basal"), (N.FETCH, "/log"), (N.IPATCH, "/limits"), (N.code(0, 8), "/log"),
    (N.code(0, 31), "/status")])
def test_another_method_is_4_05(method, path):
    harness = Harness()
    body = refused(serve(harness, coap(method, path)), N.METHOD_NOT_ALLOWED, S.BAD_METHOD)
    name = next(r.name for r in R.RESOURCES if r.path == path)
    assert body[4] == S.BY_NAME[name].code
    assert harness.audit[0][0] == name and harness.audit[0][1].startswith("bad-method: ")


@pytest.mark.parametrize("value", [N.JSON, N.TEXT_PLAIN, N.OCTET_STREAM, 61, 0xFFFF,
                                   b"\x00\x3c", b"\x00"])
def test_a_content_format_other_than_cbor_is_4_15(value):
    harness = Harness(remote_bolus=True)
    bolus = Q.request_message("bolus", {"mu": 500})
    bolus.remove(N.CONTENT_FORMAT)
    bolus.add(N.CONTENT_FORMAT, value)
    refused(serve(harness, bolus, "patient"), N.UNSUPPORTED_CONTENT_FORMAT, S.BAD_CONTENT_FORMAT)
    status = coap(N.GET, "/status", options=[(N.CONTENT_FORMAT, value)])
    refused(serve(harness, status), N.UNSUPPORTED_CONTENT_FORMAT, S.BAD_CONTENT_FORMAT)
    assert harness.pump.status()["bolus_left_mu"] == 0 and harness.dispatcher.gate.pending is None


def test_content_format_cbor_or_none_is_taken():
    harness = Harness(remote_bolus=True)
    bolus = Q.request_message("bolus", {"mu": 500})
    assert bolus.values(N.CONTENT_FORMAT) == [b"\x3c"]
    bolus.remove(N.CONTENT_FORMAT)
    assert serve(harness, bolus, "patient").code == N.CHANGED
    status = coap(N.GET, "/status", options=[(N.CONTENT_FORMAT, N.CBOR)])
    assert serve(harness, status).code == N.CONTENT


def test_accept_other_than_cbor_is_4_06():
    harness = Harness()
    refused(serve(harness, coap(N.GET, "/status", options=[(N.ACCEPT, N.JSON)])),
            N.NOT_ACCEPTABLE, S.NOT_ACCEPTABLE)
    assert serve(harness, coap(N.GET, "/status", options=[(N.ACCEPT, N.CBOR)])).code == \
        N.CONTENT


@pytest.mark.parametrize("options", [
    [(N.IF_MATCH, b"\x01")], [(N.BLOCK2, b"\x06")], [(N.BLOCK1, b"\x0e")],
    [(N.IF_NONE_MATCH, b"")], [(2001, b"x")], [(N.URI_QUERY, b"count=\xff")],
    [(N.URI_PATH, b"\xff")], [(N.ACCEPT, N.CBOR), (N.ACCEPT, N.CBOR)],
    [(N.ACCEPT, b"\x00\x3c")], [(N.URI_QUERY, b"x" * 256)]])
def test_a_critical_option_not_implemented_or_malformed_is_4_02(options):
    harness = Harness()
    request = coap(N.GET, "/cgm/history", options=options)
    refused(serve(harness, request), N.BAD_OPTION, S.BAD_OPTION)
    assert harness.audit[0][0] == "message"


def test_elective_and_session_layer_options_are_ignored():
    harness = Harness()
    options = [(2000, b"elective"), (N.ETAG, b"\x01"), (N.ECHO, b"\x02" * 8),
               (N.REQUEST_TAG, b""), (N.SIZE1, b"\x10"), (N.URI_HOST, b"pump"),
               (N.EDHOC, b""), (N.OBSERVE, b""), (N.NO_RESPONSE, b"\x02"),
               (N.PROXY_SCHEME, b"coap"), (N.HOP_LIMIT, b"\x10")]
    assert serve(harness, coap(N.GET, "/status", options=options)).code == N.CONTENT
    assert harness.audit == []


@pytest.mark.parametrize("queries,code", [
    (["foo=1"], S.UNKNOWN_FIELD), (["count"], S.BAD_FIELD_TYPE), (["count="], S.BAD_FIELD_TYPE),
    (["count=-1"], S.BAD_FIELD_TYPE), (["count=+1"], S.BAD_FIELD_TYPE),
    (["count=01"], S.BAD_FIELD_TYPE), (["count=1.5"], S.BAD_FIELD_TYPE),
    (["count= 1"], S.BAD_FIELD_TYPE), (["count=\u0663"], S.BAD_FIELD_TYPE),
    (["count=1", "count=2"], S.MALFORMED), (["count=99"], S.OUT_OF_RANGE),
    (["count=0"], S.OUT_OF_RANGE), (["count=" + "9" * 21], S.BAD_FIELD_TYPE),
    (["count=18446744073709551616"], S.OUT_OF_RANGE), (["=3"], S.UNKNOWN_FIELD),
    (["Count=3"], S.UNKNOWN_FIELD), (["count=3&from_seq=1"], S.BAD_FIELD_TYPE)])
def test_a_bad_query_is_4_00(queries, code):
    harness = Harness()
    refused(serve(harness, coap(N.GET, "/cgm/history", queries)), N.BAD_REQUEST, code)
    assert len(harness.audit) == 1


def test_queries_in_any_order_and_defaults():
    harness = Harness()
    one = Q.parse_response("read_log", serve(harness, coap(N.GET, "/log",
                                                          ["count=2", "from_seq=1"])))
    two = Q.parse_response("read_log", serve(harness, coap(N.GET, "/log",
                                                          ["from_seq=1", "count=2"])))
    assert [r[0] for r in one.fields["records"]] == [1, 2] == [r[0] for r in two.fields["records"]]
    every = Q.parse_response("read_log", serve(harness, coap(N.GET, "/log")))
    assert [r[0] for r in every.fields["records"]] == list(range(1, 9))   # from 0, 8 of them


@pytest.mark.verifies("SC-SCHEMA")
def test_payloads_the_resource_layer_refuses():
    harness = Harness(remote_bolus=True)
    bolus = cbor.encode({2: 500})
    cases = [
        (coap(N.GET, "/status", payload=b"\xa0"), N.BAD_REQUEST, S.MALFORMED),
        (coap(N.POST, "/bolus", ["mu=500"]), N.BAD_REQUEST, S.UNKNOWN_FIELD),
        (coap(N.POST, "/bolus", payload=b"\xff\x00"), N.BAD_REQUEST, S.MALFORMED),
        (coap(N.POST, "/bolus", payload=cbor.encode([500])), N.BAD_REQUEST, S.MALFORMED),
        (coap(N.POST, "/bolus", payload=bolus + b"\x00"), N.BAD_REQUEST, S.MALFORMED),
        (coap(N.POST, "/bolus", payload=b"\xa1\x02\x1a\x00\x00\x01\xf4"), N.BAD_REQUEST,
         S.MALFORMED),                                             # not shortest form
        (coap(N.POST, "/bolus", payload=cbor.encode({0: 1, 2: 500})), N.BAD_REQUEST,
         S.UNKNOWN_FIELD),                                         # no type override
        (coap(N.POST, "/bolus", payload=cbor.encode({1: 9, 2: 500})), N.BAD_REQUEST,
         S.UNKNOWN_FIELD),                                         # nor id
        (coap(N.POST, "/bolus", payload=cbor.encode({"mu": 500})), N.BAD_REQUEST,
         S.UNKNOWN_FIELD),
        (coap(N.POST, "/bolus", payload=cbor.encode({2: True})), N.BAD_REQUEST,
         S.BAD_FIELD_TYPE),
        (coap(N.POST, "/bolus"), N.BAD_REQUEST, S.MISSING_FIELD),
        (coap(N.POST, "/bolus", payload=cbor.encode({2: 500, 9: 1})), N.BAD_REQUEST,
         S.UNKNOWN_FIELD),
        (coap(N.POST, "/update/chunk", payload=cbor.encode({2: 0, 3: b"x" * 890})),
         N.REQUEST_ENTITY_TOO_LARGE, S.TOO_LARGE),
        (coap(N.POST, "/update/chunk", payload=b"\x00" * 901), N.REQUEST_ENTITY_TOO_LARGE,
         S.TOO_LARGE),
        (M.Message(N.CON, N.CONTENT).set_path("/status"), N.BAD_REQUEST, S.MALFORMED),
        (M.Message(N.CON, N.EMPTY), N.BAD_REQUEST, S.MALFORMED),
    ]
    for request, coap_code, error_code in cases:
        refused(serve(harness, request, "patient"), coap_code, error_code)
    assert len(harness.audit) == len(cases)
    assert harness.dispatcher.gate.pending is None
    assert harness.pump.status()["bolus_left_mu"] == 0
    assert harness.dispatcher.faults == 0


@pytest.mark.verifies("DC-FAULT-CONTAINED")
def test_a_fault_in_the_resource_layer_is_contained():
    harness = Harness()
    broken = coap(N.GET, "/status")
    broken.options = None                       # not a list: the layer trips over it
    code, body = answer(serve(harness, broken))
    assert code == N.INTERNAL_SERVER_ERROR and body[2] == results.ERR_INTERNAL
    assert harness.dispatcher.faults == 1 and harness.audit[0][0] == "message"


# -- the client's half -------------------------------------------------------------------------

def test_request_message_validates_like_the_encoder():
    for name, fields in (("bolus", {"mu": True}), ("bolus", {"mu": 30}), ("bolus", {}),
                         ("error", {"code": 1}), ("nope", {}), ("status", {"x": 1}),
                         ("read_log", {"count": 99})):
        with pytest.raises(ProtocolError):
            Q.request_message(name, fields)


def test_request_message_builds_the_documented_requests():
    log = Q.request_message("read_log", {"from_seq": 5, "count": 8})
    assert (log.code, log.path, log.values(N.URI_QUERY), log.payload) == (
        N.GET, "/log", [b"from_seq=5", b"count=8"], b"")
    assert not log.has(N.CONTENT_FORMAT)
    basal = Q.request_message("set_basal_program", {"rates": [900] * 48})
    assert (basal.code, basal.path) == (N.PUT, "/basal")
    assert cbor.decode(basal.payload) == {2: [900] * 48}
    cancel = Q.request_message("cancel_bolus")
    assert (cancel.code, cancel.path, cancel.options, cancel.payload) == (
        N.POST, "/bolus/cancel", [(N.URI_PATH, b"bolus"), (N.URI_PATH, b"cancel")], b"")


def response(code, body=None, content_format=N.CBOR):
    message = M.Message(N.ACK, code)
    if content_format is not None:
        message.add(N.CONTENT_FORMAT, content_format)
    if body is not None:
        message.payload = body if isinstance(body, bytes) else cbor.encode(body)
    return message


def test_parse_response_refuses_what_is_no_pump_answer():
    status = {2: 3, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0, 10: False, 11: 0, 12: False, 13: False}
    assert Q.parse_response("status", response(N.CONTENT, status)).fields["state"] == 3
    cases = [
        ("status", response(N.CHANGED, status)),               # 2.04 is not a GET's answer
        ("status", response(N.CONTENT, status, N.JSON)),
        ("status", response(N.CONTENT, status, None)),
        ("status", response(N.CONTENT, b"\xff")),
        ("status", response(N.CONTENT, [1])),
        ("status", response(N.CONTENT, {**status, 0: 1})),
        ("status", response(N.UNAUTHORIZED, None, None)),      # e.g. from OSCORE
        ("status", response(N.GATEWAY_TIMEOUT, b"timeout", N.TEXT_PLAIN)),
        ("status", response(N.BAD_REQUEST, {2: S.FORBIDDEN})),  # code and body disagree
        ("suspend", response(N.CONTENT)),
        ("status", M.Message(N.CON, N.GET)),
    ]
    for name, message in cases:
        with pytest.raises(R.ResponseError):
            Q.parse_response(name, message)
    with pytest.raises(R.ResponseError) as info:
        Q.parse_response("status", response(N.GATEWAY_TIMEOUT, None, None))
    assert info.value.coap_code == N.GATEWAY_TIMEOUT
    with pytest.raises(ProtocolError) as info:                # a body that breaks the schema
        Q.parse_response("status", response(N.CONTENT, {2: 3}))
    assert info.value.code == S.MISSING_FIELD
    with pytest.raises(ProtocolError):
        Q.parse_response("nope", response(N.CONTENT, status))
    assert Q.parse_response("suspend", response(N.CHANGED, None, None)).fields == {}
    error = Q.parse_response("bolus", response(N.FORBIDDEN, {2: S.FORBIDDEN, 3: "no"}))
    assert error.is_error and error.fields == {"code": S.FORBIDDEN, "reason": "no"}


# -- arbitrary inner requests ------------------------------------------------------------------

SEGMENTS = sorted({s for r in R.RESOURCES for s in r.segments})
QUERY_NAMES = sorted({q for r in R.RESOURCES for q in r.queries}) + ["x", ""]
OPTION_NUMBERS = [N.IF_MATCH, N.URI_HOST, N.ETAG, N.IF_NONE_MATCH, N.OBSERVE, N.URI_PORT,
                  N.CONTENT_FORMAT, N.MAX_AGE, N.ACCEPT, N.BLOCK2, N.BLOCK1, N.SIZE1, N.ECHO,
                  N.EDHOC, N.NO_RESPONSE, N.REQUEST_TAG, 2000, 2001, 65001]

segments = st.lists(st.one_of(st.sampled_from(SEGMENTS), st.sampled_from(SEGMENTS),
                              st.text(max_size=6).map(str.encode), st.binary(max_size=4)),
                    max_size=4)
queries = st.lists(st.one_of(
    st.builds(lambda n, v: ("%s=%s" % (n, v)).encode(), st.sampled_from(QUERY_NAMES),
              st.one_of(st.integers(-5, 1 << 70).map(str), st.text(max_size=5))),
    st.text(max_size=8).map(str.encode), st.binary(max_size=12)), max_size=3)
options = st.lists(st.tuples(st.sampled_from(OPTION_NUMBERS), st.one_of(
    st.sampled_from([b"", b"\x3c", b"\x00\x3c", b"\x32"]), st.binary(max_size=5))), max_size=3)
cbor_values = st.recursive(
    st.one_of(st.integers(-(1 << 64), (1 << 64) - 1), st.binary(max_size=20),
              st.text(max_size=8), st.booleans(), st.none()),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(
        st.one_of(st.integers(-2, 12), st.text(max_size=2)), children, max_size=4)),
    max_leaves=10)


@st.composite
def payloads(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return b""
    if kind == 1:
        name = draw(st.sampled_from(S.COMMANDS))
        return Q.request_message(name, draw(valid_fields(S.BY_NAME[name]))).payload
    if kind == 2:
        return cbor.encode(draw(cbor_values))
    return draw(st.binary(max_size=40))


@st.composite
def inner_requests(draw):
    if draw(st.booleans()):                                # a valid request, then disturbed
        name = draw(st.sampled_from(S.COMMANDS))
        request = Q.request_message(name, draw(valid_fields(S.BY_NAME[name])))
    else:
        request = M.Message(N.CON, N.GET)
        for segment in draw(segments):
            request.add(N.URI_PATH, segment)
        for query in draw(queries):
            request.add(N.URI_QUERY, query)
        request.payload = draw(payloads())
    if draw(st.booleans()):
        request.code = draw(st.one_of(st.sampled_from([N.GET, N.POST, N.PUT, N.DELETE,
                                                       N.FETCH, N.IPATCH]),
                                      st.integers(0, 255)))
    for number, value in draw(st.one_of(st.just([]), options)):
        request.add(number, value)
    return request


@FUZZ
@given(inner_requests(), st.sampled_from(roles.ROLES + ("intruder", None)),
       st.booleans())
def test_arbitrary_inner_requests_get_a_well_formed_answer(request, role, remote_bolus):
    harness = Harness(remote_bolus=remote_bolus)
    reply = serve(harness, request, role)
    assert isinstance(reply, M.Message) and reply.code >> 5 in (2, 4, 5)
    event(N.code_text(reply.code))
    assert harness.dispatcher.faults == 0
    M.decode(M.encode(reply))                                 # encodable as it stands
    resource = R.BY_SEGMENTS.get(tuple(request.values(N.URI_PATH)))
    if reply.code >> 5 == 2:
        assert resource is not None and request.code == resource.method
    # Every answer parses on the client as the answer to the resource at that path.
    parsed = Q.parse_response(resource.name if resource else "status", reply)
    if resource is None:
        assert parsed.is_error and parsed.fields["code"] in (S.UNKNOWN_TYPE, S.BAD_OPTION,
                                                             S.MALFORMED)
