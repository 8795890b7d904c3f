"""Tamper-evident audit log in NOR flash: CBOR records, hash-chained, MAC'ed, power-safe.

Layout. The log is a ring of sectors. Each sector starts with a header::

    "PLG1" | sector_seq u32 | first_record_seq u32 | chain hash (32) | MAC (16) | commit word

followed by entries::

    len u16 | len ^ 0xFFFF u16 | body (CBOR) | tag (16) | 0xFF pad to the write unit | commit word

The body is the CBOR array ``[seq, tick_ms, wall_s, type, data]``. The chain hash is
``h_i = SHA-256(h_{i-1} || body_i)`` and the tag is ``HMAC(key, h_i)[:16]``: anyone can check
the chain; only the key holder can forge it. The commit word (all zeros) is programmed in a
separate flash operation after the entry, so a power cut leaves either a committed entry or
one without its commit word, which is skipped: a cut loses at most the record being written.

Each new sector starts with a checkpoint record of the pump's persistent state, so erasing
the oldest sector when the ring wraps never loses state. Detected on reading: edited records
(tag), deleted or reordered records (sequence and chain), deleted sectors (sector sequence),
and, against an anchor kept where an erase or rollback cannot reach (``pump.sealed``),
truncation, an erased newest sector and a restored older image, at every boot.
"""

from secure_channel import cbor
from secure_channel.crypto import constant_time_equal, hmac_sha256, sha256

MAGIC = b"PLG1"
HEADER_LEN = 64           # 60 bytes of header and MAC, then its own commit word
TAG_LEN = 16
COMMIT = b"\x00\x00\x00\x00"
GENESIS = b"\x00" * 32
MIN_SECTOR = 4096     # a checkpoint (at most ~2 KiB) and any record must fit in one sector

# Record types
EV_BOOT = 1
EV_COMMAND = 2        # an accepted command and its arguments
EV_REFUSAL = 3        # a refused command, with the interlock or reason
EV_STATE = 4          # a therapy state change
EV_ALARM = 5          # an alarm raised or acknowledged
EV_CLOCK = 6          # the wall clock was changed
EV_RESERVE = 7        # a dose reserved ahead of delivery (or refunded, when negative)
EV_SAFE_STOP = 8      # safe-stop latched, with its reason
EV_CHECKPOINT = 9     # the persistent state, at the start of each sector
EV_SERVICE = 10       # service reset of a latched safe-stop
EV_WARNING = 11       # a warning (reservoir low, battery low)
EV_THERAPY = 12       # what a reboot must resume: mode, temp basal, suspend, alarm, bolus
EV_DELIVERED = 13     # a bolus ended: [planned mU, delivered mU]

TYPE_NAMES = {
    EV_BOOT: "boot", EV_COMMAND: "command", EV_REFUSAL: "refusal", EV_STATE: "state",
    EV_ALARM: "alarm", EV_CLOCK: "clock", EV_RESERVE: "reserve", EV_SAFE_STOP: "safe-stop",
    EV_CHECKPOINT: "checkpoint", EV_SERVICE: "service", EV_WARNING: "warning",
    EV_THERAPY: "therapy", EV_DELIVERED: "delivered",
}


class LogIntegrityError(Exception):
    """The log has been edited, reordered, cut short or forged."""


class Record:
    """One verified record; ``chain`` is the chain hash after it (``h_seq``), which lets a
    reader that holds an earlier hash check the records it is sent."""
    __slots__ = ("seq", "tick", "wall", "type", "data", "chain")

    def __init__(self, seq, tick, wall, rtype, data, chain=None):
        self.seq = seq
        self.tick = tick
        self.wall = wall
        self.type = rtype
        self.data = data
        self.chain = chain

    def __repr__(self):
        return "Record(%d, %s, %r)" % (self.seq, TYPE_NAMES.get(self.type, self.type), self.data)


def _mac(key, data):
    return hmac_sha256(key, data)[:TAG_LEN]


