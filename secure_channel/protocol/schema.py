"""The pump protocol's schema, declared once as data.

``protocol`` validates every message against these tables, in both directions,
``resources`` maps each request type onto a CoAP resource, and ``protocol_doc`` renders
docs/protocol.md from them (``python -m secure_channel.protocol_schema > docs/protocol.md``),
so the document cannot drift from what the code accepts.

A message is a CBOR map with small unsigned integer keys: key 0 is the message type, key 1
the request id (0..65535, echoed by the response), keys 2.. the fields of that type. A
response has the type of its request, or type 0 (``error``). Keys below 24 encode in one
byte, which keeps the 5-minute telemetry response within its budget (``TELEMETRY_BUDGET``).
All numbers are integers in the pump's units (mU, mU/h, ms, s, percent, mg/dL): never floats.
"""

from pump import results, therapy_table as T
from pump.limits import HARD_RANGES
from pump.units import BASAL_SLOTS, MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU

# Field kinds.
UINT = "uint"          # unsigned int in [low, high] (and a multiple of ``step``)
INT = "int"            # signed int in [low, high]
BOOL = "bool"          # true/false only: 0 and 1 are not booleans, nor the reverse
BYTES = "bytes"        # byte string, length in [low, high]
TEXT = "text"          # UTF-8 text, encoded length in [low, high] bytes
LIST = "list"          # array of ``items`` (one Field), length in [low, high]
TUPLE = "tuple"        # array of exactly len(``items``) positional Fields
LIMITS = "limits"      # map: limit name -> int inside that limit's hard range
ANY = "any"            # any CBOR value (bounded by the decoder's depth and size limits)

KEY_TYPE = 0
KEY_ID = 1
FIRST_FIELD_KEY = 2
MAX_ID = 0xFFFF
MAX_MESSAGE = 900              # plaintext bytes; the frame limit (1024) leaves room for OSCORE
TELEMETRY_BUDGET = 40          # plaintext bytes of the largest possible telemetry response

U32 = 0xFFFFFFFF
U63 = (1 << 63) - 1
WALL_MAX = 1 << 40


class Field:
    """One field: CBOR key, name, kind, bounds, whether required, and what it means.

    The defaults are class attributes and an instance holds only what differs: on
    MicroPython every instance attribute is a dictionary entry in RAM (``__slots__`` is
    not honoured there), and the schema has over a hundred fields."""

    low = 0
    high = 0
    required = True
    doc = ""
    items = None
    step = 1
    default = None

    def __init__(self, key, name, kind, low=0, high=0, required=True, doc="", items=None,
                 step=1, default=None):
        self.key = key
        self.name = name
        self.kind = kind
        if low:
            self.low = low
        if high:
            self.high = high
        if not required:
            self.required = False
        if doc:
            self.doc = doc
        if items is not None:
            self.items = items
        if step != 1:
            self.step = step
        if default is not None:
            self.default = default


class Message:
    """One message type: its request fields, its response fields, and field constraints.

    ``one_of``: groups of which exactly one field must be present; ``together``: groups
    whose fields are all present or all absent. Both constrain request fields.
    """

    __slots__ = ("code", "name", "doc", "request", "response", "one_of", "together")

    def __init__(self, code, name, doc, request=(), response=(), one_of=(), together=()):
        self.code = code
        self.name = name
        self.doc = doc
        self.request = request
        self.response = response
        self.one_of = one_of
        self.together = together


def _f(key, name, kind, low=0, high=0, doc="", **extra):
    return Field(key, name, kind, low, high, doc=doc, **extra)


def _opt(key, name, kind, low=0, high=0, doc="", **extra):
    return Field(key, name, kind, low, high, required=False, doc=doc, **extra)


# -- codes carried inside messages ------------------------------------------------------------

# Therapy states (pump.therapy_table) as small ints.
STATE_CODES = {
    T.SELF_TEST: 0, T.STOPPED: 1, T.PRIMING: 2, T.DELIVERING: 3, T.SUSPENDED: 4,
    T.ALARM: 5, T.SAFE_STOP: 6, T.UPDATE_PENDING: 7, T.REWOUND: 8, T.LOADED: 9,
    T.CONNECTED: 10, T.FILLING_CANNULA: 11,
}

