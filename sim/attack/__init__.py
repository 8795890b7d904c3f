"""The attack lab: scripted attacks on the simulated pump, their patient outcome, campaigns."""
