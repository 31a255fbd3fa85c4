"""Coherence prediction for a sensor, the seed-001 baseline tables, and fitting/checking against real pairs.

:func:`predict_coherence` evaluates γ = γ_thermal · γ_spatial(B⊥) · γ_temporal(Δt) with a sensor
preset's parameters (:mod:`kansho.planning.sensors`); ``params`` overrides any of ``gamma_thermal``,
``critical_baseline_m``, ``gamma0``, ``gamma_inf``, ``tau_days`` (e.g. the output of
:func:`fit_temporal_model`). :func:`document_tables` recomputes Tables 2 and 3 of seed 001 from its
Table 1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from kansho._dates import to_ordinal
from kansho.errors import ConfigError, InputError
from kansho.planning import model
from kansho.planning.sensors import Sensor, get_sensor

__all__ = [
    "BaselineBudget",
    "CoherenceComparison",
    "TemporalFit",
    "budget_for_sensor",
    "coherence_terms",
    "document_tables",
    "fit_temporal_model",
    "predict_coherence",
    "predicted_vs_observed",
]

log = logging.getLogger(__name__)

_PARAM_KEYS = ("gamma_thermal", "critical_baseline_m", "gamma0", "gamma_inf", "tau_days")

# Seed 001, Tables 2 and 3 as printed (for display next to our numbers; tests keep their own copy).
DOCUMENT_TABLE2: dict[str, dict[str, float]] = {
    "jers1": {"critical_baseline_m": 4000, "dem_bperp_m": 400, "dem_bx_m": 564, "dem_tolerance_m": 282,
              "dem_height_std_m": 10, "def_bperp_m": 820, "def_bx_m": 1156, "def_tolerance_m": 578},
    "palsar28": {"critical_baseline_m": 15000, "dem_bperp_m": 1440, "dem_bx_m": 2030, "dem_tolerance_m": 1015,
                 "dem_height_std_m": 4, "def_bperp_m": 2890, "def_bx_m": 4075, "def_tolerance_m": 2038},
    "palsar14": {"critical_baseline_m": 7500, "dem_bperp_m": 720, "dem_bx_m": 1015, "dem_tolerance_m": 507,
                 "dem_height_std_m": 8, "def_bperp_m": 1440, "def_bx_m": 2030, "def_tolerance_m": 1015},
}


def coherence_terms(sensor: str | Sensor = "sentinel1_iw", *, landcover: str = "default",
                    params: Mapping[str, float] | None = None) -> dict[str, float]:
    """The model's scalar parameters for a sensor: γ_thermal, B_c (m), γ0, γ∞, τ (days), overrides applied."""
    s = get_sensor(sensor)
    tm = s.temporal(landcover)
    terms = {
        "gamma_thermal": s.gamma_thermal,
        "critical_baseline_m": float(model.critical_baseline(s.wavelength_m, s.slant_range_m, s.bandwidth_hz,
                                                             s.incidence_deg, s.baseline_form)),
        "gamma0": tm.gamma0,
        "gamma_inf": tm.gamma_inf,
        "tau_days": tm.tau_days,
    }
    if params:
        unknown = set(params) - set(_PARAM_KEYS)
        if unknown:
            raise ConfigError(f"unknown coherence-model parameters {sorted(unknown)}; use {list(_PARAM_KEYS)}")
        terms.update({k: float(v) for k, v in params.items()})
    return terms


