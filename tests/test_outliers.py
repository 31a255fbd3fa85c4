"""The residual cycle check and the unchecked pairs (kansho.outliers) against exact references:
hat values from a pseudo-inverse, and injected cycle errors in simulated networks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from kansho.outliers import NULL_FIX, residual_cycle_check, unchecked_pairs

CYCLE = 27.73  # mm: one C-band cycle of LOS displacement


def _network(ne: int, span: int) -> np.ndarray:
    return np.array([(i, j) for i in range(ne) for j in range(i + 1, min(i + span + 1, ne))], np.int64)


def _design(pairs: np.ndarray, ne: int) -> np.ndarray:
    g = np.zeros((len(pairs), ne - 1))
    for p, (i, j) in enumerate(pairs):
        g[p, i:j] = 1.0
    return g


@settings(max_examples=40, deadline=None)
@given(ne=hs.integers(3, 12), span=hs.integers(1, 4), keep=hs.floats(0.2, 1.0), seed=hs.integers(0, 2**31))
def test_unchecked_pairs_are_exactly_those_of_hat_value_one(ne: int, span: int, keep: float, seed: int) -> None:
    """A pair is on no closed loop exactly when its hat value in the least-squares network is 1 (no
    residual can show its error): checked against a pseudo-inverse, pixel by pixel."""
    rng = np.random.default_rng(seed)
    pairs = _network(ne, span)
    valid = rng.random((len(pairs), 30)) < keep
    got = unchecked_pairs(valid, pairs, ne)
    g = _design(pairs, ne)
    for c in range(valid.shape[1]):
        v = valid[:, c]
        want = np.zeros(len(pairs), bool)
        if v.any():
            gv = g[v]
            want[v] = np.diag(gv @ np.linalg.pinv(gv)) > 1 - 1e-8
        np.testing.assert_array_equal(got[:, c], want)


def test_unchecked_pairs_of_a_chain_and_a_triangle() -> None:
    pairs = np.array([(0, 1), (1, 2), (0, 2), (2, 3)])
    valid = np.ones((4, 2), bool)
    valid[2, 1] = False  # second pixel: the triangle is open
    got = unchecked_pairs(valid, pairs, 4)
    np.testing.assert_array_equal(got[:, 0], [False, False, False, True])
    np.testing.assert_array_equal(got[:, 1], [True, True, False, True])


def _simulate(ne: int, span: int, n: int, seed: int, p_err: float, noise: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pairs = _network(ne, span)
    x = np.cumsum(rng.normal(0, 6, (ne, n)), axis=0)
    y = x[pairs[:, 1]] - x[pairs[:, 0]] + rng.normal(0, noise, (len(pairs), n))
    k = np.where(rng.random((len(pairs), n)) < p_err, rng.choice([-2, -1, 1, 2], (len(pairs), n)), 0)
    return pairs, y + k * CYCLE, k, y


def test_injected_cycle_errors_are_found() -> None:
    """30 epochs, 3 successors, noise 2 mm (a coherent C-band pixel is ~1-3 mm), a cycle error in 1 %
    of the pair-pixels (~1 per pixel): at least 90 % are corrected or nulled, the wrong corrections
    stay under 0.5 % of the errors (an error is mistaken only when two interact) and a clean
    pair is almost never touched."""
    pairs, y, k, _ = _simulate(30, 3, 3000, 1, 0.01, 2.0)
    fix = residual_cycle_check(y, pairs, 30, CYCLE)
    err = k != 0
    null = fix == NULL_FIX
    right = (fix == k) & err
    assert (right | (null & err)).sum() >= 0.9 * err.sum()
    assert ((fix != 0) & ~null & (fix != k)).sum() <= 0.005 * err.sum()
    assert ((fix != 0) & ~err).sum() <= 1e-3 * (~err).sum()


def test_clean_noisy_data_are_left_alone() -> None:
    """Noise only, 4 mm per pair (a poor pixel, where a pair's own error is known only to ~7 mm, a
    quarter of a cycle): no pair is corrected (an error that size cannot be told from whole cycles);
    the w-test's rare alarms (critical value 5, σ estimated from the pixel itself) null a pair at
    under 0.1 % of the pixels."""
    pairs, _, _, y = _simulate(25, 4, 4000, 2, 0.0, 4.0)
    fix = residual_cycle_check(y, pairs, 25, CYCLE)
    assert np.count_nonzero((fix != 0) & (fix != NULL_FIX)) == 0
    assert np.count_nonzero((fix == NULL_FIX).any(axis=0)) <= 4


def test_indistinguishable_pairs_are_nulled_not_guessed() -> None:
    """Epochs 0-6 densely linked, epochs 7 and 8 only by the one loop (6,7), (7,8), (6,8): an error in
    (7,8) moves the three residuals of that loop alike (correlation 1), so the data cannot say which
    pair is wrong. All three are nulled at that pixel, nothing is guessed, the rest is untouched."""
    pairs = np.vstack([_network(7, 3), [(6, 7), (7, 8), (6, 8)]]).astype(np.int64)
    rng = np.random.default_rng(3)
    y = rng.normal(0, 0.3, (len(pairs), 1))
    y[-2, 0] += CYCLE
    fix = residual_cycle_check(y, pairs, 9, CYCLE)
    assert np.all(fix[-3:, 0] == NULL_FIX)
    assert np.all(fix[:-3, 0] == 0)


@pytest.mark.parametrize("bad", [(3, 2), (0, 4)])
def test_input_errors(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="pairs must be"):
        unchecked_pairs(np.ones((1, 1), bool), np.array([bad]), 4)
    with pytest.raises(ValueError, match="cycle must be positive"):
        residual_cycle_check(np.zeros((1, 1)), np.array([(0, 1)]), 2, 0.0)


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float64, hs.integers(1, 80), elements=hs.floats(0, 1e6, allow_nan=False)
                  | hs.sampled_from([0.0, 1.0, 2.0])))
def test_kernel_median_equals_numpy(a: np.ndarray) -> None:
    """The w-test's robust scale takes the median by selection in the kernel: the same value as np.median,
    ties and even lengths included."""
    from kansho._outlier_jit import _median_destroy

    assert _median_destroy(a.copy(), a.size) == np.median(a)
    b = a.copy()
    b[len(b) // 2] = np.nan
    assert np.isnan(_median_destroy(b, b.size))


@pytest.mark.parametrize("seed", range(4))
def test_band_factor_gives_the_inverse_within_the_band(seed: int) -> None:
    """The check's band ``L D Lᵀ`` and Takahashi's band of ``N⁻¹`` equal the dense inverse of ``N = Gᵀ W G``
    (ridge included) within the band, the band solve equals a dense solve, and a pair's hat value is the
    sum of that block: networks of short pairs with a few long ones, some pairs unused, a disconnected one."""
    from kansho import _outlier_jit as oj

    rng = np.random.default_rng(seed)
    ne = 30
    m = ne - 1
    short = [(i, i + d) for i in range(ne) for d in (1, 2, 3) if i + d < ne]
    long_ = [(i, min(ne - 1, i + int(rng.integers(5, 12)))) for i in rng.integers(0, ne - 5, 3)]
    ends = np.array(short + long_, np.int64)
    w = rng.uniform(0.2, 3.0, len(ends))
    use = rng.random(len(ends)) > 0.2
    if seed == 3:  # cut the network: only the ridge holds it together
        use &= ~((ends[:, 0] < 15) & (ends[:, 1] > 15))
    ridge = 1e-9
    G = np.zeros((len(ends), m))
    for p, (i, j) in enumerate(ends):
        G[p, i:j] = 1.0
    N = G[use].T @ (w[use, None] * G[use])
    N[np.diag_indices(m)] += ridge * max(N.diagonal().max(), 1.0)
    L, D, S = np.empty((m, m)), np.empty(m), np.empty((m, m))
    bw = oj._factor(w, use, ends, m, ridge, L, D, S)
    assert bw == max(j - i for i, j in ends[use]) - 1
    inv = np.linalg.inv(N)
    band = np.abs(np.subtract.outer(np.arange(m), np.arange(m))) <= bw
    lower = band & (np.arange(m)[:, None] >= np.arange(m)[None])
    np.testing.assert_allclose(S[lower], inv[lower], rtol=1e-7, atol=1e-9 * np.abs(inv).max())
    b = rng.normal(size=m)
    x = b.copy()
    oj._band_solve(L, D, bw, x)
    np.testing.assert_allclose(x, np.linalg.solve(N, b), rtol=1e-7, atol=1e-9 * np.abs(x).max())
    for i, j in ends[use][:10]:
        assert oj._hat(S, int(i), int(j)) == pytest.approx(inv[i:j, i:j].sum(), rel=1e-7)
