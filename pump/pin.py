"""Local authentication on the pump: patient and clinician PINs with a persistent lockout.

Policy. PINs are digits only (the pump has buttons, not a keyboard): 4..8 for the patient,
6..12 for the clinician. Trivial ones are refused: one digit repeated, ascending or
descending runs (with wrap-around, e.g. 8901), other even steps (1357, 9630), a shorter
pattern repeated (1212, 123123), too few distinct digits, 4-digit years 1900..2099, and
a short list of the most common.

Storage. Only a verifier is kept: PBKDF2-HMAC-SHA256 (built on
``secure_channel.crypto.hmac_sha256``, so it runs on MicroPython) over
HMAC(pepper, role || PIN), with a random 16-byte salt from the HAL RNG and a configurable
iteration count. The pepper should be a device-unique key (e.g. from the bootloader's key
store): a 4..12-digit PIN space is small, so a flash dump without that key must not be
enough to search it offline. The PIN itself is never stored, logged or put in a message.
Comparison is constant-time (``crypto.constant_time_equal``).

Lockout. Each verification first appends an ATTEMPT record to flash, holding the
lockout-until tick that applies if the PIN is wrong, and only then compares; a correct PIN
appends SUCCESS, which clears the count. So a power cut can never make a guess free: cut
before the record, no comparison was made; cut after it, the failure is counted. A torn
record (cut mid-write) counts as a failure for every role. After ``free_attempts``
consecutive failures the delay doubles from ``base_delay_ms`` up to ``max_delay_ms``; the
ticks are the HAL's monotonic counter, which survives reboots. If the counter is ever
found behind (a board without an RTC), the wait is capped to the delay due, never
unbounded.

Flash format (a ring of >= 2 sectors, power-safe like the audit log): a sector header
``"PIN1" | seq u32 | check(4)`` written last when a sector is started, then records
``len u8 | CBOR body | check(4)`` padded to the write unit, where check is the first 4
bytes of SHA-256 over what precedes it. When a sector is full the current state is
copied into the next one, whose header commits it; the old sector stays valid until then.

Two factors. Clinician settings on the device need a clinician PIN verified on the pump
within ``grant_ms`` and a peer session authenticated with the clinician credential:
``authorize_clinician_settings``.
"""

from pump import results
from pump.results import Result
from secure_channel import cbor
from secure_channel.crypto import constant_time_equal, hmac_sha256, random_bytes, sha256

PATIENT = "patient"
CLINICIAN = "clinician"
ROLES = (PATIENT, CLINICIAN)
_ROLE_CODES = {PATIENT: 0, CLINICIAN: 1}
_CODE_ROLES = {0: PATIENT, 1: CLINICIAN}

PIN_LENGTHS = {PATIENT: (4, 8), CLINICIAN: (6, 12)}
COMMON_PINS = ("1004", "2580", "0852", "1379", "1397", "5683", "7777777", "147258",
               "147852", "159753", "258456", "852456", "112233", "121314", "131313")

DEFAULT_ITERATIONS = 10000
SALT_LENGTH = 16
HASH_LENGTH = 32
FREE_ATTEMPTS = 3
BASE_DELAY_MS = 30000
MAX_DELAY_MS = 3600000
GRANT_MS = 5 * 60000

MAGIC = b"PIN1"
_CHECK = 4
_ATTEMPT = 1
_SUCCESS = 2
_VERIFIER = 3
_STATE = 4
_MAX_BODY = 250

LOCKED = "PIN-LOCKED"
WRONG = "PIN-WRONG"
UNSET = "PIN-UNSET"
POLICY = "PIN-POLICY"


def pbkdf2_hmac_sha256(password, salt, iterations, length=32):
    """PBKDF2 (RFC 8018 §5.2) with HMAC-SHA-256, on the firmware's crypto seam."""
    if not isinstance(iterations, int) or iterations < 1 or not 1 <= length <= 1024:
        raise ValueError("bad PBKDF2 parameters")
    out = b""
    block = 1
    while len(out) < length:
        u = hmac_sha256(password, salt + block.to_bytes(4, "big"))
        acc = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            u = hmac_sha256(password, u)
            acc ^= int.from_bytes(u, "big")
        out += acc.to_bytes(32, "big")
        block += 1
    return out[:length]


