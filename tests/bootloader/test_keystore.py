"""Sealed key store: records, rotation, power cuts, zeroization, escrow, no key in the clear."""

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bootloader import escrow, flash_map as fm, keystore as ks, provision
from bootloader.flash import NorFlash, PowerCut
from secure_channel import crypto

from conftest import examples
from bootloader_fixtures import Device, Rng, report


def _store(seed=1):
    dev = Device(seed=seed)
    store = provision.provision_credentials(dev.flash, dev.map, dev.rng)
    return dev, store


def test_provisioned_credentials_round_trip():
    dev, store = _store()
    assert store.key_ids() == [ks.KEY_EDHOC_IDENTITY, ks.KEY_AUDIT_MAC]
    edhoc = store.get(ks.KEY_EDHOC_IDENTITY)
    assert len(edhoc) == 32 and len(crypto.p256_public(edhoc)) == 64
    again = ks.KeyStore(dev.flash, dev.map, dev.rng)
    assert again.get(ks.KEY_EDHOC_IDENTITY) == edhoc


@pytest.mark.verifies("DC-KEY-ROTATE")
def test_rotation_keeps_newest_and_erases_old_ciphertext():
    dev, store = _store()
    first = store.get(ks.KEY_AUDIT_MAC)
    sealed_before = dev.map.region(dev.flash, fm.KEYSTORE).read(0, 4 * 256)
    new = store.rotate(ks.KEY_AUDIT_MAC)
    assert new != first and store.get(ks.KEY_AUDIT_MAC) == new
    assert store.generation(ks.KEY_AUDIT_MAC) == 2
    # After compaction, the old generation's record is gone from flash.
    image = dev.flash.image()
    old_records = [sealed_before[i:i + 40] for i in range(16, 200, 8)]
    assert store.generation(ks.KEY_AUDIT_MAC) == 2
    assert sum(1 for r in old_records if r in image) < len(old_records)
    for _ in range(30):
        store.rotate(ks.KEY_AUDIT_MAC)
    assert store.generation(ks.KEY_AUDIT_MAC) == 32
    assert store.get(ks.KEY_EDHOC_IDENTITY)


@pytest.mark.verifies("DC-KEY-SEAL")
def test_records_are_bound_to_the_device():
    dev, store = _store(seed=1)
    other, _ = _store(seed=2)
    region = dev.map.region(dev.flash, fm.KEYSTORE)
    moved = NorFlash.from_image(other.flash.image(), other.map.sector_size, other.map.align)
    target = other.map.region(moved, fm.KEYSTORE)
    for addr in range(0, region.size, region.sector_size):
        target.erase(addr)
        target.program(addr, region.read(addr, region.sector_size))
    thief = ks.KeyStore(moved, other.map, other.rng)
    with pytest.raises(ks.KeyStoreError):
        thief.get(ks.KEY_EDHOC_IDENTITY)


def test_tampered_record_falls_back_or_fails():
    dev, store = _store()
    store.put(ks.KEY_AUDIT_MAC, b"\x11" * 32)
    bank, records, _ = store._records()
    newest = max((r for r in records if r.key_id == ks.KEY_AUDIT_MAC),
                 key=lambda r: r.generation)
    region = dev.map.region(dev.flash, fm.KEYSTORE)
    region.program(newest.offset + 40, b"\x00" * 8)       # flips bits in the ciphertext
    assert store.get(ks.KEY_AUDIT_MAC) != b"\x11" * 32    # previous generation


def test_delete_and_input_checks():
    _, store = _store()
    store.delete(ks.KEY_AUDIT_MAC)
    assert store.key_ids() == [ks.KEY_EDHOC_IDENTITY]
    with pytest.raises(ks.KeyStoreError):
        store.get(ks.KEY_AUDIT_MAC)
    for key_id, key in ((0, b"k"), (1 << 16, b"k"), (5, b""), (5, b"k" * 300)):
        with pytest.raises(ks.KeyStoreError):
            store.put(key_id, key)


