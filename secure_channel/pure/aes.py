"""The AES block cipher (FIPS 197), encryption only: CCM needs no inverse cipher.

``Aes(key).encrypt_block(block)`` for 16-, 24- or 32-byte keys. The S-box is computed at
import from its definition (inverse in GF(2^8), then the affine map), so no table is
typed by hand. Each round is SubBytes, ShiftRows and MixColumns folded into three
byte-indexed tables (S, 2*S, 3*S), unrolled over the 16 state bytes.

Not constant-time: table look-ups are indexed by secret bytes, so a cache-timing
adversary on the same machine could learn key bits. MicroPython's ``cryptolib.aes`` is
used instead where the port has it (``secure_channel.backend_pure``).
"""


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    exp = [0] * 255
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)                 # multiply by the generator 3
    box = bytearray(256)
    for a in range(256):
        inv = exp[(255 - log[a]) % 255] if a else 0
        s = inv
        for shift in (1, 2, 3, 4):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        box[a] = s ^ 0x63
    return bytes(box)


_S = _sbox()
_S2 = bytes(_xtime(s) for s in _S)
_S3 = bytes(_xtime(s) ^ s for s in _S)


def _round_keys(key):
    """The key schedule (FIPS 197 §5.2) as one 16-byte tuple per round."""
    nk = len(key) // 4
    rounds = nk + 6
    words = [list(key[4 * i:4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        t = list(words[i - 1])
        if i % nk == 0:
            t = [_S[t[1]] ^ rcon, _S[t[2]], _S[t[3]], _S[t[0]]]
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            t = [_S[b] for b in t]
        words.append([a ^ b for a, b in zip(words[i - nk], t)])
    keys = []
    for r in range(rounds + 1):
        keys.append(tuple(words[4 * r] + words[4 * r + 1] + words[4 * r + 2] + words[4 * r + 3]))
    return keys


class Aes:
    """One expanded AES key; ``encrypt_block`` maps 16 bytes to 16 bytes."""

    __slots__ = ("_keys",)

    def __init__(self, key):
        if len(key) not in (16, 24, 32):
            raise ValueError("AES key must be 16, 24 or 32 bytes")
        self._keys = _round_keys(bytes(key))

    def encrypt_block(self, block):
        if len(block) != 16:
            raise ValueError("AES block must be 16 bytes")
        sb, s2, s3 = _S, _S2, _S3
        keys = self._keys
        k = keys[0]
        (x0, x1, x2, x3, x4, x5, x6, x7,
         x8, x9, x10, x11, x12, x13, x14, x15) = [b ^ c for b, c in zip(block, k)]
        for r in range(1, len(keys) - 1):
            k = keys[r]
            # state byte i is row i % 4 of column i // 4; ShiftRows moves row r left by r
            (x0, x1, x2, x3, x4, x5, x6, x7,
             x8, x9, x10, x11, x12, x13, x14, x15) = (
                s2[x0] ^ s3[x5] ^ sb[x10] ^ sb[x15] ^ k[0],
                sb[x0] ^ s2[x5] ^ s3[x10] ^ sb[x15] ^ k[1],
                sb[x0] ^ sb[x5] ^ s2[x10] ^ s3[x15] ^ k[2],
                s3[x0] ^ sb[x5] ^ sb[x10] ^ s2[x15] ^ k[3],
                s2[x4] ^ s3[x9] ^ sb[x14] ^ sb[x3] ^ k[4],
                sb[x4] ^ s2[x9] ^ s3[x14] ^ sb[x3] ^ k[5],
                sb[x4] ^ sb[x9] ^ s2[x14] ^ s3[x3] ^ k[6],
                s3[x4] ^ sb[x9] ^ sb[x14] ^ s2[x3] ^ k[7],
                s2[x8] ^ s3[x13] ^ sb[x2] ^ sb[x7] ^ k[8],
                sb[x8] ^ s2[x13] ^ s3[x2] ^ sb[x7] ^ k[9],
                sb[x8] ^ sb[x13] ^ s2[x2] ^ s3[x7] ^ k[10],
                s3[x8] ^ sb[x13] ^ sb[x2] ^ s2[x7] ^ k[11],
                s2[x12] ^ s3[x1] ^ sb[x6] ^ sb[x11] ^ k[12],
                sb[x12] ^ s2[x1] ^ s3[x6] ^ sb[x11] ^ k[13],
                sb[x12] ^ sb[x1] ^ s2[x6] ^ s3[x11] ^ k[14],
                s3[x12] ^ sb[x1] ^ sb[x6] ^ s2[x11] ^ k[15])
        k = keys[-1]
        return bytes((
            sb[x0] ^ k[0], sb[x5] ^ k[1], sb[x10] ^ k[2], sb[x15] ^ k[3],
            sb[x4] ^ k[4], sb[x9] ^ k[5], sb[x14] ^ k[6], sb[x3] ^ k[7],
            sb[x8] ^ k[8], sb[x13] ^ k[9], sb[x2] ^ k[10], sb[x7] ^ k[11],
            sb[x12] ^ k[12], sb[x1] ^ k[13], sb[x6] ^ k[14], sb[x11] ^ k[15]))
