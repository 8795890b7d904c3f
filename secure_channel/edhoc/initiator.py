"""The EDHOC Initiator (RFC 9528): the role of a peer that opens a session with the pump.

The pump only ever responds, so a board does not carry this module (``handshake`` holds
the Responder and what both roles share; its docstring shows a whole handshake).
"""

from secure_channel import crypto
from secure_channel.edhoc import credentials
from secure_channel.edhoc import keys
from secure_channel.edhoc import messages as msgs
from secure_channel.edhoc import suites as edhoc_suites
from secure_channel.edhoc.handshake import (
    COMPLETED, PERSISTED, RCVD_M2, START, VRFD_M2, WAIT_M2, Session, ead_bytes,
    random_identifier,
)
from secure_channel.errors import (
    EDHOC_CONFIG, EDHOC_CREDENTIAL, EDHOC_MALFORMED, EDHOC_VERIFY, EdhocError,
    EdhocPeerError,
)


class Message2Received:
    """message_2 decrypted, not yet verified: look up ``id_cred``, then call verify_message_2.

    ``credential`` is the (untrusted) credential if the peer sent it by value, else None.
    """

    __slots__ = ("c_r", "id_cred", "credential", "ead")

    def __init__(self, c_r, id_cred, credential, ead):
        self.c_r = c_r
        self.id_cred = id_cred
        self.credential = credential
        self.ead = ead


class Message4Received:
    """message_4 verified (key confirmation); ``ead`` holds EAD_4."""

    __slots__ = ("ead",)

    def __init__(self, ead):
        self.ead = ead


def select_suite(own_preference, suites_r):
    """After error 2: our most preferred suite that the peer listed in SUITES_R, or None."""
    for suite in own_preference:
        if suite in suites_r and edhoc_suites.get(suite) is not None:
            return suite
    return None