# Alarm and interlock IDs (pump.hazards) as small ints for the compact telemetry; 0 is an
# ID this table does not know (the full ``status`` carries the ID as text).
ALARM_CODES = {
    "IL-OCCLUSION": 1, "IL-RESERVOIR-EMPTY": 2, "IL-BATTERY-CRITICAL": 3,
    "IL-MOTOR-ENCODER": 4, "IL-WATCHDOG": 5, "IL-CLOCK-MONOTONIC": 6,
    "IL-LOG-INTEGRITY": 7, "SM-CONTROLLER-FAULT": 8, "SM-RUNAWAY": 9, "SM-PULSE-RATE": 10,
    "SM-BOLUS-BUDGET": 11, "SM-BASAL-RATE": 12, "SM-PRIME-BUDGET": 13, "SM-OVER-1H": 14,
    "SM-OVER-24H": 15, "IL-RESERVOIR-LOW": 16, "IL-BATTERY-LOW": 17, "IL-BOLUS-MAX": 18,
    "IL-BOLUS-INTERVAL": 19, "IL-IOB-MAX": 20, "IL-ROLLING-1H": 21, "IL-ROLLING-24H": 22,
    "IL-TEMP-BASAL-MAX": 23, "IL-BASAL-MAX": 24, "IL-PRIME-MAX": 25, "IL-CMD-STALE": 26,
    "IL-DUPLICATE-CMD": 27, "IL-BOLUS-OVERRUN": 28, "IL-CMD-RATE": 29, "SM-NOT-DELIVERING": 30,
    "IL-NO-DELIVERY": 31, "IL-SUSPEND-MAX": 32, "IL-HISTORY-UNKNOWN": 33,
    "IL-SETTINGS-INTEGRITY": 34, "IL-BOLUS-INTERRUPTED": 35, "IL-CANNULA-MAX": 36,
    "IL-CLOCK-JUMP": 37, "SM-IOB-MAX": 38, "SM-BOLUS-INTERVAL": 39, "SM-CANNULA-BUDGET": 40,
    "IL-CALC-SETTINGS": 41, "IL-CALC-CARBS-MAX": 42, "IL-CALC-BG-STALE": 43,
    "IL-CALC-BG-RANGE": 44, "IL-CALC-HYPO": 45, "IL-CALC-IOB": 46, "IL-CALC-BOLUS-MAX": 47,
    "IL-CALC-ADVICE-STALE": 48, "IL-PLGS": 49, "IL-PLGS-LIMIT": 50, "IL-CGM-STALE": 51,
    "IL-CGM-ORDER": 52, "IL-CGM-IMPLAUSIBLE": 53, "IL-CGM-LOST": 54, "IL-CGM-URGENT-LOW": 55,
    "IL-UPDATE-IMAGE": 56, "IL-UPDATE-CONSENT": 57, "IL-UPDATE-SWAP": 58,
    "IL-UPDATE-BOLUS": 59,
}
ALARM_OTHER = 0

# Telemetry ``flags`` bits.
FLAG_TEMP_BASAL = 1
FLAG_BOLUS = 2
FLAG_RESERVOIR_LOW = 4
FLAG_BATTERY_LOW = 8
FLAGS = ((FLAG_TEMP_BASAL, "a temporary basal is running"),
         (FLAG_BOLUS, "a bolus is being delivered"),
         (FLAG_RESERVOIR_LOW, "warning IL-RESERVOIR-LOW is active"),
         (FLAG_BATTERY_LOW, "warning IL-BATTERY-LOW is active"))

# Bolus / confirm_status ``status`` values.
BOLUS_STARTED = 0
BOLUS_AWAITING = 1

