from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kansho.errors import NetworkError
from kansho.loops import (
    choose_reference,
    find_bad_pairs,
    loop_phase,
    loop_rms,
    loop_sums,
    pairs_in_valid_loop,
    pixel_loop_sums,
    reference_offsets,
)

TWO_PI = 2 * np.pi


# ----------------------------------------------------------------------------- helpers
def tri_loops(pairs: np.ndarray) -> np.ndarray:
    """Loop matrix of all triangles of a network (test-local; the package has its own)."""
    idx = {(int(i), int(j)): k for k, (i, j) in enumerate(pairs)}
    rows = []
    for (i, j), a in idx.items():
        for (j2, k), b in idx.items():
            if j2 == j and (i, k) in idx:
                r = np.zeros(len(pairs), np.int8)
                r[a], r[b], r[idx[(i, k)]] = 1, 1, -1
                rows.append(r)
    return np.array(rows, np.int8).reshape(-1, len(pairs))


def next_k_network(n_epoch: int, k: int) -> np.ndarray:
    return np.array([(i, i + d) for i in range(n_epoch) for d in range(1, k + 1) if i + d < n_epoch])


def random_network(rng: np.random.Generator, n_epoch: int, kmin: int, kmax: int, p_drop: float) -> np.ndarray:
    pairs = []
    for i in range(n_epoch - 1):
        for d in range(1, int(rng.integers(kmin, kmax + 1)) + 1):
            if i + d < n_epoch and (d == 1 or rng.random() >= p_drop):
                pairs.append((i, i + d))
    return np.array(pairs)


