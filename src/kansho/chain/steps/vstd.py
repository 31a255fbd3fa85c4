"""Step 1-4: bootstrap standard deviation of the velocity (Efron & Tibshirani 1986; Morishita et
al. 2020), per block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kansho._dates import years_since_first
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.invert import InvertResult
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.tasks import Task
from kansho.velocity import bootstrap_vstd


@dataclass
class VstdResult(StepResult):
    """The number of bootstrap resamples."""

    n_boot: int


#: the first and last row of every block of ``cum`` (time, 2 x block rows, x) and its first and last
#: column (time, y, 2 x block columns): the one-pixel halo that step 1-5's ``stc`` needs around a
#: block, without decompressing the eight neighbouring chunks of every epoch (written here, where
#: each block of ``cum`` is read anyway)
HALO_ROWS, HALO_COLS = "cum_halo_rows", "cum_halo_cols"
#: the attribute of the edge arrays that holds the block side they were kept for
HALO_BLOCK = "block"


def halo_block(work: Any) -> int | None:
    """The block side of the edges that step 1-4 kept in the work group ``work`` (None: no edges, or edges
    kept before their block was recorded)."""
    if HALO_ROWS not in work or HALO_COLS not in work:
        return None
    b = work[HALO_ROWS].attrs.get(HALO_BLOCK)
    return int(b) if b is not None and b == work[HALO_COLS].attrs.get(HALO_BLOCK) else None


def vstd_block(task: Task) -> None:
    """Bootstrap velocity standard deviation of a block (written to ``vstd``; the velocity fitted with
    the epochs' weights of step 1-3, ``params["weights"]``), and the block's edges
    of ``cum`` (:data:`HALO_ROWS`, :data:`HALO_COLS`)."""
    w = task.work
    t = np.asarray(task.params["t"], np.float64)
    c = np.asarray(w["cum"][:, task.rows, task.cols])
    v = bootstrap_vstd(c.reshape(c.shape[0], -1), t, n_boot=int(task.params["n_boot"]),
                       rng=task.params["seed"], weights=task.params.get("weights"))
    w["vstd"][task.rows, task.cols] = np.asarray(v, np.float32).reshape(c.shape[1:])
    i, j = task.rows.start // int(task.params["block"]), task.cols.start // int(task.params["block"])
    w[HALO_ROWS][:, 2 * i:2 * i + 2, task.cols] = c[:, [0, -1], :]
    w[HALO_COLS][:, task.rows, 2 * j:2 * j + 2] = c[:, :, [0, -1]]


def step_vstd(ctx: Context) -> VstdResult:
    """Step 1-4 over every block of ``cum``."""
    epochs = np.asarray(ctx.get(LoopsResult).epochs)
    ctx.new_array("vstd", ctx.stack.shape)
    b = ctx.block
    (ny, nx), ne = ctx.stack.shape, epochs.size
    nby, nbx = -(-ny // b), -(-nx // b)
    for name, shape, chunks in ((HALO_ROWS, (ne, 2 * nby, nx), (ne, 2, min(b, nx))),
                                (HALO_COLS, (ne, ny, 2 * nbx), (ne, min(b, ny), 2))):
        ctx.new_array(name, shape, chunks=chunks).attrs[HALO_BLOCK] = b  # step 1-5 takes the same blocks
    n_boot = ctx.cfg.vstd.n_boot
    ctx.map_blocks(vstd_block, "1-4 vstd", t=years_since_first(epochs), n_boot=n_boot, seed=ctx.cfg.vstd.seed,
                   block=b, weights=ctx.get(InvertResult).weights)
    return VstdResult(n_boot=n_boot)


SPEC = StepSpec(name="vstd", licsbas="1-4", title="bootstrap standard deviation of the velocity", run=step_vstd,
                result=VstdResult, inputs=("cum",), outputs=("vstd", HALO_ROWS, HALO_COLS), tasks=(vstd_block,),
                section="vstd")
