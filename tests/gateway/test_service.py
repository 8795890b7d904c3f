"""The gateway service against the real firmware over the in-memory secure link: the
pump's log filed completely and checked, a cut link resumed, the clock kept in bounds."""

import pytest

from gateway_helpers import PumpWorld
from pump import audit_log as L
from pump import therapy_table as T
from sim.gateway import service as G
from sim.gateway.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "gateway.db"))
    yield s
    s.close()


def pump_clock(pw):
    return pw.pump.clock.wall_s()


@pytest.mark.verifies("SC-LOG-CHAIN")
def test_a_cycle_files_the_whole_log_with_every_chain_recomputed(store):
    pw = PumpWorld()
    pw.run_minutes(24 * 60)
    service = G.Service(pw.client, store, clock=lambda: pump_clock(pw))
    summary = service.cycle()
    log = pw.log()
    assert summary["records"] == len(log) > 80
    stored = list(store.log_records())
    assert [r[0] for r in stored] == [r.seq for r in log]
    assert [(r[1], r[2], r[3]) for r in stored] == [(r.tick, r.wall, r.type) for r in log]
    # every record the pump could send whole is verified from the genesis hash on
    for row, record in zip(stored, log):
        assert row[5] == record.chain
        assert row[6] == (row[4] is not None)
    assert sum(1 for row in stored if not row[6]) >= 1      # checkpoints, sent without data
    counts = store.counts()
    assert counts["deliveries"] == sum(1 for r in log if r.type == L.EV_RESERVE)
    assert counts["alarms"] == sum(1 for r in log if r.type in
                                   (L.EV_ALARM, L.EV_WARNING, L.EV_SAFE_STOP))
    assert store.integrity() == "ok"
    assert store.latest_status()["state"] == "delivering"


def test_a_later_cycle_adds_only_what_is_new(store):
    pw = PumpWorld()
    pw.run_minutes(60)
    service = G.Service(pw.client, store, clock=lambda: pump_clock(pw))
    service.cycle()
    first = store.counts()["log_records"]
    pw.run_minutes(120)
    G.Service(pw.client, store, clock=lambda: pump_clock(pw)).cycle()   # a restarted gateway
    assert store.counts()["log_records"] == len(pw.log()) > first
    assert store.integrity() == "ok"


def test_a_link_cut_mid_catch_up_loses_nothing_and_resumes(store):
    pw = PumpWorld()
    pw.run_minutes(24 * 60)
    service = G.Service(pw.client, store, clock=lambda: pump_clock(pw))
    pw.client.fail_after = 4               # status, cgm_history, then two log pages
    with pytest.raises(G.LinkDown):
        service.cycle()
    partial = store.counts()["log_records"]
    assert 0 < partial < len(pw.log())
    pw.client.fail_after = None
    G.Service(pw.client, store, clock=lambda: pump_clock(pw)).cycle()
    assert [r[0] for r in store.log_records()] == [r.seq for r in pw.log()]


@pytest.mark.verifies("DC-LOG-CLOCK")
def test_a_clock_off_within_the_bound_is_stepped_and_logged_by_the_pump(store):
    pw = PumpWorld()
    pw.run_minutes(10)
    ahead = 120
    gateway_s = pump_clock(pw) + ahead
    service = G.Service(pw.client, store, clock=lambda: gateway_s)
    service.cycle()
    assert "time_sync" in pw.client.sent
    assert abs(pump_clock(pw) - service.now()) <= G.CLOCK_TOLERANCE_S
    row = store.db.execute("SELECT step_s, accepted FROM clock_syncs").fetchall()
    assert row == [(ahead, 1)]
    assert any(r.type == L.EV_CLOCK for r in pw.log())


@pytest.mark.verifies("SC-CLOCK-BOUND")
def test_a_clock_step_beyond_the_bound_is_refused_and_alarmed(store):
    pw = PumpWorld()
    pw.run_minutes(10)
    before = pump_clock(pw)
    notes = []
    service = G.Service(pw.client, store, clock=lambda: pump_clock(pw) + 6 * 3600,
                        note=notes.append)
    service.cycle()
    assert "time_sync" not in pw.client.sent
    assert pump_clock(pw) - before < 60                     # the pump's clock untouched
    assert store.db.execute("SELECT accepted FROM clock_syncs").fetchall() == [(0,)]
    events = store.db.execute("SELECT kind FROM security_events WHERE source = 'gateway'")
    assert [e[0] for e in events] == ["clock step refused"]
    assert notes and "beyond the 300 s bound" in notes[0]
    service.new_session()
    service.cycle()                      # the same wrong difference is not alarmed twice
    assert store.db.execute("SELECT COUNT(*) FROM clock_syncs").fetchone()[0] == 1


