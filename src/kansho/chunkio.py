"""Chunk I/O of the run's zarr arrays in the calling thread.

zarr 3 reads and writes every selection through one event-loop thread per process: the decoded chunks
are copied into the result, and a written chunk compared with the fill value, there, one chunk after
another, while the caller waits. Two block threads reading their blocks at once each waited longer
than one alone (a 256 x 256 px block of the M frame's 222-pair stack: 60 ms alone, 129 ms each with two
threads; read here: 30 ms alone, 18 ms each with two, the Blosc decompression off the GIL).

:func:`direct` wraps an array of a local store whose layout this module knows (zarr v3, regular chunk
grid, the default chunk key encoding, C order, ``bytes`` little endian then at most a Blosc codec, no
sharding or storage transformer) in a :class:`ChunkArray`: a selection of integers and unit-step slices
is read and written chunk by chunk here, with zarr's own semantics (fill value for a missing chunk, a
chunk equal to the fill value everywhere not stored, each chunk file replaced whole by a temporary
file's rename). Any other selection, and every other attribute, goes to the zarr array. Arrays of any
other layout are returned as they are.
"""

from __future__ import annotations

import itertools
import sys
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from kansho._files import write_bytes_atomic

#: (start, stop) per axis of a selection, and whether the axis stays in the result (a slice) or not (an int)
Region = tuple[list[tuple[int, int]], list[bool]]


