"""The simulated world: the pump firmware on virtual hardware, its secure channel, the
gateway's end of it, the sensor and the patient's body, built from one seed.

Everything random comes from the seed (keys, EDHOC ephemerals, sensor noise, the
patient's behaviour, the clock's drift), so a run is the same on every machine.
"""

import datetime
import random

from bootloader.flash import NorFlash
from pump.hal import CountingRng
from pump.pump import Pump
from pump import results
from pump.limits import HARD_RANGES
from pump.units import BASAL_SLOTS, PULSE_MU
from secure_channel import crypto
from secure_channel.edhoc import credentials
from secure_channel.protocol.dispatch import Dispatcher, verified_log_reader
from secure_channel.protocol.telemetry import CgmBuffer
from secure_channel.sessions import manager as sessions, trust
from secure_channel.sessions.peer import PeerSession
from sim.cgm import CgmSensor
from sim.loop.channel import FastChannel
from sim.loop.hardware import VirtualHardware
from sim.patient import Patient
from sim.patient.cohort import therapy

LOG_KEY = b"simulated pump audit-log key, not secret"
FLASH_SECTORS = 96
PROFILES = ("secure", "legacy")
SECTOR = 4096


class SetupRefused(ValueError):
    """The pump refused the scenario's therapy settings (a rate above its hard limit)."""


def seeded_identity(seed, role, kid):
    """A P-256 identity derived from the seed (a simulation, not a device: the keys are
    reproducible on purpose)."""
    counter = 0
    while True:
        private = crypto.sha256(("%s|%s|%d" % (seed, role, counter)).encode())
        if crypto.p256_valid_private(private):
            break
        counter += 1
    ccs = trust.make_ccs(crypto.p256_public(private), kid, role)
    return private, credentials.ccs(ccs)


def start_wall_s(date):
    return int(datetime.datetime(date.year, date.month, date.day,
                                 tzinfo=datetime.timezone.utc).timestamp())


def basal_program(scenario, patient):
    """48 half-hour rates (mU/h) from the scenario; a rate of None is the patient's own."""
    own = int(round(patient.basal_u_per_min * 60000))
    segments = list(scenario.therapy.basal_u_h)
    program = []
    for slot in range(BASAL_SLOTS):
        minute = slot * 30
        rate = None
        for start, value in segments:
            if start <= minute:
                rate = value
        program.append(own if rate is None else int(round(rate * 1000)))
    return program


