"""Both engines of the therapy state machine give identical traces (CPython vs the table
interpreter that MicroPython runs), for random trigger sequences and guard outcomes."""

from hypothesis import given, settings, strategies as st

from pump import therapy_table as T
from pump.fsm import InvalidTrigger, TableMachine
from pump.fsm_transitions_adapter import TransitionsMachine

from conftest import examples


def _trace(machine_class, triggers, guard_outcomes):
    outcomes = iter(guard_outcomes)
    asked = []

    def guard(name):
        asked.append(name)
        return next(outcomes, True)

    if machine_class is TableMachine:
        machine = TableMachine(guard)
    else:
        machine = TransitionsMachine(guard, T)
    trace = []
    for trigger in triggers:
        try:
            result = machine.fire(trigger)
        except InvalidTrigger:
            result = "invalid"
        trace.append((trigger, result, machine.state))
    return trace, asked


@settings(max_examples=examples(500))
@given(st.lists(st.sampled_from(T.TRIGGERS), max_size=60),
       st.lists(st.booleans(), max_size=200))
def test_engines_agree(triggers, guard_outcomes):
    table_trace, table_guards = _trace(TableMachine, triggers, guard_outcomes)
    lib_trace, lib_guards = _trace(TransitionsMachine, triggers, guard_outcomes)
    assert table_trace == lib_trace
    assert table_guards == lib_guards


def test_every_state_is_reachable():
    reached = {T.INITIAL}
    changed = True
    while changed:
        changed = False
        for _, sources, dest, _ in T.TRANSITIONS:
            if dest not in reached and any(s in reached for s in sources):
                reached.add(dest)
                changed = True
    assert reached == set(T.STATES)


def test_safe_stop_leaves_only_through_service():
    exits = [row for row in T.TRANSITIONS if T.SAFE_STOP in row[1]]
    assert [(row[0], row[3]) for row in exits] == [("service_reset", ("service_authorized",))]
