"""What every block or epoch task shares: the picklable :class:`Task` and the store openers.

A task is a top-level function of one :class:`Task`, so :mod:`kansho.parallel` can run it in this
process, in local worker processes or on a remote dask cluster. It opens the stack store and the
work store by path, reads its spatial block (all pairs / epochs) or its epoch (all pixels), calls
the numerics, writes chunk-aligned regions of work arrays created beforehand by its step, and
returns only small per-block sums. Running a task twice (a worker died half-way) writes the same
values to the same chunks. The tasks themselves live with their steps (:mod:`kansho.chain.steps`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from kansho.chunkio import ChunkArray, direct
from kansho.layout import STACK_NAME, RunLayout
from kansho.store import Stack, open_stack


@dataclass(frozen=True)
class Task:
    """One unit of work: a spatial block (``rows``, ``cols``) or an epoch index ``epoch``."""

    out: str
    rows: slice = field(default_factory=lambda: slice(0, 0))
    cols: slice = field(default_factory=lambda: slice(0, 0))
    epoch: int = -1
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows.stop - self.rows.start, self.cols.stop - self.cols.start)

    @property
    def stack(self) -> Stack:
        """The run's stack store (opened once per process while its metadata files are unchanged)."""
        path = Path(self.out) / STACK_NAME
        stamp = (_stamp(path / "zarr.json"), _stamp(path / "date1" / "zarr.json"))
        key = str(path)
        with _LOCK:
            hit = _STACKS.get(key)
        if hit is not None and None not in stamp and hit[0] == stamp:
            return hit[1]
        st = open_stack(Path(self.out))
        if None not in stamp:
            with _LOCK:
                _remember(_STACKS, key, (stamp, st))
        return st

    @property
    def work(self) -> WorkStore:
        """The run's work store, writable."""
        return WorkStore(RunLayout(Path(self.out)).work_store)


#: opened stores and arrays of this process, by path, with the stamp of the metadata file they were opened
#: from (:func:`_stamp`): a block task opened the stack (5 ms: its group and four small arrays) and each
#: work array it used (0.4 ms) anew, ~1.7 s over the M frame's chain. An array created again by a later
#: step has a new metadata file (another inode or modification time), so it is opened again.
_STACKS: dict[str, tuple[tuple[Any, ...], Stack]] = {}
_ARRAYS: dict[tuple[str, str], tuple[tuple[int, int, int], zarr.Array | ChunkArray]] = {}
_LOCK = threading.Lock()
#: entries kept per cache (a long-lived process runs many frames; each entry is small)
_CACHE_ITEMS = 512


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time in ns) of ``path``; None when it is missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_ITEMS:
        cache.clear()
    cache[key] = value


class WorkStore:
    """The work store's arrays by name (``w["cum"][:, rows, cols] = ...``), each opened once per process
    while its metadata file is unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._group: zarr.Group | None = None

    @property
    def group(self) -> zarr.Group:
        if self._group is None:
            self._group = zarr.open_group(str(self.path), mode="r+", zarr_format=3)
        return self._group

    def __getitem__(self, name: str) -> zarr.Array | ChunkArray:
        stamp = _stamp(self.path / name / "zarr.json")
        key = (str(self.path), name)
        with _LOCK:
            hit = _ARRAYS.get(key)
        if stamp is not None and hit is not None and hit[0] == stamp:
            return hit[1]
        z = self.group[name]
        if not isinstance(z, zarr.Array):
            raise KeyError(f"{name} is not a work array")
        a = direct(z)
        if stamp is not None:
            with _LOCK:
                _remember(_ARRAYS, key, (stamp, a))
        return a

    def __contains__(self, name: str) -> bool:
        return (self.path / name / "zarr.json").is_file()  # every node of a zarr v3 store has one


def nanmean0(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (without a warning) where every value is NaN."""
    fin = np.isfinite(a)
    n = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(fin, a, 0.0).sum(axis=0) / n, np.nan)
