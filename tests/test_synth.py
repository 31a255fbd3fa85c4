"""Tests of the frame simulator (kansho.synth): layout, reproducibility, truth, conventions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

from kansho._dates import to_ordinal
from kansho.errors import InputError
from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, Truth, load_truth, simulate_frame
from kansho.synth.network import n_components

SMALL = SimConfig(shape=(60, 60), n_epoch=12, seed=7)


def _unw_path(geoc: Path, d1: int, d2: int, kind: str = "unw") -> Path:
    name = f"{d1}_{d2}"
    return geoc / name / f"{name}.geo.{kind}.tif"


def _read_unw(geoc: Path, d1: int, d2: int) -> np.ndarray:
    """Written phase with no data (0) as NaN."""
    return read_raster(_unw_path(geoc, d1, d2))


def _read_cc(geoc: Path, d1: int, d2: int) -> np.ndarray:
    return read_raster(_unw_path(geoc, d1, d2, "cc"), dtype=np.uint8, nodata_to_nan=False).astype(float) / 255.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    out = tmp_path_factory.mktemp("sim")
    return out, simulate_frame(out, SMALL)


def test_layout_dtypes_and_nodata(sim: tuple[Path, Truth]) -> None:
    out, truth = sim
    geoc = out / "GEOC"
    assert (out / "truth.npz").is_file()
    pair_dirs = sorted(p.name for p in geoc.iterdir() if p.is_dir())
    assert pair_dirs == [f"{a}_{b}" for a, b in truth.pairs]
    for a, b in truth.pairs[:5]:
        with rasterio.open(_unw_path(geoc, a, b)) as src:
            assert src.dtypes[0] == "float32" and src.nodata == 0.0
            assert (src.height, src.width) == SMALL.shape
            assert src.crs.to_epsg() == 4326
            unw = src.read(1)
        with rasterio.open(_unw_path(geoc, a, b, "cc")) as src:
            assert src.dtypes[0] == "uint8" and src.nodata == 0
            assert (src.height, src.width) == SMALL.shape
        assert np.all(unw[truth.water] == 0.0)  # water is always no data
        assert np.all(np.isfinite(unw))
    frame = SMALL.frame
    enu = [read_raster(geoc / f"{frame}.geo.{c}.tif") for c in "ENU"]
    norm = np.sqrt(sum(c.astype(float) ** 2 for c in enu))
    np.testing.assert_allclose(norm, 1.0, atol=1e-5)
    e, n, u = enu
    assert np.all(e > 0.5) and np.all(n < 0) and np.all(u > 0.6)  # descending, right-looking
    inc = np.degrees(np.arccos(u))
    assert inc.min() > 30 and inc.max() < 47
    hgt = read_raster(geoc / f"{frame}.geo.hgt.tif")
    assert hgt.dtype == np.float32 and hgt.shape == SMALL.shape and np.nanmin(hgt) >= 0
    meta = dict(line.split("=", 1) for line in (geoc / "metadata.txt").read_text().splitlines())
    assert float(meta["wavelength"]) == pytest.approx(0.05546576)
    assert meta["frame"] == frame and int(meta["master"]) == truth.master
    assert {"center_time", "heading", "avg_incidence_angle"} <= set(meta)
    lines = (geoc / "baselines").read_text().splitlines()
    assert len(lines) == truth.n_epoch
    for line, d, b in zip(lines, truth.epochs, truth.bperp, strict=True):
        ref, date, bp, bt = line.split()
        assert int(ref) == truth.master and int(date) == d and float(bp) == pytest.approx(b, abs=1e-3)
        assert int(bt) == int(to_ordinal([d])[0] - to_ordinal([truth.master])[0])
    assert np.all(np.abs(truth.bperp) <= 2 * SMALL.bperp_tube_m)


def test_truth_roundtrip_and_shapes(sim: tuple[Path, Truth]) -> None:
    out, truth = sim
    back = load_truth(out)
    assert back.frame == truth.frame and back.grid == truth.grid and back.config == truth.config
    for name in ("epochs", "pairs", "cum", "vel", "atmosphere", "unw_error_masks", "landcover", "coverage"):
        np.testing.assert_array_equal(getattr(back, name), getattr(truth, name))
    n, (ny, nx) = truth.n_epoch, SMALL.shape
    assert truth.cum.shape == truth.atmosphere.shape == (n, ny, nx)
    assert truth.cum.dtype == truth.atmosphere.dtype == np.float32
    assert np.all(truth.cum[0] == 0)
    assert np.all(truth.pairs[:, 0] < truth.pairs[:, 1])
    assert np.all(np.diff(truth.epochs) > 0)
    assert SimConfig(**back.config) == SMALL


def test_same_seed_same_files_other_seed_differs(sim: tuple[Path, Truth], tmp_path: Path) -> None:
    out, truth = sim
    again = simulate_frame(tmp_path / "a", SMALL)
    files = sorted(p.relative_to(out / "GEOC") for p in (out / "GEOC").rglob("*") if p.is_file())
    assert len(files) == 2 * len(truth.pairs) + 6
    for rel in files:
        assert (out / "GEOC" / rel).read_bytes() == (tmp_path / "a" / "GEOC" / rel).read_bytes(), rel
    np.testing.assert_array_equal(again.atmosphere, truth.atmosphere)
    other = simulate_frame(tmp_path / "b", SMALL, rng=8)
    assert other.seed == 8
    a, b = truth.pairs[0]
    if a in other.epochs and b in other.epochs:
        assert not np.array_equal(_read_unw(out / "GEOC", a, b), _read_unw(tmp_path / "b" / "GEOC", a, b))
    assert not np.array_equal(other.atmosphere, truth.atmosphere)


def test_rerun_replaces_and_foreign_geoc_refused(tmp_path: Path) -> None:
    cfg = SimConfig(shape=(32, 32), n_epoch=6, n_missing=0, n_unw_errors=1, seed=1)
    simulate_frame(tmp_path, cfg)
    t2 = simulate_frame(tmp_path, cfg.model_copy(update={"start_date": 20200101}))
    dirs = {p.name for p in (tmp_path / "GEOC").iterdir() if p.is_dir()}
    assert dirs == {f"{a}_{b}" for a, b in t2.pairs}
    foreign = tmp_path / "x"
    (foreign / "GEOC").mkdir(parents=True)
    (foreign / "GEOC" / "something.tif").write_bytes(b"")
    with pytest.raises(InputError):
        simulate_frame(foreign, cfg)


@pytest.mark.parametrize("gap", [True, False])
def test_network_components(gap: bool, tmp_path: Path) -> None:
    cfg = SMALL.model_copy(update={"gap": gap, "n_epoch": 14})
    truth = simulate_frame(tmp_path, cfg)
    idx = {int(d): i for i, d in enumerate(truth.epochs)}
    pairs = [(idx[int(a)], idx[int(b)]) for a, b in truth.pairs]
    assert n_components(truth.n_epoch, pairs) == (2 if gap else 1)
    # every epoch is used, and the network is LiCSAR-like (about pairs_per_epoch per epoch)
    assert set(np.unique(truth.pairs)) == set(truth.epochs.tolist())
    assert len(truth.pairs) >= truth.n_epoch * 2
    if gap:
        (before, after), = truth.gaps
        assert to_ordinal([after])[0] - to_ordinal([before])[0] == cfg.interval_days + cfg.gap_days
        assert not np.any((truth.pairs[:, 0] <= before) & (truth.pairs[:, 1] >= after))
    else:
        assert truth.gaps.shape == (0, 2)


def test_unwrapping_errors_are_2pi_k(sim: tuple[Path, Truth], tmp_path: Path) -> None:
    out, truth = sim
    assert len(truth.unw_error_pairs) == SMALL.n_unw_errors
    assert len({tuple(p) for p in truth.unw_error_pairs}) == SMALL.n_unw_errors
    clean_out = tmp_path / "clean"
    simulate_frame(clean_out, SMALL.model_copy(update={"n_unw_errors": 0}))
    for m, (a, b) in enumerate(truth.unw_error_pairs):
        k = int(truth.unw_error_k[m])
        assert k in (-2, -1, 1, 2)
        mask = truth.unw_error_masks[m]
        with_err = _read_unw(out / "GEOC", a, b)
        clean = _read_unw(clean_out / "GEOC", a, b)
        valid = np.isfinite(with_err)
        np.testing.assert_array_equal(valid, np.isfinite(clean))
        assert not np.any(mask & ~valid)
        frac = mask.sum() / valid.sum()
        assert 0.05 < frac < 0.4
        diff = with_err - clean
        np.testing.assert_allclose(diff[mask], 2 * math.pi * k, atol=1e-4)
        np.testing.assert_allclose(diff[valid & ~mask], 0.0, atol=1e-4)
        # and relative to the noise-free model phase the region is off by k cycles
        i = truth.pair_index(a, b)
        r = (with_err - truth.model_phase(i, errors=False)) / (2 * math.pi)
        assert np.median(r[mask]) == pytest.approx(k, abs=0.05)
        assert np.median(r[valid & ~mask]) == pytest.approx(0.0, abs=0.05)
    # every pair matches the full model (large errors, small patches, 2πn) up to the noise: no
    # unrecorded 2π jump anywhere
    assert len(truth.local_err_pair) > 0 and set(np.unique(truth.local_err_k)) <= {-1, 1}
    for i, (a, b) in enumerate(truth.pairs):
        u = _read_unw(out / "GEOC", a, b)
        r = u - truth.model_phase(i)
        assert np.nanmax(np.abs(r)) < 2.0
        assert abs(np.nanmedian(r)) < 0.1


def test_phase_sign_convention(tmp_path: Path) -> None:
    """Subsidence (negative LOS mm) gives a positive phase change over time."""
    cfg = SMALL.model_copy(
        update={"atm_turb_mm": 0.0, "atm_strat_seasonal": 0.0, "atm_strat_std": 0.0, "ramp_mm_per_100km": 0.0,
                "dem_error_m": 0.0, "n_unw_errors": 0, "local_unw_errors": 0.0, "random_phase_offset": False}
    )
    truth = simulate_frame(tmp_path, cfg)
    assert np.all(truth.atmosphere == 0)
    bowl = np.unravel_index(np.argmin(np.where(truth.water, np.inf, truth.vel)), truth.vel.shape)
    assert truth.vel[bowl] < -20  # the subsidence bowl, mm/yr LOS
    # the longest pair: phase at the bowl minus the stable far field is positive
    ordn = to_ordinal(truth.pairs.ravel()).reshape(-1, 2)
    i = int(np.argmax(ordn[:, 1] - ordn[:, 0]))
    a, b = truth.pairs[i]
    unw = _read_unw(tmp_path / "GEOC", a, b)
    win = (slice(max(bowl[0] - 2, 0), bowl[0] + 3), slice(max(bowl[1] - 2, 0), bowl[1] + 3))
    ref = np.nanmedian(unw[truth.stable])
    d_mm = truth.ifg_mm(i)
    assert np.nanmean(d_mm[win]) < -5
    assert np.nanmedian(unw[win]) - ref > 0
    # and quantitatively: phase = −mm·4π/(λ·1000)
    expected = -d_mm * 4 * math.pi / (cfg.wavelength * 1000.0)
    want = np.nanmedian(expected[win]) - np.median(expected[truth.stable])
    np.testing.assert_allclose(np.nanmedian(unw[win]) - ref, want, atol=0.5)
    np.testing.assert_allclose(truth.model_phase(i), expected, atol=1e-4)


def test_coherence_realism_and_coverage(sim: tuple[Path, Truth]) -> None:
    out, truth = sim
    geoc = out / "GEOC"
    ordn = to_ordinal(truth.pairs.ravel()).reshape(-1, 2)
    dt = ordn[:, 1] - ordn[:, 0]
    names = list(truth.landcover_names)
    urban, crop, forest = (truth.landcover == names.index(n) for n in ("urban", "cropland", "forest"))
    long_pairs = np.flatnonzero(dt >= 36)
    assert long_pairs.size
    for i in long_pairs[:4]:
        cc = _read_cc(geoc, *truth.pairs[i])
        assert np.median(cc[truth.water]) < 0.2
        veg = np.median(cc[crop | forest])
        assert np.median(cc[urban]) > veg + 0.2
    short = int(np.argmin(dt))
    cc_short = _read_cc(geoc, *truth.pairs[short])
    cc_long = _read_cc(geoc, *truth.pairs[long_pairs[0]])
    assert np.median(cc_short[crop]) > np.median(cc_long[crop])
    # coverage: recorded == written, mostly above 0.5, never above the land fraction
    for i in (0, len(truth.pairs) // 2, len(truth.pairs) - 1):
        unw = _read_unw(geoc, *truth.pairs[i])
        assert np.isfinite(unw).mean() == pytest.approx(float(truth.coverage[i]), abs=1e-6)
    assert np.mean(truth.coverage > 0.5) >= 0.8
    assert np.all(truth.coverage <= 1 - truth.water.mean() + 1e-6)


def test_earthquake_step(tmp_path: Path) -> None:
    cfg = SMALL.model_copy(update={"earthquake": True, "n_unw_errors": 0})
    truth = simulate_frame(tmp_path, cfg)
    assert truth.eq_date > 0 and truth.eq_step.max() == pytest.approx(cfg.eq_offset, rel=0.2)
    after = truth.epochs >= truth.eq_date
    assert after.any() and (~after).any()
    k = int(np.argmax(after))
    jump = truth.cum[k] - truth.cum[k - 1]
    px = np.unravel_index(np.argmax(truth.eq_step), truth.eq_step.shape)
    assert jump[px] == pytest.approx(truth.eq_step[px], abs=2.0)
    # the step is not in the gap: both epochs are in the same network part
    if truth.gaps.size:
        assert truth.epochs[k - 1] != truth.gaps[0, 0]


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SimConfig(shape=(8, 8))
    with pytest.raises(ValueError):
        SimConfig(bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        SimConfig(frame="bad")
    assert SimConfig().orbit == "D" and SimConfig(frame="010A_05000_131313").orbit == "A"


def test_ascending_geometry(tmp_path: Path) -> None:
    cfg = SimConfig(shape=(24, 24), n_epoch=6, n_missing=0, n_unw_errors=0, frame="010A_05000_131313")
    simulate_frame(tmp_path, cfg)
    e = read_raster(tmp_path / "GEOC" / "010A_05000_131313.geo.E.tif")
    n = read_raster(tmp_path / "GEOC" / "010A_05000_131313.geo.N.tif")
    assert np.all(e < -0.5) and np.all(n < 0)
    meta = (tmp_path / "GEOC" / "metadata.txt").read_text()
    assert "heading=-12.6" in meta


def test_gap_position_and_generator_seed(tmp_path: Path) -> None:
    cfg = SimConfig(shape=(24, 24), n_epoch=20, n_missing=2, gap_position=0.25, n_unw_errors=0, seed=3)
    gen = np.random.default_rng(123)
    truth = simulate_frame(tmp_path, cfg, rng=gen)
    assert truth.seed != cfg.seed
    (before, _after), = truth.gaps
    assert int(np.sum(truth.epochs <= before)) == 5
    assert load_truth(tmp_path).seed == truth.seed
    with pytest.raises(ValueError):
        SimConfig(n_epoch=6, gap_position=0.1)
