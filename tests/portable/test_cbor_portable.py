"""secure_channel.cbor against RFC 8949, on CPython and on MicroPython.

Encoding vectors are RFC 8949 Appendix A (those within our codec: no floats, no big
nums, no indefinite lengths). Decoding must refuse every encoding outside the
deterministic profile (§4.2.1), because one value must have exactly one accepted form.
Plain asserts only: this module also runs under tools/micropython/run.py.
"""

from binascii import hexlify, unhexlify

from secure_channel.cbor import CBORError, Tag, decode, decode_prefix, decode_sequence, encode

# (value, hex of its encoding) from RFC 8949 Appendix A.
VECTORS = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ("\"\\", "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)),
     "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
     "a56161614161626142616361436164614461656145"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (Tag(1, 1363896240), "c11a514b67b0"),
    (Tag(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (Tag(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (Tag(24, b"\x64\x49\x45\x54\x46"), "d818456449455446"),
    (Tag(32, "http://www.example.com"),
     "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
]


def same(a, b):
    """Equal and of the same types all the way down (True == 1 on both interpreters)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (len(a) == len(b) and all(k in b for k in a)
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, Tag):
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


def refuses(hex_data, canonical=True):
    data = unhexlify(hex_data)
    try:
        value = decode(data, canonical)
    except CBORError:
        return
    raise AssertionError("accepted %s as %r" % (hex_data, value))


def test_encode_rfc8949_vectors():
    for value, expected in VECTORS:
        got = hexlify(encode(value)).decode()
        assert got == expected, "%r encoded as %s, not %s" % (value, got, expected)


def test_decode_rfc8949_vectors():
    for value, encoded in VECTORS:
        decoded = decode(unhexlify(encoded))
        assert same(decoded, value), "%s decoded as %r" % (encoded, decoded)


def test_round_trip():
    for value, _ in VECTORS:
        assert same(decode(encode(value)), value), repr(value)
    nested = {"k": [Tag(6, {-1: b"\x00" * 300}), None, -(1 << 40)], 0: "x" * 70000}
    assert same(decode(encode(nested)), nested)


def test_tuples_and_byte_like_encode_as_arrays_and_bytes():
    assert encode((1, 2, 3)) == encode([1, 2, 3])
    assert encode(bytearray(b"\x01\x02")) == b"\x42\x01\x02"
    assert encode(memoryview(b"\x01\x02")) == b"\x42\x01\x02"


def test_map_keys_sorted_bytewise():
    # The ordering example of RFC 8949 §4.2.1 for the key types we allow:
    # 10, 100, -1, "z", "aa" (array and boolean keys are refused, see below).
    value = {"aa": 5, "z": 4, -1: 3, 100: 2, 10: 1, b"": 6}
    assert encode(value) == unhexlify("a60a011864022003" "40" "06" "617a04" "62616105")


def test_only_int_text_and_byte_keys():
    for key in (False, True, (1,), None):
        try:
            encode({key: 1})
        except CBORError:
            pass
        else:
            raise AssertionError("key %r accepted" % (key,))
    # 1 and true are distinct CBOR keys but equal Python keys: refused, never merged.
    for data in ("a20100f500", "a1f500", "a1810100"):
        try:
            decode(unhexlify(data))
        except CBORError:
            pass
        else:
            raise AssertionError("decoded " + data)


def test_decode_accepts_bytes_like_input():
    assert decode(bytearray(b"\x83\x01\x02\x03")) == [1, 2, 3]
    assert decode(memoryview(b"\x62\xc3\xbc")) == "\u00fc"


def test_decode_prefix_and_sequence():
    data = unhexlify("016161" "80" "a10102")
    assert decode_prefix(data) == (1, 1)
    assert decode_prefix(data, 1) == ("a", 3)
    assert decode_sequence(data) == [1, "a", [], {1: 2}]
    assert decode_sequence(b"") == []
    try:
        decode_sequence(data + b"\x82\x01")
    except CBORError:
        pass
    else:
        raise AssertionError("truncated last item accepted")


def test_refuses_indefinite_lengths():
    for hex_data in ("5f4101ff", "7f6161ff", "9fff", "9f01ff", "bfff", "bf0102ff",
                     "1f", "3f", "df01", "ff"):
        refuses(hex_data)
        refuses(hex_data, canonical=False)


def test_refuses_floats_and_other_simple_values():
    for hex_data in ("f93c00", "f97e00", "fa47c35000", "fb3ff199999999999a",
                     "e0", "f0", "f7", "f820", "f8ff", "fc", "fd", "fe"):
        refuses(hex_data)
        refuses(hex_data, canonical=False)


def test_refuses_trailing_bytes():
    for hex_data in ("0000", "a000", "8001", "6161ff", "f6f6"):
        refuses(hex_data)


def test_refuses_truncated_input():
    for hex_data in ("", "18", "1901", "1a000f42", "1b000000e8d4a510", "3903", "44010203",
                     "6261", "8201", "830102", "a101", "a20102", "c1", "d818", "9819"):
        refuses(hex_data)
        refuses(hex_data, canonical=False)


def test_refuses_non_shortest_heads():
    for hex_data in ("1817", "1800", "190017", "1900ff", "1a0000ffff", "1b00000000ffffffff",
                     "3800", "3900ff", "5800", "590001" "00", "7800", "9800", "b800",
                     "d80100", "d9000100"):
        refuses(hex_data)
    # Outside the deterministic profile the same items are well-formed and accepted.
    assert decode(unhexlify("1817"), canonical=False) == 23
    assert decode(unhexlify("1b00000000ffffffff"), canonical=False) == 0xFFFFFFFF
    assert decode(unhexlify("5800"), canonical=False) == b""


def test_refuses_duplicate_map_keys():
    for hex_data in ("a201020103", "a2616101616102", "a2420102004201020" "1"):
        refuses(hex_data)
        refuses(hex_data, canonical=False)


def test_refuses_unsorted_map_keys():
    for hex_data in ("a203040102", "a2186401" "0a02", "a220011864" "02", "a2f40101" "02"):
        refuses(hex_data)
    assert decode(unhexlify("a203040102"), canonical=False) == {1: 2, 3: 4}


def test_refuses_other_bad_input():
    refuses("62c328")           # invalid UTF-8
    refuses("a18001")           # array as map key
    refuses("a1a00101")         # map as map key
    refuses("a1c10101")         # tag as map key
    refuses("81" * 17 + "00")   # nesting too deep
    assert decode(unhexlify("81" * 16 + "00")) is not None
    for bad in ("00", 0, None, [0]):
        try:
            decode(bad)
        except CBORError:
            continue
        raise AssertionError("decode accepted %r" % (bad,))


def test_encode_refuses_unsupported_values():
    too_deep = []
    for _ in range(17):         # 18 nested arrays: one more than cbor.MAX_DEPTH allows
        too_deep = [too_deep]
    for value in (1 << 64, -(1 << 64) - 1, 1.5, {1, 2}, object(), too_deep):
        try:
            encode(value)
        except CBORError:
            continue
        raise AssertionError("encoded %r" % (value,))
    assert decode(encode(too_deep[0])) == too_deep[0]    # the deepest allowed nesting
