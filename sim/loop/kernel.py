"""A discrete-event kernel in virtual time: events run in time order, ties in the order
they were scheduled, so a run is the same for the same seed on every machine."""

import heapq


class Kernel:
    def __init__(self, start_ms=0):
        self.now = start_ms
        self._queue = []
        self._order = 0

    def at(self, tick_ms, action, *args):
        if tick_ms < self.now:
            tick_ms = self.now
        self._order += 1
        heapq.heappush(self._queue, (tick_ms, self._order, action, args))

    def after(self, delay_ms, action, *args):
        self.at(self.now + delay_ms, action, *args)

    def run_until(self, end_ms, before_each=None):
        """Run every event due up to ``end_ms``; ``before_each(tick)`` moves the world's
        clocks to the event's time first."""
        queue = self._queue
        while queue and queue[0][0] <= end_ms:
            tick, _, action, args = heapq.heappop(queue)
            if before_each is not None:
                before_each(tick)
            self.now = tick
            action(*args)
        if before_each is not None:
            before_each(end_ms)
        self.now = end_ms

    def pending(self):
        return len(self._queue)
