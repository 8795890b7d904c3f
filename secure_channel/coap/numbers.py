"""CoAP numbers: message types, codes, option numbers and content formats.

The values mirror the IANA "CoRE Parameters" registries (RFC 7252 §12, with the options of
RFC 7959 blocks, RFC 8613 OSCORE, RFC 9175 Echo and Request-Tag, RFC 7967 No-Response, and
the content formats of RFC 9528 EDHOC). Plain ints: MicroPython has no ``enum``.
"""

# Message types (RFC 7252 §3)
CON = 0
NON = 1
ACK = 2
RST = 3
TYPE_NAMES = {CON: "CON", NON: "NON", ACK: "ACK", RST: "RST"}


def code(klass, detail):
    """A code from its class and detail: ``code(2, 5)`` is 2.05 Content."""
    return (klass << 5) | detail


def code_text(value):
    return "%d.%02d" % (value >> 5, value & 0x1F)


EMPTY = 0
# Methods (class 0)
GET = code(0, 1)
POST = code(0, 2)
PUT = code(0, 3)
DELETE = code(0, 4)
FETCH = code(0, 5)
PATCH = code(0, 6)
IPATCH = code(0, 7)
# Responses
CREATED = code(2, 1)
DELETED = code(2, 2)
VALID = code(2, 3)
CHANGED = code(2, 4)
CONTENT = code(2, 5)
CONTINUE = code(2, 31)
BAD_REQUEST = code(4, 0)
UNAUTHORIZED = code(4, 1)
BAD_OPTION = code(4, 2)
FORBIDDEN = code(4, 3)
NOT_FOUND = code(4, 4)
METHOD_NOT_ALLOWED = code(4, 5)
NOT_ACCEPTABLE = code(4, 6)
REQUEST_ENTITY_INCOMPLETE = code(4, 8)
CONFLICT = code(4, 9)
PRECONDITION_FAILED = code(4, 12)
REQUEST_ENTITY_TOO_LARGE = code(4, 13)
UNSUPPORTED_CONTENT_FORMAT = code(4, 15)
UNPROCESSABLE_ENTITY = code(4, 22)
TOO_MANY_REQUESTS = code(4, 29)
INTERNAL_SERVER_ERROR = code(5, 0)
NOT_IMPLEMENTED = code(5, 1)
BAD_GATEWAY = code(5, 2)
SERVICE_UNAVAILABLE = code(5, 3)
GATEWAY_TIMEOUT = code(5, 4)
PROXYING_NOT_SUPPORTED = code(5, 5)

CODE_NAMES = {
    EMPTY: "Empty", GET: "GET", POST: "POST", PUT: "PUT", DELETE: "DELETE", FETCH: "FETCH",
    PATCH: "PATCH", IPATCH: "iPATCH", CREATED: "Created", DELETED: "Deleted",
    VALID: "Valid", CHANGED: "Changed", CONTENT: "Content", CONTINUE: "Continue",
    BAD_REQUEST: "Bad Request", UNAUTHORIZED: "Unauthorized", BAD_OPTION: "Bad Option",
    FORBIDDEN: "Forbidden", NOT_FOUND: "Not Found", METHOD_NOT_ALLOWED: "Method Not Allowed",
    NOT_ACCEPTABLE: "Not Acceptable",
    REQUEST_ENTITY_INCOMPLETE: "Request Entity Incomplete", CONFLICT: "Conflict",
    PRECONDITION_FAILED: "Precondition Failed",
    REQUEST_ENTITY_TOO_LARGE: "Request Entity Too Large",
    UNSUPPORTED_CONTENT_FORMAT: "Unsupported Content-Format",
    UNPROCESSABLE_ENTITY: "Unprocessable Entity", TOO_MANY_REQUESTS: "Too Many Requests",
    INTERNAL_SERVER_ERROR: "Internal Server Error", NOT_IMPLEMENTED: "Not Implemented",
    BAD_GATEWAY: "Bad Gateway", SERVICE_UNAVAILABLE: "Service Unavailable",
    GATEWAY_TIMEOUT: "Gateway Timeout", PROXYING_NOT_SUPPORTED: "Proxying Not Supported",
}


def is_request(value):
    return 1 <= value <= 31


