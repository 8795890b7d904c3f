"""The firmware in the loop: the pump firmware on a MicroPython device whose hardware is
simulated by a host (docs/hil.md).

The device runs the unmodified therapy, audit log, dispatcher and session layer; the
host simulates the patient, the sensor and the pump's hardware and is the clock master.
They talk over one line-oriented link (the device's UART, or a pipe to the WebAssembly
port): each line is ``H`` and the hex of one CBOR map. The host asks; the device answers
every request with one line, in order.

Request ``{1: op, 2: seq, 3: hardware, 4: args}``. ``hardware`` is the state of the
simulated hardware now: ``[ticks_ms, pressure_mbar, mbar_per_pulse, battery_percent,
reservoir_mu, encoder_steps, press_tick or None]``; the device's clock, pressure sensor,
fuel gauge, reservoir sensor, encoder and button read it (``mbar_per_pulse``: what each
pulse of this request adds to the pressure, non-zero while the line is occluded). Ops:

- ``boot``: power-up; the first carries the configuration (``boot_config``): keys, trust
  list, RNG seed, clock drift, flash size. Later ones are a power cycle: RAM is lost,
  flash, secure store, RTC and RNG are not.
- ``call``: ``[target, name, arg...]``: one of ``CALLS`` (the patient's menu actions on
  the pump, the clinician's settings, the pump's sensor driver, the main loop's tick).
- ``get``: ``[target, name]``: one of ``READS`` (what a test fixture reads).
- ``uart``: ``[bytes, now]``: bytes the secure channel's UART received; the answer is
  the bytes the pump writes back (COBS frames of EDHOC and OSCORE messages).
- ``mem``: ``[peak live heap, peak heap at a request's end]`` (below).

Answer ``{1: seq, 2: error or None, 3: result, 4: pulses, 5: motor_enabled, 6: log,
7: alarm, 8: press_consumed, 9: heap}``: the motor pulses that moved the plunger since the
request (the host's motor model applies them), the audit records written (``[type, data,
tick]``, so the host's recorder follows the log), the alarm output ``[active, code,
level, sounded]`` and whether the button press was used. ``heap`` is ``[live at the
start, allocated at the end, peak live, peak at an end]`` in bytes; the live figures
only when the boot configuration says ``measure`` (each request then starts with a
collection).
Results are CBOR; a ``Result`` or a calculator ``Suggestion`` travels as tag 27 (a typed
object: ``[class name, fields...]``).
"""

from secure_channel import cbor
from secure_channel.edhoc import credentials
from secure_channel.protocol.dispatch import Dispatcher, verified_log_reader
from secure_channel.protocol.telemetry import CgmBuffer
from secure_channel.sessions import trust as trust_lists
from secure_channel.sessions.manager import SessionManager

from bootloader.flash import NorFlash
from pump.hal import (AlarmState, CountingRng, DriftingClock, MemoryReservoir,
                      MemorySecureStore, MemoryWatchdog, PRESS_VALID_MS)
from pump.pump import Pump
from pump.results import Result

PREFIX = "H"
OBJECT_TAG = 27                      # RFC 8949 registry: typed object [name, fields...]
MAX_LINE = 64 * 1024
CALLS = {
    "pump": ("tick", "status", "suggest_bolus", "confirm_suggestion", "acknowledge", "stop",
             "rewind", "load_reservoir", "prime", "connect", "fill_cannula", "start",
             "cgm_reading", "set_limits", "set_basal_program", "set_calculator"),
    "cgm": ("add",),
}
READS = {"pump": ("state",), "dispatcher": ("refusals",), "manager": ("stats",)}
CONFIG = (("rng", bytes, 1, 256), ("channel", str, 1, 256), ("wall_s", int, 0, 1 << 40),
          ("drift", int, -1000, 1000), ("flash", int, 4096, 16 << 20),
          ("sector", int, 256, 1 << 16), ("log_key", bytes, 16, 64),
          ("private", bytes, 32, 32), ("ccs", bytes, 1, 1024), ("trust", bytes, 1, 4096))


