"""Phase-bias indicator, estimator and correction (:mod:`kansho.phasebias`): the numerics on exact
synthetic misclosures and their identifiability, and the chain (step 1-3, ``invert.phase_bias``) on a
simulated frame with a bias injected into its interferograms."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho import network, phasebias
from kansho.loops import loop_phase

DAY = 1.0 / 365.25
TWO_PI = 2 * np.pi


def next_k(n_epoch: int, k: int) -> np.ndarray:
    """Pairs linking each epoch to its next ``k``: (npair, 2) epoch indices."""
    return np.array([(i, i + d) for i in range(n_epoch) for d in range(1, k + 1) if i + d < n_epoch])


def biased(pairs: np.ndarray, t: np.ndarray, rate: np.ndarray, tau: float) -> np.ndarray:
    """(npair, npix) bias r·Δt·exp(-Δt/τ) (rad) of every pair: the model of the module docstring."""
    dt = t[pairs[:, 1]] - t[pairs[:, 0]]
    return rate[None, :] * phasebias.decay_shape(dt, tau)[:, None]


def network_6d(n_epoch: int = 25, k: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = next_k(n_epoch, k)
    return pairs, np.arange(n_epoch) * 6 * DAY, network.triangle_loops(pairs)


# ------------------------------------------------------------------------------------- numerics
def test_rates_recovered_from_exact_misclosures() -> None:
    """Misclosures made by the model alone, plus any deformation/atmosphere series (which closes
    every loop): the fitted rate is the injected one (exact data: 1e-9 relative), the misfit picks
    the true τ among the grid's, and the corrected phase closes every loop."""
    rng = np.random.default_rng(0)
    pairs, t, L = network_6d()
    rate = rng.uniform(-20, 20, 300)
    taus = phasebias.taus_for(pairs, t)
    tau = float(taus[3])
    series = rng.normal(0, 30, (t.size, rate.size))
    ph = series[pairs[:, 1]] - series[pairs[:, 0]] + biased(pairs, t, rate, tau)
    mis = phasebias.loop_misclosure(ph, L)
    dur = phasebias.loop_durations(L, pairs, t)
    stats = phasebias.tau_misfit(mis, L, dur, taus)
    assert stats[3, 0] < 1e-9 * np.delete(stats[:, 0], 3).min()  # round-off of the 30 rad series only
    fit = phasebias.fit_bias_rate(mis, L, dur, tau)
    np.testing.assert_allclose(fit.rate, rate, rtol=1e-9)
    corrected = ph - phasebias.pair_bias(fit, pairs, t)
    np.testing.assert_allclose(loop_phase(corrected, L), 0.0, atol=1e-9)
    np.testing.assert_allclose(corrected, ph - biased(pairs, t, rate, tau), atol=1e-9)


def test_rates_with_noise_and_missing_pairs() -> None:
    """Pair noise of 0.1 rad and 10 % of the pairs missing at each pixel: the rate is found within a
    tolerance set by its own standard error (|error| < 4 se at every pixel), that error is honest
    (the RMS of error / se is 1 within 0.2: 500 pixels give it to ~3 %), and a pixel without any
    valid loop gets 0."""
    rng = np.random.default_rng(1)
    pairs, t, L = network_6d(40)
    rate = rng.uniform(5, 30, 500)
    tau = 10 * DAY
    ph = biased(pairs, t, rate, tau) + rng.normal(0, 0.1, (len(pairs), rate.size))
    ph[rng.random(ph.shape) < 0.1] = np.nan
    ph[:, 0] = np.nan  # a pixel with no data
    fit = phasebias.fit_bias_rate(phasebias.loop_misclosure(ph, L), L, phasebias.loop_durations(L, pairs, t), tau)
    raw, se = fit.z * fit.se, fit.se  # the least-squares rate before its shrinkage
    err = (raw - rate)[1:]
    assert np.all(np.abs(err) < 4 * se[1:]), np.max(np.abs(err) / se[1:])
    assert abs(np.sqrt(np.mean((err / se[1:]) ** 2)) - 1) < 0.2
    assert fit.rate[0] == 0 and fit.n_loops[0] == 0


def test_noise_alone_is_declined() -> None:
    """Pure pair noise (no bias) at 3000 pixels of a 25-epoch network: the fraction of pixels with a
    significant rate stays near the test's level (0.27 %), far below MIN_SIGNIFICANT, for every τ:
    the standard error accounts for the loops sharing pairs (without that, z would be too large)."""
    rng = np.random.default_rng(2)
    pairs, t, L = network_6d()
    ph = rng.normal(0, 0.3, (len(pairs), 3000))
    mis = phasebias.loop_misclosure(ph, L)
    stats = phasebias.tau_misfit(mis, L, phasebias.loop_durations(L, pairs, t), phasebias.taus_for(pairs, t))
    frac = stats[:, 1] / stats[:, 2]
    assert np.all(frac < phasebias.MIN_SIGNIFICANT / 2), frac


