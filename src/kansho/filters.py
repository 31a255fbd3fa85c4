"""Step 1-6: spatio-temporal filtering of the time series (atmospheric noise reduction).

Turbulent atmospheric delay is correlated in space but random in time, deformation is (mostly)
smooth in time.  The classic filter (Hooper et al., 2007, *J. Geophys. Res.* 112, B07407;
Morishita et al., 2020, *Remote Sensing* 12(3), 424, §2.6) therefore estimates the atmosphere of
each epoch as the **spatial low-pass of the temporal high-pass** of the time series and removes
it.  Optionally a planar/quadratic ramp and a height-proportional (stratified) term are removed
from each epoch first.

All functions are plain array functions; NaN means no data and stays NaN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

log = logging.getLogger(__name__)

__all__ = [
    "FilterResult",
    "fit_height",
    "fit_ramp",
    "gaussian_nan",
    "gaussian_weight",
    "spatiotemporal_filter",
    "temporal_gaussian",
]


def gaussian_nan(
    image: npt.ArrayLike,
    sigma_px_y: float,
    sigma_px_x: float,
    *,
    fill: bool = False,
    min_weight: float = 1e-3,
    truncate: float = 4.0,
    den: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
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
                    truncate: float = 4.0) -> npt.NDArray[np.float64]:
    """The normalising weight ``G * w`` of :func:`gaussian_nan` for the finite pattern ``valid``
    (ny, nx) bool: dimensionless, the fraction of the kernel's mass on finite pixels."""
    v = np.asarray(valid, dtype=np.float64)
    return _gaussian_zero_padded(v[None], (float(sigma_px_y), float(sigma_px_x)), truncate)[0]


def _gaussian_kernel(sigma: float, truncate: float) -> npt.NDArray[np.float64]:
    """The 1-D kernel of :func:`scipy.ndimage.gaussian_filter`: radius ``int(truncate*sigma+0.5)``, sum 1."""
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _gaussian_zero_padded(a: npt.NDArray[np.float64], sigma: tuple[float, float], truncate: float
                          ) -> npt.NDArray[np.float64]:
    """Separable Gaussian of a stack of 2-D arrays ``(k, ny, nx)``, zero padding outside them.

    Narrow kernels use :func:`scipy.ndimage.gaussian_filter` per image; from 8 px on, one 2-D
    real FFT of the zero-padded stack times the kernel's transform (a 2-km filter on a 100-m grid
    has 161 taps: the FFT is about twice as fast). Both give the same result to round-off (~1e-15).
    """
    if max(sigma) < 8.0 or min(sigma) <= 0:
        return np.stack([ndimage.gaussian_filter(x, sigma, mode="constant", cval=0.0, truncate=truncate) for x in a])
    from scipy import fft

    ky, kx = _gaussian_kernel(sigma[0], truncate), _gaussian_kernel(sigma[1], truncate)
    ry, rx = ky.size // 2, kx.size // 2
    ny, nx = a.shape[-2:]
    shp = (fft.next_fast_len(ny + 2 * ry, real=True), fft.next_fast_len(nx + 2 * rx, real=True))
    kern = fft.rfft2(np.outer(ky, kx), shp)
    out = fft.irfft2(fft.rfft2(a, shp) * kern, shp)
    return out[..., ry: ry + ny, rx: rx + nx]


def _as_2d(cum: npt.ArrayLike, n_epoch: int) -> tuple[npt.NDArray[np.float64], tuple[int, ...]]:
    c = np.asarray(cum, dtype=np.float64)
    if c.ndim < 1 or c.shape[0] != n_epoch:
        raise ValueError(f"first axis of cum must be the {n_epoch} epochs, got shape {c.shape}")
    return c.reshape(n_epoch, -1), c.shape