def test_full_store_reports_full():
    _, store = _store()
    with pytest.raises(ks.KeyStoreError):
        for key_id in range(10, 40):
            store.put(key_id, b"\x42" * 200)


@pytest.mark.verifies("DC-KEY-ZEROIZE")
def test_zeroize_destroys_keys_for_good():
    dev, store = _store()
    secrets = [store.get(k) for k in store.key_ids()]
    device_key = dev.otp.device_key()
    store.zeroize()
    assert dev.otp.is_decommissioned()
    assert dev.otp.device_key_state() == "destroyed"
    with pytest.raises(ks.KeyStoreError):
        store.get(ks.KEY_EDHOC_IDENTITY)
    with pytest.raises(ks.KeyStoreError):
        ks.KeyStore(dev.flash, dev.map, dev.rng).put(3, b"x")
    image = dev.flash.image()
    for secret in secrets + [device_key]:
        assert secret not in image
    assert dev.map.region(dev.flash, fm.KEYSTORE).is_erased(0, dev.map.size(fm.KEYSTORE))


def _cut_every_op(make, action, check, wheres=("before", "middle", "after")):
    """Replay ``action`` on fresh copies with a cut at every op; ``check`` after each."""
    dev, base = make()
    probe = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
    action(dev, probe)
    count = 0
    for index in range(probe.op_count):
        for where in wheres:
            flash = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
            flash.schedule_cut(index, where)
            try:
                action(dev, flash)
            except PowerCut:
                pass
            flash.power_on()
            check(dev, flash)
            count += 1
    return count


@pytest.mark.verifies("DC-KEY-ROTATE")
def test_power_cut_at_every_op_of_put_rotate_compact(request):
    old = {}

    def make():
        dev, store = _store()
        old.update((k, store.get(k)) for k in store.key_ids())
        return dev, dev.flash.image()

    new_mac = b"\x5a" * 32

    def action(dev, flash):
        store = ks.KeyStore(flash, dev.map, Rng(b"cut"))
        store.put(ks.KEY_AUDIT_MAC, new_mac)
        store.rotate(ks.KEY_EDHOC_IDENTITY, b"\x33" * 32)
        store.put(7, b"\x77" * 16)
        store.compact()

    def check(dev, flash):
        store = ks.KeyStore(flash, dev.map, Rng(b"after"))
        mac = store.get(ks.KEY_AUDIT_MAC)
        assert mac in (old[ks.KEY_AUDIT_MAC], new_mac)
        assert store.get(ks.KEY_EDHOC_IDENTITY) in (old[ks.KEY_EDHOC_IDENTITY], b"\x33" * 32)
        # The store keeps working after the cut.
        store.put(9, b"\x99" * 8)
        assert store.get(9) == b"\x99" * 8
        assert store.get(ks.KEY_AUDIT_MAC) == mac

    points = _cut_every_op(make, action, check)
    report(request.config, "power-cut points, key store put/rotate/compact", points)


@pytest.mark.verifies("DC-KEY-ZEROIZE")
def test_power_cut_during_zeroize_never_leaves_usable_keys():
    def make():
        dev, _ = _store()
        return dev, dev.flash.image()

    def action(dev, flash):
        ks.KeyStore(flash, dev.map, Rng(b"z")).zeroize()

    def check(dev, flash):
        store = ks.KeyStore(flash, dev.map, Rng(b"z"))
        try:
            store.get(ks.KEY_EDHOC_IDENTITY)
        except ks.KeyStoreError:
            store.zeroize()                     # finishing the job works
            with pytest.raises(ks.KeyStoreError):
                store.get(ks.KEY_EDHOC_IDENTITY)
        else:
            # Only possible if the cut came before the first fuse was set.
            assert not store.otp.is_decommissioned()

    _cut_every_op(make, action, check, wheres=("middle",))