def test_equal_length_pairs_see_nothing() -> None:
    """A network of pairs of one duration (every 12-day pair of a 6-day cadence) has no triangle: the
    bias common to all its pairs cannot be seen. The estimator returns 0 everywhere, and the
    per-class model says every class is unseen."""
    pairs = np.array([(i, i + 2) for i in range(20)])
    t = np.arange(22) * 6 * DAY
    L = network.triangle_loops(pairs)
    assert L.shape[0] == 0
    ph = np.full((len(pairs), 10), 0.3)  # a bias of 0.3 rad in every pair
    mis = phasebias.loop_misclosure(ph, L)
    fit = phasebias.fit_bias_rate(mis, L, phasebias.loop_durations(L, pairs, t), 10 * DAY)
    assert np.all(fit.rate == 0) and np.all(fit.n_loops == 0)
    G, classes = phasebias.class_matrix(L, pairs, t)
    assert classes.tolist() == [1] and G.shape == (0, 1)
    np.testing.assert_array_equal(phasebias.unseen_combinations(G), np.eye(1))
    assert np.all(phasebias.fit_class_bias(mis, G, classes) == 0)
    assert np.all(np.isnan(phasebias.bias_indicator(mis, phasebias.short_loops(L, pairs, t))))


def test_class_model_identifiability() -> None:
    """Per-class biases β_n (n = duration in cadences) on a 4-successor network: the loops see all but
    one combination, β_n ∝ n (a velocity). A bias of that form closes every loop and the estimator
    returns 0; any other is recovered up to it, with the longest class's bias set to 0."""
    rng = np.random.default_rng(3)
    pairs, t, L = network_6d(20)
    G, classes = phasebias.class_matrix(L, pairs, t)
    assert classes.tolist() == [1, 2, 3, 4]
    null = phasebias.unseen_combinations(G)
    assert null.shape == (1, 4)
    np.testing.assert_allclose(np.abs(null[0]), classes / np.linalg.norm(classes), atol=1e-12)
    n_of_pair = (pairs[:, 1] - pairs[:, 0])
    velocity_like = 0.05 * n_of_pair[:, None] * np.ones((1, 7))
    mis = phasebias.loop_misclosure(velocity_like, L)
    np.testing.assert_allclose(mis, 0, atol=1e-12)
    np.testing.assert_allclose(phasebias.fit_class_bias(mis, G, classes), 0, atol=1e-12)
    beta = rng.normal(0, 0.2, (4, 50))
    mis = phasebias.loop_misclosure(beta[n_of_pair - 1], L)
    est = phasebias.fit_class_bias(mis, G, classes)
    want = beta - np.outer(classes / 4.0, beta[3])
    np.testing.assert_allclose(est, want, atol=1e-9)


def test_indicator_is_mean_abs_of_the_shortest_loops() -> None:
    """The indicator averages |misclosure| over the triangles of the shortest pairs only (6 + 6 - 12
    on a 6-day cadence), blind to a pair off by whole cycles."""
    rng = np.random.default_rng(4)
    pairs, t, L = network_6d(12, 3)
    short = phasebias.short_loops(L, pairs, t)
    d = phasebias.loop_durations(L, pairs, t)
    np.testing.assert_allclose(d[short, 2], 12 * DAY)
    assert (d[~short, 2] > 12 * DAY).all()
    ph = rng.normal(0, 0.2, (len(pairs), 30))
    mis = phasebias.loop_misclosure(ph, L)
    want = np.abs(loop_phase(ph, L)[short]).mean(axis=0)
    np.testing.assert_allclose(phasebias.bias_indicator(mis, short), want, rtol=1e-12)
    ph[5] += TWO_PI
    np.testing.assert_allclose(phasebias.bias_indicator(phasebias.loop_misclosure(ph, L), short), want, rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(2, 5), c=st.floats(-50, 50))
