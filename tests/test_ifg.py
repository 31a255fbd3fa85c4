"""Interferometry chain (kansho.ifg): real Sentinel-1 SLC pair, simulated SLC stacks, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kansho.errors import ConfigError, InputError
from kansho.ifg.config import IfgConfig, load_ifg_config
from kansho.ifg.filter import goldstein_filter
from kansho.ifg.form import (
    expected_coherence_estimate,
    multilook,
    multilooked_interferogram,
    reference_phase,
)
from kansho.ifg.geocode import geocode, make_lookup, output_grid
from kansho.ifg.network import select_pairs
from kansho.ifg.readers import open_slc_stack
from kansho.ifg.unwrap import unwrap_phase
from kansho.synth.slc import SlcSimConfig, SlcTruth, simulate_slc_stack

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "s1_slc_pair_amsterdam"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="shared real data not available")


def boxcar_coherence(s1: np.ndarray, s2: np.ndarray, window: tuple[int, int] = (3, 9)) -> np.ndarray:
    """Sliding-window coherence at full resolution (``window`` = (azimuth, range) pixels), (ny, nx):
    the estimate the real pair's README quotes, to compare the chain's multilooked one with."""
    from scipy import ndimage

    def box(x: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(x, window, mode="nearest")

    prod = s1 * np.conj(s2)
    num = np.hypot(box(prod.real.astype(np.float64)), box(prod.imag.astype(np.float64)))
    den = np.sqrt(box(np.abs(s1).astype(np.float64) ** 2) * box(np.abs(s2).astype(np.float64) ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.clip(num / den, 0, 1), np.nan).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# real Sentinel-1 pair (SNAP Zarr)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real() -> Any:
    return open_slc_stack(REAL)


@needs_real
def test_real_reader_metadata(real: Any) -> None:
    assert real.format == "snap_zarr"
    assert real.dates == [20230319, 20230331]
    assert real.shape == (84, 338)
    assert real.wavelength == pytest.approx(299_792_458.0 / 5.405e9, rel=1e-4)
    # SNAP Baselines table: 33.9 m between the dates (sign: Kansho's convention, see readers.py)
    assert abs(real.bperp[20230331] - real.bperp[20230319]) == pytest.approx(33.9, abs=0.05)
    g = real.geometry
    assert 52.36 < float(g["lat"].min()) < float(g["lat"].max()) < 52.38  # the folder README's extent
    assert 4.88 < float(g["lon"].min()) < float(g["lon"].max()) < 4.91
    assert float(g["hgt"].min()) >= 44 and float(g["hgt"].max()) <= 60
    assert 42.9 < float(g["inc"].mean()) < 43.2  # SNAP tie-point incidence at this sub-swath position
    # slant range from the tie-point slant-range time agrees with slant_range_to_first_pixel (923676 m)
    assert g["range"][0, 0] == pytest.approx(923_676.3, abs=3.0)


@needs_real
def test_real_coherence_statistics(real: Any) -> None:
    s1, s2 = real.read(20230319), real.read(20230331)
    coh = boxcar_coherence(s1, s2, (3, 9))
    # README: 3x9 boxcar coherence median 0.82; urban Amsterdam over 12 days is coherent
    assert 0.77 < float(np.median(coh)) < 0.87
    # misregistering one image by 40 columns destroys it (median ~0.24 = estimator bias for 27 looks)
    mis = boxcar_coherence(s1[:, 40:], s2[:, :-40], (3, 9))
    assert float(np.median(mis)) < 0.35
    # the multilooked estimate over non-overlapping 3x9 boxes gives the same picture
    _, cml = multilooked_interferogram(s1, s2, 3, 9)
    assert cml.shape == (28, 37)
    assert abs(float(np.median(cml)) - float(np.median(coh))) < 0.05


@needs_real
def test_real_flat_earth_already_removed(real: Any) -> None:
    """SNAP's coregistered stack is flattened: the residual fringe rate is ~0, while our flat-earth
    model predicts ~1 fringe across the crop for B⊥ = 34 m (so 'auto' must not remove it again)."""
    s1, s2 = real.read(20230319), real.read(20230331)
    assert real.flat_earth_removed
    ifg = (s1 * np.conj(s2)).astype(np.complex64)
    bp = real.bperp[20230331] - real.bperp[20230319]
    ref = reference_phase(bp, real.wavelength, real.geometry["range"], real.geometry["inc"], flat=True, topo=False)
    model_cycles = float(np.ptp(ref[0])) / (2 * np.pi)
    assert 0.8 < model_cycles < 1.5

    def fringe_cycles(x: np.ndarray) -> float:
        f = np.abs(np.fft.fft2(x / np.maximum(np.abs(x), 1e-6), s=(128, 1024)))
        k = np.unravel_index(int(f.argmax()), f.shape)[1]
        return min(k, 1024 - k) / 1024 * x.shape[1]

    assert fringe_cycles(ifg) < 0.5
    assert fringe_cycles(ifg * np.exp(-1j * ref)) > 0.6


@needs_real
def test_real_unwrap_consistent_and_geocoded(real: Any) -> None:
    s1, s2 = real.read(20230319), real.read(20230331)
    ifg, coh = multilooked_interferogram(s1, s2, 3, 9)
    filt = goldstein_filter(ifg, 0.5, 16, 4)
    unw, cc = unwrap_phase(filt, coh, nlooks=27, min_coherence=0.3)
    ok = np.isfinite(unw)
    assert ok.mean() > 0.6  # most of the coherent city is unwrapped
    assert set(np.unique(cc[ok])) - {0} and (cc[ok] > 0).all()
    # re-wrapping gives the (filtered) interferogram back wherever it was unwrapped
    resid = np.angle(np.exp(1j * (unw[ok] - np.angle(filt[ok]))))
    assert np.max(np.abs(resid)) < 1e-3
    # geocoding onto the lat/lon grid the product's own lat/lon rasters define
    lat = multilook(real.geometry["lat"].astype(np.float64), 3, 9)
    lon = multilook(real.geometry["lon"].astype(np.float64), 3, 9)
    post = 0.0005
    grid = output_grid(lat, lon, post)
    lon_edges = grid.transform[0], grid.transform[0] + grid.width * post
    lat_edges = grid.transform[3] - grid.height * post, grid.transform[3]
    assert lon_edges[0] <= lon.min() and lon.max() <= lon_edges[1] and lon_edges[1] - lon.max() < post
    assert lat_edges[0] <= lat.min() and lat.max() <= lat_edges[1] and lat.min() - lat_edges[0] < post
    lk = make_lookup(lat, lon, grid)
    glat, glon = geocode(lat, lk), geocode(lon, lk)
    inside = np.isfinite(glat)
    assert inside.mean() > 0.5
    # geolocation: the radar pixel sampled at each output cell lies within one output pixel of it
    assert np.nanmax(np.abs(glat - grid.lat()[:, None])) < post
    assert np.nanmax(np.abs(glon - grid.lon()[None, :])) < post
    g_unw = geocode(unw, lk)
    assert np.isfinite(g_unw).sum() > 0.5 * inside.sum()


@needs_real
def test_real_pair_through_chain(tmp_path: Path) -> None:
    from kansho.ifg.chain import run_ifg
    from kansho.io.inputs import discover_inputs

    cfg = IfgConfig.model_validate({"geocode": {"posting_deg": 0.0005}, "filter": {"window": 16, "step": 4}})
    run = run_ifg(REAL, tmp_path / "GEOC", cfg, progress=False)
    assert run.done == ["20230319_20230331"] and not run.failed
    inp = discover_inputs(tmp_path / "GEOC")
    assert inp.layout == "licsar" and inp.ifgdates == ["20230319_20230331"]
    assert all(inp.geometry[k] is not None for k in ("E", "N", "U", "hgt"))
    assert inp.wavelength == pytest.approx(0.0554658, rel=1e-4)
    assert inp.metadata["heading_deg"] == pytest.approx(190.15, abs=0.01)
    assert inp.grid.dx == pytest.approx(0.0005)
    from kansho.io.geotiff import read_raster

    e = read_raster(inp.geometry["E"])  # type: ignore[arg-type]
    u = read_raster(inp.geometry["U"])  # type: ignore[arg-type]
    # descending right-looking: the satellite is to the east of the ground; incidence 43 deg
    assert np.nanmin(e) > 0.6 and np.nanmean(u) == pytest.approx(np.cos(np.radians(43.0)), abs=0.01)
    cc = read_raster(inp.pairs[0].cc, dtype=np.float32)  # type: ignore[arg-type]
    assert 0.7 * 255 < np.nanmedian(cc[cc > 0]) < 0.9 * 255
    # resume: nothing left to do
    again = run_ifg(REAL, tmp_path / "GEOC", cfg, progress=False)
    assert again.skipped == ["20230319_20230331"] and not again.done


@needs_real
def test_real_cband_split_spectrum_is_declined(tmp_path: Path) -> None:
    """Forced on the real C-band pair (84 x 338 SLC px, 28 x 37 looks' worth of scene, 2 km filter) the
    split-spectrum screen is a plane fitted to noise (raw σ ~ 60 rad): its variance (7.4 rad²) is
    2.4x its own noise (3.1 rad²) but under what a 2-dof noise reaches in 5 % of pairs, so it is
    declined and the pair is written uncorrected (removing it raised the std from 0.48 to 2.8 rad)."""
    from kansho.ifg.chain import run_ifg

    cfg = IfgConfig.model_validate({"geocode": {"posting_deg": 0.0005}, "filter": {"window": 16, "step": 4},
                                    "iono": {"method": "split-spectrum"}})
    run = run_ifg(REAL, tmp_path / "GEOC", cfg, progress=False)
    res = run.results["20230319_20230331"]
    assert res.iono_decision == "declined"
    assert res.iono_std_after > 2 * res.iono_std_before      # what removing it would have done
    assert not (tmp_path / "GEOC" / "20230319_20230331" / "20230319_20230331.geo.iono.tif").exists()


# ------------------------------------------------------------------------------------------------
# simulated stacks
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SlcTruth]:
    d = tmp_path_factory.mktemp("slc")
    truth = simulate_slc_stack(d, SlcSimConfig(shape=(128, 128), n_epoch=16, interval_days=30), rng=3)
    return d, truth


def test_sim_formats_read_the_same(tmp_path: Path) -> None:
    cfgs = {f: SlcSimConfig(shape=(40, 48), n_epoch=3, format=f) for f in ("gamma", "envi", "geotiff")}
    data = {}
    for f, c in cfgs.items():
        with pytest.warns(Warning) if f == "geotiff" else _nullcontext():
            simulate_slc_stack(tmp_path / f, c, rng=5)
        st = open_slc_stack(tmp_path / f)
        assert st.format == f and st.shape == (40, 48) and len(st.dates) == 3
        data[f] = st.read(st.dates[1])
    np.testing.assert_array_equal(data["gamma"], data["envi"])
    np.testing.assert_array_equal(data["gamma"], data["geotiff"])


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def test_sim_coherence_matches_truth_with_touzi_bias(tmp_path: Path) -> None:
    # class 0: coherent (γ ≈ 0.9); class 1: γ∞ = 0.1, decorrelated after 60 days -> low-coherence bias
    cfg = SlcSimConfig(shape=(192, 192), n_epoch=3, interval_days=60, classes=[(0.95, 0.9, 1e6), (0.9, 0.1, 5.0)],
                       class1_fraction=0.5, bperp_std_m=0.0, dem_max_m=0.0, velocity_mm_yr=0.0)
    truth = simulate_slc_stack(tmp_path, cfg, rng=11)
    st = open_slc_stack(tmp_path)
    d1, d2 = st.dates[0], st.dates[1]
    looks = (3, 3)
    _, coh = multilooked_interferogram(st.read(d1), st.read(d2), *looks)
    gtrue = multilook(truth.pair_coherence(d1, d2).astype(np.float64), *looks)
    cls = multilook(truth.classes.astype(np.float64), *looks)
    L = looks[0] * looks[1]
    for c in (0, 1):
        sel = cls == c  # boxes wholly inside one class
        g = float(np.mean(gtrue[sel]))
        expected = float(expected_coherence_estimate(np.array(g), L))
        n = int(sel.sum())
        # standard error of the mean of γ̂: sd(γ̂) <= (1 - γ²)/√(2L) + small-γ Rayleigh spread ≈ 0.2, over n boxes
        tol = 4 * 0.2 / np.sqrt(n) + 0.005
        assert abs(float(np.mean(coh[sel])) - expected) < tol, (c, g, expected, float(np.mean(coh[sel])))
        if c == 1:  # true γ ≈ 0.1, but 9 looks estimate ≈ 0.31: the known upward bias is reproduced
            assert g < 0.15 and float(np.mean(coh[sel])) > g + 0.15


@pytest.mark.slow  # default suite under 5 min: an end-to-end path other default tests cover in parts
def test_sim_chain_to_timeseries_recovers_velocity(sim: tuple[Path, SlcTruth], tmp_path: Path) -> None:
    from kansho import run_timeseries
    from kansho.config import RunConfig
    from kansho.ifg.chain import _load_lookup, run_ifg
    from kansho.io.geotiff import read_raster

    d, truth = sim
    cfg = IfgConfig.model_validate({"form": {"range_looks": 4, "azimuth_looks": 4},
                                    "geocode": {"posting_deg": 0.0005}, "network": {"max_dt_days": 90}})
    run = run_ifg(d, tmp_path / "GEOC", cfg, progress=False)
    assert not run.failed and len(run.done) == len(run.pairs) >= 15
    run_timeseries(tmp_path / "GEOC", tmp_path / "ts", RunConfig(), progress=False)
    vel = read_raster(tmp_path / "ts" / "results" / "vel.tif")
    lk = _load_lookup(tmp_path / "GEOC" / ".ifg")
    tv = geocode(multilook(truth.velocity.astype(np.float64), 4, 4), lk)
    diff = vel - tv
    ok = np.isfinite(diff)
    assert ok.sum() > 0.8 * np.isfinite(tv).sum()
    # the time series is relative to its reference area: compare after removing one constant.
    # Noise budget: γ ≈ 0.8-0.95 with 16 looks gives σφ ≈ 0.1-0.2 rad ≈ 0.5-1 mm per pair (Cramér-Rao),
    # over 450 days and ~40 pairs that is < 1 mm/yr in velocity; 3 mm/yr bounds it with margin while a
    # sign error or a wrong phase-to-mm factor on the 40 mm/yr bowl gives errors > 10 mm/yr.
    res = diff[ok] - np.median(diff[ok])
    assert np.sqrt(np.mean(res**2)) < 3.0
    assert np.corrcoef(vel[ok], tv[ok])[0, 1] > 0.97


def test_failing_pair_is_listed_and_others_done(sim: tuple[Path, SlcTruth], tmp_path: Path) -> None:
    from kansho.ifg.chain import run_ifg

    src, _ = sim
    d = tmp_path / "slc"
    shutil.copytree(src, d)
    last = max(d.glob("*.slc"))
    good = last.read_bytes()
    last.write_bytes(good[: len(good) // 2])  # truncated SLC
    cfg = IfgConfig.model_validate({"form": {"range_looks": 4, "azimuth_looks": 4}, "geocode": {"posting_deg": 0.001},
                                    "network": {"max_dt_days": 35}})
    run = run_ifg(d, tmp_path / "GEOC", cfg, progress=False)
    bad_date = last.name[:8]
    assert run.failed and all(bad_date in k for k in run.failed)
    assert all("bytes" in v for v in run.failed.values())
    assert len(run.done) == len(run.pairs) - len(run.failed)
    listed = (tmp_path / "GEOC" / ".ifg" / "failed_pairs.txt").read_text()
    assert all(k in listed for k in run.failed)
    last.write_bytes(good)  # repaired: the rerun does only the failed pairs
    again = run_ifg(d, tmp_path / "GEOC", cfg, progress=False)
    assert sorted(again.done) == sorted(run.failed) and not again.failed
    assert not (tmp_path / "GEOC" / ".ifg" / "failed_pairs.txt").exists()


# ------------------------------------------------------------------------------------------------
# bad input: one clear line naming the file
# ------------------------------------------------------------------------------------------------
@pytest.fixture()
def small_stack(tmp_path: Path) -> Path:
    simulate_slc_stack(tmp_path / "s", SlcSimConfig(shape=(32, 40), n_epoch=3), rng=1)
    return tmp_path / "s"


def test_bad_input_shapes(small_stack: Path) -> None:
    par = sorted(small_stack.glob("*.slc.par"))[1]
    par.write_text(par.read_text().replace("range_samples:   40", "range_samples:   20").replace(
        "azimuth_lines:   32", "azimuth_lines:   64"))
    with pytest.raises(InputError, match=r"20x64 px but .* is 40x32") as exc:
        open_slc_stack(small_stack)
    assert "\n" not in str(exc.value) and par.name[:8] in str(exc.value)


def test_bad_input_missing_parameter_file(small_stack: Path) -> None:
    par = min(small_stack.glob("*.slc.par"))
    par.unlink()
    with pytest.raises(InputError, match=r"parameter file .*\.slc\.par missing"):
        open_slc_stack(small_stack)


def test_bad_input_date_without_metadata(small_stack: Path) -> None:
    b = small_stack / "baselines"
    lines = b.read_text().splitlines()
    b.write_text("\n".join(lines[:-1]) + "\n")
    date = lines[-1].split()[1]
    with pytest.raises(InputError, match=rf"date {date} has no metadata"):
        open_slc_stack(small_stack)


def test_cli_one_line_error(small_stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kansho.cli import main

    min(small_stack.glob("*.slc.par")).unlink()
    rc = main(["ifg", str(small_stack), "-o", str(tmp_path / "GEOC")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "parameter file" in err[0] and "Traceback" not in err[0]


# ------------------------------------------------------------------------------------------------
# numerics and options
# ------------------------------------------------------------------------------------------------
def test_goldstein_identity_and_denoising() -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128]
    phi = 0.3 * x + 0.1 * y + 2 * np.exp(-((x - 64) ** 2 + (y - 48) ** 2) / 300)
    ifg = np.exp(1j * (phi + rng.normal(0, 0.7, phi.shape)))
    same = goldstein_filter(ifg, alpha=0.0)
    assert np.max(np.abs(np.angle(same * np.conj(ifg)))) < 1e-4  # α = 0 reconstructs the input exactly
    filt = goldstein_filter(ifg, alpha=0.8)
    before = np.std(np.angle(ifg * np.exp(-1j * phi)))
    after = np.std(np.angle(filt * np.exp(-1j * phi)))
    assert after < 0.5 * before  # white phase noise is attenuated, fringes kept (residual ~0 mean)
    assert abs(np.angle(np.mean(filt * np.exp(-1j * phi)))) < 0.05


def test_touzi_expected_estimate_closed_form() -> None:
    """Closed form against a Monte-Carlo of the estimator (γ = 0 and 0.6, 9 looks)."""
    rng = np.random.default_rng(2)
    n, L = 40000, 9
    for g in (0.0, 0.6):
        z1 = (rng.normal(size=(n, L)) + 1j * rng.normal(size=(n, L))) / np.sqrt(2)
        z2 = (rng.normal(size=(n, L)) + 1j * rng.normal(size=(n, L))) / np.sqrt(2)
        b = g * z1 + np.sqrt(1 - g * g) * z2
        est = np.abs((z1 * np.conj(b)).sum(1)) / np.sqrt((abs(z1) ** 2).sum(1) * (abs(b) ** 2).sum(1))
        assert float(expected_coherence_estimate(np.array(g), L)) == pytest.approx(est.mean(), abs=0.005)


def test_network_limits_and_connectivity() -> None:
    dates = [20230101, 20230113, 20230125, 20230206, 20230218]
    bp = {20230101: 0.0, 20230113: 250.0, 20230125: 10.0, 20230206: 20.0, 20230218: 30.0}
    pairs = select_pairs(dates, bp, max_dt_days=24, max_bperp_m=100)
    assert (20230101, 20230125) in pairs and (20230101, 20230206) not in pairs
    assert (20230101, 20230113) in pairs  # consecutive pair beyond the B⊥ limit, kept for connectivity
    assert (20230113, 20230206) not in pairs
    strict = select_pairs(dates, bp, max_dt_days=24, max_bperp_m=100, connect_neighbours=False)
    assert (20230101, 20230113) not in strict
    assert len(select_pairs(dates, bp, method="all")) == 10


def test_network_coherence_method_drops_pairs_beyond_critical_baseline() -> None:
    # a date 20 km off the orbit tube is beyond the critical baseline: predicted coherence 0
    bp = {20230101: 0.0, 20230113: 1.0, 20230125: 20000.0}
    pairs = select_pairs(list(bp), bp, method="coherence", min_coherence=0.1, connect_neighbours=False)
    assert pairs == [(20230101, 20230113)]


def test_config_forbids_unknown_keys(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("form:\n  range_looks: 5\n  rangelooks: 3\n")
    with pytest.raises(ConfigError, match=r"form\.rangelooks"):
        load_ifg_config(f)
    f.write_text("form:\n  range_looks: 5\n")
    assert load_ifg_config(f, {"geocode.posting_deg": 0.002}).geocode.posting_deg == 0.002


# ------------------------------------------------------------------------------------------------
# SNAP ZNAP reader on a small hand-written product (the real pair may be absent)
# ------------------------------------------------------------------------------------------------
def _zarr(folder: Path, arr: np.ndarray, chunks: tuple[int, int], attrs: dict[str, Any] | None = None) -> None:
    """An uncompressed Zarr v2 array, chunk files named ``i.j`` (edge chunks padded)."""
    import json

    folder.mkdir(parents=True)
    meta = {"zarr_format": 2, "shape": list(arr.shape), "chunks": list(chunks), "dtype": arr.dtype.str,
            "compressor": None, "filters": None, "fill_value": 0, "order": "C"}
    (folder / ".zarray").write_text(json.dumps(meta))
    if attrs is not None:
        (folder / ".zattrs").write_text(json.dumps(attrs))
    for i in range(-(-arr.shape[0] // chunks[0])):
        for j in range(-(-arr.shape[1] // chunks[1])):
            block = np.zeros(chunks, arr.dtype)
            part = arr[i * chunks[0]:(i + 1) * chunks[0], j * chunks[1]:(j + 1) * chunks[1]]
            block[: part.shape[0], : part.shape[1]] = part
            block.tofile(folder / f"{i}.{j}")


def _snap_metadata(ref: str, secondaries: dict[str, float]) -> list[dict[str, Any]]:
    def attr(name: str, value: Any) -> dict[str, Any]:
        return {"name": name, "data": {"elems": value if isinstance(value, list) else [value]}}

    baselines = {"name": "Baselines", "elements": [{"name": f"Ref_{ref}", "elements": [
        {"name": f"Secondary_{d}", "attributes": [attr("Perp Baseline", b)]} for d, b in secondaries.items()]}]}
    return [{"name": "Abstracted_Metadata", "attributes": [
        attr("radar_frequency", 5405.0), attr("range_spacing", 2.33), attr("azimuth_spacing", 13.9),
        attr("centre_heading", -167.5), attr("incidence_near", 30.0), attr("incidence_far", 46.0),
        attr("slant_range_to_first_pixel", 850_000.0), attr("first_line_time", [8500, 63_005, 250_000]),
        attr("PASS", "DESCENDING"), attr("MISSION", "SENTINEL-1A")], "elements": [baselines]}]


@pytest.fixture()
def znap(tmp_path: Path) -> tuple[Path, dict[int, np.ndarray]]:
    import json

    rng = np.random.default_rng(5)
    shape = (10, 14)
    root = tmp_path / "stack"
    slcs: dict[int, np.ndarray] = {}
    for k, (tag, date) in enumerate((("03Feb2021", 20210203), ("15Feb2021", 20210215))):
        prod = root / f"S1_{date}.znap"
        z = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
        slcs[date] = z
        _zarr(prod / f"i_VV_{tag}", z.real.astype(">f4"), (4, 8))
        _zarr(prod / f"q_VV_{tag}", z.imag.astype(">f4"), (4, 8))
        if k == 0:
            lat = np.linspace(52.0, 52.1, shape[0])[:, None] + np.zeros(shape)
            lon = np.linspace(4.8, 4.9, shape[1])[None, :] + np.zeros(shape)
            _zarr(prod / "latitude_VV", lat.astype("<f4"), shape)
            _zarr(prod / "longitude_VV", lon.astype("<f4"), shape)
            _zarr(prod / "elevation_VV", np.full(shape, 12.5, "<f4"), shape)
            tp = {"subsampling_x": 7.0, "subsampling_y": 5.0, "offset_x": 0.5, "offset_y": 0.5}
            _zarr(prod / "incident_angle", np.full((3, 3), 39.0, "<f4"), (3, 3), tp)
            (prod / "SNAP").mkdir()
            (prod / "SNAP" / "product_metadata.json").write_text(
                json.dumps(_snap_metadata("03Feb2021", {"03Feb2021": 0.0, "15Feb2021": 21.5})))
    return root, slcs


def test_snap_reader_reads_bands_metadata_and_geometry(znap: tuple[Path, dict[int, np.ndarray]]) -> None:
    root, slcs = znap
    st = open_slc_stack(root)
    assert st.format == "snap_zarr" and st.shape == (10, 14) and st.dates == [20210203, 20210215]
    assert st.wavelength == 299_792_458.0 / 5.405e9
    assert st.bperp == {20210203: -0.0, 20210215: -21.5}  # Kansho's sign: the negative of SNAP's
    assert st.flat_earth_removed and st.heading_deg == -167.5 and st.center_time == "17:30:05.250000"
    assert st.meta["reference_date"] == 20210203 and st.meta["polarisation"] == "VV"
    for d, z in slcs.items():
        np.testing.assert_array_equal(st.read(d), z)
    g = st.geometry
    assert float(g["lat"][0, 0]) == pytest.approx(52.0) and float(g["lon"][0, -1]) == pytest.approx(4.9)
    np.testing.assert_array_equal(g["hgt"], np.float32(12.5))
    np.testing.assert_allclose(g["inc"], 39.0, rtol=1e-6)  # tie-point grid, interpolated and extrapolated
    np.testing.assert_allclose(g["range"][0], 850_000.0 + 2.33 * np.arange(14), rtol=1e-7)


def test_snap_reader_missing_q_band_and_baseline(znap: tuple[Path, dict[int, np.ndarray]]) -> None:
    root, _ = znap
    q = next(root.glob("*20210215.znap/q_VV_*"))
    shutil.move(q, q.with_name("moved"))
    with pytest.raises(InputError, match="I band without its Q band q_VV_15Feb2021"):
        open_slc_stack(root)
    shutil.move(q.with_name("moved"), q)
    meta = next(root.glob("*/SNAP/product_metadata.json"))
    meta.write_text(meta.read_text().replace("Secondary_15Feb2021", "Secondary_16Feb2021"))
    with pytest.raises(InputError, match="date 20210215 has no metadata"):
        open_slc_stack(root)


def test_every_configurable_format_has_a_reader() -> None:
    from typing import get_args

    from kansho.ifg.readers import FORMATS

    literal = IfgConfig.model_fields["format"].annotation
    assert set(get_args(literal)) == {"auto", *FORMATS}
