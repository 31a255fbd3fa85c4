"""LiCSBAS-compatible ``cum.h5`` / ``cum_filt.h5`` (Morishita et al. 2020) writing and reading.

The layout follows what LiCSBAS's step 1-3 and 1-6 write and what its tools (``LiCSBAS_plot_ts``,
``LiCSBAS_cum2vel``, ``LiCSBAS_out2nc`` …) read. All datasets sit at the file's root:

==============  =============================  ========  ===============================================
key             shape                          dtype     meaning
==============  =============================  ========  ===============================================
``cum``         (n_epoch, rows, cols)          float32   cumulative LOS displacement, mm, positive toward
                                                         the satellite, 0 at the first epoch; NaN = none
``imdates``     (n_epoch,)                     int32     epochs, yyyymmdd
``vel``         (rows, cols)                   float32   linear velocity, mm/yr
``vintercept``  (rows, cols)                   float32   intercept c of ``vel * t + c``, mm
``gap``         (n_epoch - 1, rows, cols)      int8      1 where the network has a gap between epochs
``bperp``       (n_epoch,)                     float64   perpendicular baseline per epoch, m
``refarea``     scalar                         str       ``"x1:x2/y1:y2"``: columns first, then rows,
                                                         0-based, end-exclusive (variable-length UTF-8)
``corner_lat``  scalar                         float64   latitude of the CENTRE of the top-left pixel
``corner_lon``  scalar                         float64   longitude of the CENTRE of the top-left pixel
``post_lat``    scalar                         float64   pixel step in latitude (negative, north-up)
``post_lon``    scalar                         float64   pixel step in longitude (positive)
``mask``        (rows, cols)                   float32   1 = kept, 0 = masked, NaN = no data (as
                                                         LiCSBAS's ``results/mask``)
``cum_std``     (n_epoch, rows, cols)          float32   Kansho only, optional: σ (mm) of each epoch's
                                                         offset across network gaps (0 before the first
                                                         gap, inf where a step date falls in a gap)
==============  =============================  ========  ===============================================

Extra per-pixel layers (LiCSBAS names: ``coh_avg``, ``hgt``, ``n_unw``, ``n_loop_err``, ``n_gap``,
``n_ifg_noloop``, ``resid_rms``, ``maxTlen``, ``vstd``, ``stc``, ``E.geo``, ``N.geo``,
``U.geo`` …; scalars such as ``filtwidth_km``, ``filtwidth_yr``, ``deramp_flag``,
``hgt_linear_flag``; Kansho's ``bridge_model``, the model that bridged each pixel's gaps: -1 none,
0 linear, 1 linear + annual, 2 linear + steps, 3 annual + steps) go in through ``extra``: floating
arrays are stored as float32, others unchanged. Arrays are gzip-compressed, as LiCSBAS does. The file
is written under a temporary name and renamed, so a reader never sees half a file.

LiCSBAS's corner/post convention is GAMMA's ``EQA.dem_par``: the corner is a pixel centre, unlike
a GeoTIFF geotransform, whose origin is the top-left pixel's outer corner; :func:`write_cum_h5`
converts from the :class:`~kansho.grid.Grid`, and :func:`read_cum_h5` converts back.

Tools that walk through the epochs of several files (mosaics) use :class:`CumReader` (one epoch's
map at a time, without loading the cube) and :class:`CumWriter` (a ``cum.h5``-style file written
one epoch at a time, atomically).
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import h5py
import numpy as np
import numpy.typing as npt

from kansho._version import __version__
from kansho.errors import InputError
from kansho.grid import Grid

__all__ = ["CORE_KEYS", "CumReader", "CumWriter", "filter_keys", "format_refarea", "parse_refarea", "read_cum_h5",
           "write_cum_h5"]

CORE_KEYS = (
    "cum",
    "imdates",
    "vel",
    "vintercept",
    "gap",
    "bperp",
    "refarea",
    "corner_lat",
    "corner_lon",
    "post_lat",
    "post_lon",
    "mask",
)
_DERIVED_KEYS = ("grid", "refarea_box")
_COMPRESSION = "gzip"


def format_refarea(refarea: Sequence[int]) -> str:
    """``(row0, row1, col0, col1)`` (end-exclusive) → LiCSBAS's ``"col0:col1/row0:row1"``."""
    r0, r1, c0, c1 = (int(v) for v in refarea)
    return f"{c0}:{c1}/{r0}:{r1}"


