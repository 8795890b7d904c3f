"""The attacker on a real link: a man in the middle between gateways and a pump
(``pumpsim device``) in wall-clock time, on CoAP over UDP or on a serial line.

    pumpsim attack relay (--listen HOST:PORT --pump HOST:PORT | --pty --pump-port DEV) \\
        [--capture FILE.pcapng] [--drop PROB] [--delay-ms MS] [--reorder] \\
        [--modify COMMAND:FIELD=VALUE]... [--from-s S] [--for-s S] \\
        [--inject CAPTURE.pcapng [--inject-at-s S]] [--seconds S]

UDP: the relay listens on ``--listen`` for gateways and sends to the pump at ``--pump``
(``pumpsim device --udp``). Serial: it opens the pump's end, ``--pump-port`` (the PTY that
``pumpsim device --pty`` printed, a serial device or a pyserial URL such as
``socket://HOST:PORT``), and with ``--pty`` creates a PTY pair for the gateway, printing
its path (``pumpsim gateway --port PATH``). On the line each direction is deframed
(COBS+CRC), one CoAP message a frame; each message goes through the same rules and is
framed again when it is sent. A damaged frame (bad CRC) is dropped and counted, as the
pump would drop it.

A gateway reaches the pump only through the relay. The relay applies the rules of the
fast mode's ``LinkTap`` (``sim.attack.link.Rule``) to the gateway's requests, in the
window ``--from-s`` .. ``--from-s + --for-s`` of its own clock: drop (each with PROB),
delay, reorder (hold one, pass the next, then the held one), modify (in the clear: set a
field of requests for COMMAND; sealed: flip a byte, all an attacker without keys can do).
The pump's answers go back unchanged, and late, as they would on a real link.
``--capture`` records what it saw (the gateway's messages as they arrived and the pump's
answers, the link named in each packet) for Wireshark and for ``pumpsim attack replay``.
``--inject`` sends a capture's gateway->pump messages to the pump again at
``--inject-at-s`` with their recorded spacing: a replay. Their answers are kept from the
gateways (on UDP they go to a socket of the relay's own; on a serial line, where they
come back with the gateway's, by their token).

``Relay`` is the sans-IO core (messages in, messages and delays out, a clock passed in),
so the rules are tested without sockets; ``relay_on`` runs it on a link: UDP sockets
(``run_relay``) or a serial line (``open_serial_link``). Host-only. Exit status: 0; 2 a
bad flag or file (one line); 130 interrupted.
"""

import argparse
import functools
import heapq
import random
import select
import selectors
import signal
import socket
import threading
import time

from secure_channel.coap import message as M, numbers as N
from secure_channel.link.framed import FramedLink
from secure_channel.link.framing import MAX_PAYLOAD, FramingError
from secure_channel.protocol import resources, schema as S
from sim.attack.link import Rule, decide, decode_plain
from sim.cli import CliError, host_port, positive_seconds

MAX_DATAGRAM = 65507          # the largest UDP payload: the relay truncates nothing
MAX_GATEWAYS = 64             # source addresses given a socket of their own to the pump


