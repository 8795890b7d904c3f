"""Sealed key store: device keys as AEAD-sealed, versioned records in flash.

Nothing is stored in the clear. Each record is sealed with AES-CCM (16-byte tag, 13-byte
nonce from the HAL RNG) under a key derived from the device-unique key in OTP:

    PRK = HKDF-Extract("pump-keystore-v1", device_key)
    record key = HKDF-Expand(PRK, "seal" || key_id (u16) || generation (u32), 16)

and the record header is the associated data, so a record cannot be moved to another id
or generation. The store is a log in one of two banks (each half of the KEYSTORE area):

    bank:    header (16) = "PKS1" | sequence u32 | check (8), then records
    record:  "KR" | length u16 | key_id u16 | flags u8 | 0 | generation u32
             | sealed length u16 | nonce (13) | ciphertext+tag | 0xff padding to 8
             | commit (8 zero bytes)

A record counts only once its commit is written, so a power cut while writing loses that
record and keeps the previous generation. When a bank fills (or a cut left garbage), the
newest generation of each key is copied to the other bank, whose header is written last
with the next sequence number: until that header is in flash the old bank stays active.
Rotation writes a new generation and compacts; deletion is a compaction that leaves the
key out. A compaction erases the bank it left once the new bank's header is written, so
neither an old generation nor a deleted key stays sealed in flash where the device key
could open it; if power fails during that erase, the next use of the store finishes it.
Zeroization destroys the device key's fuses and erases both banks.
"""

from secure_channel import crypto

from bootloader import flash_map as fm
from bootloader.otp import LIFECYCLE_DECOMMISSIONED, OtpError, OtpFuses

KEY_EDHOC_IDENTITY = 1
KEY_AUDIT_MAC = 2
KEY_NAMES = {KEY_EDHOC_IDENTITY: "edhoc-identity", KEY_AUDIT_MAC: "audit-mac"}

BANK_MAGIC = b"PKS1"
BANK_HEADER = 16
REC_MAGIC = b"KR"
REC_HEADER = 27
NONCE_SIZE = 13
TAG_SIZE = 16
COMMIT = b"\x00" * 8
MAX_KEY_SIZE = 256


class KeyStoreError(Exception):
    """The key store cannot do this: no such key, full, zeroized, bad input."""


def _round8(n):
    return (n + 7) // 8 * 8


def _bank_check(seq):
    return crypto.sha256(b"ks-bank" + BANK_MAGIC + seq.to_bytes(4, "little"))[:8]


class _Record:
    __slots__ = ("key_id", "generation", "flags", "offset", "length")

    def __init__(self, key_id, generation, flags, offset, length):
        self.key_id = key_id
        self.generation = generation
        self.flags = flags
        self.offset = offset
        self.length = length


