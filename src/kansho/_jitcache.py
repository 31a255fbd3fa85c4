"""Whether the compiled numerical kernels are already in numba's on-disk cache.

The chain's kernels (``kansho._nsbas_jit``, ``_outlier_jit``, ``_unwfix_jit``, ``_loops_jit`` and those
of ``kansho.inversion``) are compiled by numba on first use and cached (``cache=True``): the first run
after an install spends about 30 s compiling, with nothing else to show for it. :func:`announce`
says so once, before the chain starts, when any kernel has no cache index yet.
"""

from __future__ import annotations

import importlib
import logging
import os

log = logging.getLogger("kansho")

#: modules holding the chain's cached numba kernels
JIT_MODULES = ("kansho._nsbas_jit", "kansho._outlier_jit", "kansho._unwfix_jit", "kansho._loops_jit",
               "kansho._jumps_jit", "kansho._filter_jit", "kansho._invert_jit", "kansho.inversion")

_announced = False


def uncached_kernels() -> tuple[list[str], int]:
    """Names of the cached kernels whose numba cache index is missing, and how many kernels there are.

    Uses numba's dispatcher cache locator; a kernel whose cache cannot be located is not counted. A
    kernel only ever called from other kernels is compiled into them and never gets an index of its
    own, so a warm cache still lists a few."""
    missing = []
    total = 0
    for name in JIT_MODULES:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            cache = getattr(obj, "_cache", None)
            index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
            if isinstance(index, str):
                total += 1
                if not os.path.exists(index):
                    missing.append(f"{name}.{attr}")
    return missing, total


def announce() -> bool:
    """Log, once per process, that the kernels will now be compiled (when most are not cached).
    Returns whether it did."""
    global _announced
    if _announced:
        return False
    try:
        missing, total = uncached_kernels()
    except (AttributeError, ImportError, OSError, TypeError) as exc:  # numba's cache internals are private
        log.debug("could not inspect numba's cache: %s", exc)
        return False
    _announced = True
    if 2 * len(missing) <= total:
        return False
    log.info("compiling the numerical kernels, once (%d of them, about 30 s on first use; later runs load "
             "them from numba's cache)", len(missing))
    return True
