"""Engines for the therapy state machine table (``pump.therapy_table``).

``create_machine`` prefers the ``transitions`` adapter where that library is installed and
falls back to ``fsm_table.TableMachine`` (MicroPython). Both engines depend on
``fsm_table``, never on this module, so nothing imports back.
"""

from pump import therapy_table
from pump.fsm_table import InvalidTrigger, TableMachine  # noqa: F401  (the engines' API)


def create_machine(guard, table=therapy_table, initial=None, prefer_library=True):
    """The ``transitions``-driven machine on CPython, the table interpreter elsewhere."""
    if prefer_library:
        try:
            from pump.fsm_transitions_adapter import TransitionsMachine
        except ImportError:
            pass
        else:
            return TransitionsMachine(guard, table, initial)
    return TableMachine(guard, table, initial)
