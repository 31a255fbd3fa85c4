"""``kansho plate``: remove a rigid plate rotation's LOS velocity from a finished run.

Reads the run (``results/vel.tif``, ``results/refmask.tif`` or ``cum.h5``'s ``refarea``, the LOS unit
vectors of ``stack.zarr``, ``cum.h5``) and writes, next to them:

* ``results/plate_los.tif`` — the removed LOS velocity (mm/yr, positive toward the satellite), the
  plate's velocity relative to the run's reference area (:func:`kansho.geodesy.plate.plate_los_velocity`);
* ``results/vel.plate.tif`` (and ``vel.filt.plate.tif`` when the run has ``vel.filt``) — the velocity
  in the plate's frame, ``vel - plate_los``;
* ``cum.plate.h5`` (and ``cum_filt.plate.h5``) — the series with ``plate_los · t`` removed (t in years
  from the first epoch), the layout of ``cum.h5`` (:func:`kansho.io.licsbas_h5.write_cum_h5`),
  streamed block by block;
* ``info/plate.txt`` — model, plate or pole, ω, the reference and the reference-frame statement.

The inputs are never modified, so the command can be repeated (another plate or model overwrites
the products). Every file is written under a temporary name and renamed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from kansho._dates import years_since_first
from kansho._files import write_text_atomic
from kansho._lonlat import format_lat, format_lon
from kansho._types import Float64Array
from kansho._version import __version__
from kansho.errors import ConfigError, InputError
from kansho.geodesy.plate import MODELS, omega_to_pole, plate_los_velocity, plate_omega, pole_to_omega
from kansho.io.licsbas_h5 import CORE_KEYS, CumReader, write_cum_h5
from kansho.run import Run, open_run

log = logging.getLogger(__name__)

__all__ = ["PlateCorrection", "plate_correct", "reference_pixels", "resolve_rotation"]

#: the products' names (results/ maps and cubes beside cum.h5)
PLATE_LOS_MAP = "plate_los"
INFO_NAME = "plate.txt"


@dataclass(frozen=True)
class Rotation:
    """The rotation removed: ω (mas/yr), its pole, the ORB applied and how it was chosen."""

    omega: Float64Array
    label: str
    model: str | None
    plate: str | None
    orb: tuple[float, float, float] | None


@dataclass
class PlateCorrection:
    """What :func:`plate_correct` did: the rotation, the removed map's statistics and the files written."""

    rotation: Rotation
    n_ref: int
    plate_at_ref: float
    removed_min: float
    removed_max: float
    removed_std: float
    written: list[Path] = field(default_factory=list)


def resolve_rotation(plate: str | None, pole: Sequence[float] | None, model: str = "itrf2014") -> Rotation:
    """The rotation of ``plate`` in ``model``, or of the Euler ``pole`` (lat, lon, deg/Myr); exactly one.

    Raises :class:`ConfigError` (one line naming the choices) for an unknown model or plate, both or
    neither given, or a pole out of range.
    """
    if (plate is None) == (pole is None):
        raise ConfigError("give exactly one of --plate NAME or --pole LAT,LON,DEG_PER_MYR")
    if model.lower() not in MODELS:
        raise ConfigError(f"--model {model!r}: unknown; choose from {', '.join(MODELS)}")
    m = MODELS[model.lower()]
    if plate is not None:
        try:
            omega = plate_omega(plate, model)
        except KeyError:
            raise ConfigError(f"--plate {plate!r}: not a plate of {m.name}; choose from {', '.join(m.plates)}"
                              ) from None
        p = m.plates[plate.upper()]
        orb = m.orb if any(m.orb) else None
        return Rotation(omega, f"{plate.upper()} ({p.name}) of {m.name}", m.name, plate.upper(), orb)
    assert pole is not None
    if len(pole) != 3:
        raise ConfigError(f"--pole: expected LAT,LON,DEG_PER_MYR, got {len(pole)} values")
    lat, lon, rate = (float(v) for v in pole)
    try:
        omega = pole_to_omega(lat, lon, rate)
    except ValueError as exc:
        raise ConfigError(f"--pole {lat},{lon},{rate}: {exc}") from None
    return Rotation(omega, f"Euler pole {format_lat(lat, 3)}, {format_lon(lon, 3)}, {rate:g} deg/Myr", None, None, None)


