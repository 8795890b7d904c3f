"""One closed-loop run: the firmware, the patient's body and behaviour, the gateway.

Every 5 minutes of virtual time (``STEP_MS``) the body advances with the insulin the
motor actually pushed into it and the carbohydrate being eaten; the sensor takes a
reading; the gateway sends it to the pump over the secure channel (or the local sensor
driver hands it over), reads the pump's telemetry as a home monitor does and, with
``controller="aid"``, sets a temporary basal. In between, the pump's main loop runs at the
ticks it asks for, exactly as on a board. The patient eats, boluses through the pump's
calculator and button, acknowledges alarms after a delay and changes the reservoir, as the
scenario says. A dead channel or a body the integrator cannot follow ends the run with a
reason, never a hang; what was simulated so far is kept.
"""

from pump import therapy_table as T
from pump.units import MS_PER_MINUTE
from sim.aid import AidController, Decision, Profile, pump_command
from sim.loop.behaviour import Behaviour, PatientStuck
from sim.loop.channel import ChannelDown, ServiceClient
from sim.loop.hil import DeviceError
from sim.loop.insulin_history import InsulinHistory
from sim.loop.kernel import Kernel
from sim.loop.record import Recorder
from sim.loop.world import World
from sim.patient import IntegrationError

STEP_MS = 5 * MS_PER_MINUTE
TIME_SYNC_MS = 24 * 60 * MS_PER_MINUTE
GATEWAY_CYCLE_MS = 60 * MS_PER_MINUTE   # the store's pulls; telemetry comes every 5 min
INSTALL_RETRY_MS = 10 * MS_PER_MINUTE   # an install held for a bolus is asked again
GLUCOSE_FLOOR_MG_DL = 10          # below: no physiology the model was fitted to
NO_BASAL_BUDGET_MIN = 75          # the loop withholds basal for less than this in 6 h


class BeyondTheModel(Exception):
    """The patient's glucose left the range the model describes (an overdose the attack lab
    can cause): the run ends there, with what was simulated so far."""


