"""The pump: public entry points over the controller, the safety monitor and the audit log.

Every entry point validates type and range first, answers a ``Result`` with a defined code,
and writes the command or its refusal to the audit log. A refusal never changes therapy.
No exception escapes into a delivering state: one raised by the controller latches the
safety monitor (which cuts motor power) and drives the pump to safe-stop.

Only this object holds both halves. The safety monitor holds the motor; the controller
gets a hardware view without it and asks for pulses through a ``PulseChannel`` that the
pump hands to the monitor. Therapy that raises delivery (start and resume, bolus, temporary
basal, basal program, limits, reservoir change and fills) is declared to the monitor from
the command's own arguments, not by the controller: the monitor's budget is what was asked
for, whatever the controller then does.

Boot: the secure store's anchor says where the log must reach; the log is replayed; the
sealed settings give the clinician's limits and program; the tick counter is continued from
the last logged tick; after self-test the therapy that was running resumes. A log that fails
its checks latches safe-stop (IL-LOG-INTEGRITY); after service, dose history is unknown and
the pump assumes the worst for one insulin-action window.
"""

from pump import audit_log as L
from pump import recovery, results, therapy_table as T
from pump.bolus_calculator import BolusCalculator, bolus_arguments, minute_of_day
from pump.clock import CREDIT_BUDGET_MS, PumpClock
from pump.controller import TherapyController
from pump.delivery import PULSE_INTERVAL_MS
from pump.ledger import ACTIVE
from pump.limits import HARD_RANGES, Limits
from pump.results import Refused, Result
from pump.safety_monitor import PulseChannel, SafetyMonitor
from pump.sealed import Anchor, SealError, SealedStore
from pump.units import BASAL_SLOTS, MS_PER_HOUR, MS_PER_MINUTE, PULSE_MU

MAX_BOLUS_MU = HARD_RANGES["max_bolus_mu"][2]
MAX_EXTENDED_MS = 8 * MS_PER_HOUR
MIN_TEMP_MS = 15 * MS_PER_MINUTE
EXTENDED_SPACING_MS = 4 * PULSE_INTERVAL_MS   # room for basal pulses between extended ones
UPDATE_BOLUS = "IL-UPDATE-BOLUS"
SUGGESTION_HOLDS_UPDATE_MS = 5 * MS_PER_MINUTE   # a suggestion the patient may still confirm
HEARTBEAT_MS = MS_PER_MINUTE                   # "alive" written to the secure store
MAX_IMAGE_BYTES = 1 << 24                      # the largest software image announced


_int = results.check_int

# Accepted without a log record: the boot's self-test, and CGM readings (one every 5 min
# would be most of the log and wear the flash; a reading that holds basal is logged by the
# hold, a refused one as every refusal, and the pump keeps the recent ones in memory).
_UNLOGGED = ("self_test", "cgm_reading")


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
    if type(cmd_id) is bytes:
        if not 1 <= len(cmd_id) <= 16:
            raise Refused(results.ERR_RANGE, "cmd_id must be 1..16 bytes")
    else:
        _int("cmd_id", cmd_id, 0, (1 << 63) - 1)
    _int("issued_ms", issued_ms, 0, (1 << 63) - 1)


def _shown(code):
    """A character that may stand in a one-line log text: no control characters, line or
    paragraph separators, zero-width or direction-changing marks (a peer's text must not
    forge lines or reorder what a reader sees)."""
    return not (code < 0x20 or 0x7F <= code < 0xA0 or 0x200B <= code <= 0x200F or
                0x2028 <= code <= 0x202E or 0x2066 <= code <= 0x2069 or code == 0xFEFF)


def _text(value, limit):
    """``str(value)`` cut to ``limit``, on one line (see ``_shown``: others become "?");
    a value whose ``__str__`` fails is named by type."""
    try:
        text = str(value)
    except Exception:
        text = "<%s>" % type(value).__name__
    if type(text) is not str:
        text = "?"
    text = text[:limit]
    for ch in text:
        if not _shown(ord(ch)):
            return "".join(ch if _shown(ord(ch)) else "?" for ch in text)
    return text


