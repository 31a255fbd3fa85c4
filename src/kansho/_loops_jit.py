"""Compiled block kernels of :mod:`kansho.loops`: loop phase, trusted misclosures, the cycle fix's
application and the per-pair / per-pixel loop tallies.

Each replaces a chain of whole-array NumPy passes (and sparse products) by one pass over the
block, with the same floating-point operations in the same order, so results are bit for bit
those of the NumPy formulation they replace (``tests/test_loops_jit.py`` checks it).

A loop matrix is given in CSR form: ``indptr`` (nloop + 1,), ``indices`` (nnz,) the member pairs of
each loop in increasing order, ``data`` (nnz,) their signs, in the floating dtype of the phase.
Arrays are (row, pixel) with the pixel axis contiguous; kernels run over chunks of
:data:`CHUNK` pixels, ranges of chunks on threads (:func:`kansho._threads.run_ranges`), so
that every output element has one writer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._threads import run_ranges

#: pixels per parallel work item (a row segment of this length stays in cache across rows)
CHUNK = 2048
TWO_PI = 2.0 * np.pi
#: floating dtypes the kernels take (others go through NumPy in :mod:`kansho.loops`)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
#: :func:`cycle_table` of each float dtype, made once
_CYCLE_TABLES: dict[np.dtype, np.ndarray] = {dt: np.multiply(dt.type(2 * np.pi), np.arange(-128, 128).astype(dt))
                                              for dt in FLOATS}
for _t in _CYCLE_TABLES.values():
    _t.flags.writeable = False


def cycle_table(dtype: npt.DTypeLike) -> np.ndarray:
    """2π·c for c = -128 .. 127 (index c + 128) in ``dtype`` (float32 or float64), as NumPy's product of
    2π in that type and int8 cycles cast to it has it: what the kernels add for a cycle count."""
    return _CYCLE_TABLES[np.dtype(dtype)]


def csr(L: npt.ArrayLike, dtype: npt.DTypeLike = np.float64
        ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], np.ndarray]:
    """Loop matrix (nloop, npair) in CSR form: row pointers, member pairs (increasing in each row)
    and their entries as ``dtype``."""
    a = np.asarray(L)
    rows, cols = np.nonzero(a)
    indptr = np.zeros(a.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64), a[rows, cols].astype(dtype)


@njit(**HELPER)
def _loop_sum(u: np.ndarray, ptr: np.ndarray, idx: np.ndarray, data: np.ndarray, lp: int, j0: int, j1: int,
              o: np.ndarray, flag: np.ndarray) -> None:  # pragma: no cover - compiled
    """Loop ``lp``'s signed sum of the member rows of ``u`` (CSR ``ptr``, ``idx``, ``data``) over the
    columns ``j0:j1`` into ``o``, members in CSR order from 0 (as a sparse product adds them); ``flag``
    gets the sum of ``x - x``: 0 where every member is finite, NaN otherwise."""
    o[:] = 0
    flag[:] = 0
    for m in range(ptr[lp], ptr[lp + 1]):
        x = u[idx[m], j0:j1]
        d = data[m]
        for j in range(j1 - j0):
            o[j] += d * x[j]
            flag[j] += x[j] - x[j]


@njit(**HELPER)
def _triangle(x0: float, x1: float, x2: float, d0: float, d1: float,
              d2: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """A triangle loop's phase at one pixel from its members' phases ``x0``, ``x1``, ``x2`` and signs ``d0``,
    ``d1``, ``d2`` (in CSR order), summed as :func:`_loop_sum` sums it (from 0 in the signs' type, member after
    member). Returns that sum and the sum plus its flag (the sum of ``x - x``): the sum itself, or NaN where a
    member is not finite. In registers, so a pixel loop of it vectorises."""
    s = d0 - d0
    s += d0 * x0
    s += d1 * x1
    s += d2 * x2
    fl = x0 - x0
    fl += x1 - x1
    fl += x2 - x2
    return s, s + fl


@njit(**HELPER)
def _mark_members(dst: np.ndarray, j0: int, row: np.ndarray, ptr: np.ndarray, idx: np.ndarray, lp: int, w: int
                  ) -> None:  # pragma: no cover - compiled
    """``dst[p, j0:j0 + w] |= row[:w]`` for every member pair ``p`` of loop ``lp`` (CSR ``ptr``, ``idx``): the
    pixels where a pair belongs to a loop that ``row`` marks (complete, trusted)."""
    for m in range(ptr[lp], ptr[lp + 1]):
        o = dst[idx[m], j0:j0 + w]
        for j in range(w):
            o[j] = o[j] | row[j]


def loop_phase(u: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """``out[l] = sum_m data[m] * u[indices[m]]`` over the members ``m`` of loop ``l`` (in index
    order, from 0), NaN where a member is not finite: the sparse product ``L @ where(finite, u, 0)``
    with the incomplete loops set to NaN. ``u`` (npair, npix), ``out`` (nloop, npix) of one dtype.

    A member that is not finite makes ``x - x`` NaN (and 0 otherwise): the sum of those flags the
    pixel, whatever the (then discarded) sum of the values."""
    npix = u.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_loop_phase_ranges, nchunk, u, indptr, indices, data, out)


@njit(**KERNEL)
def _loop_phase_ranges(r0: int, r1: int, u: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                       out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`loop_phase` (:func:`kansho._threads.run_ranges`)."""
    nloop = indptr.size - 1
    npix = u.shape[1]
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        flag = np.empty(j1 - j0, out.dtype)
        for lp in range(nloop):
            o = out[lp, j0:j1]
            _loop_sum(u, indptr, indices, data, lp, j0, j1, o, flag)
            for j in range(j1 - j0):
                if flag[j] != 0:
                    o[j] = np.nan


