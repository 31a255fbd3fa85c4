"""Multilooking: known box means, the valid-look threshold, shapes, and a property test."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.grid import Grid
from kansho.io.multilook import multilook


def test_known_means_2d() -> None:
    a = np.arange(16, dtype=np.float64).reshape(4, 4)
    out = multilook(a, 2)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[2.5, 4.5], [10.5, 12.5]])


def test_known_means_3d_stack() -> None:
    a = np.stack([np.arange(36.0).reshape(6, 6), -np.ones((6, 6))])
    out = multilook(a, 3)
    assert out.shape == (2, 2, 2)
    np.testing.assert_allclose(out[0], [[7.0, 10.0], [25.0, 28.0]])
    np.testing.assert_allclose(out[1], -1.0)


def test_nan_looks_are_skipped() -> None:
    a = np.array([[1.0, np.nan], [3.0, np.inf]], dtype=np.float32)
    assert multilook(a, 2)[0, 0] == pytest.approx(2.0)  # 2 of 4 valid: fraction 0.5 is kept


def test_min_valid_threshold() -> None:
    a = np.full((3, 3), 4.0)
    a.ravel()[:5] = np.nan  # 4 of 9 valid (0.44)
    assert np.isnan(multilook(a, 3)[0, 0])
    assert multilook(a, 3, min_valid=0.4)[0, 0] == pytest.approx(4.0)
    a.ravel()[4] = 4.0  # 5 of 9 valid (0.56)
    assert multilook(a, 3)[0, 0] == pytest.approx(4.0)
    assert np.isnan(multilook(a, 3, min_valid=0.6)[0, 0])


def test_exact_fraction_boundary() -> None:
    a = np.ones((10, 10))
    a.ravel()[:70] = np.nan  # exactly 30 % valid
    assert multilook(a, 10, min_valid=0.3)[0, 0] == 1.0
    assert np.isnan(multilook(a, 10, min_valid=0.31)[0, 0])


def test_all_nan_box_is_nan_even_with_min_valid_zero() -> None:
    a = np.full((2, 4), np.nan)
    a[:, 2:] = 5.0
    out = multilook(a, 2, min_valid=0.0)
    assert np.isnan(out[0, 0]) and out[0, 1] == 5.0


@pytest.mark.parametrize(
    ("shape", "n", "expected"), [((7, 10), 3, (2, 3)), ((5, 5), 2, (2, 2)), ((4, 9, 11), 4, (4, 2, 2))]
)
def test_non_divisible_shapes_drop_the_edges(shape: tuple[int, ...], n: int, expected: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    a = rng.random(shape)
    out = multilook(a, n)
    assert out.shape == expected
    ny, nx = expected[-2:]
    np.testing.assert_allclose(out[..., 0, 0], a[..., :n, :n].mean(axis=(-2, -1)), rtol=1e-6)
    np.testing.assert_allclose(
        out[..., -1, -1], a[..., (ny - 1) * n : ny * n, (nx - 1) * n : nx * n].mean(axis=(-2, -1)), rtol=1e-6
    )
    grid = Grid(shape[-1], shape[-2], (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)).multilooked(n)
    assert grid.shape == out.shape[-2:]


def test_n_equal_one_returns_input_as_float32() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = multilook(a, 1)
    assert out is a
    b = multilook(np.arange(6).reshape(2, 3), 1)
    assert b.dtype == np.float32 and b.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_integer_coherence_is_averaged_as_float() -> None:
    cc = np.array([[255, 0], [255, 0]], dtype=np.uint8)
    assert multilook(cc, 2)[0, 0] == pytest.approx(127.5)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_n(bad: object) -> None:
    with pytest.raises(ValueError):
        multilook(np.ones((4, 4)), bad)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        multilook(np.ones(4), 2)
    with pytest.raises(ValueError):
        multilook(np.ones((4, 4)), 2, min_valid=1.5)
    with pytest.raises(ValueError):
        multilook(np.ones((3, 3)), 4)
    with pytest.raises(ValueError):
        multilook(np.ones((4, 4), dtype=complex), 2)


@settings(max_examples=60, deadline=None)
@given(
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    n=st.integers(min_value=1, max_value=5),
    ny=st.integers(min_value=5, max_value=23),
    nx=st.integers(min_value=5, max_value=23),
    k=st.integers(min_value=1, max_value=3),
)
def test_property_mean_of_constant_is_constant(value: float, n: int, ny: int, nx: int, k: int) -> None:
    a = np.full((k, ny, nx), value)
    out = multilook(a, n)
    assert out.shape == (k, ny // n, nx // n)
    np.testing.assert_allclose(out, np.float32(value), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 4), frac=st.floats(0.0, 1.0))
def test_property_matches_nanmean_where_enough_looks(seed: int, n: int, frac: float) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3 * n, 2 * n))
    a[rng.random(a.shape) < frac] = np.nan
    out = multilook(a, n, min_valid=0.5)
    boxes = a.reshape(3, n, 2, n).transpose(0, 2, 1, 3).reshape(3, 2, n * n)
    nvalid = np.isfinite(boxes).sum(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN box
        ref = np.nanmean(boxes, axis=-1)
    ref[nvalid / (n * n) < 0.5] = np.nan
    np.testing.assert_allclose(out, ref.astype(np.float32), rtol=1e-5, atol=1e-6, equal_nan=True)
