"""Serial framing: COBS with a CRC-16 and a maximum frame size, sans-IO.

A frame on the wire is::

    0x00 || COBS(payload || CRC-16(payload)) || 0x00

COBS (Cheshire and Baker, 1999) removes every zero byte from the body, so 0x00 can only be a
delimiter: a receiver that joins mid-stream, or sees garbage or a frame cut short, is back in
step at the next zero. The leading zero costs one byte and closes whatever partial frame a
receiver was holding, so a frame sent after a cut is not lost with it. Empty frames (two
zeros in a row) are idle fill, never errors.

The CRC is CRC-16/CCITT-FALSE (CRC-16/IBM-3740: polynomial 0x1021, init 0xFFFF, no
reflection, no final XOR; check value 0x29B1), sent big-endian. It catches line noise; it
is not a MAC (the record layer authenticates).

``Deframer`` takes byte chunks of any size and returns whole payloads. It never holds more
than one maximum frame, and counts what it drops by reason in ``dropped``: ``too_long``,
``bad_cobs``, ``too_short`` (no room for the CRC) and ``bad_crc``. Nothing it is fed can
make it raise or stop working.
"""

MAX_PAYLOAD = 1024          # default bound on a frame's payload (before COBS and CRC)
CRC_LENGTH = 2
DELIMITER = b"\x00"

TOO_LONG = "too_long"
BAD_COBS = "bad_cobs"
TOO_SHORT = "too_short"
BAD_CRC = "bad_crc"
DROP_REASONS = (TOO_LONG, BAD_COBS, TOO_SHORT, BAD_CRC)


class FramingError(ValueError):
    """A payload that cannot be framed (too long) or a body that does not decode."""


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data``; pass a previous result as ``crc`` to continue it."""
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def cobs_encode(data):
    """COBS-encode ``data``: the result has no zero byte and is at most len/254 + 1 longer."""
    out = bytearray()
    block = bytearray()
    full = False                  # the input so far ended with a full 254-byte block
    for byte in data:
        full = False
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block = bytearray()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block = bytearray()
                full = True
    if not full:                  # a full last block needs no closing code (canonical COBS)
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data):
    """Inverse of ``cobs_encode``; raises FramingError for a body no encoder produces."""
    data = bytes(data)
    out = bytearray()
    pos = 0
    end = len(data)
    if end == 0:
        raise FramingError("empty COBS body")
    while pos < end:
        code = data[pos]
        if code == 0:
            raise FramingError("zero byte inside a COBS body")
        stop = pos + code
        if stop > end:
            raise FramingError("COBS block runs past the end")
        if data.find(DELIMITER, pos + 1, stop) >= 0:
            raise FramingError("zero byte inside a COBS body")
        out += data[pos + 1:stop]
        pos = stop
        if code != 255 and pos < end:
            out.append(0)
    return bytes(out)


def max_encoded(max_payload):
    """Longest COBS body (without delimiters) for payloads up to ``max_payload`` bytes."""
    raw = max_payload + CRC_LENGTH
    return raw + raw // 254 + 1


def encode_frame(payload, max_payload=MAX_PAYLOAD):
    """The frame for one payload, both delimiters included."""
    payload = bytes(payload)
    if len(payload) > max_payload:
        raise FramingError("payload of %d bytes exceeds the %d-byte frame limit"
                           % (len(payload), max_payload))
    crc = crc16(payload)
    body = cobs_encode(payload + bytes((crc >> 8, crc & 0xFF)))
    return DELIMITER + body + DELIMITER


def decode_body(body, max_payload=MAX_PAYLOAD):
    """Payload of one COBS body (delimiters removed), or (None, drop reason)."""
    if len(body) > max_encoded(max_payload):
        return None, TOO_LONG
    try:
        raw = cobs_decode(body)
    except FramingError:
        return None, BAD_COBS
    if len(raw) < CRC_LENGTH:
        return None, TOO_SHORT
    if len(raw) - CRC_LENGTH > max_payload:
        return None, TOO_LONG
    payload = raw[:-CRC_LENGTH]
    crc = crc16(payload)
    if raw[-2] != crc >> 8 or raw[-1] != crc & 0xFF:
        return None, BAD_CRC
    return payload, None


class Deframer:
    """Byte chunks in, payloads out; resynchronises on every zero byte."""

    def __init__(self, max_payload=MAX_PAYLOAD):
        if not isinstance(max_payload, int) or max_payload < 1:
            raise ValueError("max_payload must be a positive int")
        self.max_payload = max_payload
        self._limit = max_encoded(max_payload)
        self._buffer = bytearray()
        self._discarding = False      # inside an over-long frame: skip to the next zero
        self.frames = 0
        self.dropped = {}
        for reason in DROP_REASONS:
            self.dropped[reason] = 0

    def _drop(self, reason):
        self.dropped[reason] += 1

    @property
    def drops(self):
        """Total frames dropped, all reasons together."""
        return sum(self.dropped[reason] for reason in DROP_REASONS)

    def feed(self, chunk):
        """Take any number of bytes; return the list of payloads completed by them."""
        out = []
        chunk = bytes(chunk)
        start = 0
        while start <= len(chunk):
            zero = chunk.find(DELIMITER, start)
            piece = chunk[start:] if zero < 0 else chunk[start:zero]
            if piece and not self._discarding:
                if len(self._buffer) + len(piece) > self._limit:
                    self._drop(TOO_LONG)
                    self._buffer = bytearray()
                    self._discarding = True
                else:
                    self._buffer += piece
            if zero < 0:
                break
            if self._buffer:
                payload, reason = decode_body(self._buffer, self.max_payload)
                if payload is None:
                    self._drop(reason)
                else:
                    self.frames += 1
                    out.append(payload)
            self._buffer = bytearray()
            self._discarding = False
            start = zero + 1
        return out

    def pending(self):
        """Bytes held for an unfinished frame (0 while skipping an over-long one)."""
        return len(self._buffer)
