"""Local PINs: policy, PBKDF2, persistent lockout, power cuts, two factors.

Runs on CPython and on MicroPython. PBKDF2-HMAC-SHA256 vectors are the widely published
ones for P="password", S="salt" (also in RFC 7914 §11 for "passwd"/"salt").
"""

from binascii import unhexlify

from bootloader.flash import FlashRegion, NorFlash, PowerCut
from pump import results
from pump import pin as P
from pump.hal import CountingRng, MemoryClock
from pump_fixtures import make_pump
from evidence_links import verifies

SECTOR = 256


def new_store(flash=None, clock=None, audit=None, **options):
    flash = flash or NorFlash(4 * SECTOR, SECTOR)
    clock = clock or MemoryClock()
    options.setdefault("iterations", 4)
    store = P.PinStore(FlashRegion(flash, 0, flash.size), CountingRng(b"pin"), clock,
                       pepper=b"device-unique-key-0123456789abcd", audit=audit, **options)
    return store, flash, clock


def reopen(flash, clock, **options):
    return new_store(flash, clock, **options)[0]


def test_pbkdf2_vectors():
    vectors = [
        (b"password", b"salt", 1, 32,
         "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"),
        (b"password", b"salt", 2, 32,
         "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"),
        (b"password", b"salt", 4096, 32,
         "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"),
        (b"passwd", b"salt", 1, 64,
         "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
         "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"),
    ]
    for password, salt, iterations, length, expected in vectors:
        assert P.pbkdf2_hmac_sha256(password, salt, iterations, length) == unhexlify(expected)


@verifies("DC-PIN-HASH")
def test_policy_refuses_trivial_pins():
    for bad in ("0000", "1111", "1234", "4321", "8901", "0987", "1212", "123123", "1987",
                "2024", "2580", "123", "123456789", "12a4", "", "112211", "343434", "1357",
                "9630"):
        assert P.policy_problem(P.PATIENT, bad), bad
    for bad in ("48263", "4826", "567890", "1212121212", "111222"):
        assert P.policy_problem(P.CLINICIAN, bad), bad
    for good in ("4826", "7391", "58203", "90417362"):
        assert P.policy_problem(P.PATIENT, good) == "", good
    for good in ("731952", "480261937"):
        assert P.policy_problem(P.CLINICIAN, good) == "", good
    assert "4826" not in P.policy_problem(P.PATIENT, "4826x")


def test_set_and_verify():
    store, flash, clock = new_store()
    assert store.verify(P.PATIENT, "4826", 0).reason == P.UNSET
    assert store.set_pin(P.PATIENT, "4826", 0).ok
    assert store.verify(P.PATIENT, "4826", 0).ok
    wrong = store.verify(P.PATIENT, "4827", 0)
    assert wrong.code == results.ERR_GUARD and wrong.reason == P.WRONG
    assert store.failures[P.PATIENT] == 1
    assert store.verify(P.PATIENT, "4826", 0).ok
    assert store.failures[P.PATIENT] == 0
    assert store.verify(P.PATIENT, 4826, 0).code == results.ERR_TYPE
    policy = store.set_pin(P.CLINICIAN, "123456", 0)
    assert policy.code == results.ERR_RANGE and policy.reason.startswith(P.POLICY)


def test_changing_a_pin_needs_the_current_one():
    store, flash, clock = new_store()
    assert store.set_pin(P.PATIENT, "4826", 0).ok
    assert store.set_pin(P.PATIENT, "7391", 0).code == results.ERR_GUARD
    assert store.set_pin(P.PATIENT, "7391", 0, current_pin="0000").reason == P.WRONG
    assert store.set_pin(P.PATIENT, "7391", 0, current_pin="4826").ok
    assert store.verify(P.PATIENT, "7391", 0).ok
    assert not store.verify(P.PATIENT, "4826", 0).ok


@verifies("SC-PIN-LOCKOUT")
def test_lockout_grows_and_survives_a_reboot():
    store, flash, clock = new_store()
    store.set_pin(P.PATIENT, "4826", 0)
    for _ in range(3):
        assert store.verify(P.PATIENT, "9999", 1000).reason == P.WRONG
    locked = store.verify(P.PATIENT, "4826", 1000)         # even the right PIN waits
    assert locked.reason == P.LOCKED and locked.value == P.BASE_DELAY_MS
    store = reopen(flash, clock)
    assert store.failures[P.PATIENT] == 3
    assert store.verify(P.PATIENT, "4826", 1000 + P.BASE_DELAY_MS - 1).reason == P.LOCKED
    assert store.verify(P.PATIENT, "9999", 1000 + P.BASE_DELAY_MS).reason == P.WRONG
    assert store.wait_ms(P.PATIENT, 1000 + P.BASE_DELAY_MS) == 2 * P.BASE_DELAY_MS
    assert store.verify(P.CLINICIAN, "731952", 0).reason == P.UNSET   # roles apart
    later = 1000 + 3 * P.BASE_DELAY_MS
    assert store.verify(P.PATIENT, "4826", later).ok
    assert reopen(flash, clock).failures[P.PATIENT] == 0


