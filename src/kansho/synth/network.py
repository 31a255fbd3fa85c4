"""Synthetic acquisition calendar, perpendicular baselines and interferogram network.

The network imitates LiCSAR's: every epoch is paired with its next ``k`` epochs (6/12/18/24-day
pairs at a 6-day cadence, 12/24/36/48 at 12 days), plus a few long pairs (~3, 6, 12 months), a
few pairs missing (failed processing), and optionally a gap of several months that no pair
spans, which splits the network into two connected parts (as when a satellite or the archive
had a gap). All functions are pure; randomness comes from the ``rng`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho._dates import from_ordinal, to_ordinal


@dataclass(frozen=True)
class Network:
    """Acquisitions and pairs of a simulated frame.

    Attributes
    ----------
    epochs: (n_epoch,) int yyyymmdd, increasing.
    pairs: (n_pair, 2) int yyyymmdd, ``date1 < date2``, sorted.
    segment: (n_epoch,) int, index of the network part each epoch belongs to (0, or 0/1 with a gap).
    gaps: (n_gap, 2) int yyyymmdd, the epochs either side of each gap (no pair spans it).
    """

    epochs: npt.NDArray[np.int64]
    pairs: npt.NDArray[np.int64]
    segment: npt.NDArray[np.int64]
    gaps: npt.NDArray[np.int64]


def acquisition_dates(
    start_date: int,
    n_epoch: int,
    interval_days: int,
    n_missing: int,
    gap: bool,
    gap_days: int,
    rng: np.random.Generator,
    gap_position: float = 0.5,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Acquisition dates on a regular cadence with skipped scenes and an optional gap.

    Returns ``(epochs, segment)``: int yyyymmdd (n_epoch,) and the part index of each epoch. With
    a gap, the first ``round(gap_position · n_epoch)`` epochs form part 0 and the next acquisition
    comes exactly ``interval_days + gap_days`` after its last one. Skipped scenes are single slots inside a part
    (never its first or last, rarely two adjacent ones).
    """
    n0 = min(max(round(gap_position * n_epoch), 1), n_epoch - 1)
    sizes = [n0, n_epoch - n0] if gap else [n_epoch]
    share = np.zeros(len(sizes), dtype=int)
    for _ in range(n_missing):  # each missing scene falls in a part, in proportion to its size
        share[int(rng.choice(len(sizes), p=np.array(sizes) / sum(sizes)))] += 1
    o0 = int(to_ordinal([start_date])[0])
    days: list[int] = []
    segment: list[int] = []
    day0 = 0
    for part, (n_s, m_s) in enumerate(zip(sizes, share, strict=True)):
        n_slots = n_s + int(m_s)
        missing: list[int] = []
        order = [int(v) for v in rng.permutation(np.arange(1, max(1, n_slots - 1)))]
        for slot in order:  # isolated skips first
            if len(missing) < m_s and all(abs(slot - m) > 1 for m in missing):
                missing.append(slot)
        for slot in order:  # then any interior slot if the part is short
            if len(missing) < m_s and slot not in missing:
                missing.append(slot)
        kept = [sl for sl in range(n_slots) if sl not in set(missing)][:n_s]
        days += [day0 + sl * interval_days for sl in kept]
        segment += [part] * len(kept)
        day0 = days[-1] + interval_days + gap_days
    epochs = from_ordinal(o0 + np.array(days, dtype=np.int64))
    return epochs, np.array(segment, dtype=np.int64)