def _round_up(n, unit):
    return (n + unit - 1) // unit * unit


class Scan:
    """What reading a log region found: where to write next, and problems. The records
    themselves are handed on one by one (``records``), never kept here: a board's heap
    has no room for a whole log."""

    def __init__(self):
        self.problem = ""
        self.head_seq = 0          # seq of the last committed record (0: none)
        self.head_chain = GENESIS
        self.sector = None         # index of the newest sector with a valid header
        self.sector_seq = 0
        self.offset = 0            # next free offset in that sector (None: sector unusable)
        self.checkpoint_in_newest = False
        self.anchor_chain = None   # chain hash after the record ``anchor_seq``, if seen


def records(region, key, scan, anchor_seq=None):
    """Yield the log's verified records, oldest first; ``scan`` (a Scan) says at the end
    where the log stands, or why reading stopped (``problem``: nothing after it is
    yielded). A suspended reader is a cursor into the log, valid while nothing is written."""
    size = region.sector_size
    count = region.size // size
    headers = []
    for index in range(count):
        raw = region.read(index * size, HEADER_LEN)
        if raw[:4] != MAGIC or raw[60:64] != COMMIT:
            continue        # erased, or its header was cut short by power loss: reused later
        if not constant_time_equal(_mac(key, raw[:44]), raw[44:60]):
            scan.problem = "sector %d header fails its MAC: forged or wrong key" % index
            return
        headers.append((int.from_bytes(raw[4:8], "big"), index, raw))
    valid = sorted(headers, key=lambda h: h[0])
    for position in range(1, len(valid)):
        if valid[position][0] != valid[position - 1][0] + 1:
            scan.problem = "sector sequence gap: a sector was removed"
            return
    if valid and valid[0][0] > 1 and len(valid) < count - 1:
        # Old sectors go only when the ring wraps, and then all others are in use
        # (one may be mid-erase): fewer means the oldest were removed.
        scan.problem = "oldest sectors missing: log starts at sector %d with %d of %d in use" % (
            valid[0][0], len(valid), count)
        return
    if valid and valid[0][0] == 1 and (int.from_bytes(valid[0][2][8:12], "big") != 1 or
                                       bytes(valid[0][2][12:44]) != GENESIS):
        scan.problem = "first sector does not start the log"
        return
    expected_seq = None
    chain = None
    for sector_seq, index, raw in valid:
        first_seq = int.from_bytes(raw[8:12], "big")
        sector_chain = bytes(raw[12:44])
        if expected_seq is None:
            expected_seq, chain = first_seq, sector_chain
        elif first_seq != expected_seq or not constant_time_equal(sector_chain, chain):
            scan.problem = "record sequence broken between sectors %d and %d" % (
                sector_seq - 1, sector_seq)
            return
        offset = HEADER_LEN
        scan.checkpoint_in_newest = False
        while offset + 8 <= size:
            head = region.read(index * size + offset, 4)
            if head == b"\xff\xff\xff\xff":
                break
            length = int.from_bytes(head[:2], "big")
            if length ^ 0xFFFF != int.from_bytes(head[2:4], "big"):
                offset = None      # a torn entry header: the rest of this sector is unusable
                break
            body_end = offset + 4 + length
            entry_end = _round_up(body_end + TAG_LEN, region.align) + len(COMMIT)
            if entry_end > size:
                offset = None
                break
            raw_entry = region.read(index * size + offset, entry_end - offset)
            offset = entry_end
            if raw_entry[-4:] != COMMIT:
                continue           # never committed: the record being written at a power cut
            body = raw_entry[4:4 + length]
            tag = raw_entry[4 + length:4 + length + TAG_LEN]
            new_chain = sha256(chain + body)
            if not constant_time_equal(_mac(key, new_chain), tag):
                scan.problem = "record after seq %d fails its MAC: edited or forged" % (
                    expected_seq - 1)
                return
            try:
                fields = cbor.decode(body)
                seq, tick, wall, rtype, data = fields
            except (cbor.CBORError, ValueError, TypeError):
                scan.problem = "record after seq %d is not a valid record" % (expected_seq - 1)
                return
            if seq != expected_seq:
                scan.problem = "record seq %d where %d was expected" % (seq, expected_seq)
                return
            chain = new_chain
            if seq == anchor_seq:
                scan.anchor_chain = chain
            expected_seq += 1
            if rtype == EV_CHECKPOINT:
                scan.checkpoint_in_newest = True
            yield Record(seq, tick, wall, rtype, data, chain)
        scan.sector = index
        scan.sector_seq = sector_seq
        scan.offset = offset
    if expected_seq is not None:
        scan.head_seq = expected_seq - 1
        scan.head_chain = chain


