"""`pumpsim image ...` and `pumpsim flash ...`: outputs, exit codes, one-line errors."""

import pathlib
import subprocess
import sys

import pytest

from sim.cli import main as pumpsim


def run(capsys, *argv):
    code = pumpsim([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "fw.bin").write_bytes(bytes(range(256)) * 8)
    return tmp_path


def test_keygen_sign_verify_info(workdir, capsys):
    key = workdir / "k.pem"
    pub = workdir / "k.pub.pem"
    code, out, _ = run(capsys, "image", "keygen", "-k", key, "-t", "ecdsa-p256",
                       "--public", pub)
    assert code == 0 and key.exists() and pub.exists()
    code, _, err = run(capsys, "image", "keygen", "-k", key)
    assert code == 2 and "exists" in err
    signed = workdir / "s.bin"
    code, out, _ = run(capsys, "image", "sign", "--key", key, "--version", "1.2.3",
                       "--security-counter", "auto", "--header-size", "0x200",
                       "--pad-header", "--slot-size", "0x20000", "--align", "8",
                       workdir / "fw.bin", signed)
    assert code == 0, out
    code, out, _ = run(capsys, "image", "verify", "--key", pub, signed)
    assert code == 0 and "1.2.3+0" in out and "security counter 16908291" in out
    code, out, _ = run(capsys, "image", "info", signed)
    assert code == 0
    for word in ("magic", "hdr_size         0x200", "SEC_CNT", "16908291", "SHA256",
                 "KEYHASH", "ECDSASIG", "version          1.2.3+0"):
        assert word in out


def test_sign_errors_are_one_line(workdir, capsys):
    key = workdir / "k.pem"
    run(capsys, "image", "keygen", "-k", key)
    cases = [
        ["--version", "1.x"],
        ["--version", "1.0", "--slot-size", "0x1000"],              # smaller than trailer
        ["--version", "1.0", "--header-size", "0x10"],
        ["--version", "1.0", "--security-counter", "lots"],
    ]
    for extra in cases:
        argv = ["image", "sign", "--key", key, "--header-size", "0x20", "--pad-header",
                "--slot-size", "0x20000"] + extra + [workdir / "fw.bin", workdir / "o.bin"]
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and "error" in err, (extra, err)
    code, _, err = run(capsys, "image", "sign", "--key", workdir / "missing.pem", "-v", "1",
                       "-H", "0x20", "-S", "0x20000", workdir / "fw.bin", workdir / "o.bin")
    assert code == 2 and err.count("\n") == 1
    code, _, err = run(capsys, "image", "sign", "--key", workdir / "fw.bin", "-v", "1",
                       "-H", "0x20", "-S", "0x20000", workdir / "fw.bin", workdir / "o.bin")
    assert code == 2 and err.count("\n") == 1


def test_sign_pad_and_confirm_write_a_request(workdir, capsys):
    key = workdir / "k.pem"
    run(capsys, "image", "keygen", "-k", key)
    out = workdir / "padded.bin"
    code, _, _ = run(capsys, "image", "sign", "-k", key, "-v", "1.0", "-s", "1",
                     "-H", "0x20", "--pad-header", "-S", "0x20000", "--confirm",
                     workdir / "fw.bin", out)
    assert code == 0 and out.stat().st_size == 0x20000
    code, text, _ = run(capsys, "image", "info", out)
    assert "update request (permanent)" in text


def test_verify_rejections_exit_nonzero(workdir, capsys):
    key = workdir / "k.pem"
    run(capsys, "image", "keygen", "-k", key)
    unsigned = workdir / "u.bin"
    run(capsys, "image", "sign", "-v", "1.0", "-s", "1", "-H", "0x20", "--pad-header",
        "-S", "0x20000", workdir / "fw.bin", unsigned)
    code, out, err = run(capsys, "image", "verify", "--key", key, unsigned)
    assert code == 1 and "unsigned" in err and err.count("\n") == 1
    code, out, err = run(capsys, "image", "verify", "--key", key, workdir / "fw.bin")
    assert code == 1 and "bad-magic" in err
    code, out, err = run(capsys, "image", "info", workdir / "fw.bin")
    assert code == 2 and err.count("\n") == 1


def test_flash_lifecycle(workdir, capsys):
    key = workdir / "k.pem"
    run(capsys, "image", "keygen", "-k", key)
    images = {}
    small = workdir / "small.bin"
    small.write_bytes(b"pump" * 150)
    for version, counter in (("1.0.0", "1"), ("1.1.0", "2")):
        path = workdir / ("v%s.bin" % version)
        code, _, err = run(capsys, "image", "sign", "-k", key, "-v", version, "-s", counter,
                           "-H", "0x20", "--pad-header", "-S", "0x800", "--sector-size",
                           "256", small, path)
        assert code == 0, err
        images[version] = path
    code, _, err = run(capsys, "image", "sign", "-k", key, "-v", "1", "-H", "0x20",
                       "--pad-header", "-S", "0x800", "--sector-size", "256",
                       workdir / "fw.bin", workdir / "big.bin")
    assert code == 2 and "exceeds" in err
    dev = workdir / "dev.flash"
    code, out, err = run(capsys, "flash", "create", dev, "-k", key, "--image",
                         images["1.0.0"], "--layout", "small")
    assert code == 0, err
    code, out, _ = run(capsys, "flash", "boot", dev)
    assert code == 0 and "running 1.0.0+0 (confirmed)" in out
    code, out, _ = run(capsys, "flash", "stage", dev, images["1.1.0"])
    assert code == 0
    code, out, _ = run(capsys, "flash", "boot", dev)
    assert "update-started" in out and "running 1.1.0+0 (test)" in out
    code, out, _ = run(capsys, "flash", "info", dev)
    assert code == 0
    for word in ("primary: state testing", "version 1.1.0+0", "install: test swap",
                 "security counter 1", "signing key 0: ed25519", "keystore: edhoc-identity",
                 "erases: max"):
        assert word in out, word
    code, out, _ = run(capsys, "flash", "confirm", dev)
    assert code == 0 and "security counter raised to 2" in out
    code, out, _ = run(capsys, "flash", "info", dev)
    assert "primary: state confirmed" in out and "security counter 2" in out
    # Staging the old image again is refused at boot, with a logged reason.
    run(capsys, "flash", "stage", dev, images["1.0.0"])
    code, out, _ = run(capsys, "flash", "boot", dev)
    assert "update-rejected" in out and "rollback" in out
    code, out, err = run(capsys, "flash", "info", workdir / "fw.bin")
    assert code == 2 and err.count("\n") == 1


def test_entry_point_runs(workdir):
    exe = pathlib.Path(sys.executable).parent / "pumpsim"
    if not exe.exists():
        pytest.skip("pumpsim entry point not installed in this environment")
    res = subprocess.run([str(exe), "image", "verify", "-k", str(workdir / "none.pem"),
                          str(workdir / "fw.bin")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_flash_stage_of_a_confirm_padded_image_is_permanent(workdir, capsys):
    key = workdir / "k.pem"
    run(capsys, "image", "keygen", "-k", key)
    small = workdir / "small.bin"
    small.write_bytes(b"pump" * 100)
    common = ["-k", key, "-H", "0x20", "--pad-header", "-S", "0x800", "--sector-size", "256"]
    run(capsys, "image", "sign", *common, "-v", "1.0", "-s", "1", small, workdir / "a.bin")
    code, _, err = run(capsys, "image", "sign", *common, "-v", "2.0", "-s", "2", "--confirm",
                       small, workdir / "b.bin")
    assert code == 0, err
    dev = workdir / "dev.flash"
    run(capsys, "flash", "create", dev, "-k", key, "--image", workdir / "a.bin",
        "--layout", "small")
    code, out, _ = run(capsys, "flash", "stage", dev, workdir / "b.bin")
    assert code == 0 and "permanent" in out
    code, out, _ = run(capsys, "flash", "boot", dev)
    assert "running 2.0.0+0 (confirmed)" in out and "security counter raised to 2" in out


def test_keygen_writes_the_private_key_0600_and_says_where_the_public_key_is(workdir, capsys):
    import stat
    key = workdir / "secret.pem"
    code, out, _ = run(capsys, "image", "keygen", "-k", key)
    assert code == 0 and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "--public" in out
    key.chmod(0o644)
    code, out, _ = run(capsys, "image", "keygen", "-k", key, "--force", "--public",
                       workdir / "p.pem")
    assert code == 0 and stat.S_IMODE(key.stat().st_mode) == 0o600 and "p.pem" in out


def test_signing_without_a_security_counter_warns(workdir, capsys):
    key = workdir / "k.pem"
    run(capsys, "image", "keygen", "-k", key)
    code, _, err = run(capsys, "image", "sign", "-k", key, "-v", "1.0", "-H", "0x20",
                       "--pad-header", "-S", "0x20000", workdir / "fw.bin", workdir / "nc.bin")
    assert code == 0 and "no security counter" in err
    code, _, err = run(capsys, "image", "verify", "-k", key, workdir / "nc.bin")
    assert code == 1


def test_flash_create_refuses_an_image_its_keys_do_not_verify(workdir, capsys):
    signer, other = workdir / "signer.pem", workdir / "other.pem"
    run(capsys, "image", "keygen", "-k", signer)
    run(capsys, "image", "keygen", "-k", other)
    run(capsys, "image", "sign", "-k", signer, "-v", "1.0", "-s", "1", "-H", "0x20",
        "--pad-header", "-S", "0x8000", workdir / "fw.bin", workdir / "a.bin")
    code, _, err = run(capsys, "flash", "create", workdir / "d.flash", "-k", other,
                       "--image", workdir / "a.bin", "--layout", "small")
    assert code == 2 and "does not verify" in err and not (workdir / "d.flash").exists()


def test_the_documented_walk_through_runs_from_nothing(tmp_path, capsys):
    """docs/bootloader.md's CLI section: every file it uses, a command makes."""
    d = tmp_path
    common = ["--header-size", "0x200", "--pad-header", "--slot-size", "0x140000",
              "--align", "4"]
    steps = [
        ["image", "demo-app", d / "app.bin"],
        ["image", "demo-app", d / "update.bin", "--version", "1.3.0"],
        ["image", "keygen", "-k", d / "signing.pem", "-t", "ed25519"],
        ["image", "sign", "--key", d / "signing.pem", "--version", "1.2.0",
         "--security-counter", "3"] + common + [d / "app.bin", d / "app.signed.bin"],
        ["image", "sign", "--key", d / "signing.pem", "--version", "1.3.0",
         "--security-counter", "4"] + common + [d / "update.bin", d / "update.signed.bin"],
        ["image", "verify", "--key", d / "signing.pem", d / "app.signed.bin"],
        ["flash", "create", d / "pump.flash", "-k", d / "signing.pem", "--image",
         d / "app.signed.bin"],
        ["flash", "boot", d / "pump.flash"],
        ["flash", "stage", d / "pump.flash", d / "update.signed.bin"],
        ["flash", "boot", d / "pump.flash"],
        ["flash", "confirm", d / "pump.flash"],
    ]
    for argv in steps:
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, out, err)
    assert "confirmed 1.3.0+0" in out
