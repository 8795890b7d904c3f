"""The three plans a submission needs, each generated from the project's own data: the
controls and their latest results, the register's open risks, the SBOM and the
vulnerability check, the signed-update flow with its tests and power-cut coverage."""

import json
import pathlib
import tomllib

from tools.evidence import documents, render, scoring, trace

ROOT = pathlib.Path(__file__).resolve().parents[2]

UPDATE_STEPS = [
    ("Sign", "MCUboot-format image signed (Ed25519 or ECDSA P-256) with a version and a "
             "security counter (`pumpsim image sign`, interoperable with imgtool)",
     ("SC-IMAGE-SIGNATURE",)),
    ("Transfer", "the gateway sends the image in chunks over the secure channel after "
                 "announcing its SHA-256; the stager vets it with the bootloader's own checks "
                 "and drops it if refused; a cut link or a reboot resumes",
     ("IL-UPDATE-IMAGE", "DC-UPDATE-RESUME")),
    ("Consent", "the swap waits for the patient's press on the pump (5 min), never during "
                "a bolus or a pending suggestion",
     ("IL-UPDATE-CONSENT", "SC-CONFIRM-ON-PUMP", "IL-UPDATE-BOLUS")),
    ("Swap", "therapy pauses for the swap, bounded (resumed if the reset does not come); "
             "the A/B swap resumes after a power cut at any flash operation",
     ("IL-UPDATE-SWAP", "DC-UPDATE-POWERFAIL")),
    ("Boot", "the bootloader verifies signature, key revocation, hash and security counter "
             "again; the new image runs as a test boot and is reverted unless confirmed; the "
             "OTP counter rises only after confirmation",
     ("SC-IMAGE-SIGNATURE", "SC-IMAGE-ROLLBACK", "DC-UPDATE-REVERT")),
]


def _items(lines, numbered=False):
    """One Markdown list (no blank lines between its items)."""
    marks = ["%d." % n for n in range(1, len(lines) + 1)] if numbered else ["-"] * len(lines)
    return "\n".join("%s %s" % (mark, line) for mark, line in zip(marks, lines)) + "\n"


def _tests_line(cids, links):
    by_control = trace.tests_by_control(links)
    tests = {node: outcome for cid in cids for node, outcome in by_control.get(cid, [])}
    passed = sum(1 for o in tests.values() if o == trace.PASSED)
    return "%d/%d passed" % (passed, len(tests))


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _micropython_port():
    package = json.loads((ROOT / "tools" / "micropython" / "package.json").read_text())
    return ", ".join("%s %s" % kv for kv in package.get("dependencies", {}).items())


def _campaign_lines(results):
    secure = [r for r in results if r.get("profile") == "secure"]
    expected = sum(1 for r in results if r.get("matches"))
    lines = ["%d runs (%d scenarios x %d profiles), %d as expected"
             % (len(results), len({r.get("scenario") for r in results}),
                len({r.get("profile") for r in results}), expected)]
    through = sorted({r["scenario"] for r in secure if r.get("verdict") == "succeeded"})
    unsafe = sorted({r["scenario"] for r in secure if r.get("unsafe")})
    lines.append("not stopped in the secure profile (as the register records): %s"
                 % (", ".join(through) or "none"))
    lines.append("unsafe in the secure profile: %s" % (", ".join(unsafe) or "none"))
    return lines


def campaign_scope(results):
    """``12 runs; patients adult#001, child#001; seeds 1, 2``: what the campaign covered."""
    patients = sorted({str(r.get("patient")) for r in results})
    seeds = sorted({r.get("seed") for r in results}, key=str)
    return "%d runs; patients %s; seeds %s" % (len(results), ", ".join(patients) or "none",
                                              ", ".join(str(s) for s in seeds) or "none")


def unsafe_rows(register, results):
    """A row per run the lab judged unsafe in the secure profile, with the risk that names
    its scenario and what the register does about it."""
    risks_of = {}
    for risk in register:
        for name in risk.scenarios:
            risks_of.setdefault(name, []).append(risk)
    rows = []
    for name in sorted({r.get("scenario") for r in results}, key=str):
        for run in trace.unsafe_secure_runs(results, name):
            outcome = run.get("outcome") or {}
            low = outcome.get("min_glucose_mg_dl")
            named = risks_of.get(name, [])
            rows.append([name, run.get("patient"), run.get("seed"),
                         "%.1f mg/dL" % low if isinstance(low, (int, float)) else "-",
                         outcome.get("below_54_min", "-"),
                         "yes: %s" % run["ended"] if run.get("ended") else "no",
                         ", ".join(r.id for r in named) or "NO RISK NAMES IT",
                         ", ".join(str(r.residual or "not scored") for r in named) or "-",
                         "; ".join(r.action or "NO ACTION" for r in named) or "-"])
    return rows


