"""The adaptive atmospheric filter (``filter.method: adaptive``, :mod:`kansho.filters_adaptive`):
its numerics against closed forms and brute force, its choices on synthetic cubes of known
atmosphere, and its accuracy on simulated frames against LiCSBAS's fixed-width filter and no filter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from tests._shared import FinishedRun

from kansho import filters
from kansho import filters_adaptive as fa

PIX_KM = (0.1, 0.1)


def _cube(seed: int, corr_px: float, atm_mm: float, noise_mm: float, *, n: int = 64, ne: int = 40
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t yr, true deformation, series) (ne, n, n) mm: a subsidence bowl (linear) and a seasonal
    half (annual), plus per-epoch atmosphere (white noise low-passed by a Gaussian of ``corr_px``,
    std ``atm_mm``, relative to epoch 0) and white pixel noise ``noise_mm``; 24-day cadence."""
    rng = np.random.default_rng(seed)
    t = np.arange(ne) * 24 / 365.25
    yy, xx = np.mgrid[0:n, 0:n]
    rate = -30 * np.exp(-((yy - n / 2) ** 2 + (xx - n / 3) ** 2) / (2 * (n / 6) ** 2))
    defo = t[:, None, None] * rate[None] + 5 * np.sin(2 * np.pi * t)[:, None, None] * (xx > n / 2)[None]
    defo = defo - defo[0]
    a = np.stack([ndimage.gaussian_filter(rng.standard_normal((n, n)), corr_px, mode="wrap") for _ in range(ne)])
    a *= atm_mm / a.std() if atm_mm > 0 else 0.0
    cum = defo + a - a[0] + noise_mm * rng.standard_normal((ne, n, n))
    return t, defo, cum - cum[0]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(x * x)))


# --- numerics against closed forms and brute force -------------------------------------------------

def test_model_residual_matches_lstsq_per_column_with_gaps() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 3, 30))
    B = fa.temporal_basis(t)
    assert B.shape == (30, 4)  # three years of data: the annual terms are in
    y = rng.standard_normal((30, 50))
    y[rng.random(y.shape) < 0.2] = np.nan
    y[:, :10] = rng.standard_normal((30, 10))  # complete columns take the shared projector
    r = fa.model_residual(y, B)
    for j in range(y.shape[1]):
        ok = np.isfinite(y[:, j])
        coef = np.linalg.lstsq(B[ok], y[ok, j], rcond=None)[0]
        np.testing.assert_allclose(r[ok, j], y[ok, j] - B[ok] @ coef, atol=1e-10)
        assert np.isnan(r[~ok, j]).all()


def test_short_series_has_no_annual_term() -> None:
    assert fa.temporal_basis(np.linspace(0, 0.8, 20)).shape == (20, 2)


def test_temporal_cv_of_the_model_alone_is_exact_leave_one_out() -> None:
    """For a projection (σ_t = ∞) the shortcut ``r_i / (1 − H_ii)`` is the exact leave-one-out residual."""
    rng = np.random.default_rng(1)
    t = np.arange(25) * 0.1
    B = fa.temporal_basis(t)
    y = rng.standard_normal((25, 7))
    sums, n = fa.temporal_cv(y, t, B, [np.inf])
    brute = np.zeros(25)
    for i in range(25):
        keep = np.arange(25) != i
        coef = np.linalg.lstsq(B[keep], y[keep], rcond=None)[0]
        brute[i] = float(np.sum((y[i] - B[i] @ coef) ** 2))
    assert n == 7
    assert sums[0, 0] == pytest.approx(brute.sum(), rel=1e-9)
    assert sums[0, 1] == pytest.approx(brute[0], rel=1e-9)
    assert fa.temporal_score(sums, 25)[0] == pytest.approx(brute.mean() + brute[0], rel=1e-9)


