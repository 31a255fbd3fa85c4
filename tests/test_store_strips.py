"""Ingest within a memory budget (kansho.store_strips): a stack whose strips of every pair would not fit is
written with the pairs of each strip taken in groups of whole chunks, the store the same array for array,
step 1-1's statistics the same (read from the stack instead of taken by ingest)."""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from hypothesis import given
from hypothesis import strategies as hs
from tests._shared import work_arrays

from kansho import run_timeseries
from kansho.chain.steps.ingest import strip_memory
from kansho.config import RunConfig
from kansho.stack_sums import read_sums
from kansho.store import open_stack
from kansho.store_strips import GROUP_BYTES, PAIR_CHUNK, STRIP_BYTES, StripPlan, plan_strips
from kansho.synth import SimConfig, simulate_frame

pytestmark = pytest.mark.usefixtures("no_figures")

#: blocks of 32 rows, 90 px wide: a pair's strip buffers take 32 x 90 x 9 bytes
BLOCK, NX = 32, 90
PX = BLOCK * NX
PER_PAIR = PX * STRIP_BYTES
#: a run budget whose half holds 20 pairs' strips: groups of 16 pairs (one chunk)
SMALL = f"{2 * 20 * PER_PAIR}"
QC_KEYS = ("coverage", "mean_coh", "keep", "reason", "n_footprint", "n_valid", "coh_sum")
QC_ARRAYS = ("qc_n_valid", "qc_coh_n", "qc_coh_sum", "qc_coh_avg")


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("strips")
    # 70 x 90 px: three strips of 32 rows, the last one short; ~40 pairs: three groups, the last one short
    simulate_frame(d, SimConfig(shape=(70, NX), n_epoch=12, interval_days=24, gap=False, n_unw_errors=1), rng=4)
    return d / "GEOC"


