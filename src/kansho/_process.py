"""Settings of a Kansho process while it runs a command: Python's cyclic garbage collector run less often.

Compiling the numerical kernels (numba, on first use) makes millions of short-lived Python objects: with
the collector's default thresholds (700, 10, 10) a cold ``kansho demo`` ran 3,350 young and 23 full
collections, 3.1 s of its 29 s in one process (each full one walks every object that numba, SciPy and
matplotlib keep). With the youngest generation collected every :data:`GEN0_THRESHOLD` allocations
instead, 107 young and one full collection took 1.2 s, at the same peak memory (the chain's arrays are
freed by reference counting, not by the collector).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: allocations (less deallocations) of container objects between two collections of the youngest generation
GEN0_THRESHOLD = 20_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The collector's youngest generation collected every :data:`GEN0_THRESHOLD` allocations while the block
    runs (the older generations' thresholds unchanged), the thresholds as they were afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(max(GEN0_THRESHOLD, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
