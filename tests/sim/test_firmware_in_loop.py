"""The firmware in the loop: the unmodified firmware under MicroPython (the WebAssembly
port in a child process, or a "board" on a serial port) as the device of a closed-loop
run, the host simulating patient, sensor and hardware (sim/loop/hil.py, docs/hil.md).

Hazards: firmware that behaves differently on the interpreter it ships on than in the
simulator people trust (the comparison must be of the whole therapy: every pulse, alarm,
refusal and glucose value, not a summary); a device that dies or stops answering and
hangs the run or loses what was simulated; a link that takes noise or an out-of-turn
answer for the device's word.
"""

import dataclasses
import os
import pty
import queue
import subprocess
import sys
import time
import tty

import pytest

from conftest import real_tool
from sim import scenario as S
from pump.board import hil as device_end
from sim.loop import hil
from sim.loop.simulation import Simulation

HOUR_MS = 3600000


@pytest.fixture(scope="module")
def runner():
    real_tool("node")
    if not (hil.RUNNER.parent / "node_modules").is_dir():
        message = "the MicroPython runner is not installed (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def pumpsim(*args):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True,
                          text=True, timeout=600)


def hours(simulation, count):
    """The first ``count`` hours of ``simulation``: what the host saw of the therapy."""
    assert simulation.start(), simulation.ended
    simulation.advance(count * HOUR_MS)
    recorder = simulation.recorder
    return {"ended": simulation.ended, "samples": recorder.samples,
            "boluses": recorder.boluses, "events": recorder.events,
            "decisions": recorder.decisions, "delivered_mu": recorder.delivered_mu,
            "channel": dict(simulation.world.channel.stats),
            "refusals": simulation.world.dispatcher.refusals,
            "pulses": simulation.world.hw.motor.steps,
            "reservoir_mu": simulation.world.hw.reservoir.remaining_mu()}


DAYS = ["sim/scenarios/faults.toml"] + (
    [None] if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else [])


@pytest.mark.parametrize("scenario", DAYS)
def test_a_day_on_micropython_is_byte_for_byte_the_day_on_cpython(runner, tmp_path,
                                                                   scenario):
    """The faults day: an occlusion (the pressure rising pulse by pulse), a reboot of the
    pump (a new session, the log followed across it), a CGM failure, a flat battery."""
    same_day_as_cpython(tmp_path, "micropython", "micropython (WebAssembly port)", scenario)


def same_day_as_cpython(tmp_path, device, firmware, scenario):
    """``pumpsim run --device device`` gives the CPython run's day, byte for byte."""
    chosen = ["--scenario", scenario] if scenario else []
    on_device = pumpsim("run", "--device", device, *chosen, "--out", str(tmp_path / "mp"))
    assert on_device.returncode == 0, on_device.stderr
    here = pumpsim("run", *chosen, "--out", str(tmp_path / "cpython"))
    assert here.returncode == 0, here.stderr
    assert on_device.stdout.splitlines()[0] == here.stdout.splitlines()[0]   # headline
    assert (tmp_path / "mp/trajectory.csv").read_bytes() == \
        (tmp_path / "cpython/trajectory.csv").read_bytes()
    device_metrics = (tmp_path / "mp/metrics.json").read_text().splitlines()
    host_metrics = (tmp_path / "cpython/metrics.json").read_text().splitlines()
    assert '  "firmware": "%s",' % firmware in device_metrics
    assert '  "firmware": "cpython",' in host_metrics
    assert [line for line in device_metrics if '"firmware"' not in line] == \
        [line for line in host_metrics if '"firmware"' not in line]
    assert firmware in (tmp_path / "mp/report.html").read_text()


