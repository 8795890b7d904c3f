"""`pumpsim keys init | new | trust | aiocoap-credentials | show`: identities, credentials, trust.

Every party has a static P-256 key (EDHOC method 3, suite 2) and a CCS credential that
names it by kid and carries its role. Private keys go into identity files created with
mode 0600 from the start; credentials and the trust list are public. File formats:
``sim/keyfiles.py`` and docs/sessions.md.
"""

import os
import sys

from secure_channel import crypto, numbers
from secure_channel.sessions import trust
from sim import aiocoap_credentials, keyfiles
from sim.cli import CliError

# Default kids of `keys init`: one byte each, compact on the wire.
INIT_KIDS = {"pump": b"\x01", "gateway": b"\x02", "clinician": b"\x03", "patient": b"\x04",
             "service": b"\x05"}


_hex = numbers.hex_id


def _write_identity(prefix, identity, force):
    key_path = prefix + ".key"
    ccs_path = prefix + ".ccs"
    keyfiles.write_private(key_path, keyfiles.encode_identity(identity), force)
    keyfiles.write_public(ccs_path, identity.credential.value, force)
    print("wrote %s (private, mode 0600) and %s: %s, kid %s"
          % (key_path, ccs_path, identity.kind, _hex(identity.credential.kid)))


def _trust_list(credential_list):
    """A TrustList from (path, credential, role or None) triples; a missing role comes
    from an older credential's role claim."""
    trust_list = trust.TrustList()
    for path, credential, role in credential_list:
        if role is None:
            role = trust.role_claim(credential)
        if role is None:
            raise CliError("%s: give its role as ROLE=%s (one of %s)"
                           % (path, path, ", ".join(keyfiles.KINDS[1:])))
        try:
            trust_list.add(role, credential)
        except trust.TrustError as exc:
            raise CliError("%s: %s" % (path, exc))
    return trust_list


def cmd_init(args):
    kinds = ["pump", "gateway", "clinician", "patient"] + (["service"] if args.service else [])
    directory = args.directory
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise CliError("cannot create %s: %s" % (directory, exc.strerror or exc))
    trust_path = os.path.join(directory, "trust.cbor")
    targets = [trust_path]
    for kind in kinds:
        targets += [os.path.join(directory, kind + ".key"), os.path.join(directory, kind + ".ccs")]
    if not args.force:
        for path in targets:
            if os.path.lexists(path):
                raise CliError("%s exists; use --force to overwrite" % path)
    peers = []
    for kind in kinds:
        identity = keyfiles.generate(kind, INIT_KIDS[kind])
        prefix = os.path.join(directory, kind)
        _write_identity(prefix, identity, args.force)
        if kind != keyfiles.PUMP:
            peers.append((prefix + ".ccs", identity.credential, kind))
    keyfiles.write_public(trust_path, _trust_list(peers).encode(), args.force)
    print("wrote %s: the pump trusts %s" % (trust_path, ", ".join(kinds[1:])))
    return 0


def cmd_new(args):
    if args.kid is not None:
        kid = keyfiles.parse_kid(args.kid)
    else:
        kid = numbers.allocate_identifier(os.urandom)
    identity = keyfiles.generate(args.kind, kid, args.subject)
    _write_identity(args.out, identity, args.force)
    return 0


def _role_and_path(text):
    role, sep, path = text.partition("=")
    if sep and role in keyfiles.KINDS[1:]:
        return role, path
    return None, text


def cmd_trust(args):
    pairs = []
    for text in args.credentials:
        role, path = _role_and_path(text)
        credential = keyfiles.load_credential(path)
        if role is None and trust.role_claim(credential) is None and \
                credential.subject == keyfiles.PUMP:
            raise CliError("%s is the pump's own credential: only peer credentials go "
                           "into a trust list" % path)
        pairs.append((path, credential, role))
    data = _trust_list(pairs).encode()
    keyfiles.write_public(args.out, data, args.force)
    print("wrote %s: %d peer%s, %d bytes" % (args.out, len(pairs), "" if len(pairs) == 1
                                             else "s", len(data)))
    return 0


