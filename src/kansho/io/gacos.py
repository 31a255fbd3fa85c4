"""Read per-epoch tropospheric delay maps for the GACOS correction (Step 0-3).

Accepted files in a GACOS folder (the date ``yyyymmdd`` opens the name):

``yyyymmdd.ztd`` + ``yyyymmdd.ztd.rsc``
    GACOS's own product (Yu et al. 2018): zenith total delay in metres, float32 little-endian,
    ``WIDTH`` x ``FILE_LENGTH`` samples, grid from ``X_FIRST``/``Y_FIRST``/``X_STEP``/``Y_STEP``
    (see :mod:`kansho.io.envi`); 0 = no data.
``yyyymmdd.ztd.tif`` / ``yyyymmdd.tif``
    the same zenith delay (m) as a GeoTIFF.
``yyyymmdd.sltd.geo.tif`` (also under ``epochs/yyyymmdd/`` as on the LiCSAR portal)
    LiCSAR's per-epoch GACOS product: the *slant* delay already projected on the frame's line of
    sight and expressed as phase in radians of the frame's wavelength, positive for a larger delay
    (LiCSAR's ``make_gacos_ifg`` forms sltd(date2) − sltd(date1) and subtracts it from the
    unwrapped phase); 0 = no data.

:func:`read_delay` returns a :class:`DelayMap` whose ``kind`` says which of the two quantities it
holds; :mod:`kansho.prep` does the projection and differencing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import read_binary, read_rsc, rsc_grid, rsc_spec
from kansho.io.geotiff import read_grid, read_raster

log = logging.getLogger(__name__)

__all__ = ["KIND_SLTD_RAD", "KIND_ZTD_M", "DelayMap", "find_delay_files", "read_delay"]

KIND_ZTD_M = "ztd_m"
KIND_SLTD_RAD = "sltd_rad"

_NAME_RE = re.compile(r"^(\d{8})\.(ztd|ztd\.tif|tif|tiff|sltd\.geo\.tif)$", re.IGNORECASE)


@dataclass(frozen=True)
class DelayMap:
    """One epoch's delay: ``data`` (grid.height, grid.width) float32, NaN = no data."""

    date: int
    data: npt.NDArray[np.float32]
    grid: Grid
    kind: str  # KIND_ZTD_M (zenith, metres) or KIND_SLTD_RAD (slant, radians of phase)
    path: Path


def delay_kind(path: Path) -> str:
    return KIND_SLTD_RAD if path.name.lower().endswith(".sltd.geo.tif") else KIND_ZTD_M


def layer_candidates(root: Path) -> list[Path]:
    """The files of a per-epoch layer folder: its own, and those of its ``yyyymmdd/`` (or
    ``epochs/yyyymmdd/``) subfolders, as the LiCSAR portal lays epochs out."""
    cands = [p for p in root.iterdir() if p.is_file()]
    for sub in (root / "epochs", root):
        if sub.is_dir():
            for d in sub.iterdir():
                if d.is_dir() and re.fullmatch(r"\d{8}", d.name):
                    cands.extend(p for p in d.iterdir() if p.is_file())
    return cands


def find_delay_files(folder: str | Path) -> dict[int, Path]:
    """``date → file`` for every delay file in ``folder`` (and its ``epochs/yyyymmdd/`` sub-folders).

    Raises :class:`InputError` if the folder is missing or holds no delay file, or if one date
    has files of both kinds (zenith and slant). When a date has a ``.ztd`` and a ``.ztd.tif``,
    the binary product is used.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(root, "GACOS folder not found")
    cands = layer_candidates(root)
    found: dict[int, Path] = {}
    for p in sorted(cands):
        m = _NAME_RE.match(p.name)
        if m is None or p.name.lower().endswith(".rsc"):
            continue
        date = int(m.group(1))
        prev = found.get(date)
        if prev is not None:
            if delay_kind(prev) != delay_kind(p):
                raise InputError(p, f"date {date} has both a zenith (.ztd) and a slant (.sltd) delay file; keep one")
            if prev.suffix.lower() == ".ztd":
                continue
            if p.suffix.lower() != ".ztd":
                log.warning("%s: several delay files for %d, using %s", root, date, prev.name)
                continue
        found[date] = p
    if not found:
        raise InputError(root, "no GACOS delay files (yyyymmdd.ztd + .ztd.rsc, yyyymmdd.ztd.tif or "
                               "yyyymmdd.sltd.geo.tif)")
    return dict(sorted(found.items()))


def read_delay(path: str | Path) -> DelayMap:
    """Read one delay file (see the module docstring); 0 and non-finite values become NaN.

    Raises :class:`InputError` for a missing ``.rsc``, a malformed header, a wrong byte size, or
    an unreadable GeoTIFF.
    """
    path = Path(path)
    m = re.match(r"^(\d{8})", path.name)
    if m is None:
        raise InputError(path, "a delay file name must start with its date yyyymmdd")
    date = int(m.group(1))
    if path.suffix.lower() in (".tif", ".tiff"):
        grid = read_grid(path)
        data = read_raster(path, dtype=np.float32)
    else:
        rsc = path.with_name(path.name + ".rsc")
        if not rsc.is_file():
            raise InputError(path, f"missing companion header {rsc.name}")
        vals = read_rsc(rsc)
        spec = rsc_spec(vals, rsc)
        g = rsc_grid(vals, spec, rsc)
        if g is None:
            raise InputError(rsc, "malformed .rsc header: no X_FIRST/Y_FIRST/X_STEP/Y_STEP (not geocoded)")
        grid = g
        data = read_binary(path, spec)
    data = np.where(np.isfinite(data) & (data != 0), data, np.nan).astype(np.float32)
    kind = delay_kind(path)
    if kind == KIND_ZTD_M:
        fin = data[np.isfinite(data)]
        if fin.size and not (0.5 < float(np.median(fin)) < 5.0):
            raise InputError(path, f"zenith delay median {float(np.median(fin)):.4g} is not in metres "
                                   "(expected ~1-3 m; wrong byte order or not a GACOS ZTD?)")
    return DelayMap(date, data, grid, kind, path)
