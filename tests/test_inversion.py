"""Tests for kansho.inversion: the NSBAS kernel against numpy.linalg.lstsq and synthetic truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.errors import NetworkError
from kansho.inversion import invert_nsbas, solve_pattern
from kansho.network import connected_components, gaps
from kansho.velocity import fit_linear

GAMMA = 1e-4


@pytest.fixture(autouse=True, params=["jit", "numpy"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both CPU paths: the compiled per-pixel kernel and the vectorised numpy one."""
    if request.param == "numpy":
        monkeypatch.setenv("KANSHO_NO_JIT", "1")
    else:
        monkeypatch.delenv("KANSHO_NO_JIT", raising=False)
    return str(request.param)


def _model_columns(t: np.ndarray, annual: bool) -> np.ndarray:
    cols = [t, np.ones_like(t)]
    if annual:
        cols += [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
    return np.stack(cols, axis=1)


def _reference(
    ifg: np.ndarray,
    pairs: np.ndarray,
    t: np.ndarray,
    weights: np.ndarray | None,
    gamma: float,
    annual: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the full augmented system per pixel and solve it with numpy.linalg.lstsq.

    Unknowns: n-1 increments then the model (v, c[, a, b]). Returns cum (n, npix), model
    (nmodel, npix) and a bool (npix,) telling whether the system had full column rank.
    """
    n = t.size
    npix = ifg.shape[1]
    k = np.arange(n - 1)
    g = ((k >= pairs[:, :1]) & (k < pairs[:, 1:2])).astype(float)
    c = np.array([[1.0 if col < row else 0.0 for col in range(n - 1)] for row in range(n)])
    tm = _model_columns(t, annual)
    nm = tm.shape[1]
    cum = np.full((n, npix), np.nan)
    model = np.full((nm, npix), np.nan)
    full = np.zeros(npix, dtype=bool)
    for px in range(npix):
        v = np.isfinite(ifg[:, px])
        sw = np.ones(v.sum()) if weights is None else np.sqrt(weights[v, px])
        top = np.hstack([g[v] * sw[:, None], np.zeros((v.sum(), nm))])
        bottom = gamma * np.hstack([c, -tm])
        a = np.vstack([top, bottom])
        b = np.concatenate([ifg[v, px] * sw, np.zeros(n)])
        x, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
        cum[:, px] = c @ x[: n - 1]
        model[:, px] = x[n - 1 :]
        full[px] = rank == a.shape[1]
    return cum, model, full


def _random_network(rng: np.random.Generator, n: int, max_span: int) -> np.ndarray:
    return np.array(
        [
            (i, j)
            for i in range(n)
            for j in range(i + 1, min(n, i + max_span + 1))
            if rng.random() < 0.8 or j == i + 1
        ]
    )


def test_solve_pattern_matches_lstsq() -> None:
    rng = np.random.default_rng(0)
    for m, n, rank in [(30, 10, 10), (12, 12, 12), (25, 8, 5), (6, 9, 6)]:
        a = rng.normal(size=(m, rank)) @ rng.normal(size=(rank, n))
        b = rng.normal(size=(m, 7))
        np.testing.assert_allclose(
            solve_pattern(a, b), np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-9, atol=1e-9
        )
        # fewer RHS rows: the missing trailing rows are zero
        b_short = b[: m - 3]
        b_pad = np.vstack([b_short, np.zeros((3, 7))])
        np.testing.assert_allclose(
            solve_pattern(a, b_short), np.linalg.lstsq(a, b_pad, rcond=None)[0], atol=1e-9
        )
    # stacked
    a = rng.normal(size=(4, 20, 6))
    b = rng.normal(size=(4, 20, 2))
    x = solve_pattern(a, b)
    for i in range(4):
        np.testing.assert_allclose(x[i], np.linalg.lstsq(a[i], b[i], rcond=None)[0], atol=1e-10)


@pytest.mark.parametrize("annual", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("gamma", [GAMMA, 0.5])  # 0.5: the constraint competes with the data
def test_invert_matches_lstsq_with_missing_data(
    annual: bool, weighted: bool, gamma: float
) -> None:
    rng = np.random.default_rng(42 + 2 * annual + weighted)
    n = 14
    t = np.sort(rng.uniform(0, 4, n))
    t -= t[0]
    pairs = _random_network(rng, n, 3)
    npair, npix = len(pairs), 160
    ifg = rng.normal(0, 20, (npair, npix))
    # pixels 0..79 share 4 NaN patterns (solved per pattern), the rest random patterns (pooled)
    templates = rng.random((4, npair)) < 0.25
    mask = rng.random((npair, npix)) < 0.3
    mask[:, :80] = templates[np.arange(80) % 4].T
    # a full temporal gap (interval 6) for a quarter of the pixels
    crossing = (pairs[:, 0] <= 6) & (pairs[:, 1] > 6)
    mask[np.ix_(crossing, np.arange(120, 160))] = True
    ifg[mask] = np.nan
    weights = rng.uniform(0.05, 1.0, ifg.shape) if weighted else None

    res = invert_nsbas(
        ifg,
        pairs,
        t,
        gamma=gamma,
        annual=annual,
        weights=weights,
        min_pairs=3,
    )
    ref_cum, ref_model, full = _reference(ifg, pairs, t, weights, gamma, annual)
    n_unw = np.isfinite(ifg).sum(axis=0)
    np.testing.assert_array_equal(res.n_unw, n_unw)
    np.testing.assert_array_equal(res.solved, n_unw >= 3)
    check = res.solved & full
    assert check.sum() > 100
    assert gaps(pairs, n, np.isfinite(ifg))[:, check].any()  # gapped pixels are among those checked
    scale = np.abs(ref_cum[:, check]).max()
    np.testing.assert_allclose(res.cum[:, check], ref_cum[:, check], rtol=0, atol=1e-6 * scale)
    assert np.all(res.cum[0, res.solved] == 0)
    assert np.all(np.isnan(res.cum[:, ~res.solved]))
    np.testing.assert_allclose(res.vel[check], ref_model[0, check], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.intercept[check], ref_model[1, check], rtol=1e-5, atol=1e-5)
    if annual:
        assert res.annual_amp is not None and res.annual_phase is not None
        amp = np.hypot(ref_model[2], ref_model[3])
        np.testing.assert_allclose(res.annual_amp[check], amp[check], rtol=1e-5, atol=1e-5)
        # the annual term is amp * cos(2πt - phase)
        tt = 0.3
        np.testing.assert_allclose(
            res.annual_amp[check] * np.cos(2 * np.pi * tt - res.annual_phase[check]),
            (ref_model[2] * np.sin(2 * np.pi * tt) + ref_model[3] * np.cos(2 * np.pi * tt))[check],
            atol=1e-4,
        )
    else:
        assert res.annual_amp is None and res.annual_phase is None
    # residual RMS over valid pairs
    pred = ref_cum[pairs[:, 1]] - ref_cum[pairs[:, 0]]
    rms = np.sqrt(np.nanmean((pred - ifg) ** 2, axis=0))
    np.testing.assert_allclose(res.resid_rms[check], rms[check], rtol=1e-4, atol=1e-5)


def _series(rng: np.random.Generator, t: np.ndarray, npix: int) -> np.ndarray:
    """Linear + seasonal + random-walk series (n, npix), zero at the first epoch."""
    v = rng.normal(0, 20, npix)
    amp = rng.uniform(0, 10, npix)
    ph = rng.uniform(-np.pi, np.pi, npix)
    walk = np.cumsum(rng.normal(0, 3, (t.size, npix)), axis=0)
    y = v * t[:, None] + amp * np.cos(2 * np.pi * t[:, None] - ph) + walk
    return y - y[:1]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 16),
    npix=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    annual=st.booleans(),
    weighted=st.booleans(),
)
def test_interferograms_from_a_series_invert_back(
    n: int, npix: int, seed: int, annual: bool, weighted: bool
) -> None:
    """Interferograms formed from a series invert back to that series (connected networks)."""
    rng = np.random.default_rng(seed)
    t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.005, 0.6, n - 1))])
    # two random spanning trees + random extra pairs; each pixel keeps, for every epoch k >= 1,
    # at least one of its two tree edges to an earlier epoch, so every pixel stays connected.
    parents = np.array([[rng.integers(0, k), rng.integers(0, k)] for k in range(1, n)])
    extra = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.3]
    tree = {(int(p), k + 1) for k, ps in enumerate(parents) for p in ps}
    pairs = np.array(sorted(tree | set(extra)))
    index = {tuple(p): i for i, p in enumerate(pairs.tolist())}
    valid = rng.random((len(pairs), npix)) < 0.5
    choice = rng.integers(0, 3, (n - 1, npix))  # 0: first edge, 1: second, 2: both
    for k in range(n - 1):
        for which in (0, 1):
            row = index[(int(parents[k, which]), k + 1)]
            valid[row] |= (choice[k] == which) | (choice[k] == 2)
    truth = _series(rng, t, npix)
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]]
    ifg[~valid] = np.nan
    weights = rng.uniform(0.1, 1.0, ifg.shape) if weighted else None
    for px in range(npix):  # the construction keeps every pixel connected
        assert np.unique(connected_components(pairs[valid[:, px]], n)).size == 1

    res = invert_nsbas(
        ifg, pairs, t, annual=annual, weights=weights
    )
    assert res.solved.all()
    scale = max(1.0, np.abs(truth).max())
    np.testing.assert_allclose(res.cum, truth, rtol=0, atol=2e-6 * scale)
    assert np.all(res.resid_rms < 1e-5 * scale)
    # the constraint model is the least-squares model fit to the series
    vel, icpt = fit_linear(res.cum, t)
    if not annual:
        np.testing.assert_allclose(res.vel, vel, rtol=1e-4, atol=1e-4 * scale)
        np.testing.assert_allclose(res.intercept, icpt, rtol=1e-4, atol=1e-4 * scale)


def _gapped_network(n: int, gap_interval: int) -> np.ndarray:
    return np.array(
        [
            (i, j)
            for i in range(n)
            for j in range(i + 1, min(n, i + 4))
            if not (i <= gap_interval < j)
        ]
    )


def test_full_gap_linear_truth_is_recovered_exactly() -> None:
    rng = np.random.default_rng(5)
    n = 24
    t = np.arange(n) * 24 / 365.25
    t[12:] += 0.7  # a long acquisition gap as well as a network gap
    pairs = _gapped_network(n, 11)
    assert gaps(pairs, n)[11] and gaps(pairs, n).sum() == 1
    assert np.unique(connected_components(pairs, n)).size == 2
    v = rng.normal(0, 30, 50)
    truth = v * t[:, None]
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]]
    res = invert_nsbas(ifg, pairs, t)
    assert np.all(np.isfinite(res.cum))
    np.testing.assert_allclose(res.cum, truth, rtol=0, atol=1e-6 * np.abs(truth).max())
    np.testing.assert_allclose(res.vel, v, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.intercept, 0, atol=1e-5)
    # also with per-pixel NaNs creating different patterns, and with weights
    ifg2 = ifg.copy()
    ifg2[rng.random(ifg.shape) < 0.15] = np.nan
    for w in (None, rng.uniform(0.2, 1, ifg.shape)):
        res2 = invert_nsbas(ifg2, pairs, t, weights=w)
        ok = res2.solved
        assert ok.all()
        np.testing.assert_allclose(res2.cum, truth, rtol=0, atol=1e-5 * np.abs(truth).max())


def test_annual_bridges_a_gap_in_a_seasonal_signal() -> None:
    rng = np.random.default_rng(8)
    n = 60
    t = np.arange(n) * 12 / 365.25
    pairs = _gapped_network(n, 29)
    npix = 200
    v = rng.normal(0, 10, npix)
    amp = rng.uniform(5, 15, npix)
    ph = rng.uniform(-np.pi, np.pi, npix)
    truth = v * t[:, None] + amp * np.cos(2 * np.pi * t[:, None] - ph)
    truth -= truth[:1]
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]] + rng.normal(0, 1.0, (len(pairs), npix))
    err = {}
    for annual in (False, True):
        res = invert_nsbas(ifg, pairs, t, annual=annual)
        assert np.all(np.isfinite(res.cum))
        err[annual] = np.sqrt(np.mean((res.cum - truth) ** 2))
    assert err[True] < 0.25 * err[False], err
    assert err[True] < 2.0  # mm, noise level
    res = invert_nsbas(ifg, pairs, t, annual=True)
    assert res.annual_amp is not None and res.annual_phase is not None
    np.testing.assert_allclose(np.median(res.annual_amp / amp), 1.0, atol=0.1)
    dphase = np.angle(np.exp(1j * (res.annual_phase - ph)))
    assert np.median(np.abs(dphase)) < 0.15


def test_unsolved_and_rank_deficient_pixels() -> None:
    n = 6
    t = np.linspace(0, 1.3, n)
    pairs = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 2], [2, 4]])
    truth = 5.0 * t
    ifg = np.repeat((truth[pairs[:, 1]] - truth[pairs[:, 0]])[:, None], 4, axis=1)
    ifg[:, 1] = np.nan  # no data
    ifg[1:, 2] = np.nan  # a single pair: under-determined for the annual model
    ifg[3:, 3] = np.nan  # three pairs
    for annual in (False, True):
        res = invert_nsbas(ifg, pairs, t, annual=annual, min_pairs=2)
        np.testing.assert_array_equal(res.n_unw, [7, 0, 1, 3])
        np.testing.assert_array_equal(res.solved, [True, False, False, True])
        assert np.all(np.isnan(res.cum[:, 1])) and np.isnan(res.vel[1])
        assert np.isnan(res.resid_rms[2])
        res0 = invert_nsbas(ifg, pairs, t, annual=annual, min_pairs=0)
        assert res0.solved[2] and not res0.solved[1]
        # a single pair still gets a finite series that honours it
        assert np.all(np.isfinite(res0.cum[:, 2]))
        assert res0.cum[1, 2] == pytest.approx(ifg[0, 2], abs=1e-6)
        assert res0.resid_rms[2] < 1e-6
        resp = invert_nsbas(ifg, pairs, t, annual=annual)
        np.testing.assert_allclose(resp.cum, res0.cum, atol=1e-5, equal_nan=True)
        resw = invert_nsbas(ifg, pairs, t, annual=annual, weights=np.ones_like(ifg))
        np.testing.assert_allclose(resw.cum, res0.cum, atol=1e-5, equal_nan=True)


def test_zero_or_nan_weights_exclude_pairs() -> None:
    rng = np.random.default_rng(1)
    n = 8
    t = np.linspace(0, 2, n)
    pairs = _random_network(rng, n, 3)
    ifg = rng.normal(0, 5, (len(pairs), 30))
    w = rng.uniform(0.1, 1, ifg.shape)
    w[0] = 0.0
    w[1] = np.nan
    res = invert_nsbas(ifg, pairs, t, weights=w)
    ifg_cut = ifg.copy()
    ifg_cut[:2] = np.nan
    ref = invert_nsbas(ifg_cut, pairs, t, weights=np.where(np.isfinite(w), w, 1.0))
    np.testing.assert_array_equal(res.n_unw, len(pairs) - 2)
    np.testing.assert_allclose(res.cum, ref.cum, atol=1e-5)


def test_singular_batch_falls_back_to_svd(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    n = 10
    t = np.linspace(0, 2, n)
    pairs = _random_network(rng, n, 3)
    ifg = rng.normal(0, 5, (len(pairs), 25))
    ifg[rng.random(ifg.shape) < 0.3] = np.nan
    w = rng.uniform(0.1, 1, ifg.shape)
    ref = invert_nsbas(ifg, pairs, t, weights=w)

    def singular(*args: object, **kwargs: object) -> None:
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(np.linalg, "solve", singular)
    res = invert_nsbas(ifg, pairs, t, weights=w)
    np.testing.assert_allclose(res.cum, ref.cum, atol=1e-5)


def test_bad_input() -> None:
    pairs = np.array([[0, 1], [1, 2]])
    ifg = np.zeros((2, 3))
    t = np.array([0.0, 0.1, 0.2])
    with pytest.raises(ValueError):
        invert_nsbas(ifg, pairs, t, gamma=0.0)
    with pytest.raises(ValueError):
        invert_nsbas(np.zeros((3, 3)), pairs, t)
    with pytest.raises(ValueError):
        invert_nsbas(ifg, pairs, t[::-1])
    with pytest.raises(NetworkError):
        invert_nsbas(ifg, np.array([[0, 1], [1, 3]]), t)
    with pytest.raises(NetworkError):
        invert_nsbas(np.zeros((0, 3)), np.zeros((0, 2), int), np.array([0.0]))


def test_many_pixels_sharing_few_patterns_recover_the_truth() -> None:
    """Pixels in several batches sharing five connected NaN patterns, with long pairs: every pixel
    is solved and gives back the random-walk truth (speed is measured in benchmarks/bench_invert.py)."""
    rng = np.random.default_rng(0)
    n = 40
    t = np.arange(n) * 12 / 365.25
    short = [(i, j) for i in range(n) for j in range(i + 1, min(n, i + 5))]  # 150 pairs
    pairs = np.array(short + [(i, i + 30) for i in range(10)])
    npix = 6_000
    truth = np.cumsum(rng.normal(0, 2, (n, npix)), axis=0).astype(np.float32)
    truth -= truth[:1]
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]]
    templates = rng.random((5, len(pairs))) < 0.1
    for tpl in templates:  # keep every pattern connected, so the truth is recoverable
        assert np.unique(connected_components(pairs[~tpl], n)).size == 1
    ifg[templates[rng.integers(0, 5, npix)].T] = np.nan
    res = invert_nsbas(ifg, pairs, t, max_batch=1_000)
    assert res.solved.all()
    np.testing.assert_allclose(res.cum, truth, atol=1e-3)


def _banded_case(seed: int, n: int, npix: int, long: set[tuple[int, int]], rate: float
                 ) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """12-day epochs, 3 short pairs an epoch plus ``long``; a random walk plus ``rate`` mm/yr and
    1 mm of noise. Returns the generator (to draw more), t (yr), pairs and ifg (mm)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 12 / 365.25
    short = {(i, j) for i in range(n) for j in range(i + 1, min(n, i + 4))}
    pairs = np.array(sorted(short | long))
    truth = np.cumsum(rng.normal(0, 2, (n, npix)), axis=0) + rate * t[:, None]
    truth -= truth[:1]
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]] + rng.normal(0, 1, (len(pairs), npix))
    return rng, t, pairs, ifg


