"""Readers for other processors feed the same stack store: LiCSBAS GEOCml, ENVI/ROI_PAC, GeoTIFF pairs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from kansho import run_timeseries
from kansho.config import RunConfig
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.inputs import (
    LAYOUT_ENVI,
    LAYOUT_GEOTIFF_PAIRS,
    LAYOUT_LICSAR,
    LAYOUT_LICSBAS_GEOC,
    discover_inputs,
    validate_inputs,
)
from kansho.io.licsbas_geoc import geocml_grid
from kansho.store import create_stack
from kansho.synth import SimConfig, simulate_frame

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real")
MEXICO = REAL / "mexico_city_s1" / "geotiffs"
CAMPI = REAL / "campi_flegrei_licsbas"


def _read(p: Path) -> np.ndarray:
    with rasterio.open(p) as src:
        return src.read(1)


def write_geocml(geoc: Path, out: Path, wavelength: float, *, cc_float: bool = False) -> Path:
    """A LiCSBAS step-02 style GEOCml folder from a LiCSAR GEOC folder (no multilooking)."""
    out.mkdir(parents=True)
    with rasterio.open(next(geoc.glob("*.geo.hgt.tif"))) as src:
        x0, dx, _, y0, _, dy = src.transform.to_gdal()
        w, h = src.width, src.height
    (out / "EQA.dem_par").write_text(
        "Gamma DIFF&GEO DEM/MAP parameter file\ntitle: DEM\nDEM_projection:     EQA\ndata_format:        REAL*4\n"
        f"width: {w}\nnlines: {h}\ncorner_lat: {y0 + dy / 2:.12f}  decimal degrees\n"
        f"corner_lon: {x0 + dx / 2:.12f}  decimal degrees\npost_lat: {dy:.14f} decimal degrees\n"
        f"post_lon: {dx:.14f} decimal degrees\n")
    (out / "slc.mli.par").write_text(f"range_samples: {w}\nazimuth_lines: {h}\n"
                                     f"radar_frequency: {299792458.0 / wavelength:.1f} Hz\ncenter_time: 5:03:37.6\n")
    for key, name in (("E", "E.geo"), ("N", "N.geo"), ("U", "U.geo"), ("hgt", "hgt")):
        _read(next(geoc.glob(f"*.geo.{key}.tif"))).astype("<f4").tofile(out / name)
    shutil.copy(geoc / "baselines", out / "baselines")
    for d in sorted(p for p in geoc.iterdir() if p.is_dir()):
        (out / d.name).mkdir()
        unw = _read(d / f"{d.name}.geo.unw.tif").astype("<f4")
        unw[unw == 0] = np.nan  # LiCSBAS stores no data as NaN
        unw.tofile(out / d.name / f"{d.name}.unw")
        cc = _read(d / f"{d.name}.geo.cc.tif")
        (cc.astype("<f4") / 255.0 if cc_float else cc.astype(np.uint8)).tofile(out / d.name / f"{d.name}.cc")
    return out


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("rsim")
    truth = simulate_frame(d, SimConfig(shape=(48, 48), n_epoch=14, interval_days=24, n_unw_errors=1, gap=False),
                           rng=11)
    return d, truth


def _stack_arrays(st: Any) -> dict[str, np.ndarray]:
    """The store's arrays as readers see them (coherence decoded where the store keeps 8-bit codes)."""
    out = {k: np.asarray(st.group[k][:]) for k in ("unw", "los_e", "los_n", "los_u", "hgt", "bperp")}
    ny, nx = st.shape
    out["coh"] = st.read("coh", slice(0, ny), slice(0, nx))
    return out


def _assert_same_stack(a: Any, b: Any, coh_atol: float = 0.0) -> None:
    assert a.pair_names() == b.pair_names()
    assert a.grid.matches(b.grid, rtol=1e-9)
    assert a.wavelength == pytest.approx(b.wavelength, rel=1e-9)
    xa, xb = _stack_arrays(a), _stack_arrays(b)
    for k in xa:
        np.testing.assert_allclose(xa[k], xb[k], atol=coh_atol if k == "coh" else 0.0, err_msg=k)


