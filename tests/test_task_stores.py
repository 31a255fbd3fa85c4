"""The stores a task opens are kept per process while their metadata files are unchanged
(:mod:`kansho.chain.tasks`): the same objects on a second open, new ones once a step created an array
again or an update rewrote the stack."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
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


def test_velocity_written_when_the_epoch_weights_cannot_be_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``invert.epoch_weight: noise`` the inversion's first pass leaves the velocity to the bridge pass;
    where no pixel measures the epochs' noise (equal weights) that pass still writes the velocity of every
    block, those with nothing to bridge included, as ``epoch_weight: off`` does."""
    from tests._shared import figures_skipped

    from kansho import run_timeseries
    from kansho.chain.steps import invert as invert_step
    from kansho.config import InvertConfig, RunConfig
    from kansho.synth import SimConfig, simulate_frame

    simulate_frame(tmp_path / "sim", SimConfig(shape=(64, 64), n_epoch=16, gap=False), rng=5)
    geoc = tmp_path / "sim" / "GEOC"
    steps = ["ingest", "qc", "loops", "invert"]
    with figures_skipped():
        run_timeseries(geoc, tmp_path / "off", RunConfig(block_size=32, invert=InvertConfig(epoch_weight="off")),
                       steps=steps, progress=False)
        monkeypatch.setattr(invert_step, "_epoch_weights", lambda outs, epochs: (None, None))
        run_timeseries(geoc, tmp_path / "unmeasured", RunConfig(block_size=32), steps=steps, progress=False)
    a = zarr.open_group(str(tmp_path / "off" / "work" / "ts.zarr"), mode="r")
    b = zarr.open_group(str(tmp_path / "unmeasured" / "work" / "ts.zarr"), mode="r")
    fic = np.asarray(b["bridge_fic"][1])  # finite where a pixel has a gap to bridge
    assert any(not np.isfinite(fic[r:r + 32, c:c + 32]).any() for r in (0, 32) for c in (0, 32)), \
        "every block has a gap to bridge: the case of a block with none is not tested"
    for name in ("vel", "vintercept", "cum"):
        x, y = np.asarray(a[name][:]), np.asarray(b[name][:])
        assert np.isfinite(y).any(), name
        np.testing.assert_array_equal(x, y, err_msg=name)
