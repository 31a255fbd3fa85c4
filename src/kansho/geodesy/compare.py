"""InSAR ↔ GNSS comparison in the line of sight, and the tie of InSAR velocities to GNSS.

A GNSS station's east/north/up motion ``u`` is seen by the radar as ``d_LOS = u · l`` with ``l``
the ground → satellite unit vector at the station (LiCSAR's E/N/U), so LOS displacement is
positive toward the satellite, as in every Kansho output. InSAR is averaged over the pixels
within a radius of the station. InSAR is relative to its reference area and GNSS to its
reference frame, so differences are compared after removing what they have in common: a
constant velocity offset (the network mean of the differences, or one reference station's) and,
for time series, the per-epoch common mode and each station's mean.

The tie (the "reference frame" step of Weiss et al. 2020, *GRL* 47, e2020GL087376) fits the
velocity differences at the stations with an offset and a linear (``a + b·x + c·y``) or quadratic
ramp in local east/north km by weighted least squares and removes it from the InSAR velocity
map. All functions work on arrays; stations are few, so they loop over stations, never pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho.grid import EARTH_RADIUS_KM, Grid

F64 = npt.NDArray[np.float64]
_KM_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_KM

__all__ = [
    "RAMP_TERMS",
    "StationOutsideGrid",
    "TieResult",
    "common_reference",
    "disk_index",
    "fit_ramp",
    "local_km",
    "los_at",
    "project_to_los",
    "ramp_design",
    "sample_series",
    "station_mean",
    "timeseries_differences",
]

RAMP_TERMS = {"offset": 1, "linear": 3, "quadratic": 6}


class StationOutsideGrid(ValueError):
    """A station lies outside the grid or has no valid pixel within the radius."""


def local_km(grid: Grid, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[F64, F64]:
    """East/north km of points from the grid centre (equirectangular, spherical Earth); shapes as input."""
    lon_c = float(grid.lon().mean())
    lat_c = float(grid.lat().mean())
    x = (np.asarray(lon, dtype=np.float64) - lon_c) * _KM_PER_DEG * math.cos(math.radians(lat_c))
    y = (np.asarray(lat, dtype=np.float64) - lat_c) * _KM_PER_DEG
    return x, y


def disk_index(grid: Grid, lon: float, lat: float, radius_km: float,
               ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(rows, cols) of the pixels whose centres are within ``radius_km`` of (lon, lat).

    The pixel containing the station is always included. Raises :class:`StationOutsideGrid` if
    the point is outside the grid.
    """
    r, c = grid.rowcol(lon, lat)
    if not (0 <= r < grid.height and 0 <= c < grid.width):
        raise StationOutsideGrid(f"({lon:.5f}, {lat:.5f}) is outside the grid")
    dx_km, dy_km = grid.pixel_size_km()
    nr = math.ceil(radius_km / dy_km) + 1
    nc = math.ceil(radius_km / dx_km) + 1
    rr = np.arange(max(r - nr, 0), min(r + nr + 1, grid.height))
    cc = np.arange(max(c - nc, 0), min(c + nc + 1, grid.width))
    lat_r = grid.lat()[rr]
    lon_c = grid.lon()[cc]
    dy = (lat_r[:, None] - lat) * _KM_PER_DEG
    dx = (lon_c[None, :] - lon) * _KM_PER_DEG * math.cos(math.radians(lat))
    inside = dx * dx + dy * dy <= radius_km * radius_km
    inside[r - rr[0], c - cc[0]] = True
    ri, ci = np.nonzero(inside)
    return rr[ri], cc[ci]


def station_mean(arr: npt.ArrayLike, idx: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]) -> tuple[F64, int]:
    """NaN-aware mean of ``arr`` (ny, nx) or (n, ny, nx) over the pixels ``idx``; (mean, n_valid).

    For a cube, ``n_valid`` counts pixels valid at any epoch and the mean is per epoch, shape (n,).
    """
    a = np.asarray(arr)
    vals = a[..., idx[0], idx[1]].astype(np.float64)
    ok = np.isfinite(vals)
    n = int(ok.any(axis=0).sum()) if vals.ndim == 2 else int(ok.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(ok, vals, 0.0).sum(axis=-1) / ok.sum(axis=-1)
    return m, n


def los_at(los_e: npt.ArrayLike, los_n: npt.ArrayLike, los_u: npt.ArrayLike,
           idx: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]) -> F64:
    """Mean LOS unit vector (3,) over the pixels ``idx`` (renormalised); NaNs if none is valid."""
    v = np.array([station_mean(a, idx)[0] for a in (los_e, los_n, los_u)], dtype=np.float64).ravel()
    nrm = float(np.linalg.norm(v))
    return v / nrm if np.isfinite(nrm) and nrm > 0 else np.full(3, np.nan)


def project_to_los(enu: npt.ArrayLike, los: npt.ArrayLike) -> F64:
    """LOS component ``enu · los`` of (..., 3) east/north/up values with a (3,) unit vector."""
    return np.asarray(enu, dtype=np.float64) @ np.asarray(los, dtype=np.float64)


