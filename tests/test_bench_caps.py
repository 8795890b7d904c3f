"""The bench's least heap cap: a heap cap does not act monotonically (a cap that works can
have one just above it that fails), so the figure must hold over a window above it, not
only at the point a bisection lands on."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "bench"))
import bench_micropython as B  # noqa: E402

KB = 1024


def runs_failing(*bad):
    """A day that fails below 160 KB and at the caps (in KB) in ``bad``."""
    tried = []

    def runs(cap):
        tried.append(cap)
        return "fault" if cap < 160 * KB or cap // KB in bad else None
    return runs, tried


def test_every_cap_from_the_figure_to_the_top_of_its_window_works():
    runs, tried = runs_failing(164, 168, 172, 176, 200)
    cap, top = B.least_cap(runs, 100 * KB, 4096 * KB)
    assert cap == 204 * KB                 # a bisection alone could land on 160 or 180
    assert top - cap <= B.CAP_WINDOW
    assert all(runs(c) is None for c in range(cap, top + 1, B.CAP_GRAIN))
    assert set(range(cap, top + 1, B.CAP_GRAIN)) <= set(tried)


def test_a_failure_at_the_top_of_the_window_is_an_error():
    def runs(cap):
        return None if 160 * KB <= cap <= 200 * KB or cap == 4096 * KB else "fault"
    with pytest.raises(RuntimeError) as caught:
        B.least_cap(runs, 100 * KB, 4096 * KB)
    assert "fails with" in str(caught.value)
