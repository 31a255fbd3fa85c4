"""The worked example of docs/architecture.md: a new chain step in one module.

``velstats`` (after step 1-5) writes ``info/15vel_stats.txt``: percentiles of the velocity over the
pixels the mask keeps, reading only the work arrays ``vel`` and ``mask`` and one option
(``mask.vstd``, to report it beside the figures). Registering it is one line in
``kansho.chain.registry.STEPS``; tests/test_chain.py inserts it there and runs the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kansho._files import write_text_atomic
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec


@dataclass
class VelStatsResult(StepResult):
    """5th, 50th and 95th percentile of the kept pixels' velocity (mm/yr) and their number."""

    p05: float
    p50: float
    p95: float
    n_kept: int


def step_velstats(ctx: Context) -> VelStatsResult:
    vel = ctx.read2d("vel")
    kept = vel[(ctx.read2d("mask") == 1) & np.isfinite(vel)]
    p05, p50, p95 = (float(np.percentile(kept, q)) for q in (5, 50, 95)) if kept.size else (np.nan,) * 3
    ctx.layout.info.mkdir(parents=True, exist_ok=True)
    write_text_atomic(ctx.layout.info / "15vel_stats.txt",
                      f"# kept pixels (vstd <= {ctx.cfg.mask.vstd} mm/yr): {kept.size}\n"
                      f"p05 {p05:.3f}\np50 {p50:.3f}\np95 {p95:.3f}\n")
    return VelStatsResult(p05=p05, p50=p50, p95=p95, n_kept=int(kept.size))


SPEC = StepSpec(name="velstats", licsbas="1-5b", title="velocity percentiles of the kept pixels",
                run=step_velstats, result=VelStatsResult, inputs=("vel", "mask"))
