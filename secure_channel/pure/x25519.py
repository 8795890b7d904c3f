"""X25519 (RFC 7748 §5): the Montgomery ladder on Curve25519, u-coordinates only.

``x25519(scalar, u) -> 32 bytes`` for 32-byte little-endian inputs; ``public(private)``
is the ladder from the base point u = 9. The ladder runs all 255 steps whatever the
scalar, and swaps its two points with the masked exchange ``cswap`` rather than a branch
on the secret bit. The caller refuses an all-zero result (RFC 7748 §6.1).
"""

P = (1 << 255) - 19
_A24 = 121665
_MASK = (1 << 256) - 1
BASE = (9).to_bytes(32, "little")


def decode_scalar(k):
    """Clamp: clear the three low bits and the top bit, set bit 254."""
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return int.from_bytes(bytes(k), "little")


def decode_u(u):
    """The u-coordinate with its top bit masked; non-canonical values reduce mod p."""
    return int.from_bytes(bytes(u), "little") & ((1 << 255) - 1)


def cswap(swap, a, b):
    """(a, b) if swap is 0, (b, a) if swap is 1, with no branch on ``swap``."""
    dummy = (_MASK * swap) & (a ^ b)
    return a ^ dummy, b ^ dummy


def ladder(k, u):
    """u-coordinate of [k]P for the point P with u-coordinate ``u`` (integers).

    The swap of ``cswap`` is written out in the loop (one call less per step)."""
    x1 = u % P
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (k >> t) & 1
        mask = _MASK * (swap ^ bit)
        swap = bit
        dx = mask & (x2 ^ x3)
        dz = mask & (z2 ^ z3)
        x2 ^= dx
        x3 ^= dx
        z2 ^= dz
        z3 ^= dz
        a = x2 + z2
        aa = a * a % P
        b = x2 - z2
        bb = b * b % P
        e = aa - bb
        da = (x3 - z3) * a % P
        cb = (x3 + z3) * b % P
        x3 = da + cb
        x3 = x3 * x3 % P
        z3 = da - cb
        z3 = x1 * (z3 * z3 % P) % P
        x2 = aa * bb % P
        z2 = e * (aa + _A24 * e) % P
    x2, x3 = cswap(swap, x2, x3)
    z2, z3 = cswap(swap, z2, z3)
    return x2 * pow(z2, P - 2, P) % P


def x25519(scalar, u):
    """RFC 7748 X25519(k, u) on 32-byte strings."""
    if len(scalar) != 32 or len(u) != 32:
        raise ValueError("X25519 scalars and u-coordinates are 32 bytes")
    return ladder(decode_scalar(scalar), decode_u(u)).to_bytes(32, "little")


def public(private):
    return x25519(private, BASE)
