"""What a peer and the pump exchange: CoAP messages only (RFC 7252, 9528 A.2, 8613, 9668).

Every frame payload (``framing``) or UDP datagram is one CoAP message:

=========================================  ==============================================
peer -> pump                               pump -> peer
=========================================  ==============================================
POST /.well-known/edhoc, CF 65,            2.04 Changed, CF 64, payload message_2; or
payload ``true`` || message_1              4.00 / 5.00, CF 64, an EDHOC error message
POST /.well-known/edhoc, CF 65,            2.04 Changed (empty); or 4.00, CF 64, an EDHOC
payload C_R || message_3 (or an error)     error message
OSCORE request: POST with the OSCORE       OSCORE response: 2.04 with the OSCORE option
option (kid = C_R), inner request          (usually empty), inner response encrypted
encrypted                                  (``coap.protect``)
OSCORE request with the EDHOC option:      as above: message_3 and the first request
payload message_3 || OSCORE ciphertext     cost one round trip (RFC 9668)
=========================================  ==============================================

C_R is written as EDHOC writes connection identifiers (a one-byte CBOR int where one
fits, else a byte string). The pump picks one-byte C_R values.

Refusals that cannot be protected (no session, a forged or replayed request, a handshake
refused, a back-off) are unprotected CoAP error responses with a CBOR body
``[code, retry_after_ms]`` (Content-Format 60): the stable refusal code (``errors`` codes
or the ``SESSION_*`` codes below) and how long to wait, also given as Max-Age in whole
seconds for standard clients. The CoAP codes follow RFC 8613 §8.2 where it has one: 4.02
for a malformed OSCORE option, 4.00 for a failed decryption, 4.01 for an unknown context
or a replay; 5.03 + Max-Age for busy and back-off. An unprotected answer is advice only:
anyone on the wire can forge one, so a peer may use it to decide when to retry or to run a
new handshake, never to believe a command did not run.
"""

from secure_channel import cbor
from secure_channel.edhoc import messages as msgs
from secure_channel.coap import message as M, numbers as N

EDHOC_PATH = "/.well-known/edhoc"
MAX_CID = 7
MAX_RETRY_MS = 0xFFFFFFFF
TRUE = b"\xf5"                              # CBOR true: the prefix of message_1

# Refusal codes of the session layer (beside errors.EDHOC_* and errors.RECORD_*).
SESSION_MALFORMED = 301      # not a message for the pump, or one that may not come here
SESSION_UNKNOWN = 302        # no handshake or session with that connection identifier
SESSION_BUSY = 303           # too many handshakes in progress; retry later
SESSION_BACKOFF = 304        # too many authentication failures: wait retry_after_ms
SESSION_TIMEOUT = 305        # a handshake was abandoned (no message_3 in time)
SESSION_FAULT = 306          # an internal fault was contained (should never happen)
SESSION_UNPROTECTED = 307    # a request for a pump resource without OSCORE
SESSION_STALE = 308          # a command whose Echo is too old: delayed on the way
SESSION_NAMES = {
    SESSION_MALFORMED: "SESSION-MALFORMED", SESSION_UNKNOWN: "SESSION-UNKNOWN",
    SESSION_BUSY: "SESSION-BUSY", SESSION_BACKOFF: "SESSION-BACKOFF",
    SESSION_TIMEOUT: "SESSION-TIMEOUT", SESSION_FAULT: "SESSION-FAULT",
    SESSION_UNPROTECTED: "SESSION-UNPROTECTED", SESSION_STALE: "SESSION-STALE",
}


class WireError(ValueError):
    """A message that is not what the EDHOC-over-CoAP mapping allows."""


# -- EDHOC over CoAP ---------------------------------------------------------------------

def edhoc_request(payload):
    """The CoAP request (without header fields) carrying one EDHOC message to the pump."""
    request = M.Message(code=N.POST)
    request.set_path(EDHOC_PATH)
    request.add(N.CONTENT_FORMAT, N.CID_EDHOC_CBOR_SEQ)
    request.payload = bytes(payload)
    return request


def message_1_request(message_1):
    return edhoc_request(TRUE + bytes(message_1))


def message_3_request(c_r, message_3):
    """message_3 (or an EDHOC error) for the handshake the pump calls ``c_r``."""
    return edhoc_request(msgs.encode_identifier(c_r) + bytes(message_3))


def split_edhoc_payload(payload):
    """(None, message_1) or (C_R bytes, message_3 or error) from a request's payload."""
    if not payload:
        raise WireError("empty EDHOC request")
    try:
        item, end = cbor.decode_prefix(bytes(payload), 0)
    except cbor.CBORError:
        raise WireError("EDHOC request does not start with a CBOR item")
    if end >= len(payload):
        raise WireError("no EDHOC message after the prefix")
    if item is True:
        return None, bytes(payload[1:])
    try:
        c_r = msgs.decode_identifier(item)
    except ValueError:
        raise WireError("EDHOC request prefix is neither true nor a connection identifier")
    if len(c_r) > MAX_CID:
        raise WireError("connection identifier longer than 7 bytes")
    return c_r, bytes(payload[end:])


def split_combined(payload):
    """(message_3, OSCORE ciphertext) from the payload of a combined request (RFC 9668
    §3.2.1: message_3 is the first CBOR item, a byte string)."""
    try:
        item, end = cbor.decode_prefix(bytes(payload), 0)
    except cbor.CBORError:
        raise WireError("combined request does not start with message_3")
    if not isinstance(item, bytes) or end >= len(payload):
        raise WireError("combined request: message_3 must be a byte string followed by "
                        "the OSCORE ciphertext")
    return bytes(payload[:end]), bytes(payload[end:])


def edhoc_response(message, error=False, server_fault=False):
    """2.04 with an EDHOC message, or 4.00 / 5.00 with an EDHOC error message."""
    code = N.CHANGED
    if error:
        code = N.INTERNAL_SERVER_ERROR if server_fault else N.BAD_REQUEST
    response = M.Message(code=code, payload=bytes(message))
    if message:
        response.add(N.CONTENT_FORMAT, N.EDHOC_CBOR_SEQ)
    return response


# -- unprotected refusals ----------------------------------------------------------------

def refusal(coap_code, code, retry_after_ms=0):
    """An unprotected error response: ``coap_code``, CBOR ``[code, retry_after_ms]``."""
    if not _uint(code) or code > 0xFFFF:
        raise WireError("refusal code must be 0..65535")
    if not _uint(retry_after_ms):
        raise WireError("retry_after_ms must be a non-negative int")
    retry = min(retry_after_ms, MAX_RETRY_MS)
    response = M.Message(code=coap_code, payload=cbor.encode([code, retry]))
    response.add(N.CONTENT_FORMAT, N.CBOR)
    if retry:
        response.add(N.MAX_AGE, (retry + 999) // 1000)
    return response


def read_refusal(response):
    """(code, retry_after_ms) of an unprotected error response, or None if it has no
    refusal body (then Max-Age, if any, still gives the wait)."""
    try:
        item = cbor.decode(bytes(response.payload))
    except (cbor.CBORError, TypeError):
        item = None
    if isinstance(item, list) and len(item) == 2 and _uint(item[0]) and _uint(item[1]) \
            and item[0] <= 0xFFFF and item[1] <= MAX_RETRY_MS:
        return item[0], item[1]
    age = response.uint(N.MAX_AGE)
    return None, (age or 0) * 1000


def _uint(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
