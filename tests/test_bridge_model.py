"""The bridge across network gaps (:mod:`kansho.bridge`): model choice, recovered offsets and σ.

Synthetic per-pixel series: the NSBAS output of a pixel whose network has a gap is its true series
plus noise with an unknown level after the gap (the data fix nothing across it). The bridge must
remove that level; its error is ``a_injected - a_estimated``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._shared import FinishedRun

from kansho import bridge
from kansho.filters import gaussian_nan

#: 3-yr series, 12-day cadence, with a 96-day gap after 1.5 yr
T3 = np.r_[np.arange(0, 1.5, 12 / 365.25), np.arange(1.5 + 96 / 365.25, 3.0, 12 / 365.25)]
NOISE_MM = 2.0


def _series(t: np.ndarray, npix: int, *, vel: float, amp: float, rng: np.random.Generator,
            step: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(cum (n, npix) as NSBAS leaves it, gap (n-1, npix), injected level after the gap (npix,),
    true series (n, npix))``: epoch 0 is the reference (0, no noise)."""
    n = t.size
    # peak at 0.5 yr: the phase at which a line bridging the gap misses the most (4.8 mm for 8 mm)
    truth = vel * t + amp * (np.cos(2 * np.pi * (t - 0.5)) - np.cos(2 * np.pi * (0 - 0.5)))
    truth = np.repeat(truth[:, None], npix, axis=1)
    if step is not None:
        truth = truth + step[1] * (t >= step[0])[:, None]
    noise = rng.normal(0, NOISE_MM, (n, npix))
    noise[0] = 0.0
    gap = np.zeros((n - 1, npix), bool)
    k = int(np.argmax(np.diff(t))) if np.diff(t).max() > 0.1 else n // 2
    gap[k] = True
    level = rng.normal(0, 50, npix)
    cum = truth + noise
    cum[k + 1:] += level
    return cum, gap, level, truth