def parse_refarea(text: str | bytes) -> tuple[int, int, int, int]:
    """LiCSBAS's ``"x1:x2/y1:y2"`` → ``(row0, row1, col0, col1)``."""
    s = text.decode("utf-8") if isinstance(text, (bytes, np.bytes_)) else str(text)
    m = re.fullmatch(r"\s*(\d+):(\d+)/(\d+):(\d+)\s*", s)
    if m is None:
        raise ValueError(f"not a LiCSBAS refarea 'x1:x2/y1:y2': {s!r}")
    x1, x2, y1, y2 = (int(g) for g in m.groups())
    return y1, y2, x1, x2


class LazyArray(Protocol):
    """A cube sliced lazily (zarr, h5py, dask): written block by block, never loaded whole."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    def __getitem__(self, key: Any) -> Any: ...


def write_cum_h5(
    path: str | Path,
    *,
    cum: npt.ArrayLike | LazyArray,
    imdates: npt.ArrayLike,
    vel: npt.ArrayLike,
    vintercept: npt.ArrayLike,
    refarea: Sequence[int],
    grid: Grid,
    gap: npt.ArrayLike | LazyArray,
    bperp: npt.ArrayLike | None,
    mask: npt.ArrayLike,
    extra: Mapping[str, Any] | None = None,
    cum_std: npt.ArrayLike | LazyArray | None = None,
) -> Path:
    """Write a LiCSBAS-compatible ``cum.h5`` atomically; return its path.

    Parameters
    ----------
    cum:
        (n_epoch, ny, nx) cumulative displacement, mm (stored float32).
    imdates:
        (n_epoch,) int yyyymmdd, increasing (stored int32).
    vel, vintercept:
        (ny, nx) velocity (mm/yr) and intercept (mm) (float32).
    refarea:
        ``(row0, row1, col0, col1)``, end-exclusive pixel box of the reference area; stored as the
        string ``"col0:col1/row0:row1"``.
    grid:
        The (north-up, EPSG:4326) grid of the rasters; gives ``corner_*``/``post_*``.
    gap:
        (n_epoch - 1, ny, nx) bool/int, 1 where the network has a gap (stored int8).
    bperp:
        (n_epoch,) perpendicular baseline, m (float64), or ``None`` to omit it. An all-NaN
        array (no baselines file) is omitted too, as LiCSBAS omits its dummy baselines; its
        readers then draw the network without baselines.
    mask:
        (ny, nx) 1 = kept, 0 = masked, NaN = no data; bool accepted (stored float32).
    extra:
        More datasets (see module docstring); a name may not repeat a core key.
    cum_std:
        Optional (n_epoch, ny, nx) σ of each epoch's bridged offset, mm (stored float32, streamed
        block by block like ``cum``; constant runs compress to little).
    """
    path = Path(path)
    arrays = _checked_arrays(cum, imdates, vel, vintercept, gap, bperp, mask, grid)
    _, ny, nx = arrays.cum.shape
    std_a = None if cum_std is None else _cube(cum_std)
    if std_a is not None and tuple(std_a.shape) != tuple(arrays.cum.shape):
        raise ValueError(f"cum_std must have the shape of cum {tuple(arrays.cum.shape)}, got {tuple(std_a.shape)}")
    r0, r1, c0, c1 = (int(v) for v in refarea)
    if not (0 <= r0 < r1 <= ny and 0 <= c0 < c1 <= nx):
        raise ValueError(f"refarea {tuple(refarea)} is not a non-empty box inside {ny} x {nx}")
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(CORE_KEYS + _DERIVED_KEYS + ("cum_std",)))
    if clash:
        raise ValueError(f"extra datasets may not reuse core names: {clash}")

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            _write_core(f, arrays, format_refarea((r0, r1, c0, c1)), grid)
            if std_a is not None:
                _write_cube(f, "cum_std", std_a, np.float32)
            for name, value in extra.items():
                _write_extra(f, name, value)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class _CumArrays:
    """The core datasets of a ``cum.h5``, checked and cast (``cum``/``gap`` may be lazy arrays)."""

    cum: Any
    imdates: npt.NDArray[np.int32]
    vel: npt.NDArray[np.float32]
    vintercept: npt.NDArray[np.float32]
    gap: Any
    bperp: npt.NDArray[np.float64] | None
    mask: npt.NDArray[np.float32]


def _checked_arrays(cum: npt.ArrayLike | LazyArray, imdates: npt.ArrayLike, vel: npt.ArrayLike,
                    vintercept: npt.ArrayLike, gap: npt.ArrayLike | LazyArray, bperp: npt.ArrayLike | None,
                    mask: npt.ArrayLike, grid: Grid) -> _CumArrays:
    """The arguments of :func:`write_cum_h5` with their shapes checked against each other and ``grid``."""
    cum_a = _cube(cum)
    if len(cum_a.shape) != 3:
        raise ValueError(f"cum must be (n_epoch, ny, nx), got shape {cum_a.shape}")
    n_ep, ny, nx = cum_a.shape
    if (ny, nx) != grid.shape:
        raise ValueError(f"cum rows/cols {(ny, nx)} do not match the grid {grid.shape}")
    dates = np.asarray(imdates).astype(np.int32).ravel()
    if dates.shape != (n_ep,):
        raise ValueError(f"imdates has {dates.size} values for {n_ep} epochs")
    if n_ep > 1 and np.any(np.diff(dates) <= 0):
        raise ValueError("imdates must be strictly increasing")
    vel_a = _plane(vel, "vel", (ny, nx))
    vint_a = _plane(vintercept, "vintercept", (ny, nx))
    mask_a = _plane(mask, "mask", (ny, nx))
    gap_a = _cube(gap)
    if tuple(gap_a.shape) != (max(n_ep - 1, 0), ny, nx):
        raise ValueError(f"gap must have shape {(n_ep - 1, ny, nx)}, got {gap_a.shape}")
    bperp_a = None
    if bperp is not None:
        bperp_a = np.asarray(bperp, dtype=np.float64).ravel()
        if bperp_a.shape != (n_ep,):
            raise ValueError(f"bperp has {bperp_a.size} values for {n_ep} epochs")
        if not np.isfinite(bperp_a).any():
            bperp_a = None
    return _CumArrays(cum_a, dates, vel_a, vint_a, gap_a, bperp_a, mask_a)


def _write_core(f: h5py.File, a: _CumArrays, refarea: str, grid: Grid) -> None:
    """The core datasets, in LiCSBAS's order, with the file's attributes."""
    f.attrs["creator"] = f"kansho {__version__}"
    f.attrs["convention"] = "LiCSBAS cum.h5; cum/vel in mm along LOS, positive toward the satellite"
    f.create_dataset("imdates", data=a.imdates)
    if a.bperp is not None:
        f.create_dataset("bperp", data=a.bperp)
    _write_cube(f, "gap", a.gap, np.int8)
    _write_cube(f, "cum", a.cum, np.float32)
    for name in ("vel", "vintercept", "mask"):  # maps chunked and deflated as the cubes are
        _write_cube(f, name, getattr(a, name), np.float32)
    f.create_dataset("refarea", data=refarea)
    _write_georef(f, grid)


#: LiCSBAS's georeference: the centre of the first pixel and the pixel spacing (GAMMA EQA.dem_par)
_GEOREF_KEYS = ("corner_lat", "corner_lon", "post_lat", "post_lon")


def _write_georef(f: h5py.File, grid: Grid) -> None:
    """``corner_*``/``post_*`` of ``grid`` (pixel-centre corner, unlike the GeoTIFF outer corner)."""
    x0, dx, _, y0, _, dy = grid.transform
    f.create_dataset("corner_lat", data=np.float64(y0 + dy / 2.0))
    f.create_dataset("corner_lon", data=np.float64(x0 + dx / 2.0))
    f.create_dataset("post_lat", data=np.float64(dy))
    f.create_dataset("post_lon", data=np.float64(dx))


def _grid_from_corners(values: Mapping[str, Any], shape: Sequence[int]) -> Grid:
    """The :class:`Grid` of (rows, cols) ``shape`` from ``corner_*``/``post_*`` values."""
    dlat, dlon = float(values["post_lat"]), float(values["post_lon"])
    x0 = float(values["corner_lon"]) - dlon / 2.0
    y0 = float(values["corner_lat"]) - dlat / 2.0
    return Grid(int(shape[1]), int(shape[0]), (x0, dlon, 0.0, y0, 0.0, dlat))


def filter_keys(sigma_km: float | None, sigma_yr: float | None, deramp: int,
                hgt_corr: bool) -> dict[str, object]:
    """The datasets LiCSBAS's step 16 writes into ``cum_filt.h5`` about its filter (and its ``plot_ts``
    reads for the legend): ``filtwidth_km``, ``filtwidth_yr`` (NaN when unknown or declined),
    ``deramp_flag`` (the polynomial degree as text, or an empty array for none) and ``hgt_linear_flag``."""
    return {"filtwidth_km": float(sigma_km) if sigma_km else float("nan"),
            "filtwidth_yr": float(sigma_yr) if sigma_yr else float("nan"),
            "deramp_flag": str(int(deramp)) if deramp else np.zeros(0, np.float64),
            "hgt_linear_flag": int(bool(hgt_corr))}


def _write_extra(f: h5py.File, name: str, value: Any) -> None:
    """One more dataset: floats as float32, bools as int8, strings as strings, maps compressed."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.int8)
    if arr.dtype.kind in "UO":
        f.create_dataset(name, data=str(value))
    elif arr.ndim == 0 or arr.size == 0:
        f.create_dataset(name, data=arr)
    elif arr.ndim == 2:
        _write_cube(f, name, arr, arr.dtype.type)
    else:
        f.create_dataset(name, data=arr, compression=_COMPRESSION)


