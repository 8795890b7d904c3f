"""The virtual patient of the simulator: the UVA/Padova T1D model with simglucose's
30-patient cohort (docs/patient-model.md)."""

from sim.patient.cohort import PatientParameters, names, parameters
from sim.patient.insulin import pulses_to_rates
from sim.patient.integrate import IntegrationError
from sim.patient.model import STATE_NAMES, Patient

__all__ = ["Patient", "PatientParameters", "STATE_NAMES", "IntegrationError", "names",
           "parameters", "pulses_to_rates"]
