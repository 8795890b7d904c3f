"""EDHOC (RFC 9528) as sans-IO state machines: the Responder, which the pump is, and
what both roles share (the Initiator, a peer's role, is in ``initiator``).

Each side consumes received message bytes and returns an event, and produces the bytes of
its next message; it never reads a clock, sleeps or does I/O. Randomness comes only from
the ``rng`` callable passed in (the HAL RNG): ephemeral keys and, if not given, the 1-byte
connection identifier.

Happy path (method 3, suite 2, credentials by 'kid'; see docs/secure-channel.md)::

    ini = Initiator(cred_i, key_i, rng, method=3, suites=(2,))
    rsp = Responder(cred_r, key_r, rng, methods=(3,), suites=(2,))
    ev1 = rsp.receive_message_1(ini.message_1())      # Message1Received
    ev2 = ini.receive_message_2(rsp.message_2())      # Message2Received(id_cred, ...)
    ini.verify_message_2(store.lookup(ev2.id_cred))
    ev3 = rsp.receive_message_3(ini.message_3())      # Message3Received
    rsp.verify_message_3(store.lookup(ev3.id_cred))
    ini.exporter(0, b"", 16) == rsp.exporter(0, b"", 16)

Every refusal raises ``EdhocError`` with a stable ``code`` and, where RFC 9528 calls for
one, ``peer_message``: the EDHOC error message to send back. Verification failures of any
kind (MAC, signature, AEAD, public key, credential) give the same code and the same peer
message, so neither the peer nor a log reader learns which check failed. A call in the
wrong state raises EDHOC_STATE and leaves the session as it was; any other refusal
aborts the session.
"""

from secure_channel import cose, crypto, numbers
from secure_channel.edhoc import credentials
from secure_channel.edhoc import keys
from secure_channel.edhoc import messages as msgs
from secure_channel.edhoc import suites as edhoc_suites
from secure_channel.errors import (
    EDHOC_CONFIG, EDHOC_CREDENTIAL, EDHOC_EAD, EDHOC_MALFORMED, EDHOC_STATE,
    EDHOC_SUITE, EDHOC_VERIFY, EdhocError, EdhocPeerError,
)

# Protocol states (RFC 9528 Appendix I).
START = "START"
WAIT_M2 = "WAIT_M2"
RCVD_M2 = "RCVD_M2"
VRFD_M2 = "VRFD_M2"
RCVD_M1 = "RCVD_M1"
WAIT_M3 = "WAIT_M3"
RCVD_M3 = "RCVD_M3"
COMPLETED = "COMPLETED"
PERSISTED = "PERSISTED"
ABORTED = "ABORTED"

DIAGNOSTIC = "EDHOC processing failed"   # ERR_INFO of every error 1 we send
_GENERIC_ERROR = msgs.encode_error(msgs.ERR_UNSPECIFIED, DIAGNOSTIC)
_EAD_PADDING = 0


class Message1Received:
    """message_1 accepted: ``method``, ``suite``, ``c_i`` (bytes), ``ead`` [(label, value)]."""

    __slots__ = ("method", "suite", "c_i", "ead")

    def __init__(self, method, suite, c_i, ead):
        self.method = method
        self.suite = suite
        self.c_i = c_i
        self.ead = ead


class Message3Received:
    """message_3 decrypted, not yet verified: look up ``id_cred``, then verify_message_3."""

    __slots__ = ("id_cred", "credential", "ead")

    def __init__(self, id_cred, credential, ead):
        self.id_cred = id_cred
        self.credential = credential
        self.ead = ead


