"""Design controls that have no refusal of their own to name them: key management, the
caregiver page's login, the gateway's store, parsers, update robustness.

The pump's interlocks (``IL-``/``SM-``, pump/hazards.py) and the secure channel's controls
(``SC-``, secure_channel/controls.py) carry IDs in the firmware because a refusal names
them. The controls below are properties of code rather than refusals, so their IDs live
here, each pinned to the code that implements it (``module:attribute``): the evidence
build imports every anchor, and a control whose code is gone is reported as a control
that does not exist.
"""

# ID: (what it does, anchors in the code)
DESIGN_CONTROLS = {
    "DC-PIN-HASH": ("PINs are stored only as salted PBKDF2-HMAC-SHA256 verifiers; trivial "
                    "and common PINs are refused when set",
                    ("pump.pin:pbkdf2_hmac_sha256", "pump.pin:policy_problem")),
    "DC-WEB-PASSWORD": ("the caregiver page's password must pass a strength policy "
                        "(zxcvbn, length) and is stored as salted Argon2id only",
                        ("sim.gateway.web.policy:check",
                         "sim.gateway.web.passwords:hash_password")),
    "DC-WEB-LOCKOUT": ("failed logins are counted per address and per account and then "
                       "refused unchecked for a while; each is a security event",
                       ("sim.gateway.web.attempts:begin", "sim.gateway.web.attempts:refuse")),
    "DC-WEB-TOTP": ("an optional second factor (TOTP, RFC 6238) whose codes work once",
                    ("sim.gateway.web.totp:matching_step",)),
    "DC-WEB-SESSION": ("web sessions: a new random id at login, only its hash stored, idle "
                       "and absolute limits, a CSRF token on every form",
                       ("sim.gateway.web.sessions:create", "sim.gateway.web.sessions:lookup")),
    "DC-WEB-LOOPBACK": ("the caregiver page listens on loopback unless told otherwise and "
                        "refuses a rebound host name", ("sim.gateway.web.server:check_address",)),
    "DC-KEY-PROVISION": ("identities are generated at provisioning; private key files are "
                         "written owner-only and a key file others can read is refused",
                         ("sim.keyfiles:generate", "sim.keyfiles:PRIVATE_MODE")),
    "DC-KEY-SEAL": ("keys are sealed under the device-unique key from OTP, bound to the "
                    "device; no key lies in flash in the clear",
                    ("bootloader.keystore:KeyStore.put", "bootloader.keystore:KeyStore.get")),
    "DC-KEY-ROTATE": ("key rotation keeps the newest key and erases the old ciphertext, "
                      "surviving a power cut at any flash operation",
                      ("bootloader.keystore:KeyStore.rotate",)),
    "DC-KEY-ZEROIZE": ("zeroization destroys every key for good, even when cut off by a "
                       "power failure", ("bootloader.keystore:KeyStore.zeroize",)),
    "DC-KEY-ESCROW": ("keys can be exported sealed to an escrow key and restored to a new "
                      "board; a wrong key or a tampered export is refused",
                      ("bootloader.escrow:export_credentials", "bootloader.escrow:restore")),
    "DC-FRAMING": ("serial frames are COBS with a CRC-16 and a size limit; a damaged frame "
                   "is dropped with a reason, never passed on",
                   ("secure_channel.link.framing:Deframer", "secure_channel.link.framing:crc16")),
    "DC-PARSERS": ("every parser (CBOR, COSE, EDHOC, OSCORE, the image format) raises only "
                   "its defined error on any input",
                   ("secure_channel.cbor:decode", "bootloader.image:parse")),
    "DC-FAULT-CONTAINED": ("a fault in the protocol layers is answered as an error, counted "
                           "and logged; it never reaches therapy",
                           ("secure_channel.protocol.resources:serve",)),
    "DC-STORE-PRIVATE": ("the gateway's SQLite store and its journal are created owner-only; "
                         "a store others can read, or a symbolic link, is refused",
                         ("sim.gateway.store:_open_private",)),
    "DC-STORE-DURABLE": ("the gateway's store keeps every committed page through a killed "
                         "writer or a full disk (WAL, one transaction per page)",
                         ("sim.gateway.store:Store",)),
    "DC-LOG-CLOCK": ("every change of the pump's wall clock is an audit-log record",
                     ("pump.audit_log:EV_CLOCK",)),
    "DC-UPDATE-REVERT": ("a new image runs as a test boot and is reverted unless confirmed; "
                         "the security counter rises only after confirmation",
                         ("bootloader.boot:Bootloader",)),
    "DC-UPDATE-POWERFAIL": ("the A/B swap resumes after a power cut at any flash operation, "
                            "and the security counter never goes back",
                            ("bootloader.swap:Swapper",)),
    "DC-UPDATE-RESUME": ("an image transfer cut by the link or a pump reboot resumes from "
                         "what the slot holds; a staged image survives a reboot",
                         ("secure_channel.protocol.update_stager:UpdateStager",)),
}
