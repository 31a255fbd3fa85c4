"""Compiled kernel of :func:`kansho.loops.loop_phase_sums`: per chunk of pixels and per loop, the sum of
squares and the count of the finite loop phases of the (fixed, referred) phase, without the loop phase array.

Each sum runs pixel after pixel (a fixed order, whatever the threads) with the same floating-point
operations as NumPy's formulation in :mod:`kansho.loops` (``tests/test_loops_jit.py`` checks them bit for
bit); only the work around them is arranged for speed: branch-free pixel loops that vectorise, and the
sums of eight loops run side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._loops_jit import CHUNK, _fixed_row, _loop_sum, _triangle
from kansho._threads import run_ranges

#: loops whose sums of squares :func:`_loop_square_sums_ranges` runs side by side (eight independent additions
#: in flight instead of one chain: each sum keeps its own order, pixel after pixel)
GROUP = 8


def loop_square_sums(u: np.ndarray, fix: np.ndarray, table: np.ndarray, null: int, off: np.ndarray,
                     indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, sq: np.ndarray, count: np.ndarray,
                     cycles: np.ndarray, table64: np.ndarray) -> None:
    """Per :data:`CHUNK` of pixels and per loop, the sum of squares ``sq`` (nchunk, nloop) float64 and the
    count ``count`` (nchunk, nloop) int64 of the finite loop phases of the phase ``v = u (+ fix, see
    :func:`kansho._loops_jit.apply_fix`; none when ``fix`` has no rows) - off`` taken as float64, without the loop phase
    array: each loop's phase over a chunk is made in a buffer of the chunk and squared and summed there,
    pixel after pixel (a fixed order, whatever the threads: the chunks' sums then add up in chunk order).
    With ``cycles`` (npair, npix) int8 (none when it has no rows), ``u`` is first taken as float64 plus
    ``table64[cycles + 128]`` (float64 2π·c) and the fix added in float64 from ``table64``: the phase
    ``float64(u) + 2π·cycles`` as NumPy has it, without making it."""
    npix = u.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_loop_square_sums_ranges, nchunk, u, fix, table, null, off, indptr, indices, data, sq, count, cycles,
               table64)


@njit(**KERNEL)
def _loop_square_sums_ranges(r0: int, r1: int, u: np.ndarray, fix: np.ndarray, table: np.ndarray, null: int,
                             off: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                             sq: np.ndarray, count: np.ndarray, cycles: np.ndarray,
                             table64: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`loop_square_sums` (:func:`kansho._threads.run_ranges`)."""
    npair = u.shape[0]
    npix = u.shape[1]
    nloop = indptr.size - 1
    has_fix = fix.shape[0] > 0
    has_cycles = cycles.shape[0] > 0
    buf = np.empty((npair, CHUNK))
    o = np.empty(CHUNK)
    flag = np.empty(CHUNK)
    q = np.empty((GROUP, CHUNK))
    for c in range(r0, r1):
        j0 = c * CHUNK
        w = min(j0 + CHUNK, npix) - j0
        for p in range(npair):
            _fixed_row(u[p, j0:j0 + w], fix[p, j0:j0 + w] if has_fix else fix[:0, :0].ravel(),
                       cycles[p, j0:j0 + w] if has_cycles else cycles[:0, :0].ravel(), table, table64, null, off[p],
                       buf[p, :w])
        lp = 0
        while lp < nloop:  # loops in groups of GROUP: their sums run side by side, each in pixel order
            g = min(GROUP, nloop - lp)
            for i in range(g):
                count[c, lp + i] = _squares(buf, indptr, indices, data, lp + i, w, q[i], o, flag)
            if g == GROUP:
                _sum_rows8(q, w, sq[c, lp:lp + GROUP])
            else:
                for i in range(g):
                    acc = 0.0
                    qi = q[i]
                    for j in range(w):
                        acc += qi[j]
                    sq[c, lp + i] = acc
            lp += g


@njit(**HELPER)
def _squares(buf: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, lp: int, w: int,
             q: np.ndarray, o: np.ndarray, flag: np.ndarray) -> int:  # pragma: no cover - compiled
    """Loop ``lp``'s phase over the first ``w`` columns of ``buf`` squared into ``q`` where finite (0 elsewhere:
    adding it leaves a sum as it was); returns how many are finite. A triangle's phase is
    :func:`kansho._loops_jit._triangle`'s, in registers, so the pixel loop vectorises; another loop goes through
    :func:`kansho._loops_jit._loop_sum`'s buffers ``o`` and ``flag``."""
    n = 0
    m = indptr[lp]
    if indptr[lp + 1] - m == 3:
        a0, a1, a2 = buf[indices[m]], buf[indices[m + 1]], buf[indices[m + 2]]
        d0, d1, d2 = data[m], data[m + 1], data[m + 2]
        for j in range(w):
            x = _triangle(a0[j], a1[j], a2[j], d0, d1, d2)[1]  # the loop phase, or NaN
            ok = x - x == 0.0
            n += 1 if ok else 0
            q[j] = x * x if ok else 0.0
        return n
    _loop_sum(buf, indptr, indices, data, lp, 0, w, o[:w], flag[:w])
    for j in range(w):
        x = o[j]
        ok = flag[j] == 0 and np.isfinite(x)
        n += 1 if ok else 0
        q[j] = x * x if ok else 0.0
    return n


@njit(**HELPER)
def _sum_rows8(q: np.ndarray, w: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[i] = q[i, 0] + q[i, 1] + ... + q[i, w - 1]`` (from 0, in column order) for the eight rows of ``q``,
    the eight sums side by side."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    q0, q1, q2, q3, q4, q5, q6, q7 = q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
    for j in range(w):
        s0 += q0[j]
        s1 += q1[j]
        s2 += q2[j]
        s3 += q3[j]
        s4 += q4[j]
        s5 += q5[j]
        s6 += q6[j]
        s7 += q7[j]
    out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7] = s0, s1, s2, s3, s4, s5, s6, s7
