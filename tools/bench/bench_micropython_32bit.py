"""The firmware's heap on a 32-bit MicroPython, a board's word size: MicroPython's unix
port built for i386 from its own sources, twice (plain, and with the firmware frozen in
as tools/board/manifest.py freezes it for a board), serving the default day in the loop.
Figures, each with the 192 KB target: from .mpy files on the file system, from a ROMFS
image (deploy.py romfs), frozen; running with one session, and the least heap cap for the
whole day with importing (the heap is a hard cap; every cap in a window above the figure
gives the same therapy; the simulated flash and the image, flash on a board,
subtracted). The therapy is checked against the 64-bit run from .mpy files.

Needs a MicroPython source tree, ``MICROPYTHON_SRC=DIR`` (a checkout of
github.com/micropython/micropython; no submodule is used), and a 32-bit C toolchain
(Debian's gcc-multilib). Without them it says so and measures nothing: neither can be
installed from the registries this project sets up from.
"""

import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import bench_micropython as mp  # noqa: E402

# The four firmware packages frozen as tools/board/manifest.py freezes them for a board
# (the port's own manifest and main.py left out: the unix port has neither).
MANIFEST = """
for name in %r:
    package(name, base_path=%r, opt=3)
"""

# What the firmware needs of the port; the rest needs submodules or libraries.
UNIX_32 = ["CC=gcc -m32", "CXX=g++ -m32", "LD=ld -m elf_i386", "MICROPY_PY_FFI=0",
           "MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=0", "MICROPY_SSL_AXTLS=0",
           "MICROPY_SSL_MBEDTLS=0", "MICROPY_VFS_LFS1=0", "MICROPY_VFS_LFS2=0"]


def _make(args, what):
    result = subprocess.run(["make", "-j2"] + args, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr + result.stdout).strip().splitlines() or ["no output"]
        errors = [line for line in lines if "error" in line.lower()
                  and not line.startswith("make")]
        raise RuntimeError("building %s failed: %s" % (what, (errors or lines)[0].strip()))


def _can_build_32bit(work):
    """Can gcc build and link a 32-bit program here (Debian: gcc-multilib)?"""
    source = work / "probe.c"
    source.write_text("int main(void) { return sizeof(void *) != 4; }\n")
    built = subprocess.run(["gcc", "-m32", "-o", str(work / "probe"), str(source)],
                           capture_output=True, text=True)
    return built.returncode == 0 and subprocess.run([str(work / "probe")]).returncode == 0


def build(src, work):
    """The two i386 unix ports under ``work``: (plain binary, frozen-firmware binary)."""
    _make(["-C", str(src / "mpy-cross")], "mpy-cross")
    work.joinpath("lib").mkdir()
    work.joinpath("lib", "README.md").write_text("not used: nothing frozen comes from it\n")
    manifest = work / "frozen.py"
    manifest.write_text(MANIFEST % (mp.deploy.FIRMWARE, str(REPO)))
    binaries = []
    for name, frozen in (("plain", ""), ("frozen", str(manifest))):
        build_dir = work / ("build-32-" + name)
        _make(["-C", str(src / "ports/unix"), "BUILD=" + str(build_dir),
               "FROZEN_MANIFEST=" + frozen, "MPY_LIB_DIR=" + str(work / "lib")] + UNIX_32,
              "the unix port (i386, %s)" % name)
        binary = str(build_dir / "micropython")
        word = subprocess.run([binary, "-c", "import sys; print(sys.maxsize)"],
                              capture_output=True, text=True).stdout.strip()
        if word != str(2 ** 31 - 1):
            raise RuntimeError("the %s build is not 32-bit (sys.maxsize %s)" % (name, word))
        binaries.append(binary)
    return binaries


def main():
    src = os.environ.get("MICROPYTHON_SRC")
    if not src:
        print("   (set MICROPYTHON_SRC to a MicroPython source tree for the 32-bit figures; "
              "none measured)", flush=True)
        return
    src = pathlib.Path(src).resolve()
    if not (src / "ports" / "unix" / "Makefile").is_file():
        raise RuntimeError("%s is not a MicroPython source tree (no ports/unix)" % src)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        if not _can_build_32bit(work):
            raise RuntimeError("gcc cannot build a 32-bit program here: install a 32-bit "
                               "toolchain (Debian: apt-get install gcc-multilib)")
        plain, frozen = build(src, work)
        commit = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h %cs"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        print("   MicroPython's unix port for i386 from %s (%s), firmware compiled by %s"
              % (src, commit, mp.deploy.mpy_cross_version()), flush=True)
        out = work / "mpy"
        mp.deploy.compile_all(out)
        reference = mp.unix_run(out)[2]               # the installed 64-bit port, from .mpy
        mp.report_day_heap(out, "32-bit, firmware from .mpy files", "from .mpy (32-bit)",
                           reference=reference, binary=plain)
        mp.report_romfs_heap(out, binary=plain, tag="from ROMFS (32-bit)")
        bare = work / "bare"               # the device main's folder: no modules beside it
        bare.mkdir()
        mp.report_day_heap(bare, "32-bit, firmware frozen into the MicroPython build",
                           "frozen (32-bit)", reference=reference, binary=frozen,
                           path=".frozen")


if __name__ == "__main__":
    main()
