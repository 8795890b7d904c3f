"""Every control ID that exists in the code, with what it does and where it lives.

Three sources, read from the code itself so the register can never name a control that
is not there: the pump's interlocks and the safety monitor's checks (``IL-``/``SM-``,
``pump.hazards.INTERLOCKS``), the secure channel's controls (``SC-``,
``secure_channel.controls.CONTROLS``) and the design controls (``DC-``,
``design_controls.DESIGN_CONTROLS``), of which only those whose anchors all import count.
"""

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
SCHEMA = "secure_channel/protocol/schema.py"
_QUOTED_ID = re.compile(r'"((?:IL|SM)-[A-Z0-9]+(?:-[A-Z0-9]+)*)[" ]')


def _interlock_homes():
    """Interlock ID -> the firmware files (outside the hazard table) that raise it."""
    homes = {}
    for package in ("pump", "secure_channel", "bootloader"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "hazards.py":
                continue
            for cid in set(_QUOTED_ID.findall(path.read_text())):
                homes.setdefault(cid, []).append(path.relative_to(ROOT).as_posix())
    # The protocol schema lists every ID for the wire; it is a home only when alone.
    for cid, paths in homes.items():
        if len(paths) > 1 and SCHEMA in paths:
            paths.remove(SCHEMA)
    return homes


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
    homes = _interlock_homes()
    for cid, (hazard_ids, check, response) in hazards.INTERLOCKS.items():
        kind = KIND_MONITOR if cid.startswith("SM-") else KIND_INTERLOCK
        where = ", ".join(homes.get(cid, ["pump/hazards.py"]))
        found[cid] = Control(cid, kind, "%s: %s" % (check, response), where, hazard_ids)
    for cid, (text, where) in sc_controls.CONTROLS.items():
        found[cid] = Control(cid, KIND_SECURITY, text, where)
    problems = []
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
