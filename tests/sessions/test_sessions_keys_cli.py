"""`pumpsim keys`: identities for pump, gateway, clinician and patient, the pump's trust
list, showing a credential; private keys owner-only; bad files get one line, no traceback."""

import os
import pathlib
import stat
import subprocess
import sys

import pytest

from secure_channel import cbor
from secure_channel.sessions import trust
from sim import cli, keyfiles

ROOT = pathlib.Path(__file__).resolve().parents[2]
# What the `pumpsim` console script runs (``python -m sim.cli`` would load sim.cli twice).
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def run(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.verifies("DC-KEY-PROVISION")
@posix_only
def test_init_writes_owner_only_private_keys_whatever_the_umask(tmp_path, capsys):
    old = os.umask(0)                      # the most permissive umask there is
    try:
        code, out, _ = run(["keys", "init", str(tmp_path / "k")], capsys)
    finally:
        os.umask(old)
    assert code == 0
    for kind in ("pump", "gateway", "clinician", "patient"):
        assert mode(tmp_path / "k" / (kind + ".key")) == 0o600
        identity = keyfiles.load_identity(str(tmp_path / "k" / (kind + ".key")))
        assert identity.kind == kind
        ccs = keyfiles.load_credential(str(tmp_path / "k" / (kind + ".ccs")))
        assert ccs == identity.credential
        assert trust.role_claim(ccs) is None            # a plain CCS: sub + cnf only
        assert sorted(cbor.decode(ccs.value)) == [2, 8]
    trust_list = keyfiles.load_trust(str(tmp_path / "k" / "trust.cbor"))
    assert sorted(e.role for e in trust_list) == ["clinician", "gateway", "patient"]
    assert "mode 0600" in out


@posix_only
def test_force_replaces_a_loose_file_with_an_owner_only_one(tmp_path, capsys):
    target = tmp_path / "gw"
    (tmp_path / "gw.key").write_bytes(b"old")
    os.chmod(tmp_path / "gw.key", 0o644)
    code, _, err = run(["keys", "new", "gateway", "--out", str(target)], capsys)
    assert code == 2 and "exists; use --force" in one_line_error(err)
    code, out, _ = run(["keys", "new", "gateway", "--out", str(target), "--kid", "0x2b",
                        "--subject", "home-gateway-7", "--force"], capsys)
    assert code == 0 and mode(tmp_path / "gw.key") == 0o600
    code, out, _ = run(["keys", "show", str(tmp_path / "gw.key")], capsys)
    assert code == 0
    assert "role      gateway" in out and "kid       2b" in out
    code, out, _ = run(["keys", "show", str(tmp_path / "gw.ccs")], capsys)
    assert code == 0 and "kid       2b" in out and "trust list gives it" in out
    assert "subject   home-gateway-7" in out


def test_trust_export_and_show(tmp_path, capsys):
    for kind, kid in (("gateway", "10"), ("clinician", "11"), ("service", "12")):
        assert run(["keys", "new", kind, "--out", str(tmp_path / kind), "--kid", kid],
                   capsys)[0] == 0
    code, out, _ = run(["keys", "trust", "--out", str(tmp_path / "trust.cbor")]
                       + ["%s=%s" % (k, tmp_path / (k + ".ccs")) for k in
                          ("service", "gateway", "clinician")], capsys)
    assert code == 0 and "3 peers" in out
    code, out, _ = run(["keys", "show", str(tmp_path / "trust.cbor")], capsys)
    lines = out.splitlines()
    assert lines[0].endswith("trust list, 3 peers")
    assert [line.split()[0] for line in lines[1:]] == ["gateway", "clinician", "service"]
    code, out, _ = run(["keys", "show", str(tmp_path / "gateway.key")], capsys)
    assert "private key present, not shown" in out
    identity = keyfiles.load_identity(str(tmp_path / "gateway.key"))
    assert identity.private_key.hex() not in out


def test_bad_input_gets_one_line(tmp_path, capsys):
    assert run(["keys", "init", str(tmp_path / "k")], capsys)[0] == 0
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\x00 not cbor")
    cases = [
        (["keys", "show", str(tmp_path / "missing.ccs")], "cannot read"),
        (["keys", "show", str(garbage)], "is not a CBOR key file"),
        (["keys", "trust", "--out", str(tmp_path / "t.cbor"), str(tmp_path / "k/pump.ccs")],
         "the pump's own credential"),
        (["keys", "trust", "--out", str(tmp_path / "t.cbor"), str(tmp_path / "k/gateway.ccs")],
         "give its role as ROLE="),
        (["keys", "trust", "--out", str(tmp_path / "t.cbor"),
          "gateway=%s" % (tmp_path / "k/gateway.ccs"),
          "gateway=%s" % (tmp_path / "k/gateway.ccs")],
         "already in the trust list"),
        (["keys", "new", "gateway", "--out", str(tmp_path / "x"), "--kid", "zz"],
         "kid must be hex"),
        (["keys", "new", "gateway", "--out", str(tmp_path / "x"), "--kid", "00" * 8],
         "kid must be 1..7 bytes"),
        (["keys", "init", str(tmp_path / "k")], "exists; use --force"),
        (["serve", "--identity", str(tmp_path / "k/gateway.key"), "--trust",
          str(tmp_path / "k/trust.cbor"), "--listen", "127.0.0.1:0"], "not the pump's"),
        (["serve", "--identity", str(tmp_path / "k/pump.key"), "--trust",
          str(tmp_path / "k/pump.ccs"), "--listen", "127.0.0.1:0"], "not a usable trust list"),
        (["gateway", "--port", "loop://", "--identity", str(tmp_path / "k/pump.key"),
          "--pump", str(tmp_path / "k/pump.ccs"), "status"], "the pump's identity"),
        (["gateway", "--port", str(tmp_path / "no-such-port"), "--identity",
          str(tmp_path / "k/gateway.key"), "--pump", str(tmp_path / "k/pump.ccs"), "status"],
         "cannot open"),
    ]
    for args, expected in cases:
        code, _, err = run(args, capsys)
        assert code == 2, args
        assert expected in one_line_error(err), (args, err)


@pytest.mark.verifies("DC-KEY-PROVISION")
@posix_only
def test_a_private_key_readable_by_others_is_refused(tmp_path, capsys):
    assert run(["keys", "init", str(tmp_path / "k")], capsys)[0] == 0
    key = tmp_path / "k" / "gateway.key"
    os.chmod(key, 0o644)
    code, _, err = run(["gateway", "--port", "loop://", "--identity", str(key), "--pump",
                        str(tmp_path / "k/pump.ccs"), "status"], capsys)
    assert code == 2 and "mode 0644" in one_line_error(err)
    code, out, err = run(["keys", "show", str(key)], capsys)   # shown, with a warning
    assert code == 0 and "mode 0644" in err


def test_no_traceback_from_the_console_command(tmp_path):
    """The real entry point, as a user runs it: one line on stderr, exit status 2."""
    truncated = tmp_path / "cut.key"
    truncated.write_bytes(b"\xa4\x01\x01\x02\x64pump\x03\x58\x20" + b"\x01" * 10)
    for args in (["keys", "show", str(truncated)],
                 ["keys", "show", str(tmp_path / "absent.key")],
                 ["serve", "--identity", str(truncated), "--trust", str(truncated),
                  "--pty"]):
        result = subprocess.run(PUMPSIM + args, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result
        assert result.stdout == ""
        one_line_error(result.stderr)


def test_bad_listen_addresses_and_durations_are_one_line_errors(tmp_path):
    import subprocess
    import sys
    for extra, words in ((["--listen", "127.0.0.1:99999"], "port must be 0..65535"),
                         (["--listen", "nohost"], "is not HOST:PORT"),
                         (["--pty", "--seconds", "-1"], "positive number of seconds"),
                         (["--pty", "--idle-exit", "0"], "positive number of seconds")):
        done = subprocess.run([sys.executable, "-m", "sim.cli", "serve", "--identity", "x",
                               "--trust", "y"] + extra, capture_output=True, text=True)
        assert done.returncode == 2 and words in done.stderr, (extra, done.stderr)
        assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "sim.cli", "gateway", "--port", "x",
                           "--identity", "x", "--pump", "y", "--timeout", "-5", "status"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "positive number of seconds" in done.stderr
