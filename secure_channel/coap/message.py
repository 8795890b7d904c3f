"""The CoAP message format (RFC 7252 §3): one strict codec, sans-IO.

    0                   1                   2                   3
    |Ver| T |  TKL  |      Code     |          Message ID           |
    |   Token (TKL bytes) ...  |  Options (delta/length encoded) ...  |
    |1 1 1 1 1 1 1 1|    Payload (if any) ...

Decoding refuses, with ``CoapFormatError``, everything RFC 7252 calls a message format
error: a version other than 1, a token length of 9..15, an Empty message with anything after
its Message ID, an option delta or length nibble of 15, a payload marker with no payload,
an option running past the end. It also refuses what this pump never needs and a peer
should not send: option values longer than the registry allows and uint options with
leading zero bytes are *not* refused here (RFC 7252 §5.4.3 makes unknown or malformed
elective options the message layer's decision) but reported by ``Message.option_problem``.

``Message.options`` is a list of ``(number, value bytes)`` in order of number (stable for
repeated options); encoding sorts, decoding yields them sorted by construction.
"""

from secure_channel.coap import numbers as N

MAX_OPTION_NUMBER = 0xFFFF
MAX_OPTION_LENGTH = 65535 + 269


class CoapFormatError(ValueError):
    """Not a well-formed CoAP message (RFC 7252 §3 "message format error")."""


def encode_uint(value):
    """Minimal big-endian bytes of a uint option (0 is the empty string)."""
    if type(value) is not int or value < 0:
        raise ValueError("uint option value must be a non-negative int")
    out = b""
    while value:
        out = bytes((value & 0xFF,)) + out
        value >>= 8
    return out


def decode_uint(data):
    value = 0
    for byte in data:
        value = (value << 8) | byte
    return value


class Message:
    """One CoAP message. ``code`` is the 8-bit code (``numbers.code(2, 5)`` for 2.05)."""

    __slots__ = ("mtype", "code", "mid", "token", "options", "payload")

    def __init__(self, mtype=N.CON, code=N.EMPTY, mid=0, token=b"", options=None,
                 payload=b""):
        self.mtype = mtype
        self.code = code
        self.mid = mid
        self.token = token
        self.options = list(options) if options else []
        self.payload = payload

    # -- options --------------------------------------------------------------------
    def add(self, number, value):
        """Append an option; ``value`` is bytes, a str (UTF-8) or an int (uint)."""
        if type(value) is int:
            value = encode_uint(value)
        elif type(value) is str:
            value = value.encode()
        self.options.append((number, bytes(value)))
        return self

    def values(self, number):
        return [value for n, value in self.options if n == number]

    def first(self, number, default=None):
        for n, value in self.options:
            if n == number:
                return value
        return default

    def uint(self, number, default=None):
        value = self.first(number)
        return default if value is None else decode_uint(value)

    def has(self, number):
        for n, _ in self.options:
            if n == number:
                return True
        return False

    def remove(self, number):
        self.options = [(n, v) for n, v in self.options if n != number]

    @property
    def path(self):
        """Uri-Path as one string: ``"/.well-known/edhoc"``."""
        return "/" + "/".join(v.decode() for v in self.values(N.URI_PATH))

    def set_path(self, path):
        self.remove(N.URI_PATH)
        for segment in path.strip("/").split("/"):
            if segment:
                self.add(N.URI_PATH, segment)
        return self

    def option_problem(self):
        """The first known option whose value breaks its registered format or length,
        or a non-repeatable option given twice: (number, why), or None."""
        seen = []
        for number, value in self.options:
            spec = N.OPTIONS.get(number)
            if spec is None:
                continue
            name, fmt, low, high = spec
            if not low <= len(value) <= high:
                return number, "%s length %d outside %d..%d" % (name, len(value), low, high)
            if fmt == N.UINT and value[:1] == b"\x00":
                return number, "%s is not a minimal uint" % name
            if fmt == N.STRING:
                try:
                    value.decode()
                except UnicodeError:
                    return number, "%s is not UTF-8" % name
            if number in seen and number not in N.REPEATABLE:
                return number, "%s repeated" % name
            seen.append(number)
        return None

    def __repr__(self):
        return "<CoAP %s %s mid=%d token=%s options=%r payload=%d bytes>" % (
            N.TYPE_NAMES.get(self.mtype, self.mtype), N.code_text(self.code), self.mid,
            _hex(self.token), [(n, _hex(v)) for n, v in self.options], len(self.payload))

    def __eq__(self, other):
        return isinstance(other, Message) and self.mtype == other.mtype and \
            self.code == other.code and self.mid == other.mid and \
            self.token == other.token and self.payload == other.payload and \
            _sorted(self.options) == _sorted(other.options)


def _hex(data):
    return "".join("%02x" % b for b in data)


