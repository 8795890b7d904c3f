"""Run portable tests, or one script, under MicroPython (WebAssembly port on Node.js).

    run.py [--timeout SECONDS] [--heap BYTES] DIR
        Run every portable test module (``portable/test_*.py``, e.g. tests/portable/) below
        DIR. Prints ``PASS module::test`` or ``FAIL module::test`` with its traceback for
        each test, then ``micropython: N passed, M failed``. Exit status 1 if anything
        failed or no test ran.

    run.py [--timeout SECONDS] [--heap BYTES] --script FILE [ARG...]
        Run FILE as __main__ with the firmware packages importable; its output passes
        through and its exit status is returned (benchmarks use this).

The work happens in run.mjs (loads MicroPython, copies files in) and portable_driver.py
(runs tests inside MicroPython). This file adds what MicroPython cannot do for itself: a
per-test timeout. A test that hangs blocks the interpreter, so the watchdog here kills
Node, reports the test as failed and starts again after it.
"""

import argparse
import os
import pathlib
import queue
import shutil
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
RUNNER = HERE / "run.mjs"
DRIVER = HERE / "portable_driver.py"
MARK = "\x1e"                   # must match portable_driver.MARK
DEFAULT_TIMEOUT = 60.0          # seconds per test (and per module import)
PRUNE = {"node_modules", "__pycache__"}


def node_command():
    """The command prefix that runs run.mjs, or exit with one line saying what is missing."""
    node = shutil.which("node")
    if node is None:
        sys.exit("run.py: Node.js not found; install Node.js 20+, then run `make test`")
    if not (HERE / "node_modules").is_dir():
        sys.exit("run.py: MicroPython runner not installed "
                 "(tools/micropython/node_modules missing); run `make test`, which installs it")
    return [node, str(RUNNER)]


def find_test_modules(root):
    """Every ``test_*.py`` in a directory named ``portable`` below ``root``, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in PRUNE)
        if os.path.basename(dirpath) == "portable":
            found.extend(pathlib.Path(dirpath, f) for f in filenames
                         if f.startswith("test_") and f.endswith(".py"))
    return sorted(found, key=lambda p: (p.stem, str(p)))


def _pump(stream, sink):
    for line in stream:
        sink.put(line.rstrip("\n"))
    sink.put(None)


class Results:
    """Counts and prints outcomes as the driver reports them."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def passed_test(self, key):
        self.passed += 1
        print("PASS %s" % key, flush=True)

    def failed_test(self, key, detail_lines, output_lines=()):
        self.failed += 1
        print("FAIL %s" % key)
        for line in detail_lines:
            print("    " + line)
        if output_lines:
            print("    -- output --")
            for line in output_lines:
                print("    " + line)
        sys.stdout.flush()


def run_session(command, timeout, results):
    """Run the driver once; return None when done, else the key of a test that hung or
    crashed the interpreter, to resume after it.

    Lines between a test's start and its result are its own output, shown if it fails.
    """
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                            errors="replace")
    lines, errors = queue.Queue(), queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    threading.Thread(target=_pump, args=(proc.stderr, errors), daemon=True).start()
    current, failing, output, traceback = None, None, [], []
    deadline = time.monotonic() + timeout
    finished = False

    def close_failure():
        if failing is not None:
            results.failed_test(failing, traceback, output)

    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            proc.wait()
            close_failure()
            if current is None:
                results.failed_test("(runner)", ["no progress for %g s outside any test" % timeout])
                return None
            results.failed_test(current, ["timed out after %g s" % timeout], output)
            return current
        if line is None:
            break
        if not line.startswith(MARK):
            output.append(line)
            continue
        kind, _, key = line[1:].partition(" ")
        if kind == "|":
            traceback.append(key)
            continue
        close_failure()
        failing = None
        if kind == "start":
            current, output, traceback = key, [], []
            deadline = time.monotonic() + timeout
        elif kind == "pass":
            results.passed_test(key)
            current, output = None, []
        elif kind == "fail":
            failing, current = key, None
            deadline = time.monotonic() + timeout
        elif kind == "end":
            finished = True
    close_failure()
    status = proc.wait()
    stderr_lines = []
    while True:
        item = errors.get()
        if item is None:
            break
        stderr_lines.append(item)
    if finished and status == 0:
        if stderr_lines:
            print("\n".join(stderr_lines), file=sys.stderr)
        return None
    detail = ["MicroPython ended early (exit status %d)" % status] + stderr_lines
    results.failed_test(current or "(runner)", detail, output)
    return current                # resume after the test that crashed it, if any


def run_tests(root, timeout, heap):
    """Run every portable test below ``root``; return the exit status."""
    results = Results()
    modules = find_test_modules(root)
    names = [p.stem for p in modules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        sys.exit("run.py: test module names must be unique: %s" % ", ".join(duplicates))
    if not modules:
        print("no portable tests (portable/test_*.py) found below %s" % root)
    else:
        prefix = node_command() + ["--heap", heap]
        for directory in sorted({str(p.parent) for p in modules}):
            prefix += ["--path", directory]
        prefix.append(str(DRIVER))
        after = None
        while True:
            resume = ["--after", after] if after else []
            after = run_session(prefix + resume + names, timeout, results)
            if after is None:
                break
    print("micropython: %d passed, %d failed" % (results.passed, results.failed))
    return 1 if results.failed or not results.passed else 0


def run_script(script, args, timeout, heap):
    """Run one script with output passed through; return its exit status."""
    command = node_command() + ["--heap", heap, str(script)] + list(args)
    try:
        return subprocess.run(command, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print("run.py: %s timed out after %g s" % (script, timeout), file=sys.stderr)
        return 1


def main(argv):
    parser = argparse.ArgumentParser(
        prog="run.py", description="Run portable tests or a script under MicroPython.")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per test (default %g) or for the whole script (default none)"
                        % DEFAULT_TIMEOUT)
    parser.add_argument("--heap", default="8m",
                        help="initial MicroPython heap in bytes, k/m suffix allowed (default 8m)")
    parser.add_argument("--script", metavar="FILE", help="run FILE instead of tests")
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="DIR with portable tests, or the script's arguments")
    options = parser.parse_args(argv)
    if options.script is not None:
        if not os.path.isfile(options.script):
            parser.error("no such script: %s" % options.script)
        return run_script(options.script, options.args, options.timeout, options.heap)
    if len(options.args) != 1 or not os.path.isdir(options.args[0]):
        parser.error("give one directory holding portable tests (or --script FILE)")
    return run_tests(options.args[0], options.timeout or DEFAULT_TIMEOUT, options.heap)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