class ChunkArray:
    """A zarr array whose basic selections are read and written chunk by chunk in the calling thread
    (module docstring); everything else is the zarr array's (:attr:`array`)."""

    def __init__(self, array: zarr.Array, directory: Path, codec: Any) -> None:
        self.array = array
        self.shape: tuple[int, ...] = tuple(int(n) for n in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        meta: Any = array.metadata  # v3 (:func:`direct`)
        self.chunks: tuple[int, ...] = tuple(int(c) for c in meta.chunk_grid.chunk_shape)
        fill = meta.fill_value
        self.fill_value = np.asarray(fill if fill is not None else 0, self.dtype)[()]
        self._nan_fill = self.dtype.kind in "fc" and bool(np.isnan(self.fill_value))
        self._dir = directory
        self._key = meta.chunk_key_encoding.encode_chunk_key
        self._codec = codec
        self._chunk_size = int(np.prod(self.chunks))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "array":  # not the zarr array's (pickling, copying, half-built)
            raise AttributeError(name)
        return getattr(self.array, name)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return direct, (self.array,)  # opened again from the zarr array (a task's stack sent to a worker)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> Any:
        region = basic_region(key, self.shape)
        if region is None:
            return self.array[key]
        bounds, keep = region
        out = np.empty([b - a for a, b in bounds], self.dtype)
        for idx in _chunks_of(bounds, self.chunks):
            src, dst, whole = _overlap(idx, bounds, self.chunks, self.shape)
            view = out[dst]
            buf = self._read_file(idx)
            if buf is None:
                view[...] = self.fill_value
            elif whole and view.flags.c_contiguous and view.size == self._chunk_size:
                self._decode(buf, view)  # straight into the result
            else:
                view[...] = self._decode(buf)[src]
        return out.reshape([b - a for (a, b), k in zip(bounds, keep, strict=True) if k]) if not all(keep) else out

    def take_first(self, index: npt.ArrayLike, key: tuple[slice, ...]) -> np.ndarray:
        """``array[index][:, *key]``: the entries ``index`` (1-D, any order, repeats allowed) of the first axis of the
        unit-step slices ``key`` of the other axes, each chunk read and decoded once and only its wanted entries
        copied (the pairs a step keeps of the stack, without the whole range and a second copy)."""
        idx = np.asarray(index, np.intp)
        region = basic_region((slice(None), *key), self.shape)
        if region is None or idx.ndim != 1 or not all(region[1]) or len(key) != self.ndim - 1:
            raise ValueError("take_first takes a 1-D index and a unit-step slice of every other axis")
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.shape[0]):
            raise IndexError(f"index out of bounds for an axis of size {self.shape[0]}")
        bounds = region[0][1:]
        chunks, shape = self.chunks[1:], self.shape[1:]
        out = np.empty((idx.size, *[b - a for a, b in bounds]), self.dtype)
        scratch = np.empty(self.chunks, self.dtype)
        c0 = self.chunks[0]
        ck = idx // c0  # each entry's chunk along the first axis
        for ci in np.unique(ck):
            pos = np.flatnonzero(ck == ci)  # the entries in this chunk of the first axis
            local = idx[pos] - int(ci) * c0
            for sidx in _chunks_of(bounds, chunks):
                src, dst, _ = _overlap(sidx, bounds, chunks, shape)
                buf = self._read_file((int(ci), *sidx))
                if buf is None:
                    to: tuple[Any, ...] = (pos, *dst)
                    out[to] = self.fill_value
                    continue
                chunk = self._decode(buf, scratch)  # into one buffer for every chunk (no fresh pages each time)
                for j, k in zip(pos.tolist(), local.tolist(), strict=True):
                    to_j: tuple[Any, ...] = (j, *dst)
                    out[to_j] = chunk[(k, *src)]
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        region = basic_region(key, self.shape)
        if region is None:
            self.array[key] = value
            return
        bounds, keep = region
        sel = [b - a for a, b in bounds]
        vals = np.broadcast_to(np.asarray(value).astype(self.dtype, copy=False), _kept_shape(sel, keep)).reshape(sel)
        for idx in _chunks_of(bounds, self.chunks):
            src, dst, whole = _overlap(idx, bounds, self.chunks, self.shape)
            part = vals[dst]
            buf = None if whole else self._read_file(idx)
            if buf is None and whole and not _edge(idx, self.chunks, self.shape) and part.flags.c_contiguous:
                self._store(idx, part)  # the values are the chunk, laid out as stored: encoded as they are
                continue
            if buf is not None:
                chunk = self._decode(buf).copy()
            elif whole and not _edge(idx, self.chunks, self.shape):
                chunk = np.empty(self.chunks, self.dtype)  # every element written below
            else:  # a new chunk, or an edge chunk, which zarr pads with the fill value
                chunk = np.full(self.chunks, self.fill_value, self.dtype)
            chunk[src] = part
            self._store(idx, chunk)

    def _path(self, idx: tuple[int, ...]) -> Path:
        return self._dir / self._key(idx)

    def _read_file(self, idx: tuple[int, ...]) -> bytes | None:
        try:
            with open(self._path(idx), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _decode(self, buf: bytes, out: np.ndarray | None = None) -> np.ndarray:
        """The chunk ``buf`` as an array of the chunk's shape (into ``out``, C-contiguous, when given)."""
        n = self._chunk_size * self.dtype.itemsize
        if self._codec is None:
            if len(buf) != n:
                raise ValueError(f"{self._dir}: a chunk of {len(buf)} bytes where {n} are due")
            arr = np.frombuffer(buf, self.dtype).reshape(self.chunks)
            if out is not None:
                out[...] = arr
            return arr
        if out is not None:
            self._codec.decode(buf, out=out)
            return out
        return np.frombuffer(self._codec.decode(buf), self.dtype).reshape(self.chunks)

    def _store(self, idx: tuple[int, ...], chunk: np.ndarray) -> None:
        """Write one chunk (its file replaced by a rename), or remove it where it is the fill value everywhere
        (zarr's ``write_empty_chunks=False``)."""
        path = self._path(idx)
        if self._is_fill(chunk):
            path.unlink(missing_ok=True)
        else:
            write_bytes_atomic(path, chunk.tobytes() if self._codec is None else self._codec.encode(chunk))

    def _is_fill(self, chunk: np.ndarray) -> bool:
        """Whether ``chunk`` is the fill value everywhere (its first element tells at once for most chunks)."""
        first = chunk.flat[0]
        if self._nan_fill:
            return bool(np.isnan(first)) and bool(np.isnan(chunk).all())
        return bool(first == self.fill_value) and bool((chunk == self.fill_value).all())


def _kept_shape(sel: list[int], keep: list[bool]) -> list[int]:
    return [n for n, k in zip(sel, keep, strict=True) if k]


def basic_region(key: Any, shape: tuple[int, ...]) -> Region | None:
    """The (start, stop) per axis of a selection of integers, unit-step slices and at most one Ellipsis
    (trailing axes taken whole), and which axes it keeps; None for any other selection. IndexError for an
    integer out of range, as NumPy."""
    key = key if isinstance(key, tuple) else (key,)
    n_ell = sum(k is Ellipsis for k in key)
    if n_ell > 1:
        return None
    if n_ell:
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1:]
    if len(key) > len(shape):
        return None
    key = key + (slice(None),) * (len(shape) - len(key))
    bounds: list[tuple[int, int]] = []
    keep: list[bool] = []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            a, b, step = k.indices(n)
            if step != 1:
                return None
            bounds.append((a, max(a, b)))
            keep.append(True)
        elif isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
            i = int(k) + (n if int(k) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(k)} is out of bounds for an axis of size {n}")
            bounds.append((i, i + 1))
            keep.append(False)
        else:
            return None
    return bounds, keep


