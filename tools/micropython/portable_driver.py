"""Run portable test modules inside MicroPython and report each test on stdout.

    portable_driver.py [--after MODULE::TEST] MODULE...

A portable test is a top-level function named ``test_*`` that passes by returning and fails
by raising. Tests run module by module in the order given, and by name within a module
(MicroPython's dict order is not definition order), so ``--after`` can resume a run that
``run.py`` stopped because a test hung. Report lines start with MARK so ``run.py`` can tell
them from a test's own output:

    MARK start KEY      a test, or a module import (KEY "MODULE::(import)"), begins
    MARK pass KEY       a test passed (a successful import is not reported)
    MARK fail KEY       followed by the traceback, one "MARK | line" per line
    MARK end            every module was run
"""

import gc
import io
import sys

MARK = "\x1e"


def emit(kind, key=""):
    print(MARK + kind + " " + key)


def traceback_text(exc):
    """The exception's traceback; sys.print_exception on MicroPython, traceback on CPython."""
    if hasattr(sys, "print_exception"):
        buf = io.StringIO()
        sys.print_exception(exc, buf)
        return buf.getvalue()
    import traceback
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def run(key, fn, report_pass=True):
    """Run one step and report it; a test that calls sys.exit() fails like any other."""
    emit("start", key)
    try:
        result = fn()
    except BaseException as exc:  # noqa: B902 - every escape from a test is its failure
        emit("fail", key)
        for line in traceback_text(exc).rstrip("\n").split("\n"):
            print(MARK + "| " + line)
        return None
    if report_pass:
        emit("pass", key)
    return result


def test_names(module):
    names = [n for n in dir(module) if n.startswith("test_") and callable(getattr(module, n))]
    names.sort()
    return names


def main(argv):
    after = None
    if argv[:1] == ["--after"]:
        after, argv = argv[1], argv[2:]
    for name in argv:
        import_key = name + "::(import)"
        if after == import_key:      # the import itself hung: skip the module
            after = None
            continue
        if after is None:
            module = run(import_key, lambda: __import__(name), report_pass=False)
        else:                        # still skipping: import quietly to list the tests
            try:
                module = __import__(name)
            except Exception:        # reported by the run being resumed
                module = None
        if module is None:
            continue
        for test in test_names(module):
            key = name + "::" + test
            if after is not None:
                if key == after:
                    after = None
                continue
            run(key, getattr(module, test))
            gc.collect()
    emit("end")


if __name__ == "__main__":
    main(sys.argv[1:])
