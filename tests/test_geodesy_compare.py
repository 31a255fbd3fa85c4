"""GNSS comparison and tie on a simulated 3-D field seen by InSAR and GNSS (known truth)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kansho.cli import main
from kansho.errors import InputError
from kansho.geodesy import compare as cmp
from kansho.geodesy.runs import gnss_compare
from kansho.io.geotiff import read_raster
from kansho.io.gnss import GnssSeries
from kansho.synth.geodesy import (
    GeodesySimConfig,
    enu_velocity,
    simulate_gnss,
    simulate_track,
    write_gnss,
    write_track_run,
)

CFG = GeodesySimConfig()
RAMP = (3.0, 0.25, -0.15)  # mm/yr, mm/yr per km east, mm/yr per km north


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("geod")
    asc = simulate_track(CFG, "A", 11)
    ramped = simulate_track(CFG, "A", 11, ramp=RAMP)
    series, vel = simulate_gnss(CFG, 12)
    write_track_run(d / "asc", asc)
    write_track_run(d / "ramped", ramped)
    files = write_gnss(d / "gnss", series, vel)
    return {"dir": d, "asc": asc, "ramped": ramped, "series": series, "vel": vel, "files": files}


def _station_truth(track: Any, series: list[GnssSeries], radius_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Per station: the InSAR velocity error (disk mean of the run's vel minus the true LOS velocity
    at the station) and the LOS unit vector used."""
    err, los = [], []
    for s in series:
        idx = cmp.disk_index(track.grid, s.lon, s.lat, radius_km)
        lv = cmp.los_at(track.los_e, track.los_n, track.los_u, idx)
        v_ins, _ = cmp.station_mean(track.vel, idx)
        ve, vn, vu = enu_velocity(CFG, s.lon, s.lat)
        err.append(float(v_ins) - float(cmp.project_to_los(np.array([ve, vn, vu], dtype=float).ravel(), lv)))
        los.append(lv)
    return np.array(err), np.array(los)


def test_compare_recovers_simulated_insar_error(scene: dict[str, Any], tmp_path: Path) -> None:
    tenv3 = [p for p in scene["files"] if p.suffix == ".tenv3"]
    summ = gnss_compare(scene["dir"] / "asc", tenv3, tmp_path / "cmp", radius_km=0.5, plots=False)
    rows = summ["rows"]
    assert len(rows) == CFG.n_gnss
    err, _ = _station_truth(scene["asc"], scene["series"], 0.5)
    sig = np.hypot([r["sigma_insar"] for r in rows], [r["sigma_gnss"] for r in rows])
    expected = err - cmp.common_reference(err, sig)
    diff = np.array([r["diff"] for r in rows])
    sg = np.array([r["sigma_gnss"] for r in rows])
    # per station the recovered difference is the realised InSAR error up to the GNSS velocity error
    # (white daily noise: ~0.1 mm/yr in LOS; 5 sigma, plus the error of the common offset, ~sg/sqrt(n))
    assert np.all(np.abs(diff - expected) < 5 * sg + 0.1), np.c_[diff, expected, sg]
    # overall: the RMS difference is the simulated error level (realised at the stations; 1.5 mm/yr set)
    real_rms = float(np.sqrt(np.mean(expected**2)))
    assert summ["vel_rms_mm_yr"] == pytest.approx(real_rms, rel=0.1)
    # with 20 stations the realised RMS scatters ~16 % around the configured level: 3 sigma
    assert 0.5 * CFG.vel_noise < summ["vel_rms_mm_yr"] < 1.5 * CFG.vel_noise
    # time series: InSAR per-epoch noise (3 mm, white in time) plus GNSS daily noise averaged over the
    # +-3 day window (3 mm up, 1 mm horizontal -> ~1 mm in LOS), after removing the common mode and
    # each station's mean: expected sqrt(3^2 + 1^2) = 3.2 mm
    expected_ts = math.hypot(CFG.ts_noise, 1.0)
    assert summ["ts_rms_median_mm"] == pytest.approx(expected_ts, rel=0.2)


def test_station_csv_velocities_compare(scene: dict[str, Any], tmp_path: Path) -> None:
    csvf = [p for p in scene["files"] if p.suffix == ".csv"]
    summ = gnss_compare(scene["dir"] / "asc", csvf, tmp_path / "cmp", radius_km=0.5, plots=False)
    err, _ = _station_truth(scene["asc"], scene["series"], 0.5)
    # the CSV holds the true velocities: the differences are exactly the InSAR errors (common offset removed)
    sig = np.hypot([r["sigma_insar"] for r in summ["rows"]], [r["sigma_gnss"] for r in summ["rows"]])
    np.testing.assert_allclose([r["diff"] for r in summ["rows"]], err - cmp.common_reference(err, sig), atol=1e-4)
    assert "ts_rms_median_mm" not in summ


