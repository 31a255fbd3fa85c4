from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.errors import ConfigError
from kansho.mask import THRESHOLD_SPECS, apply_thresholds, stc


# ----------------------------------------------------------------------------- STC
def _stc_brute(cum):
    _, ny, nx = cum.shape
    out = np.full((ny, nx), np.nan)
    for y, x in itertools.product(range(ny), range(nx)):
        best = np.inf
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            q = (y + dy, x + dx)
            if (dy, dx) == (0, 0) or not (0 <= q[0] < ny and 0 <= q[1] < nx):
                continue
            d = cum[:, y, x] - cum[:, q[0], q[1]]
            dd = np.diff(d)
            dd = dd[np.isfinite(dd)]
            if dd.size:
                best = min(best, np.sqrt(np.mean(dd**2)))
        if np.isfinite(best):
            out[y, x] = best
    return out


def test_stc_uniform_series_is_zero():
    rng = np.random.default_rng(0)
    series = np.cumsum(rng.normal(0, 3, 20))
    cum = np.broadcast_to(series[:, None, None], (20, 6, 7)).copy()
    np.testing.assert_allclose(stc(cum), 0.0, atol=1e-12)
    # a static spatial pattern on top changes nothing (double difference 0)
    yy, xx = np.mgrid[:6, :7]
    ramp = (0.3 * xx + 0.1 * yy)[None]
    np.testing.assert_allclose(stc(cum + ramp), 0.0, atol=1e-9)
    # a ramp growing by 1 per epoch: double difference = ramp difference to the neighbour,
    # smallest for the row neighbour (0.1)
    np.testing.assert_allclose(stc(cum + ramp * np.arange(20)[:, None, None]), 0.1, atol=1e-9)


def test_stc_noise_positive():
    rng = np.random.default_rng(1)
    cum = rng.normal(0, 2, (15, 8, 8))
    s = stc(cum)
    assert np.all(s > 0.5) and np.all(np.isfinite(s))


def test_stc_hand_case():
    # 1 x 2 image, 3 epochs: A = [0, 1, 3], B = [0, 0, 0] -> diff [0, 1, 3] -> dd [1, 2]
    cum = np.array([[[0.0, 0.0]], [[1.0, 0.0]], [[3.0, 0.0]]])
    np.testing.assert_allclose(stc(cum), [[np.sqrt(2.5), np.sqrt(2.5)]])
    # 1 x 3: C = [0, 1, 2] next to B: dd vs B [1, 1] -> 1; middle B picks min(sqrt(2.5), 1) = 1
    cum = np.array([[[0.0, 0.0, 0.0]], [[1.0, 0.0, 1.0]], [[3.0, 0.0, 2.0]]])
    np.testing.assert_allclose(stc(cum), [[np.sqrt(2.5), 1.0, 1.0]])


