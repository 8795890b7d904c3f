"""The README's commands, as a user runs them: `pumpsim serve --udp`, `pumpsim keys
aiocoap-credentials`, then aiocoap's own command-line client reads the status directly
and through `pumpsim proxy`, with EDHOC + OSCORE end to end."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from sim import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUMPSIM = [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]
AIOCOAP_CLIENT = pathlib.Path(sys.executable).parent / "aiocoap-client"
if not AIOCOAP_CLIENT.exists() and not os.environ.get("CI"):
    pytest.skip("aiocoap-client not installed (make setup installs it)",
                allow_module_level=True)


def _start(args):
    child = subprocess.Popen(PUMPSIM + args, cwd=ROOT, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    return child, line


def _stop(child):
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    return child.returncode, out, err


def _client(*args):
    return subprocess.run([str(AIOCOAP_CLIENT), "--pretty-print", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_aiocoap_client_reads_the_status_directly_and_through_the_proxy(tmp_path):
    keys = tmp_path / "keys"
    assert cli.main(["keys", "init", str(keys)]) == 0
    pump, line = _start(["serve", "--identity", str(keys / "pump.key"), "--trust",
                         str(keys / "trust.cbor"), "--udp", "127.0.0.1:0",
                         "--idle-exit", "60"])
    proxy = None
    try:
        assert line.startswith("pump serving on coap://127.0.0.1:"), line
        address = line.split()[3]                             # coap://127.0.0.1:PORT
        creds = tmp_path / "creds.diag"
        assert cli.main(["keys", "aiocoap-credentials", "--identity",
                         str(keys / "clinician.key"), "--pump", str(keys / "pump.ccs"),
                         "--uri", address + "/*", "--out", str(creds)]) == 0
        direct = _client("--credentials", str(creds), address + "/status")
        assert direct.returncode == 0, direct.stderr
        assert "2: 3" in direct.stdout.replace(":", ": ").replace("  ", " "), direct.stdout
        proxy, line = _start(["proxy", "--listen", "127.0.0.1:0", "--udp",
                              address[len("coap://"):], "--identity",
                              str(keys / "gateway.key"), "--pump", str(keys / "pump.ccs")])
        assert line.startswith("proxy for coap://pump on coap://127.0.0.1:"), line
        proxied = tmp_path / "proxied.diag"
        assert cli.main(["keys", "aiocoap-credentials", "--identity",
                         str(keys / "clinician.key"), "--pump", str(keys / "pump.ccs"),
                         "--uri", "coap://pump*", "--out", str(proxied)]) == 0
        through = _client("--proxy", line.split()[-1], "--credentials", str(proxied),
                          "coap://pump/status")
        assert through.returncode == 0, through.stderr
        assert "2: 3" in through.stdout.replace(":", ": ").replace("  ", " ")
    finally:
        if proxy is not None:
            code, out, _ = _stop(proxy)
            assert code == 0 and "forwarded 2, answered 2, refused 0" in out, out
        code, out, err = _stop(pump)
    assert code == 0, err
    assert "sessions established 2, requests 2" in out and "channel refused: none" in out, out
