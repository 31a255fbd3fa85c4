"""Rigid plate rotation seen by InSAR: ITRF plate motion models, ``v = ω × r`` and its LOS projection.

Satellite orbits (Sentinel-1's precise orbits, and with them LiCSAR's interferograms) are given in an
ITRF, a no-net-rotation frame, so a frame on a moving plate sees the plate's rigid rotation as a
long-wavelength LOS velocity gradient (Stephenson et al. 2022, *GRL* 49, e2022GL099835: up to a few
mm/yr per 100 km on frames of several hundred km). Removing the LOS projection of the plate's
velocity puts the velocities in the plate's own frame.

Models (data transcribed from the papers' Table 1, Cartesian rotation rates in mas/yr):

* ITRF2014-PMM — Altamimi, Métivier, Rebischung, Rouby & Collilieux 2017, *GJI* 209(3):1906-1912,
  doi:10.1093/gji/ggx136, 11 plates.
* ITRF2020-PMM — Altamimi, Métivier, Rebischung, Collilieux, Chanard & Barnéoud 2023, *GRL* 50,
  e2023GL106373, doi:10.1029/2023GL106373, 13 plates (adds AMUR and CARB). Its rates are also
  distributed by the ITRF centre (IGN) as ``ITRF2020-PMM.dat`` in deg/Myr (1 deg/Myr = 3.6 mas/yr);
  the two agree to their rounding (checked in tests/test_plate.py).

Origin rate bias (ORB, a translation rate in mm/yr between the ITRF origin and the centre of the
plates' motion): ITRF2014-PMM was adopted without one (its estimate, 0.30 ± 0.18 mm/yr in Z, was
not significant); ITRF2020-PMM has a significant ORB (0.37, 0.35, 0.74) mm/yr, which its authors
advise adding to the *horizontal* velocities predicted by the poles, discarding its vertical part.
:func:`rotation_velocity_enu` does exactly that when given ``orb``. A translation is nearly uniform
over a frame, so it changes the removed *gradient* by ≲ 0.01 mm/yr.

Geometry: ``r`` is the position on the GRS80 ellipsoid (height 0) or, with ``sphere=True``, on a
sphere of the mean Earth radius R = 6371.0088 km. The horizontal speeds of the two differ by at
most ~0.5 % (the ellipsoid's radius varies by 0.3 % from the mean and its normal is tilted from the
geocentric radius by up to 0.19°); on the ellipsoid ``ω × r`` also has a component along the
ellipsoidal normal of at most e²·|v|/2 ≈ 0.3 % of the speed (≈ 0.1 mm/yr), zero on the sphere.

Sign and reference: LOS velocity is ``v · û`` with û the ground → satellite unit vector (Kansho's
``los_e/los_n/los_u``), positive toward the satellite, mm/yr. InSAR velocities are relative to the
run's reference area, so only the plate velocity *relative to the same area* can be removed:
:func:`reference_to_area` subtracts its mean over the reference pixels, and what the correction
removes is the plate motion's gradient across the frame, not its (≈ 20-70 mm/yr) absolute value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._types import BoolArray, Float64Array

__all__ = [
    "GRS80_A",
    "GRS80_F",
    "MAS_PER_DEG_PER_MYR",
    "MEAN_EARTH_RADIUS",
    "MODELS",
    "PlateRate",
    "enu_to_los",
    "geodetic_to_ecef",
    "omega_to_pole",
    "plate_los_velocity",
    "plate_omega",
    "pole_to_omega",
    "reference_to_area",
    "remove_from_series",
    "rotation_velocity_enu",
]

#: GRS80 ellipsoid (the ITRF's): semi-major axis (m) and flattening
GRS80_A = 6378137.0
GRS80_F = 1.0 / 298.257222101
_E2 = GRS80_F * (2.0 - GRS80_F)
#: IUGG mean Earth radius R1 = (2a + b) / 3 of GRS80 (m), for ``sphere=True``
MEAN_EARTH_RADIUS = 6371008.7714
#: 1 deg/Myr in mas/yr (3600 arcsec/deg · 1000 mas/arcsec / 1e6 yr)
MAS_PER_DEG_PER_MYR = 3.6
#: 1 mas in radians
_MAS_TO_RAD = np.pi / (180.0 * 3600.0 * 1000.0)


@dataclass(frozen=True)
class PlateRate:
    """One plate of a model: name, number of sites, Cartesian rotation rate (mas/yr), and the
    published total rate ``omega`` (deg/Myr), kept to check the transcription."""

    name: str
    n_sites: int
    wx: float
    wy: float
    wz: float
    omega: float

    @property
    def omega_mas(self) -> Float64Array:
        """``(ωx, ωy, ωz)`` in mas/yr, shape (3,)."""
        return np.array([self.wx, self.wy, self.wz], np.float64)


@dataclass(frozen=True)
class PlateModel:
    """A plate motion model: its reference, the plates by abbreviation, its origin rate bias (mm/yr)."""

    name: str
    reference: str
    plates: dict[str, PlateRate]
    orb: tuple[float, float, float]


#: Altamimi et al. 2017, *GJI* 209(3):1906, Table 1 (ITRF2014-PMM); adopted without an ORB
_ITRF2014 = PlateModel(
    name="ITRF2014-PMM",
    reference="Altamimi, Métivier, Rebischung, Rouby & Collilieux 2017, GJI 209(3):1906-1912, "
              "doi:10.1093/gji/ggx136, Table 1",
    plates={
        "ANTA": PlateRate("Antarctica", 7, -0.248, -0.324, 0.675, 0.219),
        "ARAB": PlateRate("Arabia", 5, 1.154, -0.136, 1.444, 0.515),
        "AUST": PlateRate("Australia", 36, 1.510, 1.182, 1.215, 0.631),
        "EURA": PlateRate("Eurasia", 97, -0.085, -0.531, 0.770, 0.261),
        "INDI": PlateRate("India", 3, 1.154, -0.005, 1.454, 0.516),
        "NAZC": PlateRate("Nazca", 2, -0.333, -1.544, 1.623, 0.629),
        "NOAM": PlateRate("North America", 72, 0.024, -0.694, -0.063, 0.194),
        "NUBI": PlateRate("Nubia", 24, 0.099, -0.614, 0.733, 0.267),
        "PCFC": PlateRate("Pacific", 18, -0.409, 1.047, -2.169, 0.679),
        "SOAM": PlateRate("South America", 30, -0.270, -0.301, -0.140, 0.119),
        "SOMA": PlateRate("Somalia", 3, -0.121, -0.794, 0.884, 0.332),
    },
    orb=(0.0, 0.0, 0.0),
)

#: Altamimi et al. 2023, *GRL* 50, e2023GL106373, Table 1 (ITRF2020-PMM); ORB (Tx, Ty, Tz) from its abstract/Table 1
_ITRF2020 = PlateModel(
    name="ITRF2020-PMM",
    reference="Altamimi, Métivier, Rebischung, Collilieux, Chanard & Barnéoud 2023, GRL 50, e2023GL106373, "
              "doi:10.1029/2023GL106373, Table 1",
    plates={
        "AMUR": PlateRate("Amur", 3, -0.131, -0.551, 0.837, 0.281),
        "ANTA": PlateRate("Antarctica", 15, -0.269, -0.312, 0.678, 0.220),
        "ARAB": PlateRate("Arabia", 3, 1.129, -0.146, 1.438, 0.509),
        "AUST": PlateRate("Australia", 118, 1.487, 1.175, 1.223, 0.627),
        "CARB": PlateRate("Caribbean", 5, 0.207, -1.422, 0.726, 0.447),
        "EURA": PlateRate("Eurasia", 143, -0.085, -0.519, 0.753, 0.255),
        "INDI": PlateRate("India", 4, 1.137, 0.013, 1.444, 0.511),
        "NAZC": PlateRate("Nazca", 3, -0.327, -1.561, 1.605, 0.629),
        "NOAM": PlateRate("North America", 108, 0.045, -0.666, -0.098, 0.187),
        "NUBI": PlateRate("Nubia", 31, 0.090, -0.585, 0.717, 0.258),
        "PCFC": PlateRate("Pacific", 20, -0.404, 1.021, -2.154, 0.672),
        "SOAM": PlateRate("South America", 59, -0.261, -0.282, -0.157, 0.115),
        "SOMA": PlateRate("Somalia", 6, -0.081, -0.719, 0.864, 0.313),
    },
    orb=(0.37, 0.35, 0.74),
)

#: the plate motion models by their command-line name
MODELS: dict[str, PlateModel] = {"itrf2014": _ITRF2014, "itrf2020": _ITRF2020}


def plate_omega(plate: str, model: str = "itrf2014") -> Float64Array:
    """Rotation rate ``(ωx, ωy, ωz)`` (mas/yr, shape (3,)) of ``plate`` (abbreviation, e.g. ``"EURA"``,
    case-insensitive) in ``model`` (``"itrf2014"`` or ``"itrf2020"``).

    Raises ``KeyError`` (message names the valid choices) for an unknown model or plate.
    """
    m = MODELS.get(model.lower())
    if m is None:
        raise KeyError(f"unknown plate motion model {model!r}; choose from {', '.join(MODELS)}")
    p = m.plates.get(plate.upper())
    if p is None:
        raise KeyError(f"plate {plate!r} is not in {m.name}; choose from {', '.join(m.plates)}")
    return p.omega_mas


def pole_to_omega(lat: float, lon: float, rate: float) -> Float64Array:
    """Euler pole (latitude, longitude in degrees; rotation rate in deg/Myr, positive counter-clockwise
    seen from above the pole) → Cartesian rotation rate ``(ωx, ωy, ωz)`` in mas/yr, shape (3,).

    ``ω = rate · (cos φ cos λ, cos φ sin λ, sin φ)`` with φ, λ the pole's geocentric latitude and
    longitude (Cox & Hart 1986, *Plate Tectonics: How It Works*, ch. 4).
    """
    if not (-90.0 <= lat <= 90.0) or not np.isfinite([lat, lon, rate]).all():
        raise ValueError(f"pole ({lat}, {lon}, {rate}): latitude must be in [-90, 90] and all values finite")
    phi, lam = np.radians(lat), np.radians(lon)
    unit = np.array([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    return np.asarray(rate * MAS_PER_DEG_PER_MYR * unit, np.float64)


def omega_to_pole(omega: npt.ArrayLike) -> tuple[float, float, float]:
    """Cartesian rotation rate (mas/yr, shape (3,)) → Euler pole (lat deg, lon deg, rate deg/Myr ≥ 0)."""
    w = np.asarray(omega, np.float64).reshape(3)
    rate = float(np.linalg.norm(w))
    if rate == 0.0:
        return 0.0, 0.0, 0.0
    lat = float(np.degrees(np.arctan2(w[2], np.hypot(w[0], w[1]))))
    lon = float(np.degrees(np.arctan2(w[1], w[0])))
    return lat, lon, rate / MAS_PER_DEG_PER_MYR


def geodetic_to_ecef(lon: npt.ArrayLike, lat: npt.ArrayLike, h: npt.ArrayLike = 0.0, *,
                     sphere: bool = False) -> tuple[Float64Array, Float64Array, Float64Array]:
    """Earth-centred Cartesian coordinates (m) of geodetic lon/lat (degrees) and height ``h`` (m).

    On GRS80: ``X = (N + h) cos φ cos λ``, ``Y = (N + h) cos φ sin λ``, ``Z = (N (1 - e²) + h) sin φ``
    with ``N = a / sqrt(1 - e² sin² φ)``. With ``sphere=True`` the latitude is taken as geocentric on
    a sphere of :data:`MEAN_EARTH_RADIUS`. Arrays broadcast; each output has their common shape.
    """
    phi = np.radians(np.asarray(lat, np.float64))
    lam = np.radians(np.asarray(lon, np.float64))
    hh = np.asarray(h, np.float64)
    if sphere:
        r = MEAN_EARTH_RADIUS + hh
        return r * np.cos(phi) * np.cos(lam), r * np.cos(phi) * np.sin(lam), r * np.sin(phi) + 0.0 * lam
    n = GRS80_A / np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    return ((n + hh) * np.cos(phi) * np.cos(lam), (n + hh) * np.cos(phi) * np.sin(lam),
            (n * (1.0 - _E2) + hh) * np.sin(phi) + 0.0 * lam)


def rotation_velocity_enu(lon: npt.ArrayLike, lat: npt.ArrayLike, omega: npt.ArrayLike, *, sphere: bool = False,
                          orb: npt.ArrayLike | None = None) -> tuple[Float64Array, Float64Array, Float64Array]:
    """East, north, up velocity (mm/yr) of a rigid rotation ``ω`` at geodetic lon/lat (degrees).

    ``v = ω × r`` (r from :func:`geodetic_to_ecef`, height 0) rotated into the local frame of the
    geodetic normal; the model's origin rate bias ``orb`` (Tx, Ty, Tz in mm/yr), when given, is added
    to the east and north components only (Altamimi et al. 2023: its vertical part is discarded)::

        v_e = -sin λ·vx + cos λ·vy
        v_n = -sin φ cos λ·vx - sin φ sin λ·vy + cos φ·vz
        v_u =  cos φ cos λ·vx + cos φ sin λ·vy + sin φ·vz

    ``omega`` is ``(ωx, ωy, ωz)`` in mas/yr (as the ITRF tables; :func:`pole_to_omega` for a pole).
    The up component of a rotation is exactly 0 on the sphere and at most ~0.3 % of the speed on the
    ellipsoid. lon/lat broadcast; outputs float64 of their common shape.
    """
    w = np.asarray(omega, np.float64).reshape(3) * _MAS_TO_RAD * 1000.0  # rad/yr, times 1000: m -> mm
    x, y, z = geodetic_to_ecef(lon, lat, sphere=sphere)
    vx = w[1] * z - w[2] * y
    vy = w[2] * x - w[0] * z
    vz = w[0] * y - w[1] * x
    phi = np.radians(np.asarray(lat, np.float64))
    lam = np.radians(np.asarray(lon, np.float64))
    sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    ve = -sl * vx + cl * vy
    vn = -sp * cl * vx - sp * sl * vy + cp * vz
    vu = cp * cl * vx + cp * sl * vy + sp * vz
    if orb is not None:
        tx, ty, tz = (float(v) for v in np.asarray(orb, np.float64).reshape(3))
        ve = ve + (-sl * tx + cl * ty)
        vn = vn + (-sp * cl * tx - sp * sl * ty + cp * tz)
    return ve, vn, vu


def enu_to_los(ve: npt.ArrayLike, vn: npt.ArrayLike, vu: npt.ArrayLike, los_e: npt.ArrayLike,
               los_n: npt.ArrayLike, los_u: npt.ArrayLike) -> Float64Array:
    """LOS component ``v · û`` (units of v) of an east/north/up velocity, û the ground → satellite unit
    vector (LiCSAR's E/N/U): positive toward the satellite, Kansho's sign. Arrays broadcast;
    NaN where the LOS is unknown."""
    return np.asarray(np.asarray(ve, np.float64) * np.asarray(los_e, np.float64)
                      + np.asarray(vn, np.float64) * np.asarray(los_n, np.float64)
                      + np.asarray(vu, np.float64) * np.asarray(los_u, np.float64))


def reference_to_area(field: npt.ArrayLike, ref: BoolArray) -> Float64Array:
    """``field`` minus its mean over the reference pixels ``ref`` (bool, same (ny, nx) shape), NaN ignored.

    InSAR velocities are zero on average over the reference area; a model velocity subtracted from
    them must be referred to the same area, or the correction adds a constant the data never had.
    Raises ``ValueError`` when no reference pixel has a finite value.
    """
    f = np.asarray(field, np.float64)
    r = np.asarray(ref, bool)
    if r.shape != f.shape:
        raise ValueError(f"reference mask {r.shape} does not match the field {f.shape}")
    vals = f[r & np.isfinite(f)]
    if vals.size == 0:
        raise ValueError("no reference pixel has a finite value")
    return f - float(vals.mean())


def plate_los_velocity(lon: npt.ArrayLike, lat: npt.ArrayLike, los_e: npt.ArrayLike, los_n: npt.ArrayLike,
                       los_u: npt.ArrayLike, omega: npt.ArrayLike, ref: BoolArray, *, sphere: bool = False,
                       orb: npt.ArrayLike | None = None) -> tuple[Float64Array, Float64Array]:
    """LOS velocity (mm/yr) of the rigid rotation ``omega`` (mas/yr) over a frame, and the same relative to
    the reference area.

    ``lon`` (nx,) and ``lat`` (ny,) are the pixel-centre coordinates (degrees) of a north-up grid, or
    both (ny, nx); ``los_*`` (ny, nx) the ground → satellite unit vector; ``ref`` (ny, nx) bool the
    reference pixels. Returns ``(absolute, relative)``, both (ny, nx) float64, NaN where the LOS is
    unknown; ``relative`` is what to subtract from the run's velocities (:func:`reference_to_area`).
    """
    le = np.asarray(los_e, np.float64)
    lo, la = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    if lo.ndim == 1 and la.ndim == 1:
        lo, la = np.meshgrid(lo, la)
    if lo.shape != le.shape or la.shape != le.shape:
        raise ValueError(f"lon/lat {lo.shape} do not match the LOS grid {le.shape}")
    ve, vn, vu = rotation_velocity_enu(lo, la, omega, sphere=sphere, orb=orb)
    absolute = enu_to_los(ve, vn, vu, le, los_n, los_u)
    return absolute, reference_to_area(absolute, ref)


def remove_from_series(cum: npt.ArrayLike, t: npt.ArrayLike, vel: npt.ArrayLike) -> Float64Array:
    """``cum - vel · t``: a series (n_epoch, ...) in mm without the linear motion ``vel`` (mm/yr, shape
    ``cum.shape[1:]``) at times ``t`` (n_epoch,) in years from the first epoch (so the first epoch, 0 by
    construction, stays 0). NaN in ``vel`` leaves NaN."""
    c = np.asarray(cum, np.float64)
    tt = np.asarray(t, np.float64).reshape((-1,) + (1,) * (c.ndim - 1))
    if tt.shape[0] != c.shape[0]:
        raise ValueError(f"{tt.shape[0]} times for {c.shape[0]} epochs")
    return np.asarray(c - tt * np.asarray(vel, np.float64))
