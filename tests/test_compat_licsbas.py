"""LiCSBAS both ways: a real LiCSBAS TS_GEOCml* folder (Campi Flegrei, ../shared/data/real) opens as
a run (maps, grid, epochs, reference, viewer, GeoTIFF/NetCDF/MintPy exports), and a Kansho run
exported in LiCSBAS's layout has the files and keys LiCSBAS's tools read (run through LiCSBAS's own
library when it is importable)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from tests._shared import FinishedRun

from kansho.errors import ConfigError, InputError
from kansho.export import export_cog, export_many, export_netcdf
from kansho.export_licsbas import export_licsbas, max_tlen
from kansho.export_mintpy import export_mintpy
from kansho.run import LicsbasRun, Run, open_run

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "campi_flegrei_licsbas"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real/campi_flegrei_licsbas")
TS = REAL / "TS_GEOCml1clip"
W, H = 191, 121
needs_real = pytest.mark.skipif(not TS.is_dir(), reason=f"real LiCSBAS data not found at {TS}")


def _flat(path: Path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4").reshape(H, W)


@needs_real
def test_real_licsbas_folder_opens_as_a_run() -> None:
    run = open_run(TS)
    assert isinstance(run, LicsbasRun) and isinstance(Run(TS), LicsbasRun) and not run.has_cum
    assert {"vel", "vstd", "coh_avg", "n_unw", "mask", "hgt", "maxTlen", "vel.filt.mskd"} <= set(run.layers())
    g = run.grid
    assert g.shape == (H, W)
    assert g.lon()[0] == pytest.approx(14.02994428828) and g.lat()[0] == pytest.approx(40.89966842648)
    # the fastest-rising kept pixel: Pozzuoli, 50.7 mm/yr toward the satellite
    vel = _flat(TS / "results" / "vel.mskd")
    r, c = np.unravel_index(np.nanargmax(vel), vel.shape)
    assert (r, c) == (83, 110) and vel[r, c] == pytest.approx(50.705227)
    assert run.read_map("vel.mskd")[r, c] == vel[r, c]
    assert g.rowcol(14.13994, 40.81667) == (83, 110)
    assert run.read_map("vel")[60, 95] == _flat(TS / "results" / "vel")[60, 95] == pytest.approx(-2.2744281)
    assert run.dates.size == 158 and (run.dates[0], run.dates[-1]) == (20160909, 20191229)
    # no cum.h5: the reference of results/vel, info/12ref.txt "86:87/65:66" (columns first); vel is 0 there
    assert run.refarea == (65, 66, 86, 87) and run.read_map("vel")[65, 86] == 0
    assert run.wavelength == pytest.approx(0.055465764662349676)
    m = run.mask()
    assert m is not None and int(m.sum()) == 15598  # 15parameters.txt: "Kept pixels : 15598/20863"
    assert "n_ifg:          515" in run.info_text("parameters")
    with pytest.raises(InputError, match=r"E.geo"):
        run.los()


@needs_real
def test_real_licsbas_maps_through_rasterio_and_the_viewer(tmp_path: Path) -> None:
    from kansho.viewer.data import RunData, ViewerError

    run = open_run(TS)
    vel = _flat(TS / "results" / "vel")
    with rasterio.open(run.map_path("vel")) as src:
        assert src.crs.to_epsg() == 4326 and src.shape == (H, W)
        np.testing.assert_array_equal(src.read(1), vel)
        assert src.transform.c == pytest.approx(14.02994428828 - 0.0009999992099999995 / 2)
    data = RunData(TS)
    assert data.shape == (H, W) and data.dates.size == 158 and data.refarea == (65, 66, 86, 87)
    assert data.pixel_values(83, 110)["vel.mskd"] == pytest.approx(50.705227)
    assert data.map_array("vel", 2).shape == (61, 96)
    assert data.hgt(1) is not None
    with pytest.raises(ViewerError, match=r"cum.h5"):
        data.series(83, 110)
    data.close()


@needs_real
def test_real_licsbas_exports(tmp_path: Path) -> None:
    files = export_cog(TS, tmp_path / "cog")
    with rasterio.open(tmp_path / "cog" / "vel.mskd.tif") as src:
        assert src.read(1)[83, 110] == pytest.approx(50.705227) and src.crs.to_epsg() == 4326
    assert len(files) == len(open_run(TS).layers())
    import xarray as xr

    with xr.open_dataset(export_netcdf(TS, tmp_path / "nc")) as ds:
        assert "displacement" not in ds  # no cum.h5: the maps only
        assert float(ds["velocity"].sel(lat=40.81667, lon=14.13994, method="nearest")) == \
            pytest.approx(float(_flat(TS / "results" / "vel")[83, 110]))
    written = export_mintpy(TS, tmp_path / "mintpy")
    assert sorted(p.name for p in written) == ["geometryGeo.h5", "maskTempCoh.h5", "velocity.h5"]
    with h5py.File(tmp_path / "mintpy" / "velocity.h5") as f:
        ry, rx = int(f.attrs["REF_Y"]), int(f.attrs["REF_X"])
        assert (ry, rx) == (65, 86) and f["velocity"][ry, rx] == 0
        assert f["velocity"][83, 110] == np.float32(_flat(TS / "results" / "vel")[83, 110] / np.float32(1000))
    with h5py.File(tmp_path / "mintpy" / "geometryGeo.h5") as f:
        np.testing.assert_array_equal(f["height"][()], _flat(TS / "results" / "hgt"))
    with pytest.raises(ConfigError, match="csv needs the time series"):
        export_many(TS, ["cog", "csv"], tmp_path / "refused", pixels=[(83, 110)])
    assert not (tmp_path / "refused").exists()


@needs_real
def test_bad_licsbas_files_are_named(tmp_path: Path) -> None:
    ts = tmp_path / "TS_GEOCml1clip"
    shutil.copytree(TS, ts)
    (ts / "results" / "vstd").chmod(0o644)
    (ts / "results" / "vstd").write_bytes(b"\0" * 100)
    run = open_run(ts)
    assert "vstd" not in run.layers() and "vel" in run.layers()
    with pytest.raises(InputError, match=r"vstd.*wrong byte size"):
        run.read_map("vstd")
    (ts / "info" / "EQA.dem_par").chmod(0o644)
    (ts / "info" / "EQA.dem_par").write_text("width: 191\n")
    with pytest.raises(InputError, match=r"EQA.dem_par.*malformed"):
        open_run(ts).grid  # noqa: B018


def test_max_tlen_of_a_known_network() -> None:
    dates = np.array([20200101, 20200113, 20200125, 20200206])
    gap = np.zeros((3, 1, 2), np.int8)
    gap[1, 0, 1] = 1  # pixel 2: epochs 1 and 2 not connected -> two 12-day spans
    assert max_tlen(dates, gap)[0].tolist() == pytest.approx([36 / 365.25, 12 / 365.25])


@pytest.fixture(scope="module")
def licsbas_out(small_run: FinishedRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    dest = tmp_path_factory.mktemp("lb") / "TS_GEOCml1"
    export_licsbas(small_run.out, dest)
    return small_run.out, dest


def _par(path: Path, field: str) -> str:
    """A value as LiCSBAS's get_param_par reads it: the 2nd word of the first line holding the field."""
    return next(line for line in path.read_text().splitlines() if field in line).split()[1]


