"""Batch-scheduler clusters (SLURM, PBS) for ``kansho batch --cluster``, via dask-jobqueue.

The cluster itself is made by :func:`kansho.parallel.jobqueue_cluster` (single-threaded worker
processes, BLAS pinned); this module picks sensible per-frame sizes and yields a ``Client`` for
the runner. dask-jobqueue is optional: ``pip install dask-jobqueue``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kansho.errors import ConfigError

log = logging.getLogger(__name__)


def make_cluster(kind: str, *, cores: int = 4, memory: str = "32GB", walltime: str = "04:00:00",
                 queue: str | None = None, account: str | None = None, jobs: int = 1,
                 job_extra: Sequence[str] = (), **kwargs: Any) -> Any:
    """A dask-jobqueue cluster of ``jobs`` batch jobs, each with ``cores`` one-frame workers sharing ``memory``.

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
    try:
        return jobqueue_cluster(kind, cores=cores, memory=memory, walltime=walltime, queue=queue, account=account,
                                jobs=jobs, job_extra=job_extra, **kwargs)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"--cluster {kind}: {exc}") from None


@contextmanager
def batch_client(*, scheduler: str | None = None, workers: int | None = None, cluster_kind: str | None = None,
                 memory_limit: str | None = None, **jobqueue: Any) -> Iterator[Any]:
    """Yield the dask ``Client`` for a batch: a remote scheduler, a batch-scheduler cluster, local
    worker processes, or None (frames one after another in this process)."""
    if cluster_kind:
        from distributed import Client

        jq = make_cluster(cluster_kind, **jobqueue)
        client = Client(jq)
        try:
            yield client
        finally:
            client.close()
            jq.close()
        return
    from kansho.parallel import cluster

    with cluster(workers or None, scheduler, memory_limit=memory_limit) as client:
        yield client
