"""Toy campaign jobs for tests/sim/attack/test_campaign.py, in their own module so worker
processes (a process pool, Dask workers) can import them by name."""

import os
import random


def walk(job):
    """A random walk seeded by the job: the same job gives the same numbers in any process.
    ``{"fail": True}`` makes the job raise, to test that a failure costs only its own
    result."""
    if job.get("fail"):
        raise ValueError("job %d asked to fail" % job["seed"])
    rng = random.Random(job["seed"])
    position, peak, path = 0.0, 0.0, 0.0
    for _ in range(job["steps"]):
        step = rng.gauss(0.0, 1.0)
        position += step
        peak = max(peak, position)
        path += abs(step)
    return {"seed": job["seed"], "final": position, "peak": peak, "path": path}


def crash(job):
    """A job whose worker process dies (as under the OOM killer) when ``job["crash"]``."""
    if job.get("crash"):
        os._exit(70)
    return walk(job)
