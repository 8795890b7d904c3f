"""`pumpsim image demo-app | keygen | sign | verify | info`: MCUboot images, imgtool-compatible.

Key files are PEM (PKCS#8 private keys, SubjectPublicKeyInfo public keys), as imgtool
writes and reads them. Signing and verifying go through the firmware's bootloader
modules; only the file formats are handled here.
"""

import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import image_sign, sigkeys
from bootloader import trailer as tr
from bootloader import verify as vf
from bootloader.otp import KEY_ED25519, KEY_KIND_NAMES, KEY_P256
from sim.cli import CliError, read_file

KEY_TYPES = {"ed25519": KEY_ED25519, "ecdsa-p256": KEY_P256}


# -- key files (host concern) --------------------------------------------------------------


def load_key(path):
    """(kind, private or None, public) from a PEM private or public key file."""
    pem = read_file(path)
    try:
        if b"PRIVATE KEY" in pem:
            key = serialization.load_pem_private_key(pem, password=None)
        else:
            key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise CliError("%s is not a usable PEM key: %s" % (path, str(exc).splitlines()[0]))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return KEY_ED25519, key.private_bytes_raw(), key.public_key().public_bytes_raw()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KEY_ED25519, None, key.public_bytes_raw()
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) \
            and isinstance(key.curve, ec.SECP256R1):
        public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
        nums = public.public_numbers()
        raw_pub = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return KEY_P256, key.private_numbers().private_value.to_bytes(32, "big"), raw_pub
        return KEY_P256, None, raw_pub
    raise CliError("%s: only Ed25519 and ECDSA P-256 keys are supported" % path)


def _write(path, data, mode=0o644):
    """Write a file; a secret (``mode`` 0o600) is never readable by others, not even for
    a moment, and an existing file is brought to that mode too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            os.chmod(path, mode)
            f.write(data)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (path, exc.strerror or exc))


def _int(text):
    try:
        return int(text, 0)
    except ValueError:
        raise CliError("not a number: %r" % text)


# -- subcommands -----------------------------------------------------------------------------
def cmd_keygen(args):
    if args.type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    if os.path.exists(args.key) and not args.force:
        raise CliError("%s exists; use --force to overwrite" % args.key)
    _write(args.key, pem, 0o600)
    print("wrote %s private key %s (mode 0600)" % (args.type, args.key))
    if args.public:
        _write(args.public, key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        print("wrote its public key %s" % args.public)
    else:
        print("its public key is derived from %s by `image verify` and `flash create`; "
              "give --public FILE to write it for others" % args.key)
    return 0


def demo_app(version, size):
    """A stand-in application binary: a recognisable banner, then deterministic filler.
    Not code for any CPU; it exists so the signing walk-throughs have an input."""
    banner = ("secure-insulin-pump demo application %s\n" % version).encode()
    filler = bytearray()
    counter = 0
    while len(banner) + len(filler) < size:
        filler += (counter * 2654435761 & 0xFFFFFFFF).to_bytes(4, "little")
        counter += 1
    return (banner + bytes(filler))[:size]


def cmd_demo_app(args):
    if args.size < 64 or args.size > 0x100000:
        raise CliError("--size must be 64..1048576 bytes")
    if os.path.exists(args.outfile) and not args.force:
        raise CliError("%s exists; use --force to overwrite" % args.outfile)
    _write(args.outfile, demo_app(args.version, args.size))
    print("wrote demo application %s (%d bytes, version %s)" % (args.outfile, args.size,
                                                                args.version))
    return 0


def cmd_sign(args):
    kind = private = None
    if args.key:
        kind, private, _ = load_key(args.key)
        if private is None:
            raise CliError("signing needs a private key; %s is public only" % args.key)
    try:
        version = image_sign.parse_version(args.version)
    except image_sign.SignError as exc:
        raise CliError(str(exc))
    counter = None
    if args.security_counter is None:
        pass                                  # warned about once the image is written
    elif args.security_counter == "auto":
        counter = image_sign.auto_security_counter(version)
    else:
        counter = _int(args.security_counter)
    header_size = _int(args.header_size)
    slot_size = _int(args.slot_size)
    align = int(args.align)
    sector_size = _int(args.sector_size)
    try:
        limit = fm.trailer_geometry(slot_size, sector_size, align)[1] * sector_size
    except fm.FlashMapError as exc:
        raise CliError("slot geometry: %s" % exc)
    body = read_file(args.infile)
    try:
        data = image_sign.sign_image(body, kind, private, version, counter, header_size,
                                     args.pad_header, _int(args.load_addr),
                                     args.public_key_format)
    except image_sign.SignError as exc:
        raise CliError(str(exc))
    if len(data) > limit:
        raise CliError("image of %d bytes exceeds the %d bytes a %d-byte slot leaves "
                       "before its trailer" % (len(data), limit, slot_size))
    if args.pad or args.confirm:
        padded = bytearray(data + b"\xff" * (slot_size - len(data)))
        padded[slot_size - tr.OFF_MAGIC:] = tr.BOOT_MAGIC
        if args.confirm:
            padded[slot_size - tr.OFF_IMAGE_OK] = tr.FLAG_SET
        data = bytes(padded)
    _write(args.outfile, data)
    print("signed %s: version %s, %d bytes%s" % (
        args.outfile, args.version, len(data),
        "" if kind is None else ", " + KEY_KIND_NAMES[kind]))
    if counter is None:
        print("pumpsim image sign: warning: no security counter: this pump's bootloader "
              "and `image verify` refuse such an image; add --security-counter auto (or N)",
              file=sys.stderr)
    return 0


def cmd_verify(args):
    kind, _, public = load_key(args.key)
    keyring = vf.Keyring()
    keyring.add(kind, public)
    data = read_file(args.image)
    try:
        info = vf.verify(data, keyring)
    except fmt.ImageError as exc:
        print("pumpsim image verify: %s: rejected: %s" % (args.image, exc), file=sys.stderr)
        return 1
    print("OK: %s version %s, security counter %d, %s signature, sha256 %s" % (
        args.image, info.header.version_text(), info.security_counter,
        KEY_KIND_NAMES[info.key_kind], info.digest.hex()))
    return 0


def describe(data):
    """Lines describing an image's header, TLVs and (if padded) its trailer."""
    try:
        parsed = fmt.parse(data)
    except fmt.ImageError as exc:
        raise CliError("not an MCUboot image: %s" % exc)
    h = parsed.header
    lines = [
        "header:",
        "  magic            0x%08x" % fmt.IMAGE_MAGIC,
        "  load_addr        0x%08x" % h.load_addr,
        "  hdr_size         0x%x" % h.hdr_size,
        "  protect_tlv_size 0x%x" % h.protect_tlv_size,
        "  img_size         0x%x (%d)" % (h.img_size, h.img_size),
        "  flags            0x%08x" % h.flags,
        "  version          %s" % h.version_text(),
        "hashed region: %d bytes; image: %d bytes" % (parsed.hashed_size, parsed.total_size),
    ]
    for title, entries in (("protected TLVs", parsed.protected), ("TLVs", parsed.tlvs)):
        lines.append("%s:" % title)
        for kind, off, length in entries:
            value = bytes(data[off:off + length])
            if kind == fmt.TLV_SEC_CNT and length == 4:
                shown = str(int.from_bytes(value, "little"))
            elif kind == fmt.TLV_PUBKEY:
                try:
                    k, _ = image_sign.parse_spki(value)
                    shown = "%s %s" % (KEY_KIND_NAMES[k], value.hex())
                except sigkeys.KeyFormatError:
                    shown = value.hex()
            else:
                shown = value.hex()
            lines.append("  %-10s 0x%02x len %-4d %s" % (fmt.tlv_name(kind), kind, length,
                                                          shown))
    if len(data) >= parsed.total_size + tr.OFF_MAGIC and \
            bytes(data[-tr.OFF_MAGIC:]) == tr.BOOT_MAGIC:
        ok = data[-tr.OFF_IMAGE_OK] == tr.FLAG_SET
        lines.append("trailer: padded to %d bytes, update request (%s)"
                     % (len(data), "permanent" if ok else "test"))
    return lines


