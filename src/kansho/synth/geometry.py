"""Sentinel-1 viewing geometry of a simulated frame: LOS unit vectors, incidence, slant range.

A right-looking satellite at 693 km altitude over a spherical Earth. The incidence angle is
computed from each pixel's ground-range distance to the satellite track, so it grows across range
by about 0.06° per km (a full 250 km LiCSAR frame spans ~31–46°; a 20 km demo frame ~1.3°).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kansho._constants import SPEED_OF_LIGHT
from kansho._types import Float32Array
from kansho.grid import EARTH_RADIUS_KM

S1_ALTITUDE_KM = 693.0
# Heading (deg clockwise from north) of Sentinel-1 at mid latitudes, as LiCSAR metadata.txt gives it
HEADING_DEG = {"A": -12.6, "D": -167.4}


@dataclass(frozen=True)
class Geometry:
    """Per-pixel viewing geometry (all arrays (ny, nx) float32).

    ``east``, ``north``, ``up``: unit vector from the ground to the satellite (LiCSAR E/N/U).
    ``incidence``: ellipsoid incidence angle (rad). ``local_incidence``: incidence on the terrain
    slope (rad; ≤ 0 = layover, ≥ π/2 = shadow). ``slant_range``: satellite–pixel distance (m).
    ``heading``: flight direction (deg from north, clockwise). ``look_east``, ``look_north``:
    horizontal unit vector from the ground toward the satellite.
    """

    east: Float32Array
    north: Float32Array
    up: Float32Array
    incidence: Float32Array
    local_incidence: Float32Array
    slant_range: Float32Array
    heading: float
    look_east: float
    look_north: float


def los_geometry(
    x_km: Float32Array,
    y_km: Float32Array,
    hgt_m: Float32Array,
    dx_km: float,
    dy_km: float,
    orbit: str,
    incidence_center_deg: float,
) -> Geometry:
    """Viewing geometry on a grid of east/north coordinates ``x_km``, ``y_km`` (ny, nx).

    ``hgt_m`` is the DEM (for the local incidence); ``dx_km``, ``dy_km`` the pixel size.
    """
    heading = HEADING_DEG[orbit]
    az = math.radians(heading - 90.0)  # right-looking: ground -> satellite azimuth
    se, sn = math.sin(az), math.cos(az)
    re_km = EARTH_RADIUS_KM
    rs_km = re_km + S1_ALTITUDE_KM
    # ground range of the frame centre from the nadir track
    inc_c = math.radians(incidence_center_deg)
    look_c = math.asin(re_km * math.sin(inc_c) / rs_km)
    s_c = re_km * (inc_c - look_c)
    xc = float(x_km.mean())
    yc = float(y_km.mean())
    # ground range grows away from the satellite, i.e. against (se, sn)
    s = s_c - ((x_km - xc) * se + (y_km - yc) * sn)
    alpha = s / re_km
    slant = np.sqrt(re_km**2 + rs_km**2 - 2 * re_km * rs_km * np.cos(alpha))
    inc = np.arcsin(np.clip(rs_km * np.sin(alpha) / slant, -1, 1))
    east = (np.sin(inc) * se).astype(np.float32)
    north = (np.sin(inc) * sn).astype(np.float32)
    up = np.cos(inc).astype(np.float32)
    # terrain slope toward the satellite (rise per metre of ground distance toward it)
    gy, gx = np.gradient(hgt_m.astype(np.float64), dy_km * 1000.0, dx_km * 1000.0)
    # rows go south: d/d(north) = -d/d(row)
    slope_toward = gx * se - gy * sn
    local = inc - np.arctan(slope_toward)
    return Geometry(
        east=east,
        north=north,
        up=up,
        incidence=inc.astype(np.float32),
        local_incidence=local.astype(np.float32),
        slant_range=(slant * 1000.0).astype(np.float32),
        heading=heading,
        look_east=se,
        look_north=sn,
    )


def critical_baseline(
    wavelength: float, slant_range_m: Float32Array, local_incidence: Float32Array, bandwidth_hz: float
) -> Float32Array:
    """Critical perpendicular baseline B⊥c = λ·R·tan(θ_local)·B_w / c (m), Zebker & Villasenor 1992.

    Slopes facing the radar (small local incidence) shrink it; shape as the inputs.
    """
    th = np.clip(local_incidence, math.radians(0.5), math.radians(89.5))
    return (wavelength * slant_range_m * np.tan(th) * bandwidth_hz / SPEED_OF_LIGHT).astype(np.float32)


def topo_phase_factor(slant_range_m: Float32Array, incidence: Float32Array, dem_error_m: Float32Array) -> Float32Array:
    """Apparent LOS displacement (mm) per metre of B⊥ caused by a DEM error.

    A height error δh gives the interferometric phase 4π·B⊥·δh / (λ·R·sin θ) (Hanssen 2001); in
    mm of LOS displacement that is −1000·B⊥·δh / (R·sin θ) by the phase ↔ mm convention, so the
    factor returned is −1000·δh / (R·sin θ). Multiply by an epoch's B⊥ (m); shape (ny, nx).
    """
    return (-1000.0 * dem_error_m / (slant_range_m * np.sin(incidence))).astype(np.float32)
