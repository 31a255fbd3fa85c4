"""The one place that knows about dask: local clusters, remote schedulers, and task mapping.

Every parallel piece of Kansho (blocks of a time-series step, pairs of the interferometry chain,
frames of a batch) is a picklable top-level function applied to a list of items through
:func:`map_tasks`. Where it runs is decided once, by :func:`cluster`:

* nothing (the default): in this process, one item after another -- numpy's BLAS uses the cores;
* ``workers=N``: a :class:`dask.distributed.LocalCluster` of N single-threaded worker *processes*,
  with BLAS pinned to one thread each so that N workers use N cores without oversubscription;
* ``scheduler="tcp://host:8786"``: an existing dask.distributed cluster (for example one started by
  ``dask-jobqueue`` on SLURM/PBS, see ``docs/parallel.md``), so one run spreads over many machines.

Tasks write their results to chunk-aligned regions of on-disk stores and return only small
summaries, so a task that dies with its worker is simply run again elsewhere (dask retries it) and
overwrites the same chunks with the same values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from kansho._machine import usable_cores, usable_memory
from kansho.errors import ConfigError

log = logging.getLogger(__name__)

#: seconds to wait for a ``--scheduler`` to answer before giving up with a one-line error
SCHEDULER_CONNECT_TIMEOUT_S = 10.0

#: environment given to every local worker process before it starts (one BLAS thread per worker)
#:
#: dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` by default; that also freezes glibc's mmap threshold,
#: so every large numpy temporary is mapped and unmapped afresh (page faults, zeroing): the
#: inversion of a block ran 2.4x slower in a worker than in a plain process. Kansho's workers
#: run without it (their memory is bounded by the block size anyway).
WORKER_ENV_UNSET: tuple[str, ...] = ("MALLOC_TRIM_THRESHOLD_",)
WORKER_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
#: numpy's switch for asking the kernel for 2 MiB pages (transparent huge pages) for its arrays of 4 MiB and
#: more; Kansho's processes run without them unless the user set it (:func:`small_pages`)
HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"


def worker_env() -> dict[str, str]:
    """The environment of a worker process: :data:`WORKER_ENV`, and numpy's arrays in small pages
    (:func:`small_pages`) unless this process's environment says otherwise."""
    return {**WORKER_ENV, **({} if HUGEPAGE_ENV in os.environ else {HUGEPAGE_ENV: "0"})}

#: loggers of dask; their INFO lines (cluster start, every client request) are noise in a Kansho log
DASK_LOGGERS: tuple[str, ...] = ("distributed", "dask")
#: the level below which the records of :data:`DASK_LOGGERS` are dropped (set by the CLI from ``-v``)
_dask_log_level = logging.WARNING


def set_dask_log_level(level: int) -> None:
    """Let the loggers of dask (here and, through ``silence_logs``, in worker processes) pass ``level`` and above."""
    global _dask_log_level
    _dask_log_level = level
    _apply_dask_log_level()


def dask_log_level() -> int:
    """The level set by :func:`set_dask_log_level` (WARNING by default)."""
    return _dask_log_level


def _apply_dask_log_level() -> None:
    # importing distributed sets its own logger to INFO, so this runs again after that import
    for name in DASK_LOGGERS:
        logging.getLogger(name).setLevel(_dask_log_level)


