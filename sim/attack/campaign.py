"""Run a campaign: many independent, deterministic jobs, here or on a Dask cluster.

``run_jobs(fn, jobs)`` calls ``fn(job)`` for every job and returns the results in the
order of ``jobs``, whichever finished first, so a campaign gives the same list in this
process, on a local process pool or on a cluster. ``fn`` must be a module-level function
(workers import it by name) taking and returning JSON-like dicts; it must be deterministic
in its job (seed it from the job, never from the clock or the worker).

Back-ends:

- ``workers=1`` (no scheduler): in this process, in order; for debugging and tests.
- ``workers=N`` (default ``os.cpu_count()``): a ``ProcessPoolExecutor`` of N processes
  started with "spawn". Not "fork": forking copies a process that may hold threads (the
  Dask client's event loop, a rich progress bar's refresh thread), and a lock one of them
  held stays locked forever in the child. "forkserver" would be safe too, but "spawn" is
  the one available on every OS and the one Dask's nannies use, so both back-ends start
  workers alike: a fresh interpreter with this process's ``sys.path``, which imports
  ``fn``'s module (a script's ``fn`` needs the ``if __name__ == "__main__":`` guard).
  Jobs go to the pool in chunks of about 1/32 of a worker's share: fine enough for a live
  progress bar and for load balance at the end, coarse enough that 10^5 tiny jobs do not
  each pay a round trip.
- ``scheduler="tcp://host:port"`` (or ``tls://``): a Dask cluster, the user's. Its
  workers must import ``fn``, so the project is installed on every worker
  (``pip install -e .`` in the same environment, same versions, or results may differ).
  TLS credentials come from Dask's configuration (``distributed.comm.tls.*``). A
  scheduler with no workers holds the jobs until workers join, as Dask does. Each job is
  one task; a job much shorter than ~10 ms should batch its work itself.

A job that raises does not cost the campaign its other results: its place in the list
holds ``{"job": job, "error": "ExceptionType: message"}`` (the traceback is logged at
DEBUG level by this module's logger, visible in-process with ``workers=1``). A worker that
dies (a crash, the OOM killer) turns the jobs it had into such results too, so every job
has an entry and ``len(results) == len(jobs)``.
"""

import concurrent.futures
import functools
import ipaddress
import logging
import multiprocessing
import os
import pickle
import re
import signal
import threading
import uuid

CONNECT_TIMEOUT = 10.0      # s, for reaching a Dask scheduler: a failure says so, never hangs
CHUNKS_PER_WORKER = 32

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r"(tcp|tls)://(\[[^\]]*\]|[^:/\[\]]+):([0-9]{1,5})")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


class CampaignError(ValueError):
    """A campaign that cannot run: bad arguments, or a scheduler that cannot be reached."""


def scheduler_address(text):
    """``text`` if it is a Dask scheduler address ``tcp://host:port`` or ``tls://host:port``
    (host a name, an IPv4 or a bracketed IPv6 address), else CampaignError."""
    if not isinstance(text, str):
        raise CampaignError("scheduler address must be a string like tcp://host:8786, not %s"
                            % type(text).__name__)
    match = _ADDRESS.fullmatch(text)
    if match is None:
        raise CampaignError("scheduler address must be tcp://host:port or tls://host:port, "
                            "got %.80r" % text)
    host, port = match.group(2), int(match.group(3))
    if not _valid_host(host):
        raise CampaignError("scheduler address %.80r: %.80r is not a host name or [IPv6] "
                            "address" % (text, host))
    if not 1 <= port <= 65535:
        raise CampaignError("scheduler address %.80r: port must be 1..65535" % text)
    return text


def _valid_host(host):
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in host.split("."))


def run_jobs(fn, jobs, workers=None, scheduler=None, progress=None, *,
             connect_timeout=CONNECT_TIMEOUT):
    """``[fn(job) for job in jobs]``, run in parallel, failures as error results (see the
    module docstring). ``progress(done, total)`` is called in this thread after each
    finished job, ``done`` counting up to ``total``. With ``scheduler`` the cluster decides
    the parallelism and ``workers`` is ignored; a scheduler that does not answer within
    ``connect_timeout`` seconds is a CampaignError naming it."""
    jobs = _checked(fn, jobs, workers, progress, connect_timeout)
    report = _Progress(progress, len(jobs))
    if scheduler is not None:
        return _run_dask(fn, jobs, scheduler_address(scheduler), report, connect_timeout)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers == 1 or not jobs:
        return _run_here(fn, jobs, report)
    return _run_pool(fn, jobs, workers, report)


def _checked(fn, jobs, workers, progress, connect_timeout):
    if not callable(fn):
        raise CampaignError("fn must be a function, not %s" % type(fn).__name__)
    try:
        pickle.dumps(fn)
    except Exception as exc:    # workers need it: refused in every mode, workers=1 too
        raise CampaignError("fn must be a module-level function that workers can import "
                            "(%s: %s)" % (type(exc).__name__, exc)) from None
    if not isinstance(jobs, (list, tuple)):
        raise CampaignError("jobs must be a list of dicts, not %s" % type(jobs).__name__)
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise CampaignError("job %d must be a dict, not %s" % (index, type(job).__name__))
    if workers is not None and (type(workers) is not int or workers < 1):
        raise CampaignError("workers must be a positive integer, got %r" % (workers,))
    if progress is not None and not callable(progress):
        raise CampaignError("progress must be callable or None")
    if (type(connect_timeout) not in (int, float) or not connect_timeout > 0):
        raise CampaignError("connect_timeout must be a positive number of seconds")
    return list(jobs)


