"""The stack store: the on-disk contract between ingest and every later step (Zarr v3).

Layout of ``OUT/stack.zarr`` (documented for users in ``docs/stack_store.md``)::

    unw      (pair, y, x)  float32  unwrapped phase, radians, NaN = no data
    coh      (pair, y, x)  float32  coherence 0-1, NaN = no data; uint8 codes (code / 255, 0 = no data) where
                                    the input's is 8-bit and not multilooked (:mod:`kansho.cohcodes`)
    date1    (pair,)       int64    first date of each pair, yyyymmdd
    date2    (pair,)       int64    second date of each pair, yyyymmdd
    epoch    (epoch,)      int64    every date of the network, sorted, yyyymmdd
    bperp    (epoch,)      float64  perpendicular baseline w.r.t. the first epoch (m), NaN if unknown
    lat      (y,)          float64  latitude of row centres (deg)
    lon      (x,)          float64  longitude of column centres (deg)
    los_e, los_n, los_u (y, x) float32  LOS unit vector, ground -> satellite (NaN if not given)
    hgt      (y, x)        float32  DEM height (m), NaN if not given

Attributes: ``kansho_store_version``, ``grid`` (width, height, GDAL geotransform, crs),
``wavelength`` (m), ``nlook``, ``source`` (input folder and layout), ``metadata`` (the input's
metadata.txt / tags), ``provenance`` (kansho version, creation time, input fingerprint).
Pairs are in acquisition order, sorted by ``(date2, date1)``. Chunks hold :data:`PAIR_CHUNK` pairs
and ``block`` x ``block`` pixels: a step reads a spatial block with the whole time axis in a few
requests, and the pairs of a new acquisition are appended without rewriting the existing chunks.
A new store is written to ``stack.zarr.partial`` and renamed when complete; an append in place sets
the ``updating`` attribute until it is done, and a store left with it set is refused and rebuilt.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from kansho import cohcodes
from kansho._columns import take_rows
from kansho._version import __version__
from kansho.chunkio import direct, take_first
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import BinarySpec
from kansho.io.inputs import InputSet
from kansho.io.multilook import multilook
from kansho.io.prepare import LayerCorrector, PrepPlan, apply_layers, prep_attrs
from kansho.io.rasters import read_window_band
from kansho.layout import STACK_NAME
from kansho.stack_sums import StackSums
from kansho.store_geometry import GEOMETRY_UNITS, write_geometry
from kansho.store_strips import GROUP_BYTES, PAIR_CHUNK, STRIP_BYTES, StripPlan, plan_strips, write_pairs

log = logging.getLogger(__name__)

STORE_VERSION = 2
#: versions read (1: coherence always float32)
READ_VERSIONS = (1, 2)


@dataclass(frozen=True)
class Stack:
    """An opened, complete stack store (read-only view with the metadata decoded)."""

    path: Path
    group: zarr.Group
    grid: Grid
    date1: npt.NDArray[np.int64]
    date2: npt.NDArray[np.int64]
    epochs: npt.NDArray[np.int64]
    bperp: npt.NDArray[np.float64]
    wavelength: float
    attrs: dict[str, Any]
    _cubes: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)  # unw, coh opened

    @property
    def n_pair(self) -> int:
        return int(self.date1.size)

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape

    def pair_names(self) -> list[str]:
        return [f"{a}_{b}" for a, b in zip(self.date1, self.date2, strict=True)]

    def read(self, name: str, rows: slice, cols: slice, pairs: npt.NDArray[np.intp] | None = None,
             decode: bool = True) -> np.ndarray:
        """Read ``unw``/``coh`` (pair, rows, cols) optionally for a subset of pair indices. Coherence kept as
        8-bit codes is decoded to float32; with ``decode=False`` the uint8 codes themselves
        (:mod:`kansho.cohcodes`)."""
        arr = self._cubes.get(name)  # opened once, then read in the caller's thread (kansho.chunkio)
        arr = arr if arr is not None else self._cubes.setdefault(name, direct(_array(self.group, name)))
        codes = arr.dtype == np.uint8 and decode  # 8-bit coherence codes to decode (kansho.cohcodes)
        if pairs is None:
            out = np.asarray(arr[:, rows, cols])
            return cohcodes.decode(out) if codes else out
        pairs = np.asarray(pairs, np.intp)
        if pairs.size == 0:
            return np.empty((0, rows.stop - rows.start, cols.stop - cols.start), np.float32 if codes else arr.dtype)
        lo, hi = int(pairs.min()), int(pairs.max()) + 1  # only the pair chunks that hold them
        if pairs.size == hi - lo and np.array_equal(pairs, np.arange(lo, hi)):  # a run: whole chunks into the result
            out = take_rows(np.asarray(arr[lo:hi, rows, cols]), pairs - lo)
        else:  # the pairs kept alone, each chunk decoded once
            out = take_first(arr, pairs, (rows, cols))
        return cohcodes.decode(out) if codes else out

    def read2d(self, name: str) -> npt.NDArray[np.float32]:
        return np.asarray(_array(self.group, name)[:])


def fast_codec() -> Any:
    """The chunk codec of the stack store: Blosc LZ4 with byte shuffling. Against zarr's default
    (zstd level 3), on the 1000 x 1000 px, 222-pair benchmark frame: writes 2.1x and reads 2.5x faster,
    7 % smaller; any zarr v3 reader decodes it."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def work_codec() -> Any:
    """The chunk codec of a run's work store (``work/ts.zarr``: the series, its σ and filtered series, the
    maps), written and read again by pass after pass: Blosc LZ4 without byte shuffling. On the M frame's
    ``cum`` it encodes 2 MB chunks ~5x and decodes them ~3x faster than :func:`fast_codec` (0.15 against
    0.74 ms/MB, 0.13 against 0.39), for chunks 0.876 instead of 0.72 of their size (``cum_std``: 0.124
    against 0.109); the stack store, several times larger and only read, keeps the smaller chunks."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=1, shuffle="noshuffle")


def blocks(shape: tuple[int, int], size: int) -> Iterator[tuple[slice, slice]]:
    """Spatial blocks ``(rows, cols)`` of at most ``size`` x ``size`` covering ``shape``."""
    ny, nx = shape
    for r0 in range(0, ny, size):
        for c0 in range(0, nx, size):
            yield slice(r0, min(r0 + size, ny)), slice(c0, min(c0 + size, nx))


def input_fingerprint(inputs: InputSet) -> str:
    """A hash of the input files' names, sizes and modification times (changes when data change)."""
    h = hashlib.sha256()
    for f in sorted(inputs.files()):
        h.update(f"{_file_signature(f)};".encode())
    return h.hexdigest()[:16]


