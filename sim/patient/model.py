"""The virtual patient: the UVA/Padova type-1 diabetes model (Dalla Man, Rizza & Cobelli,
IEEE TBME 54(10), 2007, with the subcutaneous insulin and glucose compartments of the T1D
simulator) in the form simglucose implements it, advanced in 1-minute steps.

Theory of operation
-------------------
The state has 13 compartments (`STATE_NAMES`, units in docs/patient-model.md): a meal goes
from the stomach (solid, then liquid) to the gut and appears in plasma; glucose moves
between plasma and tissue, is produced by the liver, used by the brain and by
insulin-dependent tissue, and lost in urine above a threshold; insulin infused under the
skin passes two subcutaneous compartments into plasma and the liver, and acts on use
(remote insulin ``X``) and on production (the delayed ``I1`` -> ``Id`` chain).

Inputs are held constant over each minute, as simglucose holds them over its 1-minute sample
time: a carbohydrate ingestion rate (mg/min) and an insulin infusion rate. Meals follow
simglucose's rule: carbohydrate *announced* in a minute joins a backlog eaten at 5 g/min;
when eating starts, the stomach content then (``Qsto1 + Qsto2``) is remembered, and the
meal size ``Dbar`` that shapes gastric emptying is that content plus everything eaten
since, in mg. The ODE is integrated by our own Dormand–Prince 5(4) (`integrate.py`).
"""

import dataclasses
import math

from sim.patient.cohort import PatientParameters, parameters
from sim.patient.integrate import dopri5

STATE_NAMES = (
    "Qsto1",    # stomach, solid phase (mg)
    "Qsto2",    # stomach, liquid phase (mg)
    "Qgut",     # intestine (mg)
    "Gp",       # plasma glucose (mg/kg)
    "Gt",       # tissue glucose (mg/kg)
    "Ip",       # plasma insulin (pmol/kg)
    "X",        # insulin action on glucose use (pmol/L)
    "I1",       # insulin action on production, first delay (pmol/L)
    "Id",       # insulin action on production, second delay (pmol/L)
    "Il",       # liver insulin (pmol/kg)
    "Isc1",     # subcutaneous insulin, first compartment (pmol/kg)
    "Isc2",     # subcutaneous insulin, second compartment (pmol/kg)
    "Gs",       # subcutaneous glucose (mg/kg)
)
EAT_RATE_G_PER_MIN = 5.0        # how fast a patient eats the announced backlog
PMOL_PER_U = 6000.0             # insulin: 1 U = 6000 pmol
EXERCISE_VM0 = 0.8             # see Patient.set_exercise
EXERCISE_VMX = 1.5
RTOL = 1e-6                     # integrator tolerances (validated against simglucose)
ATOL = 1e-6


