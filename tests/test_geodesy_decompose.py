"""3-D decomposition of a simulated ascending + descending pair, and strain rates of a shear zone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import voigt_profile

from kansho.cli import main
from kansho.errors import InputError
from kansho.geodesy.decompose import decompose_east_up
from kansho.geodesy.runs import decompose_runs
from kansho.geodesy.strain import strain_rate
from kansho.grid import Grid, NoOverlap, common_grid, resample
from kansho.io.geotiff import read_grid, read_raster, write_geotiff
from kansho.synth.geodesy import (
    GeodesySimConfig,
    enu_velocity,
    fault_distance_km,
    peak_shear_rate,
    simulate_gnss,
    simulate_track,
    write_gnss,
    write_track_run,
)

CFG = GeodesySimConfig()


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both tracks in the GNSS frame (reference=False: as after a tie), written as runs."""
    d = tmp_path_factory.mktemp("dec")
    asc = simulate_track(CFG, "A", 21, reference=False)
    desc = simulate_track(CFG, "D", 22, reference=False)
    write_track_run(d / "asc", asc)
    write_track_run(d / "desc", desc)
    _, vel = simulate_gnss(CFG, 23)
    files = write_gnss(d / "gnss", [], vel)
    return {"dir": d, "asc": asc, "desc": desc, "csv": files[-1]}


def _truth_on(path: Path) -> tuple[Grid, np.ndarray, np.ndarray, np.ndarray]:
    g = read_grid(path)
    lon, lat = np.meshgrid(g.lon(), g.lat())
    ve, vn, vu = enu_velocity(CFG, lon, lat)
    return g, ve, vn, vu


def _north_tif(tmp: Path, grid: Grid) -> Path:
    lon, lat = np.meshgrid(grid.lon(), grid.lat())
    _, vn, _ = enu_velocity(CFG, lon, lat)
    return write_geotiff(tmp / "north.tif", vn.astype(np.float32), grid)


def test_decomposition_recovers_east_and_up(tracks: dict[str, Any], tmp_path: Path) -> None:
    d = tracks["dir"]
    north = _north_tif(tmp_path, tracks["asc"].grid)  # the true north field, as a GNSS-derived GeoTIFF
    summ = decompose_runs([d / "asc", d / "desc"], tmp_path / "out", gnss_north=north, plots=False)
    assert summ["coverage"] > 0.95
    _g, ve, _, vu = _truth_on(tmp_path / "out" / "east.tif")
    east = read_raster(tmp_path / "out" / "east.tif")
    up = read_raster(tmp_path / "out" / "up.tif")
    es = read_raster(tmp_path / "out" / "east_std.tif")
    us = read_raster(tmp_path / "out" / "up_std.tif")
    ok = np.isfinite(east)
    ze = ((east - ve) / es)[ok]
    zu = ((up - vu) / us)[ok]
    # The tolerance comes from the inputs' noise: vstd of each track (sqrt(1.5^2 + 0.7^2) mm/yr)
    # propagated through the 2x2 solve gives east_std ~2.1 and up_std ~1.6 mm/yr. The errors are
    # spatially correlated (10 km over a 64 km frame: ~40 independent patches per track), so the
    # normalised errors' RMS is 1 within ~0.25 (2 sigma of its sampling scatter, plus the slight
    # smoothing of the bilinear resampling of the descending track).
    assert 0.6 < float(np.sqrt(np.mean(ze**2))) < 1.3
    assert 0.6 < float(np.sqrt(np.mean(zu**2))) < 1.3
    assert np.mean(np.abs(ze) < 4) > 0.995 and np.mean(np.abs(zu) < 4) > 0.995
    # the signal is recovered, not just bounded: the shear zone's east and the Mogi source's up
    assert np.corrcoef(east[ok], ve[ok])[0, 1] > 0.9
    assert np.corrcoef(up[ok], vu[ok])[0, 1] > 0.8


def test_neglected_north_bias_is_stated(tracks: dict[str, Any], tmp_path: Path) -> None:
    d = tracks["dir"]
    summ = decompose_runs([d / "asc", d / "desc"], tmp_path / "out", plots=False)
    assert "north_neglected" in summ and (tmp_path / "out" / "north_sens_u.tif").is_file()
    _, ve, vn, vu = _truth_on(tmp_path / "out" / "east.tif")
    east = read_raster(tmp_path / "out" / "east.tif")
    up = read_raster(tmp_path / "out" / "up.tif")
    se = read_raster(tmp_path / "out" / "north_sens_e.tif")
    su = read_raster(tmp_path / "out" / "north_sens_u.tif")
    es = read_raster(tmp_path / "out" / "east_std.tif")
    us = read_raster(tmp_path / "out" / "up_std.tif")
    # both Sentinel-1 tracks have l_n ~ -0.1 to -0.14: north leaks mostly into up
    assert 0.05 < float(np.nanmedian(np.abs(su))) < 0.3
    # the stated bias (sensitivity x true north) explains the difference from the truth within the noise
    ze = (east - ve - se * vn) / es
    zu = (up - vu - su * vn) / us
    assert np.nanmean(np.abs(ze) < 4) > 0.995 and np.nanmean(np.abs(zu) < 4) > 0.995


