"""Hazard table and the interlocks that mitigate each hazard.

Modelled on the Generic Insulin Infusion Pump (GIIP) hazard analysis (Zhang, Jones and
Jetley, FDA/UPenn, 2011), which sorts causes into operational, environmental, electrical,
hardware, software, mechanical, biological/chemical and use hazards; we add the security
causes that the GIIP work predates. Every interlock ID used in the code is listed here, and
a test checks that each one is exercised by at least one test.
"""

# id: (GIIP category, hazard, cause, effect on the patient)
HAZARDS = {
    "H-OVERDOSE": ("operational", "Overdose",
                   "too much insulin programmed, commanded or delivered",
                   "hypoglycaemia, possibly severe"),
    "H-UNDERDOSE": ("operational", "Underdose",
                    "insulin not delivered while therapy believes it is",
                    "hyperglycaemia, ketoacidosis"),
    "H-STACKING": ("use", "Bolus stacking",
                   "boluses too close together while earlier insulin is still active",
                   "delayed hypoglycaemia"),
    "H-OCCLUSION": ("mechanical", "Occluded infusion line",
                    "kinked tubing or blocked cannula; pressure builds, then a bolus surge",
                    "underdose, then overdose when the occlusion clears"),
    "H-RESERVOIR": ("operational", "Reservoir runs dry",
                    "insulin exhausted during therapy", "underdose"),
    "H-POWER": ("electrical", "Power failure",
                "battery depleted during therapy", "underdose, loss of alarms"),
    "H-RUNAWAY": ("hardware", "Free-flow / runaway motor",
                  "motor driver fault moves the plunger without command", "overdose"),
    "H-MOTOR-STALL": ("hardware", "Motor stall or encoder failure",
                      "motor does not move as commanded", "underdose"),
    "H-SOFTWARE": ("software", "Controller software fault",
                   "exception, hang or logic error in the therapy controller",
                   "overdose or underdose"),
    "H-TIMING": ("software", "Timing error",
                 "wall clock changed, tick counter corrupted or task not scheduled",
                 "limits reopened (overdose) or delivery missed (underdose)"),
    "H-REPLAY": ("security", "Replayed or stale command",
                 "an old or duplicated command is delivered again by a transport or attacker",
                 "overdose"),
    "H-TAMPER": ("security", "Tampered records or settings",
                 "stored log or settings altered in flash", "wrong therapy, lost evidence"),
    "H-THERAPY-LOSS": ("operational", "Silent loss of therapy",
                       "a reboot, suspend, stop, alarm or zero temporary basal leaves the "
                       "patient without basal and nobody notices",
                       "hyperglycaemia, diabetic ketoacidosis within hours"),
    "H-HISTORY-LOSS": ("security", "Dose history lost or rolled back",
                       "a flash erase, an older image restored, or corruption removes doses "
                       "the limits depend on", "limits reopened: overdose"),
    "H-PRIMING": ("use", "Priming into the patient",
                  "tubing filled while connected, or cannula fill not counted",
                  "uncounted insulin: overdose"),
    "H-CALC-SETTINGS": ("use", "Wrong bolus calculator settings",
                        "carb ratio, sensitivity or target range mistyped, outside clinical "
                        "practice, or not covering the whole day",
                        "every calculated bolus too large or too small"),
    "H-CALC-INPUT": ("use", "Wrong bolus calculator input",
                     "glucose old, implausible or mistyped; carbohydrates mistyped; a "
                     "suggestion confirmed after its inputs changed",
                     "overdose or underdose"),
    "H-HYPO-BASAL": ("biological", "Basal into a falling glucose",
                     "insulin keeps flowing while glucose falls towards hypoglycaemia "
                     "(exercise, a missed meal, too much insulin earlier)",
                     "hypoglycaemia, possibly severe, often at night"),
    "H-CGM-INPUT": ("security", "Wrong, old or forged sensor glucose",
                    "a CGM reading that is stale, reordered, replayed, physiologically "
                    "impossible or forged reaches an interlock that trusts it",
                    "insulin withheld (hyperglycaemia) or not withheld (hypoglycaemia)"),
    "H-HYPO-BOLUS": ("use", "Bolus into hypoglycaemia",
                     "insulin suggested while glucose is already low",
                     "severe hypoglycaemia"),
    "H-UPDATE": ("software", "Software update disrupts therapy",
                 "the swap to a new image stops the motor; an image installed without the "
                 "patient knowing, one mixed from two transfers, unsigned, older or "
                 "tampered, or one that does not come back",
                 "hyperglycaemia from lost basal; any dosing error of unvetted software"),
}

