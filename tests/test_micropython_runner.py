"""tools/micropython/run.py reports MicroPython failures instead of hiding them.

These run the real runner on Node.js against small throw-away test trees, so a runner
that passes everything, or passes when nothing ran, fails here.
"""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = ROOT / "tools" / "micropython" / "run.py"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (RUN.parent / "node_modules").is_dir(),
    reason="Node.js or tools/micropython/node_modules missing (`make test` installs them)")


def run(*args):
    return subprocess.run([sys.executable, str(RUN), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def write_tests(root, name, source):
    portable = root / "tests" / "portable"
    portable.mkdir(parents=True, exist_ok=True)
    (portable / name).write_text(source)


def summary(result):
    return result.stdout.strip().splitlines()[-1]


def test_failure_is_reported_and_fails_the_run(tmp_path):
    write_tests(tmp_path, "test_good.py", "def test_adds():\n    assert 1 + 1 == 2\n")
    write_tests(tmp_path, "test_bad.py",
                "def test_subtracts():\n    assert 2 - 1 == 0, 'wrong on purpose'\n")
    result = run(tmp_path)
    assert result.returncode != 0
    assert summary(result) == "micropython: 1 passed, 1 failed"
    assert "PASS test_good::test_adds" in result.stdout
    assert "FAIL test_bad::test_subtracts" in result.stdout
    assert "AssertionError: wrong on purpose" in result.stdout


def test_running_no_test_fails(tmp_path):
    (tmp_path / "tests" / "portable").mkdir(parents=True)
    result = run(tmp_path)
    assert result.returncode != 0
    assert summary(result) == "micropython: 0 passed, 0 failed"


def test_import_error_and_hang_fail_and_later_tests_still_run(tmp_path):
    write_tests(tmp_path, "test_a_broken.py", "import no_such_module\n")
    write_tests(tmp_path, "test_b_hang.py",
                "def test_1_hangs():\n    while True:\n        pass\n\n"
                "def test_2_runs():\n    pass\n")
    result = run("--timeout", "1", tmp_path)
    assert result.returncode != 0
    assert "FAIL test_a_broken::(import)" in result.stdout
    assert "FAIL test_b_hang::test_1_hangs" in result.stdout
    assert "timed out" in result.stdout
    assert summary(result) == "micropython: 1 passed, 2 failed"


def test_script_runs_under_micropython_with_firmware_importable(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "from secure_channel import cbor\n"
        "print(sys.implementation.name, cbor.encode([1, 2]).hex(), sys.argv[1:])\n"
        "sys.exit(int(sys.argv[1]))\n")
    result = run("--script", script, "--heap", "65536", "3")
    assert result.returncode == 3
    assert result.stdout == "micropython 820102 ['3']\n"


def test_script_exception_gives_traceback_and_failure(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("def explode():\n    raise ValueError('boom')\n\nexplode()\n")
    result = run("--script", script)
    assert result.returncode == 1
    assert "ValueError: boom" in result.stderr
    assert 'boom.py", line 2, in explode' in result.stderr