def test_decompose_with_gnss_station_north_and_cli(tracks: dict[str, Any], tmp_path: Path) -> None:
    d = tracks["dir"]
    rc = main(["decompose", str(d / "asc"), str(d / "desc"), "-o", str(tmp_path / "o"),
               "--gnss-north", str(tracks["csv"])])
    assert rc == 0
    for f in ("east.tif", "up.tif", "east_std.tif", "up_std.tif", "north.tif", "decompose.png", "decompose.json"):
        assert (tmp_path / "o" / f).is_file(), f
    _, _, vn, vu = _truth_on(tmp_path / "o" / "north.tif")
    north = read_raster(tmp_path / "o" / "north.tif")
    # 20 stations interpolate a field whose north varies by ~20 mm/yr across the shear zone: within a few mm/yr
    assert float(np.sqrt(np.nanmean((north - vn) ** 2))) < 3.0
    up = read_raster(tmp_path / "o" / "up.tif")
    assert np.corrcoef(up[np.isfinite(up)], vu[np.isfinite(up)])[0, 1] > 0.8
    # strain from the decompose folder (east + its interpolated north)
    rc = main(["strain", str(tmp_path / "o"), "-o", str(tmp_path / "s"), "--scale-km", "4"])
    assert rc == 0 and (tmp_path / "s" / "max_shear.tif").is_file() and (tmp_path / "s" / "strain.png").is_file()


def test_kernel_matches_lstsq_three_tracks() -> None:
    rng = np.random.default_rng(5)
    k, ny, nx = 3, 4, 5
    le = rng.uniform(-0.7, 0.7, (k, ny, nx))
    ln = rng.uniform(-0.15, 0.0, (k, ny, nx))
    lu = np.sqrt(1 - le**2 - ln**2)
    v = rng.normal(0, 10, (k, ny, nx))
    s = rng.uniform(0.5, 3, (k, ny, nx))
    vn = rng.normal(0, 5, (ny, nx))
    r = decompose_east_up(v, s, le, ln, lu, vn, np.zeros((ny, nx)))
    for i in range(ny):
        for j in range(nx):
            a = np.stack([le[:, i, j], lu[:, i, j]], 1) / s[:, i, j, None]
            b = (v[:, i, j] - ln[:, i, j] * vn[i, j]) / s[:, i, j]
            x, *_ = np.linalg.lstsq(a, b, rcond=None)
            cov = np.linalg.inv(a.T @ a)
            assert r.east[i, j] == pytest.approx(x[0], rel=1e-4, abs=1e-4)
            assert r.up[i, j] == pytest.approx(x[1], rel=1e-4, abs=1e-4)
            assert r.east_std[i, j] == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-4)
    assert np.all(np.isfinite(r.chi2))


def test_same_look_direction_is_left_unsolved() -> None:
    le = np.full((2, 2, 2), -0.6)
    lu = np.full((2, 2, 2), 0.78)
    r = decompose_east_up(np.ones((2, 2, 2)), np.ones((2, 2, 2)), le, np.full((2, 2, 2), -0.1), lu)
    assert np.all(np.isnan(r.east))


def test_non_overlapping_tracks_are_a_clear_error(tracks: dict[str, Any], tmp_path: Path) -> None:
    far = GeodesySimConfig(lon0=40.0)
    write_track_run(tmp_path / "far", simulate_track(far, "D", 1))
    with pytest.raises(InputError, match="do not overlap"):
        decompose_runs([tracks["dir"] / "asc", tmp_path / "far"], tmp_path / "x", plots=False)
    with pytest.raises(NoOverlap):
        common_grid([Grid(10, 10, (0, 1, 0, 10, 0, -1)), Grid(10, 10, (20, 1, 0, 10, 0, -1))], extent="intersection")


def test_missing_los_in_decompose(tracks: dict[str, Any], tmp_path: Path) -> None:
    write_track_run(tmp_path / "nolos", tracks["desc"], los=False)
    with pytest.raises(InputError, match="LOS"):
        decompose_runs([tracks["dir"] / "asc", tmp_path / "nolos"], tmp_path / "x", plots=False)


