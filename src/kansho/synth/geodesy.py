"""One 3-D deformation field seen by an ascending and a descending track and by GNSS stations.

The field (east, north, up velocities in mm/yr, analytic in local km from the scene centre):

* a **fault-parallel shear zone**: ``v_∥ = (V/π)·arctan(d/D)`` across a vertical strike-slip fault
  locked above depth ``D`` (Savage & Burford 1973, *JGR* 78:832), ``d`` the signed distance to
  the trace; peak shear strain rate ``V/(2πD)`` on the trace;
* a **Mogi source** (Mogi 1958) with vertical and radial horizontal motion;
* a uniform regional translation; an annual vertical signal.

Each track sees it through its own LOS unit vectors (:func:`kansho.synth.geometry.los_geometry`,
Sentinel-1 headings) on its own grid (the descending grid is shifted and sized differently, as
real tracks are). InSAR errors are known: a spatially correlated velocity error (``vel_noise``)
and a per-epoch correlated displacement noise (``ts_noise``). Rather than simulating and
inverting interferograms (slow), the outputs of a time-series run that the geodesy tools read
are built directly from truth + noise: ``results/vel.tif``, ``vstd.tif``, ``mask.tif``,
``cum.h5`` and a geometry ``stack.zarr`` holding the LOS vectors. GNSS stations get daily
positions with white noise. Everything realised is returned, so tests compare with truth.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import zarr
from pydantic import BaseModel, ConfigDict, Field

from kansho._dates import from_ordinal, parse_date, to_ordinal, years_since_first
from kansho._types import Float32Array, Float64Array
from kansho._version import __version__
from kansho.geodesy.compare import local_km
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.io.gnss import GnssSeries, StationVelocities, write_station_csv, write_tenv3
from kansho.io.licsbas_h5 import write_cum_h5
from kansho.layout import RunLayout
from kansho.synth._fields import smooth_noise
from kansho.synth.config import S1_WAVELENGTH_M
from kansho.synth.deformation import linear_fit_rate, mogi_enu
from kansho.synth.geometry import los_geometry

__all__ = [
    "GeodesySimConfig",
    "SimTrack",
    "enu_velocity",
    "epochs",
    "fault_distance_km",
    "fault_geometry",
    "gnss_from_frame",
    "peak_shear_rate",
    "scene_grid",
    "seasonal_up",
    "simulate_gnss",
    "simulate_track",
    "track_grid",
    "write_geometry_stack",
    "write_gnss",
    "write_track_run",
]


class GeodesySimConfig(BaseModel):
    """Options of the geodetic scene (defaults: a 64 × 64 km scene with a 20 mm/yr shear zone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shape: tuple[int, int] = Field(default=(64, 64), description="(rows, cols) of the ascending grid")
    posting_deg: float = Field(default=0.01, gt=0, le=0.1, description="pixel size (deg)")
    lon0: float = Field(default=35.0, description="longitude of the ascending grid's top-left corner")
    lat0: float = Field(default=39.6, description="latitude of the ascending grid's top-left corner")
    desc_shift_px: tuple[float, float] = Field(
        default=(1.4, -2.3), description="(rows, cols) shift of the descending grid"
    )
    desc_shape: tuple[int, int] = Field(default=(62, 67), description="(rows, cols) of the descending grid")
    start_date: int = Field(default=20180105, description="first epoch (yyyymmdd)")
    n_epoch: int = Field(default=61, ge=4, description="epochs per track")
    interval_days: int = Field(default=12, ge=1, description="epoch spacing (days)")
    shear_velocity: float = Field(default=20.0, description="total fault-parallel velocity V across the zone (mm/yr)")
    locking_depth_km: float = Field(default=6.0, gt=0, description="locking depth D (km)")
    fault_strike_deg: float = Field(default=60.0, description="fault strike (deg clockwise from north)")
    fault_point_frac: tuple[float, float] = Field(default=(0.5, 0.45), description="(row, col) fraction on the trace")
    mogi_rate: float = Field(default=-25.0, description="vertical rate above the Mogi source (mm/yr)")
    mogi_depth_km: float = Field(default=5.0, gt=0, description="Mogi source depth (km)")
    mogi_frac: tuple[float, float] = Field(default=(0.28, 0.72), description="(row, col) fraction of the source")
    regional: tuple[float, float] = Field(default=(4.0, -2.0), description="uniform (east, north) velocity (mm/yr)")
    seasonal_up: float = Field(default=3.0, ge=0, description="annual vertical amplitude (mm)")
    vel_noise: float = Field(default=1.5, ge=0, description="std of the correlated InSAR velocity error (mm/yr)")
    vel_noise_km: float = Field(default=10.0, gt=0, description="correlation length of the velocity error (km)")
    ts_noise: float = Field(default=3.0, ge=0, description="std of the per-epoch InSAR displacement noise (mm)")
    ts_noise_km: float = Field(default=6.0, gt=0, description="correlation length of the per-epoch noise (km)")
    incidence_asc: float = Field(default=39.0, description="ascending incidence at the centre (deg)")
    incidence_desc: float = Field(default=36.0, description="descending incidence at the centre (deg)")
    n_gnss: int = Field(default=20, ge=0, description="number of GNSS stations")
    gnss_sigma_h: float = Field(default=1.0, gt=0, description="daily horizontal position noise (mm)")
    gnss_sigma_u: float = Field(default=3.0, gt=0, description="daily vertical position noise (mm)")
    gnss_margin_days: int = Field(default=90, ge=0, description="GNSS data before/after the InSAR span (days)")


def scene_grid(cfg: GeodesySimConfig) -> Grid:
    """The ascending track's grid (also the scene's reference for local km)."""
    ny, nx = cfg.shape
    p = cfg.posting_deg
    return Grid(nx, ny, (cfg.lon0, p, 0.0, cfg.lat0, 0.0, -p))


def track_grid(cfg: GeodesySimConfig, orbit: str) -> Grid:
    """Grid of track ``orbit`` ("A" or "D")."""
    if orbit == "A":
        return scene_grid(cfg)
    ny, nx = cfg.desc_shape
    p = cfg.posting_deg
    dr, dc = cfg.desc_shift_px
    return Grid(nx, ny, (cfg.lon0 + dc * p, p, 0.0, cfg.lat0 - dr * p, 0.0, -p))


def _frac_km(cfg: GeodesySimConfig, frac: tuple[float, float]) -> tuple[float, float]:
    g = scene_grid(cfg)
    lon = g.transform[0] + frac[1] * g.width * g.dx
    lat = g.transform[3] + frac[0] * g.height * g.dy
    x, y = local_km(g, lon, lat)
    return float(x), float(y)


def fault_geometry(cfg: GeodesySimConfig) -> tuple[float, float, float, float]:
    """(x0, y0, strike_e, strike_n): a point of the fault trace (local km) and its strike unit vector."""
    x0, y0 = _frac_km(cfg, cfg.fault_point_frac)
    a = math.radians(cfg.fault_strike_deg)
    return x0, y0, math.sin(a), math.cos(a)


def fault_distance_km(cfg: GeodesySimConfig, lon: npt.ArrayLike, lat: npt.ArrayLike) -> Float64Array:
    """Signed distance (km) from the fault trace (positive to the right of the strike direction)."""
    x, y = local_km(scene_grid(cfg), lon, lat)
    x0, y0, se, sn = fault_geometry(cfg)
    return (x - x0) * sn - (y - y0) * se


def peak_shear_rate(cfg: GeodesySimConfig) -> float:
    """Peak maximum-shear strain rate V/(2πD) on the trace, nanostrain/yr (mm/yr per km × 1000)."""
    return cfg.shear_velocity / (2 * math.pi * cfg.locking_depth_km) * 1000.0


def enu_velocity(
    cfg: GeodesySimConfig, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[Float64Array, Float64Array, Float64Array]:
    """True (east, north, up) velocity (mm/yr) at points (any shape)."""
    d = fault_distance_km(cfg, lon, lat)
    _, _, se, sn = fault_geometry(cfg)
    vpar = cfg.shear_velocity / math.pi * np.arctan(d / cfg.locking_depth_km)
    x, y = local_km(scene_grid(cfg), lon, lat)
    xm, ym = _frac_km(cfg, cfg.mogi_frac)
    me, mn, mu = mogi_enu(np.asarray(x, np.float64), np.asarray(y, np.float64), xm, ym, cfg.mogi_depth_km)
    ve = cfg.regional[0] + vpar * se + cfg.mogi_rate * me
    vn = cfg.regional[1] + vpar * sn + cfg.mogi_rate * mn
    vu = cfg.mogi_rate * mu + np.zeros_like(d)
    return ve.astype(np.float64), vn.astype(np.float64), vu.astype(np.float64)


def _decyear(dates: npt.ArrayLike) -> Float64Array:
    out = []
    for d in np.asarray(dates, dtype=np.int64).ravel():
        dd = parse_date(int(d))
        y0 = _dt.date(dd.year, 1, 1)
        out.append(dd.year + (dd - y0).days / 365.25)
    return np.asarray(out)


def seasonal_up(cfg: GeodesySimConfig, decyear: npt.ArrayLike) -> Float64Array:
    """Annual vertical displacement (mm) at calendar decimal years, peak in early spring."""
    return cfg.seasonal_up * np.cos(2 * math.pi * (np.asarray(decyear, dtype=np.float64) - 0.2))


def epochs(cfg: GeodesySimConfig) -> npt.NDArray[np.int64]:
    o0 = int(to_ordinal([cfg.start_date])[0])
    return from_ordinal(o0 + cfg.interval_days * np.arange(cfg.n_epoch))


@dataclass
class SimTrack:
    """One simulated track (maps (ny, nx) float32, cube (n_epoch, ny, nx) float32, LOS mm)."""

    orbit: str
    grid: Grid
    epochs: npt.NDArray[np.int64]
    los_e: Float32Array
    los_n: Float32Array
    los_u: Float32Array
    ve: Float64Array
    vn: Float64Array
    vu: Float64Array
    vel_los_true: Float32Array  # absolute (GNSS frame) LOS velocity
    vel: Float32Array  # the run's velocity (fit of cum), relative to the reference area when referenced
    vstd: Float32Array
    cum: Float32Array
    refarea: tuple[int, int, int, int]
    referenced: bool
    vel_error: Float32Array  # realised velocity error field (before referencing)
    ts_noise: Float32Array  # realised per-epoch noise cube (relative to the first epoch, before referencing)
    extra: dict[str, object] = field(default_factory=dict)


def simulate_track(cfg: GeodesySimConfig, orbit: str, rng: np.random.Generator | int,
                   *, reference: bool = True, ramp: tuple[float, float, float] | None = None) -> SimTrack:
    """Simulate the run outputs of track ``orbit`` ("A"/"D").

    ``reference``: make ``cum`` and ``vel`` relative to a 5 × 5 px reference area (as a run is);
    ``False`` keeps them in the GNSS frame (as after a tie). ``ramp`` = (a, b, c) adds
    ``a + b·x + c·y`` mm/yr (x, y local km from the scene centre) to the velocity (an orbital
    or reference-frame error, for tie tests).
    """
    rng = np.random.default_rng(rng)
    grid = track_grid(cfg, orbit)
    ny, nx = grid.shape
    lon, lat = np.meshgrid(grid.lon(), grid.lat())
    x, y = local_km(scene_grid(cfg), lon, lat)
    dx_km, dy_km = grid.pixel_size_km()
    inc = cfg.incidence_asc if orbit == "A" else cfg.incidence_desc
    geom = los_geometry(x.astype(np.float32), y.astype(np.float32), np.zeros((ny, nx), np.float32),
                        dx_km, dy_km, orbit, inc)
    ve, vn, vu = enu_velocity(cfg, lon, lat)
    vlos = (ve * geom.east + vn * geom.north + vu * geom.up).astype(np.float32)
    ep = epochs(cfg)
    t = years_since_first(ep)
    seas = seasonal_up(cfg, _decyear(ep))
    verr = (cfg.vel_noise * smooth_noise((ny, nx), cfg.vel_noise_km / dx_km, rng)).astype(np.float32)
    if ramp is not None:
        verr = verr + (ramp[0] + ramp[1] * x + ramp[2] * y).astype(np.float32)
    noise = np.stack([cfg.ts_noise * smooth_noise((ny, nx), cfg.ts_noise_km / dx_km, rng) for _ in ep])
    noise = (noise - noise[0]).astype(np.float32)
    cum = ((vlos + verr)[None] * t[:, None, None].astype(np.float32)
           + ((seas - seas[0])[:, None, None] * geom.up[None]).astype(np.float32) + noise).astype(np.float32)
    r0, c0 = 3, 3
    ref = (r0, r0 + 5, c0, c0 + 5)
    if reference:
        cum = cum - cum[:, ref[0]:ref[1], ref[2]:ref[3]].mean(axis=(1, 2))[:, None, None]
    vel = linear_fit_rate(cum, ep)
    tc = t - t.mean()
    fit_sigma = cfg.ts_noise * math.sqrt(2.0) / math.sqrt(float(np.sum(tc * tc)))
    vstd = np.full((ny, nx), math.hypot(cfg.vel_noise, fit_sigma), np.float32)
    return SimTrack(
        orbit=orbit, grid=grid, epochs=ep, los_e=geom.east, los_n=geom.north, los_u=geom.up, ve=ve, vn=vn, vu=vu,
        vel_los_true=vlos, vel=vel.astype(np.float32), vstd=vstd, cum=cum, refarea=ref, referenced=reference,
        vel_error=verr, ts_noise=noise,
    )


def write_geometry_stack(out_dir: str | Path, grid: Grid, epochs_: npt.ArrayLike,
                         los: tuple[Float32Array, Float32Array, Float32Array] | None,
                         wavelength: float = S1_WAVELENGTH_M) -> Path:
    """Write ``out_dir/stack.zarr`` with the store contract's metadata and LOS vectors.

    The pair arrays (``unw``/``coh``) exist but hold no data (fill NaN): this store carries only
    the geometry that the geodesy tools read. ``los=None`` writes NaN LOS vectors (a run without E/N/U).
    """
    out = RunLayout(Path(out_dir)).stack
    ep = np.asarray(epochs_, dtype=np.int64)
    d1, d2 = ep[:-1], ep[1:]
    g = zarr.open_group(str(out), mode="w", zarr_format=3)
    ny, nx = grid.shape
    for name in ("unw", "coh"):
        g.create_array(name, shape=(len(d1), ny, nx), chunks=(len(d1), ny, nx), dtype="f4", fill_value=np.nan,
                       dimension_names=["pair", "y", "x"])
    for name, values, dim in (("date1", d1, "pair"), ("date2", d2, "pair"), ("epoch", ep, "epoch"),
                              ("bperp", np.zeros(ep.size), "epoch"), ("lat", grid.lat(), "y"),
                              ("lon", grid.lon(), "x")):
        a = g.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=[dim])
        a[:] = values
    for i, name in enumerate(("los_e", "los_n", "los_u", "hgt")):
        a = g.create_array(name, shape=(ny, nx), dtype="f4", fill_value=np.nan, dimension_names=["y", "x"])
        if los is not None and i < 3:
            a[:] = los[i]
    g.attrs.update(
        kansho_store_version=1, grid=grid.to_dict(), wavelength=float(wavelength), nlook=1,
        source={"path": "simulated", "layout": "kansho.synth.geodesy"}, metadata={},
        provenance={"kansho_version": __version__, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                    "input_fingerprint": "synthetic"},
    )
    return out


def write_track_run(out_dir: str | Path, track: SimTrack, *, los: bool = True) -> Path:
    """Write the run outputs the geodesy tools read (``results/{vel,vstd,mask}.tif``, ``cum.h5``,
    ``stack.zarr``) under ``out_dir``; ``los=False`` leaves the LOS vectors out (NaN)."""
    out = Path(out_dir)
    lay = RunLayout(out)
    write_geotiff(lay.result_map("vel"), track.vel, track.grid, units="mm/yr")
    write_geotiff(lay.result_map("vstd"), track.vstd, track.grid, units="mm/yr")
    mask = np.ones(track.grid.shape, np.float32)
    write_geotiff(lay.result_map("mask"), mask, track.grid)
    n = track.epochs.size
    write_cum_h5(lay.cum, cum=track.cum, imdates=track.epochs, vel=track.vel,
                 vintercept=np.zeros_like(track.vel), refarea=track.refarea, grid=track.grid,
                 gap=np.zeros((n - 1, *track.grid.shape), np.int8), bperp=None, mask=mask)
    write_geometry_stack(out, track.grid, track.epochs, (track.los_e, track.los_n, track.los_u) if los else None)
    return out


def simulate_gnss(cfg: GeodesySimConfig, rng: np.random.Generator | int,
                  lonlat: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
                  ) -> tuple[list[GnssSeries], StationVelocities]:
    """Daily GNSS series at ``cfg.n_gnss`` random stations inside both tracks (or at ``lonlat``).

    Returns the series (positions in m, white noise of ``gnss_sigma_h``/``gnss_sigma_u``) and the
    stations' true velocities (sigmas: the daily noise's formal velocity sigma).
    """
    rng = np.random.default_rng(rng)
    if lonlat is None:
        ga, gd = track_grid(cfg, "A"), track_grid(cfg, "D")
        p = cfg.posting_deg
        west = max(ga.transform[0], gd.transform[0]) + 4 * p
        east = min(ga.transform[0] + ga.width * p, gd.transform[0] + gd.width * p) - 4 * p
        north = min(ga.transform[3], gd.transform[3]) - 4 * p
        south = max(ga.transform[3] - ga.height * p, gd.transform[3] - gd.height * p) + 4 * p
        lon = rng.uniform(west, east, cfg.n_gnss)
        lat = rng.uniform(south, north, cfg.n_gnss)
    else:
        lon = np.asarray(lonlat[0], dtype=np.float64)
        lat = np.asarray(lonlat[1], dtype=np.float64)
    ve, vn, vu = enu_velocity(cfg, lon, lat)
    ep = epochs(cfg)
    o0 = int(to_ordinal([ep[0]])[0]) - cfg.gnss_margin_days
    o1 = int(to_ordinal([ep[-1]])[0]) + cfg.gnss_margin_days
    days = from_ordinal(np.arange(o0, o1 + 1))
    mjd = (np.arange(o0, o1 + 1) - _dt.date(1858, 11, 17).toordinal()).astype(np.float64)
    ty = (mjd - mjd[0]) / 365.25
    seas = seasonal_up(cfg, _decyear(days))
    series = []
    names = [f"S{i:03d}" for i in range(len(lon))]
    for i in range(len(lon)):
        e = ve[i] * ty + rng.normal(0, cfg.gnss_sigma_h, ty.size)
        n = vn[i] * ty + rng.normal(0, cfg.gnss_sigma_h, ty.size)
        u = vu[i] * ty + seas + rng.normal(0, cfg.gnss_sigma_u, ty.size)
        ones = np.ones_like(ty)
        series.append(GnssSeries(
            name=names[i], lon=float(lon[i]), lat=float(lat[i]), height=100.0, mjd=mjd, east=e / 1000.0,
            north=n / 1000.0, up=u / 1000.0, sig_east=ones * cfg.gnss_sigma_h / 1000.0,
            sig_north=ones * cfg.gnss_sigma_h / 1000.0, sig_up=ones * cfg.gnss_sigma_u / 1000.0, source="simulated",
        ))
    tc = ty - ty.mean()
    k = 1.0 / math.sqrt(float(np.sum(tc * tc)))
    sh = np.full(len(lon), cfg.gnss_sigma_h * k)
    su = np.full(len(lon), cfg.gnss_sigma_u * k)
    vel = StationVelocities(names, lon, lat, np.asarray(ve), np.asarray(vn), np.asarray(vu), sh, sh.copy(), su,
                            source="simulated")
    return series, vel


def write_gnss(
    out_dir: str | Path, series: list[GnssSeries], velocities: StationVelocities | None = None
) -> list[Path]:
    """Write each series as ``<name>.tenv3`` (and the velocities as ``stations.csv``) under ``out_dir``."""
    out = Path(out_dir)
    paths = [write_tenv3(out / f"{s.name}.tenv3", s) for s in series]
    if velocities is not None:
        paths.append(write_station_csv(out / "stations.csv", velocities))
    return paths


def gnss_from_frame(truth: object, los_u: Float32Array, rows: npt.ArrayLike, cols: npt.ArrayLike,
                    rng: np.random.Generator | int, sigma_mm: float = 1.0) -> list[GnssSeries]:
    """GNSS stations on pixels of a :func:`kansho.synth.simulate_frame` frame whose truth is LOS only.

    The frame's truth is a LOS field, so each station moves vertically at ``vel_fit / l_u`` (its
    LOS projection is the truth's linear rate); daily positions over the frame's epochs with white
    noise ``sigma_mm`` on every component. ``truth`` is a :class:`kansho.synth.Truth`; ``los_u``
    the frame's (ny, nx) up component of the LOS.
    """
    rng = np.random.default_rng(rng)
    grid: Grid = truth.grid  # type: ignore[attr-defined]
    ep = np.asarray(truth.epochs)  # type: ignore[attr-defined]
    o = to_ordinal([ep[0], ep[-1]])
    mjd = (np.arange(o[0], o[1] + 1) - _dt.date(1858, 11, 17).toordinal()).astype(np.float64)
    ty = (mjd - mjd[0]) / 365.25
    out = []
    for k, (r, c) in enumerate(zip(np.asarray(rows), np.asarray(cols), strict=True)):
        vu = float(truth.vel_fit[r, c]) / float(los_u[r, c])  # type: ignore[attr-defined]
        noise = rng.normal(0, sigma_mm, (3, ty.size)) / 1000.0
        sig = np.full(ty.size, sigma_mm / 1000.0)
        out.append(GnssSeries(
            name=f"F{k:03d}", lon=float(grid.lon()[c]), lat=float(grid.lat()[r]), height=0.0, mjd=mjd,
            east=noise[0], north=noise[1], up=vu * ty / 1000.0 + noise[2], sig_east=sig, sig_north=sig.copy(),
            sig_up=sig.copy(), source="simulated from frame truth",
        ))
    return out
