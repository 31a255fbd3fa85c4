"""Whether the compiled numerical kernels are already in numba's on-disk cache.

The chain's kernels (``kansho._nsbas_jit``, ``_outlier_jit``, ``_unwfix_jit``, ``_loops_jit`` and those of
``kansho.inversion``) are compiled by numba on first use and cached (``cache=True``): the first run after an
install spends 10-40 s compiling, with nothing else to show for it. :func:`announce` says so once, before the
chain starts, when most kernels have no cache index yet. Then, on a machine with two cores or more,
:func:`warm_in_background` compiles the kernels of steps 1-3 to 1-6 in a child process (:mod:`kansho._jitwarm`)
while the chain's own process compiles those of step 1-2 and a few of step 1-3 (:func:`compile_here`; numba
compiles one function at a time per process). Each of steps 1-3 to 1-6 waits until the child has done that
step (:func:`wait_for_warm`) and loads its kernels from the cache, while the child goes on to the next. A small
frame inverts with numpy (:func:`kansho.inversion.use_compiled`): the demo's child leaves the largest kernel
out, and the first large run compiles it, saying so (:func:`announce_kernel`).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from kansho._machine import usable_cores

log = logging.getLogger("kansho")

#: modules holding the chain's cached numba kernels: every ``kansho/_*_jit.py``, found rather than listed (a
#: hand-kept list had left out ``_loopsq_jit``, whose kernels then went uncounted), and ``kansho.inversion``
JIT_MODULES = (*(f"kansho.{p.stem}" for p in sorted(Path(__file__).resolve().parent.glob("_*_jit.py"))),
               "kansho.inversion")

_announced = False
#: whether :func:`set_up_numba` has started its thread in this process
_set_up = False
#: kernels :func:`announce_kernel` looked at, in this process
_kernels_announced: set[str] = set()
#: the child process compiling in the background, while it may run
_warmer: subprocess.Popen[bytes] | None = None
#: set in the child's environment (no child of its own)
WARM_ENV = "KANSHO_JIT_WARM_CHILD"
#: the child's argument: compile the kernels of a large frame too (:func:`prepare`)
LARGE_FLAG = "--large"
#: the steps that wait for the child (:func:`wait_for_warm`), which reports each when done; this process runs
#: the steps before them (and compiles their kernels) while the child starts
WAIT_STEPS = ("invert", "vstd", "mask", "filter")


class _Reports:
    """The steps a background child has reported done (one name a line on its stdout), and whether its report
    has ended (it exited); :meth:`read` runs in a thread of its own."""

    def __init__(self) -> None:
        self.done: set[str] = set()
        self.ended = False
        self.change = threading.Condition()

    def read(self, stream: IO[bytes] | None) -> None:
        try:
            with stream or open(os.devnull, "rb") as lines:
                for line in lines:
                    with self.change:
                        self.done.add(line.decode(errors="replace").strip())
                        self.change.notify_all()
        finally:
            with self.change:
                self.ended = True
                self.change.notify_all()

    def ready(self, step: str | None) -> bool:
        """Whether the child has reported ``step`` done, or ended (its report then is all there is)."""
        return self.ended or (step is not None and step in self.done)


#: the reports of the child :data:`_warmer`
_reports = _Reports()


def _index_path(kernel: object) -> str | None:
    """The numba cache index file of a ``cache=True`` kernel, or None where it cannot be located."""
    cache = getattr(kernel, "_cache", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    return index if isinstance(index, str) else None


def announce_kernel(kernel: object, what: str, seconds: float) -> None:
    """Log, once per process and kernel, that ``kernel`` (``what`` it is, about ``seconds`` to compile) is
    compiled now, when numba's cache has no index for it: a kernel that the background child of a small
    demo leaves out (:func:`prepare`) is compiled by the first large run that needs it."""
    name = getattr(kernel, "__qualname__", repr(kernel))
    if name in _kernels_announced:
        return
    _kernels_announced.add(name)
    try:
        index = _index_path(kernel)
    except (AttributeError, TypeError) as exc:  # numba's cache internals are private
        log.debug("could not inspect numba's cache: %s", exc)
        return
    if index is not None and not os.path.exists(index):
        log.info("compiling %s, once (about %.0f s; later runs load it from numba's cache)", what, seconds)


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
            index = _index_path(obj)
            if index is not None:
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


def prepare(large: bool = True) -> None:
    """Before a chain runs in this process: :func:`announce` the compilation when most kernels are not cached
    and then start :func:`warm_in_background` and :func:`compile_here`. Called by the chain and, earlier, by
    ``kansho demo`` (so the child compiles while the demo makes its frame); later calls do nothing.

    ``large``: the frame may be large enough for the compiled NSBAS kernel
    (:func:`kansho.inversion.use_compiled`; the chain cannot tell before it reads the input). False (a small
    demo): the child leaves that kernel out (a small frame never runs it), and this process takes a smaller
    share of step 1-3's kernels: the two finish about together."""
    if announce() and warm_in_background(large):
        compile_here(large)


