"""What every block or epoch task shares: the picklable :class:`Task` and the store openers.

A task is a top-level function of one :class:`Task`, so :mod:`kansho.parallel` can run it in this
process, in local worker processes or on a remote dask cluster. It opens the stack store and the
work store by path, reads its spatial block (all pairs / epochs) or its epoch (all pixels), calls
the numerics, writes chunk-aligned regions of work arrays created beforehand by its step, and
returns only small per-block sums. Running a task twice (a worker died half-way) writes the same
values to the same chunks. The tasks themselves live with their steps (:mod:`kansho.chain.steps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from kansho.layout import RunLayout
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
        """The run's stack store."""
        return open_stack(Path(self.out))

    @property
    def work(self) -> WorkStore:
        """The run's work store, writable."""
        return WorkStore(zarr.open_group(str(RunLayout(Path(self.out)).work_store), mode="r+", zarr_format=3))


class WorkStore:
    """The work store's arrays by name (``w["cum"][:, rows, cols] = ...``)."""

    def __init__(self, group: zarr.Group) -> None:
        self.group = group

    def __getitem__(self, name: str) -> zarr.Array:
        a = self.group[name]
        if not isinstance(a, zarr.Array):
            raise KeyError(f"{name} is not a work array")
        return a

    def __contains__(self, name: str) -> bool:
        return name in self.group


def nanmean0(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (without a warning) where every value is NaN."""
    fin = np.isfinite(a)
    n = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(fin, a, 0.0).sum(axis=0) / n, np.nan)
