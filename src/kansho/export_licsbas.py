"""A run exported in LiCSBAS's time-series layout, so LiCSBAS's own tools (``LiCSBAS_plot_ts``,
``LiCSBAS_get_value_geo``, ``LiCSBAS_profile``, ``LiCSBAS_flt2geotiff``, ``LiCSBAS_cum2vel`` ...)
read it: :func:`export_licsbas`.

``DEST/`` (a ``TS_GEOCml*``-like folder)::

    results/<name>     every map of the run as headerless float32 little-endian (width x length),
                       NaN = no data, under LiCSBAS's names: vel, vstd, coh_avg, n_unw, n_loop_err,
                       n_gap, n_ifg_noloop, resid_rms, stc, mask, vel.filt, vel.mskd, vintercept,
                       hgt (the DEM, m) and maxTlen (the longest gap-free span, yr, from cum.h5's gap)
    info/EQA.dem_par   GAMMA DEM/MAP parameters: width, nlines, corner_lat/lon (centre of the top-left
                       pixel), post_lat/lon, ellipsoid (what get_value_geo / profile / flt2geotiff read)
    info/slc.mli.par   range_samples, azimuth_lines, radar_frequency (Hz, from the wavelength)
    info/13used_image.txt, info/12ref.txt, 13ref.txt, 13parameters.txt   epochs, reference area, sizes
    cum.h5             the run's cube (already LiCSBAS's layout)
    cum_filt.h5        the filtered cube with the scalars LiCSBAS's step 16 adds and plot_ts reads for
                       its legend: filtwidth_km, filtwidth_yr (float), deramp_flag (empty = none, else
                       the degree), hgt_linear_flag (0/1)

Each file is written under a temporary name and renamed.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np

from kansho._types import Float32Array
from kansho.errors import InputError
from kansho.io.licsbas_h5 import filter_keys
from kansho.run import Run, open_run

log = logging.getLogger(__name__)

__all__ = ["export_licsbas", "max_tlen"]

_LIGHT = 299792458.0


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_bytes(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def max_tlen(dates: np.ndarray, gap: np.ndarray) -> Float32Array:
    """LiCSBAS's ``maxTlen``: per pixel, the longest span (yr) of consecutive epochs with no network
    gap between them; ``gap`` is (n_epoch - 1, rows, cols), 1 where epochs i and i + 1 are not connected."""
    from kansho._dates import years_since_first

    t = years_since_first(dates)
    start = np.zeros(gap.shape[1:], np.float64)
    best = np.zeros(gap.shape[1:], np.float64)
    for i in range(gap.shape[0]):
        cut = np.asarray(gap[i]) != 0
        start = np.where(cut, t[i + 1], start)
        best = np.maximum(best, np.where(cut, 0.0, t[i + 1] - start))
    return best.astype(np.float32)


def _dem_par(run: Run) -> str:
    g = run.grid
    x0, dx, _, y0, _, dy = g.transform
    return ("Gamma DIFF&GEO DEM/MAP parameter file\ntitle: DEM\nDEM_projection:     EQA\ndata_format:        REAL*4\n"
            "DEM_hgt_offset:          0.00000\nDEM_scale:               1.00000\n"
            f"width: {g.width}\nnlines: {g.height}\n"
            f"corner_lat: {y0 + dy / 2.0!r}  decimal degrees\ncorner_lon: {x0 + dx / 2.0!r}  decimal degrees\n"
            f"post_lat: {dy!r} decimal degrees\npost_lon: {dx!r} decimal degrees\n\n"
            "ellipsoid_name: WGS 84\nellipsoid_ra:        6378137.000   m\n"
            "ellipsoid_reciprocal_flattening:  298.2572236\n\ndatum_name: WGS 1984\n")


def _mli_par(run: Run) -> str:
    g = run.grid
    text = f"range_samples: {g.width}\nazimuth_lines: {g.height}\n"
    if run.wavelength:
        text += f"radar_frequency: {_LIGHT / run.wavelength:.1f} Hz\n"
    return text


def _maps(run: Run) -> dict[str, Float32Array]:
    """The flat maps to write: the run's maps, its DEM and maxTlen when it has none of its own."""
    maps = {name: run.read_map(name) for name in run.layers()}
    if "hgt" not in maps and run.has_stack:
        try:
            maps["hgt"] = np.asarray(run.stack.read2d("hgt"), np.float32)
        except (KeyError, InputError, OSError) as exc:
            log.warning("LiCSBAS export: no hgt (%s)", exc)
    if "maxTlen" not in maps and run.has_cum:
        gap = run.cum_dataset("gap")
        if gap is not None and gap.shape[1:] == run.grid.shape:
            m = max_tlen(run.dates, gap)
            if "vel" in maps:
                m[~np.isfinite(maps["vel"])] = np.nan
            maps["maxTlen"] = m
    return maps


