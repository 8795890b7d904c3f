"""A framed link: a transport (moves bytes) plus framing (makes and finds frames).

Transports are thin and interchangeable (``transport_memory``, ``transport_pty``,
``transport_serial``): each has ``write(data)``, ``read(max_bytes, timeout)`` and
``close()``. This glue is all a caller needs to send and receive whole payloads; it adds
no retries, no acknowledgements and no threads. Portable: runs on MicroPython.
"""

from secure_channel.link.framing import MAX_PAYLOAD, Deframer, encode_frame


class FramedLink:
    def __init__(self, transport, max_payload=MAX_PAYLOAD):
        self.transport = transport
        self.max_payload = max_payload
        self.deframer = Deframer(max_payload)
        self._ready = []

    def send(self, payload):
        """Frame one payload and write it whole."""
        frame = encode_frame(payload, self.max_payload)
        view = memoryview(frame)
        sent = 0
        while sent < len(frame):
            n = self.transport.write(view[sent:])
            sent += len(frame) - sent if n is None else n
        return sent

    def poll(self, timeout=0):
        """Read what the transport has (waiting up to ``timeout`` s) and return the payloads
        completed so far, oldest first."""
        data = self.transport.read(4096, timeout)
        if data:
            self._ready.extend(self.deframer.feed(data))
        ready, self._ready = self._ready, []
        return ready

    def close(self):
        self.transport.close()
