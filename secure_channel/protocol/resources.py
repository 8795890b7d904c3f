"""The pump protocol as CoAP resources (RFC 7252): one table for the paths, one for the codes.

Inside an OSCORE exchange a request is a CoAP message (code, options, payload). Every request
type of ``schema`` is one resource in ``RESOURCES``:

- a request that only reads is a GET (safe and idempotent). Its fields, all unsigned
  integers, are Uri-Query options ``name=decimal`` named as in the schema
  (``GET /log?from_seq=5&count=8``); it carries no payload;
- every other request is a POST, or a PUT where sending it twice leaves the pump as sending
  it once does (replacing the basal program). Its fields are the payload: a deterministic
  CBOR map with the schema's keys (2 and up), Content-Format application/cbor (60) or none.

``serve`` builds today's protocol message from the request (the map, plus key 0, the type
the path names, and key 1, the id ``request_id``), gives it to ``Dispatcher.handle`` and
turns the answer back into CoAP. CoAP matches a response to its request by token, so the id
never travels: it is 0 unless the caller passes another (``confirm_status``'s ``ref`` names
a bolus by it). Success is 2.05 Content for a GET, 2.04 Changed otherwise (no request makes
a resource with a URI of its own, so there is no 2.01), with the response's field map
(keys 2 and up) as payload, none when the map is empty. A refusal gets the CoAP code that
``ERRORS`` gives its error code, and the error body (code, reason, ref_type) as payload.
Every payload is application/cbor.

Before the dispatcher, in this order, ``serve`` refuses (error body as above, counted and
audited through ``Dispatcher.refuse``): a critical option it does not implement or that is
malformed (4.02; options outside OSCORE's protection, class U, are the session layer's and
are not looked at), a path with no resource (4.04), another method (4.05), a Content-Format
other than 60 (4.15), an Accept other than 60 (4.06), a bad query or payload (4.00, 4.13).

The client's half, ``requester``, builds requests and reads answers from the same table
(the pump only serves, so a board does not carry it).
"""

from pump import results
from secure_channel import cbor
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import schema as S
from secure_channel.coap import message as M, numbers as N
from secure_channel.protocol.messages import ProtocolError

REQUEST_ID = 0
CBOR_VALUE = M.encode_uint(N.CBOR)     # the one Content-Format and Accept value taken
_MAX_DIGITS = 20                       # longer query values are refused before int()
_ENVELOPE_MAX = 16     # bytes the type and id keys add to a payload's map, and then some

# message -> (method, path). Commands sit under the thing they act on; cancelling is a
# sub-resource, never DELETE, like every command here (cancel_bolus, cancel_temp_basal).
_TABLE = (
    ("status", N.GET, "/status"),
    ("telemetry", N.GET, "/telemetry"),
    ("cgm_history", N.GET, "/cgm/history"),
    ("delivery_records", N.GET, "/log/deliveries"),
    ("alarms", N.GET, "/log/alarms"),
    ("read_log", N.GET, "/log"),
    ("bolus", N.POST, "/bolus"),
    ("cancel_bolus", N.POST, "/bolus/cancel"),
    ("confirm_status", N.GET, "/bolus/confirmation"),
    ("temp_basal", N.POST, "/temp-basal"),
    ("cancel_temp_basal", N.POST, "/temp-basal/cancel"),
    ("suspend", N.POST, "/suspend"),
    ("resume", N.POST, "/resume"),
    ("set_basal_program", N.PUT, "/basal"),        # replaces the whole program
    ("set_limits", N.POST, "/limits"),             # changes some limits: not a PUT
    ("time_sync", N.POST, "/clock"),               # a repeat later sets another time
    ("begin_update", N.POST, "/update/begin"),
    ("image_chunk", N.POST, "/update/chunk"),
    ("confirm_update", N.POST, "/update/confirm"),
    ("cancel_update", N.POST, "/update/cancel"),
    ("update_status", N.GET, "/update"),
    ("install_update", N.POST, "/update/install"),
    ("service_reset", N.POST, "/service/reset"),
    ("cgm_reading", N.POST, "/cgm"),
)

