"""East/up (and north) velocities from two or more LOS velocity maps of different tracks.

Each track k sees ``v_k = l_e,k·V_e + l_n,k·V_n + l_u,k·V_u`` (l: ground → satellite unit vector).
Ascending and descending tracks differ mostly in ``l_e`` (looking east vs west) and little in
``l_n`` (both near-polar orbits), so north is poorly constrained by InSAR alone. Following Wright
et al. 2004 (*GRL* 31, L01607) and Weiss et al. 2020 (*GRL* 47), north is taken from GNSS
(interpolated) and removed, and east and up are solved per pixel by weighted least squares with
weights 1/σ_k², σ_k² = vstd_k² + l_n,k²·σ_N². With exactly two tracks the solve is exact and the
uncertainty is the propagated input noise; with more, it is over-determined.

When north is neglected (no GNSS north), the estimates are biased by ``s_e·V_n`` and ``s_u·V_n``
with the sensitivities ``s = (AᵀWA)⁻¹AᵀW·l_n`` returned as maps, so the cost of neglecting it
can be stated (per mm/yr of north motion).

The per-pixel 2×2 normal equations are solved in closed form for the whole grid at once. The tracks
are put on one grid by :func:`kansho.grid.common_grid` (their intersection) and
:func:`kansho.grid.resample`, shared with the mosaics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._types import Float32Array, Float64Array
from kansho.grid import Grid

__all__ = ["Decomposition", "decompose_east_up", "interpolate_stations"]


@dataclass(frozen=True)
class Decomposition:
    """East/up velocities and their 1-sigma (mm/yr), all (ny, nx) float32, NaN where unsolved.

    ``sens_e``/``sens_u``: bias of east/up per mm/yr of neglected north (0 where north was given).
    ``n_tracks``: number of tracks used per pixel. ``chi2``: weighted residual sum of squares per
    degree of freedom (NaN with two tracks, where the fit is exact).
    """

    east: Float32Array
    up: Float32Array
    east_std: Float32Array
    up_std: Float32Array
    corr_eu: Float32Array
    sens_e: Float32Array
    sens_u: Float32Array
    n_tracks: Float32Array
    chi2: Float32Array


def decompose_east_up(
    vel: npt.ArrayLike,
    vstd: npt.ArrayLike,
    los_e: npt.ArrayLike,
    los_n: npt.ArrayLike,
    los_u: npt.ArrayLike,
    north: npt.ArrayLike | None = None,
    north_std: npt.ArrayLike | None = None,
    *,
    min_det: float = 0.05,
) -> Decomposition:
    """Per-pixel weighted least-squares east/up from K ≥ 2 LOS velocity maps.

    Parameters
    ----------
    vel, vstd:
        (K, ny, nx) LOS velocities (mm/yr, positive toward the satellite) and their 1-sigma.
    los_e, los_n, los_u:
        (K, ny, nx) ground → satellite unit vectors.
    north, north_std:
        (ny, nx) north velocity (mm/yr) and its 1-sigma to remove first, or ``None`` to neglect north.
    min_det:
        pixels whose geometry matrix is near-singular (normalised determinant below this, e.g. two
        tracks with the same look direction) are left unsolved.
    """
    v = np.asarray(vel, dtype=np.float64)
    s = np.asarray(vstd, dtype=np.float64)
    le = np.asarray(los_e, dtype=np.float64)
    ln = np.asarray(los_n, dtype=np.float64)
    lu = np.asarray(los_u, dtype=np.float64)
    if v.ndim != 3 or v.shape[0] < 2:
        raise ValueError(f"vel must be (K >= 2, ny, nx), got {v.shape}")
    var = s * s
    if north is not None:
        vn = np.asarray(north, dtype=np.float64)[None]
        v = v - ln * vn
        if north_std is not None:
            var = var + (ln * np.asarray(north_std, dtype=np.float64)[None]) ** 2
    ok = np.isfinite(v) & np.isfinite(var) & (var > 0) & np.isfinite(le) & np.isfinite(lu) & np.isfinite(ln)
    w = np.where(ok, 1.0 / np.where(ok, var, 1.0), 0.0)
    v0 = np.where(ok, v, 0.0)
    le0, lu0, ln0 = (np.where(ok, a, 0.0) for a in (le, lu, ln))
    a11 = np.sum(w * le0 * le0, 0)
    a12 = np.sum(w * le0 * lu0, 0)
    a22 = np.sum(w * lu0 * lu0, 0)
    b1 = np.sum(w * le0 * v0, 0)
    b2 = np.sum(w * lu0 * v0, 0)
    det = a11 * a22 - a12 * a12
    nt = ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        good = (nt >= 2) & (det > min_det * a11 * a22)
        inv11, inv12, inv22 = a22 / det, -a12 / det, a11 / det
        east = inv11 * b1 + inv12 * b2
        up = inv12 * b1 + inv22 * b2
        c1 = np.sum(w * le0 * ln0, 0)
        c2 = np.sum(w * lu0 * ln0, 0)
        sens_e = inv11 * c1 + inv12 * c2 if north is None else np.zeros_like(east)
        sens_u = inv12 * c1 + inv22 * c2 if north is None else np.zeros_like(east)
        resid = v0 - le0 * east[None] - lu0 * up[None]
        chi2 = np.where(nt > 2, np.sum(w * resid * resid, 0) / (nt - 2), np.nan)
        corr = inv12 / np.sqrt(inv11 * inv22)

    def f(a: Float64Array) -> Float32Array:
        return np.where(good, a, np.nan).astype(np.float32)

    return Decomposition(
        east=f(east), up=f(up), east_std=f(np.sqrt(inv11)), up_std=f(np.sqrt(inv22)), corr_eu=f(corr),
        sens_e=f(sens_e), sens_u=f(sens_u), n_tracks=np.where(good, nt, 0).astype(np.float32), chi2=f(chi2),
    )


def interpolate_stations(lon: npt.ArrayLike, lat: npt.ArrayLike, values: npt.ArrayLike, grid: Grid,
                         sigma: npt.ArrayLike | None = None,
                         smoothing: float = 0.0) -> tuple[Float32Array, Float32Array]:
    """Station values (n,) onto ``grid``: a thin-plate spline with a linear trend (RBFInterpolator).

    Used for the GNSS north velocity field. Returns ((ny, nx) values, (ny, nx) 1-sigma), the
    sigma being the inverse-distance-weighted station sigma (NaN if ``sigma`` is ``None``), a
    plain statement of the data's precision; the interpolation error between stations is not
    included. At least 3 stations are needed.
    """
    from scipy.interpolate import RBFInterpolator

    from kansho.geodesy.compare import local_km

    x, y = local_km(grid, lon, lat)
    vals = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(vals)
    if int(ok.sum()) < 3:
        raise ValueError(f"interpolating a station field needs at least 3 stations, got {int(ok.sum())}")
    pts = np.stack([x[ok], y[ok]], axis=1)
    gx, gy = local_km(grid, *np.meshgrid(grid.lon(), grid.lat()))
    q = np.stack([gx.ravel(), gy.ravel()], axis=1)
    f = RBFInterpolator(pts, vals[ok], kernel="thin_plate_spline", degree=1, smoothing=smoothing)
    out = f(q).reshape(grid.shape).astype(np.float32)
    if sigma is None:
        return out, np.full(grid.shape, np.nan, np.float32)
    sg = np.asarray(sigma, dtype=np.float64)[ok]
    sg = np.where(np.isfinite(sg), sg, np.nanmedian(sg) if np.isfinite(sg).any() else np.nan)
    sig = np.empty(q.shape[0], np.float64)
    step = max(1, 2_000_000 // max(len(pts), 1))  # bounded memory: (step, n_station) at a time
    for i in range(0, q.shape[0], step):
        qq = q[i:i + step]
        d2 = (qq[:, None, 0] - pts[None, :, 0]) ** 2 + (qq[:, None, 1] - pts[None, :, 1]) ** 2
        w = 1.0 / np.maximum(d2, 1e-6)
        sig[i:i + step] = np.sum(w * sg, 1) / np.sum(w, 1)
    return out, sig.reshape(grid.shape).astype(np.float32)
