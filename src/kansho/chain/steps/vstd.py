"""Step 1-4: bootstrap standard deviation of the velocity (Efron & Tibshirani 1986; Morishita et
al. 2020), per block."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kansho._dates import years_since_first
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.tasks import Task
from kansho.velocity import bootstrap_vstd


@dataclass
class VstdResult(StepResult):
    """The number of bootstrap resamples."""

    n_boot: int


def vstd_block(task: Task) -> None:
    """Bootstrap velocity standard deviation of a block (written to ``vstd``)."""
    w = task.work
    t = np.asarray(task.params["t"], np.float64)
    c = np.asarray(w["cum"][:, task.rows, task.cols])
    v = bootstrap_vstd(c.reshape(c.shape[0], -1), t, n_boot=int(task.params["n_boot"]),
                       rng=task.params["seed"])
    w["vstd"][task.rows, task.cols] = np.asarray(v, np.float32).reshape(c.shape[1:])


def step_vstd(ctx: Context) -> VstdResult:
    """Step 1-4 over every block of ``cum``."""
    epochs = np.asarray(ctx.get(LoopsResult).epochs)
    ctx.new_array("vstd", ctx.stack.shape)
    n_boot = ctx.cfg.vstd.n_boot
    ctx.map_blocks(vstd_block, "1-4 vstd", t=years_since_first(epochs), n_boot=n_boot, seed=ctx.cfg.vstd.seed)
    return VstdResult(n_boot=n_boot)


SPEC = StepSpec(name="vstd", licsbas="1-4", title="bootstrap standard deviation of the velocity", run=step_vstd,
                result=VstdResult, inputs=("cum",), outputs=("vstd",), tasks=(vstd_block,), section="vstd")