def trusted_loops(ph: np.ndarray, tol: float, K: np.ndarray, trusted: np.ndarray) -> None:
    """``K = rint(v / 2π)`` and ``trusted = finite & |v - 2π·K| <= tol`` of ``v`` = ``ph`` with its
    non-finite values taken as 0; all (nloop, npix), ``K`` float64."""
    npix = ph.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_trusted_loops_ranges, nchunk, ph, tol, K, trusted)


@njit(**KERNEL)
def _trusted_loops_ranges(r0: int, r1: int, ph: np.ndarray, tol: float, K: np.ndarray, trusted: np.ndarray
                          ) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`trusted_loops` (:func:`kansho._threads.run_ranges`)."""
    nloop = ph.shape[0]
    npix = ph.shape[1]
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        for lp in range(nloop):
            for j in range(j0, j1):
                x = ph[lp, j]
                fin = np.isfinite(x)
                v = x if fin else 0.0
                k = np.rint(v / TWO_PI)
                K[lp, j] = k
                trusted[lp, j] = fin and abs(v - TWO_PI * k) <= tol


def misclosures(ph: np.ndarray, tol: float, K: np.ndarray, trusted: np.ndarray, active: np.ndarray) -> None:
    """As :func:`trusted_loops`, with ``K`` (nloop, npix) int16 clipped to ±1000, and ``active``
    (npix,) bool: some trusted loop has ``K != 0`` at the pixel."""
    npix = ph.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_misclosures_ranges, nchunk, ph, tol, K, trusted, active)


@njit(**KERNEL)
def _misclosures_ranges(r0: int, r1: int, ph: np.ndarray, tol: float, K: np.ndarray, trusted: np.ndarray,
                        active: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`misclosures` (:func:`kansho._threads.run_ranges`)."""
    nloop = ph.shape[0]
    npix = ph.shape[1]
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        for j in range(j0, j1):
            active[j] = False
        for lp in range(nloop):
            for j in range(j0, j1):
                x = ph[lp, j]
                fin = np.isfinite(x)
                v = x if fin else 0.0
                k = np.rint(v / TWO_PI)
                t = fin and abs(v - TWO_PI * k) <= tol
                K[lp, j] = np.int16(min(max(k, -1000.0), 1000.0))
                trusted[lp, j] = t
                active[j] = active[j] | (t & (k != 0.0))


def apply_fix(u: np.ndarray, fix: np.ndarray, table: np.ndarray, null: int, out: np.ndarray) -> None:
    """``out = u + table[fix + 128]`` where ``fix != 0``, ``u`` where it is 0, NaN where ``fix == null``;
    flat arrays, ``table`` (256,) the products ``2π·c`` for ``c = -128 .. 127`` in the dtype of ``u``."""
    n = u.size
    nchunk = (n + CHUNK - 1) // CHUNK
    run_ranges(_apply_fix_ranges, nchunk, u, fix, table, null, out)


