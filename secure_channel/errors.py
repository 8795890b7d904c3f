"""Defined refusals of the secure channel: one exception family, stable integer codes.

Every refusal carries a ``code`` (an int below, stable for audit logs and counters) and a
one-line message. Messages say what was refused, never which internal check failed:
a forged MAC, a wrong credential and a corrupted ciphertext all read the same.
"""

# EDHOC (RFC 9528) refusals.
EDHOC_MALFORMED = 101      # not a well-formed message of the expected kind
EDHOC_STATE = 102          # message or call not allowed in the current state
EDHOC_SUITE = 103          # selected cipher suite refused (error code 2 sent)
EDHOC_VERIFY = 104         # verification failed (MAC, signature, AEAD, key validation)
EDHOC_CREDENTIAL = 105     # credential unknown or unusable with the method and suite
EDHOC_PEER = 106           # the peer sent an EDHOC error message
EDHOC_EAD = 107            # a critical EAD item the application did not accept
EDHOC_CONFIG = 108         # invalid local parameters (caller error)

# Record protection (RFC 8613 style) refusals.
RECORD_MALFORMED = 201     # truncated or undecodable protected message
RECORD_UNKNOWN_ID = 202    # kid does not name this security context
RECORD_REPLAY = 203        # replayed, or older than the replay window
RECORD_AUTH = 204          # AEAD verification failed (forged or corrupted)
RECORD_KEY_UPDATE = 205    # sequence number or message/time budget used up: rekey first
RECORD_STATE = 206         # e.g. a second response to one request
RECORD_CONFIG = 207        # invalid local parameters (caller error)

NAMES = {
    EDHOC_MALFORMED: "EDHOC-MALFORMED",
    EDHOC_STATE: "EDHOC-STATE",
    EDHOC_SUITE: "EDHOC-SUITE",
    EDHOC_VERIFY: "EDHOC-VERIFY",
    EDHOC_CREDENTIAL: "EDHOC-CREDENTIAL",
    EDHOC_PEER: "EDHOC-PEER",
    EDHOC_EAD: "EDHOC-EAD",
    EDHOC_CONFIG: "EDHOC-CONFIG",
    RECORD_MALFORMED: "RECORD-MALFORMED",
    RECORD_UNKNOWN_ID: "RECORD-UNKNOWN-ID",
    RECORD_REPLAY: "RECORD-REPLAY",
    RECORD_AUTH: "RECORD-AUTH",
    RECORD_KEY_UPDATE: "RECORD-KEY-UPDATE",
    RECORD_STATE: "RECORD-STATE",
    RECORD_CONFIG: "RECORD-CONFIG",
}


class SecureChannelError(ValueError):
    """Base of every refusal in ``secure_channel``: ``code`` is one of the constants above,
    ``reason`` the one-line text without the code's name (``str()`` has both)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (NAMES.get(code, str(code)), message))
        self.code = code
        self.reason = message

    @property
    def caller_error(self):
        """True for a refusal of our own parameters (``*_CONFIG``), not of a peer's."""
        return self.code in (EDHOC_CONFIG, RECORD_CONFIG)


class EdhocError(SecureChannelError):
    """An EDHOC session refused a message or a call.

    ``peer_message`` is the EDHOC error message (RFC 9528 §6) to send to the peer, or None
    when none may be sent (e.g. after a received error, or for a caller error). Unless
    ``code`` is EDHOC_STATE or EDHOC_CONFIG, the session is aborted.
    """

    def __init__(self, code, message, peer_message=None):
        super().__init__(code, message)
        self.peer_message = peer_message


class EdhocPeerError(EdhocError):
    """The peer sent an EDHOC error message. ``suites_r`` is set for ERR_CODE 2."""

    def __init__(self, err_code, err_info, suites_r=None):
        super().__init__(EDHOC_PEER, "peer sent EDHOC error %d" % err_code)
        self.err_code = err_code
        self.err_info = err_info
        self.suites_r = suites_r


class RecordError(SecureChannelError):
    """A protected message was refused, or a context refused to protect."""
