"""Framing (COBS + CRC-16) and the in-memory link, on CPython and on MicroPython.

COBS vectors are those of Cheshire and Baker's paper as listed on the COBS Wikipedia page;
the CRC check value is the catalogue's for CRC-16/CCITT-FALSE. Plain asserts only.
"""

from binascii import unhexlify

from secure_channel.link import framing as F
from secure_channel.link.framed import FramedLink
from secure_channel.link.memory import memory_pair

COBS_VECTORS = [
    ("00", "0101"),
    ("0000", "010101"),
    ("001100", "01021101"),
    ("11220033", "0311220233"),
    ("11223344", "0511223344"),
    ("11000000", "0211010101"),
]


def h(text):
    return unhexlify(text)


def test_crc16_ccitt_false_check_values():
    assert F.crc16(b"123456789") == 0x29B1
    assert F.crc16(b"") == 0xFFFF
    assert F.crc16(b"A") == 0xB915
    assert F.crc16(b"6789", F.crc16(b"12345")) == 0x29B1      # continuation


def test_cobs_vectors():
    for raw, encoded in COBS_VECTORS:
        assert F.cobs_encode(h(raw)) == h(encoded), raw
        assert F.cobs_decode(h(encoded)) == h(raw), encoded


def test_cobs_long_blocks():
    run = bytes(range(1, 255))                          # 254 non-zero bytes
    assert F.cobs_encode(run) == b"\xff" + run
    assert F.cobs_encode(b"\x00" + run) == b"\x01\xff" + run
    assert F.cobs_encode(run + b"\x00") == b"\xff" + run + b"\x01\x01"
    longer = bytes(range(1, 256))                       # 255 non-zero bytes
    assert F.cobs_encode(longer) == b"\xff" + longer[:254] + b"\x02\xff"
    for data in (run, longer, b"\x00" * 600, bytes(range(256)) * 3):
        encoded = F.cobs_encode(data)
        assert 0 not in encoded
        assert len(encoded) <= len(data) + len(data) // 254 + 1
        assert F.cobs_decode(encoded) == data


def test_cobs_decode_refuses_bad_bodies():
    for bad in (b"", b"\x05\x11\x22", b"\x02\x00", b"\x03\x11\x00"):
        try:
            F.cobs_decode(bad)
        except F.FramingError:
            continue
        raise AssertionError("accepted %r" % bad)


def test_frame_round_trip_and_layout():
    payload = b"\x00\x01\x02hello\x00"
    frame = F.encode_frame(payload)
    assert frame[0] == 0 and frame[-1] == 0 and 0 not in frame[1:-1]
    crc = F.crc16(payload)
    assert F.cobs_decode(frame[1:-1]) == payload + bytes((crc >> 8, crc & 0xFF))
    deframer = F.Deframer()
    assert deframer.feed(frame) == [payload]
    assert deframer.frames == 1 and deframer.drops == 0


def test_any_chunking_gives_the_same_frames():
    payloads = [b"", b"a", b"\x00" * 5, bytes(range(256)), b"z" * 300]
    stream = b"".join(F.encode_frame(p) for p in payloads)
    for size in (1, 2, 3, 7, 64, len(stream)):
        deframer = F.Deframer()
        got = []
        for start in range(0, len(stream), size):
            got += deframer.feed(stream[start:start + size])
        assert got == payloads, size
        assert deframer.drops == 0


def test_garbage_is_dropped_and_counted_then_resync():
    deframer = F.Deframer()
    good = F.encode_frame(b"after")
    got = deframer.feed(b"\x13\x37garbage\x00" + good)
    assert got == [b"after"]
    assert deframer.drops == 1


def test_cut_frame_does_not_take_the_next_one_with_it():
    first = F.encode_frame(b"first message")
    second = F.encode_frame(b"second")
    deframer = F.Deframer()
    got = deframer.feed(first[:len(first) // 2] + second)
    assert got == [b"second"]
    assert deframer.drops == 1


def test_bad_crc_counted():
    frame = bytearray(F.encode_frame(b"payload"))
    body = bytearray(F.cobs_decode(bytes(frame[1:-1])))
    body[0] ^= 0x01
    deframer = F.Deframer()
    assert deframer.feed(b"\x00" + F.cobs_encode(bytes(body)) + b"\x00") == []
    assert deframer.dropped[F.BAD_CRC] == 1


def test_bad_cobs_and_too_short_counted():
    deframer = F.Deframer()
    assert deframer.feed(b"\x00\x09\x01\x00") == []          # block runs past the end
    assert deframer.dropped[F.BAD_COBS] == 1
    assert deframer.feed(b"\x02\x01\x00") == []              # one byte: no room for a CRC
    assert deframer.dropped[F.TOO_SHORT] == 1
    assert deframer.feed(F.encode_frame(b"ok")) == [b"ok"]


def test_too_long_dropped_with_bounded_memory():
    deframer = F.Deframer(max_payload=32)
    assert deframer.feed(b"\x01" * 10000) == []
    assert deframer.dropped[F.TOO_LONG] == 1
    assert deframer.pending() == 0                            # nothing kept while skipping
    assert deframer.feed(b"\x01" * 100 + F.encode_frame(b"x" * 32)) == [b"x" * 32]
    assert deframer.dropped[F.TOO_LONG] == 1
    try:
        F.encode_frame(b"x" * 33, max_payload=32)
    except F.FramingError:
        pass
    else:
        raise AssertionError("framed an over-long payload")


def test_payload_over_limit_inside_a_short_body_is_too_long():
    deframer = F.Deframer(max_payload=4)
    assert deframer.feed(F.encode_frame(b"12345", max_payload=5)) == []
    assert deframer.dropped[F.TOO_LONG] == 1


def test_idle_zeros_are_not_drops():
    deframer = F.Deframer()
    assert deframer.feed(b"\x00" * 50) == []
    assert deframer.drops == 0


def test_memory_link_round_trip():
    a, b = memory_pair()
    left, right = FramedLink(a), FramedLink(b)
    left.send(b"ping")
    left.send(b"\x00\x00")
    assert right.poll() == [b"ping", b"\x00\x00"]
    right.send(b"pong")
    assert left.poll() == [b"pong"]
    assert left.poll() == []
    a.close()
    try:
        b.write(b"x")
    except OSError:
        pass
    else:
        raise AssertionError("wrote to a closed link")
