"""kansho.planning on stacks: temporal-model fit (synthetic truth and the real Campi Flegrei pairs),
predicted vs observed coherence, network suggestion, and the ``kansho baseline`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.cli import main
from kansho.errors import InputError
from kansho.network import connected_components
from kansho.planning import (
    coherence_terms,
    fit_temporal_model,
    predict_coherence,
    predicted_vs_observed,
    read_pair_table,
    read_stack_baselines,
    suggest_network,
    suggest_network_detail,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
CF_STATS = REAL / "campi_flegrei_licsbas" / "TS_GEOCml1clip" / "info" / "11ifg_stats.txt"
needs_cf = pytest.mark.skipif(not CF_STATS.is_file(), reason="shared real data not available")


def _connected(dates: np.ndarray, pairs: list[tuple[int, int]]) -> bool:
    idx = {int(d): k for k, d in enumerate(np.sort(dates))}
    p = np.array([[idx[a], idx[b]] for a, b in pairs], dtype=np.int64).reshape(-1, 2)
    return np.unique(connected_components(p, len(idx))).size == 1


# ---------------------------------------------------------------------------- fit on synthetic truth
def test_fit_temporal_model_recovers_simulated_parameters() -> None:
    """600 pairs from a known model plus N(0, 0.03) noise (like the real table's scatter): γ0, γ∞ within
    0.02 and τ within 20 % (a few standard errors), R² of the truth reproduced."""
    rng = np.random.default_rng(2)
    dt = rng.choice(np.arange(6, 200, 6), size=600).astype(float)
    bp = rng.uniform(-200, 200, size=600)
    truth = {"gamma_thermal": 1.0, "gamma0": 0.62, "gamma_inf": 0.21, "tau_days": 35.0}
    clean = predict_coherence(bp, dt, "sentinel1_iw", params=truth)
    obs = clean + rng.normal(0, 0.03, size=600)
    fit = fit_temporal_model(dt, bp, obs, "sentinel1_iw")
    assert fit.gamma0 == pytest.approx(0.62, abs=0.02)
    assert fit.gamma_inf == pytest.approx(0.21, abs=0.02)
    assert fit.tau_days == pytest.approx(35.0, rel=0.2)
    assert abs(fit.tau_days - 35.0) < 4 * fit.tau_days_se
    r2_truth = 1 - np.sum((obs - clean) ** 2) / np.sum((obs - obs.mean()) ** 2)
    assert fit.r2 >= r2_truth - 1e-9  # least squares fits at least as well as the truth
    assert fit.r2 == pytest.approx(r2_truth, abs=0.02)


def test_fit_rejects_too_few_pairs() -> None:
    with pytest.raises(InputError, match="at least 4"):
        fit_temporal_model([6, 12, np.nan], [0, 1, 2], [0.5, 0.4, 0.3])


# ---------------------------------------------------------------------------- real Campi Flegrei pairs
@needs_cf
def test_read_campi_flegrei_pair_table_known_values() -> None:
    t = read_pair_table(CF_STATS)
    assert len(t) == 579
    assert int(t.usable.sum()) == 546  # 33 rows are starred (rejected by LiCSBAS step 1-1)
    assert (t.date1[0], t.date2[0], t.bperp_m[0], t.dt_days[0], t.coherence[0]) == (20160909, 20160921, 24.7, 12, 0.428)
    assert (t.date1[-1], t.date2[-1], t.bperp_m[-1]) == (20191223, 20191229, 58.0)
    sb = read_stack_baselines(CF_STATS)
    assert sb.pairs is not None and sb.epochs.size == 162 and abs(sb.bperp_m[0]) < 1e-9
    # per-epoch B⊥ by least squares reproduce every pair's B⊥ (printed to 0.1 m) within 0.1 m
    b = dict(zip(sb.epochs.tolist(), sb.bperp_m, strict=True))
    pair_bp = np.array([b[d2] - b[d1] for d1, d2 in zip(t.date1, t.date2, strict=True)])
    assert np.max(np.abs(pair_bp - t.bperp_m)) < 0.1


@needs_cf
def test_temporal_fit_on_campi_flegrei() -> None:
    """The exponential-plus-floor model explains about half the variance of the 546 usable pairs'
    mean coherence (the rest is mostly season: winter pairs sit above the fit)."""
    t = read_pair_table(CF_STATS)
    u = t.usable
    fit = fit_temporal_model(t.dt_days[u], t.bperp_m[u], t.coherence[u], "sentinel1_iw")
    assert fit.n_pairs == 546
    assert 0.45 < fit.r2 < 0.6
    assert 0.40 < fit.gamma0 < 0.50 and 0.24 < fit.gamma_inf < 0.31 and 15 < fit.tau_days < 45
    assert fit.gamma0_se < 0.02 and fit.tau_days_se < 10
    # the fitted model beats a constant and the uncalibrated preset
    preset = predicted_vs_observed(t.date1[u], t.date2[u], t.bperp_m[u], t.coherence[u], "sentinel1_iw")
    fitted = predicted_vs_observed(t.date1[u], t.date2[u], t.bperp_m[u], t.coherence[u], "sentinel1_iw",
                                   params=fit.params)
    assert fitted.r2 == pytest.approx(fit.r2, abs=1e-9)
    assert abs(fitted.bias) < 0.005 and preset.r2 < fitted.r2
    # residuals are seasonal: December-February first dates above the fit, May-June below
    m1 = (t.date1[u] // 100) % 100
    assert fitted.residual[np.isin(m1, [12, 1, 2])].mean() > 0.015
    assert fitted.residual[np.isin(m1, [5, 6])].mean() < -0.015


@needs_cf
def test_predicted_vs_observed_accepts_epoch_dict_and_pair_arrays() -> None:
    t = read_pair_table(CF_STATS)
    sb = read_stack_baselines(CF_STATS)
    obs = np.where(t.usable, t.coherence, np.nan)
    a = predicted_vs_observed(t.date1, t.date2, dict(zip(sb.epochs.tolist(), sb.bperp_m, strict=True)), obs)
    b = predicted_vs_observed(t.date1, t.date2, (sb.epochs, sb.bperp_m), obs)
    c = predicted_vs_observed(t.date1, t.date2, t.bperp_m, obs)
    np.testing.assert_allclose(a.predicted, b.predicted)
    np.testing.assert_allclose(a.predicted, c.predicted, atol=2e-5)
    np.testing.assert_array_equal(a.dt_days, t.dt_days)
    rows = a.rows()
    assert len(rows) == 579 and set(rows[0]) == {"date1", "date2", "bperp_m", "dt_days", "predicted", "observed",
                                                 "residual"}
    text = a.to_text().splitlines()
    assert len(text) == 2 + 579 and text[2].startswith("20160909_20160921")
    with pytest.raises(InputError, match="no perpendicular baseline"):
        predicted_vs_observed([20160909], [20990101], {20160909: 0.0}, [0.4])


# ---------------------------------------------------------------------------- network suggestion
def test_suggest_network_small_stack_is_connected_and_thresholded() -> None:
    dates = np.array([20200101, 20200107, 20200113, 20200119, 20200125, 20200131, 20200406, 20200412])
    bperp = np.array([0.0, 40.0, -30.0, 80.0, 10.0, -60.0, 20.0, 5.0])
    det = suggest_network_detail(dates, bperp, "sentinel1_iw", min_coh=0.4, max_per_epoch=3)
    pairs = det.date_pairs
    assert _connected(dates, pairs)
    assert det.n_bridges == 1  # the 66-day gap can only be crossed below the threshold
    assert np.sum(det.coherence < 0.4) == 1
    deg = np.bincount(det.pairs.ravel(), minlength=dates.size)
    assert deg.max() <= 3
    # every chosen pair clearing the threshold really clears it; dates ordered within pairs
    assert all(a < b for a, b in pairs)
    assert suggest_network(dates, dict(zip(dates.tolist(), bperp, strict=True)), "sentinel1_iw",
                           min_coh=0.4, max_per_epoch=3) == pairs


def test_suggest_network_disconnected_candidates_raise() -> None:
    dates = [20200101, 20200113, 20200125, 20200206]
    with pytest.raises(InputError, match="cannot connect"):
        suggest_network(dates, [0, 0, 0, 0], candidates=[(20200101, 20200113), (20200125, 20200206)])


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 25), st.integers(1, 6), st.floats(0.0, 0.9), st.integers(0, 2**31 - 1))
def test_suggest_network_always_connected(n: int, max_deg: int, min_coh: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ordinals = np.sort(rng.choice(np.arange(737000, 737000 + 400), size=n, replace=False))
    import datetime as dt

    dates = np.array([int(dt.date.fromordinal(int(o)).strftime("%Y%m%d")) for o in ordinals])
    bperp = rng.normal(0, 150, size=n)
    det = suggest_network_detail(dates, bperp, "sentinel1_iw", min_coh=min_coh, max_per_epoch=max_deg)
    assert _connected(dates, det.date_pairs)
    chosen_above = det.coherence >= min_coh
    assert det.n_bridges == int(np.sum(~chosen_above))
    if max_deg >= 2:  # a chain always exists, so the degree limit can hold
        assert np.bincount(det.pairs.ravel(), minlength=n).max() <= max_deg


# ---------------------------------------------------------------------------- CLI
def test_cli_table_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "baseline", "table", "--json", "--sensor", "sentinel1_iw"]) == 0
    out = json.loads(capsys.readouterr().out)
    p28 = out["document"]["palsar28"]
    assert p28["published"]["dem_bperp_m"] == 1440
    assert p28["computed"]["dem_bperp_m"] == pytest.approx(1440, rel=0.02)
    assert out["table3"]["palsar14"]["dem_tolerance_m"] == pytest.approx(507, rel=0.02)
    s1 = out["sensors"]["sentinel1_iw"]
    assert s1["critical_baseline_m"] == pytest.approx(coherence_terms("sentinel1_iw")["critical_baseline_m"])
    assert main(["-q", "baseline", "table"]) == 0
    assert "Table 3" in capsys.readouterr().out


def test_cli_plot_writes_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "baseline", "plot", "-o", str(tmp_path)]) == 0
    for name in ("fig5_height_error_coherence.png", "orbit_tube.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@needs_cf
def test_cli_stack_on_per_pair_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["-q", "baseline", "stack", str(CF_STATS), "--min-coh", "0.3", "--json", "-o", str(tmp_path)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_epochs"] == 162 and out["n_pairs_in_file"] == 579
    assert 0.45 < out["fit"]["r2"] < 0.6
    assert out["network"]["connected"] is True
    pairs = [(p["date1"], p["date2"]) for p in out["pairs"]]
    sb = read_stack_baselines(CF_STATS)
    assert _connected(sb.epochs, pairs)
    assert len(pairs) > 1.5 * sb.epochs.size  # redundant, not just a tree
    coh = np.array([p["predicted_coherence"] for p in out["pairs"]])
    assert np.sum(coh < 0.3) == out["network"]["n_bridges_below_min_coh"]
    assert (tmp_path / "network.txt").read_text().count("\n") == len(pairs) + 1
    assert (tmp_path / "predicted_vs_observed.txt").is_file() and (tmp_path / "network.png").is_file()
    # --existing-only chooses among the 579 interferograms that LiCSAR made
    assert main(["-q", "baseline", "stack", str(CF_STATS), "--min-coh", "0.3", "--existing-only", "--json"]) == 0
    out2 = json.loads(capsys.readouterr().out)
    existing = set(zip(read_pair_table(CF_STATS).date1.tolist(), read_pair_table(CF_STATS).date2.tolist(),
                       strict=True))
    assert out2["network"]["connected"] and {(p["date1"], p["date2"]) for p in out2["pairs"]} <= existing


@needs_cf
def test_cli_stack_on_licsar_baselines_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A LiCSAR ``baselines`` file (``refdate date bperp btemp``), written from the real Campi Flegrei epochs."""
    sb = read_stack_baselines(CF_STATS)
    ref = int(sb.epochs[0])
    from kansho._dates import to_ordinal

    days = to_ordinal(sb.epochs) - to_ordinal([ref])[0]
    f = tmp_path / "baselines"
    f.write_text("".join(f"{ref} {d} {b:.2f} {t}\n" for d, b, t in zip(sb.epochs[1:], sb.bperp_m[1:], days[1:],
                                                                          strict=True)))
    assert main(["-q", "baseline", "stack", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_epochs"] == 162 and out["fit"] is None and out["predicted_vs_observed"] is None
    pairs = [(p["date1"], p["date2"]) for p in out["pairs"]]
    assert out["network"]["connected"] and _connected(sb.epochs, pairs)
    deg: dict[int, int] = {}
    for a, b in pairs:
        deg[a] = deg.get(a, 0) + 1
        deg[b] = deg.get(b, 0) + 1
    assert max(deg.values()) <= 4


def test_cli_stack_bad_file_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "baselines"
    f.write_text("this is not a baselines file\n")
    assert main(["-q", "baseline", "stack", str(f)]) != 0
    err = capsys.readouterr().err
    assert "baselines" in err and "Traceback" not in err
