"""NIST P-256 (FIPS 186-4 D.1.2.3): public keys, ECDH and ECDSA with RFC 6979 nonces.

Points are projective (X : Y : Z), x = X/Z, y = Y/Z, the identity (0 : 1 : 0). Addition
and doubling are the complete formulas of Renes, Costello and Batina ("Complete addition
formulas for prime order elliptic curves", 2016, algorithms 4 and 6 for a = -3): one
formula for every pair of inputs, the identity and P + P included, so scalar
multiplication needs no branch on the points. (Jacobian formulas are a little cheaper
but have exceptional cases that must be tested for, and the test would be a branch.)

- ``multiply(k, point)``, for secret scalars, is a Montgomery ladder with masked swaps
  (``_cswap``) over k + n or k + 2n, whichever has exactly 257 bits: the same additions
  and doublings run for every scalar, and the bit length of k (a nonce's, above all)
  does not show.
- ``_combined(u1, u2, q)`` computes u1*G + u2*Q for verification (public scalars) by
  Shamir's trick, with branches on the scalar bits.

Public keys are 64-byte x||y or a 32-byte x (the point with even y, as SEC 1 0x02 would
give); both are checked to be on the curve with coordinates below p. ECDSA signatures
are 64-byte r||s. ``sign_digest`` takes the HMAC-SHA256 function from the caller (this
package imports no hash module).
"""

from secure_channel.pure.ladder import combined, ladder

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
G = (GX, GY, 1)
IDENTITY = (0, 1, 0)
_MASK = (1 << 256) - 1