@njit(**KERNEL)
def _apply_fix_ranges(r0: int, r1: int, u: np.ndarray, fix: np.ndarray, table: np.ndarray, null: int, out: np.ndarray
                      ) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`apply_fix` (:func:`kansho._threads.run_ranges`)."""
    n = u.size
    for c in range(r0, r1):
        i0 = c * CHUNK
        i1 = min(i0 + CHUNK, n)
        uc, fc, oc = u[i0:i1], fix[i0:i1], out[i0:i1]
        for i in range(i1 - i0):
            oc[i] = _fixed_value(uc[i], fc[i], table, null)


def pairs_in_loop(indptr: np.ndarray, indices: np.ndarray, loop_valid: np.ndarray, out: np.ndarray) -> None:
    """``out[p, j]`` (npair, npix) bool: pair ``p`` is a member of a loop valid at pixel ``j``."""
    npix = loop_valid.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_pairs_in_loop_ranges, nchunk, indptr, indices, loop_valid, out)


@njit(**KERNEL)
def _pairs_in_loop_ranges(r0: int, r1: int, indptr: np.ndarray, indices: np.ndarray, loop_valid: np.ndarray,
                          out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`pairs_in_loop` (:func:`kansho._threads.run_ranges`)."""
    nloop = indptr.size - 1
    npix = loop_valid.shape[1]
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        for p in range(out.shape[0]):
            out[p, j0:j1] = False
        for lp in range(nloop):
            _mark_members(out, j0, loop_valid[lp, j0:j1], indptr, indices, lp, j1 - j0)


def fix_counts(fix: np.ndarray, checked: np.ndarray, span: int) -> np.ndarray:
    """Per pair, the counts of each fix value ``-span .. span`` over the pixels ``checked``:
    (npair, 2·span + 1) int64 from ``fix`` and ``checked`` (npair, npix)."""
    npair = fix.shape[0]
    out = np.zeros((npair, 2 * span + 1), np.int64)
    run_ranges(_fix_counts_ranges, npair, fix, checked, span, out)
    return out


@njit(**KERNEL)
def _fix_counts_ranges(r0: int, r1: int, fix: np.ndarray, checked: np.ndarray, span: int, out: np.ndarray
                       ) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`fix_counts` (:func:`kansho._threads.run_ranges`)."""
    npix = fix.shape[1]
    for p in range(r0, r1):
        for j in range(npix):
            f = np.int64(fix[p, j])
            if checked[p, j] and -span <= f <= span:
                out[p, f + span] += 1


def pixel_sums(u: np.ndarray, pptr: np.ndarray, pidx: np.ndarray, pdata: np.ndarray, indptr: np.ndarray,
               indices: np.ndarray, valid: np.ndarray, rows: np.ndarray, err_threshold: float, n_err: np.ndarray,
               cnt: np.ndarray, ss: np.ndarray, loop_valid: np.ndarray) -> None:
    """Per-pixel loop accumulators of :func:`kansho.loops.pixel_loop_sums`. The loop phase ``ph`` is
    computed from ``u`` as :func:`loop_phase` does with the CSR matrix (``pptr``, ``pidx``,
    ``pdata``; the identity when ``u`` is already the loop phase). ``loop_valid`` (nloop, npix) =
    every member (CSR ``indptr``, ``indices``) ``valid`` and ``ph`` finite; over the loops ``rows``
    ((nloop,) bool, in order) add to ``n_err`` the loops with ``|v| > err_threshold``, to ``cnt``
    the valid ones and to ``ss`` the squares of ``v`` (float64) = ``ph`` where valid, else 0."""
    npix = u.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_pixel_sums_ranges, nchunk, u, pptr, pidx, pdata, indptr, indices, valid, rows, err_threshold, n_err,
               cnt, ss, loop_valid)


@njit(**KERNEL)
def _pixel_sums_ranges(r0: int, r1: int, u: np.ndarray, pptr: np.ndarray, pidx: np.ndarray, pdata: np.ndarray,
                       indptr: np.ndarray, indices: np.ndarray, valid: np.ndarray, rows: np.ndarray,
                       err_threshold: float, n_err: np.ndarray, cnt: np.ndarray, ss: np.ndarray, loop_valid: np.ndarray
                       ) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`pixel_sums` (:func:`kansho._threads.run_ranges`). A triangle
    loop (three members in both CSR forms) is taken in one branch-free pass over the pixels
    (:func:`_pixel_sums_triangle`); any other through :func:`_loop_sum`'s buffers."""
    nloop = indptr.size - 1
    npix = u.shape[1]
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        o = np.empty(j1 - j0, u.dtype)
        flag = np.empty(j1 - j0, u.dtype)
        for lp in range(nloop):
            lv = loop_valid[lp, j0:j1]
            if pptr[lp + 1] - pptr[lp] == 3 and indptr[lp + 1] - indptr[lp] == 3:
                _pixel_sums_triangle(u, pptr[lp], pidx, pdata, valid, indptr[lp], indices, rows[lp], err_threshold,
                                     j0, j1, n_err, cnt, ss, lv)
                continue
            _loop_sum(u, pptr, pidx, pdata, lp, j0, j1, o, flag)
            for j in range(j1 - j0):
                lv[j] = flag[j] == 0 and np.isfinite(o[j])
            for m in range(indptr[lp], indptr[lp + 1]):
                vm = valid[indices[m], j0:j1]
                for j in range(j1 - j0):
                    lv[j] = lv[j] & vm[j]
            if not rows[lp]:
                continue
            for j in range(j1 - j0):
                ok = lv[j]
                v = np.float64(o[j]) if ok else 0.0
                if abs(v) > err_threshold:
                    n_err[j0 + j] += 1
                if ok:
                    cnt[j0 + j] += 1
                ss[j0 + j] += v * v