class HilError(Exception):
    """A request the device cannot take: malformed, unknown op, or a call not allowed."""


def encode_line(message):
    return PREFIX + cbor.encode(message).hex()


def decode_line(line):
    """The CBOR map of one protocol line (``HilError`` for anything else)."""
    if not isinstance(line, str) or not line.startswith(PREFIX) or len(line) > MAX_LINE:
        raise HilError("not a protocol line")
    try:
        message = cbor.decode(bytes.fromhex(line[len(PREFIX):].strip()))
    except (ValueError, cbor.CBORError) as exc:
        raise HilError("undecodable line: %s" % exc)
    if not isinstance(message, dict):
        raise HilError("a protocol line holds a map")
    return message


def export(value):
    """``value`` as CBOR can carry it: tuples as arrays, firmware objects as tag 27."""
    if isinstance(value, Result):
        return cbor.Tag(OBJECT_TAG, ["Result", value.code, value.reason, export(value.value)])
    if isinstance(value, (list, tuple)):
        return [export(item) for item in value]
    if isinstance(value, dict):
        out = {}
        for key in value:
            out[key] = export(value[key])
        return out
    slots = getattr(type(value), "__slots__", None)
    if slots is not None and not isinstance(value, (bytes, str)):
        fields = {}
        for name in slots:
            fields[name] = export(getattr(value, name))
        return cbor.Tag(OBJECT_TAG, [type(value).__name__, fields])
    return value


class HilMotor:
    """Step pulses counted for the host, which moves its plunger and line by them."""

    def __init__(self, reservoir):
        self.reservoir = reservoir
        self.steps = 0
        self.enabled = True
        self.moved = 0

    def pulse(self):
        if not self.enabled:
            return
        self.steps += 1
        self.moved += 1
        self.reservoir.consume(25)

    def encoder(self):
        return self.steps

    def set_enabled(self, enabled):
        self.enabled = bool(enabled)


class HilSensor:
    """A reading the host sent. As a pressure sensor, each pulse this request moved into
    an occluded line adds ``per_pulse`` mbar (the host's line model, sent with the state),
    so the pump sees the pressure rise between the pulses of one tick as on CPython."""

    def __init__(self, value, motor=None):
        self.value = value
        self.per_pulse = 0
        self.motor = motor

    def read(self):
        if self.motor is None:
            return self.value
        return self.value + self.motor.moved * self.per_pulse

    def percent(self):
        return self.value


class HilUI(AlarmState):
    """The pump's button (pressed on the host, counts once and for ``PRESS_VALID_MS``),
    its display and alarm output."""

    def __init__(self, clock):
        AlarmState.__init__(self)
        self.clock = clock
        self.pressed_at = None
        self.consumed = False
        self.lines = []

    def show(self, text):
        self.lines.append(text)
        if len(self.lines) > 20:
            del self.lines[:10]

    def confirm_pressed(self):
        at, self.pressed_at = self.pressed_at, None
        if at is None:
            return False
        self.consumed = True
        return 0 <= self.clock.ticks_ms() - at <= PRESS_VALID_MS


class HilHardware:
    def __init__(self, rng_seed, wall_s, drift_ppm):
        self.clock = DriftingClock(0, wall_s, drift_ppm)    # ticks from the host
        self.reservoir = MemoryReservoir(0)
        self.motor = HilMotor(self.reservoir)
        self.pressure = HilSensor(100, self.motor)
        self.battery = HilSensor(100)
        self.ui = HilUI(self.clock)
        self.watchdog = MemoryWatchdog()
        self.rng = CountingRng(rng_seed)
        self.secure_store = MemorySecureStore()

    def sync(self, state):
        """The host's hardware state before a request is served: checked whole, then
        applied, so a refused request changes nothing."""
        if not isinstance(state, list) or len(state) != 7:
            raise HilError("hardware state is [ticks, mbar, mbar per pulse, percent, mU, "
                           "steps, press]")
        for item in state[:6]:
            if type(item) is not int or item < 0:
                raise HilError("hardware values are non-negative integers")
        ticks, mbar, per_pulse, percent, mu, steps, press = state
        if ticks < self.clock.ticks_ms():
            raise HilError("the clock master's ticks went back")
        if percent > 100:
            raise HilError("a battery is at most 100 %")
        if press is not None and (type(press) is not int or not 0 <= press <= ticks):
            raise HilError("press is a tick no later than now, or None")
        self.clock.advance_to(ticks)
        self.pressure.value = mbar
        self.pressure.per_pulse = per_pulse
        self.battery.value = percent
        self.reservoir.mu = mu
        self.motor.steps = steps
        self.motor.moved = 0
        self.ui.consumed = False
        if press is not None:
            self.ui.pressed_at = press