# ----------------------------------------------------------------------------------- LiCSBAS GEOCml
@pytest.mark.usefixtures("no_figures")  # the stores and the results' numbers only
def test_geocml_loads_into_the_same_store_and_gives_the_same_results(sim: Any, tmp_path: Path) -> None:
    d, truth = sim
    geocml = write_geocml(d / "GEOC", tmp_path / "GEOCml1", truth.wavelength)
    inputs = discover_inputs(tmp_path)  # the parent holding one GEOCml* folder is enough
    assert inputs.layout == LAYOUT_LICSBAS_GEOC and inputs.root == geocml
    assert inputs.grid.matches(truth.grid, rtol=1e-9)
    assert inputs.metadata["center_time"] == "5:03:37.6"
    validate_inputs(inputs)
    r_licsar = run_timeseries(d / "GEOC", tmp_path / "out_licsar", RunConfig(), progress=False)
    r_geocml = run_timeseries(geocml, tmp_path / "out_geocml", RunConfig(), progress=False)
    _assert_same_stack(r_licsar.stack, r_geocml.stack)
    for name in ("vel", "vstd", "mask", "vel.filt"):
        # the stacks are bit-identical; the chain's threaded block reductions may sum in another order,
        # so results agree to float32 rounding (1e-4 mm/yr is ~1e-5 of the simulated velocities)
        np.testing.assert_allclose(_read(tmp_path / "out_licsar" / "results" / f"{name}.tif"),
                                   _read(tmp_path / "out_geocml" / "results" / f"{name}.tif"), atol=1e-4,
                                   rtol=0, err_msg=name)
    assert r_licsar.result("loops").bad == r_geocml.result("loops").bad


def test_geocml_float_coherence(sim: Any, tmp_path: Path) -> None:
    d, truth = sim
    geocml = write_geocml(d / "GEOC", tmp_path / "GEOCml1", truth.wavelength, cc_float=True)
    a = create_stack(discover_inputs(d / "GEOC"), tmp_path / "a", progress=False)
    b = create_stack(discover_inputs(geocml), tmp_path / "b", progress=False)
    _assert_same_stack(a, b, coh_atol=1e-6)


@pytest.mark.skipif(not CAMPI.is_dir(), reason="shared real data not available")
def test_real_licsbas_dem_par_and_hgt(tmp_path: Path) -> None:
    """LiCSBAS's own EQA.dem_par / slc.mli.par / hgt (Campi Flegrei) give the right grid and heights."""
    g = tmp_path / "GEOCml1clip"
    g.mkdir()
    shutil.copy(CAMPI / "TS_GEOCml1clip" / "info" / "EQA.dem_par", g)
    shutil.copy(CAMPI / "GEOCml1clip" / "slc.mli.par", g)
    grid, mli = geocml_grid(g)
    assert grid.shape == (121, 191)
    # corner_lat/lon are pixel centres: the first row/column centre is exactly there
    assert grid.lat()[0] == pytest.approx(40.89966842648, abs=1e-10)
    assert grid.lon()[0] == pytest.approx(14.02994428828, abs=1e-10)
    assert grid.dx == pytest.approx(0.00099999921, rel=1e-9) and grid.dy < 0
    assert float(mli["radar_frequency"].split()[0]) == 5405000000.0
    shutil.copy(CAMPI / "GEOCml1clip" / "hgt", g)
    d = g / "20160909_20160921"
    d.mkdir()
    np.zeros(grid.shape, "<f4").tofile(d / f"{d.name}.unw")
    np.zeros(grid.shape, np.uint8).tofile(d / f"{d.name}.cc")
    inputs = discover_inputs(g)
    assert inputs.layout == LAYOUT_LICSBAS_GEOC
    assert inputs.wavelength == pytest.approx(299792458.0 / 5.405e9)
    from kansho.io.rasters import read_window

    hgt = read_window(g / "hgt", None, inputs.geometry_specs["hgt"])
    raw = np.frombuffer((g / "hgt").read_bytes(), "<f4").reshape(121, 191)
    np.testing.assert_array_equal(hgt, raw)
    # Campi Flegrei: sea (NaN) and land from sea level to Vesuvius' flank / Camaldoli (< 1300 m)
    assert np.isnan(hgt).any() and np.nanmin(hgt) > -50 and np.nanmax(hgt) < 1300 and 50 < np.nanmean(hgt) < 200


