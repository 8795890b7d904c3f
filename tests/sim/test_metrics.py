"""Glycaemic and therapy metrics (sim/metrics.py).

Hazard: a metric with a boundary one step off (70 counted as low, 180 as high), a sample SD
where the population SD is documented, or a risk index averaged over the wrong set makes a
controller or a fault look better or worse than it is; a report that is not byte-stable
cannot be diffed between runs. Reference values are hand-computed from the consensus
definitions (Battelino 2019, Bergenstal 2018, Kovatchev 1997/1998), and LBGI/HBGI are
checked against simglucose (installed by `make test`; a missing simglucose fails here).
"""

import json
import math
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import examples
from sim.metrics import GLUCOSE_KEYS, glucose_metrics, risk_f, rounded, run_metrics

matplotlib.use("Agg")   # simglucose.analysis.report draws a figure on every call
import matplotlib.pyplot as plt  # noqa: E402

with warnings.catch_warnings():  # simglucose pulls in gym, which warns on import
    warnings.simplefilter("ignore")
    from simglucose.analysis.report import percent_stats, risk_index_trace
    from simglucose.analysis.risk import risk_index

PCT_KEYS = ("time_in_range_70_180_pct", "time_below_70_pct", "time_below_54_pct",
            "time_above_180_pct", "time_above_250_pct")


def pcts(values):
    m = glucose_metrics(values)
    return tuple(m[k] for k in PCT_KEYS)


def random_series(seed, n, low=40.0, high=400.0):
    return np.random.default_rng(seed).uniform(low, high, n)


# --- time in ranges -----------------------------------------------------------------------

# (g, in range, below 70, below 54, above 180, above 250): each boundary and either side.
MEMBERSHIP = [
    (53.999, 0, 1, 1, 0, 0),
    (54, 0, 1, 0, 0, 0),
    (69.999, 0, 1, 0, 0, 0),
    (70, 1, 0, 0, 0, 0),
    (180, 1, 0, 0, 0, 0),
    (180.001, 0, 0, 0, 1, 0),
    (250, 0, 0, 0, 1, 0),
    (250.001, 0, 0, 0, 1, 1),
]


@pytest.mark.parametrize("row", MEMBERSHIP, ids=lambda row: str(row[0]))
def test_single_sample_falls_in_the_consensus_ranges(row):
    g, *expected = row
    assert pcts([g]) == tuple(100.0 * e for e in expected)


def test_boundary_values_exactly():
    # 54 is not < 54, 70 and 180 are in range, 250 is not > 250.
    assert pcts([54, 70, 180, 250]) == (50.0, 25.0, 0.0, 25.0, 0.0)
    assert pcts([53.9, 69.9, 180.1, 250.1]) == (0.0, 50.0, 25.0, 50.0, 25.0)


def test_percentages_of_a_mixed_series():
    series = [40, 60, 100, 100, 150, 200, 300, 120]
    assert pcts(series) == (50.0, 25.0, 12.5, 25.0, 12.5)


def test_percentages_match_simglucose_percent_stats():
    # simglucose uses the same boundaries for 70-180, <70, >180 and >250 (its low subset is
    # <50, not <54). Integers make the boundaries frequent.
    series = np.random.default_rng(7).integers(40, 300, 500).astype(float)
    series[:8] = [54, 70, 180, 250, 69, 71, 179, 181]
    p_stats, fig, _ = percent_stats(pd.DataFrame({"p": series}))
    plt.close(fig)
    m = glucose_metrics(series)
    assert m["time_in_range_70_180_pct"] == pytest.approx(p_stats["70<=BG<=180"]["p"], abs=1e-9)
    assert m["time_below_70_pct"] == pytest.approx(p_stats["BG<70"]["p"], abs=1e-9)
    assert m["time_above_180_pct"] == pytest.approx(p_stats["BG>180"]["p"], abs=1e-9)
    assert m["time_above_250_pct"] == pytest.approx(p_stats["BG>250"]["p"], abs=1e-9)


@settings(max_examples=examples(200))
@given(st.lists(st.one_of(st.none(), st.floats(1, 1000)), max_size=50))
def test_ranges_partition_the_samples(values):
    m = glucose_metrics(values)
    assert m["samples"] == sum(v is not None for v in values)
    if m["samples"]:
        assert (m["time_in_range_70_180_pct"] + m["time_below_70_pct"]
                + m["time_above_180_pct"]) == pytest.approx(100.0)
        assert m["time_below_54_pct"] <= m["time_below_70_pct"]
        assert m["time_above_250_pct"] <= m["time_above_180_pct"]


# --- mean, SD, CV, GMI --------------------------------------------------------------------

def test_mean_population_sd_and_cv_by_hand():
    m = glucose_metrics([100, 200])
    assert m["mean_mg_dl"] == 150.0
    assert m["sd_mg_dl"] == 50.0            # the sample SD (ddof=1) would be 70.71
    assert m["cv_pct"] == pytest.approx(100 / 3)


