"""Ranges of a compiled kernel's work on threads, in place of numba's ``prange``.

A kernel written as ``kernel(r0, r1, *args)`` (``@njit(nogil=True)``, doing items ``r0 .. r1 - 1`` and
writing its results into arrays of ``args``) runs here on as many threads as numba may use
(``numba.get_num_threads()``: all cores, or 1 on a dask worker that pins ``NUMBA_NUM_THREADS``). The
result is the same for any number of threads when each item is computed alone. Against ``prange``
this costs nothing measurable at run time and saves seconds of compilation on first use (a
``parallel=True`` kernel is lowered twice, once as a parallel loop).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba

#: ranges per thread: the items' work is often uneven, so each thread takes several in turn
RANGES_PER_THREAD = 4


def run_ranges(kernel: Callable[..., Any], n: int, *args: Any) -> None:
    """``kernel(r0, r1, *args)`` over ``0 .. n - 1`` cut into ranges, on ``numba.get_num_threads()``
    threads (in this thread when that is 1 or there is one range)."""
    nthr = max(1, min(numba.get_num_threads(), n))
    if nthr == 1:
        kernel(0, n, *args)
        return
    step = max(1, n // (RANGES_PER_THREAD * nthr))
    with ThreadPoolExecutor(max_workers=nthr) as pool:
        for job in [pool.submit(kernel, r0, min(r0 + step, n), *args) for r0 in range(0, n, step)]:
            job.result()
