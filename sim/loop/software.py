"""The simulated pump's software in bootloader flash, for a scenario with ``[[updates]]``.

The device is provisioned as at the factory (``bootloader.provision``): one Ed25519
signing key derived from the seed, a confirmed factory image 1.0.0. Every power-up runs
the real bootloader first (``boot.Bootloader.boot``: swap, test boot, revert), then the
firmware gets an ``UpdateStager`` over the same flash, so the gateway's ``ImageDelivery``
writes the secondary slot over the secure channel and the patient's button decides the
swap. A swap takes ``FLASH_OP_MS`` per flash operation; the pump's clock runs on meanwhile
and the missing basal is counted (IL-NO-DELIVERY). A scenario's ``self_test = "fail"``
makes the new image fail its self-test, so the bootloader reverts it.
"""

from bootloader import app_api, boot, flash_map as fm, image_sign, provision
from bootloader.otp import KEY_ED25519, OtpFuses
from secure_channel import crypto
from secure_channel.protocol.update_stager import UpdateStager, self_test_passed

FLASH_OP_MS = 20                 # one erase or program of a 4 KiB sector
SLOT_SECTORS = 72                # 288 KiB slots
IMAGE_BYTES = 256 * 1024         # a stand-in application of a plausible size


class Software:
    def __init__(self, seed):
        self.map = fm.standard_map(slot_size=SLOT_SECTORS * 4096, bootloader_size=4096)
        self.flash = self.map.new_flash()
        self._private = crypto.sha256(("%s|image-signing" % seed).encode())
        counter = [0]

        def rng(n):
            counter[0] += 1
            return crypto.sha256(("%s|device|%d" % (seed, counter[0])).encode())[:n]
        public = image_sign.public_of(KEY_ED25519, self._private)
        # A key retired after a leak: provisioned, then revoked in OTP, as in the field.
        self._retired = crypto.sha256(("%s|image-signing-retired" % seed).encode())
        retired = image_sign.public_of(KEY_ED25519, self._retired)
        slots = provision.provision_device(
            self.flash, self.map, rng, [(KEY_ED25519, retired), (KEY_ED25519, public)],
            factory_image=self.image((1, 0, 0, 0)))
        OtpFuses(self.map.region(self.flash, fm.OTP)).revoke_key(slots[0])
        self.failing_self_test = False
        self.last = None

    def image(self, version, counter=None):
        """A signed image of ``version`` (the security counter is its major number)."""
        body = bytes((version[0] * 31 + version[1] * 7 + i) & 0xFF for i in range(IMAGE_BYTES))
        return image_sign.sign_image(body, KEY_ED25519, self._private, version,
                                     version[0] if counter is None else counter)

    def rogue_image(self, kind, version=(1, 1, 0, 0)):
        """An image an attacker could make: ``unsigned``, signed with a ``wrong-key``,
        ``tampered`` after signing, a ``downgrade`` below the running version and
        security counter, or signed with the ``revoked-key``."""
        body = bytes((0xA5 + i * 13) & 0xFF for i in range(IMAGE_BYTES))
        if kind == "unsigned":
            return image_sign.sign_image(body, None, None, version, version[0])
        if kind == "wrong-key":
            stranger = crypto.sha256(b"an attacker's own signing key")
            return image_sign.sign_image(body, KEY_ED25519, stranger, version, version[0])
        if kind == "revoked-key":
            return image_sign.sign_image(body, KEY_ED25519, self._retired, version,
                                         version[0])
        if kind == "downgrade":
            return self.image((0, 9, 0, 0), counter=0)
        if kind == "tampered":
            image = bytearray(self.image(version))
            image[len(image) // 2] ^= 0x01
            return bytes(image)
        raise ValueError("no rogue image of kind %r" % (kind,))

    def power_up(self):
        """Run the bootloader; returns the milliseconds it took (its flash operations)."""
        ops = self.flash.op_count
        self.last = boot.Bootloader(self.flash, self.map).boot()
        return (self.flash.op_count - ops) * FLASH_OP_MS

    @property
    def running(self):
        return self.last.image.version if self.last and self.last.image else None

    def stager(self):
        """The firmware's update stager for this boot."""
        return UpdateStager(app_api.UpdateWriter(self.flash, self.map),
                            loader=boot.Bootloader(self.flash, self.map), boot=self.last,
                            self_test=self._self_test)

    def _self_test(self, pump):
        return False if self.failing_self_test else self_test_passed(pump)
