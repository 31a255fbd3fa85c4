"""Compiled kernel of :mod:`kansho.filters_adaptive`: the central 3 × 3 taps of the hole filter.

:func:`kansho.filters_adaptive._hole_convolve` subtracts from the full Gaussian the separable
3-tap correlation of the same image (the pixel and its 8 neighbours). This kernel does both
correlations and the subtraction in one sweep, in the arithmetic of
:func:`scipy.ndimage.correlate1d` for a symmetric kernel and zero padding (``out = x·w₀ + (x₋ + x₊)·w₁``
along rows, then along columns), so the result is the same to the bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import KERNEL
from kansho._threads import run_ranges


def subtract_centre3(full: np.ndarray, x: np.ndarray, wy0: float, wy1: float, wx0: float, wx1: float) -> None:
    """``full -= Cx(Cy(x))`` in place, ``full`` and ``x`` (k, ny, nx) float64; ``Cy`` the 3-tap
    correlation (weights ``wy1, wy0, wy1``) along axis 1, ``Cx`` along axis 2, zero outside."""
    k = x.shape[0]
    ny = x.shape[1]
    run_ranges(_subtract_centre3_ranges, k * ny, full, x, wy0, wy1, wx0, wx1)


@njit(**KERNEL)
def _subtract_centre3_ranges(r0: int, r1: int, full: np.ndarray, x: np.ndarray, wy0: float, wy1: float, wx0: float,
                             wx1: float) -> None:  # pragma: no cover - compiled
    """The ranges ``r0 .. r1 - 1`` of :func:`subtract_centre3` (:func:`kansho._threads.run_ranges`)."""
    ny = x.shape[1]
    nx = x.shape[2]
    for r in range(r0, r1):
        m, i = r // ny, r % ny
        t = np.empty(nx + 2)
        t[0] = 0.0
        t[nx + 1] = 0.0
        for j in range(nx):
            up = x[m, i - 1, j] if i > 0 else 0.0
            dn = x[m, i + 1, j] if i < ny - 1 else 0.0
            v = x[m, i, j] * wy0
            v += (up + dn) * wy1
            t[j + 1] = v
        for j in range(nx):
            c = t[j + 1] * wx0
            c += (t[j] + t[j + 2]) * wx1
            full[m, i, j] = full[m, i, j] - c


def held_out_sums(x: np.ndarray, num: np.ndarray, den: np.ndarray, min_weight: float) -> np.ndarray:
    """The held-out sums of :func:`kansho.filters_adaptive.spatial_cv_sums` for one width in one sweep:
    ``x`` (ny, nx) the image (float32 or float64, NaN = no data), ``num`` / ``den`` (ny, nx) the numerator and
    weight of its prediction ``ĉ = num / den`` (given where ``den > min_weight``). Returns (4,) float64: Σ x·ĉ, Σ ĉ²,
    Σ x² and the count over the pixels where ``x`` and ``ĉ`` are finite; each row is summed alone
    (in order) and the rows' sums added pairwise, so the result does not depend on the threads."""
    rows = np.zeros((x.shape[0], 4))
    run_ranges(_held_out_rows, x.shape[0], rows, x, num, den, float(min_weight))
    return rows.sum(axis=0)


@njit(**KERNEL)
def _held_out_rows(r0: int, r1: int, rows: np.ndarray, x: np.ndarray, num: np.ndarray, den: np.ndarray,
                   min_weight: float) -> None:  # pragma: no cover - compiled
    """Rows ``r0 .. r1 - 1`` of :func:`held_out_sums` (:func:`kansho._threads.run_ranges`)."""
    nx = x.shape[1]
    for i in range(r0, r1):
        sxc = 0.0
        scc = 0.0
        sxx = 0.0
        n = 0.0
        for j in range(nx):
            v = np.float64(x[i, j])  # float32 or float64 x: the same sums
            d = den[i, j]
            if not (np.isfinite(v) and d > min_weight):
                continue
            c = num[i, j] / d
            if not np.isfinite(c):
                continue
            sxc += v * c
            scc += c * c
            sxx += v * v
            n += 1.0
        rows[i, 0] = sxc
        rows[i, 1] = scc
        rows[i, 2] = sxx
        rows[i, 3] = n