def test_resample_shift_is_exact_for_a_plane() -> None:
    src = Grid(30, 20, (10.0, 0.01, 0, 45.0, 0, -0.01))
    dst = Grid(20, 12, (10.037, 0.01, 0, 44.93, 0, -0.01))
    lon, lat = np.meshgrid(src.lon(), src.lat())
    out = resample(3 * lon - 2 * lat, src, dst)
    lo, la = np.meshgrid(dst.lon(), dst.lat())
    np.testing.assert_allclose(out, 3 * lo - 2 * la, atol=1e-4)


# --------------------------------------------------------------------------------------------------
# strain rates
# --------------------------------------------------------------------------------------------------


def test_strain_of_arctan_shear_zone() -> None:
    """Location and peak shear strain rate of a Savage-Burford shear zone, with the smoothing accounted for.

    The fault-parallel velocity's gradient is V·Lorentz(d; D); smoothing with a Gaussian of sigma S
    turns it into V·Voigt(d; S, D), so the max shear on the trace is V/2·Voigt(0; S, D) (which tends to
    V/(2πD) as S → 0). No noise: the test is of the operator (smoothing, gradient on a lon/lat grid,
    tensor algebra); the tolerance (3 %) covers the central differences on a 1 km grid.
    """
    cfg = GeodesySimConfig(shape=(90, 90), mogi_rate=0.0, regional=(3.0, -1.0), fault_strike_deg=35.0,
                           fault_point_frac=(0.5, 0.5))
    g = Grid(90, 90, (cfg.lon0, cfg.posting_deg, 0.0, cfg.lat0, 0.0, -cfg.posting_deg))
    lon, lat = np.meshgrid(g.lon(), g.lat())
    ve, vn, _ = enu_velocity(cfg, lon, lat)
    scale = 2.0
    sr = strain_rate(ve, vn, g, scale_km=scale)
    d = fault_distance_km(cfg, lon, lat)
    inner = np.zeros(g.shape, bool)
    inner[8:-8, 8:-8] = True
    expected = 0.5 * cfg.shear_velocity * voigt_profile(d, scale, cfg.locking_depth_km) * 1000.0
    peak = 0.5 * cfg.shear_velocity * voigt_profile(0, 1e-9, cfg.locking_depth_km) * 1000
    assert peak_shear_rate(cfg) == pytest.approx(peak)
    np.testing.assert_allclose(sr.max_shear[inner], expected[inner], rtol=0.03)
    # location: pixels within 3 % of the peak lie where the true (smoothed) profile is within 3 % of its
    # peak, give or take half a pixel diagonal (0.7 km)
    fine = np.linspace(0, 5, 5001)
    prof = voigt_profile(fine, scale, cfg.locking_depth_km)
    d97 = float(fine[prof >= 0.97 * prof[0]].max())
    peak_px = inner & (sr.max_shear > 0.97 * np.nanmax(sr.max_shear[inner]))
    assert np.all(np.abs(d[peak_px]) < d97 + 0.7)
    assert abs(float(np.average(d[inner], weights=sr.max_shear[inner] ** 8))) < 0.3
    # the peak itself, in nanostrain/yr
    assert float(np.nanmax(sr.max_shear[inner])) == pytest.approx(expected[inner].max(), rel=0.03)
    # simple shear: no dilatation; second invariant = sqrt(2) x max shear
    assert float(np.nanmax(np.abs(sr.dilatation[inner]))) < 0.02 * float(np.nanmax(sr.max_shear))
    np.testing.assert_allclose(sr.second_invariant[inner], math.sqrt(2) * sr.max_shear[inner], rtol=0.02)


def test_strain_of_rotation_and_extension() -> None:
    g = Grid(40, 40, (20.0, 0.01, 0.0, 40.0, 0.0, -0.01))
    lon, lat = np.meshgrid(g.lon(), g.lat())
    k = math.pi / 180 * 6371.0088
    x = (lon - 20.2) * k * np.cos(np.radians(lat))
    y = (lat - 39.8) * k
    w = 0.3  # mm/yr per km = 300 nanorad/yr
    sr = strain_rate(-w * y, w * x, g)
    assert float(np.nanmax(np.abs(sr.max_shear))) < 5 and float(np.nanmax(np.abs(sr.dilatation))) < 5
    np.testing.assert_allclose(sr.rotation, 300.0, rtol=0.01)
    sr2 = strain_rate(0.1 * x, 0.2 * y, g, scale_km=3.0)
    np.testing.assert_allclose(sr2.dilatation, 300.0, rtol=0.02)
    np.testing.assert_allclose(sr2.exx, 100.0, rtol=0.02)


