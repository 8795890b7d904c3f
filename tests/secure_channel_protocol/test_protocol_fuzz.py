"""The protocol schema under arbitrary input, and round trips of every message it defines.

Valid messages are generated from the schema tables themselves (every field kind, range,
step, optional field and constraint), so a new message type is covered without a new
test. Fuzzing mixes random bytes, random CBOR maps with small keys and mutations of valid
requests; only ``ProtocolError`` may escape the decoders, and the dispatcher must answer
everything with a response that itself validates. ``ci``: 1,000 examples per test.
"""

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from conftest import examples
from mutations import mutate_bytes
from proto_helpers import VALID, Harness
from pump.limits import HARD_RANGES
from secure_channel import cbor
from secure_channel.protocol import messages as protocol
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S
from secure_channel.protocol.messages import ProtocolError

FUZZ = settings(max_examples=examples(1000), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


cbor_values = st.recursive(
    st.one_of(st.integers(-(1 << 64), (1 << 64) - 1), st.binary(max_size=20),
              st.text(max_size=8), st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.integers(-5, 30), st.text(max_size=3)), children,
                        max_size=4)),
    max_leaves=10)


def value_of(field):
    """A strategy for valid values of one schema field."""
    kind = field.kind
    if kind in (S.UINT, S.INT):
        step = field.step
        low = -(-field.low // step)
        return st.integers(low, field.high // step).map(lambda n: n * step)
    if kind == S.BOOL:
        return st.booleans()
    if kind == S.BYTES:
        return st.binary(min_size=field.low, max_size=min(field.high, 64))
    if kind == S.TEXT:
        return st.text(alphabet="az-_09\u00e9\u6c34", min_size=field.low,
                       max_size=field.high // 3).filter(
            lambda t: field.low <= len(t.encode()) <= field.high)
    if kind == S.LIST:
        return st.lists(value_of(field.items), min_size=field.low,
                        max_size=max(field.low, min(field.high, 6)))
    if kind == S.TUPLE:
        return st.tuples(*[value_of(item) for item in field.items]).map(list)
    if kind == S.LIMITS:
        names = sorted(HARD_RANGES)
        return st.sets(st.sampled_from(names), min_size=max(1, field.low),
                       max_size=field.high).flatmap(lambda chosen: st.fixed_dictionaries(
                           {n: st.integers(*HARD_RANGES[n][1:]) for n in chosen}))
    if kind == S.ANY:
        return cbor_values
    raise AssertionError(kind)


@st.composite
def valid_fields(draw, message, request=True):
    specs = message.request if request else message.response
    fields = {}
    for field in specs:
        if field.required or draw(st.booleans()):
            fields[field.name] = draw(value_of(field))
    if request:
        for group in message.one_of:
            keep = draw(st.sampled_from(group))
            for name in group:
                fields.pop(name, None)
            fields[keep] = draw(value_of(next(f for f in specs if f.name == keep)))
        for group in message.together:
            if draw(st.booleans()):
                for name in group:
                    fields[name] = draw(value_of(next(f for f in specs if f.name == name)))
            else:
                for name in group:
                    fields.pop(name, None)
    return fields


def with_defaults(message, specs, fields):
    out = dict(fields)
    for field in specs:
        if field.default is not None and field.name not in out:
            out[field.name] = field.default
    return out


requests = st.sampled_from([m for m in S.MESSAGES if m is not S.ERROR])


@FUZZ
@given(st.data(), requests, st.integers(0, S.MAX_ID))
def test_every_request_round_trips(data, message, msg_id):
    fields = data.draw(valid_fields(message))
    try:
        encoded = protocol.encode_request(message.name, msg_id, fields)
    except ProtocolError as exc:
        assume(exc.code != S.TOO_LARGE)
        raise
    parsed = protocol.decode_request(encoded)
    assert parsed.name == message.name and parsed.id == msg_id
    assert parsed.fields == with_defaults(message, message.request, fields)
    assert cbor.encode(cbor.decode(encoded)) == encoded


@FUZZ
@given(st.data(), st.sampled_from(S.MESSAGES), st.integers(0, S.MAX_ID))
def test_every_response_round_trips(data, message, msg_id):
    fields = data.draw(valid_fields(message, request=False))
    try:
        encoded = protocol.encode_response(message.name, msg_id, fields)
    except ProtocolError as exc:
        assume(exc.code != S.TOO_LARGE)
        raise
    parsed = protocol.decode_response(encoded)
    assert parsed.name == message.name and parsed.fields == fields


@st.composite
def mutated_request(draw):
    name = draw(st.sampled_from(sorted(VALID)))
    seed = protocol.encode_request(name, draw(st.integers(0, S.MAX_ID)), VALID[name])
    return mutate_bytes(draw, seed, max_chunk=6)


def envelope(code, msg_id, fields):
    message = {0: code, 1: msg_id}
    message.update(fields)
    return cbor.encode(message)


small_maps = st.dictionaries(st.one_of(st.integers(-2, 24), st.text(max_size=2)),
                             cbor_values, max_size=6).map(cbor.encode)
envelopes = st.builds(envelope, st.integers(0, 25), st.integers(0, S.MAX_ID),
                      st.dictionaries(st.integers(2, 8), cbor_values, max_size=4))
any_input = st.one_of(st.binary(max_size=120), small_maps, envelopes, mutated_request())


def check_only_protocol_errors(decode, data):
    try:
        parsed = decode(data)
    except ProtocolError as exc:
        assert exc.code in S.ERROR_NAMES and exc.reason
        return None
    assert parsed.message in S.MESSAGES
    return parsed


@pytest.mark.verifies("SC-SCHEMA", "DC-PARSERS")
@FUZZ
@given(any_input)
def test_request_decoder_only_raises_protocol_errors(data):
    parsed = check_only_protocol_errors(protocol.decode_request, data)
    if parsed is not None:           # accepted: then it is canonical and re-encodes the same
        assert protocol.encode_request(parsed.name, parsed.id, {
            k: v for k, v in parsed.fields.items()
            if k in data_fields(parsed.message, data)}) == data


def data_fields(message, data):
    raw = cbor.decode(data)
    return {f.name for f in message.request if f.key in raw}


@FUZZ
@given(any_input)
def test_response_decoder_only_raises_protocol_errors(data):
    check_only_protocol_errors(protocol.decode_response, data)


@pytest.mark.verifies("DC-FAULT-CONTAINED")
@FUZZ
@given(st.one_of(any_input, mutated_request()),
       st.sampled_from(roles.ROLES + ("nobody",)))
def test_dispatcher_answers_everything(data, role):
    harness = Harness(remote_bolus=True)
    response = harness.raw(data, role)
    parsed = protocol.decode_response(response)
    assert harness.dispatcher.faults == 0
    if parsed.is_error:
        code = parsed.fields["code"]
        assert code in S.ERROR_NAMES
        if code >= 16 and code not in (S.CONFIRM_EXPIRED, S.CONFIRM_CANCELLED):
            assert len(harness.audit) == 1     # every refusal it decides is audited once
    else:
        assert protocol.decode_request(data).name == parsed.name


@settings(max_examples=examples(200), deadline=None)
@given(st.data(), requests, st.sampled_from(roles.ROLES))
def test_dispatcher_with_valid_requests_never_faults(data, message, role):
    harness = Harness(remote_bolus=data.draw(st.booleans()))
    fields = data.draw(valid_fields(message))
    try:
        request = protocol.encode_request(message.name, 9, fields)
    except ProtocolError:
        assume(False)
    parsed = protocol.decode_response(harness.raw(request, role))
    assert harness.dispatcher.faults == 0
    assert parsed.id == 9 and (parsed.is_error or parsed.name == message.name)
