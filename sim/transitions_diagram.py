"""Render the therapy state machine diagram (mermaid) from the table, via ``transitions``.

``python -m pump.transitions_diagram > docs/therapy-state-machine.md`` regenerates the document; a test
checks the committed file matches, so the diagram is never drawn by hand.
"""

from transitions.extensions import GraphMachine

from pump import therapy_table
from pump.fsm_transitions_adapter import machine_kwargs


class _Model:
    pass


def mermaid():
    model = _Model()
    GraphMachine(model=model, initial=therapy_table.INITIAL, graph_engine="mermaid",
                 show_conditions=True, title="Therapy state machine",
                 **machine_kwargs(therapy_table))
    text = model.get_graph().draw(None)
    # transitions writes "Class"; mermaid's keyword is lower case.
    return text.replace("\n  Class ", "\n  class ")


def document():
    return (
        "# Therapy state machine\n\n"
        "Generated from `pump/therapy_table.py` by `make diagram` (`python -m pump.transitions_diagram`);"
        " do not edit by hand.\nGuards are shown in brackets.\n\n"
        "```mermaid\n" + mermaid().strip() + "\n```\n"
    )


if __name__ == "__main__":
    print(document(), end="")
