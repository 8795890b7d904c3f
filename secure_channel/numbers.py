"""Numbers every layer shares: COSE algorithms, the compact connection identifiers, and
how identifiers print. One place, so no layer builds its own copy.
"""

from secure_channel import crypto

# COSE algorithms (IANA "COSE Algorithms") used by EDHOC suite 2 and OSCORE.
AES_CCM_16_64_128 = 10
SHA_256 = -16
ES256 = -7

# The 48 one-byte connection identifiers (C_I, C_R) and kids whose CBOR encoding is one
# byte too: the integers -24..23 (RFC 9528 §3.3.2), i.e. 0x00..0x17 and 0x20..0x37.
IDENTIFIERS = [bytes((v,)) for v in range(0x18)] + [bytes((v,)) for v in range(0x20, 0x38)]


def allocate_identifier(rng, taken=()):
    """A random one-byte identifier not in ``taken`` (any container), or None when all
    48 are taken. Starts at a random place so identifiers do not reveal an order."""
    start = crypto.random_bytes(rng, 1)[0] % len(IDENTIFIERS)
    for offset in range(len(IDENTIFIERS)):
        candidate = IDENTIFIERS[(start + offset) % len(IDENTIFIERS)]
        if candidate not in taken:
            return candidate
    return None


def hex_id(data):
    """An identifier or kid for logs and screens: hex, or '' for the empty one."""
    return "".join("%02x" % b for b in data) if data else "''"