@njit(**HELPER)
def _pixel_sums_triangle(u: np.ndarray, m: int, pidx: np.ndarray, pdata: np.ndarray, valid: np.ndarray, k: int,
                         indices: np.ndarray, add: bool, err_threshold: float, j0: int, j1: int, n_err: np.ndarray,
                         cnt: np.ndarray, ss: np.ndarray, lv: np.ndarray) -> None:  # pragma: no cover - compiled
    """One triangle loop of :func:`_pixel_sums_ranges` over the pixels ``j0:j1``: its phase from the rows
    ``pidx[m:m + 3]`` of ``u`` (signs ``pdata``) and its members' validity (rows ``indices[k:k + 3]`` of
    ``valid``) into ``lv``, and with ``add`` the accumulators. The phase is :func:`_triangle`'s, in registers:
    bit for bit the buffered result (but for the sign of a zero, which no output keeps), and the pixel loop
    vectorises."""
    a0, a1, a2 = u[pidx[m], j0:j1], u[pidx[m + 1], j0:j1], u[pidx[m + 2], j0:j1]
    d0, d1, d2 = pdata[m], pdata[m + 1], pdata[m + 2]
    v0, v1, v2 = valid[indices[k], j0:j1], valid[indices[k + 1], j0:j1], valid[indices[k + 2], j0:j1]
    # the accumulators' slices (not n_err[j0 + j]) and one loop per case: what lets LLVM vectorise it
    ne, cn, sq = n_err[j0:j1], cnt[j0:j1], ss[j0:j1]
    for j in range(j1 - j0):
        s, x = _triangle(a0[j], a1[j], a2[j], d0, d1, d2)
        ok = (x - x == 0.0) & v0[j] & v1[j] & v2[j]
        lv[j] = ok
        if add:
            v = np.float64(s) if ok else 0.0
            ne[j] += np.int32(abs(v) > err_threshold)
            cn[j] += np.int32(ok)
            sq[j] += v * v


def stack_sums(u: np.ndarray, valid: np.ndarray, dt: np.ndarray, rows: np.ndarray, num: np.ndarray, den: np.ndarray,
               nvf: np.ndarray) -> None:
    """Stacking sums over the pairs ``rows`` ((npair,) bool), added pair after pair in row order where
    ``valid`` (npair, npix): ``num += u`` (float64), ``den += dt`` (per pair, float64) and ``nvf += 1``
    (int32); all three (npix,), continued from their values."""
    npix = u.shape[1]
    nchunk = (npix + CHUNK - 1) // CHUNK
    run_ranges(_stack_sums_ranges, nchunk, u, valid, dt, rows, num, den, nvf)


