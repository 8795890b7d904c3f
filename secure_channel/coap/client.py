"""The client half of the CoAP message layer (RFC 7252 §4), sans-IO: the host's side.

Sends Confirmable requests with exponential back-off (ACK_TIMEOUT 2 s x 1..1.5,
MAX_RETRANSMIT 4), matches responses by token, accepts separate responses (and
acknowledges them), and reports a timeout when the exchange is given up. The pump only
serves (``layer.ServerLayer``), so a board does not carry this module.
"""

from secure_channel.coap import message as M, numbers as N
from secure_channel.coap.layer import MidSource, Pending, ack, initial_timeout, retransmit


class ClientLayer:
    """The client half: one outstanding request per token, Confirmable by default."""

    TIMEOUT = "timeout"

    def __init__(self, rng):
        self.rng = rng
        self._mids = MidSource(rng)
        self._pending = {}            # mid -> Pending (a request not yet acknowledged)
        self._waiting = {}            # token -> True while its response is outstanding
        self.events = []              # (token, Message or TIMEOUT)

    def request(self, message, address, now, confirmable=True):
        """Send ``message`` (a request); returns (token, [(bytes, address)])."""
        token = self.rng(4)
        message.token = token
        message.mid = self._mids.take()
        message.mtype = N.CON if confirmable else N.NON
        data = M.encode(message)
        self._waiting[token] = True
        if confirmable:
            self._pending[message.mid] = Pending(data, address, message.mid, now,
                                                 initial_timeout(self.rng), token)
        return token, [(data, address)]

    def receive(self, data, address, now):
        """Bytes from the server; matched responses land in ``events``; returns what to
        send (an ACK for a Confirmable separate response)."""
        try:
            message = M.decode(data)
        except M.CoapFormatError:
            return []
        out = []
        if message.mtype in (N.ACK, N.RST):
            pending = self._pending.pop(message.mid, None)
            if message.mtype == N.RST and pending is not None:
                self._waiting.pop(pending.token, None)
                self.events.append((pending.token, M.Message(N.RST, N.EMPTY, message.mid)))
                return []
            if message.code == N.EMPTY:
                return []             # an empty ACK: the response comes separately
        elif message.mtype == N.CON:
            out.append((ack(message.mid), address))
        if N.is_response(message.code) and self._waiting.pop(message.token, None):
            self.events.append((message.token, message))
        return out

    def tick(self, now):
        def gave_up(entry):
            if self._waiting.pop(entry.token, None):
                self.events.append((entry.token, self.TIMEOUT))
        return retransmit(self._pending, now, gave_up)

    def next_due(self):
        dues = [p.due for p in self._pending.values()]
        return min(dues) if dues else None
