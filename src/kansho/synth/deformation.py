"""Deformation truth of a simulated frame, in mm along the LOS (positive toward the satellite).

Four sources, all decaying to zero in the far field:

* a **subsidence bowl** under the city (aquifer compaction), modelled as a deflating point source
  in an elastic half-space (Mogi 1958): u_z ∝ d / R³, u_r ∝ r / R³ with R² = r² + d², so the LOS
  signal includes the horizontal motion projected on the E/N LOS components; linear in time;
* an **uplift** above an inflating Mogi source under the volcano; linear in time;
* a **seasonal** area (an aquifer under the cropland basin): vertical annual sinusoid on top of a
  slow linear trend, flat-topped (super-Gaussian) footprint;
* an optional **coseismic step**: a LOS offset on one side of a finite fault trace, largest at the
  trace and decaying away from it and beyond its tips.

``vel`` is the linear-rate part (mm/yr); time series are relative to the first epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._dates import DAYS_PER_YEAR, parse_date, years_since_first
from kansho._types import Float32Array


@dataclass(frozen=True)
class Deformation:
    """Per-pixel parameters of the deformation model (all (ny, nx) float32, LOS mm).

    ``vel``: linear rate (mm/yr). ``seasonal_amp``: amplitude of the annual sinusoid (mm), whose
    maximum toward the satellite falls on day-of-year ``seasonal_peak_doy``. ``eq_step``: offset
    (mm) of every epoch on or after ``eq_date`` (int yyyymmdd, 0 = no earthquake).
    """

    vel: Float32Array
    seasonal_amp: Float32Array
    seasonal_peak_doy: float
    eq_step: Float32Array
    eq_date: int

    def cum(self, epochs: npt.ArrayLike) -> Float32Array:
        """Cumulative LOS displacement (mm) at each epoch relative to the first: (n_epoch, ny, nx)."""
        ep = np.asarray(epochs, dtype=np.int64)
        t = years_since_first(ep)
        s = self.season_phase(ep)
        out = np.empty((len(ep), *self.vel.shape), dtype=np.float32)
        for e in range(len(ep)):
            out[e] = self._at(t[e], s[e] - s[0], bool(self.eq_date and ep[e] >= self.eq_date > ep[0]))
        return out

    def at(self, epochs: npt.ArrayLike, e: int) -> Float32Array:
        """Displacement (mm) of epoch index ``e`` of ``epochs`` relative to ``epochs[0]``: (ny, nx)."""
        ep = np.asarray(epochs, dtype=np.int64)
        t = years_since_first(ep)
        s = self.season_phase(ep)
        return self._at(t[e], s[e] - s[0], bool(self.eq_date and ep[e] >= self.eq_date > ep[0]))

    def _at(self, t: float, ds: float, after_eq: bool) -> Float32Array:
        out = self.vel * np.float32(t) + self.seasonal_amp * np.float32(ds)
        if after_eq:
            out = out + self.eq_step
        return out.astype(np.float32, copy=False)

    def season_phase(self, epochs: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The unit annual signal cos(2π(doy − peak)/365.25) at each epoch, shape (n_epoch,)."""
        return _season(np.asarray(epochs, dtype=np.int64), self.seasonal_peak_doy)


SEASONAL_PEAK_DOY = 75.0  # highest groundwater / ground in late winter, lowest in late summer


def _season(epochs: npt.NDArray[np.int64], peak_doy: float = SEASONAL_PEAK_DOY) -> npt.NDArray[np.float64]:
    doy = np.array([parse_date(int(d)).timetuple().tm_yday for d in epochs], dtype=float)
    return np.cos(2.0 * math.pi * (doy - peak_doy) / DAYS_PER_YEAR)


def mogi_enu(
    x: Float32Array, y: Float32Array, x0: float, y0: float, depth: float
) -> tuple[Float32Array, Float32Array, Float32Array]:
    """Surface displacement of a Mogi point source, normalised to 1 upward above the source.

    ``x``, ``y`` east/north (km), source at (``x0``, ``y0``) and ``depth`` km. Returns
    (east, north, up) shapes as ``x``: u = (dx, dy, d)·d² / R³, R² = dx² + dy² + d².
    """
    dx = x - np.float32(x0)
    dy = y - np.float32(y0)
    r3 = (dx * dx + dy * dy + np.float32(depth * depth)) ** np.float32(1.5)
    k = np.float32(depth * depth) / r3
    return dx * k, dy * k, np.float32(depth) * k


