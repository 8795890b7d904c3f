"""`pumpsim attack`: list, run, replay, as a tester uses them.

Hazards: a run whose verdict is not as expected exiting 0 (a CI job that never notices an
attack got through); a legacy run without its warning; a capture replayed into the pump
that does nothing because it was never sent; a bad file ending in a traceback.
"""

import json

from sim import cli
from sim.attack import tables
from sim.attack.legacy import BANNER, request_bytes
from sim.capture import Capture


def pumpsim(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_names_every_built_in_scenario(capsys):
    status, out, _ = pumpsim(capsys, "attack", "list")
    assert status == 0
    for name in ("forged-bolus", "replayed-bolus", "rogue-update", "settings-change",
                 "eavesdrop", "image-revoked-key", "pin-brute-force"):
        assert name in out


def test_run_prints_the_verdicts_and_writes_the_results(capsys, tmp_path):
    out_dir = tmp_path / "out"
    status, out, err = pumpsim(capsys, "attack", "run", "forged-bolus", "--profile", "both", "--out",
                               str(out_dir))
    assert status == 0, err
    assert BANNER in err                                 # the legacy run is labelled
    assert "2 runs: 2 as expected, 0 not, 0 failed; unsafe outcomes: legacy 1, secure 0" \
        in out
    runs = tables.read_json(str(out_dir / "results.json"))
    assert {(r["profile"], r["verdict"]) for r in runs} == {("legacy", "succeeded"),
                                                            ("secure", "blocked")}
    assert (out_dir / "report.html").read_text().count("forged-bolus") >= 1
    assert (out_dir / "results.csv").read_text().count("\n") == 3


def test_a_verdict_not_as_expected_exits_1_and_says_which(capsys, tmp_path):
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('title = "expects the secure pump to fall"\n[expect]\n'
                     'legacy = "succeeded"\nsecure = "succeeded"\n[[actions]]\n'
                     'kind = "command"\nat = "15:00"\ncommand = "bolus"\n'
                     'fields = { mu = 5000, duration_ms = 0 }\n')
    status, _, err = pumpsim(capsys, "attack", "run", str(wrong), "--profile", "secure")
    assert status == 1
    assert "NOT AS EXPECTED: wrong in the secure profile" in err
    assert BANNER not in err                             # no legacy run, no warning


def test_a_bad_scenario_is_one_line_and_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[expect]\nlegacy = "blocked"\nsecure = "blocked"\n[[actions]]\n'
                   'kind = "command"\nat = "10:00"\ncommand = "bolus"\nfields = { mu = 1 }\n')
    status, _, err = pumpsim(capsys, "attack", "run", str(bad))
    assert status == 2
    assert err.count("\n") == 1 and "bad.toml:8: actions[0].fields" in err, err
    status, _, err = pumpsim(capsys, "attack", "run", "no-such-attack")
    assert status == 2 and "built-in" in err


def test_a_capture_of_plain_bolus_commands_is_replayed_into_the_pump(capsys, tmp_path):
    """A capture of the legacy link (two bolus commands) sent again: the legacy pump
    delivers, the secure pump refuses them unread."""
    path = tmp_path / "legacy.pcapng"
    with Capture(str(path), "legacy radio") as capture:
        for mid in (1, 2):
            capture.record(request_bytes("bolus", {"mu": 4000, "duration_ms": 0}, mid),
                           from_pump=False)
            capture.record(b"\x60\x44\x00\x01", from_pump=True)    # an answer: not sent
    status, out, _ = pumpsim(capsys, "attack", "replay", str(path), "--at", "15:00", "--profile", "both",
                             "--out", str(tmp_path / "r"))
    assert "2 messages to the pump over 0.0 min, sent again from 15:00" in out
    assert status == 0                  # the secure pump refused them; legacy: not judged
    assert "2 runs (1 judged): 1 as expected, 0 not" in out
    runs = {r["profile"]: r for r in json.loads((tmp_path / "r" / "results.json")
                                                .read_text())}
    legacy = runs["legacy"]
    assert legacy["verdict"] == "succeeded"
    assert "the pump ran: bolus" in legacy["actions"][0]["detail"]
    assert legacy["outcome"]["min_glucose_mg_dl"] < legacy["outcome"][
        "baseline_min_glucose_mg_dl"] - 10
    assert runs["secure"]["verdict"] == "blocked"
    assert "SC-UNPROTECTED-REFUSED" in runs["secure"]["controls"]