# Requests whose payload carries its own measurement time, which the pump checks (a CGM
# reading older than 10 min is refused, IL-CGM-STALE): they need no Echo round trip. OSCORE
# still refuses a replay; the time bounds how long one may be held back.
SELF_DATED_PATHS = ("/cgm",)

# error code -> (CoAP response code, why that code). Codes 1..6: the pump's Result codes.
ERRORS = (
    (results.ERR_TYPE, N.BAD_REQUEST, "the request's fault (the schema should catch it first)"),
    (results.ERR_RANGE, N.UNPROCESSABLE_ENTITY, "well-formed, but the pump cannot act on "
     "the value"),
    (results.ERR_STATE, N.CONFLICT, "conflicts with the pump's current state"),
    (results.ERR_INTERLOCK, N.UNPROCESSABLE_ENTITY, "well-formed, but a safety limit forbids "
     "acting on it"),
    (results.ERR_GUARD, N.CONFLICT, "conflicts with the pump's current state"),
    (results.ERR_INTERNAL, N.INTERNAL_SERVER_ERROR, "the pump's fault, not the request's"),
    (S.MALFORMED, N.BAD_REQUEST, "a malformed request"),
    (S.UNKNOWN_TYPE, N.NOT_FOUND, "over CoAP: no resource at that path"),
    (S.BAD_FIELD_TYPE, N.BAD_REQUEST, "a malformed request"),
    (S.OUT_OF_RANGE, N.BAD_REQUEST, "a malformed request"),
    (S.MISSING_FIELD, N.BAD_REQUEST, "a malformed request"),
    (S.UNKNOWN_FIELD, N.BAD_REQUEST, "a malformed request"),
    (S.CONFLICT, N.BAD_REQUEST, "a malformed request"),
    (S.TOO_LARGE, N.REQUEST_ENTITY_TOO_LARGE, "RFC 7252 §5.9.2.9"),
    (S.BAD_METHOD, N.METHOD_NOT_ALLOWED, "RFC 7252 §5.9.2.6"),
    (S.BAD_CONTENT_FORMAT, N.UNSUPPORTED_CONTENT_FORMAT, "RFC 7252 §5.9.2.10"),
    (S.BAD_OPTION, N.BAD_OPTION, "RFC 7252 §5.4.1, §5.9.2.3"),
    (S.NOT_ACCEPTABLE, N.NOT_ACCEPTABLE, "RFC 7252 §5.9.2.7"),
    (S.FORBIDDEN, N.FORBIDDEN, "not permitted to this peer's role"),
    (S.REMOTE_BOLUS_OFF, N.FORBIDDEN, "not permitted on this pump"),
    (S.CONFIRM_BUSY, N.CONFLICT, "conflicts with the bolus awaiting confirmation: retry "
     "after it"),
    (S.CONFIRM_EXPIRED, N.FORBIDDEN, "the patient did not consent on the pump"),
    (S.CONFIRM_CANCELLED, N.CONFLICT, "a later cancel_bolus overrode it"),
    (S.NO_PENDING, N.NOT_FOUND, "no such bolus for this peer"),
    (S.UNAVAILABLE, N.SERVICE_UNAVAILABLE, "the pump cannot serve it (service not wired)"),
    (S.UPDATE_REFUSED, N.UNPROCESSABLE_ENTITY, "well-formed, but the stager cannot take "
     "the step"),
)
UNMAPPED = N.INTERNAL_SERVER_ERROR     # an error code missing above (a test forbids it)

# Critical inner options this layer implements; class U ones belong to the session layer.
_READ = (N.URI_PATH, N.URI_QUERY, N.ACCEPT)


class Resource:
    """One request type as a resource: its method, path and schema entry."""

    __slots__ = ("name", "method", "path", "segments", "message")

    def __init__(self, name, method, path):
        self.name = name
        self.method = method
        self.path = path
        self.segments = tuple(s.encode() for s in path.strip("/").split("/"))
        self.message = S.BY_NAME[name]

    @property
    def queries(self):
        """Names of the request fields sent as Uri-Query (a GET's fields)."""
        if self.method != N.GET:
            return ()
        return tuple(field.name for field in self.message.request)

    @property
    def success(self):
        return N.CONTENT if self.method == N.GET else N.CHANGED