class Relay:
    """The man in the middle, sans-IO. ``from_gateway(datagram)`` returns [(datagram,
    delay_s)] to send to the pump; ``from_pump(datagram)`` the datagrams to send back to
    the gateway. ``inject`` ([(at_s, datagram)]) are the attacker's own datagrams for the
    pump, handed out by ``due()`` once the relay's clock reaches them. Rule windows are
    ms of ``clock`` since the relay was made. ``capture`` (``record(data, from_pump)``,
    a ``sim.capture.Capture``) gets every datagram as it arrived: the eavesdropper's view,
    which is what a replay needs. Each rule counts its own ``hits``; ``counts`` the rest;
    ``answers`` the pump's answers to injected datagrams by CoAP code."""

    def __init__(self, rules, capture=None, clock=time.monotonic, rng=None, inject=()):
        self.rules = list(rules)
        self.capture = capture
        self.clock = clock
        self.random = random.Random(0) if rng is None else rng
        self.start = clock()
        self.counts = {"from_gateway": 0, "to_pump": 0, "from_pump": 0, "injected": 0,
                       "injected_answers": 0, "not_modified": 0,
                       "over_limit": 0}      # over_limit: from gateways beyond MAX_GATEWAYS
        self.answers = {}
        self._held = None                  # a datagram held back by "reorder"
        self._inject = sorted(((float(at), index, bytes(data))
                               for index, (at, data) in enumerate(inject)), reverse=True)

    def now_ms(self):
        return (self.clock() - self.start) * 1000

    def from_gateway(self, datagram):
        """A gateway's datagram: what to send to the pump, each with its delay (s)."""
        data = bytes(datagram)
        self.counts["from_gateway"] += 1
        self._record(data, False)
        out = self._apply(data, self.now_ms())
        self.counts["to_pump"] += len(out)
        return out

    def _apply(self, data, now):
        """The first active rule that acts decides, as in ``LinkTap.receive``; the late
        and the released datagrams still reach the pump, as on a real link."""
        rule, verdict, changed = decide(self.rules, data, now, self)
        if verdict in ("drop", "hold"):
            return []
        if verdict == "delay":
            return [(data, rule.delay_ms / 1000.0)]
        if verdict == "release":
            return [(data, 0.0), (changed, 0.0)]
        if verdict == "modify":
            return [(changed, 0.0)]
        plain = decode_plain(data) if any(r.kind == "modify" and r.active(now)
                                          for r in self.rules) else None
        if plain is not None and any(r.kind == "modify" and r.command in (None, plain[0])
                                     for r in self.rules if r.active(now)):
            self.counts["not_modified"] += 1      # the protocol has no such request
        return [(data, 0.0)]

    def from_pump(self, datagram):
        """A pump's answer to a gateway: passed back unchanged."""
        data = bytes(datagram)
        self.counts["from_pump"] += 1
        self._record(data, True)
        return [data]

    def due(self):
        """The injected datagrams whose time has come, in order."""
        now_s = self.now_ms() / 1000.0
        out = []
        while self._inject and self._inject[-1][0] <= now_s:
            out.append(self._inject.pop()[2])
        self.counts["injected"] += len(out)
        return out

    def next_due_s(self):
        """Seconds of the relay's clock until the next injection, or None."""
        if not self._inject:
            return None
        return max(0.0, self._inject[-1][0] - self.now_ms() / 1000.0)

    def injected_answer(self, datagram):
        """The pump's answer to an injected datagram: counted by its CoAP code, kept
        from the gateways (it is the attacker's)."""
        self.counts["injected_answers"] += 1
        try:
            code = N.code_text(M.decode(bytes(datagram)).code)
        except (M.CoapFormatError, ValueError):
            code = "not CoAP"
        self.answers[code] = self.answers.get(code, 0) + 1

    def _record(self, data, from_pump):
        if self.capture is not None:
            self.capture.record(data, from_pump)

    def summary(self):
        """Lines for a person: the counters, each rule's hits, the pump's answers to
        injected datagrams."""
        c = self.counts
        line = "gateways -> pump: %d in, %d out; pump -> gateways: %d" % (
            c["from_gateway"], c["to_pump"], c["from_pump"])
        if c["injected"] or self._inject:
            line += "; injected %d (%d to come), answered %d" % (
                c["injected"], len(self._inject), c["injected_answers"])
        lines = [line]
        for rule in self.rules:
            lines.append("  %s: %d hit%s" % (describe(rule), rule.hits,
                                            "" if rule.hits == 1 else "s"))
        if c["not_modified"]:
            lines.append("  not modified (the protocol refuses the fields): %d"
                         % c["not_modified"])
        if c["over_limit"]:
            lines.append("  not relayed (more than %d gateways): %d"
                         % (MAX_GATEWAYS, c["over_limit"]))
        if self.answers:
            lines.append("answers to injected datagrams: " + ", ".join(
                "%s x%d" % (code, self.answers[code]) for code in sorted(self.answers)))
        return lines


