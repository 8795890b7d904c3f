"""The delivery engine: turns the basal program, temporary basal and boluses into pulses.

Integer accumulators in mU·ms: a basal rate R (mU/h) adds R per elapsed ms, and one pulse
is due when the accumulator reaches 25 mU · 3 600 000 ms. The basal accumulator holds at
most ``CATCHUP_MS`` of basal (and at least one pulse): a main loop up to that late loses no
basal, and a longer stall (an IL-WATCHDOG alarm) or a suspension never ends in a burst. Pulses
are paced at most one per ``PULSE_INTERVAL_MS`` whatever is due. Basal that falls due while a
bolus runs goes first, so a bolus never makes the patient lose basal. The engine only says
what is due; the controller decides (interlocks, state) and the safety monitor gates the
motor.
"""

from pump.units import BASAL_SLOTS, MS_PER_HOUR, PULSE_MU, SLOT_SECONDS, SECONDS_PER_DAY

PULSE_INTERVAL_MS = 2000          # bolus speed: 0.75 U/min
PULSE_WORK = PULSE_MU * MS_PER_HOUR
CATCHUP_MS = 3 * 60 * 1000        # basal owed this long is still delivered (pump.clock.MAX_GAP_MS)


def basal_cap(rate):
    """The most basal work an accumulator may hold at ``rate``: CATCHUP_MS of it, and never
    less than one pulse."""
    cap = rate * CATCHUP_MS
    return cap if cap > PULSE_WORK else PULSE_WORK

BASAL = "basal"
BOLUS = "bolus"
EXTENDED = "extended"
PRIME = "prime"              # tubing fill: disconnected, never reaches the patient
CANNULA = "cannula"          # cannula fill: reaches the patient, counts as delivered
KINDS = (BASAL, BOLUS, EXTENDED, PRIME, CANNULA)


def slot_of(wall_s):
    return (wall_s % SECONDS_PER_DAY) // SLOT_SECONDS


class DeliveryEngine:
    def __init__(self):
        self.program = [0] * BASAL_SLOTS          # mU/h per half-hour slot
        self.temp = None                          # (value, is_percent, end_tick)
        self.temp_cap = None                      # mU/h a temp may run at (max IOB room)
        self.held = False                         # low-glucose suspend holds basal (pump.plgs)
        self.basal_acc = 0
        self.lost_work = 0                        # basal work dropped by the cap (mU·ms)
        self.bolus_pulses = 0
        self.ext_pulses = 0                       # extended bolus pulses still to deliver
        self.ext_total = 0
        self.ext_acc = 0
        self.ext_duration = 0
        self.prime_pulses = 0
        self.cannula_pulses = 0
        self.last = None                          # tick of the last accrual
        self.next_pulse_at = 0                    # pacing

    # -- rates ----------------------------------------------------------------------
    def scheduled_rate(self, wall_s):
        return self.program[slot_of(wall_s)]

    def basal_rate(self, now, wall_s):
        rate = self.program[slot_of(wall_s)]
        temp = self.temp
        if temp is not None and now >= temp[2]:
            self.temp = None
            self.temp_cap = None
        elif temp is not None:
            scheduled = rate
            rate = rate * temp[0] // 100 if temp[1] else temp[0]
            cap = self.temp_cap
            if cap is not None and rate > scheduled and rate > cap:
                rate = cap if cap > scheduled else scheduled
        return 0 if self.held else rate

    def temp_is_zero(self, now):
        temp = self.temp
        return temp is not None and now < temp[2] and temp[0] == 0

    # -- accrual --------------------------------------------------------------------
    def accrue(self, now, wall_s):
        """Advance accumulators to ``now``; returns the basal rate used."""
        rate = self.basal_rate(now, wall_s)
        last = self.last
        self.last = now
        if last is None or now <= last:
            return rate
        dt = now - last
        acc = self.basal_acc + rate * dt
        cap = basal_cap(rate)
        if acc > cap:                  # the loop ran too rarely to deliver it: counted
            self.lost_work += acc - cap
            acc = cap
        self.basal_acc = acc
        if self.ext_pulses:
            acc = self.ext_acc + self.ext_total * dt
            self.ext_acc = acc if acc < self.ext_duration else self.ext_duration
        return rate

    def restart_accrual(self, now):
        """Forget owed basal (after suspension, stop or alarm): no catch-up bursts."""
        self.basal_acc = 0
        self.ext_acc = 0
        self.last = now

    # -- pulses ---------------------------------------------------------------------
    def due(self, now, priming):
        """The kind of pulse due now, or None. Fills and therapy never mix: fill pulses only
        while filling, therapy pulses only otherwise. Owed basal goes before a bolus."""
        if now < self.next_pulse_at:
            return None
        if priming:
            if self.prime_pulses:
                return PRIME
            return CANNULA if self.cannula_pulses else None
        if self.basal_acc >= PULSE_WORK:
            return BASAL
        if self.bolus_pulses:
            return BOLUS
        if self.ext_pulses and self.ext_acc >= self.ext_duration:
            return EXTENDED
        return None

    def consume(self, kind, now):
        if kind == BASAL:
            self.basal_acc -= PULSE_WORK
        elif kind == BOLUS:
            self.bolus_pulses -= 1
        elif kind == EXTENDED:
            self.ext_pulses -= 1
            self.ext_acc -= self.ext_duration
        elif kind == PRIME:
            self.prime_pulses -= 1
        elif kind == CANNULA:
            self.cannula_pulses -= 1
        self.next_pulse_at = now + PULSE_INTERVAL_MS

    def next_due(self, now, rate):
        """Earliest tick at which a therapy pulse may become due (None: nothing scheduled)."""
        if self.bolus_pulses:
            return max(now, self.next_pulse_at)
        best = None
        if rate > 0:
            best = now + (PULSE_WORK - self.basal_acc + rate - 1) // rate
        if self.ext_pulses:
            wait = (self.ext_duration - self.ext_acc + self.ext_total - 1) // self.ext_total
            if best is None or now + wait < best:
                best = now + wait
        if best is not None and best < self.next_pulse_at:
            best = self.next_pulse_at
        return best

    # -- boluses --------------------------------------------------------------------
    def start_bolus(self, pulses):
        self.bolus_pulses += pulses

    def start_extended(self, pulses, duration_ms):
        """Spread ``pulses`` evenly: one is due every duration/pulses ms."""
        self.ext_pulses = pulses
        self.ext_total = pulses
        self.ext_duration = duration_ms
        self.ext_acc = 0

    def bolus_active(self):
        return self.bolus_pulses > 0 or self.ext_pulses > 0

    def cancel_boluses(self):
        """Stop every bolus; returns the undelivered pulses."""
        left = self.bolus_pulses + self.ext_pulses
        self.bolus_pulses = 0
        self.ext_pulses = 0
        self.ext_acc = 0
        return left