# -- escrow ---------------------------------------------------------------------------------
ESCROW_PRIVATE = Rng(b"escrow")(32)
ESCROW_PUBLIC = crypto.x25519_public(ESCROW_PRIVATE)


@pytest.mark.verifies("DC-KEY-ESCROW")
def test_escrow_export_and_recovery_to_a_new_board():
    dev, store = _store(seed=1)
    blob = escrow.export_credentials(store, ESCROW_PUBLIC, dev.rng)
    device_id, creds = escrow.open_export(blob, ESCROW_PRIVATE)
    assert device_id == store.device_id()
    assert creds == {k: store.get(k) for k in store.key_ids()}
    # The board dies; a replacement (its own device key) gets the same credentials.
    spare = Device(seed=9)
    new_store = ks.KeyStore(spare.flash, spare.map, spare.rng)
    escrow.restore(new_store, creds)
    assert new_store.get(ks.KEY_EDHOC_IDENTITY) == store.get(ks.KEY_EDHOC_IDENTITY)
    assert new_store.device_id() != store.device_id()


@pytest.mark.verifies("DC-KEY-ESCROW")
def test_escrow_refuses_wrong_key_and_tampering():
    dev, store = _store()
    blob = escrow.export_credentials(store, ESCROW_PUBLIC, dev.rng)
    with pytest.raises(escrow.EscrowError):
        escrow.open_export(blob, Rng(b"not escrow")(32))
    bad = bytearray(blob)
    bad[-3] ^= 1
    with pytest.raises(escrow.EscrowError):
        escrow.open_export(bytes(bad), ESCROW_PRIVATE)


@settings(max_examples=examples(200))
@given(blob=st.binary(max_size=200))
def test_escrow_parser_fuzz(blob):
    with pytest.raises(escrow.EscrowError):
        escrow.open_export(blob, ESCROW_PRIVATE)


# -- no key in the clear ------------------------------------------------------------------------
def _windows(secret, size=12):
    return {secret[i:i + size] for i in range(0, len(secret) - size + 1)}


@pytest.mark.verifies("DC-KEY-SEAL")
def test_no_key_lies_in_flash_in_the_clear():
    """Scan the whole flash image for the bytes of every key the device has held."""
    dev, store = _store()
    held = [store.get(k) for k in store.key_ids()]
    for _ in range(3):
        held.append(store.rotate(ks.KEY_AUDIT_MAC))
    held.append(store.rotate(ks.KEY_EDHOC_IDENTITY))
    store.put(40, b"\xc3" * 32)
    held.append(b"\xc3" * 32)
    # A power cut in the middle of sealing a record must not leave plaintext either.
    dev.flash.schedule_cut(dev.flash.op_count, "middle")
    try:
        store.put(41, b"\x3c" * 32)
    except PowerCut:
        pass
    dev.flash.power_on()
    held.append(b"\x3c" * 32)
    escrow.export_credentials(store, ESCROW_PUBLIC, dev.rng)
    # Keys derived from the device key (record keys, the PRK) are keys too.
    prk = store._device_prk()
    derived = [prk] + [store._record_key(k, g) for k in (1, 2, 40, 41) for g in range(1, 6)]
    image = dev.flash.image()
    otp_start = dev.map.offset(fm.OTP)
    outside_otp = image[:otp_start] + image[otp_start + dev.map.size(fm.OTP):]
    scanned = 0
    for secret in held + derived:
        for window in _windows(secret):
            assert window not in image
            scanned += 1
    # The device-unique key is the root secret: it lives only in the OTP fuse block
    # (as fuse bits, which read inverted in the raw dump) and nowhere else.
    device_key = dev.otp.device_key()
    fuse_pattern = bytes(~b & 0xFF for b in device_key)
    for window in _windows(device_key) | _windows(fuse_pattern):
        assert window not in outside_otp
    assert fuse_pattern in image[otp_start:]
    assert scanned > 0


