"""The compiled kernels of step 1-3 (kansho._invert_jit, the chunked bridges of kansho._outlier_jit, the
tiled solve_pixels of kansho._nsbas_jit) against the numpy code they replace: equal bit for bit."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from kansho import _invert_jit, _outlier_jit, bridge, cohcodes, network, phasebias
from kansho._columns import count_true
from kansho.chain.steps.invert import _coh_mean, coh_weights
from kansho.chain.tasks import nanmean0
from kansho.inversion import invert_nsbas


def _network(ne: int, span: int) -> np.ndarray:
    return np.array([(i, j) for i in range(ne) for j in range(i + 1, min(i + span + 1, ne))], np.int64)


def _phase(rng: np.random.Generator, npair: int, npix: int, missing: float) -> np.ndarray:
    ph = rng.normal(0.0, 3.0, (npair, npix))
    ph[rng.random(ph.shape) < missing] = np.nan
    return ph


@settings(max_examples=25, deadline=None)
@given(ne=hs.integers(3, 14), span=hs.integers(1, 4), npix=hs.integers(1, 2500), missing=hs.floats(0.0, 0.6),
       seed=hs.integers(0, 2**31))
def test_residual_screen_equals_numpy(ne: int, span: int, npix: int, missing: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = _network(ne, span)
    ifg = _phase(rng, len(pairs), npix, missing)
    ifg[rng.random(ifg.shape) < 0.01] = np.inf
    cum = rng.normal(0.0, 3.0, (ne, npix)).astype(np.float32)
    cum[:, rng.random(npix) < 0.1] = np.nan
    thr = float(rng.uniform(0.5, 8.0))
    c64 = cum.astype(np.float64)
    r = ifg - (c64[pairs[:, 1]] - c64[pairs[:, 0]])
    want = np.where(np.isfinite(r), np.abs(r), 0.0).max(axis=0, initial=0.0) > thr
    got = _invert_jit.resid_exceeds(ifg, cum, pairs[:, 0].copy(), pairs[:, 1].copy(), thr)
    np.testing.assert_array_equal(got, want)


def test_coh_weights_equal_numpy_in_float32() -> None:
    rng = np.random.default_rng(3)
    coh = rng.uniform(-0.2, 1.2, (37, 3001)).astype(np.float32)
    coh.ravel()[:4] = [np.nan, np.inf, -np.inf, 0.98]
    g = np.clip(np.nan_to_num(coh, nan=0.05), 0.05, 0.98)
    want = 2.0 * g**2 / (1.0 - g**2)
    got = coh_weights(coh)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    g64 = np.clip(np.nan_to_num(coh.astype(np.float64), nan=0.05), 0.05, 0.98)
    got64 = coh_weights(coh.astype(np.float64))  # not float32: the numpy path, in float64
    assert got64.dtype == np.float64
    np.testing.assert_array_equal(got64, 2.0 * g64**2 / (1.0 - g64**2))


@settings(max_examples=25, deadline=None)
@given(ne=hs.integers(3, 14), span=hs.integers(2, 4), npix=hs.integers(1, 2500), missing=hs.floats(0.0, 0.5),
       seed=hs.integers(0, 2**31))
def test_phase_indicator_equals_misclosure_path(ne: int, span: int, npix: int, missing: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = _network(ne, span)
    L = network.triangle_loops(pairs)
    t = np.cumsum(rng.uniform(0.01, 0.1, ne))
    ph = _phase(rng, len(pairs), npix, missing) * 5.0
    short = phasebias.short_loops(L, pairs, t) if L.shape[0] else np.zeros(0, bool)
    # numpy sums the loops of one pixel row by row (the kernel's order) except when there is a single
    # pixel: then its reduction is contiguous and pairwise. Two orders of summing m terms differ by up to
    # ~m ulp (3 ulp seen: 4.6e-16 relative, ne=13, span=4, seed=196); 1e-14 bounds it for these networks
    same = np.testing.assert_array_equal if npix > 1 else partial(np.testing.assert_allclose, rtol=1e-14)
    want = phasebias.bias_indicator(phasebias.loop_misclosure(ph, L), short)
    same(phasebias.phase_indicator(ph, L, short), want)
    every = np.ones(L.shape[0], bool)
    same(phasebias.phase_indicator(ph, L, every), phasebias.bias_indicator(phasebias.loop_misclosure(ph, L), every))


@settings(max_examples=25, deadline=None)
@given(ne=hs.integers(2, 14), span=hs.integers(1, 4), npix=hs.integers(1, 2500), keep=hs.floats(0.0, 1.0),
       seed=hs.integers(0, 2**31))
def test_pixel_gaps_and_bridges_equal_references(ne: int, span: int, npix: int, keep: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = _network(ne, span)
    valid = rng.random((len(pairs), npix)) < keep
    valid[:, npix // 2:] = valid[:, npix // 2: npix // 2 + 1]  # runs of equal columns (reused results)
    valid[:, : npix // 4] = True
    got = _invert_jit.pixel_gaps(valid, pairs[:, 0].copy(), pairs[:, 1].copy(), ne)
    np.testing.assert_array_equal(got, network.gaps(pairs, ne, valid))
    br = _outlier_jit.bridges(valid, pairs, ne)
    for c in rng.choice(npix, min(npix, 40), replace=False):  # each column alone: no chunk, no reuse
        np.testing.assert_array_equal(br[:, c], _outlier_jit.bridges(valid[:, c:c + 1].copy(), pairs, ne)[:, 0])
    np.testing.assert_array_equal(_outlier_jit.bridge_counts(valid, pairs, ne), br.sum(axis=0))  # step 1-3's count


@settings(max_examples=15, deadline=None)
@given(ne=hs.integers(20, 45), n_pat=hs.integers(1, 9), npix=hs.integers(1, 3000), seed=hs.integers(0, 2**31))
def test_bridges_of_patterns_seen_before(ne: int, n_pat: int, npix: int, seed: int) -> None:
    """Columns drawn from a few valid patterns, in any order, over several chunks and more than 64 pairs (patterns
    of two or more words): each takes the result of the first column of its pattern (found by hash), which must
    be that pattern's own, as one column alone gives it."""
    rng = np.random.default_rng(seed)
    pairs = _network(ne, 4)
    pool = rng.random((n_pat, len(pairs))) < rng.uniform(0.6, 1.0, (n_pat, 1))
    pick = rng.integers(0, n_pat, npix)
    valid = np.ascontiguousarray(pool[pick].T)
    br = _outlier_jit.bridges(valid, pairs, ne)
    alone = np.stack([_outlier_jit.bridges(pool[k][:, None].copy(), pairs, ne)[:, 0] for k in range(n_pat)])
    np.testing.assert_array_equal(br, alone[pick].T)
    np.testing.assert_array_equal(_outlier_jit.bridge_counts(valid, pairs, ne), alone.sum(axis=1)[pick])