def set_up_numba() -> None:
    """Set numba up in a daemon thread of this process (:mod:`kansho._ready_jit`), once. The chain's runner calls
    it as a run begins whose first step calls kernels (the run reads its state and stamps meanwhile), else as
    the first step that does begins: the first kernel call is then as quick as any other's, and a step that
    calls none (step 1-1 alone) does not lose the GIL to it."""
    global _set_up
    if _set_up:
        return
    _set_up = True

    def run() -> None:
        try:
            from kansho._ready_jit import ready

            ready()
        except Exception as exc:  # noqa: BLE001 - a head start only: the first kernel call sets numba up
            log.debug("could not set numba up ahead: %s", exc)

    threading.Thread(target=run, name="kansho-numba-setup", daemon=True).start()


def compile_here(large: bool = True) -> None:
    """Compile in this process, while the background child starts, a few kernels of step 1-3 that the
    child would reach late: the graph bridges of the unchecked pairs and, where the child compiles the NSBAS
    kernel too (``large`` of :func:`prepare`, ~6 s), the pixels' gaps, the residual screen and the epoch means.
    The child then loads them from the cache, and the two processes finish about together (on two cores, a
    first small demo: this process ~4 s ahead of the child at step 1-3 without them). The kernels moved here
    are chosen to keep that balance as the kernels' compilation times change. Called with the argument types
    the chain gives them; any failure only leaves them to be compiled later."""
    import numpy as np

    from kansho import _invert_jit, outliers

    try:
        valid = np.ones((3, 2), np.bool_)
        ends = np.array([[0, 1], [1, 2], [0, 2]], np.int64)
        outliers.unchecked_counts(valid, ends, 3)
        if large:
            _invert_jit.pixel_gaps(valid, ends[:, 0].copy(), ends[:, 1].copy(), 3)
            _invert_jit.resid_exceeds(np.zeros((3, 2)), np.zeros((3, 2), np.float32), ends[:, 0].copy(),
                                      ends[:, 1].copy(), 1.0)
            _invert_jit.nanmean_rows(np.zeros((3, 2), np.float32))
    except Exception as exc:  # noqa: BLE001 - a warm-up only
        log.debug("could not compile the step 1-3 kernels here: %s", exc)


def warm_in_background(large: bool = True) -> bool:
    """Start the child process of :mod:`kansho._jitwarm` (once per process, with two cores or more,
    never from that child), with ``large`` (:func:`prepare`) compiling the NSBAS kernel too. Returns
    whether it started."""
    global _warmer, _reports
    if _warmer is not None or os.environ.get(WARM_ENV) or usable_cores() < 2:
        return False
    env = {**os.environ, WARM_ENV: "1"}
    try:
        _warmer = subprocess.Popen(_child_args(large), env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        log.debug("could not start the background compilation: %s", exc)
        return False
    _reports = _Reports()
    threading.Thread(target=_reports.read, args=(_warmer.stdout,), name="kansho-jit-warm", daemon=True).start()
    atexit.register(_stop_warm)
    return True


def _child_args(large: bool) -> list[str]:
    """The command line of the background child."""
    return [sys.executable, "-m", "kansho._jitwarm", *([LARGE_FLAG] if large else [])]


def wait_for_warm(step: str | None = None, timeout: float = 600.0) -> None:
    """Wait (at most ``timeout`` s) for the background compilation, if one runs: before ``step``, until the child
    has done that step (nothing to wait for before a step not in :data:`WAIT_STEPS`); without a step, until it
    ends. The kernels it compiled then load from the cache. A failed or slow child costs nothing but the wait:
    whatever it did not compile is compiled here on first use."""
    global _warmer
    child, reports = _warmer, _reports
    if child is None or (step is not None and step not in WAIT_STEPS):
        return
    with reports.change:
        if not reports.ready(step):
            log.info("waiting for the kernels compiled in the background")
            if not reports.change.wait_for(lambda: reports.ready(step), timeout):
                log.debug("the background compilation is still running after %.0f s", timeout)
                return
    if reports.ended:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
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