def parse_memory(text: str | float | None) -> int | None:
    """Bytes from ``"6GB"``, ``"512MiB"``, ``"2e9"`` or a number; None stays None.

    >>> parse_memory("1.5GB")
    1500000000
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return int(text)
    s = str(text).strip().replace(" ", "")
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "kb": 10**3, "mb": 10**6, "gb": 10**9,
             "tb": 10**12, "k": 10**3, "m": 10**6, "g": 10**9, "b": 1}
    low = s.lower()
    for u in sorted(units, key=len, reverse=True):
        if low.endswith(u):
            num = low[: -len(u)]
            try:
                return int(float(num) * units[u])
            except (ValueError, OverflowError):
                break
    try:
        return int(float(s))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"cannot read a memory size from {text!r} (examples: 6GB, 512MiB)") from exc


def default_memory_limit() -> int:
    """A memory budget for a whole run: 60 % of the memory this process may use (the machine's RAM, or a
    container's or batch job's limit: :func:`kansho._machine.usable_memory`), at most 8 GB (a 2-core laptop) or
    2 GB per core it may run on where that is more (a many-core machine's workers each get room for full blocks)."""
    total = usable_memory() or 8 * 10**9
    return int(min(0.6 * total, max(8e9, 2e9 * usable_cores())))


def memory_budget(memory_limit: str | float | None) -> int:
    """The run's memory budget in bytes: ``memory_limit`` (``--memory-limit``, see :func:`parse_memory`) or,
    when it is not given, :func:`default_memory_limit`."""
    return parse_memory(memory_limit) or default_memory_limit()


@contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None, *,
            memory_limit: str | int | None = None, dashboard: bool = True) -> Iterator[Any]:
    """Yield a ``dask.distributed.Client`` (or ``None`` to run in this process).

    Parameters
    ----------
    workers
        Number of local worker processes (``None`` or 0: no cluster, run in this process).
    scheduler
        Address of an existing scheduler (``tcp://host:8786``); takes precedence over ``workers``.
    memory_limit
        Memory for the whole local cluster (split evenly between workers), e.g. ``"6GB"``;
        default :func:`default_memory_limit`.
    dashboard
        Log the address of a local cluster's dashboard. It always runs on a free port: distributed
        turns "no address" into its fixed port 8787, which two clusters at once cannot share.
    """
    if not scheduler and not workers:
        yield None
        return
    import dask
    from distributed import Client, LocalCluster

    _apply_dask_log_level()
    if scheduler:
        client = _connect(Client, scheduler)
        log.info("connected to dask scheduler %s (%d workers); dashboard: %s", scheduler,
                 len(client.scheduler_info().get("workers", {})), client.dashboard_link)
        try:
            yield client
        finally:
            client.close()
        return
    n = int(workers or 1)
    total = memory_budget(memory_limit)
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    env.update(worker_env())
    for key in WORKER_ENV_UNSET:
        env.pop(key, None)
    global _environ_before
    outer, _environ_before = _environ_before, _environ_before or dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            lc = _local_cluster(LocalCluster, n, total)
            client = Client(lc)
        restore_environ()
        log.info("local dask cluster: %d worker processes, %.1f GB each; dashboard: %s", n, total / n / 1e9,
                 client.dashboard_link if dashboard else "off")
        try:
            yield client
        finally:
            client.close()
            lc.close()
    finally:
        restore_environ()
        _environ_before = outer


#: this process's environment before its local cluster started, while one runs (:func:`restore_environ`)
_environ_before: dict[str, str] | None = None