def _sorted(options):
    """Options in order of number, repeated ones in their given order (a stable sort:
    MicroPython's ``sorted`` is not guaranteed stable, so carry the index)."""
    previous = 0
    for number, _ in options:           # the usual case: already in order, no copy
        if number < previous:
            break
        previous = number
    else:
        return options
    indexed = [(options[i][0], i, options[i][1]) for i in range(len(options))]
    indexed.sort()
    return [(number, value) for number, _, value in indexed]


def _nibble(value):
    """(4-bit field, extension bytes) for an option delta or length (RFC 7252 §3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    return 14, (value - 269).to_bytes(2, "big")


def encode_options(options):
    """The option part of a message (also OSCORE's inner options, RFC 8613 §5.3)."""
    out = bytearray()
    previous = 0
    for number, value in _sorted(options):
        if type(number) is not int or not 0 <= number <= MAX_OPTION_NUMBER:
            raise ValueError("option number out of range")
        size = len(value)
        if number - previous < 13 and size < 13:     # the common one-byte header
            out.append(((number - previous) << 4) | size)
            out += value
            previous = number
            continue
        if size > MAX_OPTION_LENGTH:
            raise ValueError("option value too long")
        delta, delta_ext = _nibble(number - previous)
        length, length_ext = _nibble(len(value))
        out.append((delta << 4) | length)
        out += delta_ext
        out += length_ext
        out += value
        previous = number
    return bytes(out)


def encode(message):
    """The bytes of ``message``; ValueError on fields out of range (a caller error)."""
    mtype, code, mid, token = message.mtype, message.code, message.mid, message.token
    if type(mtype) is not int or not 0 <= mtype <= 3:
        raise ValueError("message type must be 0..3")
    if type(code) is not int or not 0 <= code <= 255:
        raise ValueError("code must be 0..255")
    if type(mid) is not int or not 0 <= mid <= 0xFFFF:
        raise ValueError("message ID must be 0..65535")
    if not isinstance(token, (bytes, bytearray)) or len(token) > 8:
        raise ValueError("token must be at most 8 bytes")
    if code == N.EMPTY and (token or message.options or message.payload):
        raise ValueError("an Empty message has no token, options or payload")
    out = bytearray((0x40 | (mtype << 4) | len(token), code))
    out += mid.to_bytes(2, "big")
    out += token
    out += encode_options(message.options)
    if message.payload:
        out.append(0xFF)
        out += message.payload
    return bytes(out)


def _extended(data, pos, nibble, what):
    if nibble < 13:
        return nibble, pos
    if nibble == 13:
        if pos >= len(data):
            raise CoapFormatError("option %s extension runs past the end" % what)
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 2 > len(data):
            raise CoapFormatError("option %s extension runs past the end" % what)
        return ((data[pos] << 8) | data[pos + 1]) + 269, pos + 2
    raise CoapFormatError("option %s nibble 15 is reserved" % what)


def decode_options(data, pos=0):
    """(options, payload) from ``data[pos:]``: the part after the token."""
    options = []
    number = 0
    end = len(data)
    while pos < end:
        byte = data[pos]
        pos += 1
        if byte == 0xFF:
            if pos == end:
                raise CoapFormatError("payload marker with an empty payload")
            return options, bytes(data[pos:])
        delta, pos = _extended(data, pos, byte >> 4, "delta")
        length, pos = _extended(data, pos, byte & 0x0F, "length")
        number += delta
        if number > MAX_OPTION_NUMBER:
            raise CoapFormatError("option number above 65535")
        if pos + length > end:
            raise CoapFormatError("option value runs past the end")
        options.append((number, bytes(data[pos:pos + length])))
        pos += length
    return options, b""


def decode(data):
    """A ``Message`` from bytes; ``CoapFormatError`` (only) on anything malformed."""
    if not isinstance(data, (bytes, bytearray)):
        raise CoapFormatError("a CoAP message is bytes")
    if len(data) < 4:
        raise CoapFormatError("shorter than the 4-byte header")
    first = data[0]
    if first >> 6 != 1:
        raise CoapFormatError("CoAP version %d" % (first >> 6))
    mtype = (first >> 4) & 3
    tkl = first & 0x0F
    if tkl > 8:
        raise CoapFormatError("token length %d is reserved" % tkl)
    code = data[1]
    mid = (data[2] << 8) | data[3]
    if len(data) < 4 + tkl:
        raise CoapFormatError("token runs past the end")
    if code == N.EMPTY:
        if len(data) != 4 or tkl:
            raise CoapFormatError("an Empty message has nothing after its Message ID")
        return Message(mtype, code, mid)
    token = bytes(data[4:4 + tkl])
    options, payload = decode_options(data, 4 + tkl)
    return Message(mtype, code, mid, token, options, payload)
