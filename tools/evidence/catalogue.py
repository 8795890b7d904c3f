"""Every control ID that exists in the code, with what it does and where it lives.

Three sources, read from the code itself so the register can never name a control that
is not there: the pump's interlocks and the safety monitor's checks (``IL-``/``SM-``,
``pump.hazards.INTERLOCKS``), the secure channel's controls (``SC-``,
``secure_channel.controls.CONTROLS``) and the design controls (``DC-``,
``design_controls.DESIGN_CONTROLS``), of which only those whose anchors all import count.

A line in a table is not yet a control: an IL-/SM-/SC- ID must also be named by the product
code outside its table (pump/, secure_channel/, bootloader/, hal/, sim/; a string in code,
not a comment or docstring; for a security control, its ID or a refusal name that
``control_of`` maps to it), and its "where it lives" path must exist. Otherwise the build
names it. Tests, tools/evidence and docs do not count, nor the wire list of the protocol
schema, nor the attack lab, which only reads refusals.
"""

import ast
import importlib
import pathlib
import re

from pump import hazards
from secure_channel import controls as sc_controls
from tools.evidence import design_controls


class Control:
    """One control: its ID, kind, what it does, where it lives, and for an interlock the
    hazards the hazard table says it mitigates."""

    def __init__(self, cid, kind, text, where, hazards=()):
        self.id = cid
        self.kind = kind
        self.text = text
        self.where = where
        self.hazards = tuple(hazards)

    def __repr__(self):
        return "Control(%s)" % self.id


KIND_INTERLOCK = "safety interlock"
KIND_MONITOR = "safety monitor"
KIND_SECURITY = "security control"
KIND_DESIGN = "design control"


ROOT = pathlib.Path(__file__).resolve().parents[2]
# The product code a control's ID must appear in, outside its own table.
PRODUCT = ("pump", "secure_channel", "bootloader", "hal", "sim")
FIRMWARE = ("pump", "secure_channel", "bootloader", "hal")
HAZARD_TABLE = "pump/hazards.py"
CONTROL_TABLE = "secure_channel/controls.py"
# Files that list IDs without enforcing them: the two tables; the protocol schema, which
# lists every interlock ID for the wire; the attack lab, which reads refusals.
NOT_A_HOME = (HAZARD_TABLE, CONTROL_TABLE)
WIRE_LIST = "secure_channel/protocol/schema.py"
ATTACK_LAB = "sim/attack/"
_ID = re.compile(r"(?<![A-Z0-9-])((?:IL|SM|SC)-[A-Z0-9]+(?:-[A-Z0-9]+)*)")
_STRINGS = {}                  # path -> (mtime, size, string constants outside docstrings)


def _docstrings(tree):
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def code_strings(path):
    """The string constants of a Python file, docstrings left out (comments are not in
    the tree): where code names an ID or a refusal."""
    stat = path.stat()
    cached = _STRINGS.get(path)
    if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    try:
        tree = ast.parse(path.read_text(encoding="utf8"), str(path))
    except (SyntaxError, UnicodeDecodeError):
        strings = frozenset()
    else:
        skip = _docstrings(tree)
        strings = frozenset(node.value for node in ast.walk(tree)
                            if isinstance(node, ast.Constant) and isinstance(node.value, str)
                            and id(node) not in skip)
    _STRINGS[path] = (stat.st_mtime_ns, stat.st_size, strings)
    return strings


def code_homes(root=ROOT):
    """Control ID -> the product files (outside the tables, the wire list and the attack
    lab) whose code names it: an IL-/SM-/SC- ID in a string, or for a security control a
    refusal name that ``secure_channel.controls.control_of`` maps to it."""
    root = pathlib.Path(root)
    homes = {}
    for package in PRODUCT:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in NOT_A_HOME or rel.startswith(ATTACK_LAB):
                continue
            found = set()
            for text in code_strings(path):
                for cid in _ID.findall(text):
                    if not (rel == WIRE_LIST and not cid.startswith("SC-")):
                        found.add(cid)
                mapped = sc_controls.control_of(text)
                if mapped and mapped.startswith("SC-") and not _ID.search(text):
                    found.add(mapped)
            for cid in found:
                homes.setdefault(cid, []).append(rel)
    return homes


def _where(cid, homes):
    """An interlock's home: the firmware files that name it, else any product file."""
    paths = homes.get(cid, [])
    firmware = [p for p in paths if p.split("/")[0] in FIRMWARE]
    return ", ".join(firmware or paths)


def home_problems(found, homes, root=ROOT):
    """Sentences naming each IL-/SM-/SC- control that no product code outside its table
    names, or whose "where it lives" path does not exist."""
    packages = ", ".join(p + "/" for p in PRODUCT)
    problems = []
    for cid in sorted(found):
        control = found[cid]
        if control.kind == KIND_DESIGN:
            continue
        if cid not in homes:
            if control.kind == KIND_SECURITY:
                problems.append("control %s is named only in its table %s: no product code "
                                "outside it (%s) names it or a refusal mapped to it"
                                % (cid, CONTROL_TABLE, packages))
            else:
                problems.append("control %s is named only in its table %s: no product code "
                                "outside it (%s) names it" % (cid, HAZARD_TABLE, packages))
        for path in filter(None, (p.strip() for p in control.where.split(","))):
            if not (pathlib.Path(root) / path).exists():
                problems.append("control %s: where it lives, %s, does not exist" % (cid, path))
    return problems


def resolve_anchor(anchor):
    """Import ``module:attr.attr`` and return the object; raises LookupError naming it."""
    module_name, _, qualname = anchor.partition(":")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError("%s: module does not import (%s)" % (anchor, exc)) from None
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise LookupError("%s: %s has no %s" % (anchor, module_name, part))
        target = getattr(target, part)
    return target


def _module_file(module_name):
    path = pathlib.Path(importlib.import_module(module_name).__file__).resolve()
    return path.relative_to(ROOT).as_posix()


def load(design=None):
    """(controls by ID, problems): the problems name each design control whose anchor is
    missing from the code (it is then left out)."""
    design = design_controls.DESIGN_CONTROLS if design is None else design
    found = {}
    homes = code_homes()
    for cid, (hazard_ids, check, response) in hazards.INTERLOCKS.items():
        kind = KIND_MONITOR if cid.startswith("SM-") else KIND_INTERLOCK
        where = _where(cid, homes) or HAZARD_TABLE
        found[cid] = Control(cid, kind, "%s: %s" % (check, response), where, hazard_ids)
    for cid, (text, where) in sc_controls.CONTROLS.items():
        found[cid] = Control(cid, KIND_SECURITY, text, where)
    problems = home_problems(found, homes)
    for cid, (text, anchors) in design.items():
        missing = []
        for anchor in anchors:
            try:
                resolve_anchor(anchor)
            except LookupError as exc:
                missing.append(str(exc))
        if missing:
            problems.append("control %s does not exist in the code: %s"
                            % (cid, "; ".join(missing)))
            continue
        where = ", ".join(sorted({_module_file(a.split(":")[0]) for a in anchors}))
        found[cid] = Control(cid, KIND_DESIGN, text, where)
    return found, problems
