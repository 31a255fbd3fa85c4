"""Step 1-4: velocity and seasonal model fits, and the bootstrap velocity uncertainty.

All functions take a cumulative displacement time series ``cum`` of shape ``(n_epoch, npix)``
(mm, pixels along the last axis, NaN = no data) and the epoch times ``t`` ``(n_epoch,)`` in
years, and are vectorised over pixels: masked sums become matrix products over the epoch axis.

The bootstrap standard deviation follows Efron & Tibshirani (1986, Statistical Science 1(1):54,
"Bootstrap methods for standard errors, confidence intervals, and other measures of statistical
accuracy") as applied to InSAR velocities by LiCSBAS (Morishita et al. 2020, Remote Sensing
12(3):424): epochs are resampled with replacement and the velocity is refitted to each resample.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from kansho import _velocity_jit
from kansho._columns import take_columns
from kansho._types import Float32Array, Float64Array

__all__ = ["bootstrap_vstd", "epoch_residual_stats", "epoch_weights", "fit_linear", "fit_seasonal"]

logger = logging.getLogger(__name__)

#: elements of the float64 pieces :func:`bootstrap_vstd` works on: a series' (n_epoch, pixels) piece, or one
#: (n_boot, pixels) array of a piece's resample sums (1 MB: they stay in the cache from one use to the next;
#: pieces of 2e6 elements went out to memory and back, the M frame's bootstrap 0.56 -> 0.41 s on one core)
_CACHE_CHUNK_ELEMENTS = 131_072


def _check(cum: npt.ArrayLike, t: npt.ArrayLike) -> tuple[Float64Array, ...]:
    return _check_series(np.asarray(cum, dtype=np.float64), t)


def _check_series(cum: npt.ArrayLike, t: npt.ArrayLike) -> tuple[np.ndarray, Float64Array]:
    """:func:`_check` keeping a float32 ``cum`` float32 (C-contiguous, for the compiled kernels)."""
    y = np.asarray(cum)
    if y.dtype not in (np.float32, np.float64):
        y = y.astype(np.float64)
    tt = np.asarray(t, dtype=np.float64)
    if tt.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {tt.shape}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != tt.size:
        raise ValueError(f"cum must have shape (n_epoch={tt.size}, npix), got {y.shape}")
    return np.ascontiguousarray(y), tt


def fit_linear(
    cum: npt.ArrayLike, t: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> tuple[Float64Array, Float64Array]:
    """Least-squares line per pixel, ignoring NaN epochs.

    Parameters
    ----------
    cum:
        ``(n_epoch, npix)`` displacement in mm (NaN = no data); 1-D is one pixel.
    t:
        ``(n_epoch,)`` time in years.
    weights:
        ``(n_epoch,)`` > 0, each epoch's weight (the inverse of its noise variance,
        :func:`epoch_weights`); None = equal weights.

    Returns
    -------
    (vel, intercept): ``(npix,)`` float64, mm/yr and mm at ``t = 0``; NaN for pixels with fewer
    than two valid epochs at distinct times.
    """
    y, tt = _check_series(cum, t)
    w = np.ones(tt.size) if weights is None else _weights(weights, tt.size)
    tc = tt - tt.mean()  # centring reduces cancellation; the slope does not depend on it
    n, s1, s2, sy, sty = _velocity_jit.line_sums(y, tc, w)  # one compiled pass, sums in float64
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = s1 / n
        sxx = s2 - s1 * tbar
        vel = (sty - tbar * sy) / sxx
        icpt = sy / n - vel * tbar
    scale = max(float(np.abs(tc).max()), 1e-300) ** 2
    bad = (n < 2) | ~(sxx > 1e-12 * scale * n)
    vel[bad] = np.nan
    icpt[bad] = np.nan
    intercept = icpt - vel * tt.mean()  # back to t = 0
    return vel, intercept


def fit_seasonal(cum: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, Float64Array]:
    """Least-squares line plus annual sinusoid per pixel, ignoring NaN epochs.

    Model: ``cum(t) = vel·t + intercept + annual_amp·cos(2π t - annual_phase)``, so the seasonal
    term peaks at ``t = annual_phase / 2π`` (mod 1 yr); the same convention as
    :class:`kansho.inversion.InversionResult`.

    Parameters
    ----------
    cum:
        ``(n_epoch, npix)`` mm, NaN = no data.
    t:
        ``(n_epoch,)`` years.

    Returns
    -------
    dict of ``(npix,)`` float64 arrays: ``vel`` (mm/yr), ``intercept`` (mm), ``annual_amp`` (mm,
    >= 0), ``annual_phase`` (rad, in [-π, π]); NaN where fewer than four valid epochs or the
    valid epochs cannot separate the terms (e.g. all at the same time of year).
    """
    y, tt = _check(cum, t)
    npix = y.shape[1]
    m = np.isfinite(y)
    mf = m.astype(np.float64)
    y0 = np.where(m, y, 0.0)
    tc = tt - tt.mean()
    x = np.stack([tc, np.ones_like(tt), np.sin(2 * np.pi * tt), np.cos(2 * np.pi * tt)], axis=1)
    nm = x.shape[1]
    outer = (x[:, :, None] * x[:, None, :]).reshape(tt.size, nm * nm)
    nmat = (mf.T @ outer).reshape(npix, nm, nm)
    rhs = (x.T @ y0).T  # (npix, nm)
    dg = np.sqrt(np.einsum("kii->ki", nmat))
    ok = np.all(dg > 0, axis=1) & (m.sum(axis=0) >= nm)
    dg = np.where(dg > 0, dg, 1.0)
    nmat /= dg[:, :, None] * dg[:, None, :]
    ok &= np.linalg.eigvalsh(nmat)[:, 0] > 1e-10
    coef = np.full((npix, nm), np.nan)
    if np.any(ok):
        sol = np.linalg.solve(nmat[ok], (rhs[ok] / dg[ok])[..., None])[..., 0]
        coef[ok] = sol / dg[ok]
    vel = coef[:, 0]
    a_sin, b_cos = coef[:, 2], coef[:, 3]
    return {
        "vel": vel,
        "intercept": coef[:, 1] - vel * tt.mean(),
        "annual_amp": np.hypot(a_sin, b_cos),
        "annual_phase": np.arctan2(a_sin, b_cos),
    }


def bootstrap_vstd(
    cum: npt.ArrayLike,
    t: npt.ArrayLike,
    n_boot: int = 100,
    rng: np.random.Generator | int | None = 0,
    weights: npt.ArrayLike | None = None,
) -> Float32Array:
    """Bootstrap standard deviation of the linear velocity per pixel.

    Epochs are resampled with replacement ``n_boot`` times (Efron & Tibshirani 1986); each
    resample is a multiplicity vector over epochs, so the weighted line fits of all resamples and
    all pixels are matrix products ``W @ (mask · y)`` with ``W`` ``(n_boot, n_epoch)`` — no loop
    over pixels or resamples. The spread of the refitted velocities is LiCSBAS's ``vstd``
    (Morishita et al. 2020). The same resamples are used for every pixel; a pixel's NaN epochs
    are left out of each of its fits.

    Parameters
    ----------
    cum:
        ``(n_epoch, npix)`` displacement in mm, NaN = no data.
    t:
        ``(n_epoch,)`` time in years.
    n_boot:
        Number of bootstrap resamples (LiCSBAS default 100), >= 2.
    rng:
        Seed or generator (:func:`numpy.random.default_rng`); the same seed gives the same result.
    weights:
        ``(n_epoch,)`` epoch weights of the velocity fit (:func:`fit_linear`); each resample's fit
        keeps them. None = equal weights.

    Returns
    -------
    ``(npix,)`` float32 mm/yr, standard deviation (``ddof=1``) of the bootstrap velocities over
    the resamples where the line is defined; NaN where fewer than two are (e.g. ``cum`` all NaN
    or fewer than two valid epochs).
    """
    y, tt = _check_series(cum, t)  # a float32 series stays float32: each chunk is made float64 as it is used
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    gen = np.random.default_rng(rng)
    n_epoch, npix = y.shape
    idx = gen.integers(0, n_epoch, size=(n_boot, n_epoch))
    w = np.zeros((n_boot, n_epoch))
    np.add.at(w, (np.repeat(np.arange(n_boot), n_epoch), idx.ravel()), 1.0)
    if weights is not None:
        w *= _weights(weights, n_epoch)[None, :]
    tc = tt - tt.mean()
    w1, w2 = w * tc, w * tc**2
    scale = max(float(np.abs(tc).max()), 1e-300) ** 2
    out = np.full(npix, np.nan, dtype=np.float32)
    n_fin = np.count_nonzero(np.isfinite(y), axis=0)
    complete = n_fin == n_epoch
    if complete.all():  # most blocks: no copy of the columns
        out[:] = _complete_vstd(y, w, w1, w2, scale)
    elif complete.any():
        out[complete] = _complete_vstd(take_columns(y, complete), w, w1, w2, scale)
    # a pixel with fewer than two epochs has no line in any resample: NaN as filled, not computed (the chain's
    # series are whole or empty: its unsolved pixels were all of the M frame's gapped ones, 69 % of the time)
    rest = np.flatnonzero(~complete & (n_fin >= 2))
    chunk = max(1, _CACHE_CHUNK_ELEMENTS // n_boot)
    for c0 in range(0, rest.size, chunk):
        yc = np.asarray(take_columns(y, rest[c0: c0 + chunk]), np.float64)
        out[rest[c0: c0 + chunk]] = _general_vstd(yc, w, w1, w2, scale)
    return out


def _general_vstd(yc: Float64Array, w: Float64Array, w1: Float64Array, w2: Float64Array, scale: float
                  ) -> Float64Array:
    """:func:`bootstrap_vstd` of the pixels ``yc`` (n_epoch, k) mm, NaN epochs allowed: each resample's
    weighted sums per pixel as matrix products (``w``, ``w·t``, ``w·t²``: (n_boot, n_epoch)), the slopes
    (n_boot, k) and their spread over the resamples where the line is defined. Returns (k,) mm/yr."""
    m = np.isfinite(yc)
    mf = m.astype(np.float64)
    y0 = np.where(m, yc, 0.0)
    s0 = w @ mf
    s1 = w1 @ mf
    s2 = w2 @ mf
    sy = w @ y0
    sty = w1 @ y0
    # the slopes (s0·sty - s1·sy) / sxx, sxx = s0·s2 - s1² = s0² · weighted variance of t, where sxx > 1e-12·scale·s0²,
    # and their spread: one compiled pass over the sums (bit for bit numpy's expressions, tests/test_velocity.py)
    return np.asarray(_velocity_jit.boot_slope_std(s0, s1, s2, sy, sty, 1e-12 * scale), np.float64)


def _complete_vstd(y: np.ndarray, w: Float64Array, w1: Float64Array, w2: Float64Array, scale: float
                   ) -> Float64Array:
    """:func:`bootstrap_vstd` of pixels without a NaN epoch, ``y`` (n_epoch, k) mm: every resample's sums
    of the weights are then the same for every pixel, so its velocity is a fixed linear map of the series,
    ``v_b = a_b · y`` (``a_b`` the resample's row of the least-squares slope), and the spread of the
    ``v_b`` about their mean is the quadratic form ``yᵀ C y`` with ``C`` the (n_epoch, n_epoch) sample
    covariance of the rows ``a_b``: no (n_boot, k) array. Equal to the general path to round-off
    (~1e-12 relative). Returns (k,) mm/yr, NaN where fewer than two resamples define a line."""
    s0, s1, s2 = w.sum(axis=1), w1.sum(axis=1), w2.sum(axis=1)
    sxx = s0 * s2 - s1 * s1
    good = sxx > 1e-12 * scale * s0 * s0
    k = y.shape[1]
    if int(good.sum()) < 2:
        return np.full(k, np.nan)
    a = (s0[good, None] * w1[good] - s1[good, None] * w[good]) / sxx[good, None]  # (g, n_epoch)
    d = a - a.mean(axis=0)
    cov = (d.T @ d) / (a.shape[0] - 1)
    out = np.empty(k)
    chunk = max(1, _CACHE_CHUNK_ELEMENTS // max(y.shape[0], 1))
    yc = np.empty((y.shape[0], min(chunk, k)))  # one float64 chunk, reused: it stays in the cache
    for c0 in range(0, k, chunk):
        n = min(chunk, k - c0)
        part = yc[:, :n]
        np.copyto(part, y[:, c0: c0 + n])
        out[c0: c0 + n] = np.einsum("ep,ep->p", cov @ part, part)
    return np.sqrt(np.maximum(out, 0.0))


#: an epoch's noise σ is taken as at least this fraction of the median epoch's: no epoch weighs more
#: than 1 / 0.5² = 4 times the median one
MIN_SIGMA_FRACTION = 0.5


def _weights(weights: npt.ArrayLike, n_epoch: int) -> Float64Array:
    w = np.asarray(weights, np.float64)
    if w.shape != (n_epoch,) or not np.all(np.isfinite(w)) or not np.all(w > 0):
        raise ValueError(f"weights must be ({n_epoch},) finite and > 0")
    return w


#: bins of the residual histograms of :func:`epoch_residual_stats`: uniform in ``asinh(r / RESID_SCALE_MM)``
#: up to ±RESID_RANGE_MM, so that every scale of noise, 0.01 mm to metres, is resolved to ~0.6 % (a
#: quartile interpolated inside a bin to far better); the ends catch anything beyond
RESID_SCALE_MM = 0.01
RESID_RANGE_MM = 1000.0
N_RESID_BINS = 4000
_U_MAX = float(np.arcsinh(RESID_RANGE_MM / RESID_SCALE_MM))
_DU = 2 * _U_MAX / N_RESID_BINS


def epoch_residual_stats(cum: npt.ArrayLike, t: npt.ArrayLike, use: npt.ArrayLike | None = None
                         ) -> npt.NDArray[np.int32]:
    """Per epoch, the histogram of the residuals of the pixels' lines.

    Each pixel's series ``cum`` ``(n_epoch, npix)`` mm (NaN = no data) is fitted with a line
    (:func:`fit_linear`, equal weights); the residuals of the pixels solved at every epoch (and, given
    ``use`` ``(npix,)`` bool, among those only the pixels it marks) are counted in :data:`N_RESID_BINS`
    bins (uniform in ``asinh(r / RESID_SCALE_MM)``): ``(n_epoch, N_RESID_BINS)`` int32 (a block's
    counts). Histograms of blocks add up exactly, so the frame's figure does not depend on how it was
    cut; :func:`epoch_weights` reads each epoch's spread from them.
    """
    y, tt = _check_series(cum, t)
    n = tt.size
    full = np.isfinite(y).all(axis=0)
    if use is not None:
        full &= np.asarray(use, bool).ravel()
    if not full.any():
        return np.zeros((n, N_RESID_BINS), np.int32)
    yy = take_columns(y, full)
    vel, icpt = fit_linear(yy, tt)
    return _velocity_jit.residual_histograms(yy, tt, vel, icpt, RESID_SCALE_MM, _U_MAX, _DU, N_RESID_BINS)


def _hist_quantile(hist: Float64Array, q: float) -> Float64Array:
    """Quantile ``q`` (n_epoch,) mm of each row of the residual histograms, linear within a bin (of
    ``asinh``)."""
    c = np.cumsum(hist, axis=1)
    tot = c[:, -1]
    target = q * tot
    k = np.argmax(c >= target[:, None], axis=1)
    below = np.where(k > 0, np.take_along_axis(c, np.maximum(k - 1, 0)[:, None], axis=1)[:, 0], 0.0)
    inbin = np.take_along_axis(hist, k[:, None], axis=1)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(inbin > 0, (target - below) / inbin, 0.5)
    return RESID_SCALE_MM * np.sinh(-_U_MAX + (k + frac) * _DU)


def epoch_weights(hist: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
    """Each epoch's noise σ and weight from the residual histograms of :func:`epoch_residual_stats`.

    ``hist`` ``(n_epoch, N_RESID_BINS)`` (summed over blocks). σ is the interquartile range over
    1.349 (that of Gaussian noise): the spread of the residuals across the frame, blind to the few
    pixels where the line misses real motion (a bowl, an earthquake) and to a constant common to all
    pixels at an epoch (a reference's own delay, which every pixel carries alike), so another
    reference gives the same weights. σ is raised to at least :data:`MIN_SIGMA_FRACTION` of the
    median epoch's. The weight is ``1 / σ²`` scaled to a mean of 1: the least-squares line with
    these weights is the best linear unbiased velocity when the epochs' errors are independent with
    these variances (Aitken's generalised least squares; each acquisition's atmospheric delay
    variance, as in Tymofyeyeva & Fialko 2015, *JGR* 120, 5952). Returns ``(sigma (n_epoch,) mm,
    weight (n_epoch,))``; NaN σ and equal weights where nothing was counted.
    """
    h = np.asarray(hist, np.float64)
    n = h.shape[0]
    if h.ndim != 2 or h.shape[1] != N_RESID_BINS:
        raise ValueError(f"hist must be (n_epoch, {N_RESID_BINS})")
    if not np.all(h.sum(axis=1) > 0):
        return np.full(n, np.nan), np.ones(n)
    sigma = (_hist_quantile(h, 0.75) - _hist_quantile(h, 0.25)) / 1.349
    if not np.all(sigma > 0):
        return np.full(n, np.nan), np.ones(n)
    sigma = np.maximum(sigma, MIN_SIGMA_FRACTION * float(np.median(sigma)))
    w = 1.0 / sigma**2
    return sigma, w / w.mean()