def design_pairs(
    epochs: npt.NDArray[np.int64],
    segment: npt.NDArray[np.int64],
    pairs_per_epoch: int,
    n_long: int,
    n_dropped: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Pairs (i, j) as epoch indices, i < j, both in the same network part.

    Nearest-neighbour pairs (each epoch to its next ``pairs_per_epoch``), ``n_long`` long pairs
    (targets of ~84, ~180 and ~365 days, as long as the part allows), then ``n_dropped`` random
    pairs removed whose removal does not disconnect their part.
    """
    ordn = to_ordinal(epochs)
    pairs: set[tuple[int, int]] = set()
    n = len(epochs)
    for i in range(n):
        for step in range(1, pairs_per_epoch + 1):
            j = i + step
            if j < n and segment[j] == segment[i]:
                pairs.add((i, j))
    # long pairs
    segs = [np.flatnonzero(segment == s) for s in np.unique(segment)]
    spans = np.array([ordn[s[-1]] - ordn[s[0]] for s in segs], dtype=float)
    tries = 0
    added = 0
    while added < n_long and tries < 50 * (n_long + 1) and spans.sum() > 0:
        tries += 1
        s = segs[int(rng.choice(len(segs), p=spans / spans.sum()))]
        if len(s) < pairs_per_epoch + 2:
            continue
        span = ordn[s[-1]] - ordn[s[0]]
        targets = [t for t in (84, 180, 365) if t <= 0.9 * span] or [int(0.6 * span)]
        target = targets[int(rng.integers(len(targets)))]
        starts = s[ordn[s] + target <= ordn[s[-1]]]
        if len(starts) == 0:
            continue
        i = int(rng.choice(starts))
        j = int(s[np.argmin(np.abs(ordn[s] - (ordn[i] + target)))])
        if j - i <= pairs_per_epoch or (i, j) in pairs:
            continue
        pairs.add((i, j))
        added += 1
    # dropped pairs (never one whose removal disconnects its part or leaves an epoch unpaired)
    plist = sorted(pairs)
    n_parts = n_components(n, plist)
    dropped = 0
    for cand in [plist[int(k)] for k in rng.permutation(len(plist))]:
        if dropped >= n_dropped:
            break
        trial = [p for p in plist if p != cand]
        if n_components(n, trial) == n_parts:
            plist = trial
            dropped += 1
    return np.array(sorted(plist), dtype=np.int64).reshape(-1, 2)


def n_components(n_epoch: int, pairs: list[tuple[int, int]] | npt.NDArray[np.integer]) -> int:
    """Number of connected components of the epoch graph (isolated epochs count as one each)."""
    parent = list(range(n_epoch))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in pairs:
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[ri] = rj
    return len({find(i) for i in range(n_epoch)})


def design_network(
    start_date: int,
    n_epoch: int,
    interval_days: int,
    n_missing: int,
    pairs_per_epoch: int,
    n_long_pairs: int,
    n_dropped_pairs: int,
    gap: bool,
    gap_days: int,
    rng: np.random.Generator,
    gap_position: float = 0.5,
) -> Network:
    """Dates and pairs of a synthetic LiCSAR-like network (see the module docstring)."""
    epochs, segment = acquisition_dates(
        start_date, n_epoch, interval_days, n_missing, gap, gap_days, rng, gap_position
    )
    idx = design_pairs(epochs, segment, pairs_per_epoch, n_long_pairs, n_dropped_pairs, rng)
    pairs = np.stack([epochs[idx[:, 0]], epochs[idx[:, 1]]], axis=1)
    gaps = np.zeros((0, 2), dtype=np.int64)
    if gap:
        k = int(np.flatnonzero(segment == 1)[0])
        gaps = np.array([[epochs[k - 1], epochs[k]]], dtype=np.int64)
    return Network(epochs=epochs, pairs=pairs, segment=segment, gaps=gaps)


def orbit_baselines(n_epoch: int, tube_m: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Perpendicular baseline of each epoch w.r.t. a fixed reference orbit (m).

    A mean-reverting random walk (orbit drift between manoeuvres) kept inside the ±``tube_m``
    orbital tube (Sentinel-1: about ±150 m). Shape (n_epoch,).
    """
    if tube_m <= 0:
        return np.zeros(n_epoch)
    b = np.empty(n_epoch)
    b[0] = rng.uniform(-0.5, 0.5) * tube_m
    for e in range(1, n_epoch):
        b[e] = 0.75 * b[e - 1] + rng.normal(0.0, 0.4 * tube_m)
        if abs(b[e]) > tube_m:  # manoeuvre back into the tube
            b[e] = np.sign(b[e]) * tube_m * rng.uniform(0.3, 1.0)
    return b
