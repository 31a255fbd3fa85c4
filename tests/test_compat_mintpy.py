"""MintPy export: the four files MintPy's own geocoded products have (timeseries, velocity,
geometryGeo, maskTempCoh), the reference pixel at exactly 0, the angles from the LOS vector, the
CSV refusal before anything is written, and (when MintPy is installed) MintPy's own readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from tests._shared import FinishedRun

from kansho.errors import ConfigError
from kansho.export import export_many
from kansho.export_mintpy import export_mintpy, mintpy_angles, reference_pixel
from kansho.run import open_run


@pytest.fixture(scope="module")
def exported(small_run: FinishedRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    dest = tmp_path_factory.mktemp("mintpy")
    export_mintpy(small_run.out, dest)
    return small_run.out, dest


def _attrs(f: h5py.File) -> dict[str, Any]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def test_four_files_referenced_to_one_pixel(exported: tuple[Path, Path]) -> None:
    out, dest = exported
    run = open_run(out)
    assert sorted(p.name for p in dest.iterdir()) == ["geometryGeo.h5", "maskTempCoh.h5", "timeseries.h5",
                                                      "velocity.h5"]
    cube = run.read_cube()
    vel = run.read_map("vel")
    r0, r1, c0, c1 = run.refarea  # type: ignore[misc]
    # the expected pixel, found independently: inside the area, valid, nearest its centre
    cy, cx = (r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2
    valid = [(r, c) for r in range(r0, r1) for c in range(c0, c1)
             if np.isfinite(vel[r, c]) and np.isfinite(cube[:, r, c]).all()]
    ry, rx = min(valid, key=lambda p: ((p[0] - cy) ** 2 + (p[1] - cx) ** 2, p))
    with h5py.File(dest / "timeseries.h5") as f:
        a = _attrs(f)
        assert (int(a["REF_Y"]), int(a["REF_X"])) == (ry, rx)
        ts = f["timeseries"][()]
        assert (ts[:, ry, rx] == 0).all()  # exactly, not about
        # float32 rounding: 0.01 µm
        np.testing.assert_allclose(ts, (cube - cube[:, ry:ry + 1, rx:rx + 1]) / 1000, atol=1e-8, equal_nan=True)
        # the area mean, which Kansho sets to 0, is not 0 at the pixel: the shift was needed
        assert np.abs(cube[1:, ry, rx]).max() > 0
        assert float(a["REF_LAT"]) == pytest.approx(run.grid.lat()[ry])
    with h5py.File(dest / "velocity.h5") as f:
        v = f["velocity"][()]
        assert v[ry, rx] == 0 and _attrs(f)["REF_Y"] == str(ry)
        np.testing.assert_allclose(v, (vel - vel[ry, rx]) / 1000, atol=1e-8, equal_nan=True)
        np.testing.assert_allclose(f["velocityStd"][()], run.read_map("vstd") / 1000, rtol=1e-6, equal_nan=True)


def test_geometry_and_mask(exported: tuple[Path, Path]) -> None:
    out, dest = exported
    run = open_run(out)
    e, n, u = run.los()
    with h5py.File(dest / "geometryGeo.h5") as f:
        a = _attrs(f)
        assert a["FILE_TYPE"] == "geometry" and (int(a["LENGTH"]), int(a["WIDTH"])) == run.grid.shape
        assert {"height", "incidenceAngle", "azimuthAngle"} <= set(f)
        np.testing.assert_array_equal(f["height"][()], np.asarray(run.stack.read2d("hgt"), np.float32))
        inc, az = np.radians(f["incidenceAngle"][()]), np.radians(f["azimuthAngle"][()])
    # MintPy's ENU -> LOS projection with these angles gives back the LOS unit vector
    np.testing.assert_allclose(-np.sin(inc) * np.sin(az), e, atol=1e-5)
    np.testing.assert_allclose(np.sin(inc) * np.cos(az), n, atol=1e-5)
    np.testing.assert_allclose(np.cos(inc), u, atol=1e-5)
    with h5py.File(dest / "maskTempCoh.h5") as f:
        assert _attrs(f)["FILE_TYPE"] == "mask" and f["mask"].dtype == bool
        np.testing.assert_array_equal(f["mask"][()], run.mask())


def test_angles_of_known_geometries() -> None:
    # Sentinel-1 ascending: ground -> satellite points west (and a little south), 39 deg incidence
    inc0, az0 = np.radians(39.0), np.radians(102.0)
    e, n, u = -np.sin(inc0) * np.sin(az0), np.sin(inc0) * np.cos(az0), np.cos(inc0)
    inc, az = mintpy_angles(np.array([e]), np.array([n]), np.array([u]))
    assert inc[0] == pytest.approx(39.0, abs=1e-4) and az[0] == pytest.approx(102.0, abs=1e-4)
    assert e < 0 and n < 0  # west and south of the target's zenith: an ascending pass looking east
    inc, az = mintpy_angles(np.array([0.0]), np.array([0.0]), np.array([1.0]))
    assert inc[0] == 0.0


def test_reference_pixel_outside_an_empty_area(small_run: FinishedRun) -> None:
    run = open_run(small_run.out)
    vel = run.read_map("vel").copy()
    r0, r1, c0, c1 = run.refarea  # type: ignore[misc]
    vel[r0:r1, c0:c1] = np.nan  # no valid pixel in the area: the nearest valid one outside
    r, c = reference_pixel(run, vel)
    assert not (r0 <= r < r1 and c0 <= c < c1) and np.isfinite(vel[r, c])
    assert max(r0 - r, r - r1 + 1, c0 - c, c - c1 + 1) == 1  # right beside the area


def test_csv_without_points_is_refused_before_anything_is_written(small_run: FinishedRun, tmp_path: Path) -> None:
    dest = tmp_path / "x"
    with pytest.raises(ConfigError, match=r"csv needs points.*nothing was written"):
        export_many(small_run.out, ["netcdf", "csv"], dest)
    assert not dest.exists()
    # with 'all' it is left out (a note in the log) and the rest is written
    r = subprocess.run([sys.executable, "-m", "kansho.cli", "export", str(small_run.out), "-f", "kmz,csv", "-o",
                        str(dest)], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "csv needs points" in r.stderr and "Traceback" not in r.stderr
    assert not dest.exists()
    done = export_many(small_run.out, ["kmz", "csv"], dest, all_formats=True, layer="vel")
    assert [name for name, _ in done] == ["kmz"] and (dest / "vel.kmz").is_file()


def test_mintpy_reads_the_export(exported: tuple[Path, Path]) -> None:
    pytest.importorskip("mintpy", reason="MintPy is not installed (pip install mintpy) - its readers are not run")
    from mintpy.utils import readfile

    out, dest = exported
    run = open_run(out)
    data, atr = readfile.read(str(dest / "timeseries.h5"))
    assert data.shape == (run.dates.size, *run.grid.shape) and atr["FILE_TYPE"] == "timeseries"
    assert (data[:, int(atr["REF_Y"]), int(atr["REF_X"])] == 0).all()
    vel, atr = readfile.read(str(dest / "velocity.h5"), datasetName="velocity")
    assert vel[int(atr["REF_Y"]), int(atr["REF_X"])] == 0 and atr["UNIT"] == "m/year"
    from mintpy.utils import utils0

    inc, _ = readfile.read(str(dest / "geometryGeo.h5"), datasetName="incidenceAngle")
    az, _ = readfile.read(str(dest / "geometryGeo.h5"), datasetName="azimuthAngle")
    # MintPy's own ENU -> LOS unit vector from our angles is the run's LOS vector
    enu = utils0.get_unit_vector4component_of_interest(inc, az, comp="enu2los")
    for mine, theirs in zip(run.los(), enu, strict=True):
        np.testing.assert_allclose(theirs, mine, atol=1e-5)
    mask, atr = readfile.read(str(dest / "maskTempCoh.h5"))
    assert atr["FILE_TYPE"] == "mask" and mask.dtype == bool
    dates = readfile.get_slice_list(str(dest / "timeseries.h5"))
    assert [d.split("-")[-1] for d in dates] == [str(int(d)) for d in run.dates]
    r = subprocess.run([sys.executable, "-m", "mintpy.cli.info", str(dest / "velocity.h5")], check=False,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "velocity" in r.stdout
