"""The stack store's pairs written strip by strip (Step 0-2, :func:`kansho.store.create_stack`).

A strip is ``block`` output rows of every pair, read into memory, then cut into the store's chunks
(:data:`PAIR_CHUNK` pairs × ``block`` × ``block`` px). Its buffers hold ``rows × width × 9`` bytes a pair
(the unwrapped phase and the coherence as float32, and the coherence's 8-bit codes): on a 2500 px wide
frame ~5.8 MB a pair, 2.5 GB for 440 pairs and 11 GB for a long Sentinel-1 stack of ~1900 pairs. Where
every pair's strip would exceed the run's memory budget (:func:`plan_strips`), the pairs of a strip are
taken in groups of whole chunks instead, one group in memory at a time. The store is the same array for
array. Step 1-1's sums (:mod:`kansho.stack_sums`) add each group's unwrapped phase as it comes, and the
coherence of every pair once the strip's last group is in (the footprint is known only then): the strip's
coherence of every pair is kept for that (its 8-bit codes, 1 byte a value, or float32). Only where even
that would not fit are the sums left to step 1-1, which reads the stack for them (the same values).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import zarr
from rasterio.errors import NotGeoreferencedWarning

from kansho import cohcodes
from kansho._threads import kernel_threads
from kansho.chunkio import direct, put_by_chunks, take_first
from kansho.stack_sums import StackSums

#: pairs per chunk of ``unw``/``coh``: an update appends chunks and leaves the existing ones alone
PAIR_CHUNK = 16
#: pairs copied at once from the previous stack store (its temporary: this many pairs of a strip)
COPY_PAIRS = 16
#: bytes a strip's buffers hold per value: unw and coherence float32, the coherence's 8-bit code
STRIP_BYTES = 9
#: the most bytes a group's buffers take, whatever the budget: on the 2500 px wide, 440-pair frame groups of
#: 128-320 pairs (0.7-1.7 GB) were as fast as whole strips (2.5 GB; 41-61 s against 42-45 s), and the memory
#: is left to the page cache (the inputs read) and to the later steps
GROUP_BYTES = 2**30


class StripReader(Protocol):
    """What :func:`write_pairs` reads: each pair's rows ``r0:r1`` (unw, coherence or None), ``nx`` wide."""

    nx: int

    def strip(self, k: int, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray | None]: ...


@dataclass(frozen=True)
class StripPlan:
    """How ingest holds a strip (:func:`plan_strips`): ``group`` pairs of it in memory at once, and whether
    every pair's coherence is ``kept`` for the strip, so that step 1-1's sums can be taken."""

    group: int
    kept: bool


def plan_strips(n_pair: int, rows: int, nx: int, budget: float | None, codes: bool, *,
                sums: bool = True) -> StripPlan:
    """The :class:`StripPlan` of ``n_pair`` pairs' strips of ``rows`` × ``nx`` px within ``budget`` bytes
    (None: no limit); ``codes``: the store keeps the coherence as 8-bit codes. Every pair at once where their
    buffers (:data:`STRIP_BYTES` a value) fit the budget and :data:`GROUP_BYTES`. Else, where step 1-1's
    ``sums`` are wanted, groups of the most whole chunks of :data:`PAIR_CHUNK` pairs that fit both beside every
    pair's kept coherence (1 byte a value as codes, else 4; a group then needs 8 or 4: its float coherence is in
    the kept one); else (not wanted, or not even one chunk fits beside it) groups within the whole budget and
    nothing kept."""
    px = rows * nx
    budget = math.inf if budget is None else budget
    if n_pair * px * STRIP_BYTES <= min(budget, GROUP_BYTES):
        return StripPlan(n_pair, sums)
    keep, per_pair = (px, 8 * px) if codes else (4 * px, 4 * px)
    rest = budget - n_pair * keep
    if sums and rest >= PAIR_CHUNK * per_pair:
        return StripPlan(min(n_pair, _whole_chunks(min(rest, GROUP_BYTES), per_pair)), True)
    return StripPlan(min(n_pair, _whole_chunks(min(budget, GROUP_BYTES), px * STRIP_BYTES)), False)