def test_geocml_errors_are_one_line(sim: Any, tmp_path: Path) -> None:
    d, truth = sim
    g = write_geocml(d / "GEOC", tmp_path / "GEOCml1", truth.wavelength)
    pair = min(p for p in g.iterdir() if p.is_dir())

    def err() -> str:
        with pytest.raises(InputError) as e:
            validate_inputs(discover_inputs(g))
        assert "\n" not in str(e.value)
        return str(e.value)

    unw = pair / f"{pair.name}.unw"
    data = unw.read_bytes()
    unw.write_bytes(data[:-8])
    assert "wrong byte size" in err() and unw.name in err()
    unw.write_bytes(data)
    (pair / f"{pair.name}.cc").rename(tmp_path / "cc")
    assert "coherence" in err() and "missing" in err()
    (tmp_path / "cc").rename(pair / f"{pair.name}.cc")
    par = (g / "EQA.dem_par").read_text()
    (g / "EQA.dem_par").write_text(par.replace("post_lat:", "post_lat: abc #"))
    assert "post_lat" in err() and "not a number" in err()
    (g / "EQA.dem_par").write_text(par.replace("width:", "wodth:"))
    assert "width missing" in err()
    (g / "EQA.dem_par").unlink()
    (g / "slc.mli.par").write_text("range_samples: 5\nazimuth_lines: 5\n")
    assert "missing companion file EQA.dem_par" in err()


# -------------------------------------------------------------------------------------- ENVI / ROI_PAC
def _write_envi(path: Path, a: np.ndarray, grid: Grid, *, big: bool, two_band: bool = False) -> None:
    x0, dx, _, y0, _, dy = grid.transform
    bands = 2 if two_band else 1
    if two_band:  # ISCE/ROI_PAC style: magnitude then phase, line interleaved
        out = np.stack([np.ones_like(a), a], axis=1)
    else:
        out = a
    out.astype(">f4" if big else "<f4").tofile(path)
    hdr = path.with_name(path.name + ".hdr") if path.suffix != ".img" else path.with_suffix(".hdr")
    hdr.write_text(
        f"ENVI\ndescription = {{test}}\nsamples = {grid.width}\nlines = {grid.height}\nbands = {bands}\n"
        f"header offset = 0\nfile type = ENVI Standard\ndata type = 4\ninterleave = {'bil' if two_band else 'bsq'}\n"
        f"byte order = {1 if big else 0}\n"
        f"map info = {{Geographic Lat/Lon, 1.0, 1.0, {x0!r}, {y0!r}, {dx!r}, {-dy!r}, WGS84, units=Degrees}}\n")


def _write_rsc_pair(path: Path, a: np.ndarray, grid: Grid) -> None:
    x0, dx, _, y0, _, dy = grid.transform
    np.stack([np.ones_like(a), a], axis=1).astype("<f4").tofile(path)  # ROI_PAC rmg: amplitude, phase
    path.with_name(path.name + ".rsc").write_text(
        f"WIDTH {grid.width}\nFILE_LENGTH {grid.height}\nX_FIRST {x0!r}\nY_FIRST {y0!r}\nX_STEP {dx!r}\n"
        f"Y_STEP {dy!r}\n")


@pytest.mark.parametrize("style", ["snap_big_endian", "isce_two_band", "roipac_rsc"])
def test_envi_and_roipac_load_into_the_same_store(sim: Any, tmp_path: Path, style: str) -> None:
    d, truth = sim
    geoc = d / "GEOC"
    flat = tmp_path / "flat"
    flat.mkdir()
    grid = truth.grid
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for pd in sorted(p for p in geoc.iterdir() if p.is_dir()):
        unw = _read(pd / f"{pd.name}.geo.unw.tif").astype(np.float32)
        cc = (_read(pd / f"{pd.name}.geo.cc.tif") / 255.0).astype(np.float32)
        a, b = pd.name.split("_")
        if style == "snap_big_endian":
            snap = "_".join(f"{x[6:]}{months[int(x[4:6]) - 1]}{x[:4]}" for x in (a, b))
            _write_envi(flat / f"Unw_Phase_ifg_{snap}_VV.img", unw, grid, big=True)
            _write_envi(flat / f"coh_IW2_VV_{snap}.img", cc, grid, big=True)
        elif style == "isce_two_band":
            _write_envi(flat / f"{a}_{b}.unw", unw, grid, big=False, two_band=True)
            _write_envi(flat / f"{a}_{b}.cor", cc, grid, big=False)
        else:
            _write_rsc_pair(flat / f"{a[2:]}-{b[2:]}.unw", unw, grid)
            _write_rsc_pair(flat / f"{a[2:]}-{b[2:]}.cor", cc, grid)
    shutil.copy(geoc / "metadata.txt", flat)
    shutil.copy(geoc / "baselines", flat)
    for k in ("E", "N", "U", "hgt"):
        shutil.copy(next(geoc.glob(f"*.geo.{k}.tif")), flat)
    inputs = discover_inputs(flat)
    assert inputs.layout == LAYOUT_ENVI and inputs.n_pairs == len(truth.pairs)
    validate_inputs(inputs)
    ref = create_stack(discover_inputs(geoc), tmp_path / "ref", progress=False)
    got = create_stack(inputs, tmp_path / "got", progress=False)
    _assert_same_stack(ref, got, coh_atol=1e-6)


