"""The run's reference: a large, spatially spread set of stable, reliable pixels.

Every interferogram is only known up to a constant, so the time series of every pixel is relative
to a reference. LiCSBAS (Morishita et al. 2020, *Remote Sensing* 12(3), 424, §2.3) refers each pair
to one small window (5 × 5 px) chosen for its small loop-closure RMS. The noise of that window --
above all its tropospheric delay, spatially correlated over kilometres (Hanssen 2001, §4.7) -- is
then carried, with the opposite sign, into every pixel of every epoch. Yunjun et al. (2019,
*Computers & Geosciences* 133, 104331, §3.2) discuss the choice of a reference point (coherent,
stable, away from deformation) and how its noise propagates to the whole frame; averaging over many
pixels that sample different atmospheric cells reduces that noise roughly as 1/√N_independent.

:func:`stable_set` chooses such a set from the per-pixel arrays step 1-2 already has: valid in every
kept pair, no (or the fewest) loop-closure errors, a small loop-phase RMS, a stacking rate close to
the frame's median (the prior that most of a frame is stable; a deforming area is left out), and
coherent where there is coherence. :func:`set_sums` and :func:`set_offsets` give each pair's mean
phase over the set, which the inversion subtracts. Plain functions on arrays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho._columns import take_columns
from kansho._types import BoolArray, Float64Array

__all__ = ["MIN_SET_PIXELS", "robust_z", "set_offsets", "set_sums", "stable_set"]

#: below this many pixels a set would average little: the step falls back to the window
MIN_SET_PIXELS = 25


def robust_z(a: npt.ArrayLike, where: npt.ArrayLike) -> Float64Array:
    """|a - median| in robust standard deviations (1.4826 × MAD) over the pixels ``where``.

    ``a``: (ny, nx) float; ``where``: (ny, nx) bool. Returns (ny, nx), NaN where ``a`` is; a MAD of
    0 (a constant field) gives 0 where ``a`` equals the median and +inf elsewhere.
    """
    x = np.asarray(a, np.float64)
    w = np.asarray(where, bool) & np.isfinite(x)
    if not w.any():
        return np.full(x.shape, np.nan)
    med = float(np.median(x[w]))
    sig = 1.4826 * float(np.median(np.abs(x[w] - med)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(x - med) / sig if sig > 0 else np.where(x == med, 0.0, np.inf)


def stable_set(valid_all: npt.ArrayLike, loop_rms: npt.ArrayLike, n_loop_err: npt.ArrayLike,
               stack_rate: npt.ArrayLike, coh: npt.ArrayLike | None = None, *, max_rate_z: float = 2.0,
               keep_fraction: float = 0.5, n_tiles: int = 4) -> BoolArray:
    """The reference set: reliable pixels likely stable, spread over the frame (see the module docstring).

    Parameters
    ----------
    valid_all:
        (ny, nx) bool, valid in every kept pair (so each pair is averaged over the same pixels and
        the offsets close around every loop).
    loop_rms:
        (ny, nx) loop-phase RMS, rad (NaN in no loop: not held against the pixel).
    n_loop_err:
        (ny, nx) loops with |loop phase| > π at the pixel (unwrapping errors).
    stack_rate:
        (ny, nx) stacking rate, mm/yr.
    coh:
        (ny, nx) mean coherence, or None / all-NaN without coherence (then validity and loop
        statistics alone decide).
    max_rate_z:
        Candidates lie within this many robust standard deviations of the median stacking rate
        (2: a pixel whose rate stands out of the frame's noise is likely deforming).
    keep_fraction:
        Of the candidates of each tile, the best this fraction by score is kept (score: the rate's
        robust z plus the loop RMS over its median, minus the coherence over its median).
    n_tiles:
        The frame is cut into ``n_tiles`` × ``n_tiles`` tiles, each choosing its own best candidates,
        so the set spreads over every part of the frame that has candidates: its mean samples the
        frame's atmosphere and ramps rather than those of the one area that scores best.

    Returns
    -------
    (ny, nx) bool, the set (possibly empty: the caller falls back to a window).

    The candidates are the pixels valid everywhere, with the fewest loop errors among them, and
    within ``max_rate_z`` of the median rate; the score only orders them within each tile, so the
    set spreads wherever the frame is reliable -- more atmospheric cells averaged than any window
    covers.
    """
    ok = np.asarray(valid_all, bool) & np.isfinite(np.asarray(stack_rate, np.float64))
    nle = np.asarray(n_loop_err, np.float64)
    fin = ok & np.isfinite(nle)
    if fin.any():
        ok &= ~np.isfinite(nle) | (nle <= nle[fin].min())
    if not ok.any():
        return ok
    z = robust_z(stack_rate, ok)
    cand = ok & (z <= max_rate_z)
    if not cand.any():
        return cand
    lr = np.asarray(loop_rms, np.float64)
    lr_fin = cand & np.isfinite(lr)
    med_lr = float(np.median(lr[lr_fin])) if lr_fin.any() else 1.0
    score = z + np.where(np.isfinite(lr), lr / max(med_lr, 1e-6), 1.0)
    if coh is not None:
        c = np.asarray(coh, np.float64)
        c_fin = cand & np.isfinite(c)
        if c_fin.any():
            med_c = float(np.median(c[c_fin]))
            score = score - np.where(np.isfinite(c), c / max(med_c, 1e-6), 0.0)
    return _best_per_tile(cand, score, keep_fraction, n_tiles)


def _best_per_tile(cand: BoolArray, score: Float64Array, fraction: float, n_tiles: int) -> BoolArray:
    """In each of ``n_tiles`` × ``n_tiles`` tiles of the frame, the candidates of the best ``fraction``
    of score there: every part of the frame holding candidates is represented in proportion."""
    ny, nx = cand.shape
    tile = (np.arange(ny) * n_tiles // ny)[:, None] * n_tiles + (np.arange(nx) * n_tiles // nx)[None, :]
    out = np.zeros_like(cand)
    for k in np.unique(tile[cand]):
        m = cand & (tile == k)
        out |= m & (score <= np.quantile(score[m], fraction))
    return out


def set_sums(unw: npt.ArrayLike, in_set: npt.ArrayLike | None = None) -> tuple[Float64Array, Float64Array]:
    """Per pair, the sum of the finite phase over the set's pixels and their count.

    ``unw``: (npair, npix) rad; ``in_set``: (npix,) bool (None: every pixel of ``unw`` is in the set).
    Returns ((npair,), (npair,)) float64; sums of blocks add up to the frame's (block-wise processing).
    """
    u = np.asarray(unw)
    u = u.reshape(u.shape[0], -1)
    if in_set is not None:
        u = take_columns(u, np.asarray(in_set, bool).ravel())
    u = np.asarray(u, np.float64)
    fin = np.isfinite(u)
    return np.where(fin, u, 0.0).sum(axis=1), fin.sum(axis=1).astype(np.float64)


def set_offsets(sums: npt.ArrayLike, counts: npt.ArrayLike) -> Float64Array:
    """Each pair's mean phase over the set (rad), NaN where none of its pixels is valid: (npair,)."""
    s = np.asarray(sums, np.float64)
    n = np.asarray(counts, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)
