"""The session envelope: what one frame payload carries between a peer and the pump.

Every frame payload (``framing``) is one envelope::

    kind (1 byte) || [len(cid) (1 byte, 0..7) || cid] || body

Several sessions share one link, so every envelope the pump sends names the session it
belongs to by a connection identifier (EDHOC's C_I or C_R, raw bytes); the peer-to-pump
envelopes name it too, or carry it inside (C_I in message_1, the OSCORE kid in a request,
which is C_R). A relaying gateway routes on these cleartext identifiers alone; it needs no
key and can change nothing without the pump noticing.

====  =========  ==================  =====================================================
kind  name       addressed by        body
====  =========  ==================  =====================================================
0x01  EDHOC_1    (C_I inside)        EDHOC message_1 (peer -> pump)
0x02  EDHOC_2    C_I                 EDHOC message_2 (pump -> peer)
0x03  EDHOC_3    C_R                 EDHOC message_3, or an EDHOC error (peer -> pump)
0x04  ERROR_I    C_I                 EDHOC error: message_1 refused (pump -> peer)
0x05  REQUEST    (kid inside = C_R)  OSCORE-protected request (peer -> pump)
0x06  RESPONSE   C_R                 OSCORE-protected response (pump -> peer)
0x08  ERROR_R    C_R                 EDHOC error: message_3 refused (pump -> peer)
0x0A  NOTICE_I   C_I                 refusal notice for a handshake (pump -> peer)
0x0C  NOTICE_R   C_R                 refusal notice for a session (pump -> peer)
====  =========  ==================  =====================================================

A notice's body is CBOR ``[code, retry_after_ms]`` or ``[code, retry_after_ms, piv]``:
the refusal's stable code (``errors`` codes, or the ``SESSION_*`` codes below), how long
the peer should wait before trying again (0: now) and, for a refused request, its Partial
IV, so a peer can tell which request it is about. Notices are not authenticated: a peer
may use one to decide when to retry or to start a new handshake, never to believe
anything else.

Decoding is strict (``decode`` raises ``WireError``); nothing it is fed makes it raise
anything else.
"""

from secure_channel import cbor

EDHOC_1 = 0x01
EDHOC_2 = 0x02
EDHOC_3 = 0x03
ERROR_I = 0x04
REQUEST = 0x05
RESPONSE = 0x06
ERROR_R = 0x08
NOTICE_I = 0x0A
NOTICE_R = 0x0C

KIND_NAMES = {
    EDHOC_1: "edhoc_1", EDHOC_2: "edhoc_2", EDHOC_3: "edhoc_3", ERROR_I: "error_i",
    REQUEST: "request", RESPONSE: "response", ERROR_R: "error_r", NOTICE_I: "notice_i",
    NOTICE_R: "notice_r",
}
TO_PUMP = (EDHOC_1, EDHOC_3, REQUEST)
FROM_PUMP = (EDHOC_2, ERROR_I, RESPONSE, ERROR_R, NOTICE_I, NOTICE_R)
_ADDRESSED = (EDHOC_2, EDHOC_3, ERROR_I, RESPONSE, ERROR_R, NOTICE_I, NOTICE_R)
BY_C_I = (EDHOC_2, ERROR_I, NOTICE_I)          # pump -> peer, before C_R is known

MAX_CID = 7
MAX_RETRY_MS = 0xFFFFFFFF
MAX_PIV = 5

# Refusal codes of the session layer (beside errors.EDHOC_* and errors.RECORD_*).
SESSION_MALFORMED = 301      # not an envelope, or an envelope that may not come here
SESSION_UNKNOWN = 302        # no handshake or session with that connection identifier
SESSION_BUSY = 303           # too many handshakes in progress; retry later
SESSION_BACKOFF = 304        # too many authentication failures: wait retry_after_ms
SESSION_TIMEOUT = 305        # a handshake was abandoned (no message_3 in time)
SESSION_FAULT = 306          # an internal fault was contained (should never happen)
SESSION_NAMES = {
    SESSION_MALFORMED: "SESSION-MALFORMED", SESSION_UNKNOWN: "SESSION-UNKNOWN",
    SESSION_BUSY: "SESSION-BUSY", SESSION_BACKOFF: "SESSION-BACKOFF",
    SESSION_TIMEOUT: "SESSION-TIMEOUT", SESSION_FAULT: "SESSION-FAULT",
}


