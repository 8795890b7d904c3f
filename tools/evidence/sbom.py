"""The CycloneDX SBOM: the host environment as cyclonedx-bom sees it (each component with
its supplier where its package metadata names one), plus the firmware as a component of
its own, whose only dependency is the MicroPython interpreter it runs on, because the
firmware's own code uses no third-party code.

That claim is checked, not asserted: every import in the firmware packages is read with
``ast``, direct (``import x``) or dynamic (``__import__("x")``,
``importlib.import_module("x")``); each must be first-party, a module built into
MicroPython, or made in one of the CPython-only seams below (the crypto backend and the
``transitions`` adapter, which the firmware selects only on CPython). A dynamic import of a
name computed at run time cannot be checked and is reported as such. Anything else is a
problem the build reports.

The interpreter is the one the firmware is tested on: the official WebAssembly port, npm
package ``@micropython/micropython-webassembly-pyscript``, at the version pinned in
``tools/micropython/package.json``. A board runs its own MicroPython build (1.22 or later);
the component says so.
"""

import ast
import base64
import datetime
import email.utils
import hashlib
import importlib.metadata
import json
import pathlib
import subprocess
import sys
import uuid

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
MICROPYTHON_REF = "micropython-interpreter"
MICROPYTHON_NPM = "@micropython/micropython-webassembly-pyscript"
MICROPYTHON_PACKAGE = "tools/micropython/package.json"
MICROPYTHON_LOCK = "tools/micropython/package-lock.json"
PROPERTY = "secure-insulin-pump:"
TOOL_NAME = "secure-insulin-pump-evidence"
COMPUTED = "<computed at line %d>"
_URL_LABELS = ("homepage", "home", "source", "source code", "repository", "code")


class SbomError(Exception):
    pass


def firmware_files(root=ROOT):
    return sorted(p for package in FIRMWARE for p in (root / package).rglob("*.py"))


def _dynamic_import(node, aliases):
    """For a call that imports a module by name (``__import__``, ``importlib``'s
    ``import_module`` or ``__import__``, however imported): the top-level name, or
    ``COMPUTED`` when the name is not a literal; None for any other call."""
    func = ast.unparse(node.func)
    if func not in aliases:
        return None
    if node.args and isinstance(node.args[0], ast.Constant) and \
            isinstance(node.args[0].value, str):
        return node.args[0].value.split(".")[0]
    return COMPUTED % node.lineno


def imports_of(source, filename="<firmware>"):
    """The top-level modules a source imports, directly or dynamically."""
    tree = ast.parse(source, filename)
    aliases = {"__import__", "importlib.import_module", "importlib.__import__",
               "builtins.__import__"}
    for node in ast.walk(tree):             # from importlib import import_module [as x]
        if isinstance(node, ast.ImportFrom) and node.module in ("importlib", "builtins"):
            aliases.update(a.asname or a.name for a in node.names
                           if a.name in ("import_module", "__import__"))
        elif isinstance(node, ast.Import):
            aliases.update("%s.import_module" % a.asname for a in node.names
                           if a.name == "importlib" and a.asname)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call):
            name = _dynamic_import(node, aliases)
            if name:
                names.add(name)
    return names


def firmware_imports(root=ROOT):
    """{file: {top-level module imported}} for the firmware packages; a dynamic import of
    a name computed at run time is recorded as ``<computed at line N>``."""
    root = pathlib.Path(root)
    return {path.relative_to(root).as_posix(): imports_of(path.read_text(), str(path))
            for path in firmware_files(root)}


def third_party_problems(imports, seams=None):
    """Sentences naming each firmware import that breaks the no-third-party claim."""
    seams = CPYTHON_SEAMS if seams is None else seams
    problems = []
    for rel, names in sorted(imports.items()):
        if rel in seams:
            continue
        for name in sorted(names - set(FIRMWARE) - MICROPYTHON_BUILTINS):
            if name.startswith("<computed at line "):
                problems.append("firmware module %s imports a module whose name is computed "
                                "at run time (line %s), which cannot be checked"
                                % (rel, name[len("<computed at line "):-1]))
                continue
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