def _file_signature(f: str | Path) -> str:
    """``name:size:mtime_ns`` of a file: equal signatures are taken to mean equal contents."""
    st = Path(f).stat()
    return f"{Path(f).name}:{st.st_size}:{st.st_mtime_ns}"


#: |unwrapped phase| beyond this (radians; ~5 km of C-band LOS motion) is no phase: an undeclared nodata value
MAX_ABS_PHASE = 1e6
#: float coherence may exceed [0, 1] by this much (rounding) and is taken as is
COHERENCE_TOLERANCE = 1e-3


def _read_coherence(path: Path, window: tuple[slice, slice], spec: BinarySpec | None = None) -> npt.NDArray[np.float32]:
    """Coherence 0-1 (NaN = no data) from an integer file scaled 0-255 (LiCSAR uint8: by the table of the same
    float32(raw / 255), no float64 copy) or a float file in 0-1. The scale is decided by the stored type, not the
    values: a float file outside [0, 1] (beyond :data:`COHERENCE_TOLERANCE`) is refused naming its range."""
    band = read_window_band(path, window, spec, dtype=None, nodata_to_nan=False)  # as stored
    if band.data.dtype == np.uint8:
        return cohcodes.decode(band.data)
    raw = band.data.astype(np.float64)
    if band.stored.kind in "iub":
        if raw.size and (raw.min() < 0 or raw.max() > 255):
            raise InputError(path, f"integer coherence from {raw.min():.6g} to {raw.max():.6g}, outside 0-255 "
                             "(uint8 coherence is scaled by 255; float coherence must be 0-1)")
        out = (raw / 255.0).astype(np.float32)
    else:
        if band.nodata is not None and not np.isnan(band.nodata):
            raw = np.where(raw == band.nodata, np.nan, raw)
        _check_float_coherence(path, raw)
        out = raw.astype(np.float32)
    out[(raw == 0) | ~np.isfinite(raw)] = np.nan
    return out


