"""LiCSBAS's prepared folders ``GEOCml*`` (output of its step 02), so LiCSBAS users keep their data.

Layout (Morishita et al. 2020, as LiCSBAS writes it)::

    GEOCml10/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.unw   float32 little-endian, rad, 0/NaN = no data
    GEOCml10/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.cc    uint8 (0-255) or float32 (0-1) coherence
    GEOCml10/slc.mli.par    GAMMA parameters: range_samples (width), azimuth_lines (length),
                            radar_frequency, center_time, ...
    GEOCml10/EQA.dem_par    GAMMA DEM/MAP parameters: width, nlines, corner_lat, corner_lon,
                            post_lat, post_lon (the corner is the CENTRE of the top-left pixel)
    GEOCml10/E.geo N.geo U.geo hgt   float32 LOS unit vector (ground → satellite) and DEM (m)
    GEOCml10/baselines                (optional)

Every raster is ``width`` x ``length`` with no header of its own; the byte size tells uint8 from
float32 coherence. Problems are one-line :class:`~kansho.errors.InputError`: a missing
``slc.mli.par`` / ``EQA.dem_par`` or pair file, a malformed parameter file, sizes that disagree, a
file of the wrong byte size.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import BinarySpec

log = logging.getLogger(__name__)

__all__ = ["GEOMETRY_FILES", "geocml_cc_spec", "geocml_grid", "is_geocml", "read_gamma_par"]

#: LiCSBAS GEOCml geometry files by kansho's geometry key
GEOMETRY_FILES = {"E": "E.geo", "N": "N.geo", "U": "U.geo", "hgt": "hgt"}


def is_geocml(folder: Path) -> bool:
    """True if ``folder`` looks like a LiCSBAS ``GEOCml*`` folder (has ``EQA.dem_par`` or ``slc.mli.par``
    and a pair folder holding a ``.unw`` file)."""
    if not ((folder / "EQA.dem_par").is_file() or (folder / "slc.mli.par").is_file()):
        return False
    try:
        for d in folder.iterdir():
            if d.is_dir() and re.fullmatch(r"\d{8}_\d{8}", d.name) and (d / f"{d.name}.unw").is_file():
                return True
    except OSError:
        return False
    return False


def read_gamma_par(path: str | Path) -> dict[str, str]:
    """``key → value`` (key lower case, value without trailing units kept as text) of a GAMMA ``.par``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing GAMMA parameter file")
    try:
        raw = path.read_bytes()[:200_000]
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None
    if b"\x00" in raw[:4096]:
        raise InputError(path, "malformed parameter file: binary content")
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        m = re.match(r"^\s*([A-Za-z_][\w]*)\s*:\s*(.*)$", line)
        if m:
            out[m.group(1).lower()] = m.group(2).strip()
    return out


def _num(vals: dict[str, str], key: str, path: Path) -> float:
    if key not in vals:
        raise InputError(path, f"malformed parameter file: {key} missing")
    try:
        return float(vals[key].split()[0])
    except (ValueError, IndexError):
        raise InputError(path, f"malformed parameter file: {key} = {vals[key][:40]!r} is not a number") from None


def geocml_grid(folder: Path) -> tuple[Grid, dict[str, str]]:
    """The grid of a ``GEOCml*`` folder from ``EQA.dem_par``, checked against ``slc.mli.par``.

    Returns ``(grid, slc.mli.par values)``. ``corner_lat/lon`` are pixel centres (GAMMA), so the
    geotransform origin is ``corner − post/2``.
    """
    dem_par = folder / "EQA.dem_par"
    mli_par = folder / "slc.mli.par"
    if not dem_par.is_file():
        raise InputError(folder, "missing companion file EQA.dem_par (the grid of a GEOCml folder)")
    if not mli_par.is_file():
        raise InputError(folder, "missing companion file slc.mli.par (width and length of a GEOCml folder)")
    dv = read_gamma_par(dem_par)
    mv = read_gamma_par(mli_par)
    width = int(_num(dv, "width", dem_par))
    length = int(_num(dv, "nlines", dem_par))
    w2 = int(_num(mv, "range_samples", mli_par))
    l2 = int(_num(mv, "azimuth_lines", mli_par))
    if (width, length) != (w2, l2):
        raise InputError(mli_par, f"size {w2} x {l2} differs from EQA.dem_par's {width} x {length}")
    if width < 1 or length < 1:
        raise InputError(dem_par, f"malformed parameter file: width {width}, nlines {length}")
    lat0 = _num(dv, "corner_lat", dem_par)
    lon0 = _num(dv, "corner_lon", dem_par)
    dlat = _num(dv, "post_lat", dem_par)
    dlon = _num(dv, "post_lon", dem_par)
    if dlat == 0 or dlon == 0:
        raise InputError(dem_par, "malformed parameter file: zero post_lat or post_lon")
    dlat = -abs(dlat)  # north-up
    grid = Grid(width, length, (lon0 - dlon / 2.0, dlon, 0.0, lat0 - dlat / 2.0, 0.0, dlat), "EPSG:4326")
    return grid, mv


def geocml_float_spec(grid: Grid) -> BinarySpec:
    """Spec of a float32 little-endian GEOCml raster (unw, E.geo, U.geo, hgt ...)."""
    return BinarySpec(grid.width, grid.height, "<f4")


def geocml_cc_spec(path: Path, grid: Grid) -> BinarySpec:
    """Spec of a GEOCml coherence file: uint8 (0-255) or float32 (0-1), told apart by its size."""
    if not path.is_file():
        raise InputError(path, "file not found")
    size = path.stat().st_size
    n = grid.width * grid.height
    if size == n:
        return BinarySpec(grid.width, grid.height, "|u1")
    if size == 4 * n:
        return BinarySpec(grid.width, grid.height, "<f4")
    raise InputError(path, f"wrong byte size: {size} bytes, expected {n} (uint8) or {4 * n} (float32) for "
                           f"{grid.width} x {grid.height} px")
