"""The SBOM is valid CycloneDX 1.6, lists the host dependencies from the environment with
their suppliers, names the MicroPython interpreter the firmware was tested on, and states,
from the firmware's own imports (direct or dynamic), that the firmware's code has no
third-party runtime code."""

import email.message
import json
import re
import tomllib

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from evidence_helpers import ROOT
from tools.evidence import sbom

RUNTIME = {"cryptography", "cbor2", "transitions", "pyserial"}


def test_the_sbom_is_valid_cyclonedx_with_host_dependencies_and_a_first_party_firmware():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    bom, problems = sbom.build(version, check=False)       # validated here instead
    assert problems == []
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None
    names = {name.lower() for name, _version in sbom.host_components(bom)}
    assert RUNTIME | {"pytm", "cyclonedx-bom", "pytest"} <= names
    firmware = [c for c in bom["components"] if c["type"] == "firmware"]
    assert [(c["bom-ref"], c["version"]) for c in firmware] == [(sbom.FIRMWARE_REF, version)]
    assert bom["metadata"]["component"]["name"] == "secure-insulin-pump"
    properties = {p["name"]: p["value"] for p in firmware[0]["properties"]}
    assert properties[sbom.PROPERTY + "third-party-runtime-code"] == "none"
    assert {"ref": sbom.FIRMWARE_REF, "dependsOn": [sbom.MICROPYTHON_REF]} in bom["dependencies"]
    assert {"aggregate": "complete", "dependencies": [sbom.FIRMWARE_REF]} in bom["compositions"]
    assert firmware[0]["hashes"] == [{"alg": "SHA-256", "content": sbom.firmware_digest()}]

    metadata = bom["metadata"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["timestamp"])
    assert bom["serialNumber"].startswith("urn:uuid:")
    tools = {t["name"]: t for t in metadata["tools"]["components"]}
    assert "cyclonedx-py" in tools and tools[sbom.TOOL_NAME]["version"] == version
    assert {"name": "cdx:reproducible", "value": "true"} not in metadata.get("properties", [])
    by_name = {c["name"].lower(): c for c in bom["components"]}
    assert by_name["cbor2"]["supplier"]["name"] == "Alex Gr\u00f6nholm"
    assert by_name["transitions"]["supplier"]["url"] == [
        "http://github.com/pytransitions/transitions"]

    pin = json.loads((ROOT / "tools" / "micropython" / "package.json").read_text())[
        "dependencies"]["@micropython/micropython-webassembly-pyscript"]
    [interpreter] = [c for c in bom["components"] if c["bom-ref"] == sbom.MICROPYTHON_REF]
    assert interpreter["type"] == "platform" and interpreter["version"] == pin
    assert interpreter["purl"] == "pkg:npm/%40micropython/micropython-webassembly-pyscript@" + pin
    assert {"ref": sbom.MICROPYTHON_REF, "dependsOn": []} in bom["dependencies"]


def _metadata(**fields):
    message = email.message.Message()
    for key, value in fields.items():
        message[key.replace("_", "-")] = value
    return message


def test_the_supplier_comes_from_the_maintainer_the_author_or_the_project_url():
    assert sbom.supplier(_metadata(Author="Ann Author", Author_email="ann@example.org",
                                   Maintainer_email="Max Maint <max@example.org>",
                                   Home_page="https://example.org/pkg")) == {
        "name": "Max Maint", "url": ["https://example.org/pkg"],
        "contact": [{"name": "Max Maint", "email": "max@example.org"}]}
    assert sbom.supplier(_metadata(Author="Ann Author", Author_email="ann@example.org")) == {
        "name": "Ann Author", "contact": [{"name": "Ann Author", "email": "ann@example.org"}]}
    assert sbom.supplier(_metadata(Project_URL="Source Code, https://example.org/src")) == {
        "url": ["https://example.org/src"]}
    assert sbom.supplier(_metadata(Summary="nothing about who")) is None


def test_the_interpreter_version_is_the_pinned_one_and_a_loose_pin_is_refused(tmp_path):
    folder = tmp_path / "tools" / "micropython"
    folder.mkdir(parents=True)
    package = folder / "package.json"
    package.write_text(json.dumps({"dependencies": {sbom.MICROPYTHON_NPM: "1.26.1"}}))
    assert sbom.micropython_component(tmp_path)["version"] == "1.26.1"
    package.write_text(json.dumps({"dependencies": {sbom.MICROPYTHON_NPM: "^1.27.0"}}))
    try:
        sbom.micropython_component(tmp_path)
    except sbom.SbomError as exc:
        assert str(exc) == ("tools/micropython/package.json pins %s as '^1.27.0', not one "
                            "version: the SBOM cannot say which interpreter was tested"
                            % sbom.MICROPYTHON_NPM)
    else:
        raise AssertionError("a loose pin was accepted")


def test_the_firmware_imports_only_first_party_and_micropython_modules():
    imports = sbom.firmware_imports()
    assert "pump/pump.py" in imports and "secure_channel/crypto.py" in imports
    assert sbom.third_party_problems(imports) == []
    seam = set().union(*(imports[rel] for rel in sbom.CPYTHON_SEAMS))
    assert {"cryptography", "transitions"} <= seam


def test_a_third_party_import_in_the_firmware_breaks_the_claim():
    imports = {"pump/pump.py": {"pump", "hashlib"}, "pump/new.py": {"requests", "gc"}}
    assert sbom.third_party_problems(imports) == [
        "firmware module pump/new.py imports requests, which is neither first-party nor "
        "built into MicroPython"]


def test_an_invalid_bom_is_reported():
    bad = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "components": [{"type": "not-a-type", "name": "x"}]}
    assert sbom.validate(bad).startswith("'not-a-type' is not one of")
    assert sbom.validate({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}) is None


DYNAMIC = """import importlib
from importlib import import_module

yaml = __import__("yaml")
adapters = importlib.import_module("requests.adapters")
numpy = import_module("numpy")
gc = __import__("gc")
name = "x" + "y"
anything = __import__(name)
"""


def test_a_dynamic_import_of_third_party_code_breaks_the_claim_like_a_direct_one(tmp_path):
    (tmp_path / "pump").mkdir()
    (tmp_path / "pump" / "dynamic.py").write_text(DYNAMIC)
    imports = sbom.firmware_imports(tmp_path)
    assert {"yaml", "requests", "numpy", "gc", "importlib"} <= imports["pump/dynamic.py"]
    assert sbom.third_party_problems(imports) == [
        "firmware module pump/dynamic.py imports a module whose name is computed at run time "
        "(line 9), which cannot be checked"] + [
        "firmware module pump/dynamic.py imports %s, which is neither first-party nor built "
        "into MicroPython" % name for name in ("importlib", "numpy", "requests", "yaml")]