RESOURCES = tuple(Resource(*row) for row in _TABLE)
BY_NAME = {}
BY_SEGMENTS = {}
for _resource in RESOURCES:
    BY_NAME[_resource.name] = _resource
    BY_SEGMENTS[_resource.segments] = _resource

STATUS = {}
for _code, _status, _why in ERRORS:
    STATUS[_code] = _status


def status_of(error_code):
    """The CoAP response code of a protocol error code."""
    return STATUS.get(error_code, UNMAPPED)


class ResponseError(ProtocolError):
    """An inner CoAP response that is no pump answer to the request: a code that does not
    fit, a payload that is not the CBOR body, or a refusal by another layer (a 4.01 from
    OSCORE, a 5.04 from a proxy). ``coap_code`` is the response's code."""

    def __init__(self, coap_code, reason):
        super().__init__(S.MALFORMED, reason)
        self.coap_code = coap_code


# -- the pump's side ---------------------------------------------------------------------------

def serve(dispatcher, request, role, now, request_id=REQUEST_ID):
    """The inner CoAP response to the inner CoAP ``request`` of a peer with ``role``."""
    if not protocol.is_int(request_id) or not 0 <= request_id <= S.MAX_ID:
        raise ValueError("request_id must be an integer 0..%d" % S.MAX_ID)
    try:
        return _serve(dispatcher, request, role, now, request_id)
    except Exception as exc:       # a bug here must not take the pump down; 0 in tests
        dispatcher.faults += 1
        data = dispatcher.refuse("message", results.ERR_INTERNAL,
                                 "resource fault %s" % type(exc).__name__)
        return response_message(data, None)


def _serve(dispatcher, request, role, now, request_id):
    if not isinstance(request, M.Message) or not N.is_request(request.code):
        return _refuse(dispatcher, None, S.MALFORMED, "not a CoAP request")
    problem = _option_problem(request)
    if problem is not None:
        return _refuse(dispatcher, None, S.BAD_OPTION, problem)
    resource = BY_SEGMENTS.get(tuple(request.values(N.URI_PATH)))
    if resource is None:
        return _refuse(dispatcher, None, S.UNKNOWN_TYPE, "no resource " + clipped(request.path))
    if request.code != resource.method:
        return _refuse(dispatcher, resource, S.BAD_METHOD, "%s takes %s only" % (
            resource.path, N.CODE_NAMES[resource.method]))
    for value in request.values(N.CONTENT_FORMAT):
        if value != CBOR_VALUE:
            return _refuse(dispatcher, resource, S.BAD_CONTENT_FORMAT,
                           "Content-Format %s" % content_format_text(value))
    accept = request.first(N.ACCEPT)
    if accept is not None and accept != CBOR_VALUE:
        return _refuse(dispatcher, resource, S.NOT_ACCEPTABLE,
                       "Accept %d" % M.decode_uint(accept))
    try:
        fields = _fields(request, resource)
    except ProtocolError as exc:
        return _refuse(dispatcher, resource, exc.code, exc.reason)
    fields[S.KEY_TYPE] = resource.message.code
    fields[S.KEY_ID] = request_id
    if len(request.payload) + _ENVELOPE_MAX < S.MAX_MESSAGE:   # surely within the limit
        return response_message(dispatcher.handle_map(fields, role, now), resource.success)
    return response_message(dispatcher.handle(cbor.encode(fields), role, now),
                            resource.success)


def _refuse(dispatcher, resource, code, detail):
    """The error response to a refusal decided here, counted and audited by the dispatcher."""
    if resource is None:
        return response_message(dispatcher.refuse("message", code, detail), None)
    return response_message(dispatcher.refuse(resource.name, code, detail,
                                              resource.message.code), None)