def test_the_aid_loop_on_micropython_gives_the_same_temp_basals(runner):
    horizon = 24 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 9
    device = hil.WasmDevice()
    try:
        simulation = Simulation(S.default(), "adolescent#003", seed=5, controller="aid",
                                device=device)
        on_device = hours(simulation, horizon)
        assert simulation.world.firmware.heap[1] > 0     # gc.mem_alloc: MicroPython ran it
    finally:
        device.close()
    here = hours(Simulation(S.default(), "adolescent#003", seed=5, controller="aid"),
                 horizon)
    assert on_device["decisions"] > 50
    assert on_device == here


def test_a_board_on_a_serial_port_runs_the_same_therapy(runner):
    """``--device PORT``: the device end on a pseudo-terminal, the host through pyserial."""
    controller, board_end = pty.openpty()
    tty.setraw(board_end)
    port = os.ttyname(board_end)
    process = subprocess.Popen(["node", str(hil.RUNNER), "--stdio", str(hil.DEVICE_MAIN)],
                               stdin=controller, stdout=controller,
                               stderr=subprocess.DEVNULL, cwd=str(hil.ROOT))
    os.close(controller)
    device = hil.open_device(port)
    try:
        assert device.name == "board on %s" % port
        on_board = hours(Simulation(S.default(), "adult#002", seed=3, device=device), 8)
    finally:
        device.close()
        process.wait(timeout=10)
        os.close(board_end)
    assert on_board == hours(Simulation(S.default(), "adult#002", seed=3), 8)
    assert on_board["boluses"]                           # breakfast, confirmed on the pump


def test_a_device_that_dies_ends_the_run_with_the_reason_and_keeps_what_was_simulated(
        runner):
    device = hil.WasmDevice()

    def kill_at_two_hours(now):
        if now >= 2 * HOUR_MS and device.process.poll() is None:
            device.process.kill()
    simulation = Simulation(S.default(), "adult#001", device=device,
                            progress=kill_at_two_hours)
    try:
        run = simulation.run()
    finally:
        device.close()
    assert run["ended"].startswith("the firmware's device failed: the device stopped"), \
        run["ended"]
    assert "exit status" in run["ended"]
    assert 20 <= len(run["samples"]) <= 30                # two hours kept, nothing after
    assert run["firmware"] == "micropython (WebAssembly port)"


def test_the_link_refuses_silence_noise_and_out_of_turn_answers():
    lines = queue.Queue()
    written = []
    link = hil.LineLink(written.append, lines, lambda: "test device")
    with pytest.raises(hil.DeviceError, match="did not answer within"):
        link.exchange({1: "get", 2: 1}, timeout=0.05)
    assert written and written[0].startswith("H")
    link = hil.LineLink(written.append, lines, lambda: "test device")
    lines.put("MicroPython v1.27 boot banner")
    lines.put(device_end.encode_line({1: 2, 2: None, 3: "stopped"}))
    assert link.exchange({1: "get", 2: 2})[3] == "stopped"
    assert link.console == ["MicroPython v1.27 boot banner"]
    lines.put("Hnot hex")
    with pytest.raises(hil.DeviceError, match="bad line"):
        link.exchange({1: "get", 2: 3})
    firmware = hil.RemoteFirmware(link, Simulation(S.default(), "adult#001").world.hw)
    lines.put(device_end.encode_line({1: 99, 2: None}))
    with pytest.raises(hil.DeviceError, match="answered request 99, not 1"):
        firmware.request("mem")
    lines.put(None)
    with pytest.raises(hil.DeviceError, match="stopped"):
        link.exchange({1: "get", 2: 4})
    with pytest.raises(hil.DeviceError, match="closed"):
        link.exchange({1: "get", 2: 5})


def test_what_a_device_cannot_run_is_refused_before_it_starts(runner, tmp_path):
    with_update = pumpsim("run", "--device", "micropython", "--scenario",
                          "sim/scenarios/update.toml", "--out", str(tmp_path / "u"))
    assert with_update.returncode == 2
    assert "without software updates" in with_update.stderr
    several = pumpsim("run", "--device", "/dev/ttyACM7", "--seed", "1", "2", "--out",
                      str(tmp_path / "s"))
    assert several.returncode == 2 and "one board runs one patient" in several.stderr
    missing = pumpsim("run", "--device", "/dev/ttyNOPE", "--out", str(tmp_path / "m"))
    assert missing.returncode == 2 and "cannot open /dev/ttyNOPE" in missing.stderr
    assert "Traceback" not in missing.stderr + several.stderr + with_update.stderr
    with pytest.raises(ValueError, match="secure profile"):
        Simulation(dataclasses.replace(S.default()), "adult#001", device=object(),
                   profile="legacy")