def _choose(t: np.ndarray, cum: np.ndarray, gap: np.ndarray, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The auto choice over one row of pixels (a region when ``sigma_px`` is large)."""
    cands = bridge.candidates("auto", False)
    fits = [bridge.fit_bridge(cum, gap, t, c) for c in cands]
    mu = np.stack([np.where(f.allowed, f.mu, np.nan) for f in fits])[:, None, :]
    vmu = np.stack([np.where(f.allowed, f.vmu, np.nan) for f in fits])[:, None, :]
    choice, infl = bridge.select_models(mu, vmu, np.isfinite(vmu), (0.0, sigma_px))
    return choice[0], infl[0]


@settings(max_examples=15, deadline=None)
@given(kk=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_the_choice_from_float32_statistics_is_the_choice_from_their_float64_copies(kk: int, seed: int) -> None:
    """The chain's first-pass statistics are float32, kept so (~16 bytes a pixel and candidate less on a whole
    frame) and each value taken in float64: the same choice and inflation, bit for bit, as from float64 copies."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 3, (kk, 40, 50)).astype(np.float32)
    vmu = (np.abs(rng.normal(0, 1, (kk, 40, 50))) + 0.01).astype(np.float32)
    vmu[:, :4] = np.nan
    vmu[rng.integers(kk), rng.random((40, 50)) < 0.2] = np.nan  # a candidate not fitted at some pixels
    a = bridge.select_models(mu, vmu, np.isfinite(vmu), (3.0, 2.5))
    b = bridge.select_models(mu.astype(np.float64), vmu.astype(np.float64), np.isfinite(vmu), (3.0, 2.5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].dtype == np.float64


def test_seasonal_pixels_choose_annual_and_recover_the_offset() -> None:
    rng = np.random.default_rng(1)
    cum, gap, level, _ = _series(T3, 300, vel=-10.0, amp=8.0, rng=rng)
    choice, _ = _choose(T3, cum, gap, sigma_px=30.0)
    assert np.all(choice == 1)  # annual
    fit = bridge.fit_bridge(cum, gap, T3, bridge.Candidate(annual=True))
    err = (level - fit.shift[-1])  # remaining error of the level after the gap
    sd = np.sqrt(fit.var[-1])
    # white noise of 2 mm, ~45 epochs a side: σ of the offset from the regression ~1 mm; the
    # error must be consistent with it (RMS within 20 % of the median σ; none beyond 4.5σ)
    assert np.sqrt(np.mean(err**2)) == pytest.approx(np.median(sd), rel=0.2)
    assert np.all(np.abs(err) < 4.5 * sd)
    assert np.median(sd) < 1.5
    # the linear model is biased here by several mm: what the choice avoids
    lin = bridge.fit_bridge(cum, gap, T3, bridge.Candidate())
    assert np.sqrt(np.mean((level - lin.shift[-1]) ** 2)) > 3 * np.sqrt(np.mean(err**2))


def test_linear_pixels_choose_linear() -> None:
    """100 noise draws of a region of 40 pixels moving linearly on a 2-yr gapped series (where the
    annual model would cost 1.8x the variance): the region chooses linear in >= 90 % of them. Pixel by
    pixel (no region) the bias estimate is a single noisy draw and flips more often."""
    t = np.r_[np.arange(0, 1.0, 12 / 365.25), np.arange(1.0 + 96 / 365.25, 2.0, 12 / 365.25)]
    rng = np.random.default_rng(2)
    n_draw, npix = 100, 40
    cum, gap, _, _ = _series(t, n_draw * npix, vel=20.0, amp=0.0, rng=rng)
    linear = 0
    for d in range(n_draw):
        sl = slice(d * npix, (d + 1) * npix)
        choice, infl = _choose(t, cum[:, sl], gap[:, sl], sigma_px=1e3)  # one region
        assert np.all(infl >= 1.0)
        linear += bool(np.all(choice == 0))
    assert linear >= 90
    single, _ = _choose(t, cum, gap, sigma_px=0.0)
    assert np.mean(single == 0) >= 0.7
    # on a 3-yr series the annual model costs < 10 % more variance: it is taken (by design, see
    # kansho.bridge.NARROW_PENALTY), and its offsets are then as good as the line's
    cum3, gap3, level, _ = _series(T3, 200, vel=20.0, amp=0.0, rng=rng)
    choice3, _ = _choose(T3, cum3, gap3, sigma_px=1e3)
    assert np.all(choice3 == 1)
    err = {c.annual: level - bridge.fit_bridge(cum3, gap3, T3, c).shift[-1] for c in bridge.candidates("auto", False)}
    assert np.sqrt(np.mean(err[True] ** 2)) < 1.1 * np.sqrt(np.mean(err[False] ** 2))


def test_short_series_never_choose_annual() -> None:
    t = np.r_[np.arange(0, 0.35, 12 / 365.25), np.arange(0.6, 0.9, 12 / 365.25)]  # 0.9 yr, gap of 0.25 yr
    rng = np.random.default_rng(3)
    cum, gap, _, _ = _series(t, 200, vel=0.0, amp=15.0, rng=rng)  # strong seasonal signal, short series
    for s in (0.0, 30.0):
        choice, _ = _choose(t, cum, gap, sigma_px=s)
        assert not np.any(choice == 1)
    assert not bridge.annual_supported(t, bridge.segments(gap)[:, 0])


def test_sigma_covers_the_offset_error() -> None:
    rng = np.random.default_rng(4)
    n_draw = 4000
    cum, gap, level, _ = _series(T3, n_draw, vel=5.0, amp=4.0, rng=rng)
    for cand in (bridge.Candidate(), bridge.Candidate(annual=True)):
        if not cand.annual:  # the linear model misses the seasonal term: only the annual one is unbiased
            continue
        fit = bridge.fit_bridge(cum, gap, T3, cand)
        err = level - fit.shift[-1]
        sd = np.sqrt(fit.var[-1])
        inside = np.mean(np.abs(err) < 2 * sd)
        # 95 % expected (t with ~70 dof: 95.1 %); binomial sd for 4000 draws 0.35 %: allow 3 sd
        assert 0.94 <= inside <= 0.962, inside
    # σ is 0 before the gap, constant after it
    assert np.all(fit.var[: int(np.argmax(gap[:, 0])) + 1] == 0)
    assert np.allclose(fit.var[-1], fit.var[-5])


def test_weighted_bridge_is_weighted_least_squares_and_beats_equal_weights() -> None:
    """Epoch weights: the offsets are those of the weighted least-squares fit (lstsq of the rows scaled by
    √w), the focus ``mu`` the offsets' part of the weighted velocity; with the noise σ of each epoch
    known (1-8 mm, independent) the weighted offsets' error is smaller than the equal-weight one's, and
    σ covers it (never below the equal-weight fit's σ: 95 % or more within 2 σ)."""
    rng = np.random.default_rng(11)
    n_draw = 3000
    sig_e = rng.uniform(1.0, 8.0, T3.size)
    cum, gap, level, truth = _series(T3, n_draw, vel=5.0, amp=0.0, rng=rng)
    cum = truth + sig_e[:, None] * rng.normal(size=cum.shape)
    cum[0] = 0.0
    k = int(np.argmax(gap[:, 0]))
    cum[k + 1:] += level
    w = 1 / sig_e**2
    w /= w.mean()
    cand = bridge.Candidate()
    fw = bridge.fit_bridge(cum, gap, T3, cand, weights=w)
    fu = bridge.fit_bridge(cum, gap, T3, cand)
    x = np.stack([T3 - T3.mean(), np.ones_like(T3), (np.arange(T3.size) > k).astype(float)], axis=1)
    coef = np.linalg.lstsq(x * np.sqrt(w)[:, None], cum[:, :5] * np.sqrt(w)[:, None], rcond=None)[0]
    np.testing.assert_allclose(fw.shift[-1, :5], coef[2], rtol=1e-9, atol=1e-9)
    err_w, err_u = level - fw.shift[-1], level - fu.shift[-1]
    assert np.sqrt(np.mean(err_w**2)) < 0.85 * np.sqrt(np.mean(err_u**2))
    assert np.mean(np.abs(err_w) < 2 * np.sqrt(fw.var[-1])) >= 0.95
    assert np.all(fw.var[-1] >= fu.var[-1] * (1 - 1e-12))
    tw = T3 - np.sum(w * T3) / np.sum(w)
    f = w * tw / np.sum(w * tw**2)
    np.testing.assert_allclose(fw.mu, f @ fw.shift, rtol=1e-9, atol=1e-9)


def test_local_gaps_and_patterns_are_fitted_per_pixel() -> None:
    """Pixels with different gap patterns (a local gap, e.g. snow, two gaps, none) in one call."""
    rng = np.random.default_rng(5)
    t = np.arange(0, 3, 12 / 365.25)
    n = t.size
    truth = (12.0 * t)[:, None] * np.ones((1, 4))
    cum = truth + rng.normal(0, 0.5, (n, 4))
    cum[0] = 0
    gap = np.zeros((n - 1, 4), bool)
    gap[30, 0] = True
    gap[[20, 60], 1] = True
    gap[45, 2] = True
    cum[31:, 0] += 40.0
    cum[21:, 1] += -30.0
    cum[61:, 1] += 25.0
    cum[46:, 2] += 7.0
    fit = bridge.fit_bridge(cum, gap, t, bridge.Candidate())
    bridged, sd = bridge.apply_shift(cum, fit)
    assert np.abs(bridged - truth).max() < 2.5  # 0.5 mm noise; offsets recovered to ~0.3 mm
    assert np.all(sd[:, 3] == 0) and not fit.gapped[3]
    assert sd[-1, 1] > sd[30, 1] > 0  # two gaps: the later segment is less certain


def test_steps_at_given_dates() -> None:
    rng = np.random.default_rng(6)
    # an earthquake 0.14 yr after the gap: a line through the later segment misses the level by ~16 mm
    cum, gap, level, _ = _series(T3, 200, vel=-5.0, amp=0.0, rng=rng, step=(1.9, 30.0))
    lin = bridge.fit_bridge(cum, gap, T3, bridge.Candidate())
    step = bridge.fit_bridge(cum, gap, T3, bridge.Candidate(steps=True), [1.9])
    err_step = level - step.shift[-1]
    err_lin = level - lin.shift[-1]
    assert np.sqrt(np.mean(err_step**2)) < 1.5 and np.sqrt(np.mean(err_lin**2)) > 5.0
    assert np.mean(np.abs(err_step) < 2 * np.sqrt(step.var[-1])) > 0.9
    # a step inside the gap cannot be told from the gap's offset: unknown (inf) after it
    in_gap = bridge.fit_bridge(cum, gap, T3, bridge.Candidate(steps=True), [1.6])
    k = int(np.argmax(gap[:, 0]))
    assert np.all(np.isinf(in_gap.var[k + 1:])) and np.all(in_gap.var[: k + 1] == 0)
    # auto with steps offers both; the step model wins where the step is real
    cands = bridge.candidates("auto", True)
    assert [c.code for c in cands] == [0, 2, 1, 3]


def test_unsolved_pixels_and_shapes() -> None:
    t = T3
    cum = np.full((t.size, 2), np.nan)
    cum[:, 1] = 0.0
    gap = np.zeros((t.size - 1, 2), bool)
    fit = bridge.fit_bridge(cum, gap, t, bridge.Candidate())
    assert np.all(np.isnan(fit.var[:, 0])) and np.all(fit.var[:, 1] == 0)
    with pytest.raises(ValueError, match="gap must have shape"):
        bridge.fit_bridge(cum, gap[:-1], t, bridge.Candidate())
    with pytest.raises(ValueError, match="model must be"):
        bridge.candidates("quadratic", False)


@pytest.mark.slow
def test_auto_matches_the_better_fixed_model_on_a_gapped_seasonal_frame(tmp_path: Path) -> None:
    """A 1.7-yr frame with a network gap and a seasonal area: ``model=auto`` must do at least as well as
    the better of ``linear`` and ``annual`` on the velocity RMSE over the kept pixels (here: linear;
    over segments shorter than a year the annual model's offsets are twice as noisy)."""
    from tests._shared import figures_skipped

    from kansho import run_timeseries
    from kansho.config import RunConfig
    from kansho.demo import compare_with_truth
    from kansho.synth import SimConfig, simulate_frame

    truth = simulate_frame(tmp_path / "geoc", SimConfig(shape=(64, 64), n_epoch=45, interval_days=12,
                                                        seasonal_amp=8.0, gap=True, snow=False), rng=7)
    cfg = RunConfig()
    cfg.mask.maxTlen = 0.5  # each side of the gap spans < 1 yr
    rmse = {}
    with figures_skipped():
        for model in ("linear", "annual", "auto"):
            cfg.invert.model = model  # type: ignore[assignment]
            run = run_timeseries(tmp_path / "geoc", tmp_path / "run", cfg, progress=False)
            rmse[model] = compare_with_truth(run, truth).vel_rmse
    assert rmse["auto"] <= min(rmse["linear"], rmse["annual"]) * 1.02, rmse


def test_old_annual_option_means_model_annual(tmp_path: Path) -> None:
    """``annual: true`` in an old YAML file or a batch frame's options, and ``--annual``, still work."""
    from kansho.cli import build_parser
    from kansho.config import load_config
    from kansho.errors import ConfigError

    old = tmp_path / "old.yaml"
    old.write_text("invert:\n  gamma: 0.0001\n  annual: true\n")
    assert load_config(old).invert.model == "annual"
    old.write_text("invert:\n  annual: false\n")  # as the old template wrote it: the default model
    assert load_config(old).invert.model == "auto"
    assert load_config(None, {"invert.annual": True}).invert.model == "annual"
    with pytest.raises(ConfigError, match="contradicts"):
        load_config(None, {"invert.annual": True, "invert.model": "linear"})
    parser, dests = build_parser()
    args = parser.parse_args(["ts", "in", "-o", "out", "--annual"])
    assert args.cfg__invert__model == "annual" and dests["cfg__invert__model"] == "invert.model"
    args = parser.parse_args(["ts", "in", "-o", "out", "--model", "linear", "--step-dates", "20200101,20190505"])
    assert args.cfg__invert__model == "linear"
    assert load_config(None, {"invert.step_dates": args.cfg__invert__step_dates}).invert.step_dates == \
        "20190505,20200101"
    with pytest.raises(ConfigError, match="step_dates"):
        load_config(None, {"invert.step_dates": "2020-01-01"})


def test_run_stores_sigma_of_bridged_epochs_and_the_viewer_shows_it(small_run: FinishedRun) -> None:
    """``cum.h5`` holds ``cum_std`` (0 up to the network gap, > 0 after it at pixels with a gap) and
    ``bridge_model``; the viewer's pixel series carries it."""
    import h5py

    from kansho.viewer.data import RunData

    with h5py.File(small_run.out / "cum.h5") as f:
        std = np.asarray(f["cum_std"][()])
        gap = np.asarray(f["gap"][()], bool)
        model = np.asarray(f["bridge_model"][()])
        cum = np.asarray(f["cum"][()])
    assert std.shape == cum.shape
    k = int(np.argmax(gap.any(axis=(1, 2))))  # the network gap: between epochs k and k + 1
    solved = np.isfinite(cum).all(axis=0)
    assert np.all(std[: k + 1][:, solved] == 0)
    after = solved & gap[k]
    assert after.any() and np.all(std[k + 1:][:, after] > 0)
    assert set(np.unique(model[after])) <= {0, 1} and np.all(model[solved & ~gap.any(axis=0)] == -1)
    r, c = (int(v[0]) for v in np.nonzero(after))
    s = RunData(small_run.out).series(r, c)
    assert s.cum_std is not None and s.cum_std[-1] == pytest.approx(std[-1, r, c])


def test_run_weights_epochs_by_their_noise(small_run: FinishedRun) -> None:
    """The default run measures each epoch's noise (``info/13epoch_noise.txt``, one line per epoch, the
    weights 1/σ² with mean 1) and its velocity is the weighted line of its series ``cum`` (to float32)."""
    import h5py

    from kansho.velocity import fit_linear

    lines = [ln.split() for ln in (small_run.out / "info" / "13epoch_noise.txt").read_text().splitlines()
             if not ln.startswith("#")]
    with h5py.File(small_run.out / "cum.h5") as f:
        cum = np.asarray(f["cum"][()], np.float64)
        vel = np.asarray(f["vel"][()], np.float64)
        epochs = np.asarray(f["imdates"][()])
    sig = np.array([float(v[1]) for v in lines])
    w = np.array([float(v[2]) for v in lines])
    assert [int(v[0]) for v in lines] == [int(e) for e in epochs]
    assert np.all(sig > 0) and w.mean() == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(w * sig**2, np.median(w * sig**2), rtol=1e-4)  # 4 decimals of sigma in the file
    from kansho._dates import years_since_first

    t = years_since_first(epochs)
    ok = np.isfinite(vel)
    v_w = fit_linear(cum.reshape(t.size, -1), t, w)[0].reshape(vel.shape)
    v_u = fit_linear(cum.reshape(t.size, -1), t)[0].reshape(vel.shape)
    np.testing.assert_allclose(vel[ok], v_w[ok], atol=2e-3)
    assert np.abs(vel[ok] - v_u[ok]).max() > 0.05  # the weights changed the velocity


def test_velocity_written_when_the_epoch_weights_cannot_be_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``invert.epoch_weight: noise`` the inversion's first pass leaves the velocity to the bridge pass;
    where no pixel measures the epochs' noise (equal weights) that pass still writes the velocity of every
    block, those with nothing to bridge included, as ``epoch_weight: off`` does."""
    from tests._shared import figures_skipped

    from kansho import run_timeseries
    from kansho.chain.steps import epoch_noise
    from kansho.config import InvertConfig, RunConfig
    from kansho.synth import SimConfig, simulate_frame

    simulate_frame(tmp_path / "sim", SimConfig(shape=(64, 64), n_epoch=16, gap=False), rng=5)
    geoc = tmp_path / "sim" / "GEOC"
    steps = ["ingest", "qc", "loops", "invert"]
    with figures_skipped():
        run_timeseries(geoc, tmp_path / "off", RunConfig(block_size=32, invert=InvertConfig(epoch_weight="off")),
                       steps=steps, progress=False)
        monkeypatch.setattr(epoch_noise, "weights", lambda ctx, epochs: (None, None))
        run_timeseries(geoc, tmp_path / "unmeasured", RunConfig(block_size=32), steps=steps, progress=False)
    a = zarr.open_group(str(tmp_path / "off" / "work" / "ts.zarr"), mode="r")
    b = zarr.open_group(str(tmp_path / "unmeasured" / "work" / "ts.zarr"), mode="r")
    fic = np.asarray(b["bridge_fic"][1])  # finite where a pixel has a gap to bridge
    assert any(not np.isfinite(fic[r:r + 32, c:c + 32]).any() for r in (0, 32) for c in (0, 32)), \
        "every block has a gap to bridge: the case of a block with none is not tested"
    for name in ("vel", "vintercept", "cum"):
        x, y = np.asarray(a[name][:]), np.asarray(b[name][:])
        assert np.isfinite(y).any(), name
        np.testing.assert_array_equal(x, y, err_msg=name)


def _reference_offsets(seg: np.ndarray, a: np.ndarray, vw: np.ndarray, s2: np.ndarray, vu: np.ndarray,
                       s2u: np.ndarray, lost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numpy of put_offsets: the one-hot product and the maximum of two outer products."""
    ng = a.shape[0]
    ind = (seg[:, None] == np.arange(1, ng + 1)[None]).astype(np.float64)
    v = np.maximum(vw[:, None] * s2[None], vu[:, None] * s2u[None])
    v[lost] = np.inf
    return ind @ a, v


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 12), ng=st.integers(1, 3), k=st.integers(1, 9), seed=st.integers(0, 2**31 - 1))
def test_put_offsets_is_the_numpy_bit_for_bit(n: int, ng: int, k: int, seed: int) -> None:
    """The compiled scatter of a pattern's shift and variance equals the products it replaces, bit for bit
    (zero signs included: a -0.0 offset comes out +0.0, as from BLAS), and leaves other columns alone."""
    from kansho._invert_jit import put_offsets

    rng = np.random.default_rng(seed)
    seg = np.sort(rng.integers(0, ng + 1, n)).astype(np.int64)
    a = rng.normal(0, 5, (ng, k))
    a[rng.random((ng, k)) < 0.2] = -0.0
    vw, vu = rng.random(n), rng.random(n)
    s2, s2u = rng.random(k), rng.random(k)
    s2u[rng.random(k) < 0.2] = np.nan
    lost = rng.random(n) < 0.2
    npix = k + 3
    cols = np.sort(rng.choice(npix, k, replace=False)).astype(np.intp)
    shift, var = np.full((n, npix), 7.0), np.full((n, npix), 7.0)
    put_offsets(shift, var, cols, seg, a, vw, s2, vu, s2u, lost)
    ref_shift, ref_var = _reference_offsets(seg, a, vw, s2, vu, s2u, lost)
    assert shift[:, cols].tobytes() == ref_shift.tobytes()
    np.testing.assert_array_equal(var[:, cols], ref_var)
    assert np.array_equal(np.isnan(var[:, cols]), np.isnan(ref_var))
    others = np.setdiff1d(np.arange(npix), cols)
    assert np.all(shift[:, others] == 7.0) and np.all(var[:, others] == 7.0)


