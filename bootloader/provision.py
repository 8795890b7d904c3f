"""Factory provisioning: flash map, OTP fuses, factory image, sealed device credentials.

Run once on a blank device. Randomness comes from the caller's HAL RNG.
"""

from bootloader import flash_map as fm
from bootloader import image as fmt
from bootloader.keystore import KEY_AUDIT_MAC, KEY_EDHOC_IDENTITY, KeyStore
from bootloader.otp import OtpFuses
from bootloader.sigkeys import P256_ORDER


class ProvisionError(ValueError):
    """The device or the inputs are not fit for provisioning."""


def _random(rng, n):
    out = rng(n)
    if not isinstance(out, (bytes, bytearray)) or len(out) != n:
        raise ProvisionError("RNG did not return %d bytes" % n)
    return bytes(out)


def write_image(flash, flash_map, area_id, image):
    """Program an image into an erased slot (factory use; updates go through app_api)."""
    image = bytes(image)
    _, _, total = fmt.image_extent(image, len(image))
    image = image[:total]
    if total > flash_map.max_image_size:
        raise ProvisionError("image of %d bytes does not fit the slot" % total)
    region = flash_map.region(flash, area_id)
    sector = flash_map.sector_size
    data = image + b"\xff" * ((-len(image)) % flash_map.align)
    for addr in range(0, len(data), sector):
        if not region.is_erased(addr, sector):
            region.erase(addr)
        piece = data[addr:addr + sector]
        if piece != b"\xff" * len(piece):
            region.program(addr, piece)


def provision_device(flash, flash_map, rng, signing_keys, factory_image=None):
    """Descriptor, device-unique key, signing keys (kind, raw public) and factory image."""
    fm.check_flash(flash, flash_map)
    boot_region = flash_map.region(flash, fm.BOOTLOADER)
    if not boot_region.is_erased(0, flash_map.encoded_size()):
        raise ProvisionError("device already provisioned")
    flash_map.write_descriptor(flash)
    otp = OtpFuses(flash_map.region(flash, fm.OTP))
    otp.provision_device_key(rng)
    indexes = [otp.add_signing_key(kind, public) for kind, public in signing_keys]
    if factory_image is not None:
        write_image(flash, flash_map, fm.PRIMARY, factory_image)
    return indexes


def new_edhoc_identity(rng):
    """A P-256 private scalar for the device's EDHOC identity (cipher suite 2)."""
    for _ in range(8):
        candidate = _random(rng, 32)
        if 0 < int.from_bytes(candidate, "big") < P256_ORDER:
            return candidate
    raise ProvisionError("RNG keeps returning invalid P-256 scalars")


def provision_credentials(flash, flash_map, rng):
    """Seal a fresh EDHOC identity and audit-log MAC key; returns the KeyStore."""
    store = KeyStore(flash, flash_map, rng)
    store.format()
    store.put(KEY_EDHOC_IDENTITY, new_edhoc_identity(rng))
    store.put(KEY_AUDIT_MAC, _random(rng, 32))
    return store
