"""Batch-scheduler clusters (SLURM, PBS) for ``kansho batch --cluster``, via dask-jobqueue, and the
watch that keeps a batch's workers alive.

The cluster itself is made by :func:`kansho.parallel.jobqueue_cluster` (single-threaded worker
processes, BLAS pinned, glibc's malloc left at its defaults); this module picks sensible per-frame
sizes and yields a ``Client`` and a :class:`WorkerWatch` for the runner. dask-jobqueue is
optional: ``pip install dask-jobqueue``.

Why a watch: a jobqueue cluster is scaled once to ``--jobs`` jobs, and dask never forgets a job that
ended (``scancel``, its wall time, a node failure) -- the workers of a multi-process job are named
``<job>-0``, ``<job>-1``... so dask does not even notice that the job is gone -- hence no job is
submitted in its place and, once the last one ends, the batch would wait forever. The watch,
called by the runner every few seconds, forgets a job whose workers have all left and scales the
cluster back to ``--jobs`` (a replacement job is submitted), and reports when no worker at all has
been connected for ``no_worker_timeout`` seconds, so that the batch ends with an error instead of
hanging.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kansho.errors import ConfigError

log = logging.getLogger(__name__)

#: default seconds without any connected worker before a batch gives up (queue waits included)
NO_WORKER_TIMEOUT_S = 1800.0
#: seconds a job may have no worker connected (after it had some) before it counts as lost
LOST_JOB_GRACE_S = 10.0


def make_cluster(kind: str, *, cores: int = 4, memory: str = "32GB", walltime: str = "04:00:00",
                 queue: str | None = None, account: str | None = None, jobs: int = 1,
                 job_extra: Sequence[str] = (), interface: str | None = None, **kwargs: Any) -> Any:
    """A dask-jobqueue cluster of ``jobs`` batch jobs, each with ``cores`` one-frame workers sharing ``memory``.

    ``interface`` (e.g. ``ib0``) is the network interface the scheduler listens on and the workers
    use: needed where the compute nodes cannot reach the submitting host's default address.
    Raises :class:`ConfigError` (one line) for a missing dask-jobqueue or a bad option.
    """
    from kansho.parallel import jobqueue_cluster, parse_memory

    if cores < 1 or jobs < 0:
        raise ConfigError(f"--cores {cores} / --jobs {jobs}: need cores >= 1 and jobs >= 0")
    try:
        per_worker = (parse_memory(memory) or 0) / cores
    except ValueError as exc:
        raise ConfigError(f"--memory: {exc}") from None
    if per_worker < 1e9:
        log.warning("%.1f GB per worker: a frame of ~1000 x 1000 px and 200 epochs needs 3-6 GB", per_worker / 1e9)
    if interface:
        kwargs["interface"] = interface
    try:
        return jobqueue_cluster(kind, cores=cores, memory=memory, walltime=walltime, queue=queue, account=account,
                                jobs=jobs, job_extra=job_extra, **kwargs)
    except (RuntimeError, ValueError, OSError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--cluster {kind}: {why}") from None


class WorkerWatch:
    """Keeps the batch's jobs alive and bounds the wait for workers; :meth:`check` is called by the runner.

    Parameters
    ----------
    client
        The batch's dask ``Client``.
    cluster
        The dask-jobqueue cluster (or any ``SpecCluster`` whose ``worker_spec`` entries are jobs),
        None for a local cluster or a remote scheduler (only the no-worker timeout applies).
    jobs
        The number of jobs to keep alive.
    no_worker_timeout
        Seconds without any connected worker after which :meth:`check` returns an error message.
    lost_grace
        Seconds a job that had workers may have none before it is replaced (default :data:`LOST_JOB_GRACE_S`).
    max_replacements
        Replacement jobs submitted at most (default ``10 * jobs``): a job that dies as soon as it
        starts is not resubmitted forever; the no-worker timeout then ends the batch.
    """

    def __init__(self, client: Any, cluster: Any = None, *, jobs: int = 0,
                 no_worker_timeout: float = NO_WORKER_TIMEOUT_S, lost_grace: float | None = None,
                 max_replacements: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not no_worker_timeout > 0:
            raise ConfigError(f"--no-worker-timeout {no_worker_timeout}: must be > 0 seconds")
        self.client, self.cluster, self.jobs = client, cluster, jobs
        self.timeout, self.clock = float(no_worker_timeout), clock
        self.grace = LOST_JOB_GRACE_S if lost_grace is None else float(lost_grace)
        self.max_replacements = 10 * max(jobs, 1) if max_replacements is None else max_replacements
        self.replaced = 0
        self.lost: list[str] = []
        self._seen: set[str] = set()
        self._gone: dict[str, float] = {}
        self._last_worker = clock()
        self._warned = False
        self._ever = _watch_scheduler(cluster)
        self._names_used: set[str] = set()

    def worker_names(self) -> set[str]:
        """Names of the workers connected to the scheduler now (empty if it cannot be asked)."""
        try:
            info = self.client.scheduler_info()
        except (OSError, TimeoutError, RuntimeError) as exc:
            log.warning("cannot ask the dask scheduler for its workers: %s", exc)
            return set()
        return {str(w.get("name")) for w in info.get("workers", {}).values()}

    def check(self) -> str | None:
        """Replace lost jobs; return a one-line message when no worker was connected for too long, else None."""
        now = self.clock()
        names = self.worker_names()
        if names:
            self._last_worker, self._warned = now, False
        if self.cluster is not None:
            self._replace_lost(names, now)
        idle = now - self._last_worker
        if names:
            return None
        if idle >= self.timeout:
            lost = f"; {self.replaced} lost job(s) were replaced" if self.replaced else ""
            return (f"no dask worker connected for {idle:.0f} s (--no-worker-timeout {self.timeout:g} s){lost}: "
                    "the jobs ended, failed to start or are still queued")
        if idle >= min(60.0, self.timeout / 2) and not self._warned:
            self._warned = True
            log.warning("no dask worker connected for %.0f s; the batch ends in %.0f s unless one connects", idle,
                        self.timeout - idle)
        return None

    def _replace_lost(self, names: set[str], now: float) -> None:
        lost = []
        for job, spec in list(self.cluster.worker_spec.items()):
            job = str(job)
            self._names_used.add(job)
            members = {job + str(s) for s in spec.get("group", [""])} if isinstance(spec, dict) else {job}
            if members & names:
                self._seen.add(job)
                self._gone.pop(job, None)
                continue
            had_workers = job in self._seen or bool(members & self._ever.names())
            if had_workers and now - self._gone.setdefault(job, now) >= self.grace:
                lost.append(job)
        if not lost:
            return
        for job in lost:
            self._seen.discard(job)
            self._gone.pop(job, None)
        self.lost += lost
        room = self.max_replacements - self.replaced
        if room < len(lost):
            log.error("job(s) %s lost their workers; not replaced: %d replacement jobs already submitted",
                      ", ".join(lost), self.replaced)
        n_new = max(0, min(room, len(lost)))
        self.replaced += n_new
        if n_new:
            log.warning("job(s) %s lost all their workers (ended, cancelled or past the wall time): submitting %d "
                        "replacement job(s)", ", ".join(lost), n_new)
        target = max(0, len(self.cluster.worker_spec) - len(lost) + n_new)
        self.cluster.loop.add_callback(self._forget, lost, target)

    def _forget(self, lost: list[str], target: int) -> None:
        # on the cluster's event loop: drop the ended jobs from the wanted set, then scale back up
        for job in lost:
            for key in list(self.cluster.worker_spec):
                if str(key) == job:
                    del self.cluster.worker_spec[key]
        # dask names a new job after the lowest index not in the spec: it would reuse the ended job's
        # name (and its old, dead entry would then stand for the new job); skip every name ever used
        new_name = getattr(self.cluster, "_new_worker_name", None)
        if new_name is not None and isinstance(getattr(self.cluster, "_i", None), int):
            used = self._names_used | set(lost)
            while str(new_name(self.cluster._i)) in used:
                self.cluster._i += 1
        if _is_jobqueue(self.cluster):
            self.cluster.scale(jobs=target)
        else:
            self.cluster.scale(target)


class _EverConnected:
    """Names of every worker that ever connected to an in-process scheduler (a job that starts and
    ends between two checks is still known to have run), fed by a scheduler plugin."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: set[str] = set()

    def add(self, name: Any) -> None:
        with self._lock:
            self._names.add(str(name))

    def names(self) -> set[str]:
        with self._lock:
            return set(self._names)


