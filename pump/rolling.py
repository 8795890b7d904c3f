"""Bucketed rolling pulse counter, the safety monitor's own accounting.

Counts pulses in ``buckets + 1`` buckets of ``bucket_ms``: the total covers at least the last
``buckets * bucket_ms`` ms and at most one bucket more. That overstatement is the margin the
controller's ledger adds, so a delivery the controller legitimately allows never trips the
monitor, while any delivery beyond the limit does. O(1) per pulse, fixed memory.
"""


class BucketWindow:
    def __init__(self, bucket_ms, buckets):
        self.bucket_ms = bucket_ms
        self.size = buckets + 1
        self.counts = [0] * self.size
        self.total = 0
        self.current = None          # absolute bucket index of the newest bucket

    def _advance(self, now):
        index = now // self.bucket_ms
        current = self.current
        if current is None:
            self.current = index
            return
        if index <= current:
            return
        steps = index - current
        if steps >= self.size:
            for i in range(self.size):
                self.counts[i] = 0
            self.total = 0
        else:
            for i in range(current + 1, index + 1):
                slot = i % self.size
                self.total -= self.counts[slot]
                self.counts[slot] = 0
        self.current = index

    def count(self, now):
        self._advance(now)
        return self.total

    def add(self, now, n=1):
        """Count ``n`` pulses at tick ``now`` (which may be in the past when seeding after a
        reboot: a tick older than the window is already expired and is not counted)."""
        index = now // self.bucket_ms
        if self.current is not None and index <= self.current - self.size:
            return
        self._advance(now)
        self.counts[index % self.size] += n
        self.total += n
