"""A few hours of a real pump's audit log, as the gateway files it: the firmware on memory
hardware (tests/portable/pump_fixtures.py) doing what a day at home does, its log read
back through ``pump.audit_log.verify``, and the records in the store's page form."""

from pump import audit_log as L
from pump import therapy_table as T
from pump.units import MS_PER_MINUTE

import pump_fixtures as F

WALL0 = 1780000000                  # 2026-05-28T20:26:40Z, the pump's clock once set
CALCULATOR = [[0, 100, 50, 100, 120]]     # 10 g/U, ISF 50, target 100..120 all day


class Day:
    """The pump, its verified records and what was done to it (for expected rows)."""

    def __init__(self):
        pump, hw, flash = F.make_pump(rate_mu_h=1000)
        self.pump, self.hw, self.flash = pump, hw, flash
        assert pump.set_wall_clock(WALL0).ok
        assert pump.set_calculator(CALCULATOR).ok
        self.run(1)
        assert pump.bolus(1500).ok                           # a 1.5 U correction
        self.run(20)
        assert pump.temp_basal(30 * MS_PER_MINUTE, percent=150).ok
        self.run(10)
        assert pump.cancel_temp_basal().ok
        self.run(1)
        assert pump.temp_basal(60 * MS_PER_MINUTE, rate_mu_h=500).ok
        self.run(60)
        assert pump.suspend(30 * MS_PER_MINUTE).ok
        self.run(31)                                          # resumes by itself
        assert pump.state == T.DELIVERING
        assert pump.bolus(100000).code != 0                   # refused: out of range
        assert pump.suggest_bolus(45).ok                      # 45 g of carbohydrate
        hw.ui.pressed = True
        assert pump.confirm_suggestion().ok                   # the patient confirms
        hw.ui.pressed = False
        self.run(10)
        hw.pressure.mbar = 1600                               # the line occludes
        self.run(30)
        assert pump.state == T.ALARM
        hw.pressure.mbar = 100
        assert pump.acknowledge().ok and pump.state == T.DELIVERING
        self.run(30)
        hw.reservoir.mu = 15000                               # nearly empty: a warning
        self.run(10)
        self.records = L.verify(F.region(flash), F.KEY, pump.log_head())

    def run(self, minutes):
        F.run_for(self.pump, self.hw, minutes * MS_PER_MINUTE)

    def rows(self):
        """The records as ``Store.add_log_page`` takes them, every chain recomputed."""
        return [(r.seq, r.tick, r.wall, r.type, r.data, r.chain, True) for r in self.records]

    def pages(self, size=32):
        rows = self.rows()
        return [rows[i:i + size] for i in range(0, len(rows), size)]

    def of_type(self, rtype):
        return [r for r in self.records if r.type == rtype]

    def commands(self, op):
        return [r for r in self.of_type(L.EV_COMMAND) if r.data["op"] == op]


_DAY = None


def day():
    """One Day per test run (the firmware takes a moment to run it); read-only."""
    global _DAY
    if _DAY is None:
        _DAY = Day()
    return _DAY
