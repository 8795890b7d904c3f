"""How risks are scored: ISO 14971 severity and probability for hazards, CVSS v3.1
exploitability for threats (the approach of the FDA's premarket cybersecurity guidance,
which asks for exploitability rather than probability for security risks), and one
acceptability rule for both.

Severity (S), of the worst harm to the patient:
  1 negligible (no injury), 2 minor (temporary discomfort, no intervention), 3 serious
  (hyper- or hypoglycaemia needing intervention), 4 critical (severe hypoglycaemia or
  ketoacidosis needing third-party help or a hospital), 5 catastrophic (death or
  permanent injury).
Probability (P) of the harm over a device's life, per patient: 1 improbable (<1e-6),
  2 remote (<1e-4), 3 occasional (<1e-2), 4 probable (<1e-1), 5 frequent.
Exploitability (E) from the CVSS v3.1 exploitability sub-score
  8.22 x AV x AC x PR x UI (0.12..3.89): 1 below 0.5, 2 below 1.0, 3 below 1.8,
  4 below 2.8, 5 from 2.8.
Risk = S x P (or S x E): acceptable up to 5, ALARP (reduced as far as practicable,
  benefit-risk stated) from 6 to 10, unacceptable above 10.
"""

SEVERITY = {1: "negligible", 2: "minor", 3: "serious", 4: "critical", 5: "catastrophic"}
PROBABILITY = {1: "improbable", 2: "remote", 3: "occasional", 4: "probable", 5: "frequent"}
EXPLOITABILITY = {1: "very low", 2: "low", 3: "moderate", 4: "high", 5: "very high"}

# CVSS v3.1 exploitability weights (scope unchanged).
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR = {"N": 0.85, "L": 0.62, "H": 0.27}
_UI = {"N": 0.85, "R": 0.62}
_E_STEPS = (0.5, 1.0, 1.8, 2.8)

ACCEPTABLE = "acceptable"
ALARP = "ALARP"
UNACCEPTABLE = "unacceptable"


def parse_vector(vector):
    """``"AV:A/AC:L/PR:N/UI:N"`` -> dict; ValueError naming what is wrong."""
    parts = dict(item.split(":", 1) for item in vector.split("/") if ":" in item)
    tables = {"AV": _AV, "AC": _AC, "PR": _PR, "UI": _UI}
    if set(parts) != set(tables):
        raise ValueError("CVSS vector %r needs exactly AV, AC, PR and UI" % vector)
    for key, value in parts.items():
        if value not in tables[key]:
            raise ValueError("CVSS vector %r: %s:%s is not a v3.1 value" % (vector, key, value))
    return parts


def exploitability_subscore(vector):
    """The CVSS v3.1 exploitability sub-score of a vector, rounded to 2 places."""
    p = parse_vector(vector)
    return round(8.22 * _AV[p["AV"]] * _AC[p["AC"]] * _PR[p["PR"]] * _UI[p["UI"]], 2)


def exploitability_level(vector):
    """E 1..5 from a CVSS vector."""
    score = exploitability_subscore(vector)
    return 1 + sum(1 for step in _E_STEPS if score >= step)


def acceptability(severity, likelihood):
    """acceptable / ALARP / unacceptable for S x P (or S x E)."""
    if not (severity in SEVERITY and likelihood in PROBABILITY):
        raise ValueError("severity and likelihood are 1..5, got %r, %r" % (severity, likelihood))
    index = severity * likelihood
    if index <= 5:
        return ACCEPTABLE
    if index <= 10:
        return ALARP
    return UNACCEPTABLE
