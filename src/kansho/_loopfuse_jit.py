"""Compiled kernel of the per-pixel cycle fix of step 1-2 (:func:`kansho.loopfix.unw_cycle_fix`): the loop
phase of every triangle loop, its integer misclosure and trust, and the pixels of each pair in a complete
loop, in one pass over a block's referred phase, chunk of pixels by chunk, without the ``(nloop, npix)``
float64 loop phase (~250 MB for a 256 × 256 px block of 500 loops) written and read twice.

Each value is computed as the kernels of the stored-phase path compute it (:func:`kansho._loops_jit.loop_phase`,
:func:`kansho._loops_jit.misclosures`; the pixels in a complete loop as ``pairs_in_valid_loop`` of the
finite loop phase counts them): the same float operations in the same order, no fast-math, so the results
are bit for bit theirs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import KERNEL
from kansho._loops_jit import TWO_PI, _mark_members, _triangle
from kansho._threads import run_ranges

#: pixels per chunk: the chunk's rows of the phase (npair × CHUNK float64) stay in the core's L2
CHUNK = 1024


def loop_misclosures(u: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, tol: float,
                     K: np.ndarray, trusted: np.ndarray, active: np.ndarray) -> np.ndarray:
    """From ``u`` (npair, npix) float64 (referred phase, rad, NaN = no data) and the triangle loops in CSR
    form (``indptr``, ``indices``, ``data`` float64 of :func:`kansho._loops_jit.csr`, three members a row):
    ``K`` (nloop, npix) int16, ``trusted`` (nloop, npix) bool and ``active`` (npix,) bool as
    :func:`kansho._loops_jit.misclosures` gives them from the loop phase; returns per pair the pixels where
    it is a member of a complete loop (npair,) int64."""
    npair, npix = u.shape
    if np.any(np.diff(indptr) != 3):
        raise ValueError("loop_misclosures needs triangle loops (three members a row)")
    nchunk = (npix + CHUNK - 1) // CHUNK
    counts = np.zeros((nchunk, npair), np.int64)
    run_ranges(_loop_misclosures_ranges, nchunk, u, indptr, indices, data, tol, K, trusted, active, counts)
    return counts.sum(axis=0)


@njit(**KERNEL)
def _loop_misclosures_ranges(r0: int, r1: int, u: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                             data: np.ndarray, tol: float, K: np.ndarray, trusted: np.ndarray, active: np.ndarray,
                             counts: np.ndarray) -> None:  # pragma: no cover - compiled
    """The chunks ``r0 .. r1 - 1`` of :func:`loop_misclosures` (:func:`kansho._threads.run_ranges`).

    A loop's phase is :func:`kansho._loops_jit._triangle`'s (NaN where a member is missing), in registers,
    pixel by pixel. Every step is branch-free, so the pixel loop is vectorised (three times the speed of
    summing into buffers and branching on the flag)."""
    nloop = indptr.size - 1
    npix = u.shape[1]
    npair = counts.shape[1]
    fin = np.empty(CHUNK, np.uint8)
    member = np.empty((npair, CHUNK), np.uint8)
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        w = j1 - j0
        member[:, :w] = 0
        for j in range(j0, j1):
            active[j] = False
        for lp in range(nloop):
            m = indptr[lp]
            a0, a1, a2 = u[indices[m], j0:j1], u[indices[m + 1], j0:j1], u[indices[m + 2], j0:j1]
            d0, d1, d2 = data[m], data[m + 1], data[m + 2]
            kr, tr, ac = K[lp, j0:j1], trusted[lp, j0:j1], active[j0:j1]
            for j in range(w):
                x = _triangle(a0[j], a1[j], a2[j], d0, d1, d2)[1]  # the loop phase (NaN: a member missing)
                f = x - x == 0.0  # finite
                fin[j] = np.uint8(f)
                v = x if f else 0.0
                k = np.rint(v / TWO_PI)
                t = f & (abs(v - TWO_PI * k) <= tol)
                kr[j] = np.int16(min(max(k, -1000.0), 1000.0))
                tr[j] = t
                ac[j] = ac[j] | (t & (k != 0.0))
            _mark_members(member, 0, fin, indptr, indices, lp, w)
        for p in range(npair):
            n = 0
            om = member[p]
            for j in range(w):
                n += om[j]
            counts[c, p] = n
