"""The closed-loop simulator: the unmodified firmware, a virtual patient and the gateway in
one process, in virtual time (``sim.loop.simulation``)."""