def test_highpass_of_the_model_alone_removes_rate_and_annual_exactly() -> None:
    t = np.arange(40) * 24 / 365.25
    y = (3.0 + 12.0 * t + 4.0 * np.sin(2 * np.pi * t + 0.7))[:, None] * np.ones((1, 5))
    for s in (np.inf, 0.3):
        np.testing.assert_allclose(fa.adaptive_highpass(y, t, fa.temporal_basis(t), s), 0.0, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_highpass_of_complete_columns_by_one_product_is_the_nan_aware_one(seed: int) -> None:
    """The complete columns' high-pass by one product with ``I − H`` equals, to round-off, the
    model's fit column by column less the NaN-aware Gaussian smoothing of its residual (the path of
    the columns with a gap), and a column's result does not depend on the others in its block."""
    from kansho.filters import temporal_gaussian

    rng = np.random.default_rng(seed)
    ne = int(rng.integers(8, 60))
    t = np.sort(rng.uniform(0.0, 4.0, ne))
    B = fa.temporal_basis(t)
    y = np.cumsum(rng.standard_normal((ne, 300)), axis=0) * 5.0 + 40.0 * t[:, None]
    y[rng.random(y.shape) < 0.02] = np.nan
    y[:, :3] = np.nan
    for s in (float(rng.uniform(0.05, 1.0)), np.inf):
        got = fa.adaptive_highpass(y, t, B, s)
        r = np.full(y.shape, np.nan)
        for j in np.flatnonzero(np.isfinite(y).any(axis=0)):
            ok = np.isfinite(y[:, j])
            if ok.all():
                r[:, j] = y[:, j] - B @ np.linalg.lstsq(B, y[:, j], rcond=None)[0]
            else:
                r[:, j] = fa.model_residual(y[:, j:j + 1], B)[:, 0]
        ref = r if not np.isfinite(s) else r - temporal_gaussian(r, t, s)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.nanmax(np.abs(y)))
        some = rng.random(y.shape[1]) < 0.5
        np.testing.assert_allclose(fa.adaptive_highpass(y[:, some], t, B, s), got[:, some], rtol=0,
                                   atol=1e-12 * np.nanmax(np.abs(y)))


def test_hole_lowpass_never_uses_the_pixel_itself() -> None:
    img = np.zeros((31, 31))
    img[15, 15] = 1.0
    c = fa.hole_lowpass(img, (2.0, 2.0), hole=1)
    assert c[15, 15] == 0.0  # an impulse is not seen at its own pixel (nor within the hole)
    assert c[14:17, 14:17].max() == 0.0
    assert c[15, 17] > 0.0  # but by pixels two away
    flat = np.full((20, 20), 3.5)
    flat[4, 4] = np.nan
    np.testing.assert_allclose(fa.hole_lowpass(flat, (3.0, 1.5)), 3.5, atol=1e-12)  # constants pass, NaN filled
    valid = np.isfinite(flat)
    np.testing.assert_allclose(fa.hole_lowpass(flat, (3.0, 1.5), den=fa.hole_weight(valid, (3.0, 1.5))),
                               fa.hole_lowpass(flat, (3.0, 1.5)), atol=1e-12)


@pytest.mark.parametrize(("shape", "sig", "hole"), [((120, 90), (9.0, 11.0), 1), ((120, 90), (8.0, 12.5), 17),
                                                    ((64, 80), (20.0, 8.0), 200), ((90, 70), (8.5, 0.5), 3)])
