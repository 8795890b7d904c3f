"""One-time-programmable fuse block: bits can only be set, never cleared.

The block is a NOR region that is never erased. A fuse is "set" when its NOR bit has been
programmed to 0, so the logical value read here is the bitwise complement of the raw
flash: unwritten fuses read 0, and a write can only add 1 bits. Every field is 8 bytes
aligned, so a write is whole program units and a power cut leaves each unit old or new.

Layout (logical bytes, offsets in the block):

    0x000  device-unique key, 32 bytes     root of the key store (keystore.py)
    0x020  device-key check, 8 bytes       SHA-256("otp-devkey" || key)[:8]
    0x028  lifecycle bits, 8 bytes         LIFECYCLE_DECOMMISSIONED, ...
    0x030  revocation bits, 8 bytes        bit i set: signing key slot i revoked
    0x040  4 signing-key slots, 80 bytes   kind (8) | public key (64) | check (8)
    0x180  security-counter slots, 8 bytes each, to the end of the block:
           value (u32 LE) | complement; the counter is the largest valid slot

Slots whose check fails (a write cut by power loss) are skipped and never reused, so a
counter raise or a key provisioning interrupted by a power cut is simply retried.
"""

from secure_channel import crypto

KEY_ED25519 = 1
KEY_P256 = 2
KEY_KIND_NAMES = {KEY_ED25519: "ed25519", KEY_P256: "ecdsa-p256"}
KEY_LENGTHS = {KEY_ED25519: 32, KEY_P256: 64}

DEVKEY_OFF = 0x000
DEVKEY_CHECK_OFF = 0x020
LIFECYCLE_OFF = 0x028
REVOKED_OFF = 0x030
KEYSLOT_OFF = 0x040
KEYSLOT_SIZE = 80
KEYSLOT_COUNT = 4
COUNTER_OFF = KEYSLOT_OFF + KEYSLOT_SIZE * KEYSLOT_COUNT
COUNTER_SLOT = 8
MIN_SIZE = 1024

LIFECYCLE_DECOMMISSIONED = 1 << 0
COUNTER_MAX = 0xFFFFFFFF


class OtpError(ValueError):
    """A fuse operation that is not allowed or not possible (absent, used up, destroyed)."""


def _devkey_check(key):
    return crypto.sha256(b"otp-devkey" + key)[:8]


def _keyslot_check(kind, public):
    return crypto.sha256(b"otp-signkey" + bytes((kind,)) + public)[:8]


def _invert(data):
    return bytes((~b) & 0xFF for b in data)