def _chunks_of(bounds: list[tuple[int, int]], chunks: tuple[int, ...]) -> Any:
    """The chunk indices a region touches (none for an empty region)."""
    return itertools.product(*(range(a // c, (b - 1) // c + 1) if b > a else range(0)
                               for (a, b), c in zip(bounds, chunks, strict=True)))


def _overlap(idx: tuple[int, ...], bounds: list[tuple[int, int]], chunks: tuple[int, ...], shape: tuple[int, ...]
             ) -> tuple[tuple[slice, ...], tuple[slice, ...], bool]:
    """For chunk ``idx``: its part in the region (slices of the chunk), where that part lies in the region,
    and whether it is all of the chunk's part of the array."""
    src, dst, whole = [], [], True
    for i, (a, b), c, n in zip(idx, bounds, chunks, shape, strict=True):
        o = i * c
        lo, hi = max(a, o), min(b, o + c)
        src.append(slice(lo - o, hi - o))
        dst.append(slice(lo - a, hi - a))
        whole = whole and lo == o and hi == min(o + c, n)
    return tuple(src), tuple(dst), whole


def _edge(idx: tuple[int, ...], chunks: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return any((i + 1) * c > n for i, c, n in zip(idx, chunks, shape, strict=True))


def put_by_chunks(pool: Executor, targets: list[tuple[Any, np.ndarray]], start: int, rest: tuple[slice, ...]) -> None:
    """Write each ``(array, values)`` of ``targets`` at ``[start : start + len(values), *rest]``, cut along the
    first axis where the array's chunks start, the pieces on the threads of ``pool`` (each compresses its own
    chunks, here: :func:`direct`; one thread would compress them one after another)."""
    jobs = []
    for target, vals in targets:
        arr = direct(target)
        c, stop = int(arr.chunks[0]), start + vals.shape[0]
        edges = [start, *range((start // c + 1) * c, stop, c), stop]
        jobs += [(arr, vals, a, b) for a, b in itertools.pairwise(edges) if b > a]

    def put(job: tuple[Any, np.ndarray, int, int]) -> None:
        arr, vals, a, b = job
        arr[(slice(a, b), *rest)] = vals[a - start:b - start]

    list(pool.map(put, jobs))


def _codec_of(array: zarr.Array) -> tuple[bool, Any]:
    """(whether the chunk codecs are ones this module reads, the numcodecs Blosc codec or None)."""
    from numcodecs import Blosc
    from zarr.codecs import BloscCodec, BytesCodec

    meta: Any = array.metadata  # v3 (:func:`direct`)
    codecs = list(meta.codecs)
    if not codecs or not isinstance(codecs[0], BytesCodec) or len(codecs) > 2:
        return False, None
    endian = codecs[0].endian
    if np.dtype(array.dtype).itemsize > 1 and (sys.byteorder != "little" or endian is None
                                                or getattr(endian, "value", endian) != "little"):
        return False, None
    if len(codecs) == 1:
        return True, None
    b = codecs[1]
    if not isinstance(b, BloscCodec) or b.typesize is None:
        return False, None
    shuffle = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}
    return True, Blosc(cname=b.cname.value, clevel=int(b.clevel), shuffle=shuffle[b.shuffle.value],
                       blocksize=int(b.blocksize), typesize=int(b.typesize))


#: a work or stack array as the chain holds it
AnyArray = zarr.Array | ChunkArray


def take_first(array: AnyArray, index: npt.ArrayLike, key: tuple[slice, ...]) -> np.ndarray:
    """``array[index][:, *key]`` (:meth:`ChunkArray.take_first`; zarr's orthogonal selection for another array)."""
    if isinstance(array, ChunkArray):
        return array.take_first(index, key)
    return np.asarray(array.oindex[(np.asarray(index, np.intp), *key)])


def direct(array: AnyArray) -> AnyArray:
    """``array`` as a :class:`ChunkArray` where its layout allows (module docstring), else as it is."""
    if isinstance(array, ChunkArray):
        return array
    from zarr.core.chunk_key_encodings import DefaultChunkKeyEncoding
    from zarr.core.metadata import ArrayV3Metadata
    from zarr.storage import LocalStore

    m = array.metadata
    store = array.store_path.store
    if (not isinstance(m, ArrayV3Metadata) or not isinstance(store, LocalStore) or m.storage_transformers
            or type(m.chunk_grid).__name__ != "RegularChunkGrid"
            or not isinstance(m.chunk_key_encoding, DefaultChunkKeyEncoding) or array.order != "C"
            or np.dtype(array.dtype).kind not in "biuf" or np.dtype(array.dtype).hasobject):
        return array
    ok, codec = _codec_of(array)
    if not ok:
        return array
    path = array.store_path.path
    return ChunkArray(array, Path(store.root) / path if path else Path(store.root), codec)