def predict_coherence(bperp_m: npt.ArrayLike, dt_days: npt.ArrayLike, sensor: str | Sensor = "sentinel1_iw", *,
                      landcover: str = "default", params: Mapping[str, float] | None = None) -> npt.NDArray[np.float64]:
    """Model coherence γ_thermal · γ_spatial(B⊥) · γ_temporal(Δt) of interferograms.

    Parameters
    ----------
    bperp_m:
        Perpendicular baselines (m), any shape; the sign is ignored.
    dt_days:
        Temporal baselines (days), broadcast against ``bperp_m``; the sign is ignored.
    sensor:
        Preset name (see :data:`kansho.planning.sensors.SENSORS`) or a :class:`Sensor`.
    landcover:
        Temporal-decorrelation preset of the sensor's band (``default``, ``urban``, ``bare``,
        ``grassland``, ``agriculture``, ``forest``).
    params:
        Overrides of ``gamma_thermal``, ``critical_baseline_m``, ``gamma0``, ``gamma_inf``, ``tau_days``.

    Returns
    -------
    ndarray of the broadcast shape, values in [0, 1]; 0 at and beyond the critical baseline.
    Zebker & Villasenor (1992) for the thermal and baseline terms, Rocca (2007) for the temporal term.
    """
    t = coherence_terms(sensor, landcover=landcover, params=params)
    return (t["gamma_thermal"] * model.gamma_spatial(bperp_m, t["critical_baseline_m"])
            * model.gamma_temporal(dt_days, t["gamma0"], t["gamma_inf"], t["tau_days"]))


# --------------------------------------------------------------------------------------------
# Baseline budget (seed 001 Tables 2 and 3)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BaselineBudget:
    """The usable baselines of one sensor (m) for DEM (γ ≥ gamma_dem) and deformation (γ ≥ gamma_def) work."""

    sensor: str
    critical_baseline_m: float
    gamma_other: float
    gamma_dem: float
    gamma_def: float
    dem_bperp_m: float
    dem_bx_m: float
    dem_tolerance_m: float
    dem_height_std_m: float
    def_bperp_m: float
    def_bx_m: float
    def_tolerance_m: float
    def_los_std_mm: float
    offnadir_deg: float
    looks: int
    range_for_critical_m: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def budget_for_sensor(sensor: str | Sensor, *, gamma_dem: float = 0.45, gamma_def: float = 0.40,
                      gamma_other: float | None = None, offnadir_deg: float | None = None, looks: int | None = None,
                      range_for_critical_m: float | None = None) -> BaselineBudget:
    """Seed 001's budget for one sensor: B_c, the B⊥ keeping γ above the DEM and deformation thresholds,
    the horizontal separation B_x = B⊥ / cos θ_off and tube ±B_x/2 (note 2), and the height error at
    the DEM baseline (σ_z with N looks).

    ``gamma_other`` is γ_thermal · γ_temporal (seed eq. 10-1; default: the sensor's γ_thermal · γ0).
    ``range_for_critical_m`` replaces the slant range in B_c only (to mimic seed 001's JERS-1 column).
    ``offnadir_deg`` defaults to the sensor's off-nadir angle (seed 001 uses 45° for all three columns).
    """
    s = get_sensor(sensor)
    offnadir_deg = s.offnadir_deg if offnadir_deg is None else float(offnadir_deg)
    t = coherence_terms(s)
    go = t["gamma_thermal"] * t["gamma0"] if gamma_other is None else float(gamma_other)
    n = s.looks if looks is None else int(looks)
    rc = s.slant_range_m if range_for_critical_m is None else float(range_for_critical_m)
    bc = float(model.critical_baseline(s.wavelength_m, rc, s.bandwidth_hz, s.incidence_deg, s.baseline_form))
    b_dem = float(model.baseline_for_coherence(gamma_dem, bc, go))
    b_def = float(model.baseline_for_coherence(gamma_def, bc, go))
    bx_dem, tol_dem = (float(v) for v in model.orbit_tube(b_dem, offnadir_deg))
    bx_def, tol_def = (float(v) for v in model.orbit_tube(b_def, offnadir_deg))
    sz = float(model.height_std(b_dem, gamma_dem, n, s.wavelength_m, s.slant_range_m, s.incidence_deg))
    sd = float(model.deformation_std(gamma_def, n, s.wavelength_m)) * 1000.0
    return BaselineBudget(s.name, bc, go, gamma_dem, gamma_def, b_dem, bx_dem, tol_dem, sz,
                          b_def, bx_def, tol_def, sd, offnadir_deg, n, rc)