def cybersecurity_management(model, register, catalogue, links, results, vulns, counts):
    kinds = {}
    for control in catalogue.values():
        kinds[control.kind] = kinds.get(control.kind, 0) + 1
    open_rows = [[r.id, r.title, r.residual or "not scored",
                  documents.lab_cell(r, results), r.action or r.rationale]
                 for r in register if r.residual != scoring.ACCEPTABLE]
    unsafe = unsafe_rows(register, results)
    out = ["# Cybersecurity management plan\n", documents.GENERATED + "\n",
           "## Scope\n",
           "The system of the threat model (`threat-model.md`): %d elements in %d trust "
           "boundaries (%s), %d data flows, %d assets. The hospital service is planned and "
           "out of scope until it is modelled.\n" % (
               len(model.elements), len(model.boundaries),
               ", ".join(b.name for b in model.boundaries), len(model.flows), len(model.data)),
           "## Risk management\n",
           "Hazards and threats are scored in one register (`risk-register.md`): severity "
           "with probability (hazards) or CVSS v3.1 exploitability (threats), acceptable up "
           "to 5, ALARP to 10. Now: %d risks (%d hazards, %d threats). A new threat is added "
           "to `tools/evidence/threats.py`; a new element or flow to the model; the build "
           "fails until each risk has controls that exist in the code and have passing "
           "tests.\n" % (counts["risks"], counts["hazards"], counts["threats"]),
           "Risks not reduced to acceptable, with the reason or what is being done:\n",
           render.md_table(["risk", "what", "residual", "attack lab (secure profile)",
                            "rationale or action"], open_rows),
           "\n## Unsafe in the secure profile\n",
           "Every run of the campaign behind this plan (%s) that the attack lab judged "
           "unsafe for the patient although the controls were in place, with the risk that "
           "names the scenario and the action it records. A shorter campaign covers fewer "
           "patients: run the full one (`--patients 3 --seeds 2`) before a release.\n"
           % campaign_scope(results),
           render.md_table(["scenario", "patient", "seed", "lowest glucose",
                            "minutes below 54 mg/dL", "day ended early", "risk", "residual",
                            "action"], unsafe) if unsafe else
           "None: no run was unsafe in the secure profile.\n",
           "\n## Controls and their verification\n",
           "%d controls in the code (%s); each is linked by `@pytest.mark.verifies` to the "
           "tests that verify it: %d linked test cases, latest run %d passed, %d not. The "
           "attack lab replays published attacks against both profiles: %s.\n" % (
               len(catalogue), ", ".join("%d %ss" % (n, k) for k, n in sorted(kinds.items())),
               counts["tests"], counts["tests_passed"], counts["tests_failed"],
               "; ".join(_campaign_lines(results))),
           "## Monitoring\n",
           _items([
               "Every `make evidence` regenerates the SBOM (`sbom.cdx.json`) and runs the "
               "dependency check. Latest: %s." % vulns.summary(),
               "Security events on the pump (refusals by stable name, counted, in the "
               "hash-chained audit log) reach the gateway's store with every log page; the "
               "gateway adds its own (chain diverged, clock step refused) and the caregiver "
               "page shows them."]),
           "## Incident response, from the mechanisms the design has\n",
           _items([
               "A stolen peer key (gateway, clinician, phone): re-provision the pump's trust "
               "list without it and the peer with a new identity (`pumpsim keys`, "
               "`secure_channel/sessions/trust.py`, DC-KEY-PROVISION); until then its role "
               "bounds it (SC-ROLE-MATRIX; T-STOLEN-GATEWAY-KEY, T-STOLEN-CLINICIAN-KEY).",
               "A leaked signing key: burn its OTP revocation bit and sign with the next "
               "provisioned key (SC-IMAGE-SIGNATURE; `tests/bootloader/test_boot.py::"
               "test_refuses_revoked_key_and_accepts_the_next_key`).",
               "A vulnerable or compromised image: ship a fixed image with a higher security "
               "counter, so the bad one can never boot again (SC-IMAGE-ROLLBACK), through the "
               "update-validation plan.",
               "A compromised device: zeroize the key store (DC-KEY-ZEROIZE) and restore from "
               "escrow to a new board (DC-KEY-ESCROW)."])]
    return "\n".join(out)