def _contacts(names_field, emails_field):
    """organizationalContact entries from a metadata name field and an e-mail field."""
    contacts = [{"name": name, "email": addr} if name else {"email": addr}
                for name, addr in email.utils.getaddresses([emails_field or ""])
                if "@" in addr]
    names = [n.strip() for n in (names_field or "").split(",") if n.strip()]
    if len(names) == 1 and len(contacts) == 1 and "name" not in contacts[0]:
        contacts[0] = {"name": names[0], "email": contacts[0]["email"]}
    elif not contacts:
        contacts = [{"name": name} for name in names]
    return contacts


def _project_url(metadata):
    home = (metadata.get("Home-page") or "").strip()
    if home.startswith(("https://", "http://")):
        return home
    labelled = {}
    for entry in metadata.get_all("Project-URL") or ():
        label, _, url = entry.partition(",")
        labelled.setdefault(label.strip().lower(), url.strip())
    for label in _URL_LABELS:
        if labelled.get(label, "").startswith(("https://", "http://")):
            return labelled[label]
    return None


def supplier(metadata):
    """The supplier of a Python package from its metadata: its maintainers, else its
    authors (name and e-mail), and its project URL; None when the metadata names none."""
    contacts = (_contacts(metadata.get("Maintainer"), metadata.get("Maintainer-email"))
                or _contacts(metadata.get("Author"), metadata.get("Author-email")))
    entity = {}
    names = [c.get("name") or c["email"] for c in contacts]
    if names:
        entity["name"] = ", ".join(names)
    url = _project_url(metadata)
    if url:
        entity["url"] = [url]
    if contacts:
        entity["contact"] = contacts
    return entity or None


def _key(name):
    return name.lower().replace("_", "-").replace(".", "-")


def add_suppliers(bom, distributions=None):
    """Set ``supplier`` on every PyPI component whose installed distribution (same name
    and version) names one."""
    if distributions is None:
        distributions = importlib.metadata.distributions()
    known = {}
    for dist in distributions:
        meta = dist.metadata
        if meta.get("Name"):
            known.setdefault((_key(meta["Name"]), meta.get("Version")), meta)
    for component in bom.get("components", []):
        if not component.get("purl", "").startswith("pkg:pypi/"):
            continue
        meta = known.get((_key(component["name"]), component.get("version")))
        entity = supplier(meta) if meta is not None else None
        if entity:
            component["supplier"] = entity
    return bom


def micropython_component(root=ROOT):
    """The interpreter the firmware is tested on, at the version ``package.json`` pins
    (which must be one version, and the one the lock file resolved)."""
    root = pathlib.Path(root)
    try:
        package = json.loads((root / MICROPYTHON_PACKAGE).read_text())
    except (OSError, ValueError) as exc:
        raise SbomError("%s cannot be read: %s" % (MICROPYTHON_PACKAGE, exc)) from None
    pin = str((package.get("dependencies") or {}).get(MICROPYTHON_NPM, ""))
    if not pin:
        raise SbomError("%s does not pin %s" % (MICROPYTHON_PACKAGE, MICROPYTHON_NPM))
    if not all(part.isdigit() for part in pin.split(".")):
        raise SbomError("%s pins %s as %r, not one version: the SBOM cannot say which "
                        "interpreter was tested" % (MICROPYTHON_PACKAGE, MICROPYTHON_NPM, pin))
    component = {
        "type": "platform", "bom-ref": MICROPYTHON_REF, "group": "@micropython",
        "name": "micropython-webassembly-pyscript", "version": pin,
        "purl": "pkg:npm/%%40micropython/micropython-webassembly-pyscript@%s" % pin,
        "description": "the MicroPython interpreter (official WebAssembly port, under "
                       "Node.js) that the firmware and its portable tests are tested on; on a "
                       "board, the board's own MicroPython build (1.22 or later) takes its "
                       "place",
        "supplier": {"name": "MicroPython", "url": ["https://micropython.org"]},
        "externalReferences": [{"type": "vcs",
                                "url": "https://github.com/micropython/micropython"}],
    }
    try:
        lock = json.loads((root / MICROPYTHON_LOCK).read_text())
    except (OSError, ValueError):
        lock = None
    if lock is not None:
        entry = (lock.get("packages") or {}).get("node_modules/" + MICROPYTHON_NPM, {})
        if entry.get("version") != pin:
            raise SbomError("%s pins %s %s but %s has %s" % (
                MICROPYTHON_PACKAGE, MICROPYTHON_NPM, pin, MICROPYTHON_LOCK,
                entry.get("version") or "nothing"))
        if entry.get("license"):
            component["licenses"] = [{"license": {"id": entry["license"]}}]
        integrity = str(entry.get("integrity", ""))
        if integrity.startswith("sha512-"):
            digest = base64.b64decode(integrity[len("sha512-"):]).hex()
            component["hashes"] = [{"alg": "SHA-512", "content": digest}]
    return component


