"""Interferogram network suggestion from predicted coherence (connected, degree-limited).

Pairs are ranked by the model coherence of :func:`kansho.planning.predict_coherence`. A connected
backbone is built first by Kruskal's algorithm on decreasing coherence (a maximum spanning tree,
Kruskal 1956), respecting ``max_per_epoch`` where possible; then every further pair whose predicted
coherence clears ``min_coh`` is added, best first, while both its epochs have fewer than
``max_per_epoch`` pairs. A backbone pair below ``min_coh`` (a bridge over a gap in the acquisitions)
or beyond ``max_per_epoch`` is kept — connectivity comes first — and logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._dates import to_ordinal
from kansho.errors import InputError
from kansho.planning.budget import predict_coherence
from kansho.planning.sensors import Sensor

__all__ = ["NetworkSuggestion", "all_pairs", "suggest_network", "suggest_network_detail"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetworkSuggestion:
    """A suggested network: epoch-index pairs ``(npair, 2)`` (i < j), their dates and predicted coherence."""

    epochs: npt.NDArray[np.int64]
    pairs: npt.NDArray[np.int64]
    coherence: npt.NDArray[np.float64]
    n_bridges: int
    n_over_degree: int

    @property
    def date_pairs(self) -> list[tuple[int, int]]:
        return [(int(self.epochs[i]), int(self.epochs[j])) for i, j in self.pairs]


def all_pairs(n_epoch: int, max_dt_index: int | None = None) -> npt.NDArray[np.int64]:
    """All index pairs (i, j), i < j, optionally with j − i ≤ ``max_dt_index``; shape (npair, 2)."""
    i, j = np.triu_indices(n_epoch, k=1)
    keep = np.ones(i.size, bool) if max_dt_index is None else (j - i) <= max_dt_index
    return np.column_stack([i[keep], j[keep]]).astype(np.int64)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True


def _epoch_bperp(dates: npt.NDArray[np.int64], bperp_m: Mapping[int, float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    if isinstance(bperp_m, Mapping):
        missing = [int(d) for d in dates if int(d) not in bperp_m]
        if missing:
            raise InputError(None, f"no perpendicular baseline for epoch(s) {missing[:5]}")
        return np.array([float(bperp_m[int(d)]) for d in dates])
    b = np.asarray(bperp_m, dtype=float).ravel()
    if b.size != dates.size:
        raise InputError(None, f"{b.size} perpendicular baselines for {dates.size} dates")
    return b


def suggest_network_detail(dates: npt.ArrayLike, bperp_m: Mapping[int, float] | npt.ArrayLike,
                           sensor: str | Sensor = "sentinel1_iw", *, min_coh: float = 0.4, max_per_epoch: int = 4,
                           landcover: str = "default", params: Mapping[str, float] | None = None,
                           candidates: Sequence[tuple[int, int]] | None = None) -> NetworkSuggestion:
    """:func:`suggest_network` returning a :class:`NetworkSuggestion` (pairs, predicted coherence, counts)."""
    d = np.asarray(dates, dtype=np.int64).ravel()
    order = np.argsort(d, kind="stable")
    if np.any(np.diff(d[order]) == 0):
        raise InputError(None, "suggest_network: dates repeat")
    if max_per_epoch < 1:
        raise InputError(None, f"max_per_epoch must be >= 1, got {max_per_epoch}")
    b = _epoch_bperp(d, bperp_m)[order]
    d = d[order]
    n = d.size
    if n < 2:
        return NetworkSuggestion(d, np.zeros((0, 2), np.int64), np.zeros(0), 0, 0)
    t = to_ordinal(d).astype(float)
    if candidates is None:
        pairs = all_pairs(n)
    else:
        index = {int(x): k for k, x in enumerate(d)}
        try:
            pairs = np.array(sorted({tuple(sorted((index[int(a)], index[int(c)]))) for a, c in candidates}),
                             dtype=np.int64).reshape(-1, 2)
        except KeyError as exc:
            raise InputError(None, f"candidate pair has a date not in dates: {exc}") from None
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    coh = predict_coherence(b[pairs[:, 1]] - b[pairs[:, 0]], t[pairs[:, 1]] - t[pairs[:, 0]], sensor,
                            landcover=landcover, params=params)
    # best first; ties broken by the shorter time span
    rank = np.lexsort((t[pairs[:, 1]] - t[pairs[:, 0]], -coh))
    deg = np.zeros(n, np.int64)
    chosen = np.zeros(pairs.shape[0], bool)
    uf = _UnionFind(n)
    n_comp = n
    for strict_degree in (True, False):  # backbone: respect the degree limit, then relax it if needed
        for k in rank:
            if n_comp == 1:
                break
            i, j = int(pairs[k, 0]), int(pairs[k, 1])
            if strict_degree and (deg[i] >= max_per_epoch or deg[j] >= max_per_epoch):
                continue
            if uf.union(i, j):
                chosen[k] = True
                deg[i] += 1
                deg[j] += 1
                n_comp -= 1
    if n_comp > 1:
        raise InputError(None, f"candidate pairs cannot connect the {n} epochs ({n_comp} components)")
    n_bridges = int(np.sum(chosen & (coh < min_coh)))
    n_over = int(np.sum(deg > max_per_epoch))
    for k in rank:  # extra pairs that clear the threshold (rank is by decreasing coherence)
        if coh[k] < min_coh:
            break
        if chosen[k]:
            continue
        i, j = int(pairs[k, 0]), int(pairs[k, 1])
        if deg[i] < max_per_epoch and deg[j] < max_per_epoch:
            chosen[k] = True
            deg[i] += 1
            deg[j] += 1
    if n_bridges:
        log.warning("%d backbone pair(s) predicted below min_coh=%.2f were kept to connect the network",
                    n_bridges, min_coh)
    if n_over:
        log.warning("%d epoch(s) need more than max_per_epoch=%d pairs to stay connected", n_over, max_per_epoch)
    sel = np.flatnonzero(chosen)
    sel = sel[np.lexsort((pairs[sel, 1], pairs[sel, 0]))]
    return NetworkSuggestion(d, pairs[sel], coh[sel], n_bridges, n_over)


def suggest_network(dates: npt.ArrayLike, bperp_m: Mapping[int, float] | npt.ArrayLike,
                    sensor: str | Sensor = "sentinel1_iw", *, min_coh: float = 0.4, max_per_epoch: int = 4,
                    landcover: str = "default", params: Mapping[str, float] | None = None,
                    candidates: Sequence[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Suggest a connected interferogram network whose pairs' predicted coherence clears ``min_coh``.

    Parameters
    ----------
    dates:
        Acquisition dates, yyyymmdd ints, shape (n_epoch,), unique (any order).
    bperp_m:
        Perpendicular baseline (m) of each date relative to a common reference, same order as
        ``dates`` (or a ``{date: m}`` mapping).
    sensor, landcover, params:
        Coherence model (see :func:`kansho.planning.predict_coherence`).
    min_coh:
        Pairs predicted at or above it are eligible; pairs below are only used to connect the network.
    max_per_epoch:
        At most this many pairs per epoch (exceeded only if needed for connectivity).
    candidates:
        Optional ``(date1, date2)`` pairs to choose from (e.g. the interferograms that exist);
        default: every pair of dates.

    Returns
    -------
    ``[(date1, date2), ...]`` with date1 < date2, sorted; the pairs connect all dates.
    Raises :class:`~kansho.errors.InputError` if the candidates cannot connect the dates.
    """
    return suggest_network_detail(dates, bperp_m, sensor, min_coh=min_coh, max_per_epoch=max_per_epoch,
                                  landcover=landcover, params=params, candidates=candidates).date_pairs
