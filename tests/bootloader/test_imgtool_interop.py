"""Interoperability with imgtool (MCUboot's signer), both ways, Ed25519 and ECDSA P-256.

Runs the real `imgtool` command: imgtool keygen + sign -> our verifier (library and CLI);
our `pumpsim image sign` -> `imgtool verify`; and an imgtool-padded update is installed by
our boot flow.
"""

import pathlib
import shutil
import subprocess
import sys

import pytest

from bootloader import boot, flash_map as fm, image as fmt, verify as vf
from sim.cli import main as pumpsim
from sim.commands.image import load_key

from bootloader_fixtures import Device

BIN = pathlib.Path(sys.executable).parent
KINDS = ["ed25519", "ecdsa-p256"]


def imgtool(*args):
    exe = shutil.which("imgtool", path=str(BIN)) or shutil.which("imgtool")
    assert exe, "imgtool is not installed (pip install imgtool)"
    return subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    out = {}
    base = tmp_path_factory.mktemp("keys")
    for kind in KINDS:
        path = base / ("%s.pem" % kind)
        res = imgtool("keygen", "-k", path, "-t", kind)
        assert res.returncode == 0, res.stderr
        out[kind] = path
    return out


@pytest.fixture
def firmware(tmp_path):
    path = tmp_path / "fw.bin"
    path.write_bytes(bytes((i * 31 + 7) & 0xFF for i in range(5000)))
    return path


def _ring(key_path):
    kind, _, public = load_key(str(key_path))
    ring = vf.Keyring()
    ring.add(kind, public)
    return ring


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key_format", ["hash", "full"])
def test_imgtool_signed_verifies_here(kind, key_format, keys, firmware, tmp_path, capsys):
    out = tmp_path / "signed.bin"
    res = imgtool("sign", "-k", keys[kind], "--version", "2.3.4+5", "--security-counter",
                  "17", "--header-size", "0x200", "--pad-header", "--slot-size", "0x20000",
                  "--align", "4", "--public-key-format", key_format, firmware, out)
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    info = vf.verify(data, _ring(keys[kind]))
    assert info.version == (2, 3, 4, 5) and info.security_counter == 17
    assert pumpsim(["image", "verify", "--key", str(keys[kind]), str(out)]) == 0
    assert "OK" in capsys.readouterr().out
    # The other algorithm's key must not verify it.
    other = keys[KINDS[1 - KINDS.index(kind)]]
    assert pumpsim(["image", "verify", "--key", str(other), str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown-key" in err and "\n" not in err


@pytest.mark.parametrize("kind", KINDS)
def test_imgtool_auto_counter_and_no_pad_header(kind, keys, tmp_path):
    raw = tmp_path / "fw0.bin"
    raw.write_bytes(b"\x00" * 0x100 + b"payload" * 100)
    out = tmp_path / "signed.bin"
    res = imgtool("sign", "-k", keys[kind], "-v", "1.2.3", "-s", "auto", "-H", "0x100",
                  "-S", "0x10000", raw, out)
    assert res.returncode == 0, res.stderr
    info = vf.verify(out.read_bytes(), _ring(keys[kind]))
    assert info.security_counter == (1 << 24) + (2 << 16) + 3


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key_format", ["hash", "full"])
def test_our_signed_passes_imgtool_verify(kind, key_format, keys, firmware, tmp_path):
    out = tmp_path / "ours.bin"
    assert pumpsim(["image", "sign", "--key", str(keys[kind]), "--version", "3.1.0+9",
                    "--security-counter", "40", "--header-size", "0x200", "--pad-header",
                    "--slot-size", "0x20000", "--align", "4", "--public-key-format",
                    key_format, str(firmware), str(out)]) == 0
    res = imgtool("verify", "-k", keys[kind], out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "correctly validated" in res.stdout and "3.1.0+9" in res.stdout
    dump = imgtool("dumpinfo", out)
    assert dump.returncode == 0, dump.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_tampered_image_fails_in_both(kind, keys, firmware, tmp_path, capsys):
    out = tmp_path / "ours.bin"
    assert pumpsim(["image", "sign", "-k", str(keys[kind]), "-v", "1.0.0", "-s", "1",
                    "-H", "0x20", "--pad-header", "-S", "0x20000",
                    str(firmware), str(out)]) == 0
    data = bytearray(out.read_bytes())
    data[0x40] ^= 0xFF
    out.write_bytes(bytes(data))
    assert imgtool("verify", "-k", keys[kind], out).returncode != 0
    assert pumpsim(["image", "verify", "-k", str(keys[kind]), str(out)]) == 1
    assert "hash-mismatch" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_imgtool_padded_update_is_installed(kind, keys, tmp_path):
    """`imgtool sign --pad` leaves the request magic where our trailer reads it."""
    flash_map = fm.small_map(slot_sectors=16)
    kind_id, _, public = load_key(str(keys[kind]))
    dev = Device(flash_map, kinds=())
    dev.otp.add_signing_key(kind_id, public)
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"v1" * 300)
    v1 = tmp_path / "v1.bin"
    v2 = tmp_path / "v2.bin"
    for path, version, extra in ((v1, "1.0.0", []), (v2, "1.1.0", ["--pad", "--align", "4"])):
        res = imgtool("sign", "-k", keys[kind], "-v", version, "-s", version[2], "-H", "0x20",
                      "--pad-header", "-S", hex(flash_map.slot_size), "-M", "8",
                      *extra, fw, path)
        assert res.returncode == 0, res.stderr
    dev.install_factory(v1.read_bytes())
    assert dev.boot().image.version == (1, 0, 0, 0)
    padded = v2.read_bytes()
    assert len(padded) == flash_map.slot_size
    secondary = flash_map.region(dev.flash, fm.SECONDARY)
    for addr in range(0, len(padded), flash_map.sector_size):
        chunk = padded[addr:addr + flash_map.sector_size]
        if chunk != b"\xff" * len(chunk):
            secondary.program(addr, chunk)
    result = dev.boot()
    assert result.image.version == (1, 1, 0, 0) and result.mode == boot.MODE_TEST
    assert boot.EV_UPDATE_STARTED in result.event_codes()


def test_truncated_image_refused_with_one_line(keys, firmware, tmp_path, capsys):
    """An imgtool image cut by one byte is refused with a one-line reason."""
    out = tmp_path / "signed.bin"
    res = imgtool("sign", "-k", keys["ed25519"], "-v", "1.0.0", "-s", "1", "-H", "0x20",
                  "--pad-header", "-S", "0x20000", firmware, out)
    assert res.returncode == 0
    data = out.read_bytes()
    out.write_bytes(data[:-1])
    assert pumpsim(["image", "verify", "-k", str(keys["ed25519"]), str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and fmt.REJECT_NAMES[fmt.REJECT_TRUNCATED] in err


def test_ed25519_images_are_byte_identical_to_imgtool(keys, firmware, tmp_path):
    theirs, ours = tmp_path / "theirs.bin", tmp_path / "ours.bin"
    flags = ["--version", "4.5.6+7", "--security-counter", "12", "--header-size", "0x80",
             "--pad-header", "--slot-size", "0x20000"]
    res = imgtool("sign", "-k", keys["ed25519"], *flags, firmware, theirs)
    assert res.returncode == 0, res.stderr
    assert pumpsim(["image", "sign", "-k", str(keys["ed25519"])] + flags +
                   [str(firmware), str(ours)]) == 0
    assert ours.read_bytes() == theirs.read_bytes()
