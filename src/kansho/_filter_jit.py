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

from kansho._threads import run_ranges


def subtract_centre3(full: np.ndarray, x: np.ndarray, wy0: float, wy1: float, wx0: float, wx1: float) -> None:
    """``full -= Cx(Cy(x))`` in place, ``full`` and ``x`` (k, ny, nx) float64; ``Cy`` the 3-tap
    correlation (weights ``wy1, wy0, wy1``) along axis 1, ``Cx`` along axis 2, zero outside."""
    k = x.shape[0]
    ny = x.shape[1]
    run_ranges(_subtract_centre3_ranges, k * ny, full, x, wy0, wy1, wx0, wx1)


@njit(cache=True, nogil=True, error_model="numpy")
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
