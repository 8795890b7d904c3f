"""EDHOC cipher suites (RFC 9528 §3.6, §10.2) implemented here: 0, 1, 2 and 3.

All four use SHA-256 and AES-CCM; they differ in the curve (X25519/Ed25519 for 0 and 1,
P-256/ES256 for 2 and 3) and in the EDHOC MAC/tag length (8 for 0 and 2, 16 for 1 and 3).
The application AEAD is always AES-CCM-16-64-128 (COSE alg 10) with SHA-256.
"""

from secure_channel import numbers

CURVE_X25519 = 1
CURVE_P256 = 2

SIG_EDDSA = 1
SIG_ES256 = 2

COSE_ALG_AES_CCM_16_64_128 = numbers.AES_CCM_16_64_128
COSE_ALG_AES_CCM_16_128_128 = 30
COSE_ALG_SHA_256 = -16


class Suite:
    """Parameters of one cipher suite (immutable by convention)."""

    __slots__ = ("value", "curve", "signature", "mac_length", "aead_alg", "aead_tag",
                 "key_length", "iv_length", "hash_length", "app_aead_alg", "app_hash_alg")

    def __init__(self, value, curve, signature, mac_length, aead_alg, aead_tag):
        self.value = value
        self.curve = curve
        self.signature = signature
        self.mac_length = mac_length
        self.aead_alg = aead_alg
        self.aead_tag = aead_tag
        self.key_length = 16
        self.iv_length = 13
        self.hash_length = 32
        self.app_aead_alg = COSE_ALG_AES_CCM_16_64_128
        self.app_hash_alg = COSE_ALG_SHA_256

    def __repr__(self):
        return "Suite(%d)" % self.value


SUITES = {
    0: Suite(0, CURVE_X25519, SIG_EDDSA, 8, COSE_ALG_AES_CCM_16_64_128, 8),
    1: Suite(1, CURVE_X25519, SIG_EDDSA, 16, COSE_ALG_AES_CCM_16_128_128, 16),
    2: Suite(2, CURVE_P256, SIG_ES256, 8, COSE_ALG_AES_CCM_16_64_128, 8),
    3: Suite(3, CURVE_P256, SIG_ES256, 16, COSE_ALG_AES_CCM_16_128_128, 16),
}

# Authentication methods (RFC 9528 §3.2): (initiator uses static DH, responder uses static DH).
METHODS = {
    0: (False, False),
    1: (False, True),
    2: (True, False),
    3: (True, True),
}


def get(value):
    """The Suite for ``value``, or None if not implemented."""
    return SUITES.get(value)
