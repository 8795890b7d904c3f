"""Arbitrary values at every public entry point: always a defined Result, never an
exception, never a change of therapy on refusal, never a pulse from a refused command."""

from hypothesis import given, settings, strategies as st

from pump import results

from conftest import examples
from pump_fixtures import make_pump

ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.text(max_size=5),
    st.binary(max_size=20), st.floats(allow_nan=True),
    st.lists(st.integers(-10, 5000), max_size=60),
    st.dictionaries(st.text(max_size=25), st.integers(-10, 10 ** 6), max_size=3))

CALLS = {
    "bolus": 4, "temp_basal": 3, "set_basal_program": 1, "set_limits": 1, "prime": 1,
    "set_wall_clock": 1, "service_reset": 1,
}


@settings(max_examples=examples(1000))
@given(st.sampled_from(sorted(CALLS)), st.data())
def test_any_input_gets_a_defined_result(name, data):
    pump, hw, _ = make_pump(rate_mu_h=1000)
    before = dict(pump.status())
    args = [data.draw(ANYTHING) for _ in range(CALLS[name])]
    result = getattr(pump, name)(*args)
    assert result.code in results.NAMES
    if not result.ok:
        assert result.code != results.ERR_INTERNAL, result
        after = pump.status()
        after.pop("log_seq"), before.pop("log_seq")
        assert after == before
        assert hw.motor.pulses == 0
