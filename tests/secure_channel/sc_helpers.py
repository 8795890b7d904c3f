"""Shared fixtures for the secure-channel tests: scripted RNGs and the trace credentials."""

import os

from rfc9529_vectors import TRACE_1, TRACE_2
from secure_channel.edhoc import credentials
from secure_channel.edhoc import handshake as edhoc
from secure_channel.edhoc import initiator


def scripted_rng(*chunks):
    """An RNG that returns the given byte strings in order (the trace's ephemeral keys)."""
    queue = list(chunks)

    def rng(n):
        chunk = queue.pop(0)
        assert len(chunk) == n, "RNG asked for %d bytes, script has %d" % (n, len(chunk))
        return chunk
    return rng


def os_rng(n):
    return os.urandom(n)


CCS_I = credentials.ccs(TRACE_2["CRED_I_item"])
CCS_R = credentials.ccs(TRACE_2["CRED_R_item"])
KEY_I = TRACE_2["SK_I"]
KEY_R = TRACE_2["SK_R"]
X509_I = credentials.x509(TRACE_1["CRED_I"])
X509_R = credentials.x509(TRACE_1["CRED_R"])
STORE = credentials.CredentialStore([CCS_I, CCS_R, X509_I, X509_R])


def handshake(ini, rsp, store=STORE, ead_1=(), ead_2=(), ead_3=()):
    """Run messages 1-3 between two sessions of ours; returns the three messages."""
    m1 = ini.message_1(ead_1)
    rsp.receive_message_1(m1)
    m2 = rsp.message_2(ead_2)
    ev2 = ini.receive_message_2(m2)
    ini.verify_message_2(store.lookup(ev2.id_cred, ev2.credential))
    m3 = ini.message_3(ead_3)
    ev3 = rsp.receive_message_3(m3)
    rsp.verify_message_3(store.lookup(ev3.id_cred, ev3.credential))
    return m1, m2, m3


_kids = [0]


def _next_kid():
    """Distinct 1-byte kids: random ones collided between the two sides 1 time in 256."""
    _kids[0] = (_kids[0] + 1) % 256
    return bytes([_kids[0]])


def p256_pair(rng=os_rng):
    """A fresh static P-256 key and its CCS credential (kid 1 byte)."""
    from secure_channel import cbor, crypto
    while True:
        private = rng(32)
        if crypto.p256_valid_private(private):
            break
    public = crypto.p256_public(private)
    kid = _next_kid()
    ccs = cbor.encode({2: "test", 8: {1: {1: 2, 2: kid, -1: 1, -2: public[:32],
                                           -3: public[32:]}}})
    return private, credentials.ccs(ccs)


def okp_pair(curve, rng=os_rng):
    """A fresh X25519 (crv 4) or Ed25519 (crv 6) key and its CCS credential."""
    from secure_channel import cbor, crypto
    private = rng(32)
    public = crypto.x25519_public(private) if curve == 4 else crypto.ed25519_public(private)
    ccs = cbor.encode({2: "test", 8: {1: {1: 1, 2: _next_kid(), -1: curve, -2: public}}})
    return private, credentials.ccs(ccs)


def new_pair(method, suite, by_value=False):
    """Initiator and Responder of ours with fresh keys fitting ``method`` and ``suite``."""
    from secure_channel.edhoc import suites as edhoc_suites
    i_static, r_static = edhoc_suites.METHODS[method]
    curve = edhoc_suites.get(suite).curve

    def key(static):
        if curve == edhoc_suites.CURVE_P256:
            return p256_pair()
        return okp_pair(4 if static else 6)

    key_i, cred_i = key(i_static)
    key_r, cred_r = key(r_static)
    store = credentials.CredentialStore([cred_i, cred_r])
    ini = initiator.Initiator(cred_i, key_i, os_rng, method=method, suites=(suite,),
                          by_value=by_value)
    rsp = edhoc.Responder(cred_r, key_r, os_rng, methods=(method,), suites=(suite,),
                          by_value=by_value)
    return ini, rsp, store
