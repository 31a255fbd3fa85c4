"""A kernel that does nothing, called once in a thread as a chain starts (:func:`kansho._jitcache.prepare`).

A process's first call of any compiled kernel, cached or not, first sets numba up (its typing and target
contexts: ~0.3 s of Python on the benchmark VM); later first calls of other cached kernels take ~10 ms.
Calling this one in a thread as the run starts does that setup while the run opens its stores and reads,
rather than inside the first step that calls a kernel.
"""

from __future__ import annotations

from numba import njit

from kansho._jitopts import KERNEL


@njit(**KERNEL)
def ready() -> int:  # pragma: no cover - compiled
    """1: numba is set up in this process."""
    return 1