def test_console_chatter_does_not_keep_a_silent_device_alive():
    lines = queue.Queue()
    link = hil.LineLink(lambda text: None, lines, lambda: "chatty device")
    for _ in range(50):
        lines.put("still booting")
    with pytest.raises(hil.DeviceError, match="did not answer within"):
        link.exchange({1: "get", 2: 1}, timeout=0.2)
    assert link.closed                          # given up: no second wait per request
    with pytest.raises(hil.DeviceError, match="closed"):
        link.exchange({1: "get", 2: 2}, timeout=30)


def answer(seq, **fields):
    base = {1: seq, 2: None, 3: None, 4: 0, 5: True, 6: [], 7: [False, "", 0, 0],
            8: False, 9: [None, 1000, 0, 0]}
    base.update({int(key[1:]): value for key, value in fields.items()})
    return device_end.encode_line(base)


@pytest.mark.parametrize("fields, why", [
    ({"f4": 10000}, "faster or more than the motor"),
    ({"f4": -5}, "not a non-negative int"),
    ({"f4": "abc"}, "not a non-negative int"),
    ({"f6": 5}, "log is a list"),
    ({"f7": "x"}, "alarm is"),
    ({"f5": None}, "motor_enabled"),
    ({"f3": {}}, "status answered"),
    ({"f3": 7}, "status answered"),
])
def test_an_answer_the_hardware_could_not_give_ends_the_run(fields, why):
    """The host never moves its motor, nor files a status, on a device's word that
    breaks physics or the protocol: 10,000 pulses would be 250 U into the patient."""
    world = Simulation(S.default(), "adult#001").world
    lines = queue.Queue()
    firmware = hil.RemoteFirmware(hil.LineLink(lambda text: None, lines, lambda: "t"),
                                  world.hw)
    lines.put(answer(1, **fields))
    before = world.hw.reservoir.remaining_mu()
    with pytest.raises(hil.DeviceError, match=why):
        firmware.request("call", "pump", "status")
    assert world.hw.reservoir.remaining_mu() == before and not world.hw.line.take()


GOOD_STATUS = {"state": "delivering", "alarm": "", "alerts": [], "warnings": [],
               "iob_mu": 0, "reservoir_mu": 299000, "battery_percent": 100,
               "basal_mu_h": 1500, "bolus_left_mu": 0, "bolus_interrupted": None,
               "temp_basal": True, "no_basal_ms": 0, "history_known": True, "log_seq": 15,
               "glucose": [None, None], "plgs_hold": False, "wall_s": 1767229200}


def _remote():
    world = Simulation(S.default(), "adult#001").world
    lines = queue.Queue()
    firmware = hil.RemoteFirmware(hil.LineLink(lambda text: None, lines, lambda: "t"),
                                  world.hw)
    return world, lines, firmware


@pytest.mark.parametrize("field, value", [
    ("iob_mu", "lots"), ("iob_mu", None), ("reservoir_mu", -50000),
    ("battery_percent", 500), ("state", "flying"), ("history_known", 1), ("alerts", "x"),
])
def test_a_status_no_pump_could_report_ends_the_run(field, value):
    world, lines, firmware = _remote()
    lines.put(answer(1, f3=dict(GOOD_STATUS)))
    assert firmware.request("call", "pump", "status")["state"] == "delivering"
    lines.put(answer(2, f3=dict(GOOD_STATUS, **{field: value})))
    with pytest.raises(hil.DeviceError, match="status answered"):
        firmware.request("call", "pump", "status")


