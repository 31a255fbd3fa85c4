"""The runs whose products are held unchanged (see :mod:`tests.golden.digest`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kansho.config import RunConfig


def _demo(out: Path) -> Path:
    from kansho import run_timeseries
    from kansho.demo import demo_sim_config
    from kansho.synth import simulate_frame

    simulate_frame(out / "sim", demo_sim_config(), rng=1)
    run_timeseries(out / "sim" / "GEOC", out / "ts", RunConfig(), progress=False)
    return out / "ts"


def _mexico(out: Path) -> Path:
    from kansho import run_timeseries
    from kansho.demo import bundled_real_stack, real_config

    run_timeseries(bundled_real_stack(), out / "ts", real_config(), progress=False)
    return out / "ts"


def _options(out: Path) -> Path:
    """A smaller frame with the non-default paths on: multilook, annual model, coherence weights,
    a user reference, ramp + height removal and LiCSBAS's Gaussian filter with the local-linear
    temporal high-pass."""
    from kansho import run_timeseries
    from kansho.demo import demo_sim_config
    from kansho.synth import simulate_frame

    simulate_frame(out / "sim", demo_sim_config(120, 30), rng=7)
    cfg = RunConfig()
    cfg.ingest.nlook = 2
    cfg.invert.model = "annual"
    cfg.invert.coh_weight = True
    cfg.loops.ref = "20:24/30:34"
    cfg.filter.deramp = 2
    cfg.filter.hgt_corr = True
    cfg.filter.method = "gaussian"  # the default is adaptive (the demo case): keep LiCSBAS's filter covered
    cfg.filter.temporal_order = 1
    cfg.mask.maxTlen = 0.5
    run_timeseries(out / "sim" / "GEOC", out / "ts", cfg, progress=False)
    return out / "ts"


CASES: dict[str, Callable[[Path], Path]] = {"demo": _demo, "mexico": _mexico, "options": _options}
