"""The stack store's pairs written strip by strip (Step 0-2, :func:`kansho.store.create_stack`).

A strip is ``block`` output rows of every pair, read into memory, then cut into the store's chunks
(:data:`PAIR_CHUNK` pairs × ``block`` × ``block`` px). Its buffers hold ``rows × width × 9`` bytes a pair
(the unwrapped phase and the coherence as float32, and the coherence's 8-bit codes): on a 2500 px wide
frame ~5.8 MB a pair, 2.5 GB for 440 pairs and 11 GB for a long Sentinel-1 stack of ~1900 pairs. Where
every pair's strip would exceed the run's memory budget (:func:`pair_group`), the pairs of a strip are
taken in groups of whole chunks instead, one group in memory at a time. The store is the same array for
array; only step 1-1's sums (:mod:`kansho.stack_sums`), which need every pair of a strip at once, are then
left to step 1-1, which reads the stack for them (the same values).
"""

from __future__ import annotations

import itertools
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import zarr
from rasterio.errors import NotGeoreferencedWarning

from kansho import cohcodes
from kansho.chunkio import direct, put_by_chunks, take_first
from kansho.stack_sums import StackSums

#: pairs per chunk of ``unw``/``coh``: an update appends chunks and leaves the existing ones alone
PAIR_CHUNK = 16
#: pairs copied at once from the previous stack store (its temporary: this many pairs of a strip)
COPY_PAIRS = 16
#: bytes a strip's buffers hold per value: unw and coherence float32, the coherence's 8-bit code
STRIP_BYTES = 9


class StripReader(Protocol):
    """What :func:`write_pairs` reads: each pair's rows ``r0:r1`` (unw, coherence or None), ``nx`` wide."""

    nx: int

    def strip(self, k: int, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray | None]: ...