def test_shared_pattern_series_fit_as_the_block() -> None:
    """fit_bridge with the patterns' series gathered once (float32 block, as step 1-3's first pass gives it)
    returns exactly what it returns from the whole block in float64."""
    rng = np.random.default_rng(11)
    t = np.arange(0, 3, 12 / 365.25)
    n, npix = t.size, 40
    cum = np.cumsum(rng.normal(0, 2, (n, npix)), axis=0).astype(np.float32)
    cum[0] = 0
    cum[:, 5] = np.nan
    gap = np.zeros((n - 1, npix), bool)
    gap[30, :25] = True
    gap[[20, 60], 25:32] = True
    for cand in bridge.candidates("auto", False):
        whole = bridge.fit_bridge(cum.astype(np.float64), gap, t, cand, series=False)
        pats = bridge.gap_patterns(cum, gap)
        shared = bridge.fit_bridge(cum, gap, t, cand, series=False, patterns=pats,
                                   pattern_y=bridge.pattern_series(cum, pats))
        for name in ("mu", "vmu", "allowed", "gapped"):
            np.testing.assert_array_equal(getattr(shared, name), getattr(whole, name))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), weighted=st.booleans(), annual=st.booleans(), steps=st.booleans())
def test_bridge_into_is_fit_and_shift_bit_for_bit(seed: int, weighted: bool, annual: bool, steps: bool) -> None:
    """Step 1-3's bridge pass bridges a block's chosen pixels in place (bridge_into): the same float32 series and
    σ, bit for bit, as fit_bridge then apply_shift on those pixels' float64 series stored back; other pixels are
    left alone. Unsolved pixels, pixels without a gap, several patterns, a step inside a gap (its epochs' σ inf),
    epoch weights and an inflation of inf are all met."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 40))
    t = np.sort(rng.uniform(0, 3, n))
    npix = int(rng.integers(5, 60))
    cum = np.cumsum(rng.normal(0, 2, (n, npix)), axis=0).astype(np.float32)
    cum[:, rng.random(npix) < 0.15] = np.nan
    cum[rng.integers(0, n), rng.integers(0, npix)] = np.nan
    gap = np.zeros((n - 1, npix), bool)
    for _ in range(int(rng.integers(1, 4))):  # a few patterns, some pixels without a gap
        gap[int(rng.integers(1, n - 2)), rng.random(npix) < 0.6] = True
    st_ = np.array([t[int(rng.integers(1, n - 1))], t[int(np.flatnonzero(gap.any(axis=1))[0]) + 1] - 1e-6]) \
        if steps else np.zeros(0)
    cand = bridge.Candidate(annual, steps)
    w = rng.uniform(0.3, 3, n) if weighted else None
    px = np.flatnonzero(rng.random(npix) < 0.7)
    infl = rng.uniform(1, 4, px.size)
    infl[rng.random(px.size) < 0.1] = np.inf
    sd0 = rng.normal(size=(n, npix)).astype(np.float32)
    ref_cum, ref_sd = cum.copy(), sd0.copy()
    y = cum[:, px].astype(np.float64)
    fit = bridge.fit_bridge(y, gap[:, px], t, cand, st_, require_support=False, weights=w)
    with np.errstate(invalid="ignore"):  # σ 0 times an inflation of inf
        out, sdp = bridge.apply_shift(y, fit, infl)
    ref_cum[:, px], ref_sd[:, px] = out, sdp
    got_cum, got_sd = cum.copy(), sd0.copy()
    bridge.bridge_into(got_cum, got_sd, px, gap, t, cand, st_, weights=w, infl=infl)
    np.testing.assert_array_equal(got_cum, ref_cum)
    np.testing.assert_array_equal(got_sd, ref_sd)


def _select_plain(mu: np.ndarray, vmu: np.ndarray, allowed: np.ndarray, sig: tuple[float, float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The regional criterion as the module docstring states it, on (K, ny, nx) arrays: each map filtered on
    its own, the scores stacked and their argmin taken."""
    al = allowed & np.isfinite(vmu)
    kk = mu.shape[0]
    widest = np.where(al.any(axis=0), kk - 1 - np.argmax(al[::-1], axis=0), -1)
    wi = np.clip(widest, 0, None)[None]
    mu_w, v_w = np.take_along_axis(mu, wi, axis=0)[0], np.take_along_axis(vmu, wi, axis=0)[0]
    score, mse, vs = np.full(mu.shape, np.inf), np.full(mu.shape, np.inf), np.full(mu.shape, np.nan)
    for k in range(kk):
        dv = np.where(al[k], np.abs(v_w - vmu[k]), np.nan)
        bias2 = np.where(al[k], (mu[k] - mu_w) ** 2, np.nan) - dv
        vs[k] = gaussian_nan(np.where(al[k], vmu[k], np.nan), *sig, fill=True)
        sb = np.maximum(gaussian_nan(bias2, *sig, fill=True)
                        - bridge.BIAS_MARGIN * gaussian_nan(dv, *sig, fill=True), 0.0)
        mse[k] = np.where(al[k] & np.isfinite(vs[k]), vs[k] + np.nan_to_num(sb), np.inf)
        score[k] = np.where(widest != k, mse[k] * (1.0 + bridge.NARROW_PENALTY), mse[k])
    choice = np.argmin(score, axis=0)
    choice[widest < 0] = -1
    ci = np.clip(choice, 0, None)[None]
    best, vbest = np.take_along_axis(mse, ci, axis=0)[0], np.take_along_axis(vs, ci, axis=0)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        infl = np.where((vbest > 0) & np.isfinite(best), best / vbest, 1.0)
    return choice, np.maximum(infl, 1.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 4), ny=st.integers(2, 40), nx=st.integers(2, 40),
       ties=st.booleans(), sy=st.floats(0, 12), sx=st.floats(0, 12))
def test_model_choice_is_the_plain_criterion_bit_for_bit(seed: int, k: int, ny: int, nx: int, ties: bool,
                                                         sy: float, sx: float) -> None:
    """select_models keeps running bests instead of (K, ny, nx) score arrays and filters the three maps of a
    candidate with one normalising weight where their finite patterns agree: the same choice and inflation,
    bit for bit, as the plain criterion, ties (integer values) and a focus missing where its variance is not
    included."""
    r = np.random.default_rng(seed)
    shape = (k, ny, nx)
    mu = r.integers(0, 3, shape).astype(float) if ties else r.normal(size=shape)
    vmu = r.integers(1, 3, shape).astype(float) if ties else r.uniform(0, 1, shape)
    vmu[r.random(shape) < r.uniform(0, 0.6)] = np.nan
    mu[r.random(shape) < 0.05] = np.nan
    allowed = r.random(shape) < r.uniform(0.3, 1)
    choice, infl = bridge.select_models(mu, vmu, allowed, (sy, sx))
    want_choice, want_infl = _select_plain(mu, vmu, allowed, (sy, sx))
    np.testing.assert_array_equal(choice, want_choice)
    np.testing.assert_array_equal(infl, want_infl)
