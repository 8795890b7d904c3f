"""Record protection: an OSCORE security context (RFC 8613) over a byte link, sans-IO.

Each application message is a COSE_Encrypt0 (AES-CCM-16-64-128) whose nonce and AAD are
built exactly as in RFC 8613 §5.2 and §5.4, and whose headers are compressed as in §6.1.
With no CoAP message around it, the protected message on the wire is::

    len(option) (1 byte) || OSCORE option value (flags, Partial IV, kid ...) || ciphertext

A request carries the sender's kid and Partial IV; a response normally carries neither and
reuses the request's nonce (§5.2), binding it to its request through the AAD (§7.1).

Budgets: a context refuses to protect once its sender sequence number, its message budget
or its time budget (in caller-supplied ticks; there is no clock here) is used up, raising
RECORD_KEY_UPDATE; ``needs_key_update`` turns true earlier, when 7/8 of any budget is
spent, so the application can run EDHOC_KeyUpdate or a new handshake in time.
"""

from secure_channel import cbor, cose, crypto, numbers
from secure_channel.errors import (
    RECORD_AUTH, RECORD_CONFIG, RECORD_KEY_UPDATE, RECORD_MALFORMED, RECORD_REPLAY,
    RECORD_STATE, RECORD_UNKNOWN_ID, RecordError,
)
from secure_channel.oscore.replay import ReplayWindow

AES_CCM_16_64_128 = numbers.AES_CCM_16_64_128
KEY_LENGTH = 16
NONCE_LENGTH = 13
TAG_LENGTH = 8
MAX_ID_LENGTH = NONCE_LENGTH - 6      # 7 bytes (§3.3)
MAX_SEQ = (1 << 40) - 1               # §7.2.1
MAX_MESSAGE = 1 << 16                 # bound on a protected message we parse

_FLAG_KID = 0x08
_FLAG_KID_CONTEXT = 0x10
_FLAGS_RESERVED = 0xE0


_ENC0_PREFIX = b"\x83\x68Encrypt0\x40"     # ["Encrypt0", h'', ... (external_aad follows)


def _bstr(data):
    return cbor.encode(bytes(data))


def _short_bstr(data):
    """CBOR byte string of fewer than 24 bytes (kid, Partial IV, aad_array)."""
    return bytes((0x40 | len(data),)) + data


def _nonce_base(common_iv, id_piv):
    """The nonce for Partial IV 0 as an int: nonce(seq) = (base ^ seq) as 13 bytes."""
    block = bytes((len(id_piv),)) + bytes(MAX_ID_LENGTH - len(id_piv)) + id_piv + bytes(5)
    return int.from_bytes(block, "big") ^ int.from_bytes(common_iv, "big")


def derive(master_secret, master_salt, identifier, id_context, kind, length,
           aead_alg=AES_CCM_16_64_128):
    """One HKDF output of RFC 8613 §3.2.1: info = [id, id_context, alg_aead, type, L]."""
    info = cbor.encode([bytes(identifier), id_context, aead_alg, kind, length])
    prk = crypto.hkdf_extract(master_salt, master_secret)
    return crypto.hkdf_expand(prk, info, length)


def encode_piv(seq):
    """Partial IV: the sequence number without leading zero bytes (0 is 0x00)."""
    if seq < 0x100:
        return bytes((seq,))
    length = 2
    while seq >> (8 * length):
        length += 1
    return seq.to_bytes(length, "big")


def nonce(common_iv, id_piv, piv):
    """AEAD nonce of RFC 8613 §5.2."""
    block = (bytes((len(id_piv),)) + bytes(MAX_ID_LENGTH - len(id_piv)) + id_piv
             + bytes(5 - len(piv)) + piv)
    return bytes(a ^ b for a, b in zip(block, common_iv))


