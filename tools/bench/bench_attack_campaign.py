"""Attack campaigns: the same campaign through ``sim.attack.campaign.run_jobs`` on the
local process pool and on a Dask ``LocalCluster``, both with N=2 worker processes of one
thread each.

Figures, all measured in this run (wall time, best of a few interleaved rounds):
- Dask throughput relative to the local pool (jobs/s over jobs/s): target >= 0.8x;
- both as jobs/s, and the cluster's start-up, reported on its own and not counted in the
  Dask figure: a cluster outlives many campaigns, while each local campaign starts its own
  pool, so the local figure includes that start-up.
Both back-ends must return the same results; the last line says whether they did.

The job is the attack lab's, ``sim.attack.runner.run_job`` on
``campaign_jobs(scenarios=None, patients=3, seeds=2)``, when that is importable; otherwise
a CPU-bound toy job calibrated to about 0.5 s. The first line says which was measured.
A campaign larger than ``MAX_JOBS`` is sampled evenly (every k-th job, so every scenario
and profile keeps its share): the ratio needs a few jobs per worker, not the whole
library, which would take minutes per round.
Run: ``.venv/bin/python tools/bench/run.py attack_campaign``.
"""

import importlib
import random
import time

from common import report

from distributed import LocalCluster

from sim.attack.campaign import run_jobs

WORKERS = 2
ROUNDS = 2
MAX_JOBS = 24
TOY_JOBS = 12
TOY_SECONDS = 0.5


def toy_job(job):
    """A seeded random walk of ``job["steps"]`` steps: pure Python, CPU-bound, like a
    simulated day."""
    rng = random.Random(job["seed"])
    position = 0.0
    for _ in range(job["steps"]):
        position += rng.random() - 0.5
    return {"seed": job["seed"], "final": position}


def _toy_campaign():
    # Workers import the job by module name; run.py loads this file without registering
    # it in sys.modules, so take the function from an ordinary import (tools/bench is on
    # sys.path, and spawned workers inherit sys.path).
    job = importlib.import_module("bench_attack_campaign").toy_job
    steps = 100000
    start = time.perf_counter()
    job({"seed": 0, "steps": steps})
    steps = max(1, int(steps * TOY_SECONDS / (time.perf_counter() - start)))
    return job, [{"seed": seed, "steps": steps} for seed in range(1, TOY_JOBS + 1)]


def _campaign():
    """(fn, jobs, what was measured)."""
    try:
        from sim.attack.runner import campaign_jobs, run_job
        jobs = campaign_jobs(scenarios=None, patients=3, seeds=2)
    except (ImportError, AttributeError) as exc:
        fn, jobs = _toy_campaign()
        return fn, jobs, ("toy CPU-bound job of ~%.1f s, %d jobs (sim.attack.runner not "
                          "usable: %s: %s)" % (TOY_SECONDS, len(jobs), type(exc).__name__, exc))
    stride = -(-len(jobs) // MAX_JOBS)
    sample = jobs[::stride]
    return run_job, sample, ("sim.attack.runner.run_job, %d jobs: every %d%s of the %d of "
                             "campaign_jobs(scenarios=None, patients=3, seeds=2)"
                             % (len(sample), stride, "th" if stride > 1 else "st", len(jobs)))


def _timed(fn, jobs, **where):
    start = time.perf_counter()
    results = run_jobs(fn, jobs, **where)
    return time.perf_counter() - start, results


def main():
    fn, jobs, what = _campaign()
    print("   measured: %s" % what, flush=True)
    start = time.perf_counter()
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        startup = time.perf_counter() - start
        local, dask = [], []
        for _ in range(ROUNDS):     # interleaved: both see the same machine load
            local.append(_timed(fn, jobs, workers=WORKERS))
            dask.append(_timed(fn, jobs, scheduler=cluster.scheduler_address))
    best_local, best_dask = min(t for t, _ in local), min(t for t, _ in dask)
    report("campaign on Dask LocalCluster / local process pool (throughput)",
           best_local / best_dask, "x", target=(">=", 0.8),
           reference="%.2f s vs %.2f s for %d jobs on %d workers; rounds %s vs %s"
           % (best_dask, best_local, len(jobs), WORKERS,
              " ".join("%.2f" % t for t, _ in dask), " ".join("%.2f" % t for t, _ in local)))
    report("local process pool (start-up included)", len(jobs) / best_local, "jobs/s")
    report("Dask LocalCluster (cluster already up)", len(jobs) / best_dask, "jobs/s")
    report("Dask LocalCluster start-up (not in the figures above)", startup, "s")
    same = all(results == local[0][1] for _, results in local + dask)
    print("   results identical on both back-ends and in every round: %s"
          % ("yes" if same else "NO"), flush=True)
    failed = [result for result in local[0][1] if set(result) == {"job", "error"}]
    if failed:      # the timing still counts what the jobs did before they raised
        print("   WARNING: %d of %d jobs raised, e.g. %s"
              % (len(failed), len(jobs), failed[0]), flush=True)


if __name__ == "__main__":
    main()
