"""What a run records: the trajectory every 5 minutes, doses, carbs and events.

Events come from the pump's own audit log as each record is written (alarms and alerts,
warnings, low-glucose holds, refusals, state changes), so the report shows what the
firmware decided, not what the simulator guessed; the log itself stays the evidence.
The result is the run dictionary ``sim.report`` draws and ``sim.loop.output`` writes.
"""

from pump import audit_log as L, therapy_table as T
from pump.units import MS_PER_MINUTE
from sim import metrics

AID_HISTORY_MIN = 45
# Refusals that are the channel's or replay protection's, not therapy's: security events.
SECURITY_PREFIXES = ("IL-CMD", "IL-DUPLICATE", "forbidden", "SESSION-", "session")


class Recorder:
    def __init__(self, world):
        self.world = world
        self.samples = []
        self.boluses = []
        self.carb_list = []
        self.events = []
        self.suspends = []
        self.decisions = 0
        self.delivered_mu = 0
        self.bolus_mu = 0
        self._hold_start = None
        self._suspend_start = None
        self._readings = []               # (minute, mg/dL) the gateway saw
        self.attach(world.pump)

    def attach(self, pump):
        """Follow ``pump``'s audit log as it is written (again after each boot)."""
        log = pump.log
        original = log.append

        def tapped(rtype, data, tick, wall):
            seq = original(rtype, data, tick, wall)
            self._logged(rtype, data, tick)
            return seq
        log.append = tapped

    # -- from the audit log --------------------------------------------------------------
    def _logged(self, rtype, data, tick):
        minute = tick / MS_PER_MINUTE
        if rtype == L.EV_DELIVERED and type(data) is list and len(data) == 2 and \
                data[1] < data[0]:
            self._bolus_short(minute, data[0], data[1])
        elif rtype == L.EV_ALARM and data[1]:
            self.event_min(minute, "alarm", str(data[0]), "raised")
        elif rtype == L.EV_WARNING:
            if type(data) is list and data and data[0] == "IL-PLGS":
                text = str(data[1])
                if text.startswith("hold"):
                    self._hold_start = minute
                    self.event_min(minute, "suspend", "IL-PLGS", text)
                else:
                    self._close_hold(minute, text)
            elif type(data) is list and data:
                self.event_min(minute, "warning", str(data[0]),
                               " ".join(str(item) for item in data[1:]) or "warning")
            else:
                self.event_min(minute, "warning", str(data), "warning")
        elif rtype == L.EV_SAFE_STOP:
            self.event_min(minute, "alarm", str(data), "safe stop: no delivery until service")
        elif rtype == L.EV_REFUSAL:
            why = str(data.get("why", ""))
            kind = "security" if why.startswith(SECURITY_PREFIXES) else "refusal"
            self.event_min(minute, kind, why[:32] or str(data.get("op")),
                           "%s refused" % data.get("op"))
        elif rtype == L.EV_STATE:
            before, after = data[0], data[1]
            if after == T.SUSPENDED:
                self._suspend_start = minute
            elif before == T.SUSPENDED and self._suspend_start is not None:
                self.suspends.append({"start_min": self._suspend_start, "end_min": minute,
                                      "why": "suspend"})
                self._suspend_start = None

    def _close_hold(self, minute, text):
        if self._hold_start is not None:
            self.suspends.append({"start_min": self._hold_start, "end_min": minute,
                                  "why": "IL-PLGS"})
            self._hold_start = None
        self.event_min(minute, "resume", "IL-PLGS", text)

    # -- from the simulation -------------------------------------------------------------
    def event_min(self, minute, kind, ident, text):
        self.events.append({"t_min": round(minute, 3), "kind": kind, "id": ident,
                            "text": text})

    def event(self, tick, kind, ident, text):
        self.event_min(tick / MS_PER_MINUTE, kind, ident, text)

    def carbs(self, tick, grams):
        self.carb_list.append({"t_min": tick / MS_PER_MINUTE, "grams": grams})

    def _bolus_short(self, minute, planned, given):
        """A bolus that ended early (stopped, occluded, suspended): the metrics count what
        the pump says it gave, and the bolus is marked with it."""
        self.bolus_mu -= planned - given
        for item in reversed(self.boluses):
            if round(item["units"] * 1000) == planned and "delivered_u" not in item:
                item["delivered_u"] = given / 1000.0
                break
        self.event_min(minute, "warning", "BOLUS-SHORT", "bolus of %.3f U ended after "
                       "%.3f U" % (planned / 1000.0, given / 1000.0))

    def bolus(self, tick, mu, kind):
        self.bolus_mu += mu
        self.boluses.append({"t_min": tick / MS_PER_MINUTE, "units": mu / 1000.0,
                             "kind": kind})

    def delivered(self, mu):
        self.delivered_mu += mu

    def aid_decision(self, tick, decision, answer):
        self.decisions += 1
        if answer.is_error:
            self.event(tick, "refusal", str(answer.fields.get("reason", "temp_basal")),
                       "AID temp basal refused")

    def sample(self, tick, reading, status):
        """One 5-minute sample; ``status`` is the pump's status now (the simulator's
        oracle, read once per step)."""
        world = self.world
        minute = tick // MS_PER_MINUTE
        if reading is not None:
            self._readings.append((minute, reading))
            del self._readings[:-12]
        self.samples.append({
            "t_min": minute,
            "bg": round(world.patient.plasma_glucose_mg_dl, 2),
            "cgm": reading,
            "basal_u_h": status["basal_mu_h"] / 1000.0,
            "iob_u": status["iob_mu"] / 1000.0,
            "state": status["state"],
            "reservoir_u": status["reservoir_mu"] / 1000.0,
            "battery_pct": status["battery_percent"],
        })

    def readings_for_aid(self, tick):
        minute = tick // MS_PER_MINUTE
        return [(t, g) for t, g in self._readings if minute - t <= AID_HISTORY_MIN]

    # -- the result ------------------------------------------------------------------------
    def result(self, simulation):
        world = self.world
        end = simulation.kernel.now / MS_PER_MINUTE
        if self._hold_start is not None:
            self.suspends.append({"start_min": self._hold_start, "end_min": end,
                                  "why": "IL-PLGS"})
        if self._suspend_start is not None:
            self.suspends.append({"start_min": self._suspend_start, "end_min": end,
                                  "why": "suspend"})
        if simulation.ended:
            self.event_min(end, "alarm", "SIM-ENDED", simulation.ended)
        days = max(simulation.days, 1)
        if simulation.ended:              # the figures are of the time simulated
            days = max(end, 1.0) / 1440.0
        bolus_u = self.bolus_mu / 1000.0
        total_u = self.delivered_mu / 1000.0
        channel = dict(world.channel.stats)
        channel["pump_refusals"] = dict(sorted(world.dispatcher.refusals.items()))
        channel["pump_echo_challenges"] = world.manager.stats.get("echo_challenges", 0)
        scenario = simulation.scenario
        run = {
            "title": "%s, %d day%s, %s profile, controller %s, scenario %s" % (
                world.patient.name, simulation.days, "" if simulation.days == 1 else "s",
                scenario.run.profile, simulation.controller_name, scenario.name),
            "patient": world.patient.name, "seed": simulation.seed,
            "days": simulation.days, "profile": scenario.run.profile,
            "controller": simulation.controller_name, "scenario": scenario.name,
            "sensor": scenario.cgm.sensor, "cgm_transport": scenario.cgm.transport,
            "start_wall_s": world.wall_s, "ended": simulation.ended,
            "firmware": world.firmware_name,
            "samples": self.samples, "boluses": self.boluses, "carbs": self.carb_list,
            "suspends": self.suspends, "events": self.events, "channel": channel,
        }
        run["metrics"] = metrics.run_metrics(
            [s["bg"] for s in self.samples], [s["cgm"] for s in self.samples],
            {"basal_u": max(0.0, total_u - bolus_u), "bolus_u": bolus_u},
            self.events, days)
        return run