class _MinusRamp:
    """``cube[k] - t[k] · rate`` of an HDF5 cube, sliced lazily (what :func:`write_cum_h5` streams)."""

    def __init__(self, cube: h5py.Dataset, t: Float64Array, rate: Float64Array) -> None:
        self.cube, self.t, self.rate = cube, t, rate
        self.shape = tuple(cube.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key: tuple[slice, slice, slice]) -> npt.NDArray[np.float32]:
        """``key`` = (epochs, rows, cols), slices (how :func:`write_cum_h5` reads a block)."""
        ke, kr, kc = key
        block = np.asarray(self.cube[ke, kr, kc], np.float64)
        return np.asarray(block - self.t[ke][:, None, None] * self.rate[kr, kc], np.float32)


def reference_pixels(run: Run) -> tuple[npt.NDArray[np.bool_], str]:
    """The run's reference pixels: ``results/refmask.tif`` (Kansho), else ``cum.h5``'s refarea box."""
    ny, nx = run.shape
    if run.has_map("refmask"):
        ref = np.asarray(run.read_map("refmask") == 1)
        if ref.any():
            return ref, f"the mean of {int(ref.sum())} pixels of results/refmask.tif"
    box = run.refarea
    if box is None:
        raise InputError(run.layout.cum, "no reference area (no results/refmask.tif and no refarea in cum.h5)")
    r0, r1, c0, c1 = box
    ref = np.zeros((ny, nx), bool)
    ref[r0:r1, c0:c1] = True
    return ref, f"the refarea box rows {r0}:{r1}, cols {c0}:{c1} of cum.h5"


def _write_cube(src: Path, dst: Path, rate: Float64Array) -> Path:
    """``dst``: the cum.h5 ``src`` with ``rate · t`` removed from ``cum`` and ``rate`` from ``vel``."""
    with CumReader(src) as r:  # checks cum/imdates and decodes the georeference and refarea
        grid, refarea = r.grid, r.refarea_box
    if grid is None or refarea is None:
        raise InputError(src, "no georeference (corner_lat/lon, post_lat/lon) or no refarea")
    if grid.shape != rate.shape:
        raise InputError(src, f"cube {grid.shape} does not match the run's maps {rate.shape}")
    with h5py.File(src, "r") as f:
        for key in ("vel", "vintercept", "mask", "gap"):
            if key not in f:
                raise InputError(src, f"no '{key}' dataset: not a complete cum.h5")
        dates = np.asarray(f["imdates"][()], np.int64)
        skip = set(CORE_KEYS) | {"cum_std"}
        extra: dict[str, Any] = {}
        for name, obj in f.items():
            if name in skip or not isinstance(obj, h5py.Dataset):
                continue
            val = obj[()]
            extra[name] = val.decode("utf-8") if isinstance(val, bytes) else val
        vel = np.asarray(f["vel"][()], np.float64) - rate
        bperp = np.asarray(f["bperp"][()], np.float64) if "bperp" in f else None
        return write_cum_h5(dst, cum=_MinusRamp(f["cum"], years_since_first(dates), rate), imdates=dates,
                            vel=vel, vintercept=f["vintercept"][()], refarea=refarea, grid=grid, gap=f["gap"],
                            bperp=bperp, mask=f["mask"][()], cum_std=f.get("cum_std"),
                            extra=extra or None)