def test_in_accelerated_time_the_gateway_takes_the_pump_clock(store):
    pw = PumpWorld()
    pw.run_minutes(10)
    service = G.Service(pw.client, store, clock=lambda: 5.0, adopt_pump_clock=True)
    service.cycle()
    assert abs(service.now() - pump_clock(pw)) <= 1
    assert "time_sync" not in pw.client.sent


@pytest.mark.verifies("SC-LOG-CHAIN")
def test_a_page_changed_on_the_way_is_not_stored(store):
    pw = PumpWorld()
    pw.run_minutes(3 * 60)
    service = G.Service(pw.client, store, clock=lambda: pump_clock(pw))
    service.catch_up_log()
    stored = store.counts()["log_records"]
    pw.run_minutes(60)

    def tamper(name, answer):
        if name == "read_log" and answer.fields["records"]:
            record = answer.fields["records"][0]
            record[2] += 1                 # a wall time moved by a second
    pw.client.tamper = tamper
    assert service.catch_up_log() == 0
    assert store.counts()["log_records"] == stored
    assert service.diverged and "does not extend" in service.diverged
    assert store.meta("log_diverged") == service.diverged


def test_a_log_that_restarted_is_a_security_event_not_a_merge(store):
    pw = PumpWorld()
    pw.run_minutes(3 * 60)
    G.Service(pw.client, store, clock=lambda: pump_clock(pw)).cycle()
    other = PumpWorld(seed=2)               # another log behind the same store
    service = G.Service(other.client, store, clock=lambda: pump_clock(other))
    service.cycle()
    assert service.diverged
    kinds = [k for k, in store.db.execute("SELECT kind FROM security_events "
                                          "WHERE source = 'gateway'")]
    assert "audit log diverged" in kinds
    assert [r[0] for r in store.log_records()] == [r.seq for r in pw.log()]


@pytest.mark.verifies("SC-LOG-CHAIN", "IL-LOG-INTEGRITY")
def test_a_log_edited_in_flash_is_refused_by_the_pump_at_the_next_record(store):
    """Found while running, the damage gets the answer it gets at boot: safe-stop with the
    alarm at once, not an insulin pump that goes on until its next power cycle and then
    stops; the damaged log is kept as evidence, not written on."""
    pw = PumpWorld()
    pw.run_minutes(60)
    service = G.Service(pw.client, store, clock=lambda: pump_clock(pw))
    service.cycle()
    pw.world.flash._data[200] ^= 0x01           # inside the first records; no driver call
    pw.run_minutes(30)                          # the pump logs on: its head moves
    with pytest.raises(G.PumpRefused, match="log integrity"):
        service.catch_up_log()
    pump = pw.world.pump
    assert pump.state == T.SAFE_STOP and pump.controller.alarm_id == "IL-LOG-INTEGRITY"
    assert pump.monitor.latched == "IL-LOG-INTEGRITY" and pump.hw.ui.alarm_active
    assert pump.log.problem
    head = pump.log_head()
    pulses = pump.hw.motor.steps
    pw.run_minutes(30)
    assert pump.log_head() == head and pump.hw.motor.steps == pulses


def test_in_fast_mode_the_same_service_files_a_simulated_day(tmp_path):
    from sim import scenario as S
    from sim.loop.simulation import Simulation
    from sim.loop.world import LOG_KEY
    simulation = Simulation(S.default(), "adult#001", days=1,
                            gateway_db=str(tmp_path / "gateway.db"))
    run = simulation.run()
    assert run["ended"] is None
    world = simulation.world
    log = L.verify(world.flash, LOG_KEY, world.pump.log_head())
    assert run["gateway"]["log_records"] == len(log)
    assert run["gateway"]["readings"] >= 280            # a day of 5-minute readings
    store = Store(str(tmp_path / "gateway.db"))
    try:
        assert [r[0] for r in store.log_records()] == [r.seq for r in log]
        assert store.integrity() == "ok"
    finally:
        store.close()


def test_readings_are_dated_on_the_gateways_clock_when_the_pumps_is_wrong(store):
    pw = PumpWorld()
    pw.run_minutes(10)
    for minute in range(0, 30, 5):              # readings the pump's own sensor took
        now = pw.now()
        pw.world.cgm_buffer.add(now, 120 + minute, 0)
        pw.run_minutes(5)
    gateway_s = pump_clock(pw)
    assert pw.pump.set_wall_clock(gateway_s + 3600).ok      # an hour ahead, refused below
    service = G.Service(pw.client, store, clock=lambda: gateway_s)
    service.cycle()
    assert store.db.execute("SELECT accepted FROM clock_syncs").fetchall() == [(0,)]
    times = [t for t, _, _ in store.readings_since(0)]
    assert times and max(times) <= gateway_s                 # none in the future
    assert gateway_s - max(times) == 5 * 60                  # the newest: 5 min old
