"""The acceptance campaign: the whole attack library x both profiles x 3 patients x 2
seeds, on a local process pool and on a real Dask cluster (``distributed.LocalCluster``),
with identical results, every verdict as its scenario expects, and no published attack
harming the patient on the secure pump.

Hazards: results that depend on where a job ran (a worker's state, the order jobs
finished in) make a campaign on a cluster say something a local run does not; an
expectation tuned on one adult that a child's smaller limits turn around.
"""

import pytest
from distributed import LocalCluster

from sim.attack import runner
from sim.attack.campaign import run_jobs

PUBLISHED = ("forged-bolus", "replayed-bolus", "rogue-update", "settings-change")
WORKERS = 2


@pytest.fixture(scope="module")
def jobs():
    return runner.campaign_jobs(scenarios=None, patients=3, seeds=2)


@pytest.fixture(scope="module")
def local(jobs):
    return run_jobs(runner.run_job, jobs, workers=WORKERS)


def test_the_campaign_is_the_whole_library_on_three_patients_and_two_seeds(jobs):
    names = {s.name for s in runner.attack_scenario.library()}
    assert {job["scenario"] for job in jobs} == names
    assert {job["patient"] for job in jobs} == set(runner.CAMPAIGN_PATIENTS)
    assert len(jobs) == len(names) * 2 * 3 * 2


def test_every_run_of_the_campaign_is_as_expected(local):
    failed = [r for r in local if "error" in r]
    assert not failed, failed[:3]
    wrong = [(r["scenario"], r["profile"], r["patient"], r["seed"], r["verdict"])
             for r in local if not r["matches"]]
    assert not wrong, wrong


def test_no_published_attack_harms_a_patient_on_the_secure_pump(local):
    for r in local:
        if r["scenario"] in PUBLISHED:
            if r["profile"] == "secure":
                assert not r["unsafe"] and r["controls"], r["scenario"]
            else:
                assert r["unsafe"], (r["scenario"], r["patient"], r["seed"], r["outcome"])


def test_a_dask_cluster_gives_the_same_results_as_the_local_pool(jobs, local):
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        on_dask = run_jobs(runner.run_job, jobs, scheduler=cluster.scheduler_address)
    assert on_dask == local