def _check_float_coherence(path: Path, raw: npt.NDArray[np.floating]) -> None:
    """InputError naming ``path`` and its range when float coherence leaves [0, 1] (or is infinite)."""
    notnan = raw[~np.isnan(raw)]
    if not notnan.size:
        return
    lo, hi = float(notnan.min()), float(notnan.max())
    if lo < -COHERENCE_TOLERANCE or hi > 1.0 + COHERENCE_TOLERANCE:
        raise InputError(path, f"float coherence from {lo:.6g} to {hi:.6g}, outside [0, 1]: give coherence 0-1 "
                         "(or uint8 0-255), with no-data as 0, NaN or the declared nodata value")


def _read_unw(path: Path, window: tuple[slice, slice], spec: BinarySpec | None = None) -> npt.NDArray[np.float32]:
    """Unwrapped phase (radians, NaN = no data: 0, NaN and the file's declared nodata value).

    Values that are infinite or beyond :data:`MAX_ABS_PHASE` and not the declared nodata are
    refused: they are an undeclared no-data sentinel (3e38, -9999e9...) or not a phase in radians,
    and taken as phase they would put absurd or infinite values in every product.
    """
    with np.errstate(over="ignore"):  # a float64 file's sentinel beyond float32 becomes inf: refused below
        out = read_window_band(path, window, spec, dtype=np.float32).data
    bad = np.isinf(out) | (np.abs(out) > MAX_ABS_PHASE)
    if bad.any():
        example = out[bad].flat[0]
        raise InputError(path, f"{int(bad.sum())} values of unwrapped phase beyond +-{MAX_ABS_PHASE:g} rad "
                         f"(e.g. {example:.6g}) that are not the file's declared nodata: declare the no-data value "
                         "(gdal_edit.py -a_nodata VALUE FILE) or give the phase in radians")
    out[(out == 0) | ~np.isfinite(out)] = np.nan
    return out


def _read_prepared(path: Path, window: tuple[slice, slice], spec: BinarySpec | None, blank: np.ndarray | None,
                   *, coherence: bool = False) -> npt.NDArray[np.float32]:
    """Read a window of an unw or cc file and blank the masked pixels (Step 0-4) before multilooking."""
    out = _read_coherence(path, window, spec) if coherence else _read_unw(path, window, spec)
    if blank is not None:
        out[blank] = np.nan
    return out


@dataclass
class _PairReader:
    """Reads one pair's unw and cc over a strip of output rows, prepared (clip, mask, multilook); the
    delay layers' corrector (Step 0-3) sees each strip, its corrections are applied once it decided."""

    inputs: InputSet
    ri0: int
    ci0: int
    nx: int
    nlook: int
    min_valid_looks: float
    plan: PrepPlan
    corrector: LayerCorrector | None

    def strip(self, k: int, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray | None]:
        nl = self.nlook
        win = (slice(self.ri0 + r0 * nl, self.ri0 + r1 * nl), slice(self.ci0, self.ci0 + self.nx * nl))
        blank = None if self.plan.mask is None else self.plan.mask[r0 * nl: r1 * nl, : self.nx * nl]
        p = self.inputs.pairs[k]
        u = _read_prepared(p.unw, win, p.unw_spec, blank)
        u = multilook(u, nl, min_valid=self.min_valid_looks) if nl > 1 else u
        if self.corrector is not None:
            u = self.corrector.observe(k, slice(r0, r1), u)
        c = None
        if p.cc is not None:
            c = _read_prepared(p.cc, win, p.cc_spec, blank, coherence=True)
            c = multilook(c, nl, min_valid=self.min_valid_looks) if nl > 1 else c
        return u, c


