"""Anti-replay sliding window (RFC 8613 §7.4; DTLS-style, RFC 6347 §4.1.2.6).

Tracks the highest accepted sequence number and a bitmap of the ``size`` numbers below
it. ``check`` only looks; ``update`` records a number after its message verified, so a
forged message never moves the window (RFC 8613 §8.2 step 6).
"""


class ReplayWindow:
    __slots__ = ("size", "_top", "_bits", "_mask")

    def __init__(self, size=32):
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 1024:
            raise ValueError("replay window size must be 1..1024")
        self.size = size
        self._top = -1          # nothing received yet
        self._bits = 0          # bit i set: number top - i was received
        self._mask = (1 << size) - 1

    def check(self, seq):
        """True if ``seq`` is new and not older than the window."""
        if seq > self._top:
            return True
        offset = self._top - seq
        if offset >= self.size:
            return False
        return not (self._bits >> offset) & 1

    def update(self, seq):
        """Record ``seq`` as received (call only after ``check`` and verification)."""
        if seq > self._top:
            shift = seq - self._top
            self._bits = ((self._bits << shift) | 1) & self._mask if shift < self.size else 1
            self._top = seq
        else:
            self._bits |= 1 << (self._top - seq)

    @property
    def highest(self):
        """Highest sequence number accepted so far, or -1."""
        return self._top
