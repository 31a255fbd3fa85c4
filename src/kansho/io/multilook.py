"""Multilooking (n × n box averaging) of rasters and raster stacks, NaN-aware.

LiCSBAS step 0-2 downsamples the LiCSAR products by an integer factor before the time-series
analysis (Morishita et al. 2020, §2.2); the unwrapped phase and the coherence are both averaged
over the valid looks of each box, which is what :func:`multilook` does. Coherence needs no separate
function: averaging the (already estimated) coherence the same way is LiCSBAS's choice too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["multilook"]


def multilook(arr: npt.ArrayLike, n: int, *, min_valid: float = 0.5) -> npt.NDArray[np.float32]:
    """Average ``n`` × ``n`` boxes of a raster ``(ny, nx)`` or a stack ``(k, ny, nx)``.

    Parameters
    ----------
    arr:
        Values, any real dtype; NaN and ±inf are no data. (LiCSAR's ``0 = no data`` must be
        turned into NaN by the caller.) Shape ``(ny, nx)`` or ``(k, ny, nx)``.
    n:
        Looks per side (≥ 1). Incomplete boxes at the bottom and right edges are dropped, as in
        :meth:`kansho.grid.Grid.multilooked`.
    min_valid:
        Minimum fraction (0–1) of finite looks in a box for it to get a value; boxes below it
        (and boxes with no finite look at all) are NaN.

    Returns
    -------
    float32 array of shape ``(..., ny // n, nx // n)``: the mean of the finite looks in each box
    (accumulated in float64). ``n = 1`` returns the input as float32 (no copy if it already is).
    """
    a = np.asarray(arr)
    if a.ndim not in (2, 3):
        raise ValueError(f"multilook expects a (ny, nx) or (k, ny, nx) array, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"multilook expects real values, got dtype {a.dtype}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0.0 <= float(min_valid) <= 1.0:
        raise ValueError(f"min_valid must be in [0, 1], got {min_valid!r}")
    n = int(n)
    if n == 1:
        return a.astype(np.float32, copy=False)
    ny, nx = a.shape[-2:]
    my, mx = ny // n, nx // n
    if my == 0 or mx == 0:
        raise ValueError(f"n = {n} is larger than the array's {ny} x {nx} pixels")
    lead = a.shape[:-2]
    blocks = a[..., : my * n, : mx * n].reshape(*lead, my, n, mx, n)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(-3, -1))
    total = np.where(valid, blocks, 0).sum(axis=(-3, -1), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    bad = (count == 0) | (count / (n * n) < float(min_valid))
    mean[bad] = np.nan
    return mean.astype(np.float32)