class Session:
    """State shared by both roles: key schedule, transcript, exporter."""

    def __init__(self, credential, private_key, rng, ead_labels):
        if not isinstance(credential, credentials.Credential):
            raise EdhocError(EDHOC_CONFIG, "credential must be a Credential")
        if not isinstance(private_key, (bytes, bytearray)) or len(private_key) != 32:
            raise EdhocError(EDHOC_CONFIG, "private key must be 32 bytes")
        if not callable(rng):
            raise EdhocError(EDHOC_CONFIG, "rng must be callable")
        self.credential = credential
        self._private = bytes(private_key)
        self._rng = rng
        self._ead_labels = tuple(abs(label) for label in ead_labels)
        self.state = START
        self.suite = None
        self.method = None
        self.c_i = None
        self.c_r = None
        self.peer_credential = None
        self._eph = None
        self._g_x = None
        self._g_y = None
        self._g_xy = None
        self._th = None
        self._prk_2e = None
        self._prk_3e2m = None
        self._prk_4e3m = None
        self._prk_out = None
        self._prk_exporter = None
        self._plaintext = None
        self._peer_id_cred = None
        self._peer_tag = None
        self._peer_ead = b""
        self._h_message_1 = None

    # -- state and failure handling --------------------------------------------------------

    def _expect(self, *states):
        if self.state not in states:
            raise EdhocError(EDHOC_STATE, "not allowed in state %s" % self.state)

    def _abort(self, code, why, peer_message=_GENERIC_ERROR):
        self.state = ABORTED
        self._wipe()
        return EdhocError(code, why, peer_message)

    def _fail(self, exc):
        """Turn any refusal while processing peer input into an aborting EdhocError."""
        if isinstance(exc, EdhocError) and self.state == ABORTED:
            return exc
        if isinstance(exc, EdhocError) and exc.code == EDHOC_SUITE:
            self.state = ABORTED
            self._wipe()
            return exc
        if isinstance(exc, EdhocError) and exc.code in (EDHOC_MALFORMED, EDHOC_EAD):
            return self._abort(exc.code, exc.reason)
        return self._abort(EDHOC_VERIFY, "verification failed")

    def _wipe(self):
        self._eph = None
        self._g_xy = None
        self._prk_2e = None
        self._prk_3e2m = None
        self._prk_4e3m = None
        if self.state == ABORTED:
            self._prk_out = None
            self._prk_exporter = None

    def _check_ead(self, ead):
        """Drop padding; refuse critical items whose label the application did not declare."""
        kept = []
        for label, value in ead:
            if label == _EAD_PADDING:
                continue
            if label < 0 and -label not in self._ead_labels:
                raise EdhocError(EDHOC_EAD, "critical EAD item %d not supported" % label)
            kept.append((label, value))
        return kept

    def _encode_ead(self, ead):
        try:
            return msgs.encode_ead(ead)
        except EdhocError as exc:
            raise EdhocError(EDHOC_CONFIG, str(exc))

    def _receive_peer(self, data, what):
        """Decode a one-bstr message, or raise EdhocPeerError for an error message."""
        if msgs.is_error_message(data):
            try:
                err_code, err_info, suites_r = msgs.decode_error(data)
            except EdhocError as exc:
                raise self._abort(exc.code, "malformed error message", None)
            self.state = ABORTED
            self._wipe()
            raise EdhocPeerError(err_code, err_info, suites_r)
        return msgs.decode_bstr_message(data, what)

    def _own_static_dh(self):
        return edhoc_suites.METHODS[self.method][0 if self._is_initiator else 1]

    def _peer_static_dh(self):
        return edhoc_suites.METHODS[self.method][1 if self._is_initiator else 0]

    def _tag_length(self, static_dh):
        return self.suite.mac_length if static_dh else keys.signature_length(self.suite)

    def _check_credential_fits(self, credential, static_dh):
        """A credential's key must match the method and suite it is used with."""
        if not isinstance(credential, credentials.Credential):
            return False
        if self.suite.curve == edhoc_suites.CURVE_P256:
            if credential.key_type != credentials.KEY_P256:
                return False
            return static_dh or len(credential.public_key) == 64
        if static_dh:
            return credential.key_type == credentials.KEY_X25519
        return credential.key_type == credentials.KEY_ED25519

    # -- MAC and Signature_or_MAC (RFC 9528 §5.3.2, §5.4.2) ----------------------------------

    def _signature_or_mac(self, label, prk, prefix, id_cred, th, cred, ead, static_dh):
        context = prefix + id_cred + keys.bstr(th) + cred + ead
        mac_length = self.suite.mac_length if static_dh else keys.HASH_LENGTH
        mac = keys.kdf(prk, label, context, mac_length)
        if static_dh:
            return mac
        to_sign = cose.sig_structure(id_cred, keys.bstr(th) + cred + ead, mac)
        return keys.sign(self.suite, self._private, to_sign)

    def _check_signature_or_mac(self, label, prk, prefix, id_cred, th, credential, ead,
                                received, static_dh):
        context = prefix + id_cred + keys.bstr(th) + credential.value + ead
        mac_length = self.suite.mac_length if static_dh else keys.HASH_LENGTH
        mac = keys.kdf(prk, label, context, mac_length)
        if static_dh:
            return crypto.constant_time_equal(mac, received)
        to_sign = cose.sig_structure(id_cred, keys.bstr(th) + credential.value + ead, mac)
        return keys.verify(self.suite, credential.public_key, to_sign, received)

    def _prk_3e2m_for(self, private, public):
        if not self._responder_static_dh():
            return self._prk_2e
        salt = keys.kdf(self._prk_2e, keys.SALT_3E2M, self._th, keys.HASH_LENGTH)
        return keys.extract(salt, keys.ecdh(self.suite, private, public))

    def _prk_4e3m_for(self, private, public):
        if not self._initiator_static_dh():
            return self._prk_3e2m
        salt = keys.kdf(self._prk_3e2m, keys.SALT_4E3M, self._th, keys.HASH_LENGTH)
        return keys.extract(salt, keys.ecdh(self.suite, private, public))

    def _initiator_static_dh(self):
        return edhoc_suites.METHODS[self.method][0]

    def _responder_static_dh(self):
        return edhoc_suites.METHODS[self.method][1]

    def _aead(self, label_key, label_iv, prk, th):
        key = keys.kdf(prk, label_key, th, self.suite.key_length)
        iv = keys.kdf(prk, label_iv, th, self.suite.iv_length)
        aad = cose.enc_structure(b"", th)
        return key, iv, aad

    def _finish(self, plaintext_3, cred_i):
        self._th = keys.h(keys.bstr(self._th) + plaintext_3 + cred_i)   # TH_4
        self._prk_out = keys.kdf(self._prk_4e3m, keys.PRK_OUT, self._th, keys.HASH_LENGTH)
        self._prk_exporter = keys.exporter_prk(self._prk_out)
        self._eph = None
        self._g_xy = None
        self._prk_2e = None
        self.state = COMPLETED

    # -- application interface after completion ----------------------------------------------

    @property
    def completed(self):
        return self.state in (COMPLETED, PERSISTED)

    def exporter(self, label, context, length):
        """EDHOC_Exporter (RFC 9528 §4.2.1)."""
        self._expect(COMPLETED, PERSISTED)
        if (not isinstance(label, int) or isinstance(label, bool) or label < 0
                or not isinstance(context, (bytes, bytearray))
                or not isinstance(length, int) or not 0 < length <= keys.MAX_EXPAND):
            raise EdhocError(EDHOC_CONFIG, "bad exporter arguments")
        return keys.kdf(self._prk_exporter, label, context, length)

    def key_update(self, context):
        """EDHOC_KeyUpdate (RFC 9528 Appendix H): replace PRK_out; old keys are dropped."""
        self._expect(COMPLETED, PERSISTED)
        if not isinstance(context, (bytes, bytearray)):
            raise EdhocError(EDHOC_CONFIG, "key update context must be bytes")
        self._prk_out = keys.kdf(self._prk_out, keys.KEY_UPDATE, context, keys.HASH_LENGTH)
        self._prk_exporter = keys.exporter_prk(self._prk_out)

    def oscore_parameters(self, key_length=16, salt_length=8):
        """OSCORE inputs (RFC 9528 Appendix A.1): (master secret, master salt, sender ID,
        recipient ID, AEAD alg, hash alg) for this side."""
        self._expect(COMPLETED, PERSISTED)
        secret = self.exporter(0, b"", key_length)
        salt = self.exporter(1, b"", salt_length)
        if self._is_initiator:
            sender, recipient = self.c_r, self.c_i
        else:
            sender, recipient = self.c_i, self.c_r
        return (secret, salt, sender, recipient, self.suite.app_aead_alg,
                self.suite.app_hash_alg)