def restore_environ() -> None:
    """Put back this process's environment as it was before its local cluster started (nothing while none runs).

    dask's nanny sets the workers' pre-spawn variables (:func:`worker_env`) in its own process, this one, before
    each spawn, and leaves them there (``os.environ.update``; distributed 2026.8). With ``NUMBA_NUM_THREADS=1``
    here, this process's next compilation (a fresh install's) launched numba's threads with one, or stopped
    the run ("Cannot set NUMBA_NUM_THREADS to a different value once the threads have been launched"), and
    every later child (the figures' process) inherited one BLAS thread. Called once the cluster has started,
    after each pass on it (a worker restarted mid-pass sets them again) and when it closes."""
    before = _environ_before
    if before is None:
        return
    for key in set(os.environ) - set(before):
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@functools.cache
def _libc() -> Any:
    """The C library through ctypes, loaded once per process (``find_library`` runs ``ldconfig``); None where
    it cannot be loaded. Its glibc-only functions are missing elsewhere (macOS, musl): AttributeError."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def trim_heap() -> bool:
    """Give the heap memory this process has freed back to the system (glibc's ``malloc_trim(0)``, every
    arena); returns whether it could call it (not whether any memory was free to give). Without dask's
    trim threshold (:data:`WORKER_ENV_UNSET`) glibc keeps what a step freed for later use, and a worker
    that ran the loop closure still held it through the inversion."""
    try:
        _libc().malloc_trim(0)
        return True
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return False


#: glibc's ``mallopt`` parameters: the number of malloc arenas, the free memory kept at the heap's top, the
#: number of chunks given their own mapping
_M_ARENA_MAX, _M_TRIM_THRESHOLD, _M_MMAP_MAX = -8, -1, -4
#: free bytes the heap keeps at its top between trims (:func:`heap_arrays`); the largest value ``mallopt`` takes
HEAP_KEEP = 2**31 - 1
#: malloc arenas allowed once blocks run on threads (:func:`_cap_arenas`)
MAX_ARENAS = 2


@functools.cache
def _cap_arenas() -> bool:
    """Cap glibc's malloc arenas at :data:`MAX_ARENAS` (once per process; returns whether it could).
    By default each new thread gets an arena of its own, which keeps what the thread's mid-sized
    temporaries (a block's int8 and bool pair arrays, under glibc's 32 MB mmap threshold) freed until
    the pass ends (:func:`_on_threads` trims the heap then): on the 1000² frame the inversion's peak
    with two block threads 1.27 GB uncapped, 1.12 GB capped, at the same speed. Arenas made before
    (by other threads) stay; later threads share them."""
    try:
        return bool(_libc().mallopt(_M_ARENA_MAX, MAX_ARENAS))
    except (OSError, AttributeError):  # not glibc
        return False


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS (and OpenMP) on one thread while the chain runs in this process, as in a worker
    (:data:`WORKER_ENV`). The chain's matrices are small (a bridge's design per gap pattern, a
    filter's few columns) and its heavy numerics are its own compiled kernels on their own threads;
    OpenBLAS's threads, woken by each small call, spin-wait between calls and take a core from them
    (18 % of the inversion step's CPU on the 1000² frame, 2 cores). Restored afterwards."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits={"blas": 1, "openmp": 1}):
        yield


#: glibc's defaults of those two parameters, restored after a run (:func:`heap_arrays`)
_MMAP_MAX_DEFAULT, _TRIM_THRESHOLD_DEFAULT = 65536, 128 * 1024


@contextmanager
def heap_arrays() -> Iterator[bool]:
    """While the chain runs in this process: every allocation from malloc's heap, none given a mapping of its
    own, and the heap's free top kept (up to :data:`HEAP_KEEP`) until :func:`trim_heap` gives it back after
    each pass and step; glibc's defaults and a trimmed heap afterwards. Yields whether glibc took it.

    glibc maps each chunk over its mmap threshold (at most 32 MiB) afresh and unmaps it when freed: a block's
    arrays of a pair stack (~110 MB on the 1000² frame) were faulted in and zeroed page by page for every
    block and every temporary. From the heap the next block reuses them: the whole chain 49-50 -> 43-47 s,
    peak 1.04-1.09 -> 1.17-1.24 GB on that frame (``docs/benchmarks_notes.md``). Not set in dask workers,
    whose memory the nanny watches between the steps' trims."""
    libc = _libc()
    try:
        ok = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP))
    except (OSError, AttributeError):  # not glibc
        yield False
        return
    try:
        yield ok
    finally:
        libc.mallopt(_M_MMAP_MAX, _MMAP_MAX_DEFAULT)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_DEFAULT)
        trim_heap()


@contextmanager
def small_pages() -> Iterator[None]:
    """numpy's new arrays in the kernel's ordinary 4 KiB pages while the chain runs in this process, numpy's
    request for transparent huge pages (``madvise``, arrays of 4 MiB and more) restored afterwards; nothing
    changes where the user set :data:`HUGEPAGE_ENV` or where numpy has no such switch.

    The chain's blocks make and drop many short-lived arrays of tens of MB; faulting each in as 2 MiB pages
    took twice the system time of 4 KiB pages on the benchmark machine (a virtual machine, huge pages in
    ``madvise`` mode): on the 1000² frame the inversion step 15.4 -> 12.8 s, ingest 8.4-12.6 -> 7.6-7.8 s,
    the QC step 3.4-4.1 -> 2.3 s, the results identical (``docs/benchmarks_notes.md``)."""
    import numpy as np

    switch = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if switch is None or HUGEPAGE_ENV in os.environ:
        yield
        return
    before = bool(switch(False))
    try:
        yield
    finally:
        switch(before)


def release_memory(client: Any = None) -> int:
    """After a step: :func:`trim_heap` here and, with a dask ``client``, in every worker (best effort: a worker
    that does not answer keeps its memory). Returns how many processes could trim."""
    n = int(trim_heap())  # no gc.collect() here: in a long-lived process (a notebook, pytest) it takes long
    return n + sum(v is True for v in on_workers(client, _collect_and_trim, "release the workers' memory").values())


