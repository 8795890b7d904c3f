"""The SBOM is valid CycloneDX 1.6, lists the host dependencies from the environment and
states, from the firmware's own imports, that the firmware has no third-party runtime
code."""

import json
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
    assert {"ref": sbom.FIRMWARE_REF, "dependsOn": []} in bom["dependencies"]
    assert {"aggregate": "complete", "dependencies": [sbom.FIRMWARE_REF]} in bom["compositions"]
    assert firmware[0]["hashes"] == [{"alg": "SHA-256", "content": sbom.firmware_digest()}]


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
