"""An in-memory byte link: two connected ends, for tests and the simulator's fast mode.

Like every transport here it only moves bytes (``write``, ``read``, ``close``); framing is
the ``framing.Deframer``'s job. ``read`` never blocks: with nothing buffered it returns b"".
Portable: runs on MicroPython.
"""


class MemoryEnd:
    """One end of a ``memory_pair``; what one end writes, the other reads, in order."""

    def __init__(self):
        self._inbox = bytearray()
        self.peer = None
        self.closed = False
        self.written = 0

    def write(self, data):
        if self.closed or self.peer is None or self.peer.closed:
            raise OSError("link closed")
        data = bytes(data)
        self.peer._inbox += data
        self.written += len(data)
        return len(data)

    def read(self, max_bytes=4096, timeout=0):
        """Up to ``max_bytes`` buffered bytes; ``timeout`` is accepted for interface
        compatibility and ignored (nothing can arrive while the caller waits)."""
        if self.closed:
            raise OSError("link closed")
        data = bytes(self._inbox[:max_bytes])
        self._inbox = self._inbox[len(data):]
        return data

    def close(self):
        self.closed = True


def memory_pair():
    """Two connected ``MemoryEnd`` objects."""
    a = MemoryEnd()
    b = MemoryEnd()
    a.peer = b
    b.peer = a
    return a, b
