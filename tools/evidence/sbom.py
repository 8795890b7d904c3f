"""The CycloneDX SBOM: the host environment as cyclonedx-bom sees it, plus the firmware
as a component of its own with no dependencies, because on MicroPython it runs no
third-party code.

That claim is checked, not asserted: every import in the firmware packages is read with
``ast``; each must be first-party, a module built into MicroPython, or made in one of the
CPython-only seams below (the crypto backend and the ``transitions`` adapter, which the
firmware selects only on CPython). Anything else is a problem the build reports.
"""

import ast
import hashlib
import json
import pathlib
import subprocess
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = ("hal", "pump", "secure_channel", "bootloader")
MICROPYTHON_BUILTINS = frozenset((
    "array", "binascii", "bluetooth", "collections", "cryptolib", "errno", "framebuf", "gc",
    "hashlib", "io", "json", "machine", "math", "micropython", "network", "os", "random",
    "re", "select", "socket", "struct", "sys", "time", "uasyncio", "ubinascii",
    "ucryptolib", "uhashlib", "uos", "ustruct", "utime"))
# file -> why it may import what MicroPython lacks
CPYTHON_SEAMS = {
    "secure_channel/backend_cryptography.py": "the crypto backend on CPython; "
                                              "secure_channel/crypto.py takes backend_pure "
                                              "where cryptography is missing, as on "
                                              "MicroPython",
    "pump/fsm_transitions_adapter.py": "drives the therapy table with transitions on "
                                       "CPython; pump/fsm.py falls back to the table "
                                       "engine (pump/fsm_table.py) where transitions is "
                                       "missing, as on MicroPython",
}
FIRMWARE_REF = "firmware"
PROPERTY = "secure-insulin-pump:"


class SbomError(Exception):
    pass


def firmware_files(root=ROOT):
    return sorted(p for package in FIRMWARE for p in (root / package).rglob("*.py"))


def firmware_imports(root=ROOT):
    """{file: {top-level module imported}} for the firmware packages."""
    found = {}
    for path in firmware_files(root):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[path.relative_to(root).as_posix()] = names
    return found


def third_party_problems(imports, seams=None):
    """Sentences naming each firmware import that breaks the no-third-party claim."""
    seams = CPYTHON_SEAMS if seams is None else seams
    problems = []
    for rel, names in sorted(imports.items()):
        if rel in seams:
            continue
        for name in sorted(names - set(FIRMWARE) - MICROPYTHON_BUILTINS):
            problems.append("firmware module %s imports %s, which is neither first-party nor "
                            "built into MicroPython" % (rel, name))
    return problems


def firmware_digest(root=ROOT):
    """SHA-256 over the firmware sources (path and bytes of each file, in order)."""
    digest = hashlib.sha256()
    for path in firmware_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def host_bom(python=sys.executable):
    """The environment's SBOM from cyclonedx-py (reproducible, CycloneDX 1.6), as a dict;
    validated once, by ``validate``, after the firmware is added."""
    command = [sys.executable, "-m", "cyclonedx_py", "environment", "--no-validate",
               "--pyproject",
               str(ROOT / "pyproject.toml"), "--output-reproducible", "--sv", "1.6",
               "-o", "-", python]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SbomError("cyclonedx-py failed: %s" % (done.stderr.strip().splitlines() or
                                                      ["exit %d" % done.returncode])[-1])
    return json.loads(done.stdout)


def add_firmware(bom, version, imports, seams=None):
    """Add the firmware component, its (empty) dependency list marked complete, and the
    properties that say what it runs on."""
    seams = CPYTHON_SEAMS if seams is None else seams
    used = set()
    for rel, names in imports.items():
        if rel not in seams:
            used.update(names)
    builtins = sorted(used & MICROPYTHON_BUILTINS)
    component = {
        "type": "firmware", "bom-ref": FIRMWARE_REF, "name": "secure-insulin-pump-firmware",
        "version": version,
        "description": "the pump firmware as it runs on MicroPython: packages %s, "
                       "first-party code only" % ", ".join(FIRMWARE),
        "hashes": [{"alg": "SHA-256", "content": firmware_digest()}],
        "properties": [
            {"name": PROPERTY + "third-party-runtime-code", "value": "none"},
            {"name": PROPERTY + "platform", "value": "MicroPython 1.22 or later (the board's "
                                                     "build supplies the interpreter)"},
            {"name": PROPERTY + "interpreter-modules", "value": ", ".join(builtins)},
        ] + [{"name": PROPERTY + "cpython-only-seam", "value": "%s: %s" % (rel, why)}
             for rel, why in sorted(seams.items())],
    }
    bom.setdefault("components", []).insert(0, component)
    bom.setdefault("dependencies", []).insert(0, {"ref": FIRMWARE_REF, "dependsOn": []})
    bom.setdefault("compositions", []).append(
        {"aggregate": "complete", "dependencies": [FIRMWARE_REF]})
    return bom


def validate(bom):
    """None if the BOM is valid CycloneDX 1.6 JSON, else the first line of the error."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom))
    if error is None:
        return None
    return str(error).strip().splitlines()[0]


def build(version, python=sys.executable, check=True):
    """(bom, problems); ``check=False`` leaves out the schema validation (slow: seconds)."""
    imports = firmware_imports()
    problems = third_party_problems(imports)
    bom = add_firmware(host_bom(python), version, imports)
    error = validate(bom) if check else None
    if error:
        problems.append("the SBOM is not valid CycloneDX 1.6: %s" % error)
    return bom, problems


def host_components(bom):
    """(name, version) of every PyPI component of the BOM."""
    return sorted((c["name"], c.get("version", "")) for c in bom.get("components", [])
                  if c.get("purl", "").startswith("pkg:pypi/"))