@pytest.mark.parametrize("gamma", [1e-4, 1e-6])
def test_gaps_and_long_pairs_stay_accurate_for_small_gamma(gamma: float) -> None:
    """The banded solver against lstsq where it is hardest: gaps (offsets fixed only by the
    constraint), an epoch reached only by long pairs, a long pair from epoch 0, tiny gamma."""
    rng, t, pairs, ifg = _banded_case(3, 40, 48, {(3, 17), (10, 30), (0, 25)}, 20.0)
    n = t.size
    crossing = (pairs[:, 0] <= 20) & (pairs[:, 1] > 20)
    ifg[np.ix_(crossing, np.arange(16))] = np.nan  # a gap at interval 20
    to_30 = (pairs[:, 1] == 30) | (pairs[:, 0] == 30)
    ifg[np.ix_(to_30 & (pairs[:, 1] - pairs[:, 0] < 4), np.arange(16, 32))] = np.nan  # 30 via (10, 30)
    ifg[rng.random(ifg.shape) < 0.1] = np.nan
    res = invert_nsbas(ifg, pairs, t, gamma=gamma)
    ref_cum, ref_model, full = _reference(ifg, pairs, t, None, gamma, False)
    assert gaps(pairs, n, np.isfinite(ifg))[:, :16].any()
    check = res.solved & full
    assert check.sum() > 40
    scale = np.abs(ref_cum[:, check]).max()
    np.testing.assert_allclose(res.cum[:, check], ref_cum[:, check], rtol=0, atol=3e-7 * scale)
    np.testing.assert_allclose(res.vel[check], ref_model[0, check], rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("annual", [False, True])
def test_compiled_and_numpy_paths_agree(engine: str, annual: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled kernel and the numpy path solve the same problem: equal to round-off on a hard
    case (weights, random NaNs, long pairs, a gap, pixels with very few pairs)."""
    if engine == "numpy":
        pytest.skip("compares the two engines once")
    rng, t, pairs, ifg = _banded_case(11, 30, 400, {(2, 14), (5, 25), (0, 20)}, 15.0)
    ifg[rng.random(ifg.shape) < 0.15] = np.nan
    crossing = (pairs[:, 0] <= 12) & (pairs[:, 1] > 12)
    ifg[np.ix_(crossing, np.arange(50))] = np.nan  # a gap at interval 12
    ifg[3:, 60:64] = np.nan  # nearly empty pixels
    w = rng.uniform(0.2, 3.0, ifg.shape)
    w[rng.random(ifg.shape) < 0.05] = np.nan
    jit = invert_nsbas(ifg, pairs, t, weights=w, annual=annual, min_pairs=0)
    monkeypatch.setenv("KANSHO_NO_JIT", "1")
    ref = invert_nsbas(ifg, pairs, t, weights=w, annual=annual, min_pairs=0)
    np.testing.assert_array_equal(jit.solved, ref.solved)
    scale = np.nanmax(np.abs(ref.cum))
    np.testing.assert_allclose(jit.cum, ref.cum, rtol=0, atol=1e-6 * scale, equal_nan=True)
    np.testing.assert_allclose(jit.vel, ref.vel, rtol=1e-5, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(jit.resid_rms, ref.resid_rms, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_compiled_false_is_the_numpy_path(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``compiled=False`` (the chain's choice for a small frame) solves with the numpy path, bit for bit as
    ``KANSHO_NO_JIT`` does, and never reaches the compiled kernel (whose first use compiles it)."""
    if engine == "numpy":
        pytest.skip("compares the two engines once")
    from kansho import _nsbas_jit, inversion

    rng, t, pairs, ifg = _banded_case(5, 20, 300, {(1, 12)}, 10.0)
    ifg[rng.random(ifg.shape) < 0.1] = np.nan
    w = rng.uniform(0.2, 3.0, ifg.shape)

    def no_kernel(*a: object, **k: object) -> None:
        raise AssertionError("the compiled kernel was called")

    monkeypatch.setattr(_nsbas_jit, "solve_pixels", no_kernel)
    res = invert_nsbas(ifg, pairs, t, weights=w, compiled=False)
    monkeypatch.setenv("KANSHO_NO_JIT", "1")
    ref = invert_nsbas(ifg, pairs, t, weights=w)
    np.testing.assert_array_equal(res.cum, ref.cum)
    np.testing.assert_array_equal(res.resid_rms, ref.resid_rms)
    assert not inversion.use_compiled(inversion.COMPILED_MIN_PX - 1) and inversion.use_compiled(
        inversion.COMPILED_MIN_PX)