def test_nanmean_rows_equals_nanmean0() -> None:
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((222, 4100)) * 100).astype(np.float32)
    a[rng.random(a.shape) < 0.3] = np.nan
    a[:, :7] = np.nan
    a[2, 9] = np.inf
    np.testing.assert_array_equal(_invert_jit.nanmean_rows(a), nanmean0(a))


@settings(max_examples=20, deadline=None)
@given(npair=hs.integers(1, 60), npix=hs.integers(1, 5000), seed=hs.integers(0, 2**32 - 1))
def test_coherence_codes_as_their_decoded_values(npair: int, npix: int, seed: int) -> None:
    """The inversion takes the store's 8-bit codes as they are: the weights and the mean coherence of the codes
    are those of their decoded float32 values, bit for bit (a pixel with no code, or with every code 0)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (npair, npix), dtype=np.uint8)
    codes[rng.random(codes.shape) < 0.3] = 0
    codes[:, 0] = 0
    values = cohcodes.decode(codes)
    np.testing.assert_array_equal(coh_weights(codes), coh_weights(values))
    np.testing.assert_array_equal(coh_weights(codes[0]), coh_weights(values[:1])[0])  # not 2-D: the table itself
    np.testing.assert_array_equal(_coh_mean(codes), nanmean0(values))
    np.testing.assert_array_equal(_invert_jit.lookup_codes(codes, cohcodes.DECODE), values)


@pytest.mark.parametrize("annual", [False, True])
def test_float32_weights_solve_as_float64(annual: bool) -> None:
    """The inversion reads float32 weights as they are: the same result as the same weights in float64,
    on pixels in any order and with gaps (the tiled gather of the kernel)."""
    rng = np.random.default_rng(11)
    ne = 16
    pairs = _network(ne, 3)
    pairs = pairs[~((pairs[:, 0] < 8) & (pairs[:, 1] >= 8))]  # a network gap
    t = np.cumsum(rng.uniform(0.02, 0.1, ne))
    ifg = _phase(rng, len(pairs), 777, 0.15)
    w = rng.uniform(0.01, 3.0, ifg.shape).astype(np.float32)
    w[rng.random(w.shape) < 0.02] = 0.0
    a = invert_nsbas(ifg, pairs, t, weights=w, annual=annual, min_pairs=4)
    b = invert_nsbas(ifg, pairs, t, weights=w.astype(np.float64), annual=annual, min_pairs=4)
    for k in ("cum", "vel", "intercept", "resid_rms", "n_unw", "solved"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


@settings(max_examples=15, deadline=None)
@given(ne=hs.integers(4, 16), span=hs.integers(1, 5), npix=hs.integers(1, 300), missing=hs.floats(0.0, 0.5),
       weighted=hs.booleans(), seed=hs.integers(0, 2**16))
def test_each_pixel_solved_alone(ne: int, span: int, npix: int, missing: float, weighted: bool, seed: int) -> None:
    """The kernel solves a tile of pixels side by side (SIMD lanes): every pixel's result is bit for bit
    the one it gets solved alone, whatever its neighbours in the tile (gaps, unused pairs, pixels that
    fail and go to the SVD path) and whether the tile's pixels are consecutive or not."""
    rng = np.random.default_rng(seed)
    pairs = _network(ne, span)
    t = np.cumsum(rng.uniform(0.02, 0.1, ne))
    ifg = _phase(rng, len(pairs), npix, missing)
    w = rng.uniform(0.05, 2.0, ifg.shape).astype(np.float32) if weighted else None
    full = invert_nsbas(ifg, pairs, t, weights=w, min_pairs=2)
    for j in rng.permutation(npix)[:12]:
        one = invert_nsbas(ifg[:, [j]], pairs, t, weights=None if w is None else w[:, [j]], min_pairs=2)
        np.testing.assert_array_equal(one.cum[:, 0], full.cum[:, j])
        np.testing.assert_array_equal(one.resid_rms[0], full.resid_rms[j])
        np.testing.assert_array_equal(one.vel[0], full.vel[j])


