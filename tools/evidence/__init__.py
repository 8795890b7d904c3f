"""Regulatory evidence built from the code and the latest results.

``python -m tools.evidence`` (``make evidence``) writes the threat model, the risk
register, the traceability matrix, the SDLC control mapping, the SBOM, the dependency
vulnerability report and the three plans to ``out/evidence/``, and fails, naming what is
missing, when the evidence would be incomplete. Host-side only (CPython); see
docs/evidence.md.
"""
