"""A reboot's recovery and the gateway's log reads hold the pump's state and one page,
never the whole audit log.

Hazard: on a board the log region is larger than the heap's free room. A recovery that
keeps every record of the log in RAM fails with MemoryError at boot once the log has
filled: the pump then reboots, fails again, and never resumes basal (a silent stop); a
log reader that keeps them does the same on the gateway's next catch-up. Measured with
tracemalloc: the peak must not grow with the log.
"""

import tracemalloc

import pytest

from pump import audit_log as L
from pump.units import MS_PER_HOUR
from secure_channel.protocol import dispatch

from pump_fixtures import KEY, make_pump, new_flash, reboot, region, run_for


def _pump_with_log(refusals):
    """A pump an hour into basal with ``refusals`` refused boluses logged after it."""
    pump, hw, flash = make_pump(rate_mu_h=1800, flash=new_flash(32))
    run_for(pump, hw, MS_PER_HOUR)
    for _ in range(refusals):
        assert not pump.bolus(50000).ok             # above the limit: refused and logged
    run_for(pump, hw, MS_PER_HOUR)
    return pump, hw, flash


def _peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def logs():
    """A short log and one about eight times longer, on the same flash size."""
    return {size: _pump_with_log(refusals) for size, refusals in (("short", 150),
                                                                   ("long", 1500))}


def _records(flash):
    return len(L.verify(region(flash), KEY))


def test_a_gateway_catching_up_reads_every_record_once_and_in_order(logs):
    pump, hw, flash = logs["long"]
    reader = dispatch.verified_log_reader(region(flash), KEY, pump.log_head)
    seen, start, complete = [], 1, False
    while not complete:
        records, complete = reader(start)
        seen.extend(record.seq for record in records)
        start = records[-1].seq + 1 if records else start
    assert seen == [record.seq for record in L.verify(region(flash), KEY)]


@pytest.mark.verifies("IL-HISTORY-UNKNOWN")
def test_a_reboot_needs_no_more_memory_with_a_longer_log(logs):
    short, long = logs["short"], logs["long"]
    assert _records(long[2]) > 6 * _records(short[2])
    peaks = {}
    for size, (pump, hw, flash) in logs.items():
        peaks[size], (rebooted, fresh) = _peak(lambda: reboot(hw, flash))
        assert rebooted.state == pump.state          # therapy resumed from the log
    assert peaks["long"] < peaks["short"] + 16 * 1024, peaks


def test_a_log_page_needs_no_more_memory_with_a_longer_log(logs):
    peaks = {}
    for size, (pump, hw, flash) in logs.items():
        oldest = L.verify(region(flash), KEY)[0].seq
        reader = dispatch.verified_log_reader(region(flash), KEY, pump.log_head)
        peaks[size], (records, complete) = _peak(lambda: reader(1))
        assert records[0].seq == oldest and len(records) == dispatch.LOG_WINDOW
        assert not complete
    assert peaks["long"] < peaks["short"] + 16 * 1024, peaks


class CountingRegion:
    """A flash region that counts the bytes read from it."""

    def __init__(self, inner):
        self.inner = inner
        self.size, self.sector_size, self.align = inner.size, inner.sector_size, inner.align
        self.bytes_read = 0

    def read(self, addr, length):
        self.bytes_read += length
        return self.inner.read(addr, length)


@pytest.mark.parametrize("page", [1, 10, 32, 64])
def test_paging_through_the_log_reads_the_flash_once(logs, page):
    """A page sends fewer records than the reader's window (the message size decides):
    the next page must go on from inside the window, not read the log again."""
    pump, hw, flash = logs["long"]
    counted = CountingRegion(region(flash))
    reader = dispatch.verified_log_reader(counted, KEY, pump.log_head)
    seen, start, complete = [], 1, False
    while not complete:
        records, complete = reader(start)
        sent = records[:page]
        seen.extend(record.seq for record in sent)
        complete = complete and len(sent) == len(records)
        start = sent[-1].seq + 1 if sent else start
    assert seen == [record.seq for record in L.verify(region(flash), KEY)]
    whole = CountingRegion(region(flash))
    L.verify(whole, KEY)
    assert counted.bytes_read <= whole.bytes_read * 1.1, (counted.bytes_read, whole.bytes_read)
