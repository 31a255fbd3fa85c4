"""Step 1-6: spatio-temporal filtering of the time series (atmospheric noise reduction).

Turbulent atmospheric delay is correlated in space but random in time, deformation is (mostly)
smooth in time.  The classic filter (Hooper et al., 2007, *J. Geophys. Res.* 112, B07407;
Morishita et al., 2020, *Remote Sensing* 12(3), 424, §2.6) therefore estimates the atmosphere of
each epoch as the **spatial low-pass of the temporal high-pass** of the time series and removes
it.  Optionally a planar/quadratic ramp and a height-proportional (stratified) term are removed
from each epoch first.

The chain runs the filter in passes over epochs and blocks (:func:`kansho.pipeline.step_filter`)
that call :func:`epoch_surface`, :func:`temporal_highpass`, :func:`gaussian_weight` and
:func:`gaussian_nan`; :func:`spatiotemporal_filter` is the same composition on a cube in memory.

All functions are plain array functions; NaN means no data and stays NaN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from kansho._flight import single_flight
from kansho._machine import usable_cores
from kansho._types import BoolArray, ComplexArray, Float64Array, FloatArray

log = logging.getLogger(__name__)

__all__ = [
    "FilterResult",
    "epoch_surface",
    "gaussian_nan",
    "gaussian_weight",
    "spatiotemporal_filter",
    "temporal_gaussian",
    "temporal_highpass",
]


def gaussian_nan(
    image: npt.ArrayLike,
    sigma_px_y: float,
    sigma_px_x: float,
    *,
    fill: bool = False,
    min_weight: float = 1e-3,
    truncate: float = 4.0,
    den: Float64Array | None = None,
) -> Float64Array:
    """NaN-aware Gaussian low-pass by normalised convolution.

    ``out = G * (data·w) / G * w`` with ``w`` = 1 where the image is finite and 0 elsewhere and
    zero padding outside the image, so NaN pixels and the image border do not bias the result
    (Knutsson & Westin, 1993, normalised convolution).

    Parameters
    ----------
    image:
        (ny, nx), any unit; NaN = no data.
    sigma_px_y, sigma_px_x:
        Gaussian standard deviations along rows and columns, in pixels (0 = no smoothing).
    fill:
        If False (default) the output is NaN where the input is NaN. If True the filtered value
        is also given at NaN pixels where the normalising weight exceeds ``min_weight`` (the
        fraction of the kernel's mass falling on finite pixels).
    truncate:
        Kernel half-width in standard deviations.
    den:
        The normalising weight ``G * w`` (ny, nx) of this image's finite pattern, from
        :func:`gaussian_weight`, when several images share that pattern (a time series under one
        mask): the filter then convolves only the data.

    Returns
    -------
    (ny, nx) float64, same unit.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    w = np.isfinite(img)
    sig = (float(sigma_px_y), float(sigma_px_x))
    if min(sig) < 0:
        raise ValueError(f"sigmas must be >= 0, got {sig}")
    if den is None:
        num, den = _gaussian_zero_padded(np.stack([np.where(w, img, 0.0), w.astype(np.float64)]), sig, truncate)
    elif den.shape != img.shape:
        raise ValueError(f"den must have the image's shape {img.shape}, got {den.shape}")
    else:
        num = _gaussian_zero_padded(np.where(w, img, 0.0)[None], sig, truncate)[0]
    keep = den > min_weight if fill else w & (den > 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep, num / np.where(keep, den, 1.0), np.nan)


def gaussian_weight(valid: npt.ArrayLike, sigma_px_y: float, sigma_px_x: float, *,
                    truncate: float = 4.0) -> Float64Array:
    """The normalising weight ``G * w`` of :func:`gaussian_nan` for the finite pattern ``valid``
    (ny, nx) bool: dimensionless, the fraction of the kernel's mass on finite pixels."""
    v = np.asarray(valid, dtype=np.float64)
    return _gaussian_zero_padded(v[None], (float(sigma_px_y), float(sigma_px_x)), truncate)[0]


def _gaussian_kernel(sigma: float, truncate: float) -> Float64Array:
    """The 1-D kernel of :func:`scipy.ndimage.gaussian_filter`: radius ``int(truncate*sigma+0.5)``, sum 1."""
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


#: pixels of an image from which a narrow Gaussian is the compiled :func:`kansho._filter_jit.gaussian2d` (the
#: bits of :func:`scipy.ndimage.gaussian_filter`, 2-4x faster on a 2500 x 2500 px frame with 2 threads);
#: smaller images (the demo's) keep scipy's, and the first run does not wait for a compilation. The same
#: threshold, for the same reason, gates the filter's compiled epoch sweep and step 1-3's reading of the
#: coherence codes as they are
COMPILED_MIN_PX = 2**18


def ndimage_weights(sigma: float, truncate: float) -> Float64Array:
    """The 1-D weights :func:`scipy.ndimage.gaussian_filter` correlates with along an axis, to the bit:
    radius ``int(truncate·σ + 0.5)``, ``exp(−0.5/σ² · x²)`` normalised to sum 1 (``[1]`` for σ ≈ 0, an
    axis scipy leaves as it is)."""
    if sigma <= 1e-15:
        return np.ones(1)
    r = int(truncate * float(sigma) + 0.5)
    x = np.arange(-r, r + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x**2)
    return (phi / phi.sum())[::-1]


#: threads of each FFT (pocketfft splits the 1-D transforms among them: the result does not depend on it)
FFT_WORKERS = min(2, usable_cores())
#: bytes of kernel transforms kept for the next call (the cross-validation applies each width to many epochs)
_KERNEL_CACHE_BYTES = 160 * 2**20
_KERNEL_CACHE: dict[tuple[float, float, float, int, int, int], ComplexArray] = {}


def _rfft2_rows(a: FloatArray, shp: tuple[int, int]) -> ComplexArray:
    """``scipy.fft.rfft2(a, shp)`` of a stack ``(k, ny, nx)``, bit for bit: pocketfft's 2-D real
    transform is the real transform of each row then the complex one of each column, so the rows
    of the zero padding (all zero, transform zero) are left out of the first pass."""
    from scipy import fft

    rows = fft.rfft(a, shp[1], axis=-1, workers=FFT_WORKERS)
    return fft.fft(rows, shp[0], axis=-2, workers=FFT_WORKERS)


def _irfft2_rows(f: ComplexArray, shp: tuple[int, int], r0: int, n: int) -> Float64Array:
    """Rows ``r0 : r0 + n`` of ``scipy.fft.irfft2(f, shp)``, bit for bit: the complex inverse of
    each column, unscaled, then the real inverse of the ``n`` rows kept, scaled once by 1/(Ny·Nx)
    as pocketfft scales the last pass of the 2-D transform."""
    from scipy import fft

    cols = fft.ifft(f, axis=-2, norm="forward", workers=FFT_WORKERS)[..., r0: r0 + n, :]
    out = fft.irfft(cols, shp[1], axis=-1, norm="forward", workers=FFT_WORKERS)
    out *= 1.0 / (shp[0] * shp[1])
    return out


def _kernel_fft(sigma: tuple[float, float], truncate: float, shp: tuple[int, int], hole: int = -1) -> ComplexArray:
    """``rfft2(outer(ky, kx), shp)`` of the 2-D Gaussian (with ``hole`` >= 0, its central
    (2·hole+1)² taps zeroed: the kernel ``G − G_c`` of :func:`kansho.filters_adaptive.hole_lowpass`),
    kept (up to :data:`_KERNEL_CACHE_BYTES`) for the next image filtered with the same width."""
    key = (sigma[0], sigma[1], truncate, shp[0], shp[1], hole)
    def compute() -> ComplexArray:
        k2 = np.outer(_gaussian_kernel(sigma[0], truncate), _gaussian_kernel(sigma[1], truncate))
        if hole >= 0:
            ry, rx = k2.shape[0] // 2, k2.shape[1] // 2
            hy, hx = min(hole, ry), min(hole, rx)
            k2[ry - hy: ry + hy + 1, rx - hx: rx + hx + 1] = 0.0
        kern = _rfft2_rows(k2, shp)
        kern.flags.writeable = False
        if sum(v.nbytes for v in list(_KERNEL_CACHE.values())) + kern.nbytes <= _KERNEL_CACHE_BYTES:
            _KERNEL_CACHE[key] = kern
        return kern

    return single_flight(_KERNEL_CACHE, key, compute)


def use_fft(sigma: tuple[float, float]) -> bool:
    """Whether :func:`_gaussian_zero_padded` convolves by FFT (σ of 8 px and more along an axis, both > 0)."""
    return max(sigma) >= 8.0 and min(sigma) > 0


def _gaussian_zero_padded(a: FloatArray, sigma: tuple[float, float], truncate: float, hole: int = -1
                          ) -> FloatArray:
    """Separable Gaussian of a stack of 2-D arrays ``(k, ny, nx)``, zero padding outside them.

    Narrow kernels use :func:`scipy.ndimage.gaussian_filter` per image; from 8 px on, one 2-D
    real FFT of the zero-padded stack times the kernel's transform (a 2-km filter on a 100-m grid
    has 161 taps: the FFT is about twice as fast). Both give the same result to round-off (~1e-15).
    The FFT path is ``irfft2(rfft2(a, shp) * rfft2(kernel, shp), shp)`` cropped, bit for bit
    (:func:`_rfft2_rows`, :func:`_irfft2_rows`; the kernel's transform is reused across calls).
    With ``hole`` >= 0 (the FFT path only: :func:`use_fft`) the kernel's central (2·hole+1)² taps are
    zeroed (:func:`_kernel_fft`). A float32 stack goes through the FFT path in float32 (result float32).
    """
    if not use_fft(sigma):
        assert hole < 0, "a kernel with a hole is convolved by FFT only"
        if a.shape[-2] * a.shape[-1] >= COMPILED_MIN_PX:  # the same bits, on threads (compiled once, on first use)
            from kansho._filter_jit import gaussian2d

            wy, wx = ndimage_weights(sigma[0], truncate), ndimage_weights(sigma[1], truncate)
            return np.stack([gaussian2d(x, wy, wx) for x in np.asarray(a, np.float64)])
        return np.stack([ndimage.gaussian_filter(x, sigma, mode="constant", cval=0.0, truncate=truncate) for x in a])
    from scipy import fft

    ry, rx = int(truncate * sigma[0] + 0.5), int(truncate * sigma[1] + 0.5)  # radii of _gaussian_kernel
    ny, nx = a.shape[-2:]
    # the rows kept, ry .. ry + ny - 1 of the linear convolution (length ny + 2 ry - 1), take no wrapped-around
    # term from a transform of length >= ny + ry: half the padding that a full linear convolution needs
    shp = (fft.next_fast_len(ny + ry, real=True), fft.next_fast_len(nx + rx, real=True))
    spec = _rfft2_rows(a, shp)
    spec *= _kernel_fft(sigma, truncate, shp, hole)
    return _irfft2_rows(spec, shp, ry, ny)[..., rx: rx + nx]


def _as_2d(cum: npt.ArrayLike, n_epoch: int) -> tuple[Float64Array, tuple[int, ...]]:
    c = np.asarray(cum, dtype=np.float64)
    if c.ndim < 1 or c.shape[0] != n_epoch:
        raise ValueError(f"first axis of cum must be the {n_epoch} epochs, got shape {c.shape}")
    return c.reshape(n_epoch, -1), c.shape


def temporal_gaussian(
    cum: npt.ArrayLike, t: npt.ArrayLike, sigma_yr: float, *, order: int = 0
) -> Float64Array:
    """NaN-aware Gaussian smoothing along time for irregular sampling.

    ``order=0``: ``out_i = Σ_j W_ij x_j / Σ_j W_ij`` over the finite ``x_j``, with
    ``W_ij = exp(−(t_i − t_j)² / 2σ²)``, computed as (n_epoch, n_epoch) matrix products.

    ``order=1``: Gaussian-weighted *local linear* regression: ``out_i`` is the value at ``t_i`` of
    the line fitted to the finite ``(t_j, x_j)`` with weights ``W_ij`` (Cleveland, 1979, local
    regression).  It equals ``order=0`` in the interior of regular sampling but reproduces straight
    lines exactly, so it is not biased by the trend at the ends of the series.  Where the local
    fit is singular (fewer than two distinct epochs with weight) the ``order=0`` value is used.

    Parameters
    ----------
    cum:
        (n_epoch, npix) or (n_epoch, ny, nx), any unit, NaN = no data.
    t:
        (n_epoch,) time, years.
    sigma_yr:
        Gaussian standard deviation, years (> 0).

    Returns
    -------
    Same shape as ``cum``, float64; NaN where ``cum`` is NaN.
    """
    t = np.asarray(t, dtype=np.float64)
    if sigma_yr <= 0:
        raise ValueError(f"sigma_yr must be > 0, got {sigma_yr}")
    if order not in (0, 1):
        raise ValueError(f"order must be 0 or 1, got {order}")
    c, shape = _as_2d(cum, t.shape[0])
    D = (t[None, :] - t[:, None]) / sigma_yr  # D_ij = (t_j - t_i) / σ, dimensionless
    W = np.exp(-0.5 * D * D)
    valid = np.isfinite(c)
    vf = valid.astype(np.float64)
    y = np.where(valid, c, 0.0)
    s0 = W @ vf
    y0 = W @ y
    if order == 0:
        del vf, y  # their memory serves the next temporaries
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(valid, s0, 1.0)
        np.divide(y0, out, out=out)  # y0 / where(valid, s0, 1), without another temporary
        if order == 1:
            WD = W * D
            s1 = WD @ vf
            s2 = (WD * D) @ vf
            y1 = WD @ y
            det = s0 * s2 - s1 * s1
            ok = valid & (det > 1e-9 * s0 * s2)
            out = np.where(ok, (s2 * y0 - s1 * y1) / np.where(ok, det, 1.0), out)
        out[~valid] = np.nan
    return out.reshape(shape)


def _linear_trend(c: Float64Array, t: Float64Array) -> Float64Array:
    """Per-column least-squares line ``a + v t`` through the finite values of c (n_epoch, npix).

    Columns with fewer than two finite values get their mean (or 0). Returns (n_epoch, npix).
    """
    tc = t - t.mean()
    w = np.isfinite(c)
    y = np.where(w, c, 0.0)
    wf = w.astype(np.float64)
    s0 = wf.sum(axis=0)
    st = tc @ wf
    stt = (tc * tc) @ wf
    sy = y.sum(axis=0)
    sty = tc @ y
    det = s0 * stt - st * st
    good = det > 1e-12 * np.maximum(s0 * stt, 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(good, (s0 * sty - st * sy) / np.where(good, det, 1.0), 0.0)
        a = np.where(s0 > 0, (sy - v * st) / np.maximum(s0, 1.0), 0.0)
    return a[None, :] + tc[:, None] * v[None, :]


def temporal_highpass(
    flat: npt.ArrayLike, t: npt.ArrayLike, sigma_yr: float, *, order: int = 0
) -> Float64Array:
    """Temporal high-pass of per-pixel series: the part faster than ``sigma_yr``.

    Parameters
    ----------
    flat:
        (n_epoch, npix) displacement (mm), NaN = no data.
    t:
        (n_epoch,) time (yr).
    sigma_yr:
        Width of the temporal Gaussian (yr).
    order:
        0: remove each pixel's linear trend, then subtract the Gaussian-smoothed residual
        (a linear deformation passes unchanged, as in Morishita et al. 2020); 1: subtract a
        Gaussian-weighted local-linear fit (gentler on seasonal signals).

    Returns
    -------
    (n_epoch, npix) float64 high-passed series (mm).
    """
    c = np.asarray(flat, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    if order == 0:
        resid = c - _linear_trend(c, tt)
        return resid - temporal_gaussian(resid, tt, sigma_yr)
    return c - temporal_gaussian(c, tt, sigma_yr, order=1)


def _design(
    ny: int, nx: int, deg: int | None, hgt: Float64Array | None
) -> tuple[list[Float64Array], int]:
    """Columns (each (ny, nx)) of the surface model; returns (columns, index of height column or -1)."""
    s = float(max(ny, nx))
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    x = (xx - (nx - 1) / 2) / s
    y = (yy - (ny - 1) / 2) / s
    cols = [np.ones((ny, nx))]
    if deg is not None:
        if deg not in (1, 2):
            raise ValueError(f"ramp degree must be 1 or 2, got {deg}")
        cols += [x, y]
        if deg == 2:
            cols += [x * x, x * y, y * y]
    ih = -1
    if hgt is not None:
        ih = len(cols)
        cols.append(hgt)
    return cols, ih


def _fit_surface(
    image: Float64Array,
    use: BoolArray,
    cols: list[Float64Array],
    max_points: int,
) -> Float64Array | None:
    """Least-squares coefficients of ``image ≈ Σ c_k cols_k`` over ``use`` pixels (None if too few)."""
    ok = use & np.isfinite(image)
    for c in cols:
        ok &= np.isfinite(c)
    n_ok = int(ok.sum())
    if n_ok > max_points:  # regular 2-D subsample, spatially uniform
        step = int(np.ceil(np.sqrt(n_ok / max_points)))
        sub = np.zeros_like(ok)
        sub[::step, ::step] = True
        if int((ok & sub).sum()) >= len(cols):
            ok &= sub
    idx = np.flatnonzero(ok)
    if idx.size < len(cols):
        return None
    A = np.stack([c.ravel()[idx] for c in cols], axis=1)
    scale = np.sqrt((A * A).mean(axis=0))
    scale[scale == 0] = 1.0
    coef, *_ = np.linalg.lstsq(A / scale, image.ravel()[idx], rcond=None)
    return coef / scale


def epoch_surface(
    image: npt.ArrayLike,
    use: npt.ArrayLike,
    deramp: int | None,
    hgt: npt.ArrayLike | None,
    *,
    max_points: int = 200_000,
) -> tuple[Float64Array, float]:
    """Joint least-squares ramp (``deramp`` = 1 or 2, or None) and height term of one epoch.

    Parameters
    ----------
    image:
        (ny, nx) displacement (mm), NaN = no data.
    use:
        (ny, nx) bool, pixels used in the fit.
    deramp:
        Ramp degree (None: constant only).
    hgt:
        (ny, nx) height (m) for a stratified-atmosphere term, or None.

    Returns
    -------
    (surface (ny, nx) float64 mm, height coefficient mm/m — 0.0 without ``hgt``). The surface is
    zero, with a logged warning, when too few pixels qualify.
    """
    img = np.asarray(image, dtype=np.float64)
    ny, nx = img.shape
    h = None if hgt is None else np.asarray(hgt, dtype=np.float64)
    cols, ih = _design(ny, nx, deramp, h)
    coef = _fit_surface(img, np.asarray(use, dtype=bool), cols, max_points)
    if coef is None:
        log.debug("filter: too few valid pixels for the ramp/height fit; epoch left unchanged")
        return np.zeros((ny, nx)), 0.0
    surf = sum(cf * col for cf, col in zip(coef, cols, strict=True))
    return np.asarray(surf, dtype=np.float64), float(coef[ih]) if ih >= 0 else 0.0


@dataclass(frozen=True)
class FilterResult:
    """Result of :func:`spatiotemporal_filter`; arrays ``(n_epoch, ny, nx)``.

    Attributes
    ----------
    cum_filt:
        Filtered series, mm, in the floating dtype of ``cum``.
    trend:
        float64 mm, the ramp / height surface removed from each epoch, relative to epoch 0's
        (``trend[0] = 0``), or None when neither was asked.
    aps:
        float64 mm, the atmosphere removed from each epoch after ``trend``: the spatial low-pass of
        its temporal high-pass relative to epoch 0's (0 where it is undefined), plus the per-epoch
        shift that keeps the reference window's mean.
    sigma_yr:
        Temporal Gaussian σ used, years.
    sigma_px:
        (σ_y, σ_x) spatial Gaussian σ used, pixels.
    """

    cum_filt: FloatArray
    aps: Float64Array
    trend: Float64Array | None
    sigma_yr: float
    sigma_px: tuple[float, float]


def _filter_inputs(cum: npt.ArrayLike, t: npt.ArrayLike, pixel_km: tuple[float, float], sigma_km: float,
                   mask: npt.ArrayLike | None, hgt: npt.ArrayLike | None
                   ) -> tuple[FloatArray, Float64Array, BoolArray, Float64Array | None]:
    """``cum`` in its floating dtype (float64 for other input), ``t``, the mask (all True when
    None) and the height as arrays, or the error :func:`spatiotemporal_filter` documents."""
    c = np.asarray(cum)
    if not np.issubdtype(c.dtype, np.floating):
        c = c.astype(np.float64)
    tt = np.asarray(t, dtype=np.float64)
    if c.ndim != 3 or tt.ndim != 1 or c.shape[0] != tt.shape[0]:
        raise ValueError(f"cum must be (n_epoch={tt.shape[0]}, ny, nx); got {c.shape}")
    if tt.shape[0] < 2:
        raise ValueError("spatio-temporal filtering needs at least 2 epochs")
    if min(float(v) for v in pixel_km) <= 0 or sigma_km < 0:
        raise ValueError(f"pixel_km must be > 0 and sigma_km >= 0; got {pixel_km}, {sigma_km}")
    use = np.ones(c.shape[1:], bool) if mask is None else np.asarray(mask, dtype=bool)
    h = None if hgt is None else np.asarray(hgt, dtype=np.float64)
    for name, a in (("mask", use), ("hgt", h)):
        if a is not None and a.shape != c.shape[1:]:
            raise ValueError(f"{name} shape {a.shape} differs from image shape {c.shape[1:]}")
    return c, tt, use, h


def _remove_surfaces(c: FloatArray, use: BoolArray, deramp: int | None, hgt: Float64Array | None
                     ) -> tuple[FloatArray, Float64Array | None]:
    """Stage 1: each epoch less its :func:`epoch_surface` relative to epoch 0's, in the dtype of
    ``c`` (n_epoch, ny, nx); returns (that series, the surfaces removed or None)."""
    if not deramp and hgt is None:
        return c, None
    base = np.empty_like(c)
    trend = np.empty(c.shape)
    surf0 = None
    for e in range(c.shape[0]):
        img = c[e].astype(np.float64)
        surf, _ = epoch_surface(img, use, deramp or None, hgt)
        if surf0 is None:
            surf0 = surf
        trend[e] = surf - surf0
        base[e] = img - trend[e]
    return base, trend


def ref_index(ref: tuple[int, int, int, int] | npt.ArrayLike) -> Any:
    """Index of the reference: a (row0, row1, col0, col1) box, or a (ny, nx) bool mask (a reference set)."""
    if isinstance(ref, tuple) and len(ref) == 4:
        r0, r1, c0, c1 = ref
        return np.s_[r0:r1, c0:c1]
    return np.asarray(ref, bool)


def _remove_atmosphere(c: FloatArray, base: FloatArray, hp: FloatArray, sigma_px: tuple[float, float],
                       ref_window: tuple[int, int, int, int] | npt.ArrayLike | None
                       ) -> tuple[FloatArray, Float64Array]:
    """Stages 3-5: per epoch, ``base`` less the spatial low-pass of the high-pass ``hp`` relative to
    epoch 0's (the weight of :func:`gaussian_nan` computed once per finite pattern), shifted so that
    the window ``ref_window`` keeps its mean in ``c``. Returns (the filtered series in the dtype of
    ``c``, what was removed, float64); all arrays (n_epoch, ny, nx)."""
    out = np.empty_like(c)
    removed = np.empty(c.shape)
    aps0 = None
    pattern = np.isfinite(hp[0])
    den = gaussian_weight(pattern, *sigma_px)
    for e in range(c.shape[0]):
        valid = np.isfinite(hp[e])
        if not np.array_equal(valid, pattern):
            pattern, den = valid, gaussian_weight(valid, *sigma_px)
        aps = gaussian_nan(hp[e], *sigma_px, fill=True, den=den)
        if aps0 is None:
            aps0 = aps
        corr = np.nan_to_num(aps - aps0, nan=0.0)
        img = base[e].astype(np.float64) - corr
        if ref_window is not None:
            sel = ref_index(ref_window)
            shift = img[sel] - c[e][sel]
            if np.isfinite(shift).any():
                img = img - np.nanmean(shift)
                corr = corr + np.nanmean(shift)
        out[e] = img
        removed[e] = corr
    return out, removed


def spatiotemporal_filter(
    cum: npt.ArrayLike,
    t: npt.ArrayLike,
    *,
    pixel_km: tuple[float, float],
    sigma_km: float = 2.0,
    sigma_yr: float | None = None,
    deramp: int | None = None,
    hgt: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
    ref_window: tuple[int, int, int, int] | npt.ArrayLike | None = None,
    temporal_order: int = 0,
) -> FilterResult:
    """Remove atmospheric noise from a displacement time series (Step 1-6), in memory.

    The stages and arithmetic of the chain's passes (:func:`kansho.pipeline.step_filter`), which
    keep one epoch or one block in memory; the intermediate series are held in the dtype of ``cum``
    as the chain holds them in float32 work arrays, so for a float32 ``cum`` this returns what the
    chain computes.

    1. With ``deramp`` (1 or 2) and/or ``hgt``: per epoch, the ramp of that degree and/or the
       height-proportional term are fitted jointly over ``mask`` (:func:`epoch_surface`) and
       removed relative to epoch 0's (``trend``).
    2. Per pixel, the temporal high-pass (:func:`temporal_highpass`, ``temporal_order``) of the
       series over ``mask`` (other pixels NaN).
    3. Per epoch, its spatial low-pass (:func:`gaussian_nan`, σ = ``sigma_km``, evaluated at every
       pixel within reach of ``mask``) is the atmosphere; relative to epoch 0's, with 0 where it is
       undefined, it is removed.
    4. With ``ref_window``, each epoch is shifted so that the window keeps its mean in ``cum``.

    Parameters
    ----------
    cum:
        (n_epoch, ny, nx) cumulative displacement, mm, NaN = no data.
    t:
        (n_epoch,) years since the first epoch.
    pixel_km:
        (dx_km, dy_km) pixel size along columns and rows.
    sigma_km:
        Spatial Gaussian σ, km (LiCSBAS default 2 km).
    sigma_yr:
        Temporal Gaussian σ, years; default 3 × the mean epoch interval.
    deramp:
        None or 0 (default), 1 (plane) or 2 (quadratic) ramp removal per epoch.
    hgt:
        (ny, nx) height, m: remove a height-proportional term per epoch (None: not).
    mask:
        (ny, nx) bool, True = reliable pixels used to estimate the surfaces and the atmosphere;
        None = every pixel. The correction is applied to every pixel.
    ref_window:
        (row0, row1, col0, col1) half-open reference window, a (ny, nx) bool mask of the reference
        pixels (a reference set), or None.
    temporal_order:
        0 (default) or 1, see :func:`temporal_highpass`.
    """
    c, tt, use, h = _filter_inputs(cum, t, pixel_km, sigma_km, mask, hgt)
    ne = c.shape[0]
    if sigma_yr is None:
        sigma_yr = 3.0 * (float(tt[-1] - tt[0]) / (ne - 1))
    sig_px = (sigma_km / float(pixel_km[1]), sigma_km / float(pixel_km[0]))
    base, trend = _remove_surfaces(c, use, deramp, h)
    hp = temporal_highpass(np.where(use[None], base.astype(np.float64), np.nan).reshape(ne, -1), tt, sigma_yr,
                           order=temporal_order).reshape(c.shape).astype(c.dtype)
    cum_filt, aps = _remove_atmosphere(c, base, hp, sig_px, ref_window)
    log.info("filter: σ = %.3g km (%.3g × %.3g px), %.3g yr", sigma_km, sig_px[0], sig_px[1], sigma_yr)
    return FilterResult(cum_filt=cum_filt, aps=aps, trend=trend, sigma_yr=float(sigma_yr),
                        sigma_px=(float(sig_px[0]), float(sig_px[1])))