class Responder(Session):
    """EDHOC Responder.

    ``methods``: methods accepted; ``suites``: suites supported (SUITES_R on error 2).
    ``c_r``: connection identifier bytes (default: 1 byte from ``rng``, never equal to
    C_I). ``by_value``: send CRED_R by value. ``ead_labels`` as for the Initiator.
    """

    _is_initiator = False

    def __init__(self, credential, private_key, rng, methods=(3,), suites=(2,), c_r=None,
                 by_value=False, ead_labels=()):
        Session.__init__(self, credential, private_key, rng, ead_labels)
        self._methods = tuple(methods)
        self._suites = [s for s in suites if edhoc_suites.get(s) is not None]
        if not self._suites or len(self._suites) != len(tuple(suites)):
            raise EdhocError(EDHOC_CONFIG, "suites must be implemented suites")
        if not self._methods or any(m not in edhoc_suites.METHODS for m in self._methods):
            raise EdhocError(EDHOC_CONFIG, "unknown method")
        if c_r is not None and (not isinstance(c_r, (bytes, bytearray)) or len(c_r) > 7):
            raise EdhocError(EDHOC_CONFIG, "C_R must be at most 7 bytes")
        self.c_r = None if c_r is None else bytes(c_r)
        self._by_value = by_value
        self._id_cred = credential.id_cred(by_value)

    def _suite_error(self, suites_i):
        supported = [s for s in suites_i if s in self._suites]
        suites_r = supported[:1] if supported else self._suites
        message = msgs.encode_error(msgs.ERR_WRONG_SUITE,
                                    suites_r[0] if len(suites_r) == 1 else suites_r)
        return EdhocError(EDHOC_SUITE, "selected cipher suite refused", message)

    def receive_message_1(self, data):
        """Process message_1 (RFC 9528 §5.2.3); returns Message1Received."""
        self._expect(START)
        try:
            method, suites_i, g_x, c_i, ead = msgs.decode_message_1(data)
            if method not in self._methods:
                raise EdhocError(EDHOC_MALFORMED, "method not accepted")
            supported = [s for s in suites_i if s in self._suites]
            if not supported or supported[0] != suites_i[-1]:
                raise self._suite_error(suites_i)
            suite = edhoc_suites.get(suites_i[-1])
            if len(g_x) != 32 or len(c_i) > 7:
                raise EdhocError(EDHOC_MALFORMED, "G_X or C_I has the wrong length")
            self.method = method
            self.suite = suite
            if not self._check_credential_fits(self.credential, self._responder_static_dh()):
                raise EdhocError(EDHOC_CREDENTIAL, "own credential does not fit")
            ead_kept = self._check_ead(ead)
            self._eph, self._g_y = keys.ephemeral_keypair(suite, self._rng)
            self._g_xy = keys.ecdh(suite, self._eph, g_x)
            if self.c_r is None:
                self.c_r = random_identifier(self._rng, c_i)
            elif self.c_r == c_i:
                raise EdhocError(EDHOC_MALFORMED, "C_I equals our C_R")
        except ValueError as exc:
            raise self._fail(exc)
        self.c_i = c_i
        self._g_x = g_x
        self._h_message_1 = keys.h(bytes(data))
        self.state = RCVD_M1
        return Message1Received(method, suite.value, c_i, ead_kept)

    def message_2(self, ead=()):
        """Compose message_2 (RFC 9528 §5.3.2)."""
        self._expect(RCVD_M1)
        ead_2 = self._encode_ead(ead)
        static_dh = self._responder_static_dh()
        self._th = keys.h(keys.bstr(self._g_y) + keys.bstr(self._h_message_1))   # TH_2
        self._prk_2e = keys.extract(self._th, self._g_xy)
        try:
            self._prk_3e2m = self._prk_3e2m_for(self._private, self._g_x)
        except ValueError:
            raise self._abort(EDHOC_VERIFY, "message_2 not composed")
        c_r = msgs.encode_identifier(self.c_r)
        cred_r = self.credential.value
        tag = self._signature_or_mac(keys.MAC_2, self._prk_3e2m, c_r, self._id_cred,
                                     self._th, cred_r, ead_2, static_dh)
        plaintext = msgs.encode_plaintext_2(self.c_r, self._id_cred, tag, ead_2)
        if len(plaintext) > keys.MAX_EXPAND:
            raise self._abort(EDHOC_CONFIG, "PLAINTEXT_2 too long", None)
        stream = keys.kdf(self._prk_2e, keys.KEYSTREAM_2, self._th, len(plaintext))
        ciphertext = bytes(a ^ b for a, b in zip(plaintext, stream))
        self._th = keys.h(keys.bstr(self._th) + plaintext + cred_r)   # TH_3
        self.state = WAIT_M3
        return msgs.encode_bstr_message(self._g_y + ciphertext)

    def receive_message_3(self, data):
        """Decrypt message_3 (or raise EdhocPeerError); returns Message3Received.

        The application looks up the credential and calls ``verify_message_3``.
        """
        self._expect(WAIT_M3)
        try:
            ciphertext = self._receive_peer(data, "message_3")
            key, iv, aad = self._aead(keys.K_3, keys.IV_3, self._prk_3e2m, self._th)
            plaintext = crypto.aes_ccm_decrypt(key, iv, ciphertext, aad, self.suite.aead_tag)
            tag_length = self._tag_length(self._initiator_static_dh())
            header, id_cred, tag, ead = msgs.decode_plaintext_3(plaintext, tag_length)
            ead_kept = self._check_ead(ead)
            by_value = credentials.from_id_cred(header)
        except EdhocPeerError:
            raise
        except ValueError as exc:
            raise self._fail(exc)
        self._plaintext = plaintext
        self._peer_id_cred = id_cred
        self._peer_tag = tag
        self._peer_ead = ead_bytes(plaintext, ead)
        self.state = RCVD_M3
        return Message3Received(header, by_value, ead_kept)

    def verify_message_3(self, credential):
        """Verify Signature_or_MAC_3 against CRED_I; completes the session."""
        self._expect(RCVD_M3)
        static_dh = self._initiator_static_dh()
        try:
            if credential is None or not self._check_credential_fits(credential, static_dh):
                raise ValueError("credential unusable")
            self._prk_4e3m = self._prk_4e3m_for(self._eph, credential.public_key)
            ok = self._check_signature_or_mac(
                keys.MAC_3, self._prk_4e3m, b"", self._peer_id_cred, self._th, credential,
                self._peer_ead, self._peer_tag, static_dh)
            if not ok:
                raise ValueError("MAC_3 or signature mismatch")
        except ValueError:
            code = EDHOC_CREDENTIAL if credential is None else EDHOC_VERIFY
            raise self._abort(code, "message_3 not verified")
        self.peer_credential = credential
        plaintext = self._plaintext
        self._plaintext = None
        self._finish(plaintext, credential.value)

    def message_4(self, ead=()):
        """Compose the optional message_4 (RFC 9528 §5.5.2)."""
        self._expect(COMPLETED)
        ead_4 = self._encode_ead(ead)
        key, iv, aad = self._aead(keys.K_4, keys.IV_4, self._prk_4e3m, self._th)
        ciphertext = crypto.aes_ccm_encrypt(key, iv, ead_4, aad, self.suite.aead_tag)
        self.state = PERSISTED
        return msgs.encode_bstr_message(ciphertext)


def random_identifier(rng, avoid):
    """A 1-byte connection identifier with a 1-byte encoding (an int in -24..23)."""
    return numbers.allocate_identifier(rng, (avoid,))


def ead_bytes(plaintext, ead):
    """The encoded EAD tail of a plaintext (as received, for MAC and signature input)."""
    if not ead:
        return b""
    size = len(msgs.encode_ead(ead))
    return plaintext[len(plaintext) - size:]