def test_replay_refuses_a_file_that_is_not_a_capture(capsys, tmp_path):
    junk = tmp_path / "junk.pcapng"
    junk.write_bytes(b"not a capture at all")
    status, _, err = pumpsim(capsys, "attack", "replay", str(junk))
    assert status == 2 and "junk.pcapng" in err and "Traceback" not in err
    status, _, err = pumpsim(capsys, "attack", "replay", str(tmp_path / "missing.pcapng"))
    assert status == 2 and "cannot read" in err


def test_a_bad_patient_and_a_file_posing_as_a_built_in_are_one_line(capsys, tmp_path):
    status, _, err = pumpsim(capsys, "attack", "run", "forged-bolus", "--patient",
                             "child#099")
    assert status == 2 and "unknown patient 'child#099'" in err and "Traceback" not in err
    impostor = tmp_path / "impostor.toml"
    impostor.write_text('name = "forged-bolus"\n[expect]\nlegacy = "blocked"\n'
                        'secure = "blocked"\n[[actions]]\nkind = "eavesdrop"\n'
                        'at = "00:00"\n')
    status, _, err = pumpsim(capsys, "attack", "run", str(impostor))
    assert status == 2 and "is a built-in scenario's" in err


def test_the_secure_profile_is_the_default(capsys):
    status, out, err = pumpsim(capsys, "attack", "run", "eavesdrop")
    assert status == 0 and BANNER not in err
    assert "1 runs: 1 as expected" in out


def test_a_replayed_capture_keeps_its_spacing_and_only_what_went_to_the_pump(capsys,
                                                                           tmp_path):
    path = tmp_path / "spaced.pcapng"
    with Capture(str(path), "legacy radio") as capture:
        bolus = request_bytes("bolus", {"mu": 3000, "duration_ms": 0}, 7)
        capture.record(bolus, from_pump=False, when=1000.0)
        capture.record(request_bytes("bolus", {"mu": 3000, "duration_ms": 0}, 8),
                       from_pump=False, when=1000.0 + 3600)          # an hour later
        capture.record(b"\x40\x01\x00\x09", from_pump=True, when=1001.0)
    status, out, _ = pumpsim(capsys, "attack", "replay", str(path), "--profile", "legacy",
                             "--at", "14:00", "--out", str(tmp_path / "r"))
    assert "2 messages to the pump over 60.0 min" in out
    run, = json.loads((tmp_path / "r" / "results.json").read_text())
    assert "the pump ran: bolus x2" in run["actions"][0]["detail"]   # both, an hour apart
    assert run["actions"][0]["at_min"] == 14 * 60


def test_a_campaign_stopped_by_sigterm_or_ctrl_c_leaves_no_worker_behind(tmp_path):
    """A campaign's workers are its own: stopped with it, never orphaned or left hanging."""
    import os
    import signal
    import subprocess
    import sys
    import time
    for how in ("SIGTERM to the command", "Ctrl-C twice to its process group"):
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())",
             "attack", "campaign", "--profile", "both", "--workers", "2", "--out",
             str(tmp_path / "out")], start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            time.sleep(6)                                   # the workers are busy
            if how.startswith("SIGTERM"):
                os.kill(process.pid, signal.SIGTERM)
            else:
                os.killpg(process.pid, signal.SIGINT)
                time.sleep(0.05)
                os.killpg(process.pid, signal.SIGINT)
            status = process.wait(30)
            for _ in range(50):                 # the resource tracker exits last
                left = subprocess.run(["pgrep", "-s", str(process.pid)],
                                      capture_output=True, text=True).stdout.split()
                if not left:
                    break
                time.sleep(0.1)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        assert status in (130, -signal.SIGINT), (how, status)
        assert left == [], (how, left)
