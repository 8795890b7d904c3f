"""AES-CCM (NIST SP 800-38C, RFC 3610) over any 16-byte block encryption function.

``Ccm(encrypt_block, tag_length)`` gives ``seal(nonce, plaintext, aad) -> ciphertext ||
tag`` and ``open(nonce, data, aad) -> plaintext``, or None when the tag does not verify
(the caller turns None into its own exception). The block function comes from
``aes.Aes`` or from MicroPython's ``cryptolib``; CCM only ever encrypts blocks.

Formatting (RFC 3610 §2.2): B_0 = flags || nonce || l(m) with flags = 64*Adata +
8*(M-2)/2 + (L-1), L = 15 - len(nonce); the associated data is prefixed by its length
(2, 6 or 10 octets) and zero-padded to blocks; counter blocks A_i = (L-1) || nonce || i.
The tag is compared in constant time (every byte is looked at), and on a bad tag no
plaintext leaves this module.
"""

from secure_channel import constant_time

TAG_LENGTHS = (4, 6, 8, 10, 12, 14, 16)


def _xor(a, b):
    """a XOR b for byte strings of one length, as one integer operation (few bytecodes,
    which matters on MicroPython)."""
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(n, "big")


def _padded(data):
    return data + bytes(-len(data) % 16)


def _aad_prefix(length):
    if length < 0xFF00:
        return length.to_bytes(2, "big")
    if length < 1 << 32:
        return b"\xff\xfe" + length.to_bytes(4, "big")
    return b"\xff\xff" + length.to_bytes(8, "big")


class Ccm:
    """CCM mode for one block-cipher key and one tag length."""

    __slots__ = ("_encrypt", "_tag_length")

    def __init__(self, encrypt_block, tag_length):
        if tag_length not in TAG_LENGTHS:
            raise ValueError("CCM tag length must be 4, 6, ..., 16 bytes")
        self._encrypt = encrypt_block
        self._tag_length = tag_length

    def _check(self, nonce, length):
        if not 7 <= len(nonce) <= 13:
            raise ValueError("Nonce must be between 7 and 13 bytes")
        size = 15 - len(nonce)
        if length >= 1 << (8 * size):
            raise ValueError("Data too long for nonce")
        return size

    def _mac(self, nonce, size, message, aad):
        """The unencrypted tag T: CBC-MAC over B_0, the length-prefixed AAD and the message."""
        encrypt = self._encrypt
        flags = (64 if aad else 0) | ((self._tag_length - 2) // 2) << 3 | (size - 1)
        x = encrypt(bytes((flags,)) + nonce + len(message).to_bytes(size, "big"))
        blocks = _padded(_aad_prefix(len(aad)) + aad) if aad else b""
        blocks += _padded(message)
        for offset in range(0, len(blocks), 16):
            x = encrypt(_xor(x, blocks[offset:offset + 16]))
        return x[:self._tag_length]

    def _ctr(self, nonce, size, data):
        """``data`` XOR the key stream S_1, S_2, ..., and S_0 (which masks the tag)."""
        encrypt = self._encrypt
        prefix = bytes((size - 1,)) + nonce
        stream = b"".join(encrypt(prefix + counter.to_bytes(size, "big"))
                          for counter in range(1, (len(data) + 15) // 16 + 1))
        return _xor(data, stream[:len(data)]), encrypt(prefix + bytes(size))

    def seal(self, nonce, plaintext, aad):
        nonce, plaintext, aad = bytes(nonce), bytes(plaintext), bytes(aad or b"")
        size = self._check(nonce, len(plaintext))
        tag = self._mac(nonce, size, plaintext, aad)
        ciphertext, s0 = self._ctr(nonce, size, plaintext)
        return ciphertext + _xor(tag, s0[:len(tag)])

    def open(self, nonce, data, aad):
        nonce, data, aad = bytes(nonce), bytes(data), bytes(aad or b"")
        if len(data) < self._tag_length:
            self._check(nonce, 0)
            return None
        size = self._check(nonce, len(data) - self._tag_length)
        cut = len(data) - self._tag_length
        plaintext, s0 = self._ctr(nonce, size, data[:cut])
        expected = _xor(self._mac(nonce, size, plaintext, aad), s0[:self._tag_length])
        if not constant_time.equal(expected, data[cut:]):
            return None
        return plaintext
