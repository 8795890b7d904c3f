"""Software update delivery: a 1 MiB signed image sent by the gateway over the in-memory
secure link, against writing the same image into the secondary slot directly.

Figures, all measured in this run (best of a few interleaved rounds, each on a fresh copy
of the provisioned flash; this process's CPU time, so other jobs on a shared machine do
not count):
- delivery (``sim.gateway.update.ImageDelivery`` -> FastChannel, EDHOC session already up,
  every request OSCORE-protected CoAP -> SessionManager -> Dispatcher -> UpdateStager ->
  UpdateWriter, then the pump's digest check and vetting as the bootloader will) relative
  to ``UpdateWriter`` alone (begin, the same chunks, finish with its digest check): target
  <= 2x;
- both as MiB/s, the requests sent, and the share of the pump's vetting.

The flash is the standard map (1.25 MiB slots, 4 KiB sectors), so a 1 MiB image fits.
Run: ``.venv/bin/python tools/bench/run.py update``.
"""

import os
import time

from common import report

from bootloader import app_api, boot, flash_map as fm, image_sign, provision
from bootloader.flash import NorFlash
from bootloader.otp import KEY_ED25519
from pump.hal import CountingRng, MemoryHardware
from pump.pump import Pump
from secure_channel import crypto
from secure_channel.edhoc import credentials
from secure_channel.protocol import schema as S
from secure_channel.protocol.dispatch import Dispatcher
from secure_channel.protocol.update_stager import UpdateStager
from secure_channel.sessions import manager as sessions, trust
from secure_channel.sessions.peer import PeerSession
from sim.gateway.update import ImageDelivery
from sim.loop.channel import FastChannel, ServiceClient

SIZE = 1 << 20
ROUNDS = 5
_clock = time.process_time
LOG_KEY = b"bench_update: audit-log key, not secret"


def _identity(name, kid):
    counter = 0
    while True:
        private = crypto.sha256(("bench %s %d" % (name, counter)).encode())
        if crypto.p256_valid_private(private):
            return private, credentials.ccs(trust.make_ccs(crypto.p256_public(private),
                                                           kid, name))
        counter += 1


def _device():
    """A provisioned standard flash running a confirmed 1.0.0, and a signed 2.0.0."""
    flash_map = fm.standard_map()
    flash = flash_map.new_flash()
    key = crypto.sha256(b"bench_update signing key")
    provision.provision_device(flash, flash_map, CountingRng(b"bench device"),
                               [(KEY_ED25519, image_sign.public_of(KEY_ED25519, key))])
    factory = image_sign.sign_image(b"\x5a" * 4096, KEY_ED25519, key, (1, 0, 0, 0), 1,
                                    header_size=0x200)
    provision.write_image(flash, flash_map, fm.PRIMARY, factory)
    assert boot.Bootloader(flash, flash_map).boot().mode == boot.MODE_CONFIRMED
    body = os.urandom(SIZE)
    image = image_sign.sign_image(body, KEY_ED25519, key, (2, 0, 0, 0), 2,
                                  header_size=0x200)
    return flash_map, flash.image(), image


def _fresh(flash_map, base):
    return NorFlash.from_image(base, flash_map.sector_size, flash_map.align)


def _direct(flash_map, base, image, chunk):
    flash = _fresh(flash_map, base)
    start = _clock()
    writer = app_api.UpdateWriter(flash, flash_map)
    writer.begin(len(image), crypto.sha256(image))
    for offset in range(0, len(image), chunk):
        writer.write(image[offset:offset + chunk])
    writer.finish()
    return _clock() - start


class _Linked:
    """The pump (firmware, stager, dispatcher, sessions) and the gateway's session to it."""

    def __init__(self, flash_map, base):
        self.flash = _fresh(flash_map, base)
        hw = MemoryHardware()
        self.pump = Pump(hw, NorFlash(16 * 4096, 4096), LOG_KEY)
        assert self.pump.set_basal_program([1000] * 48).ok and self.pump.start().ok
        loader = boot.Bootloader(self.flash, flash_map)
        self.stager = UpdateStager(app_api.UpdateWriter(self.flash, flash_map),
                                   loader=loader)
        self.timed_vet = [0.0]
        vet = loader.vet_update

        def timed():
            start = _clock()
            try:
                return vet()
            finally:
                self.timed_vet[0] += _clock() - start
        loader.vet_update = timed
        dispatcher = Dispatcher(self.pump, audit=self.pump.record_refusal,
                                updater=self.stager)
        pump_private, pump_credential = _identity("pump", b"\x01")
        gateway_private, gateway_credential = _identity("gateway", b"\x02")
        manager = sessions.SessionManager(
            pump_credential, pump_private, trust.TrustList([("gateway", gateway_credential)]),
            dispatcher, CountingRng(b"bench pump"))
        self.channel = FastChannel(manager, PeerSession(
            gateway_credential, gateway_private, pump_credential, CountingRng(b"bench gw")))
        self.channel.connect(self.pump.clock.ticks_ms())
        self.client = ServiceClient(self.channel, self.pump.clock.ticks_ms)


def _delivered(flash_map, base, image, chunk):
    linked = _Linked(flash_map, base)
    delivery = ImageDelivery(linked.client, image, chunk=chunk, link_errors=())
    start = _clock()
    result = delivery.upload()
    elapsed = _clock() - start
    assert result.staged and linked.stager.state == S.UPDATE_STAGED
    assert linked.flash.read(flash_map.offset(fm.SECONDARY), len(image)) == image
    return elapsed, linked.channel.stats["messages"] // 2, linked.timed_vet[0]


def main():
    flash_map, base, image = _device()
    chunk = S.MAX_CHUNK
    directs, runs = [], []
    for _ in range(ROUNDS):              # interleaved: both see the same machine load
        directs.append(_direct(flash_map, base, image, chunk))
        runs.append(_delivered(flash_map, base, image, chunk))
    direct = min(directs)
    delivered, requests, vetting = min(runs)
    mib = len(image) / float(1 << 20)
    report("1 MiB image over the in-memory secure link / UpdateWriter directly",
           delivered / direct, "x", target=("<=", 2),
           reference="%.3f s vs %.3f s, %d requests of %d-byte chunks"
           % (delivered, direct, requests, chunk))
    report("update delivered over the secure link", mib / delivered, "MiB/s")
    report("update written directly (UpdateWriter)", mib / direct, "MiB/s")
    report("share of the delivery spent vetting the image (signature etc.)",
           100.0 * vetting / delivered, "%")


if __name__ == "__main__":
    main()
