"""The firmware's layout: the firmware packages hold firmware only (what the MicroPython
runner copies is exactly what the pump runs: no hand-kept list), no module imports another
that imports it back (at load time or inside a function), pyserial lives only in the
host's serial transport, and no software-fault handler needs to re-raise a power cut."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("hal", "pump", "secure_channel", "bootloader", "sim")
FIRMWARE = ("hal", "pump", "secure_channel", "bootloader")      # tools/micropython/run.mjs
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)
HOST_ONLY = {"typing", "dataclasses", "enum", "abc", "time", "os", "threading", "socket",
             "select", "tty", "termios", "serial", "subprocess", "pathlib", "secrets",
             "random", "runpy", "argparse", "json", "asyncio", "sqlite3", "sim", "tools"}


def _imports(path):
    return {name.split(".")[0] for name in IMPORT.findall(path.read_text())}


def test_firmware_packages_import_nothing_host_only():
    for package in FIRMWARE:
        for path in sorted((ROOT / package).rglob("*.py")):
            used = _imports(path) & HOST_ONLY
            assert not used, "%s imports %s" % (path.relative_to(ROOT), sorted(used))


def test_the_micropython_runner_copies_exactly_the_firmware_packages():
    runner = (ROOT / "tools" / "micropython" / "run.mjs").read_text()
    assert 'const FIRMWARE = [%s];' % ", ".join('"%s"' % p for p in FIRMWARE) in runner


def test_pyserial_only_in_the_host_serial_transport():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "serial" in _imports(path):
                assert path.relative_to(ROOT).as_posix() == "sim/transport_serial.py", path


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph():
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            modules[_module_name(path)] = path
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import mod`` depends on pkg.mod; ``from mod import name`` on mod
                targets = []
                for alias in node.names:
                    sub = "%s.%s" % (node.module, alias.name)
                    targets.append(sub if sub in modules else node.module)
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def _cycles(graph):
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_another_that_imports_it_back():
    graph = _graph()
    cycles = [" -> ".join(c) for c in _cycles(graph)
              if not all(m.endswith(("__init__",)) for m in c)]
    # A package's __init__ importing its own modules is no cycle of behaviour; the
    # graph holds modules only, so every cycle found here is real.
    assert cycles == [], cycles


def test_no_handler_re_raises_a_power_cut():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            assert "except PowerCut:\n" not in path.read_text().replace("\r", ""), path
