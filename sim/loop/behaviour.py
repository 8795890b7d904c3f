"""The virtual patient's behaviour: meals, boluses on the pump, alarms, reservoir changes.

- Meals from the scenario are eaten over their duration (the model's gut takes the rest).
- For each meal the patient boluses on time, early, late or not at all (the scenario, and
  ``forget_bolus_pct`` / ``late_bolus_pct`` drawn from the seed): the pump's calculator is
  asked for the *counted* carbs (with the scenario's counting error), the patient reads
  the suggestion and presses the pump's button ``confirm_delay_s`` later.
- An alarm or alert is acknowledged ``alarm_ack_delay_min`` after it sounded; first the
  patient deals with its cause (straightens an occluded line, changes an empty reservoir,
  puts in a new battery).
- Every ``reservoir_change_every_days`` at ``reservoir_change_time`` the reservoir is
  changed with the pump's workflow: stop, rewind, load, prime the tubing disconnected
  (confirmed on the button), connect, fill the cannula, start.
"""

from pump import therapy_table as T
from pump.units import MS_PER_MINUTE

DAY_MIN = 1440
PRIME_MU = 10000                 # tubing fill of a new set
CANNULA_MU = 300
PRIME_WAIT_MIN = 15              # 400 pulses at one per 2 s, and a margin
BATTERY_CHANGE_BELOW = 40        # percent: a new battery at the reservoir change
HYPO_RETRIES = 2                 # a meal bolus the calculator withheld for a low ...
HYPO_RETRY_MIN = 20              # ... is asked for again this much later, twice at most
WORTH_CHANGING_MU = 260000       # a reservoir with more than this left is not changed


class PatientStuck(Exception):
    """The virtual patient cannot get the pump delivering again: the run ends, saying why
    (a real patient would call the manufacturer; the simulation must not go on as if)."""