# update_status ``state`` values (secure_channel.protocol.update_stager).
UPDATE_IDLE = 0
UPDATE_RECEIVING = 1
UPDATE_STAGED = 2
UPDATE_AWAITING = 3
UPDATE_INSTALLING = 4
UPDATE_STATES = (
    (UPDATE_IDLE, "idle", "no image held"),
    (UPDATE_RECEIVING, "receiving", "a transfer is under way: the next chunk goes at "
     "`received`"),
    (UPDATE_STAGED, "staged", "the whole image is in the secondary slot, checked; "
     "install_update asks the patient"),
    (UPDATE_AWAITING, "awaiting", "waiting for the patient's press on the pump"),
    (UPDATE_INSTALLING, "installing", "therapy paused; the pump resets into the image"),
)
MAX_IMAGE = 1 << 24
MAX_CHUNK = 864        # the largest image_chunk stays inside MAX_MESSAGE and a frame
DIGEST_SIZE = 32

# -- error codes -------------------------------------------------------------------------------
# 1..6: the pump's own Result codes, passed through with the pump's reason.
MALFORMED = 16         # not CBOR, not a map, or a bad envelope (type, id)
UNKNOWN_TYPE = 17      # no such message type (or a response type sent as a request)
BAD_FIELD_TYPE = 18    # a field has the wrong CBOR type (bool vs int included)
OUT_OF_RANGE = 19      # a field's value, length or step is outside its schema bounds
MISSING_FIELD = 20     # a required field is absent
UNKNOWN_FIELD = 21     # a key the message type does not define
CONFLICT = 22          # fields that exclude each other, or must come together
TOO_LARGE = 23         # the message exceeds MAX_MESSAGE bytes
# 24..27: the CoAP request around the message (secure_channel.resources), checked first
BAD_METHOD = 24        # the resource does not take this CoAP method
BAD_CONTENT_FORMAT = 25  # a Content-Format other than application/cbor (60)
BAD_OPTION = 26        # a critical CoAP option this pump does not implement, or malformed
NOT_ACCEPTABLE = 27    # an Accept other than application/cbor (60)
FORBIDDEN = 32         # the peer's role may not send this command (permission matrix)
REMOTE_BOLUS_OFF = 33  # remote bolus is disabled on this pump (the default)
CONFIRM_BUSY = 34      # another remote bolus is awaiting confirmation
CONFIRM_EXPIRED = 35   # not confirmed on the pump within the timeout
CONFIRM_CANCELLED = 36  # the awaiting bolus was cancelled before confirmation
NO_PENDING = 37        # confirm_status for a request this peer has no outcome for
UNAVAILABLE = 38       # the pump has no such service wired (CGM, log reader, updater)
UPDATE_REFUSED = 39    # the update stager refused the step (reason says why)

ERRORS = (
    (MALFORMED, "malformed", "not CBOR, not a map, or a bad envelope (type, id)"),
    (UNKNOWN_TYPE, "unknown-type", "no such request type"),
    (BAD_FIELD_TYPE, "bad-field-type", "a field has the wrong CBOR type (bool is not int)"),
    (OUT_OF_RANGE, "out-of-range", "a field's value, length or step is outside its bounds"),
    (MISSING_FIELD, "missing-field", "a required field is absent"),
    (UNKNOWN_FIELD, "unknown-field", "a key this message type does not define"),
    (CONFLICT, "conflict", "fields that exclude each other, or must come together"),
    (TOO_LARGE, "too-large", "message longer than %d bytes" % MAX_MESSAGE),
    (BAD_METHOD, "bad-method", "the resource does not take this CoAP method"),
    (BAD_CONTENT_FORMAT, "bad-content-format",
     "a Content-Format other than application/cbor (60)"),
    (BAD_OPTION, "bad-option", "a critical CoAP option not implemented, or malformed"),
    (NOT_ACCEPTABLE, "not-acceptable", "an Accept other than application/cbor (60)"),
    (FORBIDDEN, "forbidden", "the peer's role may not send this command"),
    (REMOTE_BOLUS_OFF, "remote-bolus-off", "remote bolus is disabled (the default)"),
    (CONFIRM_BUSY, "confirm-busy", "another remote bolus is awaiting confirmation"),
    (CONFIRM_EXPIRED, "confirm-expired", "not confirmed on the pump within the timeout"),
    (CONFIRM_CANCELLED, "confirm-cancelled", "cancelled while awaiting confirmation"),
    (NO_PENDING, "no-pending", "no outcome for that request id and this peer"),
    (UNAVAILABLE, "unavailable", "the service (CGM, log reader, updater) is not wired"),
    (UPDATE_REFUSED, "update-refused", "the update stager refused the step"),
)

