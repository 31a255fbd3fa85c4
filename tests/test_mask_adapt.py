"""Masks that adapt (issue 17): ``mask.adapt`` auto / licsbas / off.

No default may empty a frame silently: on a 1.5-yr series split by a network gap no pixel spans the
default 1 yr, and on a noisy frame the fixed noise thresholds keep almost nothing. ``auto`` relaxes a
threshold no pixel can meet and scales the noise thresholds to the frame's own noise; ``licsbas``
only moves a threshold that alone masks every pixel (LiCSBAS's auto-adjust); ``off`` applies them
as given. A threshold the user gives is honoured.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests._shared import figures_skipped

from kansho import mask as maskmod
from kansho.config import RunConfig, load_config
from kansho.demo import compare_with_truth
from kansho.synth import SimConfig

ALL_DEFAULTS = {"coh_avg": 0.05, "maxTlen": 1.0, "stc": 5.0, "resid_rms": 2.0, "n_loop_err": 5.0, "n_gap": 10.0}


def _indices(rng: np.random.Generator, shape: tuple[int, int] = (50, 60)) -> dict[str, np.ndarray]:
    """Index maps of a short, gap-split, noisy frame: maxTlen 0.85 yr (the longer side of the gap)
    but at 5 % of the pixels, which lack some pairs, less; stc ~ N(8, 1) mm."""
    tlen = np.where(rng.random(shape) < 0.95, 0.85, rng.uniform(0.3, 0.85, shape))
    return {"coh_avg": rng.uniform(0.2, 0.6, shape), "maxTlen": tlen,
            "stc": rng.normal(8.0, 1.0, shape), "resid_rms": rng.normal(1.0, 0.2, shape),
            "n_loop_err": rng.poisson(0.3, shape).astype(float), "n_gap": np.ones(shape)}


def test_off_changes_nothing() -> None:
    ind = _indices(np.random.default_rng(0))
    out, ch = maskmod.adapt_thresholds(ind, ALL_DEFAULTS, np.ones((50, 60), bool), mode="off")
    assert out == ALL_DEFAULTS and ch == []


def test_auto_relaxes_maxTlen_to_what_the_network_allows_and_scales_noise() -> None:
    """maxTlen: 80 % of the best 1 % (0.85 yr) = 0.68; stc: median + 3 robust std = 8 + 3 = 11 mm
    (within 0.3 mm: the robust std of 3000 normal samples is within ~3 % of 1); thresholds that
    already keep the frame's typical pixels are left alone (resid_rms, n_loop_err, coh_avg, n_gap)."""
    ind = _indices(np.random.default_rng(1))
    out, ch = maskmod.adapt_thresholds(ind, ALL_DEFAULTS, np.ones((50, 60), bool), mode="auto")
    assert {c.name for c in ch} == {"maxTlen", "stc"}
    assert out["maxTlen"] == pytest.approx(0.8 * 0.85)
    assert out["stc"] == pytest.approx(11.0, abs=0.3)
    assert {k: out[k] for k in ("resid_rms", "n_loop_err", "coh_avg", "n_gap")} == \
        {k: ALL_DEFAULTS[k] for k in ("resid_rms", "n_loop_err", "coh_avg", "n_gap")}
    res = maskmod.apply_thresholds(ind, out)
    assert res.n_kept > 0.9 * res.n_footprint  # each relaxed criterion removes ~0.1-1 % (3 sigma)
    assert all(c.why for c in ch)


def test_auto_sets_vstd_from_the_frame_both_ways() -> None:
    """vstd: the frame's median + 2 robust std (here 3 + 2 x 0.5 = 4 mm/yr, within 0.1), whether
    that is below the default (100) or above a low given-as-default value."""
    rng = np.random.default_rng(5)
    ind = {"vstd": rng.normal(3.0, 0.5, (60, 60))}
    for thr in (100.0, 1.0):
        out, ch = maskmod.adapt_thresholds(ind, {"vstd": thr}, np.ones((60, 60), bool), mode="auto")
        assert out["vstd"] == pytest.approx(4.0, abs=0.1) and ch[0].old == thr
    out, ch = maskmod.adapt_thresholds(ind, {"vstd": 100.0}, np.ones((60, 60), bool), mode="auto", fixed={"vstd"})
    assert out["vstd"] == 100.0 and ch == []


