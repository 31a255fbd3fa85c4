"""One reader interface for every input raster: GeoTIFF (any GDAL raster) or a flat binary.

The layouts of :mod:`kansho.io.inputs` name their files by path; a flat binary file (LiCSBAS
``GEOCml*``, ENVI, ROI_PAC) also carries a :class:`~kansho.io.envi.BinarySpec` saying how to read
it. :func:`read_window` reads a ``(rows, cols)`` window of either kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho.errors import InputError
from kansho.io.envi import BinarySpec, read_binary
from kansho.io.geotiff import Band, read_band, read_raster

__all__ = ["Band", "read_window", "read_window_band"]


def read_window(
    path: str | Path,
    window: tuple[slice, slice] | None,
    spec: BinarySpec | None = None,
    *,
    dtype: npt.DTypeLike = np.float32,
    nodata_to_nan: bool = True,
) -> npt.NDArray[np.floating]:
    """Read a window of ``path`` as ``dtype``: a GeoTIFF when ``spec`` is ``None``, else a flat binary.

    GeoTIFF nodata becomes NaN when ``nodata_to_nan`` (flat binaries have no nodata value; their
    readers treat 0 or NaN as no data afterwards). Errors are one-line
    :class:`~kansho.errors.InputError` naming the file.
    """
    if spec is None:
        return read_raster(path, window, dtype=dtype, nodata_to_nan=nodata_to_nan)
    return read_binary(path, spec, window, dtype=dtype)


def read_window_band(
    path: str | Path,
    window: tuple[slice, slice] | None,
    spec: BinarySpec | None = None,
    *,
    dtype: npt.DTypeLike | None = np.float32,
    nodata_to_nan: bool = True,
) -> Band:
    """:func:`read_window` of an interferogram or coherence file, with the stored type and nodata.

    A multi-band GeoTIFF or complex values are refused (:class:`~kansho.errors.InputError`): only
    band 1 would be read, or only the real part. A flat binary names its band in ``spec``.
    """
    if spec is None:
        return read_band(path, window, dtype=dtype, nodata_to_nan=nodata_to_nan, single_band=True)
    stored = np.dtype(spec.dtype)
    if stored.kind == "c":
        raise InputError(path, f"complex values ({stored.name}): give a real-valued raster (for an interferogram, "
                         "the unwrapped phase in radians: the real part is not the phase)")
    return Band(read_binary(path, spec, window, dtype=dtype), stored, None)