# -- stateful model --------------------------------------------------------------------------------
class KeyStoreMachine(RuleBasedStateMachine):
    """Random puts, rotations, deletes and cuts against a dict model."""

    @initialize()
    def setup(self):
        self.dev, self.store = _store(seed=3)
        self.model = {k: self.store.get(k) for k in self.store.key_ids()}
        self.pending = None

    @rule(key_id=st.integers(1, 6), fill=st.integers(0, 255), size=st.integers(1, 48),
          cut=st.one_of(st.none(), st.integers(0, 6)))
    def put(self, key_id, fill, size, cut):
        value = bytes((fill,)) * size
        if cut is not None:
            self.dev.flash.schedule_cut(self.dev.flash.op_count + cut, "middle")
        try:
            self.store.put(key_id, value)
            self.model[key_id] = value
            self.dev.flash.power_on()         # disarm a cut that the put did not reach
        except PowerCut:
            self.dev.flash.power_on()
            self.store = ks.KeyStore(self.dev.flash, self.dev.map, self.dev.rng)
            got = self._get(key_id)
            assert got in (self.model.get(key_id), value)
            if got is not None:
                self.model[key_id] = got
        except ks.KeyStoreError:
            assert len(self.model) >= 3       # full: only with several live keys

    @rule(key_id=st.integers(1, 6))
    def delete(self, key_id):
        if key_id in self.model:
            self.store.delete(key_id)
            del self.model[key_id]

    @rule()
    def compact(self):
        self.store.compact()

    def _get(self, key_id):
        try:
            return self.store.get(key_id)
        except ks.KeyStoreError:
            return None

    @invariant()
    def matches_model(self):
        if hasattr(self, "store"):
            for key_id in range(1, 7):
                assert self._get(key_id) == self.model.get(key_id)


KeyStoreMachine.TestCase.settings = settings(max_examples=examples(40), stateful_step_count=20,
                                             deadline=None)
test_keystore_state_machine = KeyStoreMachine.TestCase


def _openable_records(store):
    """Every committed record in either bank that still opens under the device key:
    (key_id, generation). A scan of the raw flash, not of the active bank alone."""
    found = []
    for bank in (0, 1):
        base = bank * store.bank_size
        if store.region.read(base, 4) != ks.BANK_MAGIC:
            continue
        records, _ = store._scan(bank)
        for rec in records:
            if store._open(rec) is not None:
                found.append((rec.key_id, rec.generation))
    return sorted(found)


def _rotate_delete(store):
    store.put(40, b"\x11" * 32)
    store.rotate(ks.KEY_AUDIT_MAC)
    opened_after_rotate = _openable_records(store)
    store.delete(40)
    return opened_after_rotate


def test_rotate_and_delete_leave_nothing_the_device_key_can_open():
    dev, store = _store()
    assert _rotate_delete(store) == sorted([(ks.KEY_EDHOC_IDENTITY, 1),
                                            (ks.KEY_AUDIT_MAC, 2), (40, 1)])
    assert _openable_records(store) == sorted([(ks.KEY_EDHOC_IDENTITY, 1),
                                               (ks.KEY_AUDIT_MAC, 2)])
    # The same rotation on an identical device, to find its last flash operation: the
    # erase of the bank it left. A power cut there is finished by the next use.
    twin_dev, twin = _store()
    _rotate_delete(twin)
    before = twin_dev.flash.op_count
    twin.rotate(ks.KEY_EDHOC_IDENTITY)
    last = twin_dev.flash.op_count - before - 1
    dev.flash.schedule_cut(dev.flash.op_count + last, "middle")
    with pytest.raises(PowerCut):
        store.rotate(ks.KEY_EDHOC_IDENTITY)
    dev.flash.power_on()
    again = ks.KeyStore(dev.flash, dev.map, dev.rng)
    assert again.generation(ks.KEY_EDHOC_IDENTITY) == 2
    assert _openable_records(again) == sorted([(ks.KEY_EDHOC_IDENTITY, 2),
                                               (ks.KEY_AUDIT_MAC, 2)])
