"""Constant-time comparison, on its own so the crypto seam and the pure backend (which the
seam imports) share it without an import cycle."""


def equal(a, b):
    """Compare two byte strings without an early exit on the first difference."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0