def _is_run(digits, step):
    return all((int(digits[i + 1]) - int(digits[i])) % 10 == step % 10
               for i in range(len(digits) - 1))


def policy_problem(role, pin):
    """Why ``pin`` is not acceptable for ``role``, or "" if it is. Never quotes the PIN."""
    if role not in PIN_LENGTHS:
        return "unknown role"
    if not isinstance(pin, str):
        return "PIN must be text"
    low, high = PIN_LENGTHS[role]
    if not low <= len(pin) <= high:
        return "%s PIN needs %d..%d digits" % (role, low, high)
    for ch in pin:
        if ch not in "0123456789":
            return "digits only"
    if _is_run(pin, 0):
        return "one digit repeated"
    if _is_run(pin, 1) or _is_run(pin, -1):
        return "a run of consecutive digits"
    step = int(pin[1]) - int(pin[0])
    if all(int(pin[i + 1]) - int(pin[i]) == step for i in range(len(pin) - 1)):
        return "digits in even steps"
    for period in range(1, len(pin) // 2 + 1):
        if len(pin) % period == 0 and pin[:period] * (len(pin) // period) == pin:
            return "a repeated pattern"
    distinct = len(set(pin))
    if distinct < 3 and len(pin) >= 6 or distinct < 2:
        return "too few different digits"
    if len(pin) == 4 and pin[:2] in ("19", "20"):
        return "looks like a year"
    if pin in COMMON_PINS:
        return "a common PIN"
    return ""


def _round_up(n, unit):
    return (n + unit - 1) // unit * unit


class PinStore:
    """PIN verifiers and failure counters of both roles, in a flash region (>= 2 sectors)."""

    def __init__(self, region, rng, clock, iterations=DEFAULT_ITERATIONS, pepper=b"",
                 free_attempts=FREE_ATTEMPTS, base_delay_ms=BASE_DELAY_MS,
                 max_delay_ms=MAX_DELAY_MS, grant_ms=GRANT_MS, audit=None):
        if region.size // region.sector_size < 2 or region.sector_size < 256:
            raise ValueError("PIN store needs two or more sectors of 256 bytes or more")
        if not isinstance(iterations, int) or iterations < 1:
            raise ValueError("iterations must be a positive int")
        self.region = region
        self.rng = rng
        self.clock = clock
        self.iterations = iterations
        self._pepper = bytes(pepper)
        self.free_attempts = free_attempts
        self.base_delay_ms = base_delay_ms
        self.max_delay_ms = max_delay_ms
        self.grant_ms = grant_ms
        self.audit = audit            # audit(op, reason) for every refusal, as the dispatcher's
        self._header_len = _round_up(len(MAGIC) + 4 + _CHECK, region.align)
        self.failures = {}
        self.locked_until = {}
        self._verifiers = {}
        for role in ROLES:
            self.failures[role] = 0
            self.locked_until[role] = 0
        self._clinician_until = None
        self.comparisons = 0          # PIN comparisons made (tests check none goes uncounted)
        self.torn = 0                 # torn records found at load
        self._load()

    def __repr__(self):
        return "PinStore(failures=%r)" % (self.failures,)

    # -- flash -------------------------------------------------------------------------
    def _header(self, seq):
        head = MAGIC + seq.to_bytes(4, "big")
        raw = head + sha256(head)[:_CHECK]
        return raw + b"\xff" * (self._header_len - len(raw))

    def _load(self):
        region = self.region
        size = region.sector_size
        best = None
        for index in range(region.size // size):
            raw = region.read(index * size, self._header_len)
            if raw == self._header(int.from_bytes(raw[4:8], "big")) and \
                    (best is None or int.from_bytes(raw[4:8], "big") > best[0]):
                best = (int.from_bytes(raw[4:8], "big"), index)
        self._sector = None
        self._seq = 0
        self._offset = None
        if best is None:
            return
        self._seq, self._sector = best
        base = self._sector * size
        offset = self._header_len
        while offset < size:
            length = region.read(base + offset, 1)[0]
            if length == 0xFF:
                self._offset = offset
                return
            entry = _round_up(1 + length + _CHECK, region.align)
            body = None
            if length <= _MAX_BODY and offset + entry <= size:
                raw = region.read(base + offset, entry)
                if constant_time_equal(sha256(raw[:1 + length])[:_CHECK],
                                       raw[1 + length:1 + length + _CHECK]):
                    body = raw[1:1 + length]
            if body is None or not self._apply(body):
                self._torn()
                return                # the rest of this sector is unusable: compact next
            offset += entry

    def _torn(self):
        """A record cut short: count a failure for every role, locked from now."""
        self.torn += 1
        now = self.clock.ticks_ms()
        for role in ROLES:
            self.failures[role] += 1
            self.locked_until[role] = max(self.locked_until[role],
                                          now + self.delay_ms(self.failures[role]))

    def _apply(self, body):
        try:
            item = cbor.decode(body)
            kind, role = item[0], _CODE_ROLES[item[1]]
            if kind == _ATTEMPT and len(item) == 3:
                self.failures[role] += 1
                self.locked_until[role] = item[2]
            elif kind == _SUCCESS and len(item) == 2:
                self.failures[role] = 0
                self.locked_until[role] = 0
            elif kind == _VERIFIER and len(item) == 5:
                self._verifiers[role] = (item[2], item[3], item[4])
            elif kind == _STATE and len(item) == 4:
                self.failures[role] = item[2]
                self.locked_until[role] = item[3]
            else:
                return False
        except (cbor.CBORError, KeyError, IndexError, TypeError):
            return False
        return True

    def _entry(self, item):
        body = cbor.encode(item)
        if len(body) > _MAX_BODY:
            raise ValueError("PIN store record too large")
        raw = bytes((len(body),)) + body
        raw += sha256(raw)[:_CHECK]
        return raw + b"\xff" * (_round_up(len(raw), self.region.align) - len(raw))

    def _snapshot(self):
        items = []
        for role in ROLES:
            code = _ROLE_CODES[role]
            if role in self._verifiers:
                iterations, salt, digest = self._verifiers[role]
                items.append([_VERIFIER, code, iterations, salt, digest])
            if self.failures[role] or self.locked_until[role]:
                items.append([_STATE, code, self.failures[role], self.locked_until[role]])
        return items

    def _compact(self):
        """Copy the state into the next sector, then commit it with its header."""
        region = self.region
        size = region.sector_size
        index = 0 if self._sector is None else (self._sector + 1) % (region.size // size)
        base = index * size
        if not region.is_erased(base, size):
            region.erase(base)
        offset = self._header_len
        for item in self._snapshot():
            entry = self._entry(item)
            region.program(base + offset, entry)
            offset += len(entry)
        region.program(base, self._header(self._seq + 1))
        self._seq += 1
        self._sector = index
        self._offset = offset

    def _append(self, item):
        entry = self._entry(item)
        if self._offset is None or self._offset + len(entry) > self.region.sector_size:
            self._compact()
        start = self._offset
        self._offset = None           # unknown until the program completes
        self.region.program(self._sector * self.region.sector_size + start, entry)
        self._offset = start + len(entry)

    # -- policy and derivation -----------------------------------------------------------
    def delay_ms(self, failures):
        """Lockout after ``failures`` consecutive failures."""
        if failures < self.free_attempts:
            return 0
        shift = min(failures - self.free_attempts, 24)
        return min(self.base_delay_ms << shift, self.max_delay_ms)

    def wait_ms(self, role, now):
        """How long ``role`` must wait before the next attempt (0: may try now)."""
        until = self.locked_until[role]
        if until <= now:
            return 0
        return min(until - now, self.delay_ms(self.failures[role]) or self.max_delay_ms)

    def _derive(self, role, pin, salt, iterations):
        secret = hmac_sha256(self._pepper or b"\x00", role.encode() + b":" + pin.encode())
        return pbkdf2_hmac_sha256(secret, salt, iterations, HASH_LENGTH)

    def is_set(self, role):
        return role in self._verifiers

    def refuse(self, op, code, reason, value=None):
        """A refusal, written to the audit log when one is wired (never with the PIN)."""
        if self.audit is not None:
            self.audit(op, reason)
        return Result(code, reason, value)

    # -- entry points --------------------------------------------------------------------
    def verify(self, role, pin, now):
        """Check ``pin`` for ``role``; Result OK, or ERR_GUARD with PIN-WRONG / PIN-LOCKED
        (``value``: ms to wait), ERR_STATE PIN-UNSET, ERR_TYPE for a non-text PIN."""
        op = "pin_" + str(role)[:12]
        if role not in ROLES:
            return self.refuse(op, results.ERR_RANGE, "unknown role")
        if not isinstance(pin, str):
            return self.refuse(op, results.ERR_TYPE, "PIN must be text")
        verifier = self._verifiers.get(role)
        if verifier is None:
            return self.refuse(op, results.ERR_STATE, UNSET)
        wait = self.wait_ms(role, now)
        if wait:
            return self.refuse(op, results.ERR_GUARD, LOCKED, wait)
        failures = self.failures[role] + 1
        until = now + self.delay_ms(failures)
        self._append([_ATTEMPT, _ROLE_CODES[role], until])      # durable before the check
        self.failures[role] = failures
        self.locked_until[role] = until
        iterations, salt, digest = verifier
        self.comparisons += 1
        if not constant_time_equal(self._derive(role, pin, salt, iterations), digest):
            return self.refuse(op, results.ERR_GUARD, WRONG, self.wait_ms(role, now))
        self._append([_SUCCESS, _ROLE_CODES[role]])
        self.failures[role] = 0
        self.locked_until[role] = 0
        if role == CLINICIAN:
            self._clinician_until = now + self.grant_ms
        return Result(results.OK)

    def set_pin(self, role, new_pin, now, current_pin=None, session_role=None):
        """Set or change a PIN. Changing needs the current PIN (a counted attempt), except
        that a clinician with both factors may reset the patient's. The first PIN of a
        role is set at provisioning, without one."""
        op = "set_pin_" + str(role)[:12]
        if role not in ROLES:
            return self.refuse(op, results.ERR_RANGE, "unknown role")
        if not isinstance(new_pin, str):
            return self.refuse(op, results.ERR_TYPE, "PIN must be text")
        problem = policy_problem(role, new_pin)
        if problem:
            return self.refuse(op, results.ERR_RANGE, "%s: %s" % (POLICY, problem))
        if role in self._verifiers:
            if role == PATIENT and self.clinician_authorized(session_role, now):
                pass
            elif current_pin is None:
                return self.refuse(op, results.ERR_GUARD, "current PIN required")
            else:
                check = self.verify(role, current_pin, now)
                if not check.ok:
                    return check
        salt = random_bytes(self.rng, SALT_LENGTH)
        digest = self._derive(role, new_pin, salt, self.iterations)
        self._append([_VERIFIER, _ROLE_CODES[role], self.iterations, salt, digest])
        self._verifiers[role] = (self.iterations, salt, digest)
        return Result(results.OK)

    def clinician_authorized(self, session_role, now):
        """Both factors: a clinician PIN verified here within ``grant_ms``, and a peer
        session authenticated with the clinician credential."""
        return (session_role == CLINICIAN and self._clinician_until is not None
                and now < self._clinician_until)

    def end_clinician_session(self):
        self._clinician_until = None


def authorize_clinician_settings(store, session_role, now):
    """Result OK if clinician settings may be changed on the device now, else ERR_GUARD
    naming the missing factor."""
    if session_role != CLINICIAN:
        return store.refuse("local_settings", results.ERR_GUARD,
                             "clinician credential session required")
    if not store.clinician_authorized(session_role, now):
        return store.refuse("local_settings", results.ERR_GUARD, "clinician PIN required")
    return Result(results.OK)


def apply_local_settings(pump, store, session_role, now, rates=None, limits=None):
    """Clinician settings entered on the pump: both factors first, then the pump's own
    checks. Returns the first refusal, or the last Result."""
    allowed = authorize_clinician_settings(store, session_role, now)
    if not allowed.ok:
        return allowed
    result = Result(results.OK)
    if limits is not None:
        result = pump.set_limits(limits)
        if not result.ok:
            return result
    if rates is not None:
        result = pump.set_basal_program(rates)
    return result
