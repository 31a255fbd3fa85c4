"""Step 1-1: per-interferogram quality control (coverage and coherence).

Interferograms whose unwrapped area is too small, or whose coherence is too low, carry little
information and often unwrapping errors; they are dropped before any loop or time-series step
(Morishita et al., 2020, *Remote Sensing* 12(3), 424, §2.2).

The statistics are accumulated block by block with :func:`block_sums` (compiled; :func:`pair_sums` and
:func:`pixel_sums` are its NumPy references; the lead sums the returned accumulators over spatial blocks,
or ingest takes them from its strips: :mod:`kansho.stack_sums`), turned into ratios with
:func:`pair_ratios`, and the decision is taken once for the whole frame by :func:`select_pairs`.

Choices (differences from LiCSBAS noted):

* **Coverage** is the fraction of the *frame footprint* that is unwrapped in the pair, where the
  footprint is the set of pixels unwrapped in at least one pair of the stack.  Normalising by the
  footprint instead of the bounding box makes the threshold independent of the frame shape (a
  LiCSAR frame is a rotated strip inside its lon/lat box) and of sea or permanently incoherent
  areas.
* **Mean coherence** is the sum of the (finite) coherence over the footprint divided by the number
  of footprint pixels, i.e. the frame mean with "no coherence value" counted as zero coherence, as
  LiCSBAS's mean of the 0-255 coherence raster (where 0 means no data) does. The sum is taken in fixed
  point (each value rounded to 2^-32, :data:`COH_SCALE`): integers add up to the same bits in any order, so
  the blocks of step 1-1 and ingest's strips give the same decision (a float sum's last bits follow its
  order); the mean moves by less than 1e-10.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho import _qc_jit
from kansho._columns import take_columns
from kansho._qc_jit import COH_SCALE
from kansho._types import BoolArray, Float64Array
from kansho.errors import NetworkError

log = logging.getLogger(__name__)

__all__ = ["COH_SCALE", "BlockSums", "QCResult", "block_sums", "coh_sum", "pair_ratios", "pair_sums", "pixel_sums",
           "select_pairs"]


def pair_sums(
    unw_block: npt.ArrayLike, coh_block: npt.ArrayLike, footprint: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Accumulate coverage and coherence statistics of every pair over one spatial block (NumPy reference
    of :func:`block_sums`, which the chain uses).

    Parameters
    ----------
    unw_block:
        Unwrapped phase, shape (npair, npix), radians. A pixel is *valid* in a pair where the value
        is finite and not exactly 0 (LiCSAR writes 0 or NaN for no data).
    coh_block:
        Coherence, shape (npair, npix), 0–1 (NaN = no data).
    footprint:
        (npix,) bool, the footprint when it is known from more pairs than these (an update that
        adds pairs to a frame whose footprint they do not enlarge); default: from these pairs.

    Returns
    -------
    n_valid:
        (npair,) int64, number of valid pixels per pair in the block.
    coh_fixed:
        (npair,) int64, sum of the finite coherence over the block's footprint pixels in units of
        1 / :data:`COH_SCALE` (each value rounded to the nearest 2^-32): integer sums do not depend on
        their order, so any blocks (or ingest's strips) give the frame's sums bit for bit.
    n_total:
        Number of footprint pixels in the block: pixels valid in at least one pair.

    Summing the three outputs over disjoint blocks gives the frame totals;
    :func:`pair_ratios` turns them into coverage and mean coherence.
    """
    unw = np.asarray(unw_block)
    coh = np.asarray(coh_block)
    if unw.ndim != 2 or coh.shape != unw.shape:
        raise ValueError(f"unw and coh must both be (npair, npix); got {unw.shape} and {coh.shape}")
    valid = np.isfinite(unw)
    valid &= unw != 0
    footprint = valid.any(axis=0) if footprint is None else np.asarray(footprint, bool)
    n_valid = np.count_nonzero(valid, axis=1).astype(np.int64)
    coh64 = take_columns(coh, footprint).astype(np.float64)
    coh64[~np.isfinite(coh64)] = 0.0
    return n_valid, np.rint(coh64 * COH_SCALE).astype(np.int64).sum(axis=1), int(footprint.sum())