def make_deformation(
    x: Float32Array,
    y: Float32Array,
    los_e: Float32Array,
    los_n: Float32Array,
    los_u: Float32Array,
    size_km: float,
    city_km: tuple[float, float],
    volcano_km: tuple[float, float],
    basin_km: tuple[float, float],
    fault_km: tuple[float, float],
    *,
    subsidence_rate: float,
    uplift_rate: float,
    seasonal_amp: float,
    seasonal_rate: float,
    eq_offset: float,
    eq_date: int,
    rng: np.random.Generator,
) -> Deformation:
    """Place the sources (sizes scale with ``size_km``) and project them on the LOS.

    Rates are *vertical* rates above each source (mm/yr); the returned maps are LOS. The LOS
    unit vectors ``los_e/n/u`` point from the ground to the satellite.
    """
    # subsidence bowl: shallow deflating source under the city (depth sets the bowl width)
    d_sub = float(np.clip(0.07 * size_km, 0.4, 4.0))
    jitter = rng.normal(0, 0.02 * size_km, 2)
    ue, un, uu = mogi_enu(x, y, city_km[0] + jitter[0], city_km[1] + jitter[1], d_sub)
    vel = np.float32(subsidence_rate) * (ue * los_e + un * los_n + uu * los_u)
    # uplift: deeper inflating source under the volcano
    d_up = float(np.clip(0.10 * size_km, 0.6, 6.0))
    ue, un, uu = mogi_enu(x, y, volcano_km[0], volcano_km[1], d_up)
    vel = vel + np.float32(uplift_rate) * (ue * los_e + un * los_n + uu * los_u)
    # seasonal basin: flat-topped elliptical footprint, vertical motion only
    a = float(np.clip(0.14 * size_km, 0.5, 10.0))
    b = 0.65 * a
    ang = rng.uniform(0, math.pi)
    ca, sa = math.cos(ang), math.sin(ang)
    xr = (x - basin_km[0]) * ca + (y - basin_km[1]) * sa
    yr = -(x - basin_km[0]) * sa + (y - basin_km[1]) * ca
    foot = np.exp(-(((xr / a) ** 2 + (yr / b) ** 2) ** 2)).astype(np.float32)
    seas = (np.float32(seasonal_amp) * foot * los_u).astype(np.float32)
    vel = vel + np.float32(seasonal_rate) * foot * los_u
    # earthquake: LOS offset on one side of a finite fault trace
    step = np.zeros_like(vel)
    if eq_date:
        strike = rng.uniform(0, math.pi)
        sx, sy = math.sin(strike), math.cos(strike)  # along-strike unit vector (east, north)
        along = (x - fault_km[0]) * sx + (y - fault_km[1]) * sy
        across = -(x - fault_km[0]) * sy + (y - fault_km[1]) * sx
        half_len = float(np.clip(0.18 * size_km, 0.8, 25.0))
        width = float(np.clip(0.08 * size_km, 0.4, 10.0))
        taper = np.exp(-np.clip(np.abs(along) - half_len, 0, None) ** 2 / (2 * (0.4 * width) ** 2))
        step = np.where(across > 0, np.float32(eq_offset) * np.exp(-across / width) * taper, 0).astype(np.float32)
    return Deformation(
        vel=vel.astype(np.float32),
        seasonal_amp=seas,
        seasonal_peak_doy=SEASONAL_PEAK_DOY,
        eq_step=step,
        eq_date=int(eq_date),
    )


def linear_fit_rate(cum: Float32Array, epochs: npt.ArrayLike) -> Float32Array:
    """Least-squares slope (mm/yr) of each pixel's time series ``cum`` (n_epoch, ny, nx)."""
    t = years_since_first(np.asarray(epochs, dtype=np.int64))
    tc = (t - t.mean()).astype(np.float64)
    den = float((tc * tc).sum())
    if den == 0:
        return np.zeros(cum.shape[1:], dtype=np.float32)
    num = np.tensordot(tc.astype(np.float32), cum, axes=(0, 0))
    return (num / np.float32(den)).astype(np.float32)