class OtpFuses:
    """Fuse block over a FlashRegion that this class never erases."""

    def __init__(self, region):
        if region.size < MIN_SIZE:
            raise OtpError("OTP block must be at least %d bytes" % MIN_SIZE)
        if 8 % region.align:
            raise OtpError("OTP needs a write unit that divides 8")
        self.region = region
        self.counter_slots = (region.size - COUNTER_OFF) // COUNTER_SLOT

    # -- raw fuse access ---------------------------------------------------------------
    def read(self, offset, length):
        """Logical fuse values (1 = set)."""
        return _invert(self.region.read(offset, length))

    def set_bits(self, offset, bits):
        """Set fuses: OR ``bits`` into the logical value at ``offset``; never clears one."""
        if offset % 8 or len(bits) % 8:
            raise OtpError("fuse writes are 8-byte units")
        old = self.read(offset, len(bits))
        new = bytes(o | b for o, b in zip(old, bits))
        if new != old:
            self.region.program(offset, _invert(new))

    # -- device-unique key --------------------------------------------------------------
    def device_key_state(self):
        """"blank", "present", "damaged" or "destroyed" (zeroized on decommission)."""
        key = self.read(DEVKEY_OFF, 32)
        check = self.read(DEVKEY_CHECK_OFF, 8)
        if key == b"\xff" * 32:
            return "destroyed"
        if key == b"\x00" * 32 and check == b"\x00" * 8:
            return "blank"
        if crypto.constant_time_equal(_devkey_check(key), check):
            return "present"
        return "damaged"

    def provision_device_key(self, rng):
        """Burn a fresh 32-byte key drawn from the HAL RNG; only on a blank block."""
        state = self.device_key_state()
        if state != "blank":
            raise OtpError("device key already %s" % state)
        key = rng(32)
        if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
            raise OtpError("RNG did not return 32 bytes")
        key = bytes(key)
        if key == b"\x00" * 32 or key == b"\xff" * 32:
            raise OtpError("RNG returned a degenerate key")
        self.set_bits(DEVKEY_OFF, key)
        self.set_bits(DEVKEY_CHECK_OFF, _devkey_check(key))

    def device_key(self):
        state = self.device_key_state()
        if state != "present":
            raise OtpError("device key is %s" % state)
        return self.read(DEVKEY_OFF, 32)

    def destroy_device_key(self):
        """Set every fuse of the key: it reads all ones and no longer passes its check."""
        self.set_bits(DEVKEY_OFF, b"\xff" * 32)
        self.set_bits(DEVKEY_CHECK_OFF, b"\xff" * 8)

    # -- lifecycle ---------------------------------------------------------------------
    def lifecycle(self):
        return int.from_bytes(self.read(LIFECYCLE_OFF, 8), "little")

    def set_lifecycle(self, bit):
        self.set_bits(LIFECYCLE_OFF, bit.to_bytes(8, "little"))

    def is_decommissioned(self):
        return bool(self.lifecycle() & LIFECYCLE_DECOMMISSIONED)

    # -- firmware-signing keys ------------------------------------------------------------
    def _slot(self, index):
        raw = self.read(KEYSLOT_OFF + index * KEYSLOT_SIZE, KEYSLOT_SIZE)
        kind = raw[0]
        public = raw[8:8 + KEY_LENGTHS.get(kind, 64)]
        if raw == b"\x00" * KEYSLOT_SIZE:
            return "blank", 0, b""
        if kind in KEY_LENGTHS and raw[1:8] == b"\x00" * 7 \
                and crypto.constant_time_equal(_keyslot_check(kind, public), raw[72:80]):
            return "valid", kind, public
        return "damaged", 0, b""

    def add_signing_key(self, kind, public):
        """Burn a public key into the next blank slot; returns its index."""
        if kind not in KEY_LENGTHS:
            raise OtpError("unknown key kind %r" % (kind,))
        public = bytes(public)
        if len(public) != KEY_LENGTHS[kind]:
            raise OtpError("%s public key must be %d bytes"
                           % (KEY_KIND_NAMES[kind], KEY_LENGTHS[kind]))
        for index in range(KEYSLOT_COUNT):
            state, k, pub = self._slot(index)
            if state == "valid" and k == kind and pub == public:
                return index
        for index in range(KEYSLOT_COUNT):
            if self._slot(index)[0] == "blank":
                base = KEYSLOT_OFF + index * KEYSLOT_SIZE
                body = bytes((kind,)) + b"\x00" * 7 + public + b"\x00" * (64 - len(public))
                self.set_bits(base, body)
                self.set_bits(base + 72, _keyslot_check(kind, public))
                return index
        raise OtpError("no blank signing-key slot left")

    def signing_keys(self):
        """List of (index, kind, public, revoked) for every valid slot."""
        revoked = self.revoked_bits()
        out = []
        for index in range(KEYSLOT_COUNT):
            state, kind, public = self._slot(index)
            if state == "valid":
                out.append((index, kind, public, bool(revoked >> index & 1)))
        return out

    def slot_states(self):
        return [self._slot(i)[0] for i in range(KEYSLOT_COUNT)]

    def revoked_bits(self):
        return int.from_bytes(self.read(REVOKED_OFF, 8), "little")

    def revoke_key(self, index):
        if not 0 <= index < KEYSLOT_COUNT:
            raise OtpError("no signing-key slot %d" % index)
        self.set_bits(REVOKED_OFF, (1 << index).to_bytes(8, "little"))

    # -- security counter ---------------------------------------------------------------
    def _counter_slot(self, i):
        raw = self.read(COUNTER_OFF + i * COUNTER_SLOT, COUNTER_SLOT)
        if raw == b"\x00" * COUNTER_SLOT:
            return "blank", 0
        value = int.from_bytes(raw[:4], "little")
        if int.from_bytes(raw[4:], "little") == value ^ COUNTER_MAX:
            return "valid", value
        return "damaged", 0

    def security_counter(self):
        best = 0
        for i in range(self.counter_slots):
            state, value = self._counter_slot(i)
            if state == "blank":
                break
            if state == "valid" and value > best:
                best = value
        return best

    def counter_slots_used(self):
        used = 0
        for i in range(self.counter_slots):
            if self._counter_slot(i)[0] == "blank":
                break
            used += 1
        return used

    def raise_security_counter(self, value):
        """Raise the counter to ``value`` if higher; True if a fuse slot was burnt.

        Raises OtpError when every slot is used up: the counter then stays where it is.
        """
        if not 0 <= value <= COUNTER_MAX:
            raise OtpError("security counter out of range")
        if value <= self.security_counter():
            return False
        used = self.counter_slots_used()
        if used >= self.counter_slots:
            raise OtpError("security-counter fuses exhausted")
        slot = value.to_bytes(4, "little") + (value ^ COUNTER_MAX).to_bytes(4, "little")
        self.set_bits(COUNTER_OFF + used * COUNTER_SLOT, slot)
        return True
