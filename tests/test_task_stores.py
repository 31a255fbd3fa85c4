"""The stores a task opens are kept per process while their metadata files are unchanged
(:mod:`kansho.chain.tasks`): the same objects on a second open, new ones once a step created an array
again or an update rewrote the stack."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr

from kansho.chain.tasks import Task


def test_work_array_reopened_when_created_again(tmp_path: Path) -> None:
    g = zarr.open_group(str(tmp_path / "work" / "ts.zarr"), mode="w", zarr_format=3)
    g.create_array("a", shape=(4,), dtype="f4", fill_value=0.0)
    task = Task(str(tmp_path))
    first = task.work["a"]
    assert task.work["a"] is first  # unchanged: the object kept
    assert "a" in task.work and "b" not in task.work
    first[:] = np.arange(4)
    g.create_array("a", shape=(6,), dtype="i2", fill_value=7, overwrite=True)  # a later step makes it anew
    again = task.work["a"]
    assert again is not first
    assert again.shape == (6,) and again.dtype == np.dtype("i2")
    np.testing.assert_array_equal(again[:], np.full(6, 7))


def test_stack_reopened_when_its_metadata_changes(small_run: object, copy_run: Callable[..., Path]) -> None:
    out = copy_run(small_run)
    task = Task(str(out))
    st = task.stack
    assert task.stack is st
    meta = out / "stack.zarr" / "date1" / "zarr.json"
    t = meta.stat().st_mtime_ns
    os.utime(meta, ns=(t + 10**9, t + 10**9))  # as an update that appends pairs rewrites it
    st2 = task.stack
    assert st2 is not st
    np.testing.assert_array_equal(st2.date1, st.date1)


def test_stack_with_opened_cubes_pickles(small_run: object, copy_run: Callable[..., Path]) -> None:
    """A stack store object whose cubes were read (kept as kansho.chunkio arrays) pickles, as a task's
    stack sent to a dask worker would, and reads the same block."""
    import pickle

    out = copy_run(small_run)
    st = Task(str(out)).stack
    a = st.read("unw", slice(0, 8), slice(0, 8))
    b = pickle.loads(pickle.dumps(st)).read("unw", slice(0, 8), slice(0, 8))
    np.testing.assert_array_equal(a, b)
