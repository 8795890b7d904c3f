"""Generated documents in docs/ must match what the code renders today."""

import pathlib

from pump import hazards
from sim import transitions_diagram as diagram

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def test_state_diagram_is_generated_from_the_table():
    assert (DOCS / "therapy-state-machine.md").read_text() == diagram.document(), \
        "run `make diagram` to regenerate docs/therapy-state-machine.md"


def test_hazard_table_document_is_current():
    text = (DOCS / "hazards.md").read_text()
    assert hazards.table_markdown() in text, "run `make diagram` to regenerate docs/hazards.md"
