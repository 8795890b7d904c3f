"""Virtual hardware for the closed loop: what the firmware's HAL drives, with physics.

- ``DriftingClock`` (pump.hal): the monotonic tick is the kernel's; the real-time clock
  runs fast or slow by ``drift_ppm`` (a watch crystal: +-20 ppm is 1.7 s a day), so the
  gateway's time sync matters.
- ``InfusionLine`` with the motor: a pulse's 25 mU reach the patient, or the air while the
  tubing is primed disconnected, or stay trapped in an occluded line; pressure rises with
  what is trapped (``MBAR_PER_MU``) and the trapped insulin surges in when the occlusion
  clears (the H-OCCLUSION hazard, as it happens in a real line).
- ``Battery``: drains with time and with each pulse; a fresh one at 100 %.
- buttons and display: ``pump.hal.MemoryUI`` (the virtual patient presses it).
"""

from pump.hal import DriftingClock, MemoryHardware, MemoryMotor

BASELINE_MBAR = 100
MBAR_PER_MU = 1.6              # 1500 mbar, the default occlusion limit, after ~0.9 U
BATTERY_PER_HOUR = 0.1         # percent: ~40 days for the clock and radio alone
BATTERY_PER_PULSE = 0.0008     # percent: ~1 % per 1,250 pulses (31 U)


class InfusionLine:
    """Where each pulse's insulin goes; ``read()`` is the pump's pressure sensor."""

    def __init__(self):
        self.occluded = False
        self.connected = True
        self.trapped_mu = 0
        self.to_patient = []          # (tick, mU) for the patient model
        self.to_air_mu = 0

    def deliver(self, tick, mu):
        if not self.connected:
            self.to_air_mu += mu
        elif self.occluded:
            self.trapped_mu += mu
        else:
            self.to_patient.append((tick, mu))

    def clear(self, tick):
        """The patient straightens the line: what was trapped goes in at once."""
        self.occluded = False
        if self.trapped_mu:
            self.to_patient.append((tick, self.trapped_mu))
            self.trapped_mu = 0

    def read(self):
        return BASELINE_MBAR + int(self.trapped_mu * MBAR_PER_MU)

    def take(self):
        delivered, self.to_patient = self.to_patient, []
        return delivered


class LineMotor(MemoryMotor):
    def __init__(self, reservoir, line, battery):
        MemoryMotor.__init__(self, reservoir)
        self.line = line
        self.battery = battery

    def pulse(self):
        before = self.steps
        MemoryMotor.pulse(self)
        moved = self.steps - before
        if moved:
            self.line.deliver(self.clock.ticks_ms(), 25 * moved)
            self.battery.drain(BATTERY_PER_PULSE * moved)


class Battery:
    def __init__(self, percent=100.0):
        self.level = float(percent)

    def percent(self):
        return int(self.level)

    def drain(self, amount):
        self.level = max(0.0, self.level - amount)

    def replace(self):
        self.level = 100.0


class VirtualHardware(MemoryHardware):
    def __init__(self, rng, wall_s, drift_ppm=0, reservoir_mu=300000):
        MemoryHardware.__init__(self, DriftingClock(0, wall_s, drift_ppm), reservoir_mu)
        self.line = InfusionLine()
        self.battery = Battery()
        self.pressure = self.line
        self.motor = LineMotor(self.reservoir, self.line, self.battery)
        self.motor.clock = self.clock
        self.motor.log = _NoLog()
        self.rng = rng
        self._drained_at = 0

    def advance_to(self, tick):
        hours = (tick - self._drained_at) / 3600000.0
        if hours > 0:
            self.battery.drain(BATTERY_PER_HOUR * hours)
            self._drained_at = tick
        self.clock.advance_to(tick)


class _NoLog:
    """The in-memory motor's pulse log is for tests; a year of pulses is not kept."""

    def append(self, item):
        pass
