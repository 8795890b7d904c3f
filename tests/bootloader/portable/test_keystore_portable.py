"""The sealed key store and factory escrow on CPython and MicroPython: provisioning,
rotation, deletion, a power cut during rotation, zeroization, and recovery of a dead
board's credentials onto a spare from the escrow export.

Under MicroPython every record is sealed with the pure-Python AES-CCM and the escrow
export is an X25519 + AES-CCM envelope from the same backend, so these are the key
store's proofs on the interpreter it ships on. The exhaustive power-cut and hypothesis
tests are in tests/bootloader/test_keystore.py. Plain asserts only.
"""

from bootloader import escrow, provision
from bootloader import flash_map as fm
from bootloader import keystore as ks
from bootloader.flash import NorFlash, PowerCut
from secure_channel import crypto

ESCROW_PRIVATE = bytes((i * 5 + 3) & 0xFF for i in range(32))


def _rng(seed):
    state = [0]

    def rng(n):
        out = b""
        while len(out) < n:
            out += crypto.sha256(seed + state[0].to_bytes(4, "big"))
            state[0] += 1
        return out[:n]
    return rng


def _board(seed):
    flash_map = fm.small_map()
    flash = flash_map.new_flash()
    provision.provision_device(flash, flash_map, _rng(b"otp" + seed), [])
    store = provision.provision_credentials(flash, flash_map, _rng(b"keys" + seed))
    return flash_map, flash, store