def add_metadata(bom, version, now=None):
    """A BOM of this build: when it was made, by which tool, with a serial number."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    metadata = bom.setdefault("metadata", {})
    metadata["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata["lifecycles"] = [{"phase": "build"}]
    metadata["properties"] = [p for p in metadata.get("properties", [])
                              if p.get("name") != "cdx:reproducible"]
    if not metadata["properties"]:
        del metadata["properties"]
    tools = metadata.setdefault("tools", {}).setdefault("components", [])
    tools.append({"type": "application", "name": TOOL_NAME, "version": version,
                  "description": "the evidence build (tools/evidence): the host environment "
                                 "from cyclonedx-py, the firmware and its interpreter added, "
                                 "suppliers from package metadata"})
    bom["serialNumber"] = "urn:uuid:%s" % uuid.uuid4()
    return bom


def add_firmware(bom, version, imports, seams=None, interpreter=None):
    """Add the firmware component, which depends on the MicroPython interpreter alone
    (that dependency list marked complete), the interpreter, and the properties that say
    what the firmware runs on."""
    seams = CPYTHON_SEAMS if seams is None else seams
    interpreter = micropython_component() if interpreter is None else interpreter
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
                                                     "build supplies the interpreter); tested "
                                                     "on MicroPython %s, WebAssembly port"
                                                     % interpreter["version"]},
            {"name": PROPERTY + "interpreter-modules", "value": ", ".join(builtins)},
        ] + [{"name": PROPERTY + "cpython-only-seam", "value": "%s: %s" % (rel, why)}
             for rel, why in sorted(seams.items())],
    }
    bom.setdefault("components", [])[:0] = [component, interpreter]
    bom.setdefault("dependencies", [])[:0] = [
        {"ref": FIRMWARE_REF, "dependsOn": [MICROPYTHON_REF]},
        {"ref": MICROPYTHON_REF, "dependsOn": []}]
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
    try:
        interpreter = micropython_component()
    except SbomError as exc:
        problems.append("the SBOM cannot name the interpreter the firmware was tested on: %s"
                        % exc)
        interpreter = {"type": "platform", "bom-ref": MICROPYTHON_REF, "group": "@micropython",
                       "name": "micropython-webassembly-pyscript", "version": "unknown"}
    bom = add_firmware(host_bom(python), version, imports, interpreter=interpreter)
    add_suppliers(bom)
    add_metadata(bom, version)
    error = validate(bom) if check else None
    if error:
        problems.append("the SBOM is not valid CycloneDX 1.6: %s" % error)
    return bom, problems


def host_components(bom):
    """(name, version) of every PyPI component of the BOM."""
    return sorted((c["name"], c.get("version", "")) for c in bom.get("components", [])
                  if c.get("purl", "").startswith("pkg:pypi/"))
