"""The whole chain on a simulated frame with known truth: accuracy, outputs, resume."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import rasterio

from kansho import run_timeseries
from kansho.chain.registry import STEPS
from kansho.chain.steps.loop_tasks import FIX_ARRAY
from kansho.config import RunConfig
from kansho.demo import compare_with_truth
from kansho.loops import NULL_FIX
from kansho.synth import SimConfig, simulate_frame

SHAPE = (80, 80)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("sim")
    truth = simulate_frame(d, SimConfig(shape=SHAPE, n_epoch=30, interval_days=24, n_unw_errors=3), rng=7)
    return d, truth


@pytest.fixture(scope="module")
def run(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    d, truth = sim
    out = tmp_path_factory.mktemp("run")
    ctx = run_timeseries(d / "GEOC", out, RunConfig(), progress=False)
    return ctx, truth


def test_accuracy_against_truth(run: Any) -> None:
    ctx, truth = run
    acc = compare_with_truth(ctx, truth)
    # Noise budget: the simulated turbulent + stratified atmosphere is ~6-15 mm per epoch and is left
    # in `cum` (the filter only smooths it), so a 30-epoch / 2-yr fit has sigma_v ~ 3 mm/yr at best;
    # bridging the network gap with the linear constraint adds the gap offset's error (~10 mm over
    # ~2 yr). 8 mm/yr RMS bounds that with margin (its mean over the kept pixels is part of it: the
    # atmosphere is spatially correlated); a sign error or a wrong phase-to-mm factor gives errors of
    # tens of mm/yr in the 60-mm/yr subsidence bowl.
    assert acc.vel_rmse < 8.0, acc.summary()
    assert acc.vel_rmse_all < 12.0, acc.summary()
    # per-epoch displacement errors are dominated by the unfiltered atmosphere (< ~15 mm RMS)
    assert acc.ts_rmse < 25.0, acc.summary()
    assert acc.coverage > 0.02, acc.summary()


def test_unwrapping_errors_found_and_no_clean_pair_dropped(run: Any) -> None:
    ctx, truth = run
    names = ctx.stack.pair_names()
    lres = ctx.result("loops")
    dropped = {names[i] for i in lres.bad + lres.bad_noloop}
    injected = {f"{a}_{b}" for a, b in np.asarray(truth.unw_error_pairs)}
    # every injected (region-wide) error is found: corrected (or nulled) per pixel by the loops, or
    # the pair dropped -- by loop closure, or, for a pair outside every loop, by its preliminary
    # inversion residual. Corrected: at >= 90 % of the error's valid pixels the cycle fix cancels
    # it (-k) or nulls the pixel.
    fix = np.asarray(ctx.work[FIX_ARRAY][:])
    valid = np.isfinite(ctx.stack.read("unw", slice(None), slice(None)))
    for (a, b), k, where in zip(np.asarray(truth.unw_error_pairs), truth.unw_error_k, truth.unw_error_masks,
                                strict=True):
        name = f"{a}_{b}"
        if name in dropped:
            continue
        i = names.index(name)
        sel = where & valid[i]
        handled = (fix[i][sel] == -k) | (fix[i][sel] == NULL_FIX)
        assert handled.mean() >= 0.9, f"{name}: {handled.mean():.2f} of its error pixels corrected or nulled"
    assert not (dropped - injected), f"clean pairs dropped: {dropped - injected}"
    assert {names[i] for i in lres.bad} <= injected


def test_error_outside_every_loop_is_found_by_residual(tmp_path: Path) -> None:
    """A long pair in no triangle, with a 2-pi error over half the frame: the spatial check of step 1-2
    moves that half back by the cycle (the pair is kept: correcting beats dropping); without it the
    residual check of the pairs in no loop drops the pair."""
    d = tmp_path / "sim"
    truth = simulate_frame(d, SimConfig(shape=(60, 60), n_epoch=16, interval_days=24, n_unw_errors=0,
                                        local_unw_errors=0.0, gap=False), rng=3)
    ctx0 = run_timeseries(d / "GEOC", tmp_path / "clean", RunConfig(), progress=False, steps=["ingest", "qc", "loops"])
    lres = ctx0.result("loops")
    names = ctx0.stack.pair_names()
    assert lres.bad == [] and lres.bad_noloop == []  # nothing to find in clean data
    noloop = [names[i] for i in lres.no_loop]
    assert noloop, "the simulated network has long pairs outside every loop"
    target = noloop[0]
    unw = d / "GEOC" / target / f"{target}.geo.unw.tif"
    with rasterio.open(unw) as src:
        a = src.read(1)
        profile = src.profile
    a[:, : a.shape[1] // 2] += np.where(a[:, : a.shape[1] // 2] != 0, 2 * np.pi, 0).astype(a.dtype)
    with rasterio.open(unw, "w", **profile) as dst:
        dst.write(a, 1)
    ctx = run_timeseries(d / "GEOC", tmp_path / "err", RunConfig(), progress=False, steps=["ingest", "qc", "loops"])
    lres = ctx.result("loops")
    assert lres.bad_noloop == [] and names.index(target) in lres.pairs
    fix = np.asarray(ctx.array("unw_fix")[names.index(target)])
    half = a.shape[1] // 2
    valid = a != 0
    # one half moved by one cycle against the other (which half is "the reference" is the larger one)
    assert set(np.unique(fix[:, :half][valid[:, :half]]) - np.unique(fix[:, half:][valid[:, half:]])) <= {-1, 0}
    assert (fix[:, :half][valid[:, :half]] - np.median(fix[:, half:][valid[:, half:]]) == -1).all()
    cfg = RunConfig()
    cfg.loops.spatial_errors = "off"
    ctx = run_timeseries(d / "GEOC", tmp_path / "err_off", cfg, progress=False, steps=["ingest", "qc", "loops"])
    assert [names[i] for i in ctx.result("loops").bad_noloop] == [target]
    del truth


def test_epochs_across_gap_are_finite_and_close(run: Any) -> None:
    ctx, truth = run
    epochs = np.asarray(ctx.result("loops").epochs)
    gap_dates = {int(x) for x in np.asarray(truth.gaps).ravel()}
    assert gap_dates, "the simulated network has a gap"
    assert set(epochs) >= gap_dates  # both sides kept
    cum = np.asarray(ctx.array("cum")[:])
    keep = ctx.read2d("mask") == 1
    idx = [i for i, e in enumerate(epochs) if int(e) in gap_dates]
    assert np.isfinite(cum[idx][:, keep]).all()
    acc = compare_with_truth(ctx, truth)
    assert acc.ts_rmse_gap < 25.0, acc.summary()
    assert len(ctx.result("invert").network_gaps) >= 1


def test_outputs_follow_the_contract(run: Any) -> None:
    ctx, truth = run
    out = ctx.out
    for name in ("vel", "vstd", "coh_avg", "n_unw", "n_loop_err", "n_gap", "n_ifg_noloop", "resid_rms",
                 "stc", "maxTlen", "mask", "vel.filt", "hgt"):
        with rasterio.open(out / "results" / f"{name}.tif") as src:
            assert (src.height, src.width) == SHAPE
            assert src.crs.to_epsg() == 4326
            assert np.allclose(src.transform.to_gdal(), truth.grid.transform)
    ne = len(ctx.result("loops").epochs)
    for fname in ("cum.h5", "cum_filt.h5"):
        with h5py.File(out / fname, "r") as f:
            assert f["cum"].shape == (ne, *SHAPE) and f["cum"].dtype == np.float32
            assert f["imdates"].shape == (ne,) and np.issubdtype(f["imdates"].dtype, np.integer)
            assert f["vel"].shape == SHAPE
            assert f["gap"].shape == (ne - 1, *SHAPE)
            for key in ("vintercept", "refarea", "corner_lat", "corner_lon", "post_lat", "post_lon", "mask",
                        "bperp"):
                assert key in f, key
            assert float(f["post_lat"][()]) < 0 < float(f["post_lon"][()])
            r0, r1, c0, c1 = ctx.result("loops").ref
            ref = f["refarea"][()]
            ref = ref.decode() if isinstance(ref, bytes) else str(ref)
            assert ref == f"{c0}:{c1}/{r0}:{r1}"
            cum = f["cum"][:]
        # one reference for every output (the set of results/refmask.tif, which holds the refarea
        # window): the series' mean there is ~0 at every epoch -- to 0.05 mm, not exactly: every pair
        # is referred to the set exactly, but each pixel's inversion weighs its pairs by its own
        # coherence and bridges gaps with its own model, so the set's mean is zero only as far as
        # those per-pixel solutions agree (0.016 mm at most here)
        rm = ctx.read2d("refmask") == 1
        assert rm[r0:r1, c0:c1].all()
        assert np.nanmax(np.abs(np.nanmean(cum[:, rm], axis=1))) < 0.05
        assert np.nanmax(np.abs(cum[0])) < 1e-4  # relative to the first epoch
    for f in ("11ifg_stats.txt", "12bad_ifg.txt", "12ref.txt", "dropped_pairs.csv", "15mask_stats.txt"):
        assert (out / "info" / f).is_file()
    # predicted vs observed coherence per pair: the simulator's coherence follows a decorrelation
    # model, so the temporal model fitted to the run's pairs must explain part of it
    cm = (out / "info" / "11coh_model.txt").read_text().splitlines()
    assert len(cm) == 2 + ctx.stack.n_pair
    r2 = float(cm[0].split("R2=")[1].split()[0])
    assert 0.0 < r2 <= 1.0, cm[0]
    assert (out / "plots" / "network.png").stat().st_size > 1000
    assert "Kansho time-series report" in (out / "report.html").read_text()


@pytest.mark.usefixtures("no_figures")  # its re-runs are checked by their products and timings
def test_resume_skips_finished_steps_and_reruns_changed_ones(run: Any, copy_run: Callable[..., Path]) -> None:
    ctx, _ = run
    out = copy_run(ctx.out, "copy")
    src = Path(ctx.stack.attrs["source"]["path"])
    before = (out / "results" / "vel.tif").read_bytes()
    again = run_timeseries(src, out, RunConfig(), progress=False)
    assert all(again.timings[s.name] == 0.0 for s in STEPS), again.timings
    assert (out / "results" / "vel.tif").read_bytes() == before
    cfg = RunConfig()
    cfg.mask.stc = 8.0
    third = run_timeseries(src, out, cfg, progress=False)
    assert all(third.timings[s] == 0.0 for s in ("ingest", "qc", "loops", "invert", "vstd"))
    assert third.timings["mask"] > 0 and third.timings["outputs"] > 0
    # an interrupted step (no record in the state) runs again with everything after it
    state = json.loads((out / "work" / "state.json").read_text())
    del state["vstd"]
    (out / "work" / "state.json").write_text(json.dumps(state))
    fourth = run_timeseries(src, out, cfg, progress=False)
    assert fourth.timings["invert"] == 0.0 and fourth.timings["vstd"] > 0


def test_bad_input_leaves_previous_results_intact(run: Any, copy_run: Callable[..., Path], tmp_path: Path) -> None:
    from kansho.errors import KanshoError

    ctx, _ = run
    out = copy_run(ctx.out, "copy")
    before = (out / "cum.h5").read_bytes()
    bad = tmp_path / "GEOC"
    shutil.copytree(Path(ctx.stack.attrs["source"]["path"]), bad)
    pair_dir = sorted(p for p in bad.iterdir() if p.is_dir())[3]
    unw = next(pair_dir.glob("*.unw.tif"))
    unw.write_bytes(unw.read_bytes()[: unw.stat().st_size // 2])  # truncated file
    with pytest.raises(KanshoError) as ei:
        run_timeseries(bad, out, RunConfig(), progress=False)
    assert unw.name in str(ei.value) and "\n" not in str(ei.value)
    assert (out / "cum.h5").read_bytes() == before
