"""kansho._threads.BlockShare: a pass's block tasks each run their kernels on one thread while every thread has
a task, and the last ones share the threads left idle (the results do not depend on it)."""

from __future__ import annotations

import threading
import time

import numpy as np

from kansho._threads import BlockShare, enter_block, kernel_threads, map_threads, run_ranges
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


def _thread_name(x: int) -> tuple[int, str]:
    time.sleep(0.01)  # both threads get items
    return x * x, threading.current_thread().name


def test_map_threads_keeps_the_order_and_uses_the_share() -> None:
    try:
        enter_block(BlockShare(2, 1))  # the last task of a pass on two threads: two threads here
        out = map_threads(_thread_name, range(8))
        assert [v for v, _ in out] == [x * x for x in range(8)]
        assert len({n for _, n in out}) == 2
        enter_block(BlockShare(2, 2))  # two tasks running: one thread each, this one
        assert {n for _, n in map_threads(_thread_name, range(4))} == {threading.current_thread().name}
    finally:
        enter_block(None)


def _piece_threads(x: int) -> int:
    time.sleep(0.01 * (x == 7))  # the last piece still running when the others are done
    return kernel_threads()


def test_map_threads_pieces_share_the_threads() -> None:
    """The pieces of :func:`map_threads` share its threads as a pass's block tasks do: one each for their
    kernels while every thread has a piece (they ran each on all of them at once, oversubscribed), more in
    the tail (the last piece alone takes both)."""
    try:
        enter_block(BlockShare(2, 1))
        got = map_threads(_piece_threads, range(8))
        assert got[:6] == [1] * 6 and got[7] == 2
    finally:
        enter_block(None)


def test_cross_validation_and_model_choice_same_on_any_threads() -> None:
    """The widths of the spatial cross-validation and the bridge candidates' regional MSE run on threads
    (:func:`kansho._threads.map_threads`): the same numbers, bit for bit, as on one thread."""
    from kansho import bridge
    from kansho.filters_adaptive import spatial_cv_sums

    rng = np.random.default_rng(3)
    img = rng.normal(size=(90, 110)).cumsum(axis=1)
    img[rng.random(img.shape) < 0.2] = np.nan
    sig = [(s, s * 1.2) for s in (1.0, 3.0, 9.0, 12.0)]  # direct and FFT widths
    mu, vmu = rng.normal(size=(2, 90, 110)), rng.random((2, 90, 110))
    vmu[1, :30] = np.nan
    res = []
    try:
        for share in (BlockShare(1, 1), BlockShare(2, 1)):
            enter_block(share)
            choice = bridge.select_models(mu, vmu, np.isfinite(vmu), (4.0, 4.0))
            res.append((spatial_cv_sums(img, sig, hole=2), *choice))
    finally:
        enter_block(None)
    for a, b in zip(*res, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.all(res[0][0][:, 3] > 0)


def test_the_client_of_dask_workers_computes_alone() -> None:
    """With dask workers (a client), step 1-3's frame-wide pieces run on one thread of this process (the workers
    hold their memory meanwhile); without, on numba's threads; the thread's state is restored after."""
    from types import SimpleNamespace

    from kansho.chain.common import frame_piece_alone

    before = kernel_threads()
    with frame_piece_alone(SimpleNamespace(client=object())):  # type: ignore[arg-type]
        assert kernel_threads() == 1
        assert {n for _, n in map_threads(_thread_name, range(4))} == {threading.current_thread().name}
    assert kernel_threads() == before
    from kansho.config import RunConfig

    roomy = SimpleNamespace(client=None, stack=SimpleNamespace(shape=(1000, 1000)),
                            options=SimpleNamespace(model=RunConfig(memory_limit="8GB")))
    with frame_piece_alone(roomy):  # type: ignore[arg-type]
        assert kernel_threads() == before
    try:  # inside a block task's share: that share, not none, is back after
        enter_block(BlockShare(2, 1))
        with frame_piece_alone(SimpleNamespace(client=object())):  # type: ignore[arg-type]
            assert kernel_threads() == 1
        assert kernel_threads() == 2
    finally:
        enter_block(None)
