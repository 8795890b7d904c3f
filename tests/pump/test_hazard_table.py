"""Every interlock has an ID, a hazard and tests."""

import pathlib
import re

from pump import hazards

ROOT = pathlib.Path(__file__).resolve().parents[2]
ID_PATTERN = re.compile(r'"((?:IL|SM)-[A-Z0-9-]+)"')


def _ids_in(paths):
    found = set()
    for path in paths:
        found.update(ID_PATTERN.findall(path.read_text()))
    return found


def test_every_interlock_in_the_code_is_in_the_table():
    used = _ids_in((ROOT / "pump").glob("*.py")) - _ids_in([ROOT / "pump" / "hazards.py"])
    assert used <= set(hazards.INTERLOCKS), used - set(hazards.INTERLOCKS)


def test_every_interlock_names_known_hazards():
    for iid, (hazard_ids, check, response) in hazards.INTERLOCKS.items():
        assert hazard_ids and check and response, iid
        for hid in hazard_ids:
            assert hid in hazards.HAZARDS, (iid, hid)


def test_every_interlock_has_a_test():
    test_files = [p for p in (ROOT / "tests").rglob("test_*.py")
                  if p.name != "test_hazard_table.py"]
    tested = _ids_in(test_files)
    missing = sorted(set(hazards.INTERLOCKS) - tested)
    assert not missing, "interlocks without a test: %s" % missing