def boot_config(seed, channel_seed, wall_s, drift_ppm, flash_size, sector, log_key,
                identity, trust, measure=False):
    """The first ``boot``'s argument: what a board has in its flash and key files.
    ``identity``: (private key, CCS bytes); ``trust``: an encoded trust list."""
    private, ccs = identity
    return {"rng": seed, "channel": channel_seed, "wall_s": wall_s, "drift": drift_ppm,
            "flash": flash_size, "sector": sector, "log_key": log_key,
            "private": private, "ccs": ccs, "trust": trust, "measure": measure}


class HilDevice:
    """The pump on HIL hardware; ``handle`` serves one request."""

    def __init__(self):
        self.hw = None
        self.boots = 0
        self.heap_peak = 0               # the largest live heap at a request's start
        self.bound_peak = 0              # the largest heap at a request's end
        self.measure = False
        self._log = []

    def _configure(self, config):
        """Checked whole before anything is kept: a refused configuration leaves the
        device unconfigured, and the next boot may try again."""
        if not isinstance(config, dict):
            raise HilError("the first boot carries the configuration")
        for name, kind, low, high in CONFIG:
            value = config.get(name)
            if kind is int:
                if type(value) is not int or not low <= value <= high:
                    raise HilError("bad configuration: %s must be an int in %d..%d"
                                   % (name, low, high))
            elif not isinstance(value, kind) or not low <= len(value) <= high:
                raise HilError("bad configuration: %s must be %s of %d..%d"
                               % (name, kind.__name__, low, high))
        try:
            hw = HilHardware(config["rng"], config["wall_s"], config["drift"])
            flash = NorFlash(config["flash"], config["sector"])
            credential = credentials.ccs(config["ccs"])
            trust = trust_lists.decode(config["trust"])
        except MemoryError:              # the device's fault, not the configuration's
            raise
        except Exception as exc:         # flash geometry, credential or trust list refused
            raise HilError("bad configuration: %s" % exc)
        self.flash, self.credential, self.trust = flash, credential, trust
        self.log_key, self.private = config["log_key"], config["private"]
        self.channel_seed = config["channel"]
        self.measure = config.get("measure") is True
        self.hw = hw

    def boot(self):
        """Power-up: the firmware's objects built afresh over the kept flash and store. The
        old ones go first, as a power cycle clears RAM: the new pump has the whole heap."""
        self.boots += 1
        self.pump = self.cgm = self.dispatcher = self.manager = self.targets = None
        self.pump = Pump(self.hw, self.flash, self.log_key)
        self._tap(self.pump.log)
        self.cgm = CgmBuffer()
        self.dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal, cgm=self.cgm,
                                     log_reader=verified_log_reader(self.flash, self.log_key,
                                                                    self.pump.log_head))
        rng = CountingRng(("%s|%d" % (self.channel_seed, self.boots)).encode())
        self.manager = SessionManager(self.credential, self.private, self.trust,
                                      self.dispatcher, rng)
        self.targets = {"pump": self.pump, "cgm": self.cgm, "dispatcher": self.dispatcher,
                        "manager": self.manager}

    def _tap(self, log):
        original = log.append
        records = self._log

        def append(rtype, data, tick, wall):
            seq = original(rtype, data, tick, wall)
            records.append([rtype, export(data), tick])
            return seq
        log.append = append

    def _serve(self, op, args):
        if op == "boot" and self.hw is not None:
            if args and self.boots:
                raise HilError("configured already: a later boot is a power cycle and "
                               "carries no configuration")
            self.boot()
            return self.boots
        if self.hw is None:
            raise HilError("boot first")
        if op == "call":
            if len(args) < 2 or args[1] not in CALLS.get(args[0], ()):
                raise HilError("call not allowed: %r" % (args[:2],))
            return getattr(self.targets[args[0]], args[1])(*args[2:])
        if op == "get":
            if len(args) != 2 or args[1] not in READS.get(args[0], ()):
                raise HilError("read not allowed: %r" % (args,))
            return getattr(self.targets[args[0]], args[1])
        if op == "uart":
            if len(args) != 2 or not isinstance(args[0], bytes) or type(args[1]) is not int:
                raise HilError("uart takes [bytes, now]")
            return self.manager.feed(args[0], args[1])
        if op == "mem":
            return [self.heap_peak, self.bound_peak]
        raise HilError("unknown op %r" % (op,))

    def _live(self):
        """The live heap after a collection (None without ``gc.mem_alloc``: CPython)."""
        try:
            import gc
            gc.collect()
            live = gc.mem_alloc()
        except (ImportError, AttributeError):
            return None
        if live > self.heap_peak:
            self.heap_peak = live
        return live

    def _heap(self, live):
        """``[live at the start, allocated at the end, peak of either]`` in bytes.

        ``allocated`` counts everything the request allocated as if nothing had been
        freed, so it bounds the request's true high-water mark from above (on the
        WebAssembly port nothing a request allocates can be freed before it returns)."""
        try:
            import gc
            allocated = gc.mem_alloc()
        except (ImportError, AttributeError):
            return [0, 0, 0, 0]
        if live is not None and allocated > self.bound_peak:
            self.bound_peak = allocated
        return [live, allocated, self.heap_peak, self.bound_peak]

    def handle(self, message):
        """One request map in, one answer map out; a refused request is an answer too."""
        seq = message.get(2)
        if type(seq) is not int:
            return {1: None, 2: "a request's seq is an int"}
        error = None
        result = None
        op, args = message.get(1), message.get(4) or []
        live = None
        try:
            if op == "boot" and self.hw is None:
                self._configure(args[0] if args else None)
            if self.measure or op == "mem":
                live = self._live()
            if self.hw is not None:
                self.hw.sync(message.get(3))
            result = export(self._serve(op, args))
        except HilError as exc:
            error = str(exc)
        except Exception as exc:          # a firmware fault: the host ends the run with it
            error = "fault: %s: %s" % (type(exc).__name__, exc)
        hw = self.hw
        records, self._log[:] = list(self._log), []
        answer = {1: seq, 2: error, 3: result, 6: records, 9: self._heap(live)}
        if hw is not None:
            ui = hw.ui
            answer[4] = hw.motor.moved
            answer[5] = hw.motor.enabled
            answer[7] = [ui.alarm_active, ui.alarm_code, ui.alarm_level, ui.sounded]
            answer[8] = ui.consumed
        return answer


class Server:
    """Protocol lines in, answer lines out (None: nothing to answer, e.g. console noise
    on a shared UART); ``done`` once the host said ``quit``."""

    def __init__(self):
        self.device = HilDevice()
        self.done = False

    def line(self, line):
        line = line.strip()
        if not line.startswith(PREFIX):
            return None
        try:
            message = decode_line(line)
        except HilError as exc:
            return encode_line({1: None, 2: str(exc)})
        if message.get(1) == "quit":
            self.done = True
            return encode_line({1: message.get(2), 2: None})
        return encode_line(self.device.handle(message))

    def serving(self):
        return not self.done


def serve(read_line, write_line):
    """Answer the host's requests until the link closes (``read_line`` gives None) or
    the host says ``quit``."""
    server = Server()
    while not server.done:
        line = read_line()
        if line is None:
            return
        answer = server.line(line)
        if answer is not None:
            write_line(answer)