def quadrants(ny: int, nx: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[:ny, :nx]
    top, left = yy < ny // 2, xx < nx // 2
    return [(a & b).ravel() for a in (top, ~top) for b in (left, ~left)]


def simulate(rng, pairs, n_epoch, bad, ny=30, nx=30, noise=0.3):
    """Interferograms of a random series + noise, with 2πk errors over one quadrant per bad pair."""
    series = rng.normal(0, 20, (n_epoch, ny * nx))
    unw = series[pairs[:, 1]] - series[pairs[:, 0]] + rng.normal(0, noise, (len(pairs), ny * nx))
    clean = unw.copy()
    for q, p in zip(quadrants(ny, nx), bad):
        unw[p, q] += TWO_PI * rng.choice([-2, -1, 1, 2])
    return unw, clean


def identifiable(L: np.ndarray, truth: np.ndarray) -> bool:
    """The configurations for which find_bad_pairs is exact (see its docstring):
    each error pair has a loop whose other members are clean, and no clean pair has more loops
    touching an error pair than loops free of them."""
    M = L != 0
    n_bad_in = (M & truth).sum(axis=1)
    for p in range(M.shape[1]):
        lp = M[:, p]
        if truth[p]:
            if not (lp & (n_bad_in == 1)).any():
                return False
        elif (lp & (n_bad_in > 0)).sum() > (lp & (n_bad_in == 0)).sum():
            return False
    return True


def frame_rms(unw, L):
    return loop_rms(*loop_sums(loop_phase(unw, L)))


# ----------------------------------------------------------------------------- loop phase
def test_loop_phase_closed_network_is_exactly_zero():
    rng = np.random.default_rng(1)
    pairs = next_k_network(10, 3)
    L = tri_loops(pairs)
    assert L.shape == (22, len(pairs))  # triangles spanning <= 3 epochs: 7 × 3 + 1
    series = rng.integers(-1000, 1000, (10, 50)).astype(np.float64)  # exact arithmetic
    unw = series[pairs[:, 1]] - series[pairs[:, 0]]
    ph = loop_phase(unw, L)
    assert ph.shape == (L.shape[0], 50)
    assert np.all(ph == 0)
    # non-integer values: zero to rounding
    series = rng.normal(0, 50, (10, 50))
    ph = loop_phase(series[pairs[:, 1]] - series[pairs[:, 0]], L)
    np.testing.assert_allclose(ph, 0, atol=1e-12)


def test_loop_phase_nan_and_dtype():
    pairs = np.array([[0, 1], [1, 2], [0, 2]])
    L = tri_loops(pairs)
    np.testing.assert_array_equal(L, [[1, 1, -1]])
    unw = np.array([[1.0, np.nan, 1.0], [2.0, 2.0, 2.0], [0.5, 0.5, np.nan]], dtype=np.float32)
    ph = loop_phase(unw, L)
    assert ph.dtype == np.float32
    np.testing.assert_array_equal(ph, [[2.5, np.nan, np.nan]])


def test_loop_sums_blocks_and_rms():
    ph = np.array([[3.0, 4.0, np.nan, 0.0], [np.nan, np.nan, np.nan, np.nan]])
    s, n = loop_sums(ph)
    np.testing.assert_allclose(s, [25.0, 0.0])
    np.testing.assert_array_equal(n, [3, 0])
    r = loop_rms(s, n)
    np.testing.assert_allclose(r[0], np.sqrt(25 / 3))
    assert np.isnan(r[1])
    s1, n1 = loop_sums(ph[:, :2])
    s2, n2 = loop_sums(ph[:, 2:])
    np.testing.assert_allclose(s1 + s2, s)
    np.testing.assert_array_equal(n1 + n2, n)


# ----------------------------------------------------------------------------- bad pairs
def test_find_bad_pairs_synthetic_network():
    rng = np.random.default_rng(42)
    n_epoch = 12
    pairs = next_k_network(n_epoch, 3)
    L = tri_loops(pairs)
    index = {tuple(p): k for k, p in enumerate(pairs.tolist())}
    bad = [index[(1, 2)], index[(4, 7)], index[(8, 10)]]
    truth = np.zeros(len(pairs), bool)
    truth[bad] = True
    assert identifiable(L, truth)
    unw, clean = simulate(rng, pairs, n_epoch, bad)

    np.testing.assert_array_less(frame_rms(clean, L), 1.0)  # clean loops: noise only
    res = find_bad_pairs(frame_rms(unw, L), L, threshold=1.5)
    np.testing.assert_array_equal(res.bad, truth)
    assert sorted(res.order) == sorted(bad)
    assert not res.unresolved_loop.any()
    assert not res.no_loop.any() and not res.no_loop_after.any()
    # every loop containing an error pair is bad, and only those
    np.testing.assert_array_equal(res.bad_loop, (L[:, bad] != 0).any(axis=1))
    np.testing.assert_array_equal(res.n_bad_loops[truth], res.n_loops[truth])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_epoch=st.integers(8, 24),
    kmin=st.integers(3, 4),
    n_bad=st.integers(1, 3),
    p_drop=st.sampled_from([0.0, 0.1, 0.2]),
)
def test_find_bad_pairs_random_networks(seed, n_epoch, kmin, n_bad, p_drop):
    rng = np.random.default_rng(seed)
    pairs = random_network(rng, n_epoch, kmin, 4, p_drop)
    L = tri_loops(pairs)
    bad = rng.choice(len(pairs), n_bad, replace=False)
    truth = np.zeros(len(pairs), bool)
    truth[bad] = True
    assume(identifiable(L, truth))
    unw, _ = simulate(rng, pairs, n_epoch, bad, ny=16, nx=16)
    res = find_bad_pairs(frame_rms(unw, L), L)
    np.testing.assert_array_equal(res.bad, truth)
    assert not res.unresolved_loop.any()


def test_find_bad_pairs_no_error_no_drop():
    pairs = next_k_network(10, 3)
    L = tri_loops(pairs)
    res = find_bad_pairs(np.full(L.shape[0], 0.4), L)
    assert not res.bad.any() and not res.bad_loop.any() and res.order == []


def test_find_bad_pairs_mostly_good_pair_is_kept():
    # pair 0 is in 3 loops, only one bad; its partners in that loop have no other loop:
    # the loop is ambiguous between the two single-loop partners -> both dropped, pair 0 kept.
    L = np.array(
        [
            [1, 1, -1, 0, 0, 0, 0],
            [1, 0, 0, 1, -1, 0, 0],
            [1, 0, 0, 0, 0, 1, -1],
        ],
        np.int8,
    )
    res = find_bad_pairs(np.array([3.0, 0.5, 0.5]), L)
    np.testing.assert_array_equal(res.bad, [False, True, True, False, False, False, False])
    assert res.n_loops[0] == 3 and res.n_bad_loops[0] == 1


