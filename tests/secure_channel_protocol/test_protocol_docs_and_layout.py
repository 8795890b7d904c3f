"""docs/protocol.md is generated from the schema; firmware modules stay MicroPython-safe."""

import pathlib
import re
import subprocess
import sys

from secure_channel.protocol import doc as protocol_doc
from secure_channel.protocol import roles
from secure_channel.protocol import schema as S
from secure_channel.protocol import schema_doc as D

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)
HOST_ONLY = {"typing", "dataclasses", "enum", "abc", "time", "os", "threading", "socket",
             "select", "tty", "termios", "serial", "subprocess", "pathlib"}

def imports(path):
    return {name.split(".")[0] for name in IMPORT.findall(path.read_text())}


def test_committed_document_is_generated():
    committed = (ROOT / "docs" / "protocol.md").read_text()
    assert committed == protocol_doc.document(), \
        "run `make diagram` (python -m secure_channel.protocol.doc > docs/protocol.md)"


def test_the_renderer_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "secure_channel.protocol.doc"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out == protocol_doc.document()


def _paths(fields):
    """(path, field) for every field and every item of a tuple, as schema_doc names them."""
    for field in fields:
        yield field.name, field
        items = field.items.items if field.kind == S.LIST and field.items.kind == S.TUPLE \
            else field.items if field.kind == S.TUPLE else ()
        for item in items:
            yield field.name + "." + item.name, item


def test_every_message_and_field_has_its_meaning_and_no_meaning_is_left_over():
    """The meanings live apart from the schema (a board carries only the schema): the two
    must still name the same messages and fields, so nothing goes undocumented and no
    text outlives the field it explained."""
    assert set(D.MESSAGES) == set(S.BY_NAME)
    for message in S.MESSAGES:
        what, request, response = D.MESSAGES[message.name]
        assert what.strip(), message.name
        for side, fields, texts in (("request", message.request, request),
                                    ("response", message.response, response)):
            paths = dict(_paths(fields))
            assert set(texts) <= set(paths), (message.name, side, set(texts) - set(paths))
            for field in fields:
                assert D.field_doc(message.name, side, field.name), (message.name, field.name)
    channel_errors = {code for code in S.ERROR_NAMES if code >= S.MALFORMED}
    assert set(D.ERRORS) == channel_errors
    assert [code for code, _, _ in D.UPDATE_PHASES] == list(range(S.UPDATE_INSTALLING + 1))
    assert {bit for bit, _ in D.FLAGS} == {S.FLAG_TEMP_BASAL, S.FLAG_BOLUS,
                                          S.FLAG_RESERVOIR_LOW, S.FLAG_BATTERY_LOW}
    assert set(D.ROLE_REASONS) == set(roles.MATRIX)
    assert all(reason.strip() for reason in D.ROLE_REASONS.values())


def test_document_states_the_telemetry_size():
    size = len(protocol_doc.largest_telemetry())
    assert size <= S.TELEMETRY_BUDGET
    assert "is %d bytes of CBOR" % size in protocol_doc.document()
