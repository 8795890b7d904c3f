"""Controller cost per simulated minute with basal running (target <= 20 us on CPython),
one pump-only patient-year (basal and three meal boluses a day, every record in flash),
and the same loop on MicroPython (WebAssembly port), whose figure is informative: it runs
under an interpreter in an interpreter, not on a board.

The loop includes everything the firmware does in that time: supervision ticks, pulses
through the safety monitor, basal reservations written to the audit log in flash.
"""

import pathlib
import re
import subprocess
import sys

from common import report

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _parse(text):
    match = re.search(r"minutes=(\d+) elapsed_us=(\d+) pulses=(\d+) state=(\w+)", text)
    if match and match.group(4) != "delivering":
        raise RuntimeError("controller loop ended in %s" % match.group(4))
    if not match or match.group(4) != "delivering":
        raise RuntimeError("controller loop did not report: %r" % text[-300:])
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def main():
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, str(HERE / "controller_loop.py"), "48"],
                             capture_output=True, text=True, check=True, cwd=ROOT).stdout
        runs.append(_parse(out))
    minutes, elapsed, pulses = min(runs, key=lambda r: r[1])
    report("controller per simulated minute, CPython (basal, %d pulses/2 d)" % pulses,
           elapsed / minutes, "us", target=("<=", 20))
    out = subprocess.run([sys.executable, str(HERE / "controller_loop.py"), "year", "365"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    minutes, elapsed, pulses = _parse(out)
    refused = int(re.search(r"refused=(\d+)", out).group(1))
    if refused:
        raise RuntimeError("%d meal boluses refused in the pump-year run" % refused)
    report("one pump-year, basal + 3 boluses a day, CPython (%d pulses)" % pulses,
           elapsed / 1e6, "s", target=("<=", 60))
    mp = subprocess.run([sys.executable, str(ROOT / "tools/micropython/run.py"), "--script",
                         str(HERE / "controller_loop.py"), "12"],
                        capture_output=True, text=True, cwd=ROOT)
    if mp.returncode != 0:
        raise RuntimeError("MicroPython run failed: %s" % (mp.stderr or mp.stdout)[-300:])
    minutes, elapsed, pulses = _parse(mp.stdout)
    report("controller per simulated minute, MicroPython (WebAssembly)", elapsed / minutes,
           "us")
