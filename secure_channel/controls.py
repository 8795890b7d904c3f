"""The secure channel's security controls, each with a stable ID, and the refusals that
show one at work.

The pump's safety interlocks have IDs (``IL-...``, ``pump.hazards``); the security
controls that stand in front of them get IDs here (``SC-...``), so an attack that was
stopped can name what stopped it and the regulatory evidence can link every control to
its code and tests. ``control_of(name)`` maps the stable name of a refusal (a session
refusal such as ``RECORD-REPLAY``, a protocol error such as ``forbidden``, an image
refusal such as ``revoked-key``, a gateway's security event such as ``clock step
refused``, a staging refusal naming ``IL-UPDATE-IMAGE``) to the control that made it. Data only: it runs on
MicroPython like the rest of the seam.
"""

# ID: (what it does, where it lives)
CONTROLS = {
    "SC-EDHOC-AUTH": ("mutual authentication of every peer with EDHOC (RFC 9528) against "
                      "the pump's trust list; an unknown credential gets no session",
                      "secure_channel/sessions/manager.py"),
    "SC-OSCORE-AEAD": ("every request and response is encrypted and authenticated with "
                       "OSCORE (RFC 8613, AES-CCM-16-64-128); a modified or forged message "
                       "fails its tag", "secure_channel/coap/protect.py"),
    "SC-OSCORE-REPLAY": ("the OSCORE replay window: a recorded request sent again is "
                         "refused before it is decrypted", "secure_channel/oscore/replay.py"),
    "SC-ECHO-FRESH": ("a command runs only with a fresh Echo (RFC 9175): one held back on "
                      "the way and released later does not act late",
                      "secure_channel/sessions/manager.py"),
    "SC-UNPROTECTED-REFUSED": ("a request for a pump resource without OSCORE is refused",
                               "secure_channel/sessions/manager.py"),
    "SC-SESSION-BACKOFF": ("failed handshakes and forged requests are refused for a "
                           "doubling delay, before any curve or AEAD operation",
                           "secure_channel/sessions/backoff.py"),
    "SC-ROLE-MATRIX": ("the authenticated role decides which commands a peer may send "
                       "(a gateway cannot bolus or change settings)",
                       "secure_channel/protocol/roles.py"),
    "SC-REMOTE-BOLUS-OFF": ("remote bolus is off unless enabled on the pump",
                            "secure_channel/protocol/dispatch.py"),
    "SC-CONFIRM-ON-PUMP": ("a remote bolus or an update's swap waits for the patient's "
                           "press on the pump", "secure_channel/protocol/confirm.py"),
    "SC-SCHEMA": ("every message is validated against one declared CBOR schema before it "
                  "reaches the pump", "secure_channel/protocol/schema.py"),
    "SC-IMAGE-SIGNATURE": ("an image runs only with a valid signature by a provisioned, "
                           "unrevoked key, and an intact hash (MCUboot format)",
                           "bootloader/boot.py"),
    "SC-IMAGE-ROLLBACK": ("an image below the OTP security counter is refused",
                          "bootloader/boot.py"),
    "SC-LOG-CHAIN": ("the audit log is hash-chained and MAC'ed; the gateway checks the "
                     "chain of every page", "pump/audit_log.py"),
    "SC-CLOCK-BOUND": ("the gateway refuses to step the pump's clock by more than its "
                       "bound; interlocks run on monotonic ticks",
                       "sim/gateway/service.py"),
    "SC-PIN-LOCKOUT": ("PIN guesses on the pump's buttons cost a doubling delay, kept in "
                       "flash across power cuts", "pump/pin.py"),
}

# The stable name of a refusal -> the control that made it.
_BY_NAME = {
    "EDHOC-VERIFY": "SC-EDHOC-AUTH", "EDHOC-CREDENTIAL": "SC-EDHOC-AUTH",
    "EDHOC-MALFORMED": "SC-EDHOC-AUTH", "EDHOC-STATE": "SC-EDHOC-AUTH",
    "EDHOC-SUITE": "SC-EDHOC-AUTH", "EDHOC-EAD": "SC-EDHOC-AUTH",
    "SESSION-UNKNOWN": "SC-EDHOC-AUTH", "RECORD-UNKNOWN-ID": "SC-EDHOC-AUTH",
    "SESSION-TIMEOUT": "SC-EDHOC-AUTH",
    "RECORD-AUTH": "SC-OSCORE-AEAD", "RECORD-MALFORMED": "SC-OSCORE-AEAD",
    "RECORD-REPLAY": "SC-OSCORE-REPLAY",
    "SESSION-STALE": "SC-ECHO-FRESH",
    "SESSION-UNPROTECTED": "SC-UNPROTECTED-REFUSED",
    "SESSION-BACKOFF": "SC-SESSION-BACKOFF", "SESSION-BUSY": "SC-SESSION-BACKOFF",
    "SESSION-MALFORMED": "SC-SCHEMA",
    "forbidden": "SC-ROLE-MATRIX",
    "remote-bolus-off": "SC-REMOTE-BOLUS-OFF",
    "confirm-expired": "SC-CONFIRM-ON-PUMP", "confirm-busy": "SC-CONFIRM-ON-PUMP",
    "malformed": "SC-SCHEMA", "unknown-type": "SC-SCHEMA", "bad-field-type": "SC-SCHEMA",
    "out-of-range": "SC-SCHEMA", "missing-field": "SC-SCHEMA", "unknown-field": "SC-SCHEMA",
    "conflict": "SC-SCHEMA", "too-large": "SC-SCHEMA", "bad-method": "SC-SCHEMA",
    "bad-content-format": "SC-SCHEMA", "bad-option": "SC-SCHEMA",
    "not-acceptable": "SC-SCHEMA",
    "PIN-LOCKED": "SC-PIN-LOCKOUT", "PIN-WRONG": "SC-PIN-LOCKOUT",
    # the bootloader's image refusals (bootloader.image.REJECT_NAMES)
    "bad-signature": "SC-IMAGE-SIGNATURE", "hash-mismatch": "SC-IMAGE-SIGNATURE",
    "no-hash": "SC-IMAGE-SIGNATURE", "unsigned": "SC-IMAGE-SIGNATURE",
    "unknown-key": "SC-IMAGE-SIGNATURE", "revoked-key": "SC-IMAGE-SIGNATURE",
    "rollback": "SC-IMAGE-ROLLBACK", "downgrade": "SC-IMAGE-ROLLBACK",
    "no-security-counter": "SC-IMAGE-ROLLBACK",
    # the gateway's security events (sim.gateway.service)
    "clock step refused": "SC-CLOCK-BOUND", "audit log diverged": "SC-LOG-CHAIN",
}


def control_of(name):
    """The control ID behind a refusal's stable name (or an interlock ID found in a
    refusal's text, which is its own control); None if none is known."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    text = str(name)
    start = text.find("IL-")
    if start >= 0:
        end = start + 3
        while end < len(text) and (text[end].isalnum() or text[end] == "-"):
            end += 1
        return text[start:end].rstrip("-")
    return None