def _cube(a: Any) -> Any:
    """``a`` as is when it is a lazily sliceable array (zarr, h5py, dask), else a numpy array."""
    if hasattr(a, "shape") and hasattr(a, "__getitem__") and not isinstance(a, np.ndarray) and hasattr(a, "dtype"):
        return a
    return np.asarray(a)


#: spatial side of the chunks and of the blocks written at once
_BLOCK = 128


def _zlib_compress() -> Any:
    """``compress(data, level)`` making a zlib stream: Intel ISA-L's (python-isal) where installed, about
    10 times faster than zlib's at level 1 for the same size (0.73 of the raw cube either way, on the
    benchmark's M frame); zlib's otherwise. Any zlib (HDF5's deflate filter) decodes both alike."""
    try:
        from isal.isal_zlib import compress
    except ImportError:  # no wheel for this platform: the standard library's, slower, same format
        from zlib import compress
    return compress


_COMPRESS = _zlib_compress()


def _deflate_chunk(chunk: np.ndarray) -> bytes:
    """One HDF5 chunk as the shuffle + deflate(1) filter pipeline stores it (the zlib stream of the
    byte-shuffled little-endian values)."""
    a = np.ascontiguousarray(chunk, dtype=chunk.dtype.newbyteorder("<"))
    size = a.dtype.itemsize
    raw = a.view(np.uint8).reshape(-1, size).T.tobytes() if size > 1 else a.tobytes()
    return bytes(_COMPRESS(raw, 1))