def test_auto_never_tightens_outlier_thresholds_and_honours_given_ones() -> None:
    rng = np.random.default_rng(2)
    ind = _indices(rng)
    ind["stc"] = rng.normal(1.0, 0.2, (50, 60))  # a quiet frame: 5 mm is already loose
    out, ch = maskmod.adapt_thresholds(ind, ALL_DEFAULTS, np.ones((50, 60), bool), mode="auto",
                                       fixed={"maxTlen"})
    assert out["stc"] == 5.0 and out["maxTlen"] == 1.0 and ch == []


def test_licsbas_moves_only_a_threshold_that_masks_every_pixel() -> None:
    """LiCSBAS's rule: maxTlen (no pixel >= 1) -> floor(0.85) = 0; stc (no pixel <= 5 mm) -> the
    ceiling of its minimum; given thresholds are moved too (LiCSBAS does not tell them apart)."""
    rng = np.random.default_rng(3)
    ind = _indices(rng)
    ind["stc"] = rng.normal(10.0, 1.0, (50, 60))  # no pixel <= 5 mm (5 sigma below the mean)
    out, ch = maskmod.adapt_thresholds(ind, ALL_DEFAULTS, np.ones((50, 60), bool), mode="licsbas",
                                       fixed={"maxTlen"})
    assert out["maxTlen"] == 0.0
    assert out["stc"] == float(np.ceil(ind["stc"].min()))
    ind["stc"][0, 0] = 4.0  # one pixel meets it: unchanged
    out2, _ = maskmod.adapt_thresholds(ind, ALL_DEFAULTS, np.ones((50, 60), bool), mode="licsbas")
    assert out2["stc"] == 5.0 and {c.name for c in ch} == {"maxTlen", "stc"}


@pytest.mark.parametrize("mode", ["auto", "licsbas"])
def test_criteria_judged_on_threads_as_in_turn(mode: str) -> None:
    """The criteria are judged on the cores (:func:`kansho._threads.map_threads`): the thresholds and the
    changes, in the criteria's order, are those of judging them one after the other on one thread."""
    from kansho._threads import alone

    rng = np.random.default_rng(3)
    ind = _indices(rng)
    ind["vstd"] = rng.gamma(2.0, 0.5, (50, 60))
    thr = {**ALL_DEFAULTS, "vstd": 100.0, "maxTlen": 5.0}
    where = rng.random((50, 60)) < 0.9
    many = maskmod.adapt_thresholds(ind, thr, where, mode=mode)  # type: ignore[arg-type]
    with alone():
        one = maskmod.adapt_thresholds(ind, thr, where, mode=mode)  # type: ignore[arg-type]
    assert many == one
    assert [c.name for c in many[1]] == [k for k in thr if k in {c.name for c in many[1]}]
    assert len(many[1]) >= (3 if mode == "auto" else 1)


def test_only_the_pixels_judged_count() -> None:
    """Unsolved pixels (``where`` False) do not enter the statistics."""
    ind = _indices(np.random.default_rng(4))
    where = np.zeros((50, 60), bool)
    where[:10] = True
    ind["maxTlen"][:10] = 2.0  # the solved pixels span 2 yr: 1 yr is met
    out, ch = maskmod.adapt_thresholds(ind, ALL_DEFAULTS, where, mode="auto")
    assert out["maxTlen"] == 1.0 and "maxTlen" not in {c.name for c in ch}


def test_band_defaults_are_not_given_values() -> None:
    """L-band defaults are set by apply_band_defaults, not by the user: they stay adaptable."""
    cfg = load_config(None, {"band": "L", "mask.stc": 3.0})
    assert cfg.mask.vstd == 200.0 and cfg.mask.model_fields_set == {"stc"}


# ------------------------------------------------------------------------------------- the chain
GAP_FRAME = SimConfig(shape=(48, 48), n_epoch=24, interval_days=24)  # ~1.5 yr split by a gap: < 1 yr each side


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """(input, finished default run, truth) of the gap-split frame."""
    from kansho.synth import simulate_frame

    root = tmp_path_factory.mktemp("gapframe")
    truth = simulate_frame(root / "sim", GAP_FRAME, rng=3)
    _run(root / "sim" / "GEOC", root / "run", RunConfig())
    return root / "sim" / "GEOC", root / "run", truth


