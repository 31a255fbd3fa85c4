"""Step 1-1: per-pair coverage and mean coherence; drop poor pairs and orphaned epochs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kansho import qc
from kansho.chain import common
from kansho.chain.context import Context
from kansho.chain.spec import StepSpec
from kansho.chain.tasks import Task
from kansho.errors import InputError, NetworkError
from kansho.stack_sums import read_sums

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
    Returns (n_valid, coherence sums in units of 1 / COH_SCALE) of the pairs read, the footprint count,
    and whether it grew.
    """
    st, w = task.stack, task.work
    p = task.params
    start, base, dest = int(p.get("start", 0)), p.get("base"), str(p.get("dest", ""))
    sel = np.arange(start, st.n_pair) if start else None
    u = st.read("unw", task.rows, task.cols, sel)
    c = st.read("coh", task.rows, task.cols, sel)
    prior = None
    grew = False
    footprint = None
    if base is not None:
        nv0, cn0, cs0 = (np.asarray(w[base + n][task.rows, task.cols]).ravel() for n in
                         ("qc_n_valid", "qc_coh_n", "qc_coh_sum"))
        prior = (nv0, cn0, cs0)
        footprint = nv0 > 0
        grew = bool((np.isfinite(u) & ~footprint.reshape(task.shape)).any())
    b = qc.block_sums(u, c, footprint, prior)
    _write_pixels(w, dest, (task.rows, task.cols), b.n_valid, b.coh_n, b.coh_sum)
    return b.pair_n_valid, b.pair_coh_fixed, b.n_total, grew


def _write_pixels(w: Any, dest: str, win: tuple[slice, slice], n_valid: np.ndarray, coh_n: np.ndarray,
                  coh_sum: np.ndarray) -> None:
    """Write the per-pixel accumulators and the mean coherence into the work arrays ``dest + name``."""
    shp = (win[0].stop - win[0].start, win[1].stop - win[1].start)
    w[dest + "qc_n_valid"][win] = n_valid.reshape(shp)
    w[dest + "qc_coh_n"][win] = coh_n.reshape(shp)
    w[dest + "qc_coh_sum"][win] = coh_sum.reshape(shp)
    with np.errstate(invalid="ignore", divide="ignore"):
        w[dest + "qc_coh_avg"][win] = np.where(coh_n > 0, coh_sum / coh_n, np.nan).reshape(shp)


def step_qc(ctx: Context) -> QCResult:
    """Step 1-1. After an update that appended pairs to the stack store, only the new pairs are
    read: the per-pair sums of the others and the per-pixel accumulators come from the last run
    (:func:`kansho.chain.common.previous`), unless the new pairs enlarge the frame's footprint.
    Otherwise the sums ingest took as it wrote the store (:mod:`kansho.stack_sums`) are used when it
    has them, and the stack is read when not.
    """
    st = ctx.stack
    npair = st.n_pair
    prev = common.previous(ctx, "qc", QCResult, QC_ARRAYS)
    sums = _qc_update(ctx, prev) if prev is not None else None
    if sums is None:
        common.new_arrays(ctx, QC_ARRAYS)
        sums = _from_ingest(ctx)
        if sums is None:
            n_valid, coh_fixed, n_foot = np.zeros(npair, np.int64), np.zeros(npair, np.int64), 0
            for nv, cs, nt, _ in ctx.map_blocks(qc_block, "1-1 qc"):
                n_valid += nv
                coh_fixed += cs
                n_foot += nt
            sums = n_valid, coh_fixed, n_foot
        common.mark_arrays(ctx, QC_ARRAYS, npair)
        incremental = False
    else:
        incremental = True
    n_valid, coh_fixed, n_foot = sums
    if n_foot == 0:
        raise InputError(st.path, "no valid pixel in any interferogram")
    coverage, mean_coh = qc.pair_ratios(n_valid, coh_fixed, n_foot)
    coh_sum = qc.coh_sum(coh_fixed)
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
                    coh_sum=coh_sum.tolist(), incremental=incremental, **common.stamp(ctx))


def _from_ingest(ctx: Context) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The sums ingest stored with the stack (per-pixel ones copied into the work arrays), or None."""
    st = ctx.stack
    s = read_sums(st.group, st.n_pair)
    if s is None:
        return None
    ny, nx = st.shape
    step = ctx.options.model.block_size
    arrays = {n: ctx.array(n) for n in QC_ARRAYS}  # written by their chunk files (kansho.chunkio), not zarr's loop
    for r0 in range(0, ny, step):  # a strip of rows at a time: memory that of a block's row
        win = (slice(r0, min(r0 + step, ny)), slice(0, nx))
        _write_pixels(arrays, "", win, *(np.asarray(a[win]) for a in s.pixels))
    log.info("1-1: the statistics ingest took as it wrote the stack store (nothing read)")
    return s.pair_n_valid, s.pair_coh_fixed, s.n_footprint


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
    coh_fixed = np.concatenate([_fixed(prev.coh_sum), sum(o[1] for o in out)])
    common.mark_arrays(ctx, [common.NEXT + n for n in QC_ARRAYS], st.n_pair)
    common.swap_next(ctx, QC_ARRAYS)
    log.info("1-1: %d new pairs measured; the %d others as in the last run", st.n_pair - m, m)
    return n_valid, coh_fixed, int(prev.n_footprint)


def _fixed(coh_sum: list[float]) -> np.ndarray:
    """The last run's per-pair coherence sums back in units of 1 / COH_SCALE: each was ``float(n) / COH_SCALE``
    of such an integer ``n``, so this gives ``float(n)`` back and the same mean as a run over every pair."""
    return np.rint(np.asarray(coh_sum, np.float64) * qc.COH_SCALE).astype(np.int64)


SPEC = StepSpec(name="qc", licsbas="1-1", title="drop pairs of poor coverage or coherence", run=step_qc,
                result=QCResult, outputs=QC_ARRAYS, tasks=(qc_block,), section="qc", kernels=False)
