"""Exports of a simulated run: COG (validated layout, CRS, nodata, units), KMZ (valid KML zip),
MintPy HDF5 (documented layout, field by field), CF-NetCDF via xarray, CSV of points, CLI."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import h5py
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import Affine
from tests._shared import SMALL_FRAME, FinishedRun

from kansho.errors import ConfigError
from kansho.export import (
    export_cog,
    export_csv,
    export_kmz,
    export_mintpy,
    export_netcdf,
    netcdf_engine,
    validate_cog,
)
from kansho.grid import Grid
from kansho.io.geotiff import read_raster, write_geotiff
from kansho.io.licsbas_h5 import write_cum_h5
from kansho.render import colourize

SHAPE = SMALL_FRAME.shape


@pytest.fixture(scope="module")
def run(small_run: FinishedRun) -> Any:
    return small_run.ctx, small_run.out


def _cum(out: Path, name: str = "cum.h5") -> dict[str, Any]:
    with h5py.File(out / name) as f:
        return {k: f[k][()] for k in ("cum", "imdates", "bperp", "refarea") if k in f}


def test_cog_for_every_map(run: Any, tmp_path: Path) -> None:
    _, out = run
    files = export_cog(out, tmp_path)
    names = sorted(p.name for p in (out / "results").glob("*.tif"))
    assert sorted(p.name for p in files) == names and "vel.tif" in names and "vstd.tif" in names
    for p in files:
        assert validate_cog(p) == [], p
        src_p = out / "results" / p.name
        with rasterio.open(p) as cog, rasterio.open(src_p) as src:
            assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"  # GDAL's own reading of the layout
            assert cog.crs.to_epsg() == 4326 and cog.transform == src.transform
            assert cog.nodata is not None and np.isnan(cog.nodata)
            assert cog.tags(1)["units"] == (src.tags(1).get("units") or cog.tags(1)["units"]) != ""
            np.testing.assert_array_equal(cog.read(1), src.read(1))
    with rasterio.open(tmp_path / "vel.tif") as cog:
        assert cog.tags(1)["units"] == "mm/yr"


def test_cog_validation_of_a_large_map_with_overviews(tmp_path: Path) -> None:
    grid = Grid(1300, 700, (10.0, 0.001, 0.0, 45.0, 0.0, -0.001))
    rng = np.random.default_rng(0)
    res = tmp_path / "run" / "results"
    vel = rng.normal(0, 5, grid.shape).astype(np.float32)
    write_geotiff(res / "vel.tif", vel, grid, units="mm/yr")
    write_cum_h5(tmp_path / "run" / "cum.h5", cum=np.zeros((2, *grid.shape), np.float32), imdates=[20200101, 20200113],
                 vel=vel, vintercept=vel, refarea=(0, 5, 0, 5), grid=grid, gap=np.zeros((1, *grid.shape)), bperp=None,
                 mask=np.ones(grid.shape))
    (cog,) = export_cog(tmp_path / "run", tmp_path / "cog")
    with rasterio.open(cog) as src:
        assert src.overviews(1), "a map larger than a 512-px tile gets overviews"
        assert src.block_shapes[0] == (512, 512)
        np.testing.assert_array_equal(src.read(1), vel)
    assert validate_cog(cog) == []
    # the validator is not a rubber stamp: a plain (stripped) GeoTIFF and a non-TIFF fail
    # (the transform written out: rasterio's from_origin multiplies Affines with `*`, which warns)
    with rasterio.open(tmp_path / "plain.tif", "w", driver="GTiff", width=600, height=600, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.001, 0.0, 0.0, 0.0, -0.001, 1.0)) as dst:
        dst.write(np.zeros((600, 600), np.float32), 1)
    assert validate_cog(tmp_path / "plain.tif")
    (tmp_path / "x.tif").write_bytes(b"not a tiff")
    assert validate_cog(tmp_path / "x.tif") == ["not a TIFF file"]


def test_kmz_is_a_valid_kml_zip(run: Any, tmp_path: Path) -> None:
    ctx, out = run
    kmz = export_kmz(out, tmp_path, layer="vel.mskd", vmin=-20, vmax=20)
    with zipfile.ZipFile(kmz) as z:
        assert z.testzip() is None
        assert z.namelist()[0] == "doc.kml"
        root = ElementTree.fromstring(z.read("doc.kml"))
        ns = {"k": "http://www.opengis.net/kml/2.2"}
        assert root.tag == "{http://www.opengis.net/kml/2.2}kml"
        box = root.find(".//k:GroundOverlay/k:LatLonBox", ns)
        assert box is not None
        g = ctx.stack.grid
        x0, dx, _, y0, _, dy = g.transform
        for tag, want in (("north", y0), ("south", y0 + dy * g.height), ("west", x0), ("east", x0 + dx * g.width)):
            assert float(box.find(f"k:{tag}", ns).text) == pytest.approx(want, abs=1e-8)  # type: ignore[union-attr]
        hrefs = [e.text for e in root.iter("{http://www.opengis.net/kml/2.2}href")]
        assert hrefs and all(h in z.namelist() for h in hrefs)
        img = np.asarray(Image.open(io.BytesIO(z.read("vel.mskd.png"))).convert("RGBA"))
    vel = read_raster(out / "results" / "vel.mskd.tif")
    assert img.shape == (*SHAPE, 4)
    np.testing.assert_array_equal(img, colourize(vel, -20, 20, "RdBu_r"))
    assert (img[..., 3][np.isnan(vel)] == 0).all()
    with pytest.raises(ConfigError):
        export_kmz(out, tmp_path, layer="nope")


def test_mintpy_layout_field_by_field(run: Any, tmp_path: Path) -> None:
    ctx, out = run
    ts_path, vel_path, _, _ = export_mintpy(out, tmp_path)
    c = _cum(out)
    g = ctx.stack.grid
    r0, r1, c0, c1 = ctx.result("loops").ref
    with h5py.File(ts_path) as f:
        assert set(f.keys()) == {"timeseries", "date", "bperp"}
        ts = f["timeseries"]
        assert ts.dtype == np.float32 and ts.shape == c["cum"].shape
        ry, rx = int(f.attrs["REF_Y"]), int(f.attrs["REF_X"])  # MintPy's one reference pixel: 0 there
        np.testing.assert_allclose(ts[()], (c["cum"] - c["cum"][:, ry:ry + 1, rx:rx + 1]) / 1000.0, atol=1e-8,
                                   equal_nan=True)  # metres
        assert f["date"].dtype == np.dtype("S8")
        assert [d.decode() for d in f["date"][()]] == [str(int(x)) for x in c["imdates"]]
        assert f["bperp"].dtype == np.float32 and f["bperp"].shape == (c["cum"].shape[0],)
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        assert a["FILE_TYPE"] == "timeseries" and a["UNIT"] == "m"
        assert (int(a["LENGTH"]), int(a["WIDTH"])) == SHAPE
        assert float(a["X_FIRST"]) == g.transform[0] and float(a["Y_FIRST"]) == g.transform[3]
        assert float(a["X_STEP"]) == g.dx and float(a["Y_STEP"]) == g.dy and a["X_UNIT"] == "degrees"
        assert a["REF_DATE"] == str(int(c["imdates"][0])) == a["START_DATE"]
        assert a["END_DATE"] == str(int(c["imdates"][-1]))
        ry, rx = int(a["REF_Y"]), int(a["REF_X"])
        assert r0 <= ry < r1 and c0 <= rx < c1
        # MintPy's pixel-centre convention: lat = Y_FIRST + (row + 0.5) * Y_STEP
        assert float(a["REF_LAT"]) == pytest.approx(float(a["Y_FIRST"]) + (ry + 0.5) * float(a["Y_STEP"]))
        assert float(a["REF_LON"]) == pytest.approx(g.lon()[rx])
        assert float(a["WAVELENGTH"]) == pytest.approx(ctx.stack.wavelength)
        assert a["EPSG"] == "4326" and a["PROCESSOR"] == "kansho"
    with h5py.File(vel_path) as f:
        assert {"velocity", "velocityStd", "intercept"} <= set(f.keys())
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        assert a["FILE_TYPE"] == "velocity" and a["UNIT"] == "m/year"
        assert a["DATE12"] == f"{c['imdates'][0]}_{c['imdates'][-1]}"
        vel = read_raster(out / "results" / "vel.tif")
        np.testing.assert_allclose(f["velocity"][()], (vel - vel[ry, rx]) / 1000.0, atol=1e-8, equal_nan=True)
        np.testing.assert_allclose(f["velocityStd"][()], read_raster(out / "results" / "vstd.tif") / 1000.0,
                                   rtol=1e-6, equal_nan=True)


def test_cf_netcdf_of_the_cube(run: Any, tmp_path: Path) -> None:
    import xarray as xr

    ctx, out = run
    nc = export_netcdf(out, tmp_path)
    c = _cum(out)
    g = ctx.stack.grid
    with xr.open_dataset(nc, engine=netcdf_engine()) as ds:
        assert ds.attrs["Conventions"] == "CF-1.8"
        d = ds["displacement"]
        assert d.dims == ("time", "lat", "lon") and d.attrs["units"] == "mm" and d.attrs["grid_mapping"] == "crs"
        np.testing.assert_allclose(d.values, c["cum"], equal_nan=True)
        np.testing.assert_allclose(ds["displacement_filtered"].values, _cum(out, "cum_filt.h5")["cum"], equal_nan=True)
        assert [int(t.strftime("%Y%m%d")) for t in ds.indexes["time"]] == [int(x) for x in c["imdates"]]
        np.testing.assert_allclose(ds["lat"].values, g.lat())
        np.testing.assert_allclose(ds["lon"].values, g.lon())
        assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["standard_name"] == "longitude"
        assert ds["crs"].attrs["grid_mapping_name"] == "latitude_longitude"
        assert ds["velocity"].attrs["units"] == "mm/yr"
        np.testing.assert_allclose(ds["velocity"].values, read_raster(out / "results" / "vel.tif"), equal_nan=True)
    with h5py.File(nc) as f:  # a NetCDF-4 file: HDF5 with dimension scales and CF time units
        units = f["time"].attrs["units"]
        assert (units.decode() if isinstance(units, bytes) else units).startswith("days since ")
        assert "_NCProperties" in f.attrs or "CLASS" in f["time"].attrs


def test_csv_of_points(run: Any, tmp_path: Path) -> None:
    ctx, out = run
    g = ctx.stack.grid
    p = export_csv(out, tmp_path, lonlat=[(g.lon()[12], g.lat()[40])], pixels=[(30, 31)])
    rows = list(csv.DictReader(p.read_text().splitlines()))
    c = _cum(out)
    n = c["cum"].shape[0]
    assert len(rows) == 2 * n
    for k, (r, col) in enumerate(((40, 12), (30, 31)), start=1):
        mine = [x for x in rows if x["point"] == str(k)]
        assert {(int(x["row"]), int(x["col"])) for x in mine} == {(r, col)}
        want = c["cum"][:, r, col]
        got = np.array([float(x["cum_mm"]) if x["cum_mm"] else np.nan for x in mine])
        np.testing.assert_allclose(got, want, atol=1e-3, equal_nan=True)
        assert [int(x["date"]) for x in mine] == [int(d) for d in c["imdates"]]
    with pytest.raises(ConfigError, match="outside"):
        export_csv(out, tmp_path, pixels=[(60, 0)])
    with pytest.raises(ConfigError, match="needs points"):
        export_csv(out, tmp_path)


def test_cli_export(run: Any, tmp_path: Path) -> None:
    _, out = run
    r = subprocess.run([sys.executable, "-m", "kansho.cli", "export", str(out), "-f", "kmz,csv,mintpy",
                        "--pixel", "30,31", "-o", str(tmp_path / "x")],
                       check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in (tmp_path / "x").iterdir()} == {"vel.mskd.kmz", "points.csv", "timeseries.h5",
                                                           "velocity.h5", "geometryGeo.h5", "maskTempCoh.h5"}
    r = subprocess.run([sys.executable, "-m", "kansho.cli", "export", str(out), "-f", "shapefile", "-o",
                        str(tmp_path / "y")], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "shapefile" in r.stderr
