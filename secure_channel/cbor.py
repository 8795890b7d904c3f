"""Deterministic CBOR (RFC 8949 §4.2.1) for firmware: small, strict, MicroPython-safe.

Encoding is the core deterministic encoding: shortest-form heads, definite lengths only,
map keys sorted by the bytewise order of their encodings. Decoding is strict: well-formed
items only, no indefinite lengths, no floats, no duplicate map keys, bounded depth and
size, and (by default) shortest-form heads, so one value has exactly one accepted encoding.
Every failure is a ``CBORError``; nothing else escapes ``decode``.

Supported values: int (up to 64 bits), bytes, str, list/tuple, dict, bool, None, ``Tag``.
Map keys are int, str or bytes only (what COSE, EDHOC and our protocol use): other keys are
refused both ways, so ``True`` and ``1`` can never collide as Python dict keys.
"""

MAX_DEPTH = 16
MAX_ITEMS = 4096          # elements in one array or map
UINT64_MAX = (1 << 64) - 1


class CBORError(ValueError):
    """Input is not a value this codec accepts (malformed, unsupported or out of range)."""


class Tag:
    """A tagged data item (major type 6)."""

    __slots__ = ("tag", "value")

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


def _is_uint(n):
    return isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= UINT64_MAX


def _key_ok(key):
    return isinstance(key, (str, bytes)) or (isinstance(key, int) and not isinstance(key, bool))


def _head(major, n):
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    if n <= UINT64_MAX:
        return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")
    raise CBORError("integer out of 64-bit range")


def _put_head(out, major, n):
    if n < 24:
        out.append(major << 5 | n)
    else:
        out.extend(_head(major, n))


def _encode(value, out, depth):
    if depth > MAX_DEPTH:
        raise CBORError("nesting too deep")
    kind = type(value)
    # The exact built-in types first, commonest first; bool is not int here (its own
    # type), and subclasses and the rarer types take the general path below.
    if kind is int:
        if 0 <= value < 24:
            out.append(value)
        elif value >= 0:
            out.extend(_head(0, value))
        else:
            out.extend(_head(1, -1 - value))
    elif kind is list or kind is tuple:
        n = len(value)
        _put_head(out, 4, n)
        for item in value:
            _encode(item, out, depth + 1)
    elif kind is str:
        try:
            raw = value.encode("utf-8")
        except UnicodeError:
            raise CBORError("text is not encodable as UTF-8")
        n = len(raw)
        _put_head(out, 3, n)
        out.extend(raw)
    elif kind is bytes:
        n = len(value)
        _put_head(out, 2, n)
        out.extend(value)
    elif kind is dict:
        _encode_map(value, out, depth)
    else:
        _encode_other(value, out, depth)


def _encode_map(value, out, depth):
    pairs = []
    for key in value:
        kind = type(key)
        if kind is int and 0 <= key < 24:
            kbytes = bytes((key,))
        elif _key_ok(key):
            kparts = bytearray()
            _encode(key, kparts, depth + 1)
            kbytes = bytes(kparts)
        else:
            raise CBORError("map keys must be int, str or bytes")
        pairs.append((kbytes, key))
    pairs.sort(key=lambda p: p[0])
    _put_head(out, 5, len(pairs))
    for kbytes, key in pairs:
        out.extend(kbytes)
        _encode(value[key], out, depth + 1)


def _encode_other(value, out, depth):
    # bool before int: on CPython bool is an int subclass.
    if value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif value is None:
        out.append(0xF6)
    elif isinstance(value, int):
        if value >= 0:
            out.extend(_head(0, value))
        else:
            out.extend(_head(1, -1 - value))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        out.extend(_head(2, len(value)))
        out.extend(value)
    elif isinstance(value, str):
        _encode(str(value), out, depth)
    elif isinstance(value, (list, tuple)):
        _encode(list(value), out, depth)
    elif isinstance(value, dict):
        _encode_map(value, out, depth)
    elif isinstance(value, Tag):
        if not _is_uint(value.tag):
            raise CBORError("tag number must be an unsigned integer")
        out.extend(_head(6, value.tag))
        _encode(value.value, out, depth + 1)
    else:
        raise CBORError("cannot encode %s" % type(value).__name__)


def encode(value):
    """Return the deterministic encoding of ``value``, built in one growing buffer (not a
    list of pieces: on a board each piece is an object and the list a large block)."""
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos", "canonical")

    def __init__(self, data, pos, canonical):
        self.data = data
        self.pos = pos
        self.canonical = canonical

    def take(self, n):
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise CBORError("truncated")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def head(self):
        pos = self.pos
        if pos >= len(self.data):
            raise CBORError("truncated")
        first = self.data[pos]
        self.pos = pos + 1
        major, info = first >> 5, first & 0x1F
        if info < 24:
            return major, info, info
        if info > 27:
            raise CBORError("indefinite length or reserved head")
        size = 1 << (info - 24)
        n = int.from_bytes(self.take(size), "big")
        if self.canonical and n < (24 if size == 1 else 1 << (4 * size)):
            raise CBORError("non-shortest integer head")
        return major, info, n

    def item(self, depth):
        if depth > MAX_DEPTH:
            raise CBORError("nesting too deep")
        pos = self.pos
        if pos < len(self.data) and self.data[pos] < 24:    # the commonest item: 0..23
            self.pos = pos + 1
            return self.data[pos]
        major, info, n = self.head()
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major == 2:
            return bytes(self.take(n))
        if major == 3:
            try:
                return bytes(self.take(n)).decode("utf-8")
            except UnicodeError:
                raise CBORError("invalid UTF-8 in text string")
        if major == 4:
            if n > MAX_ITEMS:
                raise CBORError("array too long")
            return [self.item(depth + 1) for _ in range(n)]
        if major == 5:
            if n > MAX_ITEMS:
                raise CBORError("map too long")
            result = {}
            previous = None
            for _ in range(n):
                start = self.pos
                key = self.item(depth + 1)
                kbytes = bytes(self.data[start:self.pos])
                if self.canonical and previous is not None and kbytes <= previous:
                    raise CBORError("map keys not in deterministic order")
                previous = kbytes
                if not _key_ok(key):
                    raise CBORError("map keys must be int, str or bytes")
                if key in result:
                    raise CBORError("duplicate map key")
                result[key] = self.item(depth + 1)
            return result
        if major == 6:
            return Tag(n, self.item(depth + 1))
        # major 7: only false, true, null; floats and other simple values are refused.
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        raise CBORError("unsupported simple value or float")


def decode_prefix(data, offset=0, canonical=True):
    """Decode one item starting at ``offset``; return ``(value, next_offset)``.

    For CBOR sequences (RFC 8742), as EDHOC messages are.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CBORError("input must be bytes")
    if not isinstance(offset, int) or offset < 0 or offset > len(data):
        raise CBORError("offset outside input")
    reader = _Reader(data, offset, canonical)
    value = reader.item(0)
    return value, reader.pos


def decode(data, canonical=True):
    """Decode exactly one item; trailing bytes are an error."""
    value, end = decode_prefix(data, 0, canonical)
    if end != len(data):
        raise CBORError("trailing bytes after item")
    return value


def decode_sequence(data, canonical=True):
    """Decode a whole CBOR sequence into a list of items."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CBORError("input must be bytes")
    items = []
    pos = 0
    while pos < len(data):
        value, pos = decode_prefix(data, pos, canonical)
        items.append(value)
    return items