def clinician_limits(clinical, program):
    """Limits a clinician would set for this patient from the total daily insulin (TDI)
    and the basal program: never below the pump's defaults, inside its hard ranges."""
    tdi_mu = int(clinical["tdi_u"] * 1000)
    highest = max(program)

    def at_least(name, value):
        default, low, high = HARD_RANGES[name]
        return max(default, min(high, value // PULSE_MU * PULSE_MU))
    return {"max_bolus_mu": at_least("max_bolus_mu", tdi_mu * 3 // 10),
            "max_iob_mu": at_least("max_iob_mu", tdi_mu * 4 // 10),
            "max_1h_mu": at_least("max_1h_mu", tdi_mu * 4 // 10),
            "max_24h_mu": at_least("max_24h_mu", max(tdi_mu * 2, sum(program) // 2 * 2)),
            "max_basal_mu_h": at_least("max_basal_mu_h", highest),
            "max_temp_basal_mu_h": at_least("max_temp_basal_mu_h", highest * 2)}


def calculator_segments(scenario, name):
    clinical = therapy(name)
    ratio = scenario.therapy.carb_ratio_g_u or clinical["carb_ratio_g_u"]
    isf = scenario.therapy.isf_mg_dl_u or clinical["isf_mg_dl_u"]
    return [[0, max(10, min(1500, int(round(ratio * 10)))),
             max(5, min(400, int(round(isf)))),
             scenario.therapy.target_low, scenario.therapy.target_high]]


class World:
    firmware_name = "cpython"             # where the firmware runs: in this process

    def __init__(self, scenario, patient_name, seed, identity=None, trusted=None,
                 host_time_sessions=False, profile="secure", bootloader=False):
        """``identity`` (private key, credential) and ``trusted`` (a trust list) are the
        pump's when it serves a gateway in another process; by default both, and the
        in-memory gateway's key, come from the seed. ``host_time_sessions``: the session
        layer's clock is the host's, not the pump's (see ``PumpTimeDispatcher``).
        ``profile``: "secure", or "legacy" (``sim.attack.legacy``: the deliberately
        insecure link of the published attacks, for the attack lab only).
        ``bootloader``: run the pump's software from bootloader flash, as a scenario
        with ``[[updates]]`` does, so every power-up runs the real bootloader
        (``sim.loop.software``)."""
        if profile not in PROFILES:
            raise ValueError("profile %r is not one of %s" % (profile, ", ".join(PROFILES)))
        self.profile = profile
        self.on_install = None            # legacy: called with an image it installed
        self.link_tap = None              # an attacker on the link (sim.attack.link)
        self.software = None
        if (bootloader or getattr(scenario, "updates", ())) and profile == "secure":
            from sim.loop.software import Software
            self.software = Software(seed)
        self.host_time_sessions = host_time_sessions
        self.seed = seed
        self.random = random.Random("%s|%s|behaviour" % (seed, patient_name))
        self.wall_s = start_wall_s(scenario.run.start)
        drift = random.Random("%s|clock" % seed).randint(-20, 20)
        self.hw = VirtualHardware(CountingRng(("%s|pump" % seed).encode()), self.wall_s,
                                  drift)
        self.flash = NorFlash(FLASH_SECTORS * SECTOR, SECTOR)
        self.boots = 0
        self.patient = Patient.from_name(patient_name)
        self.program = basal_program(scenario, self.patient)
        self.segments = calculator_segments(scenario, patient_name)
        self.clinical = therapy(patient_name)
        self._pump_identity = identity or seeded_identity(seed, "pump", b"\x01")
        gateway_private, gateway_credential = seeded_identity(seed, "gateway", b"\x02")
        self._trusted = trusted or trust.TrustList([("gateway", gateway_credential)])
        self.boot_pump()
        self.gateway_identity = (gateway_private, gateway_credential)
        if profile == "legacy":
            from sim.attack.legacy import LegacyChannel
            self.channel = LegacyChannel(self.manager)
        else:
            peer = PeerSession(gateway_credential, gateway_private, self._pump_identity[1],
                               CountingRng(("%s|gateway" % seed).encode()))
            self.channel = FastChannel(self.manager, peer)
        settings = scenario.cgm
        self.sensor = CgmSensor(settings.sensor, seed=hash_seed(seed, patient_name),
                                lag_minutes=float(settings.lag_min),
                                dropout_rate=settings.dropout_rate,
                                drift_percent_per_day=settings.drift_pct_per_day,
                                noise=settings.noise)

    @property
    def pump_credential(self):
        """The pump's credential, as its peers know it."""
        return self._pump_identity[1]

    def boot_pump(self):
        """Start the firmware on the hardware: at first, and after a power cycle (RAM is
        lost, sessions too; flash, secure store, clock, plunger and reservoir are not).
        Each boot draws fresh randomness: an EDHOC ephemeral key is never used twice."""
        self.boots += 1
        updater = None
        if self.software is not None:           # the bootloader first: it may swap
            self.last_boot_ms = self.software.power_up()
            self.hw.advance_to(self.hw.clock.ticks_ms() + self.last_boot_ms)
        self.pump = Pump(self.hw, self.flash, LOG_KEY)
        if self.software is not None:
            updater = self.software.stager()
        self.cgm_buffer = CgmBuffer()
        if self.profile == "legacy":
            self._boot_legacy()
            return
        self.dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal,
                                     cgm=self.cgm_buffer, updater=updater,
                                     log_reader=verified_log_reader(self.flash, LOG_KEY,
                                                                     self.pump.log_head))
        private, credential = self._pump_identity
        served = self.dispatcher
        if self.host_time_sessions:
            served = PumpTimeDispatcher(self.dispatcher, self.pump.clock.ticks_ms)
        self.manager = sessions.SessionManager(
            credential, private, self._trusted, served,
            CountingRng(("%s|pump-channel|%d" % (self.seed, self.boots)).encode()))
        if self.boots > 1:
            self.channel.manager = self.link_tap or self.manager

    def _boot_legacy(self):
        from sim.attack.legacy import LegacyDispatcher, LegacyLink
        self.dispatcher = LegacyDispatcher(
            self.pump, audit=self.pump.record_refusal, cgm=self.cgm_buffer,
            log_reader=verified_log_reader(self.flash, LOG_KEY, self.pump.log_head),
            on_install=self._installed)
        self.manager = LegacyLink(self.dispatcher, CountingRng(
            ("%s|pump-channel|%d" % (self.seed, self.boots)).encode()))
        if self.boots > 1:
            self.channel.manager = self.link_tap or self.manager

    def _installed(self, image):
        if self.on_install is not None:
            self.on_install(image)

    def program_pump(self):
        """What the clinician sets before the run: limits, program, calculator; then
        start."""
        for result in (self.pump.set_limits(clinician_limits(self.clinical, self.program)),
                       self.pump.set_basal_program(self.program),
                       self.pump.set_calculator(self.segments), self.pump.start()):
            if not result.ok:
                raise SetupRefused("the pump refused the therapy settings: %s (%s)"
                                   % (result.reason, results.NAMES.get(result.code, "?")))


class PumpTimeDispatcher:
    """The dispatcher as a session layer on the host's clock sees it. In accelerated time
    the protocol's timers (a handshake's 10 s, an Echo's 30 s) are about the wire, which
    runs at the host's speed; requests are still handled at the pump's own tick."""

    def __init__(self, dispatcher, pump_now):
        self._dispatcher = dispatcher
        self._pump_now = pump_now

    def handle(self, data, role, now):
        return self._dispatcher.handle(data, role, self._pump_now())

    def handle_map(self, raw, role, now):
        return self._dispatcher.handle_map(raw, role, self._pump_now())

    @property
    def faults(self):
        return self._dispatcher.faults

    @faults.setter
    def faults(self, value):
        self._dispatcher.faults = value

    def __getattr__(self, name):
        return getattr(self._dispatcher, name)


def hash_seed(seed, name):
    """A stable integer from the seed and the patient (Python's hash() is salted)."""
    return int.from_bytes(crypto.sha256(("%s|%s|cgm" % (seed, name)).encode())[:8], "big")
