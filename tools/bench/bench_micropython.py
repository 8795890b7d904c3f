"""MicroPython figures: .mpy footprint; heap of the running pump with one session and the
extra of an EDHOC handshake; the handshake's time; and a simulated day with the firmware
on MicroPython, each beside its CPython figure.

Heap: the firmware in the loop (sim/loop/hil.py) on the WebAssembly port, every module
loaded from the .mpy files tools/board/deploy.py compiles (as a board loading them from
its file system would: bytecode in RAM counts), serving the default day. On that port a
gc.collect() frees nothing a still-running Python call allocated, but everything earlier
calls left; each request of the loop is its own call from JavaScript, so with
``measure`` every request starts with a collection and ``gc.mem_alloc()`` is the live
heap there, and its value at the request's end counts all the request allocated as if
nothing were freed: an upper bound of the request's high-water mark. "Running, one
session" is the largest live heap at a request's start from the first handshake on; the
handshake's extra is the largest end-of-request figure of its two messages above the live
heap before it (an upper bound). The simulated flash (a 384 KiB bytearray here, the flash
chip on a board) is subtracted. The pump's own objects: the live heap at the first boot
request (modules imported, nothing built) subtracted too; a frozen or ROMFS build keeps
the modules' bytecode out of RAM but not their objects, so it needs more than that
(bench_micropython_32bit.py measures both on a 32-bit build).
The same day on the unix port with the firmware in a ROMFS image (tools/board/deploy.py
romfs), as a board runs it from a ROMFS partition: bytecode in place, objects in RAM.
On MicroPython's unix port (sim.loop.hil.UnixPortDevice: the collector works inside a
running loop, the heap is a hard cap) the same day gives live heap figures and, by
bisection, the least free room the firmware needs after its imports (ballast leaves that
much in one piece) and the least heap cap for the whole day, imports included; its objects
are 64-bit, so a 32-bit board's figures are smaller.
Times: image verification (a 64 KiB image signed with Ed25519 and with ECDSA P-256,
hash and signature) and both ends of the handshake (suite 2, method 3) in one
interpreter; CPython with its pyca/cryptography backend, MicroPython with the pure-Python
one, on this machine's
Node.js (a board's CPU is slower still). The day: ``pumpsim run``'s default day, the
firmware on MicroPython against the same day on CPython (best of 3).
"""

import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tools" / "board"))
sys.path.insert(0, str(REPO))

from common import report  # noqa: E402

import deploy  # noqa: E402

TIMER = r'''
try:
    from time import ticks_us, ticks_diff
except ImportError:
    import time
    def ticks_us():
        return int(time.perf_counter() * 1000000)
    def ticks_diff(a, b):
        return a - b
'''

