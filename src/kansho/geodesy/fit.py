"""Trajectory models of GNSS (or InSAR) time series: velocity, seasonal terms and offsets.

The standard linear trajectory model (e.g. Bevis & Brown 2014, *J. Geodesy* 88:283)::

    y(t) = a + v·(t − t_ref) + c1·cos 2πt + s1·sin 2πt + c2·cos 4πt + s2·sin 4πt + Σ_k o_k·H(t − t_k)

with ``t`` in calendar decimal years (so the seasonal phase is tied to the calendar) and ``H``
the Heaviside step (equipment changes, earthquakes). It is fitted by weighted least squares
with weights 1/σ². Formal uncertainties assume white noise; GNSS residuals are time-correlated
(flicker and random-walk noise, Mao et al. 1999, *JGR* 104:2797; Williams 2003, *J. Geodesy*
76:483), which makes formal velocity sigmas from daily data too small by factors of 5–10. The
fit therefore also reports ``velocity_sigma``, computed from the residuals themselves: they are
averaged in 30-day bins (which keeps the long-period, correlated part and averages the white part
down), the velocity sigma of a least-squares line through the bin means with their empirical
scatter is computed, and it is inflated by the AR(1) factor √((1 + ρ)/(1 − ρ)) of the bin means'
lag-1 autocorrelation ρ (the effective-sample-size correction of Bretherton et al. 1999,
*J. Climate* 12:1990). For white noise this equals the formal sigma; for flicker or random-walk
noise it grows as those do, though for pure flicker noise it still falls short of a full noise-model
estimate (by about 1.5× in the tests: treat it as a lower bound). It is never smaller than the
formal sigma.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._types import Float64Array

__all__ = ["TrajectoryFit", "design_matrix", "fit_trajectory"]


def design_matrix(t: npt.ArrayLike, t_ref: float, *, annual: bool = True, semiannual: bool = True,
                  offsets: Sequence[float] = ()) -> tuple[Float64Array, list[str]]:
    """Design matrix of the trajectory model (module docstring) and its column names.

    ``t`` (n,) decimal years; ``offsets`` decimal-year times of steps. Returns ((n, p), names).
    """
    t = np.asarray(t, dtype=np.float64)
    cols = [np.ones_like(t), t - t_ref]
    names = ["intercept", "velocity"]
    if annual:
        cols += [np.cos(2 * math.pi * t), np.sin(2 * math.pi * t)]
        names += ["annual_cos", "annual_sin"]
    if semiannual:
        cols += [np.cos(4 * math.pi * t), np.sin(4 * math.pi * t)]
        names += ["semiannual_cos", "semiannual_sin"]
    for k, tk in enumerate(offsets):
        cols.append((t >= tk).astype(np.float64))
        names.append(f"offset_{k}")
    return np.stack(cols, axis=1), names


@dataclass(frozen=True)
class TrajectoryFit:
    """Result of :func:`fit_trajectory` (units of ``y``: mm, mm/yr).

    ``params``/``cov``: (p,) estimates and (p, p) covariance (white noise, scaled by the reduced
    χ²). ``velocity_sigma``: velocity 1-sigma from the binned residuals with the AR(1)
    inflation (use this one); ``velocity_sigma_formal``: the white-noise sigma. ``rho``: lag-1
    autocorrelation of the 30-day residual means. ``residual_rms``: RMS of the residuals.
    ``offsets``/``offsets_sigma``: step sizes.
    """

    t_ref: float
    names: list[str]
    params: Float64Array
    cov: Float64Array
    velocity: float
    velocity_sigma: float
    velocity_sigma_formal: float
    annual_amplitude: float
    semiannual_amplitude: float
    offsets: Float64Array
    offsets_sigma: Float64Array
    residual_rms: float
    rho: float
    n: int
    annual: bool
    semiannual: bool
    offset_times: tuple[float, ...]

    def model(self, t: npt.ArrayLike) -> Float64Array:
        """The fitted trajectory at times ``t`` (decimal years), shape (n,)."""
        g, _ = design_matrix(t, self.t_ref, annual=self.annual, semiannual=self.semiannual,
                             offsets=self.offset_times)
        return g @ self.params


def fit_trajectory(
    t: npt.ArrayLike,
    y: npt.ArrayLike,
    sigma: npt.ArrayLike | None = None,
    *,
    offsets: Sequence[float] = (),
    annual: bool = True,
    semiannual: bool = True,
    t_ref: float | None = None,
) -> TrajectoryFit:
    """Weighted least-squares fit of the trajectory model to one component.

    Parameters
    ----------
    t:
        (n,) decimal years (calendar), increasing.
    y:
        (n,) positions or displacements (mm); NaN values are ignored.
    sigma:
        (n,) 1-sigma of ``y`` (mm), or ``None`` for equal weights.
    offsets:
        decimal-year times of steps to estimate.
    annual, semiannual:
        include the seasonal terms (dropped automatically when the span is under 1.5 yr and 0.75 yr).
    t_ref:
        reference time of the intercept (default: the mean time).

    Raises ``ValueError`` if fewer valid epochs than twice the number of parameters remain.
    """
    ta: Float64Array = np.asarray(t, dtype=np.float64)
    ya: Float64Array = np.asarray(y, dtype=np.float64)
    s: Float64Array = np.ones_like(ya) if sigma is None else np.asarray(sigma, dtype=np.float64)
    ok = np.isfinite(ta) & np.isfinite(ya) & np.isfinite(s) & (s > 0)
    t, y, s = ta[ok], ya[ok], s[ok]
    if t.size < 3:
        raise ValueError(f"only {t.size} valid epochs; a velocity needs at least 3")
    span = float(t.max() - t.min())
    annual = annual and span >= 1.5
    semiannual = semiannual and span >= 0.75
    offs = tuple(float(o) for o in offsets if t.min() < float(o) <= t.max())
    tr = float(t.mean()) if t_ref is None else float(t_ref)
    g, names = design_matrix(t, tr, annual=annual, semiannual=semiannual, offsets=offs)
    n, p = g.shape
    if n < 2 * p:
        raise ValueError(f"{n} valid epochs are too few for {p} parameters")
    w = 1.0 / s
    gw = g * w[:, None]
    yw = y * w
    coef, *_ = np.linalg.lstsq(gw, yw, rcond=None)
    params: Float64Array = np.asarray(coef, dtype=np.float64)  # already float64: no copy
    resid = y - g @ params
    chi2 = float(np.sum((resid * w) ** 2)) / (n - p)
    ninv = np.linalg.inv(gw.T @ gw)
    cov = ninv * max(chi2, 1e-12) if sigma is None else ninv * max(chi2, 1.0)
    sig_v = math.sqrt(cov[1, 1])
    sig_emp, rho = _binned_velocity_sigma(t, resid, bin_days=30.0)
    iof = [names.index(f"offset_{k}") for k in range(len(offs))]
    amp1 = math.hypot(params[2], params[3]) if annual else 0.0
    j = names.index("semiannual_cos") if semiannual else -1
    amp2 = math.hypot(params[j], params[j + 1]) if semiannual else 0.0
    return TrajectoryFit(
        t_ref=tr, names=names, params=params, cov=cov, velocity=float(params[1]), velocity_sigma=max(sig_v, sig_emp),
        velocity_sigma_formal=sig_v, annual_amplitude=float(amp1), semiannual_amplitude=float(amp2),
        offsets=params[iof] if iof else np.zeros(0), offsets_sigma=np.sqrt(np.diag(cov)[iof]) if iof else np.zeros(0),
        residual_rms=float(np.sqrt(np.mean(resid**2))), rho=rho, n=n, annual=annual, semiannual=semiannual,
        offset_times=offs,
    )


def _binned_velocity_sigma(t: Float64Array, resid: Float64Array, bin_days: float) -> tuple[float, float]:
    """Velocity 1-sigma from residual means in ``bin_days`` bins with AR(1) inflation; (sigma, rho).

    Returns (0, 0) when fewer than 4 bins hold data.
    """
    width = bin_days / 365.25
    idx = np.floor((t - t.min()) / width).astype(np.int64)
    counts = np.bincount(idx)
    full = counts > 0
    if int(full.sum()) < 4:
        return 0.0, 0.0
    sums = np.bincount(idx, weights=resid)[full]
    tm = np.bincount(idx, weights=t)[full] / counts[full]
    rm = sums / counts[full]
    nb = rm.size
    tc = tm - tm.mean()
    g = np.stack([np.ones(nb), tc], axis=1)
    coef, *_ = np.linalg.lstsq(g, rm, rcond=None)
    rr = rm - g @ coef
    var = float(np.sum(rr * rr)) / max(nb - 2, 1)
    den = float(np.sum(rr * rr))
    rho = float(np.sum(rr[1:] * rr[:-1]) / den) if den > 0 else 0.0
    rho = min(max(rho, 0.0), 0.95)
    sig = math.sqrt(var / float(np.sum(tc * tc))) * math.sqrt((1 + rho) / (1 - rho))
    return sig, rho
