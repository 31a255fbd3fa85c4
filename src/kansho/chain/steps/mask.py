"""Step 1-5: spatio-temporal consistency (Hanssen 2001) and the noisy-pixel mask, with what each
threshold removed on its own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kansho import mask as maskmod
from kansho.chain import common
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.steps.vstd import HALO_COLS, HALO_ROWS, halo_block
from kansho.chain.tasks import Task

log = logging.getLogger(__name__)


@dataclass
class MaskResult(StepResult):
    """Thresholds applied (None = off), pixels each removed alone, solved and kept pixels, warnings;
    ``adapted``: criterion -> [threshold asked, threshold applied, why] (``mask.adapt``)."""

    thresholds: dict[str, float | None]
    removed: dict[str, int]
    n_valid: int
    n_kept: int
    warnings: list[str]
    adapted: dict[str, list[float | str]] = field(default_factory=dict)


def stc_block(task: Task) -> None:
    """Spatio-temporal consistency of a block, read with a one-pixel halo (written to ``stc``).

    The halo comes from the block edges step 1-4 kept (:data:`~kansho.chain.steps.vstd.HALO_ROWS`),
    so only the block's own chunks of ``cum`` are decompressed; the values are the same."""
    w = task.work
    cum = w["cum"]
    ny, nx = cum.shape[1:]
    rows, cols = task.rows, task.cols
    r0, r1 = max(rows.start - 1, 0), min(rows.stop + 1, ny)
    c0, c1 = max(cols.start - 1, 0), min(cols.stop + 1, nx)
    s = maskmod.stc(_with_halo(w, rows, cols, (r0, r1, c0, c1), int(task.params["block"]),
                               bool(task.params["edges"])))
    w["stc"][rows, cols] = s[rows.start - r0: rows.stop - r0, cols.start - c0: cols.stop - c0]


def _with_halo(w: Any, rows: slice, cols: slice, box: tuple[int, int, int, int], b: int, edges: bool
               ) -> np.ndarray:
    """``cum[:, r0:r1, c0:c1]`` (``box``) of the block ``rows, cols`` (block size ``b``): the block itself from
    ``cum`` and the rows and columns around it from the edges of its neighbours, where step 1-4 kept ``edges``
    for these blocks (:func:`~kansho.chain.steps.vstd.halo_block`), else all of it from ``cum``."""
    r0, r1, c0, c1 = box
    if not edges:
        return np.asarray(w["cum"][:, r0:r1, c0:c1])
    core = np.asarray(w["cum"][:, rows, cols])
    out = np.empty((core.shape[0], r1 - r0, c1 - c0), core.dtype)
    ir, ic = slice(rows.start - r0, rows.stop - r0), slice(cols.start - c0, cols.stop - c0)
    out[:, ir, ic] = core
    i, j = rows.start // b, cols.start // b
    if r0 < rows.start:  # the last row of the block above, corners included
        out[:, 0, :] = w[HALO_ROWS][:, 2 * i - 1, c0:c1]
    if r1 > rows.stop:  # the first row of the block below
        out[:, -1, :] = w[HALO_ROWS][:, 2 * i + 2, c0:c1]
    if c0 < cols.start:
        out[:, ir, 0] = w[HALO_COLS][:, rows, 2 * j - 1]
    if c1 > cols.stop:
        out[:, ir, -1] = w[HALO_COLS][:, rows, 2 * j + 2]
    return out


