"""Compiled per-pixel kernel of the integer-cycle assignment of :func:`kansho.loops.pixel_cycle_fix`.

At one pixel the integer misclosures ``K`` (nloop,) of the triangle loops it trusts are explained by
integer cycle errors ``k`` (npair,) of the pairs, ``K = L k``, with as few and as small errors as
possible: a greedy descent of the L1 misfit ``sum_l |K_l - (L k)_l|`` by one cycle of one pair at a
time (the phase-closure correction of Yunjun et al. 2019, *Computers & Geosciences* 133, 104331,
§3.2, solves ``min ||K - L k||² + α||k||₁``; Benoit et al. 2020, *Remote Sensing of Environment* 237,
111502, iterate on misclosures pair by pair in the same spirit; the use of clean partner loops to
vouch for a pair follows Biggs et al. 2007, *Geophys. J. Int.* 170(3)). The move taken is the one
that closes more trusted loops than it opens (its *gain*). When another member of a loop it closes
gains as much, each of the tied moves is followed by plain greedy moves to the end and the one
leaving the smallest misfit with the fewest cycles is taken; if that too is tied, the pairs of the
tied moves are nulled. A move supported by fewer than ``min_loops`` loops is nulled rather than
applied. Last, an estimate that an epoch shift (invisible to every loop) turns into one with
at most one more pair in error is nulled (:func:`_epoch_check`), and so is a pair left with no loop
once its partners were nulled, if one of its loops did not close (:func:`_orphan_check`). When no move
gains, the members of the loops still open that no majority of good loops vouches for (gain 0) are nulled.

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
def _rivals(bp: int, bs: int, best: int, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
            pos: np.ndarray, neg: np.ndarray, n: np.ndarray, rdir: np.ndarray) -> int:  # pragma: no cover
    """Other members of the open loops the move (bp, bs) closes that gain as much by closing them;
    ``rdir[q]`` receives the direction of each (0 elsewhere). Returns how many."""
    rdir[:] = 0
    count = 0
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
            sq = 1 if sgn[lp, m] * R[lp] > 0 else -1
            if q != bp and rdir[q] == 0 and _gain(q, sq, pos, neg, n) >= best:
                rdir[q] = sq
                count += 1
    return count


@njit(cache=True, nogil=True)
def _move(p: int, s: int, R: np.ndarray, mem: np.ndarray, sgn: np.ndarray) -> None:  # pragma: no cover
    """Estimate one more cycle ``s`` in pair ``p``: its loops' residual misclosures change."""
    for lp in range(R.size):
        for m in range(3):
            if mem[lp, m] == p:
                R[lp] -= sgn[lp, m] * s


@njit(cache=True, nogil=True)
def _best_move(pos: np.ndarray, neg: np.ndarray, n: np.ndarray) -> tuple[int, int, int]:  # pragma: no cover
    """The first move of largest positive gain: (gain, pair, direction); pair -1 when none gains."""
    best, bp, bs = 0, -1, 0
    for p in range(n.size):
        for s in (1, -1):
            g = _gain(p, s, pos, neg, n)
            if g > best:
                best, bp, bs = g, p, s
    return best, bp, bs


@njit(cache=True, nogil=True)
def _lookahead(p: int, s: int, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
               pos: np.ndarray, neg: np.ndarray, n: np.ndarray) -> int:  # pragma: no cover
    """Score of taking move (p, s) and then plain greedy moves to the end: the misfit left (sum of
    |residual misclosure| over the trusted loops) times 1000 plus the number of moves."""
    Rc = R.copy()
    _move(p, s, Rc, mem, sgn)
    moves = 1
    for _ in range(4 * n.size + 8):
        if _tally(Rc, act, mem, sgn, pos, neg, n) == 0:
            break
        _g, q, sq = _best_move(pos, neg, n)
        if q < 0:
            break
        _move(q, sq, Rc, mem, sgn)
        moves += 1
    misfit = 0
    for lp in range(Rc.size):
        if act[lp]:
            misfit += abs(Rc[lp])
    return 1000 * misfit + moves


@njit(cache=True, nogil=True)
def _settle_tie(bp: int, bs: int, rdir: np.ndarray, R: np.ndarray, act: np.ndarray, mem: np.ndarray,
                sgn: np.ndarray, pos: np.ndarray, neg: np.ndarray, n: np.ndarray, null: np.ndarray
                ) -> tuple[int, int]:  # pragma: no cover
    """Choose among the tied moves (bp, bs) and ``rdir`` the one whose greedy completion leaves the
    smallest misfit with the fewest moves; returns it, or (-1, 0) after nulling the pairs of the
    moves tied on that score too."""
    rdir[bp] = bs
    cand = np.flatnonzero(rdir)
    score = np.empty(cand.size, np.int64)
    for i in range(cand.size):
        score[i] = _lookahead(cand[i], rdir[cand[i]], R, act, mem, sgn, pos.copy(), neg.copy(), n.copy())
    lo = score.min()
    win = cand[score == lo]
    if win.size == 1:
        return win[0], rdir[win[0]]
    for q in win:
        null[q] = True
    return -1, 0