def aad(request_kid, request_piv, aead_alg=AES_CCM_16_64_128):
    """AAD of RFC 8613 §5.4: Enc_structure with external_aad = bstr .cbor aad_array."""
    aad_array = (b"\x85\x01" + cbor.encode([aead_alg]) + _bstr(request_kid)
                 + _bstr(request_piv) + b"\x40")
    return cose.enc_structure(b"", aad_array)


def compress(piv=None, kid=None, kid_context=None):
    """The OSCORE option value (RFC 8613 §6.1) for the given header parameters."""
    flags = 0
    out = b""
    if piv is not None:
        if not 1 <= len(piv) <= 5:
            raise RecordError(RECORD_CONFIG, "Partial IV must be 1 to 5 bytes")
        flags |= len(piv)
        out += piv
    if kid_context is not None:
        if len(kid_context) > 255:
            raise RecordError(RECORD_CONFIG, "kid context too long")
        flags |= _FLAG_KID_CONTEXT
        out += bytes((len(kid_context),)) + kid_context
    if kid is not None:
        flags |= _FLAG_KID
        out += kid
    if flags == 0:
        return b""
    return bytes((flags,)) + out


def decompress(option):
    """Parse an OSCORE option value into (piv, kid, kid_context); each may be None."""
    if not option:
        return None, None, None
    flags = option[0]
    n = flags & 0x07
    if flags & _FLAGS_RESERVED or n > 5:
        raise RecordError(RECORD_MALFORMED, "reserved OSCORE flag bits set")
    pos = 1 + n
    if pos > len(option):
        raise RecordError(RECORD_MALFORMED, "truncated Partial IV")
    piv = bytes(option[1:pos]) if n else None
    if piv is not None and len(piv) > 1 and piv[0] == 0:
        raise RecordError(RECORD_MALFORMED, "Partial IV with leading zero")
    kid_context = None
    if flags & _FLAG_KID_CONTEXT:
        if pos >= len(option):
            raise RecordError(RECORD_MALFORMED, "truncated kid context")
        size = option[pos]
        if pos + 1 + size > len(option):
            raise RecordError(RECORD_MALFORMED, "truncated kid context")
        kid_context = bytes(option[pos + 1:pos + 1 + size])
        pos += 1 + size
    kid = None
    if flags & _FLAG_KID:
        kid = bytes(option[pos:])
    elif pos != len(option):
        raise RecordError(RECORD_MALFORMED, "trailing bytes in OSCORE option")
    return piv, kid, kid_context


def split(message):
    """Split a protected message into (option value, ciphertext); structural checks only."""
    if not isinstance(message, (bytes, bytearray)):
        raise RecordError(RECORD_MALFORMED, "protected message must be bytes")
    if len(message) > MAX_MESSAGE:
        raise RecordError(RECORD_MALFORMED, "protected message too long")
    if not message:
        raise RecordError(RECORD_MALFORMED, "empty protected message")
    end = 1 + message[0]
    if len(message) < end + TAG_LENGTH:
        raise RecordError(RECORD_MALFORMED, "truncated protected message")
    return bytes(message[1:end]), bytes(message[end:])


def join(option, ciphertext):
    return bytes((len(option),)) + option + ciphertext


class Exchange:
    """One request and its single response: the binding of RFC 8613 §7.1.

    The response's AAD equals the request's (same request_kid and request_piv), so it is
    kept here along with the request's nonce.
    """

    __slots__ = ("kid", "piv", "nonce", "aad", "answered")

    def __init__(self, kid, piv, request_nonce, request_aad):
        self.kid = kid
        self.piv = piv
        self.nonce = request_nonce
        self.aad = request_aad
        self.answered = False


