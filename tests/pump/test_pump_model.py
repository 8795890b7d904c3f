"""Stateful property test: random commands, faults, time, power cycles and flash tampering
against the pump.

Invariants, checked against the motor's own pulse log (an oracle outside the firmware):
- no pulse outside the delivering state (tubing-fill pulses only while priming, cannula
  fill only while filling the cannula);
- no rolling 1 h or 24 h window holds more than the highest limit in force during it, even
  after a log sector was erased, an older flash image restored or a bit flipped;
- insulin on board above scheduled basal, from the pulse log, is within max IOB plus one
  pulse after every step;
- no silent loss of basal: a basal program that has not delivered for longer than the
  no-delivery bound has an alarm sounding, unless the patient confirmed on the pump;
- no monitor latch without an injected fault (a runaway motor, tampered flash);
- every refusal and every alarm is in the audit log, and the log verifies (when intact).
The `ci` profile runs 60 examples of up to 50 steps (over 2,000 steps); `deep` runs 5,000 x 200 = 10^6.
"""

import bisect
import os

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pump import audit_log, delivery, iob, therapy_table as T
from pump.hal import MemoryHardware, MemoryMotor
from pump.limits import HARD_RANGES, Limits
from pump.pump import Pump
from pump.units import MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU

from pump_fixtures import KEY, new_flash, region, run_for

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = {"ci": 60, "deep": 5000}.get(PROFILE, 10)
STEPS = {"ci": 50, "deep": 200}.get(PROFILE, 30)
WAITS = [1, 5, 30, 60, 180, 600, 1440]       # minutes of pump time a step may run on
SECTOR = 4096
FAULTS = {
    "occlusion": ("pressure", "mbar", 1600), "occlusion-severe": ("pressure", "mbar", 2500),
    "pressure-normal": ("pressure", "mbar", 100), "pressure-rising": ("pressure", "mbar", 900),
    "reservoir-low": ("reservoir", "mu", 15000), "reservoir-empty": ("reservoir", "mu", 10),
    "reservoir-refill": ("reservoir", "mu", 300000), "battery-low": ("battery", "level", 15),
    "battery-critical": ("battery", "level", 3), "battery-new": ("battery", "level", 100),
    "motor-drift": ("motor", "drift", 1),
}
TO_PATIENT = (delivery.BASAL, delivery.BOLUS, delivery.EXTENDED, delivery.CANNULA)


class ProbedMotor(MemoryMotor):
    """Records, for every pulse, the therapy state the pump was in and the kind of pulse
    the monitor was asked for."""

    def __init__(self, reservoir):
        MemoryMotor.__init__(self, reservoir)
        self.state_of = None
        self.kind = None
        self.states = []
        self.kinds = []

    def pulse(self):
        if self.enabled:
            self.states.append(self.state_of())
            self.kinds.append(self.kind)
        MemoryMotor.pulse(self)


class PumpModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.hw = MemoryHardware()
        self.hw.motor = ProbedMotor(self.hw.reservoir)
        self.hw.motor.clock = self.hw.clock
        self.flash = new_flash(24)
        self.written = []
        self.images = []
        self.tampered = False
        self.drifted = False
        self.last_press = None
        self.program = [0] * 48
        self.program_since = 0
        self.limit_history = [(0, Limits())]
        self.boot()
        self.checked_pulses = 0
        self.seen_pulses = 0
        self.patient = []
        self.last_basal = 0
        self.basal_since = 0
        self.was_delivering = False
        self.next_id = 1
        self.steps = 0

    # -- plumbing -----------------------------------------------------------------------
    def boot(self):
        self.pump = Pump(self.hw, self.flash, KEY)
        self.written = []
        if not self.pump.log.problem:
            self.written = [(r.type, r.data, r.seq)
                            for r in audit_log.verify(region(self.flash), KEY)]
        self.hw.motor.state_of = lambda: self.pump.state
        monitor_pulse = self.pump.monitor.pulse

        def pulse(kind, now):
            self.hw.motor.kind = kind
            return monitor_pulse(kind, now)
        self.pump.monitor.pulse = pulse
        self.watch_log()
        self.note_limits()

    def watch_log(self):
        original = self.pump.log.append

        def append(rtype, data, tick, wall):
            seq = original(rtype, data, tick, wall)
            self.written.append((rtype, data, seq))
            return seq
        self.pump.log.append = append

    def note_limits(self):
        self.limit_history.append((self.now(), Limits(self.limits().as_dict())))

    def command(self, result):
        """Every refusal must be the last thing written to the (intact) log."""
        if not result.ok and not self.pump.log.problem:
            rtype, data, _ = self.written[-1]
            assert rtype == audit_log.EV_REFUSAL and data["why"] == result.reason, result
        return result

    def now(self):
        return self.hw.clock.ticks_ms()

    def limits(self):
        return self.pump.controller.limits

    def press(self):
        self.hw.ui.pressed = True
        self.last_press = self.now()

    # -- therapy commands -----------------------------------------------------------------
    @initialize(rate=st.integers(0, 2500), night=st.integers(0, 2500))
    def delivering(self, rate, night):
        self.set_program(rate, night)
        self.command(self.pump.start())

    @rule(rate=st.integers(0, 2500), night=st.integers(0, 2500))
    def set_program(self, rate, night):
        result = self.command(self.pump.set_basal_program([night] * 12 + [rate] * 36))
        if result.ok:
            self.program = [night] * 12 + [rate] * 36
            self.program_since = self.now()

    @rule(op=st.sampled_from(["start", "stop", "suspend", "resume", "cancel_bolus",
                              "cancel_temp_basal", "start", "resume"]))
    def state_command(self, op):
        self.command(getattr(self.pump, op)())

    @rule(resume=st.booleans())
    def acknowledge(self, resume):
        self.command(self.pump.acknowledge(resume))

    @rule(minutes=st.integers(15, 480), confirmed=st.booleans())
    def suspend_for(self, minutes, confirmed):
        if confirmed:
            self.press()
        self.command(self.pump.suspend(minutes * MS_PER_MINUTE))

    @rule()
    def press_button(self):
        self.press()

    @rule(pulses=st.integers(1, 600), extended=st.sampled_from([0, 0, 0, 30, 120]),
          with_id=st.booleans(), replay=st.booleans(), age_s=st.sampled_from([0, 5, 90]),
          then=st.sampled_from(WAITS))
    def bolus(self, pulses, extended, with_id, replay, age_s, then):
        cmd_id = issued = None
        if with_id:
            cmd_id = self.next_id - 1 if replay and self.next_id > 1 else self.next_id
            self.next_id += 1
            issued = max(0, self.pump.clock.ticks_ms() - age_s * 1000)
        self.command(self.pump.bolus(pulses * PULSE_MU, cmd_id, issued,
                                     extended * MS_PER_MINUTE))
        self.insulin_on_board_within_limit()
        run_for(self.pump, self.hw, then * MS_PER_MINUTE)

    @rule(percent=st.integers(0, 250), minutes=st.integers(15, 300), absolute=st.booleans())
    def temp_basal(self, percent, minutes, absolute):
        if absolute:
            result = self.pump.temp_basal(minutes * MS_PER_MINUTE, rate_mu_h=percent * 20)
        else:
            result = self.pump.temp_basal(minutes * MS_PER_MINUTE, percent=percent)
        self.command(result)

    @rule(name=st.sampled_from(sorted(HARD_RANGES)), data=st.data())
    def set_limit(self, name, data):
        low, high = HARD_RANGES[name][1:]
        value = data.draw(st.integers(low, high))
        result = self.command(self.pump.set_limits({name: value}))
        if result.ok:
            self.note_limits()

    @rule(hours=st.integers(-30, 30))
    def change_wall_clock(self, hours):
        self.command(self.pump.set_wall_clock(max(0, self.hw.clock.wall_s() + hours * 3600)))

    @rule(tubing=st.integers(1, 900), cannula=st.integers(0, 30), fresh=st.booleans(),
          confirm=st.booleans())
    def reservoir_change(self, tubing, cannula, fresh, confirm):
        pump, hw = self.pump, self.hw
        self.command(pump.stop())
        if fresh:
            hw.reservoir.mu = min(hw.reservoir.mu, 20000)
        self.command(pump.rewind())
        if fresh:
            hw.reservoir.mu = 300000
        self.command(pump.load_reservoir())
        if confirm:
            self.press()
        self.command(pump.prime(tubing * PULSE_MU))
        run_for(pump, hw, 31 * MS_PER_MINUTE)
        if confirm:
            self.press()
        self.command(pump.connect())
        if cannula:
            self.command(pump.fill_cannula(cannula * PULSE_MU))
            self.insulin_on_board_within_limit()
            run_for(pump, hw, 2 * MS_PER_MINUTE)
        else:
            self.command(pump.finish_change())

    @rule(authorized=st.booleans())
    def service_reset(self, authorized):
        result = self.command(self.pump.service_reset(authorized))
        if result.ok:
            self.note_limits()
            if not self.written or self.pump.log.head_seq < self.written[-1][2]:
                self.written = [(r.type, r.data, r.seq)
                                for r in audit_log.verify(region(self.flash), KEY)]

    # -- time, faults, power, tampering ---------------------------------------------------
    @rule(minutes=st.sampled_from(WAITS))
    def advance(self, minutes):
        run_for(self.pump, self.hw, minutes * MS_PER_MINUTE)

    @rule(fault=st.sampled_from(sorted(FAULTS)))
    def fault(self, fault):
        device, attribute, value = FAULTS[fault]
        if attribute == "drift":
            self.drifted = True
            self.hw.motor.drift(value)
        else:
            setattr(getattr(self.hw, device), attribute, value)

    @rule()
    def power_cycle(self):
        self.boot()

    @rule()
    def snapshot_flash(self):
        self.images.append(self.flash.read(0, self.flash.size))
        del self.images[:-3]

    @rule(how=st.sampled_from(["erase-newest", "erase-any", "rollback", "bit-flip"]),
          data=st.data())
    def tamper_and_reboot(self, how, data):
        flash = self.flash
        used = [i for i in range(flash.size // SECTOR)
                if not flash.is_erased(i * SECTOR, SECTOR)]
        if how == "rollback" and self.images:
            image = data.draw(st.sampled_from(self.images))
            for index in range(flash.size // SECTOR):
                flash.erase(index * SECTOR)
            flash.program(0, image)
        elif how == "bit-flip" and used:
            index = data.draw(st.sampled_from(used))
            raw = bytearray(flash.read(index * SECTOR, SECTOR))
            offset = data.draw(st.integers(0, SECTOR - 1))
            if raw[offset] == 0:
                return                      # NOR cannot set bits; nothing to flip here
            raw[offset] &= raw[offset] - 1  # clear one set bit
            flash.program(index * SECTOR + offset - offset % 4,
                          bytes(raw[offset - offset % 4:offset - offset % 4 + 4]))
        elif used:
            if how == "erase-newest":
                index = max(used, key=lambda i: int.from_bytes(flash.read(i * SECTOR + 4, 4),
                                                                "big"))
            else:
                index = data.draw(st.sampled_from(used))
            flash.erase(index * SECTOR)
        else:
            return
        self.tampered = True
        self.boot()

    # -- invariants -----------------------------------------------------------------------
    def new_pulses(self):
        """Pulses since the last invariant check, sorted into patient and basal lists (kept
        incrementally: the checks stay linear in the run, not quadratic)."""
        motor = self.hw.motor
        for index in range(self.seen_pulses, len(motor.log)):
            state, kind, tick = motor.states[index], motor.kinds[index], motor.log[index]
            if kind == delivery.PRIME:
                assert state == T.PRIMING, state
            elif kind == delivery.CANNULA:
                assert state == T.FILLING_CANNULA, state
            else:
                assert state == T.DELIVERING, (state, kind)
            if kind in TO_PATIENT:
                self.patient.append(tick)
            if kind == delivery.BASAL:
                self.last_basal = tick
        self.seen_pulses = len(motor.log)

    @invariant()
    def pulses_only_in_delivering_or_filling(self):
        self.new_pulses()

    @invariant()
    def rolling_windows_within_limits(self):
        self.new_pulses()
        patient = self.patient
        for index in range(self.checked_pulses, len(patient)):
            t = patient[index]
            for length, name in ((MS_PER_HOUR, "max_1h_mu"), (24 * MS_PER_HOUR, "max_24h_mu")):
                first = bisect.bisect_right(patient, t - length)
                delivered = (index - first + 1) * PULSE_MU
                assert delivered <= self.highest_limit(name, t - length, t), (name, t)
        self.checked_pulses = len(patient)

    def highest_limit(self, name, start, end):
        best = 0
        for index, (since, limits) in enumerate(self.limit_history):
            until = self.limit_history[index + 1][0] if index + 1 < len(self.limit_history) \
                else end + 1
            if until > start and since <= end:
                best = max(best, getattr(limits, name))
        return best

    @invariant()
    def insulin_on_board_within_limit(self):
        """IOB above scheduled basal from the motor's log: every non-basal pulse, and basal
        pulses beyond the highest programmed rate in each quarter hour (a lenient oracle for
        basal, exact for boluses and fills)."""
        motor = self.hw.motor
        now = self.now()
        dia = HARD_RANGES["dia_minutes"][2]
        start = now - dia * MS_PER_MINUTE
        limits = self.limits()
        first = bisect.bisect_left(motor.log, start)
        per_block = (max(self.program) * 15 * MS_PER_MINUTE) // delivery.PULSE_WORK + 1
        blocks = {}
        total = 0
        for t, kind in zip(motor.log[first:], motor.kinds[first:]):
            if kind not in TO_PATIENT:
                continue
            if kind == delivery.BASAL and t >= self.program_since:
                block = t // (15 * MS_PER_MINUTE)
                blocks[block] = blocks.get(block, 0) + 1
                if blocks[block] <= per_block:
                    continue
            elif kind == delivery.BASAL:
                continue                     # an older program: not judged here
            minutes = (now - t) // MS_PER_MINUTE
            total += PULSE_MU * iob.remaining_ppm(minutes, limits.peak_minutes,
                                                  limits.dia_minutes)
        highest = self.highest_limit("max_iob_mu", start, now)
        assert total // iob.SCALE <= highest + PULSE_MU, (total // iob.SCALE, highest)

    @invariant()
    def no_silent_loss_of_basal(self):
        if min(self.program) < 400 or not self.pump.controller.program_set:
            self.was_delivering = self.pump.state == T.DELIVERING
            return                           # a pump that lost its program says so (warning)
        now = self.now()
        delivering = self.pump.state == T.DELIVERING
        if delivering and not self.was_delivering:
            self.basal_since = now           # (re)started: its first pulse is yet to come
        self.was_delivering = delivering
        bound = self.highest_limit("max_no_basal_ms", now - 6 * MS_PER_HOUR, now)
        self.new_pulses()
        last = max(self.last_basal, self.program_since, self.basal_since)
        if now - last <= bound + 45 * MS_PER_MINUTE:
            return
        if self.last_press is not None and now - self.last_press < 10 * MS_PER_HOUR:
            return                           # the patient may have accepted it
        assert self.hw.ui.alarm_active, (self.pump.state, self.pump.status())

    @invariant()
    def no_spurious_monitor_latch(self):
        latched = self.pump.monitor.latched
        allowed = {""}
        if self.drifted:
            allowed |= {"SM-RUNAWAY", "IL-MOTOR-ENCODER"}
        if self.tampered:
            allowed |= {"IL-LOG-INTEGRITY", "IL-SETTINGS-INTEGRITY"}
        assert latched in allowed, latched

    @invariant()
    def alarms_are_logged(self):
        if self.pump.log.problem:
            return
        state = self.pump.state
        if state == T.ALARM:
            raised = [d for t, d, _ in self.written if t == audit_log.EV_ALARM and d[1] == 1]
            assert raised and self.pump.controller.alarm_id in [d[0] for d in raised]
        if state == T.SAFE_STOP:
            reason = self.pump.monitor.latched or self.pump.controller.latched
            assert reason
            assert any(t == audit_log.EV_SAFE_STOP and d == reason for t, d, _ in self.written)

    @invariant()
    def log_verifies(self):
        self.steps += 1
        if self.steps % 10 == 0 and not self.pump.log.problem:
            audit_log.verify(region(self.flash), KEY, self.pump.log_head())

    def teardown(self):
        if not self.pump.log.problem:
            audit_log.verify(region(self.flash), KEY, self.pump.log_head())


PumpModel.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS,
                                       deadline=None)
test_pump_model = PumpModel.TestCase