def _run(geoc: Path, out: Path, cfg: RunConfig) -> Any:
    from kansho import run_timeseries

    with figures_skipped():
        return run_timeseries(geoc, out, cfg, progress=False)


def test_gap_split_series_is_not_masked_away(gap_run: tuple[Path, Path, Any]) -> None:
    """Default options: maxTlen relaxed (recorded and in info/15mask_stats.txt), >= 60 % of land
    kept, a finite velocity error."""
    from kansho.run import open_run

    _, out, truth = gap_run
    run = open_run(out)
    mres: Any = run.result("mask")
    assert "maxTlen" in mres.adapted and mres.adapted["maxTlen"][0] == 1.0 and mres.adapted["maxTlen"][1] < 1.0
    acc = compare_with_truth(run, truth)
    assert acc.coverage >= 0.6 and np.isfinite(acc.vel_rmse)
    stats = (out / "info" / "15mask_stats.txt").read_text()
    assert "ADAPTED maxTlen" in stats and "(adapted)" in stats


def test_adapt_off_is_the_old_empty_mask(gap_run: tuple[Path, Path, Any], copy_run: Any) -> None:
    """With adapt off the default 1 yr empties the frame (the bug); only the mask step onwards re-run."""
    geoc, out, _ = gap_run
    cfg = RunConfig()
    cfg.mask.adapt = "off"
    off = _run(geoc, copy_run(out, "off"), cfg)
    mres: Any = off.result("mask")
    assert mres.n_kept == 0 and mres.adapted == {}
    assert off.timings["invert"] == 0  # up to date


def test_given_impossible_threshold_is_honoured_with_a_warning(gap_run: tuple[Path, Path, Any], copy_run: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    geoc, out, _ = gap_run
    cfg = load_config(None, {"mask.maxTlen": 1.2})
    with caplog.at_level(logging.WARNING):
        run = _run(geoc, copy_run(out, "given"), cfg)
    mres: Any = run.result("mask")
    assert mres.thresholds["maxTlen"] == 1.2 and "maxTlen" not in mres.adapted and mres.n_kept == 0
    assert any("given threshold maxTlen" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_demo_like_frame_finite_error_and_coverage(tmp_path: Path) -> None:
    """``kansho demo --size 100 --epochs 24`` printed 'velocity error RMS nan' (maxTlen emptied it)."""
    from kansho.demo import demo_sim_config
    from kansho.synth import simulate_frame

    truth = simulate_frame(tmp_path / "sim", demo_sim_config(100, 24), rng=1)
    acc = compare_with_truth(_run(tmp_path / "sim" / "GEOC", tmp_path / "ts", RunConfig()), truth)
    assert np.isfinite(acc.vel_rmse) and acc.coverage >= 0.6


@pytest.mark.slow
def test_noisy_ten_look_frame_keeps_most_and_masked_error_is_lower(tmp_path: Path) -> None:
    """10 looks, ~2 rad of turbulence: >= 60 % of land kept, and the masked velocity error is lower
    than the error over every solved pixel (the mask removes the frame's own outliers)."""
    from kansho.synth import simulate_frame

    cfg = SimConfig(shape=(100, 100), n_epoch=40, interval_days=24, looks=10, atm_turb_mm=9.0)
    truth = simulate_frame(tmp_path / "sim", cfg, rng=1)
    acc = compare_with_truth(_run(tmp_path / "sim" / "GEOC", tmp_path / "ts", RunConfig()), truth)
    assert acc.coverage >= 0.6
    assert acc.vel_rmse < acc.vel_rmse_all


def test_a_threshold_given_at_its_default_value_changes_the_mask_steps_key() -> None:
    """``mask.adapt auto`` treats a given threshold as fixed, so giving ``--stc 5`` (the default
    value) may change the mask: the mask step records which thresholds were given, and its skip key
    computed again from a config where the value was given differs from the key of a default run."""
    from kansho.chain.options import Options, skip_key, value_of
    from kansho.config import load_config

    default, given = load_config(None, {}), load_config(None, {"mask.stc": 5.0})
    assert default.mask.stc == given.mask.stc
    opts = Options(default)
    assert opts.given("mask") == set()
    reads = dict(opts.reads)
    again = {name: value_of(given, name) for name in reads}
    assert again == {"mask:given": ["stc"]}
    assert skip_key("mask", reads, "") != skip_key("mask", again, "")
