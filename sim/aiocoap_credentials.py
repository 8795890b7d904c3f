"""Credentials for aiocoap's client: talk EDHOC + OSCORE to the pump with a standard stack.

``pumpsim keys aiocoap-credentials`` turns one of our identities and the pump's credential
into the two files ``aiocoap-client --credentials`` takes:

- ``NAME.diag``: CBOR diagnostic notation (EDN), because the credentials name CBOR map
  keys (a CCS is ``{14: {2: sub, 8: {1: COSE_Key}}}``) that aiocoap's JSON loader cannot
  express;
- ``NAME.cosekey``: the private key as a COSE_Key ``{1: 2, -1: 1, -4: d}``, owner-only
  (0600): aiocoap refuses a key file others can read.

The entry says: for URIs matching ``--uri``, run EDHOC method 3 with cipher suite 2, send
our credential by kid, and accept only the pump's credential, as the pump accepts only
credentials on its trust list.
"""

import os

from secure_channel import cbor
from sim import keyfiles


def edn(value):
    """CBOR diagnostic notation for the few types credentials hold."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "h'%s'" % value.hex()
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, list):
        return "[%s]" % ", ".join(edn(item) for item in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (edn(k), edn(v)) for k, v in value.items())
    raise TypeError("no diagnostic notation for %s" % type(value).__name__)


def _kccs(credential):
    """A credential as aiocoap wants it: ``{14: CCS}``."""
    return {14: cbor.decode(credential.value)}


def document(identity, pump_credential, uri, key_file):
    """The text of the .diag file."""
    entry = {"edhoc-oscore": {
        "suite": 2,
        "method": 3,
        "own_cred_style": "by-key-id",
        "own_cred": _kccs(identity.credential),
        "private_key_file": key_file,
        "peer_cred": _kccs(pump_credential),
    }}
    return "{%s: %s}\n" % (edn(uri), edn(entry))


def cose_key(identity):
    return cbor.encode({1: 2, -1: 1, -4: identity.private_key})


def write(identity, pump_credential, uri, out, force=False):
    """Write OUT (.diag) and OUT's .cosekey beside it; returns both paths."""
    if not out.endswith(".diag"):
        raise keyfiles.CliError("the credentials file must end in .diag (aiocoap picks "
                                "its loader by suffix)")
    if identity.kind == keyfiles.PUMP:
        raise keyfiles.CliError("that is the pump's identity: give a peer's (gateway, "
                                "clinician, patient or service)")
    if not (uri.startswith("coap://") or uri.startswith("coap+")) or not uri.endswith("*"):
        raise keyfiles.CliError("--uri must look like coap://127.0.0.1:5683/* (a pattern "
                                "ending in *)")
    key_path = out[:-len(".diag")] + ".cosekey"
    keyfiles.write_private(key_path, cose_key(identity), force)
    text = document(identity, pump_credential, uri, os.path.abspath(key_path))
    keyfiles.write_public(out, text.encode(), force)
    return out, key_path