class LogPort:
    """Writes records to the audit log at the clock's time; a damaged log is kept as
    evidence and not written (the records are counted as unlogged)."""

    def __init__(self, log, clock):
        self.audit = log
        self.clock = clock
        self.unlogged = 0

    def __call__(self, rtype, data):
        if self.audit.problem:
            self.unlogged += 1
            return
        self.audit.append(rtype, data, self.clock.ticks_ms(), self.clock.wall_s())


class AnchorWriter:
    """After each committed record, move the log's anchor in the secure store (with the
    tick of the last basal pulse, which the controller keeps)."""

    def __init__(self, sealed, anchor, controller):
        self.sealed = sealed
        self.anchor = anchor
        self.controller = controller

    def __call__(self, seq, chain, alive=None):
        self.anchor.seq = seq
        self.anchor.chain = chain
        if alive is not None:
            self.anchor.alive = alive
        self.anchor.basal = self.controller.last_basal_at
        self.anchor.volatile = self.controller.volatile_record()
        self.sealed.write_anchor(self.anchor)


class ControllerHardware:
    """The hardware the controller may touch: everything but the motor."""

    __slots__ = ("clock", "pressure", "reservoir", "battery", "ui", "watchdog")

    def __init__(self, hw, clock):
        self.clock = clock
        self.pressure = hw.pressure
        self.reservoir = hw.reservoir
        self.battery = hw.battery
        self.ui = hw.ui
        self.watchdog = hw.watchdog