def _write_cube(f: h5py.File, name: str, a: Any, dtype: type) -> None:
    """Write a (n, ny, nx) cube chunk by chunk (bounded memory), chunked (<=8, 128, 128), or a (ny, nx) map
    (a NumPy array), chunked (<=128, 128) the same way.

    Chunks a few epochs deep keep both reads fast: one pixel's time series and one epoch's map.
    The chunks are compressed here, by as many threads as the kernels use (the compressor releases the GIL), and stored
    with ``write_direct_chunk``; the file is an ordinary shuffle + gzip dataset that any HDF5
    reader decodes. The cube is read one chunk depth of epochs of a 256-px block at a time, and at most
    :data:`_IN_FLIGHT` chunks a thread wait for their compressor: the step holds a few MB whatever the
    series' length (a whole block's series, 78 MB for 300 epochs, three times over, before). A map went
    through h5py's own gzip (level 4, no shuffling), which holds the GIL: the seven maps of the M frame's
    ``cum.h5`` and ``cum_filt.h5`` took ~0.55 s of it beside the cubes' ~1.2 s of compressing.
    """
    plane = len(a.shape) == 2
    if plane:
        a = np.asarray(a)[None]
    n, ny, nx = (int(v) for v in a.shape)
    shape = (ny, nx) if plane else (n, ny, nx)
    if n == 0 or ny == 0 or nx == 0:
        f.create_dataset(name, data=np.zeros(shape, dtype))
        return
    chunks = (min(n, 8), min(ny, _BLOCK), min(nx, _BLOCK))
    # gzip level 1 with byte shuffling: smaller and ~2x faster to write than the default level 4
    ds = f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks[1:] if plane else chunks,
                          compression=_COMPRESSION, compression_opts=1, shuffle=True, fillvalue=0)
    step = 2 * _BLOCK
    cn, cy, cx = chunks
    from kansho._threads import kernel_threads  # numba's threads: every core (imported here: numba is heavy)

    threads = kernel_threads()
    pending: deque[tuple[tuple[int, ...], Future[bytes]]] = deque()

    def store(limit: int) -> None:
        while len(pending) > limit:
            off, fut = pending.popleft()
            ds.id.write_direct_chunk(off, fut.result())

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for r0 in range(0, ny, step):
            for c0 in range(0, nx, step):
                rs, cs = slice(r0, min(r0 + step, ny)), slice(c0, min(c0 + step, nx))
                for e0 in range(0, n, cn):  # the same chunks in the same order as a whole block at once
                    blk: npt.NDArray[Any] = np.asarray(a[e0: e0 + cn, rs, cs]).astype(dtype, copy=False)
                    for y0 in range(r0, rs.stop, cy):
                        for x0 in range(c0, cs.stop, cx):
                            src = blk[:, y0 - r0: y0 - r0 + cy, x0 - c0: x0 - c0 + cx]
                            if src.shape == chunks:
                                piece: npt.NDArray[Any] = np.ascontiguousarray(src)
                            else:  # edge chunks are stored whole, padded
                                piece = np.zeros(chunks, dtype)
                                piece[: src.shape[0], : src.shape[1], : src.shape[2]] = src
                            off = (y0, x0) if plane else (e0, y0, x0)
                            pending.append((off, pool.submit(_deflate_chunk, piece)))
                            store(_IN_FLIGHT * threads)
        store(0)


