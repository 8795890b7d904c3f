"""The pump protocol's schema, declared once as data.

``messages`` validates every message against these tables, in both directions,
``resources`` maps each request type onto a CoAP resource, and ``doc`` renders
docs/protocol.md from them with the meanings in ``schema_doc`` (``python -m
secure_channel.protocol.doc > docs/protocol.md``), so the document cannot drift from what
the code accepts.

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
    """One field: CBOR key, name, kind, bounds, whether required (what it means is in
    ``schema_doc``, which a board does not carry).

    The defaults are class attributes and an instance holds only what differs: on
    MicroPython every instance attribute is a dictionary entry in RAM (``__slots__`` is
    not honoured there), and the schema has over a hundred fields."""

    low = 0
    high = 0
    required = True
    items = None
    step = 1
    default = None

    def __init__(self, key, name, kind, low=0, high=0, required=True, items=None, step=1,
                 default=None):
        self.key = key
        self.name = name
        self.kind = kind
        if low:
            self.low = low
        if high:
            self.high = high
        if not required:
            self.required = False
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

    __slots__ = ("code", "name", "request", "response", "one_of", "together")

    def __init__(self, code, name, request=(), response=(), one_of=(), together=()):
        self.code = code
        self.name = name
        self.request = request
        self.response = response
        self.one_of = one_of
        self.together = together


def _f(key, name, kind, low=0, high=0, **extra):
    return Field(key, name, kind, low, high, **extra)


def _opt(key, name, kind, low=0, high=0, **extra):
    return Field(key, name, kind, low, high, required=False, **extra)


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

# Bolus / confirm_status ``status`` values.
BOLUS_STARTED = 0
BOLUS_AWAITING = 1

# update_status ``state`` values (secure_channel.protocol.update_stager).
UPDATE_IDLE = 0
UPDATE_RECEIVING = 1
UPDATE_STAGED = 2
UPDATE_AWAITING = 3
UPDATE_INSTALLING = 4
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

# error code -> name, the first word of every refusal's reason (codes 1..6: pump.results)
ERROR_NAMES = {
    MALFORMED: "malformed", UNKNOWN_TYPE: "unknown-type", BAD_FIELD_TYPE: "bad-field-type",
    OUT_OF_RANGE: "out-of-range", MISSING_FIELD: "missing-field",
    UNKNOWN_FIELD: "unknown-field", CONFLICT: "conflict", TOO_LARGE: "too-large",
    BAD_METHOD: "bad-method", BAD_CONTENT_FORMAT: "bad-content-format",
    BAD_OPTION: "bad-option", NOT_ACCEPTABLE: "not-acceptable", FORBIDDEN: "forbidden",
    REMOTE_BOLUS_OFF: "remote-bolus-off", CONFIRM_BUSY: "confirm-busy",
    CONFIRM_EXPIRED: "confirm-expired", CONFIRM_CANCELLED: "confirm-cancelled",
    NO_PENDING: "no-pending", UNAVAILABLE: "unavailable", UPDATE_REFUSED: "update-refused",
}
for _code in results.NAMES:
    if _code != results.OK:
        ERROR_NAMES[_code] = results.NAMES[_code]

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
    return _opt(key, "cmd_id", BYTES, 1, 16)


def _issued(key):
    return _opt(key, "issued_ms", UINT, 0, U63)


def _from_seq(key):
    return _opt(key, "from_seq", UINT, 0, U32, default=0)


def _next_seq(key):
    return _f(key, "next_seq", UINT, 0, U32)


_VERSION = (_f(0, "major", UINT, 0, 0xFF), _f(1, "minor", UINT, 0, 0xFF),
            _f(2, "revision", UINT, 0, 0xFFFF), _f(3, "build", UINT, 0, U32))

_GLUCOSE = _f(0, "mg_dl", UINT, 20, 600)
_TREND = _f(1, "trend", INT, -3, 3)

# -- the messages (what each one and its fields mean: schema_doc) ----------------------------

ERROR = Message(0, "error", response=(
    _f(2, "code", UINT, 1, 255),
    _opt(3, "reason", TEXT, 0, 64),
    _opt(4, "ref_type", UINT, 0, 255),
))

TELEMETRY = Message(2, "telemetry", response=(
    _opt(2, "cgm", TUPLE, items=(_GLUCOSE, _TREND, _f(2, "age_s", UINT, 0, 0xFFFF))),
    _f(3, "state", UINT, 0, 11),
    _opt(4, "alarm", UINT, 0, 255),
    _opt(5, "flags", UINT, 1, 15),
    _f(6, "iob_mu", UINT, 0, 0xFFFF),
    _f(7, "reservoir_pulses", UINT, 0, 0xFFFF),
    _f(8, "battery_percent", UINT, 0, 100),
    _f(9, "basal_mu_h", UINT, 0, 0xFFFF),
))

MESSAGES = (
    ERROR,
    Message(1, "status", response=(
        _f(2, "state", UINT, 0, 11),
        _opt(3, "alarm", TEXT, 1, 32),
        _opt(4, "warnings", LIST, 1, 8, items=_f(0, "warning", TEXT, 1, 32)),
        _f(5, "iob_mu", UINT, 0, U32),
        _f(6, "reservoir_mu", UINT, 0, U32),
        _f(7, "battery_percent", UINT, 0, 100),
        _f(8, "basal_mu_h", UINT, 0, U32),
        _f(9, "bolus_left_mu", UINT, 0, U32),
        _f(10, "temp_basal", BOOL),
        _f(11, "log_seq", UINT, 0, U32),
        _f(12, "remote_bolus", BOOL),
        _f(13, "awaiting", BOOL),
        _opt(14, "wall_s", UINT, 0, WALL_MAX),
    )),
    TELEMETRY,
    Message(3, "cgm_history", request=(
        _opt(2, "count", UINT, 1, 24, default=12),
    ), response=(
        _f(2, "readings", LIST, 0, 24, items=_f(0, "reading", TUPLE, items=(
            _GLUCOSE, _TREND, _f(2, "age_s", UINT, 0, U32)))),
    )),
    Message(4, "delivery_records", request=(
        _from_seq(2),
        _opt(3, "count", UINT, 1, 16, default=8),
    ), response=(
        _f(2, "records", LIST, 0, 16, items=_f(0, "record", TUPLE, items=(
            _f(0, "seq", UINT, 0, U32),
            _f(1, "wall_s", UINT, 0, WALL_MAX),
            _f(2, "mu", INT, -(1 << 31), (1 << 31) - 1),
            _f(3, "bolus", BOOL)))),
        _next_seq(3),
    )),
    Message(5, "alarms", request=(
        _from_seq(2),
        _opt(3, "count", UINT, 1, 16, default=8),
    ), response=(
        _f(2, "events", LIST, 0, 16, items=_f(0, "event", TUPLE, items=(
            _f(0, "seq", UINT, 0, U32),
            _f(1, "wall_s", UINT, 0, WALL_MAX),
            _f(2, "id", TEXT, 1, 32),
            _f(3, "active", BOOL)))),
        _next_seq(3),
    )),
    Message(6, "bolus", request=(
        _f(2, "mu", UINT, PULSE_MU, _MAX_BOLUS, step=PULSE_MU),
        _opt(3, "duration_ms", UINT, 0, _MAX_EXTENDED_MS, default=0),
        _cmd_id(4), _issued(5),
    ), response=(
        _f(2, "status", UINT, 0, 1),
        _opt(3, "mu", UINT, 0, _MAX_BOLUS),
    ), together=(("cmd_id", "issued_ms"),)),
    Message(7, "cancel_bolus", response=(
        _f(2, "cancelled_mu", UINT, 0, U32),
    )),
    Message(8, "temp_basal", request=(
        _f(2, "duration_ms", UINT, _MIN_TEMP_MS, _MAX_TEMP_MS),
        _opt(3, "percent", UINT, 0, _MAX_TEMP_PERCENT),
        _opt(4, "rate_mu_h", UINT, 0, _MAX_TEMP_RATE),
        _cmd_id(5), _issued(6),
    ), one_of=(("percent", "rate_mu_h"),), together=(("cmd_id", "issued_ms"),)),
    Message(9, "cancel_temp_basal"),
    Message(10, "suspend"),
    Message(11, "resume"),
    Message(12, "set_basal_program", request=(
        _f(2, "rates", LIST, BASAL_SLOTS, BASAL_SLOTS,
           items=_f(0, "rate_mu_h", UINT, 0, _MAX_BASAL)),
    )),
    Message(13, "set_limits", request=(
        _f(2, "values", LIMITS, 1, _MAX_LIMITS),
    )),
    Message(14, "time_sync", request=(
        _f(2, "wall_s", UINT, 0, WALL_MAX),
    ), response=(
        _f(2, "ticks_ms", UINT, 0, U63),
    )),
    Message(15, "read_log", request=(
        _from_seq(2),
        _opt(3, "count", UINT, 1, 32, default=8),
    ), response=(
        _f(2, "head_seq", UINT, 0, U32),
        _f(3, "records", LIST, 0, 32, items=_f(0, "record", TUPLE, items=(
            _f(0, "seq", UINT, 0, U32),
            _f(1, "tick_ms", UINT, 0, U63),
            _f(2, "wall_s", UINT, 0, WALL_MAX),
            _f(3, "type", UINT, 0, 255),
            _f(4, "data", ANY)))),
        _next_seq(4),
        _opt(5, "chain", BYTES, 32, 32),
    )),
    Message(16, "begin_update", request=(
        _f(2, "size", UINT, 1, MAX_IMAGE),
        _f(3, "digest", BYTES, DIGEST_SIZE, DIGEST_SIZE),
    )),
    Message(17, "image_chunk", request=(
        _f(2, "offset", UINT, 0, MAX_IMAGE),
        _f(3, "data", BYTES, 1, MAX_CHUNK),
    )),
    Message(18, "confirm_update"),
    Message(19, "cancel_update"),
    Message(20, "confirm_status", request=(
        _f(2, "ref", UINT, 0, MAX_ID),
    ), response=(
        _f(2, "status", UINT, 0, 1),
        _opt(3, "mu", UINT, 0, _MAX_BOLUS),
    )),
    Message(21, "service_reset"),
    Message(22, "cgm_reading", request=(
        _f(2, "mg_dl", UINT, 20, 600),
        _f(3, "measured_ms", UINT, 0, U63),
        _opt(4, "trend", INT, -3, 3, default=0),
    ), response=TELEMETRY.response),
    Message(23, "update_status", response=(
        _f(2, "phase", UINT, 0, 4),
        _opt(3, "version", TUPLE, items=_VERSION),
        _f(4, "trial", BOOL),
        _opt(5, "security_counter", UINT, 0, U32),
        _opt(6, "size", UINT, 1, MAX_IMAGE),
        _opt(7, "received", UINT, 0, MAX_IMAGE),
        _opt(8, "digest", BYTES, DIGEST_SIZE, DIGEST_SIZE),
        _opt(9, "staged_version", TUPLE, items=_VERSION),
        _opt(10, "note", TEXT, 0, 64),
    )),
    Message(24, "install_update", response=(
        _f(2, "wait_s", UINT, 1, 300),
    )),
)

BY_CODE = {}
BY_NAME = {}
for _message in MESSAGES:
    BY_CODE[_message.code] = _message
    BY_NAME[_message.name] = _message

COMMANDS = tuple(m.name for m in MESSAGES if m.code != ERROR.code)