def document_tables(*, jers1_range: Literal["altitude", "slant"] = "altitude", gamma_dem: float = 0.45,
                    gamma_def: float = 0.40, gamma_other: float = 0.5,
                    offnadir_deg: float = 45.0) -> dict[str, BaselineBudget]:
    """Tables 2 and 3 of seed 001 recomputed from its Table 1 (sensors ``jers1``, ``palsar28``, ``palsar14``).

    All three columns use the document's baseline term (B_c = λ r B_w sin θ / c), γ_thermal·γ_temporal =
    0.5 (eq. 10-1), N = 8 and, for B_x, off-nadir 45° (note 2, also for JERS-1, whose 564 m = 400 m/cos 45°).

    ``jers1_range="altitude"`` (default) reproduces the document's JERS-1 column: its critical and usable
    baselines follow from the orbit altitude 568 km in place of the slant range 703 km (with r = 703 km,
    B_c would be 5.1 km and the usable baselines 27 % larger than printed), while its height error follows
    from r = 703 km. ``"slant"`` gives the self-consistent numbers.
    """
    out: dict[str, BaselineBudget] = {}
    for name in ("jers1", "palsar28", "palsar14"):
        s = get_sensor(name)
        rc = s.altitude_m if (name == "jers1" and jers1_range == "altitude") else None
        b = budget_for_sensor(s, gamma_dem=gamma_dem, gamma_def=gamma_def, gamma_other=gamma_other,
                              offnadir_deg=offnadir_deg, range_for_critical_m=rc)
        if rc is not None:
            b.notes.append("critical baseline from the altitude 568 km, as the document's JERS-1 column did")
        out[name] = b
    return out


