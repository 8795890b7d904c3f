"""Pump protocol messages: strict validation against ``protocol_schema``, both directions.

``decode_request`` / ``decode_response`` turn bytes into a ``Parsed`` message whose fields
are keyed by name, or raise ``ProtocolError`` with a schema error code (16..23) and a
one-line reason; nothing else escapes them. ``encode_request`` / ``encode_response`` /
``encode_error`` validate with the same tables before encoding, so a peer cannot send
what the other side would refuse. Encoding is deterministic CBOR (``secure_channel.cbor``),
so one message has exactly one accepted encoding.

Types are checked as CBOR types: a bool is never accepted for an int nor the reverse (on
CPython ``isinstance(True, int)`` is true; on MicroPython it is false; neither matters here).
"""

from secure_channel import cbor
from secure_channel.protocol import schema as S
from pump.limits import HARD_RANGES


class ProtocolError(ValueError):
    """A message refused by the schema; ``code`` is one of the schema's error codes.

    ``msg_id`` and ``msg_type`` are set when the envelope was readable, so the error
    response can name the request it answers.
    """

    def __init__(self, code, reason, msg_id=None, msg_type=None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.msg_id = msg_id
        self.msg_type = msg_type


class Parsed:
    """A validated message: its schema entry, id and fields by name."""

    __slots__ = ("message", "id", "fields")

    def __init__(self, message, msg_id, fields):
        self.message = message
        self.id = msg_id
        self.fields = fields

    @property
    def name(self):
        return self.message.name

    @property
    def is_error(self):
        return self.message.code == S.ERROR.code

    def __repr__(self):
        return "Parsed(%s, id=%r, %r)" % (self.name, self.id, self.fields)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(code, reason):
    raise ProtocolError(code, reason)


def _check_int(field, value, where):
    if not is_int(value):
        _fail(S.BAD_FIELD_TYPE, "%s must be an integer" % where)
    if not field.low <= value <= field.high:
        _fail(S.OUT_OF_RANGE, "%s=%d outside %d..%d" % (where, value, field.low, field.high))
    if field.step > 1 and value % field.step:
        _fail(S.OUT_OF_RANGE, "%s must be a multiple of %d" % (where, field.step))
    return value


def _check_length(field, length, where):
    if not field.low <= length <= field.high:
        _fail(S.OUT_OF_RANGE, "%s length %d outside %d..%d" % (where, length, field.low,
                                                                field.high))


def check_value(field, value, where=None):
    """Validate one value against ``field``; return it (lists as lists)."""
    where = where or field.name
    kind = field.kind
    if kind == S.UINT or kind == S.INT:
        return _check_int(field, value, where)
    if kind == S.BOOL:
        if value is not True and value is not False:
            _fail(S.BAD_FIELD_TYPE, "%s must be a boolean" % where)
        return value
    if kind == S.BYTES:
        if not isinstance(value, bytes):
            _fail(S.BAD_FIELD_TYPE, "%s must be a byte string" % where)
        _check_length(field, len(value), where)
        return value
    if kind == S.TEXT:
        if not isinstance(value, str):
            _fail(S.BAD_FIELD_TYPE, "%s must be text" % where)
        _check_length(field, len(value.encode("utf-8")), where)
        return value
    if kind == S.LIST:
        if not isinstance(value, (list, tuple)):
            _fail(S.BAD_FIELD_TYPE, "%s must be an array" % where)
        _check_length(field, len(value), where)
        return [check_value(field.items, item, where + "[]") for item in value]
    if kind == S.TUPLE:
        if not isinstance(value, (list, tuple)):
            _fail(S.BAD_FIELD_TYPE, "%s must be an array" % where)
        if len(value) != len(field.items):
            _fail(S.OUT_OF_RANGE, "%s needs %d items" % (where, len(field.items)))
        return [check_value(item, value[i], where + "." + item.name)
                for i, item in enumerate(field.items)]
    if kind == S.LIMITS:
        return _check_limits(field, value, where)
    if kind == S.ANY:
        return value
    _fail(S.BAD_FIELD_TYPE, "%s has an unknown kind" % where)


def _check_limits(field, value, where):
    if not isinstance(value, dict):
        _fail(S.BAD_FIELD_TYPE, "%s must be a map" % where)
    _check_length(field, len(value), where)
    out = {}
    for name in value:
        if not isinstance(name, str):
            _fail(S.BAD_FIELD_TYPE, "%s keys must be text" % where)
        if name not in HARD_RANGES:
            _fail(S.OUT_OF_RANGE, "%s: unknown limit %s" % (where, name[:24]))
        _, low, high = HARD_RANGES[name]
        item = value[name]
        if not is_int(item):
            _fail(S.BAD_FIELD_TYPE, "%s must be an integer" % name)
        if not low <= item <= high:
            _fail(S.OUT_OF_RANGE, "%s=%d outside %d..%d" % (name, item, low, high))
        out[name] = item
    return out


def _check_constraints(message, present, specs):
    if specs is not message.request:
        return                       # the groups constrain request fields
    for group in message.one_of:
        count = sum(1 for name in group if name in present)
        if count != 1:
            _fail(S.CONFLICT, "give exactly one of %s" % ", ".join(group))
    for group in message.together:
        count = sum(1 for name in group if name in present)
        if count not in (0, len(group)):
            _fail(S.CONFLICT, "%s go together" % ", ".join(group))


def _fields_from_map(message, specs, raw):
    by_key = {}
    for field in specs:
        by_key[field.key] = field
    fields = {}
    for key in raw:
        if key == S.KEY_TYPE or key == S.KEY_ID:
            continue
        field = by_key.get(key) if is_int(key) else None
        if field is None:
            _fail(S.UNKNOWN_FIELD, "%s has no field %s" % (message.name, _short(key)))
        fields[field.name] = check_value(field, raw[key])
    _finish(message, specs, fields)
    return fields


def _finish(message, specs, fields):
    for field in specs:
        if field.required and field.name not in fields:
            _fail(S.MISSING_FIELD, "%s needs %s" % (message.name, field.name))
    _check_constraints(message, fields, specs)
    for field in specs:
        if field.default is not None and field.name not in fields:
            fields[field.name] = field.default


def _short(key):
    text = repr(key)
    return text if len(text) <= 16 else text[:13] + "..."


def _envelope(data, request):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(S.MALFORMED, "message must be bytes")
    if len(data) > S.MAX_MESSAGE:
        raise ProtocolError(S.TOO_LARGE, "message of %d bytes exceeds %d"
                            % (len(data), S.MAX_MESSAGE))
    try:
        raw = cbor.decode(bytes(data))
    except cbor.CBORError as exc:
        raise ProtocolError(S.MALFORMED, "not deterministic CBOR: %s" % exc)
    return _envelope_map(raw, request)


def _envelope_map(raw, request):
    if not isinstance(raw, dict):
        raise ProtocolError(S.MALFORMED, "message must be a CBOR map")
    msg_id = raw.get(S.KEY_ID)
    if msg_id is not None and (not is_int(msg_id) or not 0 <= msg_id <= S.MAX_ID):
        raise ProtocolError(S.MALFORMED, "id must be an integer 0..%d" % S.MAX_ID)
    code = raw.get(S.KEY_TYPE)
    if code is None:
        raise ProtocolError(S.MALFORMED, "message has no type", msg_id)
    if not is_int(code):
        raise ProtocolError(S.MALFORMED, "type must be an integer", msg_id)
    message = S.BY_CODE.get(code)
    if message is None or (request and message is S.ERROR):
        raise ProtocolError(S.UNKNOWN_TYPE, "no request type %s" % _short(code), msg_id)
    if msg_id is None and not (message is S.ERROR and not request):
        raise ProtocolError(S.MALFORMED, "%s needs an id" % message.name, None, code)
    return message, msg_id, raw


def _decode(data, request):
    return _parse(_envelope(data, request), request)


def _parse(envelope, request):
    message, msg_id, raw = envelope
    specs = message.request if request else message.response
    try:
        fields = _fields_from_map(message, specs, raw)
    except ProtocolError as exc:
        exc.msg_id = msg_id
        exc.msg_type = message.code
        raise
    return Parsed(message, msg_id, fields)


def decode_request(data):
    """Validate a request; returns Parsed or raises ProtocolError."""
    return _decode(data, True)


def decode_response(data):
    """Validate a response (or an error response); returns Parsed or raises ProtocolError."""
    return _decode(data, False)


def parse_request(raw):
    """``decode_request`` for a message already decoded from CBOR (a map by key)."""
    return _parse(_envelope_map(raw, True), True)


def parse_response(raw):
    """``decode_response`` for a message already decoded from CBOR (a map by key)."""
    return _parse(_envelope_map(raw, False), False)


def _encode(name, msg_id, fields, request):
    return _checked(name, msg_id, fields, request)[1]


def checked_request(name, msg_id, fields=None):
    """(the request as a map by key, its encoding): ``encode_request`` that also gives
    the map, so a caller that needs the fields need not decode them again."""
    return _checked(name, msg_id, fields, True)


def _checked(name, msg_id, fields, request):
    message = S.BY_NAME.get(name)
    if message is None or (request and message is S.ERROR):
        raise ProtocolError(S.UNKNOWN_TYPE, "no message type %r" % (name,))
    if not (msg_id is None and message is S.ERROR) and \
            (not is_int(msg_id) or not 0 <= msg_id <= S.MAX_ID):
        raise ProtocolError(S.MALFORMED, "id must be an integer 0..%d" % S.MAX_ID)
    specs = message.request if request else message.response
    by_name = {}
    for field in specs:
        by_name[field.name] = field
    out = {S.KEY_TYPE: message.code}
    if msg_id is not None:
        out[S.KEY_ID] = msg_id
    fields = fields or {}
    present = {}
    for name in fields:
        field = by_name.get(name)
        if field is None:
            raise ProtocolError(S.UNKNOWN_FIELD, "%s has no field %s" % (message.name, name))
        value = fields[name]
        if value is None and not field.required:
            continue
        out[field.key] = check_value(field, value)
        present[name] = True
    for field in specs:
        if field.required and field.name not in present:
            raise ProtocolError(S.MISSING_FIELD, "%s needs %s" % (message.name, field.name))
    _check_constraints(message, present, specs)
    try:
        data = cbor.encode(out)
    except cbor.CBORError as exc:
        raise ProtocolError(S.BAD_FIELD_TYPE, "not encodable: %s" % exc)
    if len(data) > S.MAX_MESSAGE:
        raise ProtocolError(S.TOO_LARGE, "message of %d bytes exceeds %d"
                            % (len(data), S.MAX_MESSAGE))
    return out, data


def encode_request(name, msg_id, fields=None):
    """Encode a request after validating it; ``fields`` maps field names to values."""
    return _encode(name, msg_id, fields, True)


def encode_response(name, msg_id, fields=None):
    """Encode a response after validating it; a None value leaves an optional field out."""
    return _encode(name, msg_id, fields, False)


def clip_reason(reason, limit=64):
    """A reason cut to ``limit`` UTF-8 bytes without splitting a character."""
    reason = str(reason)
    while len(reason.encode("utf-8")) > limit:
        reason = reason[:-1]
    return reason


def encode_error(msg_id, code, reason="", ref_type=None):
    """Encode an error response (``msg_id`` None when the request's id was unreadable)."""
    fields = {"code": code, "reason": clip_reason(reason) if reason else None,
              "ref_type": ref_type}
    return _encode(S.ERROR.name, msg_id, fields, False)
