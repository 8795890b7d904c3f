"""The CoAP message layer (RFC 7252 §4), sans-IO: reliability, de-duplication, matching.

Two halves, both driven by bytes in and ``(bytes, address)`` out, with time passed in:

``ServerLayer`` (the pump's side, firmware):
- a Confirmable request gets its response piggybacked in the ACK (same Message ID and
  token); a handler that cannot answer at once gets an empty ACK, and its later response
  goes out Confirmable and is retransmitted until acknowledged or given up (§5.2.2);
- duplicates (same peer, Message ID and token within EXCHANGE_LIFETIME) are answered
  from the cache and never reach the handler twice (§4.5), so a retransmitted command
  runs once;
- a request with an unrecognised critical option gets 4.02 Bad Option (§5.4.1); a CON that
  is not a well-formed message, a CON ping (Empty) and an unexpected response get RST;
  anything malformed that is not Confirmable is dropped silently (§4.2, §4.3).

``client.ClientLayer`` is the host's half, on the same timers (the pump never sends a
request, so a board does not carry it).

Handlers return a response ``Message`` (code, options, payload; the layer fills type,
Message ID and token) or ``None`` to answer later with ``respond_later``.
"""

from secure_channel.coap import message as M, numbers as N

ACK_TIMEOUT_MS = 2000
ACK_RANDOM_FACTOR = (3, 2)            # 1.5 as a fraction: integers only
MAX_RETRANSMIT = 4
EXCHANGE_LIFETIME_MS = 247000         # §4.8.2
NON_LIFETIME_MS = 145000
MAX_CACHE = 64                        # exchanges remembered for de-duplication

# Options this pump understands; any other critical one is refused (§5.4.1).
KNOWN = (N.URI_HOST, N.URI_PORT, N.URI_PATH, N.URI_QUERY, N.CONTENT_FORMAT, N.ACCEPT,
         N.OSCORE, N.ECHO, N.REQUEST_TAG, N.NO_RESPONSE, N.PROXY_SCHEME, N.PROXY_URI,
         N.EDHOC, N.MAX_AGE, N.SIZE1, N.BLOCK1, N.BLOCK2, N.IF_MATCH, N.IF_NONE_MATCH,
         N.ETAG, N.OBSERVE, N.HOP_LIMIT)


def unknown_critical(message):
    """The first critical option this endpoint does not implement, or None."""
    for number, _ in message.options:
        if N.is_critical(number) and number not in KNOWN:
            return number
    return None


def _rst(mid):
    return M.encode(M.Message(N.RST, N.EMPTY, mid))


def ack(mid):
    return M.encode(M.Message(N.ACK, N.EMPTY, mid))


class Pending:
    """A Confirmable message awaiting its ACK: retransmitted with back-off."""

    __slots__ = ("data", "address", "mid", "due", "timeout", "tries", "token")

    def __init__(self, data, address, mid, now, timeout, token=b""):
        self.data = data
        self.address = address
        self.mid = mid
        self.timeout = timeout
        self.due = now + timeout
        self.tries = 0
        self.token = token


class MidSource:
    def __init__(self, rng):
        self._next = int.from_bytes(rng(2), "big")

    def take(self):
        mid = self._next
        self._next = (mid + 1) & 0xFFFF
        return mid


def initial_timeout(rng):
    """ACK_TIMEOUT scaled by a random factor in [1, ACK_RANDOM_FACTOR] (§4.8)."""
    num, den = ACK_RANDOM_FACTOR
    spread = ACK_TIMEOUT_MS * (num - den) // den
    return ACK_TIMEOUT_MS + int.from_bytes(rng(2), "big") * spread // 0xFFFF


def retransmit(pending, now, gave_up):
    """Retransmissions due at ``now`` with doubling timeouts (§4.2); a message that used
    MAX_RETRANSMIT is dropped and passed to ``gave_up``."""
    out = []
    for mid in sorted(pending):
        entry = pending[mid]
        if now < entry.due:
            continue
        if entry.tries >= MAX_RETRANSMIT:
            del pending[mid]
            gave_up(entry)
            continue
        entry.tries += 1
        entry.timeout *= 2
        entry.due = now + entry.timeout
        out.append((entry.data, entry.address))
    return out