def response_message(data, success):
    """The CoAP response for the dispatcher's response bytes: keys 2.. as the payload,
    the code ``success`` or, for an error, the one ``ERRORS`` gives its code."""
    raw = cbor.decode(data)
    body = {}
    for key in raw:
        if key >= S.FIRST_FIELD_KEY:
            body[key] = raw[key]
    code = success
    if raw[S.KEY_TYPE] == S.ERROR.code:
        code = status_of(body[2])                    # key 2 of an error: its code
    response = M.Message(N.ACK, code)
    if body:
        response.add(N.CONTENT_FORMAT, N.CBOR)
        response.payload = cbor.encode(body)
    return response


def _option_problem(request):
    """Why a critical option stops the request (RFC 7252 §5.4.1, §5.4.3, §5.4.5), or None.
    Elective options are not looked at here: Content-Format is checked on its own (any
    value but 60 in its one encoding is 4.15), the rest are ignored as the RFC requires."""
    seen = []
    for number, value in request.options:
        if number in N.CLASS_U or not N.is_critical(number):
            continue
        if number not in _READ:
            return "critical option %d not implemented" % number
        name, kind, low, high = N.OPTIONS[number]
        if not low <= len(value) <= high or (kind == N.UINT and value[:1] == b"\x00") \
                or (kind == N.STRING and not _is_utf8(value)):
            return "%s malformed" % name
        if number in seen and number not in N.REPEATABLE:
            return "%s repeated" % name
        seen.append(number)
    return None


def content_format_text(value):
    """A Content-Format option value as text for a reason: bounded, whatever it holds."""
    return str(M.decode_uint(value)) if len(value) <= 2 else "malformed"


def _is_utf8(data):
    try:
        data.decode()
    except UnicodeError:
        return False
    return True


def clipped(text, limit=32):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fields(request, resource):
    """The request's fields by schema key: from the queries (GET) or the payload."""
    if resource.method == N.GET:
        if request.payload:
            raise ProtocolError(S.MALFORMED, "a GET carries no payload")
        return _query_fields(request, resource)
    if request.has(N.URI_QUERY):
        raise ProtocolError(S.UNKNOWN_FIELD, "%s takes no query" % resource.path)
    if not request.payload:
        return {}
    if len(request.payload) > S.MAX_MESSAGE:
        raise ProtocolError(S.TOO_LARGE, "payload of %d bytes exceeds %d"
                            % (len(request.payload), S.MAX_MESSAGE))
    try:
        raw = cbor.decode(bytes(request.payload))
    except cbor.CBORError as exc:
        raise ProtocolError(S.MALFORMED, "payload is not deterministic CBOR: %s" % exc)
    if not isinstance(raw, dict):
        raise ProtocolError(S.MALFORMED, "payload must be a CBOR map")
    for key in raw:
        if not protocol.is_int(key) or key < S.FIRST_FIELD_KEY:
            raise ProtocolError(S.UNKNOWN_FIELD, "%s has no field %s"
                                % (resource.name, clipped(repr(key), 16)))
    return raw


def _query_fields(request, resource):
    """A GET's fields from its Uri-Query options ``name=decimal``, by schema key."""
    by_name = {}
    for field in resource.message.request:
        by_name[field.name] = field
    fields = {}
    for value in request.values(N.URI_QUERY):
        text = value.decode()                         # UTF-8: checked with the options
        cut = text.find("=")
        name = text[:cut] if cut >= 0 else text
        field = by_name.get(name)
        if field is None:
            raise ProtocolError(S.UNKNOWN_FIELD, "%s has no query %s"
                                % (resource.path, clipped(name, 16)))
        if field.key in fields:
            raise ProtocolError(S.MALFORMED, "query %s repeated" % name)
        digits = text[cut + 1:] if cut >= 0 else ""
        if not _is_decimal(digits):
            raise ProtocolError(S.BAD_FIELD_TYPE, "query %s must be a decimal integer" % name)
        fields[field.key] = protocol.check_value(field, int(digits), "query " + name)
    return fields


def _is_decimal(text):
    if not 1 <= len(text) <= _MAX_DIGITS or (text[0] == "0" and len(text) > 1):
        return False
    for char in text:
        if char not in "0123456789":
            return False
    return True