def test_pulses_spread_over_answers_at_one_tick_are_refused():
    """One pulse per answer, four answers at the same tick: four pulses in no time."""
    world, lines, firmware = _remote()
    lines.put(answer(1, f4=1, f3=dict(GOOD_STATUS)))
    firmware.request("call", "pump", "status")
    before = world.hw.reservoir.remaining_mu()
    lines.put(answer(2, f4=1, f3=dict(GOOD_STATUS)))
    with pytest.raises(hil.DeviceError, match="faster or more than the motor"):
        firmware.request("call", "pump", "status")
    assert world.hw.reservoir.remaining_mu() == before


def test_a_device_that_never_lets_time_pass_ends_the_run():
    world, lines, firmware = _remote()
    now = world.hw.clock.ticks_ms()
    with pytest.raises(hil.DeviceError, match="no time passes"):
        for seq in range(1, hil.MAX_STALLS + 3):
            lines.put(answer(seq, f3=now))
            firmware.request("call", "pump", "tick")


@pytest.mark.parametrize("fields, why", [
    ({"f10": 1}, "answer keys"),
    ({"f6": [[3, {}, 10 ** 15]]}, "log is a list"),
    ({"f6": [[-1, {}, 0]]}, "log is a list"),
])
def test_an_answer_with_what_no_device_sends_ends_the_run(fields, why):
    """Extra keys, a record from the future (a tick past the tick the host sent) or of no
    record type: the host files no record the firmware could not have logged."""
    world, lines, firmware = _remote()
    filed = []
    firmware.log.append = lambda *record: filed.append(record)
    lines.put(answer(1, f3=dict(GOOD_STATUS), **fields))
    with pytest.raises(hil.DeviceError, match=why):
        firmware.request("call", "pump", "status")
    assert not filed


def test_a_status_with_keys_no_pump_reports_ends_the_run():
    world, lines, firmware = _remote()
    lines.put(answer(1, f3=dict(GOOD_STATUS, extra=1)))
    with pytest.raises(hil.DeviceError, match="status answered"):
        firmware.request("call", "pump", "status")


@pytest.mark.parametrize("fields", [
    {"f6": [[999, {}, 10 ** 15]]}, {"f5": "yes"}, {"f8": True}, {"f7": 5}, {"f7": [1, 2]},
    {"f6": 5},
])
def test_a_refusal_before_boot_moves_nothing_and_files_nothing(fields):
    """An error answer without the hardware's fields (a device refusing before its boot)
    is checked like any other: it cannot carry a record, a motor or an alarm state."""
    world, lines, firmware = _remote()
    filed = []
    firmware.log.append = lambda *record: filed.append(record)
    world.hw.ui.pressed = True
    base = {1: 1, 2: "not booted", 3: None, 6: [], 9: [None, 1000, 0, 0]}
    base.update({int(key[1:]): value for key, value in fields.items()})
    lines.put(device_end.encode_line(base))
    with pytest.raises(hil.DeviceError):
        firmware.request("call", "pump", "status")
    assert not filed and world.hw.motor.enabled is True and world.hw.ui.pressed


@pytest.mark.parametrize("result", [
    device_end.cbor.Tag(27, ["Result"]), device_end.cbor.Tag(27, [["x"]]),
    device_end.cbor.Tag(27, ["Suggestion", 5]), device_end.cbor.Tag(27, {1: 2}),
    device_end.cbor.Tag(27, ["Result", 99, "", None]),
    device_end.cbor.Tag(27, ["Result", 0, 5, None]),
])
def test_a_typed_object_no_firmware_sends_ends_the_run(result):
    world, lines, firmware = _remote()
    lines.put(answer(1, f3=result))
    with pytest.raises(hil.DeviceError, match="protocol violation"):
        firmware.request("call", "pump", "stop")


