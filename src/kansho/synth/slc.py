"""Simulator of a coregistered SLC stack with known truth (input of ``kansho ifg``).

Every pixel's n_epoch complex values are circular-Gaussian speckle with the covariance

    C_ij = T_ij · S_ij,  T_ij = γ∞ + (γ0 − γ∞)·exp(−|t_i − t_j| / τ)  (i ≠ j),  T_ii = 1,
    S_ij = max(0, 1 − |B⊥_i − B⊥_j| / B⊥c)

(temporal decorrelation per land-cover class; baseline decorrelation of Zebker & Villasenor 1992).
Both factors are positive semi-definite (an exponential and a triangular kernel plus constants), so
is their Schur product, and ``L = chol(C)`` turns white circular-Gaussian noise into speckle whose
pair coherence is exactly C_ij. Each date then gets the deterministic phase −4π/λ · r_k of its
excess range r_k = −d_k + a_k + B⊥_k·[(R − R̄)/(R tan θ) + h/(R sin θ)] (deformation d toward
the satellite, atmosphere a, flat earth and topography; conventions of :mod:`kansho.ifg.form`).

The stack is written as GAMMA (``yyyymmdd.slc`` + ``.slc.par``), ENVI (``.slc`` + ``.slc.hdr``)
or complex GeoTIFF (``.slc.tif``), with ``baselines``, ``geometry/{lat,lon,hgt,inc,range}.rdr``
and ``truth_slc.npz`` (see :class:`SlcTruth`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from kansho._constants import SPEED_OF_LIGHT
from kansho._files import write_bytes_atomic as _atomic_bytes
from kansho.synth._fields import smooth_noise

log = logging.getLogger(__name__)

__all__ = ["SlcSimConfig", "SlcTruth", "simulate_slc_stack"]


class SlcSimConfig(BaseModel):
    """Options of :func:`simulate_slc_stack` (Sentinel-1-like defaults)."""

    model_config = ConfigDict(extra="forbid")

    shape: tuple[int, int] = Field((128, 128), description="(azimuth lines, range samples)")
    n_epoch: int = Field(8, ge=2, le=500, description="number of dates")
    interval_days: int = Field(12, ge=1, le=366, description="days between dates")
    start: int = Field(20230105, description="first date yyyymmdd")
    radar_frequency_hz: float = Field(5.405e9, gt=0, description="carrier frequency (Hz)")
    range_spacing_m: float = Field(2.33, gt=0, description="slant-range pixel spacing (m)")
    azimuth_spacing_m: float = Field(13.9, gt=0, description="azimuth pixel spacing (m)")
    near_range_m: float = Field(850_000.0, gt=0, description="slant range of the first column (m)")
    incidence_deg: float = Field(39.0, gt=10, lt=70, description="incidence at the first column (deg)")
    heading_deg: float = Field(-12.6, description="flight direction, deg clockwise from north")
    lat0: float = Field(35.0, ge=-80, le=80, description="latitude of the first pixel (deg)")
    lon0: float = Field(139.0, ge=-180, le=180, description="longitude of the first pixel (deg)")
    bperp_std_m: float = Field(60.0, ge=0, description="spread of the per-date perpendicular baselines (m)")
    bcrit_m: float = Field(5000.0, gt=0, description="critical perpendicular baseline (m)")
    classes: list[tuple[float, float, float]] = Field(
        [(0.95, 0.75, 300.0), (0.85, 0.25, 30.0)],
        description="(γ0, γ∞, τ days) per land-cover class: urban-like, vegetated-like",
    )
    class1_fraction: float = Field(0.3, ge=0, le=1, description="fraction of pixels in the second class")
    velocity_mm_yr: float = Field(-40.0, description="peak LOS velocity of the bowl (mm/yr, + toward satellite)")
    bowl_sigma_frac: float = Field(0.2, gt=0, le=2, description="bowl width as a fraction of the frame size")
    dem_max_m: float = Field(300.0, ge=0, description="height of the hill (m)")
    atmosphere_mm: float = Field(0.0, ge=0, description="std of each date's turbulent delay (mm)")
    strat_mm_per_km: float = Field(0.0, ge=0, description="std of each date's height-proportional delay (mm/km)")
    format: Literal["gamma", "envi", "geotiff"] = Field("gamma", description="file format of the stack")


@dataclass(frozen=True)
class SlcTruth:
    """What was simulated (radar grid (ny, nx)): ``dates`` (n,), ``bperp`` (n, m), ``velocity``
    (mm/yr LOS toward satellite), ``displacement`` (n, ny, nx) mm, ``hgt`` (m), ``classes`` (class
    index per pixel), ``coherence`` (n_class, n, n) the true pair coherence matrices, ``wavelength`` (m)."""

    dates: npt.NDArray[np.int64]
    bperp: npt.NDArray[np.float64]
    velocity: npt.NDArray[np.float32]
    displacement: npt.NDArray[np.float32]
    hgt: npt.NDArray[np.float32]
    classes: npt.NDArray[np.int8]
    coherence: npt.NDArray[np.float64]
    wavelength: float

    def pair_coherence(self, d1: int, d2: int) -> npt.NDArray[np.float32]:
        """True coherence map (ny, nx) of the pair (d1, d2)."""
        i = int(np.searchsorted(self.dates, d1))
        j = int(np.searchsorted(self.dates, d2))
        return self.coherence[:, i, j][self.classes].astype(np.float32)

    @staticmethod
    def load(path: str | Path) -> SlcTruth:
        with np.load(path) as z:
            fields: dict[str, Any] = {k: (float(z[k]) if k == "wavelength" else z[k]) for k in z.files}
            return SlcTruth(**fields)


def coherence_matrix(
    t_days: npt.NDArray[np.floating], bperp: npt.NDArray[np.floating], g0: float, ginf: float, tau: float,
    bcrit: float,
) -> npt.NDArray[np.float64]:
    """The (n, n) pair-coherence matrix C = T ∘ S of the module docstring (positive semi-definite)."""
    dt = np.abs(t_days[:, None] - t_days[None, :])
    t = ginf + (g0 - ginf) * np.exp(-dt / tau)
    np.fill_diagonal(t, 1.0)
    s = np.clip(1.0 - np.abs(bperp[:, None] - bperp[None, :]) / bcrit, 0.0, None)
    return t * s


def simulate_slc_stack(
    out_dir: str | Path, config: SlcSimConfig | None = None, rng: np.random.Generator | int | None = 0
) -> SlcTruth:
    """Simulate and write a coregistered SLC stack under ``out_dir``; return its truth."""
    cfg = config or SlcSimConfig()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ny, nx = cfg.shape
    n = cfg.n_epoch
    lam = SPEED_OF_LIGHT / cfg.radar_frequency_hz
    d0 = _dt.datetime.strptime(str(cfg.start), "%Y%m%d").date()
    days = np.arange(n) * cfg.interval_days
    dates = np.array([int((d0 + _dt.timedelta(days=int(k))).strftime("%Y%m%d")) for k in days], dtype=np.int64)
    bperp = rng.normal(0.0, cfg.bperp_std_m, n)
    bperp -= bperp[0]

    # geometry: slant range and incidence per column, a hill, ground positions
    rows, cols = np.mgrid[0:ny, 0:nx].astype(np.float64)
    r = cfg.near_range_m + cols * cfg.range_spacing_m
    th0 = math.radians(cfg.incidence_deg)
    theta = th0 + (r - cfg.near_range_m) / (cfg.near_range_m * math.tan(th0))
    yc, xc = ny / 2, nx / 2
    sig = max(ny, nx) * 0.25
    hgt = cfg.dem_max_m * np.exp(-(((rows - 0.4 * ny) ** 2 + (cols - 0.6 * nx) ** 2) / (2 * sig**2)))
    hgt = (hgt + 5.0 * smooth_noise((ny, nx), 8, rng)).astype(np.float32)
    ground = (r - cfg.near_range_m) / np.sin(theta) + hgt / np.tan(theta)  # foreshortening
    along = rows * cfg.azimuth_spacing_m
    a = math.radians(cfg.heading_deg)
    east = along * math.sin(a) + ground * math.cos(a)
    north = along * math.cos(a) - ground * math.sin(a)
    lat = cfg.lat0 + north / 111_320.0
    lon = cfg.lon0 + east / (111_320.0 * math.cos(math.radians(cfg.lat0)))

    # deformation: a Gaussian bowl (LOS, + toward the satellite), linear in time
    bs = cfg.bowl_sigma_frac * max(ny, nx)
    vel = (cfg.velocity_mm_yr * np.exp(-(((rows - yc) ** 2 + (cols - xc) ** 2) / (2 * bs**2)))).astype(np.float32)
    t_yr = days / 365.25
    disp = (t_yr[:, None, None] * vel[None]).astype(np.float32)  # mm

    # land-cover classes and their coherence matrices
    field = smooth_noise((ny, nx), 12, rng)
    thr = np.quantile(field, 1.0 - cfg.class1_fraction) if cfg.class1_fraction > 0 else np.inf
    classes = (field > thr).astype(np.int8) if len(cfg.classes) > 1 else np.zeros((ny, nx), np.int8)
    cmats = np.stack([coherence_matrix(days.astype(float), bperp, g0, gi, tau, cfg.bcrit_m)
                      for g0, gi, tau in cfg.classes])

    # per-date excess range (m) and SLCs
    amp = np.exp(0.3 * smooth_noise((ny, nx), 6, rng)).astype(np.float32)
    geo = (r - r.mean()) / (r * np.tan(theta)) + hgt / (r * np.sin(theta))
    z = (rng.standard_normal((n, ny, nx)) + 1j * rng.standard_normal((n, ny, nx))) / math.sqrt(2.0)
    slc = np.empty((n, ny, nx), dtype=np.complex64)
    chol = np.linalg.cholesky(cmats + 1e-9 * np.eye(n)[None])  # (n_class, n, n)
    speckle = np.einsum("pij,jp->ip", chol[classes.ravel()], z.reshape(n, -1)).reshape(n, ny, nx)
    for k in range(n):
        atm = np.zeros((ny, nx))
        if cfg.atmosphere_mm > 0:
            atm = atm + cfg.atmosphere_mm * smooth_noise((ny, nx), 30, rng)
        if cfg.strat_mm_per_km > 0:
            atm = atm + rng.normal(0, cfg.strat_mm_per_km) * hgt / 1000.0
        rk = -disp[k] / 1000.0 + atm / 1000.0 + bperp[k] * geo
        slc[k] = (amp * speckle[k] * np.exp(-4j * math.pi / lam * rk)).astype(np.complex64)

    _write_stack(out, cfg, dates, bperp, slc, lat, lon, hgt, np.degrees(theta), r, lam)
    truth = SlcTruth(dates, bperp.astype(np.float64), vel, disp, hgt, classes, cmats, lam)
    tmp = out / ".truth_slc.tmp.npz"
    np.savez_compressed(tmp, **{k: getattr(truth, k) for k in truth.__dataclass_fields__})
    os.replace(tmp, out / "truth_slc.npz")
    log.info("simulated %d SLCs of %dx%d px (%s) in %s", n, nx, ny, cfg.format, out)
    return truth


def _write_stack(
    out: Path, cfg: SlcSimConfig, dates: npt.NDArray[np.int64], bperp: npt.NDArray[np.float64],
    slc: npt.NDArray[np.complex64], lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64],
    hgt: npt.NDArray[np.float32], inc_deg: npt.NDArray[np.float64], rng_m: npt.NDArray[np.float64], lam: float,
) -> None:
    ny, nx = cfg.shape
    radar = {
        "radar_frequency": f"{cfg.radar_frequency_hz:.6e}",
        "range_pixel_spacing": f"{cfg.range_spacing_m}",
        "azimuth_pixel_spacing": f"{cfg.azimuth_spacing_m}",
        "near_range_slc": f"{cfg.near_range_m}",
        "incidence_angle": f"{cfg.incidence_deg}",
        "heading": f"{cfg.heading_deg}",
        "center_time": "37230.5",
    }
    for k, d in enumerate(dates):
        ds = str(int(d))
        if cfg.format == "gamma":
            _atomic_bytes(out / f"{ds}.slc", slc[k].astype(">c8").tobytes())
            lines = [
                "Gamma Interferometric SAR Processor (GAMMA) - Image Parameter File (simulated by kansho)",
                "title:     kansho simulated SLC",
                f"date:      {ds[:4]} {ds[4:6]} {ds[6:]}",
                f"range_samples:   {nx}",
                f"azimuth_lines:   {ny}",
                "image_format:    FCOMPLEX",
                *(f"{key}:   {val}" for key, val in radar.items()),
            ]
            _atomic_bytes(out / f"{ds}.slc.par", ("\n".join(lines) + "\n").encode())
        elif cfg.format == "envi":
            _atomic_bytes(out / f"{ds}.slc", slc[k].astype(">c8").tobytes())
            lines = ["ENVI", f"samples = {nx}", f"lines = {ny}", "bands = 1", "header offset = 0",
                     "file type = ENVI Standard", "data type = 6", "interleave = bsq", "byte order = 1",
                     f"acquisition date = {ds}", *(f"{key} = {val}" for key, val in radar.items())]
            _atomic_bytes(out / f"{ds}.slc.hdr", ("\n".join(lines) + "\n").encode())
        else:
            import rasterio

            path = out / f"{ds}.slc.tif"
            tmp = out / f".{ds}.slc.tif.tmp"
            with rasterio.open(tmp, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="complex64") as dst:
                dst.write(slc[k], 1)
                dst.update_tags(**{key.upper(): val for key, val in radar.items()}, DATE=ds)
            os.replace(tmp, path)
    base = [f"{dates[0]} {int(d)} {float(b):.4f} {i * cfg.interval_days}"
            for i, (d, b) in enumerate(zip(dates, bperp, strict=True))]
    _atomic_bytes(out / "baselines", ("\n".join(base) + "\n").encode())
    geo = out / "geometry"
    geo.mkdir(exist_ok=True)
    for name, arr in (("lat", lat), ("lon", lon), ("hgt", hgt), ("inc", inc_deg), ("range", rng_m)):
        _atomic_bytes(geo / f"{name}.rdr", np.asarray(arr, dtype=">f4").tobytes())
