"""Shared set-up for bootloader tests: deterministic RNG, signing keys, provisioned devices."""

import hashlib

from bootloader import app_api, boot, flash_map as fm, image_sign, provision
from bootloader.flash import NorFlash
from bootloader.otp import KEY_ED25519, OtpFuses
from bootloader.sigkeys import P256_ORDER

# Figures printed in the terminal summary at the end of the run (see ``report``).
REPORT = {}


class _SummaryPlugin:
    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("bootloader")
        for name in sorted(REPORT):
            terminalreporter.write_line("%s: %s" % (name, REPORT[name]))


def report(config, name, value):
    """Record a figure (e.g. power-cut points covered) for the end-of-run summary."""
    if not REPORT:
        config.pluginmanager.register(_SummaryPlugin(), "bootloader-report")
    REPORT[name] = value


class Rng:
    """Deterministic HAL RNG for tests: SHA-256 in counter mode over a seed."""

    def __init__(self, seed=b"seed"):
        self.seed = seed if isinstance(seed, bytes) else str(seed).encode()
        self.counter = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]


def private_key(kind, seed):
    rng = Rng(b"key" + str(seed).encode())
    while True:
        raw = rng(32)
        if kind == KEY_ED25519 or 0 < int.from_bytes(raw, "big") < P256_ORDER:
            return raw


class Device:
    """A provisioned pump flash with its signing keys."""

    def __init__(self, flash_map=None, kinds=(KEY_ED25519,), seed=1):
        self.map = flash_map or fm.small_map()
        self.flash = self.map.new_flash()
        self.rng = Rng(b"device" + str(seed).encode())
        self.keys = [(kind, private_key(kind, "%s-%d" % (seed, i)))
                     for i, kind in enumerate(kinds)]
        provision.provision_device(
            self.flash, self.map, self.rng,
            [(kind, image_sign.public_of(kind, priv)) for kind, priv in self.keys])

    @property
    def otp(self):
        return OtpFuses(self.map.region(self.flash, fm.OTP))

    def sign(self, version, counter, body=None, key=0, **kw):
        kind, priv = self.keys[key]
        if body is None:
            body = bytes((version[0] * 7 + i) & 0xFF for i in range(900 + 37 * version[0]))
        return image_sign.sign_image(body, kind, priv, version, counter, **kw)

    def install_factory(self, image):
        provision.write_image(self.flash, self.map, fm.PRIMARY, image)

    def loader(self, flash=None):
        return boot.Bootloader(flash or self.flash, self.map)

    def boot(self, flash=None):
        return self.loader(flash).boot()

    def stage(self, image, permanent=False, flash=None):
        app_api.stage_update(flash or self.flash, self.map, image, permanent)

    def primary_bytes(self, flash=None, size=None):
        region = self.map.region(flash or self.flash, fm.PRIMARY)
        return region.read(0, size)

    def clone(self):
        return NorFlash.from_image(self.flash.image(), self.map.sector_size, self.map.align)


def factory_device(kinds=(KEY_ED25519,), version=(1, 0, 0, 0), counter=1, seed=1,
                   flash_map=None):
    """A device with a confirmed factory image, booted once (OTP counter raised)."""
    dev = Device(flash_map, kinds, seed)
    dev.v1 = dev.sign(version, counter)
    dev.install_factory(dev.v1)
    result = dev.boot()
    assert result.image is not None and result.mode == boot.MODE_CONFIRMED
    return dev