def pixel_sums(
    unw_block: npt.ArrayLike,
    coh_block: npt.ArrayLike,
    base: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None = None,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], Float64Array]:
    """Per-pixel accumulators over pairs: valid count, coherence count and coherence sum (NumPy
    reference of :func:`block_sums`).

    Parameters
    ----------
    unw_block, coh_block:
        (npair, npix) unwrapped phase (rad) and coherence (0–1), NaN = no data.
    base:
        The three accumulators of earlier pairs, (npix,) each, to continue from (an update that
        appends pairs); default zeros.

    Returns
    -------
    (n_valid, coh_n, coh_sum):
        (npix,) int32, int32, float64. The pairs are added one after another in their order, so
        continuing from ``base`` gives bit for bit what one pass over all the pairs gives.
        The mean coherence is ``coh_sum / coh_n``.
    """
    unw = np.asarray(unw_block)
    coh = np.asarray(coh_block)
    n_valid, coh_n, coh_sum = _bases(unw.shape[1], base)
    for k in range(unw.shape[0]):  # a loop over pairs (vectorised over pixels) fixes the summation order
        n_valid += np.isfinite(unw[k])
        fin = np.isfinite(coh[k])
        coh_n += fin
        coh_sum += np.where(fin, coh[k], 0.0)
    return n_valid, coh_n, coh_sum


def _bases(npix: int, base: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None
           ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], Float64Array]:
    """The per-pixel accumulators to continue: copies of ``base``, or zeros."""
    if base is None:
        return np.zeros(npix, np.int32), np.zeros(npix, np.int32), np.zeros(npix)
    nv, cn, cs = base
    return np.array(nv, np.int32), np.array(cn, np.int32), np.array(cs, np.float64)


@dataclass(frozen=True)
class BlockSums:
    """Step 1-1's statistics of a block (:func:`block_sums`): per pixel (npix,) ``n_valid``, ``coh_n``
    (int32) and ``coh_sum`` (float64); per pair (npair,) ``pair_n_valid`` and ``pair_coh_fixed`` (int64,
    as :func:`pair_sums` returns them); ``n_total`` footprint pixels."""

    n_valid: npt.NDArray[np.int32]
    coh_n: npt.NDArray[np.int32]
    coh_sum: Float64Array
    pair_n_valid: npt.NDArray[np.int64]
    pair_coh_fixed: npt.NDArray[np.int64]
    n_total: int


def block_sums(unw_block: npt.ArrayLike, coh_block: npt.ArrayLike, footprint: npt.ArrayLike | None = None,
               base: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None = None, *,
               rows: int | None = None) -> BlockSums:
    """:func:`pair_sums` and :func:`pixel_sums` together, compiled, in one pass over the block (the same
    values bit for bit). ``unw_block``, ``coh_block`` (npair, npix) or (npair, rows, cols) float32 (others
    are converted); with ``rows``, only the first ``rows`` rows of the latter (a buffer partly filled, read in
    place); ``footprint`` and ``base`` (npix,) as there, the pixels in C order."""
    unw = np.ascontiguousarray(unw_block, np.float32)
    coh = np.ascontiguousarray(coh_block, np.float32)
    if unw.ndim not in (2, 3) or coh.shape != unw.shape:
        raise ValueError(f"unw and coh must both be (npair, npix) or (npair, rows, cols); got {unw.shape} and "
                         f"{coh.shape}")
    npair = unw.shape[0]
    if unw.ndim == 2:
        unw, coh = unw.reshape(npair, 1, -1), coh.reshape(npair, 1, -1)
    h = unw.shape[1] if rows is None else int(rows)
    if not 0 <= h <= unw.shape[1]:
        raise ValueError(f"rows {h} outside 0..{unw.shape[1]}")
    shape = (h, unw.shape[2])
    n_valid, coh_n, coh_sum = _bases(shape[0] * shape[1], base)
    given = footprint is not None
    fp = np.array(footprint, bool).reshape(shape) if given else np.zeros(shape, bool)
    pn, pc = np.zeros(npair, np.int64), np.zeros(npair, np.int64)
    n_total = _qc_jit.stack_sums(unw, coh, h, fp, given, n_valid.reshape(shape), coh_n.reshape(shape),
                                 coh_sum.reshape(shape), pn, pc)
    return BlockSums(n_valid, coh_n, coh_sum, pn, pc, n_total)


def pair_ratios(
    n_valid: npt.ArrayLike, coh_fixed: npt.ArrayLike, n_total: int
) -> tuple[Float64Array, Float64Array]:
    """Coverage (0–1) and mean coherence per pair from the frame totals of :func:`pair_sums` (the
    coherence sums in units of 1 / :data:`COH_SCALE`).

    Raises
    ------
    NetworkError
        If the footprint is empty (no pair has any valid pixel).
    """
    if n_total <= 0:
        raise NetworkError("no interferogram has any unwrapped pixel")
    n_valid = np.asarray(n_valid, dtype=np.float64)
    return n_valid / n_total, coh_sum(coh_fixed) / n_total