HANDSHAKE = TIMER + r'''
import gc
import sys

def _gc_frees():
    """Does gc.collect() free garbage on this port? (The WebAssembly port's does not while
    a script runs: its heap figures are then allocation totals, not live heap.)"""
    if not hasattr(gc, "mem_alloc"):
        return False
    gc.collect()
    first = gc.mem_alloc()
    junk = [bytes(100) for _ in range(1000)]
    junk = None
    gc.collect()
    return gc.mem_alloc() - first < 50000

print("RESULT gc_frees %d" % _gc_frees())

from bootloader.flash import NorFlash
from pump.hal import CountingRng, MemoryHardware
from pump.pump import Pump
from pump import main_loop
from secure_channel import crypto
from secure_channel.edhoc import credentials
from secure_channel.protocol import requester
from secure_channel.protocol.dispatch import Dispatcher
from secure_channel.sessions import peer as P
from secure_channel.sessions import trust
from secure_channel.sessions.manager import SessionManager

PUMP_KEY = bytes(range(1, 33))
GATEWAY_KEY = bytes(range(40, 72))


def cred(private, kid, role):
    return credentials.ccs(trust.make_ccs(crypto.p256_public(private), kid, role or "pump",
                                          role))


def heap():
    if not hasattr(gc, "mem_alloc"):
        return 0
    gc.collect()
    return gc.mem_alloc()


pump_cred, gateway_cred = cred(PUMP_KEY, b"\x01", None), cred(GATEWAY_KEY, b"\x02", "gateway")
hw = MemoryHardware()
pump = Pump(hw, NorFlash(16 * 4096, 4096), b"bench-log-key-0000000000000000001")
pump.set_basal_program([1000] * 48)
pump.start()
dispatcher = Dispatcher(pump, audit=pump.record_refusal)
manager = SessionManager(pump_cred, PUMP_KEY, trust.TrustList([("gateway", gateway_cred)]),
                         dispatcher, CountingRng(b"pump"))
main_loop.run_for(pump, hw.clock, 600000)
before = heap()
peak = before


def step(value):
    global peak
    h = heap()
    peak = h if h > peak else peak
    return value


times = []
for round in range(ROUNDS):
    peer = P.PeerSession(gateway_cred, GATEWAY_KEY, pump_cred, CountingRng(b"gw%d" % round))
    now = hw.clock.ticks_ms()
    start = ticks_us()
    out = step(manager.receive(step(peer.connect()), now))
    event, reply = peer.receive(out[0], now)
    step(None)
    out = step(manager.receive(reply, now))
    event, _ = peer.receive(out[0], now)
    times.append(ticks_diff(ticks_us(), start))
    assert event.kind == P.CONFIRMED, event
    answer = manager.receive(peer.request(requester.request_message("status", {}), now), now)
    assert peer.receive(answer[0], now)[0].kind == P.RESPONSE
    main_loop.run_for(pump, hw.clock, 60000)
    if round == 0:
        del peer
        with_session = heap()                  # the pump's side: one live session
times.sort()
print("RESULT before %d" % before)
print("RESULT session %d" % with_session)
print("RESULT peak %d" % peak)
print("RESULT handshake_us %d" % times[len(times) // 2])
print("RESULT sessions %d" % len(manager.sessions))
'''


def cpython_handshake_us(rounds):
    namespace = {"__name__": "bench", "ROUNDS": rounds}
    exec(compile(HANDSHAKE, "handshake", "exec"), namespace)   # prints RESULT lines
    return None


