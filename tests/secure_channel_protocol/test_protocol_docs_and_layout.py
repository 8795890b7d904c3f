"""docs/protocol.md is generated from the schema; firmware modules stay MicroPython-safe."""

import ast
import pathlib
import re
import subprocess
import sys

from secure_channel import protocol_doc
from secure_channel import protocol_schema as S

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)
HOST_ONLY = {"typing", "dataclasses", "enum", "abc", "time", "os", "threading", "socket",
             "select", "tty", "termios", "serial", "subprocess", "pathlib"}

# Firmware modules of this part: they run on the pump (CPython and MicroPython).
FIRMWARE = ["secure_channel/" + name + ".py" for name in (
    "framing", "link", "transport_memory", "protocol", "protocol_schema", "protocol_doc",
    "telemetry", "roles", "confirm", "dispatch", "update_stager", "resources")] + \
    ["pump/pin.py"]
HOST_TRANSPORTS = ("secure_channel/transport_pty.py", "secure_channel/transport_serial.py")


def imports(path):
    return {name.split(".")[0] for name in IMPORT.findall(path.read_text())}


def test_committed_document_is_generated():
    committed = (ROOT / "docs" / "protocol.md").read_text()
    assert committed == protocol_doc.document(), \
        "run `python -m secure_channel.protocol_schema > docs/protocol.md`"


def test_generator_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "secure_channel.protocol_schema"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out == protocol_doc.document()


def test_the_renderer_runs_as_a_module_too():
    out = subprocess.run([sys.executable, "-m", "secure_channel.protocol_doc"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out == protocol_doc.document()


def secure_channel_imports(path):
    """Modules of secure_channel that ``path`` imports anywhere (``__main__`` blocks too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "secure_channel":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "secure_channel."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("secure_channel."))
    return found


def test_protocol_modules_import_no_cycle():
    names = [p.stem for p in (ROOT / "secure_channel").glob("*.py")]
    graph = {n: secure_channel_imports(ROOT / "secure_channel" / (n + ".py")) & set(names)
             for n in ("protocol_schema", "protocol", "protocol_doc", "resources", "dispatch",
                       "roles", "confirm", "telemetry", "update_stager", "framing")}

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False
    for name in graph:
        assert not reaches(name, name, {name}), "%s is on an import cycle" % name


def test_document_states_the_telemetry_size():
    size = len(protocol_doc.largest_telemetry())
    assert size <= S.TELEMETRY_BUDGET
    assert "is %d bytes of CBOR" % size in protocol_doc.document()


def test_firmware_modules_import_nothing_host_only():
    for name in FIRMWARE:
        used = imports(ROOT / name) & HOST_ONLY
        assert not used, "%s imports %s" % (name, sorted(used))


def test_pyserial_only_in_modules_named_serial():
    for package in ("secure_channel", "pump", "bootloader"):
        for path in sorted((ROOT / package).glob("*.py")):
            if "serial" in imports(path):
                assert "serial" in path.name, path
    for name in HOST_TRANSPORTS:
        assert (ROOT / name).exists()
