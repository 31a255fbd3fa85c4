"""Synthetic topography, water bodies and land cover.

The landscape has a mountain range in the north-west (fractal relief, Huang & Turcotte-like
power-law spectrum), a volcano that hosts the inflating source, a lowland plain with a city to
the south-east and the sea beyond a ragged coastline in the south-east corner, plus a mountain
lake in the north-east. Land cover follows the terrain: urban around the city and a few towns in
the lowland, forest on high or steep ground, cropland elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from kansho._types import BoolArray, Float32Array, FloatArray
from kansho.synth._fields import power_law_field, smooth_noise, smoothstep

WATER, URBAN, CROPLAND, FOREST = 0, 1, 2, 3
LANDCOVER_NAMES = ("water", "urban", "cropland", "forest")

# Feature anchors as (row, col) fractions of the frame; shared with the deformation model.
CITY = (0.62, 0.52)
VOLCANO = (0.30, 0.27)
BASIN = (0.80, 0.22)
LAKE = (0.18, 0.80)
FAULT = (0.30, 0.62)


@dataclass(frozen=True)
class Terrain:
    """DEM (m, float32), water mask (bool), land cover (uint8 codes, :data:`LANDCOVER_NAMES`),
    slope (deg), the frame's size scale ``size_km`` and the feature centres in km."""

    hgt: Float32Array
    water: npt.NDArray[np.bool_]
    landcover: npt.NDArray[np.uint8]
    slope_deg: Float32Array
    size_km: float
    city_km: tuple[float, float]
    volcano_km: tuple[float, float]
    basin_km: tuple[float, float]


def coords_km(shape: tuple[int, int], dx_km: float, dy_km: float) -> tuple[Float32Array, Float32Array]:
    """East (x) and north (y) coordinates of pixel centres in km from the top-left corner.

    y is negative going south (rows). Shapes (ny, nx), float32.
    """
    ny, nx = shape
    x = (np.arange(nx, dtype=np.float32) + 0.5) * dx_km
    y = -(np.arange(ny, dtype=np.float32) + 0.5) * dy_km
    return np.broadcast_to(x[None, :], shape).copy(), np.broadcast_to(y[:, None], shape).copy()


def anchor_km(frac: tuple[float, float], shape: tuple[int, int], dx_km: float, dy_km: float) -> tuple[float, float]:
    """(x_km, y_km) of a (row, col) fraction of the frame."""
    return (frac[1] * shape[1] * dx_km, -frac[0] * shape[0] * dy_km)


def make_terrain(
    shape: tuple[int, int],
    dx_km: float,
    dy_km: float,
    max_elevation: float,
    water_fraction: float,
    rng: np.random.Generator,
) -> Terrain:
    """Build the DEM, water mask and land cover of a frame (see the module docstring).

    The relief is ``max_elevation`` for frames of 20 km or more and scales down linearly for
    smaller ones, so small test frames do not get cliffs. Heights are ≥ 0; the sea is 0 m.
    """
    ny, nx = shape
    size_km = float(min(ny * dy_km, nx * dx_km))
    relief = max_elevation * min(1.0, size_km / 20.0)
    x, y = coords_km(shape, dx_km, dy_km)
    u = (np.arange(nx, dtype=np.float32)[None, :] + 0.5) / nx  # 0 west .. 1 east
    v = (np.arange(ny, dtype=np.float32)[:, None] + 0.5) / ny  # 0 north .. 1 south
    # the random draws happen in this order: relief, sea, lake, land cover
    h = _relief(x, y, u, v, dx_km, dy_km, size_km, relief, rng)
    sea_frac = 0.65 * water_fraction
    lake_frac = water_fraction - sea_frac
    water = np.zeros(shape, dtype=bool)
    if sea_frac > 0:
        h, sea = _add_sea(h, u, v, sea_frac, dx_km, dy_km, size_km, rng)
        water |= sea
    if lake_frac > 0:
        h, lake = _add_lake(h, x, y, water, lake_frac, dx_km, dy_km, size_km, rng)
        water |= lake
    h = h.astype(np.float32)
    lc, slope, (cx, cy) = _landcover(h, x, y, water, dx_km, dy_km, size_km, relief, rng)
    bx, by = anchor_km(BASIN, shape, dx_km, dy_km)
    vx2, vy2 = anchor_km(VOLCANO, shape, dx_km, dy_km)
    return Terrain(
        hgt=np.asarray(h, dtype=np.float32),
        water=water,
        landcover=lc,
        slope_deg=slope,
        size_km=size_km,
        city_km=(cx, cy),
        volcano_km=(vx2, vy2),
        basin_km=(bx, by),
    )