def _filter_scalars(run: Run) -> dict[str, object]:
    """``filtwidth_km``, ``filtwidth_yr``, ``deramp_flag``, ``hgt_linear_flag`` of the run's filter step
    (NaN widths when the record is missing or the filter declined)."""
    try:
        res = run.result("filter")
        return filter_keys(getattr(res, "sigma_km", None), getattr(res, "sigma_yr", None),
                           int(getattr(res, "deramp", 0) or 0), bool(getattr(res, "hgt_corr", False)))
    except (InputError, KeyError, ValueError, TypeError) as exc:
        log.warning("LiCSBAS export: the filter widths are unknown (%s): filtwidth_km/yr are NaN", exc)
        return filter_keys(None, None, 0, False)


def _copy_h5(src: Path, target: Path, scalars: dict[str, object] | None) -> Path:
    import h5py

    tmp = _tmp(target)
    shutil.copyfile(src, tmp)
    try:
        if scalars:
            with h5py.File(tmp, "a") as f:
                for k, v in scalars.items():
                    if k in f:
                        del f[k]
                    f.create_dataset(k, data=v)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _info(run: Run) -> dict[str, str]:
    g = run.grid
    files = {"EQA.dem_par": _dem_par(run), "slc.mli.par": _mli_par(run),
             "13used_image.txt": "".join(f"{int(d)}\n" for d in run.dates)}
    params = f"range_samples:  {g.width}\nazimuth_lines:  {g.height}\n"
    if run.wavelength:
        params += f"wavelength:     {run.wavelength!r}\n"
    params += f"n_im:           {run.dates.size}\n"
    if run.refarea is not None:
        r0, r1, c0, c1 = run.refarea
        # one area for the maps and the series in a Kansho run: LiCSBAS's 12ref (maps) and 13ref (cum.h5)
        files["12ref.txt"] = files["13ref.txt"] = f"{c0}:{c1}/{r0}:{r1}\n"
        params += f"ref_area:       {c0}:{c1}/{r0}:{r1}\n"
    files["13parameters.txt"] = params
    return files


def export_licsbas(out: str | Path | Run, dest: str | Path) -> list[Path]:
    """Write the run in LiCSBAS's time-series layout into ``dest`` (module docstring); returns the files."""
    run = out if isinstance(out, Run) else open_run(out, need_cum=False)
    d = Path(dest)
    written = []
    for name, a in _maps(run).items():
        written.append(_write_bytes(d / "results" / name, np.ascontiguousarray(a, "<f4").tobytes()))
    for name, text in _info(run).items():
        written.append(_write_bytes(d / "info" / name, text.encode()))
    if run.has_cum and run.cum_path().resolve() != (d / "cum.h5").resolve():
        written.append(_copy_h5(run.cum_path(), d / "cum.h5", None))
    if run.has_filt and run.cum_path(True).resolve() != (d / "cum_filt.h5").resolve():
        import h5py

        with h5py.File(run.cum_path(True), "r") as f:
            has_keys = "filtwidth_km" in f and "filtwidth_yr" in f
        written.append(_copy_h5(run.cum_path(True), d / "cum_filt.h5", None if has_keys else _filter_scalars(run)))
    log.info("wrote LiCSBAS's layout in %s: %d maps in results/, info/, %s", d,
             sum(p.parent.name == "results" for p in written), ", ".join(p.name for p in written if p.suffix == ".h5"))
    return written
