"""Mosaics: adjacent frames cut from one larger simulated truth, each with its own offset (and ramp)
and noise, are merged back into the single truth up to one constant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.batch.mosaic import local_xy_km, merge, mosaic_runs
from kansho.grid import Grid
from kansho.io.geotiff import read_grid, read_raster, write_geotiff
from kansho.synth import SimConfig, simulate_frame

NOISE = 1.0  # mm/yr, white, independent per frame
# three frames along a descending track (north to south), each shifted east a little, overlapping
# by 14-16 rows: (row0, row1, col0, col1) windows of the 100 x 64 px truth
WINDOWS = [(0, 40, 0, 56), (26, 70, 4, 60), (54, 100, 8, 64)]
OFFSETS = [3.0, -12.0, 25.0]  # mm/yr: each frame's own reference
RAMPS = [(0.0, 0.0), (0.8, -0.5), (-0.6, 0.9)]  # mm/yr per km east, north (frame 0 fixed: none)


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("mosaic_truth")
    t = simulate_frame(d / "big", SimConfig(shape=(100, 64), n_epoch=6, interval_days=24, gap=False,
                                            n_unw_errors=0, posting_deg=0.002), rng=21)
    vel = np.where(t.water, np.nan, t.vel).astype(np.float64)
    write_geotiff(d / "truth_vel.tif", vel.astype(np.float32), t.grid)
    return d, vel, t.grid


def _cut(d: Path, vel_tif: Path, ramp: bool, seed: int) -> list[Path]:
    """Sub-frames of the truth GeoTIFF as run folders (results/vel.tif, vel.mskd.tif, vstd.tif)."""
    big = read_raster(vel_tif).astype(np.float64)
    g = read_grid(vel_tif)
    rng = np.random.default_rng(seed)
    runs = []
    for k, (r0, r1, c0, c1) in enumerate(WINDOWS):
        t = g.transform
        sub = Grid(c1 - c0, r1 - r0, (t[0] + c0 * t[1], t[1], 0.0, t[3] + r0 * t[5], 0.0, t[5]), g.crs)
        x, y = local_xy_km(sub)  # each frame's ramp about its own centre, as an orbit error would be
        v = big[r0:r1, c0:c1] + OFFSETS[k] + rng.normal(0, NOISE, (r1 - r0, c1 - c0))
        if ramp:
            v = v + RAMPS[k][0] * x + RAMPS[k][1] * y
        run = d / f"run{k}"
        write_geotiff(run / "results" / "vel.tif", v.astype(np.float32), sub)
        write_geotiff(run / "results" / "vel.mskd.tif", v.astype(np.float32), sub)
        write_geotiff(run / "results" / "vstd.tif", np.full(v.shape, 2.0, np.float32), sub)
        runs.append(run)
    return runs


@pytest.mark.parametrize("ramp", [False, True])
def test_mosaic_recovers_the_single_truth(truth: Any, tmp_path: Path, ramp: bool) -> None:
    d, vel, grid = truth
    runs = _cut(tmp_path, d / "truth_vel.tif", ramp, seed=4)
    res = mosaic_runs(runs, tmp_path / "mosaic", ramp=ramp)
    mos = read_raster(tmp_path / "mosaic" / "vel.tif").astype(np.float64)
    assert read_grid(tmp_path / "mosaic" / "vel.tif").transform == pytest.approx(grid.transform)
    covered = np.zeros(vel.shape, bool)
    for r0, r1, c0, c1 in WINDOWS:
        covered[r0:r1, c0:c1] = True
    both = np.isfinite(mos) & np.isfinite(vel)
    assert np.array_equal(np.isfinite(mos), covered & np.isfinite(vel))  # every pixel of some frame, no more
    diff = mos[both] - vel[both]
    const = np.median(diff)
    # frame 0 is fixed: the whole mosaic carries its offset (3 mm/yr) and nothing else
    assert const == pytest.approx(OFFSETS[0], abs=0.3)
    # white noise of 1 mm/yr per frame (averaged in overlaps) plus the offset errors (~1/sqrt(700 px)
    # per overlap, ~0.05 mm/yr; with a ramp the plane fitted to a 15-row strip adds ~0.2 mm/yr at the
    # far edges): 1.1 mm/yr RMS and 5 mm/yr max bound what is left after removing the one constant
    assert np.sqrt(np.mean((diff - const) ** 2)) < 1.1
    assert np.max(np.abs(diff - const)) < 5 * NOISE
    # corrections found: frame k's offset relative to frame 0 (its ramp is about its own centre)
    assert res.params[1, 0] - res.params[0, 0] == pytest.approx(OFFSETS[1] - OFFSETS[0], abs=3.0)
    if ramp:
        assert res.params[1:, 1:] == pytest.approx(np.array(RAMPS[1:]), abs=0.15)
    info = json.loads((tmp_path / "mosaic" / "mosaic.json").read_text())
    assert len(info["overlaps"]) == 2 and all(o["rms_after"] < 2 * NOISE < o["rms_before"] for o in info["overlaps"])
    # vstd is blended without offsets
    assert np.nanmax(np.abs(read_raster(tmp_path / "mosaic" / "vstd.tif") - 2.0)) < 1e-5


def test_without_adjustment_the_frames_do_not_agree(truth: Any, tmp_path: Path) -> None:
    """The test above can fail: the same frames blended with no correction are off by the offsets."""
    from kansho.batch.mosaic import blend, common_grid, feather_weights, resample

    d, vel, _ = truth
    runs = _cut(tmp_path, d / "truth_vel.tif", True, seed=4)
    grids = [read_grid(r / "results" / "vel.tif") for r in runs]
    g = common_grid(grids)
    stack = np.stack([resample(read_raster(r / "results" / "vel.tif"), gg, g) for r, gg in zip(runs, grids, strict=True)])
    naive = blend(stack, feather_weights(np.isfinite(stack)))
    diff = (naive - vel)[np.isfinite(vel) & np.isfinite(naive)]
    assert np.sqrt(np.mean((diff - np.median(diff)) ** 2)) > 5.0


@settings(max_examples=25, deadline=None)
@given(offsets=st.lists(st.floats(-50, 50), min_size=2, max_size=5), fixed=st.integers(0, 4), ramp=st.booleans())
def test_noise_free_offsets_are_recovered_exactly(offsets: list[float], fixed: int, ramp: bool) -> None:
    """Invariant: strips of one field, each shifted by a constant, come back equal to the field + the
    fixed strip's constant; the corrections are the offsets minus the fixed one."""
    n = len(offsets)
    fixed = fixed % n
    ny, nx = 12 * n + 6, 20
    g = Grid(nx, ny, (0.0, 0.01, 0.0, 0.0, 0.0, -0.01), "EPSG:4326")
    x, y = local_xy_km(g)
    field = np.sin(x / 3.0) + 0.1 * y
    stack = np.full((n, ny, nx), np.nan)
    for k in range(n):
        stack[k, 12 * k: 12 * k + 18] = field[12 * k: 12 * k + 18] + offsets[k]
    mos, params, _ = merge(stack, x, y, ramp=ramp, fixed=fixed)
    assert params[:, 0] == pytest.approx(np.array(offsets) - offsets[fixed], abs=1e-6)
    assert np.allclose(mos, field + offsets[fixed], atol=1e-6)
