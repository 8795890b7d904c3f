"""A pump world with the gateway's end of the in-memory secure link, for gateway tests."""

from pump import audit_log as L
from pump.units import MS_PER_MINUTE
from sim import scenario as S
from sim.gateway.service import LinkDown
from sim.loop.channel import ServiceClient
from sim.loop.world import LOG_KEY, World


class PumpWorld:
    """The real firmware, started with a patient's therapy; ``client`` talks to it over
    EDHOC + OSCORE through the in-memory link, as the simulator's gateway does."""

    def __init__(self, seed=1, patient="adult#001"):
        self.world = World(S.default(), patient, seed)
        self.world.program_pump()
        self.client = Client(self)

    @property
    def pump(self):
        return self.world.pump

    def now(self):
        return self.world.hw.clock.ticks_ms()

    def run_minutes(self, minutes):
        """The pump's main loop for ``minutes`` of virtual time."""
        hw = self.world.hw
        end = self.now() + minutes * MS_PER_MINUTE
        while self.now() < end:
            wake = self.pump.tick()
            hw.advance_to(min(end, max(wake, self.now() + 1)))
        self.pump.tick()

    def log(self):
        """The pump's own audit log, verified from its flash."""
        return L.verify(self.world.flash, LOG_KEY, self.pump.log_head())


class Client(ServiceClient):
    """The simulator's service client; ``fail_after`` requests it raises LinkDown (a cut
    link); ``tamper(name, answer)`` may change an answer."""

    def __init__(self, pump_world):
        super().__init__(pump_world.world.channel, pump_world.now)
        self.sent = []
        self.fail_after = None
        self.tamper = None

    def request(self, name, fields):
        if self.fail_after is not None:
            if self.fail_after <= 0:
                raise LinkDown("link cut")
            self.fail_after -= 1
        self.sent.append(name)
        answer = super().request(name, fields)
        if self.tamper is not None:
            self.tamper(name, answer)
        return answer
