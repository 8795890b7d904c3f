"""The firmware's main loop over a virtual clock: tick, then sleep until the tick asked for.

On a board the sleep is a real low-power wait; in tests, the demo and the simulator the
clock is advanced instead, so hours of therapy run in milliseconds with the same code path.
"""


def run_for(pump, clock, ms):
    """Run ``pump`` for ``ms`` of its monotonic time on an advanceable ``clock`` (the HAL
    clock; the pump's own clock may be offset from it, so sleeps are relative)."""
    own = pump.clock
    end = own.ticks_ms() + ms
    while True:
        wake = pump.tick()
        now = own.ticks_ms()
        if wake > end:
            if end > now:
                clock.advance(end - now)
            pump.tick()
            return
        clock.advance(max(wake - now, 1))
