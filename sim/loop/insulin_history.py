"""What the gateway knows of the insulin delivered: from the pump's reservoir counter.

Every telemetry answer carries the insulin left in the reservoir, in pulses. Its drop
between two answers is what the motor delivered in between (the pump's own count, over the
secure channel); less the scheduled basal, it is the net insulin an oref0-style loop
doses from. Insulin on board and activity follow from the same bilinear curve as the pump's
(``pump.iob``: peak 75 min, 5 h of action), here in floats. Intervals the pump was not
delivering therapy (priming the tubing, a reservoir change: the counter jumps) count as no
insulin, and as missing scheduled basal when the pump was stopped.
"""

from pump.units import PULSE_MU
from secure_channel.protocol import schema as S

DELIVERING = S.STATE_CODES["delivering"]
PEAK_MIN = 75.0
DIA_MIN = 300.0
MISSING_WINDOW_MIN = 360.0


def remaining(minutes):
    """Fraction of a dose still on board ``minutes`` after it (pump.iob's curve)."""
    if minutes <= 0:
        return 1.0
    if minutes >= DIA_MIN:
        return 0.0
    if minutes <= PEAK_MIN:
        return 1.0 - minutes * minutes / (PEAK_MIN * DIA_MIN)
    left = DIA_MIN - minutes
    return left * left / (DIA_MIN * (DIA_MIN - PEAK_MIN))


def activity(minutes):
    """Fraction of a dose acting per minute ``minutes`` after it (the curve's slope)."""
    if minutes <= 0 or minutes >= DIA_MIN:
        return 0.0
    if minutes <= PEAK_MIN:
        return 2.0 * minutes / (PEAK_MIN * DIA_MIN)
    return 2.0 * (DIA_MIN - minutes) / (DIA_MIN * (DIA_MIN - PEAK_MIN))


class InsulinHistory:
    def __init__(self):
        self.doses = []            # (minute, net U) at the middle of each interval
        self.missing = []          # (minute, minutes of the scheduled basal not delivered)
        self._last = None          # (minute, reservoir pulses, state code)

    def telemetry(self, minute, fields, scheduled_u_h):
        """Take one telemetry answer (``schema`` field names) at ``minute``."""
        pulses, state = fields["reservoir_pulses"], fields["state"]
        last, self._last = self._last, (minute, pulses, state)
        if last is None or minute <= last[0]:
            return
        span = minute - last[0]
        delivered = (last[1] - pulses) * PULSE_MU / 1000.0
        if state != DELIVERING or last[2] != DELIVERING or delivered < 0:
            delivered = 0.0           # a fill, a change or no therapy: nothing reached
        net = delivered - scheduled_u_h * span / 60.0
        self.doses.append((last[0] + span / 2.0, net))
        while self.doses and minute - self.doses[0][0] > DIA_MIN:
            del self.doses[0]
        if net < 0 and scheduled_u_h > 0:
            self.missing.append((minute, min(span, -net * 60.0 / scheduled_u_h)))
        while self.missing and minute - self.missing[0][0] > MISSING_WINDOW_MIN:
            del self.missing[0]

    def missing_basal_min(self):
        """Minutes of the scheduled basal not delivered in the last 6 h: the pump alarms
        past its bound (IL-NO-DELIVERY, 2 h by default), so a loop keeps below it."""
        return sum(m for _, m in self.missing)

    def iob_and_activity(self, minute):
        """(net insulin on board U, net activity U/min) at ``minute``."""
        iob = act = 0.0
        for when, net in self.doses:
            iob += net * remaining(minute - when)
            act += net * activity(minute - when)
        return iob, act
