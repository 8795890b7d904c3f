"""The portable engine for the therapy state machine table (``pump.therapy_table``).

``TableMachine`` is the small interpreter that runs everywhere (MicroPython included); the
``transitions`` adapter (CPython) raises the same ``InvalidTrigger``. Both answer
``fire(trigger)`` the same way: True if the state changed, False if a guard refused,
``InvalidTrigger`` if the trigger is illegal in the current state.
"""

from pump import therapy_table


class InvalidTrigger(Exception):
    """The trigger has no transition from the current state."""


def _index(transitions):
    table = {}
    for trigger, sources, dest, guards in transitions:
        for source in sources:
            key = (trigger, source)
            if key in table:
                raise ValueError("two transitions for %s from %s" % key)
            table[key] = (dest, guards)
    return table


class TableMachine:
    """Interprets the transition table; ``guard(name)`` answers each guard."""

    def __init__(self, guard, table=therapy_table, initial=None):
        self._guard = guard
        self._table = _index(table.TRANSITIONS)
        self.state = initial or table.INITIAL

    def can_fire(self, trigger):
        return (trigger, self.state) in self._table

    def fire(self, trigger):
        entry = self._table.get((trigger, self.state))
        if entry is None:
            raise InvalidTrigger("%s is illegal in %s" % (trigger, self.state))
        dest, guards = entry
        for name in guards:
            if not self._guard(name):
                return False
        self.state = dest
        return True
