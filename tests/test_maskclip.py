"""Mask (Step 0-4) and clip (Step 0-5) change the stack and the results only where they should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho import run_timeseries
from kansho.config import IngestConfig, InvertConfig, LoopsConfig, RunConfig
from kansho.errors import ConfigError, InputError
from kansho.grid import Grid
from kansho.io.vector import read_polygons
from kansho.prep import lonlat_window, pixel_window, polygon_mask
from kansho.synth import SimConfig, simulate_frame


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("msim")
    truth = simulate_frame(d, SimConfig(shape=(48, 48), n_epoch=14, interval_days=24, n_unw_errors=0, gap=False),
                           rng=21)
    base = run_timeseries(d / "GEOC", tmp_path_factory.mktemp("base"), RunConfig(), progress=False,
                          steps=["ingest"])
    return d, truth, base


def _ingest(d: Path, out: Path, **kw: Any) -> Any:
    return run_timeseries(d / "GEOC", out, RunConfig(ingest=IngestConfig(**kw)), progress=False, steps=["ingest"])


def _arr(ctx: Any, name: str) -> np.ndarray:
    return np.asarray(ctx.stack.group[name][:])


def test_clip_box_and_lonlat_give_the_window(sim: Any, tmp_path: Path) -> None:
    d, truth, base = sim
    c = _ingest(d, tmp_path / "c", clip_box="5:30/10:40")
    assert c.stack.shape == (30, 25)
    assert c.stack.grid.matches(truth.grid.window(slice(10, 40), slice(5, 30)))
    for k in ("unw", "coh"):
        np.testing.assert_array_equal(_arr(c, k), _arr(base, k)[:, 10:40, 5:30])
    for k in ("los_u", "hgt"):
        np.testing.assert_array_equal(_arr(c, k), _arr(base, k)[10:40, 5:30])
    assert c.stack.attrs["prep"]["clip"]["rows"] == [10, 40]
    # the same window as a lon/lat box through its pixel centres
    lon, lat = truth.grid.lon(), truth.grid.lat()
    box = f"{lon[5]}/{lon[29]}/{lat[39]}/{lat[10]}"
    c2 = _ingest(d, tmp_path / "c2", clip_lonlat=box)
    np.testing.assert_array_equal(_arr(c2, "unw"), _arr(c, "unw"))


def test_mask_box_blanks_only_inside(sim: Any, tmp_path: Path) -> None:
    d, _, base = sim
    m = _ingest(d, tmp_path / "m", mask_box="0:10/0:48 30:40/20:25")
    u, u0 = _arr(m, "unw"), _arr(base, "unw")
    inside = np.zeros((48, 48), bool)
    inside[0:48, 0:10] = True
    inside[20:25, 30:40] = True
    assert np.isnan(u[:, inside]).all()
    np.testing.assert_array_equal(u[:, ~inside], u0[:, ~inside])
    assert m.stack.shape == base.stack.shape
    assert m.stack.attrs["prep"]["mask"]["n_blanked"] == int(inside.sum())


def test_polygon_mask_and_clip(sim: Any, tmp_path: Path) -> None:
    d, truth, base = sim
    g = truth.grid
    lon, lat = g.lon(), g.lat()
    # a triangle over the frame's centre
    tri = [[lon[10], lat[10]], [lon[40], lat[10]], [lon[25], lat[40]], [lon[10], lat[10]]]
    poly = tmp_path / "tri.geojson"
    poly.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [tri]}}]}))
    inside = polygon_mask(read_polygons(poly), g)
    assert 200 < inside.sum() < 600  # about half of the 30 x 30 box
    m = _ingest(d, tmp_path / "m", mask_polygon=str(poly))
    u, u0 = _arr(m, "unw"), _arr(base, "unw")
    assert np.isnan(u[:, inside]).all()
    np.testing.assert_array_equal(u[:, ~inside], u0[:, ~inside])
    c = _ingest(d, tmp_path / "c", clip_polygon=str(poly))
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    assert c.stack.shape == (rows.size, cols.size)
    uc = _arr(c, "unw")
    ins = inside[win]
    assert np.isnan(uc[:, ~ins]).all()  # outside the polygon but inside its bounding box: blanked
    np.testing.assert_array_equal(uc[:, ins], u0[:, win[0], win[1]][:, ins])


def test_mask_changes_results_only_where_it_should(sim: Any, tmp_path: Path) -> None:
    """With the same reference area, masking a block leaves the velocity elsewhere unchanged. The
    gap bridge's model and the unwrapping correction are fixed: ``invert.model auto`` chooses the
    model per region (a few km), and ``loops.pixel_errors`` judges loops referred to the loop
    closure's preliminary window, which the mask may move; both couple a pixel to others by design. So
    do the epochs' weights (measured over the frame's pixels): equal here."""
    d, _, _ = sim
    cfg0 = RunConfig(loops=LoopsConfig(ref="40:45/40:45", pixel_errors="off"),
                     invert=InvertConfig(model="linear", epoch_weight="off"))
    steps = ["ingest", "qc", "loops", "invert", "vstd"]
    a = run_timeseries(d / "GEOC", tmp_path / "a", cfg0, progress=False, steps=steps)
    cfg1 = RunConfig(loops=LoopsConfig(ref="40:45/40:45", pixel_errors="off"),
                     ingest=IngestConfig(mask_box="0:15/0:15"), invert=InvertConfig(model="linear", epoch_weight="off"))
    b = run_timeseries(d / "GEOC", tmp_path / "b", cfg1, progress=False, steps=steps)
    assert a.result("qc").keep == b.result("qc").keep
    va, vb = a.read2d("vel"), b.read2d("vel")
    inside = np.zeros(va.shape, bool)
    inside[:15, :15] = True
    assert np.isnan(vb[inside]).all() and np.isfinite(va[inside]).mean() > 0.5
    # per-pixel inversions with the same pairs and reference: identical outside (float32 rounding)
    np.testing.assert_allclose(vb[~inside], va[~inside], atol=1e-4, rtol=0)


def test_bad_boxes_and_polygons(sim: Any, tmp_path: Path) -> None:
    d, _, _ = sim
    with pytest.raises(ConfigError, match="outside the 48 x 48 grid"):
        _ingest(d, tmp_path / "x", clip_box="100:120/0:10")
    with pytest.raises(ConfigError, match="contains no pixel centre"):
        _ingest(d, tmp_path / "y", mask_lonlat="0/1/0/1")
    with pytest.raises(ConfigError, match="blank every pixel"):
        _ingest(d, tmp_path / "z", mask_box="0:48/0:48")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not a GeoJSON file") as e:
        _ingest(d, tmp_path / "w", mask_polygon=str(bad))
    assert "\n" not in str(e.value)
    bad.write_text(json.dumps({"type": "Point", "coordinates": [1, 2]}))
    with pytest.raises(InputError, match="no Polygon"):
        read_polygons(bad)
    with pytest.raises(InputError, match="polygon file not found"):
        read_polygons(tmp_path / "absent.geojson")
    with pytest.raises(ValueError):
        IngestConfig(mask_box="1/2/3/4")


@settings(max_examples=60, deadline=None)
@given(x1=st.integers(-5, 30), w=st.integers(1, 30), y1=st.integers(-5, 20), h=st.integers(1, 20))
def test_pixel_and_lonlat_windows_agree(x1: int, w: int, y1: int, h: int) -> None:
    """A lon/lat box through pixel centres selects the same pixels as the pixel box (inside the grid)."""
    g = Grid(25, 15, (130.0, 0.01, 0.0, 35.0, 0.0, -0.01))
    try:
        rows, cols = pixel_window((x1, x1 + w, y1, y1 + h), g.shape)
    except ValueError:
        assert x1 + w <= 0 or x1 >= 25 or y1 + h <= 0 or y1 >= 15
        return
    lon, lat = g.lon(), g.lat()
    box = (lon[cols.start], lon[cols.stop - 1], lat[rows.stop - 1], lat[rows.start])
    assert lonlat_window(box, g) == (rows, cols)
    assert rows.stop - rows.start == min(y1 + h, 15) - max(y1, 0)


@pytest.mark.usefixtures("no_figures")  # the results' grid only
def test_results_grid_of_a_clipped_run_is_the_window(sim: Any, tmp_path: Path) -> None:
    d, truth, _ = sim
    cfg = RunConfig(ingest=IngestConfig(clip_box="8:40/4:36"))
    ctx = run_timeseries(d / "GEOC", tmp_path / "o", cfg, progress=False)
    with rasterio.open(ctx.out / "results" / "vel.tif") as src:
        assert (src.height, src.width) == (32, 32)
        assert np.allclose(src.transform.to_gdal(), truth.grid.window(slice(4, 36), slice(8, 40)).transform)
