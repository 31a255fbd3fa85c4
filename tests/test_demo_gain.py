"""``kansho demo`` prints its result first, then the gain over the same chain with ``--preset licsbas``."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from tests._shared import figures_skipped

from kansho.demo import Accuracy, gain_table, run_demo

ROWS = ("velocity RMS (mm/yr)", "time series RMS (mm)", "filtered series RMS (mm)", "land kept by the mask (%)")


def _acc(vel: float, cov: float, found: int) -> Accuracy:
    return Accuracy(vel_rmse=vel, vel_bias=0.0, vel_rmse_all=vel, ts_rmse=2 * vel, ts_rmse_gap=0.0,
                    ts_rmse_filt=vel, vel_rmse_filt=vel, coverage=cov, n_epoch=10, n_pair_used=30,
                    errors_injected=3, errors_found=found, clean_dropped=0)


def _numbers(text: str, row: str) -> list[float]:
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(row))
    return [float(v) for v in re.findall(r"-?\d+\.\d+|-?\d+", line[len(row) + 2:])]


def test_gain_table_ratios() -> None:
    text = gain_table(_acc(1.0, 0.8, 3), _acc(2.0, 0.4, 1), "x")
    assert _numbers(text, "velocity RMS (mm/yr)") == [1.0, 2.0, 0.5]
    assert _numbers(text, "land kept by the mask (%)") == [80.0, 40.0, 2.0]
    assert "3 of 3" in text and "1 of 3" in text
    assert _numbers(gain_table(_acc(1.0, 0.0, 0), _acc(math.nan, 0.0, 0), "x"), "velocity RMS (mm/yr)")[:1] == [1.0]


@pytest.mark.slow
def test_demo_prints_result_then_gain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with figures_skipped():
        figs = run_demo(tmp_path / "demo", size=48, n_epoch=40, seed=2, progress=False)
    out = capsys.readouterr().out
    assert out.index("velocity error") < out.index("gain over the same chain with --preset licsbas")
    for row in ROWS:
        k, lb, *_ = _numbers(out, row)
        assert math.isfinite(k) and math.isfinite(lb), row
    assert (tmp_path / "demo" / "ts_licsbas" / "info" / "parameters.yaml").read_text().count("preset: licsbas") == 1
    assert figs["licsbas_preset"]["vel_rmse"] > 0 and figs["vel_rmse"] > 0
