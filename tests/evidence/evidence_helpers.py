"""Shared set-up for the evidence tests: the real model, catalogue and register, and a
throw-away test tree that the real pytest plugin can run."""

import pathlib
import shutil
import socket
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:            # tools/ is not an installed package
    sys.path.insert(0, str(ROOT))

from tools.evidence import catalogue, risks, sdlc, threat_model  # noqa: E402


def real_evidence(tmp_path):
    """(model, controls by ID, register) as the build makes them (the catalogue's own
    problems are test_catalogue.py's)."""
    model = threat_model.build(tmp_path / "threats.json")
    controls, _problems = catalogue.load()
    return model, controls, risks.register(model)


def scratch_tree(tmp_path, files):
    """A tests/ tree under ``tmp_path`` with the suite's conftest and portable helpers and
    the given {relative path: source} files; returns the tree's root."""
    root = tmp_path / "tree"
    (root / "tests").mkdir(parents=True)
    shutil.copyfile(ROOT / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "tests" / "portable").symlink_to(ROOT / "tests" / "portable")
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


AREAS = sdlc.AREAS


def closed_port():
    """A loopback TCP port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