class Behaviour:
    def __init__(self, world, kernel, recorder, scenario, days):
        self.world = world
        self.kernel = kernel
        self.recorder = recorder
        self.scenario = scenario
        self.days = days
        self.habits = scenario.behaviour
        self._carbs = {}                  # minute -> g announced that minute
        self._exercise = []               # (start_min, end_min, intensity)
        self._ack_pending = False

    # -- the plan -------------------------------------------------------------------------
    def schedule(self):
        rng = self.world.random
        for day in range(1, self.days + 1):
            base = (day - 1) * DAY_MIN
            for meal in self.scenario.meals:
                if meal.days is not None and day not in meal.days:
                    continue
                start = base + meal.time_min
                rate = meal.carbs_g / float(meal.duration_min)
                for minute in range(start, start + meal.duration_min):
                    self._carbs[minute] = self._carbs.get(minute, 0.0) + rate
                self.recorder.carbs(start * MS_PER_MINUTE, meal.carbs_g)
                when = self._bolus_time(meal, rng)
                if when is not None:
                    at = max(0, base + when) * MS_PER_MINUTE
                    self.kernel.at(at, self.meal_bolus, meal)
            for exercise in self.scenario.exercise:
                if exercise.days is None or day in exercise.days:
                    start = base + exercise.time_min
                    self._exercise.append((start, start + exercise.duration_min,
                                           exercise.intensity))
            every = self.habits.reservoir_change_every_days
            if day % every == 0:
                at = (base + self.habits.reservoir_change_time) * MS_PER_MINUTE
                self.kernel.at(at, self.change_reservoir, "scheduled")

    def _bolus_time(self, meal, rng):
        when = meal.bolus_time_min
        if when is None or meal.bolus != "on-time":
            return when
        draw = rng.random() * 100
        if draw < self.habits.forget_bolus_pct:
            return None
        if draw < self.habits.forget_bolus_pct + self.habits.late_bolus_pct:
            return when + 30
        return when

    def carb_runs(self, first_minute, minutes):
        """(start, length, g/min) runs of constant carbohydrate over the minutes."""
        runs = []
        for minute in range(first_minute, first_minute + minutes):
            carbs = self._carbs.get(minute, 0.0)
            if runs and runs[-1][2] == carbs:
                runs[-1][1] += 1
            else:
                runs.append([minute, 1, carbs])
        return runs

    def exercise_at(self, tick):
        minute = tick // MS_PER_MINUTE
        for start, end, intensity in self._exercise:
            if start <= minute < end:
                return intensity
        return 0.0

    # -- boluses --------------------------------------------------------------------------
    def meal_bolus(self, meal, tries=0):
        pump = self.world.pump
        counted = meal.counted_carbs_g
        result = pump.suggest_bolus(counted)
        if not result.ok:
            self.recorder.event(self.kernel.now, "refusal", result.reason or "suggest_bolus",
                                "bolus calculator refused %d g" % counted)
            return
        if result.value.total_mu <= 0:
            self.recorder.event(self.kernel.now, "warning", "bolus-skipped",
                                "calculator suggested no bolus for %d g (%s)"
                                % (counted, ", ".join(result.value.reasons) or "-"))
            if "IL-CALC-HYPO" in result.value.flags and tries < HYPO_RETRIES:
                # the patient treats the low, then asks the calculator again
                self.kernel.after(HYPO_RETRY_MIN * MS_PER_MINUTE, self.meal_bolus, meal,
                                  tries + 1)
            return
        delay = self.habits.confirm_delay_s * 1000
        self.kernel.after(delay, self._confirm, counted)

    def _confirm(self, counted):
        hw = self.world.hw
        hw.ui.pressed = True
        result = self.world.pump.confirm_suggestion()
        if result.ok:
            self.recorder.bolus(self.kernel.now, result.value, "meal")
        else:
            self.recorder.event(self.kernel.now, "refusal", result.reason or "bolus",
                                "bolus for %d g refused" % counted)

    # -- alarms ---------------------------------------------------------------------------
    def check_alarms(self, now, status):
        """The patient looks at the pump (``status``: its status now)."""
        if self._ack_pending or not (status["alarm"] or status["alerts"]):
            return
        self._ack_pending = True
        self.kernel.after(self.habits.alarm_ack_delay_min * MS_PER_MINUTE, self._acknowledge)

    def _acknowledge(self):
        self._ack_pending = False
        world = self.world
        pump = world.pump
        status = pump.status()
        alarm = status["alarm"]
        if alarm == "IL-OCCLUSION":
            world.hw.line.clear(world.hw.clock.ticks_ms())
        elif alarm == "IL-BATTERY-CRITICAL":
            world.hw.battery.replace()
        elif alarm == "IL-RESERVOIR-EMPTY":
            self.change_reservoir(alarm)
            return
        if pump.state == T.SAFE_STOP:
            return                           # service only: the run shows it
        result = pump.acknowledge()
        if not result.ok:
            self.recorder.event(self.kernel.now, "refusal", result.reason or "acknowledge",
                                "acknowledge refused")

    # -- the reservoir change -------------------------------------------------------------
    def change_reservoir(self, why):
        world = self.world
        pump = world.pump
        hw = world.hw
        if pump.state == T.SAFE_STOP:
            return
        if why == "scheduled" and hw.reservoir.remaining_mu() > WORTH_CHANGING_MU:
            # nearly full: no patient throws it away (and the pump would refuse a second
            # tubing fill from a reservoir that is not fresh, IL-PRIME-MAX)
            self.recorder.event(self.kernel.now, "warning", "reservoir-change-skipped",
                                "%d U left" % (hw.reservoir.remaining_mu() // 1000))
            return
        if pump.state == T.ALARM:
            pump.acknowledge(resume=False)
        if pump.state in (T.DELIVERING, T.SUSPENDED):
            pump.stop()
        if hw.battery.percent() < BATTERY_CHANGE_BELOW:
            hw.battery.replace()
        self.recorder.event(self.kernel.now, "warning", "reservoir-change", why)
        done = self._done(pump.rewind())
        if done:
            hw.reservoir.mu = 300000         # the old reservoir out, a full one in
            hw.line.connected = False        # the set off the body for the tubing fill
            done = self._done(pump.load_reservoir())
        if done:
            hw.ui.pressed = True             # "disconnected?" confirmed on the pump
            done = self._done(pump.prime(PRIME_MU))
        if not done:
            hw.line.connected = True         # the patient keeps the old set on
            self._restart()
            return
        self.kernel.after(PRIME_WAIT_MIN * MS_PER_MINUTE, self._connect)

    def _done(self, result):
        """True if a step of a procedure went through; a refused one is recorded."""
        if not result.ok:
            self.recorder.event(self.kernel.now, "refusal", result.reason or "step",
                                "reservoir change step refused")
        return result.ok

    def _connect(self):
        world = self.world
        world.hw.line.connected = True
        world.hw.ui.pressed = True
        pump = world.pump
        if self._done(pump.connect()):
            self._done(pump.fill_cannula(CANNULA_MU))
        self.kernel.after(MS_PER_MINUTE, self._restart)

    def _restart(self):
        pump = self.world.pump
        if pump.state != T.DELIVERING:
            result = pump.start()
            if not result.ok:
                self.recorder.event(self.kernel.now, "refusal", result.reason or "start",
                                    "start after the reservoir change refused")
                raise PatientStuck("the reservoir change could not be finished (%s, pump "
                                   "%s)" % (result.reason, pump.state))
