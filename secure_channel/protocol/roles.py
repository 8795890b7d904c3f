"""Roles and the permission matrix (role x command), declared as data.

A peer's role comes from its authenticated credential (bound when the EDHOC session is
established); the dispatcher asks ``permission(role, command)`` after schema validation
and before anything reaches the pump. Three answers:

- ``allow``: the command goes to the pump, whose interlocks still apply;
- ``deny``: refused with ``forbidden`` and written to the audit log;
- ``confirm``: only if remote bolus is enabled on this pump (off by default), and then
  only after the patient presses the pump's confirm button within the timeout.

Principles behind the rows: reading therapy data is for those who care for the patient
(service sees status, alarms and the log, not glucose); anything that only lowers insulin
is open to every therapy role; settings (basal program, limits) are the clinician's alone,
so a gateway, even a compromised one, cannot change them; the gateway may run temporary
basals and suspend/resume (closed loop, low-glucose suspend) inside the pump's limits,
but cannot bolus; software updates come from the gateway or service, the patient
confirms each swap on the pump's button, and the bootloader still checks their
signatures. Start, stop, prime and alarm acknowledgement are never
remote: they stay on the pump's buttons.
"""

PATIENT = "patient"
CLINICIAN = "clinician"
GATEWAY = "gateway"
SERVICE = "service"
ROLES = (PATIENT, CLINICIAN, GATEWAY, SERVICE)

ALLOW = "allow"
DENY = "deny"
CONFIRM = "confirm"

_A, _D, _C = ALLOW, DENY, CONFIRM

# command: (patient, clinician, gateway, service); why, row by row: schema_doc.ROLE_REASONS
MATRIX = {
    "status": (_A, _A, _A, _A),
    "telemetry": (_A, _A, _A, _D),
    "cgm_history": (_A, _A, _A, _D),
    "delivery_records": (_A, _A, _A, _D),
    "alarms": (_A, _A, _A, _A),
    "bolus": (_C, _C, _D, _D),
    "cancel_bolus": (_A, _A, _A, _D),
    "temp_basal": (_A, _A, _A, _D),
    "cancel_temp_basal": (_A, _A, _A, _D),
    "suspend": (_A, _A, _A, _D),
    "resume": (_A, _A, _A, _D),
    "set_basal_program": (_D, _A, _D, _D),
    "set_limits": (_D, _A, _D, _D),
    "time_sync": (_A, _A, _A, _A),
    "read_log": (_A, _A, _A, _A),
    "begin_update": (_D, _D, _A, _A),
    "image_chunk": (_D, _D, _A, _A),
    "confirm_update": (_D, _D, _A, _A),
    "cancel_update": (_D, _D, _A, _A),
    "update_status": (_A, _A, _A, _A),
    "install_update": (_D, _D, _A, _A),
    "confirm_status": (_A, _A, _D, _D),
    "service_reset": (_D, _D, _D, _A),
    "cgm_reading": (_A, _A, _A, _D),
}


def permission(role, command):
    """ALLOW, DENY or CONFIRM; an unknown role or command is DENY."""
    row = MATRIX.get(command)
    if row is None or role not in ROLES:
        return DENY
    return row[ROLES.index(role)]
