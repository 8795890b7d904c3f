"""What each message and field of the pump protocol means: the text docs/protocol.md shows
beside the tables ``schema`` declares.

It lives apart from ``schema`` because a board validates messages and never explains them:
none of this text goes into its flash or, for modules loaded from files, its RAM. A test
holds the two together both ways: every field has its meaning here, and nothing here names
a message or field the schema does not have.

``MESSAGES``: message name -> (what it is, request fields, response fields), each field
set a dict from the field's path (``readings.mg_dl``: a field of the tuples in
``readings``) to its meaning. A field missing from its dict has no text of its own (the
items of a version, say).
"""

from pump.units import BASAL_SLOTS, PULSE_MU
from secure_channel.protocol import schema as S

_CMD_ID = "client's id of this command; the pump refuses a repeat (IL-DUPLICATE-CMD)"
_ISSUED = ("pump tick (from time_sync) the command was issued at; stale ones are refused "
           "(IL-CMD-STALE)")
_FROM_SEQ = "first log sequence number wanted"
_NEXT_SEQ = "from_seq for the next page (head + 1: done)"
_GLUCOSE = "sensor glucose, mg/dL"
_TREND = "rate of change: -3 falling > 3 mg/dL/min .. 0 steady .. 3 rising > 3 mg/dL/min"
_AGE = "age of the reading, s"

_TELEMETRY = {
    "cgm": "latest reading, if any",
    "cgm.mg_dl": _GLUCOSE,
    "cgm.trend": _TREND,
    "cgm.age_s": _AGE,
    "state": "therapy state code",
    "alarm": "active alarm code (0: see status)",
    "flags": "bit set (table below); absent: none",
    "iob_mu": "insulin on board, mU (saturates)",
    "reservoir_pulses": "insulin left, in %d mU pulses (saturates)" % PULSE_MU,
    "battery_percent": "battery charge, %",
    "basal_mu_h": "basal rate now, mU/h (saturates)",
}

