"""The campaign executor: the same results in job order in this process, on a local
process pool and on a real Dask cluster; a failing job kept in its place; a scheduler that
cannot be reached refused in bounded time; bad arguments refused up front."""

import pathlib
import socket
import sys
import threading

import pytest
from distributed import LocalCluster

HERE = str(pathlib.Path(__file__).resolve().parent)
if HERE not in sys.path:    # also under --import-mode=importlib
    sys.path.insert(0, HERE)
# Workers import the toy jobs by name. Both back-ends start them with "spawn", which hands
# the child this process's sys.path, so HERE is on theirs too (client.upload_file would
# also work, but only after the workers are up, and it writes into their directories).
import campaign_jobs  # noqa: E402

from sim.attack.campaign import CampaignError, run_jobs, scheduler_address  # noqa: E402

# Job 0 is slow, so later jobs finish first and the order of the results is really tested.
JOBS = ([{"seed": 1, "steps": 300000}] + [{"seed": s, "steps": 2000} for s in range(2, 8)]
        + [{"seed": 8, "steps": 10, "fail": True}, {"seed": 9, "steps": 2000}])


def _expected(jobs, fn=campaign_jobs.walk):
    results = []
    for job in jobs:
        try:
            results.append(fn(job))
        except ValueError as exc:
            results.append({"job": job, "error": "ValueError: %s" % exc})
    return results


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(params=["in-process", "pool", "dask"])
def backend(request):
    if request.param == "in-process":
        return {"workers": 1}
    if request.param == "pool":
        return {"workers": 2}
    return {"scheduler": request.getfixturevalue("cluster").scheduler_address}


def test_results_in_job_order_with_the_failure_in_its_place(backend):
    calls = []
    results = run_jobs(campaign_jobs.walk, JOBS, progress=lambda *c: calls.append(c),
                       **backend)
    assert results == _expected(JOBS)
    assert results[7] == {"job": JOBS[7], "error": "ValueError: job 8 asked to fail"}
    assert calls == [(done, len(JOBS)) for done in range(1, len(JOBS) + 1)]


def test_a_dead_worker_costs_only_its_jobs_results():
    jobs = [{"seed": s, "steps": 2000} for s in range(1, 5)] + [{"seed": 5, "crash": True}]
    results = run_jobs(campaign_jobs.crash, jobs, workers=2)
    assert len(results) == len(jobs)
    assert results[4]["job"] == jobs[4]
    assert results[4]["error"].startswith("BrokenProcessPool: ")
    for job, result, expected in zip(jobs, results, _expected(jobs[:4])):
        assert result == expected or set(result) == {"job", "error"} and result["job"] == job


def test_no_jobs():
    assert run_jobs(campaign_jobs.walk, [], workers=1) == []
    assert run_jobs(campaign_jobs.walk, [], workers=2) == []


def _outcome_within(seconds, call):
    """What ``call()`` raised (None if nothing), failing the test rather than hanging it."""
    outcome = []

    def target():
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, "still waiting after %d s" % seconds
    return outcome[0]


def test_an_unreachable_scheduler_is_refused_naming_it():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = "tcp://127.0.0.1:%d" % probe.getsockname()[1]
    error = _outcome_within(60, lambda: run_jobs(campaign_jobs.walk, JOBS[1:2],
                                                 scheduler=address, connect_timeout=1))
    assert isinstance(error, CampaignError), error
    assert address in str(error)


def test_a_silent_peer_is_refused_not_waited_for():
    # Accepted by the kernel (listen backlog), never answered: a frozen scheduler.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = "tcp://127.0.0.1:%d" % silent.getsockname()[1]
        error = _outcome_within(60, lambda: run_jobs(campaign_jobs.walk, JOBS[1:2],
                                                     scheduler=address, connect_timeout=1))
    assert isinstance(error, CampaignError), error
    assert address in str(error) and "no answer" in str(error)


@pytest.mark.parametrize("text", [
    "tcp://127.0.0.1:8786", "tls://scheduler.example.org:8786", "tcp://[::1]:8786",
    "tcp://dask_scheduler:1", "tcp://localhost:65535"])
def test_scheduler_addresses_accepted(text):
    assert scheduler_address(text) == text


@pytest.mark.parametrize("text", [
    "", "localhost:8786", "127.0.0.1:8786", "tcp://localhost", "tcp://:8786",
    "http://localhost:8786", "TCP://localhost:8786", "inproc://localhost:1",
    "tcp://localhost:0", "tcp://localhost:65536", "tcp://localhost:123456",
    "tcp://localhost:8786/", "tcp://localhost:8786?x=1", "tcp://user@localhost:8786",
    " tcp://localhost:8786", "tcp://localhost:8786\n", "tcp://local host:8786",
    "tcp://-localhost:8786", "tcp://a..b:8786", "tcp://[::1:8786", "tcp://[zz::1]:8786",
    "tcp://::1:8786", "tcp://localhost:\u0668\u0667", "tcp://" + "a" * 300 + ":1",
    None, 8786, b"tcp://localhost:8786"])
def test_bad_scheduler_addresses_refused(text):
    with pytest.raises(CampaignError, match="scheduler address"):
        scheduler_address(text)
    if text is not None:    # run_jobs(scheduler=None) means this machine
        with pytest.raises(CampaignError, match="scheduler address"):
            run_jobs(campaign_jobs.walk, JOBS[:1], scheduler=text)


@pytest.mark.parametrize("fn, jobs, workers, message", [
    (lambda job: job, JOBS, 1, "module-level function"),
    (None, JOBS, 1, "fn must be a function"),
    (campaign_jobs.walk, {"seed": 1}, 1, "jobs must be a list"),
    (campaign_jobs.walk, [{"seed": 1}, 2], 1, "job 1 must be a dict"),
    (campaign_jobs.walk, JOBS, 0, "workers must be a positive integer"),
    (campaign_jobs.walk, JOBS, True, "workers must be a positive integer"),
    (campaign_jobs.walk, JOBS, 2.0, "workers must be a positive integer")])
def test_bad_arguments_refused(fn, jobs, workers, message):
    with pytest.raises(CampaignError, match=message):
        run_jobs(fn, jobs, workers=workers)


def test_workers_that_cannot_import_the_job_are_refused(cluster, tmp_path, monkeypatch):
    # A module this process can import but the cluster's workers (started before it was on
    # sys.path) cannot: as on a cluster where the project is not installed.
    (tmp_path / "campaign_jobs_elsewhere.py").write_text("def job(job):\n    return job\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import campaign_jobs_elsewhere
    address = cluster.scheduler_address
    error = _outcome_within(60, lambda: run_jobs(campaign_jobs_elsewhere.job, JOBS[:2],
                                                 scheduler=address))
    assert isinstance(error, CampaignError), error
    assert address in str(error) and "campaign_jobs_elsewhere" in str(error)
    assert "pip install -e ." in str(error)
    assert run_jobs(campaign_jobs.walk, JOBS[1:3], scheduler=address) == _expected(JOBS[1:3])
