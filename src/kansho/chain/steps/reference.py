"""The reference of step 1-2: the loop closure's preliminary window (``ref0``) and the run's one
reference, with the work array ``refmask`` (1 = pixel of the reference) every output refers to.

``loops.ref_mode``:

- ``auto`` (default): a large, spatially spread set of stable, reliable pixels
  (:func:`kansho.reference.stable_set`); each pair is referred to its mean over the set, so the
  atmosphere of one small area is no longer carried into the whole frame;
- ``window``: LiCSBAS's single ``ref_size`` window of best score (exactly the earlier behaviour).

A ``--ref`` box always overrides both. Without coherence the choice rests on validity and the loop
statistics alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho import loops
from kansho import reference as refnum
from kansho.chain.context import Context
from kansho.chain.steps.loop_tasks import read_fixed, read_unw
from kansho.chain.tasks import Task
from kansho.config import parse_ref
from kansho.errors import ConfigError, InputError, NetworkError
from kansho.store import Stack

log = logging.getLogger(__name__)

#: the work array of the run's reference (1 = in it, 0 = not)
REFMASK = "refmask"

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Reference:
    """The run's reference: ``box`` (row0, row1, col0, col1) end-exclusive -- the user's box, the
    window, or for a set a representative ``ref_size`` window inside it; ``how`` (user / auto);
    ``kind`` (box / window / set); per used pair its phase over the reference (rad); its pixels."""

    box: Box
    how: str
    kind: str
    offsets: npt.NDArray[np.float64]
    n_pixels: int


def preliminary_reference(ctx: Context, coh_all: np.ndarray) -> Box:
    """The reference of the loop closure (``ref0``): the most complete, most coherent window (from
    the 1-1 statistics).

    Without coherence in the input (GeoTIFF pairs given without it) the most complete window. When
    no window qualifies (coherence missing where every pair is valid) the user's ``--ref`` box is
    used if one was given, else the most complete window regardless of coherence.
    """
    lcfg = ctx.cfg.loops
    nvalid_all = ctx.read2d("qc_n_valid")
    ok0 = nvalid_all >= nvalid_all.max()
    has_coh = bool(np.isfinite(coh_all).any())
    if not has_coh:
        log.info("1-2: no coherence; the preliminary reference is the most complete window")
        return loops.choose_reference(np.zeros(coh_all.shape), ok0, size=lcfg.ref_size)
    try:
        return loops.choose_reference(np.where(np.isfinite(coh_all), -coh_all, np.inf), ok0, size=lcfg.ref_size)
    except NetworkError as e:
        if lcfg.ref:
            log.warning("1-2: %s; the loop closure uses the --ref box %s", e, lcfg.ref)
            return user_ref(ctx, lcfg.ref)
        log.warning("1-2: %s; the loop closure uses the most complete window, whatever its coherence", e)
        return loops.choose_reference(np.zeros(coh_all.shape), ok0, size=lcfg.ref_size)


def final_reference(ctx: Context, idx: npt.NDArray[np.intp], coh_all: np.ndarray) -> Reference:
    """The run's one reference for the pairs ``idx`` (see the module docstring); writes ``refmask``."""
    lcfg = ctx.cfg.loops
    st = ctx.stack
    if lcfg.ref:
        ref = _box_reference(ctx, idx, user_ref(ctx, lcfg.ref), "user", "box")
    else:
        ref = _auto_reference(ctx, idx, coh_all, lcfg.ref_mode, lcfg.ref_size)
    if not np.all(np.isfinite(ref.offsets)):
        names = [st.pair_names()[i] for i in idx[~np.isfinite(ref.offsets)]]
        raise InputError(st.path, f"reference area {ref_str(ref.box)} has no valid pixel in pair(s) "
                                  f"{', '.join(names[:5])}")
    if ref.kind == "set":
        log.info("1-2: reference: the mean of %d stable pixels (%.1f %% of the frame); representative window "
                 "rows %d:%d cols %d:%d", ref.n_pixels, 100 * ref.n_pixels / (st.shape[0] * st.shape[1]), *ref.box)
    else:
        log.info("1-2: reference area rows %d:%d cols %d:%d (%s)", *ref.box, ref.how)
    return ref


def _auto_reference(ctx: Context, idx: npt.NDArray[np.intp], coh_all: np.ndarray, mode: str, size: int
                    ) -> Reference:
    """The automatic reference: the stable set (``auto``, unless it would hold fewer than
    :data:`kansho.reference.MIN_SET_PIXELS`) or the window of best score (``window``)."""
    nvf = ctx.read2d("n_valid_final")
    ok = nvf >= nvf.max()
    lrms, rate = ctx.read2d("loop_rms"), ctx.read2d("stack_rate")
    score = reference_score(lrms, rate, coh_all)
    if mode == "auto":
        in_set = refnum.stable_set(ok, lrms, ctx.read2d("n_loop_err"), rate, coh_all)
        if int(in_set.sum()) >= refnum.MIN_SET_PIXELS:
            return _set_reference(ctx, idx, in_set, score, size)
        log.warning("1-2: only %d stable pixels are valid in every pair: the reference is the best window",
                    int(in_set.sum()))
    box = _window(loops.choose_reference(score, ok & np.isfinite(score), size=size))
    return _box_reference(ctx, idx, box, "auto", "window")