def temporal_gaussian(
    cum: npt.ArrayLike, t: npt.ArrayLike, sigma_yr: float, *, order: int = 0
) -> npt.NDArray[np.float64]:
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
    with np.errstate(invalid="ignore", divide="ignore"):
        out = y0 / np.where(valid, s0, 1.0)
        if order == 1:
            WD = W * D
            s1 = WD @ vf
            s2 = (WD * D) @ vf
            y1 = WD @ y
            det = s0 * s2 - s1 * s1
            ok = valid & (det > 1e-9 * s0 * s2)
            out = np.where(ok, (s2 * y0 - s1 * y1) / np.where(ok, det, 1.0), out)
        out = np.where(valid, out, np.nan)
    return out.reshape(shape)


def _linear_trend(c: npt.NDArray[np.float64], t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
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
) -> npt.NDArray[np.float64]:
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
    ny: int, nx: int, deg: int | None, hgt: npt.NDArray[np.float64] | None
) -> tuple[list[npt.NDArray[np.float64]], int]:
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
    image: npt.NDArray[np.float64],
    use: npt.NDArray[np.bool_],
    cols: list[npt.NDArray[np.float64]],
    max_points: int,
) -> npt.NDArray[np.float64] | None:
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
) -> tuple[npt.NDArray[np.float64], float]:
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