@pytest.fixture(scope="module")
def float_frame(frame: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frame with its coherence as float32 files (not 8-bit codes), the values a little off the codes."""
    d = tmp_path_factory.mktemp("strips_float") / "GEOC"
    shutil.copytree(frame, d)
    for cc in d.glob("*/*.cc.tif"):
        with rasterio.open(cc) as ds:
            codes, profile = ds.read(1), ds.profile
        profile.update(dtype="float32", nodata=None)
        with rasterio.open(cc, "w", **profile) as ds:
            ds.write(np.where(codes == 0, np.nan, codes / 255.0 + 1e-3).astype(np.float32), 1)
    return d


@given(n=hs.integers(1, 3000), rows=hs.integers(1, 512), nx=hs.integers(1, 4000), budget=hs.floats(0, 2e10),
       codes=hs.booleans())
def test_a_group_is_every_pair_or_whole_chunks_within_the_budget(n: int, rows: int, nx: int, budget: float,
                                                                 codes: bool) -> None:
    plan = plan_strips(n, rows, nx, budget, codes)
    px = rows * nx
    keep, per_pair = (px, 8 * px) if codes else (4 * px, 4 * px)  # the kept coherence, a group's buffers
    if n * px * STRIP_BYTES <= min(budget, GROUP_BYTES):
        assert plan == StripPlan(n, True)
        return
    g = plan.group
    assert g % PAIR_CHUNK == 0 or g == n
    assert g >= min(n, PAIR_CHUNK)
    if plan.kept:  # every pair's coherence beside the group, within the budget, as many chunks as fit
        room = min(budget - n * keep, GROUP_BYTES)
        assert n * keep + PAIR_CHUNK * per_pair <= budget
        assert g == PAIR_CHUNK or g * per_pair <= room
        assert (g + PAIR_CHUNK) * per_pair > room or g == n
    else:  # not even one chunk beside the kept coherence: groups within the whole budget
        room = min(budget, GROUP_BYTES)
        assert n * keep + PAIR_CHUNK * per_pair > budget
        assert g == min(n, PAIR_CHUNK) or g * px * STRIP_BYTES <= room
        assert (g + PAIR_CHUNK) * px * STRIP_BYTES > room or g == n


@given(n=hs.integers(1, 3000), rows=hs.integers(1, 512), nx=hs.integers(1, 4000), budget=hs.floats(0, 2e10),
       codes=hs.booleans())
def test_without_sums_no_memory_is_kept_for_them(n: int, rows: int, nx: int, budget: float, codes: bool) -> None:
    # an append or a corrected stack takes no step 1-1 sums: its groups get the whole budget, nothing kept
    plan = plan_strips(n, rows, nx, budget, codes, sums=False)
    assert not plan.kept
    room = min(budget, GROUP_BYTES)
    if n * rows * nx * STRIP_BYTES <= room:
        assert plan.group == n
        return
    assert plan.group % PAIR_CHUNK == 0 or plan.group == n
    assert plan.group == min(n, PAIR_CHUNK) or plan.group * rows * nx * STRIP_BYTES <= room
    assert (plan.group + PAIR_CHUNK) * rows * nx * STRIP_BYTES > room or plan.group == n


def test_the_strip_budget_is_half_the_runs_memory() -> None:
    assert strip_memory("6GB") == 3e9
    assert strip_memory(None) > 0
    # under a small budget, what the chain's process leaves of it (a 300-epoch frame at 600MB peaked at 625 MB)
    assert strip_memory("600MB") == pytest.approx(0.15e9)
    assert strip_memory("300MB") == pytest.approx(0.3e9 / 4)  # never under a quarter


def _stacks_equal(a: Path, b: Path) -> None:
    sa, sb = open_stack(a), open_stack(b)
    assert sa.pair_names() == sb.pair_names()
    for name in ("unw", "coh", "date1", "date2"):
        np.testing.assert_array_equal(np.asarray(sa.group[name][:]), np.asarray(sb.group[name][:]), err_msg=name)


@pytest.mark.parametrize(("coherence", "half_budget", "kept"), [
    ("codes", 180 * PX, True),  # 40 pairs' codes (40 B a px) beside 16 pairs' buffers (8 B a pair)
    ("codes", 30 * PX, False),  # not even every pair's codes
    ("float", 180 * PX, False),  # 40 pairs' float coherence (160 B a px) beside too few pairs' buffers (4 B)
    ("float", 260 * PX, True),
])
def test_pairs_in_groups_write_the_same_store_and_step_1_1_the_same_statistics(
        frame: Path, float_frame: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, coherence: str, half_budget: int, kept: bool) -> None:
    from kansho.chain.steps import ingest

    src = frame if coherence == "codes" else float_frame
    whole, grouped = tmp_path / "whole", tmp_path / "grouped"
    a = run_timeseries(src, whole, RunConfig(block_size=BLOCK), progress=False, steps=["ingest", "qc"])
    monkeypatch.setattr(ingest, "strip_memory", lambda limit: half_budget)  # half the budget, as from ~1 GB on
    with caplog.at_level(logging.INFO, logger="kansho"):
        b = run_timeseries(src, grouped, RunConfig(block_size=BLOCK, memory_limit=str(2 * half_budget)),
                           progress=False, steps=["ingest", "qc"])
    n = a.stack.n_pair
    assert n > 2 * PAIR_CHUNK  # three groups, the last one short
    assert a.stack.group["coh"].dtype == (np.uint8 if coherence == "codes" else np.float32)
    assert f"taken {PAIR_CHUNK} at a time: all {n}" in caplog.text
    _stacks_equal(whole, grouped)
    sums_a, sums_b = read_sums(a.stack.group, n), read_sums(b.stack.group, n)
    assert sums_a is not None
    if kept:  # taken from the groups and the kept coherence: the same as from whole strips, bit for bit
        assert sums_b is not None and sums_b.n_footprint == sums_a.n_footprint
        np.testing.assert_array_equal(sums_b.pair_n_valid, sums_a.pair_n_valid)
        np.testing.assert_array_equal(sums_b.pair_coh_fixed, sums_a.pair_coh_fixed)
        for pa, pb in zip(sums_a.pixels, sums_b.pixels, strict=True):
            np.testing.assert_array_equal(pb[:], pa[:])
    else:
        assert sums_b is None  # left to step 1-1, which read the stack
        assert "step 1-1 then reads the stack" in caplog.text
    for k in QC_KEYS:
        assert getattr(b.result("qc"), k) == getattr(a.result("qc"), k), k
    want = work_arrays(whole, QC_ARRAYS)
    for k, arr in work_arrays(grouped, QC_ARRAYS).items():
        np.testing.assert_array_equal(arr, want[k], err_msg=k)


def test_groups_copy_unchanged_pairs_and_append_new_ones_as_a_whole_ingest(frame: Path, tmp_path: Path) -> None:
    """A rebuilt store (one pair's file changed: the others copied from the old store) and an append (the last
    epoch's pairs) with the pairs in groups: each equal to a store written at once from the same files."""
    live = tmp_path / "GEOC"
    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    last = max(p.name.split("_")[1] for p in pair_dirs)
    new = [p for p in pair_dirs if p.name.split("_")[1] == last]
    shutil.copytree(frame, live, ignore=lambda d, names: [m for m in names if Path(d, m) in new])
    cfg = RunConfig(block_size=BLOCK, memory_limit=SMALL)
    out = tmp_path / "out"
    run_timeseries(live, out, cfg, progress=False, steps=["ingest"])
    unw = sorted(live.glob("*/*.unw.tif"))[20]  # in the second group
    with rasterio.open(unw, "r+") as ds:  # reprocessed upstream: new values, new mtime
        arr = ds.read(1)
        arr[arr != 0] += 1.0
        ds.write(arr, 1)
    rebuilt = run_timeseries(live, out, cfg, progress=False, steps=["ingest"]).result("ingest")
    assert rebuilt.reused == rebuilt.n_pair - 1 and rebuilt.appended_from == 0
    _stacks_equal(out, run_timeseries(live, tmp_path / "once", RunConfig(block_size=BLOCK), progress=False,
                                      steps=["ingest"]).out)
    for p in new:
        shutil.copytree(p, live / p.name)
    appended = run_timeseries(live, out, cfg, progress=False, steps=["ingest"]).result("ingest")
    assert appended.appended_from > 0 and appended.n_pair == appended.appended_from + len(new)
    _stacks_equal(out, run_timeseries(live, tmp_path / "all", RunConfig(block_size=BLOCK), progress=False,
                                      steps=["ingest"]).out)


@pytest.mark.parametrize("readers", [1, 7])
def test_the_readers_follow_the_kernels_threads_and_write_the_same_store(
        frame: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int) -> None:
    """Ingest reads with as many threads as the kernels use (every core of a server, not four at most): one
    reader, or seven (more than this machine's cores: the pairs finish out of order), write the store that
    the default writes, pair by pair and bit for bit."""
    import kansho.store_strips as strips

    default = tmp_path / "default"
    run_timeseries(frame, default, RunConfig(block_size=BLOCK), progress=False, steps=["ingest"])
    used: list[int] = []
    real = ThreadPoolExecutor

    def pool(*args: Any, **kwargs: Any) -> ThreadPoolExecutor:
        used.append(int(kwargs["max_workers"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(strips, "kernel_threads", lambda: readers)
    monkeypatch.setattr(strips, "ThreadPoolExecutor", pool)
    other = tmp_path / "other"
    run_timeseries(frame, other, RunConfig(block_size=BLOCK), progress=False, steps=["ingest"])
    assert used == [readers]
    _stacks_equal(default, other)