def _write_index(g: zarr.Group, inputs: InputSet, grid: Grid | None) -> tuple[np.ndarray, np.ndarray]:
    """(Re)write the small coordinate arrays: date1, date2, epoch, bperp (and lat, lon with ``grid``).

    Returns (date1, date2) of the pairs.
    """
    d1 = np.array([p.date1 for p in inputs.pairs], dtype=np.int64)
    d2 = np.array([p.date2 for p in inputs.pairs], dtype=np.int64)
    epochs = np.asarray(inputs.epochs, dtype=np.int64)
    bperp = np.array([inputs.bperp.get(int(e), np.nan) for e in epochs], dtype=np.float64)
    if np.isfinite(bperp[0]):
        bperp = bperp - bperp[0]
    items = [("date1", d1, "pair"), ("date2", d2, "pair"), ("epoch", epochs, "epoch"), ("bperp", bperp, "epoch")]
    if grid is not None:
        items += [("lat", grid.lat(), "y"), ("lon", grid.lon(), "x")]
    for name, values, dim in items:
        a = g.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=[dim], overwrite=True)
        a[:] = values
    return d1, d2


def create_stack(inputs: InputSet, out_dir: Path, *, nlook: int = 1, min_valid_looks: float = 0.5,
                 block: int = 256, progress: bool = True, plan: PrepPlan | None = None,
                 strip_memory: float | None = None) -> Stack:
    """Ingest an :class:`InputSet` into ``out_dir/stack.zarr`` (Step 0-2), multilooking by ``nlook``.

    ``plan`` (from :func:`kansho.io.prepare.plan_prep`) clips the grid to a window of the input
    (Step 0-5), blanks masked pixels (0-4) before multilooking, and subtracts the GACOS delay
    phase (0-3) from every pair it covers; the input files are not rewritten.

    Pairs are stored in acquisition order, sorted by ``(date2, date1)``, so the pairs of a new
    acquisition come last. When the existing store holds every other pair unchanged (same files,
    grid and options, no clip / mask / GACOS), the new pairs are **appended in place**: only their
    files are read and only their chunks written (:func:`_appendable`). Otherwise the store is
    written to ``stack.zarr.partial`` and renamed; unchanged pairs are then copied from the old
    store instead of being read again.

    The input is read in strips of ``block`` output rows (``block * nlook`` input rows) with every
    pair, or with as many pairs as fit in ``strip_memory`` bytes and in
    :data:`kansho.store_strips.GROUP_BYTES` (:func:`kansho.store_strips.plan_strips`; default: no budget, only
    that cap).
    """
    wavelength = inputs.wavelength
    if wavelength is None:
        raise InputError(inputs.root, "no radar wavelength known: give it (the chain's --wavelength or --freq)")
    inputs = dataclasses.replace(inputs, pairs=sorted(inputs.pairs, key=lambda p: (p.date2, p.date1)))
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / STACK_NAME
    tmp = out_dir / (STACK_NAME + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    plan = plan or PrepPlan()
    win_in = _input_window(inputs, plan)
    grid = stack_grid(inputs, plan, nlook)
    sigs = {pf.name: _pair_signature(pf) for pf in inputs.pairs}
    ingest_key = {"grid": grid.to_dict(), "nlook": int(nlook), "min_valid_looks": float(min_valid_looks),
                  "geometry": _geometry_signature(inputs)}
    common: dict[str, Any] = {
        "grid": grid.to_dict(), "wavelength": float(wavelength), "nlook": int(nlook),
        "source": {"path": str(inputs.root), "layout": inputs.layout}, "ingest_key": ingest_key,
        "pair_signatures": sigs, "metadata": {str(k): str(v) for k, v in inputs.metadata.items()}}
    reader = _PairReader(inputs, win_in[0].start, win_in[1].start, grid.width, nlook, min_valid_looks, plan, None)

    n_old = None if plan.active else _appendable(final, ingest_key, sigs, inputs)
    if n_old is not None:
        _append_pairs(final, reader, n_old, grid.height, common, block, progress, strip_memory)
    else:
        old = (None, {}) if plan.active else _reusable(final, ingest_key, sigs, inputs)
        try:
            _write_new(tmp, final, reader, grid, common, block, progress, old, strip_memory)
        finally:  # a failed ingest (a bad file, an interrupt) leaves no half-written store behind
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    log.info("stack store %s: %d pairs, %d epochs, %dx%d px", final, len(inputs.pairs), len(inputs.epochs),
             grid.width, grid.height)
    return open_stack(out_dir)


def _input_window(inputs: InputSet, plan: PrepPlan) -> tuple[slice, slice]:
    """The window of the input grid that the stack store holds: ``plan``'s clip (Step 0-5), else the whole grid."""
    return plan.clip or (slice(0, inputs.grid.height), slice(0, inputs.grid.width))


def stack_grid(inputs: InputSet, plan: PrepPlan, nlook: int) -> Grid:
    """The grid of the stack store :func:`create_stack` makes of ``inputs``: clipped by ``plan`` (Step 0-5) and
    multilooked by ``nlook``; an :class:`~kansho.errors.InputError` where nothing is left."""
    grid_in = inputs.grid.window(*_input_window(inputs, plan))
    grid = grid_in.multilooked(nlook) if nlook > 1 else grid_in
    if grid.width < 1 or grid.height < 1:
        raise InputError(inputs.root, f"grid {grid_in.width}x{grid_in.height} is smaller than --nlook {nlook}")
    return grid


def _append_pairs(final: Path, reader: _PairReader, n_old: int, ny: int, common: dict[str, Any], block: int,
                  progress: bool, strip_memory: float | None) -> None:
    """Append the pairs after the first ``n_old`` to the store ``final`` in place."""
    inputs = reader.inputs
    npair = len(inputs.pairs)
    log.info("ingest: %d new pairs appended to the stack store (%d unchanged pairs left in place)",
             npair - n_old, n_old)
    g = zarr.open_group(str(final), mode="r+", zarr_format=3)
    g.attrs["updating"] = True  # an interrupted append leaves this set: the next ingest starts afresh
    for name in ("unw", "coh"):
        _array(g, name).resize((npair, ny, reader.nx))
    codes = _array(g, "coh").dtype == np.uint8
    write_pairs(_array(g, "unw"), _array(g, "coh"), reader, n_old, npair, block, progress,
                group=_plan(npair - n_old, min(block, ny), reader.nx, strip_memory, codes, sums=False).group)
    _write_index(g, inputs, None)
    created = _attr_dict(g.attrs.get("provenance")).get("created")
    g.attrs.update(common, reused_pairs=n_old, appended_from=n_old, updating=False, qc_sums=None,
                   provenance=_provenance(inputs, None if created is None else str(created)))


def _write_new(tmp: Path, final: Path, reader: _PairReader, grid: Grid, common: dict[str, Any], block: int,
               progress: bool, old: tuple[zarr.Group | None, dict[int, int]], strip_memory: float | None) -> None:
    """Write a whole store to ``tmp`` (copying the pairs ``old`` holds unchanged), then rename it ``final``."""
    inputs, plan = reader.inputs, reader.plan
    npair = len(inputs.pairs)
    ny, nx = grid.shape
    chunk = (PAIR_CHUNK, min(block, ny), min(block, nx))
    g = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    unw = g.create_array("unw", shape=(npair, ny, nx), chunks=chunk, dtype="f4", fill_value=np.nan,
                         dimension_names=["pair", "y", "x"], compressors=fast_codec())
    codes = cohcodes.codes_fit([(p.cc, p.cc_spec) for p in inputs.pairs], reader.nlook)
    coh = g.create_array("coh", shape=(npair, ny, nx), chunks=chunk, dtype="u1" if codes else "f4",
                         fill_value=0 if codes else np.nan, dimension_names=["pair", "y", "x"],
                         compressors=fast_codec())
    unw.attrs.update(units="radians", long_name="unwrapped interferometric phase")
    coh.attrs.update(units="1", long_name="interferometric coherence",
                     **({"scale_factor": 1.0 / cohcodes.SCALE, "_FillValue": 0} if codes else {}))
    d1, d2 = _write_index(g, inputs, grid)
    los = write_geometry(g, reader, ny, block, fast_codec())
    los_enu = (los["E"], los["N"], los["U"]) if all(k in los for k in ("E", "N", "U")) else None
    corr = (LayerCorrector(plan, grid, float(common["wavelength"]), los.get("U"), d1, d2, los_enu)
            if plan.layer_specs() else None)

    old_g, reuse = old
    if reuse:
        log.info("ingest: %d pairs unchanged since the last run are copied from the stack store; %d read",
                 len(reuse), npair - len(reuse))
    reader = dataclasses.replace(reader, corrector=corr)
    # a correction (below) may blank pixels after the strips were read, and a strip's coherence may not fit to
    # be kept for them: then no sums (step 1-1 takes them from the stack), and no memory kept for them
    strips = _plan(npair, min(block, ny), nx, strip_memory, codes, sums=corr is None)
    sums = StackSums.create(g, (ny, nx), npair, block, fast_codec()) if strips.kept else None
    copy = (_array(old_g, "unw"), _array(old_g, "coh"), reuse) if old_g is not None else None
    write_pairs(unw, coh, reader, 0, npair, block, progress, copy, sums, strips.group)
    if sums is not None:
        sums.finish(g)
    if corr is not None:
        corr.decide()
        apply_layers(unw, corr, block)
    for name, units in GEOMETRY_UNITS.items():
        _array(g, name).attrs["units"] = units

    g.attrs.update(common, kansho_store_version=STORE_VERSION, store_id=uuid.uuid4().hex, reused_pairs=len(reuse),
                   appended_from=0, prep=prep_attrs(plan, corr, inputs), provenance=_provenance(inputs, None))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _plan(n: int, rows: int, nx: int, strip_memory: float | None, codes: bool, *, sums: bool) -> StripPlan:
    """How ingest holds a strip (:func:`kansho.store_strips.plan_strips`), said when not all ``n`` pairs at once."""
    plan = plan_strips(n, rows, nx, strip_memory, codes, sums=sums)
    if plan.group < n:
        limit = GROUP_BYTES if strip_memory is None else min(GROUP_BYTES, strip_memory)
        log.info("ingest: the pairs of each strip taken %d at a time: all %d would take %.1f GB, over the %.1f GB "
                 "allowed them%s", plan.group, n, n * rows * nx * STRIP_BYTES / 1e9, limit / 1e9,
                 "" if plan.kept else " (step 1-1 then reads the stack for its statistics)")
    return plan


def _array(g: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` of a store group; InputError naming the store if it is missing or a group."""
    try:
        a = g[name]
    except KeyError:
        raise InputError(str(g.store_path), f"no array {name!r} in the stack store") from None
    if not isinstance(a, zarr.Array):
        raise InputError(str(g.store_path), f"{name!r} is a group, not an array, in the stack store")
    return a


def _attr_dict(value: object) -> dict[str, Any]:
    """A mapping attribute of the store as a dict (empty when absent or not a mapping)."""
    return dict(value) if isinstance(value, dict) else {}


def _provenance(inputs: InputSet, created: str | None) -> dict[str, str]:
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    out = {"kansho_version": __version__, "created": created or now, "input_fingerprint": input_fingerprint(inputs)}
    if created:
        out["updated"] = now
    return out


def _geometry_signature(inputs: InputSet) -> str:
    """Signatures of the geometry files (E, N, U, hgt) and the fixed LOS: equal means equal geometry arrays."""
    parts = [f"{k}={_file_signature(v) if v is not None else ''}" for k, v in sorted(inputs.geometry.items())]
    parts += [f"{k}={v!r}" for k, v in sorted(inputs.los.items())]
    return ";".join(parts)


def _appendable(final: Path, ingest_key: dict[str, Any], sigs: dict[str, str], inputs: InputSet) -> int | None:
    """Number of leading pairs of ``inputs`` the existing store already holds, when the rest can be appended.

    True when the store is whole (no interrupted update), was written with the same grid, options
    and geometry files and without clip / mask / GACOS, holds exactly the first ``n`` pairs of
    ``inputs`` in the same order with unchanged files, is chunked :data:`PAIR_CHUNK` pairs deep,
    ``inputs`` has more pairs and, where the store keeps 8-bit coherence codes, the new pairs'
    coherence is 8-bit too. ``None`` otherwise.
    """
    g, old_names = _open_old(final, ingest_key)
    if g is None or _array(g, "unw").chunks[0] != PAIR_CHUNK or not g.attrs.get("store_id"):
        return None
    n = len(old_names)
    names = [p.name for p in inputs.pairs]
    old_sigs = _attr_dict(g.attrs.get("pair_signatures"))
    if not 0 < n < len(names) or names[:n] != old_names or any(old_sigs.get(k) != sigs[k] for k in old_names):
        return None
    if _array(g, "coh").dtype == np.uint8 and not cohcodes.codes_fit(  # a new pair's coherence is not 8-bit
            [(p.cc, p.cc_spec) for p in inputs.pairs[n:]], int(ingest_key["nlook"])):
        return None
    return n


def _open_old(final: Path, ingest_key: dict[str, Any]) -> tuple[zarr.Group | None, list[str]]:
    """The existing store and its pair names when it is whole and matches ``ingest_key`` without prep."""
    if not final.is_dir():
        return None, []
    try:
        g = zarr.open_group(str(final), mode="r", zarr_format=3)
        attrs: dict[str, Any] = dict(g.attrs)
        if (attrs.get("updating") or attrs.get("ingest_key") != json.loads(json.dumps(ingest_key))
                or attrs.get("prep") or attrs.get("kansho_store_version") not in READ_VERSIONS):
            return None, []
        d1, d2 = np.asarray(_array(g, "date1")[:]), np.asarray(_array(g, "date2")[:])
        names = [f"{a}_{b}" for a, b in zip(d1, d2, strict=True)]
    except Exception:  # noqa: BLE001 - an unreadable old store is simply not reused
        return None, []
    return g, names


def _pair_signature(pf: Any) -> str:
    """Name, size and modification time of a pair's files: equal signatures mean equal data."""
    return ";".join(_file_signature(f) for f in (pf.unw, pf.cc) if f is not None)


def _reusable(final: Path, ingest_key: dict[str, Any], sigs: dict[str, str], inputs: InputSet
              ) -> tuple[zarr.Group | None, dict[int, int]]:
    """Pairs of ``inputs`` whose data the existing stack store already holds: ``{new index: old index}``.

    A pair is reused when the previous store was written with the same grid, multilook options and
    geometry files, without clip / mask / GACOS, and the pair's files have the same names, sizes
    and modification times. New acquisitions (new pairs) are then the only files read.
    """
    g, names = _open_old(final, ingest_key)
    if g is None:
        return None, {}
    old_sigs = _attr_dict(g.attrs.get("pair_signatures"))
    pos = {n: j for j, n in enumerate(names)}
    reuse = {k: pos[pf.name] for k, pf in enumerate(inputs.pairs)
             if pf.name in pos and old_sigs.get(pf.name) == sigs[pf.name]}
    return (g, reuse) if reuse else (None, {})


def open_stack(path: Path) -> Stack:
    """Open ``path`` (a run folder or the ``stack.zarr`` itself) and check the contract."""
    p = Path(path)
    if p.name != STACK_NAME:
        p = p / STACK_NAME
    if not p.exists():
        raise InputError(p, "no stack store here (run ingest first)")
    g = zarr.open_group(str(p), mode="r")
    attrs: dict[str, Any] = dict(g.attrs)
    if attrs.get("kansho_store_version") not in READ_VERSIONS:
        raise InputError(p, f"unsupported stack store version {attrs.get('kansho_store_version')!r}")
    if attrs.get("updating"):
        raise InputError(p, "an update of this stack store was interrupted: run ingest again (kansho ts INPUT -o OUT)")
    return Stack(
        path=p,
        group=g,
        grid=Grid.from_dict(attrs["grid"]),
        date1=np.asarray(_array(g, "date1")[:]),
        date2=np.asarray(_array(g, "date2")[:]),
        epochs=np.asarray(_array(g, "epoch")[:]),
        bperp=np.asarray(_array(g, "bperp")[:]),
        wavelength=float(attrs["wavelength"]),
        attrs=attrs,
    )


def open_dataset(path: Path) -> Any:
    """The stack store as a lazy :class:`xarray.Dataset` (for users and notebooks)."""
    import xarray as xr

    p = Path(path)
    if p.name != STACK_NAME:
        p = p / STACK_NAME
    return xr.open_zarr(str(p), consolidated=False)
