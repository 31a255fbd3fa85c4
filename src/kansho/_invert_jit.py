"""Compiled kernels of step 1-3 (:mod:`kansho.chain.steps.invert`): one pass over a block's
``(npair, npix)`` arrays where numpy would make several float64 temporaries of that size.

Every kernel gives exactly (bit for bit) what its numpy reference gives: the same float operations in
the same order, no fast-math. Pixels are split into chunks, ranges of them on threads
(:mod:`kansho._threads`); within a chunk the loop over pairs (or loops) is outside the loop over
pixels, so the ``(npair, npix)`` rows are read contiguously.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._threads import run_ranges

#: pixels per parallel chunk (a chunk's running sums stay in L1)
CHUNK = 1024


def resid_exceeds(ifg: np.ndarray, cum: np.ndarray, p0: np.ndarray, p1: np.ndarray, thr: float) -> np.ndarray:
    """``(npix,)`` bool: some finite residual ``ifg[p] - (cum[p1[p]] - cum[p0[p]])`` (float64) of the
    pixel exceeds ``thr`` in absolute value. ``ifg`` ``(npair, npix)`` float64, ``cum``
    ``(n_epoch, npix)`` float32 or float64 (residuals in float64 either way)."""
    npix = ifg.shape[1]
    out = np.zeros(npix, np.bool_)
    nch = (npix + CHUNK - 1) // CHUNK
    run_ranges(_resid_exceeds_ranges, nch, ifg, cum, p0, p1, thr, out)
    return out


@njit(**KERNEL)
def _resid_exceeds_ranges(r0: int, r1: int, ifg: np.ndarray, cum: np.ndarray, p0: np.ndarray, p1: np.ndarray,
                          thr: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`resid_exceeds` (:func:`kansho._threads.run_ranges`)."""
    npair = ifg.shape[0]
    npix = ifg.shape[1]
    for ch in range(r0, r1):
        a = ch * CHUNK
        b = min(a + CHUNK, npix)
        m = np.zeros(b - a)
        for p in range(npair):
            xp, ci, cj = ifg[p, a:b], cum[p0[p], a:b], cum[p1[p], a:b]
            for c in range(b - a):  # from 0 over slices, selects not branches: the loop vectorises
                r = abs(xp[c] - (np.float64(cj[c]) - np.float64(ci[c])))
                m[c] = r if (r > m[c]) & (r < np.inf) else m[c]  # r >= 0 or NaN: finite is below inf
        oc = out[a:b]
        for c in range(b - a):
            oc[c] = m[c] > thr


def coh_weights(coh: np.ndarray) -> np.ndarray:
    """``2 g² / (1 - g²)`` (float32) of ``g`` = ``coh`` ``(npair, npix)`` float32 with NaN -> 0.05 and
    clipped to [0.05, 0.98] (so +inf -> 0.98, -inf -> 0.05)."""
    npair = coh.shape[0]
    npix = coh.shape[1]
    out = np.empty((npair, npix), np.float32)
    run_ranges(_coh_weights_ranges, npair, coh, out)
    return out


