"""Compiled kernel of :func:`kansho.mask.stc` (step 1-5): the spatio-temporal consistency in one pass over
a block's ``(n_epoch, ny, nx)`` series, where numpy makes about ten float64 temporaries of its size (the
epochs' increments, and per neighbour offset the double differences, their finite mask and squares).

Exactly (bit for bit) what the numpy reference gives: the increments and double differences in float64,
the squares summed epoch after epoch (the order ``np.einsum`` takes on a frame's planes; on a plane of a few
pixels it may take another, ~1e-16 apart), no fast-math.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kansho._jitopts import KERNEL

#: the four neighbour offsets (dy, dx) that with their opposites give all eight
OFFSETS = np.array([[0, 1], [1, 0], [1, 1], [1, -1]], np.int64)


@njit(**KERNEL)
def stc_rows(c: np.ndarray, offsets: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``(ny, nx)`` float64 STC of ``c`` ``(n_epoch, ny, nx)`` (float32 or float64, mm, NaN = no data): per
    pixel the least RMS over its neighbours of the finite double differences of the increments; inf where
    no neighbour shares a finite one (the caller sets NaN). Row by row, the epochs outside the pixels."""
    n, ny, nx = c.shape
    best = np.full((ny, nx), np.inf)
    ss = np.empty(nx)
    cnt = np.empty(nx, np.int64)
    for o in range(offsets.shape[0]):
        dy, dx = offsets[o, 0], offsets[o, 1]
        x0p, x0q = max(0, -dx), max(0, dx)
        w = nx - abs(dx)
        for y in range(ny - dy):
            ss[:w] = 0.0
            cnt[:w] = 0
            for k in range(1, n):
                for i in range(w):
                    ip = np.float64(c[k, y, x0p + i]) - np.float64(c[k - 1, y, x0p + i])
                    iq = np.float64(c[k, y + dy, x0q + i]) - np.float64(c[k - 1, y + dy, x0q + i])
                    d = ip - iq
                    if math.isfinite(d):
                        ss[i] += d * d
                        cnt[i] += 1
            for i in range(w):
                if cnt[i] > 0:
                    r = math.sqrt(ss[i] / cnt[i])
                    if r < best[y, x0p + i]:
                        best[y, x0p + i] = r
                    if r < best[y + dy, x0q + i]:
                        best[y + dy, x0q + i] = r
    return best