@pytest.mark.parametrize("record", [[5, 5, 0], [3, [1], 0], [4, [], 0],
                                    [2, device_end.cbor.Tag(27, ["Result"]), 0],
                                    [13, [10 ** 12, 0], 0], [5, ["IL-X", "yes"], 0],
                                    [12 - 1, [b"x", 1], 0], [8, 5, 0]])
def test_a_record_the_recorder_cannot_read_ends_the_run_before_the_motor_moves(record):
    """Checked whole before anything is applied: the one pulse of this answer is not
    given to the patient when its audit record is nonsense."""
    simulation = Simulation(S.default(), "adult#001")
    world, lines = simulation.world, queue.Queue()
    firmware = hil.RemoteFirmware(hil.LineLink(lambda text: None, lines, lambda: "t"),
                                  world.hw)
    simulation.recorder.attach(_Tapped(firmware))
    world.hw.clock.advance_to(5000)
    before = world.hw.reservoir.remaining_mu()
    lines.put(answer(1, f3=dict(GOOD_STATUS), f4=1, f6=[record]))
    with pytest.raises(hil.DeviceError, match="protocol violation"):
        firmware.request("call", "pump", "status")
    assert world.hw.reservoir.remaining_mu() == before and not world.hw.line.take()


def test_a_good_record_before_a_bad_one_is_not_filed_either():
    world, lines, firmware = _remote()
    filed = []
    firmware.log.append = lambda *record: filed.append(record)
    lines.put(answer(1, f3=dict(GOOD_STATUS), f6=[[11, ["X-FILED", "a"], 0], [3, 5, 0]]))
    with pytest.raises(hil.DeviceError, match="protocol violation"):
        firmware.request("call", "pump", "status")
    assert not filed


Tag = device_end.cbor.Tag


@pytest.mark.parametrize("call, value", [
    (("call", "pump", "suggest_bolus"), Tag(27, ["Result", 0, None, 5])),
    (("call", "pump", "suggest_bolus"), Tag(27, ["Result", 0, None, Tag(27, ["Suggestion",
                                                                            {}])])),
    (("call", "pump", "suggest_bolus"), Tag(27, ["Result", 0, None, Tag(27, [
        "Suggestion", {"total_mu": 1000, "flags": ["no-such-flag"]}])])),
    (("call", "pump", "confirm_suggestion"), Tag(27, ["Result", 0, None, "lots"])),
    (("call", "pump", "confirm_suggestion"), Tag(27, ["Result", 0, None, None])),
    (("get", "dispatcher", "refusals"), {1: 1, "a": 1}),
    (("get", "dispatcher", "refusals"), {"x": Tag(5, 1)}),
    (("get", "manager", "stats"), {"echo_challenges": b"x"}),
])
def test_a_result_the_host_would_misread_ends_the_run(call, value):
    """What the host goes on to read (a suggestion's dose and reasons, a bolus's dose,
    counter tables for the report) is checked with the answer, not found bad later."""
    world, lines, firmware = _remote()
    lines.put(answer(1, f3=value))
    with pytest.raises(hil.DeviceError, match="protocol violation"):
        firmware.request(*call)


def test_a_device_that_asks_again_every_millisecond_ends_the_run():
    world, lines, firmware = _remote()
    now = world.hw.clock.ticks_ms()
    with pytest.raises(hil.DeviceError, match="no time passes"):
        for seq in range(1, hil.MAX_STALLS + 3):
            lines.put(answer(seq, f3=now + 1))
            firmware.request("call", "pump", "tick")


class _Tapped:
    """What the recorder attaches to: a pump whose log is the device's audit tap."""

    def __init__(self, firmware):
        self.log = firmware.log


@pytest.mark.parametrize("field, value", [
    ("glucose", "lots"), ("temp_basal", 7), ("bolus_interrupted", -5),
    ("alerts", [None, 5]), ("warnings", [{1: 2}]), ("log_seq", 2 ** 64 - 1),
    ("iob_mu", 2 ** 63), ("wall_s", 2 ** 64 - 1), ("reservoir_mu", 2 ** 40),
])
def test_status_fields_are_of_a_type_and_size_a_pump_reports(field, value):
    world, lines, firmware = _remote()
    lines.put(answer(1, f3=dict(GOOD_STATUS, **{field: value})))
    with pytest.raises(hil.DeviceError, match="status answered"):
        firmware.request("call", "pump", "status")