def plate_correct(out: str | Path, *, plate: str | None = None, pole: Sequence[float] | None = None,
                  model: str = "itrf2014", sphere: bool = False) -> PlateCorrection:
    """Remove the LOS velocity of a rigid plate rotation from the finished run ``out`` (see the module).

    ``plate`` is a plate abbreviation of ``model`` (``itrf2014``/``itrf2020``), or ``pole`` an Euler
    pole (lat, lon, deg/Myr); ``sphere`` computes ``ω × r`` on a sphere instead of GRS80.
    Raises :class:`ConfigError` for bad options and :class:`InputError` (naming the file) when ``out``
    is not a finished run with LOS unit vectors.
    """
    from kansho.io.geotiff import write_geotiff

    rot = resolve_rotation(plate, pole, model)
    run = open_run(out)
    if not run.has_map("vel"):
        raise InputError(run.map_path("vel"), "missing: not a finished Kansho run folder")
    if not run.has_stack:
        raise InputError(run.layout.stack, "missing: the LOS unit vectors of the run are needed")
    grid = run.grid
    los_e, los_n, los_u = run.los()
    if los_e.shape != grid.shape:
        raise InputError(run.layout.stack, f"LOS grid {los_e.shape} does not match the run's maps {grid.shape}")
    ref, ref_text = reference_pixels(run)
    try:
        absolute, removed = plate_los_velocity(grid.lon(), grid.lat(), los_e, los_n, los_u, rot.omega, ref,
                                               sphere=sphere, orb=rot.orb)
    except ValueError as exc:
        raise InputError(run.layout.stack, f"LOS unknown over the reference area ({exc})") from None
    at_ref = float(np.nanmean(absolute[ref])) if np.isfinite(absolute[ref]).any() else float("nan")
    fin = removed[np.isfinite(removed)]
    res = PlateCorrection(rotation=rot, n_ref=int(ref.sum()), plate_at_ref=at_ref,
                          removed_min=float(fin.min()) if fin.size else float("nan"),
                          removed_max=float(fin.max()) if fin.size else float("nan"),
                          removed_std=float(fin.std()) if fin.size else float("nan"))
    lay = run.layout
    res.written.append(write_geotiff(lay.result_map(PLATE_LOS_MAP), removed.astype(np.float32), grid,
                                     units="mm/yr", description=f"LOS velocity of {rot.label} relative to the "
                                     "reference area (removed), positive toward the satellite"))
    for name in ("vel", "vel.filt"):
        if run.has_map(name):
            v = run.read_map(name).astype(np.float64) - removed
            res.written.append(write_geotiff(lay.result_map(f"{name}.plate"), v.astype(np.float32), grid,
                                             units="mm/yr", description=f"{name} in the frame of {rot.label}"))
    for src in (lay.cum, lay.cum_filt):
        if src.is_file():
            dst = src.with_name(src.name[:-3] + ".plate.h5")
            res.written.append(_write_cube(src, dst, removed))
    info = lay.info / INFO_NAME
    res.written.append(write_text_atomic(info, _info_text(res, ref_text, sphere, out)))
    log.info("removed %s: LOS %.2f .. %.2f mm/yr relative to the reference (%s)", rot.label,
             res.removed_min, res.removed_max, ", ".join(p.name for p in res.written))
    return res


def _info_text(res: PlateCorrection, ref_text: str, sphere: bool, out: str | Path) -> str:
    rot = res.rotation
    lat, lon, rate = omega_to_pole(rot.omega)
    m = MODELS[rot.model.lower().split("-")[0]] if rot.model else None
    lines = [
        f"# plate motion removed by kansho plate (kansho {__version__})",
        f"run: {Path(out).resolve()}",
        f"rotation: {rot.label}",
        f"model: {m.name + ' - ' + m.reference if m else 'none (Euler pole given by the user)'}",
        "omega (mas/yr): wx={:.4f} wy={:.4f} wz={:.4f}".format(*rot.omega),
        f"pole: {format_lat(lat, 3)}, {format_lon(lon, 3)}, rate {rate:.4f} deg/Myr",
        f"origin rate bias (mm/yr, added to east/north only): "
        f"{'none' if rot.orb is None else ' '.join(f'{v:.2f}' for v in rot.orb)}",
        f"geometry: v = omega x r on {'a sphere of R = 6371.0088 km' if sphere else 'the GRS80 ellipsoid (h = 0)'}, "
        "projected on the LOS unit vector (ground -> satellite) of stack.zarr",
        f"reference: {ref_text}",
        f"plate LOS velocity at the reference (not removable): {res.plate_at_ref:.3f} mm/yr",
        f"removed LOS velocity (results/{PLATE_LOS_MAP}.tif, mm/yr, positive toward the satellite): "
        f"min {res.removed_min:.3f} max {res.removed_max:.3f} range {res.removed_max - res.removed_min:.3f} "
        f"std {res.removed_std:.3f}",
        "reference frame: the input velocities and series (results/vel.tif, cum.h5) are relative to the reference "
        "area, in the ITRF-based frame of the satellite orbits (no-net-rotation);",
        f"  the outputs (results/vel.plate.tif, cum.plate.h5) are relative to the reference area in the frame "
        f"of {rot.label}:",
        "  the rotation's gradient across the frame is removed; its uniform part is absorbed by the reference.",
        "series: cum.plate = cum - plate_los * t, t in years (days / 365.25) from the first epoch",
        "files: " + ", ".join(str(p.relative_to(Path(out))) if p.is_relative_to(Path(out)) else str(p)
                              for p in res.written),
    ]
    return "\n".join(lines) + "\n"
