"""Attack campaigns: the same campaign through ``sim.attack.campaign.run_jobs`` on the
local process pool and on a Dask ``LocalCluster``, both with N=2 worker processes of one
thread each.

Figures, all measured in this run (wall time, best of a few interleaved rounds):
- Dask throughput relative to the local pool (jobs/s over jobs/s): target >= 0.8x;
- both as jobs/s, and the cluster's start-up, reported on its own and not counted in the
  Dask figure: a cluster outlives many campaigns, while each local campaign starts its own
  pool, so the local figure includes that start-up.
Both back-ends must return the same results; the last line says whether they did.

The job is the attack lab's, ``sim.attack.runner.run_job``, on the acceptance campaign
``campaign_jobs(scenarios=None, patients=3, seeds=2)``: the whole library x both profiles x
3 patients x 2 seeds, one round on each back-end (a few minutes in all).
Run: ``.venv/bin/python tools/bench/run.py attack_campaign``.
"""

import time

from common import report

from distributed import LocalCluster

from sim.attack.campaign import run_jobs
from sim.attack.runner import campaign_jobs, run_job

WORKERS = 2
ROUNDS = 1


def _timed(fn, jobs, **where):
    start = time.perf_counter()
    results = run_jobs(fn, jobs, **where)
    return time.perf_counter() - start, results


def main():
    fn, jobs = run_job, campaign_jobs(scenarios=None, patients=3, seeds=2)
    print("   measured: sim.attack.runner.run_job on the whole library x 2 profiles x 3 "
          "patients x 2 seeds: %d runs, %d workers" % (len(jobs), WORKERS), flush=True)
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
    report("campaign wall time, local process pool (start-up included)", best_local, "s")
    report("campaign wall time, Dask LocalCluster", best_dask, "s")
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
