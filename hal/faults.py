"""Hardware faults every firmware layer must let through.

``PowerCut`` is what the simulated flash raises when power is lost mid-operation (and what
a board port raises from its brown-out handler). It derives from ``BaseException``, like
``KeyboardInterrupt``: the ``except Exception`` handlers that contain software faults
(a dispatcher bug, a log write that failed) never catch it, so a power cut always ends
the work in progress as a real one would, with no ``except PowerCut: raise`` anywhere.
"""


class PowerCut(BaseException):
    """Power was lost during a flash operation."""
