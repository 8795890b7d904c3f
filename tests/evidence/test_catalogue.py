"""A control ID must be more than a line in its table: an interlock, monitor check or
security control that no product code outside its table names, or whose "where it lives"
path does not exist, is named as a problem."""

from evidence_helpers import ROOT
from pump import hazards
from secure_channel import controls as sc_controls
from tools.evidence import catalogue

PRODUCT = "pump/, secure_channel/, bootloader/, hal/, sim/"


def test_an_interlock_only_in_the_hazard_table_is_named(monkeypatch):
    monkeypatch.setitem(hazards.INTERLOCKS, "IL-ONLY-IN-TABLE",
                        (("H-OVERDOSE",), "a check nobody makes", "refuse command"))
    controls, problems = catalogue.load()
    assert "IL-ONLY-IN-TABLE" in controls          # still listed, so the register can say so
    assert ("control IL-ONLY-IN-TABLE is named only in its table pump/hazards.py: no "
            "product code outside it (%s) names it" % PRODUCT) in problems
    assert not any("IL-BOLUS-MAX" in p for p in problems)


def test_a_security_control_only_in_its_table_is_named(monkeypatch):
    monkeypatch.setitem(sc_controls.CONTROLS, "SC-ONLY-IN-TABLE",
                        ("a control nobody enforces", "secure_channel/sessions/manager.py"))
    _controls, problems = catalogue.load()
    assert ("control SC-ONLY-IN-TABLE is named only in its table secure_channel/controls.py: "
            "no product code outside it (%s) names it or a refusal mapped to it" % PRODUCT) \
        in problems
    # a control the code names through its refusals is tied to that code
    assert not any(p.startswith("control SC-OSCORE-REPLAY ") for p in problems)


def test_a_control_whose_home_does_not_exist_is_named(monkeypatch):
    text, _where = sc_controls.CONTROLS["SC-PIN-LOCKOUT"]
    monkeypatch.setitem(sc_controls.CONTROLS, "SC-PIN-LOCKOUT", (text, "pump/no_such_file.py"))
    _controls, problems = catalogue.load()
    assert ("control SC-PIN-LOCKOUT: where it lives, pump/no_such_file.py, does not exist"
            in problems)


def test_only_code_in_the_product_packages_counts_not_comments_tests_tools_or_the_lab(tmp_path):
    files = {
        "pump/enforced.py": '"""Docstrings name IL-IN-DOCSTRING."""\n'
                            '# a comment names IL-IN-COMMENT\n'
                            'def check():\n    """IL-IN-DOCSTRING too"""\n'
                            '    raise ValueError("refused: IL-IN-CODE")\n',
        "sim/gateway/clock.py": 'REFUSAL = "SC-IN-SIM"\n',
        "sim/attack/judge.py": 'SEEN = "IL-IN-THE-LAB"\n',
        "tests/test_x.py": 'ID = "IL-IN-A-TEST"\n',
        "tools/evidence/x.py": 'ID = "IL-IN-TOOLS"\n',
        "docs/x.py": 'ID = "IL-IN-DOCS"\n',
        "pump/hazards.py": 'TABLE = {"IL-IN-THE-TABLE": ()}\n',
    }
    for rel, source in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(source)
    homes = catalogue.code_homes(tmp_path)
    assert homes == {"IL-IN-CODE": ["pump/enforced.py"], "SC-IN-SIM": ["sim/gateway/clock.py"]}


def test_the_real_design_controls_exist_and_the_interlocks_live_in_code():
    controls, problems = catalogue.load()
    assert not [p for p in problems if p.startswith("control DC-")]
    homes = catalogue.code_homes(ROOT)
    assert set(hazards.INTERLOCKS) <= set(homes)
    assert "pump/hazards.py" not in {path for paths in homes.values() for path in paths}
    assert controls["IL-BOLUS-MAX"].where.startswith("pump/")
