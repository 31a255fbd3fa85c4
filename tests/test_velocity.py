"""Tests for kansho.velocity: NaN-aware line/seasonal fits and the bootstrap velocity std."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kansho import velocity
from kansho.velocity import bootstrap_vstd, fit_linear, fit_seasonal


def _series_with_nans(seed: int, n: int = 30, npix: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 5, n))
    t -= t[0]
    y = rng.normal(0, 10, (n, npix)) + rng.normal(0, 20, npix) * t[:, None]
    y[rng.random(y.shape) < 0.3] = np.nan
    return y, t


def test_fit_linear_matches_polyfit() -> None:
    y, t = _series_with_nans(0)
    y[:, 0] = np.nan  # all NaN
    y[:, 1] = np.nan
    y[3, 1] = 1.0  # one valid epoch
    vel, icpt = fit_linear(y, t)
    assert np.isnan(vel[:2]).all() and np.isnan(icpt[:2]).all()
    for px in range(2, y.shape[1]):
        ok = np.isfinite(y[:, px])
        slope, inter = np.polyfit(t[ok], y[ok, px], 1)
        assert vel[px] == pytest.approx(slope, rel=1e-10, abs=1e-10)
        assert icpt[px] == pytest.approx(inter, rel=1e-10, abs=1e-9)


def test_fit_linear_one_pixel_and_same_time() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    vel, icpt = fit_linear(3.0 * t - 1.0, t)
    assert vel.shape == (1,)
    assert vel[0] == pytest.approx(3.0) and icpt[0] == pytest.approx(-1.0)
    y = np.array([[np.nan], [1.0], [np.nan], [np.nan]])
    assert np.isnan(fit_linear(y, t)[0][0])


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    v=st.floats(-100, 100),
    c=st.floats(-100, 100),
    t0=st.floats(0, 2000),
)
def test_fit_linear_adding_a_line_adds_its_slope(seed: int, v: float, c: float, t0: float) -> None:
    y, t = _series_with_nans(seed, n=12, npix=8)
    t = t + t0  # also away from zero
    base_v, base_c = fit_linear(y, t)
    new_v, new_c = fit_linear(y + v * t[:, None] + c, t)
    ok = np.isfinite(base_v)
    np.testing.assert_allclose(new_v[ok], base_v[ok] + v, rtol=1e-8, atol=1e-6)
    scale = 1 + abs(v) * (t0 + 5)
    np.testing.assert_allclose(new_c[ok], base_c[ok] + c, rtol=1e-8, atol=1e-6 * scale)


def test_fit_seasonal_recovers_noiseless_truth_and_matches_lstsq() -> None:
    rng = np.random.default_rng(1)
    n, npix = 40, 60
    t = np.sort(rng.uniform(0, 4, n))
    v = rng.normal(0, 20, npix)
    c = rng.normal(0, 5, npix)
    amp = rng.uniform(0.5, 10, npix)
    ph = rng.uniform(-np.pi, np.pi, npix)
    y = v * t[:, None] + c + amp * np.cos(2 * np.pi * t[:, None] - ph)
    y[rng.random(y.shape) < 0.3] = np.nan
    y[:, 0] = np.nan
    y[:, 1] = np.nan
    y[:3, 1] = [1.0, 2.0, 3.0]  # three epochs: too few for four terms
    out = fit_seasonal(y, t)
    assert set(out) == {"vel", "intercept", "annual_amp", "annual_phase"}
    for key in out:
        assert np.isnan(out[key][:2]).all()
    np.testing.assert_allclose(out["vel"][2:], v[2:], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(out["intercept"][2:], c[2:], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(out["annual_amp"][2:], amp[2:], rtol=1e-8)
    dphase = np.angle(np.exp(1j * (out["annual_phase"][2:] - ph[2:])))
    np.testing.assert_allclose(dphase, 0, atol=1e-7)
    # with noise: compare with numpy.linalg.lstsq per pixel
    yn = y + rng.normal(0, 2, y.shape)
    outn = fit_seasonal(yn, t)
    for px in range(2, npix):
        ok = np.isfinite(yn[:, px])
        x = np.stack([t, np.ones(n), np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)], axis=1)[ok]
        coef = np.linalg.lstsq(x, yn[ok, px], rcond=None)[0]
        assert outn["vel"][px] == pytest.approx(coef[0], rel=1e-8, abs=1e-8)
        assert outn["intercept"][px] == pytest.approx(coef[1], rel=1e-8, abs=1e-8)
        assert outn["annual_amp"][px] == pytest.approx(np.hypot(coef[2], coef[3]), rel=1e-8)


def test_fit_seasonal_degenerate_sampling_is_nan() -> None:
    t = np.arange(8, dtype=float)  # integer years: sin(2πt) = 0, cannot separate the terms
    y = 2.0 * t + 1.0
    out = fit_seasonal(y, t)
    assert np.isnan(out["vel"][0])


def _brute_force_vstd(y: np.ndarray, t: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    idx = gen.integers(0, t.size, size=(n_boot, t.size))
    out = np.full(y.shape[1], np.nan)
    for px in range(y.shape[1]):
        vs = []
        for b in range(n_boot):
            tt, yy = t[idx[b]], y[idx[b], px]
            ok = np.isfinite(yy)
            if ok.sum() >= 2 and np.ptp(tt[ok]) > 0:
                vs.append(np.polyfit(tt[ok], yy[ok], 1)[0])
        if len(vs) >= 2:
            out[px] = np.std(vs, ddof=1)
    return out


def test_bootstrap_vstd_matches_brute_force() -> None:
    y, t = _series_with_nans(4, n=15, npix=12)
    y[:, 0] = np.nan
    y[:, 1] = np.nan
    y[[2, 9], 1] = [1.0, 2.0]  # two valid epochs: most resamples lack one of them
    got = bootstrap_vstd(y, t, n_boot=40, rng=7)
    ref = _brute_force_vstd(y, t, 40, 7)
    assert got.dtype == np.float32
    assert np.isnan(got[0])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-9, equal_nan=True)
    assert got[1] < 1e-9  # two valid epochs: every defined resample gives the same slope


@pytest.mark.parametrize("weighted", [False, True])
def test_bootstrap_vstd_of_complete_series_matches_brute_force(weighted: bool) -> None:
    """Pixels without a NaN epoch take the quadratic-form path (the resamples' slopes as one linear
    map); it must give the spread of the refitted slopes, weighted or not, and the same numbers
    whether a pixel sits among complete or incomplete ones (1e-10: round-off of two orders of sums)."""
    rng = np.random.default_rng(11)
    n, npix, n_boot = 18, 9, 60
    t = np.sort(rng.uniform(0, 3, n))
    y = 4.0 * t[:, None] + 50.0 + rng.normal(0, 2, (n, npix))  # a large offset: no cancellation
    ew = rng.uniform(0.3, 2.0, n) if weighted else None
    got = bootstrap_vstd(y, t, n_boot=n_boot, rng=5, weights=ew)
    idx = np.random.default_rng(5).integers(0, n, size=(n_boot, n))
    ref = np.empty(npix)
    for px in range(npix):
        vs = [np.polyfit(t[i], y[i, px], 1, w=None if ew is None else np.sqrt(ew[i]))[0] for i in idx
              if np.ptp(t[i]) > 0]
        ref[px] = np.std(vs, ddof=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    mixed = np.concatenate([y, np.where(np.arange(n)[:, None] == 3, np.nan, y[:, :2])], axis=1)
    both = bootstrap_vstd(mixed, t, n_boot=n_boot, rng=5, weights=ew)
    np.testing.assert_array_equal(both[:npix], got)
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    w *= 1.0 if ew is None else ew[None]
    tc = t - t.mean()
    args = (w, w * tc, w * tc**2, float(np.abs(tc).max()) ** 2)
    np.testing.assert_allclose(velocity._complete_vstd(y, *args), velocity._general_vstd(y, *args), rtol=1e-10)


def test_bootstrap_vstd_chunking_and_reproducibility(monkeypatch: pytest.MonkeyPatch) -> None:
    y, t = _series_with_nans(5, n=20, npix=37)
    a = bootstrap_vstd(y, t, n_boot=50, rng=3)
    b = bootstrap_vstd(y, t, n_boot=50, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(velocity, "_CACHE_CHUNK_ELEMENTS", 50 * 4)  # 4 pixels per chunk (10 for complete series)
    c = bootstrap_vstd(y, t, n_boot=50, rng=3)
    np.testing.assert_array_equal(a, c)  # each pixel is computed alone: the pieces do not change a bit
    np.testing.assert_array_equal(bootstrap_vstd(y.astype(np.float32), t, n_boot=50, rng=3),
                                  bootstrap_vstd(y.astype(np.float32).astype(np.float64), t, n_boot=50, rng=3))
    d = bootstrap_vstd(y, t, n_boot=50, rng=4)
    assert not np.allclose(a, d)


def test_bootstrap_vstd_matches_analytic_slope_std() -> None:
    rng = np.random.default_rng(2)
    n, npix, sigma = 60, 400, 5.0
    t = np.arange(n) * 12 / 365.25
    y = 30.0 * t[:, None] + rng.normal(0, sigma, (n, npix))
    vstd = bootstrap_vstd(y, t, n_boot=100, rng=0)
    analytic = sigma / np.sqrt(np.sum((t - t.mean()) ** 2))
    ratio = vstd / analytic
    assert np.isfinite(vstd).all()
    assert 0.8 < np.median(ratio) < 1.2, np.median(ratio)
    assert np.mean(np.abs(ratio - 1) < 0.25) > 0.8
    # a noiseless line has no spread
    assert np.all(bootstrap_vstd(30.0 * t[:, None] + np.zeros((n, 3)), t) < 1e-6)


def test_bootstrap_vstd_bad_n_boot() -> None:
    with pytest.raises(ValueError):
        bootstrap_vstd(np.zeros((3, 2)), np.arange(3.0), n_boot=1)


def test_weighted_fit_linear_matches_weighted_polyfit() -> None:
    """Epoch weights: the same line as numpy's weighted fit (``polyfit`` takes 1/σ, i.e. √weight),
    NaN epochs left out; equal weights give the unweighted line exactly."""
    y, t = _series_with_nans(8)
    w = np.random.default_rng(8).uniform(0.2, 3.0, t.size)
    vel, icpt = fit_linear(y, t, w)
    for px in range(y.shape[1]):
        ok = np.isfinite(y[:, px])
        if ok.sum() < 2:
            continue
        slope, inter = np.polyfit(t[ok], y[ok, px], 1, w=np.sqrt(w[ok]))
        assert vel[px] == pytest.approx(slope, rel=1e-9, abs=1e-9)
        assert icpt[px] == pytest.approx(inter, rel=1e-9, abs=1e-8)
    np.testing.assert_allclose(fit_linear(y, t, np.ones(t.size))[0], fit_linear(y, t)[0], rtol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="weights"):
        fit_linear(y, t, -w)


def test_epoch_weights_recover_each_epochs_noise_and_lower_the_velocity_error() -> None:
    """Epochs with noise σ_e of 4.5-12 mm (independent; a line of 3 mm/yr; above the floor of half the
    median σ): the measured σ follows the true one (each within 10 %: the quartiles of 20 000 residuals
    have ~1 % error, the line's own misfit a little more), the histograms of two halves add up to the
    whole's, a constant added to every pixel at an epoch (another reference) changes σ by less than
    0.2 % (the bins' relative width is 0.6 %), the weights are 1/σ² with mean 1, and the weighted
    velocity's error is the Gauss-Markov fraction of the unweighted one's (~0.85 for this σ spread)."""
    rng = np.random.default_rng(9)
    t = np.linspace(0, 3, 40)
    sig = rng.uniform(4.5, 12, t.size)
    y = 3.0 * t[:, None] + sig[:, None] * rng.normal(size=(t.size, 20000))
    y[:, :50] = np.nan  # unsolved pixels are left out
    h = velocity.epoch_residual_stats(y[:, :10000], t).astype(np.int64) + velocity.epoch_residual_stats(y[:, 10000:], t)
    np.testing.assert_array_equal(h, velocity.epoch_residual_stats(y, t))
    assert h.sum() == t.size * 19950
    s, w = velocity.epoch_weights(h)
    np.testing.assert_allclose(s, sig, rtol=0.1)
    shifted = y + rng.normal(0, 30, t.size)[:, None]
    s2, _ = velocity.epoch_weights(velocity.epoch_residual_stats(shifted, t))
    np.testing.assert_allclose(s2, s, rtol=2e-3)
    assert w.mean() == pytest.approx(1.0) and np.allclose(w * s**2, (w * s**2)[0])
    e_w = fit_linear(y, t, w)[0][50:] - 3.0
    e_u = fit_linear(y, t)[0][50:] - 3.0
    tc = t - t.mean()
    tw = t - np.sum(t / sig**2) / np.sum(1 / sig**2)
    ratio = np.sqrt(1 / np.sum(tw**2 / sig**2) / (np.sum(tc**2 * sig**2) / np.sum(tc**2) ** 2))  # Gauss-Markov
    assert ratio < 0.9
    # 20 000 pixels: each RMS within ~1 %
    assert np.sqrt(np.mean(e_w**2)) / np.sqrt(np.mean(e_u**2)) == pytest.approx(ratio, abs=0.03)
    # a quiet epoch weighs at most 4 times the median one; nothing counted: equal weights
    quiet = 10.0 * rng.normal(size=(200, 5000))
    quiet[100] *= 0.01  # its residual: the line's own error there (~0.7 mm) against ~10 mm elsewhere
    s_q, w_q = velocity.epoch_weights(velocity.epoch_residual_stats(quiet, np.linspace(0, 8, 200)))
    assert s_q[100] == pytest.approx(0.5 * np.median(s_q)) and w_q[100] == pytest.approx(4 * np.median(w_q))
    s_n, w_n = velocity.epoch_weights(np.zeros((10, velocity.N_RESID_BINS), np.int64))
    assert np.isnan(s_n).all() and (w_n == 1).all()


def test_weighted_bootstrap_vstd_matches_brute_force() -> None:
    """The bootstrap of the weighted line: each resample keeps the epochs' weights."""
    y, t = _series_with_nans(10, n=15, npix=12)
    w = np.random.default_rng(10).uniform(0.3, 2.0, t.size)
    got = bootstrap_vstd(y, t, n_boot=40, rng=3, weights=w)
    gen = np.random.default_rng(3)
    idx = gen.integers(0, t.size, size=(40, t.size))
    ref = np.full(y.shape[1], np.nan)
    for px in range(y.shape[1]):
        v = []
        for b in range(40):
            ii = idx[b][np.isfinite(y[idx[b], px])]
            if np.unique(t[ii]).size >= 2:
                v.append(np.polyfit(t[ii], y[ii, px], 1, w=np.sqrt(w[ii]))[0])
        if len(v) >= 2:
            ref[px] = np.std(v, ddof=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-8, equal_nan=True)


def test_epoch_noise_read_only_at_the_pixels_it_is_told() -> None:
    """A local gap's epochs hold the bridge's model, no noise: at 60 % of the pixels, epochs 10-17 lie on
    the line. Counted, they pull those epochs' σ down to ~a third of the true 6 mm (and their weight up
    ninefold); read only at the pixels without the gap (``use``), σ is the true one within 10 %."""
    rng = np.random.default_rng(12)
    t = np.linspace(0, 3, 40)
    y = 2.0 * t[:, None] + 6.0 * rng.normal(size=(t.size, 20000))
    gapped = np.zeros(20000, bool)
    gapped[:12000] = True
    y[10:18, :12000] = 2.0 * t[10:18, None]  # the model's values
    s_all, _ = velocity.epoch_weights(velocity.epoch_residual_stats(y, t))
    assert np.all(s_all[10:18] < 0.6 * 6.0)
    s, w = velocity.epoch_weights(velocity.epoch_residual_stats(y, t, ~gapped))
    np.testing.assert_allclose(s, 6.0, rtol=0.1)
    assert np.all(w[10:18] < 1.3)
    assert velocity.epoch_residual_stats(y, t, np.zeros(20000, bool)).sum() == 0


def _line_ref(y: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The line fit as masked matrix products (the numpy formulation the compiled sums replaced)."""
    yy = np.asarray(y, np.float64)
    m = np.isfinite(yy)
    mf = m * (1.0 if w is None else w[:, None])
    y0 = np.where(m, yy, 0.0) * mf
    tc = t - t.mean()
    n, s1, s2, sy, sty = mf.sum(0), tc @ mf, (tc**2) @ mf, y0.sum(0), tc @ y0
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = s1 / n
        sxx = s2 - s1 * tbar
        vel = (sty - tbar * sy) / sxx
        icpt = sy / n - vel * tbar
    bad = (n < 2) | ~(sxx > 1e-12 * float(np.abs(tc).max()) ** 2 * n)
    vel[bad] = icpt[bad] = np.nan
    return vel, icpt - vel * t.mean()


@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([np.float32, np.float64]),
       weighted=st.booleans(), threads=st.sampled_from([1, 2]))
@settings(max_examples=25, deadline=None)
@example(seed=502313782, dtype=np.float32, weighted=False, threads=1)
def test_compiled_line_fit_and_histograms_match_their_numpy_reference(seed: int, dtype: type, weighted: bool,
                                                                      threads: int) -> None:
    """The compiled sums of ``fit_linear`` and the histograms of ``epoch_residual_stats`` give the numpy
    formulation's velocity to 1e-12 (only the order of the float64 additions differs) and the same counts,
    whatever the series' dtype and the number of threads; a pixel with a gap or one epoch is NaN alike."""
    import numba

    rng = np.random.default_rng(seed)
    # three epochs or more: through two the line is exact and its residuals are round-off alone, whose bins
    # depend on the order of the additions
    ne, npix = int(rng.integers(3, 40)), int(rng.integers(1, 3000))
    t = np.sort(rng.uniform(0, 5, ne))
    y = (rng.standard_normal((ne, npix)) * rng.uniform(0.1, 50) + rng.uniform(-30, 30, npix) * t[:, None])
    y[:, rng.random(npix) < 0.1] = np.nan  # unsolved pixels
    y[rng.random((ne, npix)) < 0.02] = np.nan  # local holes
    y = y.astype(dtype)
    w = rng.uniform(0.2, 3.0, ne) if weighted else None
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        vel, icpt = fit_linear(y, t, w)
        hist = velocity.epoch_residual_stats(y, t)
    finally:
        numba.set_num_threads(old)
    v0, i0 = _line_ref(y, t, w)
    np.testing.assert_array_equal(np.isnan(vel), np.isnan(v0))
    np.testing.assert_allclose(vel, v0, rtol=1e-12, atol=1e-12 * np.nanmax(np.abs(v0), initial=1.0))
    np.testing.assert_allclose(icpt, i0, rtol=1e-12, atol=1e-10 * np.nanmax(np.abs(i0), initial=1.0))
    full = np.isfinite(y).all(axis=0)
    yy = np.asarray(y[:, full], np.float64)
    vf, cf = _line_ref(yy, t, None)
    r = yy - (vf[None] * t[:, None] + cf[None])
    k = np.clip(np.floor((np.arcsinh(r / velocity.RESID_SCALE_MM) + velocity._U_MAX) / velocity._DU), 0,
                velocity.N_RESID_BINS - 1)
    ref = np.zeros_like(hist)
    for e in range(ne):
        ref[e] = np.bincount(k[e][np.isfinite(k[e])].astype(np.int64), minlength=velocity.N_RESID_BINS)
    assert int(hist.sum()) == int(ref.sum()) == int(full.sum()) * ne  # every epoch of every whole pixel
    # a residual within a few ulps of a bin edge may fall either side: at most a handful of moves
    assert int(np.abs(hist - ref).sum()) <= 2 * max(1, int(ref.sum()) // 100_000)


def _hist_both(r: np.ndarray, scale: float = velocity.RESID_SCALE_MM, u_max: float = velocity._U_MAX,
               du: float = velocity._DU, nbins: int = velocity.N_RESID_BINS) -> tuple[np.ndarray, np.ndarray]:
    """The histograms of residuals ``r`` (n_epoch, npix) through the bin tables and through ``asinh`` itself."""
    from kansho._velocity_jit import residual_histograms

    y = np.ascontiguousarray(r, np.float64)
    t, z = np.zeros(y.shape[0]), np.zeros(y.shape[1])
    return (residual_histograms(y, t, z, z, scale, u_max, du, nbins, tables=True),
            residual_histograms(y, t, z, z, scale, u_max, du, nbins, tables=False))


def test_bin_tables_give_every_edge_its_asinh_bin() -> None:
    """The table-driven bins of the residual histograms are the ``asinh`` formula's exactly: at every bin edge and
    at the float64 just below it, at signed zeros, the ends of the table's ranges, infinities and NaN."""
    from kansho._velocity_jit import TABLE_EXP_HI, TABLE_EXP_LO, bin_tables

    tab = bin_tables(velocity.RESID_SCALE_MM, velocity._U_MAX, velocity._DU, velocity.N_RESID_BINS)
    assert tab is not None  # glibc's asinh never decreases: the tables are used
    edges = tab[0][1:-1]
    assert edges.size == velocity.N_RESID_BINS - 1 and np.all(np.diff(edges) > 0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1.7e308, -1.7e308])
    ends = np.ldexp(1.0, np.arange(TABLE_EXP_LO - 2, TABLE_EXP_HI + 3))
    ends = np.concatenate([ends, np.nextafter(ends, 0.0), np.nextafter(ends, np.inf)])
    r = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), special, ends, -ends])
    fast, slow = _hist_both(r[None])
    np.testing.assert_array_equal(fast, slow)
    assert fast.sum() == r.size - 1  # all but the NaN
    # the edges alone: edge k is the least value of bin k, so each bin but the first holds one
    one, _ = _hist_both(edges[None])
    assert one[0, 0] == 0 and np.all(one[0, 1:] == 1)


