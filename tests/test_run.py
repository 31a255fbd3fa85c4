"""``kansho.run.open_run``: typed read access to a finished run, checked against the files themselves."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio

from kansho.config import RunConfig
from kansho.errors import InputError
from kansho.io.geotiff import read_grid, read_raster
from kansho.layout import MAP_UNITS, RESULT_MAPS
from kansho.run import Run, open_run
from kansho.synth import SimConfig, simulate_frame

SIM = {"shape": (40, 40), "n_epoch": 12, "interval_days": 36, "n_unw_errors": 0, "gap": False, "n_missing": 0,
       "n_long_pairs": 1, "n_dropped_pairs": 0}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kansho import run_timeseries

    d = tmp_path_factory.mktemp("run")
    simulate_frame(d / "sim", SimConfig(**SIM), rng=11)
    run_timeseries(d / "sim" / "GEOC", d / "out", RunConfig(), progress=False)  # its return value is not used
    return d / "out"


def test_grid_shape_and_maps(out: Path) -> None:
    run = open_run(out)
    assert run.grid == read_grid(out / "results" / "vel.tif")
    assert run.shape == run.cum_shape == (40, 40)
    assert set(run.layers()) == {p.name[:-4] for p in (out / "results").glob("*.tif")}
    assert set(RESULT_MAPS) <= set(run.layers())
    for name in run.layers():
        assert run.has_map(name) and run.map_path(name) == out / "results" / f"{name}.tif"
        a = run.read_map(name)
        assert a.dtype == np.float32 and a.shape == run.shape
        np.testing.assert_array_equal(a, read_raster(out / "results" / f"{name}.tif"))
    assert Run.units("vel") == MAP_UNITS["vel"] == "mm/yr" and Run.units("unknown") == ""
    mask = run.mask()
    assert mask is not None and mask.dtype == bool
    np.testing.assert_array_equal(mask, read_raster(out / "results" / "mask.tif") == 1)
    with pytest.raises(InputError, match="no 'nonexistent' map"):
        run.read_map("nonexistent")


def test_series_and_reference(out: Path) -> None:
    run = open_run(out)
    with h5py.File(out / "cum.h5", "r") as f:
        imdates = np.asarray(f["imdates"][()], np.int64)
        vel_h5 = np.asarray(f["vel"][()], np.float32)
        cum = np.asarray(f["cum"][()], np.float32)
        bperp = np.asarray(f["bperp"][()])
    np.testing.assert_array_equal(run.dates, imdates)
    assert run.dates.size == SIM["n_epoch"]
    ok = np.isfinite(vel_h5)
    assert ok.any()
    np.testing.assert_array_equal(run.read_map("vel")[ok], vel_h5[ok])
    # info/12ref.txt holds the reference area as 'x1:x2/y1:y2' (columns, then rows, end-exclusive)
    first = (out / "info" / "12ref.txt").read_text().splitlines()[0]
    cols, rows = first.split("/")
    c0, c1 = (int(v) for v in cols.split(":"))
    r0, r1 = (int(v) for v in rows.split(":"))
    assert run.refarea == (r0, r1, c0, c1)
    np.testing.assert_array_equal(run.read_cube(), cum)
    np.testing.assert_array_equal(run.cum_dataset("bperp"), bperp)
    assert run.cum_dataset("no_such_dataset") is None
    px = [(5, 7), (r0, c0)]
    np.testing.assert_array_equal(run.cum_pixels(px), np.stack([cum[:, r, c] for r, c in px]).astype(np.float64))
    assert run.has_filt and run.cum_path(filtered=True) == out / "cum_filt.h5"
    with run.cum_reader(filtered=True) as r:
        np.testing.assert_array_equal(r.imdates, imdates)


def test_records(out: Path) -> None:
    run = open_run(out)
    used = [line.split()[5] == "yes" for line in (out / "info" / "11ifg_stats.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert run.n_pair_used == sum(used) > 0
    assert run.n_pair == len(used)
    assert run.has_state and {"ingest", "loops", "invert", "outputs"} <= set(run.steps_done())
    assert set(run.timings) == set(run.steps_done()) and all(v >= 0 for v in run.timings.values())
    assert run.config() == RunConfig()
    assert run.info_text("ref").splitlines()[0] == (out / "info" / "12ref.txt").read_text().splitlines()[0]
    assert run.info_text("no_loop_ifg", missing_ok=True) == (
        (out / "info" / "12no_loop_ifg.txt").read_text() if (out / "info" / "12no_loop_ifg.txt").is_file() else "")


def test_stack_and_los(out: Path) -> None:
    run = open_run(out)
    wl = run.wavelength
    assert wl is not None and 0.01 < wl < 0.3
    e, n, u = run.los()
    assert e.shape == n.shape == u.shape == run.shape
    norm = np.sqrt(e**2 + n**2 + u**2)
    np.testing.assert_allclose(norm[np.isfinite(norm)], 1.0, atol=1e-4)
    with rasterio.open(out / "results" / "vel.tif") as src:
        assert run.read2d("vel").shape == (src.height, src.width)


def test_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        open_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no cum\.h5"):
        open_run(tmp_path / "empty")
    run = open_run(tmp_path / "empty", need_cum=False)
    assert run.layers() == [] and run.mask() is None and run.state == {} and not run.has_state
    assert run.n_pair == run.n_pair_used == 0 and run.wavelength is None
    with pytest.raises(InputError, match="not in this run"):
        run.info_text("ref")
    assert run.info_text("ref", missing_ok=True) == ""


def test_viewer_reference_syntaxes(out: Path) -> None:
    """The viewer wraps a Run; its ``ref`` takes the run options' syntax and the page's 'r0:r1,c0:c1' alike."""
    from kansho.viewer.data import RunData, ViewerError, parse_ref

    data = RunData(open_run(out))
    g = data.grid
    assert parse_ref("3:5/10:12", data.shape) == parse_ref("10:12,3:5", data.shape) == (10, 12, 3, 5)
    lon, lat = g.lon(), g.lat()
    box = f"{lon[3]}/{lon[4]}/{lat[11]}/{lat[10]}"
    assert parse_ref(box, data.shape, g) == (10, 12, 3, 5)
    assert parse_ref(None, data.shape) is None and parse_ref("run", data.shape) is None
    for bad in ("5:3/1:2", "0:200/0:2", "a,b", "1:2"):
        with pytest.raises(ViewerError):
            parse_ref(bad, data.shape, g)
    a = data.series(20, 20, parse_ref("3:5/10:12", data.shape))
    b = data.series(20, 20, parse_ref("10:12,3:5", data.shape))
    np.testing.assert_array_equal(a.cum, b.cum)
    data.close()


def test_export_registry_takes_an_open_run(out: Path, tmp_path: Path) -> None:
    from kansho.export import FORMATS, export

    assert list(FORMATS) == ["cog", "kmz", "mintpy", "netcdf", "csv", "licsbas"]
    assert [f.name for f in FORMATS.values() if f.needs_points] == ["csv"]
    run = open_run(out)
    (path,) = export(run, "csv", tmp_path, pixels=[(20, 20)], lonlat=[])
    rows = path.read_text().splitlines()
    assert len(rows) == 1 + run.dates.size
    cum = run.cum_pixels([(20, 20)])[0]
    assert [float(r.split(",")[7]) for r in rows[1:]] == pytest.approx(cum, abs=1e-4)
