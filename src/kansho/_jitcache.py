"""Whether the compiled numerical kernels are already in numba's on-disk cache.

The chain's kernels (``kansho._nsbas_jit``, ``_outlier_jit``, ``_unwfix_jit``, ``_loops_jit`` and those of
``kansho.inversion``) are compiled by numba on first use and cached (``cache=True``): the first run after an
install spends 10-30 s compiling (~12 s more than a warm demo on two cores, ~22 s on one), with nothing else
to show for it. :func:`announce` says so once, before the chain starts, when any kernel has no cache index
yet. Then, on a machine with two cores or more, :func:`warm_in_background` compiles the kernels of steps 1-3
to 1-6 in a child process (:mod:`kansho._jitwarm`) while the chain's own process compiles those of step 1-2
(numba compiles one function at a time per process); step 1-3 waits for it (:func:`wait_for_warm`) and loads
them from the cache.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import subprocess
import sys

log = logging.getLogger("kansho")

#: modules holding the chain's cached numba kernels
JIT_MODULES = ("kansho._nsbas_jit", "kansho._outlier_jit", "kansho._unwfix_jit", "kansho._loops_jit",
               "kansho._jumps_jit", "kansho._filter_jit", "kansho._invert_jit", "kansho._velocity_jit",
               "kansho._mask_jit", "kansho._loopfuse_jit", "kansho._qc_jit", "kansho.inversion")

_announced = False
#: the child process compiling in the background, while it may run
_warmer: subprocess.Popen[bytes] | None = None
#: set in the child's environment (no child of its own)
WARM_ENV = "KANSHO_JIT_WARM_CHILD"


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
    log.info("compiling the numerical kernels, once (%d of them, about 10-30 s on first use; later runs load "
             "them from numba's cache)", len(missing))
    return True


def prepare() -> None:
    """Before a chain runs in this process: :func:`announce` the compilation when most kernels are not cached
    and then start :func:`warm_in_background`. Called by the chain and, earlier, by ``kansho demo`` (so the
    child compiles while the demo makes its frame); later calls do nothing."""
    if announce() and warm_in_background():
        compile_here()


def compile_here() -> None:
    """Compile in this process, while the background child starts, a few kernels of step 1-3 that the
    child would reach late (the graph bridges of the unchecked pairs, the pixels' gaps, the residual
    screen, the epoch means): it then loads them from the cache instead. With them the two processes
    finish about together on the demo's first run (two cores); the kernels moved here are chosen to keep
    that balance as the kernels' compilation times change. Called with the argument types the chain
    gives them; any failure only leaves them to be compiled later."""
    import numpy as np

    from kansho import _invert_jit, outliers

    try:
        valid = np.ones((3, 2), np.bool_)
        ends = np.array([[0, 1], [1, 2], [0, 2]], np.int64)
        outliers.unchecked_pairs(valid, ends, 3)
        _invert_jit.pixel_gaps(valid, ends[:, 0].copy(), ends[:, 1].copy(), 3)
        _invert_jit.resid_exceeds(np.zeros((3, 2)), np.zeros((3, 2), np.float32), ends[:, 0].copy(),
                                  ends[:, 1].copy(), 1.0)
        _invert_jit.nanmean_rows(np.zeros((3, 2), np.float32))
    except Exception as exc:  # noqa: BLE001 - a warm-up only
        log.debug("could not compile the step 1-3 kernels here: %s", exc)


def warm_in_background() -> bool:
    """Start the child process of :mod:`kansho._jitwarm` (once per process, with two cores or more,
    never from that child). Returns whether it started."""
    global _warmer
    if _warmer is not None or os.environ.get(WARM_ENV) or (os.cpu_count() or 1) < 2:
        return False
    env = {**os.environ, WARM_ENV: "1"}
    try:
        _warmer = subprocess.Popen([sys.executable, "-m", "kansho._jitwarm"], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as exc:
        log.debug("could not start the background compilation: %s", exc)
        return False
    atexit.register(_stop_warm)
    return True


def wait_for_warm(timeout: float = 600.0) -> None:
    """Wait (at most ``timeout`` s) for the background compilation, if one runs; the kernels it
    compiled then load from the cache. A failed or slow child costs nothing but the wait: whatever
    it did not compile is compiled here on first use."""
    global _warmer
    if _warmer is None:
        return
    if _warmer.poll() is None:
        log.info("waiting for the kernels compiled in the background")
        try:
            _warmer.wait(timeout)
        except subprocess.TimeoutExpired:
            log.debug("the background compilation is still running after %.0f s", timeout)
            return
    _warmer = None


def _stop_warm() -> None:
    """At exit: end a background compilation still running (what it cached stays cached)."""
    global _warmer
    if _warmer is not None and _warmer.poll() is None:
        _warmer.terminate()
        try:
            _warmer.wait(10)
        except subprocess.TimeoutExpired:
            _warmer.kill()
            _warmer.wait()
    _warmer = None
