"""MintPy export of a run (or of a LiCSBAS folder opened as one): :func:`export_mintpy`.

Layout (Yunjun et al. 2019, Computers & Geosciences 133:104331; the HDF5 structure documented with
MintPy), checked field by field in the tests:

``timeseries.h5``
    datasets ``timeseries`` (n_date, LENGTH, WIDTH) float32 **m**, LOS, positive toward the
    satellite (MintPy's sign, the same as Kansho's); ``date`` (n_date,) ``|S8`` yyyymmdd;
    ``bperp`` (n_date,) float32 m. Root attributes (strings, as MintPy stores them):
    ``FILE_TYPE=timeseries``, ``UNIT=m``, ``LENGTH``, ``WIDTH``, ``X_FIRST``/``Y_FIRST`` (outer
    corner of the top-left pixel), ``X_STEP``/``Y_STEP``, ``X_UNIT``/``Y_UNIT=degrees``, ``EPSG``,
    ``REF_DATE``, ``REF_Y``/``REF_X``, ``REF_LAT``/``REF_LON`` (pixel centre), ``START_DATE``,
    ``END_DATE``, ``WAVELENGTH`` (if known), ``PROCESSOR=kansho``, ``DATA_TYPE``.
``velocity.h5``
    ``velocity`` and ``velocityStd`` (LENGTH, WIDTH) float32 **m/year**, ``intercept`` (m);
    attributes as above with ``FILE_TYPE=velocity``, ``UNIT=m/year``, ``DATE12=START_END``.
``geometryGeo.h5``
    ``height`` (m), ``incidenceAngle`` and ``azimuthAngle`` (degrees) as MintPy's geocoded
    geometry files hold them, ``FILE_TYPE=geometry``. MintPy's angles from the LOS unit vector
    (e, n, u), ground → satellite: incidence = acos(u); azimuth of the horizontal part of that
    vector, from north, anti-clockwise positive: atan2(−e, n) (so e = −sin(inc)·sin(az),
    n = sin(inc)·cos(az), u = cos(inc)). The angles are left out when the run has no LOS.
``maskTempCoh.h5``
    ``mask`` (LENGTH, WIDTH) bool, the run's noisy-pixel mask (``FILE_TYPE=mask``).

**Reference pixel.** MintPy's reference is one pixel (``REF_Y``/``REF_X``), where its series and
velocity are exactly 0; Kansho and LiCSBAS reference to the mean of an area. The export therefore
re-references every epoch and the velocity (and intercept) to the valid pixel of the reference
area nearest its centre (valid: finite velocity, and a finite series at every epoch when there is
a cube), by subtracting that pixel's value; the log says which pixel and by how much. The
standard deviation is copied as it is (the σ of the area-referenced velocity).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from kansho._types import Float32Array
from kansho._version import __version__
from kansho.errors import InputError
from kansho.run import Run, open_run

log = logging.getLogger(__name__)

__all__ = ["export_mintpy", "mintpy_angles", "reference_pixel"]


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def reference_pixel(run: Run, vel: Float32Array) -> tuple[int, int]:
    """The one pixel MintPy's files are referenced to: the valid pixel nearest the centre of the run's
    reference area (the grid's centre without one), searched inside the area first, then anywhere.

    Valid: a finite ``vel`` and, when the run has a cube, a finite series at every epoch.
    ``InputError`` if no pixel is valid.
    """
    ny, nx = vel.shape
    box = run.refarea or (0, ny, 0, nx)
    r0, r1, c0, c1 = box
    cy, cx = (r0 + r1 - 1) / 2.0, (c0 + c1 - 1) / 2.0
    rr, cc = np.mgrid[0:ny, 0:nx]
    inside = (rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1)
    dist = np.hypot(rr - cy, cc - cx)
    for region in (inside, ~inside):
        cand = region & np.isfinite(vel)
        order = np.argsort(np.where(cand, dist, np.inf), axis=None, kind="stable")[: int(cand.sum())]
        pts = [(int(i // nx), int(i % nx)) for i in order]
        for k in range(0, len(pts), 64):
            chunk = pts[k:k + 64]
            ok = [bool(np.isfinite(s).all()) for s in run.cum_pixels(chunk)] if run.has_cum else [True] * len(chunk)
            for (r, c), good in zip(chunk, ok, strict=True):
                if good:
                    if region is not inside:
                        log.warning("MintPy export: no valid pixel in the reference area rows %d:%d, cols %d:%d; "
                                    "the nearest valid one is used", r0, r1, c0, c1)
                    return r, c
    raise InputError(run.path, "no pixel with a finite velocity (and series): MintPy needs a reference pixel")


def mintpy_angles(los_e: np.ndarray, los_n: np.ndarray, los_u: np.ndarray) -> tuple[Float32Array, Float32Array]:
    """MintPy's ``incidenceAngle`` and ``azimuthAngle`` (degrees) from the LOS unit vector
    (east, north, up), ground → satellite (see the module docstring)."""
    inc = np.degrees(np.arccos(np.clip(los_u, -1.0, 1.0)))
    az = np.degrees(np.arctan2(-np.asarray(los_e, np.float64), np.asarray(los_n, np.float64)))
    return inc.astype(np.float32), az.astype(np.float32)


def _attrs(run: Run, file_type: str, unit: str, ref: tuple[int, int]) -> dict[str, str]:
    g = run.grid
    x0, dx, _, y0, _, dy = g.transform
    ry, rx = ref
    a = {"FILE_TYPE": file_type, "UNIT": unit, "LENGTH": str(g.height), "WIDTH": str(g.width),
         "X_FIRST": repr(float(x0)), "Y_FIRST": repr(float(y0)), "X_STEP": repr(float(dx)), "Y_STEP": repr(float(dy)),
         "X_UNIT": "degrees", "Y_UNIT": "degrees", "EPSG": "4326", "DATA_TYPE": "float32",
         "PROCESSOR": "licsbas" if run.is_licsbas else "kansho", "KANSHO_VERSION": __version__,
         "REF_DATE": str(int(run.dates[0])), "START_DATE": str(int(run.dates[0])),
         "END_DATE": str(int(run.dates[-1])), "REF_Y": str(ry), "REF_X": str(rx),
         "REF_LAT": repr(float(g.lat()[ry])), "REF_LON": repr(float(g.lon()[rx]))}
    if run.refarea is not None:
        r0, r1, c0, c1 = run.refarea
        a["KANSHO_REFAREA"] = f"{c0}:{c1}/{r0}:{r1}"
    if run.wavelength:
        a["WAVELENGTH"] = repr(float(run.wavelength))
    return a


def export_mintpy(out: str | Path | Run, dest: str | Path, filtered: bool = False) -> list[Path]:
    """MintPy's ``timeseries.h5`` (when the run has a cube), ``velocity.h5``, ``geometryGeo.h5`` and
    ``maskTempCoh.h5``, referenced to one pixel (module docstring).

    ``filtered`` exports the filtered cube / ``vel.filt`` instead of the raw series. The cube is
    copied epoch by epoch, so memory stays at one plane.
    """
    run = out if isinstance(out, Run) else open_run(out)
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    vel = run.read_map("vel.filt" if filtered else "vel")
    ref = reference_pixel(run, vel)
    written = []
    if run.has_cum and (run.has_filt or not filtered):
        written.append(_timeseries(run, d / "timeseries.h5", filtered, ref))
    else:
        log.warning("%s: no %s: timeseries.h5 is not written", run.path, "cum_filt.h5" if filtered else "cum.h5")
    written.append(_velocity(run, d / "velocity.h5", vel, ref, filtered))
    written.append(_geometry(run, d / "geometryGeo.h5", ref))
    if run.has_map("mask"):
        written.append(_mask(run, d / "maskTempCoh.h5", ref))
    return written


def _write(target: Path, datasets: dict[str, np.ndarray], attrs: dict[str, str]) -> Path:
    import h5py

    tmp = _tmp(target)
    with h5py.File(tmp, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v, compression="gzip" if v.ndim >= 2 else None)
        for k, s in attrs.items():
            f.attrs[k] = s
    os.replace(tmp, target)
    return target


def _timeseries(run: Run, target: Path, filtered: bool, ref: tuple[int, int]) -> Path:
    import h5py

    ry, rx = ref
    tmp = _tmp(target)
    shifts = []
    with run.cum_reader(filtered) as src, h5py.File(tmp, "w") as f:
        n = src.imdates.size
        ny, nx = src.shape
        ds = f.create_dataset("timeseries", shape=(n, ny, nx), dtype="float32", chunks=(1, min(ny, 256), min(nx, 256)),
                              compression="gzip")
        for i in range(n):
            e = src.epoch(i) / np.float32(1000.0)
            shifts.append(float(e[ry, rx]))
            ds[i] = e - e[ry, rx]  # exactly 0 at the reference pixel
        f.create_dataset("date", data=np.array([str(int(x)).encode() for x in run.dates], dtype="S8"))
        bperp = run.cum_dataset("bperp", filtered)
        bp = np.asarray(bperp, np.float32) if bperp is not None else np.zeros(n, np.float32)
        f.create_dataset("bperp", data=np.nan_to_num(bp))
        for k, v in _attrs(run, "timeseries", "m", ref).items():
            f.attrs[k] = v
    os.replace(tmp, target)
    log.info("MintPy export: series re-referenced to the pixel row %d, col %d (subtracted %.2f to %.2f mm, the "
             "pixel's own value at each epoch, so the series is exactly 0 there)", ry, rx,
             1000 * min(shifts), 1000 * max(shifts))
    return target


def _velocity(run: Run, target: Path, vel: Float32Array, ref: tuple[int, int], filtered: bool) -> Path:
    ry, rx = ref
    nan = np.full_like(vel, np.nan)
    vstd = run.read_map("vstd") if run.has_map("vstd") else nan
    icpt_name = "vintercept.filt" if filtered and run.has_map("vintercept.filt") else "vintercept"
    icpt = run.read_map(icpt_name) if run.has_map(icpt_name) else nan
    v = (vel / np.float32(1000.0)).astype(np.float32)
    c = (icpt / np.float32(1000.0)).astype(np.float32)
    log.info("MintPy export: velocity re-referenced to the pixel row %d, col %d (subtracted %.3f mm/yr)", ry, rx,
             1000 * float(v[ry, rx]))
    attrs = _attrs(run, "velocity", "m/year", ref)
    attrs["DATE12"] = f"{run.dates[0]}_{run.dates[-1]}"
    return _write(target, {"velocity": v - v[ry, rx], "velocityStd": (vstd / 1000.0).astype(np.float32),
                           "intercept": c - (c[ry, rx] if np.isfinite(c[ry, rx]) else np.float32(0))}, attrs)


def _height(run: Run) -> Float32Array | None:
    if run.has_map("hgt"):
        return run.read_map("hgt")
    if run.has_stack:
        try:
            return np.asarray(run.stack.read2d("hgt"), np.float32)
        except (KeyError, InputError, OSError):
            return None
    return None


def _geometry(run: Run, target: Path, ref: tuple[int, int]) -> Path:
    data: dict[str, np.ndarray] = {}
    hgt = _height(run)
    data["height"] = hgt if hgt is not None else np.full(run.grid.shape, np.nan, np.float32)
    try:
        e, n, u = run.los()
        data["incidenceAngle"], data["azimuthAngle"] = mintpy_angles(e, n, u)
    except (InputError, OSError) as exc:
        log.warning("MintPy export: geometryGeo.h5 without incidence and azimuth angles (%s)", exc)
    attrs = _attrs(run, "geometry", "1", ref)
    attrs.pop("UNIT")
    return _write(target, data, attrs)


def _mask(run: Run, target: Path, ref: tuple[int, int]) -> Path:
    m = run.mask()
    assert m is not None
    attrs = _attrs(run, "mask", "1", ref)
    return _write(target, {"mask": np.asarray(m, bool)}, attrs)
