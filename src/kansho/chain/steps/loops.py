"""Step 1-2: loop closure, unwrapping errors, per-pixel loop statistics and the reference area.

First, unless ``loops.pixel_errors`` is ``off``, each interferogram is checked on its own for regions
whose unwrapped phase is off by whole cycles from the rest (:func:`kansho.jumps.cycle_jumps`,
``loops.spatial_errors``; the work array :data:`~kansho.chain.steps.loop_tasks.JUMP_ARRAY`): the one
check of a pair that no loop checks, and for the others one that leaves the loops less to explain.
Then unwrapping errors are corrected pixel by pixel
where the triangle loops' misclosures (near non-zero multiples of 2π) determine them, and the pixel
is nulled in the pairs concerned where they do not (:func:`kansho.loops.pixel_cycle_fix`; the
work array :data:`~kansho.chain.steps.loop_tasks.FIX_ARRAY`, which every later reader of the
stack's phase applies through :func:`~kansho.chain.steps.loop_tasks.read_unw`). Then, on the
corrected phase, pairs whose loops still close badly are dropped (Morishita et al. 2020, after
Biggs et al. 2007), so a pair is dropped only if correcting did not repair it; a pair in no loop is
checked by the residual of a preliminary inversion; the run's one reference area is chosen (or the
user's is checked). After an update without the per-pixel correction, loops and per-pixel sums of
the last run are continued, reading only what is new (with it, every pair is read again: a new
pair brings new loops, and so new evidence, to the earlier pairs' pixels).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from kansho import loopfix, loops, network
from kansho._constants import phase_to_mm
from kansho._dates import years_since_first
from kansho.chain import common
from kansho.chain.context import Context
from kansho.chain.spec import StepSpec
from kansho.chain.steps import reference
from kansho.chain.steps.loop_tasks import (
    FIX_ARRAY,
    JUMP_ARRAY,
    N_CORRECTED,
    PIXEL_LOOP_ARRAYS,
    fix_block,
    jump_chunk,
    loop_sums_block,
    pass_work,
    pixel_loop_block,
    read_jumped,
)
from kansho.chain.steps.qc import QCResult
from kansho.errors import NetworkError
from kansho.store import PAIR_CHUNK, fast_codec

log = logging.getLogger(__name__)


@dataclass
class LoopsResult(common.Stamped):
    """Pairs (store indices) and loops of step 1-2, the run's epochs and its reference area.

    ``pairs_in``: pairs kept by 1-1; ``loops``: each triangle loop's pairs; ``loop_rms``: its RMS
    (rad, -1 without data); ``bad``: dropped by loop closure; ``no_loop``: in no loop;
    ``bad_noloop``: in no loop and dropped by the residual check; ``pairs``/``epochs``: what the
    inversion uses; ``ref``: (row0, row1, col0, col1) end-exclusive: the reference box, or for a
    reference set a representative window inside it; ``ref_offsets``: each used pair's phase over
    the reference (rad); ``ref_kind``: box (--ref), window or set; ``ref_pixels``: its pixels (the
    work array ``refmask`` holds them).
    ``pixel_errors``: the per-pixel correction used; ``n_fixed``/``n_nulled``: per pair of
    ``pairs_in``, the pixels corrected / nulled by it (the spatial check's included).
    ``spatial_errors``: the spatial check used; ``n_jumped``/``n_jump_regions``: per pair of
    ``pairs_in``, the pixels it moved by whole cycles before the loops, and the regions.
    """

    pairs_in: list[int]
    loop_rms: list[float]
    loops: list[list[int]]
    ref0: list[int]
    loops_reused: int
    pixels_updated: bool
    bad: list[int]
    no_loop: list[int]
    n_loops: list[int]
    n_bad_loops: list[int]
    bad_noloop: list[int]
    pairs: list[int]
    epochs: list[int]
    ref: list[int]
    ref_how: str
    ref_offsets: list[float]
    pixel_loop_threshold: float
    ref_kind: str = "window"
    ref_pixels: int = 0
    pixel_errors: str = "off"
    n_fixed: list[int] = field(default_factory=list)
    n_nulled: list[int] = field(default_factory=list)
    spatial_errors: str = "off"
    n_jumped: list[int] = field(default_factory=list)
    n_jump_regions: list[int] = field(default_factory=list)


def step_loops(ctx: Context) -> LoopsResult:
    """Step 1-2 (see the module docstring)."""
    st = ctx.stack
    lcfg = ctx.cfg.loops
    idx_qc = np.flatnonzero(np.asarray(ctx.get(QCResult).keep, bool))
    epochs_qc, pairs_qc = common.subnetwork(st, idx_qc)
    L = network.triangle_loops(pairs_qc)
    log.info("1-2: %d pairs, %d epochs, %d triangle loops", idx_qc.size, epochs_qc.size, L.shape[0])

    coh_all = ctx.read2d("qc_coh_avg")
    ref0 = reference.preliminary_reference(ctx, coh_all)
    off0 = reference.ref_offsets(st, idx_qc, ref0)
    members = _loop_members(L, idx_qc)
    mode = lcfg.pixel_errors
    n_jump = np.zeros((2, idx_qc.size), np.int64)
    if mode == "off":
        _drop_fix(ctx)
        loop_rms, n_reused = _loop_rms(ctx, L, idx_qc, off0, members, ref0)
        n_fix, n_null = np.zeros(idx_qc.size, np.int64), np.zeros(idx_qc.size, np.int64)
    else:
        n_jump = _jump_pass(ctx, idx_qc)
        r0, r1, c0, c1 = ref0
        win = read_jumped(st, ctx.work, slice(r0, r1), slice(c0, c1), idx_qc)[0].reshape(idx_qc.size, -1)
        loop_rms, n_fix, n_null, n_inloop, off0 = _fix_pass(ctx, L, pairs_qc, idx_qc, win, mode)
        n_reused = 0
    bad = loops.find_bad_pairs(np.nan_to_num(loop_rms, nan=0.0), L, threshold=lcfg.loop_rms_threshold)
    bad_mask = np.asarray(bad.bad, bool)
    idx = idx_qc[~bad_mask]
    if idx.size < 2:
        raise NetworkError(f"{st.path}: fewer than 2 interferograms left after loop closure")
    off_of = dict(zip(idx_qc.tolist(), off0.tolist(), strict=True))
    # a pair the loops corrected in places may hold the same error where no loop checks it
    suspect = None if mode == "off" else {int(i) for i in idx_qc[n_inloop[1] + n_null > SUSPECT_FRAC * n_inloop[0]]}
    idx, epochs_f, pix_upd, flagged_noloop, nulled = _pixel_statistics(ctx, idx, off_of, ref0, suspect)
    for i, k in nulled.items():
        n_null[np.flatnonzero(idx_qc == i)] += k
    ref = reference.final_reference(ctx, idx, coh_all)
    log.info("1-2: %d bad pairs dropped", bad_mask.sum())
    return LoopsResult(
        pairs_in=idx_qc.tolist(), loop_rms=np.nan_to_num(loop_rms, nan=-1).tolist(),
        loops=members, ref0=list(map(int, ref0)), loops_reused=n_reused, pixels_updated=pix_upd,
        bad=idx_qc[bad_mask].tolist(), no_loop=idx_qc[np.asarray(bad.no_loop, bool)].tolist(),
        n_loops=np.asarray(bad.n_loops).tolist(), n_bad_loops=np.asarray(bad.n_bad_loops).tolist(),
        bad_noloop=flagged_noloop, pairs=idx.tolist(), epochs=epochs_f.tolist(), ref=list(map(int, ref.box)),
        ref_how=ref.how, ref_offsets=ref.offsets.tolist(), pixel_loop_threshold=lcfg.pixel_loop_threshold,
        ref_kind=ref.kind, ref_pixels=ref.n_pixels, pixel_errors=mode, n_fixed=n_fix.tolist(),
        n_nulled=n_null.tolist(), spatial_errors=lcfg.spatial_errors if mode != "off" else "off",
        n_jumped=n_jump[0].tolist(), n_jump_regions=n_jump[1].tolist(), **common.stamp(ctx))


def _pixel_statistics(ctx: Context, idx: npt.NDArray[np.intp], off_of: dict[int, float], ref0: Sequence[int],
                      suspect: set[int] | None = None
                      ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64], bool, list[int], dict[int, int]]:
    """Per-pixel loop statistics of the pairs ``idx``; with the no-loop check, pairs in no loop
    whose residual exceeds pi at too many pixels are dropped and the statistics taken again. The
    pixels of the ``suspect`` pairs that no loop checks are nulled.
    Returns the pairs kept, their epochs, whether the statistics were an update, the pairs dropped,
    and the pixels nulled per pair."""
    st = ctx.stack
    nulled: dict[int, int] = {}
    lcfg = ctx.cfg.loops
    flagged_noloop: list[int] = []
    max_frac = lcfg.noloop_max_frac
    for attempt in range(2):
        check = attempt == 0 and max_frac is not None
        sus = None if suspect is None else np.isin(idx, list(suspect))
        epochs_f, _, L2, big, pix_upd = _pixel_loop_pass(ctx, idx, np.array([off_of[i] for i in idx]), check, ref0,
                                                         sus)
        for i, k in zip(idx.tolist(), big[2].tolist(), strict=True):
            nulled[i] = nulled.get(i, 0) + int(k)
        if not check or max_frac is None:
            break
        in_loop = np.abs(L2).sum(axis=0) > 0
        frac = big[0] / np.maximum(big[1], 1)
        bad_nl = ~in_loop & (big[1] > 0) & (frac > max_frac)
        if not bad_nl.any():
            break
        flagged_noloop = idx[bad_nl].tolist()
        log.warning("1-2: %d pair(s) in no loop have an unwrapping error (inversion residual > pi at more "
                    "than %.0f %% of their pixels): %s", bad_nl.sum(), 100 * max_frac,
                    ", ".join(st.pair_names()[i] for i in flagged_noloop))
        idx = idx[~bad_nl]
    if idx.size < 2:
        raise NetworkError(f"{st.path}: fewer than 2 interferograms left after loop closure")
    return idx, epochs_f, pix_upd, flagged_noloop, nulled


#: largest distance (rad) of a trusted loop phase from a multiple of 2 pi, and fewest loops a correction
#: must close (:func:`kansho.loops.pixel_cycle_fix`)
FIX_TOL, FIX_MIN_LOOPS = 1.0, 2
#: a pair whose pixels corrected or nulled exceed this fraction of its pixels in a valid loop has a region
#: error: its pixels no loop checks are nulled too
SUSPECT_FRAC = 0.05


def _fix_pass(ctx: Context, L: np.ndarray, pairs: np.ndarray, idx: npt.NDArray[np.intp], win: np.ndarray,
              mode: str) -> tuple[np.ndarray, ...]:
    """Per-pixel correction (or nulling) of unwrapping errors in the pairs ``idx`` from their loops
    ``L`` (``pairs`` their epoch indices; written to :data:`FIX_ARRAY`), in the same pass as the
    loop RMS of the corrected phase. ``win`` (len(idx), npix) is their phase over the preliminary
    reference ``ref0``: the pairs are first referred to its :func:`kansho.loops.robust_offsets`.

    A pair whose most common correction (over the pixels its trusted loops check) is not 0 had
    its preliminary reference ``ref0`` in an error patch: its offset is moved by that many cycles
    and the pass run again (relative to a wrong reference the errors of a pixel are not the
    sparsest explanation of its loops). The pairs' offsets over ``ref0`` are then taken from the
    corrected phase and, where they changed, the loop RMS is of the phase referred to them. The
    correction being per pixel, those offsets are known before the pass (:func:`_window_offsets`),
    which measures the RMS with them directly.
    Returns that RMS per loop (rad, NaN without data), per pair the pixels corrected and nulled,
    (2, npair) the pixels in a valid loop and those the loops corrected, and the offsets."""
    _create_fix(ctx)
    offsets = np.asarray(loops.robust_offsets(win), np.float64)

    def run(off: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], tuple[np.ndarray, ...]]:
        new_off = _window_offsets(win, L, pairs, off, mode)
        same = np.array_equal(new_off, offsets, equal_nan=True)  # then the RMS is of the phase referred to off
        return new_off, _fix_blocks(ctx, L, pairs, idx, off, mode, None if same else new_off)

    new_off, (rms, n_fix, n_null, n_in, hist) = run(offsets)
    shift = np.argmax(hist, axis=1) - 4
    shift[hist.max(axis=1) <= hist[:, 4]] = 0
    if shift.any():
        log.info("1-2: %d pair(s) referred to an area off by whole cycles: %s", np.count_nonzero(shift),
                 ", ".join(f"{ctx.stack.pair_names()[i]} ({k:+d})" for i, k in zip(idx[shift != 0], shift[shift != 0],
                                                                                    strict=True)))
        new_off, (rms, n_fix, n_null, n_in, _) = run(offsets - 2 * np.pi * shift)
    _log_fix(ctx, mode, idx, n_fix, n_null)
    return rms, n_fix, n_null, n_in, new_off


def _window_offsets(win: np.ndarray, L: np.ndarray, pairs: np.ndarray, offsets: npt.NDArray[np.float64],
                    mode: str) -> npt.NDArray[np.float64]:
    """Each pair's mean phase over the window ``win`` (npair, npix) as :func:`fix_block` corrects it
    relative to ``offsets``: what reading the window through :func:`read_fixed` gives after that pass."""
    u = np.asarray(win - offsets[:, None], np.float64)
    # pixel_cycle_fix(loop_phase(u, L), ...) bit for bit, by the blocks' fused pass: no other kernels to compile
    fix = loopfix.unw_cycle_fix(u, L, pairs, tol=FIX_TOL, min_loops=FIX_MIN_LOOPS)[0]
    fix[~np.isfinite(u)] = 0
    if mode == "null":
        fix[fix != 0] = loops.NULL_FIX
    return np.asarray(loops.reference_offsets(loops.apply_cycle_fix(win, fix)), np.float64)


def _fix_blocks(ctx: Context, L: np.ndarray, pairs: np.ndarray, idx: npt.NDArray[np.intp],
                offsets: npt.NDArray[np.float64], mode: str,
                sum_offsets: npt.NDArray[np.float64] | None) -> tuple[np.ndarray, ...]:
    """One pass of :func:`fix_block`: loop RMS of the corrected phase (referred to ``sum_offsets``
    when given, else to ``offsets``), per pair pixels corrected, nulled, in a valid loop, and the
    counts of each fix value (:func:`kansho.loops.fix_mode`)."""
    sum_sq, count = np.zeros(L.shape[0]), np.zeros(L.shape[0])
    n_fix, n_null = np.zeros(idx.size, np.int64), np.zeros(idx.size, np.int64)
    n_in = np.zeros((2, idx.size), np.int64)
    hist = np.zeros((idx.size, 9), np.int64)
    with pass_work(ctx.client is None, "fix") as work:  # each thread's block arrays, from block to block
        outs = ctx.map_blocks(fix_block, "1-2 unwrapping errors", idx=idx, offsets=offsets, L=L, pairs=pairs,
                              tol=FIX_TOL, min_loops=FIX_MIN_LOOPS, null=mode == "null", sum_offsets=sum_offsets,
                              work=work)
    for a, c, nf, nn, ni, h in outs:
        sum_sq += a
        count += c
        n_fix += nf
        n_null += nn
        n_in += ni
        hist += h
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(sum_sq / count), n_fix, n_null, n_in, hist


def _log_fix(ctx: Context, mode: str, idx: npt.NDArray[np.intp], n_fix: np.ndarray, n_null: np.ndarray) -> None:
    touched = (n_fix > 0) | (n_null > 0)
    log.info("1-2: unwrapping errors per pixel (%s): %d pixels corrected and %d nulled in %d of %d pairs",
             mode, n_fix.sum(), n_null.sum(), touched.sum(), idx.size)
    if touched.any():
        names = ctx.stack.pair_names()
        log.debug("1-2: per pair (corrected, nulled): %s",
                  {names[i]: (int(a), int(b)) for i, a, b in zip(idx[touched], n_fix[touched], n_null[touched],
                                                                  strict=True)})


def _create_fix(ctx: Context) -> None:
    """The work array :data:`FIX_ARRAY` (every pair of the stack store, y, x) int8, 0 = unchanged;
    chunks of 64 pairs and one block (a block task writes its own chunks only)."""
    st = ctx.stack
    shape = (st.n_pair, *st.shape)
    if ctx.resuming and FIX_ARRAY in ctx.work:  # an interrupted step resumes: keep what its tasks wrote
        arr = ctx.work[FIX_ARRAY]
        if isinstance(arr, zarr.Array) and tuple(arr.shape) == shape and arr.dtype == np.dtype("i1"):
            return
    b = ctx.block
    ctx.work.create_array(FIX_ARRAY, shape=shape, chunks=(min(64, st.n_pair), min(b, shape[1]), min(b, shape[2])),
                          dtype="i1", fill_value=0, dimension_names=["pair", "y", "x"], overwrite=True,
                          compressors=fast_codec())


def _drop_fix(ctx: Context) -> None:
    """Remove the cycle fix of an earlier run (the correction is off: every reader sees the stack as is)."""
    for name in (FIX_ARRAY, JUMP_ARRAY):
        if name in ctx.work:
            del ctx.work[name]


def _jump_pass(ctx: Context, idx: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    """The spatial check of each pair ``idx`` on its whole image (:func:`kansho.jumps.cycle_jumps`, one
    task per pair chunk of the stack), written to :data:`JUMP_ARRAY`, unless ``loops.spatial_errors``
    is off. Returns (2, len(idx)): pixels moved by whole cycles and regions, per pair."""
    out = np.zeros((2, idx.size), np.int64)
    if ctx.cfg.loops.spatial_errors == "off":
        if JUMP_ARRAY in ctx.work:
            del ctx.work[JUMP_ARRAY]
        return out
    st = ctx.stack
    ctx.new_array(JUMP_ARRAY, (st.n_pair, *st.shape), "i1", 0,
                  chunks=(PAIR_CHUNK, min(ctx.block, st.shape[0]), min(ctx.block, st.shape[1])))
    pos = {int(i): m for m, i in enumerate(idx)}
    for res in ctx.map_epochs(jump_chunk, "1-2 spatial check", np.unique(idx // PAIR_CHUNK).tolist(), idx=idx):
        for i, n_px, n_reg in res.T:
            out[:, pos[int(i)]] = n_px, n_reg
    moved = out[0] > 0
    log.info("1-2: spatial check: %d region(s) off by whole cycles moved back in %d of %d pairs (%d pixels)",
             out[1].sum(), moved.sum(), idx.size, out[0].sum())
    if moved.any():
        names = st.pair_names()
        log.debug("1-2: spatial check per pair (pixels, regions): %s",
                  {names[i]: (int(a), int(b)) for i, a, b in zip(idx[moved], *out[:, moved], strict=True)})
    return out


def _loop_rms(ctx: Context, L: np.ndarray, idx: npt.NDArray[np.intp], offsets: npt.NDArray[np.float64],
              members: list[list[int]], ref0: Sequence[int]) -> tuple[npt.NDArray[np.float64], int]:
    """RMS loop phase (rad) of every loop (row of ``L`` over the pairs ``idx``), NaN without data.

    Loops the last run measured with the same preliminary reference ``ref0`` (so the same pair
    offsets) on this stack store keep their value: after an update only the loops through a new
    pair are measured, reading only the pairs they contain. Returns the RMS and the number of loops kept.
    """
    rms = np.full(L.shape[0], np.nan)
    prev = common.previous(ctx, "loops", LoopsResult)
    known = np.zeros(L.shape[0], bool)
    if prev is not None and prev.ref0 == list(map(int, ref0)) and prev.pixel_errors == "off":
        cache = {tuple(m): r for m, r in zip(prev.loops, prev.loop_rms, strict=True)}
        for i, m in enumerate(members):
            r = cache.get(tuple(m))
            if r is not None:
                known[i] = True
                rms[i] = np.nan if r < 0 else r
        log.info("1-2: %d loops as in the last run; %d through new pairs measured", known.sum(), (~known).sum())
    todo = np.flatnonzero(~known)
    if todo.size:
        cols = np.flatnonzero(np.abs(L[todo]).sum(axis=0))  # the pairs of those loops only
        sum_sq, count = np.zeros(todo.size), np.zeros(todo.size)
        for a, c in ctx.map_blocks(loop_sums_block, "1-2 loops", idx=idx[cols], offsets=offsets[cols],
                                   L=L[np.ix_(todo, cols)]):
            sum_sq += a
            count += c
        with np.errstate(invalid="ignore", divide="ignore"):
            rms[todo] = np.sqrt(sum_sq / count)
    return rms, int(known.sum())


def _loop_members(L: np.ndarray, idx: npt.NDArray[np.intp]) -> list[list[int]]:
    if L.shape[0] == 0:
        return []
    rows = []
    for r in range(L.shape[0]):
        members = np.flatnonzero(L[r])
        rows.append([int(idx[m]) for m in members])
    return rows


def _pixel_loop_pass(ctx: Context, idx: npt.NDArray[np.intp], offsets: npt.NDArray[np.float64],
                     check: bool, ref0: Sequence[int], suspect: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Per-pixel loop statistics for the pairs ``idx`` (written to the work store).

    With ``check`` (and some pair in no loop), a preliminary inversion of sampled pixels
    (:func:`_check_every`) also counts, per pair, the pixels whose residual exceeds half a cycle
    (pi rad): in a pair that belongs to no loop that is an unwrapping error loop closure cannot see.
    After an update that kept the last run's pairs (:func:`_pixel_update`) the statistics are
    continued over the new pairs and loops only, and (without the check) only those pairs and
    their neighbours are read.
    With ``suspect`` ((npair,) bool) those pairs' pixels in no valid loop are nulled.
    Returns (epochs, pairs, loop matrix, (n_big, n_valid, n_nulled) (3, npair), whether it was an update).
    """
    st = ctx.stack
    epochs_f, pairs_f = common.subnetwork(st, idx)
    L2 = network.latest_last(network.triangle_loops(pairs_f), pairs_f)
    check = check and bool((np.abs(L2).sum(axis=0) == 0).any())  # only pairs in no loop need the check
    shared = {"t": years_since_first(epochs_f), "conv": phase_to_mm(st.wavelength),
              "pixel_loop_threshold": ctx.cfg.loops.pixel_loop_threshold}
    # the preliminary inversion of the check is the only reader of invert.gamma here
    check_args = {"check": check, "gamma": ctx.cfg.invert.gamma if check else None, "nx": st.shape[1],
                  "every": _check_every(*st.shape), "compiled": check and common.nsbas_compiled(st)}
    upd = _pixel_update(ctx, idx, epochs_f, L2, ref0)
    prefix = ""
    if upd is not None:
        sub, rows, new_loop, new_pair, touched = upd
        prefix = common.NEXT
        kw: dict[str, Any] = {"sub": sub, "L": L2[np.ix_(rows, sub)], "new_loop": new_loop, "new_pair": new_pair,
                              "touched": touched, "base": "", "dest": common.NEXT}
        desc = "1-2 pixels (new loops)"
    else:
        kw, desc = {"L": L2, "suspect": suspect}, "1-2 pixels"
    common.new_arrays(ctx, PIXEL_LOOP_ARRAYS, prefix)
    ctx.new_array(N_CORRECTED, st.shape, "i2", 0)
    big = np.zeros((3, idx.size), np.int64)
    with pass_work(ctx.client is None, "pixels") as work:  # each thread's phase array, from block to block
        for b in ctx.map_blocks(pixel_loop_block, desc, idx=idx, pairs=pairs_f, offsets=offsets, **kw,
                                **check_args, **shared, work=work):
            big += b
    common.mark_arrays(ctx, [prefix + n for n in PIXEL_LOOP_ARRAYS], st.n_pair)
    if upd is not None:
        common.swap_next(ctx, PIXEL_LOOP_ARRAYS)
        log.info("1-2: per-pixel loop statistics updated from %d pairs and %d new loops%s", upd[0].sum(),
                 upd[2].sum(), " (every pair read for the no-loop check)" if check else "")
    return epochs_f, pairs_f, L2, big, upd is not None


def _pixel_update(ctx: Context, idx: npt.NDArray[np.intp], epochs: npt.NDArray[np.int64], L: np.ndarray,
                  ref0: Sequence[int]) -> tuple[np.ndarray, ...] | None:
    """What the per-pixel loop pass must read after an update, or None to run it over every pair.

    Possible when the last run's per-pixel sums hold exactly the pairs of ``idx`` it had (no
    earlier pair changed status), with the same preliminary reference, threshold and first epoch,
    and the new loops come after the earlier ones in ``L``. Returns, as bools: the pairs to read
    (over ``idx``: the new pairs, the earlier pairs in a new loop, and their partners in earlier
    loops), the loops among them (rows of ``L``), and over those: the new loops, the new pairs and
    the earlier pairs in a new loop.
    """
    prev = common.previous(ctx, "loops", LoopsResult, PIXEL_LOOP_ARRAYS)
    if (prev is None or prev.ref0 != list(map(int, ref0)) or not prev.epochs or prev.pixel_errors != "off"
            or ctx.cfg.loops.pixel_errors != "off"
            or prev.pixel_loop_threshold != ctx.cfg.loops.pixel_loop_threshold
            or int(prev.epochs[0]) != int(epochs[0])):
        return None
    old = idx < int(prev.n_pair)
    if idx[old].tolist() != list(prev.pairs):
        return None
    mem = np.abs(L) > 0
    new_loop = (mem & ~old).any(axis=1)
    if new_loop.any() and (~new_loop).any() and np.flatnonzero(~new_loop).max() > np.flatnonzero(new_loop).min():
        return None
    touched = mem[new_loop].any(axis=0) & old
    partners = mem[~new_loop & mem[:, touched].any(axis=1)].any(axis=0)
    sub = ~old | touched | partners
    rows = ~(mem & ~sub).any(axis=1)
    return sub, rows, new_loop[rows], ~old[sub], touched[sub]


def _check_every(ny: int, nx: int) -> int:
    """Stride of the pixels the no-loop residual check inverts: every 10th, at most ~100,000 pixels.

    The check compares a fraction of pixels with a threshold (10 % by default); 100,000 samples
    estimate a fraction to +-0.2 %.
    """
    return max(10, (ny * nx) // 100_000)


SPEC = StepSpec(name="loops", licsbas="1-2", title="loop closure: drop pairs with unwrapping errors, choose "
                "the reference area", run=step_loops, result=LoopsResult, inputs=("qc_n_valid", "qc_coh_avg"),
                outputs=(*PIXEL_LOOP_ARRAYS, FIX_ARRAY, JUMP_ARRAY, N_CORRECTED, reference.REFMASK),
                tasks=(jump_chunk, fix_block, loop_sums_block, pixel_loop_block, reference.ref_sums_block),
                section="loops")
