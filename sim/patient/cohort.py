"""The virtual cohort: 30 parameter sets of the UVA/Padova model, read from the table beside
this file (taken unchanged from simglucose, MIT licence: see LICENSE-simglucose.txt).

Each row names a patient (``adolescent#001`` .. ``adolescent#010``, ``adult#001`` ..,
``child#001`` ..), its 13 steady-state initial values ``x0_ 1`` .. ``x0_13`` and the model
parameters. Only the columns the model uses become fields of `PatientParameters`; the rest
(``i``, ``EGPb``, ``Rdb``, ``patient_history`` ...) are read and ignored.
"""

import csv
import math
import pathlib
from dataclasses import dataclass

TABLE = pathlib.Path(__file__).resolve().parent / "vpatient_params.csv"
STATE_COLUMNS = tuple("x0_%2d" % i for i in range(1, 14))       # "x0_ 1" .. "x0_13"

# The parameters the model reads, in the table's spelling (units in docs/patient-model.md).
PARAMETER_NAMES = (
    "BW", "Gb", "Ib", "Vg", "Vi",
    "kmax", "kmin", "kabs", "b", "d", "f",
    "kp1", "kp2", "kp3", "Fsnc", "ke1", "ke2", "k1", "k2", "Vm0", "Vmx", "Km0", "p2u", "ki",
    "m1", "m2", "m4", "m30", "kd", "ka1", "ka2", "ksc", "u2ss",
)


@dataclass(frozen=True)
class PatientParameters:
    """One virtual patient: its name, initial state and the parameters the model uses."""

    name: str
    initial_state: tuple
    BW: float       # body weight, kg
    Gb: float       # basal plasma glucose, mg/dL
    Ib: float       # basal plasma insulin, pmol/L
    Vg: float       # glucose distribution volume, dL/kg
    Vi: float       # insulin distribution volume, L/kg
    kmax: float
    kmin: float
    kabs: float
    b: float
    d: float
    f: float
    kp1: float
    kp2: float
    kp3: float
    Fsnc: float
    ke1: float
    ke2: float
    k1: float
    k2: float
    Vm0: float
    Vmx: float
    Km0: float
    p2u: float
    ki: float
    m1: float
    m2: float
    m4: float
    m30: float
    kd: float
    ka1: float
    ka2: float
    ksc: float
    u2ss: float     # steady-state insulin infusion, pmol/kg/min

    @property
    def basal_u_per_min(self):
        """The patient's own basal rate, U/min: the infusion that holds the initial state
        steady (``u2ss`` pmol/kg/min times body weight; 6000 pmol per U)."""
        return self.u2ss * self.BW / 6000.0


def _rows():
    with TABLE.open(newline="") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return list(csv.DictReader(lines))


def _number(row, column):
    value = float(row[column])
    if not math.isfinite(value):
        raise ValueError("%s: column %s is not a finite number" % (row["Name"], column))
    return value


def _parameters(row):
    return PatientParameters(
        name=row["Name"],
        initial_state=tuple(_number(row, c) for c in STATE_COLUMNS),
        **{n: _number(row, n) for n in PARAMETER_NAMES})


_COHORT = None


def cohort():
    """All 30 patients, by name, in the table's order (read once)."""
    global _COHORT
    if _COHORT is None:
        _COHORT = {row["Name"]: _parameters(row) for row in _rows()}
    return _COHORT


def names():
    """The valid patient names, in the table's order."""
    return tuple(cohort())


def parameters(name):
    """The parameters of the patient called ``name``; ValueError naming the valid ones."""
    if type(name) is not str:
        raise TypeError("patient name must be a str, not %s" % type(name).__name__)
    found = cohort().get(name)
    if found is None:
        raise ValueError("unknown patient %r; valid names: %s" % (name, ", ".join(names())))
    return found


THERAPY_TABLE = TABLE.parent / "quest.csv"
COHORTS = {"adults": "adult#", "adolescents": "adolescent#", "children": "child#", "all": ""}


def therapy(name):
    """The patient's clinical settings from simglucose's Quest table: carb ratio (g/U),
    correction factor (mg/dL/U) and total daily insulin (U), as a dict."""
    parameters(name)                                   # ValueError for an unknown name
    with THERAPY_TABLE.open(newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        row = next(r for r in rows if r["Name"] == name)
    return {"carb_ratio_g_u": _number(row, "CR"), "isf_mg_dl_u": _number(row, "CF"),
            "tdi_u": _number(row, "TDI")}


def expand(selection):
    """Patient names for a name or a cohort ('adults', 'adolescents', 'children', 'all');
    ValueError listing the valid ones."""
    if selection in COHORTS:
        return tuple(n for n in names() if n.startswith(COHORTS[selection]))
    parameters(selection)
    return (selection,)
