"""Mosaics: adjacent frames cut from one larger simulated truth, each with its own offset (and ramp)
and noise, are merged back into the single truth up to one constant: velocity maps, cumulative
displacement at every common epoch (per-epoch offsets and ramps), and east/up maps of several
decomposed track pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.batch.mosaic import (
    blend,
    feather_weights,
    local_xy_km,
    merge,
    mosaic_cum,
    mosaic_decomposed,
    mosaic_runs,
)
from kansho.cli import main
from kansho.errors import InputError
from kansho.grid import Grid, common_grid, resample
from kansho.io.geotiff import read_grid, read_raster, write_geotiff
from kansho.io.licsbas_h5 import read_cum_h5, write_cum_h5
from kansho.synth import SimConfig, simulate_frame
from kansho.synth.deformation import linear_fit_rate

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
    from kansho.batch.mosaic import blend, feather_weights

    d, vel, _ = truth
    runs = _cut(tmp_path, d / "truth_vel.tif", True, seed=4)
    grids = [read_grid(r / "results" / "vel.tif") for r in runs]
    g = common_grid(grids)
    stack = np.stack([resample(read_raster(r / "results" / "vel.tif"), gg, g)
                      for r, gg in zip(runs, grids, strict=True)])
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


# ------------------------------------------------------------------------------------ cumulative displacement

CUM_NOISE = 1.0  # mm, white, per frame and epoch (0 at each frame's own first epoch, as in a cum.h5)
# epochs (indices into the truth's 8) of each frame: frame 1 starts one epoch later, frame 2 misses
# epoch 3, so the common epochs are 1, 2, 4, 5, 6, 7 and the mosaic's reference epoch is epoch 1
FRAME_EPOCHS = [list(range(8)), list(range(1, 8)), [0, 1, 2, 4, 5, 6, 7]]
COMMON = [1, 2, 4, 5, 6, 7]
# frame 1's pixels masked as unreliable (mask = 0) inside its overlap with frame 0, with a 40 mm error
BAD_PATCH = (26, 34, 10, 30)


@pytest.fixture(scope="module")
def cube(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A time-varying truth: subsidence, uplift, seasonal term and an earthquake step, 8 epochs."""
    d = tmp_path_factory.mktemp("mosaic_cube")
    t = simulate_frame(d / "big", SimConfig(shape=(100, 64), n_epoch=8, interval_days=24, gap=False, n_unw_errors=0,
                                            posting_deg=0.002, subsidence_rate=-150.0, earthquake=True,
                                            eq_offset=40.0), rng=21)
    cum = np.where(t.water[None], np.nan, t.cum).astype(np.float64)
    return cum, np.asarray(t.epochs, np.int64), t.grid


