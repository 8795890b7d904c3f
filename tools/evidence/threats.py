"""The threat library: STRIDE threats to the pump and its peers, each a pytm threat
whose condition selects the elements of the data-flow model (threat_model.py) it applies
to, with the hazards it can cause, its exploitability before and after the controls
(CVSS v3.1 vectors, scoring.py), the controls that mitigate it and the attack-lab
scenarios that exercise it.

"Before" scores the attack against the design without these controls (what the legacy
profile of the attack lab is); "after" scores what an attacker still needs once they are
in place. A threat whose residual risk is not acceptable says what remains to be done.
"""

# Asset and element names shared with threat_model.py (conditions refer to them).
DOSE = "Dose command"
SETTINGS = "Therapy settings"
CGM = "CGM reading"
TELEMETRY = "Therapy telemetry"
LOG = "Audit log"
IMAGE = "Firmware image"
KEYS = "Keys and credentials"
SIGNING_KEY = "Image signing key"
TIME = "Wall-clock time"
PIN = "PIN"
PRESS = "Confirmation press"
WEB_LOGIN = "Caregiver password and TOTP code"
WEB_SESSION = "Web session cookie"
CHANNEL = "Secure channel"
GATEWAY = "Home gateway service"
CLINICIAN_TOOL = "Clinician tool"
PUMP_BOUNDARY = "Pump"

_CROSSES = "target.source.inBoundary is not target.sink.inBoundary"


def _carries(*names):
    return "(" + " or ".join("%r in target.data" % name for name in names) + ")"


def _into_channel(*names):
    condition = "target.sink.name == %r and %s" % (CHANNEL, _CROSSES)
    return condition + (" and " + _carries(*names) if names else "")


def _from(source, *names):
    return "target.source.name == %r and %s and %s" % (source, _into_channel(), _carries(*names))


class Threat:
    """One STRIDE threat of the library."""

    def __init__(self, tid, stride, title, target, condition, hazards, severity, before,
                 after, controls, scenarios=(), rationale="", action=""):
        self.id = tid
        self.stride = stride
        self.title = title
        self.target = target
        self.condition = condition
        self.hazards = tuple(hazards)
        self.severity = severity
        self.before = before
        self.after = after
        self.controls = tuple(controls)
        self.scenarios = tuple(scenarios)
        self.rationale = rationale
        self.action = action


NEEDS_KEY = ("after the controls the attacker needs a private key the pump trusts, which "
             "is sealed in the pump or held by a peer (see the stolen-key threats)")