def test_an_answer_to_request_true_is_not_the_answer_to_request_1():
    world, lines, firmware = _remote()
    lines.put(answer(True, f3=dict(GOOD_STATUS)))
    with pytest.raises(hil.DeviceError, match="answered request"):
        firmware.request("call", "pump", "status")


def test_a_device_that_stops_reading_ends_the_run_at_the_timeout(unix_port, tmp_path):
    """Its input pipe fills and a write would block: the host writes from a thread of its
    own, so the answer's timeout still ends the run, and closing kills the device."""
    def flood(link):
        for seq in range(1, 10 ** 6):
            link.exchange({1: "get", 2: seq, 4: ["x" * 60000]}, timeout=2)
    device, elapsed = _misbehaving(tmp_path, "import time\nwhile True:\n    time.sleep(1)\n",
                                   flood, "did not answer within")
    assert elapsed < 15 and device.process.poll() is not None


PREWRITTEN = """from pump.board import hil
import sys, time
for seq in range(1, 3001):
    sys.stdout.write(hil.encode_line({1: seq, 2: None, 3: 0, 4: 0, 5: True, 6: [],
                     7: [False, "", 0, 0], 8: False, 9: [None, 0, 0, 0]}) + "\\n")
sys.stdout.write(hil.encode_line({1: 3001, 2: "fault: gone deaf", 6: [],
                                  9: [None, 0, 0, 0]}) + "\\n")
while True:
    time.sleep(1)
"""


def test_closing_a_device_whose_input_is_full_kills_it(unix_port, tmp_path):
    """It answered ahead and stopped reading: the requests queued behind its full pipe
    hold the host's writer, and closing must neither wait on that writer nor leave the
    device running."""
    world = Simulation(S.default(), "adult#001").world

    def ask(link):
        firmware = hil.RemoteFirmware(link, world.hw)
        while True:
            firmware.request("mem", "x" * 60000)
    device, elapsed = _misbehaving(tmp_path, PREWRITTEN, ask, "fault: gone deaf")
    assert elapsed < 15 and device.process.poll() is not None


def _misbehaving(tmp_path, script, use, error):
    """Run ``script`` as a device, ``use(link)`` it until it fails with ``error``; returns
    the closed device and the seconds it took."""
    path = tmp_path / "device.py"
    path.write_text(script)
    device = hil.UnixPortDevice(script=path)
    started = time.monotonic()
    try:
        with pytest.raises(hil.DeviceError, match=error):
            use(device.link)
    finally:
        device.close()
    return device, time.monotonic() - started


def _fed(chunks):
    lines = queue.Queue()
    splitter = hil.LineSplitter(lines)
    for chunk in chunks:
        splitter.feed(chunk)
    return lines