def _whole_chunks(budget: float, per_pair: int) -> int:
    """The most pairs in whole chunks of :data:`PAIR_CHUNK` whose ``per_pair`` bytes fit ``budget`` (at least one
    chunk)."""
    return max(PAIR_CHUNK, int(budget // per_pair) // PAIR_CHUNK * PAIR_CHUNK)


def write_pairs(unw: zarr.Array, coh: zarr.Array, reader: StripReader, start: int, stop: int, block: int,
                progress: bool, copy: tuple[Any, Any, dict[int, int]] | None = None,
                sums: StackSums | None = None, group: int | None = None) -> None:
    """Fill pairs ``start:stop`` of ``unw``/``coh``, strip by strip of ``block`` rows, ``group`` pairs of a
    strip at a time (default all; groups end on the chunks' boundaries), each strip's groups in the order
    of the pairs. With ``sums`` each strip is added to step 1-1's sums (its coherence of every pair kept
    meanwhile: :func:`plan_strips`).

    Pairs in ``copy[2]`` (``{pair: index in the old store}``) are copied from the old store's ``unw`` and
    ``coh``, ``copy[0]`` and ``copy[1]`` (:data:`COPY_PAIRS` at a time); the others are read from their
    files, by as many threads as the run's kernels use (:func:`kansho._threads.kernel_threads`: every core, or
    ``NUMBA_NUM_THREADS``; GDAL decompresses with the GIL released, so they keep every core busy)."""
    n, (ny, nx) = stop - start, unw.shape[1:]
    g = n if group is None else max(1, min(int(group), n))
    edges = [start, stop] if g == n else [start, *range((start // g + 1) * g, stop, g), stop]  # on chunk edges
    groups = [(a, b) for a, b in itertools.pairwise(edges) if b > a]
    sources = {a: _sources(a, b, copy[2] if copy is not None else {}) for a, b in groups}
    codes = coh.dtype == np.uint8  # the store keeps 8-bit coherence codes (kansho.cohcodes)
    bar = _progress(total=len(range(0, ny, block)) * n, desc="ingest", enabled=progress)
    views, kept = _buffers(max(b - a for a, b in groups), (block, nx), codes, n if sums is not None else 0)
    # catch_warnings is not thread-safe: the readers' NotGeoreferencedWarning is ignored here for every thread
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=kernel_threads(),
                                                       thread_name_prefix="ingest") as pool:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for r0 in range(0, ny, block):
            r1 = min(r0 + block, ny)
            if sums is not None:
                sums.begin_strip(r1 - r0, nx)
            for a, b in groups:
                full = views(a - start, b - start)
                bufs = (full[0][:, :r1 - r0], full[1][:, :r1 - r0], full[2][:, :r1 - r0])
                _fill_strip(pool, reader, bufs, a, (r0, r1), codes, copy, sources[a], bar)
                if sums is not None:
                    sums.add_unw(full[0], a - start, r1 - r0)
                put_by_chunks(pool, [(unw, bufs[0]), (coh, bufs[2] if codes else bufs[1])], a,
                              (slice(r0, r1), slice(None)))
            if sums is not None:
                sums.end_strip(kept, codes, r0)
    bar.close()


def _buffers(glen: int, shape: tuple[int, int], codes: bool,
             n_kept: int) -> tuple[Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """One set of strip buffers for every strip and group of :func:`write_pairs` (a fresh one per strip is
    returned to the system and page-faulted again each time: ~0.5 s per 200 MB buffer on the 1000 x 1000,
    222-pair frame; every pair's rows are written, so nothing is pre-filled): groups of at most ``glen`` pairs
    of ``shape`` (rows, nx), and with ``n_kept`` the coherence of that many pairs kept for a strip (codes or
    float32). Returns ``views(i, j)``: the buffers (unw, coherence float32, codes; C order, all ``shape[0]``
    rows: the last strip's are in the first ones) of the group of the ``i``-th to ``j``-th pair; and the kept
    coherence of the ``n_kept`` pairs (the codes, or the float32 coherence the groups' views are of; empty
    without)."""
    u_buf = np.empty((glen, *shape), np.float32)
    if not n_kept:
        c_buf, k_buf = np.empty((glen, *shape), np.float32), np.empty((glen, *shape) if codes else (0, 0, 0), np.uint8)
    elif codes:
        c_buf, k_buf = np.empty((glen, *shape), np.float32), np.empty((n_kept, *shape), np.uint8)
    else:
        c_buf, k_buf = np.empty((n_kept, *shape), np.float32), np.empty((0, 0, 0), np.uint8)

    def views(i: int, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = c_buf[i:j] if n_kept and not codes else c_buf[:j - i]
        k = k_buf[i:j] if n_kept and codes else k_buf[:j - i]
        return u_buf[:j - i], c, k

    return views, (k_buf if codes else c_buf) if n_kept else np.empty((0, *shape), np.float32)


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
