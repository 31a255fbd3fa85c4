"""Tropospheric (and long-wavelength) nuisance signal of each epoch, in mm of LOS displacement.

Three parts per epoch, after Hanssen (2001):

* **turbulent mixing**: a Gaussian random field with 2-D power spectrum ∝ (k² + k0²)^(−β/2)
  (β = 8/3, outer scale 1/k0 = 50 km) at scales above ~2 km (the thickness of the wet layer)
  and a steeper ∝ k^(−(β+1)) (3-D Kolmogorov turbulence, structure function ∝ r^(5/3)) below,
  made by filtering white noise in the Fourier domain. Its
  amplitude is physical: ``turb_mm`` is the expected standard deviation over a 20 km × 20 km
  area, so larger frames see larger delays. The per-epoch amplitude varies (log-normal, and
  larger in the humid summer);
* **stratification**: delay correlated with height, G_e·h / cos θ, with a delay–height gradient
  G_e (mm/km) that has an annual cycle plus a random part;
* a **ramp** (orbit / ionosphere): a random plane, std ``ramp_mm_per_100km`` per 100 km.

The values are *displacement-equivalent* (mm, positive toward the satellite): a larger path
delay appears as motion away from the satellite, so atmosphere = −delay. Interferograms see
atm(date2) − atm(date1), like the deformation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._dates import DAYS_PER_YEAR, parse_date
from kansho._types import Float32Array
from kansho.synth._fields import power_law_field, power_law_psd

REFERENCE_WINDOW_KM = 20.0
OUTER_SCALE_KM = 50.0
BREAK_KM = 2.0
SUMMER_PEAK_DOY = 210.0


def window_variance(
    beta: float, outer_km: float, window_km: float, k_max: float = 5.0, break_km: float | None = BREAK_KM
) -> float:
    """Expected variance, within a ``window_km`` square, of the turbulence field (PSD as above).

    ∫ S(k) (1 − sinc²(kx·W) sinc²(ky·W)) d²k evaluated numerically on a polar grid (k in
    cycles/km up to ``k_max``); used to turn a "std over 20 km" into the PSD amplitude.
    """
    k = np.geomspace(1e-5, k_max, 4000)
    th = np.linspace(0, math.pi / 2, 90)
    kk, tt = np.meshgrid(k, th, indexing="ij")
    kx, ky = kk * np.cos(tt), kk * np.sin(tt)
    win = (np.sinc(kx * window_km) * np.sinc(ky * window_km)) ** 2
    s = power_law_psd(kk, beta, outer_km, break_km, beta + 1.0)
    integrand = (s * (1.0 - win)).mean(axis=1) * 2 * math.pi * k  # angular mean × 2πk
    return float(np.trapezoid(integrand, k))


@dataclass(frozen=True)
class AtmosphereParams:
    """Per-epoch draws: turbulent amplitude (mm), delay–height gradient (mm/km), ramp (mm/km)."""

    turb_scale: npt.NDArray[np.float64]
    strat_coef: npt.NDArray[np.float64]
    ramp: npt.NDArray[np.float64]  # (n_epoch, 2): east and north gradient, mm/km


def draw_params(
    epochs: Sequence[int] | npt.NDArray[np.int64],
    turb_mm: float,
    strat_seasonal: float,
    strat_std: float,
    ramp_mm_per_100km: float,
    rng: np.random.Generator,
) -> AtmosphereParams:
    """Draw the per-epoch amplitudes (see the module docstring); shapes (n_epoch,), (n, 2)."""
    ep = np.asarray(epochs, dtype=np.int64)
    n = len(ep)
    doy = np.array([parse_date(int(d)).timetuple().tm_yday for d in ep], dtype=float)
    summer = np.cos(2 * math.pi * (doy - SUMMER_PEAK_DOY) / DAYS_PER_YEAR)  # +1 in summer
    turb = turb_mm * (1.0 + 0.35 * summer) * rng.lognormal(0.0, 0.3, n)
    strat = strat_seasonal * summer + rng.normal(0.0, strat_std, n)
    ramp = rng.normal(0.0, ramp_mm_per_100km / 100.0, (n, 2))
    return AtmosphereParams(turb_scale=turb, strat_coef=strat, ramp=ramp)


def make_atmosphere(
    params: AtmosphereParams,
    hgt_m: Float32Array,
    incidence: Float32Array,
    x_km: Float32Array,
    y_km: Float32Array,
    dx_km: float,
    dy_km: float,
    beta: float,
    rng: np.random.Generator,
    *,
    land: npt.NDArray[np.bool_] | None = None,
    smooth_px: float = 0.0,
) -> Float32Array:
    """Atmosphere of every epoch (mm, displacement-equivalent): (n_epoch, ny, nx) float32.

    Each epoch's field has its mean over ``land`` (default: all pixels) removed. ``smooth_px``
    low-passes the turbulence with a Gaussian of that σ (pixels): the averaging of multilooking
    and filtering in the products.
    """
    n = len(params.turb_scale)
    shape = hgt_m.shape
    out = np.empty((n, *shape), dtype=np.float32)
    unit_sd = math.sqrt(window_variance(beta, OUTER_SCALE_KM, REFERENCE_WINDOW_KM))
    sec = (1.0 / np.cos(incidence)).astype(np.float32)
    h_km = (hgt_m / 1000.0).astype(np.float32) * sec
    xc = (x_km - x_km.mean()).astype(np.float32)
    yc = (y_km - y_km.mean()).astype(np.float32)
    cache: dict[tuple[object, ...], object] = {}
    sel = land if land is not None and land.any() else np.ones(shape, dtype=bool)
    for e in range(n):
        f = power_law_field(
            shape, dx_km, dy_km, beta, rng, outer_km=OUTER_SCALE_KM, normalise=False,
            break_km=BREAK_KM, beta_small=beta + 1.0, smooth_km=(smooth_px * dx_km, smooth_px * dy_km),
            _cache=cache,
        )
        f *= np.float32(params.turb_scale[e] / unit_sd)
        f *= sec
        # stratified delay decreases with height: displacement-equivalent = +G·h (G random sign)
        f += np.float32(params.strat_coef[e]) * h_km
        f += np.float32(params.ramp[e, 0]) * xc + np.float32(params.ramp[e, 1]) * yc
        f -= np.float32(f[sel].mean())
        out[e] = f
    return out
