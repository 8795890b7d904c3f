"""The security controls the design claims, grouped as a premarket submission asks for
them, each mapped to the control IDs that implement it (and so to their code and tests)
and to NIST SP 800-53 Rev. 5 controls.

Device class chosen for the mapping: an alternate controller enabled insulin pump, FDA
class II (21 CFR 880.5730) and EU MDR class IIb (Annex VIII, rule 12), a connected
device that can harm the patient directly, so the system is taken as moderate impact
(FIPS 199) and the controls named are those of SP 800-53 Rev. 5 that the design
implements for it, with their enhancements where the design goes further.
"""

DEVICE_CLASS = ("alternate controller enabled insulin pump: FDA class II (21 CFR 880.5730), "
                "EU MDR class IIb (rule 12); moderate impact (FIPS 199) for NIST SP 800-53 Rev. 5")

NIST_FAMILIES = {
    "AC": "Access Control", "AU": "Audit and Accountability",
    "CM": "Configuration Management", "IA": "Identification and Authentication",
    "SA": "System and Services Acquisition", "SC": "System and Communications Protection",
    "SI": "System and Information Integrity", "SR": "Supply Chain Risk Management",
}

# (area, what the design claims, control IDs, NIST SP 800-53 Rev. 5 controls)
AREAS = [
    ("Password and PIN policy",
     "PINs on the pump and the caregiver page's password follow a policy, are stored only "
     "as salted, stretched verifiers and cost growing delays when guessed",
     ("SC-PIN-LOCKOUT", "DC-PIN-HASH", "DC-WEB-PASSWORD", "DC-WEB-LOCKOUT"),
     ("IA-5", "IA-5(1)", "AC-7")),
    ("Authentication of every peer and person",
     "every peer authenticates with EDHOC against the pump's trust list and gets the role "
     "its credential has; nothing unprotected reaches a resource; people authenticate on "
     "the pump (PIN, a press) and on the page (password, optional TOTP, sessions)",
     ("SC-EDHOC-AUTH", "SC-UNPROTECTED-REFUSED", "SC-ROLE-MATRIX", "SC-REMOTE-BOLUS-OFF",
      "SC-CONFIRM-ON-PUMP", "SC-SESSION-BACKOFF", "DC-WEB-TOTP", "DC-WEB-SESSION"),
     ("IA-2", "IA-2(1)", "IA-3", "IA-8", "AC-3", "AC-6", "AC-12")),
    ("Encryption and key management",
     "OSCORE (AES-CCM) on every message; keys generated at provisioning, sealed under the "
     "device key, rotated, zeroized, recoverable through escrow; signing keys revocable",
     ("SC-OSCORE-AEAD", "DC-KEY-PROVISION", "DC-KEY-SEAL", "DC-KEY-ROTATE",
      "DC-KEY-ZEROIZE", "DC-KEY-ESCROW", "SC-IMAGE-SIGNATURE"),
     ("SC-8", "SC-12", "SC-13", "SC-28", "IA-5(2)")),
    ("Input validation at every interface",
     "frames, CoAP, EDHOC, OSCORE, the CBOR schema, images, CGM readings, settings and the "
     "page's forms are each validated before use",
     ("DC-FRAMING", "DC-PARSERS", "SC-SCHEMA", "IL-CGM-IMPLAUSIBLE", "IL-CGM-STALE",
      "IL-CALC-SETTINGS", "IL-UPDATE-IMAGE", "DC-WEB-SESSION"),
     ("SI-10", "SC-5")),
    ("Error handling and logging",
     "refusals are defined errors, counted and logged; the audit log is hash-chained, "
     "MAC'ed and checked at boot and by the gateway; clock changes are records; faults "
     "end in safe-stop; the gateway's copy is owner-only and survives crashes",
     ("SC-LOG-CHAIN", "IL-LOG-INTEGRITY", "DC-LOG-CLOCK", "SC-CLOCK-BOUND",
      "SM-CONTROLLER-FAULT", "DC-FAULT-CONTAINED", "DC-STORE-PRIVATE", "DC-STORE-DURABLE"),
     ("AU-2", "AU-3", "AU-8", "AU-9", "AU-9(3)", "SI-11", "SI-17")),
    ("Data protection at rest and in transit",
     "in transit every message is OSCORE; at rest keys and settings are sealed, the log is "
     "MAC'ed and the gateway's store is owner-only; the page listens on loopback",
     ("SC-OSCORE-AEAD", "DC-KEY-SEAL", "IL-SETTINGS-INTEGRITY", "SC-LOG-CHAIN",
      "DC-STORE-PRIVATE", "DC-WEB-LOOPBACK"),
     ("SC-8", "SC-8(1)", "SC-28", "SC-28(1)", "SC-7")),
    ("Software integrity and updates",
     "only signed, unrevoked, not older images run, after the patient's press, with a "
     "bounded pause, a test boot and revert, and a swap that survives power cuts",
     ("SC-IMAGE-SIGNATURE", "SC-IMAGE-ROLLBACK", "IL-UPDATE-IMAGE", "IL-UPDATE-CONSENT",
      "IL-UPDATE-BOLUS", "IL-UPDATE-SWAP", "DC-UPDATE-REVERT", "DC-UPDATE-POWERFAIL",
      "DC-UPDATE-RESUME"),
     ("SI-7", "SI-7(15)", "CM-14", "SI-2", "SA-10", "SR-4")),
]


def control_ids():
    """Every control ID the SDLC areas claim."""
    return sorted({cid for _area, _claim, ids, _nist in AREAS for cid in ids})


def families(nist_ids):
    return sorted({n.split("-")[0] for n in nist_ids})
