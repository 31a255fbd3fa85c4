"""Single-band GeoTIFF reading and atomic writing on a :class:`~kansho.grid.Grid`."""

from __future__ import annotations

import errno
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window

from kansho._files import disk_full_error, is_disk_full, nearly_full
from kansho.errors import InputError, KanshoError
from kansho.grid import Grid

log = logging.getLogger(__name__)


def _affine(grid: Grid) -> Affine:
    return Affine.from_gdal(*grid.transform)


def read_grid(path: str | Path) -> Grid:
    """The grid of a raster file; :class:`InputError` if it cannot be opened as a raster."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with warnings.catch_warnings():  # a file cut short may lose its geotransform: the grids' check names it
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            crs = src.crs.to_string() if src.crs else "EPSG:4326"
            return Grid(src.width, src.height, tuple(src.transform.to_gdal()), crs)
    except RasterioError as exc:
        raise InputError(path, f"not a readable GeoTIFF ({_short(exc)})") from None


@dataclass(frozen=True)
class Band:
    """Band 1 of a raster window as read, with what the file says about it."""

    data: npt.NDArray[np.floating]
    #: the type stored in the file (``uint8``, ``float32``...), before the cast to the requested dtype
    stored: np.dtype[np.generic]
    #: the file's declared nodata value (``None`` when it has none)
    nodata: float | None


def read_raster(
    path: str | Path,
    window: tuple[slice, slice] | None = None,
    *,
    dtype: npt.DTypeLike = np.float32,
    nodata_to_nan: bool = True,
) -> npt.NDArray[np.floating]:
    """Read band 1 of a raster, optionally a ``(rows, cols)`` window, as ``dtype``.

    The file's nodata value (if any) becomes NaN when ``nodata_to_nan`` and ``dtype`` is floating.
    Raises :class:`InputError` naming the file if it is missing, not a raster, truncated, or holds
    complex values (their real part is never what is meant).
    """
    return read_band(path, window, dtype=dtype, nodata_to_nan=nodata_to_nan).data


def read_band(
    path: str | Path,
    window: tuple[slice, slice] | None = None,
    *,
    dtype: npt.DTypeLike | None = np.float32,
    nodata_to_nan: bool = True,
    single_band: bool = False,
) -> Band:
    """:func:`read_raster` that also returns the stored type and nodata; ``single_band`` refuses a multi-band file.

    A second band of an interferogram or coherence file would be silently ignored, so with
    ``single_band`` such a file is refused naming its band count. ``dtype`` None: the values as stored.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with warnings.catch_warnings():  # a file cut short may lose its geotransform; reading it fails clearly
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            stored = np.dtype(src.dtypes[0])
            if stored.kind == "c":
                raise InputError(path, f"complex values ({stored.name}): give a real-valued raster (for an "
                                 "interferogram, the unwrapped phase in radians: the real part is not the phase)")
            if single_band and src.count != 1:
                raise InputError(path, f"{src.count} bands, expected 1: give one single-band file per quantity "
                                 "(Kansho would read band 1 only)")
            win = None
            if window is not None:
                rows, cols = window
                r0, r1 = rows.start or 0, src.height if rows.stop is None else rows.stop
                c0, c1 = cols.start or 0, src.width if cols.stop is None else cols.stop
                win = Window(c0, r0, c1 - c0, r1 - r0)
            arr = src.read(1, window=win)
            nodata = src.nodata
    except RasterioError as exc:
        raise InputError(path, f"not a readable GeoTIFF or truncated ({_short(exc)})") from None
    out = arr if dtype is None else arr.astype(dtype, copy=False)
    if nodata_to_nan and np.issubdtype(out.dtype, np.floating) and nodata is not None and not np.isnan(nodata):
        out = np.where(arr == nodata, np.nan, out).astype(out.dtype, copy=False)  # dtype None: the stored type
    return Band(out, stored, None if nodata is None else float(nodata))


#: zlib level of the GeoTIFFs (GDAL's default 6): lossless at any level; level 1 wrote the 1000 x 1000 px
#: float32 maps of the benchmark frame 42 % faster for files 0.6 % larger (13.52 against 13.44 MB for eight)
DEFLATE_LEVEL = 1


def write_geotiff(
    path: str | Path,
    data: npt.NDArray[np.generic],
    grid: Grid,
    *,
    nodata: float | None = None,
    description: str | None = None,
    units: str | None = None,
) -> Path:
    """Write a single-band, tiled, deflate-compressed GeoTIFF atomically (temp name, then rename).

    ``data`` has shape ``grid.shape``. Float data defaults to ``nodata=NaN``.
    """
    path = Path(path)
    if data.shape != grid.shape:
        raise ValueError(f"data shape {data.shape} does not match grid {grid.shape}")
    if nodata is None and np.issubdtype(data.dtype, np.floating):
        nodata = float("nan")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    profile: dict[str, object] = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": data.dtype.name,
        "crs": grid.crs,
        "transform": _affine(grid),
        "compress": "deflate",
        "zlevel": DEFLATE_LEVEL,
    }
    if grid.width >= 256 and grid.height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if nodata is not None:
        profile["nodata"] = nodata
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            if description:
                dst.set_band_description(1, description)
            if units:
                dst.update_tags(1, units=units)
        os.replace(tmp, path)
    except BaseException as exc:
        # GDAL says "Write failed" where the disk is full (libtiff's ENOSPC goes to its own message): told by the
        # space left, looked at before the partial file is removed (which frees it)
        full = (isinstance(exc, Exception) and not isinstance(exc, KanshoError)
                and (is_disk_full(exc) or nearly_full(tmp.parent)))
        err = (disk_full_error(path.parent, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)))
               if full else None)
        tmp.unlink(missing_ok=True)
        if err is not None:
            raise err from None
        raise
    return path


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