def software_maintenance(sbom_counts, vulns, counts):
    project = pyproject()
    runtime = project["project"]["dependencies"]
    test = project["project"]["optional-dependencies"]["test"]
    out = ["# Software maintenance plan\n", documents.GENERATED + "\n",
           "## What is maintained\n",
           _items([
               "Firmware (`hal/`, `pump/`, `secure_channel/`, `bootloader/`): first-party "
               "code only on MicroPython (checked from its imports; SBOM component "
               "`firmware`, SHA-256 %s...). Its platform is the MicroPython interpreter; the "
               "tests run it under %s." % (sbom_counts["firmware_digest"][:16],
                                           _micropython_port()),
               "Host tools (`sim/`, `tools/`): %d components in the SBOM. Runtime "
               "dependencies: %s. Test, interoperability and evidence tools: %s."
               % (sbom_counts["host"], ", ".join(runtime), ", ".join(test))]),
           "## Vulnerability monitoring\n",
           "Each `make evidence` checks every host component against published advisories "
           "(pip-audit with PyPI and OSV, and PyPI's own advisory data for components at "
           "their latest release). A component no source answered for is listed as not "
           "checked; the check never reads as clean for it. Latest: **%s**.\n"
           % vulns.summary(),
           "When the check is not performed or partial:\n",
           _items([
               "Run `make evidence` where OSV (`api.osv.dev`) or PyPI's per-release JSON API "
               "answers, or run `.venv/bin/pip-audit --strict -s osv` there; the report must "
               "read \"performed\".",
               "For each component still listed as not checked, look up its installed "
               "version in the PyPA advisory database (github.com/pypa/advisory-database), or "
               "upgrade it to the latest release and run `make evidence` again.",
               "Record a decision for every finding in "
               "`tools/evidence/vulnerability_decisions.py` (not affected / fix scheduled / "
               "accepted, with why); the build fails while a finding has none."],
               numbered=True),
           "A finding in a host runtime dependency on a data flow of the threat model (the "
           "gateway's channel, store and web page) is fixed in the next release, and by an "
           "update at once when it lets an attacker reach the pump through the gateway. The "
           "firmware has no third-party code: a defect in it is a risk in the register.\n",
           "## Regression before every release\n",
           _items([
               "`make test`: the whole suite with the bounded hypothesis profile, then the "
               "portable tests under MicroPython; `make deep-test` for the long profile.",
               "`make evidence`: the %d test cases linked to the %d controls (latest: %d "
               "passed, %d not) and the attack-lab campaign (%d runs, %d as expected)."
               % (counts["tests"], counts["controls"], counts["tests_passed"],
                  counts["tests_failed"], counts["scenario_runs"],
                  counts["scenario_expected"]),
               "A dependency is upgraded on its own change, with the interoperability tests "
               "against the independent implementations (aiocoap, lakers-python, imgtool, "
               "cbor2, simglucose) passing."])]
    return "\n".join(out)


def update_validation(links, results, powercut_lines):
    rows = [[step, what, ", ".join(cids), _tests_line(cids, links)]
            for step, what, cids in UPDATE_STEPS]
    images = [r for r in results if r.get("scenario", "").startswith("image-")
              or r.get("scenario") == "rogue-update"]
    image_rows = [[r["scenario"], r["profile"], r["verdict"], r["expected"],
                   ", ".join(r.get("controls", [])) or "-"] for r in images]
    out = ["# Update validation plan\n", documents.GENERATED + "\n",
           "How a software update or patch is validated before it reaches a patient, and what "
           "every build shows about the mechanism that delivers it.\n",
           "## The signed-update flow and its verification\n",
           render.md_table(["step", "what happens", "controls", "linked tests (latest)"],
                           rows),
           "\n## Power-cut coverage (latest run)\n",
           _items(powercut_lines or ["not reported: the power-cut tests did not run"]),
           "## Malicious images in the attack lab (latest campaign)\n",
           "Controls named: in the secure profile what refused the attacker; in the legacy "
           "profile the alarms the attack raised.\n",
           render.md_table(["scenario", "profile", "verdict", "expected", "controls named"],
                           image_rows) if image_rows else "none run\n",
           "\n## Release criteria for an update\n",
           _items([
               "`make test` and `make evidence` pass on the release commit: every test above "
               "passed, every power-cut point recovered, every image scenario blocked in the "
               "secure profile.",
               "The image is signed with a provisioned, unrevoked key; its security counter "
               "is raised when it fixes a vulnerability, so the vulnerable image can never "
               "boot again after confirmation.",
               "`pumpsim image verify` passes on the signed file, and the imgtool "
               "interoperability tests pass (`tests/bootloader/test_imgtool_interop.py`).",
               "A simulated day with the update (`pumpsim run --scenario "
               "sim/scenarios/update.toml`) keeps basal within the bounded pause."],
               numbered=True)]
    return "\n".join(out)
