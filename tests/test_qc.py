from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.errors import NetworkError
from kansho.qc import COH_SCALE, block_sums, coh_sum, pair_ratios, pair_sums, pixel_sums, select_pairs


def test_pair_sums_hand_case():
    nan = np.nan
    unw = np.array(
        [
            [1.0, 0.0, nan, 2.0, nan],  # pixels 0, 3 valid
            [nan, 3.0, nan, 0.0, nan],  # pixel 1 valid
        ]
    )
    coh = np.array(
        [
            [0.5, 0.1, 0.9, nan, 0.7],
            [0.2, 0.4, 0.9, 0.3, 0.7],
        ]
    )
    n_valid, coh_fixed, n_total = pair_sums(unw, coh)
    # footprint = pixels 0, 1, 3 (valid in at least one pair); pixels 2 and 4 never valid
    assert n_total == 3
    np.testing.assert_array_equal(n_valid, [2, 1])
    np.testing.assert_allclose(coh_sum(coh_fixed), [0.5 + 0.1, 0.2 + 0.4 + 0.3], rtol=0, atol=3 / COH_SCALE)
    ratio, mean_coh = pair_ratios(n_valid, coh_fixed, n_total)
    np.testing.assert_allclose(ratio, [2 / 3, 1 / 3])
    np.testing.assert_allclose(mean_coh, [0.6 / 3, 0.9 / 3])


def test_pair_sums_blocks_add_up():
    rng = np.random.default_rng(0)
    unw = rng.normal(size=(7, 400))
    unw[rng.random(unw.shape) < 0.3] = np.nan
    unw[:, :50] = np.nan  # never valid: outside the footprint
    coh = rng.random(unw.shape)
    coh[rng.random(coh.shape) < 0.1] = np.nan
    whole = pair_sums(unw, coh)
    parts = [pair_sums(unw[:, s], coh[:, s]) for s in (slice(0, 123), slice(123, 300), slice(300, 400))]
    np.testing.assert_array_equal(whole[0], sum(p[0] for p in parts))
    np.testing.assert_array_equal(whole[1], sum(p[1] for p in parts))  # fixed point: any blocks, the same bits
    assert whole[2] == sum(p[2] for p in parts) == 350


def test_pair_ratios_empty_footprint():
    with pytest.raises(NetworkError):
        pair_ratios(np.zeros(3), np.zeros(3), 0)


def test_select_pairs_reasons_and_epochs():
    pairs = np.array([[0, 1], [0, 2], [1, 2], [2, 3], [3, 4]])
    ratio = np.array([0.9, 0.21, 0.8, 0.5, 0.1])
    coh = np.array([0.3, 0.3, 0.03, 0.2, 0.01])
    res = select_pairs(ratio, coh, pairs, 5)
    np.testing.assert_array_equal(res.keep, [True, False, False, True, False])
    assert res.reason[0] == ""
    assert res.reason[1] == "coverage 0.21 < 0.3"
    assert res.reason[2] == "coherence 0.03 < 0.05"
    assert res.reason[4] == "coverage 0.1 < 0.3; coherence 0.01 < 0.05"
    # epoch 4 is only in the dropped pair (3, 4)
    np.testing.assert_array_equal(res.epoch_keep, [True, True, True, True, False])
    assert res.n_dropped == 3


def test_select_pairs_disable_and_nan():
    pairs = np.array([[0, 1], [1, 2]])
    res = select_pairs([0.1, np.nan], [0.0, 0.5], pairs, 3, min_coverage=None, min_coh=None)
    assert res.keep.all()
    res = select_pairs([0.1, np.nan], [0.5, 0.5], pairs, 3, min_coverage=0.05)
    np.testing.assert_array_equal(res.keep, [True, False])  # NaN coverage fails
    assert res.reason[1].startswith("coverage nan")
    np.testing.assert_array_equal(res.epoch_keep, [True, True, False])


def test_select_pairs_nothing_kept_warns(caplog):
    res = select_pairs([0.0, 0.0], [0.5, 0.5], np.array([[0, 1], [1, 2]]), 3)
    assert not res.keep.any() and not res.epoch_keep.any()
    assert "every one" in caplog.text


