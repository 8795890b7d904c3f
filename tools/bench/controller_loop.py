"""The controller's main loop with basal running, timed from inside the interpreter.

Portable: runs as is on CPython and, through tools/micropython/run.py --script, on
MicroPython. Prints one line: ``minutes=<simulated> elapsed_us=<measured> pulses=<n>``.
With ``year DAYS`` it runs basal plus three 3 U meal boluses a day for DAYS days instead.
"""

import sys

from bootloader.flash import NorFlash
from pump.hal import MemoryHardware
from pump.main_loop import run_for
from pump.pump import Pump

try:
    from time import ticks_diff, ticks_us
except ImportError:                       # CPython
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b


def main(hours):
    hw = MemoryHardware()
    pump = Pump(hw, NorFlash(32 * 4096, 4096), b"bench-audit-log-mac-key-00000000")
    pump.set_basal_program([1000] * 24 + [1200] * 24)
    pump.start()
    start = ticks_us()
    run_for(pump, hw.clock, hours * 3600000)
    elapsed = ticks_diff(ticks_us(), start)
    print("minutes=%d elapsed_us=%d pulses=%d state=%s" % (
        hours * 60, elapsed, hw.motor.pulses, pump.state))


MEALS_H = (7, 12, 19)


def year(days):
    """Pump-only: basal and three meal boluses a day, every record in the flash log."""
    hw = MemoryHardware(reservoir_mu=10 ** 9)      # refilled as needed: a year of insulin
    pump = Pump(hw, NorFlash(32 * 4096, 4096), b"bench-audit-log-mac-key-00000000")
    pump.set_basal_program([800] * 12 + [1000] * 36)
    pump.start()
    refused = 0
    start = ticks_us()
    for _ in range(days):
        for hour in range(24):
            if hour in MEALS_H and not pump.bolus(3000).ok:
                refused += 1
            run_for(pump, hw.clock, 3600000)
    elapsed = ticks_diff(ticks_us(), start)
    print("minutes=%d elapsed_us=%d pulses=%d state=%s refused=%d" % (
        days * 1440, elapsed, hw.motor.pulses, pump.state, refused))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "year":
        year(int(sys.argv[2]) if len(sys.argv) > 2 else 365)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
