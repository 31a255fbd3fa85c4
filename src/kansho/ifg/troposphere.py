"""Tropospheric correction of unwrapped interferograms.

Without weather-model delays, the stratified troposphere shows as a phase proportional to height
(Doin et al. 2009): φ ≈ a + k·h. :func:`height_correlated_phase` estimates (a, k) by least squares
over coherent pixels and returns k·h (the constant stays: it is absorbed by the time series'
reference area). GACOS delays (Yu et al. 2018) are applied by :func:`gacos_phase` when
``kansho.io.gacos`` is available.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho.errors import ConfigError

__all__ = ["gacos_phase", "height_correlated_phase"]


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


def gacos_phase(*args: object, **kwargs: object) -> npt.NDArray[np.float32]:
    """Differential GACOS delay of a pair as phase, through ``kansho.io.gacos`` (when installed)."""
    try:
        from kansho.io import gacos  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        raise ConfigError(
            "troposphere.method 'gacos' needs kansho.io.gacos, which this installation does not have yet; "
            "use method 'height' or 'none'"
        ) from None
    raise ConfigError("GACOS correction inside kansho ifg is not wired yet; apply GACOS in 'kansho ts' instead")