def test_tie_removes_injected_ramp(scene: dict[str, Any], tmp_path: Path) -> None:
    tenv3 = [p for p in scene["files"] if p.suffix == ".tenv3"]
    dest = tmp_path / "tie"
    summ = gnss_compare(scene["dir"] / "ramped", tenv3, dest, radius_km=0.5, tie="linear", plots=False)
    tr = scene["ramped"]
    tied = read_raster(dest / "vel_tied.tif")
    truth = tr.vel_los_true
    # the same seed without the ramp: the run's whole velocity error (correlated error + fit of the
    # per-epoch noise); its mean is the reference area's offset, which rms() removes
    noise_only = scene["asc"].vel - scene["asc"].vel_los_true
    before = tr.vel - truth
    after = tied - truth

    def rms(a: np.ndarray) -> float:
        return float(np.sqrt(np.nanmean((a - np.nanmean(a)) ** 2)))

    # the injected ramp spans ~+-10 mm/yr: before the tie the error is dominated by it...
    assert rms(before) > 1.8 * rms(noise_only)
    coef = np.array(summ["tie"]["coef"])
    sig = np.array(summ["tie"]["coef_sigma"])
    # ...after it, the InSAR error remains plus the error of the fitted ramp: 20 stations sample the
    # correlated InSAR error, which tilts the fitted plane by its gradient sigma (from the tie's own
    # covariance, ~0.02-0.03 mm/yr/km, i.e. ~0.5 mm/yr RMS over the frame)
    x, y = cmp.local_km(tr.grid, *np.meshgrid(tr.grid.lon(), tr.grid.lat()))
    plane_rms = math.hypot(sig[1] * float(np.std(x)), sig[2] * float(np.std(y)))
    assert rms(after) < 1.2 * math.hypot(rms(noise_only), plane_rms)
    assert rms(after) < 0.5 * rms(before)
    # the mean is in the GNSS frame now (no reference-area offset): within the offset's 3 sigma
    assert abs(float(np.nanmean(after))) < 3 * sig[0] + 0.5
    # the fitted gradients match the injected ones within 4 sigma (sigma from the scatter of the
    # station residuals, i.e. the InSAR error the ramp cannot absorb)
    assert np.all(np.abs(coef[1:] - np.array(RAMP[1:])) < 4 * sig[1:]), (coef, sig)
    assert summ["tie"]["vel_rms_after_mm_yr"] < 0.8 * CFG.vel_noise * 1.5


def test_fit_ramp_quadratic_exact() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-30, 30, (2, 15))
    c = np.array([1.0, 0.1, -0.2, 0.003, -0.002, 0.001])
    d = cmp.ramp_design(x, y, "quadratic") @ c
    res = cmp.fit_ramp(x, y, d, np.ones(15), "quadratic")
    np.testing.assert_allclose(res.coef, c, atol=1e-9)
    np.testing.assert_allclose(res.model(x, y), d, atol=1e-9)
    with pytest.raises(ValueError, match="more than 6"):
        cmp.fit_ramp(x[:6], y[:6], d[:6], np.ones(6), "quadratic")


def test_sample_series_matches_loop() -> None:
    rng = np.random.default_rng(4)
    ts = np.sort(rng.uniform(0, 100, 300))
    y = rng.normal(size=(300, 3))
    td = np.array([-5.0, 10.0, 50.5, 99.0, 200.0])
    out = cmp.sample_series(ts, y, td, 2.0)
    for k, t0 in enumerate(td):
        sel = np.abs(ts - t0) <= 2.0
        if sel.any():
            np.testing.assert_allclose(out[k], y[sel].mean(0))
        else:
            assert np.all(np.isnan(out[k]))


def test_station_outside_grid_is_a_clear_error(scene: dict[str, Any], tmp_path: Path) -> None:
    p = tmp_path / "far.csv"
    p.write_text("name,lon,lat,ve,vn,vu\nFAR1,10.0,45.0,1,2,3\nNEAR,35.3,39.3,1,2,3\n")
    with pytest.raises(InputError, match=r"FAR1.*outside the InSAR grid") as ei:
        gnss_compare(scene["dir"] / "asc", [p], tmp_path / "x", plots=False)
    assert str(p) in str(ei.value)


def test_missing_los_vectors_is_a_clear_error(scene: dict[str, Any], tmp_path: Path) -> None:
    write_track_run(tmp_path / "nolos", scene["asc"], los=False)
    csvf = [p for p in scene["files"] if p.suffix == ".csv"]
    with pytest.raises(InputError, match="LOS unit vectors are missing"):
        gnss_compare(tmp_path / "nolos", csvf, tmp_path / "x", plots=False)


def test_cli_compare_with_tie_and_plots(scene: dict[str, Any], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in scene["files"] if p.suffix == ".tenv3"][:6]
    dest = tmp_path / "cli"
    rc = main(["gnss", "compare", str(scene["dir"] / "ramped"), *files, "-o", str(dest), "--tie", "offset",
               "--radius-km", "1.5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "velocity difference RMS" in out and "tie (offset)" in out
    for f in ("stations.csv", "summary.json", "vel_tied.tif", "tie_ramp.tif", "compare_map.png",
              "compare_scatter.png", "ts_S000.png"):
        assert (dest / f).is_file(), f
    # an offset tie is a constant map
    ramp = read_raster(dest / "tie_ramp.tif")
    assert float(np.nanstd(ramp)) < 1e-5
    rc = main(["gnss", "compare", str(scene["dir"] / "asc"), str(tmp_path / "none.tenv3"), "-o", str(dest)])
    assert rc != 0