def sample_series(t_src: npt.ArrayLike, y_src: npt.ArrayLike, t_dst: npt.ArrayLike, half_window: float) -> F64:
    """Mean of ``y_src`` samples within ±``half_window`` of each ``t_dst`` (same time unit).

    ``t_src`` (n,) increasing, ``y_src`` (n,) or (n, k); returns (m,) or (m, k), NaN where no sample
    falls in the window. Vectorised with cumulative sums.
    """
    ts = np.asarray(t_src, dtype=np.float64)
    y = np.asarray(y_src, dtype=np.float64)
    td = np.asarray(t_dst, dtype=np.float64)
    y2 = y.reshape(len(ts), -1)
    lo = np.searchsorted(ts, td - half_window, side="left")
    hi = np.searchsorted(ts, td + half_window, side="right")
    cs = np.vstack([np.zeros((1, y2.shape[1])), np.cumsum(y2, axis=0)])
    cnt = (hi - lo).astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (cs[hi] - cs[lo]) / cnt
    out[cnt[:, 0] == 0] = np.nan
    return out.reshape((len(td), *y.shape[1:]))


def common_reference(diff: npt.ArrayLike, sigma: npt.ArrayLike | None = None, ref: int | None = None) -> float:
    """The common offset of station differences ``diff`` (n,): a weighted mean, or ``diff[ref]``."""
    d = np.asarray(diff, dtype=np.float64)
    if ref is not None:
        return float(d[ref])
    ok = np.isfinite(d)
    if not ok.any():
        return math.nan
    w = np.ones_like(d) if sigma is None else 1.0 / np.maximum(np.asarray(sigma, dtype=np.float64), 1e-6) ** 2
    w = np.where(ok & np.isfinite(w), w, 0.0)
    return float(np.sum(w * np.where(ok, d, 0.0)) / np.sum(w))


def timeseries_differences(insar: npt.ArrayLike, gnss: npt.ArrayLike, ref: int | None = None) -> F64:
    """InSAR − GNSS LOS displacement (n_station, n_epoch) on a common reference (mm).

    Each epoch's common mode (the mean over stations, or station ``ref``'s difference) is removed,
    because InSAR is relative to its reference area and GNSS is not; then each station's mean,
    because both series have an arbitrary origin. NaN where either is missing.
    """
    d = np.asarray(insar, dtype=np.float64) - np.asarray(gnss, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        common = d[ref] if ref is not None else np.nanmean(np.where(np.isfinite(d), d, np.nan), axis=0)
        d = d - common[None, :]
        d = d - np.nanmean(d, axis=1, keepdims=True)
    return d


def ramp_design(x_km: npt.ArrayLike, y_km: npt.ArrayLike, kind: str) -> F64:
    """Design matrix (n, p) of an ``offset``/``linear``/``quadratic`` ramp in local km (x east, y north)."""
    x = np.asarray(x_km, dtype=np.float64).ravel()
    y = np.asarray(y_km, dtype=np.float64).ravel()
    if kind not in RAMP_TERMS:
        raise ValueError(f"unknown ramp kind {kind!r}; use one of {sorted(RAMP_TERMS)}")
    cols = [np.ones_like(x)]
    if kind in ("linear", "quadratic"):
        cols += [x, y]
    if kind == "quadratic":
        cols += [x * x, x * y, y * y]
    return np.stack(cols, axis=1)


@dataclass(frozen=True)
class TieResult:
    """Ramp fitted to InSAR − GNSS velocity differences (mm/yr; x, y in km from the grid centre).

    ``coef`` (p,) in the order of :func:`ramp_design`; ``cov`` (p, p); ``residual`` (n,) the
    differences after the ramp; ``kind`` the ramp type.
    """

    kind: str
    coef: F64
    cov: F64
    residual: F64

    def model(self, x_km: npt.ArrayLike, y_km: npt.ArrayLike) -> F64:
        """The ramp at points (shape of ``x_km``), mm/yr."""
        x = np.asarray(x_km, dtype=np.float64)
        return (ramp_design(x, y_km, self.kind) @ self.coef).reshape(x.shape)


def fit_ramp(x_km: npt.ArrayLike, y_km: npt.ArrayLike, diff: npt.ArrayLike, sigma: npt.ArrayLike,
             kind: str = "linear") -> TieResult:
    """Weighted least-squares ramp through station differences ``diff`` (n,) with 1-sigma ``sigma``.

    Needs more valid stations than ramp terms (1, 3 or 6); ``ValueError`` otherwise. The
    covariance is the formal one scaled by the reduced χ² when that exceeds 1.
    """
    d = np.asarray(diff, dtype=np.float64).ravel()
    s = np.asarray(sigma, dtype=np.float64).ravel()
    g = ramp_design(x_km, y_km, kind)
    ok = np.isfinite(d) & np.isfinite(s) & (s > 0) & np.all(np.isfinite(g), axis=1)
    p = g.shape[1]
    if int(ok.sum()) <= p:
        raise ValueError(f"a {kind} tie needs more than {p} stations with valid differences, got {int(ok.sum())}")
    w = 1.0 / s[ok]
    gw = g[ok] * w[:, None]
    coef, *_ = np.linalg.lstsq(gw, d[ok] * w, rcond=None)
    res = d - g @ coef
    chi2 = float(np.sum((res[ok] * w) ** 2)) / max(int(ok.sum()) - p, 1)
    cov = np.linalg.inv(gw.T @ gw) * max(chi2, 1.0)
    return TieResult(kind=kind, coef=coef, cov=cov, residual=res)