def is_response(value):
    return 64 <= value <= 191


# Options: number -> (name, format, min length, max length). Formats per RFC 7252 §3.2.
EMPTY_FMT = "empty"
OPAQUE = "opaque"
UINT = "uint"
STRING = "string"

IF_MATCH = 1
URI_HOST = 3
ETAG = 4
IF_NONE_MATCH = 5
OBSERVE = 6
URI_PORT = 7
LOCATION_PATH = 8
OSCORE = 9
URI_PATH = 11
CONTENT_FORMAT = 12
MAX_AGE = 14
URI_QUERY = 15
HOP_LIMIT = 16
ACCEPT = 17
Q_BLOCK1 = 19
LOCATION_QUERY = 20
EDHOC = 21
BLOCK2 = 23
BLOCK1 = 27
SIZE2 = 28
Q_BLOCK2 = 31
PROXY_URI = 35
PROXY_SCHEME = 39
SIZE1 = 60
ECHO = 252
NO_RESPONSE = 258
REQUEST_TAG = 292

OPTIONS = {
    IF_MATCH: ("If-Match", OPAQUE, 0, 8),
    URI_HOST: ("Uri-Host", STRING, 1, 255),
    ETAG: ("ETag", OPAQUE, 1, 8),
    IF_NONE_MATCH: ("If-None-Match", EMPTY_FMT, 0, 0),
    OBSERVE: ("Observe", UINT, 0, 3),
    URI_PORT: ("Uri-Port", UINT, 0, 2),
    LOCATION_PATH: ("Location-Path", STRING, 0, 255),
    OSCORE: ("OSCORE", OPAQUE, 0, 255),
    URI_PATH: ("Uri-Path", STRING, 0, 255),
    CONTENT_FORMAT: ("Content-Format", UINT, 0, 2),
    MAX_AGE: ("Max-Age", UINT, 0, 4),
    URI_QUERY: ("Uri-Query", STRING, 0, 255),
    HOP_LIMIT: ("Hop-Limit", UINT, 1, 1),
    ACCEPT: ("Accept", UINT, 0, 2),
    LOCATION_QUERY: ("Location-Query", STRING, 0, 255),
    EDHOC: ("EDHOC", EMPTY_FMT, 0, 0),
    BLOCK2: ("Block2", UINT, 0, 3),
    BLOCK1: ("Block1", UINT, 0, 3),
    SIZE2: ("Size2", UINT, 0, 4),
    PROXY_URI: ("Proxy-Uri", STRING, 1, 1034),
    PROXY_SCHEME: ("Proxy-Scheme", STRING, 1, 255),
    SIZE1: ("Size1", UINT, 0, 4),
    ECHO: ("Echo", OPAQUE, 1, 40),
    NO_RESPONSE: ("No-Response", UINT, 0, 1),
    REQUEST_TAG: ("Request-Tag", OPAQUE, 0, 8),
}

# Options that may appear more than once (RFC 7252 §5.10 "R" column, and later RFCs)
REPEATABLE = (IF_MATCH, ETAG, LOCATION_PATH, URI_PATH, URI_QUERY, LOCATION_QUERY,
              REQUEST_TAG)


def is_critical(number):
    return number & 1 == 1


def is_unsafe(number):
    return number & 2 == 2


# OSCORE (RFC 8613 §4.1): options protected end to end (class E) or left outside (class U).
# Everything not listed as class U is class E, as §4.1 requires for unknown options.
CLASS_U = (URI_HOST, OBSERVE, URI_PORT, OSCORE, HOP_LIMIT, PROXY_URI, PROXY_SCHEME,
           NO_RESPONSE, EDHOC)

# Content formats (IANA "CoAP Content-Formats")
TEXT_PLAIN = 0
LINK_FORMAT = 40
OCTET_STREAM = 42
JSON = 50
CBOR = 60
EDHOC_CBOR_SEQ = 64        # application/edhoc+cbor-seq (RFC 9528 §10.9)
CID_EDHOC_CBOR_SEQ = 65    # application/cid-edhoc+cbor-seq

DEFAULT_PORT = 5683
MAX_MESSAGE = 1152         # RFC 7252 §4.6: a message larger than this needs blocks
