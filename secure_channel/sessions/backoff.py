"""Growing back-off after repeated authentication failures, on the monotonic tick counter.

One ``Backoff`` watches one thing: a session (connection identifier), a peer (a trusted
kid that failed to authenticate) or the whole pump. The ``threshold``-th consecutive
failure starts a block of ``base_ms`` (the ones before it are free); every further failure
while the record is kept starts a block twice as long as the last one, up to ``max_ms``.
``success`` (the peer proved its key) clears it; so does ``forget_ms`` without a failure.
Time is only the caller's ``now`` in ticks (ms), never the settable wall clock, so moving
the clock opens nothing.

Blocking is checked before any expensive work (an EDHOC key agreement, an AEAD), so a
burst of forgeries costs the pump a dictionary lookup each, not a curve operation, and
the pump's main loop (therapy) keeps its time.
"""

THRESHOLD = 3
BASE_MS = 1000
MAX_MS = 60000
FORGET_MS = 600000
_MAX_LEVEL = 40          # 2**40 * base is far beyond any max_ms: stop shifting


def _positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("%s must be a non-negative int" % name)
    return value


class Policy:
    """The parameters of a Backoff: the failure that starts blocking, first and longest
    delay, and how long a quiet subject is remembered."""

    __slots__ = ("threshold", "base_ms", "max_ms", "forget_ms")

    def __init__(self, threshold=THRESHOLD, base_ms=BASE_MS, max_ms=MAX_MS,
                 forget_ms=FORGET_MS):
        self.threshold = _positive("threshold", threshold)
        self.base_ms = _positive("base_ms", base_ms)
        self.max_ms = _positive("max_ms", max_ms)
        self.forget_ms = _positive("forget_ms", forget_ms)
        if self.base_ms > self.max_ms:
            raise ValueError("base_ms must not exceed max_ms")


class Backoff:
    """Failure count and block deadline for one subject."""

    __slots__ = ("policy", "failures", "level", "until", "last", "blocks", "total")

    def __init__(self, policy=None):
        self.policy = policy if policy is not None else Policy()
        self.failures = 0        # consecutive failures not yet answered by a block
        self.level = 0           # blocks imposed since the record was last cleared
        self.until = None        # tick the current block ends at, or None
        self.last = None         # tick of the last failure
        self.blocks = 0          # blocks imposed, ever (a statistic)
        self.total = 0           # failures, ever (a statistic)

    def _expire(self, now):
        if self.last is not None and now - self.last >= self.policy.forget_ms:
            self.failures = 0
            self.level = 0
            self.until = None
            self.last = None

    def blocked(self, now):
        """True while a block is running."""
        return self.until is not None and now < self.until

    def remaining(self, now):
        """Milliseconds until the block ends (0: not blocked)."""
        if self.until is None or now >= self.until:
            return 0
        return self.until - now

    def failure(self, now):
        """Count one failure at ``now``; returns the block it starts in ms (0: none)."""
        self._expire(now)
        self.last = now
        self.total += 1
        self.failures += 1
        if self.level == 0 and self.failures < self.policy.threshold:
            return 0
        delay = self.policy.base_ms << self.level
        if delay > self.policy.max_ms:
            delay = self.policy.max_ms
        if self.level < _MAX_LEVEL:
            self.level += 1
        self.failures = 0
        end = now + delay
        if self.until is None or end > self.until:
            self.until = end
        self.blocks += 1
        return delay

    def success(self, now):
        """The subject authenticated: clear the record (the statistics stay)."""
        self.failures = 0
        self.level = 0
        self.until = None
        self.last = None

    def idle(self, now):
        """True if the record holds nothing any more (it can be dropped from a table)."""
        self._expire(now)
        return self.last is None and not self.blocked(now)
