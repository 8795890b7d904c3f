"""Protocol schema, dispatcher, roles and confirmation, on CPython and on MicroPython.

Plain asserts only: this module also runs under tools/micropython/run.py.
"""

from pump_fixtures import KEY, make_pump, run_for
from pump import therapy_table as T
from secure_channel import cbor
from secure_channel.protocol import dispatch
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S
from secure_channel.protocol.messages import ProtocolError
from secure_channel.protocol.doc import largest_telemetry, wire_size
from secure_channel.protocol.telemetry import CgmBuffer
from evidence_links import verifies


def refused(data, code, request=True):
    try:
        parsed = (protocol.decode_request if request else protocol.decode_response)(data)
    except ProtocolError as exc:
        assert exc.code == code, "code %d (%s), expected %d" % (exc.code, exc.reason, code)
        return exc
    raise AssertionError("accepted %r" % (parsed,))


def raw(mapping):
    return cbor.encode(mapping)


def make(remote_bolus=False, cgm=True, timeout_ms=30000):
    pump, hw, flash = make_pump()
    audit = []
    buffer = CgmBuffer() if cgm else None
    d = dispatch.Dispatcher(pump, lambda op, reason: audit.append((op, reason)),
                            cgm=buffer, log_reader=dispatch.verified_log_reader(flash, KEY),
                            remote_bolus=remote_bolus, confirm_timeout_ms=timeout_ms)
    return d, pump, hw, audit


def ask(d, hw, role, name, fields=None, msg_id=1):
    return protocol.decode_response(d.handle(protocol.encode_request(name, msg_id, fields),
                                             role, hw.clock.ticks_ms()))


# -- schema ------------------------------------------------------------------------------------

def test_request_round_trip_and_deterministic_bytes():
    data = protocol.encode_request("bolus", 300, {"mu": 2500, "cmd_id": b"\x01\x02",
                                                  "issued_ms": 5})
    assert data == raw({0: 6, 1: 300, 2: 2500, 4: b"\x01\x02", 5: 5})
    parsed = protocol.decode_request(data)
    assert parsed.name == "bolus" and parsed.id == 300
    assert parsed.fields == {"mu": 2500, "cmd_id": b"\x01\x02", "issued_ms": 5,
                             "duration_ms": 0}


def test_bool_is_never_an_int_nor_the_reverse():
    refused(raw({0: 6, 1: 1, 2: True}), S.BAD_FIELD_TYPE)
    refused(raw({0: 1, 1: True}), S.MALFORMED)
    refused(raw({0: True, 1: 1}), S.MALFORMED)
    status = {0: 1, 1: 1, 2: 3, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0, 10: False, 11: 0, 12: False,
              13: False}
    assert protocol.decode_response(raw(status)).fields["temp_basal"] is False
    status[10] = 0
    refused(raw(status), S.BAD_FIELD_TYPE, request=False)
    try:
        protocol.encode_request("bolus", 1, {"mu": True})
    except ProtocolError as exc:
        assert exc.code == S.BAD_FIELD_TYPE
    else:
        raise AssertionError("encoded a bool as a dose")


def test_envelope_errors():
    refused(b"", S.MALFORMED)
    refused(b"\xff", S.MALFORMED)
    refused(raw([6, 1]), S.MALFORMED)
    refused(raw({1: 1}), S.MALFORMED)
    refused(raw({0: 6}), S.MALFORMED)
    refused(raw({0: 6, 1: 65536, 2: 25}), S.MALFORMED)
    refused(raw({0: 99, 1: 1}), S.UNKNOWN_TYPE)
    refused(raw({0: 0, 1: 1, 2: 16}), S.UNKNOWN_TYPE)          # an error is no request
    refused(b"\xa2\x00\x06\x01\x01\x01", S.MALFORMED)           # trailing byte
    refused(b"\xa2\x01\x01\x00\x06", S.MALFORMED)               # keys out of order
    refused(raw({0: 18, 1: 1, "x": b"\x00" * 1000}), S.TOO_LARGE)


def test_field_errors_name_their_request():
    exc = refused(raw({0: 6, 1: 9}), S.MISSING_FIELD)
    assert exc.msg_id == 9 and exc.msg_type == 6
    refused(raw({0: 6, 1: 1, 2: 25, 9: 1}), S.UNKNOWN_FIELD)
    refused(raw({0: 6, 1: 1, 2: 25, "mu": 1}), S.UNKNOWN_FIELD)
    refused(raw({0: 6, 1: 1, 2: 30}), S.OUT_OF_RANGE)             # not a pulse multiple
    refused(raw({0: 6, 1: 1, 2: 0}), S.OUT_OF_RANGE)
    refused(raw({0: 6, 1: 1, 2: 25025}), S.OUT_OF_RANGE)
    refused(raw({0: 6, 1: 1, 2: -25}), S.OUT_OF_RANGE)
    refused(raw({0: 6, 1: 1, 2: 25, 4: b""}), S.OUT_OF_RANGE)
    refused(raw({0: 6, 1: 1, 2: 25, 4: b"\x01"}), S.CONFLICT)     # cmd_id without issued_ms
    refused(raw({0: 8, 1: 1, 2: 900000}), S.CONFLICT)             # neither percent nor rate
    refused(raw({0: 8, 1: 1, 2: 900000, 3: 50, 4: 100}), S.CONFLICT)
    refused(raw({0: 12, 1: 1, 2: [1000] * 47}), S.OUT_OF_RANGE)
    refused(raw({0: 12, 1: 1, 2: [1000] * 47 + [True]}), S.BAD_FIELD_TYPE)
    refused(raw({0: 13, 1: 1, 2: {"max_bolus_mu": 1}}), S.OUT_OF_RANGE)
    refused(raw({0: 13, 1: 1, 2: {"no_such_limit": 1}}), S.OUT_OF_RANGE)
    refused(raw({0: 13, 1: 1, 2: {}}), S.OUT_OF_RANGE)
    refused(raw({0: 13, 1: 1, 2: {1: 1}}), S.BAD_FIELD_TYPE)
    refused(raw({0: 17, 1: 1, 2: 0, 3: "text"}), S.BAD_FIELD_TYPE)