def fit_ramp(
    image: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
    deg: int = 1,
    *,
    max_points: int = 200_000,
) -> npt.NDArray[np.float64]:
    """Least-squares plane (``deg=1``) or quadratic surface (``deg=2``) of an image.

    Parameters
    ----------
    image:
        (ny, nx), any unit, NaN = no data.
    mask:
        (ny, nx) bool, pixels used in the fit (together with finite image values); None = all.
    deg:
        1: ``a + b·x + c·y``; 2: adds ``x², x·y, y²`` (x, y pixel coordinates).
    max_points:
        If more pixels qualify, a regular subsample of about this many is used.

    Returns
    -------
    (ny, nx) float64: the fitted surface evaluated on every pixel.

    Raises
    ------
    ValueError
        If fewer pixels than coefficients are available.
    """
    img = np.asarray(image, dtype=np.float64)
    use = np.ones(img.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    cols, _ = _design(*img.shape, deg, None)
    coef = _fit_surface(img, use, cols, max_points)
    if coef is None:
        raise ValueError(f"too few valid pixels to fit a degree-{deg} ramp")
    return sum(c * col for c, col in zip(coef, cols))


def fit_height(
    image: npt.ArrayLike,
    hgt: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
    *,
    max_points: int = 200_000,
) -> tuple[float, npt.NDArray[np.float64]]:
    """Linear height-correlated (stratified atmosphere) term: fit ``image ≈ a + k·hgt``.

    Parameters
    ----------
    image:
        (ny, nx), e.g. mm; NaN = no data.
    hgt:
        (ny, nx) height, m.
    mask:
        (ny, nx) bool, pixels used in the fit; None = all finite.

    Returns
    -------
    (k, k·hgt): the coefficient (image unit per metre) and the height term image (ny, nx)
    (the constant ``a`` is not part of it).
    """
    img = np.asarray(image, dtype=np.float64)
    h = np.asarray(hgt, dtype=np.float64)
    if h.shape != img.shape:
        raise ValueError(f"hgt shape {h.shape} differs from image shape {img.shape}")
    use = np.ones(img.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    cols, ih = _design(*img.shape, None, h)
    coef = _fit_surface(img, use, cols, max_points)
    if coef is None:
        raise ValueError("too few valid pixels to fit a height term")
    k = float(coef[ih])
    return k, k * h


@dataclass(frozen=True)
class FilterResult:
    """Result of :func:`spatiotemporal_filter`.

    Attributes
    ----------
    cum_filt:
        (n_epoch, ny, nx) mm, ``cum − trend − aps``.
    aps:
        (n_epoch, ny, nx) mm, estimated turbulent atmosphere of each epoch relative to the first
        epoch (``aps[0] = 0``) and to the reference window if one was given.
    trend:
        (n_epoch, ny, nx) mm, removed ramp / height term per epoch, or None if neither was asked.
    hgt_coef:
        (n_epoch,) mm/m, height coefficient per epoch, or None.
    sigma_yr:
        Temporal Gaussian σ used (years).
    sigma_px:
        (σ_y, σ_x) spatial Gaussian σ used (pixels).
    """

    cum_filt: npt.NDArray[np.floating]
    aps: npt.NDArray[np.floating]
    trend: npt.NDArray[np.floating] | None
    hgt_coef: npt.NDArray[np.float64] | None
    sigma_yr: float
    sigma_px: tuple[float, float]


def spatiotemporal_filter(
    cum: npt.ArrayLike,
    t: npt.ArrayLike,
    *,
    pixel_km: tuple[float, float],
    sigma_km: float = 2.0,
    sigma_yr: float | None = None,
    deramp: int | None = None,
    hgt_corr: bool = False,
    hgt: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
    ref_window: tuple[int, int, int, int] | None = None,
    temporal_order: int = 0,
    max_points: int = 200_000,
) -> FilterResult:
    """Remove atmospheric noise from a displacement time series (Step 1-6).

    1. If ``deramp`` (1 or 2) and/or ``hgt_corr``: per epoch, a ramp of that degree and/or a
       height-proportional term are fitted jointly (least squares over ``mask`` pixels) and
       removed (``trend``).
    2. Temporal high-pass, ``temporal_order=0`` (default): each pixel's least-squares line
       ``a + v·t`` is removed, then the residual minus its Gaussian temporal low-pass
       (:func:`temporal_gaussian`, σ = ``sigma_yr``) is the high-pass.  Removing the line first
       means a linear deformation leaks nothing into the high-pass, even at the ends of the series
       where a plain Gaussian smoother is biased.  ``temporal_order=1``: the series minus its
       Gaussian-weighted local-linear fit (``temporal_gaussian(..., order=1)``), which also
       follows non-linear deformation at the ends of the series (about 3× less damage to a
       seasonal signal in our tests) but removes less atmosphere (residual ≈ 0.54 instead of
       0.43 of the atmosphere on our synthetic test), mainly because the first epoch's
       atmosphere, which every epoch carries, is estimated less well.
    3. Spatial low-pass of each epoch's high-pass (:func:`gaussian_nan`, σ = ``sigma_km``, using
       only ``mask`` pixels and evaluated at every pixel) is the atmosphere ``aps``.
    4. ``aps`` is referred to the first epoch (``aps -= aps[0]``, so ``cum_filt[0] = cum[0]``, i.e.
       stays 0 for a series relative to the first epoch) and, if ``ref_window`` is given, shifted
       per epoch so that ``trend + aps`` has zero mean over the window (the filtered series stays
       relative to the run's reference area).
    5. ``cum_filt = cum − trend − aps``.

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
        None (default), 1 (plane) or 2 (quadratic) ramp removal per epoch.
    hgt_corr, hgt:
        Remove a term proportional to ``hgt`` ((ny, nx), m) per epoch (pixels where ``hgt`` is
        NaN then come out NaN).
    mask:
        (ny, nx) bool, True = reliable pixels used to estimate ramp and atmosphere (e.g. the Step
        1-5 mask). The correction is applied to every finite pixel; a pixel farther than ~4σ from
        any mask pixel gets NaN.
    ref_window:
        (row0, row1, col0, col1) half-open reference window, or None.
    temporal_order:
        0 (default) or 1, see step 2.
    max_points:
        Subsampling limit for the ramp fits.

    Returns
    -------
    FilterResult
        Arrays in the floating dtype of ``cum`` (float64 for other input).

    Notes
    -----
    A signal that is both spatially smooth and non-linear in time on time scales shorter than
    ``sigma_yr`` (e.g. a seasonal or co-seismic step signal) is partly taken for atmosphere, as
    in any filter of this kind.
    """
    c_in = np.asarray(cum)
    out_dtype = c_in.dtype if np.issubdtype(c_in.dtype, np.floating) else np.dtype(np.float64)
    c = c_in.astype(np.float64)
    t = np.asarray(t, dtype=np.float64)
    if c.ndim != 3 or c.shape[0] != t.shape[0]:
        raise ValueError(f"cum must be (n_epoch={t.shape[0]}, ny, nx); got {c.shape}")
    n_epoch, ny, nx = c.shape
    if n_epoch < 2:
        raise ValueError("spatio-temporal filtering needs at least 2 epochs")
    dx_km, dy_km = (float(v) for v in pixel_km)
    if dx_km <= 0 or dy_km <= 0 or sigma_km < 0:
        raise ValueError(f"pixel_km must be > 0 and sigma_km >= 0; got {pixel_km}, {sigma_km}")
    if temporal_order not in (0, 1):
        raise ValueError(f"temporal_order must be 0 or 1, got {temporal_order}")
    if sigma_yr is None:
        sigma_yr = 3.0 * float(t[-1] - t[0]) / (n_epoch - 1)
    sig_px = (sigma_km / dy_km, sigma_km / dx_km)
    use = np.ones((ny, nx), bool) if mask is None else np.asarray(mask, dtype=bool)
    if use.shape != (ny, nx):
        raise ValueError(f"mask shape {use.shape} differs from image shape {(ny, nx)}")

    # 1. deterministic ramp / height term
    trend = None
    hgt_coef = None
    if deramp is not None or hgt_corr:
        h = None
        if hgt_corr:
            if hgt is None:
                raise ValueError("hgt_corr=True needs hgt")
            h = np.asarray(hgt, dtype=np.float64)
            if h.shape != (ny, nx):
                raise ValueError(f"hgt shape {h.shape} differs from image shape {(ny, nx)}")
            hgt_coef = np.zeros(n_epoch)
        trend = np.zeros_like(c)
        for k in range(n_epoch):
            surf, coef_h = epoch_surface(c[k], use, deramp, h, max_points=max_points)
            if hgt_coef is not None:
                hgt_coef[k] = coef_h
            trend[k] = surf
        trend -= trend[0]  # stays relative to the first epoch
        c1 = c - trend
    else:
        c1 = c

    # 2. temporal high-pass
    hp = temporal_highpass(c1.reshape(n_epoch, -1), t, sigma_yr, order=temporal_order).reshape(c.shape)

    # 3. spatial low-pass of the high-pass = atmosphere
    aps = np.empty_like(c)
    for k in range(n_epoch):
        aps[k] = gaussian_nan(np.where(use, hp[k], np.nan), *sig_px, fill=True)
    # 4. relative to the first epoch and to the reference window
    aps -= aps[0]
    if ref_window is not None:
        r0, r1, c0, c1_ = ref_window
        corr = aps[:, r0:r1, c0:c1_]
        if trend is not None:
            corr = corr + trend[:, r0:r1, c0:c1_]
        fin = np.isfinite(corr)
        cnt = fin.sum(axis=(1, 2))
        off = np.where(fin, corr, 0.0).sum(axis=(1, 2)) / np.maximum(cnt, 1)
        if (cnt == 0).any():
            log.warning(
                "filter: reference window has no valid correction at %d epochs", int((cnt == 0).sum())
            )
        aps -= off[:, None, None]

    cum_filt = c1 - aps
    fin = np.isfinite(aps)
    aps_rms = float(np.sqrt(np.square(np.where(fin, aps, 0.0)).sum() / max(int(fin.sum()), 1)))
    log.info(
        "filter: σ = %.3g km (%.3g × %.3g px), %.3g yr; atmosphere RMS %.3g mm",
        sigma_km, sig_px[0], sig_px[1], sigma_yr, aps_rms,
    )
    return FilterResult(
        cum_filt=cum_filt.astype(out_dtype, copy=False),
        aps=aps.astype(out_dtype, copy=False),
        trend=None if trend is None else trend.astype(out_dtype, copy=False),
        hgt_coef=hgt_coef,
        sigma_yr=float(sigma_yr),
        sigma_px=(float(sig_px[0]), float(sig_px[1])),
    )