def _scan(region, key, anchor_seq=None, visit=None):
    """Read the whole log: each record to ``visit`` (if given); returns the Scan."""
    scan = Scan()
    for record in records(region, key, scan, anchor_seq):
        if visit is not None:
            visit(record)
    return scan


def anchor_problem(scan, seq, chain):
    """Why a scanned log does not reach its anchor (seq, chain), or ""."""
    if seq == 0:
        return ""
    if scan.head_seq < seq:
        return "log ends at seq %d, its anchor at %d: truncated, erased or rolled back" % (
            scan.head_seq, seq)
    if scan.anchor_chain is None or not constant_time_equal(scan.anchor_chain, chain):
        return "log does not match its anchor at seq %d: replaced or rolled back" % seq
    return ""


def verify(region, key, expected_head=None):
    """Check a log; returns its records (a list: for host tools and tests; the firmware
    reads with ``records``) or raises LogIntegrityError naming the problem.

    ``expected_head`` is the (seq, chain) the live pump reported; without it a log cut short
    at its end cannot be told from a shorter one.
    """
    found = []
    check_read(_scan(region, key, visit=found.append), expected_head)
    return found


def check_read(scan, expected_head=None):
    """Raise LogIntegrityError if a log read to its end found a problem, or does not reach
    ``expected_head``, the (seq, chain) the live pump reported."""
    if scan.problem:
        raise LogIntegrityError(scan.problem)
    if expected_head is not None:
        seq, chain = expected_head
        if scan.head_seq < seq:
            raise LogIntegrityError("log ends at seq %d but the pump reported %d: truncated"
                                    % (scan.head_seq, seq))
        if scan.head_seq == seq and not constant_time_equal(scan.head_chain, chain):
            raise LogIntegrityError("log head does not match the reported head")