def add(p1, p2):
    """P1 + P2 for any two points (RCB 2016, algorithm 4, a = -3)."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    t0 = x1 * x2 % P
    t1 = y1 * y2 % P
    t2 = z1 * z2 % P
    t3 = (x1 + y1) * (x2 + y2) % P
    t4 = t0 + t1
    t3 = t3 - t4
    t4 = (y1 + z1) * (y2 + z2) % P
    x3 = t1 + t2
    t4 = t4 - x3
    x3 = (x1 + z1) * (x2 + z2) % P
    y3 = t0 + t2
    y3 = x3 - y3
    z3 = B * t2 % P
    x3 = y3 - z3
    z3 = x3 + x3
    x3 = x3 + z3
    z3 = t1 - x3
    x3 = t1 + x3
    y3 = B * y3 % P
    t1 = t2 + t2
    t2 = t1 + t2
    y3 = y3 - t2
    y3 = y3 - t0
    t1 = y3 + y3
    y3 = t1 + y3
    t1 = t0 + t0
    t0 = t1 + t0
    t0 = t0 - t2
    t1 = t4 * y3 % P
    t2 = t0 * y3 % P
    y3 = x3 * z3 % P
    y3 = y3 + t2
    x3 = t3 * x3 % P
    x3 = x3 - t1
    z3 = t4 * z3 % P
    t1 = t3 * t0 % P
    z3 = z3 + t1
    return x3 % P, y3 % P, z3 % P


def double(p1):
    """2 * P1 for any point (RCB 2016, algorithm 6, a = -3)."""
    x, y, z = p1
    t0 = x * x % P
    t1 = y * y % P
    t2 = z * z % P
    t3 = x * y % P
    t3 = t3 + t3
    z3 = x * z % P
    z3 = z3 + z3
    y3 = B * t2 % P
    y3 = y3 - z3
    x3 = y3 + y3
    y3 = x3 + y3
    x3 = t1 - y3
    y3 = t1 + y3
    y3 = x3 * y3 % P
    x3 = x3 * t3 % P
    t3 = t2 + t2
    t2 = t2 + t3
    z3 = B * z3 % P
    z3 = z3 - t2
    z3 = z3 - t0
    t3 = z3 + z3
    z3 = z3 + t3
    t3 = t0 + t0
    t0 = t3 + t0
    t0 = t0 - t2
    t0 = t0 * z3 % P
    y3 = y3 + t0
    t0 = y * z % P
    t0 = t0 + t0
    z3 = t0 * z3 % P
    x3 = x3 - z3
    z3 = t0 * t1 % P
    z3 = z3 + z3
    z3 = z3 + z3
    return x3 % P, y3 % P, z3 % P


def _cswap(swap, p1, p2):
    """(p1, p2), or (p2, p1) when swap is 1, by masking rather than branching."""
    mask = _MASK * swap
    x = mask & (p1[0] ^ p2[0])
    y = mask & (p1[1] ^ p2[1])
    z = mask & (p1[2] ^ p2[2])
    return (p1[0] ^ x, p1[1] ^ y, p1[2] ^ z), (p2[0] ^ x, p2[1] ^ y, p2[2] ^ z)


def _fixed_length(k):
    """k mod n plus n or 2n, whichever lands in [2^256, 2^257): the same multiple of every
    point of order n, with bit 256 always set, so the ladder's first steps (and their
    small intermediate values) never depend on how many leading zeros k has."""
    k = k % N + N
    return k + (1 - (k >> 256)) * N


def multiply(k, point):
    """[k]point for a secret scalar and a point of order n (every point on P-256): a
    ladder of 257 fixed steps over the fixed-length form of k."""
    return ladder(_fixed_length(k), point, 256, IDENTITY, add, double, _cswap)


def _combined(u1, u2, q):
    """u1*G + u2*Q for public scalars (verification only)."""
    return combined(u1, u2, G, q, IDENTITY, add, double)


def affine(point):
    """(x, y) of a projective point; ValueError for the identity."""
    x, y, z = point
    if z == 0:
        raise ValueError("point at infinity")
    inv = pow(z, P - 2, P)
    return x * inv % P, y * inv % P


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x - 3 * x + B)) % P == 0


def decode_point(public):
    """A public key (32-byte x with even y, or 64-byte x||y) as a projective point."""
    if len(public) == 64:
        x = int.from_bytes(public[:32], "big")
        y = int.from_bytes(public[32:], "big")
    elif len(public) == 32:
        x = int.from_bytes(public, "big")
        if x >= P:
            raise ValueError("P-256 x-coordinate out of range")
        rhs = (x * x * x - 3 * x + B) % P
        y = pow(rhs, (P + 1) // 4, P)          # p = 3 mod 4: a square root if one exists
        if y & 1:
            y = P - y
    else:
        raise ValueError("P-256 public key must be 32 or 64 bytes")
    if not on_curve(x, y):
        raise ValueError("point is not on P-256")
    return (x, y, 1)


def private_scalar(private):
    if len(private) != 32:
        raise ValueError("P-256 private key must be 32 bytes")
    d = int.from_bytes(private, "big")
    if not 0 < d < N:
        raise ValueError("P-256 private scalar out of range")
    return d


def _encode(point):
    x, y = affine(point)
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def public(private):
    """64-byte x||y of [d]G."""
    return _encode(multiply(private_scalar(private), G))


def shared(private, peer_public):
    """ECDH: the 32-byte x-coordinate of [d]Q; ValueError for a bad key or the identity."""
    d = private_scalar(private)
    return _encode(multiply(d, decode_point(peer_public)))[:32]


def _nonces(d, digest, hmac_sha256):
    """RFC 6979 §3.2 candidate nonces k for qlen = hlen = 256 (HMAC-SHA256)."""
    x = d.to_bytes(32, "big")
    h = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")     # bits2octets
    v = b"\x01" * 32
    k = hmac_sha256(b"\x00" * 32, v + b"\x00" + x + h)
    v = hmac_sha256(k, v)
    k = hmac_sha256(k, v + b"\x01" + x + h)
    v = hmac_sha256(k, v)
    while True:
        v = hmac_sha256(k, v)
        candidate = int.from_bytes(v, "big")
        if 0 < candidate < N:
            yield candidate
        k = hmac_sha256(k, v + b"\x00")
        v = hmac_sha256(k, v)


def sign_digest(private, digest, hmac_sha256):
    """ECDSA over a 32-byte SHA-256 digest with the RFC 6979 nonce; 64-byte r||s."""
    d = private_scalar(private)
    if len(digest) != 32:
        raise ValueError("ECDSA P-256 digest must be 32 bytes")
    e = int.from_bytes(digest, "big")
    for k in _nonces(d, digest, hmac_sha256):
        r = affine(multiply(k, G))[0] % N
        if r == 0:
            continue
        s = pow(k, N - 2, N) * (e + r * d) % N
        if s != 0:
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_digest(public_key, digest, signature):
    """True if ``signature`` (r||s) is valid for ``digest`` under ``public_key``."""
    if len(digest) != 32 or len(signature) != 64:
        return False
    try:
        q = decode_point(public_key)
    except ValueError:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    w = pow(s, N - 2, N)
    e = int.from_bytes(digest, "big")
    point = _combined(e * w % N, r * w % N, q)
    if point[2] == 0:
        return False
    return affine(point)[0] % N == r