class _Progress:
    """Counts finished jobs and tells the caller's callback, if any."""

    def __init__(self, callback, total):
        self.callback, self.total, self.done = callback, total, 0

    def __call__(self):
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)


def _failure(job, exc):
    """The result that stands in for ``job`` when it raised ``exc``."""
    return {"job": job, "error": "%s: %s" % (type(exc).__name__, exc)}


def _guarded(fn, job):
    """``fn(job)``, or its failure result: runs in the worker, so only a plain dict (never
    an exception object, which may not unpickle) comes back."""
    try:
        return fn(job)
    except Exception as exc:
        logger.debug("job %r failed", job, exc_info=True)
        return _failure(job, exc)


def _run_here(fn, jobs, report):
    results = []
    for job in jobs:
        results.append(_guarded(fn, job))
        report()
    return results


def _run_chunk(fn, chunk):
    return [_guarded(fn, job) for job in chunk]


def _leave_interrupts_to_the_parent():
    """A worker ignores Ctrl-C (the terminal sends it to the whole process group): the
    parent decides, and stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(fn, jobs, workers, report):
    size = max(1, len(jobs) // (workers * CHUNKS_PER_WORKER))
    starts = range(0, len(jobs), size)
    results = [None] * len(jobs)
    pool = concurrent.futures.ProcessPoolExecutor(
        min(workers, len(starts)), mp_context=multiprocessing.get_context("spawn"),
        initializer=_leave_interrupts_to_the_parent)
    try:
        pending = {pool.submit(_run_chunk, fn, jobs[start:start + size]): start
                   for start in starts}
        for future in concurrent.futures.as_completed(pending):
            start = pending[future]
            chunk = jobs[start:start + size]
            try:
                outcome = future.result()
            except Exception as exc:    # the worker died or the chunk would not pickle
                outcome = [_failure(job, exc) for job in chunk]
            for offset, result in enumerate(outcome):
                results[start + offset] = result
                report()
    except BaseException:
        # Ctrl-C or SIGTERM: stop the workers now. shutdown() alone waits for the chunks
        # they are running, and a second Ctrl-C in that wait left them orphaned and the
        # campaign hanging; the executor has no public way to kill its processes.
        calm = threading.current_thread() is threading.main_thread()
        if calm:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        finally:
            if calm:
                signal.signal(signal.SIGINT, previous)
        raise
    pool.shutdown(cancel_futures=True)
    return results


def _run_dask(fn, jobs, address, report, timeout):
    from distributed import as_completed     # imported here: costly, and only needed here

    client = _connect(address, timeout)
    try:
        task = functools.partial(_guarded, fn)
        _check_workers_import(client, task, address)
        campaign = uuid.uuid4().hex[:8]      # fresh keys: nothing shared with other runs
        keys = ["%s-%s-%d" % (getattr(fn, "__name__", "job"), campaign, index)
                for index in range(len(jobs))]
        index = {key: i for i, key in enumerate(keys)}
        futures = client.map(task, jobs, key=keys)
        results = [None] * len(jobs)
        for future, outcome in as_completed(futures, loop=client.loop, with_results=True,
                                            raise_errors=False):
            i = index[future.key]
            if future.status == "finished":
                results[i] = outcome
            else:       # erred (KilledWorker: its workers kept dying) or cancelled
                exc = outcome[1] if isinstance(outcome, tuple) else outcome
                results[i] = _failure(jobs[i], exc)
            report()
        return results
    finally:
        client.close()


def _check_workers_import(client, task, address):
    """CampaignError unless every worker now connected can unpickle ``task``, which
    imports this module and ``fn``'s. A worker that cannot unpickle a task it was sent
    dies, is restarted and is sent it again (with distributed 2026.8 the campaign never
    ended); ``client.run`` fails cleanly instead."""
    try:
        client.run(callable, task)
    except Exception as exc:
        raise CampaignError("the workers of the Dask scheduler at %s cannot import the job "
                            "function (%s): install the project on every worker "
                            "(pip install -e .)" % (address, exc)) from None


def _connect(address, timeout):
    """A Client of the scheduler at ``address``, or CampaignError within ``timeout`` s.

    ``Client(timeout=...)`` bounds only the TCP connect: the protocol handshake after it
    waits without limit (dask/distributed#7698 took it out of the timeout), so a peer that accepts and stays silent (a frozen scheduler, another service) would hang
    the campaign. Connecting in a daemon thread bounds the whole of it; a connection that
    completes after we gave up is closed then.
    """
    from distributed import Client

    connected = concurrent.futures.Future()

    def connect():
        try:
            connected.set_result(Client(address, timeout=timeout, set_as_default=False))
        except BaseException as exc:
            connected.set_exception(exc)

    threading.Thread(target=connect, name="campaign-connect", daemon=True).start()
    try:
        return connected.result(timeout)
    except Exception:
        connected.add_done_callback(_close_if_connected)   # now, or when it finally answers
        error = connected.done() and connected.exception()
    detail = "%s: %s" % (type(error).__name__, error) if error else "no answer"
    raise CampaignError("cannot reach the Dask scheduler at %s within %g s (%s)"
                        % (address, timeout, detail)) from None


def _close_if_connected(connected):
    if connected.exception() is None:
        connected.result().close()
