"""The simulated device for a gateway in another process: firmware, patient and sensor.

``DeviceNode`` is a closed-loop run (``Simulation`` with ``remote_gateway``) served over a
byte transport instead of the in-memory link: the patient eats, boluses on the button and
changes reservoirs, the sensor feeds the pump through its own driver, and whatever peer is
in the pump's trust list (a ``pumpsim gateway`` on the other end of a PTY, a serial port or
UDP) talks to the pump's real session layer. Time is the run's virtual time moved along
with the host's clock, ``speed`` times faster (``sim.pump_server.serve``).

Real-time start. At ``speed`` 1 the pump's clock must agree with the gateway's, so the
run starts at the last midnight (UTC) and is brought to the present in fast mode before
it serves: the day so far has happened, and the clocks agree. Faster, the run starts at
midnight and the gateway takes the pump's clock as its own.
"""

import dataclasses
import datetime
import time

from pump.units import MS_PER_MINUTE
from sim.loop.simulation import Simulation
from sim.loop.world import LOG_KEY
from sim.pump_server import ServedNode


def today_scenario(scenario, now_s):
    """``scenario`` starting at the midnight (UTC) before ``now_s``."""
    day = datetime.datetime.fromtimestamp(now_s, datetime.timezone.utc).date()
    return dataclasses.replace(scenario, run=dataclasses.replace(scenario.run, start=day))


class DeviceNode(ServedNode):
    def __init__(self, scenario, patient, seed, days, identity, trusted, speed=1.0,
                 clock=time.time, host_clock=time.monotonic):
        now_s = clock()
        if speed == 1:
            scenario = today_scenario(scenario, now_s)
        self.simulation = Simulation(scenario, patient, seed=seed, days=days,
                                     remote_gateway=True, identity=identity,
                                     trusted=trusted)
        self.world = self.simulation.world
        if not self.simulation.start():
            raise RuntimeError(self.simulation.ended)
        if speed == 1:                          # the day so far, in fast mode
            since_midnight = int(now_s) % 86400
            self.simulation.advance(since_midnight * 1000)
        self.speed = speed
        self._host_clock = host_clock
        self._host_start = host_clock()

    @property
    def manager(self):
        return self.world.manager            # a new one after a simulated reboot

    @property
    def pump(self):
        return self.world.pump

    @property
    def flash(self):
        return self.world.flash

    @property
    def hw(self):
        return self.world.hw

    log_key = LOG_KEY

    def now(self):
        """The kernel's virtual time, ms: what ``serve`` moves along with the host."""
        return self.simulation.kernel.now

    def advance_to(self, ticks):
        if ticks > self.simulation.kernel.now and not self.over:
            self.simulation.advance(ticks)
            if self.over and self.simulation.ended is None:
                print("the run's %d days are over: the pump still answers, its time "
                      "stopped" % self.simulation.days, flush=True)
        self.world.dispatcher.tick(self.pump.clock.ticks_ms())
        self.manager.tick(self.session_now())

    def session_now(self):
        """The session layer's clock: the host's, ms (``world.PumpTimeDispatcher``)."""
        return int((self._host_clock() - self._host_start) * 1000)

    @property
    def over(self):
        simulation = self.simulation
        return simulation.ended is not None or \
            simulation.kernel.now >= simulation.days * 1440 * MS_PER_MINUTE

    @property
    def ended(self):
        """Why the run ended early (serving stops), or None. A run that reached its last
        day keeps answering, so a gateway can still fetch all of it."""
        return self.simulation.ended
