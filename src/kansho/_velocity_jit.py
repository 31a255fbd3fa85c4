"""Compiled kernels of :mod:`kansho.velocity`: the sums of the per-pixel line fit and the epochs' residual
histograms in one pass over a ``(n_epoch, npix)`` series, where numpy makes about ten float64
temporaries of that size (the line fit runs three times per block in step 1-3, the histograms once), and
the spread of the bootstrap slopes of step 1-4 (:func:`boot_slope_std`).

The sums are accumulated epoch after epoch, in float64, from float32 or float64 series: against the
numpy reference (matrix products over the epoch axis) they differ only in the order of the additions,
by a few units in the last place (relative 1e-15); a residual falls in the same histogram bin but where
it lies within that of a bin edge. No fast-math. Pixels (for the sums) or epochs (for the histograms)
are split into ranges on threads (:mod:`kansho._threads`); every item is computed alone, so the result
does not depend on the number of threads.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._threads import run_ranges

#: pixels per parallel chunk of :func:`line_sums` (a chunk's five running sums stay in L1/L2)
CHUNK = 1024


def line_sums(y: np.ndarray, tc: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(5, npix)`` float64 sums over each pixel's finite epochs of ``w``, ``w·tc``, ``w·tc²``, ``w·y`` and
    ``tc·(w·y)`` (the normal equations of a weighted line in centred time ``tc``).

    ``y`` ``(n_epoch, npix)`` float32 or float64 mm (C-contiguous, NaN or ±inf = no data), ``tc``
    ``(n_epoch,)`` float64 yr, ``w`` ``(n_epoch,)`` float64 epoch weights (ones: equal)."""
    npix = y.shape[1]
    out = np.zeros((5, npix))
    run_ranges(_line_sums_ranges, (npix + CHUNK - 1) // CHUNK, y, tc, w, out)
    return out


@njit(**KERNEL)
def _line_sums_ranges(r0: int, r1: int, y: np.ndarray, tc: np.ndarray, w: np.ndarray,
                      out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Chunks ``r0 .. r1 - 1`` of :func:`line_sums` (:func:`kansho._threads.run_ranges`)."""
    ne = y.shape[0]
    npix = y.shape[1]
    for ch in range(r0, r1):
        a = ch * CHUNK
        b = min(a + CHUNK, npix)
        # chunk slices indexed from 0 and selects, not branches: the pixel loop vectorises (adding 0.0 where
        # an epoch has no data leaves a sum as it was: a sum from +0.0 is never -0.0)
        o0, o1, o2, o3, o4 = out[0, a:b], out[1, a:b], out[2, a:b], out[3, a:b], out[4, a:b]
        for e in range(ne):
            te = tc[e]
            we = w[e]
            twe = te * we
            t2we = te * te * we
            ye = y[e, a:b]
            for c in range(b - a):
                v = np.float64(ye[c])
                f = v - v == 0.0  # finite
                wy = v * we
                o0[c] += we if f else 0.0
                o1[c] += twe if f else 0.0
                o2[c] += t2we if f else 0.0
                o3[c] += wy if f else 0.0
                o4[c] += te * wy if f else 0.0


def residual_histograms(y: np.ndarray, t: np.ndarray, vel: np.ndarray, icpt: np.ndarray, scale: float,
                        u_max: float, du: float, nbins: int, *, tables: bool | None = None) -> np.ndarray:
    """``(n_epoch, nbins)`` int32: per epoch, the count of the residuals ``r = y - (vel·t + icpt)`` in
    ``nbins`` bins uniform in ``asinh(r / scale)`` from ``-u_max`` (width ``du``; the end bins catch
    anything beyond). ``y`` ``(n_epoch, npix)`` float32 or float64 mm (C-contiguous), ``t`` ``(n_epoch,)`` yr,
    ``vel`` mm/yr and ``icpt`` mm ``(npix,)`` float64; a NaN residual is not counted.

    Each residual's bin is :func:`_bin`'s, found through :func:`bin_tables` (``tables=False``: :func:`_bin`
    itself, an ``asinh`` per residual, ~2.5x slower; None: the tables from :data:`TABLE_MIN_RESIDUALS` on)."""
    ne = y.shape[0]
    out = np.zeros((ne, nbins), np.int32)
    if tables is None:
        tables = y.size >= TABLE_MIN_RESIDUALS
    tab = bin_tables(float(scale), float(u_max), float(du), int(nbins)) if tables else None
    edges, pos, neg = tab if tab is not None else (np.zeros(0), np.zeros(0, np.int16), np.zeros(0, np.int16))
    run_ranges(_residual_histograms_ranges, ne, y, t, vel, icpt, scale, u_max, du, edges, pos, neg, out)
    return out


#: residuals from which :func:`residual_histograms` bins through the tables: their build (~12 ms, ~0.6 million
#: ``asinh``) and its compilation on first use (~1 s) would cost a small frame (the demo's) more than they save
TABLE_MIN_RESIDUALS = 2_000_000
#: the bins of residuals of magnitude 2**TABLE_EXP_LO up to 2**TABLE_EXP_HI (mm) are looked up (:func:`bin_tables`),
#: by their sign, binary exponent and first TABLE_BITS bits of mantissa; the rest computed
TABLE_EXP_LO, TABLE_EXP_HI, TABLE_BITS = -30, 12, 8
_SHIFT = 52 - TABLE_BITS
_BASE = (1023 + TABLE_EXP_LO) << TABLE_BITS
_NTAB = (TABLE_EXP_HI - TABLE_EXP_LO) << TABLE_BITS
#: int64 with the sign bit alone; the largest finite float64's bits
_SIGN, _MAXBITS = np.int64(-(2**63)), np.int64(0x7FEFFFFFFFFFFFFF)


@functools.cache
def bin_tables(scale: float, u_max: float, du: float, nbins: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The bins of :func:`residual_histograms` without an ``asinh`` per residual, the same bins exactly.

    ``edges`` ``(nbins + 1,)`` float64: ``edges[k]`` (k >= 1) the least float64 whose :func:`_bin` is ``k`` or
    more, found by bisection over the float64 values in order; and per range of residuals sharing their sign,
    exponent and first :data:`TABLE_BITS` bits of mantissa (``pos`` and ``neg`` ``(n,)`` int16), the bin of the
    range's least value. A residual then starts at its range's bin and steps up past the edges it reaches (its
    range is narrower than a bin: one step at most). This equals :func:`_bin` when :func:`_bin` never decreases
    as ``r`` grows; that is checked here at every range (its bin against the edges, which must not decrease)
    and None is returned, for :func:`_bin` itself, if any differs. Each edge's bin is ``k`` or more and the
    value just below it has a bin under ``k``: the bisection keeps both."""
    edges, pos, neg, lows = _bin_tables(scale, u_max, du, nbins)
    found = np.searchsorted(edges[1:nbins], lows, side="right")  # the bin the edges give each range's least value
    if np.any(np.diff(edges[1:nbins]) < 0) or np.any(found != np.concatenate([pos, neg])):
        return None
    return edges, pos, neg


@njit(**HELPER)
def _bin(r: float, scale: float, u_max: float, du: float, last: int) -> int:  # pragma: no cover - compiled
    """The bin of a finite residual ``r`` (:func:`residual_histograms`): |asinh| < 710 for any finite ``r``, so
    the floor is a small integer."""
    return min(max(math.floor((math.asinh(r / scale) + u_max) / du), 0), last)


@njit(**KERNEL)
def _bin_tables(scale: float, u_max: float, du: float, nbins: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """:func:`bin_tables`' edges and ranges, and each range's least value (positive ranges, then negative)."""
    last = nbins - 1
    kb = np.empty(1, np.int64)
    fb = kb.view(np.float64)
    edges = np.empty(nbins + 1)
    edges[0], edges[nbins] = -np.inf, np.inf
    for k in range(1, nbins):  # the float64 values in order: key = bits for +, -(bits without sign) for -
        lo, hi = -_MAXBITS, _MAXBITS  # _bin 0 and last: lo < k <= hi's
        while hi - 1 > lo:  # (hi - lo overflows at first)
            mid = lo + ((hi >> 1) - (lo >> 1))  # strictly between
            kb[0] = mid if mid >= 0 else (-mid) | _SIGN
            if _bin(fb[0], scale, u_max, du, last) >= k:
                hi = mid
            else:
                lo = mid
        kb[0] = hi if hi >= 0 else (-hi) | _SIGN
        edges[k] = fb[0]
    pos = np.empty(_NTAB, np.int16)
    neg = np.empty(_NTAB, np.int16)
    lows = np.empty(2 * _NTAB)
    for i in range(_NTAB):
        kb[0] = np.int64(i + _BASE) << _SHIFT  # the least of the positive range
        lows[i] = fb[0]
        pos[i] = _bin(fb[0], scale, u_max, du, last)
        kb[0] = ((np.int64(i + _BASE + 1) << _SHIFT) - 1) | _SIGN  # the negative range's largest magnitude
        lows[_NTAB + i] = fb[0]
        neg[i] = _bin(fb[0], scale, u_max, du, last)
    return edges, pos, neg, lows


@njit(**KERNEL)
def _residual_histograms_ranges(r0: int, r1: int, y: np.ndarray, t: np.ndarray, vel: np.ndarray,
                                icpt: np.ndarray, scale: float, u_max: float, du: float, edges: np.ndarray,
                                pos: np.ndarray, neg: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """Epochs ``r0 .. r1 - 1`` of :func:`residual_histograms` (:func:`kansho._threads.run_ranges`); without
    tables (``pos`` empty) every bin is :func:`_bin`'s."""
    npix = y.shape[1]
    last = out.shape[1] - 1
    ntab = pos.size
    rr = np.empty(npix)
    bits = rr.view(np.int64)
    for e in range(r0, r1):
        te = t[e]
        for c in range(npix):
            rr[c] = np.float64(y[e, c]) - (vel[c] * te + icpt[c])
        row = out[e]
        for c in range(npix):
            r = rr[c]
            b = bits[c]
            i = ((b >> _SHIFT) & ((1 << (63 - _SHIFT)) - 1)) - _BASE  # the range of its magnitude (NaN: none)
            if 0 <= i < ntab:
                k = int(pos[i] if b >= 0 else neg[i])
                while k < last and r >= edges[k + 1]:
                    k += 1
            elif r != r:
                continue
            elif np.isinf(r):
                k = 0 if r < 0 else last
            else:
                k = _bin(r, scale, u_max, du, last)
            row[k] += 1


@njit(**KERNEL)
def boot_slope_std(s0: np.ndarray, s1: np.ndarray, s2: np.ndarray, sy: np.ndarray, sty: np.ndarray,
                   tiny: float) -> np.ndarray:  # pragma: no cover - compiled
    """Per pixel, the standard deviation (``ddof=1``) of the slopes of its bootstrap resamples, from their
    weighted sums (each ``(n_boot, k)`` float64: of ``w``, ``w·t``, ``w·t²``, ``w·y``, ``w·t·y``); a resample's
    slope is ``(s0·sty - s1·sy) / (s0·s2 - s1²)`` where its denominator exceeds ``tiny·s0²`` and is finite,
    else left out. Returns (k,) float64, NaN where fewer than two slopes are defined.

    Bit for bit the numpy expressions it replaced (the same operations in the same order: the sums over the
    resamples run from the first to the last, as numpy reduces the first axis of a C-ordered array of two
    or more columns; of one column numpy adds pairwise, an ulp or so away), in two passes over the sums
    instead of a dozen ``(n_boot, k)`` temporaries (``tests/test_velocity.py``)."""
    nb, k = s0.shape
    vel = np.empty((nb, k))
    total = np.zeros(k)
    ng = np.zeros(k)
    for b in range(nb):
        a0, a1, a2, ay, aty, vb = s0[b], s1[b], s2[b], sy[b], sty[b], vel[b]
        for p in range(k):
            sxx = a0[p] * a2[p] - a1[p] * a1[p]
            v = (a0[p] * aty[p] - a1[p] * ay[p]) / sxx
            ok = (sxx > tiny * a0[p] * a0[p]) & (v - v == 0.0)
            vb[p] = v if ok else np.nan
            total[p] += v if ok else 0.0
            ng[p] += 1.0 if ok else 0.0
    mean = total / np.maximum(ng, 1.0)
    ss = np.zeros(k)
    for b in range(nb):
        vb = vel[b]
        for p in range(k):
            d = vb[p] - mean[p]
            ss[p] += d * d if d == d else 0.0
    out = np.empty(k)
    for p in range(k):
        out[p] = math.sqrt(ss[p] / max(ng[p] - 1.0, 1.0)) if ng[p] >= 2.0 else np.nan
    return out