class KeyStore:
    def __init__(self, flash, flash_map, rng):
        fm.check_flash(flash, flash_map)
        self.region = flash_map.region(flash, fm.KEYSTORE)
        self.otp = OtpFuses(flash_map.region(flash, fm.OTP))
        self.rng = rng
        sector = flash_map.sector_size
        self.sector = sector
        self.bank_size = self.region.size // 2 // sector * sector
        self._prk = None

    # -- keys ----------------------------------------------------------------------------
    def _device_prk(self):
        if self.otp.lifecycle() & LIFECYCLE_DECOMMISSIONED:
            raise KeyStoreError("device is decommissioned")
        if self._prk is None:
            try:
                device_key = self.otp.device_key()
            except OtpError as exc:
                raise KeyStoreError(str(exc))
            self._prk = crypto.hkdf_extract(b"pump-keystore-v1", device_key)
        return self._prk

    def _record_key(self, key_id, generation):
        info = b"seal" + key_id.to_bytes(2, "little") + generation.to_bytes(4, "little")
        return crypto.hkdf_expand(self._device_prk(), info, 16)

    def device_id(self):
        """A public 8-byte identifier derived from the device key."""
        return crypto.hkdf_expand(self._device_prk(), b"device-id", 8)

    def _random(self, n):
        out = self.rng(n)
        if not isinstance(out, (bytes, bytearray)) or len(out) != n:
            raise KeyStoreError("RNG did not return %d bytes" % n)
        return bytes(out)

    # -- banks ---------------------------------------------------------------------------
    def _bank_seq(self, bank):
        raw = self.region.read(bank * self.bank_size, BANK_HEADER)
        if raw[:4] != BANK_MAGIC:
            return None
        seq = int.from_bytes(raw[4:8], "little")
        if not crypto.constant_time_equal(_bank_check(seq), raw[8:16]):
            return None
        return seq

    def _active(self):
        """(bank, seq) of the active bank, or (None, 0) if the store is unformatted."""
        best = (None, 0)
        for bank in (0, 1):
            seq = self._bank_seq(bank)
            if seq is not None and (best[0] is None or seq > best[1]):
                best = (bank, seq)
        return best

    def _erase_bank(self, bank):
        base = bank * self.bank_size
        for addr in range(base, base + self.bank_size, self.sector):
            if not self.region.is_erased(addr, self.sector):
                self.region.erase(addr)

    def _write_bank_header(self, bank, seq):
        self.region.program(bank * self.bank_size,
                            BANK_MAGIC + seq.to_bytes(4, "little") + _bank_check(seq))

    def format(self):
        """Start an empty store (bank 0, sequence 1) if none exists."""
        if self._active()[0] is None:
            self._device_prk()
            self._erase_bank(0)
            self._write_bank_header(0, 1)

    def _scan(self, bank):
        """(committed records, free offset or None if the tail is unusable)."""
        base = bank * self.bank_size
        end = base + self.bank_size
        off = base + BANK_HEADER
        records = []
        while off + 8 <= end:
            head = self.region.read(off, 4)
            if head == b"\xff\xff\xff\xff":
                return records, off
            length = head[2] | head[3] << 8
            if head[:2] != REC_MAGIC or length % 8 or length < REC_HEADER + TAG_SIZE + 8 \
                    or off + length > end:
                return records, None
            raw = self.region.read(off, REC_HEADER)
            if self.region.read(off + length - 8, 8) == COMMIT:
                records.append(_Record(raw[4] | raw[5] << 8,
                                       int.from_bytes(raw[8:12], "little"),
                                       raw[6], off, length))
            off += length
        return records, None

    def _records(self):
        if self.otp.is_decommissioned():
            raise KeyStoreError("device is decommissioned")
        bank, _ = self._active()
        if bank is None:
            raise KeyStoreError("key store not formatted")
        self._purge_inactive(bank)
        records, free = self._scan(bank)
        return bank, records, free

    # -- sealing -------------------------------------------------------------------------
    def _seal(self, key_id, generation, flags, plaintext):
        nonce = self._random(NONCE_SIZE)
        body_len = len(plaintext) + TAG_SIZE
        length = _round8(REC_HEADER + body_len) + 8
        header = (REC_MAGIC + length.to_bytes(2, "little") + key_id.to_bytes(2, "little") +
                  bytes((flags, 0)) + generation.to_bytes(4, "little") +
                  body_len.to_bytes(2, "little") + nonce)
        sealed = crypto.aes_ccm_encrypt(self._record_key(key_id, generation), nonce,
                                        plaintext, header, TAG_SIZE)
        record = header + sealed
        return record + b"\xff" * (length - 8 - len(record))

    def _open(self, rec):
        raw = self.region.read(rec.offset, rec.length - 8)
        header = raw[:REC_HEADER]
        body_len = header[12] | header[13] << 8
        if body_len < TAG_SIZE or REC_HEADER + body_len > len(raw):
            return None
        try:
            return crypto.aes_ccm_decrypt(self._record_key(rec.key_id, rec.generation),
                                          header[14:REC_HEADER],
                                          raw[REC_HEADER:REC_HEADER + body_len], header,
                                          TAG_SIZE)
        except crypto.AuthenticationFailed:
            return None

    def _append(self, record):
        bank, records, free = self._records()
        need = len(record) + len(COMMIT)
        if free is None or free + need > (bank + 1) * self.bank_size:
            bank = self._compact()
            records, free = self._scan(bank)
            if free is None or free + need > (bank + 1) * self.bank_size:
                raise KeyStoreError("key store full")
        self.region.program(free, record)
        self.region.program(free + len(record), COMMIT)

    def _latest(self, records):
        latest = {}
        for rec in records:
            cur = latest.get(rec.key_id)
            if cur is None or rec.generation > cur.generation:
                latest[rec.key_id] = rec
        return latest

    def _compact(self, drop=None):
        """Copy the newest record of each live key to the other bank; return that bank."""
        bank, seq = self._active()
        if bank is None:
            raise KeyStoreError("key store not formatted")
        records, _ = self._scan(bank)
        target = 1 - bank
        self._erase_bank(target)
        off = target * self.bank_size + BANK_HEADER
        keep = self._latest(records)
        for key_id in sorted(keep):
            rec = keep[key_id]
            if key_id == drop or self._open(rec) is None:
                continue
            self.region.program(off, self.region.read(rec.offset, rec.length))
            off += rec.length
        self._write_bank_header(target, seq + 1)
        self._erase_bank(bank)        # the old generations and deleted keys: gone from flash
        return target

    def _purge_inactive(self, active):
        """Finish a purge a power cut interrupted: the inactive bank holds nothing live."""
        other = 1 - active
        base = other * self.bank_size
        for addr in range(base, base + self.bank_size, self.sector):
            if not self.region.is_erased(addr, self.sector):
                self._erase_bank(other)
                return

    # -- public API ------------------------------------------------------------------------
    def put(self, key_id, key):
        """Seal ``key`` as the next generation of ``key_id``; returns the generation."""
        if not 0 < key_id < 0x10000:
            raise KeyStoreError("key id out of range")
        key = bytes(key)
        if not 0 < len(key) <= MAX_KEY_SIZE:
            raise KeyStoreError("key must be 1..%d bytes" % MAX_KEY_SIZE)
        return self._put(key_id, 0, key)

    def _put(self, key_id, flags, plaintext):
        # ``flags`` is reserved in the record format (0 today).
        _, records, _ = self._records()
        generation = 1
        for rec in records:
            if rec.key_id == key_id and rec.generation >= generation:
                generation = rec.generation + 1
        self._append(self._seal(key_id, generation, flags, plaintext))
        return generation

    def get(self, key_id):
        """The newest readable generation of ``key_id``; KeyStoreError if none."""
        _, records, _ = self._records()
        candidates = [r for r in records if r.key_id == key_id]
        candidates.sort(key=lambda r: -r.generation)
        for rec in candidates:
            plaintext = self._open(rec)
            if plaintext is not None:
                return plaintext
        raise KeyStoreError("no key %d" % key_id)

    def generation(self, key_id):
        _, records, _ = self._records()
        gens = [r.generation for r in records if r.key_id == key_id]
        return max(gens) if gens else 0

    def key_ids(self):
        _, records, _ = self._records()
        latest = self._latest(records)
        return sorted(latest)

    def rotate(self, key_id, new_key=None, length=32):
        """Replace ``key_id`` with ``new_key`` (or fresh RNG bytes), then purge old ones."""
        if new_key is None:
            new_key = self._random(length)
        self.put(key_id, new_key)
        self._compact()
        return bytes(new_key)

    def delete(self, key_id):
        """Remove every generation of ``key_id`` (one atomic bank switch)."""
        self._records()
        self._compact(drop=key_id)

    def compact(self):
        self._compact()

    def zeroize(self):
        """Decommission: destroy the device key in OTP, then erase both banks."""
        self.otp.destroy_device_key()
        self.otp.set_lifecycle(LIFECYCLE_DECOMMISSIONED)
        self._prk = None
        self._erase_bank(0)
        self._erase_bank(1)