@njit(cache=True, nogil=True)
def _epoch_check(k: np.ndarray, seen: np.ndarray, ends: np.ndarray, null: np.ndarray) -> None:  # pragma: no cover
    """Null the estimates an epoch shift makes about as plausible.

    Adding ``c`` cycles to every pair ending at an epoch and ``-c`` to every pair starting there
    leaves every loop unchanged, so the loops cannot tell ``k`` from that alternative. Over the pairs
    at the epoch that the loops see (``seen``), when some ``c`` puts at most one more pair in
    error than ``k`` (two of an end epoch's three pairs off by one cycle look like the third off
    by the opposite), the pairs in error in either are nulled."""
    for p0 in range(k.size):
        if k[p0] == 0 or null[p0]:
            continue
        for side in range(2):
            e = ends[p0, side]
            cost0 = 0
            for q in range(k.size):
                if seen[q] and not null[q] and (ends[q, 0] == e or ends[q, 1] == e) and k[q] != 0:
                    cost0 += 1
            c = -k[p0] * (1 if side == 1 else -1)
            cost = 0
            for q in range(k.size):
                at_e = ends[q, 0] == e or ends[q, 1] == e
                if seen[q] and not null[q] and at_e and k[q] + c * (1 if ends[q, 1] == e else -1) != 0:
                    cost += 1
            if cost <= cost0 + 1:
                for q in range(k.size):
                    at_e = ends[q, 0] == e or ends[q, 1] == e
                    if seen[q] and at_e and (k[q] != 0 or k[q] + c * (1 if ends[q, 1] == e else -1) != 0):
                        null[q] = True


@njit(cache=True, nogil=True)
def _orphan_check(R0: np.ndarray, act0: np.ndarray, act: np.ndarray, mem: np.ndarray, k: np.ndarray,
                  null: np.ndarray) -> None:  # pragma: no cover - compiled
    """Null a pair left uncorrected whose every loop was taken away by nulling its partners, when one
    of those loops did not close: nothing checks it any more, and it was implicated (the two pairs of
    an epoch nulled as tied leave the third's own error undetermined, e.g. errors of -1 and -2 cycles in
    two of a first epoch's three pairs). One pass over the loops; loops are taken away only by nulls."""
    if not null.any():
        return
    checked = np.zeros(k.size, np.bool_)
    implicated = np.zeros(k.size, np.bool_)
    for lp in range(act0.size):
        for m in range(3):
            if act[lp]:
                checked[mem[lp, m]] = True
            elif act0[lp] and R0[lp] != 0:
                implicated[mem[lp, m]] = True
    for p in range(k.size):
        if implicated[p] and not checked[p] and not null[p] and k[p] == 0:
            null[p] = True


@njit(cache=True, nogil=True)
def _solve_pixel(R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray, ends: np.ndarray,
                 min_loops: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Greedy integer assignment at one pixel; ``out`` (npair,) int8 receives -k (or NULL)."""
    npair = ends.shape[0]
    R0 = R.copy()
    act0 = act.copy()
    seen = np.zeros(npair, np.bool_)
    for lp in range(R.size):
        if act[lp]:
            for m in range(3):
                seen[mem[lp, m]] = True
    k = np.zeros(npair, np.int32)
    null = np.zeros(npair, np.bool_)
    pos = np.zeros(npair, np.int32)
    neg = np.zeros(npair, np.int32)
    n = np.zeros(npair, np.int32)
    rdir = np.zeros(npair, np.int32)
    for _ in range(4 * npair + 8):
        if _tally(R, act, mem, sgn, pos, neg, n) == 0:
            break
        best, bp, bs = _best_move(pos, neg, n)
        if bp < 0:  # nothing gains: null the open loops' members that no majority vouches for
            for lp in range(R.size):
                if act[lp] and R[lp] != 0:
                    for m in range(3):
                        q = mem[lp, m]
                        if max(_gain(q, 1, pos, neg, n), _gain(q, -1, pos, neg, n)) >= 0:
                            null[q] = True
            break
        if _rivals(bp, bs, best, R, act, mem, sgn, pos, neg, n, rdir) > 0:
            bp, bs = _settle_tie(bp, bs, rdir, R, act, mem, sgn, pos, neg, n, null)
        if bp >= 0 and (pos[bp] if bs > 0 else neg[bp]) < min_loops:
            null[bp] = True
            bp = -1
        if bp < 0:
            for q in range(npair):
                if null[q]:
                    _null(q, null, act, mem)
            continue
        k[bp] += bs
        _move(bp, bs, R, mem, sgn)
    _epoch_check(k, seen, ends, null)
    _orphan_check(R0, act0, act, mem, k, null)
    for p in range(npair):
        out[p] = NULL if null[p] else max(-127, min(127, -k[p]))


@njit(cache=True, nogil=True, parallel=True)
def solve_pixels(K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray, ends: np.ndarray,
                 min_loops: int) -> np.ndarray:  # pragma: no cover - compiled
    """Cycle fix (npair, npix) int8 from the integer misclosures ``K`` (nloop, npix) of the loops
    ``trusted`` there; loop ``l`` is ``sum_m sgn[l, m] * phase[mem[l, m]]``; ``ends`` (npair, 2) the
    pairs' first and second epochs (any integer labels)."""
    npix = K.shape[1]
    npair = ends.shape[0]
    fix = np.zeros((npair, npix), np.int8)
    for j in prange(npix):
        col = np.zeros(npair, np.int8)
        _solve_pixel(K[:, j].astype(np.int32), trusted[:, j].copy(), mem, sgn, ends, min_loops, col)
        fix[:, j] = col
    return fix