def on_workers(client: Any, func: Callable[[], Any], what: str) -> dict[str, Any]:
    """``func()`` in every worker of a dask ``client``, best effort: its result by worker address; a worker that
    does not answer (or a client that cannot reach them) is left out, logged at debug level as "could not
    ``what``" -- housekeeping must not fail a step that succeeded. No client: nothing to run, ``{}``."""
    if client is None:
        return {}
    try:
        return dict(client.run(func, on_error="ignore"))
    except Exception as exc:  # noqa: BLE001 - an unreachable worker must not fail a step that succeeded
        log.debug("could not %s: %s", what, exc)
        return {}


def _collect_and_trim() -> bool:
    gc.collect()
    return trim_heap()


def _local_cluster(cluster_cls: Any, n: int, total: int) -> Any:
    """A local cluster of ``n`` worker processes; a one-line :class:`ConfigError` when it cannot start
    (a worker killed while starting: "Nanny failed to start", out of memory, no free port...)."""
    try:
        return cluster_cls(n_workers=n, threads_per_worker=1, processes=True, memory_limit=total // n,
                           dashboard_address=":0", silence_logs=_dask_log_level)
    except (RuntimeError, OSError, TimeoutError, ValueError) as exc:
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ConfigError(f"option workers: the local dask cluster of {n} worker processes did not start ({why}): "
                          f"try fewer --workers, a larger --memory-limit, or none (run in this process)") from None


def _connect(client_cls: Any, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler``; a one-line :class:`ConfigError` naming it when unreachable."""
    timeout = SCHEDULER_CONNECT_TIMEOUT_S
    try:
        return client_cls(scheduler, timeout=timeout)
    except (ValueError, TypeError) as exc:
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ConfigError(f"option scheduler: {scheduler!r} is not a dask scheduler address, e.g. tcp://HOST:8786 "
                          f"({why})") from None
    except (OSError, TimeoutError) as exc:
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ConfigError(f"option scheduler: cannot connect to the dask scheduler {scheduler} within {timeout:g} s "
                          f"({why}): is it running, and is the address tcp://HOST:PORT right?") from None


def map_tasks(func: Callable[..., Any], items: Sequence[Any] | Iterable[Any], *, client: Any = None,
              desc: str = "", progress: bool = True, retries: int = 2, threads: int = 1,
              ) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Apply ``func`` to every item; yield ``(index, result, error)`` as tasks finish.

    With ``client`` (a dask ``Client``) the items run as dask tasks (``retries`` extra attempts
    each, for a worker that dies); without one they run here, one after another, or with
    ``threads`` > 1 on that many threads of this process (:func:`_on_threads`: the tasks must write
    disjoint chunks, as for the cluster's workers). An exception raised by ``func`` is yielded as
    ``error`` (and ``result`` is None) so that the caller decides whether one failure stops the
    rest; ``KeyboardInterrupt`` is never swallowed.
    """
    from tqdm.auto import tqdm

    items = list(items)
    bar = tqdm(total=len(items), desc=desc, disable=not progress, leave=False)
    try:
        if client is None and threads > 1 and len(items) > 1:
            yield from _on_threads(func, items, threads, bar)
            return
        if client is None:
            for i, item in enumerate(items):
                try:
                    res = func(item)
                except Exception as exc:  # noqa: BLE001 - reported to the caller, which decides
                    yield i, None, exc
                else:
                    yield i, res, None
                bar.update(1)
            trim_heap()  # the pass's temporaries, kept by the heap (heap_arrays), not carried into the next pass
            return
        from distributed import as_completed

        futures = client.map(func, items, pure=False, retries=retries)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                i = index[fut.key]
                if fut.status == "error":
                    yield i, None, fut.exception()
                else:
                    yield i, fut.result(), None
                bar.update(1)
        finally:
            client.cancel([f for f in futures if not f.done()])
            restore_environ()
            trim_heap()  # what this process freed meanwhile (heap_arrays keeps it), before the next piece
            on_workers(client, trim_heap, "trim the workers' heaps")  # what the pass's tasks left in them
    finally:
        bar.close()


def _on_threads(func: Callable[..., Any], items: list[Any], n: int, bar: Any
                ) -> Iterator[tuple[int, Any, BaseException | None]]:
    """The items on ``n`` threads of this process, yielded in item order. Each task's compiled kernels
    run on its own thread (numba's thread count set to 1 there; :func:`kansho._threads.run_ranges` takes
    its threads from the pass's :class:`kansho._threads.BlockShare`, more only in the pass's tail), so ``n``
    tasks fill ``n`` cores where one task at a time left the NumPy work between its kernels, the reads and
    the writes on one. The kernels, NumPy's large operations and the stores' codecs release the GIL. A task's
    result is the same on any thread. On an error or when the caller stops, the tasks not started are
    cancelled and those running finish first. Memory: :func:`_cap_arenas`, and the heap trimmed after
    the pass."""
    import numba

    from kansho._threads import BlockShare, enter_block

    share = BlockShare(n, len(items))

    def one(item: Any) -> Any:
        numba.set_num_threads(1)
        enter_block(share)  # one thread for its kernels, more in the pass's tail
        try:
            return func(item)
        finally:
            enter_block(None)
            share.done()

    _cap_arenas()
    pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="kansho-block")
    try:
        futures = [pool.submit(one, item) for item in items]
        for i, fut in enumerate(futures):
            err = fut.exception()
            yield i, None if err is not None else fut.result(), err
            bar.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        trim_heap()  # what the threads' arenas keep of the pass's temporaries, not carried into the next pass