#: chunks a compressor thread of :func:`_write_cube` may have waiting (each ~0.5 MB of float32)
_IN_FLIGHT = 4


def read_cum_h5(path: str | Path) -> dict[str, Any]:
    """Read every dataset of a (LiCSBAS or Kansho) ``cum.h5`` into memory.

    Returns ``name → numpy array`` for arrays, Python ``float``/``int`` for numeric scalars and
    ``str`` for strings (``refarea``), plus, when present in the file, two derived entries:
    ``refarea_box`` = ``(row0, row1, col0, col1)`` and ``grid`` = the :class:`Grid` rebuilt from
    ``corner_*``/``post_*`` and the shape of ``cum``.
    Raises :class:`InputError` naming the file if it is missing, not HDF5, or lacks ``cum`` or
    ``imdates``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    out: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as f:
            for name, obj in f.items():
                if not isinstance(obj, h5py.Dataset):
                    continue
                val = obj[()]
                if isinstance(val, (bytes, np.bytes_)):
                    out[name] = val.decode("utf-8")
                elif isinstance(val, str) or (isinstance(val, np.ndarray) and val.ndim > 0):
                    out[name] = val
                else:
                    out[name] = np.asarray(val).item()
    except OSError as exc:
        raise InputError(path, f"not a readable HDF5 file ({str(exc).splitlines()[0][:160]})") from None
    for key in ("cum", "imdates"):
        if key not in out:
            raise InputError(path, f"no '{key}' dataset: not a LiCSBAS cum.h5")
    if "refarea" in out:
        try:
            out["refarea_box"] = parse_refarea(out["refarea"])
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
    if all(k in out for k in _GEOREF_KEYS):
        out["grid"] = _grid_from_corners(out, np.shape(out["cum"])[-2:])
    return out


def _plane(value: npt.ArrayLike, name: str, shape: tuple[int, int]) -> npt.NDArray[np.float32]:
    a = np.asarray(value, dtype=np.float32)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


# ------------------------------------------------------------------------------------ epoch by epoch


class CumReader:
    """Epoch-by-epoch access to a ``cum.h5`` (LiCSBAS or Kansho) without loading its cube.

    For tools that walk through the epochs of several files at once (mosaics): only ``imdates``,
    the georeference, ``refarea`` and, on demand, one epoch's map are read. Use as a context
    manager (or call :meth:`close`).

    Attributes
    ----------
    path, imdates, shape:
        The file, its epochs (n_epoch,) int64 yyyymmdd and the (rows, cols) of ``cum``.
    grid:
        The :class:`Grid` from ``corner_*``/``post_*`` (``None`` if the file has none).
    refarea_box:
        ``(row0, row1, col0, col1)`` of the reference area, or ``None``.

    Raises :class:`InputError` naming the file if it is missing, not HDF5, lacks ``cum`` or
    ``imdates``, or if they disagree.
    """

    #: chunk cache per file (bytes): consecutive epochs of a chunk a few epochs deep stay in memory
    CACHE_BYTES = 64 * 2**20

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "file not found")
        try:
            self._f = h5py.File(self.path, "r", rdcc_nbytes=self.CACHE_BYTES, rdcc_nslots=10007)
        except OSError as exc:
            raise InputError(self.path, f"not a readable HDF5 file ({str(exc).splitlines()[0][:160]})") from None
        try:
            for key in ("cum", "imdates"):
                if key not in self._f or not isinstance(self._f[key], h5py.Dataset):
                    raise InputError(self.path, f"no '{key}' dataset: not a LiCSBAS cum.h5")
            self._cum = self._f["cum"]
            self.imdates = np.asarray(self._f["imdates"][()], np.int64).ravel()
            if len(self._cum.shape) != 3 or self._cum.shape[0] != self.imdates.size:
                raise InputError(self.path, f"cum {self._cum.shape} does not match its {self.imdates.size} imdates")
            self.shape: tuple[int, int] = (int(self._cum.shape[1]), int(self._cum.shape[2]))
            self.grid: Grid | None = None
            if all(k in self._f for k in _GEOREF_KEYS):
                self.grid = _grid_from_corners({k: self._f[k][()] for k in _GEOREF_KEYS}, self.shape)
            self.refarea_box: tuple[int, int, int, int] | None = None
            if "refarea" in self._f:
                raw = self._f["refarea"][()]
                try:
                    self.refarea_box = parse_refarea(raw if isinstance(raw, (str, bytes)) else str(raw))
                except ValueError as exc:
                    raise InputError(self.path, str(exc)) from None
        except BaseException:
            self._f.close()
            raise

    def epoch(self, k: int) -> npt.NDArray[np.float32]:
        """``cum`` of epoch index ``k``: (rows, cols) float32, mm."""
        return np.asarray(self._cum[int(k)], dtype=np.float32)

    def plane(self, name: str) -> npt.NDArray[np.float32] | None:
        """A (rows, cols) dataset such as ``mask`` or ``vel`` as float32, or ``None`` if absent or not a map."""
        if name not in self._f:
            return None
        ds = self._f[name]
        if not isinstance(ds, h5py.Dataset) or tuple(ds.shape) != self.shape:
            return None
        return np.asarray(ds[()], dtype=np.float32)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CumWriter:
    """Write a ``cum.h5``-style file one epoch at a time, in bounded memory, atomically.

    ``cum`` (n_epoch, rows, cols) float32 is chunked one epoch deep (each epoch is compressed once,
    as it arrives); ``imdates`` and the georeference (``corner_*``/``post_*``, LiCSBAS's
    pixel-centre convention, as :func:`write_cum_h5`) are written at once; ``vel``,
    ``vintercept``, ``mask``, ``refarea`` and any other dataset are given to :meth:`close`.
    The file lives under a temporary name until :meth:`close` renames it; leaving a ``with``
    block on an exception removes it, so a reader never sees a partial file.
    """

    def __init__(self, path: str | Path, imdates: npt.ArrayLike, grid: Grid,
                 attrs: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        dates = np.asarray(imdates).astype(np.int32).ravel()
        if dates.size > 1 and np.any(np.diff(dates) <= 0):
            raise ValueError("imdates must be strictly increasing")
        self.grid = grid
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._f = h5py.File(self._tmp, "w")
        f = self._f
        f.attrs["creator"] = f"kansho {__version__}"
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        f.create_dataset("imdates", data=dates)
        ny, nx = grid.shape
        f.create_dataset("cum", shape=(dates.size, ny, nx), dtype=np.float32, fillvalue=np.float32(np.nan),
                         chunks=(1, max(1, min(ny, 2 * _BLOCK)), max(1, min(nx, 2 * _BLOCK))),
                         compression=_COMPRESSION, compression_opts=1, shuffle=True)
        _write_georef(f, grid)

    def write(self, k: int, cum: npt.ArrayLike) -> None:
        """Store epoch index ``k``'s (rows, cols) map (mm)."""
        a = np.asarray(cum, dtype=np.float32)
        if a.shape != self.grid.shape:
            raise ValueError(f"epoch map {a.shape} does not match the grid {self.grid.shape}")
        self._f["cum"][int(k)] = a

    def close(self, extra: Mapping[str, Any] | None = None,
              refarea: Sequence[int] | None = None) -> Path:
        """Add ``extra`` datasets (maps float32, scalars, strings) and ``refarea`` (row0, row1, col0, col1); rename."""
        try:
            for name, value in (extra or {}).items():
                _write_extra(self._f, name, value)
            if refarea is not None:
                self._f.create_dataset("refarea", data=format_refarea(refarea))
            self._f.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        try:
            self._f.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