def pair_group(n_pair: int, rows: int, nx: int, budget: float) -> int:
    """Pairs of a strip held in memory at once: all ``n_pair`` where their strip buffers (``rows × nx ×``
    :data:`STRIP_BYTES` bytes a pair) fit in ``budget`` bytes, else the most whole chunks of
    :data:`PAIR_CHUNK` pairs that do (at least one chunk)."""
    per_pair = rows * nx * STRIP_BYTES
    if n_pair * per_pair <= budget:
        return n_pair
    return max(PAIR_CHUNK, int(budget // per_pair) // PAIR_CHUNK * PAIR_CHUNK)


def write_pairs(unw: zarr.Array, coh: zarr.Array, reader: StripReader, start: int, stop: int, block: int,
                progress: bool, copy: tuple[Any, Any, dict[int, int]] | None = None,
                sums: StackSums | None = None, group: int | None = None) -> None:
    """Fill pairs ``start:stop`` of ``unw``/``coh``, strip by strip of ``block`` rows, ``group`` pairs of a
    strip at a time (default all; groups end on the chunks' boundaries), each strip's groups in the order
    of the pairs. With ``sums`` (only when one group holds every pair) each strip is added to step 1-1's
    sums.

    Pairs in ``copy[2]`` (``{pair: index in the old store}``) are copied from the old store's ``unw`` and
    ``coh``, ``copy[0]`` and ``copy[1]`` (:data:`COPY_PAIRS` at a time); the others are read from their
    files, by a few threads (GDAL decompresses with the GIL released, so they keep every core busy)."""
    n, (ny, nx) = stop - start, unw.shape[1:]
    g = n if group is None else max(1, min(int(group), n))
    if sums is not None and g < n:
        raise ValueError("step 1-1's sums need every pair of a strip at once")
    edges = [start, stop] if g == n else [start, *range((start // g + 1) * g, stop, g), stop]  # on chunk edges
    groups = [(a, b) for a, b in itertools.pairwise(edges) if b > a]
    sources = {a: _sources(a, b, copy[2] if copy is not None else {}) for a, b in groups}
    codes = coh.dtype == np.uint8  # the store keeps 8-bit coherence codes (kansho.cohcodes)
    bar = _progress(total=len(range(0, ny, block)) * n, desc="ingest", enabled=progress)
    # catch_warnings is not thread-safe: the readers' NotGeoreferencedWarning is ignored here for every thread
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                                       thread_name_prefix="ingest") as pool:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        # one set of strip buffers for all strips and groups (the last, shorter ones views of them): a fresh one
        # per strip is returned to the system and page-faulted again each time (~0.5 s per 200 MB buffer on
        # the 1000 x 1000, 222-pair frame). Every pair's rows are written below, so nothing is pre-filled.
        glen = max(b - a for a, b in groups)
        u_buf, c_buf = np.empty((glen, block, nx), np.float32), np.empty((glen, block, nx), np.float32)
        k_buf = np.empty((glen, block, nx) if codes else (0, 0, 0), np.uint8)
        for r0 in range(0, ny, block):
            r1 = min(r0 + block, ny)
            for a, b in groups:
                bufs = (u_buf[:b - a, :r1 - r0], c_buf[:b - a, :r1 - r0], k_buf[:b - a, :r1 - r0])
                _fill_strip(pool, reader, bufs, a, (r0, r1), codes, copy, sources[a], bar)
                if sums is not None:
                    sums.add_strip(u_buf, c_buf, r0, r1 - r0)
                put_by_chunks(pool, [(unw, bufs[0]), (coh, bufs[2] if codes else bufs[1])], a,
                              (slice(r0, r1), slice(None)))
    bar.close()


def _sources(a: int, b: int, reuse: dict[int, int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Of the pairs ``a:b``: those ``reuse`` copies from the old store, their indices there, and those read
    from their files."""
    copied = [k for k in range(a, b) if k in reuse]
    return (np.array(copied, np.intp), np.array([reuse[k] for k in copied], np.intp),
            [k for k in range(a, b) if k not in reuse])


def _fill_strip(pool: ThreadPoolExecutor, reader: StripReader, bufs: tuple[np.ndarray, np.ndarray, np.ndarray],
                a: int, rows: tuple[int, int], codes: bool, copy: tuple[Any, Any, dict[int, int]] | None,
                source: tuple[np.ndarray, np.ndarray, list[int]], bar: Any) -> None:
    """Rows ``rows`` (r0, r1) of a group of pairs from ``a`` on into the buffers ``bufs`` (unw, coherence,
    codes; pair ``k`` at ``k - a``). ``source``: the pairs copied from the old store's arrays ``copy[:2]``,
    their indices there, and the pairs read from their files."""
    u_strip, c_strip, k_strip = bufs
    r0, r1 = rows
    old_k, old_j, read_k = source

    def read_pair(k: int) -> None:
        u, c = reader.strip(k, r0, r1)
        u_strip[k - a] = u
        c_strip[k - a] = np.nan if c is None else c
        if codes:
            cohcodes.encode(c_strip[k - a], out=k_strip[k - a])

    if old_k.size:  # unchanged pairs come from the previous stack, a few at a time (no second strip), read
        assert copy is not None  # chunk by chunk (not by zarr's reader: ~3 s of a rebuilt M frame's ingest)
        old_unw, old_coh = direct(copy[0]), direct(copy[1])
        for i in range(0, old_k.size, COPY_PAIRS):
            ks, js = old_k[i:i + COPY_PAIRS], old_j[i:i + COPY_PAIRS]
            u_strip[ks - a] = take_first(old_unw, js, (slice(r0, r1), slice(None)))
            old_c = take_first(old_coh, js, (slice(r0, r1), slice(None)))
            c_strip[ks - a] = cohcodes.decode(old_c) if old_c.dtype == np.uint8 else old_c
            if codes:
                k_strip[ks - a] = old_c if old_c.dtype == np.uint8 else cohcodes.encode(old_c)
            bar.update(ks.size)
    for _ in pool.map(read_pair, read_k):
        bar.update(1)


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="it")