def make_rhs(p):
    """The right-hand side ``f(x, d, u, dbar) -> dx/dt`` for the patient ``p``
    (`PatientParameters`): ``x`` the 13 states, ``d`` carbohydrate eaten (mg/min),
    ``u`` insulin infused (pmol/kg/min), ``dbar`` the current meal size (mg).

    The parameters are bound as locals once, so one evaluation is a few microseconds.
    """
    BW, Vi, Ib = p.BW, p.Vi, p.Ib
    kmax, kmin, kabs, b, c, f = p.kmax, p.kmin, p.kabs, p.b, p.d, p.f
    half_span = (p.kmax - p.kmin) / 2.0
    kp1, kp2, kp3, Fsnc, ke1, ke2 = p.kp1, p.kp2, p.kp3, p.Fsnc, p.ke1, p.ke2
    k1, k2, Vm0, Vmx, Km0, p2u, ki = p.k1, p.k2, p.Vm0, p.Vmx, p.Km0, p.p2u, p.ki
    m1, m2, m4, m30 = p.m1, p.m2, p.m4, p.m30
    kd, ka1, ka2, ksc = p.kd, p.ka1, p.ka2, p.ksc
    tanh = math.tanh

    def rhs(x, d, u, dbar):
        qsto1, qsto2, qgut, gp, gt, ip, xx, i1, id_, il, isc1, isc2, gs = x
        # Gastric emptying: fastest (kmax) with a full or an empty stomach, slowing to kmin
        # in between; the tanh edges sit at the fractions b and c of the meal size.
        if dbar > 0.0:
            qsto = qsto1 + qsto2
            alpha = 5.0 / (2.0 * dbar * (1.0 - b))
            beta = 5.0 / (2.0 * dbar * c)
            kempt = kmin + half_span * (tanh(alpha * (qsto - b * dbar))
                                        - tanh(beta * (qsto - c * dbar)) + 2.0)
        else:
            kempt = kmax
        ra = f * kabs * qgut / BW                       # rate of appearance, mg/kg/min
        egp = kp1 - kp2 * gp - kp3 * id_                # endogenous production
        if egp < 0.0:
            egp = 0.0
        renal = ke1 * (gp - ke2) if gp > ke2 else 0.0   # renal excretion
        dgp = egp + ra - Fsnc - renal - k1 * gp + k2 * gt
        uid = (Vm0 + Vmx * xx) * gt / (Km0 + gt)        # insulin-dependent use
        dgt = -uid + k1 * gp - k2 * gt
        dip = -(m2 + m4) * ip + m1 * il + ka1 * isc1 + ka2 * isc2
        it = ip / Vi                                    # plasma insulin, pmol/L
        dil = -(m1 + m30) * il + m2 * ip
        disc1 = u - (ka1 + kd) * isc1
        disc2 = kd * isc1 - ka2 * isc2
        dgs = ksc * (gp - gs)
        # Compartments that hold a mass stop changing once they are negative, as in
        # simglucose (they only get there through numerical undershoot or absurd inputs).
        return [
            d - kmax * qsto1,
            kmax * qsto1 - kempt * qsto2,
            kempt * qsto2 - kabs * qgut,
            dgp if gp >= 0.0 else 0.0,
            dgt if gt >= 0.0 else 0.0,
            dip if ip >= 0.0 else 0.0,
            p2u * (it - Ib - xx),
            -ki * (i1 - it),
            -ki * (id_ - i1),
            dil if il >= 0.0 else 0.0,
            disc1 if isc1 >= 0.0 else 0.0,
            disc2 if isc2 >= 0.0 else 0.0,
            dgs if gs >= 0.0 else 0.0,
        ]
    return rhs


def _rate(value, what):
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ValueError("%s must be a finite number >= 0, not %r" % (what, value))
    return float(value)


