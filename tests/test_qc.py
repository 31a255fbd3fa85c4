from __future__ import annotations

import numpy as np
import pytest

from kansho.errors import NetworkError
from kansho.qc import pair_ratios, pair_sums, select_pairs


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