def credential_lines(credential, indent="  ", kind=None):
    role = trust.role_claim(credential) or kind
    if role == keyfiles.PUMP:
        role = "(none: the pump itself)"
    key = credential.public_key
    return [
        "%srole      %s" % (indent, role if role is not None
                            else "(not in the credential: the trust list gives it)"),
        "%ssubject   %s" % (indent, credential.subject or "(none)"),
        "%skid       %s" % (indent, _hex(credential.kid)),
        "%skey       P-256 static DH (EDHOC method 3, suite 2), x %s..." % (indent,
                                                                         key[:8].hex()),
        "%sccs       %d bytes, sha256 %s" % (indent, len(credential.value),
                                              crypto.sha256(credential.value)[:8].hex()),
    ]


def cmd_show(args):
    path = args.file
    data = keyfiles.read_file(path)
    kind = keyfiles.classify(keyfiles.decode_file(path, data))
    if kind == "identity":
        identity = keyfiles.parse_identity(path, data)
        print("%s: identity of a %s (private key present, not shown)" % (path, identity.kind))
        try:
            keyfiles.check_private_mode(path)
        except CliError as exc:
            print("warning: %s" % exc, file=sys.stderr)
        lines = credential_lines(identity.credential, kind=identity.kind)
    elif kind == "credential":
        print("%s: credential (CCS)" % path)
        lines = credential_lines(keyfiles.load_credential(path))
    elif kind == "trust-list":
        trust_list = keyfiles.load_trust(path)
        print("%s: trust list, %d peer%s" % (path, len(trust_list),
                                             "" if len(trust_list) == 1 else "s"))
        lines = []
        for entry in sorted(trust_list, key=lambda e: e.kid):
            lines.append("  %-9s kid %-4s subject %s" % (entry.role, _hex(entry.kid),
                                                        entry.credential.subject or "-"))
    else:
        raise CliError("%s is not an identity, credential or trust-list file" % path)
    for line in lines:
        print(line)
    return 0


def cmd_aiocoap_credentials(args):
    identity = keyfiles.load_identity(args.identity)
    pump = keyfiles.load_credential(args.pump)
    out, key_path = aiocoap_credentials.write(identity, pump, args.uri, args.out, args.force)
    print("wrote %s (aiocoap credentials for %s, as %s kid %s)"
          % (out, args.uri, identity.kind, _hex(identity.credential.kid)))
    print("wrote %s (private key, mode 0600)" % key_path)
    print("use: aiocoap-client --credentials %s %sstatus" % (out, args.uri.rstrip("*")))
    return 0


def register(subparsers):
    parser = subparsers.add_parser("keys", help="identities, credentials and trust lists",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("init", help="identities for pump, gateway, clinician and patient, "
                                    "and the pump's trust list, in one directory")
    p.add_argument("directory")
    p.add_argument("--service", action="store_true", help="also a service identity")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("new", help="one identity: PREFIX.key (private) and PREFIX.ccs")
    p.add_argument("kind", choices=keyfiles.KINDS)
    p.add_argument("--out", required=True, help="path prefix of the two files")
    p.add_argument("--kid", help="kid in hex, 1..7 bytes (default: a random byte)")
    p.add_argument("--subject", help="the credential's sub claim (default: the kind)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("trust", help="export the pump's trust list from peer credentials")
    p.add_argument("--out", required=True, help="trust list file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("credentials", nargs="+", metavar="ROLE=FILE",
                   help="peer credential (.ccs) with its role, e.g. clinician=clinician.ccs")
    p.set_defaults(func=cmd_trust)

    p = sub.add_parser("aiocoap-credentials",
                       help="credentials for aiocoap-client to reach the pump (EDHOC + OSCORE)")
    p.add_argument("--identity", required=True, help="a peer identity (.key) on the pump's "
                                                     "trust list")
    p.add_argument("--pump", required=True, help="the pump's credential (.ccs)")
    p.add_argument("--uri", default="coap://127.0.0.1:5683/*",
                   help="URI pattern the credentials apply to (default %(default)s)")
    p.add_argument("--out", default="creds.diag",
                   help="credentials file, .diag (default %(default)s); the key goes to "
                        "the same name with .cosekey")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_aiocoap_credentials)

    p = sub.add_parser("show", help="describe an identity, credential or trust list")
    p.add_argument("file")
    p.set_defaults(func=cmd_show)