def gaussian2d(x: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """:func:`scipy.ndimage.gaussian_filter` of ``x`` (ny, nx) float64 with zero padding (``mode="constant"``,
    ``cval=0``) for the symmetric 1-D kernels ``wy`` (2·ry+1) along rows and ``wx`` (2·rx+1) along
    columns (:func:`kansho.filters.scipy_gaussian_weights`), to the bit: each axis in scipy's order and
    arithmetic for a symmetric kernel (``x₀·w₀``, then ``+= (x₋ₖ + x₊ₖ)·wₖ`` for k from the radius down
    to 1), both axes in one sweep of each output row, the rows on threads. Returns (ny, nx) float64."""
    out = np.empty(x.shape)
    run_ranges(_gaussian2d_rows, x.shape[0], out, np.ascontiguousarray(x, np.float64),
               np.ascontiguousarray(wy, np.float64), np.ascontiguousarray(wx, np.float64))
    return out


@njit(**KERNEL)
def _gaussian2d_rows(r0: int, r1: int, out: np.ndarray, x: np.ndarray, wy: np.ndarray,
                     wx: np.ndarray) -> None:  # pragma: no cover - compiled
    """Output rows ``r0 .. r1 - 1`` of :func:`gaussian2d` (:func:`kansho._threads.run_ranges`)."""
    ny = x.shape[0]
    nx = x.shape[1]
    ry = wy.size // 2
    rx = wx.size // 2
    col = np.zeros(nx + 2 * rx)  # the row after the pass along axis 0, zero padded for the pass along axis 1
    mid = col[rx: rx + nx]
    res = np.empty(nx)
    zero = np.zeros(nx)
    for i in range(r0, r1):
        xi = x[i]
        w0 = wy[ry]
        for j in range(nx):
            mid[j] = xi[j] * w0
        for k in range(ry, 0, -1):
            up = x[i - k] if i - k >= 0 else zero
            dn = x[i + k] if i + k < ny else zero
            wk = wy[ry - k]
            for j in range(nx):
                mid[j] += (up[j] + dn[j]) * wk
        v0 = wx[rx]
        for j in range(nx):
            res[j] = mid[j] * v0
        for k in range(rx, 0, -1):
            lo = col[rx - k: rx - k + nx]
            hi = col[rx + k: rx + k + nx]
            wk = wx[rx - k]
            for j in range(nx):
                res[j] += (lo[j] + hi[j]) * wk
        out[i] = res


#: what :func:`numpy.nan_to_num` puts for ±inf in float64
_BIG = np.finfo(np.float64).max


def filtered_epoch(base: np.ndarray, num: np.ndarray, den: np.ndarray, min_weight: float, alpha: float,
                   aps0: np.ndarray) -> np.ndarray:
    """One epoch of the filtered series in one sweep (ny, nx) float64: ``float64(base) - nan_to_num(aps - aps0,
    nan=0)`` with ``aps = alpha * ĉ`` and ``ĉ = num / den`` where ``den > min_weight``, NaN elsewhere (the
    prediction of :func:`kansho.filters_adaptive.hole_lowpass` from its numerator ``num`` and weight ``den``),
    each operation NumPy's, so the bits of the NumPy expressions. ``base`` (ny, nx) float32 or float64 mm,
    ``num``, ``den``, ``aps0`` (ny, nx) float64; the rows on threads."""
    out = np.empty(base.shape)
    run_ranges(_filtered_rows, base.shape[0], np.ascontiguousarray(base), np.ascontiguousarray(num),
               np.ascontiguousarray(den), float(min_weight), float(alpha), np.ascontiguousarray(aps0), out)
    return out


@njit(**KERNEL)
def _filtered_rows(r0: int, r1: int, base: np.ndarray, num: np.ndarray, den: np.ndarray, min_weight: float,
                   alpha: float, aps0: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Rows ``r0 .. r1 - 1`` of :func:`filtered_epoch` (:func:`kansho._threads.run_ranges`)."""
    for i in range(r0, r1):
        for j in range(base.shape[1]):
            d = den[i, j]
            c = num[i, j] / d if d > min_weight else np.nan
            x = alpha * c - aps0[i, j]
            if np.isnan(x):
                x = 0.0
            elif x == np.inf:
                x = _BIG
            elif x == -np.inf:
                x = -_BIG
            out[i, j] = np.float64(base[i, j]) - x
