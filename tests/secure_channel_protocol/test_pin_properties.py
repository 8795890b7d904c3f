"""PIN store properties: PBKDF2 against hashlib, and a state machine of attempts, reboots
and power cuts at random flash operations. The counter must never fall below what the
attempts made durable, and a cut can only ever add failures, never remove one."""

import hashlib

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bootloader.flash import FlashRegion, NorFlash, PowerCut
from conftest import examples
from pump import pin as P
from pump.hal import CountingRng, MemoryClock

SECTOR = 256
RIGHT, WRONG = "4826", "1357"


@pytest.mark.verifies("DC-PIN-HASH")
@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=40), st.integers(1, 40), st.integers(1, 80))
def test_pbkdf2_matches_hashlib(password, salt, iterations, length):
    assert P.pbkdf2_hmac_sha256(password, salt, iterations, length) == \
        hashlib.pbkdf2_hmac("sha256", password, salt, iterations, length)


@pytest.mark.verifies("DC-PIN-HASH")
@settings(max_examples=examples(1000), deadline=None)
@given(st.text(max_size=14))
def test_policy_never_accepts_a_trivial_pin(pin):
    if P.policy_problem(P.PATIENT, pin):
        return
    assert pin.isdigit() and 4 <= len(pin) <= 8
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    assert steps not in ({0}, {1}, {9})
    assert len(set(pin)) >= 2 and pin not in P.COMMON_PINS


class PinMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.flash = NorFlash(3 * SECTOR, SECTOR)
        self.clock = MemoryClock()
        self.store = self.open()
        assert self.store.set_pin(P.PATIENT, RIGHT, 0).ok
        self.failures = 0          # the model: consecutive failures made durable

    def open(self):
        return P.PinStore(FlashRegion(self.flash, 0, self.flash.size), CountingRng(b"m"),
                          self.clock, iterations=2, base_delay_ms=1000, max_delay_ms=8000)

    @rule(ms=st.integers(0, 10000))
    def wait(self, ms):
        self.clock.advance(ms)

    @rule(right=st.booleans())
    def attempt(self, right):
        now = self.clock.ticks_ms()
        locked = self.store.wait_ms(P.PATIENT, now) > 0
        result = self.store.verify(P.PATIENT, RIGHT if right else WRONG, now)
        if locked:
            assert result.reason == P.LOCKED
        elif right:
            assert result.ok
            self.failures = 0
        else:
            assert result.reason == P.WRONG
            self.failures += 1

    @rule()
    def reboot(self):
        self.store = self.open()
        assert self.store.failures[P.PATIENT] == self.failures

    @precondition(lambda self: self.store.wait_ms(P.PATIENT, self.clock.ticks_ms()) == 0)
    @rule(right=st.booleans(), op=st.integers(0, 4),
          where=st.sampled_from(["before", "middle", "after"]))
    def cut_during_attempt(self, right, op, where):
        before = self.failures
        compared = self.store.comparisons
        self.flash.schedule_cut(self.flash.op_count + op, where)
        try:
            self.store.verify(P.PATIENT, RIGHT if right else WRONG, self.clock.ticks_ms())
        except PowerCut:
            pass
        self.flash.power_on()
        self.store_before = self.store
        self.store = self.open()
        now_failures = self.store.failures[P.PATIENT]
        if not right:
            assert now_failures >= before
            if self.store_before.comparisons > compared:
                assert now_failures >= before + 1
        self.failures = now_failures        # what a cut leaves is ambiguous; it is the truth now

    @invariant()
    def bounded_wait(self):
        assert 0 <= self.store.wait_ms(P.PATIENT, self.clock.ticks_ms()) <= 8000


TestPinMachine = PinMachine.TestCase
TestPinMachine.settings = settings(max_examples=examples(100), stateful_step_count=30,
                                   deadline=None)