def test_envi_errors_are_one_line(tmp_path: Path) -> None:
    g = Grid(6, 4, (10.0, 0.1, 0.0, 20.0, 0.0, -0.1))
    a = np.arange(24, dtype=np.float32).reshape(4, 6) + 1
    for i in range(3):
        _write_envi(tmp_path / f"x_2020010{i + 1}_2020011{i + 1}_unw.img", a, g, big=False)
    validate_inputs(discover_inputs(tmp_path))
    img = tmp_path / "x_20200101_20200111_unw.img"
    hdr = tmp_path / "x_20200101_20200111_unw.hdr"
    text = hdr.read_text()

    def err() -> str:
        with pytest.raises(InputError) as e:
            validate_inputs(discover_inputs(tmp_path))
        assert "\n" not in str(e.value)
        return str(e.value)

    hdr.write_text(text.replace("ENVI\n", "NOT ENVI\n", 1))
    assert "first line is not 'ENVI'" in err()
    hdr.write_text(text.replace("data type = 4", "data type = 6"))
    assert "unsupported ENVI data type 6" in err()
    hdr.write_text(text.replace("lines = 4", "lines = four"))
    assert "lines = 'four' is not a number" in err()
    hdr.write_text(text.replace("samples = 6", "samples = 7"))
    assert "wrong byte size: 96 bytes, expected 112" in err()
    hdr.unlink()
    assert "missing companion header" in err() and img.name in err()


# ------------------------------------------------------------------------------- GeoTIFF pair names
@pytest.mark.skipif(not MEXICO.is_dir(), reason="shared real data not available")
def test_mexico_geotiffs_name_forms_and_licsar_layout_give_the_same_store(tmp_path: Path) -> None:
    unws = sorted(MEXICO.glob("*_unw.tif"))
    assert len(unws) == 30
    ref = discover_inputs(MEXICO)
    assert ref.layout == LAYOUT_GEOTIFF_PAIRS and ref.n_pairs == 30 and ref.has_coherence
    st_ref = create_stack(ref, tmp_path / "ref", progress=False)
    # the same files renamed to the other common forms: yymmdd, '_' join, and a LiCSAR GEOC tree
    forms = {"yymmdd_dash": lambda a, b: f"{a[2:]}-{b[2:]}", "yyyymmdd_under": lambda a, b: f"{a}_{b}",
             "yymmdd_under": lambda a, b: f"{a[2:]}_{b[2:]}"}
    for form, fmt in forms.items():
        folder = tmp_path / form
        folder.mkdir()
        for f in MEXICO.glob("*.tif"):
            name = f.name
            token = name.split("_")[1]
            if "-" in token:
                a, b = token.split("-")
                name = name.replace(token, fmt(a, b))
            shutil.copy(f, folder / name)
        inp = discover_inputs(folder)
        assert inp.ifgdates == ref.ifgdates, form
        st = create_stack(inp, tmp_path / f"st_{form}", progress=False)
        assert st.pair_names() == st_ref.pair_names() and st.grid.matches(st_ref.grid, rtol=1e-9)
        for k in ("unw", "coh", "hgt"):  # (the LOS needs the GAMMA headers beside the original folder)
            np.testing.assert_array_equal(np.asarray(st.group[k][:]), np.asarray(st_ref.group[k][:]), err_msg=k)
    geoc = tmp_path / "GEOC"
    for p in ref.pairs:
        (geoc / p.name).mkdir(parents=True)
        shutil.copy(p.unw, geoc / p.name / f"{p.name}.geo.unw.tif")
        assert p.cc is not None
        shutil.copy(p.cc, geoc / p.name / f"{p.name}.geo.cc.tif")
    lic = discover_inputs(tmp_path)
    assert lic.layout == LAYOUT_LICSAR
    st_lic = create_stack(lic, tmp_path / "st_licsar", progress=False)
    assert st_lic.pair_names() == st_ref.pair_names()
    for k in ("unw", "coh"):
        np.testing.assert_array_equal(np.asarray(st_lic.group[k][:]), np.asarray(st_ref.group[k][:]))
    assert math.isfinite(float(np.nanmean(np.asarray(st_ref.group["unw"][:]))))