def test_wide_hole_kernel_by_fft_is_the_gaussian_less_its_centre(shape: tuple[int, int], sig: tuple[float, float],
                                                                 hole: int) -> None:
    """A wide kernel's ``(G − G_c) *`` is one FFT convolution with the holed kernel: it equals the
    definition, direct ``G *`` less direct ``G_c *`` (to round-off, 1e-12 of the image), also for a hole
    wider than the kernel (then zero) and the impulse's own pixel is never seen."""
    rng = np.random.default_rng(hole)
    x = rng.normal(size=(2, *shape))
    x[:, rng.random(shape) < 0.3] = 0.0
    direct = np.stack([ndimage.gaussian_filter(a, sig, mode="constant", truncate=4.0) for a in x])
    ky, kx = fa._centre_kernel(sig[0], hole, 4.0), fa._centre_kernel(sig[1], hole, 4.0)
    direct -= ndimage.correlate1d(ndimage.correlate1d(x, ky, axis=1, mode="constant"), kx, axis=2, mode="constant")
    np.testing.assert_allclose(fa._hole_convolve(x, sig, hole, 4.0), direct, rtol=0, atol=1e-12 * np.abs(x).max())
    img = np.zeros(shape)
    img[shape[0] // 2, shape[1] // 2] = 1.0
    c = fa._hole_convolve(img[None], sig, hole, 4.0)[0]
    h = min(hole, shape[0] // 2)
    assert np.abs(c[shape[0] // 2 - h: shape[0] // 2 + h + 1, shape[1] // 2]).max() < 1e-15


def test_choose_spatial_weight_is_the_least_squares_one() -> None:
    # sums (Σxc, Σcc, Σxx, n): α* = 0.5 for the first width, 1.0 (clipped from 2) for the second
    ch = fa.choose_spatial(np.array([[5.0, 10.0, 10.0, 100], [2.0, 1.0, 10.0, 100]]))
    assert ch.gains[0] == pytest.approx(0.25)  # 1 - (10 - 2·0.5·5 + 0.25·10)/10
    assert ch.gains[1] == pytest.approx(0.3)  # 1 - (10 - 4 + 1)/10
    assert (ch.index, ch.alpha) == (1, 1.0)
    declined = fa.choose_spatial(np.array([[0.01, 1.0, 10.0, 100]]))
    assert (declined.index, declined.alpha) == (-1, 0.0)


# --- choices on synthetic cubes ------------------------------------------------------------------

@pytest.mark.parametrize(("corr_px", "noise_mm"), [(3.0, 3.0), (8.0, 6.0)])
def test_chosen_width_is_near_the_best_one_and_beats_no_filter(corr_px: float, noise_mm: float) -> None:
    """The width chosen by cross-validation gives (within 5 %) the least true error of all the
    candidates (found here with the truth), grows with the atmosphere's correlation length and the
    noise, and the filtered series is much closer to the truth than the unfiltered one."""
    t, defo, cum = _cube(2, corr_px, 5.0, noise_mm, n=48, ne=30)
    res = fa.adaptive_filter(cum, t, pixel_km=PIX_KM)
    km, _ = fa.spatial_candidates(PIX_KM, cum.shape[1:])
    errs = {k: _rms(fa.adaptive_filter(cum, t, pixel_km=PIX_KM, sigma_km=k, sigma_yr=res.sigma_yr).cum_filt - defo)
            for k in km if k <= 1.0}  # up to 10 px: the best is far below (checked: the error rises beyond)
    best = min(errs, key=lambda k: errs[k])
    err = _rms(res.cum_filt - defo)
    assert err <= 1.05 * errs[best], (res.sigma_km, best, errs)
    assert err < 0.85 * _rms(cum - defo)  # the white noise (3 or 6 mm of 8 or 11) stays
    assert res.sigma_yr >= 8 * (t[1] - t[0])  # linear + annual deformation: the model (nearly) alone
    assert 0.5 < res.alpha <= 1.0


def test_width_grows_with_the_noise() -> None:
    t, _, quiet = _cube(3, 6.0, 5.0, 0.5)
    _, _, noisy = _cube(3, 6.0, 5.0, 8.0)
    wide = fa.adaptive_filter(noisy, t, pixel_km=PIX_KM).sigma_km
    assert wide > fa.adaptive_filter(quiet, t, pixel_km=PIX_KM).sigma_km


def test_pure_deformation_without_atmosphere_is_left_unchanged() -> None:
    """Linear + annual deformation and white noise: the high-pass is the noise alone, which no
    neighbour predicts (held-out gain ~ 0 < 2 %), so the filter declines and returns the series
    bit for bit (tolerance 0: nothing is subtracted)."""
    t, _, cum = _cube(4, 4.0, 0.0, 2.0)
    res = fa.adaptive_filter(cum, t, pixel_km=PIX_KM, ref_window=(0, 5, 0, 5))
    assert res.alpha == 0.0 and np.isnan(res.sigma_km)
    assert res.gain == 0.0
    np.testing.assert_array_equal(res.cum_filt, cum)


def test_nonlinear_deformation_picks_a_finite_temporal_width() -> None:
    """A slow acceleration the model (rate + annual) cannot follow: cross-validation smooths the
    residual (finite σ_t) instead of taking the model alone, and the filter still improves."""
    t, defo, cum = _cube(5, 4.0, 3.0, 1.0)
    extra = 40.0 * np.exp(-((t - 1.2) / 0.25) ** 2)[:, None, None] * np.ones(cum.shape[1:])[None]
    extra = extra - extra[0]
    res = fa.adaptive_filter(cum + extra, t, pixel_km=PIX_KM)
    assert np.isfinite(res.sigma_yr)
    assert _rms(res.cum_filt - defo - extra) < 0.8 * _rms(cum - defo)


# --- simulated frames through the chain -------------------------------------------------------------

def _filtered_run(src: Path, out: Path, method: str) -> float:
    """TS RMSE (mm) of cum_filt against the truth after re-running the filter with ``method``."""
    from kansho import run_timeseries
    from kansho.config import load_config
    from kansho.demo import compare_with_truth
    from kansho.synth import load_truth

    run = run_timeseries(None, out, load_config(None, {"filter.method": method}), progress=False)
    return compare_with_truth(run, load_truth(src)).ts_rmse_filt


def test_adaptive_beats_gaussian_on_the_small_frame(small_run: FinishedRun, copy_run, no_figures: None) -> None:
    """The shared small frame (60 px, 30 epochs): the default (adaptive) filtered series is closer to
    the truth than LiCSBAS's filter's, and than no filter. The run records its decision."""
    from kansho.demo import compare_with_truth
    from kansho.run import open_run

    acc = compare_with_truth(open_run(small_run.out), small_run.truth)
    assert open_run(small_run.out).result("filter").method == "adaptive"
    gauss = _filtered_run(small_run.input.parent, copy_run(small_run, "g"), "gaussian")
    assert acc.ts_rmse_filt < 0.9 * gauss, (acc.ts_rmse_filt, gauss)
    assert acc.ts_rmse_filt < acc.ts_rmse
    info = (small_run.out / "info" / "16filter.txt").read_text()
    assert "method    adaptive" in info and "adaptive filter" in info


def test_chain_passes_equal_the_filter_in_memory(small_run: FinishedRun) -> None:
    """Step 1-6's blocked passes (float32 work arrays) give what :func:`fa.adaptive_filter` gives in
    memory (float64) with the widths the chain chose: one implementation. Tolerance 1e-3 mm: the
    float32 rounding of ~10-100 mm values (~1e-5 relative) carried through a few sums."""
    from kansho._dates import years_since_first
    from kansho.run import open_run

    run = open_run(small_run.out)
    lres, fres = run.result("loops"), run.result("filter")
    t = years_since_first(lres.epochs)
    res = fa.adaptive_filter(np.asarray(run.array("cum")[:], np.float64), t,
                             pixel_km=run.stack.grid.pixel_size_km(), mask=run.read2d("mask") == 1,
                             ref_window=run.read2d("refmask") == 1,
                             sigma_yr=np.inf if fres.sigma_yr is None else fres.sigma_yr, sigma_km=fres.sigma_km)
    assert res.alpha == pytest.approx(fres.alpha, abs=1e-4)
    np.testing.assert_allclose(np.asarray(run.array("cum_filt")[:]), res.cum_filt, atol=1e-3)


@pytest.mark.slow
def test_noisy_ten_look_frame_is_not_made_worse(tmp_path: Path, no_figures: None) -> None:
    """10 looks and strong (15 mm) turbulence: the filtered series is no worse than the unfiltered
    one (LiCSBAS's filter made such frames worse), and better than LiCSBAS's filter."""
    import shutil

    from kansho import run_timeseries
    from kansho.config import RunConfig
    from kansho.demo import compare_with_truth
    from kansho.synth import SimConfig, simulate_frame

    cfg = SimConfig(shape=(60, 60), n_epoch=30, interval_days=24, looks=10, atm_turb_mm=15.0, n_unw_errors=1)
    truth = simulate_frame(tmp_path / "sim", cfg, rng=5)
    run = run_timeseries(tmp_path / "sim" / "GEOC", tmp_path / "a", RunConfig(), progress=False)
    acc = compare_with_truth(run, truth)
    assert acc.ts_rmse_filt <= acc.ts_rmse
    shutil.copytree(tmp_path / "a", tmp_path / "g")
    assert acc.ts_rmse_filt < _filtered_run(tmp_path / "sim", tmp_path / "g", "gaussian")


@pytest.mark.parametrize("seed", [0, 1])
def test_cv_sums_with_kept_weights_are_those_of_the_plain_hole_lowpass(seed: int) -> None:
    """:func:`fa.spatial_cv_sums` (the weight of the finite pattern kept across epochs and widths)
    gives the sums of :func:`fa.hole_lowpass` computing its own weight (the same pixels counted; the
    sums to round-off: the compiled sweep adds in another order than numpy's dot), and the kept
    weight is :func:`fa.hole_weight`'s."""
    rng = np.random.default_rng(seed)
    ny, nx = 70, 90
    pattern = rng.random((ny, nx)) < 0.25
    px = [(s, 1.3 * s) for s in fa.SPATIAL_PX[:12]]
    fa.clear_caches()
    for _ in range(3):
        hp = rng.standard_normal((ny, nx))
        hp[pattern] = np.nan
        ref = np.zeros((len(px), 4))
        for i, sig in enumerate(px):
            c = fa.hole_lowpass(hp, sig)
            ok = np.isfinite(hp) & np.isfinite(c)
            ref[i] = (hp[ok] @ c[ok], c[ok] @ c[ok], hp[ok] @ hp[ok], ok.sum())
        got = fa.spatial_cv_sums(hp, px)
        np.testing.assert_array_equal(got[:, 3], ref[:, 3])
        np.testing.assert_allclose(got[:, :3], ref[:, :3], rtol=1e-12, atol=1e-12 * np.abs(ref[:, :3]).max())
    for sig in px:
        np.testing.assert_array_equal(fa.cached_hole_weight(~pattern, sig), fa.hole_weight(~pattern, sig))
    fa.clear_caches()


def test_cv_rows_of_many_epochs_are_each_epochs_sums_and_keep_nothing() -> None:
    """:func:`fa.spatial_cv_rows` (the widths outermost, step 1-6's groups of epochs) gives each epoch's
    :func:`fa.spatial_cv_sums` bit for bit, epochs of two finite patterns among them, in any order of
    the widths asked; it keeps no hole weight or kernel transform (one width's at a time: the memory of a
    dask worker's cross-validation)."""
    rng = np.random.default_rng(4)
    ny, nx = 64, 80
    pats = [rng.random((ny, nx)) < 0.2, rng.random((ny, nx)) < 0.3]
    hps = rng.standard_normal((5, ny, nx))
    for k in range(5):
        hps[k][pats[k % 2]] = np.nan
    px = [(s, 1.2 * s) for s in fa.SPATIAL_PX[:14]]  # narrow (direct) and wide (FFT) widths
    only = [13, 0, 5, 9, 2]
    fa.clear_caches()
    got = fa.spatial_cv_rows(hps, px, hole=1, only=only, fft_float32=True)
    assert not fa._DEN_CACHE and not filters._KERNEL_CACHE
    ref = np.stack([fa.spatial_cv_sums(h, px, hole=1, only=only, fft_float32=True) for h in hps])
    np.testing.assert_array_equal(got, ref)
    assert np.all(got[:, [i for i in range(len(px)) if i not in only]] == 0) and np.all(got[:, only, 3] > 0)
    fa.clear_caches()


def test_whole_arrays_kept_by_the_spatial_pass_follow_their_files(tmp_path: Path) -> None:
    """The per-epoch pass keeps the epoch-independent arrays it reads, and reads them again once
    their files change (a later run in the same process)."""
    import zarr

    from kansho.chain.steps.filter import _read_whole
    from kansho.chain.tasks import Task
    from kansho.layout import RunLayout

    g = zarr.open_group(str(RunLayout(tmp_path).work_store), mode="w", zarr_format=3)
    a = g.create_array("x", shape=(5, 6), chunks=(3, 3), dtype="f8")
    a[:] = np.arange(30.0).reshape(5, 6)
    task = Task(str(tmp_path))
    first = _read_whole(task, "x")
    assert _read_whole(task, "x") is first
    np.testing.assert_array_equal(first, np.arange(30.0).reshape(5, 6))
    a[:] = -np.arange(30.0).reshape(5, 6)
    np.testing.assert_array_equal(_read_whole(task, "x"), -np.arange(30.0).reshape(5, 6))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_centre_taps_are_ndimage_to_the_bit(seed: int) -> None:
    """The compiled 3 × 3 centre subtraction of the hole filter equals the two
    :func:`scipy.ndimage.correlate1d` passes it replaces, exactly (also on a strided view)."""
    from kansho._filter_jit import subtract_centre3

    rng = np.random.default_rng(seed)
    for _ in range(10):
        k, ny, nx = int(rng.integers(1, 3)), int(rng.integers(1, 60)), int(rng.integers(1, 60))
        x = rng.standard_normal((k, ny, nx)) * 10 ** rng.uniform(-3, 3)
        x[rng.random(x.shape) < 0.3] = 0.0
        ky = fa._centre_kernel(float(rng.uniform(0.5, 40.0)), 1, 4.0)
        kx = fa._centre_kernel(float(rng.uniform(0.5, 40.0)), 1, 4.0)
        buf = rng.standard_normal((k, ny, nx + 7))
        full = buf[..., 3: 3 + nx]
        ref = full - ndimage.correlate1d(ndimage.correlate1d(x, ky, axis=1, mode="constant"), kx, axis=2,
                                         mode="constant")
        subtract_centre3(full, x, float(ky[1]), float(ky[0]), float(kx[1]), float(kx[0]))
        np.testing.assert_array_equal(full, ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_held_out_sums_are_numpys(seed: int) -> None:
    """The compiled sweep (frames from COMPILED_MIN_PX pixels) and NumPy's masked products (smaller
    frames) give the same held-out sums: the same pixels counted, the sums to round-off."""
    from kansho._filter_jit import held_out_sums

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 70))
    x[rng.random(x.shape) < 0.3] = np.nan
    num = rng.standard_normal(x.shape)
    den = rng.random(x.shape) * 0.01  # about a tenth at or below MIN_WEIGHT
    den[rng.random(x.shape) < 0.05] = 0.0
    ref = fa._held_out_sums(x, num, den)
    got = held_out_sums(x, num, den, fa.MIN_WEIGHT)
    assert got[3] == ref[3] == np.count_nonzero(np.isfinite(x) & (den > fa.MIN_WEIGHT))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("fft_float32", [True, False])
def test_cross_validation_of_float32_images_is_that_of_their_float64(compiled: bool, fft_float32: bool,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain's spatial cross-validation keeps its float32 high-pass as it is (not a float64 copy, nor every
    image's numerator in both types: 1.2 GB of the 2500 x 2500 px frame's eight epochs): the sums are those of the
    float64 images, bit for bit, compiled or not, each width convolved by FFT or not."""
    monkeypatch.setattr(fa, "COMPILED_MIN_PX", 1 if compiled else 10**9)
    rng = np.random.default_rng(7)
    hp = (rng.standard_normal((3, 90, 110)) * 5).astype(np.float32)
    hp[:, 10:30, 40:60] = np.nan
    hp[1, rng.random((90, 110)) < 0.1] = np.nan  # one epoch with its own finite pattern
    widths = [(2.0, 2.5), (9.0, 9.0), (20.0, 16.0)]  # the first convolved directly, the others by FFT
    got = fa.spatial_cv_rows(hp, widths, fft_float32=fft_float32)
    ref = fa.spatial_cv_rows(hp.astype(np.float64), widths, fft_float32=fft_float32)
    assert got.shape == (3, 3, 4) and (got[..., 3] > 0).all()
    np.testing.assert_array_equal(got, ref)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ny=st.integers(1, 40), nx=st.integers(1, 40), alpha=st.floats(0.01, 1.0),
       f32=st.booleans())
def test_filtered_epoch_kernel_bit_for_bit(seed: int, ny: int, nx: int, alpha: float, f32: bool) -> None:
    """The compiled sweep of a filtered epoch gives the NumPy expressions' bits: the prediction NaN where the
    weight is too small, NaN and ±inf in the first epoch's estimate (``nan_to_num``), a float32 base."""
    from kansho import _filter_jit

    rng = np.random.default_rng(seed)
    hp = rng.normal(0, 5, (ny, nx))
    hp[rng.random(hp.shape) < 0.3] = np.nan
    base = rng.normal(0, 50, (ny, nx)).astype(np.float32 if f32 else np.float64)
    sig = (float(rng.uniform(0.5, 3)), float(rng.uniform(0.5, 3)))
    den = fa.hole_weight(np.isfinite(hp), sig, hole=1)
    aps0 = rng.normal(0, 2, (ny, nx))
    aps0.ravel()[rng.integers(0, aps0.size, 3)] = [np.nan, np.inf, -np.inf]
    want = np.asarray(base, np.float64) - np.nan_to_num(alpha * fa.hole_lowpass(hp, sig, hole=1, den=den) - aps0,
                                                        nan=0.0)
    got = _filter_jit.filtered_epoch(base, fa.hole_numerator(hp, sig, hole=1), den, fa.MIN_WEIGHT, alpha, aps0)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("seed", [0, 3])
def test_cv_sums_in_float32_transforms_choose_as_float64(seed: int) -> None:
    """``fft_float32`` changes only the FFT widths' numerators, by their float32 round-off: the counts are
    the same, the sums within 1e-6 of their size (float32's ε is 1.2e-7; the transform adds a few ε), the
    direct widths' sums bit for bit, and the width and weight chosen the same (gains within 1e-7)."""
    rng = np.random.default_rng(seed)
    ny, nx = 150, 170
    atm = ndimage.gaussian_filter(rng.standard_normal((ny, nx)), 6.0) * 40 + rng.standard_normal((ny, nx))
    atm[rng.random((ny, nx)) < 0.3] = np.nan
    px = [(s, 1.1 * s) for s in fa.SPATIAL_PX[:14]]
    fa.clear_caches()
    ref = fa.spatial_cv_sums(atm, px)
    got = fa.spatial_cv_sums(atm, px, fft_float32=True)
    from kansho.filters import use_fft

    wide = np.array([use_fft(s) for s in px])
    assert wide.any() and (~wide).any()
    np.testing.assert_array_equal(got[~wide], ref[~wide])
    np.testing.assert_array_equal(got[:, 3], ref[:, 3])
    np.testing.assert_allclose(got[:, :3], ref[:, :3], rtol=1e-6)
    assert not np.array_equal(got[wide], ref[wide])  # float32 was used
    a, b = fa.choose_spatial(got), fa.choose_spatial(ref)
    assert a.index == b.index
    assert a.alpha == pytest.approx(b.alpha, rel=1e-6)
    np.testing.assert_allclose(a.gains, b.gains, atol=1e-7)
    # the order of the widths does not matter (the chain's tasks take them from both ends)
    order = list(range(len(px)))[::-1]
    np.testing.assert_array_equal(fa.spatial_cv_sums(atm, px, only=order, fft_float32=True), got)
    fa.clear_caches()


def test_single_flight_computes_an_entry_once_for_threads_that_want_it_together() -> None:
    """Threads asking for the same missing entry at once: one computes it, the others get that object; a
    second key is computed apart; with no room in the cache (nothing stored) each caller computes."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from kansho._flight import forget_flights, single_flight

    cache: dict[str, np.ndarray] = {}
    calls: list[str] = []
    lock = threading.Lock()

    def compute(key: str, store: bool) -> np.ndarray:
        with lock:
            calls.append(key)
        time.sleep(0.05)  # long enough for every thread to arrive while it runs
        value = np.full(3, float(len(calls)))
        if store:
            cache[key] = value
        return value

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda k: single_flight(cache, k, lambda: compute(k, True)), ["a"] * 6 + ["b"] * 2))
    assert sorted(calls) == ["a", "b"]
    assert all(g is cache["a"] for g in got[:6]) and all(g is cache["b"] for g in got[6:])
    calls.clear()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: single_flight({}, k, lambda: compute(k, False)), ["c"] * 4))
    assert calls == ["c"] * 4
    forget_flights()


def test_the_filter_step_forgets_what_it_kept() -> None:
    """:func:`kansho.chain.steps.filter.forget_caches` (run at the step's end here and in every dask worker,
    whose process may outlive the run) empties every cache the step's epochs fill: the hole weights, the
    kernel transforms and the filter weights (on the M frame ~0.18 GB a worker)."""
    from kansho import filters
    from kansho.chain.steps import filter as fstep

    rng = np.random.default_rng(5)
    valid = rng.random((40, 50)) > 0.2
    hp = np.where(valid, rng.standard_normal(valid.shape), np.nan)
    fa.spatial_cv_sums(hp, [(2.0, 2.5), (9.0, 10.0)])  # the second by FFT: its kernel transform kept
    fstep._weight_of(valid, (3.0, 3.0))
    fstep._WHOLE_CACHE[("x", "y")] = ((), np.zeros(3))
    assert fa._DEN_CACHE and filters._KERNEL_CACHE and fstep._WEIGHT_CACHE
    fstep.forget_caches()
    assert not (fa._DEN_CACHE or filters._KERNEL_CACHE or fstep._WEIGHT_CACHE or fstep._WHOLE_CACHE)