@given(n_old=st.integers(0, 6), n_new=st.integers(1, 6), npix=st.integers(1, 40), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_pixel_sums_continued_over_new_pairs_equal_one_pass_bit_for_bit(n_old: int, n_new: int, npix: int,
                                                                        seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = n_old + n_new
    unw = rng.normal(size=(n, npix)).astype(np.float32)
    coh = rng.uniform(0, 1, size=(n, npix)).astype(np.float32)
    unw[rng.uniform(size=unw.shape) < 0.3] = np.nan
    coh[rng.uniform(size=coh.shape) < 0.3] = np.nan
    whole = pixel_sums(unw, coh)
    cont = pixel_sums(unw[n_old:], coh[n_old:], base=pixel_sums(unw[:n_old], coh[:n_old]))
    for a, b in zip(whole, cont, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(whole[0], np.isfinite(unw).sum(axis=0))
    np.testing.assert_allclose(whole[2], np.nansum(coh.astype(np.float64), axis=0), rtol=1e-12)


def test_pair_sums_with_a_known_footprint_equal_those_over_every_pair() -> None:
    rng = np.random.default_rng(3)
    unw = rng.normal(size=(8, 300))
    unw[:, :40] = np.nan  # outside the footprint
    unw[rng.uniform(size=unw.shape) < 0.2] = np.nan
    coh = rng.uniform(0, 1, size=unw.shape)
    nv, cs, nt = pair_sums(unw, coh)
    fp = np.isfinite(unw).any(axis=0)
    nv2, cs2, nt2 = pair_sums(unw[5:], coh[5:], footprint=fp)
    np.testing.assert_array_equal(nv2, nv[5:])
    np.testing.assert_array_equal(cs2, cs[5:])
    assert nt2 == nt == 260


def _stack(rng: np.random.Generator, n: int, ny: int, nx: int, p_nan: float) -> tuple[np.ndarray, np.ndarray]:
    unw = rng.normal(size=(n, ny, nx)).astype(np.float32)
    coh = rng.uniform(0, 1, size=(n, ny, nx)).astype(np.float32)
    unw[rng.uniform(size=unw.shape) < p_nan] = np.nan
    unw[rng.uniform(size=unw.shape) < 0.05] = 0.0  # LiCSAR's "no data" 0: not valid, not in the footprint
    coh[rng.uniform(size=coh.shape) < p_nan] = np.nan
    unw[:, :, : nx // 4] = np.nan  # a band never valid: outside the footprint, its coherence not summed
    return unw, coh


@given(n=st.integers(1, 9), ny=st.integers(1, 7), nx=st.integers(1, 13), p_nan=st.floats(0, 1),
       seed=st.integers(0, 2**31))
@settings(max_examples=80, deadline=None)
def test_block_sums_equal_the_numpy_references_bit_for_bit(n: int, ny: int, nx: int, p_nan: float, seed: int) -> None:
    unw, coh = _stack(np.random.default_rng(seed), n, ny, nx, p_nan)
    u2, c2 = unw.reshape(n, -1), coh.reshape(n, -1)
    for u, c in ((unw, coh), (u2, c2)):  # a block's rows, or its pixels in one row
        b = block_sums(u, c)
        nv, cf, nt = pair_sums(u2, c2)
        np.testing.assert_array_equal(b.pair_n_valid, nv)
        np.testing.assert_array_equal(b.pair_coh_fixed, cf)
        assert b.n_total == nt
        for got, want in zip((b.n_valid, b.coh_n, b.coh_sum), pixel_sums(u2, c2), strict=True):
            np.testing.assert_array_equal(got, want)
    # the first rows of a larger buffer, read in place (ingest's last, shorter strip): the rows below ignored
    buf = np.concatenate([unw, np.zeros((n, 2, nx), np.float32)], axis=1)
    cbuf = np.concatenate([coh, np.ones((n, 2, nx), np.float32)], axis=1)
    b = block_sums(buf, cbuf, rows=ny)
    np.testing.assert_array_equal(b.pair_coh_fixed, pair_sums(u2, c2)[1])
    np.testing.assert_array_equal(b.coh_sum, pixel_sums(u2, c2)[2])
    # the footprint given, continuing the pixels' sums of earlier pairs (an update)
    k = n // 2
    fp = (np.isfinite(u2) & (u2 != 0)).any(axis=0)
    b = block_sums(unw[k:], coh[k:], fp, pixel_sums(u2[:k], c2[:k]))
    np.testing.assert_array_equal(b.pair_coh_fixed, pair_sums(u2, c2)[1][k:])
    for got, want in zip((b.n_valid, b.coh_n, b.coh_sum), pixel_sums(u2, c2), strict=True):
        np.testing.assert_array_equal(got, want)


@given(cuts=st.lists(st.integers(1, 39), max_size=5), seed=st.integers(0, 2**31))
@settings(max_examples=40, deadline=None)
def test_block_sums_over_any_blocks_add_up_to_the_frame_bit_for_bit(cuts: list[int], seed: int) -> None:
    unw, coh = _stack(np.random.default_rng(seed), 11, 6, 40, 0.3)
    whole = block_sums(unw, coh)
    edges = [0, *sorted(set(cuts)), 40]
    parts = [block_sums(unw[:, :, a:b], coh[:, :, a:b]) for a, b in itertools.pairwise(edges)]
    np.testing.assert_array_equal(whole.pair_coh_fixed, sum(p.pair_coh_fixed for p in parts))
    np.testing.assert_array_equal(whole.pair_n_valid, sum(p.pair_n_valid for p in parts))
    assert whole.n_total == sum(p.n_total for p in parts)
    # and the mean coherence stays within the fixed point's rounding of the float64 sum
    cf = coh.astype(np.float64)
    fp = (np.isfinite(unw) & (unw != 0)).any(axis=0)
    want = np.where(np.isfinite(cf) & fp, cf, 0.0).sum(axis=(1, 2))
    np.testing.assert_allclose(coh_sum(whole.pair_coh_fixed), want, rtol=0, atol=fp.sum() / COH_SCALE)
