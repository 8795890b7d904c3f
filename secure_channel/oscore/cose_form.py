"""An OSCORE message in its uncompressed form, a COSE_Encrypt0 (RFC 8613 §6), and back.

The wire carries the compressed form only (``context``); this mapping is for tools and for
checking against the RFC's examples, so a board does not carry it.
"""

from secure_channel import cose
from secure_channel.errors import RECORD_MALFORMED, RecordError
from secure_channel.oscore import context


def to_cose(option, ciphertext):
    """The uncompressed COSE_Encrypt0 a compressed message stands for (RFC 8613 §6)."""
    piv, kid, kid_context = context.decompress(option)
    unprotected = {}
    if piv is not None:
        unprotected[cose.HDR_PARTIAL_IV] = piv
    if kid is not None:
        unprotected[cose.HDR_KID] = kid
    if kid_context is not None:
        unprotected[cose.HDR_KID_CONTEXT] = kid_context
    return cose.encode_encrypt0(b"", unprotected, ciphertext)


def from_cose(data):
    """Compress an untagged or tagged COSE_Encrypt0 back to (option value, ciphertext)."""
    try:
        protected, _, unprotected, ciphertext = cose.decode_encrypt0(data)
    except cose.CoseError as exc:
        raise RecordError(RECORD_MALFORMED, str(exc))
    allowed = (cose.HDR_PARTIAL_IV, cose.HDR_KID, cose.HDR_KID_CONTEXT)
    if protected or any(label not in allowed for label in unprotected):
        raise RecordError(RECORD_MALFORMED, "COSE object has headers OSCORE cannot carry")
    option = context.compress(unprotected.get(cose.HDR_PARTIAL_IV),
                              unprotected.get(cose.HDR_KID),
                              unprotected.get(cose.HDR_KID_CONTEXT))
    return option, ciphertext
