"""The firmware's layout: no module imports another that imports it back (at load time or
inside a function), and no software-fault handler needs to re-raise a power cut."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("hal", "pump", "secure_channel", "bootloader", "sim")


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
                targets = [node.module] + ["%s.%s" % (node.module, a.name) for a in node.names]
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
