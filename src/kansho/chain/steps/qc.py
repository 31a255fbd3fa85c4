"""Step 1-1: per-pair coverage and mean coherence; drop poor pairs and orphaned epochs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from kansho import qc
from kansho.chain import common
from kansho.chain.context import Context
from kansho.chain.spec import StepSpec
from kansho.chain.tasks import Task
from kansho.errors import InputError, NetworkError

log = logging.getLogger(__name__)

QC_ARRAYS = ("qc_n_valid", "qc_coh_n", "qc_coh_sum", "qc_coh_avg")


@dataclass
class QCResult(common.Stamped):
    """Per pair (store order): coverage, mean coherence (NaN without coherence), kept, why not;
    the footprint and the per-pair sums an update continues from."""

    coverage: list[float]
    mean_coh: list[float]
    keep: list[bool]
    reason: list[str]
    n_footprint: int
    n_valid: list[int]
    coh_sum: list[float]
    incremental: bool


def qc_block(task: Task) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Per-pair valid counts and coherence sums of a block, and the per-pixel accumulators.

    Reads pairs ``params["start"]:`` (0: all). With ``params["base"]`` (a prefix of work-array
    names) the per-pixel accumulators continue from those arrays, which cover the pairs before
    ``start`` (an update), and the footprint is theirs; the block then also reports whether the
    new pairs enlarge the footprint (the per-pair sums of the earlier pairs would change).
    Writes ``<dest>qc_n_valid``, ``<dest>qc_coh_n``, ``<dest>qc_coh_sum`` and ``<dest>qc_coh_avg``.
    Returns (n_valid, coh_sum) of the pairs read, the footprint count, and whether it grew.
    """
    st, w = task.stack, task.work
    p = task.params
    start, base, dest = int(p.get("start", 0)), p.get("base"), str(p.get("dest", ""))
    sel = np.arange(start, st.n_pair) if start else None
    u = st.read("unw", task.rows, task.cols, sel)
    c = st.read("coh", task.rows, task.cols, sel)
    npair = u.shape[0]
    u, c = u.reshape(npair, -1), c.reshape(npair, -1)
    prior = None
    grew = False
    footprint = None
    if base is not None:
        nv0, cn0, cs0 = (np.asarray(w[base + n][task.rows, task.cols]).ravel() for n in
                         ("qc_n_valid", "qc_coh_n", "qc_coh_sum"))
        prior = (nv0, cn0, cs0)
        footprint = nv0 > 0
        grew = bool((np.isfinite(u) & ~footprint).any())
    nv, cs, nt = qc.pair_sums(u, c, footprint)
    n_valid, coh_n, coh_sum = qc.pixel_sums(u, c, prior)
    shp = task.shape
    w[dest + "qc_n_valid"][task.rows, task.cols] = n_valid.reshape(shp)
    w[dest + "qc_coh_n"][task.rows, task.cols] = coh_n.reshape(shp)
    w[dest + "qc_coh_sum"][task.rows, task.cols] = coh_sum.reshape(shp)
    with np.errstate(invalid="ignore", divide="ignore"):
        w[dest + "qc_coh_avg"][task.rows, task.cols] = np.where(coh_n > 0, coh_sum / coh_n, np.nan).reshape(shp)
    return np.asarray(nv, np.int64), np.asarray(cs, np.float64), int(nt), grew


def step_qc(ctx: Context) -> QCResult:
    """Step 1-1. After an update that appended pairs to the stack store, only the new pairs are
    read: the per-pair sums of the others and the per-pixel accumulators come from the last run
    (:func:`kansho.chain.common.previous`), unless the new pairs enlarge the frame's footprint.
    """
    st = ctx.stack
    npair = st.n_pair
    prev = common.previous(ctx, "qc", QCResult, QC_ARRAYS)
    sums = _qc_update(ctx, prev) if prev is not None else None
    if sums is None:
        common.new_arrays(ctx, QC_ARRAYS)
        n_valid, coh_sum, n_foot = np.zeros(npair, np.int64), np.zeros(npair, np.float64), 0
        for nv, cs, nt, _ in ctx.map_blocks(qc_block, "1-1 qc"):
            n_valid += nv
            coh_sum += cs
            n_foot += nt
        common.mark_arrays(ctx, QC_ARRAYS, npair)
    else:
        n_valid, coh_sum, n_foot = sums
    if n_foot == 0:
        raise InputError(st.path, "no valid pixel in any interferogram")
    coverage, mean_coh = qc.pair_ratios(n_valid, coh_sum, n_foot)
    has_coh = bool(np.any(coh_sum > 0))
    if not has_coh:  # GeoTIFF pairs given without coherence
        log.warning("1-1: no coherence in the input; the coherence test is skipped")
        mean_coh = np.full(npair, np.nan)
    res = qc.select_pairs(coverage, mean_coh, common.pair_index(st), st.epochs.size,
                          min_coverage=ctx.cfg.qc.min_coverage, min_coh=ctx.cfg.qc.min_coh if has_coh else None)
    keep = np.asarray(res.keep, bool)
    if keep.sum() == 0:
        raise NetworkError(f"{st.path}: step 1-1 dropped every interferogram (coverage/coherence thresholds)")
    log.info("1-1: kept %d of %d pairs (%d dropped)", keep.sum(), npair, (~keep).sum())
    return QCResult(coverage=coverage.tolist(), mean_coh=mean_coh.tolist(), keep=keep.tolist(),
                    reason=list(res.reason), n_footprint=int(n_foot), n_valid=n_valid.tolist(),
                    coh_sum=coh_sum.tolist(), incremental=sums is not None, **common.stamp(ctx))


def _qc_update(ctx: Context, prev: QCResult) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Step 1-1 on the appended pairs only; None when they enlarge the footprint (run it in full)."""
    st = ctx.stack
    m = int(prev.n_pair)
    common.new_arrays(ctx, QC_ARRAYS, common.NEXT)
    out = ctx.map_blocks(qc_block, "1-1 qc (new pairs)", start=m, base="", dest=common.NEXT)
    if any(g for *_, g in out):
        log.info("1-1: the new pairs reach pixels no earlier pair did; every pair is measured again")
        for name in QC_ARRAYS:
            del ctx.work[common.NEXT + name]
        return None
    n_valid = np.concatenate([np.asarray(prev.n_valid, np.int64), sum(o[0] for o in out)])
    coh_sum = np.concatenate([np.asarray(prev.coh_sum, np.float64), sum(o[1] for o in out)])
    common.mark_arrays(ctx, [common.NEXT + n for n in QC_ARRAYS], st.n_pair)
    common.swap_next(ctx, QC_ARRAYS)
    log.info("1-1: %d new pairs measured; the %d others as in the last run", st.n_pair - m, m)
    return n_valid, coh_sum, int(prev.n_footprint)


SPEC = StepSpec(name="qc", licsbas="1-1", title="drop pairs of poor coverage or coherence", run=step_qc,
                result=QCResult, outputs=QC_ARRAYS, tasks=(qc_block,), section="qc")
