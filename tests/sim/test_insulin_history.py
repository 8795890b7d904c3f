"""The gateway's insulin history from the pump's reservoir counter (for the AID loop)."""

import pytest

from secure_channel.protocol import schema as S
from sim.loop import insulin_history as H

DELIVERING = S.STATE_CODES["delivering"]
STOPPED = S.STATE_CODES["stopped"]


def test_the_curve_is_the_pumps_and_its_activity_sums_to_the_whole_dose():
    assert H.remaining(0) == 1.0 and H.remaining(H.DIA_MIN) == 0.0
    assert H.remaining(75) == pytest.approx(1 - 75 * 75 / (75 * 300))
    total = sum(H.activity(m + 0.5) for m in range(300))
    assert total == pytest.approx(1.0, abs=1e-4)
    for minute in range(0, 300, 5):              # activity is minus the slope of IOB
        slope = (H.remaining(minute + 0.5) - H.remaining(minute + 1.5))
        assert H.activity(minute + 1) == pytest.approx(slope, abs=1e-6)


def telemetry(pulses, state=DELIVERING):
    return {"reservoir_pulses": pulses, "state": state}


def test_net_insulin_is_the_reservoirs_drop_less_the_scheduled_basal():
    history = H.InsulinHistory()
    history.telemetry(0, telemetry(10000), 1.2)
    history.telemetry(5, telemetry(10000 - 40 - 4), 1.2)     # 1 U bolus + 0.1 U basal
    iob, act = history.iob_and_activity(5)
    assert history.doses == [(2.5, pytest.approx(1.0))]
    assert iob == pytest.approx(1.0 * H.remaining(2.5))
    assert act == pytest.approx(1.0 * H.activity(2.5))
    assert history.missing_basal_min() == 0


def test_no_therapy_is_missing_basal_and_a_reservoir_change_is_no_insulin():
    history = H.InsulinHistory()
    history.telemetry(0, telemetry(5000), 1.2)
    history.telemetry(30, telemetry(5000, STOPPED), 1.2)      # stopped for 30 min
    assert history.missing_basal_min() == pytest.approx(30)
    history.telemetry(60, telemetry(12000), 1.2)              # a fresh reservoir
    assert history.doses[-1][1] == pytest.approx(-0.6)         # no insulin, none counted
    history.telemetry(400, telemetry(12000 - 272), 1.2)       # 340 min at 1.2 U/h
    assert history.missing_basal_min() == pytest.approx(30)    # the stop: older than 6 h