def coh_sum(coh_fixed: npt.ArrayLike) -> Float64Array:
    """The coherence sums (float64) of fixed-point sums in units of 1 / :data:`COH_SCALE`."""
    return np.asarray(coh_fixed, np.int64).astype(np.float64) / COH_SCALE


@dataclass(frozen=True)
class QCResult:
    """Decision of :func:`select_pairs`.

    Attributes
    ----------
    keep:
        (npair,) bool, True for pairs kept.
    reason:
        One string per pair: ``''`` if kept, else why it was dropped, e.g.
        ``'coverage 0.21 < 0.3'`` or ``'coverage 0.21 < 0.3; coherence 0.031 < 0.05'``.
    epoch_keep:
        (n_epoch,) bool, False for epochs left in no kept pair.
    valid_ratio, mean_coh:
        (npair,) float64, the statistics the decision was based on (for the info table).
    """

    keep: BoolArray
    reason: list[str]
    epoch_keep: BoolArray
    valid_ratio: Float64Array
    mean_coh: Float64Array

    @property
    def n_dropped(self) -> int:
        """Number of pairs dropped."""
        return int((~self.keep).sum())


def select_pairs(
    valid_ratio: npt.ArrayLike,
    mean_coh: npt.ArrayLike,
    pairs: npt.ArrayLike,
    n_epoch: int,
    *,
    min_coverage: float | None = 0.3,
    min_coh: float | None = 0.05,
) -> QCResult:
    """Drop pairs with too little coverage or coherence; drop epochs left without a pair.

    Parameters
    ----------
    valid_ratio:
        (npair,) fraction of the footprint unwrapped in each pair (see :func:`pair_ratios`).
    mean_coh:
        (npair,) mean coherence of each pair (0–1).
    pairs:
        (npair, 2) int epoch indices (i < j).
    n_epoch:
        Number of epochs.
    min_coverage, min_coh:
        A pair is kept when ``valid_ratio >= min_coverage`` and ``mean_coh >= min_coh``
        (LiCSBAS defaults 0.3 and 0.05). ``None`` disables the test. A NaN statistic fails it.

    Returns
    -------
    QCResult
        If no pair is kept this is logged as a warning; the caller decides whether to stop (it
        should raise :class:`~kansho.errors.NetworkError`).
    """
    ratio = np.asarray(valid_ratio, dtype=np.float64)
    coh = np.asarray(mean_coh, dtype=np.float64)
    pairs = np.asarray(pairs)
    npair = ratio.shape[0]
    if ratio.shape != (npair,) or coh.shape != (npair,) or pairs.shape != (npair, 2):
        raise ValueError(
            f"shapes disagree: valid_ratio {ratio.shape}, mean_coh {coh.shape}, pairs {pairs.shape}"
        )
    if npair and (pairs.min() < 0 or pairs.max() >= n_epoch):
        raise ValueError(f"pair indices outside 0..{n_epoch - 1}")

    bad_cov = np.zeros(npair, bool) if min_coverage is None else ~(ratio >= min_coverage)
    bad_coh = np.zeros(npair, bool) if min_coh is None else ~(coh >= min_coh)
    keep = ~(bad_cov | bad_coh)
    reason: list[str] = []
    for k in range(npair):
        parts = []
        if bad_cov[k]:
            parts.append(f"coverage {ratio[k]:.3g} < {min_coverage:g}")
        if bad_coh[k]:
            parts.append(f"coherence {coh[k]:.3g} < {min_coh:g}")
        reason.append("; ".join(parts))

    epoch_keep = np.zeros(n_epoch, bool)
    epoch_keep[pairs[keep].ravel()] = True
    n_drop = int((~keep).sum())
    if not keep.any():
        log.warning("Step 1-1: every one of the %d pairs fails the coverage/coherence test", npair)
    elif n_drop:
        log.info(
            "Step 1-1: dropped %d of %d pairs (%d coverage, %d coherence); %d epochs left without a pair",
            n_drop, npair, int(bad_cov.sum()), int(bad_coh.sum()), int((~epoch_keep).sum()),
        )
    return QCResult(keep=keep, reason=reason, epoch_keep=epoch_keep, valid_ratio=ratio, mean_coh=coh)
