"""Compiled per-pixel kernel of the integer-cycle assignment of :func:`kansho.loops.pixel_cycle_fix`.

At one pixel the integer misclosures ``K`` (nloop,) of the triangle loops it trusts are explained by
integer cycle errors ``k`` (npair,) of the pairs, ``K = L k``, with as few and as small errors as
possible: a greedy descent of the L1 misfit ``sum_l |K_l - (L k)_l|`` by one cycle of one pair at a
time (the phase-closure correction of Yunjun et al. 2019, *Computers & Geosciences* 133, 104331,
§3.2, solves ``min ||K - L k||² + α||k||₁``; Benoit et al. 2020, *Remote Sensing of Environment* 237,
111502, iterate on misclosures pair by pair in the same spirit; the use of clean partner loops to
vouch for a pair follows Biggs et al. 2007, *Geophys. J. Int.* 170(3)). The move taken is the one
that closes more trusted loops than it opens (its *gain*); a move whose best gain is shared by
another member of a loop it closes is ambiguous and both pairs are nulled; a move supported by
fewer than ``min_loops`` loops is nulled rather than applied. When no move gains, the members of
the loops still open that no majority of good loops vouches for (gain 0) are nulled.

One pixel at a time in compiled code (``prange``) with a few ``npair``-long work vectors.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: value of the cycle-fix array for "null this pair at this pixel"
NULL = -128


@njit(cache=True, nogil=True)
def _tally(R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray, pos: np.ndarray, neg: np.ndarray,
           n: np.ndarray) -> int:  # pragma: no cover - compiled
    """Per pair: trusted active loops ``n`` and those a +1 (``pos``) or -1 (``neg``) cycle would close.
    Returns the number of active loops still open."""
    pos[:] = 0
    neg[:] = 0
    n[:] = 0
    n_open = 0
    for lp in range(R.size):
        if not act[lp]:
            continue
        r = R[lp]
        if r != 0:
            n_open += 1
        for m in range(3):
            p = mem[lp, m]
            v = sgn[lp, m] * r
            n[p] += 1
            if v > 0:
                pos[p] += 1
            elif v < 0:
                neg[p] += 1
    return n_open


@njit(cache=True, nogil=True)
def _gain(p: int, s: int, pos: np.ndarray, neg: np.ndarray, n: np.ndarray) -> int:  # pragma: no cover
    """Loops closed minus loops opened by moving pair ``p`` one cycle in direction ``s``."""
    return 2 * (pos[p] if s > 0 else neg[p]) - n[p]


@njit(cache=True, nogil=True)
def _null(p: int, null: np.ndarray, act: np.ndarray, mem: np.ndarray) -> None:  # pragma: no cover
    """Null pair ``p``: its loops no longer count."""
    null[p] = True
    for lp in range(act.size):
        if act[lp] and (mem[lp, 0] == p or mem[lp, 1] == p or mem[lp, 2] == p):
            act[lp] = False


@njit(cache=True, nogil=True)
def _ambiguous(bp: int, bs: int, best: int, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
               pos: np.ndarray, neg: np.ndarray, n: np.ndarray, null: np.ndarray) -> bool:  # pragma: no cover
    """Whether another member of a loop the move (bp, bs) closes gains as much by closing it; those
    members are nulled."""
    amb = False
    for lp in range(R.size):
        if not act[lp] or R[lp] == 0:
            continue
        mine = -1
        for m in range(3):
            if mem[lp, m] == bp:
                mine = m
        if mine < 0 or sgn[lp, mine] * R[lp] * bs <= 0:
            continue
        for m in range(3):
            q = mem[lp, m]
            if q == bp:
                continue
            sq = 1 if sgn[lp, m] * R[lp] > 0 else -1
            if _gain(q, sq, pos, neg, n) >= best:
                null[q] = True
                amb = True
    return amb


@njit(cache=True, nogil=True)
def _solve_pixel(R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray, npair: int, min_loops: int,
                 out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Greedy integer assignment at one pixel; ``out`` (npair,) int8 receives -k (or NULL)."""
    k = np.zeros(npair, np.int32)
    null = np.zeros(npair, np.bool_)
    pos = np.zeros(npair, np.int32)
    neg = np.zeros(npair, np.int32)
    n = np.zeros(npair, np.int32)
    for _ in range(4 * npair + 8):
        if _tally(R, act, mem, sgn, pos, neg, n) == 0:
            break
        best, bp, bs = 0, -1, 0
        for p in range(npair):
            for s in (1, -1):
                g = _gain(p, s, pos, neg, n)
                if g > best:
                    best, bp, bs = g, p, s
        if bp < 0:  # nothing gains: null the open loops' members that no majority vouches for
            for lp in range(R.size):
                if act[lp] and R[lp] != 0:
                    for m in range(3):
                        q = mem[lp, m]
                        if max(_gain(q, 1, pos, neg, n), _gain(q, -1, pos, neg, n)) >= 0:
                            null[q] = True
            break
        if _ambiguous(bp, bs, best, R, act, mem, sgn, pos, neg, n, null) or \
                (pos[bp] if bs > 0 else neg[bp]) < min_loops:
            null[bp] = True
            for q in range(npair):
                if null[q]:
                    _null(q, null, act, mem)
            continue
        k[bp] += bs
        for lp in range(R.size):
            for m in range(3):
                if mem[lp, m] == bp:
                    R[lp] -= sgn[lp, m] * bs
    for p in range(npair):
        out[p] = NULL if null[p] else max(-127, min(127, -k[p]))


@njit(cache=True, nogil=True, parallel=True)
def solve_pixels(K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray, npair: int,
                 min_loops: int) -> np.ndarray:  # pragma: no cover - compiled
    """Cycle fix (npair, npix) int8 from the integer misclosures ``K`` (nloop, npix) of the loops
    ``trusted`` there; loop ``l`` is ``sum_m sgn[l, m] * phase[mem[l, m]]``."""
    npix = K.shape[1]
    fix = np.zeros((npair, npix), np.int8)
    for j in prange(npix):
        col = np.zeros(npair, np.int8)
        _solve_pixel(K[:, j].astype(np.int32), trusted[:, j].copy(), mem, sgn, npair, min_loops, col)
        fix[:, j] = col
    return fix