class WireError(ValueError):
    """A payload that is not a well-formed envelope."""


class Envelope:
    """A decoded envelope: ``kind``, ``cid`` (bytes, or None where not addressed), ``body``."""

    __slots__ = ("kind", "cid", "body")

    def __init__(self, kind, cid, body):
        self.kind = kind
        self.cid = cid
        self.body = body

    def __repr__(self):
        return "Envelope(%s, cid=%r, %d bytes)" % (KIND_NAMES.get(self.kind, self.kind),
                                                    self.cid, len(self.body))


def encode(kind, body, cid=None):
    """The payload for one envelope; ``cid`` is required exactly for addressed kinds."""
    if kind not in KIND_NAMES:
        raise WireError("unknown envelope kind")
    if not isinstance(body, (bytes, bytearray)) or not body:
        raise WireError("envelope body must be non-empty bytes")
    if kind in _ADDRESSED:
        if not isinstance(cid, (bytes, bytearray)) or len(cid) > MAX_CID:
            raise WireError("connection identifier must be 0..7 bytes")
        return bytes((kind, len(cid))) + bytes(cid) + bytes(body)
    if cid is not None:
        raise WireError("this envelope kind carries no connection identifier")
    return bytes((kind,)) + bytes(body)


def decode(payload):
    """Parse one payload into an Envelope; raises WireError."""
    if not isinstance(payload, (bytes, bytearray)):
        raise WireError("payload must be bytes")
    payload = bytes(payload)
    if not payload:
        raise WireError("empty payload")
    kind = payload[0]
    if kind not in KIND_NAMES:
        raise WireError("unknown envelope kind 0x%02x" % kind)
    pos = 1
    cid = None
    if kind in _ADDRESSED:
        if len(payload) < 2:
            raise WireError("truncated connection identifier")
        size = payload[1]
        if size > MAX_CID:
            raise WireError("connection identifier longer than 7 bytes")
        pos = 2 + size
        if len(payload) < pos:
            raise WireError("truncated connection identifier")
        cid = payload[2:pos]
    body = payload[pos:]
    if not body:
        raise WireError("empty envelope body")
    return Envelope(kind, cid, body)


def encode_notice(code, retry_after_ms=0, piv=None):
    """Body of a NOTICE_I / NOTICE_R (``piv``: the refused request's Partial IV)."""
    if not _uint(code) or code > 0xFFFF:
        raise WireError("notice code must be 0..65535")
    if not _uint(retry_after_ms):
        raise WireError("retry_after_ms must be a non-negative int")
    item = [code, min(retry_after_ms, MAX_RETRY_MS)]
    if piv is not None:
        if not isinstance(piv, (bytes, bytearray)) or not 1 <= len(piv) <= MAX_PIV:
            raise WireError("Partial IV must be 1..5 bytes")
        item.append(bytes(piv))
    return cbor.encode(item)


def decode_notice(body):
    """(code, retry_after_ms, piv or None) from a notice body; raises WireError."""
    try:
        item = cbor.decode(bytes(body))
    except (cbor.CBORError, TypeError):
        raise WireError("notice is not CBOR")
    if not isinstance(item, list) or not 2 <= len(item) <= 3 or not _uint(item[0]) \
            or not _uint(item[1]) or item[0] > 0xFFFF or item[1] > MAX_RETRY_MS:
        raise WireError("notice must be [code, retry_after_ms, ?piv]")
    piv = None
    if len(item) == 3:
        piv = item[2]
        if not isinstance(piv, bytes) or not 1 <= len(piv) <= MAX_PIV:
            raise WireError("notice Partial IV must be 1..5 bytes")
    return item[0], item[1], piv


def _uint(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
