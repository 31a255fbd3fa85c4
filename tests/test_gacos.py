"""GACOS correction (Step 0-3): real GACOS files and a SNAP interferogram, and simulated truth."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests._shared import figures_skipped

from kansho import run_timeseries
from kansho.config import IngestConfig, RunConfig
from kansho.demo import compare_with_truth
from kansho.errors import InputError
from kansho.io.envi import open_headed, read_binary
from kansho.io.gacos import KIND_ZTD_M, find_delay_files, read_delay
from kansho.io.inputs import LAYOUT_ENVI, discover_inputs
from kansho.prep import bilinear_resample, delay_phase, phase_std, zenith_to_slant
from kansho.store import open_stack
from kansho.synth import SimConfig, simulate_frame
from kansho.synth.gacos import write_gacos

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "gacos_india"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real/gacos_india")
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="shared real data not available")

IFG = "Unw_Phase_ifg_17Mar2017_10Apr2017_VV.img"
# the published example of this pair (GInSARCorW's GACOS.PhCor call) uses these
WAVELENGTH = 0.055463
INCIDENCE_DEG = 39.16362


# ----------------------------------------------------------------------------------- real files
@needs_real
def test_real_ztd_grid_byte_order_and_values() -> None:
    files = find_delay_files(REAL)
    assert sorted(files) == [20170317, 20170410]
    for date, path in files.items():
        dm = read_delay(path)
        assert dm.date == date and dm.kind == KIND_ZTD_M
        # grid from the .rsc: 140 x 80, X_FIRST/Y_FIRST as the top-left corner, 3" posting
        assert dm.grid.shape == (80, 140)
        assert dm.grid.transform == pytest.approx((86.26667, 0.00083333, 0.0, 23.83333, 0.0, -0.00083333))
        # values against the raw file: 80 x 140 little-endian float32, row-major
        raw = np.frombuffer(path.read_bytes(), dtype="<f4").reshape(80, 140)
        np.testing.assert_array_equal(dm.data, raw)
        # little-endian is the right order: zenith total delays near sea level are ~2.3-2.4 m
        assert np.nanmin(dm.data) > 2.2 and np.nanmax(dm.data) < 2.45
        be = np.frombuffer(path.read_bytes(), ">f4")  # the other byte order gives no plausible delay field
        assert ((be > 2.2) & (be < 2.45)).mean() < 0.5
    a = read_delay(files[20170317]).data
    assert a[0, 0] == pytest.approx(2.3442779, abs=1e-6) and a[-1, -1] == pytest.approx(2.353597, abs=1e-6)


@needs_real
def test_real_snap_interferogram_read() -> None:
    spec, grid, _, _ = open_headed(REAL / IFG)
    assert spec.dtype == ">f4" and (spec.width, spec.height) == (769, 470)
    raw = np.frombuffer((REAL / IFG).read_bytes(), dtype=">f4").reshape(470, 769)
    unw = read_binary(REAL / IFG, spec)
    np.testing.assert_array_equal(unw, raw.astype(np.float32))
    assert unw.dtype == np.float32 and np.isfinite(unw).all() and unw.min() > -20 and unw.max() < 20
    # map info: 1-based pixel (386, 236) at (86.32977, 23.79972), 1.325e-4 deg posting
    dx = 1.325015044076275e-4
    assert grid is not None and grid.shape == (470, 769)
    assert grid.transform[0] + 385 * dx == pytest.approx(86.32976800981312, abs=1e-9)
    assert grid.transform[3] - 235 * dx == pytest.approx(23.79971642606433, abs=1e-9)
    # the folder is auto-detected as the ENVI layout with coherence
    inputs = discover_inputs(REAL)
    assert inputs.layout == LAYOUT_ENVI and inputs.ifgdates == ["20170317_20170410"]
    assert inputs.pairs[0].cc is not None and inputs.grid.matches(grid)


@needs_real
def test_real_correction_runs_on_the_pair() -> None:
    spec, grid, _, _ = open_headed(REAL / IFG)
    assert grid is not None
    unw = read_binary(REAL / IFG, spec)
    d1, d2 = (read_delay(REAL / f"{d}.ztd") for d in (20170317, 20170410))
    z1, z2 = (bilinear_resample(d.data, d.grid, grid) for d in (d1, d2))
    assert np.isfinite(z1).all() and np.isfinite(z2).all()  # GACOS covers the interferogram
    # a hand-computed bilinear sample from the four GACOS neighbours of one interferogram pixel
    r, c = 200, 500
    fx = (grid.lon()[c] - d1.grid.transform[0]) / d1.grid.dx - 0.5
    fy = (grid.lat()[r] - d1.grid.transform[3]) / d1.grid.dy - 0.5
    i, j = int(fy), int(fx)
    ty, tx = fy - i, fx - j
    q = d1.data.astype(np.float64)
    want = (q[i, j] * (1 - ty) * (1 - tx) + q[i, j + 1] * (1 - ty) * tx + q[i + 1, j] * ty * (1 - tx)
            + q[i + 1, j + 1] * ty * tx)
    assert z1[r, c] == pytest.approx(want, abs=1e-6)
    u = math.cos(math.radians(INCIDENCE_DEG))
    corr = delay_phase(zenith_to_slant(z1, u), zenith_to_slant(z2, u), WAVELENGTH)
    # 4π/λ · ΔZTD / cos θ: check one pixel by hand
    assert corr[r, c] == pytest.approx(4 * math.pi / WAVELENGTH * (z2[r, c] - z1[r, c]) / u, rel=1e-4)
    fixed = unw - corr
    before, after = phase_std(unw), phase_std(fixed)
    assert np.isfinite(before) and np.isfinite(after)
    # the delay change over this 11 km scene is small (ΔZTD spread ~0.3 mm => ~0.1 rad): the
    # correction's spread is what the files say, and it changes the phase spread by no more than that
    spread = phase_std(corr)
    assert 0.01 < spread < 0.5
    assert abs(after - before) <= spread + 1e-6


# ------------------------------------------------------------------------------------ errors
def test_reader_errors_are_one_line(tmp_path: Path) -> None:
    data = np.full((4, 5), 2.3, "<f4")
    ztd = tmp_path / "20200101.ztd"
    data.tofile(ztd)
    with pytest.raises(InputError, match=r"missing companion header 20200101\.ztd\.rsc") as e:
        read_delay(ztd)
    assert "\n" not in str(e.value)
    rsc = tmp_path / "20200101.ztd.rsc"
    rsc.write_text("WIDTH 5\nFILE_LENGTH four\nX_FIRST 1\nY_FIRST 2\nX_STEP 0.1\nY_STEP -0.1\n")
    with pytest.raises(InputError, match="FILE_LENGTH = 'four' is not a number"):
        read_delay(ztd)
    rsc.write_text("WIDTH 5\nFILE_LENGTH 4\nX_FIRST 1\nY_FIRST 2\nX_STEP 0.1\nY_STEP -0.1\n")
    assert read_delay(ztd).data.shape == (4, 5)
    ztd.write_bytes(data.tobytes()[:-4])
    with pytest.raises(InputError, match="wrong byte size: 76 bytes, expected 80"):
        read_delay(ztd)
    data.astype(">f4").tofile(ztd)  # big-endian GACOS would be misread: caught by the units check
    with pytest.raises(InputError, match="not in metres"):
        read_delay(ztd)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no GACOS delay files"):
        find_delay_files(empty)
    with pytest.raises(InputError, match="GACOS folder not found"):
        find_delay_files(tmp_path / "absent")


# ------------------------------------------------------------------------------- simulated truth
@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("gsim")
    truth = simulate_frame(d, SimConfig(shape=(60, 60), n_epoch=20, interval_days=24, n_unw_errors=0, gap=False),
                           rng=5)
    write_gacos(truth, d / "GACOS", rng=1)
    return d, truth


@pytest.fixture(scope="module")
def runs(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    d, truth = sim
    with figures_skipped():  # the tests compare numbers only
        plain = run_timeseries(d / "GEOC", tmp_path_factory.mktemp("plain"), RunConfig(), progress=False)
        cfg = RunConfig(ingest=IngestConfig(gacos=str(d / "GACOS")))
        corr = run_timeseries(d / "GEOC", tmp_path_factory.mktemp("gacos"), cfg, progress=False)
    return plain, corr, truth


def test_simulated_correction_removes_the_atmosphere(runs: Any) -> None:
    plain, corr, truth = runs
    st0, st1 = plain.stack, corr.stack
    g = st1.attrs["prep"]["gacos"]
    assert g["kind"] == KIND_ZTD_M and all(g["corrected"]) and g["dropped"] == []
    # the correction may blank pixels after ingest read them: no step 1-1 sums from ingest (step 1-1 reads)
    assert st1.attrs.get("qc_sums") is None and st0.attrs.get("qc_sums") is not None
    before = np.array(g["std_before"], float)
    after = np.array(g["std_after"], float)
    u0 = np.asarray(st0.group["unw"][:], np.float64)
    expected_before, expected_after = [], []
    for k, (a, b) in enumerate(zip(st0.date1, st0.date2, strict=True)):
        e1, e2 = truth.epoch_index(a), truth.epoch_index(b)
        atm_phase = (truth.atmosphere[e2] - truth.atmosphere[e1]) * truth.mm_to_rad
        ok = np.isfinite(u0[k])
        expected_before.append(u0[k][ok].std())
        expected_after.append((u0[k][ok] - atm_phase[ok]).std())  # what a perfect delay model leaves
    expected_before = np.array(expected_before)
    expected_after = np.array(expected_after)
    # the statistics are of the same pixels as the uncorrected stack
    np.testing.assert_allclose(before, expected_before, rtol=1e-3)
    # the delays are written on a 0.8x, shifted GACOS grid and resampled back bilinearly: the
    # interpolation error of the (smoothed, ~km-scale) turbulence is a few % of its std, so the
    # corrected std matches the truth's atmosphere-free std within 10 % for every pair
    np.testing.assert_allclose(after, expected_after, rtol=0.10)
    # and the reduction is large: the atmosphere dominates the simulated interferograms
    assert np.median(after / before) < 0.5
    assert (after < before).mean() > 0.9


def test_simulated_correction_improves_velocity(runs: Any) -> None:
    plain, corr, truth = runs
    a0 = compare_with_truth(plain, truth)
    a1 = compare_with_truth(corr, truth)
    # without GACOS the residual atmosphere (~6-15 mm/epoch) dominates the 20-epoch fit (~3 mm/yr);
    # with perfect delays what remains is decorrelation noise and resampling error
    assert a1.vel_rmse < 0.6 * a0.vel_rmse, (a0.summary(), a1.summary())
    assert a1.ts_rmse < 0.5 * a0.ts_rmse, (a0.summary(), a1.summary())
    info = corr.out / "info" / "03gacos_stats.txt"
    lines = [ln for ln in info.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == corr.stack.n_pair


def test_missing_gacos_date_drop_or_keep(sim: Any, tmp_path: Path) -> None:
    d, truth = sim
    gdir = tmp_path / "GACOS"
    shutil.copytree(d / "GACOS", gdir)
    gone = int(truth.epochs[5])
    (gdir / f"{gone}.ztd").unlink()
    affected = {f"{a}_{b}" for a, b in truth.pairs if gone in (a, b)}
    assert affected
    cfg = RunConfig(ingest=IngestConfig(gacos=str(gdir)))
    ctx = run_timeseries(d / "GEOC", tmp_path / "drop", cfg, progress=False, steps=["ingest"])
    names = set(ctx.stack.pair_names())
    assert not (names & affected) and len(names) == len(truth.pairs) - len(affected)
    assert {r[0] for r in ctx.result("ingest").dropped} == affected
    listed = (tmp_path / "drop" / "info" / "03gacos_dropped_ifg.txt").read_text()
    for n in affected:
        assert f"{n}  no GACOS delay for {gone}" in listed

    cfg_keep = RunConfig(ingest=IngestConfig(gacos=str(gdir), gacos_missing="keep"))
    ctx_k = run_timeseries(d / "GEOC", tmp_path / "keep", cfg_keep, progress=False, steps=["ingest"])
    plain = run_timeseries(d / "GEOC", tmp_path / "none", RunConfig(), progress=False, steps=["ingest"])
    assert ctx_k.stack.pair_names() == plain.stack.pair_names()
    g = ctx_k.stack.attrs["prep"]["gacos"]
    assert set(g["uncorrected"]) == affected
    u_k = np.asarray(ctx_k.stack.group["unw"][:])
    u_p = np.asarray(plain.stack.group["unw"][:])
    for k, n in enumerate(plain.stack.pair_names()):
        same = np.array_equal(u_k[k], u_p[k], equal_nan=True)
        assert same == (n in affected), n  # uncorrected exactly where the delay is missing


def test_gacos_fingerprint_reruns_ingest(sim: Any, tmp_path: Path) -> None:
    d, _ = sim
    gdir = tmp_path / "G"
    shutil.copytree(d / "GACOS", gdir)
    cfg = RunConfig(ingest=IngestConfig(gacos=str(gdir)))
    run_timeseries(d / "GEOC", tmp_path / "o", cfg, progress=False, steps=["ingest"])
    again = run_timeseries(d / "GEOC", tmp_path / "o", cfg, progress=False, steps=["ingest"])
    assert again.timings["ingest"] == 0.0  # unchanged: skipped
    f = min(gdir.glob("*.ztd"))
    a = np.fromfile(f, "<f4")
    (a + np.float32(0.001)).tofile(f)
    third = run_timeseries(d / "GEOC", tmp_path / "o", cfg, progress=False, steps=["ingest"])
    assert third.timings["ingest"] > 0.0  # a changed delay file re-runs ingest
    assert open_stack(tmp_path / "o").n_pair > 0