THREATS = [
    Threat("T-SPOOF-COMMAND", "S", "An outsider in radio range sends therapy commands as a "
           "trusted peer", "Dataflow", _into_channel(DOSE, SETTINGS),
           ("H-OVERDOSE", "H-UNDERDOSE"), 5, "AV:A/AC:L/PR:N/UI:N", "AV:L/AC:H/PR:H/UI:N",
           ("SC-EDHOC-AUTH", "SC-UNPROTECTED-REFUSED", "SC-OSCORE-AEAD", "SC-CONFIRM-ON-PUMP",
            "SC-REMOTE-BOLUS-OFF"), ("forged-bolus", "settings-change"), NEEDS_KEY),
    Threat("T-REPLAY-COMMAND", "ST", "A recorded command is sent again", "Dataflow",
           _into_channel(DOSE), ("H-REPLAY", "H-OVERDOSE"), 5, "AV:A/AC:L/PR:N/UI:N",
           "AV:L/AC:H/PR:H/UI:N",
           ("SC-OSCORE-REPLAY", "SC-EDHOC-AUTH", "IL-DUPLICATE-CMD", "IL-CMD-STALE",
            "IL-CMD-RATE"), ("replayed-bolus",),
           "a replay is refused by the OSCORE window and the command-id record, across reboots"),
    Threat("T-DELAY-COMMAND", "T", "Frames are held back and released late", "Dataflow",
           _into_channel(DOSE, CGM), ("H-REPLAY", "H-CGM-INPUT"), 4, "AV:A/AC:L/PR:N/UI:N",
           "AV:A/AC:H/PR:H/UI:N",
           ("SC-ECHO-FRESH", "IL-CMD-STALE", "IL-CGM-STALE", "IL-CGM-URGENT-LOW"),
           ("delayed-command",), "a late command needs a fresh Echo (SC-ECHO-FRESH); readings "
           "carry their time and a late one is refused (IL-CGM-STALE), so while readings are "
           "held back the pump has none, and a low that develops meanwhile is alerted once "
           "they resume (IL-CGM-URGENT-LOW, seen for child#001 in the full campaign)"),
    Threat("T-MODIFY-IN-FLIGHT", "T", "Messages are changed on the link", "Dataflow",
           _into_channel(), ("H-CGM-INPUT", "H-OVERDOSE"), 5, "AV:A/AC:L/PR:N/UI:N",
           "AV:L/AC:H/PR:H/UI:N",
           ("SC-OSCORE-AEAD", "SC-SESSION-BACKOFF", "DC-FRAMING", "IL-CGM-LOST"),
           ("modify-in-flight",), "a changed message fails its tag; the frames lost are "
           "the gateway's, and the pump resumes basal when readings stop"),
    Threat("T-EAVESDROP", "I", "Therapy data is read on the link or the caregiver page",
           "Dataflow", _CROSSES + " and " + _carries(TELEMETRY), (), 2,
           "AV:A/AC:L/PR:N/UI:N", "AV:L/AC:H/PR:H/UI:N",
           ("SC-OSCORE-AEAD", "DC-WEB-LOOPBACK", "DC-WEB-SESSION"), ("eavesdrop",),
           "health data confidentiality; the page is on loopback behind a login"),
    Threat("T-CGM-SPOOF", "ST", "Forged or altered glucose readings reach the pump",
           "Dataflow", _CROSSES + " and " + _carries(CGM),
           ("H-CGM-INPUT", "H-HYPO-BASAL", "H-OVERDOSE"), 4, "AV:A/AC:L/PR:N/UI:N",
           "AV:A/AC:H/PR:L/UI:N",
           ("SC-EDHOC-AUTH", "SC-UNPROTECTED-REFUSED", "SC-OSCORE-AEAD", "IL-CGM-IMPLAUSIBLE",
            "IL-CGM-STALE", "IL-CGM-ORDER", "IL-PLGS-LIMIT", "IL-CALC-BG-RANGE",
            "IL-CALC-BG-STALE"),
           ("cgm-spoof-high",), "the sensor's own radio is outside the pump's control; "
           "readings moved no faster than physiology still pass, so the bounds on what a "
           "reading can do (suspend time, correction) carry the residual risk",
           "authenticate readings end to end from the sensor when the sensor's protocol "
           "allows it; until then the pump's bounds on what a reading can do apply"),
    Threat("T-ROGUE-IMAGE", "TE", "An unsigned, wrongly signed or tampered image is "
           "installed", "Dataflow", _CROSSES + " and " + _carries(IMAGE),
           ("H-UPDATE", "H-OVERDOSE"), 5, "AV:A/AC:L/PR:N/UI:N", "AV:N/AC:H/PR:H/UI:R",
           ("SC-IMAGE-SIGNATURE", "IL-UPDATE-IMAGE", "IL-UPDATE-CONSENT", "SC-CONFIRM-ON-PUMP",
            "SC-EDHOC-AUTH", "SC-UNPROTECTED-REFUSED"),
           ("rogue-update", "image-unsigned", "image-wrong-key", "image-tampered",
            "image-revoked-key"),
           "an image runs only signed by a provisioned, unrevoked key and after the "
           "patient's press"),
    Threat("T-IMAGE-DOWNGRADE", "T", "An older, correctly signed image is installed",
           "Dataflow", _CROSSES + " and " + _carries(IMAGE), ("H-UPDATE",), 4,
           "AV:A/AC:L/PR:N/UI:N", "AV:N/AC:H/PR:H/UI:R",
           ("SC-IMAGE-ROLLBACK", "IL-UPDATE-IMAGE", "DC-UPDATE-REVERT"), ("image-downgrade",),
           "the OTP security counter and the version policy refuse an older image"),
    Threat("T-UPDATE-DISRUPTION", "D", "A swap or transfer cut by a power failure or a "
           "lost link leaves the pump without therapy", "Dataflow",
           "target.sink.inBoundary is not None and target.sink.inBoundary.name == %r and %s"
           % (PUMP_BOUNDARY, _carries(IMAGE)),
           ("H-UPDATE", "H-THERAPY-LOSS"), 4, "AV:P/AC:L/PR:N/UI:N", "AV:P/AC:H/PR:N/UI:N",
           ("IL-UPDATE-SWAP", "IL-UPDATE-BOLUS", "IL-UPDATE-CONSENT", "DC-UPDATE-POWERFAIL",
            "DC-UPDATE-RESUME", "DC-UPDATE-REVERT"), (),
           "every flash operation of the swap is cut in the tests; the pause is bounded"),
    Threat("T-CLOCK-TAMPER", "T", "The pump's wall clock is moved to reopen limits",
           "Dataflow", _CROSSES + " and " + _carries(TIME), ("H-TIMING", "H-OVERDOSE"), 4,
           "AV:A/AC:L/PR:N/UI:N", "AV:L/AC:H/PR:H/UI:N",
           ("SC-CLOCK-BOUND", "SC-EDHOC-AUTH", "SC-UNPROTECTED-REFUSED", "IL-CLOCK-JUMP",
            "IL-CLOCK-MONOTONIC", "DC-LOG-CLOCK"), ("clock-tamper",),
           "limits run on monotonic ticks; clock steps are bounded and logged"),
    Threat("T-JAM", "D", "The radio link is jammed", "Dataflow", _into_channel(),
           ("H-CGM-INPUT", "H-THERAPY-LOSS"), 2, "AV:A/AC:L/PR:N/UI:N",
           "AV:A/AC:L/PR:N/UI:N", ("IL-CGM-LOST", "IL-NO-DELIVERY"), ("link-jam",),
           "no radio design prevents jamming; the pump goes on alone with its program and "
           "its own alarms, and a hold on lost readings ends"),
    Threat("T-FLOOD", "D", "A flood of handshakes or garbage drains the battery or the "
           "controller's time", "Dataflow", _into_channel(), ("H-POWER", "H-TIMING"), 2,
           "AV:A/AC:L/PR:N/UI:N", "AV:A/AC:L/PR:N/UI:N",
           ("SC-SESSION-BACKOFF", "SC-UNPROTECTED-REFUSED", "IL-BATTERY-LOW",
            "IL-BATTERY-CRITICAL"), ("flood",),
           "refusals cost no curve or AEAD operation during back-off; therapy keeps its "
           "time; the battery cost of received frames is warned, not prevented"),
    Threat("T-FUZZ", "TD", "Malformed frames and messages try to crash or confuse the "
           "parsers", "Dataflow", _into_channel(), ("H-SOFTWARE",), 3,
           "AV:A/AC:L/PR:N/UI:N", "AV:A/AC:H/PR:N/UI:N",
           ("SC-SCHEMA", "DC-PARSERS", "DC-FRAMING", "DC-FAULT-CONTAINED",
            "SM-CONTROLLER-FAULT", "SC-EDHOC-AUTH", "SC-OSCORE-AEAD", "SC-UNPROTECTED-REFUSED",
            "SC-SESSION-BACKOFF"), ("fuzz",),
           "every parser is fuzzed; an unknown defect remains possible, but the safety "
           "monitor alone holds the motor, so the worst credible harm is a safe-stop "
           "with an alarm (serious), not an overdose"),
    Threat("T-STOLEN-GATEWAY-KEY", "E", "A stolen gateway key is used to bolus or change "
           "settings", "Dataflow", _from(GATEWAY, DOSE), ("H-OVERDOSE",), 5,
           "AV:A/AC:L/PR:L/UI:N", "AV:A/AC:H/PR:H/UI:R",
           ("SC-ROLE-MATRIX", "SC-CONFIRM-ON-PUMP", "SC-EDHOC-AUTH"), ("stolen-gateway-bolus",),
           "the gateway's role may not bolus or change settings"),
    Threat("T-COMPROMISED-GATEWAY", "E", "A compromised gateway sends what a gateway may: "
           "suspends, temporary basals, readings", "Dataflow", _from(GATEWAY, DOSE, CGM),
           ("H-THERAPY-LOSS", "H-OVERDOSE", "H-CGM-INPUT"), 4, "AV:N/AC:L/PR:L/UI:N",
           "AV:N/AC:L/PR:H/UI:N",
           ("SC-ROLE-MATRIX", "IL-NO-DELIVERY", "IL-SUSPEND-MAX", "IL-TEMP-BASAL-MAX",
            "IL-IOB-MAX", "IL-ROLLING-1H", "IL-ROLLING-24H", "IL-PLGS-LIMIT",
            "IL-CGM-IMPLAUSIBLE", "IL-CGM-URGENT-LOW"),
           ("gateway-suspend", "gateway-temp-basal", "cgm-spoof-gateway"),
           "the gateway's role cannot bolus or change settings (SC-ROLE-MATRIX) and suspends "
           "are bounded (IL-SUSPEND-MAX, IL-NO-DELIVERY); but two of its scenarios are unsafe "
           "in the attack lab's secure profile: temporary basals one after another, each "
           "within IL-TEMP-BASAL-MAX and IL-IOB-MAX, drive glucose below 54 mg/dL "
           "(gateway-temp-basal, adult#001 down to 48 mg/dL in the full campaign), and "
           "readings spoofed 40 mg/dL low, believed because they come authenticated and "
           "plausible (IL-CGM-IMPLAUSIBLE passes them), kept a child below 54 mg/dL longer "
           "than without the attack (cgm-spoof-gateway, child#001 down to 50 mg/dL); "
           "IL-CGM-URGENT-LOW alerts, it does not prevent",
           "add a bound on the insulin a gateway may add over hours (temporary basals in "
           "sequence), and find out why spoofed low readings lengthen a child's low "
           "(cgm-spoof-gateway) and bound what relayed readings can do to the low-glucose "
           "hold; until then the gateway host is hardened and monitored"),
    Threat("T-STOLEN-CLINICIAN-KEY", "SE", "A stolen clinician key changes the basal "
           "program", "Dataflow", _from(CLINICIAN_TOOL, SETTINGS), ("H-OVERDOSE",), 5,
           "AV:A/AC:L/PR:L/UI:N", "AV:A/AC:L/PR:H/UI:N",
           ("SC-REMOTE-BOLUS-OFF", "SC-CONFIRM-ON-PUMP", "IL-BASAL-MAX", "IL-ROLLING-24H",
            "IL-PLGS-LIMIT", "IL-CGM-URGENT-LOW", "IL-CGM-LOST", "SC-EDHOC-AUTH"),
           ("stolen-clinician",),
           "boluses are stopped (SC-REMOTE-BOLUS-OFF) and a second, higher program is refused "
           "(IL-ROLLING-24H), but a basal program within the limits (IL-BASAL-MAX) is taken: "
           "the attack lab's secure profile is unsafe for every patient, and for child#001 "
           "the day ends in fatal hypoglycaemia in the patient model (9.4 mg/dL in the full "
           "campaign), hence severity 5. IL-CGM-URGENT-LOW alerts and does not prevent it; "
           "worse, once the sensor reads below its range (39 mg/dL) those readings are "
           "refused as implausible, and IL-CGM-LOST ends the low-glucose hold and resumes "
           "the attacker's basal into the low. The residual score rests on the key being "
           "hard to steal (PR:H); once it is stolen, the harm is catastrophic",
           "demand the clinician PIN on the pump (pump/pin.py authorize_clinician_settings) "
           "for settings sent over the channel; revoke a stolen key from the trust list; "
           "keep the low-glucose hold when the readings that stopped were below the "
           "sensor's range, instead of resuming basal (IL-CGM-LOST, pump/plgs.py)"),
    Threat("T-PIN-GUESS", "S", "PINs are guessed on the pump's buttons", "Dataflow",
           _carries(PIN), ("H-OVERDOSE",), 4, "AV:P/AC:L/PR:N/UI:N", "AV:P/AC:H/PR:N/UI:N",
           ("SC-PIN-LOCKOUT", "DC-PIN-HASH"), ("pin-brute-force",),
           "guesses cost a doubling delay kept across power cuts; trivial PINs are refused"),
    Threat("T-WEB-LOGIN", "S", "The caregiver page's password is guessed or reused",
           "Dataflow", _carries(WEB_LOGIN), (), 2, "AV:N/AC:L/PR:N/UI:N",
           "AV:L/AC:H/PR:N/UI:N",
           ("DC-WEB-PASSWORD", "DC-WEB-LOCKOUT", "DC-WEB-TOTP", "DC-WEB-LOOPBACK"), (),
           "the page shows data and changes nothing on the pump"),
    Threat("T-WEB-SESSION", "SE", "A caregiver session is hijacked or forged (CSRF, DNS "
           "rebinding, stolen cookie)", "Dataflow", _carries(WEB_SESSION), (), 2,
           "AV:N/AC:L/PR:N/UI:R", "AV:L/AC:H/PR:N/UI:R", ("DC-WEB-SESSION", "DC-WEB-LOOPBACK"),
           (), "the page shows data and changes nothing on the pump"),
    Threat("T-LOG-TAMPER", "TR", "Audit records are edited, deleted or truncated", "Datastore",
           _carries(LOG), ("H-TAMPER", "H-HISTORY-LOSS"), 4, "AV:P/AC:L/PR:N/UI:N",
           "AV:P/AC:H/PR:H/UI:N",
           ("SC-LOG-CHAIN", "IL-LOG-INTEGRITY", "DC-STORE-DURABLE", "DC-STORE-PRIVATE"), (),
           "the chain and MAC are checked at boot and by the gateway on every page"),
    Threat("T-HISTORY-ROLLBACK", "T", "The pump's flash is erased or restored from an older "
           "copy to forget doses", "Datastore",
           "target.inBoundary is not None and target.inBoundary.name == %r and %s"
           % (PUMP_BOUNDARY, _carries(LOG)), ("H-HISTORY-LOSS", "H-OVERDOSE"), 5,
           "AV:P/AC:L/PR:N/UI:N", "AV:P/AC:H/PR:H/UI:N",
           ("IL-LOG-INTEGRITY", "IL-HISTORY-UNKNOWN", "SC-LOG-CHAIN"), (),
           "the log's head is anchored where an erase cannot restore it; unknown history "
           "counts as full"),
    Threat("T-SETTINGS-TAMPER", "T", "Limits or the basal program are altered in flash",
           "Datastore", "target.inBoundary is not None and target.inBoundary.name == %r and %s"
           % (PUMP_BOUNDARY, _carries(SETTINGS)), ("H-TAMPER", "H-OVERDOSE"), 5,
           "AV:P/AC:L/PR:N/UI:N", "AV:P/AC:H/PR:H/UI:N",
           ("IL-SETTINGS-INTEGRITY", "DC-KEY-SEAL"), (),
           "settings are sealed; a failed tag is a safe-stop, never a silent default"),
    Threat("T-KEY-EXTRACTION", "I", "Private keys are read from a device or a key file",
           "Datastore", _carries(KEYS), ("H-OVERDOSE",), 4, "AV:L/AC:L/PR:N/UI:N",
           "AV:L/AC:H/PR:H/UI:N",
           ("DC-KEY-SEAL", "DC-KEY-PROVISION", "DC-KEY-ROTATE", "DC-KEY-ZEROIZE",
            "DC-KEY-ESCROW"), (),
           "keys are sealed on the pump and owner-only on hosts; a stolen key is the "
           "stolen-key threats"),
    Threat("T-SIGNING-KEY-LEAK", "SE", "The image signing key leaks", "Datastore",
           _carries(SIGNING_KEY), ("H-UPDATE", "H-OVERDOSE"), 5, "AV:N/AC:L/PR:L/UI:N",
           "AV:N/AC:H/PR:H/UI:R",
           ("SC-IMAGE-SIGNATURE", "IL-UPDATE-CONSENT", "SC-IMAGE-ROLLBACK"),
           ("image-revoked-key",),
           "a leaked key is revoked by an OTP bit and its images never run again; an "
           "install still needs the patient's press"),
    Threat("T-STORE-DISCLOSURE", "I", "The gateway's store is read by another user or "
           "program", "Datastore", "target.storesPII is True", (), 2, "AV:L/AC:L/PR:L/UI:N",
           "AV:L/AC:H/PR:H/UI:N", ("DC-STORE-PRIVATE", "DC-WEB-SESSION"), (),
           "owner-only files; the page needs a login"),
]

BY_ID = {threat.id: threat for threat in THREATS}


def pytm_threats(library=None):
    """The library in pytm's threats.json format."""
    out = []
    for threat in THREATS if library is None else library:
        out.append({
            "SID": threat.id, "target": [threat.target], "description": threat.title,
            "details": "STRIDE %s; hazards: %s" % (threat.stride, ", ".join(threat.hazards)
                                                  or "none (privacy)"),
            "Likelihood Of Attack": "CVSS exploitability %s" % threat.before,
            "severity": str(threat.severity), "condition": threat.condition,
            "mitigations": ", ".join(threat.controls), "prerequisites": "",
            "example": ", ".join(threat.scenarios), "references": "",
        })
    return out