class Simulation:
    def __init__(self, scenario, patient_name, seed=None, days=None, controller=None,
                 progress=None, remote_gateway=False, identity=None, trusted=None,
                 gateway_db=None, profile="secure", bootloader=False, device=None):
        """``remote_gateway``: the gateway is another process (``pumpsim device``): no
        gateway here, the sensor is the pump's own; ``identity`` and ``trusted`` are then
        the pump's key and trust list (otherwise both come from the seed).
        ``gateway_db``: the gateway service (``sim.gateway``) files the pump's data in
        this SQLite store every ``GATEWAY_CYCLE_MS``, as a home gateway does.
        ``profile`` and ``bootloader``: as for ``World`` (the attack lab's legacy profile;
        the software in bootloader flash). ``device``: the firmware runs there, not in
        this process (``sim.loop.hil.open_device``: the MicroPython port or a board); the
        caller closes it."""
        self.scenario = scenario
        self.seed = scenario.run.seed if seed is None else seed
        self.days = scenario.run.days if days is None else days
        self.controller_name = scenario.run.controller if controller is None else controller
        self.remote_gateway = remote_gateway
        if device is not None:
            from sim.loop.hil import DeviceWorld
            if remote_gateway:
                raise ValueError("a device in the loop serves the simulated gateway only")
            self.world = DeviceWorld(scenario, patient_name, self.seed, device,
                                     profile=profile, bootloader=bootloader)
        else:
            self.world = World(scenario, patient_name, self.seed, identity, trusted,
                               host_time_sessions=remote_gateway, profile=profile,
                               bootloader=bootloader)
        self.kernel = Kernel(0)
        self.recorder = Recorder(self.world)
        self.behaviour = Behaviour(self.world, self.kernel, self.recorder, scenario,
                                   self.days)
        self.progress = progress
        self.aid = None
        self.ended = None
        self._offset_ms = 0               # pump tick - kernel tick, learnt by time sync
        self._cmd = 0
        self._last_step = 0
        self._exercise = 0.0
        self._sensor_off = []             # (start, end) ticks of sensor failures
        self._end = self.days * 24 * 60 * MS_PER_MINUTE
        self._updating = False            # an update under way: its timers run
        self._paused_until = 0.0          # minute the last reset into the bootloader ended
        self._pending_install = None      # (delivery, update) awaiting the patient
        self.insulin = InsulinHistory()   # the gateway's, from the reservoir counter
        self.survive_link_loss = False    # the attack lab: a jammed link is not the end
        self.service = None
        if gateway_db is not None:
            self._open_gateway(gateway_db)
        if self.controller_name == "aid":
            if remote_gateway:
                raise ValueError("the AID controller runs on the gateway: not with a "
                                 "remote gateway")
            self.aid = AidController(self._profile(self.world.program[0]))

    # -- set-up -------------------------------------------------------------------------
    def _profile(self, scheduled_mu_h):
        """The AID's settings, with the basal program's rate now."""
        world = self.world
        rates = world.program
        clinical = world.clinical
        return Profile(current_basal_u_h=scheduled_mu_h / 1000.0,
                       max_daily_basal_u_h=max(rates) / 1000.0,
                       isf_mg_dl_u=world.segments[0][2],
                       carb_ratio_g_u=world.segments[0][1] / 10.0,
                       target_mg_dl=float(self.scenario.therapy.target_high), max_iob_u=max(1.0, clinical["tdi_u"] / 12.0),
                       max_basal_u_h=4 * max(rates) / 1000.0, dia_hours=5.0)

    def _open_gateway(self, path):
        from sim.gateway.service import Service
        from sim.gateway.store import Store
        self.store = Store(path, clock=self._wall_now)
        self.service = Service(ServiceClient(self.world.channel, lambda: self.kernel.now),
                               self.store, clock=self._wall_now)

    def _wall_now(self):
        """True time (the gateway's clock, synchronised to a time server)."""
        return self.world.wall_s + self.kernel.now // 1000

    # -- the run ------------------------------------------------------------------------
    def run(self):
        if self.start():
            self.advance(self._end)
            if self.service is not None and self.ended is None:
                try:
                    self._gateway_cycle(again=False)     # the gateway has the whole run
                except ChannelDown as exc:
                    self.ended = "secure channel down: %s" % exc
                except DeviceError as exc:
                    self.ended = "the firmware's device failed: %s" % exc
        result = self.recorder.result(self)
        if self.service is not None:
            result["gateway"] = self.store.counts()
            self.store.close()
        return result

    def start(self):
        """The clinician's settings, the first time sync, the schedule; False if the run
        ended already (a dead channel)."""
        try:
            self.world.program_pump()
            if not self.remote_gateway:
                self._time_sync()
        except ChannelDown as exc:
            self.ended = "secure channel down: %s" % exc
            return False
        except DeviceError as exc:
            self.ended = "the firmware's device failed: %s" % exc
            return False
        self.behaviour.schedule()
        self._schedule_faults()
        self._schedule_updates()
        self.kernel.at(0, self._step)
        if not self.remote_gateway:
            self.kernel.at(TIME_SYNC_MS, self._daily_sync)
        if self.service is not None:
            self.kernel.at(GATEWAY_CYCLE_MS, self._gateway_cycle)
        return True

    def advance(self, until_ms):
        """Run the world up to kernel tick ``until_ms`` (at most the run's end); False
        once the run has ended, early or at its end."""
        if self.ended is not None:
            return False
        try:
            self.kernel.run_until(min(until_ms, self._end), self._advance)
        except ChannelDown as exc:
            self.ended = "secure channel down: %s" % exc
        except IntegrationError as exc:
            self.ended = "the patient model failed: %s" % exc
        except PatientStuck as exc:
            self.ended = str(exc)
        except BeyondTheModel as exc:
            self.ended = str(exc)
        except DeviceError as exc:
            self.ended = "the firmware's device failed: %s" % exc
        return self.ended is None and self.kernel.now < self._end

    # -- faults from the scenario ----------------------------------------------------------
    def _schedule_faults(self):
        for fault in self.scenario.faults:
            if fault.day > self.days:
                continue
            at = ((fault.day - 1) * 1440 + fault.time_min) * MS_PER_MINUTE
            self.kernel.at(at, self._fault, fault)
            if fault.kind == "sensor-failure":
                self._sensor_off.append((at, at + fault.duration_min * MS_PER_MINUTE))

    def _fault(self, fault):
        world = self.world
        self.recorder.event(self.kernel.now, "fault", fault.kind, "injected by the scenario")
        if fault.kind == "occlusion":
            world.hw.line.occluded = True
        elif fault.kind == "battery-drain":
            world.hw.battery.level = 3.0
        elif fault.kind == "reboot":
            world.boot_pump()
            self.recorder.attach(world.pump)

    # -- software updates from the scenario ---------------------------------------------
    def _schedule_updates(self):
        for update in self.scenario.updates:
            if update.day <= self.days:
                at = ((update.day - 1) * 1440 + update.time_min) * MS_PER_MINUTE
                self.kernel.at(at, self._update, update)

    def _update(self, update):
        """The gateway delivers the image over the secure channel while therapy runs,
        then asks the pump to install it; the patient presses, or not."""
        from sim.gateway.update import DeliveryError, ImageDelivery
        world, now = self.world, self.kernel.now
        world.software.failing_self_test = update.self_test == "fail"
        delivery = ImageDelivery(ServiceClient(world.channel, lambda: self.kernel.now),
                                 world.software.image(update.version))
        try:
            sent = delivery.upload()
        except DeliveryError as exc:
            self.recorder.event(now, "update", "UPDATE", "refused: %s" % exc)
            return
        self.recorder.event(now, "update", "UPDATE", "%s delivered (%d chunks)"
                            % (_version(update.version), sent.chunks))
        self._install(delivery, update)

    def _install(self, delivery, update):
        """Ask the pump to install; held while a bolus runs (IL-UPDATE-BOLUS), the gateway
        asks again ``INSTALL_RETRY_MS`` later."""
        from sim.gateway.update import DeliveryError
        now = self.kernel.now
        try:
            wait_s = delivery.install()
        except DeliveryError as exc:
            if "IL-UPDATE-BOLUS" in str(exc):
                self.recorder.event(now, "update", "IL-UPDATE-BOLUS", "install held: a "
                                    "bolus runs; asked again in %d min"
                                    % (INSTALL_RETRY_MS // MS_PER_MINUTE))
                self.kernel.after(INSTALL_RETRY_MS, self._install, delivery, update)
            else:
                self.recorder.event(now, "update", "UPDATE", "install refused: %s" % exc)
            return
        self.recorder.event(now, "update", "PROMPT", "the pump asks the patient (%d s)"
                            % wait_s)
        self._pending_install = (delivery, update)
        self._updating = True
        if update.press:
            self.kernel.after(update.press_after_min * MS_PER_MINUTE + 1000, self._press)

    def _press(self):
        self.world.hw.ui.pressed = True

    def _update_events(self):
        """The dispatcher's timers while an update is under way: the patient's press, the
        reset into the new image, its self-test, a revert."""
        world = self.world
        for event, _, _ in world.dispatcher.tick(world.pump.clock.ticks_ms()):
            now = self.kernel.now
            if event in ("install", "update-revert"):
                self.recorder.event(now, "update", event.upper(), "the pump resets: the "
                                    "bootloader %s" % ("swaps in the new image"
                                                       if event == "install" else "reverts"))
                world.boot_pump()
                self.recorder.attach(world.pump)
                start = max(now / MS_PER_MINUTE, self._paused_until)   # a revert follows
                self._paused_until = start + world.last_boot_ms / MS_PER_MINUTE
                self.recorder.suspends.append({"start_min": start, "why": "update",
                                               "end_min": self._paused_until})
                self.recorder.event(now, "update", "RUNNING", "running %s after %.1f s "
                                    "in the bootloader" % (_version(world.software.running),
                                                           world.last_boot_ms / 1000.0))
            elif event == "install-refused":      # a bolus began after the prompt
                self.recorder.event(now, "update", "IL-UPDATE-BOLUS", "install held at "
                                    "the press: a bolus runs; asked again in %d min"
                                    % (INSTALL_RETRY_MS // MS_PER_MINUTE))
                self.kernel.after(INSTALL_RETRY_MS, self._install, *self._pending_install)
            elif event in ("update-confirmed", "install-expired", "install-withdrawn"):
                self.recorder.event(now, "update", event.upper(), event.replace("-", " "))
                self._updating = event == "install-withdrawn"

    def _advance(self, tick):
        """The pump's main loop up to ``tick``: tick, then sleep until the tick it asked
        for (the battery drains with the time)."""
        hw = self.world.hw
        pump = self.world.pump
        while True:
            wake = pump.tick()
            if self._updating:
                self._update_events()
                pump = self.world.pump              # a new one after the reset
            now = hw.clock.ticks_ms()
            if wake >= tick or now >= tick:
                if tick > now:
                    hw.advance_to(tick)
                    pump.tick()
                return
            hw.advance_to(max(wake, now + 1))

    def _step(self):
        """Every 5 minutes: the body, the sensor, the gateway."""
        now = self.kernel.now
        self._body(now)
        if now >= self._end:              # the run's end: the last insulin in, no sample
            if self.progress is not None:
                self.progress(now)
            return
        reading = self._sensor(now)
        telemetry = None
        if reading is not None:
            telemetry = self._over_link(self._send_reading, reading, now)
        if telemetry is None and not self.remote_gateway:
            telemetry = self._over_link(self._telemetry, now)
        if telemetry is not None:
            self.insulin.telemetry(now / MS_PER_MINUTE, telemetry,
                                   self._scheduled(now) / 1000.0)
        if self.aid is not None and telemetry is not None:
            self._over_link(self._loop, now, telemetry)
        status = self.world.pump.status()
        self.recorder.sample(now, reading, status)
        self.behaviour.check_alarms(now, status)
        if self.progress is not None:
            self.progress(now)
        self.kernel.after(STEP_MS, self._step)

    def _body(self, now):
        world = self.world
        start = self._last_step
        minutes = (now - start) // MS_PER_MINUTE
        delivered = sum(mu for _, mu in world.hw.line.take())
        self.recorder.delivered(delivered)
        if minutes <= 0:
            return
        intensity = self.behaviour.exercise_at(start)
        if intensity != self._exercise:
            world.patient.set_exercise(intensity)
            self._exercise = intensity
        insulin = delivered / 1000.0 / minutes
        first = start // MS_PER_MINUTE
        for run_start, length, carbs in self.behaviour.carb_runs(first, minutes):
            world.patient.step(length, carbs, insulin)
        self._last_step = now
        glucose = world.patient.plasma_glucose_mg_dl
        if glucose < GLUCOSE_FLOOR_MG_DL:
            raise BeyondTheModel("glucose fell to %.1f mg/dL, below the patient model's valid "
                                 "range (%d mg/dL): fatal hypoglycaemia without treatment"
                                 % (glucose, GLUCOSE_FLOOR_MG_DL))

    def _sensor(self, now):
        sensor = self.world.sensor
        minute = now / MS_PER_MINUTE
        sensor.update(minute, self.world.patient.plasma_glucose_mg_dl)
        reading = sensor.read(minute)
        for start, end in self._sensor_off:
            if start <= now < end:
                return None
        return reading

    # -- the gateway --------------------------------------------------------------------
    def _over_link(self, exchange, *args):
        """``exchange(*args)``; with ``survive_link_loss`` a dead link is an event and
        None (an attacker jams it: the pump goes on alone), else it ends the run."""
        try:
            return exchange(*args)
        except ChannelDown as exc:
            if not self.survive_link_loss:
                raise
            self.recorder.event(self.kernel.now, "security", "LINK-DOWN", str(exc))
            return None

    def _pump_tick(self, now):
        return now + self._offset_ms

    def _time_sync(self):
        now = self.kernel.now
        wall = self.world.wall_s + now // 1000
        answer = self.world.channel.request("time_sync", {"wall_s": wall}, now)
        if not answer.is_error:
            self._offset_ms = answer.fields["ticks_ms"] - now

    def _gateway_cycle(self, again=True):
        """The gateway service's cycle: status, clock, readings, the log since the last."""
        from sim.gateway.service import LinkDown, PumpRefused
        try:
            self.service.cycle()
        except PumpRefused as exc:
            self.recorder.event(self.kernel.now, "security", "GATEWAY", str(exc))
        except LinkDown as exc:
            raise ChannelDown(str(exc)) from None
        if again:
            self.kernel.after(GATEWAY_CYCLE_MS, self._gateway_cycle)

    def _daily_sync(self):
        self._over_link(self._time_sync)
        self.kernel.after(TIME_SYNC_MS, self._daily_sync)

    def _send_reading(self, reading, now):
        """The reading to the pump; returns the telemetry its answer carries (None for the
        local sensor driver, or when the pump refused the reading)."""
        mg_dl = max(20, min(600, reading))
        world = self.world
        if self.scenario.cgm.transport == "local" or self.remote_gateway:
            # the pump's own sensor driver
            measured = world.pump.clock.ticks_ms()
            result = world.pump.cgm_reading(mg_dl, measured)
            if result.ok:
                world.cgm_buffer.add(measured, mg_dl, 0)
            return None
        if world.channel.restarted:                     # a new session: learn the tick again
            world.channel.restarted = False
            self._time_sync()
        answer = world.channel.request("cgm_reading", {"mg_dl": mg_dl,
                                                       "measured_ms": self._pump_tick(now)}, now)
        return None if answer.is_error else answer.fields

    def _telemetry(self, now):
        answer = self.world.channel.request("telemetry", {}, now)
        return None if answer.is_error else answer.fields

    def _scheduled(self, now):
        """The basal program's rate (mU/h) at kernel tick ``now``."""
        return self.world.program[(self.world.wall_s + now // 1000) % 86400 // 1800]

    def _loop(self, now, telemetry):
        """The AID controller on the gateway: readings it has seen, IOB from telemetry."""
        readings = self.recorder.readings_for_aid(now)
        scheduled = self._scheduled(now)
        if scheduled / 1000.0 != self.aid.profile.current_basal_u_h:
            self.aid.profile = self._profile(scheduled)
        iob, activity = self.insulin.iob_and_activity(now / MS_PER_MINUTE)
        decision = self.aid.decide(now / MS_PER_MINUTE, readings, max(-50.0, iob),
                                   activity_u_per_min=max(-5.0, min(5.0, activity)))
        if decision.rate_u_h is not None and decision.rate_u_h * 1000 < scheduled and \
                self.insulin.missing_basal_min() >= NO_BASAL_BUDGET_MIN:
            # the pump's missing-basal bound is near: no more withholding, the program runs
            decision = Decision(None, 0, "missing-basal budget spent: " + decision.reason)
        command = pump_command(decision)
        if command is None:
            return
        name, fields = command
        if name == "temp_basal":
            self._cmd += 1
            fields = dict(fields, cmd_id=self._cmd.to_bytes(4, "big"),
                          issued_ms=self._pump_tick(now))
        elif self.world.pump.state != T.DELIVERING or \
                not self.world.pump.status()["temp_basal"]:
            return
        answer = self.world.channel.request(name, fields, now)
        self.recorder.aid_decision(now, decision, answer)


def _version(version):
    return ".".join(str(part) for part in version[:3])
