"""The firmware's main loop over a virtual clock: tick, then sleep until the tick asked for.

On a board the sleep is a real low-power wait; in tests, the demo and the simulator the
clock is advanced instead, so hours of therapy run in milliseconds with the same code path.
"""


def run_for(pump, clock, ms):
    """Run ``pump`` for ``ms`` of its monotonic time on an advanceable ``clock``."""
    end = clock.ticks_ms() + ms
    while True:
        wake = pump.tick()
        if wake > end:
            clock.advance_to(end)
            pump.tick()
            return
        clock.advance_to(max(wake, clock.ticks_ms() + 1))
