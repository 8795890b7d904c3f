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
import threading

from pump.bolus_calculator import Suggestion
from pump.board import hil
from pump.results import Result
from secure_channel import cbor
from secure_channel.link import framing
from sim.loop.world import FLASH_SECTORS, LOG_KEY, SECTOR, World

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "micropython" / "run.mjs"
DEVICE_MAIN = ROOT / "tools" / "board" / "hil_main.py"
ANSWER_TIMEOUT_S = 60.0          # one request; the slowest is an EDHOC message in Python
DEVICE_HEAP = "2m"
OBJECTS = {"Result": lambda code, reason, value: Result(code, reason, imported(value)),
           "Suggestion": lambda fields: _suggestion(fields)}


class DeviceError(Exception):
    """The device stopped answering, answered out of turn, or reported a firmware fault:
    the run ends with the reason, never hangs."""


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
        if self.closed:
            raise DeviceError("the device link is closed")
        try:
            self._write(hil.encode_line(message) + "\n")
        except OSError as exc:
            raise DeviceError("cannot write to the device: %s (%s)"
                              % (exc, self._describe())) from None
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise DeviceError("the device did not answer within %.0f s (%s)"
                                  % (timeout, self._describe())) from None
            if line is None:
                self.closed = True
                raise DeviceError("the device stopped (%s)" % self._describe())
            if line.startswith(hil.PREFIX):
                try:
                    return hil.decode_line(line)
                except hil.HilError as exc:
                    raise DeviceError("the device sent a bad line: %s" % exc) from None
            self.console.append(line)
            del self.console[:-20]


def _reader(stream, sink):
    try:
        for line in stream:
            sink.put(line.rstrip("\r\n") if isinstance(line, str)
                     else line.decode("utf-8", "replace").rstrip("\r\n"))
    except (OSError, ValueError):
        pass
    sink.put(None)


class WasmDevice:
    """The firmware under the MicroPython WebAssembly port in a Node.js child process;
    its stdin and stdout are the device's UART."""

    def __init__(self, heap=DEVICE_HEAP, script=DEVICE_MAIN, measure=False):
        """``script``: the device's main (tools/board/hil_main.py, or one that loads the
        firmware from .mpy files); ``measure``: the device collects before every request,
        so its heap figures are live ones (slower)."""
        self.measure = measure
        node = shutil.which("node")
        if node is None:
            raise DeviceError("Node.js not found: --device micropython needs it (make setup "
                              "installs the MicroPython runner)")
        if not (RUNNER.parent / "node_modules").is_dir():
            raise DeviceError("the MicroPython runner is not installed "
                              "(tools/micropython/node_modules): run `make setup`")
        self.process = subprocess.Popen(
            [node, str(RUNNER), "--stdio", "--heap", heap, str(script)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", bufsize=1, cwd=str(ROOT))
        lines = queue.Queue()
        self._stderr = []
        threading.Thread(target=_reader, args=(self.process.stdout, lines),
                         daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.link = LineLink(self._write, lines, self._describe)
        self.name = "micropython (WebAssembly port)"

    def _write(self, text):
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def _drain_stderr(self):
        for line in self.process.stderr:
            self._stderr.append(line.rstrip("\n"))
            del self._stderr[:-40]

    def _describe(self):
        status = self.process.poll()
        state = "running" if status is None else "exit status %d" % status
        tail = " | ".join(self._stderr[-6:])
        return "MicroPython device %s%s" % (state, ": " + tail if tail else "")

    def close(self):
        if self.process.poll() is None:
            try:
                self.link.exchange({1: "quit", 2: 0}, timeout=5)
            except DeviceError:
                pass
            try:
                self.process.stdin.close()
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class SerialDevice:
    """A board running tools/board/hil_main.py on a serial port (or any pyserial URL,
    e.g. ``socket://host:port`` to a board behind ser2net)."""

    READ_WAIT_S = 0.2

    def __init__(self, port, baudrate=115200):
        from sim.transport_serial import open_serial
        try:
            self.transport = open_serial(port, baudrate)
        except (OSError, ValueError) as exc:
            raise DeviceError("cannot open %s: %s" % (port, exc)) from None
        self.name = "board on %s" % port
        self._open = True
        lines = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.link = LineLink(self._write, lines, lambda: self.name)

    def _read(self, sink):
        buffer = b""
        while self._open:
            try:
                chunk = self.transport.read(4096, self.READ_WAIT_S)
            except (OSError, TypeError, AttributeError):   # the port went away or closed
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                sink.put(line.decode("utf-8", "replace").rstrip("\r"))
        sink.put(None)

    def _write(self, text):
        self.transport.write(text.encode())

    def close(self):
        try:
            self.link.exchange({1: "quit", 2: 0}, timeout=5)
        except DeviceError:
            pass
        self._open = False
        self.transport.close()


def open_device(spec):
    """``micropython`` (the WebAssembly port), a serial port's path or a pyserial URL."""
    if spec == "micropython":
        return WasmDevice()
    if os.path.exists(spec) or spec.startswith(("COM", "/dev/")) or "://" in spec:
        return SerialDevice(spec)
    raise DeviceError("--device takes `micropython` or a serial port (e.g. /dev/ttyACM0), "
                      "not %r" % spec)


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

    def _state(self):
        hw = self.hw
        ui = hw.ui
        press = None
        if ui.pressed and ui._pressed_at != self._press_sent:
            press = self._press_sent = ui._pressed_at
        return [hw.clock.ticks_ms(), hw.line.read(), hw.battery.percent(),
                hw.reservoir.remaining_mu(), hw.motor.steps, press]

    def request(self, op, *args):
        self.requests += 1
        answer = self.link.exchange({1: op, 2: self.requests, 3: self._state(),
                                     4: list(args)})
        if answer.get(1) != self.requests:
            raise DeviceError("the device answered request %r, not %d"
                              % (answer.get(1), self.requests))
        self._apply(answer)
        if self.heap_trace is not None:
            self.heap_trace.append((op, self.heap))
        if answer.get(2) is not None:
            raise DeviceError("the device refused %s: %s" % (op, answer[2]))
        return imported(answer.get(3))

    def _apply(self, answer):
        hw = self.hw
        motor = hw.motor
        enabled = answer.get(5)
        if answer.get(4):
            motor.enabled = True
            for _ in range(answer[4]):
                motor.pulse()
        if enabled is not None:
            motor.enabled = enabled
        if answer.get(8):
            hw.ui._pressed = False
        alarm = answer.get(7)
        if alarm:
            ui = hw.ui
            ui.alarm_active, ui.alarm_code, ui.alarm_level, ui.sounded = alarm
        for rtype, data, tick in answer.get(6) or ():
            self.log.append(rtype, imported(data), tick, None)
        if answer.get(9):
            self.heap = answer[9]


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
        self.pump = RemotePump(self.firmware, self.hw)
        self.cgm_buffer = RemoteObject(self.firmware, "cgm")
        self.dispatcher = RemoteDispatcher(self.firmware, "dispatcher")
        self.manager = RemoteManager(self.firmware)
        if self.boots > 1:
            self.channel.manager = self.link_tap or self.manager

    def close(self):
        self.device.close()
