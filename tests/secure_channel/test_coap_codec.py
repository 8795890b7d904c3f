"""The CoAP codec against an independent implementation (aiocoap) and under fuzzing.

- Messages we build, aiocoap decodes to the same fields, and the bytes aiocoap encodes for
  the same message are ours byte for byte.
- Arbitrary bytes: our decoder raises nothing but ``CoapFormatError``; what it accepts,
  aiocoap accepts with the same fields, and re-encoding gives the same bytes.
"""
import os
import warnings

import pytest
from hypothesis import given, settings, strategies as st

from conftest import examples
from mutations import mutate_bytes
from secure_channel.coap import message as M, numbers as N

try:
    import aiocoap
    from aiocoap.numbers.optionnumbers import OptionNumber
except ImportError:                                  # a developer machine without it
    aiocoap = None

needs_aiocoap = pytest.mark.skipif(aiocoap is None and not os.environ.get("CI"),
                                   reason="aiocoap not installed (make test installs it)")

OPTION_NUMBERS = [N.IF_MATCH, N.URI_HOST, N.ETAG, N.OBSERVE, N.URI_PORT, N.OSCORE,
                  N.URI_PATH, N.CONTENT_FORMAT, N.MAX_AGE, N.URI_QUERY, N.ACCEPT, N.ECHO,
                  N.BLOCK2, N.REQUEST_TAG, 2000, 65000]

def _value(number):
    """A value valid for the option's registered format and length."""
    spec = N.OPTIONS.get(number)
    if spec is None:
        return st.binary(max_size=300)
    _, fmt, low, high = spec
    if fmt == N.UINT:
        return st.integers(0, (1 << (8 * high)) - 1).map(M.encode_uint)
    if fmt == N.STRING:
        return st.text(min_size=low, max_size=min(high, 40)).map(str.encode).filter(
            lambda b: low <= len(b) <= high)
    return st.binary(min_size=low, max_size=high)


options = st.lists(st.sampled_from(OPTION_NUMBERS).flatmap(
    lambda number: st.tuples(st.just(number), _value(number))), max_size=6)
messages = st.builds(
    M.Message, st.integers(0, 3), st.integers(1, 255), st.integers(0, 0xFFFF),
    st.binary(max_size=8), options, st.binary(max_size=64))


def _aiocoap_fields(message):
    opts = [(int(o.number), bytes(o.encode())) for o in message.opt.option_list()]
    return (int(message.mtype), int(message.code), message.mid, bytes(message.token),
            opts, bytes(message.payload))


def _ours(message):
    return (message.mtype, message.code, message.mid, message.token,
            M._sorted(message.options), message.payload)


def _aiocoap_message(message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = aiocoap.Message(code=message.code, mtype=message.mtype, mid=message.mid,
                                 token=message.token, payload=message.payload)
    for number, value in M._sorted(message.options):
        theirs.opt.add_option(OptionNumber(number).create_option(decode=value))
    return theirs


@needs_aiocoap
@settings(max_examples=examples(1000), deadline=None)
@given(messages)
def test_aiocoap_reads_what_we_write_and_writes_the_same_bytes(message):
    data = M.encode(message)
    assert _aiocoap_fields(aiocoap.Message.decode(data)) == _ours(message)
    assert _aiocoap_message(message).encode() == data
    assert M.decode(data) == message


@st.composite
def mutated_messages(draw):
    return mutate_bytes(draw, M.encode(draw(messages)))


@needs_aiocoap
@settings(max_examples=examples(1000), deadline=None)
@given(st.one_of(st.binary(max_size=80), mutated_messages()))
def test_decoder_fuzz_refuses_only_with_format_errors_and_agrees_with_aiocoap(data):
    try:
        ours = M.decode(data)
    except M.CoapFormatError:
        return
    assert M.encode(ours) == bytes(data)
    if ours.code == N.EMPTY or ours.option_problem() is not None:
        return          # aiocoap parses option values eagerly; ours leaves that to the layer
    theirs = aiocoap.Message.decode(bytes(data))
    assert _aiocoap_fields(theirs) == _ours(ours)