def _watch_scheduler(cluster: Any) -> _EverConnected:
    ever = _EverConnected()
    scheduler = getattr(cluster, "scheduler", None)
    if scheduler is None or not hasattr(scheduler, "add_plugin") or not hasattr(scheduler, "workers"):
        return ever  # a remote scheduler: the checks' snapshots only
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Plugin(SchedulerPlugin):
        name = "kansho-ever-connected"

        def add_worker(self, scheduler: Any, worker: str) -> None:
            ws = scheduler.workers.get(worker)
            if ws is not None:
                ever.add(ws.name)

    scheduler.add_plugin(Plugin())
    for ws in list(scheduler.workers.values()):
        ever.add(ws.name)
    return ever


def _is_jobqueue(cluster: Any) -> bool:
    try:
        from dask_jobqueue import JobQueueCluster
    except ImportError:  # pragma: no cover - optional dependency
        return False
    return isinstance(cluster, JobQueueCluster)


@contextmanager
def batch_client(*, scheduler: str | None = None, workers: int | None = None, cluster_kind: str | None = None,
                 memory_limit: str | None = None, no_worker_timeout: float = NO_WORKER_TIMEOUT_S,
                 **jobqueue: Any) -> Iterator[tuple[Any, WorkerWatch | None]]:
    """Yield the dask ``Client`` for a batch (a remote scheduler, a batch-scheduler cluster, local
    worker processes, or None: frames one after another in this process) and its :class:`WorkerWatch`."""
    if cluster_kind:
        from distributed import Client

        jq = make_cluster(cluster_kind, **jobqueue)
        client = Client(jq)
        try:
            yield client, WorkerWatch(client, jq, jobs=int(jobqueue.get("jobs", 1)),
                                      no_worker_timeout=no_worker_timeout)
        finally:
            client.close()
            try:
                jq.close()
            except Exception as exc:  # noqa: BLE001 - the batch's results stand; its jobs end with their wall time
                log.warning("closing the %s cluster: %s: %s", cluster_kind, type(exc).__name__, exc)
        return
    from kansho.parallel import cluster

    with cluster(workers or None, scheduler, memory_limit=memory_limit) as client:
        yield client, (None if client is None else WorkerWatch(client, no_worker_timeout=no_worker_timeout))
