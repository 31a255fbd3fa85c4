"""Goldstein–Werner adaptive interferogram filter (Goldstein & Werner 1998), vectorised.

The interferogram is cut into overlapping ``window × window`` patches every ``step`` pixels; each
patch's spectrum Z is multiplied by |S(Z)|^α, where S is a small boxcar smoothing of |Z| (so
the dominant fringe frequencies are kept and the noise floor is attenuated; α = 0 leaves the data
unchanged, α = 1 filters most), and transformed back. Patches are blended with a separable
triangular weight (overlap-add), which removes patch seams. All patches of a strip of rows are
processed in one batched FFT.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

__all__ = ["goldstein_filter"]


def goldstein_filter(
    ifg: npt.NDArray[np.complexfloating],
    alpha: float = 0.5,
    window: int = 32,
    step: int = 8,
    smooth: int = 3,
    *,
    max_patches: int = 20000,
) -> npt.NDArray[np.complex64]:
    """Filter a complex interferogram (ny, nx); returns complex64 (ny, nx), NaN where the input is invalid.

    The phasor ``ifg / |ifg|`` is filtered (amplitude does not steer the filter); the output
    amplitude is that of the filtered phasor (≤ 1, low where the phase is noisy). ``window`` must be
    a multiple of ``step``. ``max_patches`` bounds the patches transformed at once (memory).
    """
    if window % step != 0:
        raise ValueError(f"window {window} must be a multiple of step {step}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} must be in [0, 1]")
    a = np.asarray(ifg)
    valid = np.isfinite(a) & (np.abs(a) > 0)
    ph = np.zeros(a.shape, dtype=np.complex64)
    ph[valid] = (a[valid] / np.abs(a[valid])).astype(np.complex64)
    ny, nx = a.shape
    m = window // step
    pad = window
    # padded size: room for whole patches on a step lattice covering the image plus a margin
    py = pad + ny + pad
    px = pad + nx + pad
    py += (-(py - window)) % step
    px += (-(px - window)) % step
    big = np.zeros((py, px), dtype=np.complex64)
    big[pad : pad + ny, pad : pad + nx] = ph
    views = sliding_window_view(big, (window, window))[::step, ::step]  # (npy, npx, w, w)
    npy, npx = views.shape[:2]
    tri = 1.0 - np.abs((np.arange(window) + 0.5) - window / 2) / (window / 2)
    w2 = np.outer(tri, tri).astype(np.float32)
    acc = np.zeros((py, px), dtype=np.complex64)
    wsum = np.zeros((py, px), dtype=np.float32)
    rows_per_batch = max(1, max_patches // max(npx, 1))
    for r0 in range(0, npy, rows_per_batch):
        r1 = min(npy, r0 + rows_per_batch)
        patches = np.fft.fft2(views[r0:r1])
        amp = np.abs(patches)
        if smooth > 1:
            amp = ndimage.uniform_filter(amp, size=(1, 1, smooth, smooth), mode="wrap")
        peak = amp.max(axis=(2, 3), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            resp = np.where(peak > 0, (amp / peak) ** alpha, 0.0)
        out = np.fft.ifft2(patches * resp).astype(np.complex64) * w2
        # overlap-add: patches i ≡ a (mod m) and j ≡ b (mod m) tile the plane without overlap
        for a_ in range(m):
            i_first = r0 + ((a_ - r0) % m)
            if i_first >= r1:
                continue
            for b_ in range(m):
                sub = out[i_first - r0 :: m, b_::m]  # (nk, nl, w, w)
                nk, nl = sub.shape[:2]
                if nk == 0 or nl == 0:
                    continue
                tile = sub.transpose(0, 2, 1, 3).reshape(nk * window, nl * window)
                y0, x0 = i_first * step, b_ * step
                acc[y0 : y0 + nk * window, x0 : x0 + nl * window] += tile
                wsum[y0 : y0 + nk * window, x0 : x0 + nl * window] += np.broadcast_to(
                    np.tile(w2, (nk, nl)), tile.shape
                )
    with np.errstate(invalid="ignore", divide="ignore"):
        res = acc[pad : pad + ny, pad : pad + nx] / wsum[pad : pad + ny, pad : pad + nx]
    out = res.astype(np.complex64)
    out[~valid] = np.nan
    return out
