"""The optional second factor: time-based one-time passwords (RFC 6238) through pyotp.

Defaults are the ones every authenticator app knows: HMAC-SHA-1, 6 digits, 30 s steps
(RFC 6238 section 4 and 5.2). A secret is 160 random bits (RFC 4226 section 4,
R6), kept base32 in the store and shown once, as an ``otpauth://`` URI, when it is made.
A code is accepted for its own step and the one before or after (a phone's clock a little
off, a code typed as it changes), and each step only once per account: a code seen on the
screen or on the wire cannot be used again (RFC 6238 section 5.2).
"""

import hashlib
import hmac

import pyotp

DIGITS = 6
STEP_S = 30
DRIFT_STEPS = 1
SECRET_CHARS = 32                  # base32: 160 bits
ISSUER = "pumpsim"


def new_secret():
    return pyotp.random_base32(length=SECRET_CHARS)


def uri(secret, name):
    """The ``otpauth://totp/...`` URI an authenticator app reads (as text or a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=name, issuer_name=ISSUER)


def step_at(at_s, step_s=STEP_S):
    """RFC 6238's T = floor((unix time - T0) / X), with T0 = 0."""
    return int(at_s) // step_s


def code(secret, at_s, digits=DIGITS, digest="sha1", step_s=STEP_S):
    """The code for the time ``at_s`` (RFC 6238 section 4: HOTP of step T)."""
    otp = pyotp.TOTP(secret, digits=digits, digest=getattr(hashlib, digest),
                     interval=step_s)
    return otp.generate_otp(step_at(at_s, step_s))


def matching_step(secret, typed, at_s, last_step=None):
    """The step whose code ``typed`` is, within DRIFT_STEPS of ``at_s`` and after
    ``last_step`` (the newest step accepted before); None when it matches none."""
    typed = "".join((typed or "").split())
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    now = step_at(at_s)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if step < 0 or (last_step is not None and step <= last_step):
            continue
        if hmac.compare_digest(otp.generate_otp(step), typed) and found is None:
            found = step
    return found