def _relief(
    x: Float32Array, y: Float32Array, u: FloatArray, v: FloatArray,
    dx_km: float, dy_km: float, size_km: float, relief: float, rng: np.random.Generator,
) -> FloatArray:
    """DEM (m, shape of ``x``): regional trend (high NW) + fractal relief + volcano, in [0, relief].

    ``x``/``y`` are pixel coordinates (km), ``u``/``v`` the column/row fractions (0 west/north .. 1).
    """
    shape = x.shape
    fract = power_law_field(shape, dx_km, dy_km, 3.4, rng, outer_km=max(30.0, 2 * size_km))
    ridges = 1.0 - np.abs(power_law_field(shape, dx_km, dy_km, 3.0, rng, outer_km=max(30.0, 2 * size_km)))
    t = np.clip(1.15 - 0.95 * (u + v), 0.0, 1.0)  # mountainousness: 1 in the NW, 0 in the SE
    h = 0.55 * t**1.4 + 0.18 * (0.25 + t) * fract + 0.12 * t * ridges
    vx, vy = anchor_km(VOLCANO, shape, dx_km, dy_km)
    r_v = np.hypot(x - vx, y - vy)
    sig_v = float(np.clip(0.12 * size_km, 0.4, 6.0))
    h = h + 0.45 * np.exp(-0.5 * (r_v / sig_v) ** 2)
    h = h - np.percentile(h, 2)
    h = np.clip(h, 0.0, None)
    return h / max(float(h.max()), 1e-9) * relief


def _add_sea(
    h: FloatArray, u: FloatArray, v: FloatArray, sea_frac: float, dx_km: float, dy_km: float, size_km: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, BoolArray]:
    """Sea beyond a ragged coastline in the SE corner (``sea_frac`` of the frame): the new DEM
    (heights go to 0 m across a coastal plain) and the sea mask."""
    ny, nx = h.shape
    coast = (u + v) + 0.06 * smooth_noise(h.shape, max(4.0, min(ny, nx) / 8), rng)
    thr = np.quantile(coast, 1.0 - sea_frac)
    sea = coast > thr
    # coastal plain: heights go to 0 at the shore
    dist = ndimage.distance_transform_edt(~sea, sampling=(dy_km, dx_km)).astype(np.float32)
    h = h * smoothstep(dist, 0.0, max(0.5, 0.15 * size_km)).astype(np.float32)
    h[sea] = 0.0
    return h, sea


def _add_lake(
    h: FloatArray, x: Float32Array, y: Float32Array, water: BoolArray, lake_frac: float, dx_km: float, dy_km: float,
    size_km: float, rng: np.random.Generator,
) -> tuple[FloatArray, BoolArray]:
    """A mountain lake in the NE (``lake_frac`` of the frame, outside ``water``): the new DEM
    (flat lake at its level, shores blended down to it) and the lake mask."""
    ny, nx = h.shape
    lx, ly = anchor_km(LAKE, h.shape, dx_km, dy_km)
    ang = rng.uniform(0, np.pi)
    ca, sa = np.cos(ang), np.sin(ang)
    xr = (x - lx) * ca + (y - ly) * sa
    yr = -(x - lx) * sa + (y - ly) * ca
    ell = np.hypot(xr / 1.6, yr) * (1.0 + 0.15 * smooth_noise(h.shape, max(3.0, min(ny, nx) / 15), rng))
    ell[water] = np.inf
    thr = np.quantile(ell, lake_frac)
    lake = ell <= thr
    lab, n = ndimage.label(lake)
    if n > 1:  # keep the main body
        sizes = ndimage.sum(lake, lab, index=np.arange(1, n + 1))
        lake = lab == (1 + int(np.argmax(sizes)))
    if lake.any():
        level = float(np.percentile(h[lake], 20))
        h[lake] = level
        # shore: blend the surrounding terrain down to the lake level within a few pixels
        d = ndimage.distance_transform_edt(~lake, sampling=(dy_km, dx_km)).astype(np.float32)
        w = smoothstep(d, 0.0, max(0.3, 0.03 * size_km)).astype(np.float32)
        h = np.where(lake, level, level + (h - level) * w)
    return h, lake


def _landcover(
    h: Float32Array, x: Float32Array, y: Float32Array, water: BoolArray,
    dx_km: float, dy_km: float, size_km: float, relief: float, rng: np.random.Generator,
) -> tuple[npt.NDArray[np.uint8], Float32Array, tuple[float, float]]:
    """Land cover codes (urban around the city and three lowland towns, forest on high or steep
    ground, cropland elsewhere, water), the slope (deg) and the city centre (x_km, y_km)."""
    ny, nx = h.shape
    shape = h.shape
    gy, gx = np.gradient(h.astype(np.float64), dy_km * 1000.0, dx_km * 1000.0)
    slope = np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)
    lc = np.full(shape, CROPLAND, dtype=np.uint8)
    forest_line = 0.12 * relief * (1.0 + 0.6 * smooth_noise(shape, max(3.0, min(ny, nx) / 12), rng))
    lc[(h > forest_line) | (slope > 18.0)] = FOREST
    cx, cy = anchor_km(CITY, shape, dx_km, dy_km)
    r_city = float(np.clip(0.13 * size_km, 0.6, 8.0))
    rc = np.hypot(x - cx, y - cy) / r_city * (1.0 + 0.25 * smooth_noise(shape, max(3.0, min(ny, nx) / 20), rng))
    urban = rc < 1.0
    # a few towns in the lowland
    low = (~water) & (h < 0.15 * max(relief, 1.0)) & (rc > 1.5)
    cand = np.flatnonzero(low.ravel())
    r_town = float(np.clip(0.035 * size_km, 0.2, 2.0))
    for _ in range(3 if cand.size else 0):
        k = int(cand[rng.integers(cand.size)])
        ty, tx = divmod(k, nx)
        urban |= np.hypot(x - x[ty, tx], y - y[ty, tx]) < r_town * rng.uniform(0.6, 1.4)
    lc[urban & (slope < 25.0)] = URBAN
    lc[water] = WATER
    return lc, slope, (cx, cy)
