"""Framing under arbitrary input: properties, differential checks and fuzzing.

``ci`` runs at least 1,000 examples per test (``examples(1000)``). The deframer must never
raise, must keep its memory bounded, must account for every non-empty frame body as a
frame or a counted drop, and must deliver the next good frame after anything at all.
"""

import binascii

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import examples
from secure_channel.link import framing as F

FUZZ = settings(max_examples=examples(1000), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

payloads = st.binary(max_size=300)
small_limit = st.integers(1, 64)


@st.composite
def chunked(draw, data):
    """``data`` cut into arbitrary chunks."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pieces, last = [], 0
    for cut in cuts + [len(data)]:
        pieces.append(data[last:cut])
        last = cut
    return pieces


@FUZZ
@given(st.data(), st.lists(payloads, max_size=6))
def test_frames_survive_any_chunking(data, items):
    stream = b"".join(F.encode_frame(p) for p in items)
    deframer = F.Deframer()
    got = []
    for piece in data.draw(chunked(stream)):
        got += deframer.feed(piece)
    assert got == items
    assert deframer.drops == 0 and deframer.pending() == 0


@FUZZ
@given(payloads)
def test_cobs_matches_the_reference_package(payload):
    cobs = pytest.importorskip("cobs.cobs")
    assert F.cobs_encode(payload) == cobs.encode(payload)
    assert F.cobs_decode(F.cobs_encode(payload)) == payload


@FUZZ
@given(st.binary(max_size=400))
def test_crc16_matches_binascii(data):
    assert F.crc16(data) == binascii.crc_hqx(data, 0xFFFF)


@FUZZ
@given(st.binary(min_size=1, max_size=300).filter(lambda b: 0 not in b))
def test_cobs_decoder_agrees_with_the_reference_or_refuses(body):
    cobs = pytest.importorskip("cobs.cobs")
    try:
        ours = F.cobs_decode(body)
    except F.FramingError:
        with pytest.raises(cobs.DecodeError):
            cobs.decode(body)
        return
    assert ours == cobs.decode(body)


@pytest.mark.verifies("DC-FRAMING")
@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8), small_limit, payloads)
def test_garbage_then_a_good_frame(garbage, limit, payload):
    """Whatever came before, a frame sent afterwards arrives (if it fits the limit)."""
    payload = payload[:limit]
    deframer = F.Deframer(max_payload=limit)
    for chunk in garbage:
        for out in deframer.feed(chunk):
            assert len(out) <= limit
        assert deframer.pending() <= F.max_encoded(limit)
    assert deframer.feed(F.encode_frame(payload, limit)) == [payload]


@st.composite
def damaged_stream(draw):
    items = draw(st.lists(st.binary(max_size=80), min_size=1, max_size=5))
    stream = bytearray(b"".join(F.encode_frame(p) for p in items))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 3))
        at = draw(st.integers(0, max(0, len(stream) - 1)))
        if op == 0 and stream:
            stream[at] ^= draw(st.integers(1, 255))
        elif op == 1:
            del stream[at:at + draw(st.integers(1, 20))]
        elif op == 2:
            stream[at:at] = draw(st.binary(min_size=1, max_size=20))
        else:
            stream[at:at] = b"\x01" * draw(st.integers(100, 400))
    return items, bytes(stream)


@pytest.mark.verifies("DC-FRAMING")
@FUZZ
@given(st.data(), damaged_stream())
def test_damaged_streams_drop_with_a_reason(data, case):
    items, stream = case
    deframer = F.Deframer(max_payload=80)
    got = []
    for piece in data.draw(chunked(stream)):
        got += deframer.feed(piece)
    got += deframer.feed(b"\x00")                       # close a trailing partial frame
    bodies = [b for b in stream.split(b"\x00") if b]
    assert deframer.frames + deframer.drops == len(bodies)
    assert deframer.frames == len(got)
    assert set(deframer.dropped) == set(F.DROP_REASONS)
    for out in got:                                     # CRC-16 could let one through, in theory
        assert len(out) <= 80
    assert deframer.feed(F.encode_frame(b"still usable")) == [b"still usable"]


@pytest.mark.verifies("DC-FRAMING")
@FUZZ
@given(st.binary(max_size=2000), st.integers(1, 2000))
def test_arbitrary_bytes_never_raise(data, limit):
    deframer = F.Deframer(max_payload=limit)
    step = 1 + len(data) % 97
    for start in range(0, len(data), step):
        deframer.feed(data[start:start + step])
    assert deframer.pending() <= F.max_encoded(limit)
    assert deframer.frames + deframer.drops <= data.count(0) + 1     # + a too-long tail
