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

from kansho._types import Float32Array, Float64Array

__all__ = ["bootstrap_vstd", "fit_linear", "fit_seasonal"]

logger = logging.getLogger(__name__)

#: max elements of one (n_boot, npix_chunk) float64 work array in :func:`bootstrap_vstd`
_BOOT_CHUNK_ELEMENTS = 2_000_000


def _check(cum: npt.ArrayLike, t: npt.ArrayLike) -> tuple[Float64Array, ...]:
    y = np.asarray(cum, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    if tt.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {tt.shape}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != tt.size:
        raise ValueError(f"cum must have shape (n_epoch={tt.size}, npix), got {y.shape}")
    return y, tt


def fit_linear(
    cum: npt.ArrayLike, t: npt.ArrayLike
) -> tuple[Float64Array, Float64Array]:
    """Least-squares line per pixel, ignoring NaN epochs.

    Parameters
    ----------
    cum:
        ``(n_epoch, npix)`` displacement in mm (NaN = no data); 1-D is one pixel.
    t:
        ``(n_epoch,)`` time in years.

    Returns
    -------
    (vel, intercept): ``(npix,)`` float64, mm/yr and mm at ``t = 0``; NaN for pixels with fewer
    than two valid epochs at distinct times.
    """
    y, tt = _check(cum, t)
    m = np.isfinite(y)
    mf = m.astype(np.float64)
    y0 = np.where(m, y, 0.0)
    tc = tt - tt.mean()  # centring reduces cancellation; the slope does not depend on it
    n = mf.sum(axis=0)
    s1 = tc @ mf
    s2 = (tc**2) @ mf
    sy = y0.sum(axis=0)
    sty = tc @ y0
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

    Returns
    -------
    ``(npix,)`` float32 mm/yr, standard deviation (``ddof=1``) of the bootstrap velocities over
    the resamples where the line is defined; NaN where fewer than two are (e.g. ``cum`` all NaN
    or fewer than two valid epochs).
    """
    y, tt = _check(cum, t)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    gen = np.random.default_rng(rng)
    n_epoch, npix = y.shape
    idx = gen.integers(0, n_epoch, size=(n_boot, n_epoch))
    w = np.zeros((n_boot, n_epoch))
    np.add.at(w, (np.repeat(np.arange(n_boot), n_epoch), idx.ravel()), 1.0)
    tc = tt - tt.mean()
    w1, w2 = w * tc, w * tc**2
    scale = max(float(np.abs(tc).max()), 1e-300) ** 2
    out = np.full(npix, np.nan, dtype=np.float32)
    chunk = max(1, _BOOT_CHUNK_ELEMENTS // n_boot)
    for c0 in range(0, npix, chunk):
        yc = y[:, c0 : c0 + chunk]
        m = np.isfinite(yc)
        mf = m.astype(np.float64)
        y0 = np.where(m, yc, 0.0)
        s0 = w @ mf
        s1 = w1 @ mf
        s2 = w2 @ mf
        sy = w @ y0
        sty = w1 @ y0
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = s0 * s2 - s1 * s1  # = s0² · weighted variance of t
            vel = (s0 * sty - s1 * sy) / sxx
        vel[~(sxx > 1e-12 * scale * s0 * s0)] = np.nan
        good = np.isfinite(vel)
        ng = good.sum(axis=0)
        v0 = np.where(good, vel, 0.0)
        mean = v0.sum(axis=0) / np.maximum(ng, 1)
        var = (np.where(good, vel - mean, 0.0) ** 2).sum(axis=0) / np.maximum(ng - 1, 1)
        std = np.sqrt(var)
        std[ng < 2] = np.nan
        out[c0 : c0 + chunk] = std
    return out