# id: (hazard ids, what is checked, response)
INTERLOCKS = {
    "IL-BOLUS-MAX": (("H-OVERDOSE",), "bolus above the maximum bolus", "refuse command"),
    "IL-BASAL-MAX": (("H-OVERDOSE",), "basal program rate above the maximum basal rate",
                     "refuse command"),
    "IL-TEMP-BASAL-MAX": (("H-OVERDOSE",),
                          "temporary basal rate, percent or duration above its maximum, or "
                          "above max_temp_multiple x the highest scheduled rate",
                          "refuse command"),
    "IL-IOB-MAX": (("H-OVERDOSE", "H-STACKING"),
                   "insulin on board above scheduled basal plus a bolus, cannula fill or "
                   "high temporary basal above the maximum IOB",
                   "refuse command; cap a high temporary basal"),
    "IL-ROLLING-1H": (("H-OVERDOSE",), "reservations in any rolling hour above the limit",
                      "refuse command; withhold basal and alarm"),
    "IL-ROLLING-24H": (("H-OVERDOSE",), "reservations in any rolling 24 h above the limit",
                       "refuse command; withhold basal and alarm"),
    "IL-BOLUS-INTERVAL": (("H-STACKING",), "bolus sooner than the minimum interval",
                          "refuse command"),
    "IL-BOLUS-OVERRUN": (("H-OVERDOSE", "H-TIMING"),
                         "bolus still delivering at the end of its reservation",
                         "cancel the rest, refund it, warn"),
    "IL-DUPLICATE-CMD": (("H-REPLAY", "H-OVERDOSE"), "command id already executed",
                         "refuse command"),
    "IL-CMD-RATE": (("H-REPLAY",),
                    "more remote commands within the age limit than can be tracked for replay",
                    "refuse command"),
    "IL-CMD-STALE": (("H-REPLAY",), "command older than its age limit or from the future",
                     "refuse command"),
    "IL-PRIME-MAX": (("H-OVERDOSE", "H-PRIMING"),
                     "tubing fill above what is left of this reservoir change's maximum",
                     "refuse command"),
    "IL-RESERVOIR-LOW": (("H-RESERVOIR",), "reservoir below the low threshold", "warn"),
    "IL-RESERVOIR-EMPTY": (("H-RESERVOIR", "H-UNDERDOSE"),
                           "reservoir cannot cover the next pulse or the requested dose",
                           "refuse command; alarm and stop delivery"),
    "IL-OCCLUSION": (("H-OCCLUSION",), "line pressure above the limit or rising pulse after pulse",
                     "alarm and stop delivery; cancel boluses"),
    "IL-BATTERY-LOW": (("H-POWER",), "battery below the low threshold", "warn"),
    "IL-BATTERY-CRITICAL": (("H-POWER",), "battery below the critical threshold",
                            "alarm and stop delivery"),
    "IL-MOTOR-ENCODER": (("H-MOTOR-STALL", "H-UNDERDOSE"),
                         "encoder did not move as commanded", "safe-stop"),
    "IL-WATCHDOG": (("H-TIMING", "H-UNDERDOSE"),
                    "controller not run within its watchdog period",
                    "alarm; owed insulin is not caught up in a burst; acknowledging "
                    "resumes therapy"),
    "IL-CLOCK-MONOTONIC": (("H-TIMING",), "monotonic tick counter went backwards", "safe-stop"),
    "IL-LOG-INTEGRITY": (("H-TAMPER", "H-HISTORY-LOSS"),
                         "audit log fails verification at boot or at a gateway's read while "
                         "running, or does not reach the anchor kept in the secure store "
                         "(truncated, erased, rolled back)",
                         "safe-stop; after service the history is unknown"),
    "IL-SETTINGS-INTEGRITY": (("H-TAMPER",),
                              "sealed settings or log anchor fail their tag at boot",
                              "safe-stop; after service limits and program must be set "
                              "again"),
    "IL-HISTORY-UNKNOWN": (("H-HISTORY-LOSS", "H-OVERDOSE"),
                           "dose history unknown less than one insulin-action window ago",
                           "insulin on board taken as full; refuse boluses, cannula fill "
                           "and temp basal above the program; basal continues"),
    "IL-NO-DELIVERY": (("H-THERAPY-LOSS", "H-UNDERDOSE"),
                       "time without basal in any 6 h above the clinician's bound, without "
                       "the patient confirming on the pump",
                       "alert that escalates; a peer's suspend or zero temp ends"),
    "IL-SUSPEND-MAX": (("H-THERAPY-LOSS",), "suspend longer than the clinician's maximum",
                       "refuse command; every suspend has an end, reminders, auto-resume"),
    "IL-BOLUS-INTERRUPTED": (("H-UNDERDOSE", "H-STACKING"),
                             "a bolus cut short by a reboot (not resumed)",
                             "log and show the delivered and undelivered amounts; "
                             "alert; the whole bolus stays in insulin on board"),
    "IL-CANNULA-MAX": (("H-PRIMING", "H-OVERDOSE"), "cannula fill above its maximum",
                       "refuse command"),
    "IL-CLOCK-JUMP": (("H-TIMING",),
                      "the tick counter jumped forward more than an hour between reads",
                      "alarm; the jump is not counted as elapsed time"),
    # Bolus calculator (pump/bolus_calculator.py): advice the patient confirms; the bolus
    # interlocks above still apply when it is delivered
    "IL-CALC-SETTINGS": (("H-CALC-SETTINGS", "H-OVERDOSE", "H-UNDERDOSE"),
                         "calculator settings outside clinical ranges (carb ratio 1..150 g/U, "
                         "sensitivity 5..400 mg/dL/U, targets 70..200 mg/dL, low <= high), "
                         "or not 1..8 sorted segments from minute 0",
                         "refuse the settings, saying which value is wrong"),
    "IL-CALC-CARBS-MAX": (("H-CALC-INPUT", "H-OVERDOSE"), "carbohydrate entry above 250 g",
                          "refuse the calculation"),
    "IL-CALC-BG-STALE": (("H-CALC-INPUT", "H-OVERDOSE"),
                         "glucose older than 15 min, when calculated or when confirmed",
                         "no correction either way; a confirmation refused"),
    "IL-CALC-BG-RANGE": (("H-CALC-INPUT", "H-OVERDOSE"), "glucose outside 20..600 mg/dL",
                         "no correction either way"),
    "IL-CALC-HYPO": (("H-HYPO-BOLUS", "H-OVERDOSE"),
                     "glucose below 70 mg/dL, even stale or below the plausible range",
                     "suggest no bolus; confirming one from the suggestion refused"),
    "IL-CALC-IOB": (("H-STACKING",), "insulin on board with glucose above the target range",
                    "subtracted from the correction, not below 0; carb part not reduced"),
    "IL-CALC-BOLUS-MAX": (("H-OVERDOSE",), "suggestion above the maximum bolus",
                          "capped at max_bolus_mu in whole pulses, flagged"),
    "IL-CALC-ADVICE-STALE": (("H-STACKING", "H-CALC-INPUT"),
                             "suggestion confirmed more than 5 min after it was made, or "
                             "after insulin on board rose", "refuse; calculate again"),
    # CGM input and predictive low-glucose suspend (pump/cgm_input.py, pump/plgs.py)
    "IL-CGM-STALE": (("H-CGM-INPUT",),
                     "reading measured more than 10 min ago or in the future (pump ticks)",
                     "refuse the reading"),
    "IL-CGM-ORDER": (("H-CGM-INPUT",),
                     "reading not at least 1 min after the last accepted one (duplicate, "
                     "reordered)", "refuse the reading"),
    "IL-CGM-IMPLAUSIBLE": (("H-CGM-INPUT",),
                           "reading outside what a sensor reports (20..600 mg/dL) or "
                           "changing faster than 10 mg/dL/min since the last accepted one; "
                           "a sensor's LOW or HIGH beyond 40..400 is taken as 40 or 400",
                           "refuse the reading; two in a row that agree start a new series"),
    "IL-PLGS": (("H-HYPO-BASAL",),
                "glucose below 70 mg/dL, or predicted below the clinician's threshold "
                "within 30 min (least squares over 20 min of trusted readings)",
                "hold basal (boluses still possible); resume when glucose rises"),
    "IL-PLGS-LIMIT": (("H-THERAPY-LOSS", "H-UNDERDOSE"),
                      "basal held 2 h (counted across a suspend or alarm that cut it), or "
                      "the missing-basal budget of IL-NO-DELIVERY spent; or a hold called "
                      "for while it cannot act",
                      "resume basal, alert; no new hold for 30 min, across a reboot"),
    "IL-CGM-LOST": (("H-THERAPY-LOSS", "H-CGM-INPUT"),
                    "no trusted reading for 20 min while basal is held",
                    "resume basal, alert"),
    "IL-CGM-URGENT-LOW": (("H-HYPO-BASAL", "H-HYPO-BOLUS"),
                          "trusted reading below 55 mg/dL", "alert, repeated every 30 min "
                          "while it lasts"),
    # Software updates (pump/update_install.py, secure_channel/protocol/update_stager.py)
    "IL-UPDATE-IMAGE": (("H-UPDATE",),
                        "a received image whose bytes differ from the SHA-256 announced "
                        "before the transfer, or that the bootloader would refuse "
                        "(signature, key, hash, security counter, version)",
                        "refuse and drop it; never offered to the patient; the bootloader "
                        "checks again at boot and keeps the running image"),
    "IL-UPDATE-CONSENT": (("H-UPDATE", "H-THERAPY-LOSS"),
                          "the swap into a staged image without the patient pressing the "
                          "pump's button for it within 5 min (receiving never touches "
                          "therapy)",
                          "no swap: the running image and its therapy go on"),
    "IL-UPDATE-BOLUS": (("H-UPDATE", "H-UNDERDOSE"),
                        "a swap asked for, or pressed for, while a bolus runs or a bolus "
                        "suggestion awaits the patient (the pause would end the bolus and "
                        "its rest would never be given)",
                        "refuse the install; the gateway asks again after the bolus"),
    "IL-UPDATE-SWAP": (("H-UPDATE", "H-THERAPY-LOSS", "H-UNDERDOSE"),
                       "therapy paused for the swap for 2 min without the reset into the "
                       "new image",
                       "resume the therapy that ran, take the swap request back, alert; "
                       "after the reset the therapy resumes at once and the power-off time "
                       "counts as missing basal"),
    # Independent safety monitor (its own accounting; gates the motor power stage)
    "SM-OVER-1H": (("H-OVERDOSE", "H-SOFTWARE"),
                   "pulses in the monitor's 1 h envelope above the limit", "latch safe-stop"),
    "SM-OVER-24H": (("H-OVERDOSE", "H-SOFTWARE"),
                    "pulses in the monitor's 24 h envelope above the limit", "latch safe-stop"),
    "SM-BOLUS-BUDGET": (("H-OVERDOSE", "H-SOFTWARE"),
                        "bolus pulse without declared bolus budget, or a bolus above max",
                        "latch safe-stop"),
    "SM-BASAL-RATE": (("H-OVERDOSE", "H-SOFTWARE"),
                      "basal pulses faster than the independently computed rate",
                      "latch safe-stop"),
    "SM-PRIME-BUDGET": (("H-OVERDOSE", "H-SOFTWARE", "H-PRIMING"),
                        "tubing-fill pulse without a live budget, or fills of one reservoir "
                        "change above the maximum", "latch safe-stop"),
    "SM-CANNULA-BUDGET": (("H-OVERDOSE", "H-SOFTWARE", "H-PRIMING"),
                          "cannula-fill pulse without a declared fill, or a fill above max",
                          "latch safe-stop"),
    "SM-IOB-MAX": (("H-OVERDOSE", "H-STACKING", "H-SOFTWARE"),
                   "insulin on board above scheduled basal, from the monitor's own pulse "
                   "record and declarations, above max IOB", "latch safe-stop"),
    "SM-BOLUS-INTERVAL": (("H-STACKING", "H-SOFTWARE"),
                          "a bolus declared sooner than the minimum bolus interval",
                          "latch safe-stop"),
    "SM-NOT-DELIVERING": (("H-OVERDOSE", "H-SOFTWARE"),
                          "therapy pulse while therapy is stopped (suspend, stop, alarm)",
                          "latch safe-stop"),
    "SM-PULSE-RATE": (("H-RUNAWAY", "H-SOFTWARE"), "pulses faster than the motor pacing",
                      "latch safe-stop"),
    "SM-RUNAWAY": (("H-RUNAWAY",), "encoder moved without or beyond a commanded pulse",
                   "latch safe-stop"),
    "SM-CONTROLLER-FAULT": (("H-SOFTWARE",), "exception in the therapy controller",
                            "latch safe-stop"),
}


def hazards_of(interlock_id):
    return INTERLOCKS[interlock_id][0]


def table_markdown():
    """The hazard/interlock table as Markdown, for docs/."""
    lines = ["| Interlock | Hazards | Checks | Response |", "|---|---|---|---|"]
    for iid in sorted(INTERLOCKS):
        hazards, check, response = INTERLOCKS[iid]
        lines.append("| %s | %s | %s | %s |" % (iid, ", ".join(hazards), check, response))
    lines += ["", "| Hazard | GIIP category | Hazard | Cause | Effect |", "|---|---|---|---|---|"]
    for hid in sorted(HAZARDS):
        category, name, cause, effect = HAZARDS[hid]
        lines.append("| %s | %s | %s | %s | %s |" % (hid, category, name, cause, effect))
    return "\n".join(lines) + "\n"


def document():
    return ("# Hazards and interlocks\n\nGenerated from `pump/hazards.py` by `make diagram`;"
            " do not edit by hand. The table is modelled on the\nGeneric Insulin Infusion Pump"
            " hazard analysis (Zhang, Jones, Jetley, FDA/UPenn 2011).\n\n" + table_markdown())


if __name__ == "__main__":
    print(document(), end="")