ERROR_NAMES = {}
for _code in results.NAMES:
    if _code != results.OK:
        ERROR_NAMES[_code] = results.NAMES[_code]
for _code, _name, _doc in ERRORS:
    ERROR_NAMES[_code] = _name

# -- reusable fields ---------------------------------------------------------------------------
_MAX_BOLUS = HARD_RANGES["max_bolus_mu"][2]
_MAX_BASAL = HARD_RANGES["max_basal_mu_h"][2]
_MAX_TEMP_RATE = HARD_RANGES["max_temp_basal_mu_h"][2]
_MAX_TEMP_PERCENT = HARD_RANGES["max_temp_percent"][2]
_MAX_TEMP_MS = HARD_RANGES["max_temp_duration_ms"][2]
_MIN_TEMP_MS = 15 * MS_PER_MINUTE
_MAX_EXTENDED_MS = 8 * MS_PER_HOUR
_MAX_LIMITS = len(HARD_RANGES)


def _cmd_id(key):
    return _opt(key, "cmd_id", BYTES, 1, 16,
                "client's id of this command; the pump refuses a repeat (IL-DUPLICATE-CMD)")


def _issued(key):
    return _opt(key, "issued_ms", UINT, 0, U63,
                "pump tick (from time_sync) the command was issued at; stale ones are "
                "refused (IL-CMD-STALE)")


def _from_seq(key):
    return _opt(key, "from_seq", UINT, 0, U32, "first log sequence number wanted",
                default=0)


def _next_seq(key):
    return _f(key, "next_seq", UINT, 0, U32, "from_seq for the next page (head + 1: done)")


_VERSION = (_f(0, "major", UINT, 0, 0xFF), _f(1, "minor", UINT, 0, 0xFF),
            _f(2, "revision", UINT, 0, 0xFFFF), _f(3, "build", UINT, 0, U32))

_GLUCOSE = _f(0, "mg_dl", UINT, 20, 600, "sensor glucose, mg/dL")
_TREND = _f(1, "trend", INT, -3, 3, "rate of change: -3 falling > 3 mg/dL/min .. "
            "0 steady .. 3 rising > 3 mg/dL/min")

# -- the messages ----------------------------------------------------------------------------

ERROR = Message(
    0, "error", "The response to any refused request (schema, role, pump or service).",
    response=(
        _f(2, "code", UINT, 1, 255, "error code (table below)"),
        _opt(3, "reason", TEXT, 0, 64, "one line: the pump's reason or interlock ID"),
        _opt(4, "ref_type", UINT, 0, 255, "type of the refused request, when known"),
    ))

TELEMETRY = Message(
    2, "telemetry", "The compact 5-minute telemetry: latest CGM reading and pump status. "
    "Sized for one 64-byte serial frame.", response=(
        _opt(2, "cgm", TUPLE, doc="latest reading, if any", items=(
            _GLUCOSE, _TREND, _f(2, "age_s", UINT, 0, 0xFFFF, "age of the reading, s"))),
        _f(3, "state", UINT, 0, 11, "therapy state code"),
        _opt(4, "alarm", UINT, 0, 255, "active alarm code (0: see status)"),
        _opt(5, "flags", UINT, 1, 15, "bit set (table below); absent: none"),
        _f(6, "iob_mu", UINT, 0, 0xFFFF, "insulin on board, mU (saturates)"),
        _f(7, "reservoir_pulses", UINT, 0, 0xFFFF,
           "insulin left, in %d mU pulses (saturates)" % PULSE_MU),
        _f(8, "battery_percent", UINT, 0, 100, "battery charge, %"),
        _f(9, "basal_mu_h", UINT, 0, 0xFFFF, "basal rate now, mU/h (saturates)"),
    ))

