"""Compiled per-pixel kernel of the integer-cycle assignment of :func:`kansho.loops.pixel_cycle_fix`.

At one pixel the integer misclosures ``K`` (nloop,) of the triangle loops it trusts are explained by
integer cycle errors ``k`` (npair,) of the pairs, ``K = L k``, with as few and as small errors as
possible: a greedy descent of the L1 misfit ``sum_l |K_l - (L k)_l|`` by one cycle of one pair at a
time (the phase-closure correction of Yunjun et al. 2019, *Computers & Geosciences* 133, 104331,
§3.2, solves ``min ||K - L k||² + α||k||₁``; Benoit et al. 2020, *Remote Sensing of Environment* 237,
111502, iterate on misclosures pair by pair in the same spirit; the use of clean partner loops to
vouch for a pair follows Biggs et al. 2007, *Geophys. J. Int.* 170(3)). The move taken is the one
that closes more trusted loops than it opens (its *gain*). When another member of a loop it closes
gains too (even less: two pairs in error with a shared epoch gain less each than the one clean pair
whose loops with both of them they open), each of these rival moves is followed by plain greedy moves
to the end and the one leaving the smallest misfit with the fewest cycles is taken; if that too is
tied, the pairs of the tied moves are nulled. A move supported by fewer than ``min_loops`` loops is nulled rather than
applied. Last, an estimate that an epoch shift (invisible to every loop) turns into one with
at most one more pair in error is nulled (:func:`_epoch_check`), and so is a pair left with no loop
once its partners were nulled, if one of its loops did not close (:func:`_orphan_check`). When no move
gains, the members of the loops still open that no majority of good loops vouches for (gain 0) are nulled.

One pixel at a time in compiled code (batches of pixels on threads, each with its scratch
vectors allocated once), over the loops trusted there only, with each pair's loops listed so that a
move touches its loops alone.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._threads import run_ranges

#: value of the cycle-fix array for "null this pair at this pixel"
NULL = -128
#: the two directions of a move, as int64 scalars: a literal 1 or -1 in a call compiles the callee once more
#: for each (numba types literals as their own types)
PLUS = np.int64(1)
MINUS = np.int64(-1)


@njit(**HELPER)
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


@njit(**HELPER)
def _gain(p: int, s: int | np.int64, pos: np.ndarray, neg: np.ndarray, n: np.ndarray) -> int:  # pragma: no cover
    """Loops closed minus loops opened by moving pair ``p`` one cycle in direction ``s``."""
    return 2 * (pos[p] if s > 0 else neg[p]) - n[p]


@njit(**HELPER)
def _rivals(bp: int, bs: int, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
            lptr: np.ndarray, lref: np.ndarray, pos: np.ndarray, neg: np.ndarray, n: np.ndarray,
            rdir: np.ndarray) -> int:  # pragma: no cover
    """Other members of the open loops the move (bp, bs) closes that gain by closing them (however
    little: the greedy's first choice need not lead to the smallest misfit); ``rdir[q]`` receives
    the direction of each (0 elsewhere). Returns how many."""
    rdir[:] = 0
    count = 0
    for e in range(lptr[bp], lptr[bp + 1]):  # the loops of bp, in loop order
        lp, mine = lref[e] // 3, lref[e] % 3
        if not act[lp] or R[lp] == 0 or sgn[lp, mine] * R[lp] * bs <= 0:
            continue
        for m in range(3):
            q = mem[lp, m]
            sq = 1 if sgn[lp, m] * R[lp] > 0 else -1
            if q != bp and rdir[q] == 0 and _gain(q, sq, pos, neg, n) >= 1:
                rdir[q] = sq
                count += 1
    return count


@njit(**HELPER)
def _move(p: int, s: int | np.int64, R: np.ndarray, sgn: np.ndarray, lptr: np.ndarray,
          lref: np.ndarray) -> None:  # pragma: no cover
    """Estimate one more cycle ``s`` in pair ``p``: its loops' residual misclosures change."""
    for e in range(lptr[p], lptr[p + 1]):
        lp = lref[e] // 3
        R[lp] -= sgn[lp, lref[e] % 3] * s


@njit(**HELPER)
def _count(lp: int, d: int | np.int64, R: np.ndarray, mem: np.ndarray, sgn: np.ndarray, pos: np.ndarray,
           neg: np.ndarray, n: np.ndarray) -> int:  # pragma: no cover - compiled
    """Add ``d`` (±1) times loop ``lp``'s share of :func:`_tally`'s counts; returns ``d`` if it is open."""
    r = R[lp]
    for m in range(3):
        p = mem[lp, m]
        v = sgn[lp, m] * r
        n[p] += d
        if v > 0:
            pos[p] += d
        elif v < 0:
            neg[p] += d
    return int(d) if r != 0 else 0


@njit(**HELPER)
def _move_tallied(p: int, s: int, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
                  lptr: np.ndarray, lref: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                  n: np.ndarray) -> int:  # pragma: no cover - compiled
    """:func:`_move`, keeping :func:`_tally`'s counts of the active loops; returns the change of the
    number of open loops."""
    d_open = 0
    for e in range(lptr[p], lptr[p + 1]):
        lp = lref[e] // 3
        if act[lp]:
            d_open += _count(lp, MINUS, R, mem, sgn, pos, neg, n)
        R[lp] -= sgn[lp, lref[e] % 3] * s
        if act[lp]:
            d_open += _count(lp, PLUS, R, mem, sgn, pos, neg, n)
    return d_open


@njit(**HELPER)
def _null_tallied(p: int, null: np.ndarray, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
                  lptr: np.ndarray, lref: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                  n: np.ndarray) -> int:  # pragma: no cover - compiled
    """Null pair ``p`` (its loops no longer count), keeping :func:`_tally`'s counts; returns the
    change of the number of open loops."""
    null[p] = True
    d_open = 0
    for e in range(lptr[p], lptr[p + 1]):
        lp = lref[e] // 3
        if act[lp]:
            d_open += _count(lp, MINUS, R, mem, sgn, pos, neg, n)
            act[lp] = False
    return d_open


@njit(**HELPER)
def _best_move(pos: np.ndarray, neg: np.ndarray, n: np.ndarray) -> tuple[int, int, int]:  # pragma: no cover
    """The first move of largest positive gain: (gain, pair, direction); pair -1 when none gains."""
    best, bp, bs = 0, -1, 0
    for p in range(n.size):
        for s in (1, -1):
            g = _gain(p, s, pos, neg, n)
            if g > best:
                best, bp, bs = g, p, s
    return best, bp, bs


@njit(**HELPER)
def _lookahead(p: int, s: int, R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray, lptr: np.ndarray,
               lref: np.ndarray, pos: np.ndarray, neg: np.ndarray, n: np.ndarray,
               Rc: np.ndarray) -> int:  # pragma: no cover
    """Score of taking move (p, s) and then plain greedy moves to the end: the misfit left (sum of
    |residual misclosure| over the trusted loops) times 1000 plus the number of moves. ``pos``,
    ``neg``, ``n`` and ``Rc`` (R's size) are scratch."""
    for lp in range(R.size):
        Rc[lp] = R[lp]
    _move(p, np.int64(s), Rc, sgn, lptr, lref)
    moves = 1
    for _ in range(4 * n.size + 8):
        if _tally(Rc, act, mem, sgn, pos, neg, n) == 0:
            break
        _g, q, sq = _best_move(pos, neg, n)
        if q < 0:
            break
        _move(q, sq, Rc, sgn, lptr, lref)
        moves += 1
    misfit = 0
    for lp in range(Rc.size):
        if act[lp]:
            misfit += abs(Rc[lp])
    return 1000 * misfit + moves


@njit(**HELPER)
def _settle_tie(bp: int, bs: int, rdir: np.ndarray, R: np.ndarray, act: np.ndarray, mem: np.ndarray,
                sgn: np.ndarray, lptr: np.ndarray, lref: np.ndarray, pos: np.ndarray, neg: np.ndarray, n: np.ndarray,
                null: np.ndarray, scratch: np.ndarray, Rc: np.ndarray,
                score: np.ndarray) -> tuple[int, int]:  # pragma: no cover
    """Choose among the tied moves (bp, bs) and ``rdir`` the one whose greedy completion leaves the
    smallest misfit with the fewest moves; returns it, or (-1, 0) after nulling the pairs of the
    moves tied on that score too. ``scratch`` (3, npair) int32, ``Rc`` (R's size) int32 and ``score``
    (npair,) int64 are scratch. Plain loops: numpy's forms (flatnonzero, copies, masks) cost ~0.9 s more
    compilation here."""
    rdir[bp] = bs
    sp, sn, sc = scratch[0], scratch[1], scratch[2]
    lo, n_lo, win = -1, 0, -1
    for q in range(rdir.size):  # the candidates, in pair order
        if rdir[q] == 0:
            continue
        score[q] = _lookahead(q, rdir[q], R, act, mem, sgn, lptr, lref, sp, sn, sc, Rc)
        if n_lo == 0 or score[q] < lo:
            lo, n_lo, win = score[q], 1, q
        elif score[q] == lo:
            n_lo += 1
    if n_lo == 1:
        return win, rdir[win]
    for q in range(rdir.size):
        if rdir[q] != 0 and score[q] == lo:
            null[q] = True
    return -1, 0


@njit(**HELPER)
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


@njit(**HELPER)
def _orphan_check(R0: np.ndarray, act0: np.ndarray, act: np.ndarray, mem: np.ndarray, k: np.ndarray,
                  null: np.ndarray, flags: np.ndarray) -> None:  # pragma: no cover - compiled
    """Null a pair left uncorrected whose every loop was taken away by nulling its partners, when one
    of those loops did not close: nothing checks it any more, and it was implicated (the two pairs of
    an epoch nulled as tied leave the third's own error undetermined, e.g. errors of -1 and -2 cycles in
    two of a first epoch's three pairs). One pass over the loops; loops are taken away only by nulls."""
    checked, implicated = flags[2], flags[3]
    any_null = False
    for p in range(k.size):
        any_null = any_null or null[p]
        checked[p] = False
        implicated[p] = False
    if not any_null:
        return
    for lp in range(act0.size):
        for m in range(3):
            if act[lp]:
                checked[mem[lp, m]] = True
            elif act0[lp] and R0[lp] != 0:
                implicated[mem[lp, m]] = True
    for p in range(k.size):
        if implicated[p] and not checked[p] and not null[p] and k[p] == 0:
            null[p] = True


@njit(**HELPER)
def _solve_pixel(R: np.ndarray, act: np.ndarray, mem: np.ndarray, sgn: np.ndarray, ends: np.ndarray,
                 min_loops: int, out: np.ndarray, work: np.ndarray, flags: np.ndarray, R0: np.ndarray,
                 act0: np.ndarray, lptr: np.ndarray, lref: np.ndarray,
                 score: np.ndarray) -> None:  # pragma: no cover - compiled
    """Greedy integer assignment at one pixel; ``out`` (npair,) int8 receives -k (or NULL).

    ``R`` (nt,) are the misclosures of the loops trusted there (``act`` all true on entry, ``mem``
    and ``sgn`` (nt, 3) their members); ``work`` (9, npair) int32, ``flags`` (4, npair) bool, ``R0``
    (at least 2·nt,) int32, ``act0`` (nt,), ``lptr`` (npair + 1,), ``lref`` (3·nt,) and ``score`` (npair,)
    int64 are scratch, ``lptr`` and ``lref`` the loops of each pair (``3·loop + member``, in loop order)."""
    npair = ends.shape[0]
    nt = R.size
    for lp in range(nt):  # not R0[:] = R: numba's array-to-slice assignment costs ~1.3 s to compile
        R0[lp] = R[lp]
        act0[lp] = act[lp]
    k, pos, neg, n, rdir, cnt = work[0], work[1], work[2], work[3], work[4], work[5]
    Rc = R0[nt:2 * nt]  # the lookahead's copy of R
    seen, null = flags[0], flags[1]
    k[:] = 0
    seen[:] = False
    null[:] = False
    cnt[:] = 0
    for lp in range(nt):
        for m in range(3):
            seen[mem[lp, m]] = True
            cnt[mem[lp, m]] += 1
    lptr[0] = 0
    for p in range(npair):
        lptr[p + 1] = lptr[p] + cnt[p]
        cnt[p] = lptr[p]
    for lp in range(nt):
        for m in range(3):
            q = mem[lp, m]
            lref[cnt[q]] = 3 * lp + m
            cnt[q] += 1
    n_open = _tally(R, act, mem, sgn, pos, neg, n)  # then kept up to date move by move
    for _ in range(4 * npair + 8):
        if n_open == 0:
            break
        _best, bp, bs = _best_move(pos, neg, n)
        if bp < 0:  # nothing gains: null the open loops' members that no majority vouches for
            for lp in range(nt):
                if act[lp] and R[lp] != 0:
                    for m in range(3):
                        q = mem[lp, m]
                        if max(_gain(q, PLUS, pos, neg, n), _gain(q, MINUS, pos, neg, n)) >= 0:
                            null[q] = True
            break
        if _rivals(bp, bs, R, act, mem, sgn, lptr, lref, pos, neg, n, rdir) > 0:
            bp, bs = _settle_tie(bp, bs, rdir, R, act, mem, sgn, lptr, lref, pos, neg, n, null, work[6:], Rc, score)
        if bp >= 0 and (pos[bp] if bs > 0 else neg[bp]) < min_loops:
            null[bp] = True
            bp = -1
        if bp < 0:
            for q in range(npair):
                if null[q]:
                    n_open += _null_tallied(q, null, R, act, mem, sgn, lptr, lref, pos, neg, n)
            continue
        k[bp] += bs
        n_open += _move_tallied(bp, bs, R, act, mem, sgn, lptr, lref, pos, neg, n)
    _epoch_check(k, seen, ends, null)
    _orphan_check(R0, act0, act, mem, k, null, flags)
    for p in range(npair):
        out[p] = NULL if null[p] else max(-127, min(127, -k[p]))


#: active pixels per parallel work item (each allocates its scratch once)
COLS_PER_TASK = 256


def solve_pixels(K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray, ends: np.ndarray,
                 min_loops: int, cols: np.ndarray, fix: np.ndarray) -> None:
    """Cycle fix ``fix[:, j]`` (npair, npix) int8 at the pixels ``j`` of ``cols`` from the integer
    misclosures ``K`` (nloop, npix) of the loops ``trusted`` there; loop ``l`` is
    ``sum_m sgn[l, m] * phase[mem[l, m]]``; ``ends`` (npair, 2) the pairs' first and second epochs
    (any integer labels). Only the loops trusted at a pixel take part there (the others never count).

    Batches of :data:`COLS_PER_TASK` pixels run on threads (:func:`kansho._threads.run_ranges`; no
    ``prange``: this kernel took 13.1 s to compile with it, 8.3 s without); each pixel is solved alone,
    so the result does not depend on the threads."""
    ntask = (cols.size + COLS_PER_TASK - 1) // COLS_PER_TASK
    run_ranges(_solve_tasks, ntask, K, trusted, mem, sgn, ends, min_loops, cols, fix)


@njit(**KERNEL)
def _solve_tasks(t0: int, t1: int, K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
                 ends: np.ndarray, min_loops: int, cols: np.ndarray, fix: np.ndarray) -> None:  # pragma: no cover
    """The batches ``t0 .. t1 - 1`` of :func:`solve_pixels`."""
    nloop = K.shape[0]
    npair = ends.shape[0]
    for t in range(t0, t1):
        R = np.empty(nloop, np.int32)
        act = np.empty(nloop, np.bool_)
        mem_t = np.empty((nloop, 3), mem.dtype)
        sgn_t = np.empty((nloop, 3), sgn.dtype)
        work = np.empty((9, npair), np.int32)
        flags = np.empty((4, npair), np.bool_)
        R0 = np.empty(2 * nloop, np.int32)
        act0 = np.empty(nloop, np.bool_)
        lptr = np.empty(npair + 1, np.int64)
        score = np.empty(npair, np.int64)
        lref = np.empty(3 * nloop, np.int64)
        i0, i1 = t * COLS_PER_TASK, min((t + 1) * COLS_PER_TASK, cols.size)
        Kt = np.empty((i1 - i0, nloop), np.int32)  # the batch's columns, gathered row by row (cache friendly)
        Tt = np.empty((i1 - i0, nloop), np.bool_)
        Ft = np.empty((i1 - i0, npair), np.int8)
        for lp in range(nloop):
            for i in range(i0, i1):
                Kt[i - i0, lp] = K[lp, cols[i]]
                Tt[i - i0, lp] = trusted[lp, cols[i]]
        for i in range(i0, i1):
            nt = 0
            for lp in range(nloop):
                if Tt[i - i0, lp]:
                    R[nt] = Kt[i - i0, lp]
                    for m in range(3):  # element by element: numba's row assignment costs ~1.4 s to compile
                        mem_t[nt, m] = mem[lp, m]
                        sgn_t[nt, m] = sgn[lp, m]
                    act[nt] = True
                    nt += 1
            _solve_pixel(R[:nt], act[:nt], mem_t[:nt], sgn_t[:nt], ends, min_loops, Ft[i - i0], work, flags, R0,
                         act0[:nt], lptr, lref, score)
        for p in range(npair):  # the batch's fixes written row by row (a pixel's column is npix bytes apart)
            fp = fix[p]
            for i in range(i0, i1):
                fp[cols[i]] = Ft[i - i0, p]


def null_doubtful(K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray, act: np.ndarray,
                  fix: np.ndarray) -> None:
    """Nulls, in place, each pair left doubtful by the fix ``fix`` (npair, npix) at an active pixel ``act``:
    a pair not nulled that is a member of a trusted loop the fix leaves open (``K + L·fix != 0``, a nulled
    member counted as unchanged) and of no trusted loop that closes with all three members kept and its
    other two members in no open loop (two pairs off alike close their loops with each other). The
    descent can null the one member of an open loop that vouched for the others (three of an epoch's
    pairs off, every interpretation as good as the other): what that loop said about the remaining
    members would be lost, and an error left in.

    The few pixels left with an open loop are found by a compiled pass (:func:`_open_any_ranges`); the
    rule runs on them alone."""
    has_open = np.zeros(act.size, np.bool_)
    run_ranges(_open_any_ranges, (act.size + OPEN_CHUNK - 1) // OPEN_CHUNK, K, trusted, mem, sgn,
               np.ascontiguousarray(act, np.int64), fix, has_open)
    sub = act[has_open]  # the few pixels the descent left with an open loop
    if sub.size:
        run_ranges(_doubtful_ranges, (sub.size + OPEN_CHUNK - 1) // OPEN_CHUNK, K, trusted, mem, sgn,
                   np.ascontiguousarray(sub, np.int64), fix)


@njit(**KERNEL)
def _doubtful_ranges(r0: int, r1: int, K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
                     sub: np.ndarray, fix: np.ndarray) -> None:  # pragma: no cover - compiled
    """Chunks ``r0 .. r1 - 1`` of the pixels ``sub`` of :func:`null_doubtful`: its rule, pixel by pixel."""
    nloop = K.shape[0]
    npair = fix.shape[0]
    f = np.empty(npair, np.int64)
    null = np.empty(npair, np.bool_)
    doubtful = np.empty(npair, np.bool_)
    support = np.empty(npair, np.int64)
    closed = np.empty(nloop, np.bool_)
    for ch in range(r0, r1):
        for a in range(ch * OPEN_CHUNK, min((ch + 1) * OPEN_CHUNK, sub.size)):
            px = sub[a]
            for q in range(npair):
                null[q] = fix[q, px] == NULL
                f[q] = 0 if null[q] else np.int64(fix[q, px])
                doubtful[q] = False
                support[q] = 0
            for lp in range(nloop):  # K + L·fix over the trusted loops (a nulled member counted as unchanged)
                closed[lp] = False
                if not trusted[lp, px]:
                    continue
                still = np.int64(K[lp, px])
                for m in range(3):
                    still += sgn[lp, m] * f[mem[lp, m]]
                if still != 0:  # an open loop puts its members in doubt (those not nulled already)
                    for m in range(3):
                        q = mem[lp, m]
                        doubtful[q] = doubtful[q] or not null[q]
                else:
                    closed[lp] = not (null[mem[lp, 0]] or null[mem[lp, 1]] or null[mem[lp, 2]])
            for lp in range(nloop):  # a closed loop vouches for a member when its other two are not in doubt
                if not closed[lp]:
                    continue
                for m in range(3):
                    if not doubtful[mem[lp, (m + 1) % 3]] and not doubtful[mem[lp, (m + 2) % 3]]:
                        support[mem[lp, m]] += 1
            for q in range(npair):
                if doubtful[q] and support[q] == 0:
                    fix[q, px] = NULL


#: active pixels per parallel chunk of :func:`_open_any_ranges`
OPEN_CHUNK = 2048


@njit(**KERNEL)
def _open_any_ranges(r0: int, r1: int, K: np.ndarray, trusted: np.ndarray, mem: np.ndarray, sgn: np.ndarray,
                     act: np.ndarray, fix: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Chunks ``r0 .. r1 - 1`` of the active pixels ``act`` of :func:`null_doubtful`: ``out[a]`` True when
    pixel ``act[a]`` has a trusted loop left open by ``fix`` (a nulled member counted as unchanged). The
    loops are the outer loop, so each row of ``K`` and ``trusted`` is read along the pixels."""
    nloop = K.shape[0]
    nact = act.size
    for ch in range(r0, r1):
        a0 = ch * OPEN_CHUNK
        a1 = min(a0 + OPEN_CHUNK, nact)
        for lp in range(nloop):
            m0, m1, m2 = mem[lp, 0], mem[lp, 1], mem[lp, 2]
            s0, s1, s2 = sgn[lp, 0], sgn[lp, 1], sgn[lp, 2]
            for a in range(a0, a1):
                p = act[a]
                if out[a] or not trusted[lp, p]:
                    continue
                f0, f1, f2 = fix[m0, p], fix[m1, p], fix[m2, p]
                rest = np.int64(K[lp, p])
                rest += s0 * (0 if f0 == NULL else np.int64(f0))
                rest += s1 * (0 if f1 == NULL else np.int64(f1))
                rest += s2 * (0 if f2 == NULL else np.int64(f2))
                if rest != 0:
                    out[a] = True