def test_find_bad_pairs_unmeasured_loops_and_no_loop():
    # pairs 0-2 in loop 0 (good), pairs 2-4 in loop 1 (not measured), pair 5 in no loop
    L = np.array([[1, 1, -1, 0, 0, 0], [0, 0, 1, 1, -1, 0]], np.int8)
    res = find_bad_pairs(np.array([0.2, np.nan]), L)
    assert not res.bad.any()
    np.testing.assert_array_equal(res.no_loop, [False, False, False, True, True, True])
    np.testing.assert_array_equal(res.n_loops, [1, 1, 1, 0, 0, 0])


def test_find_bad_pairs_evidence_beats_fraction():
    # Error pair 0 is in 4 loops, 3 bad and one wrongly good (e.g. its error region unwrapped in
    # no partner there); pair 1 is in a single loop, with pair 0. Pair 0 must be found, pair 1 kept.
    L = np.zeros((4 + 3 + 3, 12), np.int8)
    L[0, [0, 1, 2]] = 1, 1, -1  # loop with single-loop pair 1
    L[1, [0, 3, 4]] = 1, 1, -1
    L[2, [0, 5, 6]] = 1, 1, -1
    L[3, [0, 7, 8]] = 1, 1, -1  # wrongly good
    # partners 2..6 each also in a good loop of their own
    L[4, [2, 9, 10]] = 1, 1, -1
    L[5, [3, 4, 11]] = 1, 1, -1
    L[6, [5, 6, 9]] = 1, 1, -1
    L[7, [7, 8, 10]] = 1, 1, -1
    L[8, [4, 9, 11]] = 1, 1, -1
    L[9, [2, 6, 11]] = 1, 1, -1
    rms = np.array([3.0, 3.0, 3.0, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4])
    res = find_bad_pairs(rms, L)
    expect = np.zeros(12, bool)
    expect[0] = True
    np.testing.assert_array_equal(res.bad, expect)
    assert res.no_loop_after[1]  # pair 1 is kept but no longer checked by any loop


# ----------------------------------------------------------------------------- pixel stats
def test_pixel_loop_sums_hand_case():
    nan = np.nan
    # pairs a=(0,1) b=(1,2) c=(0,2) d=(2,3) e=(1,3); loops a+b-c, b+d-e
    L = np.array([[1, 1, -1, 0, 0], [0, 1, 0, 1, -1]], np.int8)
    unw = np.array(
        [
            [1.0, 1.0, 1.0],  # a
            [2.0, 1.0, nan],  # b
            [-1.0, nan, 1.0],  # c
            [0.5, 1.0, 1.0],  # d
            [2.0, 6.0, 1.0],  # e
        ]
    )
    ph = loop_phase(unw, L)
    np.testing.assert_allclose(ph, [[4.0, nan, nan], [0.5, -4.0, nan]])
    valid = np.isfinite(unw)
    n_err, cnt, ss, loop_valid = pixel_loop_sums(ph, L, valid)
    np.testing.assert_array_equal(n_err, [1, 1, 0])
    np.testing.assert_array_equal(loop_valid, [[True, False, False], [True, True, False]])
    n_noloop = (valid & ~pairs_in_valid_loop(L, loop_valid)).sum(axis=0)
    np.testing.assert_array_equal(n_noloop, [0, 1, 4])
    np.testing.assert_array_equal(cnt, [2, 1, 0])
    np.testing.assert_allclose(ss, [16 + 0.25, 16.0, 0.0])
    # a higher threshold counts nothing
    n_err, *_ = pixel_loop_sums(ph, L, valid, err_threshold=5.0)
    np.testing.assert_array_equal(n_err, [0, 0, 0])


# ----------------------------------------------------------------------------- reference
def _brute_reference(score, ok, s):
    best, arg = np.inf, None
    ny, nx = score.shape
    for r, c in itertools.product(range(ny - s + 1), range(nx - s + 1)):
        if ok[r : r + s, c : c + s].all():
            m = score[r : r + s, c : c + s].mean()
            if m < best - 1e-12:
                best, arg = m, (r, r + s, c, c + s)
    return arg


