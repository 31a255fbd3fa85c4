"""Compiled kernels of step 1-1's statistics (:mod:`kansho.qc`): per pixel the valid and coherence counts and
the coherence sum, per pair the valid pixels and the coherence summed over the footprint, over a
``(npair, rows, cols)`` stack of rows: one pass over the unwrapped phase, which also finds the footprint, then
one over the coherence. Ingest takes them from its strips as it writes the stack store (:mod:`kansho.stack_sums`;
the unwrapped phase a group of pairs at a time), so that step 1-1 reads nothing; step 1-1 takes them block by
block otherwise.

Both give the same bits whatever the blocks or strips: a pixel's sums add its pairs in their order, and a
pair's coherence is summed in fixed point (:data:`COH_SCALE`, integers, whose sums do not depend on their
order) — Morishita et al. (2020), *Remote Sensing* 12(3), 424, §2.2 for the statistics themselves.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import KERNEL
from kansho._threads import run_ranges

#: the per-pair coherence sums are integers in units of 1 / COH_SCALE (each value rounded to 2^-32, ~2e-10)
COH_SCALE = 2.0 ** 32


def stack_sums(unw: np.ndarray, coh: np.ndarray, h: int, footprint: np.ndarray, given: bool, px_n: np.ndarray,
               px_cn: np.ndarray, px_cs: np.ndarray, pair_n: np.ndarray, pair_cs: np.ndarray) -> int:
    """Step 1-1's sums over the first ``h`` rows of ``unw``, ``coh`` (npair, rows, cols) float32, C order.

    ``footprint`` (rows, cols) bool: the pixels valid (finite, not 0) in at least one pair, computed here
    unless ``given``. Continues, per pixel, ``px_n`` (h, cols) int32 finite unwrapped values, ``px_cn``
    int32 finite coherence values and ``px_cs`` float64 their sum, pairs added in order; per pair,
    ``pair_n`` (npair,) int64 valid pixels and ``pair_cs`` (npair,) int64 the finite coherence summed over
    the footprint, in units of 1 / :data:`COH_SCALE`. Returns the footprint's pixels among the ``h`` rows.
    """
    if not given:
        footprint[:h] = False
    # the unwrapped pass marks the valid pixels: in the footprint itself unless it is given
    pair_n += strip_unw_sums(unw, h, np.zeros_like(footprint) if given else footprint, px_n)
    pair_cs += strip_coh_sums(coh, None, h, footprint, px_cn, px_cs)
    return int(np.count_nonzero(footprint[:h]))


def strip_unw_sums(unw: np.ndarray, h: int, footprint: np.ndarray, px_n: np.ndarray) -> np.ndarray:
    """The unwrapped phase's part of :func:`stack_sums` for a group of a strip's pairs, the first ``h`` rows of
    ``unw`` (npair, rows, cols) float32, C order, pairs in their order among the groups: adds to ``px_n``
    (h, cols) int32 the finite values, marks in ``footprint`` (h, cols) bool the valid (finite, not 0) ones
    and returns each pair's valid pixels (npair,) int64. The coherence's part follows once the strip's last
    group is in (:func:`strip_coh_sums`): only then is the footprint known."""
    row_n = np.zeros((h, unw.shape[0]), np.int64)
    run_ranges(_unw_rows, h, unw, footprint, px_n, row_n)
    return row_n.sum(axis=0)


def strip_coh_sums(coh: np.ndarray, table: np.ndarray | None, h: int, footprint: np.ndarray, px_cn: np.ndarray,
                   px_cs: np.ndarray) -> np.ndarray:
    """The coherence's part of :func:`stack_sums` over the first ``h`` rows of every pair of a strip: ``coh``
    (npair, rows, cols), C order, float32, or uint8 codes read through ``table`` (256,) float32
    (:data:`kansho.cohcodes.DECODE`; None for float32). Given the strip's ``footprint`` (h, cols) bool, adds
    to ``px_cn`` (h, cols) int32 the finite values and to ``px_cs`` float64 their sum, pairs in order, and
    returns each pair's finite coherence summed over the footprint (npair,) int64, in units of
    1 / :data:`COH_SCALE`: bit for bit what :func:`stack_sums` gives."""
    row_cs = np.zeros((h, coh.shape[0]), np.int64)
    run_ranges(_coh_rows, h, coh, table, footprint, px_cn, px_cs, row_cs)
    return row_cs.sum(axis=0)


@njit(**KERNEL)
def _unw_rows(r0: int, r1: int, unw: np.ndarray, footprint: np.ndarray, px_n: np.ndarray,
              row_n: np.ndarray) -> None:  # pragma: no cover - compiled
    """Rows ``r0 .. r1 - 1`` of :func:`strip_unw_sums` (:func:`kansho._threads.run_ranges`)."""
    npair, _, nx = unw.shape
    for r in range(r0, r1):
        for k in range(npair):
            n = 0
            for j in range(nx):
                x = unw[k, r, j]
                fin = np.isfinite(x)
                ok = fin and x != 0
                px_n[r, j] += 1 if fin else 0
                n += 1 if ok else 0
                if ok:
                    footprint[r, j] = True
            row_n[r, k] = n


@njit(**KERNEL)
def _coh_rows(r0: int, r1: int, coh: np.ndarray, table: np.ndarray | None, footprint: np.ndarray,
              px_cn: np.ndarray, px_cs: np.ndarray, row_cs: np.ndarray) -> None:  # pragma: no cover - compiled
    """Rows ``r0 .. r1 - 1`` of :func:`strip_coh_sums` (:func:`kansho._threads.run_ranges`); numba prunes the
    branch of the ``table`` not given, so each type of ``coh`` compiles to a loop of its own."""
    npair, _, nx = coh.shape
    for r in range(r0, r1):
        for k in range(npair):
            s = np.int64(0)
            for j in range(nx):
                if table is None:
                    c = np.float32(coh[k, r, j])
                else:
                    c = table[coh[k, r, j]]
                fc = np.isfinite(c)
                px_cn[r, j] += 1 if fc else 0
                px_cs[r, j] += np.float64(c) if fc else 0.0
                s += np.int64(np.rint(np.float64(c) * COH_SCALE)) if fc and footprint[r, j] else 0
            row_cs[r, k] = s