def run_all(func: Callable[..., Any], items: Sequence[Any], *, client: Any = None, desc: str = "",
            progress: bool = True, threads: int = 1) -> list[Any]:
    """:func:`map_tasks` that returns the results in item order and raises the first error."""
    out: list[Any] = [None] * len(items)
    for i, res, err in map_tasks(func, items, client=client, desc=desc, progress=progress, threads=threads):
        if err is not None:
            raise err
        out[i] = res
    return out


def jobqueue_env_config() -> str:
    """A job-script line making the job's nannies start their workers without :data:`WORKER_ENV_UNSET`.

    A batch job's nannies read dask's config in the job, not ours; dask takes a config serialised
    in ``DASK_INTERNAL_INHERIT_CONFIG`` (:func:`dask.config.serialize`), where a value None unsets
    a variable of ``distributed.nanny.pre-spawn-environ``.
    """
    import dask.config

    cfg = {"distributed": {"nanny": {"pre-spawn-environ": dict.fromkeys(WORKER_ENV_UNSET)}}}
    return f"export DASK_INTERNAL_INHERIT_CONFIG={dask.config.serialize(cfg)}"


def jobqueue_cluster(kind: str, *, cores: int = 4, memory: str = "16GB", walltime: str = "02:00:00",
                     queue: str | None = None, account: str | None = None, jobs: int = 1,
                     job_extra: Sequence[str] = (), **kwargs: Any) -> Any:
    """Start a dask-jobqueue cluster (``kind``: ``slurm``, ``pbs``, ``sge``, ``lsf``) and scale it to ``jobs``.

    One batch job per ``jobs``, each running single-threaded worker processes (``processes=cores``)
    with BLAS pinned, as in :func:`cluster`. Requires ``pip install dask-jobqueue``.
    """
    try:
        import dask_jobqueue
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise RuntimeError("a batch-scheduler cluster needs dask-jobqueue: pip install dask-jobqueue") from exc
    classes = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
    if kind not in classes:
        raise ValueError(f"unknown cluster kind {kind!r}; choose one of {', '.join(classes)}")
    cls = getattr(dask_jobqueue, classes[kind])
    env = [f"export {k}={v}" for k, v in worker_env().items()] + [jobqueue_env_config()]
    # the dashboard on a free port, as for a local cluster: a fixed 8787 fails when another dask runs here
    kwargs["scheduler_options"] = {"dashboard_address": ":0", **(kwargs.get("scheduler_options") or {})}
    c = cls(cores=cores, processes=cores, memory=memory, walltime=walltime, queue=queue, account=account,
            job_script_prologue=env, job_extra_directives=list(job_extra), **kwargs)
    c.scale(jobs=jobs)
    log.info("%s cluster: %d job(s) of %d workers; dashboard: %s", kind, jobs, cores, c.dashboard_link)
    return c