class SecurityContext:
    """Common, Sender and Recipient Context of RFC 8613 §3, with replay window and budgets.

    ``max_messages``: messages this context may protect (default: sequence-number limit).
    ``max_age``/``now``: time budget in the caller's monotonic ticks (None: no time budget).
    """

    def __init__(self, master_secret, master_salt=b"", sender_id=b"", recipient_id=b"",
                 id_context=None, aead_alg=AES_CCM_16_64_128, replay_window=32,
                 max_seq=MAX_SEQ, max_messages=None, max_age=None, now=0,
                 send_kid_context=False):
        for name, value in (("master_secret", master_secret), ("master_salt", master_salt),
                            ("sender_id", sender_id), ("recipient_id", recipient_id)):
            if not isinstance(value, (bytes, bytearray)):
                raise RecordError(RECORD_CONFIG, "%s must be bytes" % name)
        if id_context is not None and not isinstance(id_context, (bytes, bytearray)):
            raise RecordError(RECORD_CONFIG, "id_context must be bytes or None")
        if aead_alg != AES_CCM_16_64_128:
            raise RecordError(RECORD_CONFIG, "only AES-CCM-16-64-128 is implemented")
        if len(sender_id) > MAX_ID_LENGTH or len(recipient_id) > MAX_ID_LENGTH:
            raise RecordError(RECORD_CONFIG, "Sender/Recipient ID longer than 7 bytes")
        if bytes(sender_id) == bytes(recipient_id):
            raise RecordError(RECORD_CONFIG, "Sender ID equals Recipient ID")
        if not isinstance(max_seq, int) or not 0 <= max_seq <= MAX_SEQ:
            raise RecordError(RECORD_CONFIG, "max_seq out of range")
        for name, value in (("max_messages", max_messages), ("max_age", max_age)):
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise RecordError(RECORD_CONFIG, "%s must be a positive int or None" % name)
        self.aead_alg = aead_alg
        self.sender_id = bytes(sender_id)
        self.recipient_id = bytes(recipient_id)
        self.id_context = None if id_context is None else bytes(id_context)
        salt = bytes(master_salt)
        secret = bytes(master_secret)
        self.sender_key = derive(secret, salt, self.sender_id, self.id_context, "Key",
                                 KEY_LENGTH)
        self.recipient_key = derive(secret, salt, self.recipient_id, self.id_context, "Key",
                                    KEY_LENGTH)
        self.common_iv = derive(secret, salt, b"", self.id_context, "IV", NONCE_LENGTH)
        self._sender = crypto.aes_ccm_key(self.sender_key, TAG_LENGTH)
        self._recipient = crypto.aes_ccm_key(self.recipient_key, TAG_LENGTH)
        self._sender_base = _nonce_base(self.common_iv, self.sender_id)
        self._recipient_base = _nonce_base(self.common_iv, self.recipient_id)
        self.sender_seq = 0
        self.replay = ReplayWindow(replay_window)
        self.max_seq = max_seq
        self.max_messages = max_messages
        self.max_age = max_age
        self.created = now
        self.sent = 0
        self.refused = 0
        self._timed = max_age is not None
        self._kid_context = self.id_context if send_kid_context else None
        self._aad_head = b"\x85\x01" + cbor.encode([aead_alg])
        self._own_kid = _short_bstr(self.sender_id)
        self._peer_kid = _short_bstr(self.recipient_id)
        # Per Partial IV length n (1..5): AAD prefixes (the AAD is prefix + piv + h'') and
        # the request header (header + piv + kid), so the hot paths only concatenate.
        self._own_aad = [None] + [self._aad(self._own_kid, bytes(n))[:-1 - n]
                                  for n in range(1, 6)]
        self._peer_aad = [None] + [self._aad(self._peer_kid, bytes(n))[:-1 - n]
                                   for n in range(1, 6)]
        self._request_flags = [None] + [bytes((n | _FLAG_KID,)) for n in range(1, 6)]

    # -- budgets ---------------------------------------------------------------------------

    def _age(self, now):
        if not isinstance(now, int) or isinstance(now, bool):
            raise RecordError(RECORD_CONFIG, "now (ticks) required with a time budget")
        return now - self.created

    def needs_key_update(self, now=None):
        """True once 7/8 of the sequence, message or time budget is spent."""
        if self.sender_seq * 8 >= self.max_seq * 7:
            return True
        if self.max_messages is not None and self.sent * 8 >= self.max_messages * 7:
            return True
        return self._timed and self._age(now) * 8 >= self.max_age * 7

    def _next_seq(self, now):
        """Check every sending budget, then spend one sequence number (never reused)."""
        if self._timed and self._age(now) >= self.max_age:
            raise RecordError(RECORD_KEY_UPDATE, "time budget used up; rekey")
        seq = self.sender_seq
        if seq > self.max_seq:
            raise RecordError(RECORD_KEY_UPDATE, "sequence numbers used up; rekey")
        if self.max_messages is not None and self.sent >= self.max_messages:
            raise RecordError(RECORD_KEY_UPDATE, "message budget used up; rekey")
        self.sender_seq = seq + 1
        self.sent += 1
        return seq

    def _aad(self, kid_bstr, piv):
        array = self._aad_head + kid_bstr + bytes((0x40 | len(piv),)) + piv + b"\x40"
        return _ENC0_PREFIX + bytes((0x40 | len(array),)) + array

    # -- requests ----------------------------------------------------------------------------

    def protect_request(self, plaintext, now=None):
        """Protect a request; returns (message bytes, Exchange for its response)."""
        option, ciphertext, exchange = self.protect_request_parts(plaintext, now)
        return bytes((len(option),)) + option + ciphertext, exchange

    def protect_request_parts(self, plaintext, now=None):
        """(OSCORE option value, ciphertext, Exchange): the request as a CoAP message
        carries them apart (``coap.protect``)."""
        seq = self.sender_seq
        if self._timed or self.max_messages is not None or seq >= self.max_seq:
            seq = self._next_seq(now)
        else:
            self.sender_seq = seq + 1
            self.sent += 1
        piv = bytes((seq,)) if seq < 0x100 else encode_piv(seq)
        request_nonce = (self._sender_base ^ seq).to_bytes(NONCE_LENGTH, "big")
        request_aad = self._own_aad[len(piv)] + piv + b"\x40"
        ciphertext = self._sender.encrypt(request_nonce, plaintext, request_aad)
        if self._kid_context is None:
            option = self._request_flags[len(piv)] + piv + self.sender_id
        else:
            option = compress(piv, self.sender_id, self._kid_context)
        return option, ciphertext, Exchange(self.sender_id, piv, request_nonce, request_aad)

    def unprotect_request(self, message, now=None):
        """Verify a request; returns (plaintext, Exchange for the response).

        Refusals (RecordError) leave the context as it was, apart from a refusal counter.
        """
        try:
            if self._timed and self._age(now) >= self.max_age:
                raise RecordError(RECORD_KEY_UPDATE, "time budget used up; rekey")
            size = len(message) if isinstance(message, bytes) else 0
            flags = message[1] if size > 1 else 0
            n = flags & 7
            end = 1 + message[0] if size else 0
            if (flags & 0xF8) == _FLAG_KID and 0 < n < 6 and 2 + n <= end and \
                    end + TAG_LENGTH <= size <= MAX_MESSAGE:
                # Fast path for the usual request header: flags, Partial IV, kid.
                piv = message[2:2 + n]
                if n > 1 and piv[0] == 0:
                    raise RecordError(RECORD_MALFORMED, "Partial IV with leading zero")
                if message[2 + n:end] != self.recipient_id:
                    raise RecordError(RECORD_UNKNOWN_ID, "no context for this kid")
            else:
                option, _ = split(message)
                piv, kid, kid_context = decompress(option)
                if piv is None or kid is None:
                    raise RecordError(RECORD_MALFORMED, "request without kid or Partial IV")
                if kid != self.recipient_id or (kid_context is not None
                                                and kid_context != self.id_context):
                    raise RecordError(RECORD_UNKNOWN_ID, "no context for this kid")
                end = 1 + message[0]
            seq = int.from_bytes(piv, "big")
            window = self.replay
            if seq <= window._top and not window.check(seq):
                raise RecordError(RECORD_REPLAY, "replayed or too old")
            request_nonce = (self._recipient_base ^ seq).to_bytes(NONCE_LENGTH, "big")
            request_aad = self._peer_aad[len(piv)] + piv + b"\x40"
            plaintext = self._recipient.decrypt(request_nonce, message[end:], request_aad)
        except crypto.AuthenticationFailed:
            self.refused += 1
            raise RecordError(RECORD_AUTH, "verification failed")
        except RecordError:
            self.refused += 1
            raise
        window.update(seq)
        return plaintext, Exchange(self.recipient_id, piv, request_nonce, request_aad)

    # -- responses ---------------------------------------------------------------------------

    def protect_response(self, plaintext, exchange, new_piv=False, now=None):
        """Protect the one response to ``exchange`` (from ``unprotect_request``).

        By default the request's nonce is reused and no Partial IV is sent (§5.2);
        ``new_piv`` spends a sender sequence number instead.
        """
        option, ciphertext = self.protect_response_parts(plaintext, exchange, new_piv, now)
        return bytes((len(option),)) + option + ciphertext

    def protect_response_parts(self, plaintext, exchange, new_piv=False, now=None):
        """(OSCORE option value, ciphertext) of the response to ``exchange``."""
        if not isinstance(exchange, Exchange):
            raise RecordError(RECORD_CONFIG, "exchange must come from unprotect_request")
        if exchange.answered:
            raise RecordError(RECORD_STATE, "request already answered")
        if self._timed and self._age(now) >= self.max_age:
            raise RecordError(RECORD_KEY_UPDATE, "time budget used up; rekey")
        option = b""
        response_nonce = exchange.nonce
        if new_piv:
            seq = self._next_seq(now)
            piv = encode_piv(seq)
            option = bytes((len(piv),)) + piv
            response_nonce = (self._sender_base ^ seq).to_bytes(NONCE_LENGTH, "big")
        exchange.answered = True
        return option, self._sender.encrypt(response_nonce, plaintext, exchange.aad)

    def unprotect_response(self, message, exchange, now=None):
        """Verify the response to ``exchange`` (from ``protect_request``); only one is taken."""
        try:
            if not isinstance(exchange, Exchange):
                raise RecordError(RECORD_CONFIG, "exchange must come from protect_request")
            if exchange.answered:
                raise RecordError(RECORD_STATE, "response already received")
            if self._timed and self._age(now) >= self.max_age:
                raise RecordError(RECORD_KEY_UPDATE, "time budget used up; rekey")
            response_nonce = exchange.nonce
            if isinstance(message, bytes) and len(message) > TAG_LENGTH and \
                    message[0] == 0 and len(message) <= MAX_MESSAGE:
                option = b""                 # the usual response: no Partial IV, no kid
                ciphertext = message[1:]
            else:
                option, ciphertext = split(message)
            if option:
                piv, kid, kid_context = decompress(option)
                if kid is not None and kid != self.recipient_id:
                    raise RecordError(RECORD_UNKNOWN_ID, "response kid does not match")
                if kid_context is not None:
                    raise RecordError(RECORD_MALFORMED, "kid context in a response")
                if piv is not None:
                    response_nonce = (self._recipient_base ^ int.from_bytes(piv, "big")
                                      ).to_bytes(NONCE_LENGTH, "big")
            try:
                plaintext = self._recipient.decrypt(response_nonce, ciphertext, exchange.aad)
            except crypto.AuthenticationFailed:
                raise RecordError(RECORD_AUTH, "verification failed")
        except RecordError:
            self.refused += 1
            raise
        exchange.answered = True
        return plaintext
