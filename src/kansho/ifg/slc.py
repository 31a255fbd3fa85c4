"""One date's SLC (:class:`SlcSource`, :func:`read_slc`) and a coregistered stack (:class:`SlcStack`).

The formats and their readers are in :mod:`kansho.ifg.readers`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho._types import Float32Array
from kansho.errors import InputError

__all__ = ["SlcSource", "SlcStack", "read_slc", "read_zarr_band"]


@dataclass(frozen=True)
class SlcSource:
    """Where one date's SLC lives (picklable: sent to workers).

    ``kind``: ``"raw"`` (binary, ``dtype`` numpy string e.g. ``">c8"`` or ``">i2"`` for SCOMPLEX),
    ``"zarr"`` (``path`` = I band, ``path_q`` = Q band), ``"geotiff"``.
    """

    path: Path
    kind: str
    shape: tuple[int, int]
    dtype: str = ">c8"
    path_q: Path | None = None


@dataclass
class SlcStack:
    """A coregistered SLC stack: dates, sources, per-date metadata and radar-coded geometry.

    ``geometry`` holds full-resolution (ny, nx) float32 arrays: ``lat``, ``lon`` (deg), ``hgt``
    (m, DEM), ``inc`` (incidence, deg), ``range`` (slant range, m). ``bperp`` is per date (m) in
    Kansho's sign convention (see the module docstring). ``flat_earth_removed`` is True when the
    reader knows the SLCs were already flattened (SNAP's coregistration removes the flat-earth phase).
    """

    root: Path
    format: str
    dates: list[int]
    sources: dict[int, SlcSource]
    shape: tuple[int, int]
    wavelength: float
    range_spacing: float
    azimuth_spacing: float
    heading_deg: float | None
    bperp: dict[int, float]
    geometry: dict[str, Float32Array]
    flat_earth_removed: bool = False
    center_time: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_dates(self) -> int:
        return len(self.dates)

    def read(self, date: int) -> npt.NDArray[np.complex64]:
        """The SLC of ``date`` as complex64 (ny, nx)."""
        return read_slc(self.sources[date])


def read_slc(src: SlcSource) -> npt.NDArray[np.complex64]:
    """Read one SLC as complex64 (ny, nx); :class:`InputError` naming the file on any fault."""
    reader = _READ_KIND.get(src.kind)
    if reader is None:
        raise ValueError(f"unknown SLC source kind {src.kind!r}")
    return reader(src)


def _read_raw(src: SlcSource) -> npt.NDArray[np.complex64]:
    """A headerless binary: complex (``dtype`` e.g. ``>c8``) or interleaved int16 I/Q (``>i2``)."""
    ny, nx = src.shape
    dt = np.dtype(src.dtype)
    per_px = 2 if dt.kind == "i" else 1
    expected = ny * nx * per_px * dt.itemsize
    size = src.path.stat().st_size if src.path.is_file() else -1
    if size < 0:
        raise InputError(src.path, "SLC file not found")
    if size != expected:
        raise InputError(src.path, f"SLC has {size} bytes, expected {expected} for {ny}x{nx} {src.dtype}")
    raw = np.fromfile(src.path, dtype=dt)
    if per_px == 2:
        raw = raw.astype(np.float32)
        return (raw[0::2] + 1j * raw[1::2]).astype(np.complex64).reshape(ny, nx)
    return raw.astype(np.complex64).reshape(ny, nx)


def _read_zarr_iq(src: SlcSource) -> npt.NDArray[np.complex64]:
    """Two Zarr bands, I (``path``) and Q (``path_q``)."""
    if src.path_q is None:
        raise ValueError(f"{src.path}: a zarr SLC source needs its Q band")
    i = read_zarr_band(src.path)
    q = read_zarr_band(src.path_q)
    if i.shape != src.shape or q.shape != src.shape:
        raise InputError(src.path, f"band shape {i.shape} / {q.shape} differs from the stack's {src.shape}")
    return (i.astype(np.float32) + 1j * q.astype(np.float32)).astype(np.complex64)


def _read_complex_geotiff(src: SlcSource) -> npt.NDArray[np.complex64]:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(src.path) as ds:
                arr = ds.read(1)
    except RasterioError as exc:
        raise InputError(src.path, f"not a readable complex GeoTIFF ({str(exc).splitlines()[0][:120]})") from None
    if not np.iscomplexobj(arr):
        raise InputError(src.path, f"not a complex raster (data type {arr.dtype})")
    return arr.astype(np.complex64)


_READ_KIND: dict[str, Callable[[SlcSource], npt.NDArray[np.complex64]]] = {
    "raw": _read_raw,
    "zarr": _read_zarr_iq,
    "geotiff": _read_complex_geotiff,
}


def read_zarr_band(folder: Path) -> npt.NDArray[Any]:
    """An uncompressed Zarr v2 array (any chunking), read with numpy alone."""
    meta_file = folder / ".zarray"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(meta_file, f"cannot read Zarr array metadata ({exc})") from None
    if meta.get("compressor") is not None or meta.get("filters"):
        try:
            import zarr

            return np.asarray(zarr.open_array(str(folder), mode="r")[:])
        except Exception as exc:  # noqa: BLE001 - any zarr failure is an input problem here
            raise InputError(folder, f"cannot read compressed Zarr array ({exc})") from None
    shape = tuple(int(v) for v in meta["shape"])
    chunks = tuple(int(v) for v in meta["chunks"])
    dt = np.dtype(meta["dtype"])
    sep = meta.get("dimension_separator", ".")
    fill = meta.get("fill_value", 0) or 0
    out = np.full(shape, fill, dtype=dt)
    nch = [math.ceil(s / c) for s, c in zip(shape, chunks, strict=True)]
    for idx in np.ndindex(*nch):
        f = folder / sep.join(str(i) for i in idx)
        if not f.is_file():
            continue
        buf = np.fromfile(f, dtype=dt)
        if buf.size != math.prod(chunks):
            raise InputError(f, f"Zarr chunk has {buf.size} values, expected {math.prod(chunks)}")
        block = buf.reshape(chunks, order=meta.get("order", "C"))
        sl = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape, strict=True))
        out[sl] = block[tuple(slice(0, s.stop - s.start) for s in sl)]
    return out
