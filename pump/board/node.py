"""The pump firmware on a board: therapy, the audit log and the secure channel on one
byte link, driven by one loop.

This is the board's composition root, the one module that holds the pump and its session
layer together (on the host, ``sim/pump_server.py`` does the same for the simulator):

    node = BoardNode(hw, flash, log_key, identity, trust_list, transport)
    node.serve(time.sleep_ms)                 # never returns on a board

Each ``turn`` ticks the pump (delivery, interlocks, alarms), answers what the link
brought (``SessionManager.feed``: deframing, EDHOC, OSCORE, the pump protocol), runs the
channel's timers (the pump's tick feeds the watchdog); it returns how long the board may
sleep before the next turn: until the pump's next tick, never more than ``max_sleep_ms``
(default ``MAX_SLEEP_MS``) so the UART's buffer is read in time. A fault in the channel
is contained there (the manager counts and logs it); the pump's own faults end in its
safe stop, never in delivery.

``identity``: ``(private_key, credential)``, the pump's P-256 static DH key and its
``edhoc.credentials.Credential``. ``read_identity`` and ``read_trust`` read them from the
files ``pumpsim keys init`` writes (copied to the board by tools/board/deploy.py).
"""

from secure_channel import cbor
from secure_channel.edhoc import credentials
from secure_channel.protocol.dispatch import Dispatcher, verified_log_reader
from secure_channel.sessions import trust as trust_lists
from secure_channel.sessions.manager import SessionManager

from bootloader.flash import FlashRegion
from pump.pump import Pump

MAX_SLEEP_MS = 20
MAX_KEY_FILE = 4096


class NodeError(Exception):
    """A key or trust file the board cannot use."""


def _read(path, open):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise NodeError("cannot read %s: %s" % (path, exc))
    if len(data) > MAX_KEY_FILE:
        raise NodeError("%s is larger than %d bytes" % (path, MAX_KEY_FILE))
    return data


def parse_identity(data):
    """(private key, Credential) of a ``pump.key`` file (see docs/sessions.md)."""
    try:
        item = cbor.decode(data)
    except cbor.CBORError as exc:
        raise NodeError("identity is not CBOR: %s" % exc)
    if not isinstance(item, dict) or item.get(1) != 1 or item.get(2) != "pump":
        raise NodeError("not a version-1 pump identity")
    private, ccs = item.get(3), item.get(4)
    if not isinstance(private, bytes) or len(private) != 32 or not isinstance(ccs, bytes):
        raise NodeError("malformed pump identity")
    try:
        return private, credentials.ccs(ccs)
    except credentials.CredentialError as exc:
        raise NodeError("bad credential in the identity: %s" % exc)


def read_identity(path, open=open):
    return parse_identity(_read(path, open))


def read_trust(path, open=open):
    try:
        return trust_lists.decode(_read(path, open))
    except trust_lists.TrustError as exc:
        raise NodeError("bad trust list %s: %s" % (path, exc))


class BoardNode:
    def __init__(self, hw, flash, log_key, identity, trust, transport,
                 max_sleep_ms=MAX_SLEEP_MS):
        self.hw = hw
        self.flash = flash
        self.transport = transport
        self.pump = Pump(hw, flash, log_key)      # resumes the therapy it had before a reset
        region = FlashRegion(flash, 0, flash.size)
        self.dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal,
                                     log_reader=verified_log_reader(region, log_key,
                                                                    self.pump.log_head))
        private, credential = identity
        self.manager = SessionManager(credential, private, trust, self.dispatcher, hw.rng)
        self.max_sleep_ms = max_sleep_ms
        self.turns = 0
        self.link_faults = 0

    def now(self):
        return self.pump.clock.ticks_ms()

    def turn(self):
        """One pass of the loop; returns the ms the board may sleep."""
        wake = self.pump.tick()
        now = self.now()
        try:
            data = self.transport.read(1024, 0)
            if data:
                out = self.manager.feed(data, now)
                if out:
                    self.transport.write(out)
        except OSError:
            self.link_faults += 1             # a UART error: the next turn reads again
        self.dispatcher.tick(now)
        self.manager.tick(now)
        self.turns += 1
        wait = wake - self.now()
        return 1 if wait < 1 else (wait if wait < self.max_sleep_ms else self.max_sleep_ms)

    def serve(self, sleep_ms, turns=None):
        """Turn and sleep; forever, or ``turns`` times (tests, benchmarks)."""
        done = 0
        while turns is None or done < turns:
            sleep_ms(self.turn())
            done += 1
