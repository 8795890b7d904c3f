"""Secure channel: the crypto/CBOR seam, EDHOC, record protection, framing."""
