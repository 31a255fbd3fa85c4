"""Input discovery and validation: synthetic LiCSAR / GeoTIFF-pair folders and the real Mexico stack."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.io.inputs import (
    LAYOUT_GEOTIFF_PAIRS,
    LAYOUT_LICSAR,
    S1_WAVELENGTH_M,
    InputSet,
    PairFiles,
    discover_inputs,
    los_from_angles,
    read_baselines,
    read_metadata_txt,
    validate_inputs,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
MEXICO = REAL / "mexico_city_s1" / "geotiffs"

GRID = Grid(8, 6, (10.0, 0.01, 0.0, 20.0, 0.0, -0.01))
FRAME = "124D_04854_171313"
PAIRS = [("20180101", "20180113"), ("20180113", "20180125"), ("20180101", "20180125"), ("20180125", "20180206")]


def _tif(path: Path, grid: Grid = GRID, dtype: type = np.float32, value: float = 1.0) -> Path:
    return write_geotiff(path, np.full(grid.shape, value, dtype=dtype), grid)


def make_licsar(
    root: Path,
    pairs: list[tuple[str, str]] = PAIRS,
    *,
    cc: bool = True,
    geometry: bool = True,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for d1, d2 in pairs:
        name = f"{d1}_{d2}"
        (root / name).mkdir()
        _tif(root / name / f"{name}.geo.unw.tif", value=0.5)
        if cc:
            _tif(root / name / f"{name}.geo.cc.tif", dtype=np.uint8, value=200)
    if geometry:
        for key, val in (("E", -0.6), ("N", -0.1), ("U", 0.77), ("hgt", 100.0)):
            _tif(root / f"{FRAME}.geo.{key}.tif", value=val)
    return root


def assert_one_line(exc: pytest.ExceptionInfo[InputError], *fragments: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


# ----------------------------------------------------------------------------------------------
# LiCSAR layout: discovery
# ----------------------------------------------------------------------------------------------
def test_licsar_discovery(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    s = discover_inputs(geoc)
    assert isinstance(s, InputSet)
    assert s.layout == LAYOUT_LICSAR
    assert s.root == geoc
    assert [(p.date1, p.date2) for p in s.pairs] == [
        (20180101, 20180113),
        (20180101, 20180125),
        (20180113, 20180125),
        (20180125, 20180206),
    ]
    assert all(isinstance(p, PairFiles) and p.cc is not None for p in s.pairs)
    assert s.pairs[0].unw == geoc / "20180101_20180113" / "20180101_20180113.geo.unw.tif"
    assert s.pairs[0].name == "20180101_20180113"
    assert s.epochs.tolist() == [20180101, 20180113, 20180125, 20180206]
    assert s.grid.matches(GRID) and s.grid.shape == (6, 8)
    assert s.geometry == {k: geoc / f"{FRAME}.geo.{k}.tif" for k in ("E", "N", "U", "hgt")}
    assert s.wavelength == pytest.approx(S1_WAVELENGTH_M)
    assert s.bperp == {}
    assert s.los == {}
    assert s.has_coherence
    validate_inputs(s)


def test_licsar_parent_folder_and_metadata_subfolder(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "frame" / "GEOC", geometry=False)
    meta = tmp_path / "frame" / "metadata"
    meta.mkdir()
    for key in ("E", "N", "U", "hgt"):
        _tif(meta / f"{FRAME}.geo.{key}.tif")
    s = discover_inputs(tmp_path / "frame")
    assert s.root == geoc
    assert s.geometry["U"] == meta / f"{FRAME}.geo.U.tif"
    validate_inputs(s)


def test_licsar_missing_geometry_gives_none(tmp_path: Path) -> None:
    s = discover_inputs(make_licsar(tmp_path / "GEOC", geometry=False))
    assert s.geometry == {"E": None, "N": None, "U": None, "hgt": None}
    validate_inputs(s)


def test_licsar_metadata_txt_and_constant_los(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC", geometry=False)
    (geoc / "metadata.txt").write_text(
        "master=20180113\ncenter_time=05:02:56.891\nheading=-169.9\navg_incidence_angle=39.0\n"
        "radar_frequency=5405000500.0\n"
    )
    s = discover_inputs(geoc)
    assert s.wavelength == pytest.approx(299792458.0 / 5405000500.0)
    assert s.metadata["heading_deg"] == pytest.approx(-169.9)
    assert s.metadata["incidence_deg"] == pytest.approx(39.0)
    assert s.metadata["center_time"] == "05:02:56.891"
    assert s.metadata["metadata_txt"]["master"] == "20180113"  # type: ignore[index]
    # descending track: satellite to the east of the ground → E > 0, N < 0 (small), U = cos(inc)
    assert s.los["U"] == pytest.approx(math.cos(math.radians(39.0)))
    assert s.los["E"] > 0.6 and -0.2 < s.los["N"] < 0
    assert sum(v * v for v in s.los.values()) == pytest.approx(1.0)


def test_metadata_wavelength_key_wins(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    (geoc / "metadata.txt").write_text("wavelength=0.2360571\nradar_frequency=5.405e9\n")
    s = discover_inputs(geoc)
    assert s.wavelength == pytest.approx(0.2360571)
    assert "metadata.txt" in str(s.metadata["wavelength_source"])


def test_read_metadata_txt(tmp_path: Path) -> None:
    p = tmp_path / "metadata.txt"
    p.write_text("# comment\nMaster=20180101\n\nheading: -10.5\nbad line\n")
    assert read_metadata_txt(p) == {"master": "20180101", "heading": "-10.5"}


def test_los_from_angles_ascending() -> None:
    los = los_from_angles(39.7, -12.27)
    assert los["E"] < -0.6 and los["N"] < 0 and los["U"] == pytest.approx(math.cos(math.radians(39.7)))
    assert sum(v * v for v in los.values()) == pytest.approx(1.0)
    assert los_from_angles(39.7, None).keys() == {"U"}


# ----------------------------------------------------------------------------------------------
# Baselines
# ----------------------------------------------------------------------------------------------
def test_licsar_baselines_four_columns(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    (geoc / "baselines").write_text(
        "20180113 20180101 -35.2 -12\n20180113 20180113 0.0 0\n20180113 20180125 41.5 12\n20180113 20180206 -3.0 24\n"
    )
    s = discover_inputs(geoc)
    assert s.bperp == {20180101: -35.2, 20180113: 0.0, 20180125: 41.5, 20180206: -3.0}


def test_baselines_three_columns_single_reference(tmp_path: Path) -> None:
    p = tmp_path / "baselines"
    p.write_text("20180101 20180113 10.0\n20180101 20180125 -5.5\n")
    assert read_baselines(p) == {20180101: 0.0, 20180113: 10.0, 20180125: -5.5}


def test_baselines_per_pair_are_inverted_to_epochs(tmp_path: Path) -> None:
    p = tmp_path / "baselines"
    truth = {20180101: 0.0, 20180113: 30.0, 20180125: -20.0, 20180206: 5.0}
    lines = []
    for d1, d2 in [(20180101, 20180113), (20180113, 20180125), (20180101, 20180125), (20180125, 20180206)]:
        lines.append(f"{d1} {d2} {truth[d2] - truth[d1]:.3f}")
    p.write_text("\n".join(lines) + "\n")
    got = read_baselines(p)
    assert got.keys() == truth.keys()
    for k, v in truth.items():
        assert got[k] == pytest.approx(v, abs=1e-9)
    p.write_text("20180101_20180113 30.0\n20180113_20180125 -50.0\n")
    assert read_baselines(p) == pytest.approx({20180101: 0.0, 20180113: 30.0, 20180125: -20.0})


def test_baselines_old_nine_columns(tmp_path: Path) -> None:
    p = tmp_path / "baselines"
    p.write_text(
        "  1 20170218 20170326 96.6 36.0 -12.0 24.0 34.2 130.9\n  2 20170302 20170314 32.4 12.0 0.0 12.0 0.0 32.4\n"
    )
    assert read_baselines(p) == {20170218: 34.2, 20170302: 0.0, 20170314: 32.4, 20170326: 130.9}


def test_baselines_malformed_line(tmp_path: Path) -> None:
    p = tmp_path / "baselines"
    p.write_text("20180101 20180113 10.0\nnot a baseline line\n")
    with pytest.raises(InputError) as exc:
        read_baselines(p)
    assert_one_line(exc, str(p), "line 2")


# ----------------------------------------------------------------------------------------------
# LiCSAR layout: every error case
# ----------------------------------------------------------------------------------------------
def test_error_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        discover_inputs(tmp_path / "nope")
    assert_one_line(exc, "nope", "not found")


def test_error_not_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(InputError) as exc:
        discover_inputs(f)
    assert_one_line(exc, "file.txt", "not a folder")


def test_error_no_pairs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(InputError) as exc:
        discover_inputs(tmp_path / "empty")
    assert_one_line(exc, "empty", "no interferogram pairs")


def test_error_missing_unw(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    (geoc / "20180113_20180125" / "20180113_20180125.geo.unw.tif").unlink()
    with pytest.raises(InputError) as exc:
        discover_inputs(geoc)
    assert_one_line(exc, "20180113_20180125", "20180113_20180125.geo.unw.tif", "missing")


def test_error_missing_cc(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    (geoc / "20180101_20180125" / "20180101_20180125.geo.cc.tif").unlink()
    with pytest.raises(InputError) as exc:
        discover_inputs(geoc)
    assert_one_line(exc, str(geoc / "20180101_20180125"), "20180101_20180125.geo.cc.tif", "missing")


def test_error_not_a_geotiff(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    bad = geoc / "20180113_20180125" / "20180113_20180125.geo.cc.tif"
    bad.write_text("this is not a raster\n")
    s = discover_inputs(geoc)
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    assert_one_line(exc, str(bad), "not a readable GeoTIFF")


def test_error_other_raster_format(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    bad = geoc / "20180113_20180125" / "20180113_20180125.geo.cc.tif"
    bad.unlink()
    profile = {"driver": "PNG", "width": 8, "height": 6, "count": 1, "dtype": "uint8"}
    with rasterio.open(bad, "w", crs="EPSG:4326", transform=Affine.from_gdal(*GRID.transform), **profile) as dst:
        dst.write(np.full((1, 6, 8), 100, np.uint8))
    s = discover_inputs(geoc)
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    assert_one_line(exc, str(bad), "not a GeoTIFF", "PNG")


def test_error_first_unw_not_a_geotiff(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    bad = geoc / "20180101_20180113" / "20180101_20180113.geo.unw.tif"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError) as exc:
        discover_inputs(geoc)
    assert_one_line(exc, str(bad), "not a readable GeoTIFF")


@pytest.mark.parametrize("shape", [(6, 8), (300, 400)])
def test_error_truncated(tmp_path: Path, shape: tuple[int, int]) -> None:
    grid = Grid(shape[1], shape[0], (10.0, 0.001, 0.0, 20.0, 0.0, -0.001))
    geoc = tmp_path / "GEOC"
    rng = np.random.default_rng(1)
    for d1, d2 in PAIRS:
        name = f"{d1}_{d2}"
        (geoc / name).mkdir(parents=True)
        write_geotiff(geoc / name / f"{name}.geo.unw.tif", rng.random(shape, dtype=np.float32), grid)
        write_geotiff(geoc / name / f"{name}.geo.cc.tif", rng.random(shape, dtype=np.float32), grid)
    bad = geoc / "20180113_20180125" / "20180113_20180125.geo.unw.tif"
    data = bad.read_bytes()
    bad.write_bytes(data[: int(len(data) * 0.7)])
    s = discover_inputs(geoc)
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    assert_one_line(exc, str(bad), "truncated")


@pytest.mark.parametrize("cut", [0.97, 0.7])
def test_error_truncated_tiled(tmp_path: Path, cut: float) -> None:
    """A tiled GeoTIFF (LiCSAR's layout: 256-px deflate tiles) cut anywhere, down to within its last tile, is
    refused by the last block read."""
    shape = (600, 700)
    grid = Grid(shape[1], shape[0], (10.0, 0.001, 0.0, 20.0, 0.0, -0.001))
    geoc = tmp_path / "GEOC"
    rng = np.random.default_rng(2)
    prof = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": "float32",
            "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
            "crs": "EPSG:4326", "transform": Affine.from_gdal(*grid.transform)}
    for d1, d2 in PAIRS:
        name = f"{d1}_{d2}"
        (geoc / name).mkdir(parents=True)
        for kind in ("unw", "cc"):
            with rasterio.open(geoc / name / f"{name}.geo.{kind}.tif", "w", **prof) as dst:
                dst.write(rng.random(shape, dtype=np.float32)[None])
    bad = geoc / "20180113_20180125" / "20180113_20180125.geo.unw.tif"
    data = bad.read_bytes()
    bad.write_bytes(data[: int(len(data) * cut)])
    s = discover_inputs(geoc)
    validate_inputs(s, check_files=False)  # the names and the network are fine: the fault is in the file
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    assert_one_line(exc, str(bad), "truncated")


def test_error_different_grid_shape(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    bad = geoc / "20180125_20180206" / "20180125_20180206.geo.cc.tif"
    _tif(bad, grid=Grid(8, 7, GRID.transform), dtype=np.uint8, value=3)
    s = discover_inputs(geoc)
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    first = geoc / "20180101_20180113" / "20180101_20180113.geo.unw.tif"
    assert_one_line(exc, str(bad), str(first), "different grid", "8x7")
    validate_inputs(s, check_grids=False)  # readable, only the grid differs


def test_error_different_grid_origin(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    bad = geoc / f"{FRAME}.geo.hgt.tif"
    shifted = Grid(8, 6, (10.5, 0.01, 0.0, 20.0, 0.0, -0.01))
    _tif(bad, grid=shifted)
    s = discover_inputs(geoc)
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    assert_one_line(exc, str(bad), "20180101_20180113.geo.unw.tif", "different grid", "origin")


@pytest.mark.parametrize("folder", ["20180231_20180305", "20181301_20190105"])
def test_error_invalid_calendar_date(tmp_path: Path, folder: str) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    (geoc / folder).mkdir()
    with pytest.raises(InputError) as exc:
        discover_inputs(geoc)
    assert_one_line(exc, folder, "invalid date", "not a calendar date")


@pytest.mark.parametrize("folder", ["20180206_20180101", "20180113_20180113"])
def test_error_reversed_dates(tmp_path: Path, folder: str) -> None:
    geoc = make_licsar(tmp_path / "GEOC", pairs=[*PAIRS, (folder[:8], folder[9:])])
    with pytest.raises(InputError) as exc:
        discover_inputs(geoc)
    assert_one_line(exc, folder, "reversed or equal dates")


def test_error_network_too_small(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC", pairs=[("20180101", "20180113")])
    s = discover_inputs(geoc)  # discovery itself is fine
    with pytest.raises(InputError) as exc:
        validate_inputs(s)
    assert_one_line(exc, str(geoc), "network too small", "1 pair(s)", "2 epoch(s)")


def test_network_minimum_is_accepted(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC", pairs=[("20180101", "20180113"), ("20180113", "20180125")])
    validate_inputs(discover_inputs(geoc))


def test_ignores_non_pair_folders(tmp_path: Path) -> None:
    geoc = make_licsar(tmp_path / "GEOC")
    (geoc / "metadata").mkdir()
    (geoc / "2018_tmp").mkdir()
    s = discover_inputs(geoc)
    assert s.n_pairs == len(PAIRS)


# ----------------------------------------------------------------------------------------------
# GeoTIFF-pairs layout (synthetic)
# ----------------------------------------------------------------------------------------------
def test_geotiff_pairs_short_dates_and_tokens(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    for a, b in [("180106", "180130"), ("180130", "180223"), ("180106", "180223")]:
        _tif(d / f"ifg_{a}_{b}_unw.tif")
        _tif(d / f"ifg_{a}_{b}_coh.tif", value=0.5)
    _tif(d / "area_hgt.tif", value=10.0)
    _tif(d / "ifg_180106_180130_int.tif")  # wrapped phase: neither unw nor cc → ignored
    s = discover_inputs(d)
    assert s.layout == LAYOUT_GEOTIFF_PAIRS
    assert [p.name for p in s.pairs] == ["20180106_20180130", "20180106_20180223", "20180130_20180223"]
    assert s.pairs[0].cc == d / "ifg_180106_180130_coh.tif"
    assert s.geometry["hgt"] == d / "area_hgt.tif"
    assert s.geometry["E"] is None
    assert s.wavelength is None  # no metadata and no sign of Sentinel-1: the chain asks for --wavelength
    validate_inputs(s)


def test_geotiff_pairs_without_any_coherence(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    for a, b in [("20180106", "20180130"), ("20180130", "20180223"), ("20180106", "20180223")]:
        _tif(d / f"x_{a}-{b}.unw.tif")
    s = discover_inputs(d)
    assert all(p.cc is None for p in s.pairs) and not s.has_coherence
    validate_inputs(s)


def test_geotiff_pairs_partial_coherence_is_an_error(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    for a, b in [("20180106", "20180130"), ("20180130", "20180223"), ("20180106", "20180223")]:
        _tif(d / f"x_{a}-{b}_unw.tif")
        if b != "20180223" or a != "20180130":
            _tif(d / f"x_{a}-{b}_cc.tif")
    with pytest.raises(InputError) as exc:
        discover_inputs(d)
    assert_one_line(exc, "x_20180130-20180223_unw.tif", "coherence missing")


def test_geotiff_pairs_duplicate_pair(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    _tif(d / "ifg_20180106_20180130_unw.tif")
    _tif(d / "ifg_180106_180130_unw.tif")
    _tif(d / "ifg_20180130_20180223_unw.tif")
    with pytest.raises(InputError) as exc:
        discover_inputs(d)
    assert_one_line(exc, "ifg_20180106_20180130_unw.tif", "ifg_180106_180130_unw.tif", "duplicate pair")


def test_geotiff_pairs_invalid_and_reversed_dates(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    _tif(d / "ifg_20180106_20180130_unw.tif")
    _tif(d / "ifg_20180230_20180305_unw.tif")
    with pytest.raises(InputError) as exc:
        discover_inputs(d)
    assert_one_line(exc, "ifg_20180230_20180305_unw.tif", "invalid date")
    (d / "ifg_20180230_20180305_unw.tif").unlink()
    _tif(d / "ifg_20180305_20180130_unw.tif")
    with pytest.raises(InputError) as exc:
        discover_inputs(d)
    assert_one_line(exc, "ifg_20180305_20180130_unw.tif", "reversed")


def test_geotiff_pairs_tags_give_wavelength_and_los(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    pairs = [("20180106", "20180130"), ("20180130", "20180223"), ("20180106", "20180223")]
    for a, b in pairs:
        p = _tif(d / f"x_{a}-{b}_unw.tif")
        with rasterio.open(p, "r+") as dst:
            dst.update_tags(WAVELENGTH_METRES="0.2360571", INCIDENCE_DEGREES="34.0", HEADING="-170.0")
    s = discover_inputs(d)
    assert s.wavelength == pytest.approx(0.2360571)
    assert s.metadata["wavelength_source"] == "GeoTIFF tags wavelength"
    assert s.los == pytest.approx(los_from_angles(34.0, -170.0))


def test_geotiff_pairs_incidence_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    for a, b in [("20180106", "20180130"), ("20180130", "20180223")]:
        p = _tif(d / f"x_{a}-{b}_unw.tif")
        with rasterio.open(p, "r+") as dst:
            dst.update_tags(INCIDENCE_DEGREES="40.0")
    with caplog.at_level("WARNING"):
        s = discover_inputs(d)
    assert s.los == pytest.approx({"U": math.cos(math.radians(40.0))})
    assert "no heading" in caplog.text


# ----------------------------------------------------------------------------------------------
# Real data: the Mexico City Sentinel-1 stack (GAMMA GeoTIFFs from the PyRate test suite)
# ----------------------------------------------------------------------------------------------
needs_mexico = pytest.mark.skipif(
    not MEXICO.is_dir(), reason=f"real data not present at {MEXICO} (shared/ beside the checkout)"
)


@needs_mexico
def test_mexico_discovered_as_geotiff_pairs() -> None:
    unw_files = sorted(MEXICO.glob("*_unw.tif"))
    cc_files = sorted(MEXICO.glob("*_cc.tif"))
    dates = sorted({int(x) for f in unw_files for x in f.name.split("_")[1].split("-")})
    assert len(unw_files) == 30 and len(cc_files) == 30 and len(dates) == 13

    s = discover_inputs(MEXICO)
    assert s.layout == LAYOUT_GEOTIFF_PAIRS
    assert s.root == MEXICO
    assert s.n_pairs == len(unw_files) == 30
    assert s.n_epochs == len(dates) == 13
    assert s.epochs.tolist() == dates
    assert (int(s.epochs[0]), int(s.epochs[-1])) == (20180106, 20180717)
    assert {p.unw for p in s.pairs} == set(unw_files)
    assert {p.cc for p in s.pairs} == set(cc_files)
    for p in s.pairs:
        assert p.cc is not None and f"{p.date1}-{p.date2}" in p.cc.name and f"{p.date1}-{p.date2}" in p.unw.name

    with rasterio.open(unw_files[0]) as src:
        width, height, tags = src.width, src.height, src.tags()
    assert (width, height) == (100, 60)
    assert (s.grid.width, s.grid.height) == (width, height)
    assert s.grid.dx == pytest.approx(0.0013888889) and s.grid.dy == pytest.approx(-0.0013888889)

    assert s.wavelength == pytest.approx(float(tags["WAVELENGTH_METRES"]))
    assert s.wavelength == pytest.approx(0.0555, abs=5e-4)
    assert s.metadata["incidence_deg"] == pytest.approx(39.7, abs=0.05)
    assert s.geometry["hgt"] == MEXICO / "cropA_T005A_dem.tif"
    # The heading comes from the GAMMA headers beside the GeoTIFFs (ascending track T005A).
    if (MEXICO.parent / "headers").is_dir():
        assert s.metadata["heading_deg"] == pytest.approx(-12.27, abs=0.01)
        assert s.los["E"] < 0 and s.los["N"] < 0 and s.los["U"] == pytest.approx(0.769, abs=1e-3)
    validate_inputs(s)


def test_layouts_are_tried_in_a_fixed_order(tmp_path: Path) -> None:
    """The registry's order decides between layouts: a folder with LiCSAR pair folders *and*
    date-named GeoTIFFs is read as LiCSAR, as before the registry existed."""
    from kansho.io.layouts import LAYOUTS

    assert [lay.name for lay in LAYOUTS] == ["licsbas_geoc", "licsar", "geotiff_pairs", "envi"]
    for d1, d2 in PAIRS:
        pair = tmp_path / f"{d1}_{d2}"
        pair.mkdir()
        _tif(pair / f"{d1}_{d2}.geo.unw.tif")
        _tif(pair / f"{d1}_{d2}.geo.cc.tif")
        _tif(tmp_path / f"x_{d1}-{d2}_unw.tif")
    s = discover_inputs(tmp_path)
    assert s.layout == LAYOUT_LICSAR and s.n_pairs == len(PAIRS)
    assert all(p.unw.parent.name == p.name for p in s.pairs)
