"""Stateful property test: random commands, faults, time and power cycles against the pump.

Invariants, checked against the motor's own pulse log (an oracle outside the firmware):
- no pulse outside the delivering state (priming pulses only while priming);
- no rolling 1 h or 24 h window holds more than the highest limit in force during it;
- right after an accepted bolus, insulin on board (the pump's and the oracle's, computed
  from actual pulses plus the bolus still to come) is within the IOB limit;
- every refusal and every alarm is in the audit log, and the log verifies.
The `ci` profile runs 40 examples x 50 steps = 2,000 steps; `deep` runs far more.
"""

import bisect
import os

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pump import audit_log, iob, therapy_table as T
from pump.hal import MemoryHardware, MemoryMotor
from pump.limits import HARD_RANGES, Limits
from pump.pump import Pump
from pump.units import MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU

from pump_fixtures import KEY, new_flash, region, run_for

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = {"ci": 40, "deep": 1000}.get(PROFILE, 10)
STEPS = {"ci": 50, "deep": 100}.get(PROFILE, 30)
WAITS = [1, 5, 30, 60, 180, 600, 1440]       # minutes of pump time a step may run on
FAULTS = {
    "occlusion": ("pressure", "mbar", 1600), "occlusion-severe": ("pressure", "mbar", 2500),
    "pressure-normal": ("pressure", "mbar", 100), "pressure-rising": ("pressure", "mbar", 900),
    "reservoir-low": ("reservoir", "mu", 15000), "reservoir-empty": ("reservoir", "mu", 10),
    "reservoir-refill": ("reservoir", "mu", 300000), "battery-low": ("battery", "level", 15),
    "battery-critical": ("battery", "level", 3), "battery-new": ("battery", "level", 100),
    "motor-drift": ("motor", "drift", 1),
}


class ProbedMotor(MemoryMotor):
    """Records, for every pulse, the therapy state the pump was in."""

    def __init__(self, reservoir):
        MemoryMotor.__init__(self, reservoir)
        self.state_of = None
        self.states = []

    def pulse(self):
        if self.enabled:
            self.states.append(self.state_of())
        MemoryMotor.pulse(self)


class PumpModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.hw = MemoryHardware()
        self.hw.motor = ProbedMotor(self.hw.reservoir)
        self.hw.motor.clock = self.hw.clock
        self.flash = new_flash(24)
        self.written = []
        self.boot()
        self.limit_history = [(0, Limits())]
        self.checked_pulses = 0
        self.next_id = 1
        self.steps = 0

    # -- plumbing -----------------------------------------------------------------------
    def boot(self):
        self.pump = Pump(self.hw, self.flash, KEY)
        seen = self.written[-1][2] if self.written else 0
        for record in audit_log.verify(region(self.flash), KEY):   # what booting wrote
            if record.seq > seen:
                self.written.append((record.type, record.data, record.seq))
        self.hw.motor.state_of = lambda: self.pump.state
        original = self.pump.log.append

        def append(rtype, data, tick, wall):
            seq = original(rtype, data, tick, wall)
            self.written.append((rtype, data, seq))
            return seq
        self.pump.log.append = append

    def command(self, result):
        """Every refusal must be the last thing written to the log."""
        if not result.ok:
            rtype, data, _ = self.written[-1]
            assert rtype == audit_log.EV_REFUSAL and data["why"] == result.reason, result
        return result

    def now(self):
        return self.hw.clock.ticks_ms()

    def limits(self):
        return self.pump.controller.limits

    # -- therapy commands -----------------------------------------------------------------
    @initialize(rate=st.integers(0, 2500), night=st.integers(0, 2500))
    def delivering(self, rate, night):
        self.set_program(rate, night)
        self.command(self.pump.start())

    @rule(rate=st.integers(0, 2500), night=st.integers(0, 2500))
    def set_program(self, rate, night):
        self.command(self.pump.set_basal_program([night] * 12 + [rate] * 36))

    @rule(op=st.sampled_from(["start", "stop", "suspend", "resume", "acknowledge",
                              "cancel_bolus", "cancel_temp_basal", "start", "resume"]))
    def state_command(self, op):
        self.command(getattr(self.pump, op)())

    @rule(pulses=st.integers(1, 600), extended=st.sampled_from([0, 0, 0, 30, 120]),
          with_id=st.booleans(), replay=st.booleans(), age_s=st.sampled_from([0, 5, 90]),
          then=st.sampled_from(WAITS))
    def bolus(self, pulses, extended, with_id, replay, age_s, then):
        cmd_id = issued = None
        if with_id:
            cmd_id = self.next_id - 1 if replay and self.next_id > 1 else self.next_id
            self.next_id += 1
            issued = max(0, self.now() - age_s * 1000)
        result = self.command(self.pump.bolus(pulses * PULSE_MU, cmd_id, issued,
                                              extended * MS_PER_MINUTE))
        if result.ok:
            self.check_iob_after_bolus(pulses * PULSE_MU)
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
            self.limit_history.append((self.now(), Limits(self.limits().as_dict())))

    @rule(hours=st.integers(-30, 30))
    def change_wall_clock(self, hours):
        self.command(self.pump.set_wall_clock(max(0, self.hw.clock.wall_s() + hours * 3600)))

    @rule(pulses=st.integers(1, 100))
    def prime(self, pulses):
        self.command(self.pump.prime(pulses * PULSE_MU))

    @rule(authorized=st.booleans())
    def service_reset(self, authorized):
        self.command(self.pump.service_reset(authorized))

    # -- time, faults, power ----------------------------------------------------------------
    @rule(minutes=st.sampled_from(WAITS))
    def advance(self, minutes):
        run_for(self.pump, self.hw, minutes * MS_PER_MINUTE)

    @rule(fault=st.sampled_from(sorted(FAULTS)))
    def fault(self, fault):
        device, attribute, value = FAULTS[fault]
        if attribute == "drift":
            self.hw.motor.drift(value)
        else:
            setattr(getattr(self.hw, device), attribute, value)

    @rule()
    def power_cycle(self):
        self.boot()

    # -- invariants -----------------------------------------------------------------------
    @invariant()
    def pulses_only_while_delivering_or_priming(self):
        for state in self.hw.motor.states:
            assert state in (T.DELIVERING, T.PRIMING), state

    @invariant()
    def rolling_windows_within_limits(self):
        motor = self.hw.motor
        patient = [t for t, s in zip(motor.log, motor.states) if s == T.DELIVERING]
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

    def check_iob_after_bolus(self, mu):
        limits = self.limits()
        now = self.now()
        assert self.pump.controller.insulin_on_board(now) <= limits.max_iob_mu
        motor = self.hw.motor
        on_board = 0                       # in mU x SCALE: exact, rounded once at the end
        for t, state in zip(motor.log, motor.states):
            if state == T.DELIVERING:      # priming pulses never reach the patient
                minutes = (now - t) // MS_PER_MINUTE
                on_board += PULSE_MU * iob.remaining_ppm(minutes, limits.peak_minutes,
                                                         limits.dia_minutes)
        oracle = mu + on_board // iob.SCALE
        assert oracle <= limits.max_iob_mu, (oracle, limits.max_iob_mu)

    @invariant()
    def alarms_are_logged(self):
        state = self.pump.state
        if state == T.ALARM:
            raised = [d for t, d, _ in self.written if t == audit_log.EV_ALARM and d[1] == 1]
            assert raised and raised[-1][0] == self.pump.controller.alarm_id
        if state == T.SAFE_STOP:
            reason = self.pump.monitor.latched or self.pump.controller.latched
            assert reason
            assert any(t == audit_log.EV_SAFE_STOP and d == reason for t, d, _ in self.written)

    @invariant()
    def log_verifies(self):
        self.steps += 1
        if self.steps % 10 == 0:
            audit_log.verify(region(self.flash), KEY, self.pump.log_head())

    def teardown(self):
        audit_log.verify(region(self.flash), KEY, self.pump.log_head())


PumpModel.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS,
                                       deadline=None)
test_pump_model = PumpModel.TestCase
