"""The attacker on the link between the gateway and the pump: it sees every frame, and
can drop, hold back, reorder, modify, inject and replay them.

``LinkTap`` stands where the radio is: the gateway's channel sends to it and it passes
frames on to the pump's receiver (``world.manager``: the secure session manager, or the
legacy link). What it does to a frame depends on the rules active at the time (each a
window on the kernel's clock), so a scenario's timeline drives it. Everything it saw is
kept (``frames``), which is what an eavesdropper learns; ``readable`` says what of it
can be read without keys.

It is sans-IO like the rest: the two-process modes put the same rules on a real relay,
over UDP or a serial line (``sim.attack.relay``).
"""

import random

from secure_channel import cbor
from secure_channel.coap import message as M, numbers as N
from secure_channel.protocol import requester, resources
from secure_channel.protocol.messages import ProtocolError

RULES = ("drop", "delay", "reorder", "modify")


class Rule:
    """One manipulation of the gateway's requests between ``start`` and ``end`` (kernel
    ms): ``drop`` them (each with ``probability``), ``delay`` them by ``delay_ms`` (the
    gateway hears nothing; the pump gets the request late), ``reorder`` (hold one, pass
    the next, then the held one), ``modify`` (in the clear: set ``fields`` of requests
    for ``command``; sealed: flip a byte, all an attacker without keys can do)."""

    def __init__(self, kind, start, end, probability=1.0, delay_ms=0, command=None,
                 fields=None):
        if kind not in RULES:
            raise ValueError("rule %r is not one of %s" % (kind, ", ".join(RULES)))
        self.kind, self.start, self.end = kind, start, end
        self.probability, self.delay_ms = probability, delay_ms
        self.command, self.fields = command, dict(fields or {})
        self.hits = 0

    def active(self, now):
        return self.start <= now < self.end


class LinkTap:
    def __init__(self, world, kernel, seed=0):
        self.world = world
        self.kernel = kernel
        self.random = random.Random("%s|link-attacker" % seed)
        self.rules = []
        self.frames = []            # (kernel ms, "to-pump" | "from-pump", bytes): the gateway's
        self.injected = 0
        self._held = None           # a request held back by "reorder"
        self.on_frame = None        # called for each frame the pump's receiver hears
        self.judge = None           # judge(rule, send): the attacker's view of a hit
        world.link_tap = self
        world.channel.manager = self

    # -- the radio -------------------------------------------------------------------
    def receive(self, payload, now):
        """A frame from the gateway to the pump; returns what the gateway hears back."""
        payload = bytes(payload)
        self.frames.append((now, "to-pump", payload))
        if self.on_frame is not None:
            self.on_frame()
        rule, verdict, data = decide(self.rules, payload, now, self)
        if rule is None:
            return self._pass(payload, now)
        if verdict == "delay":
            self.kernel.at(now + rule.delay_ms, self._late, rule, payload)
        elif verdict == "release":                # the held one after this: answer lost
            answers = self._pass(payload, now)
            self._hit(rule, data, now)
            return answers
        elif verdict == "modify":
            return self._hit(rule, data, now)
        return []

    def _hit(self, rule, payload, now):
        """Pass a frame the attacker changed or held back; ``judge(rule, send)`` (the
        attacker's) sees what the pump did with it."""
        if self.judge is None:
            return self._pass(payload, now)
        return self.judge(rule, lambda: self._pass(payload, now))

    def _pass(self, payload, now):
        answers = self.world.manager.receive(payload, now)
        for answer in answers:
            self.frames.append((now, "from-pump", bytes(answer)))
        return answers

    def _late(self, rule, payload):
        self._hit(rule, payload, self.kernel.now)

    # -- the attacker's own frames --------------------------------------------------------
    def inject(self, payload, now):
        """A frame of the attacker's straight to the pump; returns the pump's answers."""
        self.injected += 1
        if self.on_frame is not None:
            self.on_frame()
        return self.world.manager.receive(bytes(payload), now)

    def captured(self, start, end, direction="to-pump"):
        """The frames seen between ``start`` and ``end`` (kernel ms)."""
        return [data for at, way, data in self.frames
                if start <= at < end and way == direction]

    def readable(self, start=0, end=None):
        """What an eavesdropper reads without keys between ``start`` and ``end``: [(name,
        fields)] of every plain request and of every plain answer whose request it saw."""
        found = []
        asked = {}
        for at, way, data in self.frames:
            if at < start or (end is not None and at >= end):
                continue
            plain = decode_plain(data) if way == "to-pump" else None
            if plain is not None:
                found.append((plain[0], plain[1]))
                asked[plain[2].token] = plain[0]
            elif way == "from-pump":
                answer = decode_answer(data, asked)
                if answer is not None:
                    found.append(answer)
        return found