@njit(**KERNEL)
def _coh_weights_ranges(r0: int, r1: int, coh: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`coh_weights` (:func:`kansho._threads.run_ranges`)."""
    npix = coh.shape[1]
    lo = np.float32(0.05)
    hi = np.float32(0.98)
    two = np.float32(2.0)
    one = np.float32(1.0)
    for p in range(r0, r1):
        for c in range(npix):
            g = coh[p, c]
            if np.isnan(g):
                g = lo
            g = min(max(g, lo), hi)
            g2 = g * g
            out[p, c] = (two * g2) / (one - g2)


def triangle_indicator(phase: np.ndarray, members: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Mean |wrapped misclosure| (rad) per pixel over the valid triangles (NaN where none is valid).

    ``phase`` ``(npair, npix)`` float64 rad, NaN = no data; ``members`` ``(nloop, 3)`` pair indices of
    each triangle in increasing order and ``signs`` ``(nloop, 3)`` their ±1.0 (the loop matrix's row).
    A loop's phase is summed over its members in that order, from 0, as a CSR product does; wrapped by
    ``m - 2π rint(m / 2π)``; the |wrapped| values are summed over loops in order."""
    npix = phase.shape[1]
    out = np.empty(npix)
    nch = (npix + CHUNK - 1) // CHUNK
    run_ranges(_triangle_indicator_ranges, nch, phase, members, signs, out)
    return out


@njit(**KERNEL)
def _triangle_indicator_ranges(r0: int, r1: int, phase: np.ndarray, members: np.ndarray, signs: np.ndarray,
                               out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`triangle_indicator` (:func:`kansho._threads.run_ranges`)."""
    npix = phase.shape[1]
    nloop = members.shape[0]
    two_pi = 2.0 * np.pi
    for ch in range(r0, r1):
        a = ch * CHUNK
        b = min(a + CHUNK, npix)
        s = np.zeros(b - a)
        n = np.zeros(b - a, np.int64)
        for k in range(nloop):
            ia, ib, ic = members[k, 0], members[k, 1], members[k, 2]
            sa, sb, sc = signs[k, 0], signs[k, 1], signs[k, 2]
            pa, pb, pc = phase[ia, a:b], phase[ib, a:b], phase[ic, a:b]
            for c in range(b - a):  # from 0 over slices, selects not branches: the loop vectorises
                xa, xb, xc = pa[c], pb[c], pc[c]
                ok = (xa - xa == 0.0) & (xb - xb == 0.0) & (xc - xc == 0.0)  # all finite
                m = ((0.0 + sa * xa) + sb * xb) + sc * xc
                s[c] += abs(m - two_pi * np.rint(m / two_pi)) if ok else 0.0  # + 0 leaves the sum as it was
                n[c] += np.int64(ok)
        oc = out[a:b]
        for c in range(b - a):
            oc[c] = s[c] / n[c] if n[c] > 0 else np.nan


def pixel_gaps(valid: np.ndarray, p0: np.ndarray, p1: np.ndarray, ne: int) -> np.ndarray:
    """``(ne - 1, npix)`` bool: the intervals ``k`` (epoch ``k`` to ``k + 1``) that no valid pair
    ``(p0[p], p1[p])`` spans at the pixel (``valid`` ``(npair, npix)`` bool); the counts are exact
    integers, so this is :func:`kansho.network.gaps` with ``valid``."""
    npix = valid.shape[1]
    out = np.empty((ne - 1, npix), np.bool_)
    nch = (npix + CHUNK - 1) // CHUNK
    run_ranges(_pixel_gaps_ranges, nch, valid, p0, p1, ne, out)
    return out


@njit(**KERNEL)
def _pixel_gaps_ranges(r0: int, r1: int, valid: np.ndarray, p0: np.ndarray, p1: np.ndarray, ne: int, out: np.ndarray
                       ) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`pixel_gaps` (:func:`kansho._threads.run_ranges`)."""
    npair = valid.shape[0]
    npix = valid.shape[1]
    for ch in range(r0, r1):
        a = ch * CHUNK
        b = min(a + CHUNK, npix)
        cov = np.zeros((ne, b - a), np.int32)  # +1 at a pair's first epoch, -1 at its last
        for p in range(npair):
            vp, ci, cj = valid[p, a:b], cov[p0[p]], cov[p1[p]]
            for c in range(b - a):  # from 0 over slices: the loops vectorise
                v = np.int32(vp[c])
                ci[c] += v
                cj[c] -= v
        run = np.zeros(b - a, np.int32)
        for k in range(ne - 1):
            ck, ok = cov[k], out[k, a:b]
            for c in range(b - a):
                run[c] += ck[c]
                ok[c] = run[c] == 0


def nanmean_rows(a: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """Mean over axis 0 of ``a`` ``(n, npix)`` float32 ignoring NaN and ±inf, as numpy's
    ``where(isfinite(a), a, 0).sum(axis=0) / count``: float32 sums row after row, divided in
    float64; NaN where no value is finite. With ``table`` (256,) float32, ``a`` is uint8 codes of those
    values (the stack store's coherence and :data:`kansho.cohcodes.DECODE`): the mean of ``table[a]``,
    the same bits, without making it."""
    npix = a.shape[1]
    out = np.empty(npix)
    nch = (npix + CHUNK - 1) // CHUNK
    run_ranges(_nanmean_rows_ranges, nch, a, np.zeros(0, np.float32) if table is None else table, out)
    return out


@njit(**KERNEL)
def _nanmean_rows_ranges(r0: int, r1: int, a: np.ndarray, table: np.ndarray,
                         out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`nanmean_rows` (:func:`kansho._threads.run_ranges`); ``a``'s values
    looked up in ``table`` when it has any (compiled apart for float32 values and uint8 codes)."""
    n = a.shape[0]
    npix = a.shape[1]
    coded = table.size > 0
    for ch in range(r0, r1):
        lo = ch * CHUNK
        hi = min(lo + CHUNK, npix)
        s = np.zeros(hi - lo, np.float32)
        cnt = np.zeros(hi - lo, np.int64)
        for r in range(n):
            ar = a[r, lo:hi]
            for c in range(hi - lo):  # from 0 over slices, selects not branches: the loop vectorises
                v = table[np.intp(ar[c])] if coded else np.float32(ar[c])
                f = v - v == np.float32(0.0)  # finite
                s[c] += v if f else np.float32(0.0)  # + 0 leaves the sum (from +0, never -0) as it was
                cnt[c] += np.int64(f)
        oc = out[lo:hi]
        for c in range(hi - lo):
            oc[c] = np.float64(s[c]) / cnt[c] if cnt[c] > 0 else np.nan


def lookup_codes(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[codes]`` (``codes`` ``(n, npix)`` uint8, ``table`` (256,) float32) as float32 ``(n, npix)``, on
    threads: NumPy's gather takes three times as long (it makes the uint8 indices intp first)."""
    out = np.empty(codes.shape, np.float32)
    run_ranges(_lookup_codes_ranges, codes.shape[0], codes, table, out)
    return out


@njit(**KERNEL)
def _lookup_codes_ranges(r0: int, r1: int, codes: np.ndarray, table: np.ndarray,
                         out: np.ndarray) -> None:  # pragma: no cover - compiled
    """The rows ``r0 .. r1 - 1`` of :func:`lookup_codes` (:func:`kansho._threads.run_ranges`)."""
    for r in range(r0, r1):
        for c in range(codes.shape[1]):
            out[r, c] = table[codes[r, c]]


@njit(**KERNEL)
def put_offsets(shift: np.ndarray, var: np.ndarray, cols: np.ndarray, seg: np.ndarray, a: np.ndarray,
                vw: np.ndarray, s2: np.ndarray, vu: np.ndarray, s2u: np.ndarray,
                lost: np.ndarray) -> None:  # pragma: no cover - compiled
    """The columns ``cols`` ``(k,)`` of a gap pattern's bridge in :func:`kansho.bridge.fit_bridge`, without
    its ``(n, k)`` temporaries: ``shift[:, cols] = ind @ a`` (``ind`` the one-hot ``(n, ng)`` of the
    segment labels ``seg`` ``(n,)``, 0 = the reference segment: what BLAS gives for finite ``a``
    ``(ng, k)``, ``a[seg - 1] + 0.0``, 0 where ``seg`` is 0) and ``var[:, cols] = maximum(outer(vw, s2),
    outer(vu, s2u))``, inf at the epochs ``lost`` ``(n,)`` bool. ``shift``, ``var`` ``(n, npix)`` float64."""
    n = shift.shape[0]
    k = cols.size
    for i in range(n):
        g = seg[i] - 1
        for j in range(k):
            shift[i, cols[j]] = a[g, j] + 0.0 if g >= 0 else 0.0
        if lost[i]:
            for j in range(k):
                var[i, cols[j]] = np.inf
            continue
        wi = vw[i]
        ui = vu[i]
        for j in range(k):
            var[i, cols[j]] = _offset_var(wi, s2[j], ui, s2u[j])


@njit(**HELPER)
def _offset_var(wi: float, s2j: float, ui: float, s2uj: float) -> float:  # pragma: no cover - compiled
    """An offset's variance in :func:`put_offsets`: ``maximum(wi·s2j, ui·s2uj)`` (NaN if either is)."""
    x = wi * s2j
    y = ui * s2uj
    return x if (x >= y or np.isnan(x)) else y


@njit(**KERNEL)
def apply_offsets(cum: np.ndarray, sd: np.ndarray, cols: np.ndarray, seg: np.ndarray, a: np.ndarray,
                  vw: np.ndarray, s2: np.ndarray, vu: np.ndarray, s2u: np.ndarray, lost: np.ndarray,
                  infl: np.ndarray) -> None:  # pragma: no cover - compiled
    """A gap pattern's bridge applied to its columns ``cols`` of ``cum`` and ``sd`` ``(n, npix)`` float32 (in
    place), the arguments as :func:`put_offsets`'s and ``infl`` ``(k,)``: ``cum[:, cols] = float64(cum[:, cols])
    - shift`` and ``sd[:, cols] = sqrt(var * infl)``, each stored float32, what
    :func:`kansho.bridge.apply_shift` of those ``shift`` and ``var`` gives, without them."""
    n = cum.shape[0]
    k = cols.size
    for i in range(n):
        g = seg[i] - 1
        for j in range(k):
            c = cols[j]
            cum[i, c] = np.float64(cum[i, c]) - (a[g, j] + 0.0 if g >= 0 else 0.0)
        wi = vw[i]
        ui = vu[i]
        for j in range(k):
            v = np.inf if lost[i] else _offset_var(wi, s2[j], ui, s2u[j])
            sd[i, cols[j]] = np.sqrt(v * infl[j])