def cmd_info(args):
    for line in describe(read_file(args.image)):
        print(line)
    return 0


def register(subparsers):
    parser = subparsers.add_parser("image", help="create, sign, verify and inspect images",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("demo-app", help="write a stand-in application binary to sign")
    p.add_argument("outfile")
    p.add_argument("--version", default="1.2.0", help="written into its banner")
    p.add_argument("--size", type=int, default=16384, help="bytes (64..1048576)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_demo_app)

    p = sub.add_parser("keygen", help="generate a signing key (PEM)")
    p.add_argument("-k", "--key", required=True, help="private key file to write")
    p.add_argument("-t", "--type", choices=sorted(KEY_TYPES), default="ed25519")
    p.add_argument("--public", help="also write the public key here")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("sign", help="make a signed image (imgtool sign's flags)")
    p.add_argument("-k", "--key", help="private key (PEM); omit for an unsigned image")
    p.add_argument("-v", "--version", required=True, help="maj.min.rev+build")
    p.add_argument("-s", "--security-counter", help="number, or auto (from the version)")
    p.add_argument("-H", "--header-size", required=True, help="header size, e.g. 0x200")
    p.add_argument("--pad-header", action="store_true",
                   help="prepend --header-size bytes for the header")
    p.add_argument("-S", "--slot-size", required=True, help="slot size in bytes")
    p.add_argument("--align", choices=["1", "2", "4", "8"], default="4",
                   help="flash write alignment (sizes the trailer)")
    p.add_argument("--sector-size", default="4096",
                   help="flash sector size (sizes the trailer), default 4096")
    p.add_argument("--public-key-format", choices=["hash", "full"], default="hash")
    p.add_argument("-L", "--load-addr", default="0")
    p.add_argument("--pad", action="store_true",
                   help="pad to --slot-size with an update request in the trailer")
    p.add_argument("--confirm", action="store_true",
                   help="like --pad, requesting a permanent update")
    p.add_argument("infile")
    p.add_argument("outfile")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("verify", help="check an image against a key")
    p.add_argument("-k", "--key", required=True, help="public or private key (PEM)")
    p.add_argument("image")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("info", help="print header and TLVs")
    p.add_argument("image")
    p.set_defaults(func=cmd_info)
