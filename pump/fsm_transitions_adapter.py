"""CPython engine: the therapy table driven by the ``transitions`` library.

Only this module (and the diagram renderer) imports ``transitions``; firmware on MicroPython
uses ``pump.fsm_table.TableMachine`` over the same table.
"""

from transitions import Machine, MachineError

from pump.fsm_table import InvalidTrigger


class _Model:
    """Forwards each guard name to the controller's ``guard(name)``."""

    def __init__(self, guard, guard_names):
        for name in guard_names:
            setattr(self, name, (lambda n: lambda: guard(n))(name))


def machine_kwargs(table):
    return dict(
        states=list(table.STATES),
        transitions=[
            {"trigger": trigger, "source": list(sources), "dest": dest,
             "conditions": list(guards)}
            for trigger, sources, dest, guards in table.TRANSITIONS
        ],
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


class TransitionsMachine:
    def __init__(self, guard, table, initial=None):
        self._model = _Model(guard, table.GUARDS)
        self._machine = Machine(model=self._model, initial=initial or table.INITIAL,
                                **machine_kwargs(table))
        self._triggers = set(table.TRIGGERS)

    @property
    def state(self):
        return self._model.state

    def can_fire(self, trigger):
        return trigger in self._machine.get_triggers(self._model.state)

    def fire(self, trigger):
        if trigger not in self._triggers or not self.can_fire(trigger):
            raise InvalidTrigger("%s is illegal in %s" % (trigger, self.state))
        try:
            return bool(self._model.trigger(trigger))
        except MachineError as exc:
            raise InvalidTrigger(str(exc)) from exc