def describe(rule):
    """A rule in a few words, for the summary."""
    window = "%g s.." % (rule.start / 1000.0)
    if rule.end != float("inf"):
        window += "%g s" % (rule.end / 1000.0)
    what = {"drop": "drop p=%g" % rule.probability, "delay": "delay %d ms" % rule.delay_ms,
            "reorder": "reorder", "modify": "modify %s%s" % (
                rule.command or "any", "".join(" %s=%r" % kv for kv in
                                               sorted(rule.fields.items())))}[rule.kind]
    return "%s (%s)" % (what, window)


# -- the loop, on either link ------------------------------------------------------------------

class _Loop:
    """One thread: the link's messages in, the relay's decisions out; the delayed ones and
    the injections sent when their time comes. A link (``_Sockets``, ``_SerialLink``) has
    ``address`` (where gateways connect), ``name`` (for the capture), ``poll(timeout,
    loop)`` (wait up to ``timeout`` s, hand each message read to ``to_pump`` or
    ``to_gateway`` with the function that sends it on; returns a reason to stop, or
    None), ``inject(message)``, ``summary()`` (lines) and ``close()``."""

    def __init__(self, relay, link):
        self.relay, self.link = relay, link
        self.later = []                    # heap of (when, order, send, message)
        self.order = 0

    def run(self, duration_s, stop, progress):
        stopping = []
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig, why in ((signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")):
                handlers[sig] = signal.signal(sig, lambda *_, why=why: stopping.append(why))
        start = time.monotonic()
        tick = start + 1.0
        try:
            while not stopping:
                now = time.monotonic()
                if duration_s is not None and now - start >= duration_s:
                    return "time"
                if stop is not None and stop():
                    return "stopped"
                if progress is not None and now >= tick:
                    progress(self.relay)
                    tick = now + 1.0
                self._send_due(now)
                failed = self.link.poll(self._wait(now, tick), self)
                if failed is not None:
                    return failed
            return stopping[0]
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def to_pump(self, message, send):
        """A gateway's message: what the relay makes of it, sent now or when it is due."""
        for out, delay in self.relay.from_gateway(message):
            if delay > 0:
                self.order += 1
                heapq.heappush(self.later, (time.monotonic() + delay, self.order, send, out))
            else:
                send(out)

    def to_gateway(self, message, send):
        """The pump's answer to a gateway, passed back."""
        for out in self.relay.from_pump(message):
            send(out)

    def _wait(self, now, tick):
        """Seconds until something is due (at most 0.1, so a stop is seen soon)."""
        waits = [0.1, tick - now]
        if self.later:
            waits.append(self.later[0][0] - now)
        if self.relay.next_due_s() is not None:
            waits.append(self.relay.next_due_s())
        return max(0.0, min(waits))

    def _send_due(self, now):
        while self.later and self.later[0][0] <= now:
            _, _, send, message = heapq.heappop(self.later)
            send(message)
        for message in self.relay.due():
            self.link.inject(message)


def relay_on(link, rules, capture_path=None, duration_s=None, inject=(), ready=None,
             stop=None, progress=None):
    """Relay on ``link`` (closed at the end) with ``rules``; record to ``capture_path``
    (pcapng, the link named ``link.name``); send ``inject`` ([(at_s, message)]) to the
    pump. ``ready(link.address)`` once listening; ``progress(relay)`` once a second. Stops
    after ``duration_s``, when ``stop()`` is true, when the link fails, or on SIGTERM /
    Ctrl-C (in the main thread). Returns (relay, why it stopped). OSError for a capture
    it cannot write."""
    capture = None
    try:
        if capture_path is not None:
            from sim.capture import Capture
            capture = Capture(capture_path, link.name)
        relay = Relay(rules, capture, inject=inject)
        if ready is not None:
            ready(link.address)
        why = _Loop(relay, link).run(duration_s, stop, progress)
    finally:
        link.close()
        if capture is not None:
            capture.close()
    return relay, why


# -- UDP ---------------------------------------------------------------------------------------

class _Sockets:
    """The relay's sockets: ``listen`` for the gateways; per gateway address one
    connected to the pump, so each answer goes back to its own gateway; one for the
    attacker's injected datagrams, whose answers go to no gateway."""

    def __init__(self, listen, pump):
        # Resolved once, here: a name that does not resolve is an OSError before any
        # datagram, not a failure in the loop.
        self.pump = socket.getaddrinfo(pump[0], pump[1], socket.AF_INET,
                                       socket.SOCK_DGRAM)[0][4][:2]
        self.selector = selectors.DefaultSelector()
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.listen.bind(listen)
        except BaseException:
            self.listen.close()
            raise
        self.address = self.listen.getsockname()[:2]
        self.name = "UDP relay %s:%d -> %s:%d" % (self.address + self.pump)
        self.selector.register(self.listen, selectors.EVENT_READ, None)
        self.upstream = {}                 # gateway address -> socket to the pump
        self.injector = None

    def towards_pump(self, gateway):
        """The socket for ``gateway``'s datagrams, or None beyond MAX_GATEWAYS."""
        sock = self.upstream.get(gateway)
        if sock is None and len(self.upstream) < MAX_GATEWAYS:
            sock = self.upstream[gateway] = self._connected(gateway)
        return sock

    def inject(self, datagram):
        if self.injector is None:
            self.injector = self._connected(INJECTOR)
        _send(self.injector, datagram)

    def _connected(self, owner):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(self.pump)           # answers from the pump only
        self.selector.register(sock, selectors.EVENT_READ, owner)
        return sock

    def poll(self, timeout, loop):
        for key, _ in self.selector.select(timeout):
            self._read(key, loop)
        return None                        # UDP cannot fail as a line does

    def _read(self, key, loop):
        owner = key.data                   # None: the gateways' socket
        try:
            if owner is None:
                data, gateway = key.fileobj.recvfrom(MAX_DATAGRAM)
            else:
                data = key.fileobj.recv(MAX_DATAGRAM)
        except OSError:                    # an ICMP error from the pump, reported late
            return
        if owner is None:
            sock = self.towards_pump(gateway[:2])
            if sock is None:
                loop.relay.counts["over_limit"] += 1
            else:
                loop.to_pump(data, functools.partial(_send, sock))
        elif owner == INJECTOR:
            loop.relay.injected_answer(data)
        else:
            loop.to_gateway(data, functools.partial(_send, self.listen, address=owner))

    def summary(self):
        return []

    def close(self):
        for sock in [self.listen, self.injector] + list(self.upstream.values()):
            if sock is not None:
                sock.close()
        self.selector.close()


INJECTOR = "inject"                    # the owner of the injector's socket


def _send(sock, data, address=None):
    """Send, ignoring what UDP may report (an ICMP "port unreachable" from a pump or a
    gateway that went away): the relay goes on, as a link would."""
    try:
        if address is None:
            sock.send(data)
        else:
            sock.sendto(data, address)
    except OSError:
        pass


def run_relay(listen, pump, rules, capture_path=None, duration_s=None, inject=(),
              ready=None, stop=None, progress=None):
    """Relay UDP between gateways on ``listen`` and the ``pump``, both (host, port), as
    ``relay_on`` does; ``ready(address)`` gets the address bound. OSError for an address
    it cannot resolve or bind, or a capture it cannot write."""
    return relay_on(_Sockets(listen, pump), rules, capture_path, duration_s, inject, ready,
                    stop, progress)


# -- a serial line -----------------------------------------------------------------------------

class _SerialLink:
    """The relay on a serial line. ``gateway`` and ``pump`` are byte transports (a PTY
    master, ``sim.transport_pty``; a pyserial port, ``sim.transport_serial``), each
    deframed on its own (``FramedLink``: COBS+CRC, one CoAP message a frame); a message
    is framed again when it is sent, a delayed one when it is due. A damaged frame (a
    bad CRC, say) is dropped and counted by its end's deframer, as the pump would drop
    it. One line carries the pump's answers to the gateway and to the attacker: an
    answer with the token of an injected request is the attacker's, kept from the
    gateway as on UDP. ``address`` is where the gateway connects, ``pump_port`` the
    pump's port as it was given."""

    def __init__(self, gateway, pump, address, pump_port):
        self.gateway, self.pump = FramedLink(gateway), FramedLink(pump)
        self.address = address
        self.name = "serial relay %s -> %s (COBS+CRC frames)" % (address, pump_port)
        self.titles = {self.gateway: "the gateway's line", self.pump: "the pump's port"}
        self.ends = {_fileno(gateway): self.gateway, _fileno(pump): self.pump}
        self.send_to_pump = functools.partial(self._send, self.pump)
        self.send_to_gateway = functools.partial(self._send, self.gateway)
        self.injected = set()              # the tokens of injected requests
        self.too_long = 0                  # messages that do not fit in a frame
        self.failed = None

    def poll(self, timeout, loop):
        ready, _, _ = select.select(list(self.ends), [], [], timeout)
        for fd in ready:
            self.read(self.ends[fd], loop)
        return self.failed

    def read(self, end, loop):
        """What has arrived at ``end``: each whole message on its way."""
        try:
            messages = end.poll(0)
        except OSError as exc:             # pyserial: the device went away
            self._fail(end, exc)
            return
        for message in messages:
            if end is self.gateway:
                loop.to_pump(message, self.send_to_pump)
            elif self.injected and _token(message) in self.injected:
                loop.relay.injected_answer(message)
            else:
                loop.to_gateway(message, self.send_to_gateway)

    def inject(self, message):
        token = _token(message)
        if token:                          # an empty token would claim every empty ACK
            self.injected.add(token)
        self.send_to_pump(message)

    def _send(self, end, message):
        try:
            end.send(message)
        except FramingError:
            self.too_long += 1
        except OSError as exc:
            self._fail(end, exc)

    def _fail(self, end, exc):
        if self.failed is None:
            self.failed = "%s failed: %s" % (self.titles[end], str(exc).splitlines()[0])

    def summary(self):
        """The frames each end's deframer dropped, and the messages too long to frame."""
        lines = []
        for end in (self.gateway, self.pump):
            dropped = sorted((r, n) for r, n in end.deframer.dropped.items() if n)
            if dropped:
                lines.append("  frames dropped from %s: %s" % (
                    self.titles[end], ", ".join("%s %d" % kv for kv in dropped)))
        if self.too_long:
            lines.append("  not framed (over %d bytes): %d" % (MAX_PAYLOAD, self.too_long))
        return lines

    def close(self):
        from sim.transport_pty import close_slave
        self.gateway.close()
        # open_pty kept a slave open till now, so gateways could come and go without the
        # master failing (EIO) in between
        close_slave(self.gateway.transport)
        self.pump.close()


def _fileno(transport):
    """The descriptor to wait on: a PTY end's (``FdTransport``) or a pyserial port's."""
    fd = getattr(transport, "fd", None)
    return transport.port.fileno() if fd is None else fd


def _token(message):
    try:
        return M.decode(message).token
    except (M.CoapFormatError, ValueError):
        return None


def open_serial_link(pump_port):
    """A ``_SerialLink`` from a new PTY pair (the gateway opens its slave, ``address``) to
    ``pump_port`` (a device, a PTY slave or a pyserial URL). OSError or ValueError (one
    line) for a port that cannot be opened or waited on."""
    from sim.transport_pty import open_pty             # POSIX only, so imported here
    from sim.transport_serial import open_serial
    pump = open_serial(pump_port)
    try:
        try:
            _fileno(pump)
        except (OSError, ValueError):      # loop://, ... : nothing select() can wait on
            raise ValueError("not a port the relay can wait on") from None
        gateway, path = open_pty()
    except BaseException:
        pump.close()
        raise
    return _SerialLink(gateway, pump, path, pump_port)


# -- the command -------------------------------------------------------------------------------

def _flag(option, convert, text):
    """``convert(text)`` (an argparse type, or one of the checks below), its complaint a
    one-line CliError naming the flag."""
    try:
        return convert(text)
    except argparse.ArgumentTypeError as exc:
        raise CliError("%s: %s" % (option, exc)) from None


def _probability(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("%r: a probability is a number in 0..1" % text)
    return value


def _milliseconds(text):
    if not text.isdigit() or not 0 < int(text) <= 3600000:
        raise argparse.ArgumentTypeError("%r: a whole number of ms in 1..3600000" % text)
    return int(text)


def _seconds_or_zero(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text) from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("%r: must be 0 or more seconds" % text)
    return value


def _modification(text):
    """``COMMAND:FIELD=VALUE`` -> (command, field, value), checked against the schema."""
    command, colon, assignment = text.partition(":")
    name, equals, value = assignment.partition("=")
    if not (colon and equals and name):
        raise argparse.ArgumentTypeError("%r: expected COMMAND:FIELD=VALUE (bolus:mu=5000)"
                                         % text)
    resource = resources.BY_NAME.get(command)
    if resource is None:
        raise argparse.ArgumentTypeError("%r: unknown command %r (commands: %s)"
                                         % (text, command, ", ".join(sorted(resources.BY_NAME))))
    fields = {field.name: field for field in resource.message.request}
    field = fields.get(name)
    if field is None:
        raise argparse.ArgumentTypeError("%r: %s has no field %r (fields: %s)" % (
            text, command, name, ", ".join(sorted(fields)) or "none"))
    return command, name, _field_value(text, field, value)


def _field_value(text, field, value):
    """VALUE as the field's kind takes it: an integer in its range, true/false, hex bytes
    or text; other kinds (lists, tables) are not set from a command line."""
    if field.kind in (S.UINT, S.INT):
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is not None and field.low <= number <= field.high:
            return number
        problem = "an integer in %d..%d" % (field.low, field.high)
    elif field.kind == S.BOOL:
        if value in ("true", "false"):
            return value == "true"
        problem = "true or false"
    elif field.kind == S.BYTES:
        try:
            data = bytes.fromhex(value)
        except ValueError:
            data = None
        if data is not None and field.low <= len(data) <= field.high:
            return data
        problem = "%d..%d bytes in hex" % (field.low, field.high)
    elif field.kind == S.TEXT:
        if field.low <= len(value.encode()) <= field.high:
            return value
        problem = "text of %d..%d bytes" % (field.low, field.high)
    else:
        problem = "a %s, not settable here" % field.kind
    raise argparse.ArgumentTypeError("%r: %s is %s" % (text, field.name, problem))


def rules_from(args):
    """The rules the flags ask for, in the order they are tried: drop, delay, reorder,
    modify (one rule per command), all in the window --from-s .. + --for-s."""
    start = _flag("--from-s", _seconds_or_zero,
                  "0" if args.from_s is None else args.from_s) * 1000.0
    end = float("inf")
    if args.for_s is not None:
        end = start + _flag("--for-s", positive_seconds, args.for_s) * 1000.0
    rules = []
    if args.drop is not None:
        rules.append(Rule("drop", start, end,
                          probability=_flag("--drop", _probability, args.drop)))
    if args.delay_ms is not None:
        rules.append(Rule("delay", start, end,
                          delay_ms=_flag("--delay-ms", _milliseconds, args.delay_ms)))
    if args.reorder:
        rules.append(Rule("reorder", start, end))
    changes = {}
    for text in args.modify or ():
        command, name, value = _flag("--modify", _modification, text)
        changes.setdefault(command, {})[name] = value
    for command in sorted(changes):
        rules.append(Rule("modify", start, end, command=command, fields=changes[command]))
    return rules


def injections(path, at_s):
    """[(at_s, datagram)]: the capture's gateway->pump datagrams, from ``at_s`` on with
    their recorded spacing."""
    from sim import pcapng
    try:
        packets = [p for p in pcapng.read_capture(path).packets if not p.from_pump]
    except pcapng.CaptureError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    if not packets:
        raise CliError("%s holds no message to a pump (UDP to port 5683)" % path)
    first = packets[0].time_us or 0
    return [(at_s + max(0, (p.time_us or first) - first) / 1e6, p.payload) for p in packets]


def cmd_relay(args):
    udp, serial = (args.listen, args.pump), (args.pty or None, args.pump_port)
    if not (all(udp) and not any(serial) or all(serial) and not any(udp)):
        raise CliError("give --listen HOST:PORT and --pump HOST:PORT (UDP), or --pty and "
                       "--pump-port DEV (a serial line)")
    if not args.pty:
        listen = _flag("--listen", host_port, args.listen)
        pump = _flag("--pump", host_port, args.pump)
        if pump[1] == 0:
            raise CliError("--pump: give the pump's port")
    seconds = None if args.seconds is None else _flag("--seconds", positive_seconds,
                                                      args.seconds)
    if args.inject is None and args.inject_at_s is not None:
        raise CliError("--inject-at-s needs --inject CAPTURE.pcapng")
    rules = rules_from(args)
    inject = ()
    if args.inject is not None:
        at_s = _flag("--inject-at-s", _seconds_or_zero, args.inject_at_s or "0")
        inject = injections(args.inject, at_s)
    if args.pty:
        try:
            link = open_serial_link(args.pump_port)
        except (OSError, ValueError) as exc:    # pyserial: SerialException, ValueError
            raise CliError("cannot open %s: %s" % (args.pump_port,
                                                   str(exc).splitlines()[0])) from None
        where = "PTY %s for the pump at %s" % (link.address, args.pump_port)
    else:
        try:
            link = _Sockets(listen, pump)
        except OSError as exc:
            raise CliError("cannot relay %s:%d -> %s:%d: %s"
                           % (listen + pump + (exc.strerror or exc,))) from None
        where = "udp %s:%d for the pump at %s:%d" % (link.address + pump)
    shown = []

    def progress(relay):              # a line a second, when something happened
        line = relay.summary()[0]
        if any(relay.counts.values()) and line not in shown[-1:]:
            shown.append(line)
            print("relay: " + line, flush=True)

    try:
        relay, why = relay_on(link, rules, args.capture, seconds, inject, progress=progress,
                              ready=lambda _: print("relay on " + where, flush=True))
    except OSError as exc:                      # the capture
        raise CliError("cannot relay: %s" % str(exc).splitlines()[0]) from None
    print("stopped (%s)" % why)
    for line in relay.summary() + link.summary():
        print(line)
    if relay.capture is not None:
        print("capture written to %s (%d messages)" % (args.capture, relay.capture.count))
    return 130 if why == "interrupted" else 0


# The command's options: flag, argparse action, metavar, help. Every value is a string
# here, checked in ``cmd_relay``.
OPTIONS = (
    ("--listen", "store", "HOST:PORT",
     "UDP: where gateways send (port 0: one is picked and printed)"),
    ("--pump", "store", "HOST:PORT",
     "UDP: the pump's CoAP-over-UDP address (pumpsim device --udp)"),
    ("--pty", "store_true", None, "serial: create a PTY pair for the gateway, print its path"),
    ("--pump-port", "store", "DEV", "serial: the pump's port (the PTY pumpsim device --pty "
                                    "printed, a serial device or a pyserial URL)"),
    ("--capture", "store", "FILE.pcapng",
     "record what the relay sees, for tshark and attack replay"),
    ("--drop", "store", "PROB", "drop each request with PROB"),
    ("--delay-ms", "store", "MS", "hold each request back MS ms"),
    ("--reorder", "store_true", None, "hold a request, pass the next, then the held one"),
    ("--modify", "append", "COMMAND:FIELD=VALUE",
     "set a field of plain requests for COMMAND; a sealed one gets a byte flipped "
     "(repeatable)"),
    ("--from-s", "store", "S", "the rules act from S seconds after the start (default 0)"),
    ("--for-s", "store", "S", "... for S seconds (default: until stopped)"),
    ("--inject", "store", "CAPTURE.pcapng",
     "send this capture's gateway->pump messages to the pump again"),
    ("--inject-at-s", "store", "S", "... starting S seconds after the start (default 0)"),
    ("--seconds", "store", "S", "stop after S seconds"),
)


def register(commands):
    """``pumpsim attack relay``, added to the ``pumpsim attack`` sub-parsers. Every value
    is checked in ``cmd_relay``, so a bad one is one line (CliError), not a usage text."""
    parser = commands.add_parser(
        "relay", help="a man in the middle between a gateway and a pump, on UDP or a "
                      "serial line (PTY)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, action, metavar, text in OPTIONS:
        named = {} if metavar is None else {"metavar": metavar}
        parser.add_argument(flag, action=action, help=text, **named)
    parser.set_defaults(func=cmd_relay)