@given(seed=st.integers(0, 2**31 - 1), log_scale=st.floats(-4, 2), nbins=st.sampled_from([2, 17, 400, 4000]))
@settings(max_examples=30, deadline=None)
def test_bin_tables_match_asinh_for_any_binning(seed: int, log_scale: float, nbins: int) -> None:
    """For any scale and number of bins, residuals of every magnitude fall in the same bins through the tables as
    through ``asinh``."""
    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    u_max = float(np.arcsinh(rng.uniform(1, 1e6)))
    r = rng.standard_normal((3, 4000)) * 10.0 ** rng.uniform(-12, 5, (3, 4000))
    from kansho._velocity_jit import bin_tables

    assert bin_tables(scale, u_max, 2 * u_max / nbins, nbins) is not None  # the tables, not the fallback
    fast, slow = _hist_both(r, scale, u_max, 2 * u_max / nbins, nbins)
    np.testing.assert_array_equal(fast, slow)


def _numpy_slope_std(s0: np.ndarray, s1: np.ndarray, s2: np.ndarray, sy: np.ndarray, sty: np.ndarray,
                     tiny: float) -> np.ndarray:
    """The bootstrap spread as numpy expressions (what ``_velocity_jit.boot_slope_std`` replaced)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sxx = s0 * s2 - s1 * s1
        vel = (s0 * sty - s1 * sy) / sxx
        vel[~(sxx > tiny * s0 * s0)] = np.nan
        good = np.isfinite(vel)
        ng = good.sum(axis=0)
        mean = np.where(good, vel, 0.0).sum(axis=0) / np.maximum(ng, 1)
        std = np.sqrt((np.where(good, vel - mean, 0.0) ** 2).sum(axis=0) / np.maximum(ng - 1, 1))
    std[ng < 2] = np.nan
    return std


@given(seed=st.integers(0, 2**31 - 1), n_boot=st.integers(1, 120), k=st.integers(1, 40),
       holes=st.floats(0.0, 0.9))
@settings(max_examples=40, deadline=None)
def test_compiled_bootstrap_spread_is_numpys_bit_for_bit(seed: int, n_boot: int, k: int, holes: float) -> None:
    """The compiled spread of the resamples' slopes equals numpy's expressions to the last bit, with resamples
    left out (a zero or too small denominator, NaN sums) and pixels with fewer than two slopes. One pixel
    alone is the exception: numpy then sums its single column pairwise (8 running sums), not resample after
    resample, and the two differ by an ulp or so."""
    from kansho import _velocity_jit

    rng = np.random.default_rng(seed)
    s0 = rng.integers(0, 8, (n_boot, k)).astype(np.float64) * rng.uniform(0.5, 2.0, (n_boot, k))
    s1 = s0 * rng.uniform(-1, 1, (n_boot, k))
    s2 = s1 * s1 / np.maximum(s0, 1e-300) + rng.exponential(1.0, (n_boot, k)) * (rng.random((n_boot, k)) > holes)
    sy = rng.normal(0, 50, (n_boot, k))
    sty = rng.normal(0, 50, (n_boot, k))
    sy[rng.random((n_boot, k)) < holes / 4] = np.nan
    tiny = 1e-12 * float(rng.uniform(0.1, 10))
    got = _velocity_jit.boot_slope_std(s0, s1, s2, sy, sty, tiny)
    want = _numpy_slope_std(s0, s1, s2, sy, sty, tiny)
    if k > 1:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_bootstrap_vstd_of_pixels_with_fewer_than_two_epochs_is_nan_and_the_rest_unchanged() -> None:
    """Pixels with no epoch or one have no line in any resample (NaN, not computed); the pixels with two epochs or
    more, a gap in their series or none, get the same values whether such pixels sit beside them or not."""
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(0, 3, 12))
    y = 5.0 * t[:, None] + rng.normal(0, 2, (12, 6))
    y[:, 0] = np.nan  # empty
    y[1:, 1] = np.nan  # one epoch
    y[2:, 2] = np.nan  # two epochs
    y[::3, 3] = np.nan  # a gapped series
    got = bootstrap_vstd(y, t, n_boot=60, rng=2)
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()
    np.testing.assert_array_equal(got[2:], bootstrap_vstd(y[:, 2:], t, n_boot=60, rng=2))
    assert got[2] < 1e-6 * got[3]  # two epochs: every resample that has both draws the same line
