from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.errors import NetworkError
from kansho.qc import pair_ratios, pair_sums, pixel_sums, select_pairs


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
    n_valid, coh_sum, n_total = pair_sums(unw, coh)
    # footprint = pixels 0, 1, 3 (valid in at least one pair); pixels 2 and 4 never valid
    assert n_total == 3
    np.testing.assert_array_equal(n_valid, [2, 1])
    np.testing.assert_allclose(coh_sum, [0.5 + 0.1, 0.2 + 0.4 + 0.3])
    ratio, mean_coh = pair_ratios(n_valid, coh_sum, n_total)
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
    np.testing.assert_allclose(whole[1], sum(p[1] for p in parts))
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