def test_a_velocity_is_never_taken_for_a_bias(seed: int, k: int, c: float) -> None:
    """A phase linear in each pair's duration (a constant rate c rad/yr, i.e. a velocity, the one
    combination loops cannot see) plus any series closes every loop: the fitted rate is 0."""
    rng = np.random.default_rng(seed)
    n = 15
    t = np.cumsum(rng.choice([6, 12], n)) * DAY  # an irregular cadence
    pairs = next_k(n, k)
    L = network.triangle_loops(pairs)
    series = rng.normal(0, 10, (n, 5)) + c * t[:, None]
    ph = series[pairs[:, 1]] - series[pairs[:, 0]]
    fit = phasebias.fit_bias_rate(phasebias.loop_misclosure(ph, L), L, phasebias.loop_durations(L, pairs, t), 8 * DAY)
    np.testing.assert_allclose(fit.rate, 0, atol=1e-6)


# ------------------------------------------------------------------------------------- the chain
#: injected bias: r·Δt·exp(-Δt/τ) (Ansari et al. 2021's fading, Maghsoudi et al. 2022's a_n with a
#: constant one-interval bias), τ = 10 days (between the estimator's grid values 8.5 and 12 d), r from
#: 4 to 30 rad/yr across the frame: 6-day pairs then carry 0.04-0.3 rad, a velocity bias of the
#: 4-successor network of ~5-35 mm/yr (the upper end of what Ansari et al. and Maghsoudi et al. report
#: for 6-day networks over vegetation, so that the bias stands above the loops' noise on 25 epochs)
TAU_DAYS, RATE = 10.0, 20.0


def _inject(root: Path, truth: Any) -> np.ndarray:
    """Add the bias to every unw GeoTIFF under ``root/GEOC`` (valid pixels); returns the rate map."""
    import rasterio

    from kansho._dates import years_since_first

    t = years_since_first(truth.epochs)
    pos = {int(e): i for i, e in enumerate(truth.epochs)}
    ny, nx = truth.cum.shape[1:]
    yy, xx = np.mgrid[:ny, :nx]
    rate = RATE * (0.2 + 0.8 * xx / (nx - 1)) * (1 + 0.5 * np.sin(yy / 6.0))
    for a, b in truth.pairs:
        path = root / "GEOC" / f"{a}_{b}" / f"{a}_{b}.geo.unw.tif"
        if not path.exists():
            continue
        dt = t[pos[int(b)]] - t[pos[int(a)]]
        with rasterio.open(path, "r+") as ds:
            u = ds.read(1)
            on = (u != 0) & np.isfinite(u)
            u[on] += (rate * phasebias.decay_shape(dt, TAU_DAYS * DAY))[on].astype(np.float32)
            ds.write(u, 1)
    return rate