def run_micropython(files, out, rounds):
    body = "ROUNDS = %d\n" % rounds + HANDSHAKE.replace("%", "%%")
    script = deploy.check_script(out, files, body=deploy.WRITE_TREE + body)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "bench_mp.py")
        path.write_text(script)
        result = subprocess.run([sys.executable, str(REPO / "tools/micropython/run.py"),
                                 "--timeout", "600", "--heap", "1m", "--script", str(path)],
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError((result.stderr.strip().splitlines() or ["no output"])[-1])
    return _results(result.stdout)


VERIFY = TIMER + r'''
from bootloader import image_sign, verify
from bootloader.otp import KEY_ED25519, KEY_P256

BODY = bytes(i & 0xFF for i in range(64 * 1024))      # a 64 KiB application
for name, kind, private in (("ed25519", KEY_ED25519, b"\x05" * 32),
                            ("p256", KEY_P256, bytes(range(1, 33)))):
    image = image_sign.sign_image(BODY, kind, private, (1, 0, 0, 0), 1)
    keyring = verify.Keyring()
    keyring.add(kind, image_sign.public_of(kind, private))
    best = None
    for _ in range(3):
        start = ticks_us()
        info = verify.verify(image, keyring)
        took = ticks_diff(ticks_us(), start)
        best = took if best is None or took < best else best
    assert info.key_kind == kind
    print("RESULT verify_%s_us %d" % (name, best))
'''


def verify_times(interpreter):
    """Best of 3 verifications of a signed 64 KiB image per key type: {name: us}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "bench_verify.py")
        path.write_text(VERIFY)
        command = [sys.executable, str(path)] if interpreter == "cpython" else \
            [sys.executable, str(REPO / "tools/micropython/run.py"), "--timeout", "600",
             "--script", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=str(REPO),
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
    if result.returncode != 0:
        raise RuntimeError((result.stderr.strip().splitlines() or ["no output"])[-1])
    return _results(result.stdout)


DEVICE_BODY = r'''
from pump.board import hil
if not hil.__file__.endswith(".mpy"):
    raise SystemExit("pump.board.hil came from %s, not a .mpy file" % hil.__file__)
import hostio
_server = hil.Server()
handle_line = _server.line       # bound methods: no function keeps this script's code
serving = _server.serving        # (and the .mpy files' text in it) alive
'''


def device_script(files, out, directory):
    """A device main for the firmware in the loop that loads every module from .mpy."""
    path = pathlib.Path(directory, "hil_mpy_main.py")
    path.write_text(deploy.check_script(out, files,
                                        body=deploy.WRITE_TREE + DEVICE_BODY.replace("%", "%%")))
    return path


def firmware_in_the_loop(script, measure):
    """The default day with the firmware on the WebAssembly port: (seconds, heap trace)."""
    import time
    from sim import scenario as S
    from sim.loop import hil
    from sim.loop.simulation import Simulation
    device = hil.WasmDevice(script=script, measure=measure)
    try:
        simulation = Simulation(S.default(), "adult#001", device=device)
        simulation.world.firmware.heap_trace = trace = []
        start = time.perf_counter()
        run = simulation.run()
        elapsed = time.perf_counter() - start
    finally:
        device.close()
    if run["ended"]:
        raise RuntimeError("the run on MicroPython ended early: %s" % run["ended"])
    return elapsed, trace, run


UNIX_DEVICE_MAIN = r"""
# The device main on the unix port for the free-room figures: the simulated flash is the
# heap's first block (taken before anything else, so it fragments nothing) and the
# firmware's flash uses it; after the imports, ballast fills the heap until FREE bytes are
# left (none if FREE < 0); then serve as tools/board/hil_main.py does.
FLASH = bytearray(%(flash)d)
FREE = %(free)d
ROMFS = %(romfs)r
import gc
import sys
if ROMFS:
    # The firmware's .mpy files in a ROMFS image, mounted as a board mounts its ROMFS
    # partition: imports run them in place (this port's VfsRom takes the image in memory;
    # the caller subtracts it, as a board's is flash).
    import os
    import vfs
    ROM = bytearray(os.stat(ROMFS)[6])          # one block of the image's size, first
    with open(ROMFS, "rb") as f:
        if f.readinto(ROM) != len(ROM):
            raise SystemExit("short read of " + ROMFS)
    vfs.mount(vfs.VfsRom(ROM), "/rom")
    sys.path.insert(0, "/rom")
from bootloader import flash


def _preallocated(size, sector_size):
    if size != len(FLASH):
        raise ValueError("this device main holds %%d bytes of flash" %% len(FLASH))
    flash.erase_into(FLASH, 0, size)
    return FLASH


if not hasattr(flash, "_erased"):
    raise SystemExit("bootloader.flash._erased is gone: the firmware would allocate its "
                     "flash a second time")
flash._erased = _preallocated
_threshold = gc.threshold()              # as tools/board/hil_main.py imports
gc.threshold(8192)
from pump.board import hil
gc.threshold(_threshold)
FROZEN = %(frozen)r
for _name in sorted(sys.modules):        # every firmware module from where it must come
    if _name.split(".")[0] not in %(packages)r:
        continue
    _where = getattr(sys.modules[_name], "__file__", "")
    if FROZEN:
        _ok = _where in (_name.replace(".", "/") + ".py",
                         _name.replace(".", "/") + "/__init__.py")
    else:
        _ok = _where.endswith(".mpy") and _where.startswith("/rom/" if ROMFS else "")
    if not _ok:
        raise SystemExit("%%s came from %%s, not %%s" %% (
            _name, _where, "the frozen modules" if FROZEN else
            "the ROMFS image" if ROMFS else "a .mpy file"))
if FREE >= 0:
    BALLAST = [None] * 16384
    # Fill the heap: 4 KiB blocks (the free tail, in address order), then 64-byte ones
    # (the holes the imports left); then free the last FREE // 4096 of the 4 KiB blocks,
    # adjacent at the top: FREE bytes of room in one piece, no holes to help.
    gc.collect()
    count = 0
    for size in (4096, 64):
        try:
            while True:
                BALLAST[count] = bytearray(size - 16)
                count += 1
                if size == 4096:
                    big = count
        except (MemoryError, IndexError):
            pass
    for index in range(big - FREE // 4096, big):
        BALLAST[index] = None
    gc.collect()


def _read():
    line = sys.stdin.readline()
    return line if line else None


hil.serve(_read, lambda line: sys.stdout.write(line + "\n"))
"""


def unix_run(out, free=-1, heap=4 << 20, scenario=None, until_ms=None, measure=False,
             romfs=None, binary=None, path=None):
    """The day (or its first ``until_ms``; -1: boot and the clinician's settings only, no
    handshake) on the unix port, firmware from the .mpy tree ``out`` (or from the ROMFS
    image ``romfs``; ``path`` other than ``out``, e.g. ``.frozen``), with ``free`` bytes of
    heap left after the imports (all of ``heap`` if < 0), on the installed unix port or
    ``binary``: (ended, heap trace, result).
    A MemoryError in the pump is a controller fault, a safe stop: the run goes on, so the
    caller compares ``result`` with an unconstrained run's."""
    from sim import scenario as S
    from sim.loop import hil
    from sim.loop.simulation import Simulation
    from sim.loop.world import FLASH_SECTORS, SECTOR, SetupRefused
    script = pathlib.Path(out, "unix_device_main_%d.py" % free)
    script.write_text(UNIX_DEVICE_MAIN % {
        "flash": FLASH_SECTORS * SECTOR, "free": free, "romfs": str(romfs) if romfs else "",
        "frozen": path == ".frozen", "packages": deploy.FIRMWARE})
    device = hil.UnixPortDevice(heap=str(heap), script=script, path=path or out,
                                measure=measure, binary=binary)
    trace, result = [], None
    try:
        simulation = Simulation(scenario or S.default(), "adult#001", device=device)
        simulation.world.firmware.heap_trace = trace
        if until_ms is not None and until_ms < 0:
            simulation.world.program_pump()
        elif until_ms is not None and simulation.start():
            simulation.advance(until_ms)
        if until_ms is None:
            result = simulation.run()
        else:
            result = simulation.recorder.result(simulation)
        ended = result["ended"]
    except (hil.DeviceError, SetupRefused) as exc:
        ended = str(exc)
    finally:
        device.close()
        script.unlink()
    if result is not None:
        result = {key: value for key, value in result.items() if key != "firmware"}
    return ended, trace, result


def least(runs, low, high, grain=1024):
    """The smallest value (to ``grain``) for which ``runs(value)`` is None (it went as
    it should), by bisection between ``low`` (too small) and ``high`` (enough)."""
    ended = runs(high)
    if ended is not None:
        raise RuntimeError("the run fails even with %d bytes: %s" % (high, ended))
    while high - low > grain:
        middle = (low + high) // 2 // grain * grain
        if runs(middle) is None:
            high = middle
        else:
            low = middle
    return high


CAP_WINDOW = 64 << 10      # every cap this far above the figure is tried too
CAP_GRAIN = 4096


def least_cap(runs, low, high):
    """The least heap cap C such that ``runs(cap)`` is None for every cap from C up to
    C + CAP_WINDOW in CAP_GRAIN steps: (C, the top tried). A heap cap does not act
    monotonically (where the holes fall moves with it: a cap that works can have one 4 KB
    above it that does not), so a bisection alone would name a cap with a failure just
    above; its result is where the downward scan starts."""
    top = least(runs, low, high, CAP_GRAIN) + CAP_WINDOW
    ended = runs(top)
    if ended is not None:
        raise RuntimeError("the run fails with a %d-byte heap, above the bisection's "
                           "cap: %s" % (top, ended))
    cap = top                      # then down, 4 KB at a time, to the first failure
    while cap - CAP_GRAIN > low and runs(cap - CAP_GRAIN) is None:
        cap -= CAP_GRAIN
    return cap, top


def same_day(reference, knob="heap", **run):
    """A function of a heap cap (or, with ``knob="free"``, of the room left after the
    imports): None if the day under it (unix_run with ``run``) ended as it should and its
    therapy is ``reference``'s, else what went wrong. (A MemoryError in the pump is a
    controller fault, a safe stop: the run goes on without therapy.)"""
    def runs(value):
        ended, _, result = unix_run(**dict(run, **{knob: value}))
        return ended or (None if result == reference else "the therapy differs")
    return runs


def day_heap(out, outside, reference, **run):
    """The measured day (unix_run with ``run``) and its least heap cap, ``outside`` bytes
    subtracted: {"booted": live heap at the first request (modules, keys, the pump
    booted), "before": at the first UART request, "live": the largest from then on,
    "cap" and "top": least_cap's}. The day must give ``reference``'s therapy."""
    ended, trace, result = unix_run(out, measure=True, **run)
    if ended:
        raise RuntimeError("the day on the unix port ended early: %s" % ended)
    if result != reference:
        raise RuntimeError("the measured day gives another therapy than the reference")
    uart = [index for index, (op, _) in enumerate(trace) if op == "uart"]
    figures = {"booted": trace[0][1][0] - outside, "before": trace[uart[0]][1][0] - outside,
               "live": max(heap[0] for _, heap in trace[uart[0]:] if heap[0] is not None)
               - outside}
    figures["cap"], figures["top"] = least_cap(same_day(reference, out=out, **run),
                                               outside + figures["booted"], 4 << 20)
    figures["cap"] -= outside
    figures["top"] -= outside
    return figures


def report_unix_heap(out):
    """Heap figures on the unix port, whose collector works inside a running loop and whose
    heap is a hard cap: the live heap (after a collection at each request's start) and the
    least free room the firmware needs after its imports (bisection: ballast leaves that
    much, fragments included) to get through boot, the clinician's settings and the first
    handshake; the default day; the faults day with its reboot. Objects there are 64-bit
    (a 32-bit board's are no larger); the simulated flash is subtracted."""
    from sim import scenario as S
    from sim.loop import hil
    from sim.loop.world import FLASH_SECTORS, SECTOR
    if hil.unix_port() is None:
        print("   (MicroPython's unix port is not installed: no unix-port heap figures)",
              flush=True)
        return
    flash = FLASH_SECTORS * SECTOR
    reference = unix_run(out)[2]
    figures = day_heap(out, flash, reference)
    loaded, before, live = figures["booted"], figures["before"], figures["live"]
    faults = S.load(str(REPO / "sim/scenarios/faults.toml"))

    def room(**run):
        """The least room after the imports in which ``run`` goes as with all the heap."""
        same = reference if not run else unix_run(out, **run)[2]
        return least(same_day(same, "free", out=out, **run), 0, 2 << 20, 4096)
    settings = room(until_ms=-1)
    start = room(until_ms=10 * 60 * 1000)
    day = room()
    faults_day = room(scenario=faults)
    print("   unix port (64-bit objects), firmware from .mpy, simulated flash subtracted:",
          flush=True)
    report("  live heap at the first request (modules, keys, pump booted) (unix port)",
           loaded / 1024, "KB")
    report("  live heap, pump running, one session (unix port)", live / 1024, "KB",
           ("<=", 192))
    report("  free room needed after imports: boot and settings, no session (unix port)",
           settings / 1024, "KB")
    report("  free room needed after imports: first 10 min, handshake in (unix port)",
           start / 1024, "KB")
    report("  EDHOC handshake extra, at most (that room - live growth before it)",
           (start - (before - loaded)) / 1024, "KB", ("<=", 64),
           reference="boot and settings alone need %.0f KB" % (settings / 1024))
    report("  free room needed after imports: the default day (unix port)", day / 1024,
           "KB")
    report("  free room needed after imports: the faults day, a reboot in it (unix port)",
           faults_day / 1024, "KB")
    report("  least heap cap for the default day, importing included (unix port)",
           figures["cap"] / 1024, "KB", ("<=", 192),
           reference="every cap up to %.0f KB, 4 KB apart, gives the same therapy"
           % (figures["top"] / 1024))


def report_day_heap(out, heading, tag, outside=0, reference=None, **run):
    """The default day on a unix port run as ``run`` says (unix_run's ``romfs``,
    ``binary``, ``path``): live heap at the first request (modules loaded, keys read, the
    pump booted) and running with one session, and the least heap cap for the whole day
    (least_cap: every cap above it in its window gives the same therapy), with the
    simulated flash and ``outside`` bytes (a ROMFS image: flash on a board) subtracted.
    The therapy is checked against ``reference`` (a unix_run result; by default the run
    from the .mpy files on the installed port)."""
    from sim.loop.world import FLASH_SECTORS, SECTOR
    if reference is None:
        reference = unix_run(out)[2]
    figures = day_heap(out, outside + FLASH_SECTORS * SECTOR, reference, **run)
    print("   %s; therapy identical to the reference, capped or not:" % heading, flush=True)
    report("  live heap at the first request (modules, keys, pump booted), %s" % tag,
           figures["booted"] / 1024, "KB")
    report("  live heap, pump running, one session, %s" % tag, figures["live"] / 1024, "KB",
           ("<=", 192))
    report("  least heap cap for the default day, %s" % tag, figures["cap"] / 1024, "KB",
           ("<=", 192), reference="every cap up to %.0f KB, 4 KB apart, gives the same "
           "therapy" % (figures["top"] / 1024))


def report_romfs_heap(out, binary=None, tag="from ROMFS (unix port)"):
    """The same day with the firmware in a ROMFS image (deploy.py romfs: on a board, its
    ROMFS partition): the modules run in place, so their bytecode and constants stay out
    of the heap; the image is subtracted."""
    from sim.loop import hil
    if binary is None and hil.unix_port() is None:
        return
    image = deploy.build_romfs(pathlib.Path(out, "romfs"), hil=True)
    report_day_heap(out, "unix port, firmware from a ROMFS image (%.1f KB, %d modules)"
                    % (image.stat().st_size / 1024,
                       len(deploy.board_modules(deploy.main_of(True)))),
                    tag, image.stat().st_size, romfs=image, binary=binary)


def cpython_day():
    import time
    from sim import scenario as S
    from sim.loop.simulation import Simulation
    best = None
    for _ in range(3):
        start = time.perf_counter()
        run = Simulation(S.default(), "adult#001").run()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, run


def report_heap(trace):
    """The heap figures of a measured day (pump.board.hil: live at each request's start,
    allocated by its end), without the simulated flash (a bytearray in RAM here, the
    flash chip on a board)."""
    from sim.loop.world import FLASH_SECTORS, SECTOR
    flash = FLASH_SECTORS * SECTOR
    uart = [index for index, (op, _) in enumerate(trace) if op == "uart"]
    first = uart[0]
    before = trace[first][1][0]
    handshake = max(trace[index][1][1] for index in uart[:2]) - before
    running = max(heap[0] for _, heap in trace[first:] if heap[0] is not None)
    bound = max(heap[1] for _, heap in trace[first:])
    report("MicroPython heap: pump running, one session (live, from .mpy)",
           (running - flash) / 1024, "KB", ("<=", 192))
    report("MicroPython heap: before any session (live, from .mpy)", (before - flash) / 1024,
           "KB")
    code = trace[0][1][0] - flash          # at the first boot: modules loaded, flash made
    report("MicroPython heap: at the first request (modules, keys, pump booted)",
           code / 1024, "KB")
    report("MicroPython heap: running, one session, minus the first request's",
           (running - flash - code) / 1024, "KB")
    report("MicroPython heap: EDHOC handshake extra (allocated, not a peak)", handshake / 1024,
           "KB", reference="everything its two steps allocate; the peak is the unix port's "
           "figure")
    report("MicroPython heap: any request's high-water (upper bound)", (bound - flash) / 1024,
           "KB")


def board_footprint(out, board, lines=False):
    """Bytes of .mpy of the modules in ``board``, compiled into ``out``."""
    _, files = deploy.compile_all(out, board, lines)
    return sum(size for _, size in files)


def _results(text):
    found = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            _, name, value = line.split()
            found[name] = int(value)
    return found


def main():
    with tempfile.TemporaryDirectory() as out:
        sizes, files = deploy.compile_all(out)
        total = sum(sizes.values())
        print("   mpy-cross: %s; %d modules" % (deploy.mpy_cross_version(), len(files)))
        for package in deploy.FIRMWARE:
            report("  .mpy %s" % package, sizes[package] / 1024, "KB")
        board = deploy.board_modules()
        on_board = sum(size for rel, size in files
                       if deploy.name_of(pathlib.PurePosixPath(rel)) in board)
        with_lines = board_footprint(pathlib.Path(out, "lines"), board, lines=True)
        report(".mpy footprint, all firmware modules (%d)" % len(files), total / 1024, "KB")
        report(".mpy footprint, what a board imports (%d modules, main.py)" % len(board),
               on_board / 1024, "KB", ("<=", 200),
               reference="as deploy.py and the frozen manifest build it: no line numbers")
        report(".mpy footprint, what a board imports, with line numbers (deploy --lines)",
               with_lines / 1024, "KB")
        mp = run_micropython(files, out, rounds=3)
        script = device_script(files, out, out)
        day_s, _, device_run = firmware_in_the_loop(script, measure=False)
        _, trace, _ = firmware_in_the_loop(script, measure=True)
        report_unix_heap(out)
        report_romfs_heap(out)
    cpython_s, cpython_run = cpython_day()
    same = all(device_run[key] == cpython_run[key] for key in cpython_run if key != "firmware")
    report("a day with the firmware on MicroPython (wasm, from .mpy)", day_s, "s",
           reference="the same day on CPython %.3f s, %.0fx; therapy %s" % (
               cpython_s, day_s / cpython_s, "identical" if same else "DIFFERENT"))
    report_heap(trace)
    if mp["gc_frees"]:
        report("MicroPython heap: pump running, one session", mp["session"] / 1024, "KB",
               ("<=", 192))
        report("MicroPython heap: pump running, before any session", mp["before"] / 1024,
               "KB")
        report("MicroPython heap: EDHOC handshake extra (live, between steps)",
               (mp["peak"] - mp["before"]) / 1024, "KB", ("<=", 64))
    else:
        print("   (in a plain script gc.collect() frees nothing on this port; the heap "
              "figures above come from the firmware in the loop, where each request is its "
              "own call from JavaScript and a collection frees what earlier ones left)",
              flush=True)
    lines = []
    real_stdout = sys.stdout

    class Capture:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass
    sys.stdout = Capture()
    try:
        cpython_handshake_us(5)
    finally:
        sys.stdout = real_stdout
    cpython = _results("".join(lines))
    mp_verify, cpython_verify = verify_times("micropython"), verify_times("cpython")
    for name in ("ed25519", "p256"):
        key = "verify_%s_us" % name
        report("image verification, 64 KiB, %s, MicroPython (wasm, pure)" % name,
               mp_verify[key] / 1000, "ms", reference="CPython + cryptography %.2f ms, %.0fx"
               % (cpython_verify[key] / 1000, mp_verify[key] / cpython_verify[key]))
    report("EDHOC handshake, both ends, MicroPython (wasm, pure backend)",
           mp["handshake_us"] / 1000, "ms",
           reference="CPython + cryptography %.1f ms, %.0fx" % (
               cpython["handshake_us"] / 1000, mp["handshake_us"] / cpython["handshake_us"]))


if __name__ == "__main__":
    main()