class Pump:
    """The firmware's top object: one per device; see the module docstring."""

    def __init__(self, hw, flash, log_key, limits=None):
        if not isinstance(log_key, bytes) or len(log_key) < 16:
            raise ValueError("log key must be at least 16 bytes")
        self.hw = hw
        self.refusals = {}
        self.sealed = SealedStore(hw.secure_store, log_key)
        seal_problem = ""
        anchor = settings = None
        try:
            anchor = self.sealed.anchor()
            settings = self.sealed.settings()
        except SealError:
            seal_problem = "IL-SETTINGS-INTEGRITY"
        self._settings_bad = bool(seal_problem)
        self.anchor = anchor or Anchor()
        defaults = limits if limits is not None else Limits()
        replay = recovery.Replay(defaults)
        log = L.AuditLog(flash, log_key, anchor=(self.anchor.seq, self.anchor.chain)
                         if anchor else None, on_record=replay.add)
        if not log.problem and anchor is None and log.head_seq and not seal_problem:
            log.problem = "log has records but no anchor: the secure store was replaced"
            log._offset = None
        self.log = log
        alive = replay.last_tick
        if anchor is not None and anchor.alive is not None and (alive is None or
                                                                anchor.alive > alive):
            alive = anchor.alive
        budget = CREDIT_BUDGET_MS
        if anchor is not None and anchor.credit is not None and alive is not None:
            budget = PumpClock.refilled(anchor.credit[0], anchor.credit[1], alive)
        self.clock = PumpClock(hw.clock, alive, budget)
        if alive is not None:
            self.anchor.credit = [budget - self.clock.credited, alive + self.clock.credited]
        now = self.clock.ticks_ms()
        state = None
        if not log.problem:
            state = replay.result()
        if settings is None and anchor is not None and state and state["program_set"]:
            seal_problem = "IL-SETTINGS-INTEGRITY"     # the settings record was removed
            self._settings_bad = True
        # with the sealed settings damaged, the verified log's limits are the clinician's
        self._log_limits = bool(seal_problem and state)
        base = Limits.from_list(state["limits"]) if state else defaults
        if settings:
            base = Limits(settings["limits"])
        self.calculator = None
        self._suggestion = None
        self._suggested_at = 0
        self.monitor = SafetyMonitor(hw.motor, self.clock, base, hw.reservoir)
        self.channel = PulseChannel()
        self._logport = LogPort(log, self.clock)
        self.controller = TherapyController(ControllerHardware(hw, self.clock), self.channel,
                                            base, self._logport, now, state)
        if settings:
            self._apply_settings(settings)
        log._checkpoint = self.controller.persistent_state
        log.on_append = AnchorWriter(self.sealed, self.anchor, self.controller)
        if anchor is not None:             # trusted even when the log is not: it is sealed
            if anchor.basal is not None:
                self.controller.last_basal_at = anchor.basal
            if anchor.volatile is not None:          # fresher than any log record
                self.controller.restore_volatile(anchor.volatile, now)
        self.controller.off_ms = 0 if self.clock.restarted else self.clock.off_ms
        self._heartbeat = now
        self.controller.encoder_now = hw.motor.encoder()
        self._seed_monitor(now)
        if seal_problem:
            self.controller.boot_problem = seal_problem
        elif log.problem:
            self.controller.boot_problem = "IL-LOG-INTEGRITY"
        else:
            self.anchor.boots += 1
            self.anchor.alive = now
            self.sealed.write_anchor(self.anchor)
            log.ensure_checkpoint(now, self.clock.wall_s())
        self._log(L.EV_BOOT, {"head": log.head_seq, "boots": self.anchor.boots,
                              "off_ms": self.clock.off_ms, "restarted": self.clock.restarted})
        self._run("self_test", {}, self._boot)

    @property
    def unlogged(self):
        return self._logport.unlogged

    # -- boot ---------------------------------------------------------------------
    def _apply_settings(self, settings):
        controller = self.controller
        controller.engine.program = list(settings["program"])
        controller.program_set = bool(settings["program_set"])
        if settings.get("calculator"):
            self.calculator = BolusCalculator(settings["calculator"])

    def _seed_monitor(self, now):
        controller = self.controller
        monitor = self.monitor
        monitor.set_program(controller.engine.program)
        for active in (False, True):
            net = {}
            for entry in controller.ledger.entries:
                if active and (len(entry) < 3 or entry[2] != ACTIVE):
                    continue
                net[entry[0]] = net.get(entry[0], 0) + entry[1]
            for end in sorted(net):            # in time order: dict order is not (MicroPython)
                if net[end] > 0:
                    if active:
                        monitor.seed_active(min(end, now), net[end] // PULSE_MU)
                    else:
                        monitor.seed(min(end, now), net[end] // PULSE_MU)
        if controller.last_bolus is not None:
            monitor.seed_last_bolus(controller.last_bolus)
        restored = controller.restored
        if restored:
            monitor.seed_tubing(restored.get("tube", 0), restored.get("rsv", 0))
        if controller.latched:
            monitor.latch(controller.latched)

    def log_damaged(self, problem):
        """The log failed its checks at a read while running (a gateway's page): the same
        evidence as at boot gets the same answer, safe-stop IL-LOG-INTEGRITY with the alarm,
        at once rather than at the next power cycle. The safe-stop is the last record
        written; the damaged log is then kept as evidence."""
        if self.log.problem:
            return
        self.monitor.latch("IL-LOG-INTEGRITY")
        self.controller.fault(self.clock.ticks_ms(), "IL-LOG-INTEGRITY")
        self.log.problem = _text(problem, 80) or "log fails its checks"

    def _monitor_agrees(self, now):
        """After a declaration: if the monitor refused it, the controller accepted something
        unsafe. That is a fault, not a refusal: safe-stop, and say which check tripped."""
        if self.monitor.latched:
            self.controller.fault(now, self.monitor.latched)
            raise Refused(results.ERR_INTERNAL, self.monitor.latched)

    def _boot(self, now):
        controller = self.controller
        controller.count_power_off(now)
        if controller.boot_problem and not controller.latched:
            self.monitor.latch(controller.boot_problem)
            controller.fault(now, controller.boot_problem)
            return
        controller.self_test(now)
        self._declare_resumed(now, controller.resume_after_boot(now))

    def _declare_resumed(self, now, resumed):
        """Tell the monitor what the persisted commands (not the controller) had started."""
        controller = self.controller
        if resumed is None:
            return
        if resumed == T.REWOUND:
            self.monitor.rewound()
            return
        self.monitor.therapy_started()
        temp = controller.engine.temp
        if temp is not None:
            self.monitor.set_temp(temp[0], temp[1], temp[2])
        if resumed == T.SUSPENDED:
            self.monitor.suspended(controller.suspend_end, controller.suspend_confirmed)

    def _checkpoint(self):
        return self.controller.persistent_state()

    def _log(self, rtype, data):
        self._logport(rtype, data)

    def _save_settings(self):
        controller = self.controller
        self.sealed.write_settings(controller.limits, controller.engine.program,
                                   controller.program_set,
                                   self.calculator.as_list() if self.calculator else None)

    # -- the guarded call -----------------------------------------------------------
    def _run(self, op, args, action):
        now = self.clock.ticks_ms()
        self.controller.encoder_now = self.hw.motor.encoder()
        try:
            try:
                value = action(now)
            except Refused as refusal:
                self._count_refusal(refusal)
                self._log(L.EV_REFUSAL, {"op": op, "code": refusal.code, "why": refusal.reason})
                self.monitor.serve(self.channel, now)
                return Result(refusal.code, refusal.reason)
            if op not in _UNLOGGED:
                self._log(L.EV_COMMAND, {"op": op, "args": args})
            self.monitor.serve(self.channel, now)
            self.controller.note_therapy()
            return Result(results.OK, value=value)
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
                                     "why": _text("%s: %s" % (type(exc).__name__,
                                                              _text(exc, 60)), 80)})
        except Exception:             # the controller itself is broken: the latch holds
            self._logport.unlogged += 1
            try:
                self.hw.ui.alarm(True, "SM-CONTROLLER-FAULT", 3)
            except Exception:
                pass

    # -- time --------------------------------------------------------------------------
    def tick(self):
        """Run the pump up to the clock's now; returns the tick to call again at."""
        now = self.clock.ticks_ms()
        controller = self.controller
        monitor = self.monitor
        try:
            controller.encoder_now = self.hw.motor.encoder()
            if not monitor.check(now) and controller.state != T.SAFE_STOP:
                controller.fault(now, monitor.latched)
            wake = controller.tick(now, self.clock.take_events())
            if monitor.serve(self.channel, now):
                wake = controller.pulse_done(now, self.channel.result, self.channel.moved,
                                             monitor.latched)
                monitor.serve(self.channel, now)
            if monitor.latched and controller.state != T.SAFE_STOP:
                controller.fault(now, monitor.latched)
            if now - self._heartbeat >= HEARTBEAT_MS:   # also in safe-stop: time goes on
                self._heartbeat = now
                self.log.on_append(self.anchor.seq, self.anchor.chain, now)
            return wake
        except Exception as exc:
            self._contain(now, "tick", exc)
            return now + MS_PER_MINUTE

    # -- commands ----------------------------------------------------------------------
    def start(self):
        return self._run("start", {}, lambda now: self._start_therapy("start", now))

    def stop(self):
        def action(now):
            state = self.controller.stop(now)
            self.monitor.therapy_stopped()
            self.monitor.cancel_fill()
            return state
        return self._run("stop", {}, action)

    def suspend(self, duration_ms=None):
        """Suspend delivery for ``duration_ms`` (default and at most the clinician's
        ``max_suspend_ms``); it resumes by itself at the end. Confirmed on the pump (the
        button pressed) it may run without basal past IL-NO-DELIVERY's bound."""
        def action(now):
            duration = duration_ms
            if duration is None:
                duration = self.controller.limits.max_suspend_ms
            _int("duration_ms", duration, MIN_TEMP_MS, HARD_RANGES["max_suspend_ms"][2])
            if self.controller.state != T.DELIVERING:
                raise Refused(results.ERR_STATE, "suspend needs delivering state")
            confirmed = self.hw.ui.confirm_pressed() is True
            args["duration_ms"] = duration
            args["confirmed"] = confirmed
            end = self.controller.suspend(now, duration, confirmed)
            self.monitor.suspended(now + duration, confirmed)
            return end
        args = {}
        return self._run("suspend", args, action)

    def resume(self):
        return self._run("resume", {}, lambda now: self._start_therapy("resume", now))

    def _start_therapy(self, trigger, now):
        state = self.controller.fire(trigger, now)
        self.monitor.therapy_started()
        return state

    def acknowledge(self, resume=True):
        """Acknowledge alarms and alerts. Therapy that an alarm interrupted resumes unless
        ``resume`` is False (the patient chooses to stay stopped)."""
        def action(now):
            if resume is not True and resume is not False:
                raise Refused(results.ERR_TYPE, "resume must be a bool")
            state = self.controller.acknowledge(now, resume)
            if state == T.DELIVERING:
                self.monitor.therapy_started()
            return state
        return self._run("acknowledge", {"resume": resume is True}, action)

    # -- software update (pump.update_install) --------------------------------------------
    def begin_update(self, size):
        """A transfer of an image of ``size`` bytes begins (logged). Therapy is not touched:
        the image goes to the secondary slot while basal runs."""
        def action(now):
            _int("size", size, 1, MAX_IMAGE_BYTES)
        return self._run("begin_update", {"size": size}, action)

    def install_blocked(self):
        """Why therapy may not pause for a swap now, or "": a safe-stop, a state the swap
        cannot leave, or a bolus (IL-UPDATE-BOLUS: running, or suggested and not yet
        confirmed): the pause would end it and its rest would never be given."""
        if self.state == T.SAFE_STOP or not self.controller.machine.can_fire("install_update"):
            return "install_update needs delivering, suspended or stopped state"
        engine = self.controller.engine
        now = self.clock.ticks_ms()
        if engine.bolus_pulses or engine.ext_pulses or (
                self._suggestion is not None and
                now - self._suggested_at < SUGGESTION_HOLDS_UPDATE_MS):
            return UPDATE_BOLUS
        return ""

    def can_install_update(self):
        """Whether therapy may pause for a swap now (``install_blocked`` says why not)."""
        return not self.install_blocked()

    def install_update(self, confirmed):
        """Pause therapy for the swap into a staged image, only once the patient pressed
        the pump's button for it (``confirmed`` True, IL-UPDATE-CONSENT). The pause ends
        with the reset into the image, or by itself after ``INSTALL_MAX_MS``
        (IL-UPDATE-SWAP); either way the therapy that ran comes back. Returns the tick the
        pause ends at at the latest."""
        def action(now):
            if confirmed is not True:
                raise Refused(results.ERR_GUARD, "IL-UPDATE-CONSENT")
            if self.install_blocked() == UPDATE_BOLUS:   # a bolus began after the prompt
                raise Refused(results.ERR_GUARD, UPDATE_BOLUS)
            before = self.controller.state
            deadline = self.controller.begin_install(now)
            if before == T.DELIVERING:         # the monitor's own bound on the pause
                self.monitor.suspended(deadline, False)
            return deadline
        return self._run("install_update", {}, action)

    def cancel_update(self):
        """End the pause for a swap that will not happen: the therapy that ran comes back."""
        def action(now):
            state = self.controller.end_install(now)
            if state == T.DELIVERING:
                self.monitor.therapy_started()
            return state
        return self._run("cancel_update", {}, action)

    def note_update(self, op, args):
        """Log a step of an update the secure channel took (``update_staged``,
        ``update_confirmed``, ...) with the pump's commands."""
        return self._run(_text(op, 32), args if type(args) is dict else {}, lambda now: None)

    # -- reservoir change ----------------------------------------------------------------
    def rewind(self):
        def action(now):
            self.controller.rewind(now)
            self.monitor.rewound()
        return self._run("rewind", {}, action)

    def load_reservoir(self):
        def action(now):
            self.controller.load_reservoir(now)
            self.monitor.reservoir_loaded()
        return self._run("load_reservoir", {}, action)

    def prime(self, mu):
        """Fill the tubing, disconnected from the patient: the patient confirms on the pump
        (the button pressed) that the set is disconnected. Bounded per reservoir change."""
        def action(now):
            _dose("mu", mu, HARD_RANGES["max_prime_mu"][2])
            self.controller.prime(now, mu)
            self.monitor.declare_prime(mu // PULSE_MU)
            self._monitor_agrees(now)
        return self._run("prime", {"mu": mu}, action)

    def connect(self):
        """The patient confirms on the pump that the infusion set is connected."""
        return self._run("connect", {}, lambda now: self.controller.fire("connect", now))

    def fill_cannula(self, mu):
        """Fill the cannula: insulin to the patient, counted in 1 h / 24 h / IOB."""
        def action(now):
            _dose("mu", mu, HARD_RANGES["max_prime_mu"][2])
            pulses = self.controller.fill_cannula(now, mu)
            self.monitor.declare_cannula(pulses, now)
            self._monitor_agrees(now)
        return self._run("fill_cannula", {"mu": mu}, action)

    def finish_change(self):
        return self._run("finish_change", {},
                         lambda now: self.controller.fire("finish_change", now))

    # -- boluses and basal ----------------------------------------------------------------
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
                self.monitor.declare_bolus(mu // PULSE_MU, now)
            self._monitor_agrees(now)
            return pulses * PULSE_MU
        args = {"mu": mu, "duration_ms": duration_ms}
        if cmd_id is not None:
            args["cmd_id"] = cmd_id
            args["issued_ms"] = issued_ms
        return self._run("bolus", args, action)

    # -- glucose and the bolus calculator ------------------------------------------------
    def cgm_reading(self, mg_dl, measured_ms):
        """A CGM reading measured at pump tick ``measured_ms`` (IL-CGM-* refuse bad ones);
        low-glucose suspend acts on it at once."""
        def action(now):
            self.controller.cgm_reading(now, mg_dl, measured_ms)
        return self._run("cgm_reading", {"mg_dl": mg_dl, "measured_ms": measured_ms}, action)

    def set_calculator(self, segments):
        """Bolus calculator settings (a clinician setting, ``pump.bolus_calculator``)."""
        def action(now):
            self.calculator = BolusCalculator(segments)
            self._save_settings()
        return self._run("set_calculator", {"segments": segments if type(segments) in (
            list, tuple) else None}, action)

    def suggest_bolus(self, carbs_g):
        """The calculator's suggestion for ``carbs_g`` from the newest trusted CGM reading
        and insulin on board; shown on the display, confirmed with ``confirm_suggestion``."""
        def action(now):
            if self.calculator is None:
                raise Refused(results.ERR_STATE, "no calculator settings")
            controller = self.controller
            mg_dl, age_ms = controller.glucose_now(now)
            suggestion = self.calculator.suggest(
                minute_of_day(self.clock.wall_s()), carbs_g, mg_dl, age_ms,
                controller.insulin_on_board(now), controller.limits, now)
            self._suggestion = suggestion
            self._suggested_at = now
            self.hw.ui.confirm_pressed()      # a press from before it was shown is spent
            self.hw.ui.show("bolus %d.%03d U? press to confirm" % (
                suggestion.total_mu // 1000, suggestion.total_mu % 1000))
            return suggestion
        return self._run("suggest_bolus", {"carbs_g": carbs_g}, action)

    def confirm_suggestion(self, mu=None):
        """Deliver the shown suggestion (or less, ``mu``) once the patient pressed the
        pump's button; the bolus interlocks decide as for any bolus."""
        suggestion, self._suggestion = self._suggestion, None
        now = self.clock.ticks_ms()
        try:
            if suggestion is None:
                raise Refused(results.ERR_STATE, "no suggestion to confirm")
            if not self.hw.ui.confirm_pressed():
                raise Refused(results.ERR_GUARD, "confirm on the pump's button")
            arguments = bolus_arguments(suggestion, suggestion.total_mu if mu is None else mu,
                                        now, self.controller.insulin_on_board(now))
        except Refused as refusal:
            self._count_refusal(refusal)
            self._log(L.EV_REFUSAL, {"op": "confirm_suggestion", "code": refusal.code,
                                     "why": refusal.reason})
            return Result(refusal.code, refusal.reason)
        return self.bolus(**arguments)

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
        def action(now):
            self.controller.cancel_temp_basal(now)
            self.monitor.clear_temp()
        return self._run("cancel_temp_basal", {}, action)

    def set_basal_program(self, rates):
        """48 half-hour rates in mU/h, from midnight."""
        def action(now):
            if type(rates) not in (list, tuple):
                raise Refused(results.ERR_TYPE, "rates must be a list")
            if len(rates) != BASAL_SLOTS:
                raise Refused(results.ERR_RANGE, "rates needs %d entries" % BASAL_SLOTS)
            for rate in rates:
                _int("rate", rate, 0, HARD_RANGES["max_basal_mu_h"][2])
            self.controller.set_program(now, list(rates))
            self.monitor.set_program(list(rates))
            self._save_settings()
        return self._run("set_basal_program", {"rates": list(rates) if type(rates) in (
            list, tuple) else None}, action)

    def set_limits(self, values):
        def action(now):
            if type(values) is not dict:
                raise Refused(results.ERR_TYPE, "limits must be a map")
            for name in values:
                if name not in HARD_RANGES:
                    raise Refused(results.ERR_RANGE, "unknown limit")
                low, high = HARD_RANGES[name][1:]
                _int(name, values[name], low, high)
            self.controller.set_limits(now, values)
            self.monitor.set_limits(values)
            self._save_settings()
        return self._run("set_limits", {"values": dict(values) if type(values) is dict
                                        else None}, action)

    def set_wall_clock(self, wall_s):
        def action(now):
            _int("wall_s", wall_s, 0, (1 << 40))
            self.monitor.sync()
            self.controller.set_wall_clock(now, wall_s)
            self.monitor.sync()
        return self._run("set_wall_clock", {"wall_s": wall_s}, action)

    def service_reset(self, authorized):
        """Clear a latched safe-stop. ``authorized`` is the service role's proof, checked by
        the secure channel; the pump also re-runs its self-test. After a damaged log the
        dose history is unknown: a fresh log begins and the pump assumes the worst."""
        def action(now):
            if authorized is not True:
                raise Refused(results.ERR_GUARD, "service authorization required")
            controller = self.controller
            if self.log.problem or self._settings_bad:
                self._restart_history(now)
            controller.service_reset(now)
            self.monitor.service_reset()
            controller.self_test(now)
        return self._run("service_reset", {}, action)

    def _restart_history(self, now):
        controller = self.controller
        if self.log.problem:
            self.log.restart()
        self.anchor.generation += 1
        self.anchor.seq = 0
        self.anchor.chain = L.GENESIS
        self.sealed.write_anchor(self.anchor)
        controller.boot_problem = ""
        if self._settings_bad:
            if not self._log_limits:              # nothing to trust: factory, no program
                controller.limits = Limits()
                controller.program_set = False
            controller.warn("IL-SETTINGS-INTEGRITY")   # check limits and program again
            self._settings_bad = False
            self._save_settings()
        self.monitor.set_limits(controller.limits.as_dict())
        self.monitor.set_program(controller.engine.program)
        controller.forget_history(now)
        self.monitor.assume_worst(now)

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
        alerts = controller.alerts.ids()
        return {
            "state": self.state,
            "alarm": controller.alarm_id or self.monitor.latched,
            "alerts": alerts,
            "warnings": list(controller.warnings),
            "iob_mu": controller.insulin_on_board(now),
            "reservoir_mu": self.hw.reservoir.remaining_mu(),
            "battery_percent": self.hw.battery.percent(),
            "basal_mu_h": engine.basal_rate(now, self.clock.wall_s())
            if self.state == T.DELIVERING else 0,
            "bolus_left_mu": (engine.bolus_pulses + engine.ext_pulses) * PULSE_MU,
            "bolus_interrupted": controller.interrupted,
            "temp_basal": engine.temp is not None,
            "no_basal_ms": controller.watch.total(now),
            "history_known": controller.history_known(now),
            "log_seq": self.log.head_seq,
            "glucose": controller.glucose_now(now),
            "plgs_hold": controller.plgs.held,
            "wall_s": self.clock.wall_s(),
        }

    def log_head(self):
        return self.log.head()

    def record_refusal(self, op, reason):
        """Log a refusal decided outside the pump (protocol schema, role, PIN, session), so
        every refusal lands in the one audit log. Never raises on a hostile argument."""
        reason = _text(reason, Refused.MAX_REASON)
        self._count_refusal(Refused(results.ERR_GUARD, reason))
        self._log(L.EV_REFUSAL, {"op": _text(op, 32), "code": None, "why": reason})