def step_mask(ctx: Context) -> MaskResult:
    """Step 1-5: ``stc`` per block, then the thresholds on the index maps."""
    st = ctx.stack
    ne = len(ctx.get(LoopsResult).epochs)
    kept = halo_block(ctx.work)
    if kept is not None and kept != ctx.block:  # step 1-4 ran with other blocks (other memory or block options)
        log.info("1-5: blocks of %d px, as step 1-4 kept their edges (not %d)", kept, ctx.block)
        ctx.block = kept
    # edges kept before step 1-4 recorded their blocks may be another partition's: the halo is then read from cum
    ctx.new_array("stc", st.shape)
    ctx.map_blocks(stc_block, "1-5 stc", block=ctx.block, edges=kept is not None)
    m = ctx.cfg.mask
    thresholds = {"coh_avg": m.coh_avg, "n_unw": None if m.n_unw_factor is None else m.n_unw_factor * ne,
                  "vstd": m.vstd, "maxTlen": m.maxTlen, "n_gap": m.n_gap, "stc": m.stc,
                  "n_ifg_noloop": m.n_ifg_noloop, "n_loop_err": m.n_loop_err, "resid_rms": m.resid_rms,
                  "n_unchecked": m.n_unchecked, "ph_bias": m.ph_bias}
    indices = ctx.read2d_many([*thresholds, "vel"])
    vel = indices.pop("vel")
    pre: list[str] = []
    if thresholds["coh_avg"] is not None and not np.isfinite(indices["coh_avg"]).any():
        pre.append("no coherence in the input: the coh_avg criterion is off (no data)")
        log.warning("1-5: %s", pre[-1])
        thresholds["coh_avg"] = None
    with common.frame_piece_alone(ctx):  # each criterion's float64 copy of its map, on two threads where it fits
        thresholds, adapted = _adapt(ctx, indices, thresholds, np.isfinite(vel))
    if any(v is not None for v in thresholds.values()):
        res = maskmod.apply_thresholds(indices, thresholds)
        keep = np.asarray(res.mask, bool) & np.isfinite(vel)
        removed = {k: int(np.asarray(v).sum()) for k, v in res.removed.items()}
        warns = pre + list(res.warnings)
    else:
        keep, removed, warns = np.isfinite(vel), {}, pre
    mask_a = ctx.new_array("mask", st.shape)
    mask_a[:] = np.where(np.isfinite(vel), keep.astype(np.float32), np.nan)
    n_valid = int(np.isfinite(vel).sum())
    n_kept = int(keep.sum())
    if n_valid and n_kept == 0:
        warns.append("the mask removes every solved pixel: check the thresholds (info/15mask_stats.txt)")
        log.warning("1-5: THE MASK REMOVES EVERY PIXEL: check the thresholds in info/15mask_stats.txt")
    return MaskResult(thresholds=thresholds, removed=removed, n_valid=n_valid, n_kept=n_kept, warnings=warns,
                      adapted=adapted)


#: the options of the thresholds (MaskConfig field) by criterion
_OPTION_OF = {"n_unw": "n_unw_factor"}


def _adapt(ctx: Context, indices: dict[str, np.ndarray], thresholds: dict[str, float | None], solved: np.ndarray
           ) -> tuple[dict[str, float | None], dict[str, list[float | str]]]:
    """``mask.adapt`` applied (:func:`kansho.mask.adapt_thresholds`); every change logged.

    A threshold the user gave (a field set on the command line or in the config file, which
    :func:`kansho.config.apply_band_defaults` leaves unmarked) is fixed for ``auto``.
    """
    mode = ctx.cfg.mask.adapt
    given = ctx.options.given("mask")
    fixed = {k for k in thresholds if _OPTION_OF.get(k, k) in given}
    out, changes = maskmod.adapt_thresholds(indices, thresholds, solved, mode=mode, fixed=fixed)
    for ch in changes:
        log.warning("1-5: mask threshold adapted (mask.adapt=%s): %s", mode, ch.text())
    for k in sorted(fixed):
        thr = thresholds[k]
        a = indices[k][solved & np.isfinite(indices[k])]
        if thr is None or a.size == 0:
            continue
        passing = maskmod.passes(a, thr, k)  # in float64, as the mask itself judges (a float32 map)
        if passing.mean() < maskmod.MIN_PASS:
            log.warning("1-5: the given threshold %s %g lets only %.2g %% of the pixels pass; kept as given",
                        k, thr, 100 * passing.mean())
    return out, {ch.name: [ch.old, ch.new, ch.why] for ch in changes}


SPEC = StepSpec(name="mask", licsbas="1-5", title="mask noisy pixels", run=step_mask, result=MaskResult,
                inputs=("cum", "vel", "vstd", "coh_avg", "n_unw", "maxTlen", "n_gap", "n_ifg_noloop", "n_loop_err",
                        "resid_rms", "n_unchecked", "ph_bias"),
                outputs=("stc", "mask"), tasks=(stc_block,), section="mask")
