"""docs/protocol.md is generated from the schema; firmware modules stay MicroPython-safe."""

import pathlib
import re
import subprocess
import sys

from secure_channel.protocol import doc as protocol_doc
from secure_channel.protocol import schema as S

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


def test_document_states_the_telemetry_size():
    size = len(protocol_doc.largest_telemetry())
    assert size <= S.TELEMETRY_BUDGET
    assert "is %d bytes of CBOR" % size in protocol_doc.document()