def _window(b: Sequence[int]) -> Box:
    return int(b[0]), int(b[1]), int(b[2]), int(b[3])


def _box_reference(ctx: Context, idx: npt.NDArray[np.intp], box: Box, how: str, kind: str) -> Reference:
    """A box (the user's, or the window) as the reference; ``refmask`` is 1 inside it."""
    r0, r1, c0, c1 = box
    rm = ctx.new_array(REFMASK, ctx.stack.shape, "u1", 0)
    rm[r0:r1, c0:c1] = 1
    w, _ = read_fixed(ctx.stack, ctx.work, slice(r0, r1), slice(c0, c1), idx)
    offsets = np.asarray(loops.reference_offsets(w.reshape(idx.size, -1)), np.float64)
    return Reference(box, how, kind, offsets, (r1 - r0) * (c1 - c0))


def _set_reference(ctx: Context, idx: npt.NDArray[np.intp], in_set: np.ndarray, score: np.ndarray,
                   size: int) -> Reference:
    """The stable set as the reference: ``refmask``, each pair's mean over it (block-wise), and a
    representative window inside it (for displays and ``cum.h5``'s ``refarea``)."""
    rm = ctx.new_array(REFMASK, ctx.stack.shape, "u1", 0)
    rm[:] = in_set.astype(np.uint8)
    sums, counts = np.zeros(idx.size), np.zeros(idx.size)
    for s, c in ctx.map_blocks(ref_sums_block, "1-2 reference", idx=idx):
        sums += s
        counts += c
    box = _window(loops.choose_reference(np.where(in_set, score, np.nan), in_set, size=size))
    return Reference(box, "auto", "set", refnum.set_offsets(sums, counts), int(in_set.sum()))


def ref_sums_block(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (``params["idx"]``), the sum of the phase (with step 1-2's cycle fix) over the block's
    reference pixels and their count."""
    idx = np.asarray(task.params["idx"], np.intp)
    in_set = np.asarray(task.work[REFMASK][task.rows, task.cols]) == 1
    if not in_set.any():
        return np.zeros(idx.size), np.zeros(idx.size)
    # as corrected for unwrapping errors by step 1-2, the set's pixels only
    return refnum.set_sums(read_unw(task, idx, in_set.ravel()))


def reference_score(loop_rms: np.ndarray, rate: np.ndarray, coh: np.ndarray) -> np.ndarray:
    """Score of each pixel as part of the reference window (lower is better), shape (ny, nx).

    Adds two dimensionless terms: the pixel's loop-phase RMS over the frame's median (Morishita et
    al. 2020 choose the reference by loop closure alone) and how far its stacking rate lies from the
    frame's median rate, in robust standard deviations (1.4826 MAD) -- the usual prior that most of
    a frame is stable, which keeps the reference out of a deforming area. Coherence, where there is
    any (NaN without), breaks ties.
    """
    lr = np.where(np.isfinite(loop_rms), loop_rms, np.nan)
    med_lr = np.nanmedian(lr) if np.isfinite(lr).any() else 1.0
    fin = np.isfinite(rate)
    if fin.any():
        med = np.median(rate[fin])
        mad = 1.4826 * np.median(np.abs(rate[fin] - med)) or 1.0
        dev = np.abs(rate - med) / mad
    else:
        dev = np.zeros_like(rate)
    score = np.nan_to_num(lr / max(med_lr, 1e-6), nan=0.0) + dev
    return np.where(np.isfinite(coh), score - 1e-3 * coh, score)


def ref_offsets(st: Stack, idx: npt.NDArray[np.intp], ref: Sequence[int]) -> npt.NDArray[np.float64]:
    """Each pair's mean phase over the box ``ref`` (rad), NaN where it has no valid pixel there."""
    r0, r1, c0, c1 = ref
    w = st.read("unw", slice(r0, r1), slice(c0, c1), idx).reshape(idx.size, -1)
    return np.asarray(loops.reference_offsets(w), np.float64)


def ref_str(ref: Sequence[int]) -> str:
    """``x1:x2/y1:y2`` of a (row0, row1, col0, col1) box."""
    r0, r1, c0, c1 = ref
    return f"{c0}:{c1}/{r0}:{r1}"


def user_ref(ctx: Context, text: str) -> Box:
    """The ``--ref`` box as (row0, row1, col0, col1); ConfigError outside the grid."""
    kind, v = parse_ref(text)
    ny, nx = ctx.stack.shape
    if kind == "pixel":
        x1, x2, y1, y2 = (int(a) for a in v)
    else:
        try:
            y1, y2, x1, x2 = ctx.stack.grid.lonlat_box(*v)
        except ValueError as exc:
            raise ConfigError(f"--ref {text}: {exc}") from None
    if not (0 <= x1 < x2 <= nx and 0 <= y1 < y2 <= ny):
        raise ConfigError(f"--ref {text}: outside the {nx}x{ny} grid")
    return y1, y2, x1, x2