# --------------------------------------------------------------------------------------------
# Fitting and checking against real pairs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemporalFit:
    """Fitted temporal model (γ_thermal folded into γ0) and how well it explains the observations."""

    gamma0: float
    gamma_inf: float
    tau_days: float
    gamma0_se: float
    gamma_inf_se: float
    tau_days_se: float
    critical_baseline_m: float
    r2: float
    rmse: float
    n_pairs: int

    @property
    def params(self) -> dict[str, float]:
        """Overrides for :func:`predict_coherence` (``gamma_thermal`` = 1: it is inside γ0)."""
        return {"gamma_thermal": 1.0, "gamma0": self.gamma0, "gamma_inf": self.gamma_inf,
                "tau_days": self.tau_days, "critical_baseline_m": self.critical_baseline_m}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_temporal_model(dt_days: npt.ArrayLike, bperp_m: npt.ArrayLike, observed_coh: npt.ArrayLike,
                       sensor: str | Sensor = "sentinel1_iw", *, landcover: str = "default",
                       robust: bool = False) -> TemporalFit:
    """Fit γ0, γ∞, τ of γ = γ_spatial(B⊥) · [(γ0 − γ∞) e^(−Δt/τ) + γ∞] to observed mean coherences.

    The baseline term uses the sensor's critical baseline (fixed); γ_thermal is absorbed in γ0.
    Non-finite observations are ignored. Least squares (``robust=True``: soft-L1 loss) with
    0 ≤ γ∞ ≤ γ0 ≤ 1 enforced by the parameterisation γ∞ = γ0·u, u ∈ [0, 1], and 0.1 ≤ τ ≤ 10⁵ days;
    standard errors from the Jacobian at the optimum. R² = 1 − SS_res / SS_tot of the coherences.

    Arrays are 1-D of equal length (pairs). Raises :class:`~kansho.errors.InputError` with fewer than
    4 finite pairs.
    """
    dt = np.abs(np.asarray(dt_days, dtype=float)).ravel()
    bp = np.asarray(bperp_m, dtype=float).ravel()
    obs = np.asarray(observed_coh, dtype=float).ravel()
    if not (dt.shape == bp.shape == obs.shape):
        raise InputError(None, f"fit_temporal_model: dt, bperp and coherence differ in length "
                               f"({dt.size}, {bp.size}, {obs.size})")
    ok = np.isfinite(dt) & np.isfinite(bp) & np.isfinite(obs)
    if ok.sum() < 4:
        raise InputError(None, f"fit_temporal_model: need at least 4 pairs with finite values, got {int(ok.sum())}")
    dt, bp, obs = dt[ok], bp[ok], obs[ok]
    bc = coherence_terms(sensor, landcover=landcover)["critical_baseline_m"]
    gs = model.gamma_spatial(bp, bc)

    def fwd(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        g0, u, logtau = x
        return gs * model.gamma_temporal(dt, g0, g0 * u, math.exp(logtau))

    short = obs[dt <= np.quantile(dt, 0.2)].mean()
    longv = obs[dt >= np.quantile(dt, 0.8)].mean()
    x0 = np.array([min(max(short, 0.05), 0.99), min(max(longv / max(short, 1e-3), 0.05), 0.95),
                   math.log(max(np.median(dt), 1.0))])
    res = least_squares(lambda x: fwd(x) - obs, x0, bounds=([1e-3, 0.0, math.log(0.1)], [1.0, 1.0, math.log(1e5)]),
                        loss="soft_l1" if robust else "linear", f_scale=0.05)
    g0, u, logtau = res.x
    resid = fwd(res.x) - obs
    ss_res = float(np.sum(resid**2))
    ss_tot = float(np.sum((obs - obs.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    # standard errors of (γ0, γ∞, τ) by the delta method from the parameterisation's covariance
    dof = max(obs.size - 3, 1)
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * ss_res / dof
        jt = np.array([[1.0, 0.0, 0.0], [u, g0, 0.0], [0.0, 0.0, math.exp(logtau)]])
        se = np.sqrt(np.clip(np.diag(jt @ cov @ jt.T), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(3, np.nan)
    fit = TemporalFit(float(g0), float(g0 * u), float(math.exp(logtau)), float(se[0]), float(se[1]), float(se[2]),
                      float(bc), float(r2), float(math.sqrt(ss_res / obs.size)), int(obs.size))
    log.info("temporal fit: gamma0=%.3f gamma_inf=%.3f tau=%.1f d, R2=%.3f (%d pairs)",
             fit.gamma0, fit.gamma_inf, fit.tau_days, fit.r2, fit.n_pairs)
    return fit


@dataclass(frozen=True)
class CoherenceComparison:
    """Per-pair predicted and observed coherence (1-D arrays of one length) and summary statistics."""

    date1: npt.NDArray[np.int64]
    date2: npt.NDArray[np.int64]
    bperp_m: npt.NDArray[np.float64]
    dt_days: npt.NDArray[np.float64]
    predicted: npt.NDArray[np.float64]
    observed: npt.NDArray[np.float64]

    @property
    def residual(self) -> npt.NDArray[np.float64]:
        return self.observed - self.predicted

    @property
    def r2(self) -> float:
        """1 − SS_res / SS_tot over the pairs with a finite observation (NaN with fewer than 2)."""
        ok = np.isfinite(self.observed)
        if ok.sum() < 2:
            return float("nan")
        o = self.observed[ok]
        ss_tot = float(np.sum((o - o.mean()) ** 2))
        return 1.0 - float(np.sum(self.residual[ok] ** 2)) / ss_tot if ss_tot > 0 else float("nan")

    @property
    def bias(self) -> float:
        return float(np.nanmean(self.residual)) if np.isfinite(self.observed).any() else float("nan")

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.nanmean(self.residual**2))) if np.isfinite(self.observed).any() else float("nan")

    def rows(self) -> list[dict[str, Any]]:
        """One dict per pair: date1, date2, bperp_m, dt_days, predicted, observed, residual."""
        return [{"date1": int(a), "date2": int(b), "bperp_m": float(p), "dt_days": float(t),
                 "predicted": float(pr), "observed": float(o), "residual": float(o - pr)}
                for a, b, p, t, pr, o in zip(self.date1, self.date2, self.bperp_m, self.dt_days,
                                             self.predicted, self.observed, strict=True)]

    def to_text(self) -> str:
        """A whitespace table for ``info/`` (header line starting with ``#``, then one line per pair)."""
        lines = [f"# predicted vs observed mean coherence: R2={self.r2:.3f} bias={self.bias:+.3f} rmse={self.rmse:.3f}",
                 "# date1_date2        bperp_m  dt_days  predicted  observed  residual"]
        for r in self.rows():
            lines.append(f"{r['date1']}_{r['date2']} {r['bperp_m']:9.1f} {r['dt_days']:8.0f} {r['predicted']:10.3f} "
                         f"{r['observed']:9.3f} {r['residual']:+9.3f}")
        return "\n".join(lines) + "\n"


def _days(d1: npt.NDArray[np.int64], d2: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    try:
        return (to_ordinal(d2) - to_ordinal(d1)).astype(float)
    except ValueError as exc:
        raise InputError(None, f"bad pair date ({exc})") from None


def _pair_bperp(d1: npt.NDArray[np.int64], d2: npt.NDArray[np.int64],
                bperp: Mapping[int, float] | tuple[Sequence[int], Sequence[float]] | npt.ArrayLike,
                ) -> npt.NDArray[np.float64]:
    if isinstance(bperp, Mapping):
        table = {int(k): float(v) for k, v in bperp.items()}
    elif isinstance(bperp, tuple) and len(bperp) == 2 and np.size(bperp[0]) == np.size(bperp[1]) \
            and np.size(bperp[0]) != d1.size:
        table = {int(k): float(v) for k, v in zip(np.ravel(bperp[0]), np.ravel(bperp[1]), strict=True)}
    else:
        arr = np.asarray(bperp, dtype=float).ravel()
        if arr.size != d1.size:
            raise InputError(None, f"per-pair bperp has {arr.size} values for {d1.size} pairs")
        return arr
    missing = sorted({int(d) for d in np.concatenate([d1, d2])} - set(table))
    if missing:
        raise InputError(None, f"no perpendicular baseline for epoch(s) {missing[:5]}")
    return np.array([table[int(b)] - table[int(a)] for a, b in zip(d1, d2, strict=True)])


def predicted_vs_observed(date1: npt.ArrayLike, date2: npt.ArrayLike,
                          bperp: Mapping[int, float] | tuple[Sequence[int], Sequence[float]] | npt.ArrayLike,
                          observed_mean_coh: npt.ArrayLike, sensor: str | Sensor = "sentinel1_iw", *,
                          landcover: str = "default", params: Mapping[str, float] | None = None,
                          fit: bool = False) -> CoherenceComparison:
    """Predicted (model) and observed mean coherence per interferogram.

    ``date1``/``date2``: yyyymmdd ints per pair. ``bperp``: per-epoch B⊥ as ``{date: m}`` or
    ``(dates, values)``, or per-pair B⊥ (m) as an array of the pairs' length. ``observed_mean_coh``: per
    pair (NaN allowed). With ``fit=True`` the temporal parameters are first fitted to these very pairs
    (:func:`fit_temporal_model`), so the comparison shows what the fitted model explains; otherwise the
    sensor preset (and ``params``) is used. The result's ``to_text()`` is the ``info/`` table.
    """
    d1 = np.asarray(date1, dtype=np.int64).ravel()
    d2 = np.asarray(date2, dtype=np.int64).ravel()
    obs = np.asarray(observed_mean_coh, dtype=float).ravel()
    if not (d1.size == d2.size == obs.size):
        raise InputError(None, f"predicted_vs_observed: {d1.size} date1, {d2.size} date2, {obs.size} coherences")
    bp = _pair_bperp(d1, d2, bperp)
    dt = _days(d1, d2)
    if fit:
        params = fit_temporal_model(dt, bp, obs, sensor, landcover=landcover).params
    pred = predict_coherence(bp, dt, sensor, landcover=landcover, params=params)
    return CoherenceComparison(d1, d2, bp, dt, pred, obs)