@pytest.mark.parametrize("size", [4, 5])
def test_choose_reference_minimum_and_avoids_masked(size):
    rng = np.random.default_rng(3)
    score = rng.random((40, 50)) + 1.0
    ok = rng.random((40, 50)) > 0.03
    # very low score in a window containing one masked pixel: must not be chosen
    score[5:10, 5:10] = 0.0
    ok[7, 7] = False
    # low (but higher) score in a clean window: must be chosen
    score[20:20 + size, 30:30 + size] = 0.2
    ok[20:20 + size, 30:30 + size] = True
    r0, r1, c0, c1 = choose_reference(score, ok, size=size)
    assert (r0, r1, c0, c1) == (20, 20 + size, 30, 30 + size)
    assert ok[r0:r1, c0:c1].all()
    # matches brute force on a random case
    score = rng.random((25, 30))
    assert choose_reference(score, ok[:25, :30], size=size) == _brute_reference(score, ok[:25, :30], size)


def test_choose_reference_shrinks_and_raises(caplog):
    score = np.zeros((20, 20))
    ok = np.zeros((20, 20), bool)
    ok[3:6, 10:13] = True  # only a 3x3 block is ok
    ok[15, 2] = True
    assert choose_reference(score, ok, size=5) == (3, 6, 10, 13)
    assert "using 3×3" in caplog.text
    with pytest.raises(NetworkError):
        choose_reference(score, np.zeros((20, 20), bool))
    # NaN score counts as not ok
    score[3:6, 10:13] = np.nan
    assert choose_reference(score, ok, size=5) == (15, 16, 2, 3)


def test_reference_offsets():
    a = np.array([[1.0, 2.0, np.nan], [np.nan, np.nan, np.nan], [4.0, 4.0, 4.0]])
    np.testing.assert_allclose(reference_offsets(a), [1.5, np.nan, 4.0])


# ----------------------------------------------------------------------------- updates
@given(n_epoch=st.integers(4, 12), span=st.integers(2, 4), n_new=st.integers(1, 3), npix=st.integers(1, 30),
       seed=st.integers(0, 2**31))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pixel_loop_sums_continued_over_a_new_epochs_loops_equal_one_pass(n_epoch: int, span: int, n_new: int,
                                                                           npix: int, seed: int) -> None:
    """An acquisition added at the end: its loops come last in latest_last order, and continuing the
    per-pixel sums from those of the earlier loops gives the one-pass sums bit for bit."""
    from kansho.network import latest_last, triangle_loops

    rng = np.random.default_rng(seed)
    pairs = np.array([(i, j) for j in range(1, n_epoch) for i in range(max(0, j - span), j)])  # by date2
    L = latest_last(triangle_loops(pairs), pairs)
    new_pair = pairs[:, 1] >= n_epoch - n_new
    new_loop = (np.abs(L[:, new_pair]) > 0).any(axis=1)
    if new_loop.any() and (~new_loop).any():
        assert np.flatnonzero(~new_loop).max() < np.flatnonzero(new_loop).min()
    unw = rng.normal(scale=3.0, size=(pairs.shape[0], npix))
    unw[rng.uniform(size=unw.shape) < 0.2] = np.nan
    lp = loop_phase(unw, L)
    valid = np.isfinite(unw)
    whole = pixel_loop_sums(lp, L, valid, err_threshold=2.0)
    first = pixel_loop_sums(lp, L, valid, err_threshold=2.0, rows=~new_loop)
    cont = pixel_loop_sums(lp, L, valid, err_threshold=2.0, rows=new_loop, base=first[:3])
    for a, b in zip(whole, cont, strict=True):
        np.testing.assert_array_equal(a, b)
    # against the definitions, loop by loop
    ok = np.array([[np.isfinite(lp[r, q]) for q in range(npix)] for r in range(L.shape[0])]).reshape(-1, npix)
    np.testing.assert_array_equal(whole[1], ok.sum(axis=0))
    np.testing.assert_array_equal(whole[0], (ok & (np.abs(np.nan_to_num(lp)) > 2.0)).sum(axis=0))
    np.testing.assert_allclose(whole[2], np.nansum(np.where(ok, lp, np.nan) ** 2, axis=0), rtol=1e-12)