def test_strain_cli_from_geotiffs_with_noise(tmp_path: Path) -> None:
    """Noisy velocities: the smoothing scale makes the peak recoverable (tolerance from the noise)."""
    cfg = GeodesySimConfig(shape=(80, 80), mogi_rate=0.0, regional=(0.0, 0.0))
    g = Grid(80, 80, (cfg.lon0, cfg.posting_deg, 0.0, cfg.lat0, 0.0, -cfg.posting_deg))
    lon, lat = np.meshgrid(g.lon(), g.lat())
    ve, vn, _ = enu_velocity(cfg, lon, lat)
    rng = np.random.default_rng(8)
    sigma_v = 0.5  # mm/yr white noise per 1 km pixel
    e = write_geotiff(tmp_path / "e.tif", (ve + rng.normal(0, sigma_v, ve.shape)).astype(np.float32), g)
    n = write_geotiff(tmp_path / "n.tif", (vn + rng.normal(0, sigma_v, vn.shape)).astype(np.float32), g)
    scale = 3.0
    assert main(["strain", str(e), str(n), "-o", str(tmp_path / "s"), "--scale-km", str(scale)]) == 0
    ms = read_raster(tmp_path / "s" / "max_shear.tif")
    d = fault_distance_km(cfg, lon, lat)
    expected = 0.5 * cfg.shear_velocity * voigt_profile(0, scale, cfg.locking_depth_km) * 1000.0
    # Noise of a gradient of white noise smoothed with sigma S (px = 1 km): sigma_v / (2 sqrt(2 pi) S^2)
    # mm/yr/km per component (~0.005 → ~5 nanostrain/yr); the along-trace median is ~exact.
    on_trace = (np.abs(d) < 0.5) & np.pad(np.ones((64, 64), bool), 8)
    assert float(np.median(ms[on_trace])) == pytest.approx(expected, rel=0.05)
    assert float(np.median(np.abs(d[ms > 0.9 * expected]))) < 1.5
    for f in ("exx", "eyy", "exy", "rotation", "dilatation", "second_invariant", "strain.json", "strain.png"):
        assert any(p.name.startswith(f) for p in (tmp_path / "s").iterdir()), f


def test_tie_then_decompose_workflow(tmp_path: Path) -> None:
    """Referenced tracks (each to its own reference area) tied to GNSS, then decomposed: the documented workflow."""
    from kansho.geodesy.runs import gnss_compare

    asc = simulate_track(CFG, "A", 31)
    desc = simulate_track(CFG, "D", 32)
    write_track_run(tmp_path / "asc", asc)
    write_track_run(tmp_path / "desc", desc)
    _, vel = simulate_gnss(CFG, 33)
    csv = write_gnss(tmp_path / "gnss", [], vel)[-1]
    for name in ("asc", "desc"):
        s = gnss_compare(tmp_path / name, [csv], tmp_path / f"tie_{name}", radius_km=0.5, tie="linear", plots=False)
        assert s["tie"]["vel_rms_after_mm_yr"] < 2 * CFG.vel_noise
    decompose_runs([tmp_path / "asc", tmp_path / "desc"], tmp_path / "dec", plots=False,
                   vel_files=[tmp_path / "tie_asc" / "vel_tied.tif", tmp_path / "tie_desc" / "vel_tied.tif"],
                   gnss_north=csv)
    _, ve, _, vu = _truth_on(tmp_path / "dec" / "east.tif")
    east = read_raster(tmp_path / "dec" / "east.tif")
    up = read_raster(tmp_path / "dec" / "up.tif")
    es = float(np.nanmedian(read_raster(tmp_path / "dec" / "east_std.tif")))
    us = float(np.nanmedian(read_raster(tmp_path / "dec" / "up_std.tif")))
    # Without the tie the two reference areas' offsets (several mm/yr) would bias east and up. With it,
    # the error budget is the propagated input noise (es, us) plus each tie's plane error (~0.5 mm/yr
    # in LOS, amplified ~1.3x by the solve) plus the interpolated north's error times l_N (~0.2 mm/yr):
    # 1.3 x hypot(propagated, 1 mm/yr) bounds the RMS.
    assert float(np.sqrt(np.nanmean((east - ve) ** 2))) < 1.3 * math.hypot(es, 1.0)
    assert float(np.sqrt(np.nanmean((up - vu) ** 2))) < 1.3 * math.hypot(us, 1.0)
    assert abs(float(np.nanmean(east - ve))) < 1.0 and abs(float(np.nanmean(up - vu))) < 1.0