def decide(rules, payload, now, state):
    """What the first active rule that acts does to a gateway's frame: (rule, verdict,
    data) with verdict "drop", "delay", "hold" (reorder: kept back; the next one is
    released after it), "release" (``data``: the frame held before), "modify" (``data``:
    the changed frame), or (None, None, None) to pass it as it is. ``state`` holds
    ``random`` and ``_held``; ``LinkTap`` (virtual time) and the UDP relay (wall time)
    both decide here."""
    for rule in rules:
        if not rule.active(now):
            continue
        if rule.kind == "drop" and state.random.random() < rule.probability:
            rule.hits += 1
            return rule, "drop", None
        if rule.kind == "delay":
            rule.hits += 1
            return rule, "delay", None
        if rule.kind == "reorder":
            rule.hits += 1
            if state._held is None:
                state._held = payload
                return rule, "hold", None
            held, state._held = state._held, None
            return rule, "release", held
        if rule.kind == "modify":
            changed = modified(rule, payload, state.random)
            if changed is not None:
                rule.hits += 1
                return rule, "modify", changed
    return None, None, None


FLIP_TAIL = 8                       # a sealed frame: one of its last 8 bytes is flipped


def modified(rule, payload, rng):
    """``payload`` changed by a modify ``rule``, or None when the rule does not apply. In
    the clear the rule's fields are set in a request for its command; a sealed frame can
    only be damaged: one byte near its end (the tag) flipped."""
    plain = decode_plain(payload)
    if plain is None:
        if len(payload) < FLIP_TAIL:
            return None
        at = len(payload) - 1 - rng.randrange(FLIP_TAIL)
        return payload[:at] + bytes([payload[at] ^ 0x01]) + payload[at + 1:]
    name, fields, message = plain
    if rule.command is not None and name != rule.command:
        return None
    fields.update(rule.fields)
    try:
        return rewrite(message, name, fields)
    except ProtocolError:               # the protocol has no such request: left as it is
        return None


def decode_plain(data):
    """(command, {field: value}, message) for a plain CoAP request of the pump protocol,
    None for anything else (an OSCORE-protected one, EDHOC, garbage)."""
    try:
        message = M.decode(data)
    except (M.CoapFormatError, ValueError):
        return None
    if message.has(N.OSCORE) or not N.is_request(message.code):
        return None
    resource = resources.BY_SEGMENTS.get(tuple(message.values(N.URI_PATH)))
    if resource is None:
        return None
    names = {field.key: field.name for field in resource.message.request}
    fields = {}
    if message.payload:
        try:
            body = cbor.decode(bytes(message.payload))
        except (cbor.CBORError, ValueError):
            return None
        if not isinstance(body, dict):
            return None
        fields = {names.get(key, key): value for key, value in body.items()}
    for value in message.values(N.URI_QUERY):
        name, _, digits = value.decode("utf-8", "replace").partition("=")
        fields[name] = int(digits) if digits.isdigit() else digits
    return resource.name, fields, message


def decode_answer(data, asked):
    """(command + " answer", fields) of a plain answer to a request seen, else None."""
    try:
        message = M.decode(data)
    except (M.CoapFormatError, ValueError):
        return None
    name = asked.get(message.token)
    if name is None or message.has(N.OSCORE):
        return None
    try:
        parsed = requester.parse_response(name, message)
    except Exception:                  # not a pump answer: nothing learnt
        return None
    return name + " answer", dict(parsed.fields)


def rewrite(message, name, fields):
    """``message`` (a plain request for ``name``) with its body set to ``fields``."""
    fresh = requester.request_message(name, fields)
    fresh.mtype, fresh.mid, fresh.token = message.mtype, message.mid, message.token
    return M.encode(fresh)
