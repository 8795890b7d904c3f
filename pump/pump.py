"""The pump: public entry points over the controller, the safety monitor and the audit log.

Every entry point validates type and range first, answers a ``Result`` with a defined code,
and writes the command or its refusal to the audit log. A refusal never changes therapy.
No exception escapes into a delivering state: one raised by the controller latches the
safety monitor (which cuts motor power) and drives the pump to safe-stop.

Therapy that raises delivery (bolus, temporary basal, basal program, limits, prime) is
declared to the safety monitor from the command's own arguments, not by the controller:
the monitor's budget is what was asked for, whatever the controller then does.
"""

from bootloader.flash import PowerCut
from pump import audit_log as L
from pump import recovery, results, therapy_table as T
from pump.controller import TherapyController
from pump.delivery import PULSE_INTERVAL_MS
from pump.limits import HARD_RANGES, Limits
from pump.results import Refused, Result
from pump.safety_monitor import SafetyMonitor
from pump.units import BASAL_SLOTS, MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU, is_int

MAX_BOLUS_MU = HARD_RANGES["max_bolus_mu"][2]
MAX_EXTENDED_MS = 8 * MS_PER_HOUR
MIN_TEMP_MS = 15 * MS_PER_MINUTE
EXTENDED_SPACING_MS = 4 * PULSE_INTERVAL_MS   # room for basal pulses between extended ones


def _int(name, value, low, high):
    if not is_int(value):
        raise Refused(results.ERR_TYPE, "%s must be an integer" % name)
    if not low <= value <= high:
        raise Refused(results.ERR_RANGE, "%s=%d outside %d..%d" % (name, value, low, high))
    return value


def _dose(name, value, high):
    _int(name, value, PULSE_MU, high)
    if value % PULSE_MU:
        raise Refused(results.ERR_RANGE, "%s must be a multiple of %d mU" % (name, PULSE_MU))
    return value


def _command_id(cmd_id, issued_ms):
    """Remote therapy commands carry an id (int or up to 16 bytes) and the tick they were
    issued at (pump monotonic time, learnt through time sync)."""
    if cmd_id is None and issued_ms is None:
        return
    if cmd_id is None or issued_ms is None:
        raise Refused(results.ERR_TYPE, "cmd_id and issued_ms go together")
    if isinstance(cmd_id, bytes):
        if not 1 <= len(cmd_id) <= 16:
            raise Refused(results.ERR_RANGE, "cmd_id must be 1..16 bytes")
    else:
        _int("cmd_id", cmd_id, 0, (1 << 63) - 1)
    _int("issued_ms", issued_ms, 0, (1 << 63) - 1)