def _cum_runs(d: Path, cum: np.ndarray, epochs: np.ndarray, grid: Grid, ramp: bool, seed: int,
              ) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Frames of the truth cube as run folders (cum.h5 by the real writer, results/vel.tif, vstd.tif).

    Each frame's series starts at 0 at its own first epoch and carries, at every later epoch, its
    own offset (N(0, 15 mm)) and, with ``ramp``, a plane of up to 0.5 mm/km (none on frame 0, the
    fixed one), plus white noise. Returns the runs and the true offsets (frame, epoch) and
    gradients (frame, epoch, 2), all relative to each frame's first epoch.
    """
    rng = np.random.default_rng(seed)
    n_ep = len(epochs)
    offsets = rng.normal(0.0, 15.0, (3, n_ep))
    grads = rng.uniform(-0.5, 0.5, (3, n_ep, 2)) if ramp else np.zeros((3, n_ep, 2))
    grads[0] = 0.0
    runs = []
    for k, (r0, r1, c0, c1) in enumerate(WINDOWS):
        ep = FRAME_EPOCHS[k]
        offsets[k, ep[0]] = 0.0
        grads[k, ep[0]] = 0.0
        sub = grid.window(slice(r0, r1), slice(c0, c1))
        x, y = local_xy_km(sub)
        series = []
        for e in ep:
            m = (cum[e, r0:r1, c0:c1] - cum[ep[0], r0:r1, c0:c1] + offsets[k, e]
                 + grads[k, e, 0] * x + grads[k, e, 1] * y)
            if e != ep[0]:
                m = m + rng.normal(0.0, CUM_NOISE, m.shape)
            series.append(m)
        c = np.stack(series).astype(np.float32)
        mask = np.where(np.isfinite(c[0]), 1.0, np.nan).astype(np.float32)
        if k == 1:
            b0, b1, b2, b3 = BAD_PATCH
            c[1:, b0 - r0:b1 - r0, b2 - c0:b3 - c0] += 40.0
            mask[b0 - r0:b1 - r0, b2 - c0:b3 - c0] = 0.0
        vel = linear_fit_rate(c, epochs[ep])
        run = d / f"run{k}"
        write_cum_h5(run / "cum.h5", cum=c, imdates=epochs[ep], vel=vel, vintercept=np.zeros_like(vel),
                     refarea=(2, 5, 2, 5), grid=sub, gap=np.zeros((len(ep) - 1, *sub.shape), np.int8), bperp=None,
                     mask=mask)
        write_geotiff(run / "results" / "vel.tif", vel, sub, units="mm/yr")
        write_geotiff(run / "results" / "vstd.tif", np.full(vel.shape, 2.0, np.float32), sub, units="mm/yr")
        runs.append(run)
    return runs, offsets, grads


@pytest.mark.parametrize("ramp", [False, True])
def test_cum_mosaic_recovers_the_truth_at_every_common_epoch(cube: Any, tmp_path: Path, ramp: bool,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cum, epochs, grid = cube
    runs, offsets, grads = _cum_runs(tmp_path, cum, epochs, grid, ramp, seed=7)
    assert main(["mosaic", *map(str, runs), "-o", str(tmp_path / "m"), "--cum", *(["--ramp"] if ramp else [])]) == 0
    assert "cumulative displacement: 6 epochs" in capsys.readouterr().out
    d = read_cum_h5(tmp_path / "m" / "cum_mosaic.h5")  # LiCSBAS layout, read back by the real reader
    assert list(d["imdates"]) == list(epochs[COMMON])
    assert d["grid"].transform == pytest.approx(grid.transform) and d["cum"].shape == (6, *grid.shape)
    assert d["refarea_box"] == (2, 5, 2, 5)  # frame 0's reference area, frame 0 being at the mosaic's corner
    covered = np.zeros(grid.shape, bool)
    for r0, r1, c0, c1 in WINDOWS:
        covered[r0:r1, c0:c1] = True
    land = covered & np.isfinite(cum[0])
    b0, b1, b2, b3 = BAD_PATCH
    judged = land.copy()
    judged[b0:b1, b2:b3] = False  # frame 1's masked pixels are blended as they are (wrong by 40 mm)
    info = json.loads((tmp_path / "m" / "mosaic.json").read_text())["cum"]
    rel = offsets - offsets[:, [1]]  # each frame re-referenced to epoch 1, the first common one
    rms, worst, errors = [], [], []
    for e, k in enumerate(COMMON):
        mos = d["cum"][e].astype(np.float64)
        assert np.array_equal(np.isfinite(mos), land)
        diff = np.where(judged, mos - (cum[k] - cum[1]), np.nan)
        # frame 0 is fixed: where it alone covers the mosaic, the mosaic is the truth plus its own offset
        # at this epoch (re-referenced) and its noise
        const = float(np.nanmedian(diff[:WINDOWS[1][0]]))
        assert const == pytest.approx(rel[0, k], abs=0.3)
        rms.append(float(np.sqrt(np.nanmean((diff - const) ** 2))))
        worst.append(float(np.nanmax(np.abs(diff - const))))
        par = info["parameters"]
        if not ramp:
            p = np.array([par[f"run{i}"]["offset_mm"][e] for i in range(3)])
            errors += list(p[1:] - p[0] - (rel[1:, k] - rel[0, k]))
        else:
            g = np.array([[par[f"run{i}"][c][e] for c in ("east_mm_per_km", "north_mm_per_km")] for i in (1, 2)])
            errors += list((g - (grads[1:, k] - grads[1:, 1])).ravel())
    err_rms = float(np.sqrt(np.mean(np.square(errors))))
    print(f"cum mosaic (ramp={ramp}): residual RMS per epoch {np.round(rms, 2)} mm, max {max(worst):.2f} mm; "
          f"{'gradient' if ramp else 'offset'} error RMS {err_rms:.3f} mm{'/km' if ramp else ''}")
    # Error budget. Frames 0 and 2 began at epoch 0, so re-referencing to epoch 1 leaves noise of
    # sqrt(2) x 1 mm (frame 1: 1 mm), less where frames overlap. An overlap (~14 rows x 52 cols,
    # ~500 trusted px) fixes an offset to ~sqrt(3)/sqrt(500) ~ 0.08 mm, but a north gradient only to
    # ~0.09 mm/km (frame 2, tied through frame 1: ~0.12), as the strip spans ~3 km: that plane error,
    # extrapolated over ~8 km of frame, dominates with --ramp. Hence: offsets within 0.3 mm (RMS 0.15),
    # gradients within 0.35 mm/km (RMS 0.15), and what is left after removing the one constant within
    # 1.5 mm RMS (2.2 with --ramp) and 8 mm (about 5.5 sigma) at most.
    if ramp:
        assert max(np.abs(errors)) < 0.35 and err_rms < 0.15 and max(rms) < 2.2
    else:
        assert max(np.abs(errors)) < 0.3 and err_rms < 0.15 and max(rms) < 1.5
    assert max(worst) < 8.0
    assert all(abs(v) < 1e-6 for v in d["cum"][0][land])  # the reference epoch is 0 mm everywhere
    assert info["reference_epoch"] == int(epochs[1]) and info["epochs"] == [int(v) for v in epochs[COMMON]]
    assert info["rms_after_max_mm"] < 2 * CUM_NOISE
    assert all(max(o["rms_before"][1:]) > 5 for o in info["overlaps"])
    # the mosaic's velocity is the linear fit of its own series
    vel = linear_fit_rate(d["cum"][:, land][:, :, None], epochs[COMMON])[:, 0]
    assert np.allclose(d["vel"][land], vel, atol=1e-3)


def test_cum_mosaic_without_masking_or_adjustment_is_wrong(cube: Any, tmp_path: Path) -> None:
    """The test above can fail: without adjustment the frames' offsets remain; the masked patch matters."""
    cum, epochs, grid = cube
    runs, _, _ = _cum_runs(tmp_path, cum, epochs, grid, False, seed=7)
    res = mosaic_cum(runs, tmp_path / "m", epochs=[int(epochs[1]), int(epochs[5])])
    d = read_cum_h5(res.path)
    assert list(d["imdates"]) == [epochs[1], epochs[5]]
    naive = []
    for r in runs:
        h = read_cum_h5(r / "cum.h5")
        i1, i5 = (list(h["imdates"]).index(epochs[i]) for i in (1, 5))
        naive.append(resample(h["cum"][i5] - h["cum"][i1], h["grid"], grid))
    stack = np.stack(naive).astype(np.float64)
    mos = blend(stack, feather_weights(np.isfinite(stack)))
    # frames 1 and 2 are off by ~5 and ~23 mm at epoch 5: blended as they are, the seams remain
    for m, bound in ((mos, (5.0, np.inf)), (d["cum"][1], (0.0, 1.5))):
        sel = np.isfinite(m) & np.isfinite(cum[5])
        sel[BAD_PATCH[0]:BAD_PATCH[1], BAD_PATCH[2]:BAD_PATCH[3]] = False
        diff = (m - (cum[5] - cum[1]))[sel]
        assert bound[0] < np.sqrt(np.mean((diff - np.median(diff)) ** 2)) < bound[1]
    for r in runs:  # with every pixel trusted, the 40 mm patch biases frame 1's offset
        h = read_cum_h5(r / "cum.h5")
        write_cum_h5(r / "cum.h5", cum=h["cum"], imdates=h["imdates"], vel=h["vel"], vintercept=h["vintercept"],
                     refarea=h["refarea_box"], grid=h["grid"], gap=h["gap"], bperp=None,
                     mask=np.where(np.isfinite(h["mask"]), 1.0, np.nan))
    res2 = mosaic_cum(runs, tmp_path / "m2", epochs=[int(epochs[1]), int(epochs[5])])
    assert abs(res2.params[1, 1, 0] - res.params[1, 1, 0]) > 3.0