def test_sd_and_cv_match_numpy_population_sd():
    for seed in range(5):
        series = random_series(seed, 288)
        m = glucose_metrics(series)
        assert m["mean_mg_dl"] == pytest.approx(np.mean(series), rel=1e-12)
        assert m["sd_mg_dl"] == pytest.approx(np.std(series, ddof=0), rel=1e-12)
        assert m["cv_pct"] == pytest.approx(np.std(series) / np.mean(series) * 100, rel=1e-12)


def test_single_sample_has_zero_sd():
    m = glucose_metrics([123])
    assert (m["sd_mg_dl"], m["cv_pct"]) == (0.0, 0.0)


def test_gmi_formula():
    assert glucose_metrics([154])["gmi_pct"] == pytest.approx(3.31 + 0.02392 * 154)
    # Bergenstal 2018, table 1: a mean of 154 mg/dL is a GMI of 7.0 %.
    assert round(glucose_metrics([154])["gmi_pct"], 1) == 7.0
    assert glucose_metrics([100, 200])["gmi_pct"] == pytest.approx(3.31 + 0.02392 * 150)


# --- LBGI, HBGI ---------------------------------------------------------------------------

def test_risk_scale_as_designed():
    # Kovatchev 1997: the scale is symmetric, r = 10 f^2 reaches ~100 at 20 and 600 mg/dL,
    # and f is zero near 112.5 mg/dL.
    assert glucose_metrics([20])["lbgi"] == pytest.approx(100, abs=0.5)
    assert glucose_metrics([20])["hbgi"] == 0.0
    assert glucose_metrics([600])["hbgi"] == pytest.approx(100, abs=0.5)
    assert glucose_metrics([600])["lbgi"] == 0.0
    assert risk_f(112) < 0 < risk_f(113)


def test_lbgi_hbgi_average_over_all_samples():
    low, high = glucose_metrics([50]), glucose_metrics([300])
    both = glucose_metrics([50, 300])
    assert both["lbgi"] == pytest.approx(low["lbgi"] / 2)
    assert both["hbgi"] == pytest.approx(high["hbgi"] / 2)


@pytest.mark.parametrize("low, high", [(20.0, 112.0), (113.0, 600.0)])
def test_one_sided_series_match_simglucose_risk_index(low, high):
    for seed in range(4):
        series = random_series(seed, 200, low, high)
        lbgi, hbgi, _ = risk_index(series, len(series))
        m = glucose_metrics(series)
        assert m["lbgi"] == pytest.approx(lbgi, rel=1e-12, abs=1e-12)
        assert m["hbgi"] == pytest.approx(hbgi, rel=1e-12, abs=1e-12)


def test_mixed_series_match_simglucose_risk_index_rescaled():
    # risk_index averages rl over the low samples only (and rh over the high ones), so
    # LBGI over all samples is its LBGI * n_low / n.
    for seed in range(6):
        series = random_series(seed, 1 + 97 * seed)
        lbgi, hbgi, _ = risk_index(series, len(series))
        f = 1.509 * (np.log(series) ** 1.084 - 5.381)
        n = len(series)
        m = glucose_metrics(series)
        assert m["lbgi"] == pytest.approx(lbgi * np.sum(f < 0) / n, rel=1e-12, abs=1e-12)
        assert m["hbgi"] == pytest.approx(hbgi * np.sum(f > 0) / n, rel=1e-12, abs=1e-12)


def test_mixed_series_match_simglucose_risk_index_trace():
    # risk_index_trace uses the definition here, per full hour; with whole hours its mean
    # over hours is the mean over samples.
    for seed in range(4):
        series = random_series(seed, 12 * 24)     # a day at 5 min
        ri_per_hour, ri_mean, fig, _ = risk_index_trace(
            pd.DataFrame({"p": series}), sample_time=5)
        plt.close(fig)
        m = glucose_metrics(series)
        assert m["lbgi"] == pytest.approx(ri_mean["LBGI"]["p"], rel=1e-12)
        assert m["hbgi"] == pytest.approx(ri_mean["HBGI"]["p"], rel=1e-12)


# --- missing, empty and bad input ---------------------------------------------------------

def test_none_samples_are_skipped():
    assert glucose_metrics([None, 100, None, 200, None]) == glucose_metrics([100, 200])
    assert glucose_metrics([None, 100, None, 200])["samples"] == 2


@pytest.mark.parametrize("values", [[], [None], [None, None, None], ()])
def test_empty_gives_zero_samples_and_none(values):
    m = glucose_metrics(values)
    assert list(m) == list(GLUCOSE_KEYS)
    assert m["samples"] == 0
    assert all(m[k] is None for k in GLUCOSE_KEYS[1:])
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("bad", ["100", True, b"x", [100], -5, 0, 0.0, 0.5, math.nan,
                                 math.inf, -math.inf])
def test_bad_sample_raises_naming_the_index(bad):
    with pytest.raises(ValueError, match=r"\[2\]"):
        glucose_metrics([100, None, bad, 120])


def test_numpy_arrays_and_scalars_are_accepted():
    assert glucose_metrics(np.array([100, 200])) == glucose_metrics([100.0, 200.0])
    assert glucose_metrics([np.int64(100), np.float32(200)]) == glucose_metrics([100, 200])


