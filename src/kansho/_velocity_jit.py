"""Compiled kernels of :mod:`kansho.velocity`: the sums of the per-pixel line fit and the epochs' residual
histograms in one pass over a ``(n_epoch, npix)`` series, where numpy makes about ten float64
temporaries of that size (the line fit runs three times per block in step 1-3, the histograms once).

The sums are accumulated epoch after epoch, in float64, from float32 or float64 series: against the
numpy reference (matrix products over the epoch axis) they differ only in the order of the additions,
by a few units in the last place (relative 1e-15); a residual falls in the same histogram bin but where
it lies within that of a bin edge. No fast-math. Pixels (for the sums) or epochs (for the histograms)
are split into ranges on threads (:mod:`kansho._threads`); every item is computed alone, so the result
does not depend on the number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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


@njit(cache=True, nogil=True, error_model="numpy")
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
                        u_max: float, du: float, nbins: int) -> np.ndarray:
    """``(n_epoch, nbins)`` int32: per epoch, the count of the residuals ``r = y - (vel·t + icpt)`` in
    ``nbins`` bins uniform in ``asinh(r / scale)`` from ``-u_max`` (width ``du``; the end bins catch
    anything beyond). ``y`` ``(n_epoch, npix)`` float32 or float64 mm (C-contiguous), ``t`` ``(n_epoch,)`` yr,
    ``vel`` mm/yr and ``icpt`` mm ``(npix,)`` float64; a NaN residual is not counted."""
    ne = y.shape[0]
    out = np.zeros((ne, nbins), np.int32)
    run_ranges(_residual_histograms_ranges, ne, y, t, vel, icpt, scale, u_max, du, out)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _residual_histograms_ranges(r0: int, r1: int, y: np.ndarray, t: np.ndarray, vel: np.ndarray,
                                icpt: np.ndarray, scale: float, u_max: float, du: float,
                                out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Epochs ``r0 .. r1 - 1`` of :func:`residual_histograms` (:func:`kansho._threads.run_ranges`)."""
    npix = y.shape[1]
    last = out.shape[1] - 1
    for e in range(r0, r1):
        te = t[e]
        for c in range(npix):
            r = np.float64(y[e, c]) - (vel[c] * te + icpt[c])
            if np.isnan(r):
                continue
            if np.isinf(r):
                k = 0 if r < 0 else last
            else:  # |asinh| < 710 for any finite r: the floor is a small integer
                k = min(max(math.floor((math.asinh(r / scale) + u_max) / du), 0), last)
            out[e, k] += 1
