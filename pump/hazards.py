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
}

# id: (hazard ids, what is checked, response)
INTERLOCKS = {
    "IL-BOLUS-MAX": (("H-OVERDOSE",), "bolus above the maximum bolus", "refuse command"),
    "IL-BASAL-MAX": (("H-OVERDOSE",), "basal program rate above the maximum basal rate",
                     "refuse command"),
    "IL-TEMP-BASAL-MAX": (("H-OVERDOSE",),
                          "temporary basal rate, percent or duration above its maximum",
                          "refuse command"),
    "IL-IOB-MAX": (("H-OVERDOSE", "H-STACKING"),
                   "insulin on board plus the bolus above the maximum IOB", "refuse command"),
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
    "IL-PRIME-MAX": (("H-OVERDOSE",), "prime volume above the maximum", "refuse command"),
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
                    "alarm; owed insulin is not caught up in a burst"),
    "IL-CLOCK-MONOTONIC": (("H-TIMING",), "monotonic tick counter went backwards", "safe-stop"),
    "IL-LOG-INTEGRITY": (("H-TAMPER",), "audit log or settings fail verification at boot",
                         "safe-stop"),
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
    "SM-PRIME-BUDGET": (("H-OVERDOSE", "H-SOFTWARE"),
                        "prime pulse without a live prime budget (prime ended or exceeded)",
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
