"""Shared set-up for the protocol tests: a pump behind a dispatcher, and valid requests."""

from pump_fixtures import KEY, make_pump
from secure_channel.protocol import dispatch
from secure_channel.protocol import messages as protocol
from secure_channel.protocol.telemetry import CgmBuffer

# One valid request per command (fields by name), used by the matrix and fuzz tests.
VALID = {
    "status": {},
    "telemetry": {},
    "cgm_history": {"count": 3},
    "delivery_records": {"from_seq": 0, "count": 2},
    "alarms": {},
    "bolus": {"mu": 500},
    "cancel_bolus": {},
    "temp_basal": {"duration_ms": 1800000, "percent": 110},
    "cancel_temp_basal": {},
    "suspend": {},
    "resume": {},
    "set_basal_program": {"rates": [900] * 48},
    "set_limits": {"values": {"max_bolus_mu": 6000}},
    "time_sync": {"wall_s": 1767229200},
    "read_log": {"from_seq": 1, "count": 2},
    "begin_update": {"size": 4096, "digest": b"\x00" * 32},
    "image_chunk": {"offset": 0, "data": b"\x01" * 16},
    "confirm_update": {},
    "cancel_update": {},
    "confirm_status": {"ref": 1},
    "service_reset": {},
    "cgm_reading": {"mg_dl": 120, "measured_ms": 0},
    "update_status": {},
    "install_update": {},
}


class Harness:
    """A running pump, its dispatcher and the audit calls it made."""

    def __init__(self, remote_bolus=False, updater=None, start=True):
        self.pump, self.hw, self.flash = make_pump(start=start)
        self.audit = []
        self.cgm = CgmBuffer()
        self.cgm.add(0, 110, 0)
        self.dispatcher = dispatch.Dispatcher(
            self.pump, lambda op, reason: self.audit.append((op, reason)), cgm=self.cgm,
            log_reader=dispatch.verified_log_reader(self.flash, KEY), updater=updater,
            remote_bolus=remote_bolus)

    def raw(self, data, role):
        return self.dispatcher.handle(data, role, self.hw.clock.ticks_ms())

    def ask(self, role, name, fields=None, msg_id=1):
        data = protocol.encode_request(name, msg_id, VALID[name] if fields is None else fields)
        return protocol.decode_response(self.raw(data, role))
