"""The tie of network-gap segments to the reference set (kansho.gaptie, step 1-3's gap-tie passes)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from kansho import bridge, gaptie
from kansho.chain.steps.invert import tie_block

PX_KM = (0.1, 0.1)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float, rms: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return f * (rms / f.std())


def _scene(rng: np.random.Generator, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A stable set of ~15 % of the pixels, none inside a 'deforming' disc of radius 20 px."""
    yy, xx = np.mgrid[:n, :n]
    bowl = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < 20**2
    stable = (rng.random((n, n)) < 0.15) & ~bowl
    return stable, bowl


def _seg(ne: int, gaps: list[int]) -> np.ndarray:
    """Segment labels of a network with gaps after the epochs ``gaps``, as step 1-3 makes them."""
    g = np.zeros((ne - 1, 1), bool)
    g[gaps] = True
    return bridge.segments(g)[:, 0]


def test_segment_labels_of_network_gaps() -> None:
    assert _seg(6, [1, 3]).tolist() == [0, 0, 1, 1, 2, 2]
    assert _seg(4, []).tolist() == [0, 0, 0, 0]


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 12), st.integers(0, 10), st.floats(-50, 50))
def test_segment_means_follow_a_shift_of_one_segment(ne: int, k: int, c: float) -> None:
    gap = k % (ne - 1)
    seg = _seg(ne, [gap])
    rng = np.random.default_rng(ne + k)
    cum = rng.normal(0, 10, (ne, 7))
    m0 = gaptie.segment_means(cum, seg)
    shifted = cum + np.where(seg == 1, c, 0.0)[:, None]
    m1 = gaptie.segment_means(shifted, seg)
    assert np.allclose(m1[0], m0[0]) and np.allclose(m1[1], m0[1] + c, atol=1e-9)


def test_tie_predicts_a_smooth_offset_error_away_from_the_set() -> None:
    """The offset error of the bridge is a km-correlated field (atmosphere); the set sees it with 1 mm of
    noise. Predicted from ~15 % of the pixels, the field is recovered inside the set's gaps (the disc
    and between set pixels) to well under half its RMS: its correlation length (8 px) is longer than
    the typical distance to the set (~2 px), and 2.5 px inside a 20-px disc is all a σ ≥ 4 px kernel
    needs."""
    rng = np.random.default_rng(3)
    stable, bowl = _scene(rng)
    err = _smooth_field(rng, stable.shape, 8.0, 5.0)
    err -= err[stable].mean()  # the reference makes the set's mean zero in every epoch
    means = np.zeros((2, *stable.shape))
    means[1] = err + np.where(stable, rng.normal(0, 1.0, stable.shape), 0.0)
    means[1][bowl] += 30.0  # real motion in the disc: not in the set, never seen by the tie
    fit = gaptie.fit_tie(means, stable, PX_KM)
    assert fit.tied and 0 < fit.alpha[0] <= 1
    outside = ~stable
    before = np.sqrt(np.mean(err[outside] ** 2))
    after = np.sqrt(np.mean((err - fit.corr[0])[outside] ** 2))
    assert after < 0.5 * before, (before, after, fit)
    assert np.abs(fit.corr[0][bowl]).max() < 3 * np.abs(err).max()  # the disc's motion leaks nowhere
    assert fit.sigma_mm[0] < before
    assert abs(float(fit.corr[0][stable].mean())) < 1e-4  # and the tie keeps it so


def test_a_tie_of_float32_maps_is_the_tie_of_their_float64_copies() -> None:
    """The chain's segment means and σ are float32, kept so (a frame-wide piece: ~40 bytes a pixel less on a
    25-million-pixel frame) and each difference taken in float64: the same tie, bit for bit, as from float64
    copies, with and without the σ (which leaves outliers of the set out)."""
    rng = np.random.default_rng(5)
    stable, bowl = _scene(rng)
    means = np.zeros((3, *stable.shape), np.float32)
    means[0] = rng.normal(0, 20.0, stable.shape)  # not 0: a difference of two float32 values rounds in float32
    for j in (1, 2):
        means[j] = means[0] + _smooth_field(rng, stable.shape, 8.0, 5.0) + rng.normal(0, 1.0, stable.shape)
    means[:, bowl] += 30.0
    means[:, :3] = np.nan  # unsolved rows
    sigma = np.abs(rng.normal(8.0, 1.0, (2, *stable.shape))).astype(np.float32)
    sigma[0, stable & (rng.random(stable.shape) < 0.03)] = 0.1  # a few of the set beyond Z_OUTLIER of its σ
    for sd in (sigma, None):
        a = gaptie.fit_tie(means, stable, PX_KM, sd)
        b = gaptie.fit_tie(means.astype(np.float64), stable, PX_KM, None if sd is None else sd.astype(np.float64))
        assert a.tied
        np.testing.assert_array_equal(a.corr, b.corr)
        assert (a.alpha, a.sigma_km, a.gain, a.hole_px, a.n_set) == (b.alpha, b.sigma_km, b.gain, b.hole_px, b.n_set)
        np.testing.assert_array_equal(a.sigma_mm, b.sigma_mm)


