"""A kernel that does nothing, called once in a thread (:func:`kansho._jitcache.set_up_numba`) as a run whose first
step calls kernels starts, or as the first such step begins.

A process's first call of any compiled kernel, cached or not, first sets numba up (its typing and target
contexts: ~0.3 s of Python on the benchmark VM); later first calls of other cached kernels take ~10 ms.
Calling this one in a thread does that setup while the run reads its state and opens its stores, rather than
inside the first step that calls a kernel.
"""

from __future__ import annotations

from numba import njit

from kansho._jitopts import KERNEL


@njit(**KERNEL)
def ready() -> int:  # pragma: no cover - compiled
    """1: numba is set up in this process."""
    return 1
