"""Ranges of a compiled kernel's work on threads, in place of numba's ``prange``.

A kernel written as ``kernel(r0, r1, *args)`` (``@njit(nogil=True)``, doing items ``r0 .. r1 - 1`` and
writing its results into arrays of ``args``) runs here on as many threads as numba may use
(``numba.get_num_threads()``: all cores, or 1 on a dask worker that pins ``NUMBA_NUM_THREADS``), or, in a
block task on threads, those its :class:`BlockShare` gives it. The
result is the same for any number of threads when each item is computed alone. Against ``prange``
this costs nothing measurable at run time and saves seconds of compilation on first use (a
``parallel=True`` kernel is lowered twice, once as a parallel loop).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba

#: ranges per thread: the items' work is often uneven, so each thread takes several in turn
RANGES_PER_THREAD = 4


class BlockShare:
    """The threads of a pass's block tasks (:func:`kansho.parallel.map_tasks` on ``n`` threads of one
    process): while every thread has a task, each task's kernels run on its own thread; once the tasks
    left are fewer than the threads (the pass's tail), those still running share the idle threads, so the
    last block of a pass does not leave a core idle while its kernels run."""

    def __init__(self, n_threads: int, n_tasks: int) -> None:
        self.n = max(1, n_threads)
        self.unfinished = n_tasks
        self._lock = threading.Lock()

    def done(self) -> None:
        """A task has finished."""
        with self._lock:
            self.unfinished -= 1

    def threads(self) -> int:
        """Threads for a kernel of a running task now."""
        u = max(self.unfinished, 1)
        return 1 if u >= self.n else self.n // u


_local = threading.local()


def enter_block(share: BlockShare | None) -> None:
    """This thread now runs a block task of ``share`` (None: none)."""
    _local.share = share


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Within it, the kernels and :func:`map_threads` called from this thread run on this thread alone; the
    thread's block share (:func:`enter_block`) is restored after."""
    before: BlockShare | None = getattr(_local, "share", None)
    _local.share = BlockShare(1, 1)
    try:
        yield
    finally:
        _local.share = before


def kernel_threads() -> int:
    """Threads for a kernel called from this thread: its block share's (:class:`BlockShare`), or numba's
    (``numba.get_num_threads()``: all cores, or 1 on a dask worker that pins ``NUMBA_NUM_THREADS``)."""
    share: BlockShare | None = getattr(_local, "share", None)
    return numba.get_num_threads() if share is None else share.threads()


def run_ranges(kernel: Callable[..., Any], n: int, *args: Any) -> None:
    """``kernel(r0, r1, *args)`` over ``0 .. n - 1`` cut into ranges, on :func:`kernel_threads` threads
    (in this thread when that is 1 or there is one range)."""
    nthr = max(1, min(kernel_threads(), n))
    if nthr == 1:
        kernel(0, n, *args)
        return
    step = max(1, n // (RANGES_PER_THREAD * nthr))
    with ThreadPoolExecutor(max_workers=nthr) as pool:
        for job in [pool.submit(kernel, r0, min(r0 + step, n), *args) for r0 in range(0, n, step)]:
            job.result()


def map_threads(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on :func:`kernel_threads` threads (in this thread when that is 1 or there is
    one item), results in the order of ``items``: for independent pieces of a numerical function whose work
    releases the GIL (NumPy, SciPy's filters and FFTs, compiled kernels), e.g. the widths of a
    cross-validation. Each result is what the loop would give, whatever the threads. The pieces' kernels
    share the threads as a pass's block tasks do (:class:`BlockShare`: one each while every thread has a
    piece, the idle ones in the tail), not each on all of them at once."""
    nthr = max(1, min(kernel_threads(), len(items)))
    if nthr == 1:
        return [fn(x) for x in items]
    share = BlockShare(nthr, len(items))

    def one(x: Any) -> Any:
        enter_block(share)
        try:
            return fn(x)
        finally:
            enter_block(None)
            share.done()

    with ThreadPoolExecutor(max_workers=nthr) as pool:
        return list(pool.map(one, items))
