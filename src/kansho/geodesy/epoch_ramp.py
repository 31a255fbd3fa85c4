"""Per-epoch long-wavelength ramps of an InSAR time series, estimated from GNSS stations.

Residual orbit errors, ionosphere and long-wavelength troposphere leave in each epoch of a series
a smooth, nearly planar error that the stack's own data cannot tell from deformation. Where GNSS
stations sample the frame, the error is visible in the InSAR − GNSS LOS differences: at epoch e,
station s, ``d[s, e] = E_e(x_s, y_s) + n[s, e] - c_s``, with ``E_e`` the ramp error (``E_0 = 0``:
the series start at 0), ``n`` noise, ``c_s`` the arbitrary origin of the station's GNSS series. The
estimate (the per-epoch counterpart of the velocity tie of :mod:`.compare`, Weiss et al. 2020,
*GRL* 47, e2020GL087376; GNSS-constrained corrections of each epoch as in Neely, Borsa & Silverii
2020, *IEEE TGRS* 58(1):136, "GInSAR"):

1. estimate each station's origin ``c_s`` and, at each epoch, an offset/linear/quadratic ramp
   (:func:`.compare.fit_ramp`, in local km, weighted by the stations' σ) from
   ``d[s, e] = R_e(x_s, y_s) - c_s``: alternately the ramps given the origins and the origins (each
   station's mean residual over its epochs) given the ramps, until the origins change by < 1e-9 mm
   (two rounds when no sample is missing; a missing sample biases a plain mean);
2. ``R_e - R_0 ≈ E_e``: the ramp relative to the first epoch is what the series carries (a ramp
   common to all epochs is indistinguishable from the stations' origins and cancels here);
3. with ``decide``, an epoch's ramp is removed only where it is significant: an F test of the
   ramp against a constant through ``d[:, e] - d[:, 0]`` (the station origins cancel in it), at
   level α, with that epoch's own residual scatter (Seber & Lee 2003, *Linear Regression Analysis*,
   §4.3). Removing a ramp that is only the stations' noise would add that noise to every pixel of
   the epoch; the constant term is not tested (the caller's re-referencing removes it). A Wald test
   with the noise pooled over epochs kept 10 of 29 noise ramps on a simulated track whose InSAR
   noise is correlated over 6 km; this test kept none.

The caller removes ``R_e - R_0`` from every pixel and refers the result to the run's reference area
again, so the series keep their one reference (DESIGN §4). Stations are few: the loops run over
epochs, never over pixels; maps are evaluated with whole-array operations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import f as f_dist

from kansho.geodesy.compare import RAMP_TERMS, fit_ramp, ramp_design

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

__all__ = ["EpochRamps", "fit_epoch_ramps", "ramp_map"]


@dataclass(frozen=True)
class EpochRamps:
    """Ramps fitted per epoch (x, y in km from the grid centre, mm).

    ``coef`` (n_epoch, p) relative to the first epoch (row 0 is 0), in the order of
    :func:`.compare.ramp_design`; 0 where an epoch had too few stations (``fitted`` False there).
    ``rate`` (p,) the least-squares slope of ``coef`` over ``t`` (mm/yr per term): the ramp of the
    velocity. ``rms_before``/``rms_after`` (n_epoch,) RMS over the stations of the centred
    InSAR − GNSS differences before and after the ramp. ``coef`` holds the ramps *removed*: 0 where
    the decision declined one (``kept`` False; ``coef_fitted`` holds it); ``ftest`` (n_epoch,) the
    F statistic of its ramp (NaN where not tested) and ``ftest_limit`` (n_epoch,) its 1 − α limit.
    """

    kind: str
    coef: F64
    fitted: npt.NDArray[np.bool_]
    rate: F64
    rms_before: F64
    rms_after: F64
    kept: npt.NDArray[np.bool_]
    coef_fitted: F64
    ftest: F64
    ftest_limit: F64


def fit_epoch_ramps(x_km: npt.ArrayLike, y_km: npt.ArrayLike, insar: npt.ArrayLike, gnss: npt.ArrayLike,
                    t: npt.ArrayLike, sigma: npt.ArrayLike | None = None, kind: str = "linear",
                    decide: bool = True, alpha: float = 0.05) -> EpochRamps:
    """Fit a ramp per epoch through InSAR − GNSS LOS differences at the stations (module docstring).

    ``x_km``, ``y_km`` (n_station,) station positions; ``insar``, ``gnss`` (n_station, n_epoch) LOS
    displacement (mm, positive toward the satellite; NaN = missing); ``t`` (n_epoch,) years from
    the first epoch; ``sigma`` (n_station,) 1-σ of a difference (mm; default 1 for all). An epoch
    needs more stations with both series than the ramp has terms (1/3/6); others get no ramp.
    ``decide``: keep an epoch's ramp only where its tilt is significant at level ``alpha`` (step 3).
    Raises ``ValueError`` for an unknown ``kind``, mismatched shapes, or no epoch fitted.
    """
    if kind not in RAMP_TERMS:
        raise ValueError(f"unknown ramp kind {kind!r}; use one of {sorted(RAMP_TERMS)}")
    d = np.asarray(insar, np.float64) - np.asarray(gnss, np.float64)
    x = np.asarray(x_km, np.float64).ravel()
    y = np.asarray(y_km, np.float64).ravel()
    tt = np.asarray(t, np.float64).ravel()
    if d.ndim != 2 or d.shape != (x.size, tt.size) or y.size != x.size:
        raise ValueError(f"series {d.shape} do not match {x.size} stations x {tt.size} epochs")
    s = np.ones(x.size) if sigma is None else np.asarray(sigma, np.float64).ravel()
    p = RAMP_TERMS[kind]
    g = ramp_design(x, y, kind)
    valid = np.isfinite(d)
    count = valid.sum(axis=1)
    origin = np.where(count > 0, np.where(valid, d, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)
    for _ in range(_MAX_ITER):  # alternate: ramps given the origins, origins given the ramps
        coef, fitted = _ramps_per_epoch(x, y, d - origin[:, None], s, kind)
        model = g @ coef.T  # (n_station, n_epoch)
        new = np.where(count > 0, np.where(valid, d - model, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)
        done = float(np.max(np.abs(new - origin), initial=0.0)) < _TOL_MM
        origin = new
        if done:
            break
    dc = d - origin[:, None]
    if not fitted.any():
        raise ValueError(f"no epoch has more than {p} stations with both InSAR and GNSS series")
    if not fitted[0]:
        log.warning("first epoch: too few stations; ramps are relative to the first fitted epoch")
    first = int(np.argmax(fitted))
    stat, limit = _tilt_ftest(g, dc, fitted, first, alpha)
    base = coef[first].copy()
    coef = np.where(fitted[:, None], coef - base, 0.0)
    kept = fitted & ((stat > limit) if decide and p > 1 else np.ones_like(fitted))
    kept[first] = False                                   # its ramp relative to itself is 0
    removed = np.where(kept[:, None], coef, 0.0)
    rms_b = _centred_rms(dc)
    rms_a = np.where(fitted, _centred_rms(dc - g @ (removed + base).T), np.nan)
    tc = tt[fitted] - tt[fitted].mean()
    den = float(np.sum(tc * tc))
    rate = (tc @ removed[fitted]) / den if den > 0 else np.zeros(p)
    if decide and p > 1:
        log.info("GNSS %s ramps: %d of %d epochs significant (F test of the ramp, alpha %.2f)", kind,
                 int(kept.sum()), int(fitted.sum()) - 1, alpha)
    return EpochRamps(kind, removed, fitted, np.asarray(rate, np.float64), rms_b, rms_a, kept, coef, stat, limit)


def _tilt_ftest(g: F64, dc: F64, fitted: npt.NDArray[np.bool_], first: int, alpha: float) -> tuple[F64, F64]:
    """F statistic (n_epoch,) of a ramp against a constant in ``dc[:, e] - dc[:, first]`` (step 3), and
    its limit F(p - 1, n - p; 1 - ``alpha``) per epoch (NaN where not tested).

    ``g`` (n_station, p) design; ``dc`` (n_station, n_epoch) differences with the origins removed
    (they cancel in the difference of two epochs, so the test does not depend on their estimate)."""
    n_ep, p = dc.shape[1], g.shape[1]
    stat = np.full(n_ep, np.nan)
    limit = np.full(n_ep, np.nan)
    if p < 2:
        return stat, limit
    for e in np.flatnonzero(fitted):                       # epochs, not pixels: a few stations each
        dd = dc[:, e] - dc[:, first]
        ok = np.isfinite(dd)
        n = int(ok.sum())
        if e == first or n <= p:
            continue
        coef, *_ = np.linalg.lstsq(g[ok], dd[ok], rcond=None)
        rss1 = float(np.sum((dd[ok] - g[ok] @ coef) ** 2))
        rss0 = float(np.sum((dd[ok] - dd[ok].mean()) ** 2))
        stat[e] = ((rss0 - rss1) / (p - 1)) / max(rss1 / (n - p), 1e-300)
        limit[e] = float(f_dist.ppf(1.0 - alpha, p - 1, n - p))
    return stat, limit


#: alternations of the origin/ramp estimate at most, and the change of the origins (mm) that ends them
_MAX_ITER = 200
_TOL_MM = 1e-9


def _ramps_per_epoch(x: F64, y: F64, d: F64, s: F64, kind: str) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Ramp coefficients (n_epoch, p) through each epoch's column of ``d`` (0 and not fitted where too few)."""
    n_ep = d.shape[1]
    coef = np.zeros((n_ep, RAMP_TERMS[kind]))
    fitted = np.zeros(n_ep, bool)
    for e in range(n_ep):  # epochs, not pixels: a few stations each
        try:
            coef[e] = fit_ramp(x, y, d[:, e], s, kind).coef
        except ValueError:
            continue
        fitted[e] = True
    return coef, fitted


def _centred_rms(r: F64) -> F64:
    """RMS over the stations (rows) of each epoch's differences about their mean; NaN for an empty epoch."""
    ok = np.isfinite(r)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, r, 0.0).sum(axis=0) / n
        out = np.sqrt(np.where(ok, (r - mean) ** 2, 0.0).sum(axis=0) / n)
    return np.where(n > 0, out, np.nan)


def ramp_map(x_km: npt.ArrayLike, y_km: npt.ArrayLike, coef: npt.ArrayLike, kind: str) -> F64:
    """The ramp ``coef`` (p,) evaluated on maps ``x_km``, ``y_km`` (ny, nx): (ny, nx) float64."""
    x = np.asarray(x_km, np.float64)
    c = np.asarray(coef, np.float64).ravel()
    return (ramp_design(x, y_km, kind) @ c).reshape(x.shape)