def test_segments_row_by_row_equal_cumsum() -> None:
    g = np.random.default_rng(2).random((30, 500)) < 0.2
    want = np.zeros((31, 500), np.int64)
    np.cumsum(g, axis=0, out=want[1:])
    np.testing.assert_array_equal(bridge.segments(g), want)


@settings(max_examples=30, deadline=None)
@given(rows=hs.integers(0, 300), n=hs.integers(0, 3000), p=hs.floats(0.0, 1.0), seed=hs.integers(0, 2**32 - 1))
def test_count_true_is_the_sum_of_bools(rows: int, n: int, p: float, seed: int) -> None:
    mask = np.random.default_rng(seed).random((rows, n)) < p
    got = count_true(mask)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, mask.sum(axis=0))
    np.testing.assert_array_equal(count_true(mask[:, ::2]), mask[:, ::2].sum(axis=0))  # a view, not contiguous


def test_chain_inverts_a_small_frame_with_numpy_and_a_large_one_compiled(small_run: object, copy_run: object,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 1-3 picks the NSBAS engine by the frame's size (kansho.inversion.use_compiled): the 60 x 60 px
    frame with the numpy path, which needs no compilation; counted as large, the compiled kernel. Both
    give the same series: float32 cum within 1e-4 mm, the maps a pixel's mask depends on within 1e-4."""
    from kansho import _nsbas_jit, inversion, run_timeseries
    from kansho.config import RunConfig
    from kansho.run import open_run

    calls: list[int] = []
    real = _nsbas_jit.solve_pixels
    monkeypatch.setattr(_nsbas_jit, "solve_pixels", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = copy_run(small_run)  # type: ignore[operator]
    base = open_run(out)
    cum0, vel0, rr0 = (np.asarray(base.array(n)[...] if n == "cum" else base.read2d(n)) for n in
                       ("cum", "vel", "resid_rms"))
    run_timeseries(None, out, RunConfig(), steps=["invert"], progress=False, force=True)
    assert not calls  # 3600 px < COMPILED_MIN_PX
    monkeypatch.setattr(inversion, "COMPILED_MIN_PX", 0)
    run = run_timeseries(None, out, RunConfig(), steps=["invert"], progress=False, force=True)
    assert calls
    cum1 = np.asarray(run.array("cum")[...])
    np.testing.assert_array_equal(np.isfinite(cum1), np.isfinite(cum0))
    np.testing.assert_allclose(cum1, cum0, rtol=0, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(run.read2d("vel"), vel0, rtol=0, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(run.read2d("resid_rms"), rr0, rtol=0, atol=1e-4, equal_nan=True)
