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

# command: ((patient, clinician, gateway, service), why)
MATRIX = {
    "status": ((_A, _A, _A, _A), "state and alarms; needed by every role"),
    "telemetry": ((_A, _A, _A, _D), "glucose and doses are health data: not for service"),
    "cgm_history": ((_A, _A, _A, _D), "health data: not for service"),
    "delivery_records": ((_A, _A, _A, _D), "health data: not for service"),
    "alarms": ((_A, _A, _A, _A), "service needs alarm history for repairs"),
    "bolus": ((_C, _C, _D, _D), "raises insulin at once: patient or clinician, "
              "confirmed on the pump; never the gateway alone"),
    "cancel_bolus": ((_A, _A, _A, _D), "only lowers insulin"),
    "temp_basal": ((_A, _A, _A, _D), "closed loop adjusts basal within the pump's limits"),
    "cancel_temp_basal": ((_A, _A, _A, _D), "returns to the programmed basal"),
    "suspend": ((_A, _A, _A, _D), "only lowers insulin (low-glucose suspend)"),
    "resume": ((_A, _A, _A, _D), "returns to the programmed basal"),
    "set_basal_program": ((_D, _A, _D, _D), "a clinician setting"),
    "set_limits": ((_D, _A, _D, _D), "a clinician setting: the interlocks' bounds"),
    "time_sync": ((_A, _A, _A, _A), "wall clock only (it picks the basal slot of the day); "
                  "interlocks run on monotonic ticks"),
    "read_log": ((_A, _A, _A, _A), "audit evidence for every party"),
    "begin_update": ((_D, _D, _A, _A), "updates come from the gateway or service"),
    "image_chunk": ((_D, _D, _A, _A), "updates come from the gateway or service"),
    "confirm_update": ((_D, _D, _A, _A), "updates come from the gateway or service"),
    "cancel_update": ((_D, _D, _A, _A), "updates come from the gateway or service"),
    "update_status": ((_A, _A, _A, _A), "the software version and an update's progress: "
                      "no health data"),
    "install_update": ((_D, _D, _A, _A), "updates come from the gateway or service; the "
                       "patient still confirms the swap on the pump's button"),
    "confirm_status": ((_A, _A, _D, _D), "who may bolus may ask how it went"),
    "service_reset": ((_D, _D, _D, _A), "clearing a safe-stop is a service action"),
    "cgm_reading": ((_A, _A, _A, _D), "sensor data relayed to the pump; it can only hold "
                    "basal (low-glucose suspend) and inform the bolus calculator"),
}


def permission(role, command):
    """ALLOW, DENY or CONFIRM; an unknown role or command is DENY."""
    row = MATRIX.get(command)
    if row is None or role not in ROLES:
        return DENY
    return row[0][ROLES.index(role)]


def table_markdown():
    """The matrix as a Markdown table, for docs/protocol.md."""
    lines = ["| command | " + " | ".join(ROLES) + " | why |",
             "|---|" + "---|" * len(ROLES) + "---|"]
    for command in sorted(MATRIX):
        perms, why = MATRIX[command]
        lines.append("| %s | %s | %s |" % (command, " | ".join(perms), why))
    return "\n".join(lines) + "\n"
