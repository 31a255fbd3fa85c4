"""``kansho gnss-ramp``: remove per-epoch long-wavelength ramps estimated from GNSS series (:mod:`.epoch_ramp`).

Reads a finished run (``results/vel.tif``, ``cum.h5``, the LOS vectors of ``stack.zarr``) and GNSS
station series (NGL ``.tenv3``, PBO ``.pos``; read and projected on the LOS as ``kansho gnss
compare`` does: InSAR averaged within ``radius_km``, GNSS within ``window_days`` of each epoch),
and writes next to the run's products:

* ``cum.gnssramp.h5`` — the series with each epoch's ramp removed, re-referred to the run's
  reference area (the layout of ``cum.h5``; ``vel`` the velocity of the corrected series);
* ``results/vel.gnssramp.tif`` and ``results/gnss_ramp_vel.tif`` — the velocity after, and the
  velocity ramp removed (mm/yr);
* ``info/gnss_ramp.txt`` — the ramp kind, the stations, and per epoch the coefficients and the
  station RMS of InSAR − GNSS before and after.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from kansho._dates import years_since_first
from kansho._files import write_text_atomic
from kansho._version import __version__
from kansho.errors import ConfigError, InputError
from kansho.geodesy.compare import RAMP_TERMS, local_km, ramp_design
from kansho.geodesy.epoch_ramp import EpochRamps, fit_epoch_ramps, ramp_map
from kansho.geodesy.plate_runs import reference_pixels
from kansho.geodesy.runs import _station_rows, load_track
from kansho.io.gnss import date_to_mjd, mjd_to_decyear
from kansho.io.licsbas_h5 import CORE_KEYS, CumReader, write_cum_h5
from kansho.run import open_run

log = logging.getLogger(__name__)

__all__ = ["gnss_ramp_correct"]


class _MinusRamps:
    """``cube[k] - (ramp_k(x, y) - ref_mean[k])`` of an HDF5 cube, sliced lazily for write_cum_h5."""

    def __init__(self, cube: h5py.Dataset, xy: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], kind: str,
                 coef: npt.NDArray[np.float64], ref_mean: npt.NDArray[np.float64]) -> None:
        self.cube, self.xy, self.kind, self.coef, self.ref_mean = cube, xy, kind, coef, ref_mean
        self.shape = tuple(cube.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key: tuple[slice, slice, slice]) -> npt.NDArray[np.float32]:
        ke, kr, kc = key
        block = np.asarray(self.cube[ke, kr, kc], np.float64)
        x, y = self.xy[0][kr, kc], self.xy[1][kr, kc]
        g = ramp_design(x, y, self.kind)  # (pixels, p) of this block only
        ramps = (self.coef[ke] @ g.T).reshape(-1, *x.shape) - self.ref_mean[ke][:, None, None]
        return np.asarray(block - ramps, np.float32)


def gnss_ramp_correct(out: str | Path, station_files: Sequence[str | Path], *, kind: str = "linear",
                      radius_km: float = 0.5, window_days: float = 6.0,
                      decide: bool = True) -> tuple[EpochRamps, list[Path]]:
    """Fit and remove a ``kind`` ramp per epoch of the run ``out`` from the GNSS ``station_files``
    (``decide``: only the epochs whose tilt is significant, :func:`fit_epoch_ramps`).

    Returns the fitted ramps and the files written. Raises :class:`ConfigError` for a bad ``kind``
    and :class:`InputError` (naming the file) for a run or station file that cannot be used, or too
    few stations with series.
    """
    if kind not in RAMP_TERMS:
        raise ConfigError(f"--ramp {kind!r}: choose from {', '.join(RAMP_TERMS)}")
    run = open_run(out)
    track = load_track(out)
    cum_d = run.read_cum()
    dates = np.asarray(cum_d["imdates"], np.int64)
    t_dec = mjd_to_decyear([date_to_mjd(int(d)) for d in dates])
    rows, ins_ts, gn_ts = _station_rows(list(station_files), track, cum_d, t_dec, radius_km, window_days, {})
    del cum_d
    x_st, y_st = local_km(track.grid, [r.lon for r in rows], [r.lat for r in rows])
    t = years_since_first(dates)
    try:
        ramps = fit_epoch_ramps(x_st, y_st, np.stack(ins_ts), np.stack(gn_ts), t, kind=kind, decide=decide)
    except ValueError as exc:
        raise InputError(None, f"GNSS ramp: {exc} (stations with series: "
                               f"{sum(bool(np.isfinite(g).any()) for g in gn_ts)})") from None
    lon, lat = np.meshgrid(track.grid.lon(), track.grid.lat())
    xm, ym = local_km(track.grid, lon, lat)
    ref, ref_text = reference_pixels(run)
    ref_mean = np.array([float(ramp_map(xm[ref], ym[ref], c, kind).mean()) for c in ramps.coef])
    vel_ramp = ramp_map(xm, ym, ramps.rate, kind)
    vel_ramp -= vel_ramp[ref].mean()
    lay = run.layout
    from kansho.io.geotiff import write_geotiff

    written = [write_geotiff(lay.result_map("gnss_ramp_vel"), vel_ramp.astype(np.float32), track.grid, units="mm/yr",
                             description=f"velocity of the per-epoch {kind} ramps fitted to InSAR - GNSS (removed)")]
    vel = run.read_map("vel").astype(np.float64) - vel_ramp
    written.append(write_geotiff(lay.result_map("vel.gnssramp"), vel.astype(np.float32), track.grid, units="mm/yr",
                                 description=f"velocity after removing per-epoch {kind} GNSS ramps"))
    written.append(_write_cube(lay.cum, lay.root / "cum.gnssramp.h5", (xm, ym), ramps, ref_mean, vel_ramp))
    info = _info_text(ramps, rows, dates, ref_text, radius_km, window_days, out)
    written.append(write_text_atomic(lay.info / "gnss_ramp.txt", info))
    log.info("GNSS %s ramps: station RMS %.2f -> %.2f mm (median over epochs)", kind,
             float(np.nanmedian(ramps.rms_before)), float(np.nanmedian(ramps.rms_after)))
    return ramps, written


def _write_cube(src: Path, dst: Path, xy: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], ramps: EpochRamps,
                ref_mean: npt.NDArray[np.float64], vel_ramp: npt.NDArray[np.float64]) -> Path:
    """``dst``: the cum.h5 ``src`` without the per-epoch ramps (re-referenced) and ``vel_ramp``."""
    with CumReader(src) as r:
        grid, refarea = r.grid, r.refarea_box
    if grid is None or refarea is None:
        raise InputError(src, "no georeference (corner_lat/lon, post_lat/lon) or no refarea")
    with h5py.File(src, "r") as f:
        for key in ("vel", "vintercept", "mask", "gap"):
            if key not in f:
                raise InputError(src, f"no '{key}' dataset: not a complete cum.h5")
        extra: dict[str, Any] = {}
        for name, obj in f.items():
            if name in set(CORE_KEYS) | {"cum_std"} or not isinstance(obj, h5py.Dataset):
                continue
            val = obj[()]
            extra[name] = val.decode("utf-8") if isinstance(val, bytes) else val
        cube = _MinusRamps(f["cum"], xy, ramps.kind, ramps.coef, ref_mean)
        return write_cum_h5(dst, cum=cube, imdates=f["imdates"][()],
                            vel=np.asarray(f["vel"][()], np.float64) - vel_ramp, vintercept=f["vintercept"][()],
                            refarea=refarea, grid=grid, gap=f["gap"],
                            bperp=f["bperp"][()] if "bperp" in f else None, mask=f["mask"][()],
                            cum_std=f.get("cum_std"), extra=extra or None)


def _info_text(ramps: EpochRamps, rows: list[Any], dates: npt.NDArray[np.int64], ref_text: str, radius_km: float,
               window_days: float, out: str | Path) -> str:
    terms = {"offset": "a", "linear": "a b_x b_y", "quadratic": "a b_x b_y c_xx c_xy c_yy"}[ramps.kind]
    lines = [
        f"# per-epoch {ramps.kind} ramps fitted to InSAR - GNSS LOS differences (kansho {__version__})",
        f"run: {Path(out).resolve()}",
        f"stations ({len(rows)}): " + ", ".join(r.name for r in rows),
        f"InSAR averaged within {radius_km} km of a station; GNSS averaged within +-{window_days / 2} days of an epoch",
        "each station's mean difference over the epochs is removed (the GNSS origin); the ramps are relative to "
        "the first epoch, x/y in km east/north of the grid centre, mm (terms per km, per km^2)",
        f"after the ramps are removed, every epoch is referred again to {ref_text}",
        "velocity ramp removed (mm/yr, same terms): " + " ".join(f"{v:.4f}" for v in ramps.rate),
        "an epoch's ramp is removed (removed 1) where its F statistic against a constant exceeds the 95 % limit "
        "(nan: no test: the first epoch, --keep always or an offset ramp); the terms are the ramp fitted",
        f"epoch fitted removed F F_limit rms_before_mm rms_after_mm {terms}",
    ]
    for e, d in enumerate(dates):
        lines.append(f"{int(d)} {int(ramps.fitted[e])} {int(ramps.kept[e])} {ramps.ftest[e]:.3f} "
                     f"{ramps.ftest_limit[e]:.3f} {ramps.rms_before[e]:.3f} {ramps.rms_after[e]:.3f} "
                     + " ".join(f"{v:.5f}" for v in ramps.coef_fitted[e]))
    return "\n".join(lines) + "\n"