class AuditLog:
    """Append-only log writer over a flash region (sector-aligned, at least 2 sectors)."""

    def __init__(self, region, key, checkpoint=None, anchor=None, on_append=None,
                 on_record=None):
        """``on_record``: called with each verified record found at opening (the boot's
        replay); nothing keeps them."""
        if region.size // region.sector_size < 2 or region.sector_size < MIN_SECTOR:
            raise ValueError("audit log needs two or more sectors of %d bytes or more"
                             % MIN_SECTOR)
        self.region = region
        self._key = key
        self._checkpoint = checkpoint      # callable -> CBOR-able persistent state
        self.on_append = on_append         # callable(seq, chain) after each committed record
        self.problem = ""
        self.records_written = 0
        self._open(anchor, on_record)

    def _open(self, anchor, on_record):
        scan = _scan(self.region, self._key, anchor[0] if anchor else None, on_record)
        if not scan.problem and anchor:
            scan.problem = anchor_problem(scan, anchor[0], anchor[1])
        self.problem = scan.problem
        self.head_seq = scan.head_seq
        self.head_chain = scan.head_chain
        self._sector = scan.sector
        self._sector_seq = scan.sector_seq
        self._offset = scan.offset
        self._needs_checkpoint = scan.sector is not None and not scan.checkpoint_in_newest
        if scan.problem:
            # Never write after a damaged log: keep the evidence, start a fresh ring later.
            self._offset = None

    def head(self):
        return self.head_seq, self.head_chain

    def ensure_checkpoint(self, tick, wall):
        """Write a checkpoint if the newest sector lacks one (e.g. after a cut mid-rotation)."""
        if self._needs_checkpoint and self._checkpoint is not None:
            self._needs_checkpoint = False
            self.append(EV_CHECKPOINT, self._checkpoint(), tick, wall)

    def restart(self):
        """After an integrity failure has been reported: erase and begin a fresh ring."""
        for index in range(self.region.size // self.region.sector_size):
            if not self.region.is_erased(index * self.region.sector_size,
                                         self.region.sector_size):
                self.region.erase(index * self.region.sector_size)
        self.problem = ""
        self._sector = None
        self._sector_seq = 0
        self._offset = None
        self.head_seq = 0
        self.head_chain = GENESIS

    def append(self, rtype, data, tick, wall):
        """Append one record; returns its sequence number. PowerCut propagates."""
        if self.problem:
            raise LogIntegrityError("log is damaged: " + self.problem)
        seq = self.head_seq + 1
        body = cbor.encode([seq, tick, wall, rtype, data])
        if len(body) > 0xFFFF:
            raise ValueError("record too large")
        size = self._entry_size(len(body))
        if size > self.region.sector_size - HEADER_LEN:
            raise ValueError("record larger than a sector")
        if self._sector is None or self._offset is None or \
                self._offset + size > self.region.sector_size or not self._free(size):
            self._rotate(seq)
            if rtype != EV_CHECKPOINT and self._checkpoint is not None:
                self._write(seq, EV_CHECKPOINT, self._checkpoint(), tick, wall)
                seq += 1
                body = cbor.encode([seq, tick, wall, rtype, data])
        self._write_body(seq, body)
        return seq

    def _free(self, size):
        """Is the space for the next entry still erased? A bit that flipped in the free part
        of a sector (or a torn write the scan could not see) sends the log to a new sector
        instead of making NOR programming fail."""
        return self.region.is_erased(self._sector * self.region.sector_size + self._offset,
                                     size)

    def _write(self, seq, rtype, data, tick, wall):
        self._write_body(seq, cbor.encode([seq, tick, wall, rtype, data]))

    def _entry_size(self, body_len):
        return _round_up(4 + body_len + TAG_LEN, self.region.align) + len(COMMIT)

    def _write_body(self, seq, body):
        chain = sha256(self.head_chain + body)
        entry = len(body).to_bytes(2, "big") + (len(body) ^ 0xFFFF).to_bytes(2, "big") + body
        entry += _mac(self._key, chain)
        entry += b"\xff" * (_round_up(len(entry), self.region.align) - len(entry))
        base = self._sector * self.region.sector_size
        size = len(entry) + len(COMMIT)
        if self._offset + size > self.region.sector_size:
            raise ValueError("record does not fit after the checkpoint")
        start = self._offset
        self._offset += size          # the space is used even if power is cut now
        self.region.program(base + start, entry)
        self.region.program(base + start + len(entry), COMMIT)
        self.head_seq = seq
        self.head_chain = chain
        self.records_written += 1
        if self.on_append is not None:
            self.on_append(seq, chain)

    def _rotate(self, first_seq):
        count = self.region.size // self.region.sector_size
        index = 0 if self._sector is None else (self._sector + 1) % count
        sector_seq = self._sector_seq + 1 if self._sector is not None else 1
        addr = index * self.region.sector_size
        if not self.region.is_erased(addr, self.region.sector_size):
            self.region.erase(addr)
        header = MAGIC + sector_seq.to_bytes(4, "big") + first_seq.to_bytes(4, "big") \
            + self.head_chain
        self._sector = index
        self._sector_seq = sector_seq
        self._offset = None            # unusable until its header is committed
        self.region.program(addr, header + _mac(self._key, header))
        self.region.program(addr + HEADER_LEN - len(COMMIT), COMMIT)
        self._offset = HEADER_LEN
