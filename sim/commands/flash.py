"""`pumpsim flash create | stage | boot | confirm | info`: a simulated pump flash in a file.

The file is the raw NOR content; its geometry comes from the flash-map descriptor at the
start of the bootloader area. Sector erase counts, which a raw dump cannot hold, are kept
beside it in ``FILE.wear`` (one count per sector) by the commands that change the file.
"""

import os

from bootloader import app_api
from bootloader import boot as bt
from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader import keystore as ks
from bootloader import provision
from bootloader import trailer as tr
from bootloader import verify as vf
from bootloader.flash import NorFlash
from bootloader.otp import KEY_KIND_NAMES, KEYSLOT_COUNT, OtpFuses
from sim.cli import CliError, read_file
from sim.commands.image import load_key

LAYOUTS = {"standard": fm.standard_map, "small": fm.small_map}




def load_flash(path):
    data = read_file(path)
    try:
        flash_map = fm.FlashMap.read_descriptor(lambda off, n: data[off:off + n])
    except fm.FlashMapError as exc:
        raise CliError("%s is not a pump flash image: %s" % (path, exc))
    if flash_map.flash_size != len(data):
        raise CliError("%s is %d bytes; its flash map says %d"
                       % (path, len(data), flash_map.flash_size))
    flash = NorFlash.from_image(data, flash_map.sector_size, flash_map.align)
    wear = _read_wear(path, len(flash.erase_counts))
    if wear is not None:
        flash.erase_counts = wear
    return flash, flash_map


def _read_wear(path, sectors):
    try:
        with open(path + ".wear") as f:
            counts = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return None
    return counts if len(counts) == sectors else None


def save_flash(path, flash):
    try:
        with open(path, "wb") as f:
            f.write(flash.image())
        with open(path + ".wear", "w") as f:
            f.write(" ".join(str(c) for c in flash.erase_counts) + "\n")
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (path, exc.strerror or exc))


def _print_events(events):
    for code, reject, text in events:
        print("  [%s] %s" % (bt.EVENT_NAMES.get(code, code), text))


# -- subcommands -------------------------------------------------------------------------------
def cmd_create(args):
    if os.path.exists(args.file) and not args.force:
        raise CliError("%s exists; use --force to overwrite" % args.file)
    flash_map = LAYOUTS[args.layout]()
    flash = flash_map.new_flash()
    keys = []
    for path in args.key:
        kind, _, public = load_key(path)
        keys.append((kind, public))
    image = read_file(args.image) if args.image else None
    if image is not None:
        keyring = vf.Keyring()
        for kind, public in keys:
            keyring.add(kind, public)
        try:
            vf.verify(image, keyring)
        except fmt.ImageError as exc:            # the device would never boot it
            raise CliError("%s does not verify with the given key(s): %s" % (args.image, exc))
    try:
        provision.provision_device(flash, flash_map, os.urandom, keys, image)
        provision.provision_credentials(flash, flash_map, os.urandom)
    except (provision.ProvisionError, fmt.ImageError, ValueError) as exc:
        raise CliError("provisioning failed: %s" % exc)
    save_flash(args.file, flash)
    print("created %s (%s layout, %d bytes, %d signing key(s))"
          % (args.file, args.layout, flash_map.flash_size, len(keys)))
    return 0


def cmd_stage(args):
    flash, flash_map = load_flash(args.file)
    image = read_file(args.image)
    permanent = args.permanent
    if len(image) == flash_map.slot_size and image[-tr.OFF_MAGIC:] == tr.BOOT_MAGIC \
            and image[-tr.OFF_IMAGE_OK] == tr.FLAG_SET:
        permanent = True                    # padded by `image sign --confirm`
    try:
        app_api.stage_update(flash, flash_map, image, permanent)
    except app_api.UpdateError as exc:
        raise CliError(str(exc))
    save_flash(args.file, flash)
    print("staged %s in the secondary slot (%s update)"
          % (args.image, "permanent" if permanent else "test"))
    return 0


def cmd_boot(args):
    flash, flash_map = load_flash(args.file)
    result = bt.Bootloader(flash, flash_map).boot()
    save_flash(args.file, flash)
    _print_events(result.events)
    if result.image is None:
        print("no valid image: the device does not start")
        return 1
    print("running %s (%s)" % (result.image.header.version_text(), result.mode))
    return 0


def cmd_confirm(args):
    flash, flash_map = load_flash(args.file)
    loader = bt.Bootloader(flash, flash_map)
    try:
        info = loader.confirm()
    except bt.BootError as exc:
        raise CliError(str(exc))
    save_flash(args.file, flash)
    _print_events(loader.events)
    print("confirmed %s" % info.header.version_text())
    return 0