def test_export_in_licsbas_layout(licsbas_out: tuple[Path, Path]) -> None:
    out, dest = licsbas_out
    run = open_run(out)
    ny, nx = run.grid.shape
    for name in ("vel", "vstd", "coh_avg", "n_unw", "n_loop_err", "resid_rms", "maxTlen", "n_gap", "stc",
                 "n_ifg_noloop", "mask", "hgt", "vel.filt", "vel.mskd", "vintercept"):
        assert (dest / "results" / name).stat().st_size == 4 * nx * ny, name
    np.testing.assert_array_equal(np.fromfile(dest / "results" / "vel", "<f4").reshape(ny, nx), run.read_map("vel"))
    dem = dest / "info" / "EQA.dem_par"
    assert (int(_par(dem, "width")), int(_par(dem, "nlines"))) == (nx, ny)
    assert float(_par(dem, "corner_lat")) == pytest.approx(run.grid.lat()[0], abs=1e-12)
    assert float(_par(dem, "corner_lon")) == pytest.approx(run.grid.lon()[0], abs=1e-12)
    assert float(_par(dem, "post_lat")) == run.grid.dy and float(_par(dem, "post_lon")) == run.grid.dx
    mli = dest / "info" / "slc.mli.par"
    assert int(_par(mli, "range_samples")) == nx and int(_par(mli, "azimuth_lines")) == ny
    assert 299792458.0 / float(_par(mli, "radar_frequency")) == pytest.approx(run.wavelength, rel=1e-9)
    filt = run.result("filter")
    with h5py.File(dest / "cum_filt.h5") as f:
        assert float(f["filtwidth_km"][()]) == pytest.approx(filt.sigma_km)
        assert float(f["filtwidth_yr"][()]) == pytest.approx(filt.sigma_yr)
        assert len(f["deramp_flag"][()]) == 0 and int(f["hgt_linear_flag"][()]) == 0
        np.testing.assert_array_equal(f["cum"][()], run.read_cube(filtered=True))
    with h5py.File(dest / "cum.h5") as f:
        assert f["imdates"][()].tolist() == run.dates.tolist()