class ServerLayer:
    """The server half; ``handler(request, address, now)`` answers each new request."""

    def __init__(self, handler, rng):
        self.handler = handler
        self.rng = rng
        self._mids = MidSource(rng)
        self._seen = {}               # (address, mid, token) -> [expires, answer or None]
        self._order = []
        self._pending = {}            # mid -> Pending (separate responses)
        self._later = {}              # (address, token) -> request type, awaiting an answer
        self.counts = {"duplicates": 0, "malformed": 0, "bad_option": 0, "gave_up": 0}

    # -- input ----------------------------------------------------------------------
    def receive(self, data, address, now):
        """Bytes from ``address``; returns the list of (bytes, address) to send."""
        self._expire(now)
        try:
            message = M.decode(data)
        except M.CoapFormatError:
            self.counts["malformed"] += 1
            if len(data) >= 4 and data[0] >> 6 == 1 and (data[0] >> 4) & 3 == N.CON:
                return [(_rst((data[2] << 8) | data[3]), address)]
            return []
        if message.mtype in (N.ACK, N.RST):
            self._pending.pop(message.mid, None)
            return []                 # an ACK or RST ends a separate response's retries
        if message.code == N.EMPTY:
            return [(_rst(message.mid), address)] if message.mtype == N.CON else []
        if not N.is_request(message.code):
            return [(_rst(message.mid), address)] if message.mtype == N.CON else []
        # A retransmission repeats Message ID *and* token; on a shared serial link two
        # peers may pick the same Message ID, which is then not a duplicate.
        key = (address, message.mid, message.token)
        seen = self._seen.get(key)
        if seen is not None:
            self.counts["duplicates"] += 1
            return [(seen[1], address)] if seen[1] is not None else []
        lifetime = EXCHANGE_LIFETIME_MS if message.mtype == N.CON else NON_LIFETIME_MS
        self._remember(key, now + lifetime, None)
        bad = unknown_critical(message)
        if bad is not None:
            self.counts["bad_option"] += 1
            response = M.Message(code=N.BAD_OPTION,
                                 payload=("unknown critical option %d" % bad).encode())
        else:
            response = self.handler(message, address, now)
        if response is None:          # answered later: acknowledge now (§5.2.2)
            self._later[(address, message.token)] = message.mtype
            if message.mtype != N.CON:
                return []
            answer = ack(message.mid)
            self._seen[key][1] = answer
            return [(answer, address)]
        answer = self._piggyback(message, response)
        self._seen[key][1] = answer
        return [(answer, address)]

    def _piggyback(self, request, response):
        response.token = request.token
        if request.mtype == N.CON:
            response.mtype = N.ACK
            response.mid = request.mid
        else:
            response.mtype = N.NON
            response.mid = self._mids.take()
        return M.encode(response)

    def respond_later(self, request_token, address, response, now):
        """The answer to a request the handler deferred; returns what to send."""
        mtype = self._later.pop((address, request_token), None)
        if mtype is None:
            return []
        response.token = request_token
        response.mid = self._mids.take()
        if mtype != N.CON:
            response.mtype = N.NON
            return [(M.encode(response), address)]
        response.mtype = N.CON
        data = M.encode(response)
        self._pending[response.mid] = Pending(data, address, response.mid, now,
                                              initial_timeout(self.rng))
        return [(data, address)]

    # -- time -------------------------------------------------------------------------
    def tick(self, now):
        """Retransmissions due at ``now``."""
        def gave_up(entry):
            self.counts["gave_up"] += 1
        return retransmit(self._pending, now, gave_up)

    def next_due(self):
        dues = [p.due for p in self._pending.values()]
        return min(dues) if dues else None

    # -- de-duplication cache ------------------------------------------------------------
    def _remember(self, key, expires, answer):
        self._seen[key] = [expires, answer]
        self._order.append(key)
        while len(self._order) > MAX_CACHE:
            self._seen.pop(self._order.pop(0), None)

    def _expire(self, now):
        while self._order and self._seen.get(self._order[0], [now + 1])[0] <= now:
            self._seen.pop(self._order.pop(0), None)