def _slot_lines(loader, name, region, trailer):
    info, err = loader.check(region)
    if info is not None:
        yield "  image: version %s, %d bytes, security counter %d, key slot %d: valid" % (
            info.header.version_text(), info.size, info.security_counter, info.key_index)
    else:
        try:
            header = fmt.parse_header(region.read(0, fmt.HEADER_SIZE))
            yield "  image: version %s: invalid (%s)" % (header.version_text(), err)
        except fmt.ImageError:
            yield "  image: none (%s)" % err
    state = trailer.read()
    line = "  trailer: magic %s" % state.magic
    if state.magic == tr.MAGIC_GOOD:
        line += ", image_ok %s, copy_done %s" % (state.image_ok, state.copy_done)
    yield line


def flash_report(flash, flash_map):
    loader = bt.Bootloader(flash, flash_map)
    lines = ["flash: %d bytes, sector %d, write unit %d"
             % (flash_map.flash_size, flash_map.sector_size, flash_map.align)]
    lines.append("areas:")
    for area_id in fm.AREA_IDS:
        offset, size = flash_map.areas[area_id]
        first = offset // flash_map.sector_size
        count = size // flash_map.sector_size
        erases = flash.erase_counts[first:first + count]
        lines.append("  %-10s 0x%08x %8d bytes  erases: max %d, total %d"
                     % (fm.AREA_NAMES[area_id], offset, size, max(erases), sum(erases)))
    lines.append("slots: %d bytes, image area %d bytes, trailer %d sector(s)"
                 % (flash_map.slot_size, flash_map.max_image_size, flash_map.trailer_sectors))
    state = loader.state()
    pt = loader.primary_trailer
    lines.append("primary: state %s" % state)
    lines.extend(_slot_lines(loader, "primary", loader.primary, pt))
    pstate = pt.read()
    if pstate.magic == tr.MAGIC_GOOD:
        count = pstate.swap_count or flash_map.swap_sectors
        lines.append("  install: %s swap of %d sector(s), %d/%d steps; revert: %s, %d/%d steps"
                     % (tr.SWAP_NAMES.get(pstate.swap_type, "?"), count,
                        pt.progress(tr.LOG_INSTALL, count), tr.STEPS * count,
                        "done" if pstate.revert_done else
                        ("started" if pstate.revert_started else "no"),
                        pt.progress(tr.LOG_REVERT, count), tr.STEPS * count))
    request = loader.request()
    lines.append("secondary: %s" % ("update requested (%s)" % tr.SWAP_NAMES[request]
                                    if request else "no update request"))
    lines.extend(_slot_lines(loader, "secondary", loader.secondary, loader.secondary_trailer))
    otp = OtpFuses(flash_map.region(flash, fm.OTP))
    lines.append("otp: device key %s, lifecycle 0x%x%s"
                 % (otp.device_key_state(), otp.lifecycle(),
                    " (decommissioned)" if otp.is_decommissioned() else ""))
    lines.append("  security counter %d (%d of %d fuse slots used)"
                 % (otp.security_counter(), otp.counter_slots_used(), otp.counter_slots))
    states = otp.slot_states()
    keys = {index: (kind, revoked) for index, kind, _, revoked in otp.signing_keys()}
    for index in range(KEYSLOT_COUNT):
        if index in keys:
            kind, revoked = keys[index]
            lines.append("  signing key %d: %s%s" % (index, KEY_KIND_NAMES[kind],
                                                     " REVOKED" if revoked else ""))
        elif states[index] != "blank":
            lines.append("  signing key %d: %s" % (index, states[index]))
    store = ks.KeyStore(flash, flash_map, lambda n: b"\x00" * n)
    try:
        ids = store.key_ids()
        lines.append("keystore: %s" % ", ".join(
            "%s gen %d" % (ks.KEY_NAMES.get(k, "key %d" % k), store.generation(k))
            for k in ids) if ids else "keystore: empty")
    except ks.KeyStoreError as exc:
        lines.append("keystore: %s" % exc)
    return lines


def cmd_info(args):
    flash, flash_map = load_flash(args.file)
    for line in flash_report(flash, flash_map):
        print(line)
    return 0


def register(subparsers):
    parser = subparsers.add_parser("flash", help="simulated pump flash: provision, update, boot",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="flash_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("create", help="provision a new flash image")
    p.add_argument("file")
    p.add_argument("-k", "--key", action="append", default=[],
                   help="signing key (PEM) to burn into OTP; repeatable")
    p.add_argument("--image", help="signed factory image for the primary slot")
    p.add_argument("--layout", choices=sorted(LAYOUTS), default="standard")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("stage", help="write an update into the secondary slot")
    p.add_argument("file")
    p.add_argument("image")
    p.add_argument("--permanent", action="store_true", help="no test boot")
    p.set_defaults(func=cmd_stage)

    p = sub.add_parser("boot", help="run the bootloader once")
    p.add_argument("file")
    p.set_defaults(func=cmd_boot)

    p = sub.add_parser("confirm", help="the running image confirms itself")
    p.add_argument("file")
    p.set_defaults(func=cmd_confirm)

    p = sub.add_parser("info", help="slots, trailer states and counters")
    p.add_argument("file")
    p.set_defaults(func=cmd_info)