@pytest.mark.parametrize("bad", [None, 100, "100, 200", {0: 100}])
def test_not_a_series_raises_type_error(bad):
    with pytest.raises(TypeError):
        glucose_metrics(bad)


# --- run metrics --------------------------------------------------------------------------

EVENTS = [
    {"kind": "security", "id": "SC-REPLAY", "t": 10},
    {"kind": "alarm", "id": "IL-OCCLUSION"},
    {"kind": "alarm", "id": "IL-BATTERY"},
    {"kind": "alarm", "id": "IL-OCCLUSION", "t": 99},
]


def a_run(seed=1):
    true_bg = list(random_series(seed, 288))
    cgm = [None if i % 50 == 0 else g + 3.0 for i, g in enumerate(true_bg)]
    return run_metrics(true_bg, cgm, {"basal_u": 24.0, "bolus_u": 18.5}, EVENTS, 2)


def test_run_metrics_layout_and_insulin():
    r = a_run()
    assert list(r) == ["glucose_true", "glucose_cgm", "insulin", "events", "days"]
    assert list(r["glucose_true"]) == list(GLUCOSE_KEYS)
    assert r["glucose_cgm"]["samples"] == 288 - 6
    assert r["insulin"] == {"total_u": 42.5, "basal_u": 24.0, "bolus_u": 18.5,
                            "per_day_u": 21.25}
    assert list(r["insulin"]) == ["total_u", "basal_u", "bolus_u", "per_day_u"]


def test_events_counted_by_kind_then_id_sorted():
    r = a_run()
    assert r["events"] == {"alarm": {"IL-BATTERY": 1, "IL-OCCLUSION": 2},
                           "security": {"SC-REPLAY": 1}}
    assert list(r["events"]) == ["alarm", "security"]
    assert list(r["events"]["alarm"]) == ["IL-BATTERY", "IL-OCCLUSION"]
    assert run_metrics([], [], {"basal_u": 0, "bolus_u": 0}, [], 1)["events"] == {}


def test_run_metrics_are_rounded():
    r = a_run()
    for m in (r["glucose_true"], r["glucose_cgm"]):
        for k in GLUCOSE_KEYS[1:]:
            assert m[k] == round(m[k], 3)
    raw = glucose_metrics(random_series(1, 288))
    assert r["glucose_true"]["lbgi"] == round(raw["lbgi"], 3)


def test_json_is_byte_stable():
    first = json.dumps(rounded(a_run()), sort_keys=False, allow_nan=False)
    second = json.dumps(rounded(a_run()), sort_keys=False, allow_nan=False)
    assert first == second
    assert json.dumps(a_run(), sort_keys=False) == first       # already rounded
    assert json.dumps(a_run(seed=2), sort_keys=False) != first
    empty = run_metrics([None], [], {"basal_u": 0, "bolus_u": 0}, [], 1)
    json.dumps(empty, allow_nan=False)


def test_rounded():
    data = {"b": 1.23456, "a": [0.00049, -0.0001, (2, 2.5)], "n": None, "t": True, "s": "x",
            "i": np.int64(3), "f": np.float64(1.0006)}
    out = rounded(data)
    assert out == {"b": 1.235, "a": [0.0, 0.0, [2, 2.5]], "n": None, "t": True, "s": "x",
                   "i": 3, "f": 1.001}
    assert list(out) == ["b", "a", "n", "t", "s", "i", "f"]
    assert json.dumps(out) == ('{"b": 1.235, "a": [0.0, 0.0, [2, 2.5]], "n": null, '
                               '"t": true, "s": "x", "i": 3, "f": 1.001}')
    assert rounded(1.23456, 1) == 1.2
    for bad in (math.nan, math.inf, [1.0, -math.inf]):
        with pytest.raises(ValueError):
            rounded(bad)
    with pytest.raises(TypeError):
        rounded({1, 2})


@pytest.mark.parametrize("kwargs, match", [
    ({"true_bg": [100, 0]}, r"true_bg\[1\]"),
    ({"cgm": [100, None, "x"]}, r"cgm\[2\]"),
    ({"insulin": {"basal_u": 1.0}}, "insulin"),
    ({"insulin": {"basal_u": 1.0, "bolus_u": -0.1}}, "bolus_u"),
    ({"insulin": {"basal_u": math.nan, "bolus_u": 0}}, "basal_u"),
    ({"events": [{"kind": "alarm", "id": "A"}, {"kind": "alarm"}]}, r"events\[1\]"),
    ({"events": [{"kind": "alarm", "id": 3}]}, r"events\[0\]"),
    ({"events": ["alarm"]}, r"events\[0\]"),
    ({"days": 0}, "days"),
    ({"days": -1}, "days"),
    ({"days": True}, "days"),
    ({"days": math.inf}, "days"),
])
def test_run_metrics_bad_input(kwargs, match):
    args = {"true_bg": [100], "cgm": [100], "insulin": {"basal_u": 1.0, "bolus_u": 0.0},
            "events": [], "days": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_metrics(**args)