@njit(**KERNEL)
def _stack_sums_ranges(r0: int, r1: int, u: np.ndarray, valid: np.ndarray, dt: np.ndarray, rows: np.ndarray,
                       num: np.ndarray, den: np.ndarray, nvf: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`stack_sums` (:func:`kansho._threads.run_ranges`)."""
    npix = u.shape[1]
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        nu, de, nv = num[j0:j1], den[j0:j1], nvf[j0:j1]
        for k in range(u.shape[0]):
            if not rows[k]:
                continue
            uk, vk, d = u[k, j0:j1], valid[k, j0:j1], dt[k]
            for j in range(j1 - j0):
                ok = vk[j]
                nu[j] += uk[j] if ok else 0.0
                de[j] += d if ok else 0.0
                nv[j] += np.int32(ok)


def refer(u: np.ndarray, k: np.ndarray, table: np.ndarray, off: np.ndarray, out: np.ndarray) -> None:
    """``out = (u + table[k + 128]) - off`` in float64, ``u`` converted first (without ``k`` when it
    has no rows: ``out = u - off``): NumPy's ``(u + 2π·k) - off[:, None]`` of a float32 ``u`` and an
    int8 ``k``, in one pass. ``u``, ``k``, ``out`` (npair, npix), ``off`` (npair,)."""
    npix = u.shape[1]
    run_ranges(_refer_ranges, (npix + CHUNK - 1) // CHUNK, u, k, table, off, out)


@njit(**KERNEL)
def _refer_ranges(r0: int, r1: int, u: np.ndarray, k: np.ndarray, table: np.ndarray, off: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`refer` (:func:`kansho._threads.run_ranges`)."""
    npix = u.shape[1]
    has_k = k.shape[0] > 0
    none = np.zeros(0, np.int8)
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        for p in range(u.shape[0]):
            _fixed_row(u[p, j0:j1], none, k[p, j0:j1] if has_k else none, table, table, 0, off[p], out[p, j0:j1])


@njit(**HELPER)
def _fixed_value(x: float, f: int, table: np.ndarray, null: int) -> float:  # pragma: no cover - compiled
    """``x`` with the cycle fix ``f``: NaN for ``null``, ``x + table[f + 128]`` (in the type of ``x`` and
    ``table``) for another non-zero ``f``, else ``x`` itself (a zero keeps its sign). Selects, not branches:
    a pixel loop of it vectorises."""
    y = x + table[f + 128]
    z = np.nan if f == null else y
    return x if f == 0 else z


@njit(**HELPER)
def _fixed_row(u: np.ndarray, fix: np.ndarray, cycles: np.ndarray, table: np.ndarray, table64: np.ndarray, null: int,
               off: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out = float64(v) - off`` over a row segment, ``v`` = ``u`` with the cycle fix ``fix`` (:func:`apply_fix`:
    NaN where it is ``null``; none when ``fix`` is empty), of ``float64(u) + 2π·cycles`` (``table64``, the fix
    then added in float64) when ``cycles`` is not empty, else of ``u`` in its own type (``table``): what
    :func:`refer`, :func:`fixed_refer` and the loop RMS kernel (:mod:`kansho._loopsq_jit`) make of a row.
    Fixes and cycles are rare: one vectorised pass over every pixel as without them (a cycle of 0 adds
    ``table64[128]`` = 0.0, which turns a -0 into +0), then the pixels that have one."""
    w = out.size
    has_c, has_f = cycles.size > 0, fix.size > 0
    if has_c:
        for j in range(w):
            out[j] = (np.float64(u[j]) + 0.0) - off
    else:
        for j in range(w):
            out[j] = np.float64(u[j]) - off
    if has_c and has_f:
        for j in range(w):
            if cycles[j] != 0 or fix[j] != 0:
                out[j] = _fixed_value(np.float64(u[j]) + table64[cycles[j] + 128], fix[j], table64, null) - off
    elif has_c:
        for j in range(w):
            if cycles[j] != 0:
                out[j] = (np.float64(u[j]) + table64[cycles[j] + 128]) - off
    elif has_f:
        for j in range(w):
            if fix[j] != 0:
                out[j] = np.float64(_fixed_value(u[j], fix[j], table, null)) - off


def fixed_refer(u: np.ndarray, fix: np.ndarray, table: np.ndarray, null: int, off: np.ndarray, out: np.ndarray
                ) -> None:
    """``out = float64(v) - off`` of ``v`` = :func:`apply_fix` of ``u`` (in the dtype of ``u``: ``table``
    its 2π·c) with the cycle fix ``fix`` (none when it has no rows): NumPy's ``apply_cycle_fix(u, fix) -
    off[:, None]`` in one pass. ``u``, ``fix``, ``out`` (npair, npix), ``off`` (npair,)."""
    npix = u.shape[1]
    run_ranges(_fixed_refer_ranges, (npix + CHUNK - 1) // CHUNK, u, fix, table, null, off, out)


@njit(**KERNEL)
def _fixed_refer_ranges(r0: int, r1: int, u: np.ndarray, fix: np.ndarray, table: np.ndarray, null: int,
                        off: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`fixed_refer` (:func:`kansho._threads.run_ranges`)."""
    npix = u.shape[1]
    has_fix = fix.shape[0] > 0
    none = np.zeros(0, np.int8)
    for c in range(r0, r1):
        j0 = c * CHUNK
        j1 = min(j0 + CHUNK, npix)
        for p in range(u.shape[0]):
            _fixed_row(u[p, j0:j1], fix[p, j0:j1] if has_fix else none, none, table, table, null, off[p],
                       out[p, j0:j1])


def settle_fix(u: np.ndarray, lfix: np.ndarray, jump: np.ndarray, null_all: bool, null: int, indptr: np.ndarray,
               indices: np.ndarray, trusted: np.ndarray, span: int, fix: np.ndarray, sfix: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """The loops' cycle fix ``lfix`` (npair, npix) int8 made final, in one pass: set to 0 where ``u`` is
    not finite (in place); ``fix`` = ``lfix + jump`` (int8; ``null`` kept; ``jump`` the spatial check's
    cycles, none when it has no rows), every non-zero one ``null`` when ``null_all``; ``sfix`` = ``fix -
    jump`` (``null`` kept): the fix of the phase the loops saw. Returns per pair the counts (npair, 2·span
    + 1) of each ``lfix`` value -span..span where the pair is in a loop trusted there (``trusted``
    (nloop, npix), CSR ``indptr``/``indices`` of the loops' members), and (3, npair): pixels with a
    fix that is not ``null``, pixels ``null``, and pixels whose ``sfix`` is neither 0 nor ``null``."""
    npair, npix = lfix.shape
    nchunk = (npix + CHUNK - 1) // CHUNK
    hist = np.zeros((nchunk, npair, 2 * span + 1), np.int64)
    counts = np.zeros((nchunk, 3, npair), np.int64)
    run_ranges(_settle_fix_ranges, nchunk, u, lfix, jump, null_all, null, indptr, indices, trusted, span, fix, sfix,
               hist, counts)
    return hist.sum(axis=0), counts.sum(axis=0)


@njit(**KERNEL)
def _settle_fix_ranges(r0: int, r1: int, u: np.ndarray, lfix: np.ndarray, jump: np.ndarray, null_all: bool, null: int,
                       indptr: np.ndarray, indices: np.ndarray, trusted: np.ndarray, span: int, fix: np.ndarray,
                       sfix: np.ndarray, hist: np.ndarray, counts: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`settle_fix` (:func:`kansho._threads.run_ranges`). A pixel
    with no fix and no cycles (nearly all) costs a test; the rest take the branches."""
    npair, npix = lfix.shape
    has_jump = jump.shape[0] > 0
    for c in range(r0, r1):
        j0 = c * CHUNK
        w = min(j0 + CHUNK, npix) - j0
        checked = np.zeros((npair, w), np.uint8)
        for lp in range(indptr.size - 1):
            # as uint8, as the fused pass gives it: one compiled version of _mark_members in a default run
            _mark_members(checked, 0, trusted[lp, j0:j0 + w].view(np.uint8), indptr, indices, lp, w)
        for p in range(npair):
            n_checked = 0
            n_other = 0  # checked pixels with a fix other than 0
            up = u[p, j0:j0 + w]
            lp_ = lfix[p, j0:j0 + w]
            fp = fix[p, j0:j0 + w]
            sp = sfix[p, j0:j0 + w]
            ck = checked[p]
            for j in range(w):
                n_checked += ck[j]
                lf = lp_[j]
                jp = jump[p, j0 + j] if has_jump else np.int8(0)
                if lf == 0 and jp == 0:
                    fp[j] = 0
                    sp[j] = 0
                    continue
                if lf != 0 and not np.isfinite(up[j]):
                    lf = np.int8(0)
                    lp_[j] = 0
                if lf != 0 and ck[j]:
                    n_other += 1
                    if -span <= lf <= span:
                        hist[c, p, np.int64(lf) + span] += 1
                f = lf if lf == null else np.int8(lf + jp)
                if null_all and f != 0:
                    f = np.int8(null)
                s = f if f == null else np.int8(f - jp)
                fp[j] = f
                sp[j] = s
                if f == null:
                    counts[c, 1, p] += 1
                else:
                    if f != 0:
                        counts[c, 0, p] += 1
                    if s != 0:
                        counts[c, 2, p] += 1
            hist[c, p, span] += n_checked - n_other
