"""Tests for kansho.network: design matrices, loops, gaps, components, maxTlen, date pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.errors import NetworkError
from kansho.network import (
    connected_components,
    gaps,
    increment_matrix,
    max_tlen,
    triangle_loops,
)

# 5 epochs; pairs (0,1) (0,2) (1,2) (2,4) (1,3) (3,4) (0,4)
PAIRS = np.array([[0, 1], [0, 2], [1, 2], [2, 4], [1, 3], [3, 4], [0, 4]])


def test_increment_matrix_hand_built() -> None:
    g = increment_matrix(PAIRS, 5)
    expected = np.array(
        [
            [1, 0, 0, 0],
            [1, 1, 0, 0],
            [0, 1, 0, 0],
            [0, 0, 1, 1],
            [0, 1, 1, 0],
            [0, 0, 0, 1],
            [1, 1, 1, 1],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(g, expected)
    assert g.dtype == np.float64


def test_increment_matrix_times_increments_is_pair_differences() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=5)
    np.testing.assert_allclose(increment_matrix(PAIRS, 5) @ np.diff(values), values[PAIRS[:, 1]] - values[PAIRS[:, 0]])


def test_triangle_loops_hand_built() -> None:
    loops = triangle_loops(PAIRS)
    # triangles: (0,1,2): (0,1)+(1,2)-(0,2); (0,2,4): (0,2)+(2,4)-(0,4); (1,3,4) has no (1,4)
    expected = np.zeros((2, 7), dtype=np.int8)
    expected[0, [0, 2]] = 1
    expected[0, 1] = -1
    expected[1, [1, 3]] = 1
    expected[1, 6] = -1
    np.testing.assert_array_equal(loops, expected)
    assert loops.dtype == np.int8
    # consistent interferograms close every loop
    values = np.array([0.0, 1.5, -2.0, 4.0, 7.0])
    assert np.allclose(loops @ (values[PAIRS[:, 1]] - values[PAIRS[:, 0]]), 0.0)


def test_triangle_loops_none() -> None:
    chain = np.array([[0, 1], [1, 2], [2, 3]])
    assert triangle_loops(chain).shape == (0, 3)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 12), seed=st.integers(0, 2**32 - 1), frac=st.floats(0.1, 1.0))
def test_triangle_loops_match_brute_force(n: int, seed: int, frac: float) -> None:
    rng = np.random.default_rng(seed)
    allp = np.array(list(itertools.combinations(range(n), 2)))
    keep = rng.random(len(allp)) < frac
    if not keep.any():
        keep[0] = True
    pairs = allp[keep][rng.permutation(keep.sum())]
    index = {tuple(p): k for k, p in enumerate(pairs.tolist())}
    rows = []
    for i, j, k in itertools.combinations(range(n), 3):
        if (i, j) in index and (j, k) in index and (i, k) in index:
            r = np.zeros(len(pairs), dtype=np.int8)
            r[index[(i, j)]] = 1
            r[index[(j, k)]] = 1
            r[index[(i, k)]] = -1
            rows.append(r)
    expected = np.array(rows, dtype=np.int8).reshape(-1, len(pairs))
    np.testing.assert_array_equal(triangle_loops(pairs), expected)


def test_triangle_loops_large_network() -> None:
    n = 150
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, min(n, i + 5))])
    assert len(pairs) > 500
    loops = triangle_loops(pairs)
    # with neighbours up to 4 apart, triangles (i, j, k) with k - i <= 4
    expected = sum(k - i - 1 for i in range(n) for k in range(i + 2, min(n, i + 5)))
    assert loops.shape == (expected, len(pairs))
    assert np.all(np.abs(loops).sum(axis=1) == 3)
    # every row closes: the two short pairs minus the long one
    index = {tuple(p): q for q, p in enumerate(pairs.tolist())}
    for row in loops[::97]:
        plus, minus = np.flatnonzero(row == 1), np.flatnonzero(row == -1)
        (i, j), (j2, k) = pairs[plus[0]], pairs[plus[1]]
        assert j == j2 and minus.size == 1 and index[(int(i), int(k))] == minus[0]


def test_gaps_network_and_per_pixel() -> None:
    pairs = np.array([[0, 1], [1, 2], [0, 2], [3, 4]])  # interval 2 (epoch 2 -> 3) is a gap
    np.testing.assert_array_equal(gaps(pairs, 5), [False, False, True, False])
    valid = np.array(
        [
            [True, False, True],
            [True, True, False],
            [False, True, False],
            [True, True, False],
        ]
    )
    expected = np.array(
        [
            [False, False, False],  # interval 0: pixel 0 via (0,1), 1 via (0,2), 2 via (0,1)
            [False, False, True],  # interval 1: pixel 2 has neither (1,2) nor (0,2)
            [True, True, True],
            [False, False, True],
        ]
    )
    np.testing.assert_array_equal(gaps(pairs, 5, valid), expected)


def test_connected_components() -> None:
    pairs = np.array([[0, 2], [1, 3], [3, 5]])  # {0,2}, {1,3,5}, {4}
    labels = connected_components(pairs, 6)
    assert labels[0] == 0
    assert labels[0] == labels[2]
    assert labels[1] == labels[3] == labels[5]
    assert len({labels[0], labels[1], labels[4]}) == 3
    assert len(np.unique(labels)) == 3


def test_max_tlen_hand_built() -> None:
    t = np.array([0.0, 0.1, 0.5, 1.5, 1.6, 3.0])
    gap = np.zeros((5, 4), dtype=bool)  # (interval, pixel)
    # pixel 0: no gap -> whole span 3.0
    gap[0, 1] = True  # pixel 1: epochs 1..5 -> 3.0 - 0.1 = 2.9
    gap[[0, 2], 2] = True  # pixel 2: runs 0.1..0.5 (0.4) and 1.5..3.0 (1.5) -> 1.5
    gap[[1, 4], 3] = True  # pixel 3: runs 0..0.1 (0.1) and 0.5..1.6 (1.1) -> 1.1
    np.testing.assert_allclose(max_tlen(gap, t), [3.0, 2.9, 1.5, 1.1])
    np.testing.assert_allclose(max_tlen(np.ones((5, 2), bool), t), [0.0, 0.0])
    assert float(max_tlen(np.zeros(5, bool), t)) == pytest.approx(3.0)


def test_max_tlen_matches_brute_force() -> None:
    rng = np.random.default_rng(11)
    n = 9
    t = np.cumsum(rng.uniform(0.01, 0.5, n))
    gap = rng.random((n - 1, 200)) < 0.35
    expected = np.zeros(200)
    for px in range(200):
        for a in range(n):
            for b in range(a + 1, n):
                if not gap[a:b, px].any():
                    expected[px] = max(expected[px], t[b] - t[a])
    np.testing.assert_allclose(max_tlen(gap, t), expected)


def test_bad_pairs_raise_network_error() -> None:
    with pytest.raises(NetworkError):
        increment_matrix(np.array([[1, 0]]), 3)
    with pytest.raises(NetworkError):
        increment_matrix(np.array([[0, 3]]), 3)
    with pytest.raises(NetworkError):
        triangle_loops(np.array([[0, 1], [0, 1]]))