class Pump:
    def __init__(self, hw, flash, log_key, limits=None):
        if not isinstance(log_key, bytes) or len(log_key) < 16:
            raise ValueError("log key must be at least 16 bytes")
        self.hw = hw
        self.clock = hw.clock
        self.refusals = {}
        self.unlogged = 0
        now = self.clock.ticks_ms()
        self.log = L.AuditLog(flash, log_key, checkpoint=self._checkpoint)
        defaults = limits if limits is not None else Limits()
        state = None
        if not self.log.problem:
            state = recovery.rebuild(self.log.recovered, defaults)
        self.log.recovered = None
        base = Limits.from_list(state["limits"]) if state else defaults
        self.monitor = SafetyMonitor(hw.motor, self.clock, base)
        self.controller = TherapyController(hw, self.monitor, hw.motor.encoder, base,
                                            self._log, now, state)
        self._seed_monitor(now)
        if self.log.problem:
            self.controller.boot_problem = "IL-LOG-INTEGRITY"
        else:
            self.log.ensure_checkpoint(now, self.clock.wall_s())
        self._log(L.EV_BOOT, {"head": self.log.head_seq})
        self._run("self_test", {}, self._self_test)

    # -- boot ---------------------------------------------------------------------
    def _seed_monitor(self, now):
        controller = self.controller
        self.monitor.set_program(controller.engine.program)
        net = {}
        for end, mu in controller.ledger.entries:
            net[end] = net.get(end, 0) + mu
        for end in sorted(net):            # in time order: dict order is not (MicroPython)
            if net[end] > 0:
                self.monitor.seed(min(end, now), net[end] // PULSE_MU)
        if controller.latched:
            self.monitor.latch(controller.latched)

    def _monitor_agrees(self, now):
        """After a declaration: if the monitor refused it, the controller accepted something
        unsafe. That is a fault, not a refusal: safe-stop, and say which check tripped."""
        if self.monitor.latched:
            self.controller.fault(now, self.monitor.latched)
            raise Refused(results.ERR_INTERNAL, self.monitor.latched)

    def _self_test(self, now):
        controller = self.controller
        if controller.boot_problem and not controller.latched:
            controller.fault(now, controller.boot_problem)
            return
        controller.self_test(now)

    def _checkpoint(self):
        return self.controller.persistent_state()

    def _log(self, rtype, data):
        if self.log.problem:
            self.unlogged += 1          # a damaged log is kept as evidence, not written
            return
        self.log.append(rtype, data, self.clock.ticks_ms(), self.clock.wall_s())

    # -- the guarded call -----------------------------------------------------------
    def _run(self, op, args, action):
        now = self.clock.ticks_ms()
        try:
            try:
                value = action(now)
            except Refused as refusal:
                self._count_refusal(refusal)
                self._log(L.EV_REFUSAL, {"op": op, "code": refusal.code, "why": refusal.reason})
                return Result(refusal.code, refusal.reason)
            if op != "self_test":
                self._log(L.EV_COMMAND, {"op": op, "args": args})
            return Result(results.OK, value=value)
        except PowerCut:
            raise
        except Exception as exc:      # any controller or log fault: no delivery + alarm
            self._contain(now, op, exc)
            return Result(results.ERR_INTERNAL, "SM-CONTROLLER-FAULT")

    def _count_refusal(self, refusal):
        """Counted by interlock ID, or by result code for input errors: never by text a
        peer chose."""
        reason = refusal.reason
        key = reason if reason[:3] in ("IL-", "SM-") else results.NAMES.get(refusal.code, "?")
        self.refusals[key] = self.refusals.get(key, 0) + 1

    def _contain(self, now, op, exc):
        self.monitor.latch("SM-CONTROLLER-FAULT")
        try:
            self.controller.fault(now, "SM-CONTROLLER-FAULT")
            self._log(L.EV_REFUSAL, {"op": op, "code": results.ERR_INTERNAL,
                                     "why": ("%s: %s" % (type(exc).__name__, exc))[:80]})
        except PowerCut:
            raise
        except Exception:             # the controller itself is broken: the latch holds
            self.unlogged += 1

    # -- time --------------------------------------------------------------------------
    def tick(self):
        """Run the pump up to the clock's now; returns the tick to call again at."""
        now = self.clock.ticks_ms()
        try:
            if not self.monitor.check(now) and self.controller.state != T.SAFE_STOP:
                self.controller.fault(now, self.monitor.latched)
            return self.controller.tick(now)
        except PowerCut:
            raise
        except Exception as exc:
            self._contain(now, "tick", exc)
            return now + MS_PER_MINUTE

    # -- commands ----------------------------------------------------------------------
    def start(self):
        return self._run("start", {}, lambda now: self._start_therapy("start", now))

    def stop(self):
        return self._run("stop", {}, lambda now: self.controller.fire("stop", now))

    def suspend(self):
        return self._run("suspend", {}, lambda now: self.controller.fire("suspend", now))

    def resume(self):
        return self._run("resume", {}, lambda now: self._start_therapy("resume", now))

    def _start_therapy(self, trigger, now):
        state = self.controller.fire(trigger, now)
        self.monitor.therapy_started()
        return state

    def acknowledge(self):
        return self._run("acknowledge", {}, self.controller.acknowledge)

    def begin_update(self):
        return self._run("begin_update", {},
                         lambda now: self.controller.fire("begin_update", now))

    def cancel_update(self):
        return self._run("cancel_update", {},
                         lambda now: self.controller.fire("cancel_update", now))

    def prime(self, mu):
        def action(now):
            _dose("mu", mu, HARD_RANGES["max_prime_mu"][2])
            self.controller.prime(now, mu)
            self.monitor.declare_prime(mu // PULSE_MU)
            self._monitor_agrees(now)
        return self._run("prime", {"mu": mu}, action)

    def bolus(self, mu, cmd_id=None, issued_ms=None, duration_ms=0):
        """Normal bolus, or extended over ``duration_ms`` (15 min .. 8 h)."""
        def action(now):
            _dose("mu", mu, MAX_BOLUS_MU)
            _command_id(cmd_id, issued_ms)
            _int("duration_ms", duration_ms, 0, MAX_EXTENDED_MS)
            if 0 < duration_ms < MIN_TEMP_MS:
                raise Refused(results.ERR_RANGE, "extended bolus lasts at least 15 min")
            if duration_ms and duration_ms < (mu // PULSE_MU) * EXTENDED_SPACING_MS:
                raise Refused(results.ERR_RANGE, "extended bolus faster than the motor paces")
            pulses = self.controller.bolus(now, mu, duration_ms, cmd_id, issued_ms)
            if duration_ms:
                self.monitor.declare_extended(mu // PULSE_MU, duration_ms, now)
            else:
                self.monitor.declare_bolus(mu // PULSE_MU)
            self._monitor_agrees(now)
            return pulses * PULSE_MU
        args = {"mu": mu, "duration_ms": duration_ms}
        if cmd_id is not None:
            args["cmd_id"] = cmd_id
            args["issued_ms"] = issued_ms
        return self._run("bolus", args, action)

    def cancel_bolus(self):
        return self._run("cancel_bolus", {}, self.controller.cancel_bolus)

    def temp_basal(self, duration_ms, percent=None, rate_mu_h=None, cmd_id=None,
                   issued_ms=None):
        """Temporary basal: ``percent`` of the program, or an absolute ``rate_mu_h``."""
        def action(now):
            if (percent is None) == (rate_mu_h is None):
                raise Refused(results.ERR_TYPE, "give exactly one of percent and rate_mu_h")
            if percent is not None:
                value = _int("percent", percent, 0, HARD_RANGES["max_temp_percent"][2])
            else:
                value = _int("rate_mu_h", rate_mu_h, 0,
                             HARD_RANGES["max_temp_basal_mu_h"][2])
            _int("duration_ms", duration_ms, MIN_TEMP_MS,
                 HARD_RANGES["max_temp_duration_ms"][2])
            _command_id(cmd_id, issued_ms)
            is_percent = percent is not None
            self.controller.temp_basal(now, value, is_percent, duration_ms, cmd_id, issued_ms)
            self.monitor.set_temp(value, is_percent, now + duration_ms)
        args = {"duration_ms": duration_ms}
        if percent is not None:
            args["percent"] = percent
        if rate_mu_h is not None:
            args["rate_mu_h"] = rate_mu_h
        if cmd_id is not None:
            args["cmd_id"] = cmd_id
            args["issued_ms"] = issued_ms
        return self._run("temp_basal", args, action)

    def cancel_temp_basal(self):
        return self._run("cancel_temp_basal", {}, self.controller.cancel_temp_basal)

    def set_basal_program(self, rates):
        """48 half-hour rates in mU/h, from midnight."""
        def action(now):
            if not isinstance(rates, (list, tuple)):
                raise Refused(results.ERR_TYPE, "rates must be a list")
            if len(rates) != BASAL_SLOTS:
                raise Refused(results.ERR_RANGE, "rates needs %d entries" % BASAL_SLOTS)
            for rate in rates:
                _int("rate", rate, 0, HARD_RANGES["max_basal_mu_h"][2])
            self.controller.set_program(now, list(rates))
            self.monitor.set_program(list(rates))
        return self._run("set_basal_program", {"rates": list(rates) if isinstance(
            rates, (list, tuple)) else None}, action)

    def set_limits(self, values):
        def action(now):
            if not isinstance(values, dict):
                raise Refused(results.ERR_TYPE, "limits must be a map")
            for name in values:
                if name not in HARD_RANGES:
                    raise Refused(results.ERR_RANGE, "unknown limit")
                low, high = HARD_RANGES[name][1:]
                _int(name, values[name], low, high)
            self.controller.set_limits(now, values)
            self.monitor.set_limits(values)
        return self._run("set_limits", {"values": dict(values) if isinstance(
            values, dict) else None}, action)

    def set_wall_clock(self, wall_s):
        def action(now):
            _int("wall_s", wall_s, 0, (1 << 40))
            self.controller.set_wall_clock(now, wall_s)
        return self._run("set_wall_clock", {"wall_s": wall_s}, action)

    def service_reset(self, authorized):
        """Clear a latched safe-stop. ``authorized`` is the service role's proof, checked by
        the secure channel; the pump also re-runs its self-test."""
        def action(now):
            if authorized is not True:
                raise Refused(results.ERR_GUARD, "service authorization required")
            if self.log.problem:
                self.log.restart()
                self.controller.boot_problem = ""
            self.controller.service_reset(now)
            self.monitor.service_reset()
            self.controller.self_test(now)
        return self._run("service_reset", {}, action)

    # -- reading -----------------------------------------------------------------------
    @property
    def state(self):
        if self.monitor.latched:
            return T.SAFE_STOP
        return self.controller.state

    def status(self):
        controller = self.controller
        now = self.clock.ticks_ms()
        engine = controller.engine
        return {
            "state": self.state,
            "alarm": controller.alarm_id or self.monitor.latched,
            "warnings": list(controller.warnings),
            "iob_mu": controller.insulin_on_board(now),
            "reservoir_mu": self.hw.reservoir.remaining_mu(),
            "battery_percent": self.hw.battery.percent(),
            "basal_mu_h": engine.basal_rate(now, self.clock.wall_s())
            if self.state == T.DELIVERING else 0,
            "bolus_left_mu": (engine.bolus_pulses + engine.ext_pulses) * PULSE_MU,
            "temp_basal": engine.temp is not None,
            "log_seq": self.log.head_seq,
        }

    def log_head(self):
        return self.log.head()

    def record_refusal(self, op, reason):
        """Log a refusal decided outside the pump (protocol schema, role, PIN, session), so
        every refusal lands in the one audit log."""
        reason = str(reason)[:Refused.MAX_REASON]
        self._count_refusal(Refused(results.ERR_GUARD, reason))
        self._log(L.EV_REFUSAL, {"op": str(op)[:32], "code": None, "why": reason})
