"""GACOS correction inside ``kansho ifg`` (troposphere.method: gacos) on a simulated SLC stack.

The simulator's own atmosphere term is random and not part of its truth, so the test builds one
stack without atmosphere and a copy whose SLCs are multiplied by exp(−4πi/λ · ZTD_e/cos θ), with
ZTD_e an analytic zenith delay of the pixel's (lon, lat) (the convention of kansho.synth.slc: a
larger delay is a larger excess range). The same ZTD_e, sampled on a coarser lon/lat grid, is
written as GACOS files (GeoTIFF ``yyyymmdd.ztd.tif``; one date as ``.ztd`` + ``.ztd.rsc``).
Both stacks share the speckle, so the corrected interferograms must match the atmosphere-free ones.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kansho.errors import ConfigError
from kansho.grid import Grid
from kansho.ifg.chain import run_ifg
from kansho.ifg.config import IfgConfig
from kansho.io.geotiff import read_raster, write_geotiff
from kansho.prep import phase_std
from kansho.synth.slc import SlcSimConfig, simulate_slc_stack

N_EPOCH = 4
LOOKS = {"range_looks": 4, "azimuth_looks": 4}


def _ztd(lon: np.ndarray, lat: np.ndarray, k: int, lon_c: float, lat_c: float) -> np.ndarray:
    """Zenith delay (m) of epoch k: 2.3 m + a per-epoch constant, ramp and bump (~1.5 cm each)."""
    coef = np.random.default_rng(100 + k).normal(0.0, 0.015, 3)
    x = (lon - lon_c) / 0.008  # the frame spans ~0.008 deg of longitude, ~0.012 deg of latitude
    y = (lat - lat_c) / 0.012
    return 2.3 + 0.01 * k + coef[0] * x + coef[1] * y + coef[2] * np.exp(-((x - 0.2) ** 2 + (y + 0.1) ** 2) / 0.08)


def _write_rsc_ztd(path: Path, data: np.ndarray, grid: Grid) -> None:
    x0, dx, _, y0, _, dy = grid.transform
    data.astype("<f4").tofile(path)
    path.with_name(path.name + ".rsc").write_text(
        f"WIDTH {grid.width}\nFILE_LENGTH {grid.height}\nX_FIRST {x0:.10f}\nY_FIRST {y0:.10f}\n"
        f"X_STEP {dx:.12f}\nY_STEP {dy:.12f}\nX_UNIT degrees\nY_UNIT degrees\n")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("gacos_ifg")
    clean = root / "clean"
    # a 20 m hill (not 300 m): no layover, whose folded lookup would mislocate phase and delay alike
    truth = simulate_slc_stack(
        clean, SlcSimConfig(shape=(96, 96), n_epoch=N_EPOCH, velocity_mm_yr=0.0, dem_max_m=20.0), rng=3
    )
    atmo = root / "atmo"
    shutil.copytree(clean, atmo)
    geo = {k: np.fromfile(clean / "geometry" / f"{k}.rdr", ">f4").astype(np.float64).reshape(96, 96)
           for k in ("lat", "lon", "inc")}
    lon_c, lat_c = float(geo["lon"].mean()), float(geo["lat"].mean())
    lam = truth.wavelength
    # GACOS grid: 0.0003 deg posting (~30 m), covering the frame with a margin
    post = 0.0003
    x0, y1 = float(geo["lon"].min()) - 3 * post, float(geo["lat"].max()) + 3 * post
    w = math.ceil((float(geo["lon"].max()) + 3 * post - x0) / post)
    h = math.ceil((y1 - float(geo["lat"].min()) + 3 * post) / post)
    gg = Grid(w, h, (x0, post, 0.0, y1, 0.0, -post))
    glon, glat = np.meshgrid(gg.lon(), gg.lat())
    gdir = root / "gacos"
    gdir.mkdir()
    for k, d in enumerate(truth.dates):
        slant = _ztd(geo["lon"], geo["lat"], k, lon_c, lat_c) / np.cos(np.radians(geo["inc"]))
        f = atmo / f"{int(d)}.slc"
        slc = np.fromfile(f, ">c8").reshape(96, 96) * np.exp(-4j * np.pi / lam * slant)
        f.write_bytes(slc.astype(">c8").tobytes())
        ztd = _ztd(glon, glat, k, lon_c, lat_c).astype(np.float32)
        if k == 1:
            _write_rsc_ztd(gdir / f"{int(d)}.ztd", ztd, gg)
        else:
            write_geotiff(gdir / f"{int(d)}.ztd.tif", ztd, gg)
    base = {"form": LOOKS, "geocode": {"posting_deg": 0.0002, "method": "linear"}, "network": {"method": "all"}}

    def run(stack: Path, out: str, **tropo: Any) -> Any:
        cfg = IfgConfig.model_validate({**base, "troposphere": tropo or {"method": "none"}})
        return run_ifg(stack, root / out, cfg, progress=False)

    runs = {
        "clean": run(clean, "G_clean"),
        "atmo": run(atmo, "G_atmo"),
        "gacos": run(atmo, "G_gacos", method="gacos", gacos_dir=str(gdir)),
    }
    return {"root": root, "atmo": atmo, "gdir": gdir, "dates": [int(d) for d in truth.dates], "runs": runs,
            "run": run}


def _unw(geoc: Path, name: str) -> np.ndarray:
    return read_raster(geoc / name / f"{name}.geo.unw.tif")


def _stats(geoc: Path) -> dict[str, tuple[float, float, str]]:
    rows = {}
    for line in (geoc / ".ifg" / "gacos_stats.txt").read_text().splitlines():
        if not line.startswith("#"):
            name, b, a, status = line.split()
            rows[name] = (float(b), float(a), status)
    return rows


def test_gacos_removes_the_delay(scene: dict[str, Any]) -> None:
    runs = scene["runs"]
    assert all(not r.failed for r in runs.values())
    pairs = runs["clean"].done
    assert len(pairs) == N_EPOCH * (N_EPOCH - 1) // 2 and runs["gacos"].done == pairs
    stats = _stats(runs["gacos"].geoc)
    assert sorted(stats) == pairs
    for name in pairs:
        a, b, c = (_unw(runs[k].geoc, name) for k in ("clean", "atmo", "gacos"))
        ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(c)
        assert ok.sum() > 0.5 * np.isfinite(a).sum()
        # residual against the atmosphere-free interferogram (same speckle), up to the constant that
        # the median-removed per-epoch delays and the reference area leave free
        r_atmo = b[ok] - a[ok] - np.median(b[ok] - a[ok])
        r_gacos = c[ok] - a[ok] - np.median(c[ok] - a[ok])
        rms_atmo, rms_gacos = float(np.sqrt(np.mean(r_atmo**2))), float(np.sqrt(np.mean(r_gacos**2)))
        # The delay differences are 1-4 cm of slant range -> 1-4 rad rms. What the correction leaves is
        # (i) the geocoding's position error (the lookup is interpolated; the delay is evaluated at the
        # cell centre) times the delay gradient, measured at 1.5-4 % of the atmosphere, (ii) the
        # bilinear resampling of the 30 m GACOS grid and the multilooked incidence (<< 0.01 rad). The
        # bound 5 % + 0.03 rad still fails for a zenith delay not projected to the LOS (1/cos 39° − 1 =
        # 29 % of the atmosphere left) or a wrong sign (200 %).
        assert rms_atmo > 0.5, (name, rms_atmo)
        assert rms_gacos < 0.05 * rms_atmo + 0.03, (name, rms_gacos, rms_atmo)
        # std down to the atmosphere-free level (clean std 0.03-0.05 rad: 16 looks of coherent speckle)
        s_clean, s_atmo, s_gacos = phase_std(a, ok), phase_std(b, ok), phase_std(c, ok)
        assert abs(s_gacos - s_clean) < 0.05 * s_atmo + 0.03 and s_atmo > s_clean + 0.5, name
        # the recorded std before/after are those of the uncorrected and corrected phase (same pixels)
        before, after, status = stats[name]
        okc = np.isfinite(c)
        assert status == "corrected"
        assert before == pytest.approx(phase_std(b, okc & np.isfinite(b)), abs=2e-3)
        assert after == pytest.approx(phase_std(c, okc), abs=2e-3)
        assert runs["gacos"].results[name].gacos_std_after == pytest.approx(after, abs=1e-4)


def test_gacos_missing_date_keep_and_drop(scene: dict[str, Any]) -> None:
    root, gdir, dates = scene["root"], scene["gdir"], scene["dates"]
    partial = root / "gacos_partial"
    shutil.copytree(gdir, partial)
    last = dates[-1]
    (partial / f"{last}.ztd.tif").unlink()
    keep = scene["run"](scene["atmo"], "G_keep", method="gacos", gacos_dir=str(partial), gacos_missing="keep")
    assert not keep.failed and len(keep.done) == len(scene["runs"]["atmo"].done)
    without = sorted(n for n in keep.done if str(last) in n)
    assert keep.gacos_uncorrected == without and len(without) == N_EPOCH - 1
    stats = _stats(keep.geoc)
    for name in keep.done:
        got = _unw(keep.geoc, name)
        ref_run = "atmo" if name in without else "gacos"
        np.testing.assert_allclose(got, _unw(scene["runs"][ref_run].geoc, name), atol=1e-5, equal_nan=True)
        assert stats[name][2] == ("uncorrected" if name in without else "corrected")
        assert np.isnan(stats[name][1]) == (name in without)

    drop = scene["run"](scene["atmo"], "G_drop", method="gacos", gacos_dir=str(partial))  # default: drop
    assert not drop.failed and sorted(drop.done) == sorted(set(keep.done) - set(without))
    assert sorted(drop.gacos_dropped) == without and all(str(last) in r for r in drop.gacos_dropped.values())
    listed = (drop.geoc / ".ifg" / "gacos_dropped.txt").read_text()
    assert all(n in listed for n in without)
    assert not any((drop.geoc / n).exists() for n in without)
    assert str(last) not in (drop.geoc / "baselines").read_text()
    assert sorted(_stats(drop.geoc)) == sorted(drop.done)


def test_gacos_needs_a_folder(scene: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="gacos_dir"):
        scene["run"](scene["atmo"], "G_nodir", method="gacos")


def test_cli_gacos_option(scene: dict[str, Any]) -> None:
    from kansho.cli import main

    out = scene["root"] / "G_cli"
    rc = main(["ifg", str(scene["atmo"]), "-o", str(out), "--gacos", str(scene["gdir"]), "--range-looks", "4",
               "--azimuth-looks", "4", "--posting", "0.0002"])
    assert rc == 0
    stats = _stats(out)
    assert len(stats) == N_EPOCH - 1 + N_EPOCH - 2 + N_EPOCH - 3  # default network: every pair within 60 days
    assert all(s == "corrected" and after < 0.2 * before for before, after, s in stats.values())