MESSAGES = {
    "error": (
        "The response to any refused request (schema, role, pump or service).",
        {},
        {
            "code": "error code (table below)",
            "reason": "one line: the pump's reason or interlock ID",
            "ref_type": "type of the refused request, when known",
        }),
    "status": (
        "Full pump status.",
        {},
        {
            "state": "therapy state code (table below)",
            "alarm": "active alarm or safe-stop ID",
            "warnings": "active warnings",
            "iob_mu": "insulin on board, mU",
            "reservoir_mu": "insulin left in the reservoir, mU",
            "battery_percent": "battery charge, %",
            "basal_mu_h": "basal rate being delivered now, mU/h",
            "bolus_left_mu": "bolus insulin still to deliver, mU",
            "temp_basal": "a temporary basal is running",
            "log_seq": "sequence number of the audit log's head",
            "remote_bolus": "remote bolus is enabled",
            "awaiting": "a remote bolus awaits confirmation on the pump",
            "wall_s": "the pump's wall clock, s: what a time_sync would step",
        }),
    "telemetry": (
        "The compact 5-minute telemetry: latest CGM reading and pump status. Sized for one "
        "64-byte serial frame.",
        {},
        _TELEMETRY),
    "cgm_history": (
        "Recent CGM readings, newest first.",
        {
            "count": "readings wanted",
        },
        {
            "readings": "newest first",
            "readings.mg_dl": _GLUCOSE,
            "readings.trend": _TREND,
            "readings.age_s": _AGE,
        }),
    "delivery_records": (
        "Insulin reservations and refunds from the audit log.",
        {
            "from_seq": _FROM_SEQ,
            "count": "records wanted",
        },
        {
            "records": "oldest first",
            "records.seq": "log sequence number",
            "records.wall_s": "pump wall clock, s",
            "records.mu": "reserved (> 0) or refunded (< 0), mU",
            "records.bolus": "a bolus, not basal",
            "next_seq": _NEXT_SEQ,
        }),
    "alarms": (
        "Alarm, safe-stop and warning events from the audit log.",
        {
            "from_seq": _FROM_SEQ,
            "count": "events wanted",
        },
        {
            "events": "oldest first",
            "events.seq": "log sequence number",
            "events.wall_s": "pump wall clock, s",
            "events.id": "alarm, safe-stop or warning ID",
            "events.active": "raised (true) or acknowledged (false)",
            "next_seq": _NEXT_SEQ,
        }),
    "bolus": (
        "Remote bolus: off by default; when enabled it waits for confirmation on the pump's "
        "button (see confirm_status).",
        {
            "mu": "dose, mU",
            "duration_ms": "extended bolus over this time (0 or absent: normal; else >= 15 "
                           "min)",
            "cmd_id": _CMD_ID,
            "issued_ms": _ISSUED,
        },
        {
            "status": "0 started, 1 awaiting confirmation",
            "mu": "dose accepted, mU (when started)",
        }),
    "cancel_bolus": (
        "Stop a running bolus, or drop one awaiting confirmation.",
        {},
        {
            "cancelled_mu": "insulin not delivered, mU",
        }),
    "temp_basal": (
        "Temporary basal: a percentage of the program or a rate.",
        {
            "duration_ms": "duration, ms",
            "percent": "percent of the program",
            "rate_mu_h": "absolute rate, mU/h",
            "cmd_id": _CMD_ID,
            "issued_ms": _ISSUED,
        },
        {}),
    "cancel_temp_basal": (
        "End a temporary basal.",
        {},
        {}),
    "suspend": (
        "Suspend delivery.",
        {},
        {}),
    "resume": (
        "Resume delivery after a suspend.",
        {},
        {}),
    "set_basal_program": (
        "Replace the basal program (a clinician setting).",
        {
            "rates": "%d half-hour rates from midnight" % BASAL_SLOTS,
        },
        {}),
    "set_limits": (
        "Change therapy limits (a clinician setting); each inside its hard range "
        "(docs/hazards.md).",
        {
            "values": "limit name -> value",
        },
        {}),
    "time_sync": (
        "Set the pump's wall clock; returns its monotonic tick, which issued_ms refers to.",
        {
            "wall_s": "UTC seconds since 1970",
        },
        {
            "ticks_ms": "pump monotonic tick, ms",
        }),
    "read_log": (
        "Audit-log records and the chain hash after them. A record too large for one "
        "message has its data sent as null and ends the page.",
        {
            "from_seq": _FROM_SEQ,
            "count": "records wanted",
        },
        {
            "head_seq": "sequence number of the log's head",
            "records": "oldest first",
            "records.seq": "sequence number",
            "records.tick_ms": "monotonic tick, ms",
            "records.wall_s": "wall clock, s",
            "records.type": "record type (pump.audit_log EV_*)",
            "records.data": "record data as logged",
            "next_seq": _NEXT_SEQ,
            "chain": "chain hash after the page's last record (pump.audit_log): a reader "
                     "holding the hash before the page recomputes it; a page ends after a "
                     "record sent without its data",
        }),
    "begin_update": (
        "Start receiving an image of `size` bytes whose SHA-256 is `digest` into the "
        "secondary slot (a transfer or staged image held is dropped). Therapy goes on.",
        {
            "size": "image size, bytes",
            "digest": "SHA-256 of the whole image: what the pump checks the slot against, "
                      "and which transfer update_status says it holds",
        },
        {}),
    "image_chunk": (
        "The next piece of the image, at `received` (a repeat of the last one is "
        "acknowledged again). The answer, empty, means the pump holds the image up to the "
        "end of this chunk. After the last one the pump checks the slot against the digest "
        "and vets the image as its bootloader will: refused, it is dropped "
        "(IL-UPDATE-IMAGE); answered, it is staged. Nothing is installed before "
        "install_update.",
        {
            "offset": "offset of this chunk in the image",
            "data": "image bytes",
        },
        {}),
    "confirm_update": (
        "Confirm the running test-booted image so it stays (the pump confirms it by itself "
        "once its self-test passed).",
        {},
        {}),
    "cancel_update": (
        "Drop the image being received or staged, or the install awaiting the patient; in "
        "the pause for the swap, resume therapy.",
        {},
        {}),
    "confirm_status": (
        "Outcome of a remote bolus that awaited confirmation: awaiting, started, or an "
        "error (expired, cancelled, the pump's refusal).",
        {
            "ref": "id of the bolus request",
        },
        {
            "status": "0 started, 1 still awaiting confirmation",
            "mu": "dose accepted, mU (when started)",
        }),
    "service_reset": (
        "Clear a latched safe-stop (service only); the pump re-runs its self-test.",
        {},
        {}),
    "cgm_reading": (
        "One CGM reading for the pump's low-glucose suspend and bolus calculator; stale, "
        "reordered or implausible readings are refused (IL-CGM-STALE, IL-CGM-ORDER, "
        "IL-CGM-IMPLAUSIBLE). The answer is the telemetry after the reading: the sensor's "
        "5-minute cycle needs one round trip.",
        {
            "mg_dl": _GLUCOSE,
            "measured_ms": "pump tick (from time_sync) the sensor measured it at",
            "trend": "the sensor's trend arrow",
        },
        _TELEMETRY),
    "update_status": (
        "The software running and an update's progress: the version, whether it is on "
        "trial, where a transfer stopped (send on from `received`), whether an image is "
        "staged, awaits the patient or is being installed.",
        {},
        {
            "phase": "where the update is (table below)",
            "version": "version of the running image",
            "trial": "the running image is on trial: not confirmed yet, the bootloader "
                     "reverts it at the next reset",
            "security_counter": "the device's security counter (OTP)",
            "size": "size of the image held",
            "received": "bytes of it in the slot",
            "digest": "its SHA-256, as announced",
            "staged_version": "version of the image staged",
            "note": "what the last reset did with an update: installed, refused and why, "
                    "reverted",
        }),
    "install_update": (
        "Install the staged image: the pump shows it and waits `wait_s` for the patient's "
        "press (IL-UPDATE-CONSENT); pressed, therapy pauses and the pump resets into the "
        "image on trial (the pause ends by itself after 2 min without the reset, "
        "IL-UPDATE-SWAP); after its self-test the new image confirms itself. update_status "
        "tells how it went.",
        {},
        {
            "wait_s": "how long the pump waits for the press, s",
        }),
}