def test_a_line_longer_than_the_protocol_allows_ends_the_run_at_once():
    """A device that writes without end is refused once it passes the protocol's longest
    line, not held in memory until the answer's timeout."""
    endless = b"H" + b"0" * 4096
    lines = _fed([endless] * (device_end.MAX_LINE // 4096 + 2))
    link = hil.LineLink(lambda text: None, lines, lambda: "t")
    started = time.monotonic()
    with pytest.raises(hil.DeviceError, match="longer than"):
        link.exchange({1: "get", 2: 1}, timeout=30)
    assert time.monotonic() - started < 5


def test_lines_split_across_reads_are_joined_and_a_long_one_is_dropped_whole():
    good = device_end.encode_line({1: 1, 2: None, 3: "ok"}).encode()
    lines = _fed([b"boot\r\n" + good[:5], good[5:] + b"\n", b"x" * (device_end.MAX_LINE + 1),
                  b"tail of it\nnext\n"])
    assert [lines.get_nowait() for _ in range(4)] == ["boot", good.decode(), hil.OVERLONG,
                                                      "next"]
    assert lines.empty()


def test_a_devices_error_text_is_shown_escaped():
    lines = queue.Queue()
    world = Simulation(S.default(), "adult#001").world
    firmware = hil.RemoteFirmware(hil.LineLink(lambda text: None, lines, lambda: "t"),
                                  world.hw)
    lines.put(answer(1, f2="fault: \x1b[2J\x1b[31mRED\nnext\u202e"))
    with pytest.raises(hil.DeviceError) as caught:
        firmware.request("call", "pump", "status")
    text = str(caught.value)
    assert "\x1b" not in text and "\n" not in text and "\u202e" not in text
    assert "\\u001b[2J" in text


@pytest.fixture(scope="module")
def unix_port():
    if hil.unix_port() is None:
        message = "MicroPython's unix port is not installed (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("scenario", [None, "sim/scenarios/faults.toml"])
def test_a_day_on_the_unix_port_is_byte_for_byte_the_day_on_cpython(unix_port, tmp_path,
                                                                    scenario):
    """A second MicroPython port (native code, another build of the interpreter) runs the
    same therapy: the comparison does not rest on one port's quirks."""
    same_day_as_cpython(tmp_path, "micropython-unix", "micropython (unix port)", scenario)


def test_a_heap_too_small_for_the_firmware_ends_the_run_with_the_memory_error(unix_port):
    """On a board a heap too small shows as a MemoryError: the run ends naming it (never
    taken for a bad configuration), and what was simulated up to then is kept."""
    for heap, step in (("300k", "boot"), ("800k", "flash")):
        device = hil.UnixPortDevice(heap=heap)
        try:
            simulation = Simulation(S.default(), "adult#001", device=device)
            run = simulation.run()
        except hil.DeviceError as exc:
            run = {"ended": str(exc)}
        finally:
            device.close()
        assert "MemoryError" in run["ended"] or "memory allocation failed" in run["ended"], \
            (step, run["ended"])
        assert "bad configuration" not in run["ended"]


def test_the_firmware_imports_without_leaving_holes_in_the_heap(unix_port, tmp_path):
    """The device's main collects often while the firmware imports: otherwise garbage
    piles up between the modules' objects and the holes it leaves make the day need far
    more heap. Capped where the main gives the day of an uncapped run, therapy and all
    (a MemoryError in the pump is a safe stop that lets the run go on), the same main
    without that runs out of memory."""
    main = hil.DEVICE_MAIN.read_text()
    assert "gc.threshold(IMPORT_GC_BYTES)\n" in main
    careless = tmp_path / "hil_main.py"
    careless.write_text(main.replace("gc.threshold(IMPORT_GC_BYTES)\n", ""))
    runs = {}
    for name, script, heap in (("uncapped", hil.DEVICE_MAIN, hil.DEVICE_HEAP),
                               ("main", hil.DEVICE_MAIN, "1200k"),
                               ("careless", careless, "1200k")):
        device = hil.UnixPortDevice(heap=heap, script=script)
        try:
            runs[name] = Simulation(S.default(), "adult#001", device=device).run()
        except hil.DeviceError as exc:
            runs[name] = {"ended": str(exc)}
        finally:
            device.close()
    assert runs["uncapped"]["ended"] is None
    assert runs["main"] == runs["uncapped"]
    ended = runs["careless"]["ended"]
    assert "MemoryError" in ended or "memory allocation failed" in ended


def test_a_device_process_writing_without_end_is_stopped_at_the_longest_line(unix_port,
                                                                           tmp_path):
    _, elapsed = _misbehaving(
        tmp_path, "import sys\nwhile True:\n    sys.stdout.write('H' + '0' * 1000)\n",
        lambda link: link.exchange({1: "get", 2: 1}, timeout=30), "longer than")
    assert elapsed < 10
