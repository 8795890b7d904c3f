"""Refusals decided by the protocol layer (schema, role) reach the pump's own audit log."""

from pump import audit_log
from pump_fixtures import KEY, make_pump, region
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import roles
from secure_channel.protocol.dispatch import Dispatcher


def test_role_and_schema_refusals_are_in_the_pump_log():
    pump, hw, flash = make_pump()
    dispatcher = Dispatcher(pump, audit=pump.record_refusal)
    now = hw.clock.ticks_ms()
    settings = protocol.encode_request("set_basal_program", 7, {"rates": [900] * 48})
    refused = protocol.decode_response(dispatcher.handle(settings, roles.GATEWAY, now))
    assert refused is not None
    dispatcher.handle(b"\xff\x00garbage", roles.GATEWAY, now)
    records = audit_log.verify(region(flash), KEY, pump.log_head())
    refusals = [r.data for r in records if r.type == audit_log.EV_REFUSAL]
    assert len(refusals) == 2
    assert refusals[0]["op"] == "set_basal_program"
    assert pump.controller.engine.program == [1000] * 48      # unchanged
