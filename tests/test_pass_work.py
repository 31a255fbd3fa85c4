"""The working arrays a pass keeps from block to block (:func:`kansho.chain.steps.loop_tasks._room`):
each block gets an array of its own shape in the pass's memory, per thread, freed at the pass's end."""

from __future__ import annotations

import threading

import numpy as np

from kansho.chain.steps import loop_tasks as lt


def test_rooms_are_reused_per_thread_and_freed() -> None:
    a = lt._room("t", "x", (4, 6), np.float64)
    a[:] = 1.0
    b = lt._room("t", "x", (3, 5), np.float64)  # a smaller block (the frame's edge): the same memory
    assert b.shape == (3, 5) and b.flags.c_contiguous and np.shares_memory(a, b)
    c = lt._room("t", "x", (5, 6), np.float64)  # a larger one: new memory, kept for the next
    assert c.shape == (5, 6) and not np.shares_memory(a, c)
    assert np.shares_memory(c, lt._room("t", "x", (2, 2), np.float64))
    assert lt._room("t", "x", (2, 2), np.int32).dtype == np.int32  # another dtype: its own array
    other: list[np.ndarray] = []
    th = threading.Thread(target=lambda: other.append(lt._room("t", "x", (5, 6), np.float64)))
    th.start()
    th.join()
    assert not np.shares_memory(other[0], c)  # each thread its own (blocks on threads never share)
    assert not np.shares_memory(lt._room(None, "x", (5, 6), np.float64), c)
    lt.release_work("t")
    assert not [k for k in lt._PASS_WORK if k[0] == "t"]
