"""The main job `pumpsim demo` and the CLI's handling of bad input."""

import subprocess
import sys


def _pumpsim(*args):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_demo_prints_the_session_and_verifies_the_log():
    result = _pumpsim("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("IL-DUPLICATE-CMD", "IL-BOLUS-INTERVAL", "IL-BOLUS-MAX", "IL-CMD-STALE",
                     "ALARM      IL-OCCLUSION", "hash chain, MACs and head verified"):
        assert expected in out, expected
    assert "Traceback" not in result.stderr


def test_unknown_subcommand_is_one_line_not_a_traceback():
    result = _pumpsim("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "invalid choice" in result.stderr
