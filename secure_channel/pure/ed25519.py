"""Ed25519 (RFC 8032 §5.1): public keys, signatures and their verification.

Points are extended twisted-Edwards coordinates (X : Y : Z : T), x = X/Z, y = Y/Z,
x*y = T/Z. The addition of RFC 8032 §5.1.4 is complete on edwards25519 (it is correct
for every pair of points, doubling and the neutral element included), so the ladder for
secret scalars (the key's a and the nonce r) needs no branch on the points: 256 fixed
steps with masked swaps over a fixed-length form of the scalar. Verification uses public scalars only and branches freely.

Checks on verification, as RFC 8032 §5.1.7 requires: the signature is 64 bytes and S <
L; A decodes as a point (§5.1.3: y < p, x recoverable, no "negative zero"); R is compared
as the encoding of [S]B - [k]A, so an R that is not a canonical point encoding fails.
This is the check of the RFC's reference code and OpenSSL (without the cofactor).

The hash is passed in (``hash512(data) -> 64 bytes``); it defaults to the pure SHA-512
of this package so the module also works where ``hashlib`` has none.
"""

from secure_channel.pure.ladder import combined, ladder
from secure_channel.pure.sha512 import sha512 as _pure_sha512

P = (1 << 255) - 19
L = (1 << 252) + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
_D2 = 2 * D % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)
_MASK = (1 << 256) - 1
IDENTITY = (0, 1, 1, 0)


def _recover_x(y, sign):
    """x with the given low bit for y (RFC 8032 §5.1.3), or None if there is none."""
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vxx = v * x * x % P
    if vxx == (P - u) % P:
        x = x * _SQRT_M1 % P
    elif vxx != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


_BY = 4 * pow(5, P - 2, P) % P
_BX = _recover_x(_BY, 0)
BASE = (_BX, _BY, 1, _BX * _BY % P)


def add(p1, p2):
    """P1 + P2 (RFC 8032 §5.1.4, complete on edwards25519)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * _D2 * t2 % P
    d = 2 * z1 * z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def double(p1):
    """2 * P1 (RFC 8032 §5.1.4 doubling)."""
    x1, y1, z1, _ = p1
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % P
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _cswap(swap, p1, p2):
    mask = _MASK * swap
    d0 = mask & (p1[0] ^ p2[0])
    d1 = mask & (p1[1] ^ p2[1])
    d2 = mask & (p1[2] ^ p2[2])
    d3 = mask & (p1[3] ^ p2[3])
    return ((p1[0] ^ d0, p1[1] ^ d1, p1[2] ^ d2, p1[3] ^ d3),
            (p2[0] ^ d0, p2[1] ^ d1, p2[2] ^ d2, p2[3] ^ d3))


def multiply(k, point):
    """[k]point for a secret scalar and a point of order L (the base point's multiples):
    a ladder of 256 fixed steps over k mod L + 8L, which lies in [2^255, 2^256), so bit
    255 is always set and the bit length of k (the nonce r's, above all) does not show."""
    return ladder(k % L + 8 * L, point, 255, IDENTITY, add, double, _cswap)


def _combined(s, k, a):
    """[s]B + [k]A for public scalars (verification only)."""
    return combined(s, k, BASE, a, IDENTITY, add, double)


def encode(point):
    x, y, z, _ = point
    inv = pow(z, P - 2, P)
    x = x * inv % P
    y = y * inv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(data):
    """A 32-byte point encoding as an extended point, or None if it is not one."""
    if len(data) != 32:
        return None
    value = int.from_bytes(bytes(data), "little")
    y = value & ((1 << 255) - 1)
    x = _recover_x(y, value >> 255)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _expand(private, hash512):
    if len(private) != 32:
        raise ValueError("Ed25519 private key must be 32 bytes")
    h = hash512(bytes(private))
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return int.from_bytes(bytes(a), "little"), h[32:]


def public(private, hash512=_pure_sha512):
    """The 32-byte public key A = [a]B of a 32-byte private key (seed)."""
    a, _ = _expand(private, hash512)
    return encode(multiply(a, BASE))


def sign(private, message, hash512=_pure_sha512):
    """The 64-byte signature R || S of ``message`` (RFC 8032 §5.1.6)."""
    a, prefix = _expand(private, hash512)
    message = bytes(message)
    public_key = encode(multiply(a, BASE))
    r = int.from_bytes(hash512(prefix + message), "little") % L
    r_encoded = encode(multiply(r, BASE))
    k = int.from_bytes(hash512(r_encoded + public_key + message), "little") % L
    s = (r + k * a) % L
    return r_encoded + s.to_bytes(32, "little")


def verify(public_key, message, signature, hash512=_pure_sha512):
    """True if ``signature`` is valid for ``message`` under ``public_key``; never raises
    for bad lengths or encodings."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    public_key = bytes(public_key)
    signature = bytes(signature)
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a = decode(public_key)
    if a is None:
        return False
    k = int.from_bytes(hash512(signature[:32] + public_key + bytes(message)), "little") % L
    minus_a = ((P - a[0]) % P, a[1], a[2], (P - a[3]) % P)
    return encode(_combined(s, k, minus_a)) == signature[:32]