class Patient:
    """One virtual patient in virtual time (whole minutes from its start at minute 0)."""

    def __init__(self, params, rtol=RTOL, atol=ATOL):
        if not isinstance(params, PatientParameters):
            raise TypeError("params must be PatientParameters")
        self.params = params
        self._rhs = make_rhs(params)
        self._rtol, self._atol = rtol, atol
        self._x = list(params.initial_state)
        self._minute = 0
        self._h = 1.0                   # integrator step to try next, minutes
        self._k = None                  # derivative at _x for the inputs _k_inputs
        self._k_inputs = None
        # meal bookkeeping, as simglucose's T1DPatient keeps it
        self._backlog_g = 0.0           # announced, not yet eaten
        self._last_eaten_g = 0.0        # eaten in the previous minute
        self._meal_start_mg = self._x[0] + self._x[1]
        self._meal_eaten_g = 0.0        # eaten since the current meal started
        self._eaten_total_g = 0.0

    @classmethod
    def from_name(cls, name, **kwargs):
        """The cohort patient ``name`` (e.g. ``"adolescent#001"``); ValueError naming the
        valid names when there is none such."""
        return cls(parameters(name), **kwargs)

    # -- what can be read -------------------------------------------------------------

    @property
    def name(self):
        return self.params.name

    @property
    def minute(self):
        """Minutes simulated since the start."""
        return self._minute

    @property
    def state(self):
        """The 13 states, in the order of `STATE_NAMES`."""
        return tuple(self._x)

    @property
    def glucose_mg_dl(self):
        """The observed glucose, mg/dL: the subcutaneous compartment over the glucose
        volume, exactly what simglucose's ``T1DPatient.observation.Gsub`` reports (and what
        its CGM models measure)."""
        return self._x[12] / self.params.Vg

    @property
    def plasma_glucose_mg_dl(self):
        """Plasma glucose, mg/dL (``Gp / Vg``)."""
        return self._x[3] / self.params.Vg

    @property
    def basal_u_per_min(self):
        """The patient's own basal rate, U/min, which holds the initial state steady."""
        return self.params.basal_u_per_min

    @property
    def carbs_eaten_g(self):
        """Carbohydrate eaten so far, g (announced meals are eaten at 5 g/min)."""
        return self._eaten_total_g

    @property
    def carbs_pending_g(self):
        """Carbohydrate announced but not yet eaten, g."""
        return self._backlog_g

    # -- exercise -----------------------------------------------------------------------

    def set_exercise(self, intensity):
        """Exercise at ``intensity`` (0..1, fraction of heart-rate reserve; 0 ends it).

        Not part of Dalla Man et al. (2007) nor of simglucose: a simple extension in the
        spirit of Dalla Man et al. (2009, exercise), which raises glucose uptake by muscle.
        Here insulin-independent use (Vm0) rises by ``EXERCISE_VM0`` x intensity and
        insulin-dependent use (Vmx) by ``EXERCISE_VMX`` x intensity while it lasts. It
        makes glucose fall during exercise as observed; it is not validated.
        """
        if type(intensity) not in (int, float) or not 0 <= intensity <= 1:
            raise ValueError("intensity must be a number in 0..1, not %r" % (intensity,))
        params = self.params
        if intensity:
            params = dataclasses.replace(
                params, Vm0=params.Vm0 * (1 + EXERCISE_VM0 * intensity),
                Vmx=params.Vmx * (1 + EXERCISE_VMX * intensity))
        self._rhs = make_rhs(params)
        self._k = None
        self._k_inputs = None

    # -- advancing ----------------------------------------------------------------------

    def step(self, minutes, carbs_g_per_min=0.0, insulin_u_per_min=0.0):
        """Advance ``minutes`` whole minutes with constant inputs: each minute announces
        ``carbs_g_per_min`` g of carbohydrate (one minute of a 45 g meal is ``step(1, 45)``)
        and infuses ``insulin_u_per_min`` U/min under the skin."""
        if type(minutes) is not int or minutes < 0:
            raise ValueError("minutes must be an int >= 0, not %r" % (minutes,))
        carbs = _rate(carbs_g_per_min, "carbs_g_per_min")
        insulin = _rate(insulin_u_per_min, "insulin_u_per_min") * PMOL_PER_U / self.params.BW
        # Consecutive minutes with the same inputs are integrated as one span.
        span_inputs, span = None, 0
        for _ in range(minutes):
            eaten = self._bite(carbs)
            if eaten > 0 and self._last_eaten_g <= 0:   # a meal starts: it needs the
                if span:                                # stomach content of this minute
                    self._integrate(span, span_inputs)
                    span = 0
                self._meal_start_mg = self._x[0] + self._x[1]
                self._meal_eaten_g = 0.0
            self._meal_eaten_g += eaten
            self._last_eaten_g = eaten
            self._eaten_total_g += eaten
            inputs = (eaten * 1000.0, self._meal_start_mg + self._meal_eaten_g * 1000.0,
                      insulin)
            if inputs != span_inputs and span:
                self._integrate(span, span_inputs)
                span = 0
            span_inputs = inputs
            span += 1
        if span:
            self._integrate(span, span_inputs)

    def _bite(self, announced_g):
        """simglucose's eating rule: add this minute's announcement to the backlog and eat
        up to 5 g of it; returns the grams eaten this minute."""
        self._backlog_g += announced_g
        if self._backlog_g <= 0:
            return 0.0
        eaten = min(EAT_RATE_G_PER_MIN, self._backlog_g)
        self._backlog_g = max(0.0, self._backlog_g - eaten)
        return eaten

    def _integrate(self, minutes, inputs):
        d, dbar, u = inputs
        k = self._k if inputs == self._k_inputs else None
        self._x, self._h, self._k = dopri5(self._rhs, (d, u, dbar), self._x, float(minutes),
                                           self._h, self._rtol, self._atol, k)
        self._k_inputs = inputs
        self._minute += minutes
