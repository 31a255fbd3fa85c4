"""kansho._threads.BlockShare: a pass's block tasks each run their kernels on one thread while every thread has
a task, and the last ones share the threads left idle (the results do not depend on it)."""

from __future__ import annotations

import time

import numpy as np

from kansho._threads import BlockShare, kernel_threads, run_ranges
from kansho.parallel import run_all


def test_the_share_grows_in_the_tail_only() -> None:
    share = BlockShare(2, 3)
    assert share.threads() == 1  # three tasks for two threads
    share.done()
    assert share.threads() == 1  # two running, one each
    share.done()
    assert share.threads() == 2  # the last one takes the idle thread
    assert BlockShare(4, 1).threads() == 4 and BlockShare(4, 2).threads() == 2 and BlockShare(4, 3).threads() == 1


def _task(name: str) -> tuple[str, int]:
    """``fast`` returns its kernel threads at once; ``slow`` waits (at most 10 s) until it is the last task
    running, then returns its own."""
    if name == "fast":
        return name, kernel_threads()
    t0 = time.monotonic()
    while kernel_threads() == 1 and time.monotonic() - t0 < 10:
        time.sleep(0.01)
    return name, kernel_threads()


def test_the_last_block_of_a_pass_gets_the_idle_thread() -> None:
    out = run_all(_task, ["slow", "fast"], threads=2, progress=False)
    assert out == [("slow", 2), ("fast", 1)]
    assert kernel_threads() >= 1  # outside a pass: numba's own count, untouched


def _square_ranges(r0: int, r1: int, x: np.ndarray, out: np.ndarray) -> None:
    out[r0:r1] = x[r0:r1] ** 2


def _ranges_task(n: int) -> np.ndarray:
    x = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    run_ranges(_square_ranges, n, x, out)
    return out


def test_ranges_give_the_same_result_in_and_out_of_the_tail() -> None:
    outs = run_all(_ranges_task, [50, 3000, 7], threads=2, progress=False)
    for n, o in zip([50, 3000, 7], outs, strict=True):
        np.testing.assert_array_equal(o, np.arange(n, dtype=np.float64) ** 2)
