"""The accuracy harness's yardstick (benchmarks/accuracy_score.py) on solutions with known errors:
a perfect inversion scores exactly the floor, and a least-squares solution of data with one
uncorrected unwrapping error is judged *missed* with the share predicted by the hat matrix."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from accuracy_score import Solution, hat_values, score
from kansho._dates import years_since_first
from kansho.synth import SimConfig, Truth, simulate_frame

FRAME = SimConfig(shape=(40, 40), n_epoch=12, interval_days=24, gap=False, n_unw_errors=2, local_unw_errors=0.0)


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    return simulate_frame(tmp_path_factory.mktemp("score") / "sim", FRAME, rng=5)


def _lsq(truth: Truth, names: list[str], error: dict[str, float]) -> np.ndarray:
    """Least-squares series (n_epoch, ny, nx) of the true apparent increments of ``names``, with
    ``error`` (mm) added over the truth's error region of those pairs."""
    ep = [int(e) for e in truth.epochs]
    app = np.stack([truth.apparent_mm(e) for e in range(len(ep))]).astype(np.float64)
    g = np.zeros((len(names), len(ep) - 1))
    d = np.zeros((len(names), app[0].size))
    for p, n in enumerate(names):
        i, j = ep.index(int(n[:8])), ep.index(int(n[9:]))
        g[p, i:j] = 1.0
        d[p] = (app[j] - app[i]).ravel()
        if n in error:
            m = [f"{a}_{b}" for a, b in truth.unw_error_pairs].index(n)
            d[p] += error[n] * truth.unw_error_masks[m].ravel()
    inc = np.linalg.lstsq(g, d, rcond=None)[0]
    cum = np.vstack([np.zeros((1, d.shape[1])), np.cumsum(inc, axis=0)])
    return cum.reshape(len(ep), *app[0].shape)


def _solution(truth: Truth, cum: np.ndarray, names: list[str], dropped: set[str]) -> Solution:
    t = years_since_first(truth.epochs)
    w = (t - t.mean()) / np.sum((t - t.mean()) ** 2)
    vel = np.tensordot(w, cum, axes=1)
    return Solution(epochs=truth.epochs, cum=cum, cum_filt=cum, vel=vel, mask=~truth.water, ref=(0, 40, 0, 40),
                    ref_filt=(0, 40, 0, 40), used=set(names), dropped=dropped)


def test_hat_values_sum_to_the_rank() -> None:
    pairs = [(0, 1), (1, 2), (0, 2), (2, 3), (4, 5)]  # two parts
    h = hat_values(pairs, 6)
    assert h.sum() == pytest.approx(4.0) and h[3] == pytest.approx(1.0) and h[4] == pytest.approx(1.0)
    assert h[0] == pytest.approx(2 / 3)


def test_perfect_inversion_scores_the_floor(truth: Truth) -> None:
    names = [f"{a}_{b}" for a, b in truth.pairs]
    clean = [n for n in names if n not in {f"{a}_{b}" for a, b in truth.unw_error_pairs}]
    app = np.stack([truth.apparent_mm(e) for e in range(truth.n_epoch)]).astype(np.float64)
    f = score(_solution(truth, app - app[0], clean, set(names) - set(clean)), truth)
    assert f["ts_rmse"] == pytest.approx(f["floor_ts_rmse"], rel=1e-6) and f["floor_ts_rmse"] > 0.5
    assert f["vel_rmse"] == pytest.approx(f["floor_vel_rmse"], rel=1e-6)
    assert f["large_dropped"] == f["large_injected"] == 2 and f["clean_dropped"] == 0


def test_uncorrected_error_is_missed_and_a_clean_solution_is_not(truth: Truth) -> None:
    names = [f"{a}_{b}" for a, b in truth.pairs]
    bad = [f"{a}_{b}" for a, b in truth.unw_error_pairs]
    half = truth.wavelength * 1000 / 2
    err = {n: -int(k) * half for n, k in zip(bad, truth.unw_error_k, strict=True)}  # 2πk rad in mm
    kept = score(_solution(truth, _lsq(truth, names, err), names, set()), truth)
    assert kept["large_missed"] == 2 and kept["large_leak"] == pytest.approx([1.0, 1.0], abs=0.05)
    fixed = score(_solution(truth, _lsq(truth, names, {}), names, set()), truth)
    assert fixed["large_corrected"] == 2 and max(abs(v) for v in fixed["large_leak"]) < 0.05
