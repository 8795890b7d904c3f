"""The risk register: the pump's hazards (ISO 14971, from the hazard table) and the
threats the threat model found (security), scored the same way, each with the controls
that mitigate it and its residual risk.

A hazard's controls are the interlocks the hazard table links to it (read from
``pump.hazards``, not repeated here) plus the security and design controls listed below
for the hazards an attacker can cause; a threat's are in threats.py. Safety and security
meet in both directions: a threat names the hazards it leads to, and those hazards list
the security controls that stand in front of their interlocks.
"""

from pump import hazards as hazard_table
from tools.evidence import scoring

# hazard id: (severity, probability before, probability after, security/design controls)
HAZARD_SCORES = {
    "H-OVERDOSE": (5, 4, 2, ("SC-ROLE-MATRIX", "SC-CONFIRM-ON-PUMP", "SC-REMOTE-BOLUS-OFF")),
    "H-UNDERDOSE": (4, 4, 2, ()),
    "H-STACKING": (4, 4, 1, ()),
    "H-OCCLUSION": (4, 3, 1, ()),
    "H-RESERVOIR": (3, 4, 1, ()),
    "H-POWER": (3, 3, 1, ()),
    "H-RUNAWAY": (5, 2, 1, ()),
    "H-MOTOR-STALL": (3, 3, 1, ()),
    "H-SOFTWARE": (5, 3, 1, ("DC-FAULT-CONTAINED", "DC-PARSERS")),
    "H-TIMING": (4, 3, 1, ("SC-CLOCK-BOUND", "DC-LOG-CLOCK")),
    "H-REPLAY": (5, 4, 1, ("SC-OSCORE-REPLAY", "SC-ECHO-FRESH")),
    "H-TAMPER": (4, 3, 1, ("SC-LOG-CHAIN", "DC-KEY-SEAL")),
    "H-THERAPY-LOSS": (4, 4, 2, ()),
    "H-HISTORY-LOSS": (5, 3, 1, ("SC-LOG-CHAIN",)),
    "H-PRIMING": (4, 3, 1, ()),
    "H-CALC-SETTINGS": (4, 3, 1, ()),
    "H-CALC-INPUT": (4, 4, 2, ()),
    "H-HYPO-BASAL": (5, 4, 1, ()),
    "H-CGM-INPUT": (4, 4, 2, ("SC-EDHOC-AUTH", "SC-OSCORE-AEAD")),
    "H-HYPO-BOLUS": (5, 3, 1, ()),
    "H-UPDATE": (4, 3, 1, ("SC-IMAGE-SIGNATURE", "SC-IMAGE-ROLLBACK", "SC-CONFIRM-ON-PUMP",
                           "DC-UPDATE-REVERT", "DC-UPDATE-POWERFAIL")),
}


class Risk:
    """One row of the register."""

    def __init__(self, rid, kind, title, cause, hazards, severity, measure, before, after,
                 controls, scenarios=(), elements=(), rationale="", action=""):
        self.id = rid
        self.kind = kind                  # "hazard" or "threat"
        self.title = title
        self.cause = cause
        self.hazards = tuple(hazards)
        self.severity = severity
        self.measure = measure            # "P" (probability) or "E" (exploitability)
        self.before = before              # likelihood level 1..5 before the controls
        self.after = after                # and after them
        self.controls = tuple(controls)
        self.scenarios = tuple(scenarios)
        self.elements = tuple(elements)
        self.rationale = rationale
        self.action = action

    @property
    def initial(self):
        return scoring.acceptability(self.severity, self.before)

    @property
    def residual(self):
        return scoring.acceptability(self.severity, self.after)


def hazard_risks(scores=None):
    """A risk per hazard of the hazard table; controls = its interlocks + the listed
    security controls. A hazard without a score is a risk without controls or scores,
    which the completeness check reports."""
    scores = HAZARD_SCORES if scores is None else scores
    interlocks = {}
    for iid, (hazard_ids, _check, _response) in hazard_table.INTERLOCKS.items():
        for hid in hazard_ids:
            interlocks.setdefault(hid, []).append(iid)
    risks = []
    for hid in sorted(hazard_table.HAZARDS):
        category, name, cause, effect = hazard_table.HAZARDS[hid]
        severity, before, after, extra = scores.get(hid, (None, None, None, ()))
        controls = sorted(interlocks.get(hid, [])) + list(extra)
        rationale = "effect: %s" % effect
        if severity and scoring.acceptability(severity, after) != scoring.ACCEPTABLE:
            rationale += ("; bounded by %d controls, what remains is the risk of insulin "
                          "therapy itself, outweighed by its benefit" % len(controls))
        risks.append(Risk(hid, "hazard", "%s (%s)" % (name, category), cause, (hid,),
                          severity, "P", before, after, controls, rationale=rationale))
    return risks


def threat_risks(model):
    """A risk per threat of the library that the model found on at least one element."""
    risks = []
    for threat in model.library:
        elements = model.findings_of(threat.id)
        if not elements:
            continue
        risks.append(Risk(threat.id, "threat", threat.title, "STRIDE " + threat.stride,
                          threat.hazards, threat.severity, "E",
                          scoring.exploitability_level(threat.before),
                          scoring.exploitability_level(threat.after), threat.controls,
                          threat.scenarios, elements, threat.rationale, threat.action))
    return risks


def register(model):
    return hazard_risks() + threat_risks(model)