# error code -> meaning (codes from 16: the secure channel's; 1..6 are the pump's)
ERRORS = {
    S.MALFORMED: "not CBOR, not a map, or a bad envelope (type, id)",
    S.UNKNOWN_TYPE: "no such request type",
    S.BAD_FIELD_TYPE: "a field has the wrong CBOR type (bool is not int)",
    S.OUT_OF_RANGE: "a field's value, length or step is outside its bounds",
    S.MISSING_FIELD: "a required field is absent",
    S.UNKNOWN_FIELD: "a key this message type does not define",
    S.CONFLICT: "fields that exclude each other, or must come together",
    S.TOO_LARGE: "message longer than %d bytes" % S.MAX_MESSAGE,
    S.BAD_METHOD: "the resource does not take this CoAP method",
    S.BAD_CONTENT_FORMAT: "a Content-Format other than application/cbor (60)",
    S.BAD_OPTION: "a critical CoAP option not implemented, or malformed",
    S.NOT_ACCEPTABLE: "an Accept other than application/cbor (60)",
    S.FORBIDDEN: "the peer's role may not send this command",
    S.REMOTE_BOLUS_OFF: "remote bolus is disabled (the default)",
    S.CONFIRM_BUSY: "another remote bolus is awaiting confirmation",
    S.CONFIRM_EXPIRED: "not confirmed on the pump within the timeout",
    S.CONFIRM_CANCELLED: "cancelled while awaiting confirmation",
    S.NO_PENDING: "no outcome for that request id and this peer",
    S.UNAVAILABLE: "the service (CGM, log reader, updater) is not wired",
    S.UPDATE_REFUSED: "the update stager refused the step",
}

# update_status ``phase`` -> (name, meaning)
UPDATE_PHASES = (
    (S.UPDATE_IDLE, "idle", "no image held"),
    (S.UPDATE_RECEIVING, "receiving", "a transfer is under way: the next chunk goes at "
     "`received`"),
    (S.UPDATE_STAGED, "staged", "the whole image is in the secondary slot, checked; "
     "install_update asks the patient"),
    (S.UPDATE_AWAITING, "awaiting", "waiting for the patient's press on the pump"),
    (S.UPDATE_INSTALLING, "installing", "therapy paused; the pump resets into the image"),
)

# telemetry ``flags`` bit -> meaning
FLAGS = ((S.FLAG_TEMP_BASAL, "a temporary basal is running"),
         (S.FLAG_BOLUS, "a bolus is being delivered"),
         (S.FLAG_RESERVOIR_LOW, "warning IL-RESERVOIR-LOW is active"),
         (S.FLAG_BATTERY_LOW, "warning IL-BATTERY-LOW is active"))


# command -> why the permission matrix (roles.MATRIX) has its row so
ROLE_REASONS = {
    "status": "state and alarms; needed by every role",
    "telemetry": "glucose and doses are health data: not for service",
    "cgm_history": "health data: not for service",
    "delivery_records": "health data: not for service",
    "alarms": "service needs alarm history for repairs",
    "bolus": "raises insulin at once: patient or clinician, confirmed on the pump; never the "
             "gateway alone",
    "cancel_bolus": "only lowers insulin",
    "temp_basal": "closed loop adjusts basal within the pump's limits",
    "cancel_temp_basal": "returns to the programmed basal",
    "suspend": "only lowers insulin (low-glucose suspend)",
    "resume": "returns to the programmed basal",
    "set_basal_program": "a clinician setting",
    "set_limits": "a clinician setting: the interlocks' bounds",
    "time_sync": "wall clock only (it picks the basal slot of the day); interlocks run on "
                 "monotonic ticks",
    "read_log": "audit evidence for every party",
    "begin_update": "updates come from the gateway or service",
    "image_chunk": "updates come from the gateway or service",
    "confirm_update": "updates come from the gateway or service",
    "cancel_update": "updates come from the gateway or service",
    "update_status": "the software version and an update's progress: no health data",
    "install_update": "updates come from the gateway or service; the patient still confirms "
                      "the swap on the pump's button",
    "confirm_status": "who may bolus may ask how it went",
    "service_reset": "clearing a safe-stop is a service action",
    "cgm_reading": "sensor data relayed to the pump; it can only hold basal (low-glucose "
                   "suspend) and inform the bolus calculator",
}

def field_doc(message, side, path):
    """The meaning of the field at ``path`` in ``message``'s ``side`` ("request" or
    "response"), or ""."""
    texts = MESSAGES[message][1 if side == "request" else 2]
    return texts.get(path, "")
