"""SHA-512 (FIPS 180-4 §6.4) for Ed25519, where ``hashlib`` has no sha512.

One-shot ``sha512(data) -> 64 bytes``. Words are Python integers masked to 64 bits. The
round constants are the first 64 bits of the fractional parts of the cube roots of the
first 80 primes, computed here with integer cube roots so that no table can be mistyped.
"""

_MASK = 0xFFFFFFFFFFFFFFFF


def _primes(count):
    found = []
    n = 2
    while len(found) < count:
        if all(n % p for p in found if p * p <= n):
            found.append(n)
        n += 1
    return found


def _iroot(n, k):
    """floor(n ** (1/k)) for integers, by Newton's method (no floats)."""
    x = 1 << ((len(bin(n)) - 2 + k - 1) // k)      # MicroPython ints have no bit_length
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _fraction_bits(prime, k):
    """The first 64 bits of the fractional part of prime ** (1/k)."""
    return _iroot(prime << (64 * k), k) & _MASK


_PRIMES = _primes(80)
_K = tuple(_fraction_bits(p, 3) for p in _PRIMES)
_H0 = tuple(_fraction_bits(p, 2) for p in _PRIMES[:8])


def _compress(state, block):
    w = [int.from_bytes(block[i:i + 8], "big") for i in range(0, 128, 8)]
    for t in range(16, 80):
        x = w[t - 15]
        y = w[t - 2]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        s1 = ((y >> 19) | (y << 45)) ^ ((y >> 61) | (y << 3)) ^ (y >> 6)
        w.append((w[t - 16] + (s0 & _MASK) + w[t - 7] + (s1 & _MASK)) & _MASK)
    a, b, c, d, e, f, g, h = state
    for t in range(80):
        s1 = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
        ch = (e & f) ^ (~e & g)
        t1 = h + (s1 & _MASK) + ch + _K[t] + w[t]
        s0 = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
        t2 = (s0 & _MASK) + ((a & b) ^ (a & c) ^ (b & c))
        h = g
        g = f
        f = e
        e = (d + t1) & _MASK
        d = c
        c = b
        b = a
        a = (t1 + t2) & _MASK
    return [(x + y) & _MASK for x, y in zip(state, (a, b, c, d, e, f, g, h))]


def sha512(data):
    """SHA-512 of ``data`` (bytes-like), as 64 bytes."""
    data = bytes(data)
    length = len(data)
    padded = data + b"\x80" + b"\x00" * ((111 - length) % 128) + (length * 8).to_bytes(16, "big")
    state = list(_H0)
    for i in range(0, len(padded), 128):
        state = _compress(state, padded[i:i + 128])
    return b"".join(x.to_bytes(8, "big") for x in state)