def test_cum_mosaic_errors(cube: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cum, epochs, grid = cube
    runs, _, _ = _cum_runs(tmp_path, cum, epochs, grid, False, seed=7)
    with pytest.raises(InputError, match=r"run2/cum.h5: has no epoch " + str(epochs[3])):
        mosaic_cum(runs, tmp_path / "m", epochs=[int(epochs[1]), int(epochs[3])])
    assert main(["mosaic", *map(str, runs), "-o", str(tmp_path / "m"), "--cum", "--epochs",
                 f"{epochs[1]},{epochs[3]}"]) == 2
    assert f"run2/cum.h5: has no epoch {epochs[3]} (asked for with --epochs)" in capsys.readouterr().err
    # frames with no epoch in common: one-line error naming every file and its dates
    h = read_cum_h5(runs[1] / "cum.h5")
    later = h["imdates"] + 10000  # one year later
    write_cum_h5(runs[1] / "cum.h5", cum=h["cum"], imdates=later, vel=h["vel"], vintercept=h["vintercept"],
                 refarea=h["refarea_box"], grid=h["grid"], gap=h["gap"], bperp=None, mask=h["mask"])
    with pytest.raises(InputError, match="no epoch common to all frames"):
        mosaic_cum(runs[:2], tmp_path / "m")
    assert main(["mosaic", str(runs[0]), str(runs[1]), "-o", str(tmp_path / "m"), "--cum"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no epoch common" in err and str(runs[1] / "cum.h5") in err
    assert not (tmp_path / "m" / "cum_mosaic.h5").exists()
    (runs[2] / "cum.h5").unlink()
    with pytest.raises(InputError, match=r"run2/cum.h5: missing"):
        mosaic_cum(runs, tmp_path / "m")


# ------------------------------------------------------------------------------------ east/up of several track pairs

ENU_NOISE = 1.0  # mm/yr, white, per decomposed product
# three decomposed asc/desc pairs: (west lon, north lat, posting deg, cols, rows). Each pair's grid
# is the intersection of its two tracks, so the lattices differ: B is shifted by a fraction of a
# pixel, C is coarser; A is the fixed one
TILES = [(139.0, 36.0, 0.005, 70, 60), (139.25 + 0.37 * 0.005, 36.0 - 0.2 * 0.005, 0.005, 70, 60),
         (139.1, 35.775, 0.0075, 56, 40)]
ENU_OFFSETS = {"east": [1.5, -6.0, 4.0], "up": [-2.0, 8.0, -5.0]}  # mm/yr
ENU_RAMPS = {"east": [(0.0, 0.0), (0.3, -0.2), (-0.25, 0.3)], "up": [(0.0, 0.0), (-0.3, 0.25), (0.2, 0.3)]}


def _enu_truth(lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
    """East: a shear zone (arctan, 6 mm/yr across ~10 km) and a gentle gradient; up: a subsidence bowl."""
    x = (lon - 139.3) * 111.32 * np.cos(np.radians(35.75))
    y = (lat - 35.75) * 110.57
    east = 6.0 * (2 / np.pi) * np.arctan((x + 0.3 * y) / 6.0) + 0.05 * y
    up = -40.0 * np.exp(-((x - 8.0) ** 2 + (y + 5.0) ** 2) / (2 * 8.0**2)) + 0.03 * x
    return {"east": east, "up": up}


def _decomposed(d: Path, ramp: bool, seed: int) -> list[Path]:
    """Decompose output folders as ``kansho decompose`` writes them (east/up/east_std/up_std.tif, decompose.json)."""
    rng = np.random.default_rng(seed)
    folders = []
    for k, (w, n, post, nx, ny) in enumerate(TILES):
        g = Grid(nx, ny, (w, post, 0.0, n, 0.0, -post))
        lon, lat = np.meshgrid(g.lon(), g.lat())
        x, y = local_xy_km(g)
        f = d / f"pair{k}"
        for c, truth in _enu_truth(lon, lat).items():
            v = truth + ENU_OFFSETS[c][k] + rng.normal(0.0, ENU_NOISE, truth.shape)
            if ramp:
                v = v + ENU_RAMPS[c][k][0] * x + ENU_RAMPS[c][k][1] * y
            write_geotiff(f / f"{c}.tif", v.astype(np.float32), g, units="mm/yr")
            write_geotiff(f / f"{c}_std.tif", np.full(v.shape, 1.5, np.float32), g, units="mm/yr")
        (f / "decompose.json").write_text(json.dumps({"north": "neglected"}))
        folders.append(f)
    return folders


@pytest.mark.parametrize("ramp", [False, True])
def test_east_up_mosaic_of_several_track_pairs(tmp_path: Path, ramp: bool) -> None:
    folders = _decomposed(tmp_path, ramp, seed=3)
    assert main(["mosaic", *map(str, folders), "-o", str(tmp_path / "m"), *(["--ramp"] if ramp else [])]) == 0
    info = json.loads((tmp_path / "m" / "mosaic.json").read_text())
    assert info["kind"] == "enu" and set(info["components"]) == {"east", "up"}
    g = read_grid(tmp_path / "m" / "east.tif")
    assert g.transform[:2] == pytest.approx((139.0, 0.005)) and g.shape == (105, 121)  # union, on pair A's lattice
    lon, lat = np.meshgrid(g.lon(), g.lat())
    truth = _enu_truth(lon, lat)
    inside = np.zeros(g.shape, bool)
    for w, n, post, nx, ny in TILES:
        inside |= (lon > w) & (lon < w + nx * post) & (lat < n) & (lat > n - ny * post)
    for c in ("east", "up"):
        mos = read_raster(tmp_path / "m" / f"{c}.tif").astype(np.float64)
        ok = np.isfinite(mos)
        assert ok[inside].mean() > 0.98 and not ok[~inside].any()
        diff = mos[ok] - truth[c][ok]
        const = float(np.median(diff))
        assert const == pytest.approx(ENU_OFFSETS[c][0], abs=0.3)  # pair A's offset, the fixed one
        rms = float(np.sqrt(np.mean((diff - const) ** 2)))
        # 1 mm/yr white noise (averaged in overlaps; pair C's coarser grid is upsampled, which smooths
        # it), bilinear interpolation of the smooth truth (< 0.05 mm/yr) and the offsets' / planes'
        # errors (~0.05 / ~0.2 mm/yr at far edges): 1.1 mm/yr RMS and 5 mm/yr at most
        assert rms < 1.1 and np.max(np.abs(diff - const)) < 5 * ENU_NOISE
        par = info["components"][c]["parameters"]
        if ramp:
            est = np.array([[par[f"pair{k}"]["east_mm_yr_per_km"], par[f"pair{k}"]["north_mm_yr_per_km"]]
                            for k in (1, 2)])
            assert est == pytest.approx(np.array(ENU_RAMPS[c][1:]), abs=0.1)
        else:
            est = np.array([par[f"pair{k}"]["offset_mm_yr"] for k in range(3)])
            assert est[1:] - est[0] == pytest.approx(np.array(ENU_OFFSETS[c][1:]) - ENU_OFFSETS[c][0], abs=0.3)
        assert all(o["rms_after"] < 2 * ENU_NOISE < o["rms_before"] for o in info["components"][c]["overlaps"])
        std = read_raster(tmp_path / "m" / f"{c}_std.tif")
        assert np.nanmax(np.abs(std - 1.5)) < 1e-5  # uncertainties blended, not offset
        print(f"{c} mosaic (ramp={ramp}): RMS {rms:.2f} mm/yr")


def test_mixed_or_missing_components_are_clear_errors(tmp_path: Path, truth: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folders = _decomposed(tmp_path, False, seed=3)
    res = mosaic_decomposed(folders, tmp_path / "only_up", components=["up"])
    assert (tmp_path / "only_up" / "up.tif").is_file() and not (tmp_path / "only_up" / "east.tif").exists()
    assert set(res.components) == {"up"}
    (folders[2] / "up.tif").unlink()
    with pytest.raises(InputError, match=r"pair2/up.tif: missing"):
        mosaic_decomposed(folders, tmp_path / "m")
    assert main(["mosaic", *map(str, folders), "-o", str(tmp_path / "m2"), "--component", "east"]) == 0
    # a run (LOS velocity of one track) and east/up maps cannot be merged
    runs = _cut(tmp_path, truth[0] / "truth_vel.tif", False, seed=4)
    assert main(["mosaic", str(runs[0]), str(folders[0]), "-o", str(tmp_path / "m3")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is a decompose folder" in err and str(folders[0]) in err
    assert main(["mosaic", *map(str, runs[:2]), "-o", str(tmp_path / "m4"), "--component", "up"]) == 2
    assert "--component needs decompose folders" in capsys.readouterr().err


def test_common_grid_and_resample_are_shared() -> None:
    """One implementation: the union of frames keeps the first frame's lattice; the intersection starts at its corner;
    an integer-shifted lattice is copied exactly, with no pixel lost next to a NaN."""
    a = Grid(10, 8, (10.0, 0.01, 0.0, 45.0, 0.0, -0.01))
    b = Grid(10, 8, (10.05, 0.01, 0.0, 44.97, 0.0, -0.01))
    u = common_grid([a, b])
    assert u.shape == (11, 15) and u.transform == pytest.approx((10.0, 0.01, 0.0, 45.0, 0.0, -0.01))
    i = common_grid([a, b], extent="intersection")
    assert i.shape == (5, 5) and i.transform == pytest.approx((10.05, 0.01, 0.0, 44.97, 0.0, -0.01))
    v = np.arange(80, dtype=np.float64).reshape(8, 10)
    v[3, 4] = np.nan
    out = resample(v, b, u)
    assert np.array_equal(out[3:11, 5:15], v.astype(np.float32), equal_nan=True)
    assert np.isnan(out[:3]).all() and np.isnan(out[:, :5]).all()
    with pytest.raises(InputError, match="different coordinate systems"):
        common_grid([a, Grid(10, 8, a.transform, "EPSG:32654")])