@pytest.fixture(scope="module")
def bias_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 50 x 50 px frame, 25 epochs 6 days apart, 4 successors, no gap, no unwrapping error,
    multilooked to 400 looks (LiCSBAS stacks are multilooked beyond LiCSAR's 80): run clean and
    with the bias injected, each with the correction off and on."""
    from tests._shared import figures_skipped

    from kansho import run_timeseries
    from kansho.config import RunConfig
    from kansho.synth import SimConfig, simulate_frame

    root = tmp_path_factory.mktemp("phasebias")
    truth = simulate_frame(root / "clean", SimConfig(
        shape=(50, 50), n_epoch=25, interval_days=6, looks=400, gap=False, pairs_per_epoch=4, n_unw_errors=0,
        local_unw_errors=0.0, n_dropped_pairs=0, atm_turb_mm=2.0, atm_strat_seasonal=1.0, atm_strat_std=1.0,
        ramp_mm_per_100km=1.0), rng=3)
    shutil.copytree(root / "clean", root / "bias")
    rate = _inject(root / "bias", truth)
    runs = {}
    with figures_skipped():
        for frame in ("clean", "bias"):
            for mode in ("off", "correct"):
                cfg = RunConfig()
                cfg.invert.phase_bias = mode
                run_timeseries(root / frame / "GEOC", root / f"{frame}_{mode}", cfg, progress=False)
                runs[frame, mode] = root / f"{frame}_{mode}"
    return {"truth": truth, "rate": rate, "runs": runs}


def _products(out: Path) -> dict[str, Any]:
    import zarr

    from kansho.run import open_run

    run = open_run(out)
    cum = np.asarray(zarr.open_group(str(out / "work" / "ts.zarr"), mode="r")["cum"][:], np.float64)
    return {"run": run, "cum": cum.reshape(cum.shape[0], -1), "vel": run.read2d("vel").ravel(),
            "ph_bias": run.read2d("ph_bias").ravel()}


@pytest.mark.slow
def test_injected_bias_is_removed(bias_runs: dict[str, Any]) -> None:
    """The correction removes >= 80 % of the injected bias's variance from the time series (measured
    91 %) and the velocity error against the truth falls close to the clean frame's (measured RMS
    4.76 -> 2.60 mm/yr, clean 2.50); the indicator is larger where the injected rate is."""
    from kansho._dates import years_since_first

    p = {k: _products(v) for k, v in bias_runs["runs"].items()}
    ok = np.logical_and.reduce([np.isfinite(v["vel"]) for v in p.values()])

    def centred(x: np.ndarray) -> np.ndarray:  # each run on its own reference: the per-epoch mean removed
        return x[:, ok] - x[:, ok].mean(axis=1, keepdims=True)

    clean = p["clean", "off"]["cum"]
    injected = centred(p["bias", "off"]["cum"] - clean)
    left = centred(p["bias", "correct"]["cum"] - clean)
    removed = 1 - left.var() / injected.var()
    assert removed >= 0.8, removed

    truth = bias_runs["truth"]
    epochs = np.asarray(p["clean", "off"]["run"].result("loops").epochs)
    pos = {int(e): i for i, e in enumerate(truth.epochs)}
    tc = np.asarray(truth.cum, np.float64)[[pos[int(e)] for e in epochs]].reshape(len(epochs), -1)
    tv = np.polyfit(years_since_first(epochs), tc, 1)[0]

    def vel_rms(v: np.ndarray) -> float:
        d = v[ok] - tv[ok]
        return float(np.sqrt(np.mean((d - np.median(d)) ** 2)))

    e_clean, e_off, e_on = (vel_rms(p[k]["vel"]) for k in (("clean", "off"), ("bias", "off"), ("bias", "correct")))
    # the correction must take back most of the error the bias added (noise of the estimate remains)
    assert e_on - e_clean < 0.25 * (e_off - e_clean), (e_clean, e_off, e_on)
    ires = p["bias", "correct"]["run"].result("invert")
    assert ires.bias_corrected > 0.5 * ok.sum() and 8 <= ires.bias_tau_days <= 12
    ind = p["bias", "off"]["ph_bias"]
    rate = bias_runs["rate"].ravel()
    hi, lo = rate > np.quantile(rate, 0.75), rate < np.quantile(rate, 0.25)
    assert np.nanmedian(ind[hi & ok]) > np.nanmedian(ind[lo & ok]) > 0
    assert np.nanmedian(ind[ok]) > np.nanmedian(p["clean", "off"]["ph_bias"][ok])
    # the rate map follows the injected rate (its scale depends on the decay time chosen: 12 d, not 10)
    est = p["bias", "correct"]["run"].read2d("ph_bias_rate").ravel()
    assert np.corrcoef(est[ok], rate[ok])[0, 1] > 0.8


@pytest.mark.slow
def test_no_bias_no_change(bias_runs: dict[str, Any]) -> None:
    """Without a bias the frame's loops show none: the correction declines and the products are those
    of the run without it (bit for bit: the same velocity and series), its rate map 0."""
    off, on = (_products(bias_runs["runs"]["clean", m]) for m in ("off", "correct"))
    np.testing.assert_array_equal(on["vel"], off["vel"])
    np.testing.assert_array_equal(on["cum"], off["cum"])
    assert on["run"].result("invert").bias_tau_days is None
    np.testing.assert_array_equal(on["ph_bias"], off["ph_bias"])
    solved = np.isfinite(on["vel"])
    rate_on, rate_off = (r["run"].read2d("ph_bias_rate").ravel() for r in (on, off))
    assert np.all(rate_on[solved] == 0) and np.all(np.isnan(rate_off))  # none applied; NaN: the option is off


def test_chunked_estimate_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 1-3 estimates the bias in chunks of pixels (memory): any chunk size gives the same
    indicator and fit as one pass, bit for bit (every pixel's computation is its own)."""
    from kansho.chain.steps import invert

    rng = np.random.default_rng(5)
    pairs, t, L = network_6d(15)
    ph = biased(pairs, t, rng.uniform(0, 30, 100), 10 * DAY) + rng.normal(0, 0.1, (len(pairs), 100))
    ph[rng.random(ph.shape) < 0.05] = np.nan
    one = invert._phase_bias(ph, pairs, t, L, 10 * DAY)
    monkeypatch.setattr(invert, "BIAS_CHUNK", 7)
    chunked = invert._phase_bias(ph, pairs, t, L, 10 * DAY)
    np.testing.assert_array_equal(one[0], chunked[0])
    assert one[1] is not None and chunked[1] is not None
    for k in ("rate", "z", "n_loops", "misfit", "se"):
        np.testing.assert_array_equal(getattr(one[1], k), getattr(chunked[1], k), err_msg=k)
