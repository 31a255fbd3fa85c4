"""Incremental update: new acquisitions arrive in a frame's folder; only their pairs are read."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from tests._shared import work_arrays

from kansho import run_timeseries, store_strips
from kansho.config import RunConfig
from kansho.run import open_run
from kansho.store import open_stack
from kansho.synth import SimConfig, simulate_frame

#: the runs here are compared by their numerical products: no figures drawn
pytestmark = pytest.mark.usefixtures("no_figures")

ARRAYS = ("cum", "vel", "vstd", "mask", "cum_filt", "resid_rms", "n_loop_err", "n_ifg_noloop", "loop_rms", "stack_rate",
          "n_valid_final", "qc_n_valid", "qc_coh_avg")


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("inc")
    simulate_frame(d, SimConfig(shape=(48, 56), n_epoch=22, interval_days=24, gap=False, n_unw_errors=1), rng=11)
    return d / "GEOC"


def test_new_epoch_ingests_only_its_pairs_and_matches_a_full_run(frame: Path, tmp_path: Path) -> None:
    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    last = max(p.name.split("_")[1] for p in pair_dirs)
    new = [p for p in pair_dirs if p.name.split("_")[1] == last]
    assert new, "the simulated frame has pairs ending at its last epoch"
    # the frame as it was before the last acquisition arrived
    live = tmp_path / "GEOC"
    shutil.copytree(frame, live, ignore=lambda d, names: [n for n in names if Path(d, n) in new])
    out = tmp_path / "out"
    ctx0 = run_timeseries(live, out, RunConfig(), progress=False)
    n_before = ctx0.stack.n_pair
    # the new acquisition's pairs arrive; the same command updates the run
    for p in new:
        shutil.copytree(p, live / p.name)
    ctx = run_timeseries(live, out, RunConfig(), progress=False)
    ing = ctx.result("ingest")
    assert ing.n_pair == n_before + len(new)
    assert ing.reused == n_before  # only the new pairs were read from their files
    assert ing.appended_from == n_before  # ... and appended to the stack store in place
    assert ctx.result("qc").incremental  # only the new pairs measured
    lres = ctx.result("loops")
    # only the new loops measured -- unless step 1-2 corrects unwrapping errors per pixel (the
    # default), which judges every pair's loops again (a new pair can settle an older pair's error)
    if lres.pixel_errors == "off":
        assert lres.loops_reused > 0 and lres.pixels_updated
    else:
        assert lres.loops_reused == 0
    # equal to processing the complete folder from scratch
    full = tmp_path / "full"
    ctx_full = run_timeseries(live, full, RunConfig(), progress=False)
    for step, keys in (("qc", ("coverage", "mean_coh", "keep")), ("loops", ("loop_rms", "bad", "pairs", "ref"))):
        for k in keys:
            assert getattr(ctx.result(step), k) == getattr(ctx_full.result(step), k), (step, k)
    a, b = work_arrays(out, ARRAYS), work_arrays(full, ARRAYS)
    for k in ARRAYS:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert (out / "results" / "vel.tif").read_bytes() == (full / "results" / "vel.tif").read_bytes()


def test_changed_file_is_read_again(frame: Path, tmp_path: Path) -> None:
    live = tmp_path / "GEOC"
    shutil.copytree(frame, live)
    out = tmp_path / "out"
    run_timeseries(live, out, RunConfig(), progress=False, steps=["ingest"])
    pair = sorted(p for p in live.iterdir() if p.is_dir())[3]
    unw = next(pair.glob("*.unw.tif"))
    import rasterio

    with rasterio.open(unw, "r+") as ds:  # reprocessed upstream: new values, new mtime
        arr = ds.read(1)
        arr[arr != 0] += 1.0
        ds.write(arr, 1)
    ctx = run_timeseries(live, out, RunConfig(), progress=False, steps=["ingest"])
    assert ctx.result("ingest").reused == ctx.stack.n_pair - 1
    k = ctx.stack.pair_names().index(pair.name)
    got = ctx.stack.read("unw", slice(0, 48), slice(0, 56))[k]
    fin = np.isfinite(got)
    np.testing.assert_allclose(got[fin], arr[fin], rtol=0, atol=1e-6)


def test_new_pairs_are_appended_in_place_and_an_interrupted_append_is_rebuilt(frame: Path, tmp_path: Path) -> None:
    from kansho.errors import InputError
    from kansho.store import PAIR_CHUNK, open_stack

    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    last = max(p.name.split("_")[1] for p in pair_dirs)
    new = [p for p in pair_dirs if p.name.split("_")[1] == last]
    live = tmp_path / "GEOC"
    shutil.copytree(frame, live, ignore=lambda d, names: [n for n in names if Path(d, n) in new])
    out = tmp_path / "out"
    n_before = run_timeseries(live, out, RunConfig(), progress=False, steps=["ingest"]).stack.n_pair
    chunks = out / "stack.zarr" / "unw" / "c"
    whole = [f for f in chunks.rglob("*")
             if f.is_file() and int(f.relative_to(chunks).parts[0]) < n_before // PAIR_CHUNK]
    assert whole, "the frame fills at least one whole pair chunk"
    stamps = {f: f.stat().st_mtime_ns for f in whole}
    for p in new:
        shutil.copytree(p, live / p.name)
    ctx = run_timeseries(live, out, RunConfig(), progress=False, steps=["ingest"])
    ing = ctx.result("ingest")
    assert ing.appended_from == n_before and ing.n_pair == n_before + len(new)
    assert all(f.stat().st_mtime_ns == t for f, t in stamps.items()), "full pair chunks were rewritten"
    st = ctx.stack
    assert [n.split("_")[1] for n in st.pair_names()[n_before:]] == [last] * len(new)  # acquisition order
    full = run_timeseries(live, tmp_path / "full", RunConfig(), progress=False, steps=["ingest"]).stack
    assert st.pair_names() == full.pair_names()
    for name in ("unw", "coh"):
        np.testing.assert_array_equal(np.asarray(st.group[name][:]), np.asarray(full.group[name][:]), err_msg=name)
    np.testing.assert_array_equal(st.epochs, full.epochs)
    np.testing.assert_array_equal(st.bperp, full.bperp)
    # an append interrupted half-way: the store is refused, and the next ingest rebuilds it from the files
    g = zarr.open_group(str(out / "stack.zarr"), mode="r+")
    g.attrs["updating"] = True
    g["unw"][-1] = 0.0
    with pytest.raises(InputError, match="interrupted"):
        open_stack(out)
    ctx = run_timeseries(live, out, RunConfig(), progress=False, steps=["ingest"], force=True)
    assert ctx.result("ingest").appended_from == 0 and ctx.result("ingest").reused == 0
    np.testing.assert_array_equal(np.asarray(ctx.stack.group["unw"][:]), np.asarray(full.group["unw"][:]))


def _without(frame: Path, live: Path, leave_out: list[Path]) -> None:
    """``live``: a copy of ``frame`` without the pair folders ``leave_out``."""
    shutil.copytree(frame, live, ignore=lambda d, names: [n for n in names if Path(d, n) in leave_out])


def _last_epoch_pairs(frame: Path) -> tuple[str, list[Path]]:
    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    last = max(p.name.split("_")[1] for p in pair_dirs)
    return last, [p for p in pair_dirs if p.name.split("_")[1] == last]


def test_a_late_pair_inside_the_network_is_not_appended_but_the_store_is_rebuilt(
        frame: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 0-2 only (the whole chain: the slow test below): a pair whose second date is not after
    every other's is not appended; the store is written afresh, equal to one of the whole folder (the
    earlier pairs copied three at a time, so that the copy takes several turns)."""
    monkeypatch.setattr(store_strips, "COPY_PAIRS", 3)
    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    late = pair_dirs[len(pair_dirs) // 2]
    live = tmp_path / "GEOC"
    _without(frame, live, [late])
    out = _ingest(live, tmp_path / "out")
    n_before = open_stack(out).n_pair
    shutil.copytree(late, live / late.name)
    _ingest(live, out)
    ing = _result(out, "ingest")
    assert ing.appended_from == 0 and ing.reused == n_before and ing.n_pair == n_before + 1
    full = open_stack(_ingest(live, tmp_path / "full"))
    st = open_stack(out)
    assert st.pair_names() == full.pair_names()
    for name in ("unw", "coh"):
        np.testing.assert_array_equal(np.asarray(st.group[name][:]), np.asarray(full.group[name][:]), err_msg=name)


def _ingest(live: Path, out: Path, steps: tuple[str, ...] = ("ingest",)) -> Path:
    run_timeseries(live, out, RunConfig(), progress=False, steps=list(steps))
    return out


def _result(out: Path, step: str) -> Any:
    """The typed result ``step`` recorded in the run folder."""
    return open_run(out, need_cum=False).result(step)


def test_new_pairs_that_enlarge_the_footprint_measure_every_pair_again(frame: Path, tmp_path: Path) -> None:
    """Steps 0-2 and 1-1 only (the whole chain: the slow test below): when new pairs cover pixels no
    earlier pair did, the coverage of every pair is measured again, equal to a full run's."""
    import rasterio

    _, new = _last_epoch_pairs(frame)
    live = tmp_path / "GEOC"
    _without(frame, live, new)
    for unw in live.glob("*/*.unw.tif"):  # the first column was never unwrapped before the new pairs
        with rasterio.open(unw, "r+") as ds:
            arr = ds.read(1)
            arr[:, 0] = 0.0
            ds.write(arr, 1)
    out = _ingest(live, tmp_path / "out", ("ingest", "qc"))
    for p in new:
        shutil.copytree(p, live / p.name)
    _ingest(live, out, ("ingest", "qc"))
    full = _ingest(live, tmp_path / "full", ("ingest", "qc"))
    assert _result(out, "ingest").appended_from > 0
    assert not _result(out, "qc").incremental  # the footprint grew: every pair's coverage changes
    for k in ("coverage", "mean_coh", "keep"):
        assert getattr(_result(out, "qc"), k) == getattr(_result(full, "qc"), k), k


@pytest.mark.slow
def test_a_late_pair_inside_the_network_rebuilds_the_store_and_still_matches_a_full_run(frame: Path,
                                                                                        tmp_path: Path) -> None:
    """A pair whose second date is not after every other's cannot be appended: the store is written
    afresh (earlier pairs copied, not read), the steps run in full, the results equal a full run."""
    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    late = pair_dirs[len(pair_dirs) // 2]
    live = tmp_path / "GEOC"
    shutil.copytree(frame, live, ignore=lambda d, names: [n for n in names if Path(d, n) == late])
    out = tmp_path / "out"
    n_before = run_timeseries(live, out, RunConfig(), progress=False).stack.n_pair
    shutil.copytree(late, live / late.name)
    ctx = run_timeseries(live, out, RunConfig(), progress=False)
    ing = ctx.result("ingest")
    assert ing.appended_from == 0 and ing.reused == n_before
    assert not ctx.result("qc").incremental and not ctx.result("loops").pixels_updated
    run_timeseries(live, tmp_path / "full", RunConfig(), progress=False)
    a, b = work_arrays(out, ARRAYS), work_arrays(tmp_path / "full", ARRAYS)
    for k in ARRAYS:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.slow
def test_new_pairs_that_enlarge_the_footprint_are_measured_with_every_pair_again(frame: Path,
                                                                                  tmp_path: Path) -> None:
    import rasterio

    pair_dirs = sorted(p for p in frame.iterdir() if p.is_dir())
    last = max(p.name.split("_")[1] for p in pair_dirs)
    new = [p for p in pair_dirs if p.name.split("_")[1] == last]
    live = tmp_path / "GEOC"
    shutil.copytree(frame, live, ignore=lambda d, names: [n for n in names if Path(d, n) in new])
    for unw in live.glob("*/*.unw.tif"):  # the first column was never unwrapped before the new pairs
        with rasterio.open(unw, "r+") as ds:
            arr = ds.read(1)
            arr[:, 0] = 0.0
            ds.write(arr, 1)
    out = tmp_path / "out"
    run_timeseries(live, out, RunConfig(), progress=False)
    for p in new:
        shutil.copytree(p, live / p.name)
    ctx = run_timeseries(live, out, RunConfig(), progress=False)
    assert ctx.result("ingest").appended_from > 0
    assert not ctx.result("qc").incremental  # the footprint grew: every pair's coverage changes
    ctx_full = run_timeseries(live, tmp_path / "full", RunConfig(), progress=False)
    assert ctx.result("qc").coverage == ctx_full.result("qc").coverage
    a, b = work_arrays(out, ARRAYS), work_arrays(tmp_path / "full", ARRAYS)
    for k in ARRAYS:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
