"""Exports of a finished run for other tools: Cloud-Optimized GeoTIFF, KMZ, MintPy HDF5, CF-NetCDF, CSV.

Every function reads the run folder ``out`` (result maps, ``cum.h5`` and its filtered twin) and
writes into ``dest`` through a temporary name and a rename. Units follow the run (mm, mm/yr)
except the MintPy files, which use MintPy's metres.

The MintPy files are written by :mod:`kansho.export_mintpy` (layout and reference pixel there),
the LiCSBAS ``results/`` layout by :mod:`kansho.export_licsbas`. A LiCSBAS ``TS_GEOCml*`` folder
is exported like a run (:class:`kansho.run.LicsbasRun`); without ``cum.h5`` only its maps are.
:func:`export_many` checks every requested format before writing anything.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kansho._version import __version__
from kansho.errors import ConfigError, InputError
from kansho.export_licsbas import export_licsbas
from kansho.export_mintpy import export_mintpy
from kansho.layout import MAP_UNITS
from kansho.run import Run, open_run

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "export", "export_cog", "export_csv", "export_kmz", "export_licsbas", "export_many",
           "export_mintpy", "export_netcdf", "validate_cog"]


def _open(out: str | Path | Run) -> Run:
    """The run to export (an open :class:`~kansho.run.Run` or its folder)."""
    return out if isinstance(out, Run) else open_run(out)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


# ---------------------------------------------------------------------------------------------- COG
def export_cog(out: str | Path | Run, dest: str | Path) -> list[Path]:
    """Every ``results/*.tif`` as a Cloud-Optimized GeoTIFF ``dest/<name>.tif`` (GDAL's COG driver:
    512-px deflate tiles, overviews when larger than a tile), keeping CRS, NaN nodata and a
    ``units`` tag."""
    import rasterio
    import rasterio.shutil

    run = _open(out)
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name in run.layers():
        with rasterio.open(run.map_path(name)) as src:
            arr = src.read(1)
            units = src.tags(1).get("units") or MAP_UNITS.get(name, "")
            desc = src.descriptions[0] or name
            profile = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 1,
                       "dtype": arr.dtype.name, "crs": src.crs, "transform": src.transform,
                       "nodata": src.nodata if src.nodata is not None else (np.nan if arr.dtype.kind == "f" else None)}
        target = d / f"{name}.tif"
        tmp = _tmp(target)
        with rasterio.MemoryFile() as mem:
            with mem.open(**profile) as m:
                m.write(arr, 1)
                m.set_band_description(1, desc)
                m.update_tags(1, units=units)
                m.update_tags(AREA_OR_POINT="Area", SOFTWARE=f"kansho {__version__}")
            with mem.open() as m:
                rasterio.shutil.copy(m, tmp, driver="COG", compress="DEFLATE", predictor="YES" if arr.dtype.kind == "f"
                                     else "NO", blocksize=512, overview_resampling="nearest")
        os.replace(tmp, target)
        for problem in validate_cog(target):
            log.warning("%s: %s", target, problem)
        written.append(target)
    log.info("wrote %d Cloud-Optimized GeoTIFFs in %s", len(written), d)
    return written


def validate_cog(path: str | Path) -> list[str]:
    """Check a file against the COG layout (returns the problems; empty = valid).

    Checks, from the TIFF structure itself (classic TIFF or BigTIFF): GDAL's structural-metadata
    ghost header with ``LAYOUT=IFDS_BEFORE_DATA``; the main image is tiled; every IFD (main and
    overviews) comes before all image data; overviews, if any, are tiled and shrink; the data of
    the smallest overview comes first in the file (so a reader fetching a preview reads the head
    of the file) — the rules of the COG specification (cogeo.org) that GDAL's validator checks.
    """
    data = Path(path).read_bytes()
    errors: list[str] = []
    if data[:2] not in (b"II", b"MM"):
        return ["not a TIFF file"]
    e = "<" if data[:2] == b"II" else ">"
    magic = struct.unpack(e + "H", data[2:4])[0]
    big = magic == 43
    if magic not in (42, 43):
        return [f"bad TIFF magic {magic}"]
    first = struct.unpack(e + "Q", data[8:16])[0] if big else struct.unpack(e + "I", data[4:8])[0]
    head = data[16 if big else 8:first]
    if b"GDAL_STRUCTURAL_METADATA_SIZE" not in head:
        errors.append("no GDAL structural metadata (ghost header) before the first IFD")
    elif b"LAYOUT=IFDS_BEFORE_DATA" not in head:
        errors.append("ghost header does not declare LAYOUT=IFDS_BEFORE_DATA")
    types = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
    fmt = {1: "B", 3: "H", 4: "I", 16: "Q", 6: "b", 8: "h", 9: "i", 17: "q"}
    ifds: list[tuple[int, dict[int, list[int]]]] = []
    off = first
    while off and len(ifds) < 64:
        n = struct.unpack(e + ("Q" if big else "H"), data[off:off + (8 if big else 2)])[0]
        p = off + (8 if big else 2)
        tags: dict[int, list[int]] = {}
        esz = 20 if big else 12
        for i in range(n):
            ent = data[p + i * esz:p + (i + 1) * esz]
            tag, typ = struct.unpack(e + "HH", ent[:4])
            cnt = struct.unpack(e + ("Q" if big else "I"), ent[4:12 if big else 8])[0]
            raw = ent[12:20] if big else ent[8:12]
            size = types.get(typ, 1) * cnt
            if size > len(raw):
                vo = struct.unpack(e + ("Q" if big else "I"), raw)[0]
                raw = data[vo:vo + size]
            if typ in fmt and tag in (256, 257, 322, 323, 324, 325, 254):
                tags[tag] = list(struct.unpack(e + fmt[typ] * cnt, raw[:types[typ] * cnt]))
        ifds.append((off, tags))
        q = p + n * esz
        off = struct.unpack(e + ("Q" if big else "I"), data[q:q + (8 if big else 4)])[0]
    if not ifds:
        return [*errors, "no IFD"]
    main = ifds[0][1]
    if 322 not in main or 324 not in main:
        errors.append("the main image is not tiled")
    data_start = min((min(t[324]) for _, t in ifds if t.get(324) and min(t[324]) > 0), default=len(data))
    if max(o for o, _ in ifds) > data_start:
        errors.append("an IFD lies after image data (IFDs must come first)")
    images = [t for _, t in ifds if not (t.get(254, [0])[0] & 4)]  # skip masks
    for a, b in itertools.pairwise(images):
        if 322 not in b:
            errors.append("an overview is not tiled")
        elif b.get(256, [0])[0] >= a.get(256, [0])[0]:
            errors.append("overviews do not shrink")
    if len(images) > 1 and all(t.get(324) for t in images):
        starts = [min(x for x in t[324] if x > 0) for t in images]
        if starts != sorted(starts, reverse=True):
            errors.append("image data are not ordered smallest overview first")
    return errors


# ---------------------------------------------------------------------------------------------- KMZ
def export_kmz(out: str | Path | Run, dest: str | Path, layer: str = "vel.mskd", vmin: float | None = None,
               vmax: float | None = None, cmap: str = "RdBu_r") -> Path:
    """``dest/<layer>.kmz`` for Google Earth: a KML ``GroundOverlay`` of the coloured map (PNG,
    transparent where no data) on the run's lon/lat box, with a colour-bar ``ScreenOverlay``."""
    from xml.sax.saxutils import escape

    from kansho.render import colourize, encode_png, robust_limits

    run = _open(out)
    if not run.has_map(layer):
        raise ConfigError(f"no results/{layer}.tif in {run.out} (have: {', '.join(run.layers())})")
    a = run.read_map(layer)
    lo, hi = robust_limits(a, symmetric=layer.startswith("vel"))
    vmin = lo if vmin is None else vmin
    vmax = hi if vmax is None else vmax
    if not vmax > vmin:
        raise ConfigError(f"--vmax ({vmax}) must be greater than --vmin ({vmin})")
    units = MAP_UNITS.get(layer, "")
    overlay = encode_png(colourize(a, vmin, vmax, cmap))
    legend = _colourbar_png(vmin, vmax, cmap, f"{layer} ({units}), LOS, + toward the satellite")
    g = run.grid
    x0, dx, _, y0, _, dy = g.transform
    north, south, west, east = y0, y0 + dy * g.height, x0, x0 + dx * g.width
    name = escape(f"Kansho {layer} {run.dates[0]}-{run.dates[-1]}")
    kml = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>{name}</name>
  <description>{escape(f"kansho {__version__}: {layer} of run {run.out.name}, colour limits {vmin:g} to "
                       f"{vmax:g} {units}")}</description>
  <GroundOverlay>
    <name>{escape(layer)}</name>
    <Icon><href>{escape(layer)}.png</href></Icon>
    <LatLonBox><north>{north:.9f}</north><south>{south:.9f}</south><east>{east:.9f}</east><west>{west:.9f}</west></LatLonBox>
  </GroundOverlay>
  <ScreenOverlay>
    <name>colour bar</name>
    <Icon><href>colourbar.png</href></Icon>
    <overlayXY x="0" y="0" xunits="fraction" yunits="fraction"/>
    <screenXY x="0.02" y="0.05" xunits="fraction" yunits="fraction"/>
    <size x="0" y="0" xunits="pixels" yunits="pixels"/>
  </ScreenOverlay>
</Document>
</kml>
"""
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    target = d / f"{layer}.kmz"
    tmp = _tmp(target)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", kml)  # first entry: what Google Earth opens
        z.writestr(f"{layer}.png", overlay, compress_type=zipfile.ZIP_STORED)
        z.writestr("colourbar.png", legend, compress_type=zipfile.ZIP_STORED)
    os.replace(tmp, target)
    return target


def _colourbar_png(vmin: float, vmax: float, cmap: str, label: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize

    fig = plt.figure(figsize=(3.6, 0.8), dpi=100)
    ax = fig.add_axes((0.05, 0.55, 0.9, 0.3))
    ColorbarBase(ax, cmap=matplotlib.colormaps[cmap], norm=Normalize(vmin, vmax), orientation="horizontal",
                 label=label)
    ax.xaxis.label.set_fontsize(7)
    ax.tick_params(labelsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- NetCDF
def netcdf_engine() -> Literal["h5netcdf", "netcdf4"]:
    """The xarray NetCDF engine used: ``h5netcdf`` if installed, else ``netcdf4``."""
    import importlib.util

    if importlib.util.find_spec("h5netcdf") is not None:
        return "h5netcdf"
    if importlib.util.find_spec("netCDF4") is not None:
        return "netcdf4"
    raise ConfigError("NetCDF export needs h5netcdf (pip install h5netcdf) or netCDF4")


def export_netcdf(out: str | Path | Run, dest: str | Path) -> Path:
    """``dest/kansho_timeseries.nc``: the cube (and the filtered cube) with velocity, its standard
    deviation and the mask, CF-1.8 conventions (``latitude_longitude`` grid mapping, time as days
    since the first epoch), through xarray."""
    import pandas as pd
    import xarray as xr

    engine = netcdf_engine()
    run = _open(out)
    g = run.grid
    time = pd.to_datetime([str(int(x)) for x in run.dates], format="%Y%m%d")
    coords = {"time": ("time", time), "lat": ("lat", g.lat()), "lon": ("lon", g.lon())}
    data = _netcdf_variables(run)
    ds = xr.Dataset({k: xr.Variable(*v) for k, v in data.items()}, coords=coords)
    ds["crs"] = xr.Variable((), np.int32(0), {"grid_mapping_name": "latitude_longitude", "epsg_code": "EPSG:4326",
                                             "semi_major_axis": 6378137.0, "inverse_flattening": 298.257223563,
                                             "crs_wkt": 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,'
                                                        '298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",'
                                                        '0.0174532925199433],AUTHORITY["EPSG","4326"]]'})
    ds["lat"].attrs.update(units="degrees_north", standard_name="latitude", long_name="latitude", axis="Y")
    ds["lon"].attrs.update(units="degrees_east", standard_name="longitude", long_name="longitude", axis="X")
    ds["time"].attrs.update(standard_name="time", long_name="acquisition date", axis="T")
    ref = run.refarea
    ds.attrs.update(Conventions="CF-1.8", title=f"Kansho InSAR time series of run {run.out.name}",
                    source=f"kansho {__version__}", history=f"kansho export --format netcdf {run.out}",
                    reference_area="" if ref is None else f"rows {ref[0]}:{ref[1]}, cols {ref[2]}:{ref[3]} "
                                                          "(end-exclusive), mean set to 0 at every epoch",
                    reference_date=str(int(run.dates[0])))
    enc: dict[str, dict[str, Any]] = {k: {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan)}
                                      for k in data}
    enc["time"] = {"units": f"days since {time[0]:%Y-%m-%d}", "calendar": "standard", "dtype": "int32"}
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    target = d / "kansho_timeseries.nc"
    tmp = _tmp(target)
    ds.to_netcdf(tmp, engine=engine, encoding=enc)
    os.replace(tmp, target)
    return target


# ---------------------------------------------------------------------------------------------- CSV
def export_csv(out: str | Path | Run, dest: str | Path, *, lonlat: Sequence[tuple[float, float]] = (),
               pixels: Sequence[tuple[int, int]] = (), filename: str = "points.csv") -> Path:
    """Time series of chosen points as a long CSV (one row per point and epoch): ``point, lon, lat,
    row, col, date, decimal_year, cum_mm, cum_filt_mm, vel_mm_yr, vstd_mm_yr``. Points are given
    as lon/lat (the pixel containing them) or row/col; only those pixels are read from the cube."""
    from kansho._dates import decimal_year

    run = _open(out)
    g = run.grid
    pts = _csv_points(run, lonlat, pixels)
    if not run.has_cum:
        raise InputError(run.cum_path(), "missing: the CSV export needs the time series (cum.h5)")
    t = decimal_year(run.dates)
    vel = run.read_map("vel")
    vstd = _map_or_nan(run, "vstd", vel)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", "lon", "lat", "row", "col", "date", "decimal_year", "cum_mm", "cum_filt_mm", "vel_mm_yr",
                "vstd_mm_yr"])
    ys = run.cum_pixels(pts)
    yfs = run.cum_pixels(pts, filtered=True) if run.has_filt else np.full(ys.shape, np.nan)
    for k, ((r, c), y, yf) in enumerate(zip(pts, ys, yfs, strict=True), start=1):
        for i, dte in enumerate(run.dates):
            w.writerow([k, f"{g.lon()[c]:.7f}", f"{g.lat()[r]:.7f}", r, c, int(dte), f"{t[i]:.6f}",
                        _f(y[i]), _f(yf[i]), _f(vel[r, c]), _f(vstd[r, c])])
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    target = d / filename
    tmp = _tmp(target)
    tmp.write_text(buf.getvalue())
    os.replace(tmp, target)
    return target


def _map_or_nan(run: Run, name: str, like: np.ndarray) -> np.ndarray:
    return run.read_map(name) if run.has_map(name) else np.full_like(like, np.nan)


def _csv_points(run: Run, lonlat: Sequence[tuple[float, float]], pixels: Sequence[tuple[int, int]],
                ) -> list[tuple[int, int]]:
    """The pixels (row, col) of the CSV's points; ConfigError for one outside the grid or for none."""
    g = run.grid
    pts: list[tuple[int, int]] = []
    for lon, lat in lonlat:
        r, c = g.rowcol(lon, lat)
        if not (0 <= r < g.height and 0 <= c < g.width):
            raise ConfigError(f"point lon {lon}, lat {lat} is outside the run's grid")
        pts.append((r, c))
    for r, c in pixels:
        if not (0 <= r < g.height and 0 <= c < g.width):
            raise ConfigError(f"pixel row {r}, col {c} is outside the {g.height} x {g.width} grid")
        pts.append((int(r), int(c)))
    if not pts:
        raise ConfigError("CSV export needs points: --point LON,LAT or --pixel ROW,COL")
    return pts


def _netcdf_variables(run: Run) -> dict[str, Any]:
    """The NetCDF data variables of a run: name -> (dims, values, attributes)."""
    data: dict[str, Any] = {}
    if run.has_cum:
        data["displacement"] = (("time", "lat", "lon"), run.read_cube(),
                                {"units": "mm", "grid_mapping": "crs",
                                 "long_name": "cumulative LOS displacement, positive toward the satellite"})
    else:
        log.warning("%s: no cum.h5: the NetCDF file holds the maps only", run.path)
    if run.has_filt:
        data["displacement_filtered"] = (("time", "lat", "lon"), run.read_cube(filtered=True),
                                         {"units": "mm", "grid_mapping": "crs",
                                          "long_name": "cumulative LOS displacement after the spatio-temporal "
                                                       "filter, positive toward the satellite"})
    for name, var, desc in (("vel", "velocity", "LOS velocity, positive toward the satellite"),
                            ("vel.filt", "velocity_filtered", "LOS velocity after the filter"),
                            ("vstd", "velocity_std", "bootstrap standard deviation of the velocity"),
                            ("mask", "mask", "1 = kept by the noisy-pixel mask, 0 = masked")):
        if run.has_map(name):
            data[var] = (("lat", "lon"), run.read_map(name), {"units": MAP_UNITS.get(name, "1"), "long_name": desc,
                                                              "grid_mapping": "crs"})
    return data


def _f(v: float) -> str:
    return f"{v:.4f}" if np.isfinite(v) else ""


@dataclass(frozen=True)
class ExportFormat:
    """One export format: what ``kansho export --format NAME`` writes and which options it takes."""

    name: str
    #: one line for ``--help``
    description: str
    #: ``write(run, dest, **options) -> files written``
    write: Callable[..., list[Path]]
    #: keyword options ``write`` takes (the CLI passes only these)
    options: tuple[str, ...] = ()
    #: needs points (``lonlat``/``pixels``): left out of ``--format all`` when none are given
    needs_points: bool = False
    #: needs the time series (``cum.h5``): refused for a LiCSBAS folder that has only ``results/``
    needs_cum: bool = False


def _listed(fn: Callable[..., Path]) -> Callable[..., list[Path]]:
    def write(out: str | Path | Run, dest: str | Path, **options: Any) -> list[Path]:
        return [fn(out, dest, **options)]

    return write


#: the export formats by name, in the order ``--format all`` writes them
FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("cog", "every results/*.tif as a Cloud-Optimized GeoTIFF", export_cog),
    ExportFormat("kmz", "a map for Google Earth", _listed(export_kmz), ("layer", "vmin", "vmax")),
    ExportFormat("mintpy", "timeseries.h5 + velocity.h5 in MintPy's layout (m, m/yr)", export_mintpy,
                 ("filtered",)),
    ExportFormat("netcdf", "CF-1.8 NetCDF of the cube via xarray", _listed(export_netcdf)),
    ExportFormat("csv", "time series of points", _listed(export_csv), ("lonlat", "pixels"), needs_points=True,
                 needs_cum=True),
    ExportFormat("licsbas", "LiCSBAS's layout: results/ flat float32 maps, EQA.dem_par, slc.mli.par, cum.h5, "
                 "cum_filt.h5 (with its filter widths), info/", export_licsbas),
)}


def export(out: str | Path | Run, fmt: str, dest: str | Path, **options: Any) -> list[Path]:
    """Run one export by name (a key of :data:`FORMATS`); returns the files written."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    return FORMATS[fmt].write(out, dest, **options)


def plan_formats(run: Run, names: Sequence[str], *, all_formats: bool, have_points: bool) -> list[str]:
    """The formats to write, checked before anything is written: ``ConfigError`` for an unknown name,
    for csv asked by name without points, or for a format that needs ``cum.h5`` when the run has none.
    With ``all_formats``, those that cannot be written (csv without points, series without a cube)
    are left out, each with a note in the log."""
    bad = [f for f in names if f not in FORMATS]
    if bad or not names:
        raise ConfigError(f"--format: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    keep = []
    for name in names:
        f = FORMATS[name]
        why = ("needs points (--point LON,LAT or --pixel ROW,COL)" if f.needs_points and not have_points else
               f"needs the time series, and {run.cum_path()} is missing" if f.needs_cum and not run.has_cum else "")
        if not why:
            keep.append(name)
        elif all_formats:
            log.warning("export: %s left out: it %s", name, why)
        else:
            raise ConfigError(f"--format {name} {why}; nothing was written")
    return keep


def export_many(out: str | Path | Run, names: Sequence[str], dest: str | Path, *, all_formats: bool = False,
                **options: Any) -> list[tuple[str, Path]]:
    """Several exports into ``dest`` (``(format, file)`` pairs), every format checked first
    (:func:`plan_formats`), so a refused one leaves nothing half-written."""
    run = _open(out)
    have_points = bool(options.get("lonlat") or options.get("pixels"))
    written = []
    for name in plan_formats(run, names, all_formats=all_formats, have_points=have_points):
        f = FORMATS[name]
        written += [(name, p) for p in f.write(run, dest, **{k: options[k] for k in f.options if k in options})]
    return written
