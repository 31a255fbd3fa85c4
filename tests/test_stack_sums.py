"""Step 1-1's statistics taken by ingest as it writes the stack store (kansho.stack_sums): the same bits as
step 1-1 reading the stack block by block, and absent where they could be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from tests._shared import work_arrays

from kansho import qc, run_timeseries
from kansho.config import RunConfig
from kansho.stack_sums import ATTR, read_sums
from kansho.store import open_stack
from kansho.synth import SimConfig, simulate_frame

pytestmark = pytest.mark.usefixtures("no_figures")

QC_KEYS = ("coverage", "mean_coh", "keep", "reason", "n_footprint", "n_valid", "coh_sum")
QC_ARRAYS = ("qc_n_valid", "qc_coh_n", "qc_coh_sum", "qc_coh_avg")


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sums")
    # 70 x 90 px in blocks of 32: three strips, the last one short, and blocks that are not the strips
    simulate_frame(d, SimConfig(shape=(70, 90), n_epoch=12, interval_days=24, gap=False, n_unw_errors=1), rng=4)
    return d / "GEOC"


def test_ingest_sums_equal_those_step_1_1_reads_bit_for_bit(frame: Path, tmp_path: Path) -> None:
    cfg = RunConfig(block_size=32)
    out = tmp_path / "out"
    ctx = run_timeseries(frame, out, cfg, progress=False, steps=["ingest", "qc"])
    st = open_stack(out)
    sums = read_sums(st.group, st.n_pair)
    assert sums is not None and sums.pair_n_valid.shape == (st.n_pair,)
    # the stored sums are the whole stack's, as the NumPy references give them
    u = st.read("unw", slice(0, 70), slice(0, 90)).reshape(st.n_pair, -1)
    c = st.read("coh", slice(0, 70), slice(0, 90)).reshape(st.n_pair, -1)
    nv, cf, nt = qc.pair_sums(u, c)
    np.testing.assert_array_equal(sums.pair_n_valid, nv)
    np.testing.assert_array_equal(sums.pair_coh_fixed, cf)
    assert sums.n_footprint == nt > 0
    for got, want in zip(sums.pixels, qc.pixel_sums(u, c), strict=True):
        np.testing.assert_array_equal(np.asarray(got[:, :]).ravel(), want)
    with_sums = ctx.result("qc")
    arrays = work_arrays(out, QC_ARRAYS)

    # without them step 1-1 reads the stack block by block: the same result and arrays
    g = zarr.open_group(str(out / "stack.zarr"), mode="r+")
    g.attrs[ATTR] = None
    read = run_timeseries(None, out, cfg, progress=False, steps=["qc"], force=True).result("qc")
    for k in QC_KEYS:
        assert getattr(read, k) == getattr(with_sums, k), k
    for k, a in work_arrays(out, QC_ARRAYS).items():
        np.testing.assert_array_equal(a, arrays[k], err_msg=k)


def test_sums_for_fewer_pairs_than_the_store_are_not_used(frame: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_timeseries(frame, out, RunConfig(), progress=False, steps=["ingest"])
    g = zarr.open_group(str(out / "stack.zarr"), mode="r+")
    st = open_stack(out)
    meta = dict(g.attrs[ATTR])
    assert read_sums(g, st.n_pair) is not None
    g.attrs[ATTR] = {**meta, "n_pair": st.n_pair - 1}  # e.g. a store appended to by another version
    assert read_sums(g, st.n_pair) is None
    g.attrs[ATTR] = {**meta, "n_valid": meta["n_valid"][:-1]}
    assert read_sums(g, st.n_pair) is None


def test_sums_of_a_store_rebuilt_from_copied_pairs_are_the_whole_stacks(frame: Path, tmp_path: Path) -> None:
    """A pair's file changed: the store is written anew, the other pairs copied from the old one rather than
    read from their files; the sums cover the copied pairs too."""
    import shutil

    import rasterio

    live = tmp_path / "GEOC"
    shutil.copytree(frame, live)
    out = tmp_path / "out"
    run_timeseries(live, out, RunConfig(block_size=32), progress=False, steps=["ingest"])
    unw = sorted(live.glob("*/*.unw.tif"))[3]
    with rasterio.open(unw, "r+") as ds:  # reprocessed upstream: new values, new mtime
        arr = ds.read(1)
        arr[arr != 0] += 1.0
        arr[:5] = 0.0  # and less coverage
        ds.write(arr, 1)
    ctx = run_timeseries(live, out, RunConfig(block_size=32), progress=False, steps=["ingest", "qc"])
    st = ctx.stack
    assert ctx.result("ingest").reused == st.n_pair - 1
    sums = read_sums(st.group, st.n_pair)
    assert sums is not None
    u = st.read("unw", slice(0, 70), slice(0, 90)).reshape(st.n_pair, -1)
    c = st.read("coh", slice(0, 70), slice(0, 90)).reshape(st.n_pair, -1)
    nv, cf, nt = qc.pair_sums(u, c)
    np.testing.assert_array_equal(sums.pair_n_valid, nv)
    np.testing.assert_array_equal(sums.pair_coh_fixed, cf)
    assert sums.n_footprint == nt
    for got, want in zip(sums.pixels, qc.pixel_sums(u, c), strict=True):
        np.testing.assert_array_equal(np.asarray(got[:, :]).ravel(), want)
    np.testing.assert_array_equal(ctx.result("qc").coverage, nv / nt)  # step 1-1 took them
    k = st.pair_names().index(unw.parent.name)
    assert nv[k] <= nt - 5 * 90  # the changed pair's own coverage: five rows fewer
