"""The controller's main loop with basal running, timed from inside the interpreter.

Portable: runs as is on CPython and, through tools/micropython/run.py --script, on
MicroPython. Prints one line: ``minutes=<simulated> elapsed_us=<measured> pulses=<n>``.
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