def test_delay_is_capped_and_a_clock_behind_cannot_lock_forever():
    store, flash, clock = new_store()
    assert store.delay_ms(200) == P.MAX_DELAY_MS
    store.set_pin(P.PATIENT, "4826", 0)
    now = 10 ** 9
    for _ in range(4):
        store.verify(P.PATIENT, "9999", now)
        now += store.wait_ms(P.PATIENT, now)
    assert store.failures[P.PATIENT] == 4
    assert store.wait_ms(P.PATIENT, 0) == store.delay_ms(4)          # ticks went back


@verifies("DC-PIN-HASH")
def test_no_pin_in_the_clear():
    audit = []
    store, flash, clock = new_store(audit=lambda op, reason: audit.append((op, reason)))
    store.set_pin(P.PATIENT, "482613", 0)
    store.set_pin(P.CLINICIAN, "731952", 0)
    store.verify(P.PATIENT, "590317", 0)
    image = flash.image()
    for pin in ("482613", "731952", "590317"):
        assert image.find(pin.encode()) < 0
        assert pin not in repr(store)
        for op, reason in audit:
            assert pin not in op and pin not in reason
    assert audit == [("pin_patient", P.WRONG)]


def test_compaction_keeps_state_across_sectors():
    store, flash, clock = new_store()
    store.set_pin(P.PATIENT, "4826", 0)
    store.set_pin(P.CLINICIAN, "731952", 0)
    now = 0
    for i in range(60):
        now += store.wait_ms(P.PATIENT, now)
        store.verify(P.PATIENT, "4826" if i % 7 == 6 else "1357", now)
    assert store._seq > 3                                    # it rotated several times
    again = reopen(flash, clock)
    assert again.failures == store.failures
    assert again.locked_until == store.locked_until
    assert again.verify(P.CLINICIAN, "731952", now).ok


def _session(store, log):
    """Wrong, wrong, right, wrong attempts; log (failures before, pin was right) per step."""
    now = 0
    for pin in ("1357", "2468", "4826", "1357"):
        log.append((store.failures[P.PATIENT], pin == "4826"))
        store.verify(P.PATIENT, pin, now)
        now += 10 ** 7


@verifies("SC-PIN-LOCKOUT")
def test_power_cut_never_resets_the_counter():
    base, flash, clock = new_store()
    base.set_pin(P.PATIENT, "4826", 0)
    for _ in range(7):                       # nearly fill the sector: the session compacts
        assert base.verify(P.PATIENT, "4826", 0).ok
    snapshot = flash.image()
    probe = NorFlash.from_image(snapshot, SECTOR)
    start = probe.op_count
    probe_store = reopen(probe, clock)
    _session(probe_store, [])
    ops = probe.op_count - start
    assert ops >= 8 and probe_store._seq == base._seq + 1
    checked = 0
    for index in range(ops):
        for where in ("before", "middle", "after"):
            trial = NorFlash.from_image(snapshot, SECTOR)
            store = reopen(trial, clock)
            trial.schedule_cut(trial.op_count + index, where)
            log = []
            try:
                _session(store, log)
            except PowerCut:
                pass
            else:
                raise AssertionError("no cut at op %d" % index)
            trial.power_on()
            after = reopen(trial, clock)
            before, right = log[-1]
            compared = store.comparisons > len(log) - 1
            if not right:
                assert after.failures[P.PATIENT] >= before, (index, where)
                if compared:
                    assert after.failures[P.PATIENT] >= before + 1, (index, where)
            assert after.verify(P.PATIENT, "4826", 10 ** 9).ok or \
                after.wait_ms(P.PATIENT, 10 ** 9) > 0
            checked += 1
    assert checked == 3 * ops


def test_two_factors_for_clinician_settings():
    store, flash, clock = new_store()
    store.set_pin(P.CLINICIAN, "731952", 0)
    pump, hw, _ = make_pump(start=False)
    rates = [800] * 48
    no_pin = P.apply_local_settings(pump, store, "clinician", 0, rates=rates)
    assert no_pin.code == results.ERR_GUARD and "PIN" in no_pin.reason
    assert store.verify(P.CLINICIAN, "731952", 0).ok
    no_session = P.apply_local_settings(pump, store, "patient", 0, rates=rates)
    assert no_session.code == results.ERR_GUARD and "session" in no_session.reason
    assert P.apply_local_settings(pump, store, "clinician", 1000, rates=rates,
                                  limits={"max_bolus_mu": 4000}).ok
    assert pump.controller.engine.program == rates
    assert not P.authorize_clinician_settings(store, "clinician", P.GRANT_MS).ok
    assert store.verify(P.CLINICIAN, "731952", 0).ok
    store.end_clinician_session()
    assert not P.authorize_clinician_settings(store, "clinician", 1).ok


def test_clinician_may_reset_the_patient_pin_with_both_factors():
    store, flash, clock = new_store()
    store.set_pin(P.PATIENT, "4826", 0)
    store.set_pin(P.CLINICIAN, "731952", 0)
    assert store.set_pin(P.PATIENT, "7391", 0, session_role="clinician").code == \
        results.ERR_GUARD
    assert store.verify(P.CLINICIAN, "731952", 0).ok
    assert store.set_pin(P.PATIENT, "7391", 0, session_role="gateway").code == \
        results.ERR_GUARD
    assert store.set_pin(P.PATIENT, "7391", 0, session_role="clinician").ok
    assert store.verify(P.PATIENT, "7391", 0).ok
