"""Byte-level mutation of valid encodings, shared by the parser fuzzers.

Flips, truncations, insertions, deletions and CBOR head bytes chosen to hit edge cases
(length boundaries, indefinite lengths, floats, simple values, tags).
"""

from hypothesis import strategies as st

# CBOR initial bytes at the edges of each major type's argument encodings.
INTERESTING = [0x00, 0x17, 0x18, 0x19, 0x1B, 0x1C, 0x1F, 0x20, 0x37, 0x38, 0x40, 0x41,
               0x58, 0x5F, 0x60, 0x7F, 0x80, 0x81, 0x9F, 0xA0, 0xA1, 0xBF, 0xC0, 0xD8,
               0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFB, 0xFF]


def mutate_bytes(draw, seed, max_chunk=8):
    """Apply one to four random edits to ``seed`` (inside a @st.composite strategy)."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 4))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == 1:
            del data[at:]
        elif op == 2:
            data[at:at] = draw(st.binary(min_size=1, max_size=max_chunk))
        elif op == 3 and data:
            del data[at:at + draw(st.integers(1, max_chunk))]
        elif op == 4 and data:
            data[at] = draw(st.sampled_from(INTERESTING))
    return bytes(data)