def test_every_command_has_a_valid_request_and_a_matrix_row():
    for name in S.COMMANDS:
        assert name in roles.MATRIX, name
    for name in roles.MATRIX:
        assert name in S.BY_NAME, name
    codes = [m.code for m in S.MESSAGES]
    assert sorted(codes) == list(range(len(codes)))
    for message in S.MESSAGES:
        keys = [f.key for f in message.request] + [f.key for f in message.response]
        for key in keys:
            assert 2 <= key < 24, (message.name, key)


def test_telemetry_plaintext_and_wire_budget():
    largest = largest_telemetry()
    assert len(largest) <= S.TELEMETRY_BUDGET, len(largest)
    assert wire_size(largest) <= 64
    assert protocol.decode_response(largest).name == "telemetry"


def test_state_and_alarm_codes_cover_the_pump():
    from pump import hazards
    for state in T.STATES:
        assert state in S.STATE_CODES
    for interlock in hazards.INTERLOCKS:
        assert interlock in S.ALARM_CODES, interlock
    values = list(S.ALARM_CODES.values())
    assert len(set(values)) == len(values) and S.ALARM_OTHER not in values


# -- dispatcher --------------------------------------------------------------------------------

def test_telemetry_from_a_running_pump_fits():
    d, pump, hw, audit = make()
    d.cgm.add(hw.clock.ticks_ms(), 142, -1)
    run_for(pump, hw, 4 * 60000)
    response = d.handle(protocol.encode_request("telemetry", 65535), "gateway",
                        hw.clock.ticks_ms())
    parsed = protocol.decode_response(response)
    assert parsed.fields["cgm"] == [142, -1, 240]
    assert parsed.fields["state"] == S.STATE_CODES[T.DELIVERING]
    assert len(response) <= S.TELEMETRY_BUDGET and wire_size(response) <= 64
    assert audit == []


@verifies("SC-SCHEMA")
def test_schema_refusal_is_answered_and_audited():
    d, pump, hw, audit = make()
    before = pump.log_head()
    response = protocol.decode_response(d.handle(raw({0: 6, 1: 4, 2: True}), "patient", 0))
    assert response.is_error and response.id == 4
    assert response.fields["code"] == S.BAD_FIELD_TYPE and response.fields["ref_type"] == 6
    assert audit == [("bolus", "bad-field-type: mu must be an integer")]
    assert pump.log_head() == before                   # nothing reached the pump
    response = protocol.decode_response(d.handle(b"\x00junk", "patient", 0))
    assert response.is_error and response.id is None
    assert audit[-1][0] == "message"


@verifies("SC-ROLE-MATRIX")
def test_settings_need_the_clinician_role():
    d, pump, hw, audit = make()
    assert pump.stop().ok
    rates = [700] * 48
    for role in ("patient", "gateway", "service", "intruder", None):
        reply = ask(d, hw, role, "set_basal_program", {"rates": rates})
        assert reply.is_error and reply.fields["code"] == S.FORBIDDEN, role
    assert len(audit) == 5 and all(a[0] == "set_basal_program" for a in audit)
    reply = ask(d, hw, "clinician", "set_basal_program", {"rates": rates})
    assert not reply.is_error, reply
    assert ask(d, hw, "clinician", "set_limits", {"values": {"max_bolus_mu": 5000}}).name \
        == "set_limits"
    assert pump.controller.limits.max_bolus_mu == 5000


def test_pump_refusal_passes_through_without_double_audit():
    d, pump, hw, audit = make()
    reply = ask(d, hw, "patient", "temp_basal", {"duration_ms": 3600000, "percent": 250})
    assert reply.is_error
    assert reply.fields["code"] == 4 and reply.fields["reason"] == "IL-TEMP-BASAL-MAX"
    assert audit == []                                  # the pump logged it itself
    reply = ask(d, hw, "gateway", "temp_basal", {"duration_ms": 3600000, "percent": 120})
    assert not reply.is_error
    assert pump.status()["temp_basal"] is True