def test_licsbas_export_opens_again_as_a_run(licsbas_out: tuple[Path, Path]) -> None:
    out, dest = licsbas_out
    a, b = open_run(out), open_run(dest)
    assert isinstance(b, LicsbasRun) and b.has_cum and b.has_filt
    assert b.grid.matches(a.grid) and b.refarea == a.refarea and b.dates.tolist() == a.dates.tolist()
    np.testing.assert_array_equal(b.read_map("vel.filt"), a.read_map("vel.filt"))
    np.testing.assert_array_equal(b.cum_pixels([(5, 7)]), a.cum_pixels([(5, 7)]))


def test_licsbas_library_reads_the_export(licsbas_out: tuple[Path, Path]) -> None:
    io_lib = pytest.importorskip("LiCSBAS_io_lib", reason="LiCSBAS is not installed (its LiCSBAS_lib on the "
                                                          "PYTHONPATH) - its readers are not run")
    out, dest = licsbas_out
    run = open_run(out)
    dem = str(dest / "info" / "EQA.dem_par")
    width, length = int(io_lib.get_param_par(dem, "width")), int(io_lib.get_param_par(dem, "nlines"))
    vel = io_lib.read_img(str(dest / "results" / "vel"), length, width)
    np.testing.assert_array_equal(vel, run.read_map("vel"))
    assert float(io_lib.get_param_par(dem, "corner_lat")) == pytest.approx(run.grid.lat()[0])
    radar_freq = float(io_lib.get_param_par(str(dest / "info" / "slc.mli.par"), "radar_frequency"))
    assert 299792458.0 / radar_freq == pytest.approx(run.wavelength)


@needs_real
def test_geodesy_and_mosaic_take_a_licsbas_folder(tmp_path: Path) -> None:
    from kansho.batch.mosaic import find_inputs
    from kansho.geodesy.runs import load_track

    ts = tmp_path / "TS_GEOCml1clip"
    shutil.copytree(TS, ts)
    geoc = tmp_path / "GEOCml1clip"  # the GEOC folder beside: LiCSBAS keeps E.geo/N.geo/U.geo there
    geoc.mkdir()
    los = {"E": -0.6155682, "N": -0.1308431, "U": 0.7771460}
    for c, v in los.items():
        np.full((H, W), v, "<f4").tofile(geoc / f"{c}.geo")
    track = load_track(ts)
    vel = _flat(TS / "results" / "vel")
    kept = _flat(TS / "results" / "mask") == 1
    assert track.vel[83, 110] == vel[83, 110] and np.isnan(track.vel[~kept]).all()
    assert track.los_u[0, 0] == pytest.approx(los["U"]) and track.grid.shape == (H, W)
    kind, found = find_inputs([ts, TS])
    assert kind == "los" and found == [ts, TS]
