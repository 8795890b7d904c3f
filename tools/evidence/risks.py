"""The risk register: the pump's hazards (ISO 14971, from the hazard table) and the
threats the threat model found (security), scored the same way, each with the controls
that mitigate it and its residual risk.

A hazard's controls are the interlocks the hazard table links to it (read from
``pump.hazards``, not repeated here) plus the security and design controls listed below
for the hazards an attacker can cause; a threat's are in threats.py. Safety and security
meet in both directions: a threat names the hazards it leads to, and those hazards list
the security controls that stand in front of their interlocks.

Where the scores come from: a hazard's probability before and after its controls is the
analyst's estimate on the ISO 14971 scale of scoring.py (``HAZARD_SCORES``), with no field
data yet; a hazard whose residual risk is not acceptable says in ``ALARP_RATIONALES``
which controls bound it and what remains. A threat's exploitability before and after is a
CVSS v3.1 vector in threats.py: "after" is what an attacker still needs once the controls
are in place (a key the pump trusts is PR:H, physical access is AV:P), again a judgement,
which the attack lab's secure profile puts to the test.
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


# hazard id: why its residual risk, not acceptable on the scale, is as low as practicable:
# the controls that bound it (by ID) and what remains. Required for every such hazard.
ALARP_RATIONALES = {
    "H-OVERDOSE": "every way insulin is asked for is capped (IL-BOLUS-MAX, IL-BASAL-MAX, "
                  "IL-TEMP-BASAL-MAX, IL-IOB-MAX, IL-ROLLING-1H, IL-ROLLING-24H), remote "
                  "boluses need SC-REMOTE-BOLUS-OFF lifted and SC-CONFIRM-ON-PUMP, and the "
                  "independent monitor stops the motor on its own count (SM-OVER-1H, "
                  "SM-OVER-24H, SM-IOB-MAX); what remains is a dose within the "
                  "clinician's limits that is still too much for this patient today (the "
                  "stolen-clinician scenario), which no fixed limit can tell from a right one",
    "H-UNDERDOSE": "missed delivery is detected, not assumed: IL-MOTOR-ENCODER checks each "
                   "pulse, IL-RESERVOIR-EMPTY and IL-WATCHDOG alarm, IL-NO-DELIVERY "
                   "escalates time without basal, IL-BOLUS-INTERRUPTED shows a cut bolus; "
                   "what remains is insulin that left the pump and did not act (a leaking "
                   "site), which the pump cannot sense",
    "H-THERAPY-LOSS": "every pause has an end and an alarm: IL-SUSPEND-MAX bounds a suspend, "
                      "IL-NO-DELIVERY escalates missing basal, IL-PLGS-LIMIT ends a "
                      "low-glucose hold, IL-CGM-LOST ends a hold when readings stop, "
                      "IL-UPDATE-SWAP bounds the update's pause; what remains is a patient "
                      "who does not answer the alarms",
    "H-CALC-INPUT": "the calculator refuses inputs it can tell are wrong: IL-CALC-BG-STALE and "
                    "IL-CALC-BG-RANGE drop the correction on an old or implausible glucose, "
                    "IL-CALC-CARBS-MAX caps the carbohydrates, IL-CALC-ADVICE-STALE refuses an "
                    "old suggestion; what remains is a plausible but mistyped entry, which "
                    "the patient confirms and the bolus limits then bound",
    "H-CGM-INPUT": "a reading reaches therapy only from an authenticated peer "
                   "(SC-EDHOC-AUTH, SC-OSCORE-AEAD), fresh (IL-CGM-STALE), in order "
                   "(IL-CGM-ORDER) and physiologically possible (IL-CGM-IMPLAUSIBLE), and a "
                   "hold ends when readings stop (IL-CGM-LOST); what remains is a plausible "
                   "wrong value from the sensor or a compromised relay, bounded by what a "
                   "reading can do (the hold limits of the low-glucose suspend)",
}


class Risk:
    """One row of the register. ``vector_before``/``vector_after`` are a threat's CVSS
    vectors; ``score_error`` says why its scores could not be read."""

    def __init__(self, rid, kind, title, cause, hazards, severity, measure, before, after,
                 controls, scenarios=(), elements=(), rationale="", action="",
                 vector_before=None, vector_after=None, score_error=None):
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
        self.vector_before = vector_before
        self.vector_after = vector_after
        self.score_error = score_error

    @property
    def scored(self):
        return self.score_problem is None

    @property
    def score_problem(self):
        """None when the risk has valid scores, else why not ("" for no scores at all)."""
        if self.score_error:
            return self.score_error
        if self.severity is None or self.before is None or self.after is None:
            return ""
        try:
            scoring.acceptability(self.severity, self.before)
            scoring.acceptability(self.severity, self.after)
        except ValueError as exc:
            return str(exc)
        return None

    @property
    def initial(self):
        """acceptable / ALARP / unacceptable before the controls; None when not scored."""
        return scoring.acceptability(self.severity, self.before) if self.scored else None

    @property
    def residual(self):
        """The same after the controls; None when not scored."""
        return scoring.acceptability(self.severity, self.after) if self.scored else None


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
        if hid in ALARP_RATIONALES:
            rationale += "; " + ALARP_RATIONALES[hid]
        risks.append(Risk(hid, "hazard", "%s (%s)" % (name, category), cause, (hid,),
                          severity, "P", before, after, controls, rationale=rationale))
    return risks


def unknown_scores(scores=None):
    """Sentences naming each scored hazard that is not in the hazard table."""
    scores = HAZARD_SCORES if scores is None else scores
    return ["HAZARD_SCORES (tools/evidence/risks.py) scores %s, which is not in the hazard "
            "table" % hid for hid in sorted(set(scores) - set(hazard_table.HAZARDS))]


def threat_risks(model):
    """A risk per threat of the library that the model found on at least one element."""
    risks = []
    for threat in model.library:
        elements = model.findings_of(threat.id)
        if not elements:
            continue
        before = after = error = None
        try:
            before = scoring.exploitability_level(threat.before)
            after = scoring.exploitability_level(threat.after)
        except (ValueError, TypeError, AttributeError) as exc:
            error = str(exc) if isinstance(exc, ValueError) else (
                "CVSS vector %r is not a vector" % ((threat.before, threat.after),))
        risks.append(Risk(threat.id, "threat", threat.title, "STRIDE " + threat.stride,
                          threat.hazards, threat.severity, "E", before, after,
                          threat.controls, threat.scenarios, elements, threat.rationale,
                          threat.action, vector_before=threat.before,
                          vector_after=threat.after, score_error=error))
    return risks


def register(model):
    return hazard_risks() + threat_risks(model)
