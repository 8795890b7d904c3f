"""OSCORE (RFC 8613): the security context, its replay window, keying from EDHOC."""