def _raises(exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type:
        return True
    return False


def _clear_in_flash(flash, secrets):
    image = flash.image()
    return [s for s in secrets if s in image]


def test_provisioning_seals_an_edhoc_identity_and_a_log_key():
    flash_map, flash, store = _board(b"1")
    assert store.key_ids() == [ks.KEY_EDHOC_IDENTITY, ks.KEY_AUDIT_MAC]
    identity = store.get(ks.KEY_EDHOC_IDENTITY)
    assert crypto.p256_valid_private(identity) and len(crypto.p256_public(identity)) == 64
    assert len(store.get(ks.KEY_AUDIT_MAC)) == 32
    # A fresh instance (a reboot) reads the same keys; nothing is in flash in the clear.
    again = ks.KeyStore(flash, flash_map, _rng(b"later"))
    assert again.get(ks.KEY_EDHOC_IDENTITY) == identity
    assert _clear_in_flash(flash, [identity, store.get(ks.KEY_AUDIT_MAC)]) == []
    for key_id, key in ((0, b"k"), (1 << 16, b"k"), (5, b""), (5, b"k" * 300)):
        assert _raises(ks.KeyStoreError, store.put, key_id, key), (key_id, len(key))


def test_rotation_keeps_the_newest_and_leaves_no_old_generation_openable():
    flash_map, flash, store = _board(b"2")
    first = store.get(ks.KEY_AUDIT_MAC)
    identity = store.get(ks.KEY_EDHOC_IDENTITY)
    second = store.rotate(ks.KEY_AUDIT_MAC)
    assert second != first and store.get(ks.KEY_AUDIT_MAC) == second
    assert store.generation(ks.KEY_AUDIT_MAC) == 2
    for _ in range(5):
        latest = store.rotate(ks.KEY_AUDIT_MAC)
    assert store.generation(ks.KEY_AUDIT_MAC) == 7 and store.get(ks.KEY_AUDIT_MAC) == latest
    assert store.get(ks.KEY_EDHOC_IDENTITY) == identity
    # Only the newest generation of each key is left in the active bank.
    _, records, _ = store._records()
    assert sorted((r.key_id, r.generation) for r in records) == \
        [(ks.KEY_EDHOC_IDENTITY, 1), (ks.KEY_AUDIT_MAC, 7)]
    store.delete(ks.KEY_AUDIT_MAC)
    assert store.key_ids() == [ks.KEY_EDHOC_IDENTITY]
    assert _raises(ks.KeyStoreError, store.get, ks.KEY_AUDIT_MAC)
    assert _clear_in_flash(flash, [first, second, latest, identity]) == []


def test_records_open_only_on_their_own_device():
    flash_map, flash, store = _board(b"3")
    other_map, other_flash, _ = _board(b"4")
    region = flash_map.region(flash, fm.KEYSTORE)
    target = other_map.region(other_flash, fm.KEYSTORE)
    for addr in range(0, region.size, region.sector_size):
        target.erase(addr)
        target.program(addr, region.read(addr, region.sector_size))
    thief = ks.KeyStore(other_flash, other_map, _rng(b"thief"))
    assert _raises(ks.KeyStoreError, thief.get, ks.KEY_EDHOC_IDENTITY)


def test_a_power_cut_during_rotation_keeps_the_old_or_the_new_key():
    flash_map, flash, store = _board(b"5")
    old = store.get(ks.KEY_EDHOC_IDENTITY)
    new = b"\x33" * 32
    base = flash.image()
    probe = NorFlash.from_image(base, flash_map.sector_size, flash_map.align)
    ks.KeyStore(probe, flash_map, _rng(b"cut")).rotate(ks.KEY_EDHOC_IDENTITY, new)
    ops = probe.op_count - NorFlash.from_image(base, flash_map.sector_size,
                                               flash_map.align).op_count
    assert ops > 2
    seen = set()
    for index in range(ops):
        cut = NorFlash.from_image(base, flash_map.sector_size, flash_map.align)
        cut.schedule_cut(cut.op_count + index, "middle")
        try:
            ks.KeyStore(cut, flash_map, _rng(b"cut")).rotate(ks.KEY_EDHOC_IDENTITY, new)
            raise AssertionError("no cut at op %d" % index)
        except PowerCut:
            pass
        cut.power_on()
        after = ks.KeyStore(cut, flash_map, _rng(b"after"))
        got = after.get(ks.KEY_EDHOC_IDENTITY)
        assert got in (old, new), index
        seen.add(got)
        after.put(9, b"\x99" * 8)                       # and the store still works
        assert after.get(9) == b"\x99" * 8 and after.get(ks.KEY_EDHOC_IDENTITY) == got
    assert seen == {old, new}


def test_zeroize_destroys_the_keys_for_good():
    flash_map, flash, store = _board(b"6")
    secrets = [store.get(k) for k in store.key_ids()]
    store.zeroize()
    assert store.otp.device_key_state() == "destroyed" and store.otp.is_decommissioned()
    assert _raises(ks.KeyStoreError, store.get, ks.KEY_EDHOC_IDENTITY)
    assert _raises(ks.KeyStoreError, ks.KeyStore(flash, flash_map, _rng(b"z")).put, 3, b"x")
    assert _clear_in_flash(flash, secrets) == []
    assert flash_map.region(flash, fm.KEYSTORE).is_erased(0, flash_map.size(fm.KEYSTORE))


def test_escrow_recovers_a_dead_boards_credentials_onto_a_spare():
    escrow_public = crypto.x25519_public(ESCROW_PRIVATE)
    _, _, store = _board(b"7")
    blob = escrow.export_credentials(store, escrow_public, _rng(b"export"))
    for key in store.key_ids():                       # the export is sealed too
        assert store.get(key) not in blob
    device_id, credentials = escrow.open_export(blob, ESCROW_PRIVATE)
    assert device_id == store.device_id()
    assert sorted(credentials) == store.key_ids()
    for key_id in credentials:
        assert credentials[key_id] == store.get(key_id)
    # The spare has its own device key: same credentials, sealed differently.
    spare_map, spare_flash, spare = _board(b"8")
    escrow.restore(spare, credentials)
    assert spare.get(ks.KEY_EDHOC_IDENTITY) == store.get(ks.KEY_EDHOC_IDENTITY)
    assert spare.get(ks.KEY_AUDIT_MAC) == store.get(ks.KEY_AUDIT_MAC)
    assert spare.device_id() != store.device_id()
    assert ks.KeyStore(spare_flash, spare_map, _rng(b"r")).get(ks.KEY_AUDIT_MAC) == \
        store.get(ks.KEY_AUDIT_MAC)


def test_escrow_refuses_the_wrong_key_tampering_and_junk():
    escrow_public = crypto.x25519_public(ESCROW_PRIVATE)
    _, _, store = _board(b"9")
    blob = escrow.export_credentials(store, escrow_public, _rng(b"export"))
    assert _raises(escrow.EscrowError, escrow.open_export, blob, b"\x42" * 32)
    for index in (len(blob) - 3, len(blob) - 20, 12):
        bad = bytearray(blob)
        bad[index] ^= 1
        assert _raises(escrow.EscrowError, escrow.open_export, bytes(bad), ESCROW_PRIVATE), \
            index
    for junk in (b"", b"\x00", b"\x85\x01", blob[:-1], b"\xff" * 40):
        assert _raises(escrow.EscrowError, escrow.open_export, junk, ESCROW_PRIVATE), junk
    assert _raises(escrow.EscrowError, escrow.export_credentials, store, b"short", _rng(b"x"))
