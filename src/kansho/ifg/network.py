"""Pair selection for interferogram formation (small baselines or predicted coherence).

Pure functions on dates and per-date perpendicular baselines. ``connect_neighbours`` adds the
consecutive-date pairs that the limits would leave out, so the network has one component (the
time-series inversion then needs no gap bridging).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

from kansho._dates import to_ordinal
from kansho.errors import ConfigError, NetworkError

log = logging.getLogger(__name__)

__all__ = ["select_pairs"]


def select_pairs(
    dates: Sequence[int],
    bperp: dict[int, float],
    *,
    method: str = "baselines",
    max_dt_days: float = 60.0,
    max_bperp_m: float = 200.0,
    connect_neighbours: bool = True,
    min_coherence: float = 0.3,
    sensor: str = "sentinel1_iw",
    landcover: str = "default",
) -> list[tuple[int, int]]:
    """Pairs ``(d1, d2)`` with d1 < d2, sorted.

    ``method``: ``"baselines"`` keeps pairs with Δt ≤ ``max_dt_days`` and |ΔB⊥| ≤ ``max_bperp_m``;
    ``"coherence"`` keeps pairs whose coherence predicted by
    ``kansho.planning.predict_coherence(bperp_m, dt_days, sensor=..., landcover=...)`` is
    ≥ ``min_coherence``; ``"all"`` keeps every pair.
    """
    ds = sorted(int(d) for d in dates)
    if len(ds) < 2:
        raise NetworkError(f"need at least two dates to form a pair, got {len(ds)}")
    ords = dict(zip(ds, (int(o) for o in to_ordinal(ds)), strict=True))
    predict = None
    if method == "coherence":
        from kansho.planning import predict_coherence  # lazy: planning loads scipy.special and its presets

        predict = predict_coherence
    elif method not in ("baselines", "all"):
        raise ConfigError(f"unknown network method {method!r}")
    pairs: set[tuple[int, int]] = set()
    for i, d1 in enumerate(ds):
        for d2 in ds[i + 1 :]:
            dt = ords[d2] - ords[d1]
            db = bperp.get(d2, 0.0) - bperp.get(d1, 0.0)
            if method == "all":
                keep = True
            elif predict is not None:
                keep = float(predict(abs(db), float(dt), sensor=sensor, landcover=landcover)) >= min_coherence
            else:
                keep = dt <= max_dt_days and abs(db) <= max_bperp_m
            if keep:
                pairs.add((d1, d2))
    if connect_neighbours:
        added = [(a, b) for a, b in itertools.pairwise(ds) if (a, b) not in pairs]
        if added:
            log.info("added %d consecutive pair(s) outside the limits to keep the network connected", len(added))
        pairs.update(added)
    if not pairs:
        raise NetworkError("no pair satisfies the network limits; relax max_dt_days / max_bperp_m")
    return sorted(pairs)
