"""Geocoding from radar coordinates to a regular lat/lon grid (EPSG:4326) with a lookup table.

The radar-coded latitude and longitude of every (multilooked) radar pixel define the mapping
radar → ground. Its inverse, the lookup table (fractional radar row and column of every output
cell), is interpolated linearly over a Delaunay triangulation of the radar pixels' (lon, lat);
output cells outside the radar footprint get NaN. Values are then resampled from the radar grid at
those positions (nearest pixel or bilinear). LOS unit vectors (ground → satellite) follow from
the incidence θ and the heading α of a right-looking SAR: E = −sin θ cos α, N = sin θ sin α,
U = cos θ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import Delaunay

from kansho._types import Float32Array
from kansho.errors import InputError
from kansho.grid import Grid

__all__ = ["Lookup", "geocode", "los_enu", "make_lookup", "output_grid"]



@dataclass(frozen=True)
class Lookup:
    """Output ``grid`` and, per output cell (grid.shape), the fractional radar ``row`` and ``col``
    (NaN outside the radar footprint) on a radar grid of ``radar_shape``."""

    grid: Grid
    row: Float32Array
    col: Float32Array
    radar_shape: tuple[int, int]


def output_grid(lat: Float32Array, lon: Float32Array, posting_lat: float, posting_lon: float | None = None) -> Grid:
    """The regular EPSG:4326 grid covering the finite ``lat``/``lon`` (deg) of the radar pixels.

    The corners are snapped to multiples of the posting, so grids of the same frame line up.
    """
    dlat = float(posting_lat)
    dlon = float(posting_lon or posting_lat)
    ok = np.isfinite(lat) & np.isfinite(lon)
    if not ok.any():
        raise InputError(None, "no finite latitude/longitude in the radar geometry")
    la, lo = lat[ok], lon[ok]
    x0 = math.floor(float(lo.min()) / dlon) * dlon
    y0 = math.ceil(float(la.max()) / dlat) * dlat
    width = max(1, math.ceil((float(lo.max()) - x0) / dlon))
    height = max(1, math.ceil((y0 - float(la.min())) / dlat))
    return Grid(width, height, (x0, dlon, 0.0, y0, 0.0, -dlat), "EPSG:4326")


def make_lookup(lat: Float32Array, lon: Float32Array, grid: Grid, *, max_points: int = 400_000) -> Lookup:
    """Lookup table (fractional radar row/col per output cell) from radar-coded ``lat``/``lon`` (ny, nx).

    Radar pixels are subsampled by a stride so at most ``max_points`` enter the triangulation
    (the mapping is smooth at that scale).
    """
    ny, nx = lat.shape
    stride = max(1, math.ceil(math.sqrt(ny * nx / max_points)))
    rr, cc = np.mgrid[0:ny:stride, 0:nx:stride]
    if rr[-1, 0] != ny - 1 or cc[0, -1] != nx - 1:  # keep the last row/column: the footprint edge
        rows = np.unique(np.r_[np.arange(0, ny, stride), ny - 1])
        cols = np.unique(np.r_[np.arange(0, nx, stride), nx - 1])
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
    la = lat[rr, cc].ravel().astype(np.float64)
    lo = lon[rr, cc].ravel().astype(np.float64)
    ok = np.isfinite(la) & np.isfinite(lo)
    if ok.sum() < 3:
        raise InputError(None, "fewer than 3 radar pixels with latitude/longitude: cannot geocode")
    pts = np.column_stack([lo[ok], la[ok]])
    tri = Delaunay(pts)
    interp = LinearNDInterpolator(tri, np.column_stack([rr.ravel()[ok], cc.ravel()[ok]]).astype(np.float64))
    glon, glat = np.meshgrid(grid.lon(), grid.lat())
    rc = interp(glon, glat)
    return Lookup(grid, rc[..., 0].astype(np.float32), rc[..., 1].astype(np.float32), (ny, nx))


def geocode(values: npt.NDArray[np.floating], lookup: Lookup, method: str = "nearest") -> Float32Array:
    """Resample radar-grid ``values`` (radar_shape) onto ``lookup.grid``; NaN outside / where invalid."""
    if values.shape != lookup.radar_shape:
        raise ValueError(f"values {values.shape} do not match the lookup's radar grid {lookup.radar_shape}")
    inside = np.isfinite(lookup.row) & np.isfinite(lookup.col)
    out = np.full(lookup.grid.shape, np.nan, np.float32)
    r = lookup.row[inside]
    c = lookup.col[inside]
    v = np.asarray(values, dtype=np.float32)
    if method == "nearest":
        ri = np.clip(np.rint(r).astype(np.int64), 0, v.shape[0] - 1)
        ci = np.clip(np.rint(c).astype(np.int64), 0, v.shape[1] - 1)
        out[inside] = v[ri, ci]
    elif method == "linear":
        # NaN-aware bilinear: interpolate values and validity, renormalise
        ok = np.isfinite(v)
        num = ndimage.map_coordinates(np.where(ok, v, 0).astype(np.float64), [r, c], order=1, mode="nearest")
        den = ndimage.map_coordinates(ok.astype(np.float64), [r, c], order=1, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[inside] = np.where(den > 0.5, num / den, np.nan)
    else:
        raise ValueError(f"unknown resampling method {method!r}")
    return out


def los_enu(
    incidence_deg: npt.NDArray[np.floating], heading_deg: float
) -> tuple[Float32Array, Float32Array, Float32Array]:
    """LOS unit vector ground → satellite (E, N, U), shape of ``incidence_deg``; right-looking SAR."""
    th = np.radians(np.asarray(incidence_deg, dtype=np.float64))
    a = math.radians(heading_deg)
    e = -np.sin(th) * math.cos(a)
    n = np.sin(th) * math.sin(a)
    u = np.cos(th)
    return e.astype(np.float32), n.astype(np.float32), u.astype(np.float32)