@verifies("SC-REMOTE-BOLUS-OFF")
def test_remote_bolus_off_by_default():
    d, pump, hw, audit = make()
    reply = ask(d, hw, "patient", "bolus", {"mu": 1000})
    assert reply.fields["code"] == S.REMOTE_BOLUS_OFF
    assert audit == [("bolus", "remote-bolus-off: remote bolus is disabled")]
    assert pump.status()["bolus_left_mu"] == 0


@verifies("SC-CONFIRM-ON-PUMP")
def test_remote_bolus_confirmed_on_the_pump():
    d, pump, hw, audit = make(remote_bolus=True)
    hw.ui.pressed = True                       # a press before the request must not count
    reply = ask(d, hw, "patient", "bolus", {"mu": 1000}, msg_id=77)
    assert reply.fields == {"status": S.BOLUS_AWAITING}
    assert "1.000 U" in hw.ui.lines[-1]
    assert d.tick(hw.clock.ticks_ms()) == []
    assert pump.status()["bolus_left_mu"] == 0
    assert ask(d, hw, "patient", "confirm_status", {"ref": 77}).fields == {
        "status": S.BOLUS_AWAITING}
    busy = ask(d, hw, "clinician", "bolus", {"mu": 500})
    assert busy.fields["code"] == S.CONFIRM_BUSY
    hw.clock.advance(5000)
    hw.ui.pressed = True
    assert d.tick(hw.clock.ticks_ms()) == [("started", "patient", 77)]
    assert pump.status()["bolus_left_mu"] > 0
    done = ask(d, hw, "patient", "confirm_status", {"ref": 77})
    assert done.fields == {"status": S.BOLUS_STARTED, "mu": 1000}
    other = ask(d, hw, "clinician", "confirm_status", {"ref": 77})
    assert other.fields["code"] == S.NO_PENDING


@verifies("SC-CONFIRM-ON-PUMP")
def test_remote_bolus_expires_and_is_audited():
    d, pump, hw, audit = make(remote_bolus=True, timeout_ms=10000)
    ask(d, hw, "patient", "bolus", {"mu": 1000}, msg_id=5)
    hw.clock.advance(9999)
    assert d.tick(hw.clock.ticks_ms()) == []
    hw.clock.advance(1)
    hw.ui.pressed = True                       # too late: expiry is checked first
    assert d.tick(hw.clock.ticks_ms()) == [("expired", "patient", 5)]
    assert pump.status()["bolus_left_mu"] == 0
    assert audit[-1][0] == "bolus" and audit[-1][1].startswith("confirm-expired")
    late = ask(d, hw, "patient", "confirm_status", {"ref": 5})
    assert late.fields["code"] == S.CONFIRM_EXPIRED
    assert d.tick(hw.clock.ticks_ms()) == []


def test_cancel_drops_an_awaiting_bolus():
    d, pump, hw, audit = make(remote_bolus=True)
    ask(d, hw, "patient", "bolus", {"mu": 1000}, msg_id=8)
    assert ask(d, hw, "gateway", "cancel_bolus").fields == {"cancelled_mu": 0}
    hw.ui.pressed = True
    assert d.tick(hw.clock.ticks_ms()) == []
    assert pump.status()["bolus_left_mu"] == 0
    assert ask(d, hw, "patient", "confirm_status", {"ref": 8}).fields["code"] == \
        S.CONFIRM_CANCELLED


def test_confirmed_bolus_still_meets_the_interlocks():
    d, pump, hw, audit = make(remote_bolus=True)
    assert pump.stop().ok
    ask(d, hw, "clinician", "bolus", {"mu": 1000}, msg_id=3)
    hw.ui.pressed = True
    assert d.tick(hw.clock.ticks_ms()) == [("refused", "clinician", 3)]
    reply = ask(d, hw, "clinician", "confirm_status", {"ref": 3})
    assert reply.fields["code"] == 3                    # the pump's ERR_STATE, passed through


def test_time_sync_returns_the_tick():
    d, pump, hw, audit = make()
    hw.clock.advance(1234)
    reply = ask(d, hw, "gateway", "time_sync", {"wall_s": 1800000000})
    assert reply.fields == {"ticks_ms": 1234}
    assert hw.clock.wall_s() == 1800000000


def test_log_pages_and_services_missing():
    d, pump, hw, audit = make(cgm=False)
    head = pump.log_head()[0]
    reply = ask(d, hw, "service", "read_log", {"from_seq": 1, "count": 2})
    assert reply.fields["head_seq"] == head
    assert [r[0] for r in reply.fields["records"]] == [1, 2]
    assert reply.fields["next_seq"] == 3
    tail = ask(d, hw, "service", "read_log", {"from_seq": head})
    assert [r[0] for r in tail.fields["records"]] == [head]
    assert tail.fields["next_seq"] == head + 1
    assert ask(d, hw, "patient", "cgm_history").fields["code"] == S.UNAVAILABLE
    assert ask(d, hw, "gateway", "begin_update", {"size": 100, "digest": b"\x00" * 32}
               ).fields["code"] == S.UNAVAILABLE
    assert [a[1].split(":")[0] for a in audit] == ["unavailable", "unavailable"]
