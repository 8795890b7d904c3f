"""EDHOC (RFC 9528): credentials, cipher suites, key schedule, messages, the handshake."""