def test_tie_keeps_no_cache_and_its_sums_are_the_cached_ones() -> None:
    """The tie's cross-validation keeps no hole weight (each is used once) and frees the kernel transforms on
    return: they held ~220 MB of the M frame from step 1-3 to step 1-6's end. The weights it computes
    without the cache are the cached ones, bit for bit."""
    from kansho import filters, filters_adaptive

    rng = np.random.default_rng(5)
    stable, _ = _scene(rng, 96)
    means = np.zeros((2, *stable.shape))
    means[1] = _smooth_field(rng, stable.shape, 6.0, 4.0)
    sig = filters_adaptive.spatial_candidates(PX_KM, stable.shape)[1]
    d = np.where(stable, means[1], np.nan)
    kept = filters_adaptive.spatial_cv_sums(d, sig, hole=3)
    assert filters_adaptive._DEN_CACHE and filters._KERNEL_CACHE  # the filter's use: kept for the next epoch
    filters_adaptive.clear_caches()
    assert np.array_equal(filters_adaptive.spatial_cv_sums(d, sig, hole=3, keep=False), kept)
    assert not filters_adaptive._DEN_CACHE and not filters._KERNEL_CACHE
    gaptie.fit_tie(means, stable, PX_KM)
    assert not filters_adaptive._DEN_CACHE and not filters._KERNEL_CACHE


def test_tie_declines_on_noise_without_pattern() -> None:
    """White noise on the set is not predictable from its neighbours: nothing is tied."""
    rng = np.random.default_rng(4)
    stable, _ = _scene(rng)
    means = np.zeros((2, *stable.shape))
    means[1] = rng.normal(0, 5.0, stable.shape)
    fit = gaptie.fit_tie(means, stable, PX_KM)
    assert not fit.tied and fit.reason
    assert not fit.corr.any()


def test_tie_declines_where_the_set_itself_moves() -> None:
    """A subsidence bowl that fills the frame: a fifth of the set moves across the gap by far more than
    the bridge's σ says its offset can be wrong. The tie must not flatten that motion; with a set whose
    differences stay within the σ it acts."""
    rng = np.random.default_rng(8)
    stable, _ = _scene(rng)
    err = _smooth_field(rng, stable.shape, 8.0, 3.0)
    sigma = np.full((1, *stable.shape), 3.0)
    means = np.zeros((2, *stable.shape))
    yy, xx = np.mgrid[:120, :120]
    motion = -40.0 * np.exp(-((yy - 30) ** 2 + (xx - 30) ** 2) / (2 * 25.0**2))
    means[1] = err + motion
    fit = gaptie.fit_tie(means, stable, PX_KM, sigma)
    assert not fit.tied and "moves across it" in fit.reason and not fit.corr.any()
    means[1] = err - err[stable].mean()
    assert gaptie.fit_tie(means, stable, PX_KM, sigma).tied


def test_tie_needs_a_set_that_shows_a_pattern() -> None:
    rng = np.random.default_rng(5)
    means = np.zeros((2, 60, 60))
    means[1] = _smooth_field(rng, (60, 60), 8.0, 5.0)
    window = np.zeros((60, 60), bool)
    window[10:15, 10:15] = True  # LiCSBAS's 5 x 5 window
    fit = gaptie.fit_tie(means, window, PX_KM)
    assert not fit.tied and "25 pixels" in fit.reason
    no_gap = gaptie.fit_tie(means[:1], window, PX_KM)
    assert no_gap.corr.shape == (0, 60, 60) and not no_gap.tied


def _task(cum: np.ndarray, seg: np.ndarray, corr: np.ndarray) -> Any:
    ne, ny, nx = cum.shape
    work = {"cum": cum, "tie_means": gaptie.segment_means(cum.reshape(ne, -1), seg).reshape(-1, ny, nx),
            "tie_corr": corr, "vel": np.zeros((ny, nx), np.float32), "vintercept": np.zeros((ny, nx), np.float32)}
    return SimpleNamespace(params={"seg": seg, "t": np.linspace(0, 2, ne), "alpha": [0.8]}, work=work,
                           rows=slice(0, ny), cols=slice(0, nx), shape=(ny, nx))


def test_tie_block_shifts_the_later_segment_once() -> None:
    """A replayed block (an interrupted run resumed) must not shift the segment twice."""
    rng = np.random.default_rng(6)
    ne = 10
    seg = _seg(ne, [4])
    cum = rng.normal(0, 5, (ne, 8, 9)).astype(np.float32)
    corr = rng.normal(0, 3, (1, 8, 9)).astype(np.float32)
    task = _task(cum.copy(), seg, corr)
    tie_block(task)
    once = task.work["cum"].copy()
    assert np.allclose(once[:5], cum[:5])  # the first segment is the reference segment
    assert np.allclose(once[5:] - cum[5:], -corr[0][None], atol=1e-4)
    tie_block(task)
    assert np.allclose(task.work["cum"], once, atol=1e-4)
    t = task.params["t"]
    slope = np.polyfit(t, once.reshape(ne, -1), 1)[0].reshape(8, 9)
    assert np.allclose(task.work["vel"], slope, atol=1e-3)


@pytest.mark.slow
def test_tie_lowers_the_velocity_error_of_a_gapped_frame(tmp_path: Any) -> None:
    """The demo frame (24-km, 2.6 yr, one network gap): with the tie its velocity error over the kept
    pixels is lower than with the temporal bridge alone (on the five gapped accuracy scenarios it fell
    by 4-28 %: docs/accuracy.md)."""
    from kansho import run_timeseries
    from kansho.config import load_config
    from kansho.demo import compare_with_truth, demo_sim_config
    from kansho.run import open_run
    from kansho.synth import simulate_frame

    truth = simulate_frame(tmp_path / "sim", demo_sim_config(160, 36), rng=21)
    err = {}
    for mode in ("stable", "off"):
        out = tmp_path / mode
        run_timeseries(tmp_path / "sim" / "GEOC", out, load_config(None, {"invert.gap_tie": mode}), progress=False)
        err[mode] = compare_with_truth(open_run(out), truth).vel_rmse
    tie = open_run(tmp_path / "stable").result("invert").gap_tie
    assert tie and max(tie["alpha"]) > 0
    assert err["stable"] < err["off"], err
