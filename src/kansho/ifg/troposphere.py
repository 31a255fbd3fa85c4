"""Tropospheric correction of unwrapped interferograms.

Without weather-model delays, the stratified troposphere shows as a phase proportional to height
(Doin et al. 2009): φ ≈ a + k·h. :func:`height_correlated_phase` estimates (a, k) by least squares
over coherent pixels and returns k·h (the constant stays: it is absorbed by the time series'
reference area). GACOS delays (Yu et al. 2018) are removed by :func:`gacos_correct` after
unwrapping and geocoding, as LiCSBAS does (Morishita et al. 2020): the per-epoch delay phase maps
(rad, on the output grid; :func:`kansho.io.prepare.GacosCorrector` reads, resamples and projects
them with :mod:`kansho.prep`) are differenced per pair and subtracted.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho import prep

__all__ = ["gacos_correct", "height_correlated_phase"]


def height_correlated_phase(
    unw: npt.NDArray[np.floating],
    hgt: npt.NDArray[np.floating],
    coherence: npt.NDArray[np.floating] | None = None,
    *,
    min_coherence: float = 0.4,
    min_pixels: int = 50,
) -> tuple[npt.NDArray[np.float32], float]:
    """The height-proportional phase k·h (rad, shape of ``unw``) and k (rad/m).

    ``unw`` (rad, NaN = no data), ``hgt`` (m) and ``coherence`` share one shape. Pixels with
    coherence ≥ ``min_coherence`` and finite values are used; with fewer than ``min_pixels`` or
    with less than 1 m of relief, k = 0.
    """
    ok = np.isfinite(unw) & np.isfinite(hgt)
    if coherence is not None:
        ok &= np.nan_to_num(coherence) >= min_coherence
    if ok.sum() < min_pixels or float(np.ptp(hgt[ok])) < 1.0:
        return np.zeros(unw.shape, np.float32), 0.0
    h = hgt[ok].astype(np.float64)
    a = np.column_stack([np.ones_like(h), h])
    coef, *_ = np.linalg.lstsq(a, unw[ok].astype(np.float64), rcond=None)
    k = float(coef[1])
    return (k * np.nan_to_num(hgt)).astype(np.float32), k


def gacos_correct(
    unw: npt.NDArray[np.floating],
    phase1: npt.NDArray[np.floating],
    phase2: npt.NDArray[np.floating],
) -> tuple[npt.NDArray[np.float32], float, float]:
    """Subtract the GACOS delay phase of a pair: ``unw − (phase2 − phase1)``, with its effect.

    ``unw`` is the unwrapped (geocoded) phase of the pair date1 → date2 (rad, NaN = no data);
    ``phase1``/``phase2`` the per-epoch slant-delay phases 4π/λ · slant(e) (rad, same shape, NaN =
    no delay), so that ``phase2 − phase1`` is :func:`kansho.prep.delay_phase` of the pair (LiCSAR
    sign: a larger delay at date2 increases the phase). Returns the corrected phase (float32, NaN
    where the phase or either delay is NaN) and the phase standard deviation (rad) before and after,
    both over the pixels that remain valid (Yu et al. 2018; Morishita et al. 2020).
    """
    u = np.asarray(unw, np.float32)
    out = (u - (np.asarray(phase2, np.float32) - np.asarray(phase1, np.float32))).astype(np.float32)
    ok = np.isfinite(out)
    return out, prep.phase_std(u, ok), prep.phase_std(out, ok)