class Initiator(Session):
    """EDHOC Initiator.

    ``credential``/``private_key``: own CRED_I and its private key (signature key for
    methods 0 and 1, static DH key for 2 and 3). ``suites``: own suites in order of
    preference (RFC 9528 §5.2.2); ``selected_suite`` the one to use now (default: the most
    preferred implemented one; after error 2 use ``select_suite``). ``c_i``: connection
    identifier bytes (default: 1 byte from ``rng``). ``by_value``: send CRED_I by value.
    ``ead_labels``: EAD labels the application processes (others, if critical, abort).
    """

    _is_initiator = True

    def __init__(self, credential, private_key, rng, method=3, suites=(2,),
                 selected_suite=None, c_i=None, by_value=False, ead_labels=()):
        Session.__init__(self, credential, private_key, rng, ead_labels)
        if method not in edhoc_suites.METHODS:
            raise EdhocError(EDHOC_CONFIG, "unknown method")
        suites = list(suites)
        if not suites or len(suites) > msgs.MAX_SUITES:
            raise EdhocError(EDHOC_CONFIG, "suites must list 1 to 16 suites")
        if selected_suite is None:
            for value in suites:
                if edhoc_suites.get(value) is not None:
                    selected_suite = value
                    break
        if selected_suite not in suites or edhoc_suites.get(selected_suite) is None:
            raise EdhocError(EDHOC_CONFIG, "selected suite not implemented or not listed")
        self.method = method
        self.suite = edhoc_suites.get(selected_suite)
        # SUITES_I: every suite preferred to the selected one, then the selected one.
        self._suites_i = suites[:suites.index(selected_suite) + 1]
        if c_i is not None and (not isinstance(c_i, (bytes, bytearray)) or len(c_i) > 7):
            raise EdhocError(EDHOC_CONFIG, "C_I must be at most 7 bytes")
        self.c_i = None if c_i is None else bytes(c_i)
        self._id_cred = credential.id_cred(by_value)
        if not self._check_credential_fits(credential, self._initiator_static_dh()):
            raise EdhocError(EDHOC_CONFIG, "credential does not fit method and suite")
        self._message_1 = None

    def message_1(self, ead=()):
        """Compose message_1 (RFC 9528 §5.2.2)."""
        self._expect(START)
        ead_1 = self._encode_ead(ead)
        try:
            self._eph, self._g_x = keys.ephemeral_keypair(self.suite, self._rng)
            if self.c_i is None:
                self.c_i = random_identifier(self._rng, None)
        except ValueError as exc:
            raise EdhocError(EDHOC_CONFIG, "ephemeral key: %s" % exc)
        message = msgs.encode_message_1(self.method, self._suites_i, self._g_x, self.c_i,
                                        ead_1)
        self._h_message_1 = keys.h(message)
        self.state = WAIT_M2
        return message

    def receive_message_2(self, data):
        """Decrypt message_2 (or raise EdhocPeerError for an error message).

        Returns Message2Received; the application looks up the credential and calls
        ``verify_message_2``.
        """
        self._expect(WAIT_M2)
        try:
            payload = self._receive_peer(data, "message_2")
            if len(payload) < 33:
                raise EdhocError(EDHOC_MALFORMED, "G_Y_CIPHERTEXT_2 too short")
            self._g_y = payload[:32]
            ciphertext = payload[32:]
            if len(ciphertext) > keys.MAX_EXPAND:
                raise EdhocError(EDHOC_MALFORMED, "CIPHERTEXT_2 too long")
            self._g_xy = keys.ecdh(self.suite, self._eph, self._g_y)
            self._th = keys.h(keys.bstr(self._g_y) + keys.bstr(self._h_message_1))   # TH_2
            self._prk_2e = keys.extract(self._th, self._g_xy)
            stream = keys.kdf(self._prk_2e, keys.KEYSTREAM_2, self._th, len(ciphertext))
            plaintext = bytes(a ^ b for a, b in zip(ciphertext, stream))
            tag_length = self._tag_length(self._responder_static_dh())
            c_r, header, id_cred, tag, ead = msgs.decode_plaintext_2(plaintext, tag_length)
            if c_r == self.c_i:
                raise EdhocError(EDHOC_MALFORMED, "C_R equals C_I")
            ead_kept = self._check_ead(ead)
            by_value = credentials.from_id_cred(header)
        except EdhocPeerError:
            raise
        except ValueError as exc:
            raise self._fail(exc)
        self.c_r = c_r
        self._plaintext = plaintext
        self._peer_id_cred = id_cred
        self._peer_tag = tag
        self._peer_ead = ead_bytes(plaintext, ead)
        self.state = RCVD_M2
        return Message2Received(c_r, header, by_value, ead_kept)

    def verify_message_2(self, credential):
        """Verify Signature_or_MAC_2 against CRED_R as the application looked it up.

        ``credential`` None (unknown) fails like a bad MAC.
        """
        self._expect(RCVD_M2)
        static_dh = self._responder_static_dh()
        try:
            if credential is None or not self._check_credential_fits(credential, static_dh):
                raise ValueError("credential unusable")
            self._prk_3e2m = self._prk_3e2m_for(self._eph, credential.public_key)
            ok = self._check_signature_or_mac(
                keys.MAC_2, self._prk_3e2m, msgs.encode_identifier(self.c_r),
                self._peer_id_cred, self._th, credential, self._peer_ead,
                self._peer_tag, static_dh)
            if not ok:
                raise ValueError("MAC_2 or signature mismatch")
        except ValueError:
            code = EDHOC_CREDENTIAL if credential is None else EDHOC_VERIFY
            raise self._abort(code, "message_2 not verified")
        self.peer_credential = credential
        self._th = keys.h(keys.bstr(self._th) + self._plaintext + credential.value)   # TH_3
        self._plaintext = None
        self.state = VRFD_M2

    def message_3(self, ead=()):
        """Compose message_3 (RFC 9528 §5.4.2); afterwards the exporter is available."""
        self._expect(VRFD_M2)
        ead_3 = self._encode_ead(ead)
        static_dh = self._initiator_static_dh()
        try:
            self._prk_4e3m = self._prk_4e3m_for(self._private, self._g_y)
        except ValueError:
            raise self._abort(EDHOC_VERIFY, "message_3 not composed")
        cred_i = self.credential.value
        tag = self._signature_or_mac(keys.MAC_3, self._prk_4e3m, b"", self._id_cred,
                                     self._th, cred_i, ead_3, static_dh)
        plaintext = msgs.encode_plaintext_3(self._id_cred, tag, ead_3)
        key, iv, aad = self._aead(keys.K_3, keys.IV_3, self._prk_3e2m, self._th)
        ciphertext = crypto.aes_ccm_encrypt(key, iv, plaintext, aad, self.suite.aead_tag)
        self._finish(plaintext, cred_i)
        return msgs.encode_bstr_message(ciphertext)

    def receive_message_4(self, data):
        """Verify the optional message_4 (RFC 9528 §5.5); returns Message4Received."""
        self._expect(COMPLETED)
        try:
            ciphertext = self._receive_peer(data, "message_4")
            key, iv, aad = self._aead(keys.K_4, keys.IV_4, self._prk_4e3m, self._th)
            plaintext = crypto.aes_ccm_decrypt(key, iv, ciphertext, aad, self.suite.aead_tag)
            ead = self._check_ead(msgs.decode_plaintext_4(plaintext))
        except EdhocPeerError:
            raise
        except ValueError as exc:
            raise self._fail(exc)
        self.state = PERSISTED
        return Message4Received(ead)

    def confirm(self):
        """Record key confirmation by an application message from the Responder."""
        self._expect(COMPLETED, PERSISTED)
        self.state = PERSISTED
