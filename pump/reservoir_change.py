"""The reservoir change: rewind, load, fill the tubing, connect, fill the cannula.

Part of ``TherapyController`` (a mixin over its state). Tubing fill happens disconnected
(the patient confirms on the pump, a guard of the state table) and is bounded per fresh
reservoir: only a reservoir whose reading rose by more than the budget at loading renews
it. Cannula fill reaches the patient: it is reserved in the ledger like a bolus and so
counts in the 1 h / 24 h windows and insulin on board.
"""

from pump import delivery, results, therapy_table as T
from pump.continuity import SUPERVISION_MS
from pump.ledger import ACTIVE
from pump.results import Refused
from pump.units import MS_PER_MINUTE, PULSE_MU

FILL_SLACK_MS = 2 * MS_PER_MINUTE        # a cannula-fill reservation's end beyond schedule


class ReservoirChange:
    """The reservoir-change commands and their delivery, for ``TherapyController``."""

    def rewind(self, now):
        self.fire("rewind", now)
        self.reservoir_at_rewind = self.hw.reservoir.remaining_mu()

    def load_reservoir(self, now):
        """Returns True when a fresh reservoir was loaded: only that renews the tubing-fill
        budget (a reboot or a repeated change with the same reservoir does not)."""
        self.fire("load_reservoir", now)
        fresh = self.hw.reservoir.remaining_mu() > self.reservoir_at_rewind + \
            self.limits.max_prime_mu
        if fresh:
            self.tubing_left = self.limits.max_prime_mu
        return fresh

    def prime(self, now, mu):
        """Fill the tubing (disconnected: the patient confirms on the pump)."""
        if self.state != T.LOADED:
            raise Refused(results.ERR_STATE, "tubing fill needs a loaded reservoir")
        if mu > self.tubing_left:
            raise Refused(results.ERR_INTERLOCK, "IL-PRIME-MAX")
        if self.hw.reservoir.remaining_mu() < mu:
            raise Refused(results.ERR_INTERLOCK, "IL-RESERVOIR-EMPTY")
        self.fire("prime", now)
        self.tubing_left -= mu
        self.engine.prime_pulses = mu // PULSE_MU

    def fill_cannula(self, now, mu):
        """Fill the cannula, connected: insulin to the patient, counted as delivered."""
        if self.state != T.CONNECTED:
            raise Refused(results.ERR_STATE, "cannula fill needs a connected infusion set")
        if mu > self.limits.max_cannula_fill_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-CANNULA-MAX")
        self.check_history(now)
        if self.hw.reservoir.remaining_mu() < mu:
            raise Refused(results.ERR_INTERLOCK, "IL-RESERVOIR-EMPTY")
        if self.insulin_on_board(now) + mu > self.limits.max_iob_mu:
            raise Refused(results.ERR_INTERLOCK, "IL-IOB-MAX")
        self.check_windows(now, mu)
        pulses = mu // PULSE_MU
        self.fire("fill_cannula", now)
        end = now + pulses * delivery.PULSE_INTERVAL_MS + FILL_SLACK_MS
        self._apply_deltas([[end, mu, ACTIVE]], now)
        self.engine.cannula_pulses = pulses
        return pulses

    def _fill(self, now):
        engine = self.engine
        kind = engine.due(now, priming=True)
        if kind is not None:
            return self._request(kind)
        return self._fill_wake(now)

    def _fill_wake(self, now):
        engine = self.engine
        state = self.machine.state
        if state == T.PRIMING and engine.prime_pulses == 0:
            self.fire("prime_done", now)
        elif state == T.FILLING_CANNULA and engine.cannula_pulses == 0:
            self.fire("cannula_done", now)
        else:
            self.note_therapy()
            return max(engine.next_pulse_at, now + 1)
        self.note_therapy()
        return now + SUPERVISION_MS