def test_stc_nan_handling():
    cum = np.zeros((4, 3, 3))
    cum[:, 1, 1] = np.nan  # centre missing
    cum[:, 0, 0] = [0, 1, 0, 1]
    s = stc(cum)
    assert np.isnan(s[1, 1])
    assert s[0, 0] == pytest.approx(1.0)  # its neighbours (0,1), (1,0) are 0; (1,1) NaN
    lone = np.full((3, 3, 3), np.nan)
    lone[:, 1, 1] = [0, 1, 2]
    assert np.isnan(stc(lone)).all()  # no finite neighbour anywhere


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6), ny=st.integers(1, 5), nx=st.integers(1, 5))
def test_stc_matches_brute_force(seed, n, ny, nx):
    rng = np.random.default_rng(seed)
    cum = rng.normal(0, 3, (n, ny, nx))
    cum[rng.random(cum.shape) < 0.15] = np.nan
    np.testing.assert_allclose(stc(cum), _stc_brute(cum), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- thresholds
def test_specs():
    assert set(THRESHOLD_SPECS) == {
        "coh_avg", "n_unw", "vstd", "maxTlen", "n_gap", "stc", "n_ifg_noloop", "n_loop_err", "resid_rms", "n_unchecked",
        "ph_bias",
    }
    assert THRESHOLD_SPECS["coh_avg"].direction == "min"
    assert THRESHOLD_SPECS["stc"].direction == "max"


def test_apply_thresholds_breakdown():
    nan = np.nan
    coh = np.array([[0.5, 0.01, 0.5], [0.5, 0.5, nan]])
    stc_ = np.array([[1.0, 1.0, 9.0], [nan, 9.0, nan]])
    n_gap = np.array([[0.0, 20.0, 0.0], [0.0, 0.0, nan]])
    res = apply_thresholds(
        {"coh_avg": coh, "stc": stc_, "n_gap": n_gap},
        {"coh_avg": 0.05, "stc": 5.0, "n_gap": None},
    )
    np.testing.assert_array_equal(res.footprint, [[1, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(res.mask, [[1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(res.removed["coh_avg"], [[0, 1, 0], [0, 0, 0]])
    # NaN stc inside the footprint fails; pixel (1, 2) is outside the footprint
    np.testing.assert_array_equal(res.removed["stc"], [[0, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(res.removed_only["stc"], [[0, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(res.removed_only["coh_avg"], [[0, 1, 0], [0, 0, 0]])
    assert res.counts == {"coh_avg": 1, "stc": 3}
    assert "n_gap" not in res.removed  # disabled
    assert res.n_footprint == 5 and res.n_kept == 1
    assert res.thresholds == {"coh_avg": 0.05, "stc": 5.0}
    assert res.warnings == []
    assert "kept 1 of 5" in res.summary()


def test_apply_thresholds_boundaries():
    a = np.array([[1.0, 2.0, 3.0]])
    res = apply_thresholds({"n_unw": a, "resid_rms": a}, {"n_unw": 2.0, "resid_rms": 2.0})
    np.testing.assert_array_equal(res.removed["n_unw"], [[1, 0, 0]])  # keep >= 2
    np.testing.assert_array_equal(res.removed["resid_rms"], [[0, 0, 1]])  # keep <= 2
    np.testing.assert_array_equal(res.mask, [[0, 1, 0]])
    np.testing.assert_array_equal(res.removed_only["n_unw"], [[1, 0, 0]])


def test_apply_thresholds_removes_everything_is_loud(caplog):
    coh = np.full((4, 4), 0.02)
    vstd = np.full((4, 4), 10.0)
    res = apply_thresholds({"coh_avg": coh, "vstd": vstd}, {"coh_avg": 0.05, "vstd": 100.0})
    assert not res.mask.any()
    assert any("coh_avg" in w and "alone removes all 16" in w for w in res.warnings)
    assert any("together remove all 16" in w for w in res.warnings)
    assert "alone removes all 16" in caplog.text
    # combination only: each criterion keeps half, together nothing
    a = np.array([[0.5, 0.5, 0.01, 0.01]])
    b = np.array([[50.0, 50.0, 1.0, 1.0]])
    res = apply_thresholds({"coh_avg": a, "stc": b}, {"coh_avg": 0.05, "stc": 5.0})
    assert res.n_kept == 0
    assert len(res.warnings) == 1 and "together" in res.warnings[0]


def test_apply_thresholds_errors():
    a = np.ones((2, 2))
    with pytest.raises(ConfigError):
        apply_thresholds({"bogus": a}, {"bogus": 1.0})
    with pytest.raises(ConfigError):
        apply_thresholds({"stc": a}, {"stc": 1.0, "vstd": 3.0})
    with pytest.raises(ConfigError):
        apply_thresholds({"stc": a}, {"stc": None})
    with pytest.raises(ValueError):
        apply_thresholds({"stc": a, "vstd": np.ones((3, 2))}, {"stc": 1.0, "vstd": 1.0})


def _stc_numpy(cum: np.ndarray) -> np.ndarray:
    """The numpy STC that the compiled kernel replaced (the reference it must equal bit for bit)."""
    c = np.asarray(cum, dtype=np.float64)
    ny, nx = c.shape[1:]
    inc = np.diff(c, axis=0)
    best = np.full(c.shape[1:], np.inf)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys_p, ys_q = slice(0, ny - dy), slice(dy, ny)
        xs_p = slice(max(0, -dx), nx - max(0, dx))
        xs_q = slice(max(0, dx), nx - max(0, -dx))
        dd = inc[:, ys_p, xs_p] - inc[:, ys_q, xs_q]
        finite = np.isfinite(dd)
        cnt = finite.sum(axis=0)
        dd[~finite] = 0.0
        # epoch after epoch, as np.einsum("kyx,kyx->yx") sums a frame's planes (on a plane of a few pixels it
        # may take the epochs in another order: the same sum to ~1e-16)
        ss = np.zeros(dd.shape[1:])
        for k in range(dd.shape[0]):
            ss += dd[k] * dd[k]
        with np.errstate(invalid="ignore", divide="ignore"):
            rms = np.where(cnt > 0, np.sqrt(ss / np.maximum(cnt, 1)), np.inf)
        np.minimum(best[ys_p, xs_p], rms, out=best[ys_p, xs_p])
        np.minimum(best[ys_q, xs_q], rms, out=best[ys_q, xs_q])
    best[~np.isfinite(best)] = np.nan
    return best


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 30), ny=st.integers(1, 9), nx=st.integers(1, 40), holes=st.floats(0.0, 0.6),
       f32=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_stc_compiled_equals_the_numpy_bit_for_bit(n: int, ny: int, nx: int, holes: float, f32: bool,
                                                   seed: int) -> None:
    """Any shape (one row, one column, one epoch), NaN holes, float32 (as the chain stores it) or float64."""
    rng = np.random.default_rng(seed)
    cum = np.cumsum(rng.normal(0, 3, (n, ny, nx)), axis=0)
    cum[rng.random(cum.shape) < holes] = np.nan
    cum[:, rng.random((ny, nx)) < holes / 3] = np.nan  # whole pixels without data
    cum = cum.astype(np.float32 if f32 else np.float64)
    got, ref = stc(cum), _stc_numpy(cum)
    assert got.dtype == np.float64 and got.shape == (ny, nx)
    np.testing.assert_array_equal(got, ref)  # exact values, NaN at the same pixels


def test_float32_index_images_are_judged_as_their_float64_copies() -> None:
    """The chain's index maps are float32 and stay so (a frame-wide step: ~90 bytes a pixel less on a
    25-million-pixel frame); each is compared with its threshold in float64, so a value a float32 comparison
    would judge otherwise (the threshold between two float32 neighbours) is judged as before, bit for bit."""
    from kansho import mask as maskmod

    rng = np.random.default_rng(0)
    names = list(maskmod.THRESHOLD_SPECS)
    shape = (300, 200)
    idx32 = {k: rng.normal(1, 1, shape).astype(np.float32) for k in names}
    for k in names:
        idx32[k][rng.random(shape) < 0.05] = np.nan
        idx32[k][5, 7] = 0.7
    thr = {k: 0.7 + (1e-9 if i % 2 else 0.0) for i, k in enumerate(names)}  # float32(0.7) > 0.7: one side or other
    idx64 = {k: v.astype(np.float64) for k, v in idx32.items()}
    a, b = maskmod.apply_thresholds(idx32, thr), maskmod.apply_thresholds(idx64, thr)
    assert a.counts == b.counts and a.n_kept == b.n_kept
    np.testing.assert_array_equal(a.mask, b.mask)
    for k in a.removed:
        np.testing.assert_array_equal(a.removed[k], b.removed[k])
        np.testing.assert_array_equal(a.removed_only[k], b.removed_only[k])

    def passes(k: str, value: float, t: float) -> bool:
        return bool(value >= t) if maskmod.THRESHOLD_SPECS[k].direction == "min" else bool(value <= t)

    # the test reaches the edge: for some criterion a float32 comparison would judge that pixel otherwise
    assert any(passes(k, idx32[k][5, 7], np.float32(thr[k])) != passes(k, float(idx32[k][5, 7]), thr[k])
               for k in names)
    assert all(bool(a.removed[k][5, 7]) != passes(k, float(idx32[k][5, 7]), thr[k]) for k in names)
    solved = np.ones(shape, bool)
    ta, ca = maskmod.adapt_thresholds(idx32, thr, solved)
    tb, cb = maskmod.adapt_thresholds(idx64, thr, solved)
    assert ta == tb and [c.text() for c in ca] == [c.text() for c in cb]
