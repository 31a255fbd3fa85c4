"""The floors' loop finder (benchmarks/bench_floors.py): every triangle of a pair network, and no other."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_floors import triangles


@pytest.mark.parametrize("seed", range(5))
def test_triangles_are_every_closed_loop_of_three_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    pairs = [(a, b) for a, b in itertools.combinations(range(n), 2) if rng.random() < 0.4]
    d1 = np.array([a for a, _ in pairs]) * 12 + 20180101  # any increasing epoch labels
    d2 = np.array([b for _, b in pairs]) * 12 + 20180101
    tri = triangles(d1, d2)
    index = {p: i for i, p in enumerate(pairs)}
    brute = {(index[a, b], index[b, c], index[a, c]) for a, b, c in itertools.combinations(range(n), 3)
             if {(a, b), (b, c), (a, c)} <= index.keys()}
    assert {tuple(map(int, t)) for t in tri} == brute
    assert len(tri) == len(brute)  # each loop once
    phase = rng.normal(size=n)  # a loop of pairs taken from one phase per epoch closes exactly
    unw = phase[[b for _, b in pairs]] - phase[[a for a, _ in pairs]]
    if len(tri):
        assert np.allclose(unw[tri[:, 0]] + unw[tri[:, 1]] - unw[tri[:, 2]], 0.0)


def test_no_triangles_in_a_chain_of_pairs() -> None:
    assert triangles(np.array([1, 2, 3]), np.array([2, 3, 4])).shape == (0, 3)