MESSAGES = (
    ERROR,
    Message(1, "status", "Full pump status.", response=(
        _f(2, "state", UINT, 0, 11, "therapy state code (table below)"),
        _opt(3, "alarm", TEXT, 1, 32, "active alarm or safe-stop ID"),
        _opt(4, "warnings", LIST, 1, 8, "active warnings",
             items=_f(0, "warning", TEXT, 1, 32)),
        _f(5, "iob_mu", UINT, 0, U32, "insulin on board, mU"),
        _f(6, "reservoir_mu", UINT, 0, U32, "insulin left in the reservoir, mU"),
        _f(7, "battery_percent", UINT, 0, 100, "battery charge, %"),
        _f(8, "basal_mu_h", UINT, 0, U32, "basal rate being delivered now, mU/h"),
        _f(9, "bolus_left_mu", UINT, 0, U32, "bolus insulin still to deliver, mU"),
        _f(10, "temp_basal", BOOL, doc="a temporary basal is running"),
        _f(11, "log_seq", UINT, 0, U32, "sequence number of the audit log's head"),
        _f(12, "remote_bolus", BOOL, doc="remote bolus is enabled"),
        _f(13, "awaiting", BOOL, doc="a remote bolus awaits confirmation on the pump"),
        _opt(14, "wall_s", UINT, 0, WALL_MAX, "the pump's wall clock, s: what a time_sync "
             "would step"),
    )),
    TELEMETRY,
    Message(3, "cgm_history", "Recent CGM readings, newest first.", request=(
        _opt(2, "count", UINT, 1, 24, "readings wanted", default=12),
    ), response=(
        _f(2, "readings", LIST, 0, 24, "newest first", items=_f(
            0, "reading", TUPLE, items=(
                _GLUCOSE, _TREND, _f(2, "age_s", UINT, 0, U32, "age of the reading, s")))),
    )),
    Message(4, "delivery_records", "Insulin reservations and refunds from the audit log.",
            request=(
                _from_seq(2),
                _opt(3, "count", UINT, 1, 16, "records wanted", default=8),
            ), response=(
                _f(2, "records", LIST, 0, 16, "oldest first", items=_f(
                    0, "record", TUPLE, items=(
                        _f(0, "seq", UINT, 0, U32, "log sequence number"),
                        _f(1, "wall_s", UINT, 0, WALL_MAX, "pump wall clock, s"),
                        _f(2, "mu", INT, -(1 << 31), (1 << 31) - 1,
                           "reserved (> 0) or refunded (< 0), mU"),
                        _f(3, "bolus", BOOL, doc="a bolus, not basal")))),
                _next_seq(3),
            )),
    Message(5, "alarms", "Alarm, safe-stop and warning events from the audit log.", request=(
        _from_seq(2),
        _opt(3, "count", UINT, 1, 16, "events wanted", default=8),
    ), response=(
        _f(2, "events", LIST, 0, 16, "oldest first", items=_f(0, "event", TUPLE, items=(
            _f(0, "seq", UINT, 0, U32, "log sequence number"),
            _f(1, "wall_s", UINT, 0, WALL_MAX, "pump wall clock, s"),
            _f(2, "id", TEXT, 1, 32, "alarm, safe-stop or warning ID"),
            _f(3, "active", BOOL, doc="raised (true) or acknowledged (false)")))),
        _next_seq(3),
    )),
    Message(6, "bolus", "Remote bolus: off by default; when enabled it waits for "
            "confirmation on the pump's button (see confirm_status).", request=(
                _f(2, "mu", UINT, PULSE_MU, _MAX_BOLUS, "dose, mU", step=PULSE_MU),
                _opt(3, "duration_ms", UINT, 0, _MAX_EXTENDED_MS,
                     "extended bolus over this time (0 or absent: normal; else >= 15 min)",
                     default=0),
                _cmd_id(4), _issued(5),
            ), response=(
                _f(2, "status", UINT, 0, 1, "0 started, 1 awaiting confirmation"),
                _opt(3, "mu", UINT, 0, _MAX_BOLUS, "dose accepted, mU (when started)"),
            ), together=(("cmd_id", "issued_ms"),)),
    Message(7, "cancel_bolus", "Stop a running bolus, or drop one awaiting confirmation.",
            response=(
                _f(2, "cancelled_mu", UINT, 0, U32, "insulin not delivered, mU"),
            )),
    Message(8, "temp_basal", "Temporary basal: a percentage of the program or a rate.",
            request=(
                _f(2, "duration_ms", UINT, _MIN_TEMP_MS, _MAX_TEMP_MS, "duration, ms"),
                _opt(3, "percent", UINT, 0, _MAX_TEMP_PERCENT, "percent of the program"),
                _opt(4, "rate_mu_h", UINT, 0, _MAX_TEMP_RATE, "absolute rate, mU/h"),
                _cmd_id(5), _issued(6),
            ), one_of=(("percent", "rate_mu_h"),), together=(("cmd_id", "issued_ms"),)),
    Message(9, "cancel_temp_basal", "End a temporary basal."),
    Message(10, "suspend", "Suspend delivery."),
    Message(11, "resume", "Resume delivery after a suspend."),
    Message(12, "set_basal_program", "Replace the basal program (a clinician setting).",
            request=(
                _f(2, "rates", LIST, BASAL_SLOTS, BASAL_SLOTS,
                   "%d half-hour rates from midnight" % BASAL_SLOTS,
                   items=_f(0, "rate_mu_h", UINT, 0, _MAX_BASAL, "mU/h")),
            )),
    Message(13, "set_limits", "Change therapy limits (a clinician setting); each inside "
            "its hard range (docs/hazards.md).", request=(
                _f(2, "values", LIMITS, 1, _MAX_LIMITS, "limit name -> value"),
            )),
    Message(14, "time_sync", "Set the pump's wall clock; returns its monotonic tick, "
            "which issued_ms refers to.", request=(
                _f(2, "wall_s", UINT, 0, WALL_MAX, "UTC seconds since 1970"),
            ), response=(
                _f(2, "ticks_ms", UINT, 0, U63, "pump monotonic tick, ms"),
            )),
    Message(15, "read_log", "Audit-log records and the chain hash after them. A record "
            "too large for one message has its data sent as null and ends the page.", request=(
                _from_seq(2),
                _opt(3, "count", UINT, 1, 32, "records wanted", default=8),
            ), response=(
                _f(2, "head_seq", UINT, 0, U32, "sequence number of the log's head"),
                _f(3, "records", LIST, 0, 32, "oldest first", items=_f(
                    0, "record", TUPLE, items=(
                        _f(0, "seq", UINT, 0, U32, "sequence number"),
                        _f(1, "tick_ms", UINT, 0, U63, "monotonic tick, ms"),
                        _f(2, "wall_s", UINT, 0, WALL_MAX, "wall clock, s"),
                        _f(3, "type", UINT, 0, 255, "record type (pump.audit_log EV_*)"),
                        _f(4, "data", ANY, doc="record data as logged")))),
                _next_seq(4),
                _opt(5, "chain", BYTES, 32, 32, "chain hash after the page's last record "
                     "(pump.audit_log): a reader holding the hash before the page "
                     "recomputes it; a page ends after a record sent without its data"),
            )),
    Message(16, "begin_update", "Start receiving an image of `size` bytes whose SHA-256 "
            "is `digest` into the secondary slot (a transfer or staged image held is "
            "dropped). Therapy goes on.", request=(
                _f(2, "size", UINT, 1, MAX_IMAGE, "image size, bytes"),
                _f(3, "digest", BYTES, DIGEST_SIZE, DIGEST_SIZE,
                   "SHA-256 of the whole image: what the pump checks the slot against, "
                   "and which transfer update_status says it holds"),
            )),
    Message(17, "image_chunk", "The next piece of the image, at `received` (a repeat of "
            "the last one is acknowledged again). The answer, empty, means the pump holds "
            "the image up to the end of this chunk. After the last one the pump checks the "
            "slot against the digest and vets the image as its bootloader will: refused, "
            "it is dropped (IL-UPDATE-IMAGE); answered, it is staged. Nothing is installed "
            "before install_update.", request=(
                _f(2, "offset", UINT, 0, MAX_IMAGE, "offset of this chunk in the image"),
                _f(3, "data", BYTES, 1, MAX_CHUNK, "image bytes"),
            )),
    Message(18, "confirm_update", "Confirm the running test-booted image so it stays (the "
            "pump confirms it by itself once its self-test passed)."),
    Message(19, "cancel_update", "Drop the image being received or staged, or the install "
            "awaiting the patient; in the pause for the swap, resume therapy."),
    Message(20, "confirm_status", "Outcome of a remote bolus that awaited confirmation: "
            "awaiting, started, or an error (expired, cancelled, the pump's refusal).",
            request=(
                _f(2, "ref", UINT, 0, MAX_ID, "id of the bolus request"),
            ), response=(
                _f(2, "status", UINT, 0, 1, "0 started, 1 still awaiting confirmation"),
                _opt(3, "mu", UINT, 0, _MAX_BOLUS, "dose accepted, mU (when started)"),
            )),
    Message(21, "service_reset", "Clear a latched safe-stop (service only); the pump "
            "re-runs its self-test."),
    Message(22, "cgm_reading", "One CGM reading for the pump's low-glucose suspend and "
            "bolus calculator; stale, reordered or implausible readings are refused "
            "(IL-CGM-STALE, IL-CGM-ORDER, IL-CGM-IMPLAUSIBLE). The answer is the "
            "telemetry after the reading: the sensor's 5-minute cycle needs one round trip.",
            response=TELEMETRY.response, request=(
                _f(2, "mg_dl", UINT, 20, 600, "sensor glucose, mg/dL"),
                _f(3, "measured_ms", UINT, 0, U63,
                   "pump tick (from time_sync) the sensor measured it at"),
                _opt(4, "trend", INT, -3, 3, "the sensor's trend arrow", default=0),
            )),
    Message(23, "update_status", "The software running and an update's progress: the "
            "version, whether it is on trial, where a transfer stopped (send on from "
            "`received`), whether an image is staged, awaits the patient or is being "
            "installed.", response=(
                _f(2, "phase", UINT, 0, 4, "where the update is (table below)"),
                _opt(3, "version", TUPLE, doc="version of the running image",
                     items=_VERSION),
                _f(4, "trial", BOOL, doc="the running image is on trial: not confirmed "
                   "yet, the bootloader reverts it at the next reset"),
                _opt(5, "security_counter", UINT, 0, U32,
                     "the device's security counter (OTP)"),
                _opt(6, "size", UINT, 1, MAX_IMAGE, "size of the image held"),
                _opt(7, "received", UINT, 0, MAX_IMAGE, "bytes of it in the slot"),
                _opt(8, "digest", BYTES, DIGEST_SIZE, DIGEST_SIZE,
                     "its SHA-256, as announced"),
                _opt(9, "staged_version", TUPLE, doc="version of the image staged",
                     items=_VERSION),
                _opt(10, "note", TEXT, 0, 64, "what the last reset did with an update: "
                     "installed, refused and why, reverted"),
            )),
    Message(24, "install_update", "Install the staged image: the pump shows it and waits "
            "`wait_s` for the patient's press (IL-UPDATE-CONSENT); pressed, therapy "
            "pauses and the pump resets into the image on trial (the pause ends by "
            "itself after 2 min without the reset, IL-UPDATE-SWAP); after its self-test "
            "the new image confirms itself. update_status tells how it went.",
            response=(
                _f(2, "wait_s", UINT, 1, 300, "how long the pump waits for the press, s"),
            )),
)

BY_CODE = {}
BY_NAME = {}
for _message in MESSAGES:
    BY_CODE[_message.code] = _message
    BY_NAME[_message.name] = _message

COMMANDS = tuple(m.name for m in MESSAGES if m.code != ERROR.code)

