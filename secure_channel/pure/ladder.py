"""Scalar multiplication shared by the curves (``p256``, ``ed25519``), each passing its
own point arithmetic: ``add``, ``double`` and a masked ``cswap``.

``ladder`` is for secret scalars: a Montgomery ladder of a fixed number of steps with
swaps by masking, so the same operations run whatever the bits (what Python big integers
still reveal is in docs/pure-crypto.md). ``combined`` (u*G + v*Q) is for verification,
where the scalars are public: Shamir's trick, branching freely.
"""


def ladder(k, point, top, identity, add, double, cswap):
    """[k]point, stepping bits ``top`` down to 0 (the caller makes bit ``top`` of k set,
    so the number of steps never depends on k)."""
    r0, r1 = identity, point
    swap = 0
    for i in range(top, -1, -1):
        bit = (k >> i) & 1
        r0, r1 = cswap(swap ^ bit, r0, r1)
        swap = bit
        r1 = add(r0, r1)
        r0 = double(r0)
    r0, r1 = cswap(swap, r0, r1)
    return r0


def top_bit(n):
    """Index of the highest set bit of 0 <= n < 2^256, -1 for 0 (MicroPython ints have
    no bit_length)."""
    i = 255
    while i >= 0 and not (n >> i) & 1:
        i -= 1
    return i


def combined(u, v, g, q, identity, add, double):
    """u*g + v*q for public scalars."""
    table = (identity, g, q, add(g, q))
    r = identity
    for i in range(top_bit(u | v), -1, -1):
        r = double(r)
        index = ((u >> i) & 1) | ((v >> i) & 1) << 1
        if index:
            r = add(r, table[index])
    return r
