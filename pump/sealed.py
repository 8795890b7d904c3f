"""Records sealed in the secure store, apart from the audit log: its anchor and the settings.

The secure store (HAL ``secure_store``) is storage a flash erase or an image rollback cannot
restore. Two records live there, each CBOR with an HMAC tag under a key derived from the
log key, so a store that was tampered with is detected as well:

- ``log-anchor``: ``[generation, seq, chain, boots, alive, basal, credit, volatile]``,
  written after every log
  record and every few minutes while running. At boot the log must reach ``seq`` with the
  same chain hash, or it was truncated, erased or rolled back. ``generation`` counts the
  fresh rings a service reset starts; ``boots`` is the boot counter (the epoch of the tick
  counter); ``alive`` the last tick the pump was known to run, from which a tick counter
  that restarted at boot is continued; ``basal`` the tick of the last basal pulse, so a
  reboot loop cannot hide that basal stopped; ``credit`` the power-off time that later
  boots may still count as elapsed (``pump.clock``), with the tick it was computed at;
  ``volatile`` the missing-basal record and the sounding alerts, so neither a count nor an
  escalation starts over at a reboot.
- ``settings``: the clinician's limits and the basal program. They survive a damaged log and
  a service reset, which therefore never reverts silently to factory limits.
"""

from secure_channel import cbor
from secure_channel.crypto import constant_time_equal, hmac_sha256

ANCHOR = "log-anchor"
SETTINGS = "settings"
TAG_LEN = 16


_ARRAY_8 = b"\x88"                  # CBOR head of the anchor's 8-item array


def _copy(value):
    """A copy of a field as written (a list the caller keeps may change later)."""
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


class SealError(Exception):
    """A sealed record fails its tag or does not decode: the store was tampered with."""


def record_key(log_key, name):
    """The key that seals record ``name``: its own, derived from the log key."""
    return hmac_sha256(log_key, b"pump-sealed:" + name.encode())


def seal(key, value):
    """``value`` encoded and tagged with the record's key (``record_key``)."""
    body = cbor.encode(value)
    return body + hmac_sha256(key, body)[:TAG_LEN]


def unseal(key, name, blob):
    """The value, or None for an absent record; SealError if it was tampered with."""
    if blob is None:
        return None
    if not isinstance(blob, (bytes, bytearray)) or len(blob) <= TAG_LEN:
        raise SealError("%s record is malformed" % name)
    body, tag = bytes(blob[:-TAG_LEN]), bytes(blob[-TAG_LEN:])
    if not constant_time_equal(hmac_sha256(key, body)[:TAG_LEN], tag):
        raise SealError("%s record fails its tag" % name)
    try:
        return cbor.decode(body)
    except (cbor.CBORError, ValueError, TypeError):
        raise SealError("%s record does not decode" % name)


class Anchor:
    """Where the log must at least reach; see the module docstring."""

    __slots__ = ("generation", "seq", "chain", "boots", "alive", "basal", "credit",
                 "volatile")

    def __init__(self, generation=0, seq=0, chain=b"\x00" * 32, boots=0, alive=None,
                 basal=None, credit=None, volatile=None):
        self.generation = generation
        self.seq = seq
        self.chain = chain
        self.boots = boots
        self.alive = alive
        self.basal = basal
        self.credit = credit          # [ms left, tick] or None (a fresh pump: full budget)
        self.volatile = volatile      # [basal-watch gaps, alerts] or None

    def as_list(self):
        return [self.generation, self.seq, self.chain, self.boots, self.alive, self.basal,
                self.credit, self.volatile]


class SealedStore:
    """The pump's view of the secure store: anchor and settings, sealed and checked."""

    def __init__(self, store, log_key):
        self._store = store
        # derived once: the anchor is sealed every minute and after every log record
        self._keys = {ANCHOR: record_key(log_key, ANCHOR),
                      SETTINGS: record_key(log_key, SETTINGS)}
        self._anchor_parts = None        # [(field value, its encoding)] of the last write

    def _read(self, name):
        return unseal(self._keys[name], name, self._store.read(name))

    def _write(self, name, value):
        self._store.write(name, seal(self._keys[name], value))

    def anchor(self):
        value = self._read(ANCHOR)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 8:
            raise SealError("anchor record has the wrong shape")
        return Anchor(*value)

    def write_anchor(self, anchor):
        """Sealed every minute, while mostly only ``alive`` changes: each field's encoding
        is kept and made again only when the field changed (the same bytes as encoding
        the whole list; fields are ints, bytes, None and lists of them)."""
        fields = anchor.as_list()
        cached = self._anchor_parts
        parts = []
        for index in range(len(fields)):
            value = fields[index]
            if cached is not None and type(cached[index][0]) is type(value) and \
                    cached[index][0] == value:
                parts.append(cached[index])
            else:
                parts.append((_copy(value), cbor.encode(value)))
        self._anchor_parts = parts
        body = _ARRAY_8 + b"".join(part[1] for part in parts)
        self._store.write(ANCHOR, body + hmac_sha256(self._keys[ANCHOR], body)[:TAG_LEN])

    def settings(self):
        """{"limits": {name: value}, "program": [48], "program_set": bool} or None."""
        value = self._read(SETTINGS)
        if value is not None and not (isinstance(value, dict) and "limits" in value and
                                      "program" in value and "program_set" in value):
            raise SealError("settings record has the wrong shape")
        return value

    def write_settings(self, limits, program, program_set, calculator=None):
        self._write(SETTINGS, {"limits": limits.as_dict(), "program": list(program),
                               "calculator": calculator,
                               "program_set": bool(program_set)})
