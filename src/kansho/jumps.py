"""Unwrapping errors seen in one interferogram alone: regions off by whole cycles from the rest.

An unwrapper that fails leaves a region of the image shifted by 2πk from its surroundings. The
wrapped phase is continuous across the region's edge (the data are), but the unwrapped phase jumps
there by about ``k`` whole cycles along the whole boundary: the jump is the unwrapper's choice, not
the ground's. Loop closure finds such errors only in pairs that lie on a loop; in a pair no loop
checks (a sparse network's cut edges, a pair whose partners are all decorrelated) this is the one
evidence there is. :func:`cycle_jumps` looks for it in three stages, all on the image's 4-neighbour
edges:

1. *cores*: pixels joined by edges whose phase differs by less than ``tau`` cycles (union-find,
   :mod:`kansho._jumps_jit`). A strict ``tau`` (a quarter cycle) keeps a noisy edge from joining a
   region to its surroundings across a jump of a whole cycle: that takes a chain of several
   intermediate noisy pixels, not one;
2. *clusters*: two adjacent cores are joined where most of the edges between them jump by zero
   cycles, by less than ``join_resid`` cycles on average -- noise splits a coherent area into many
   cores, and this puts it together again, while a core about half a cycle from its neighbours (a
   noisy pixel between two levels) joins nothing;
3. *regions off by cycles*: the largest cluster is the reference; another cluster of at least
   ``min_size`` pixels whose edges with it (at least ``min_edges``) jump by the same non-zero ``k``
   cycles in at least a fraction ``accept`` of them, with a mean misfit to ``k`` under ``max_resid``
   cycles, is off by ``k`` cycles -- unless the phase beside those edges climbs in the same
   direction by ``max_steep`` cycles per pixel or more: then the jump is part of a gradient too
   steep to sample (dense fringes), not a cut between two smooth sides.

This is the bridging of connected components of Yunjun et al. (2019, *Computers & Geosciences*
133:104331, §3.1: components from SNAPHU, the integer cycles from the phase difference of their
nearest pixels) with the components taken from the unwrapped phase itself where the input has none,
and the integer from every boundary edge instead of one pair of pixels. The cut along which an
unwrapper changed the integer is Goldstein et al.'s (1988, *Radio Science* 23(4):713) branch cut
seen from the other side. A real discontinuity of the ground (a surface rupture) changes along its
trace and is not a constant whole number of cycles, and the region must be surrounded by the
reference on most of its edge, so such a step is left alone.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho import _jumps_jit

__all__ = ["BYTES_PER_PIXEL", "Workspace", "cycle_jumps"]

_KMAX = 3  # jumps counted up to ±3 cycles; a larger one votes as ±3
#: working memory of :func:`cycle_jumps` at its peak, bytes per pixel of the image, rounded up: the
#: union-find parents, the labels and room for the cores' sizes (int32; the cores are few), the result
#: (int8), and a float64 copy of the phase unless it is float32 (the stack's); the edges between labels
#: are few (16.5 measured by tracemalloc on the benchmark frame's float32 phase, 25.5 before the cores
#: were numbered; it does not see the compiled kernels' own arrays, 16 more at most, and the float64
#: copy is 8)
BYTES_PER_PIXEL = 48


def cycle_jumps(
    u: npt.ArrayLike,
    cycle: float = 2.0 * np.pi,
    *,
    tau: float = 0.25,
    max_resid: float = 0.25,
    join_resid: float = 0.4,
    max_steep: float = 0.25,
    accept: float = 0.7,
    min_size: int = 50,
    min_edges: int = 10,
    min_main: float = 0.3,
    work: Workspace | None = None,
) -> tuple[npt.NDArray[np.int8], int]:
    """Whole cycles to add to each pixel of one unwrapped interferogram (see the module docstring).

    Parameters
    ----------
    u:
        (ny, nx) unwrapped phase in any unit (radians in the chain); NaN = no data.
    cycle:
        One cycle in the unit of ``u`` (2π for radians).
    tau:
        Cores join across edges whose phase differs by less than this (cycles).
    max_resid:
        Largest mean distance (cycles) of a region's edges with the reference from its whole
        number ``k`` of cycles.
    join_resid:
        Largest mean jump (cycles) of the edges between two cores that are joined (all of them
        jump by at least ``tau``, or they would be one core).
    max_steep:
        Largest mean phase step (cycles per pixel) beside a region's edges, in the direction of its
        jump: a jump inside a steep gradient (fringes too dense to sample) is that gradient.
    accept:
        Least fraction of a region's edges with the reference that must jump by its ``k``.
    min_size, min_edges:
        Smallest region (pixels) and fewest edges with the reference to correct it.
    min_main:
        Nothing is corrected unless the reference (the largest cluster) holds at least this
        fraction of the valid pixels: an image broken into small pieces by noise has no reference.
    work:
        The working arrays (:class:`Workspace`), to reuse from image to image in one thread.

    Returns
    -------
    (ny, nx) int8: ``c`` = add ``c`` cycles to the pixel (0 almost everywhere), and the number of
    regions corrected.
    """
    arr = np.asarray(u)  # float32 (the stack's) as it is: the kernels take its differences in float64
    ph = np.ascontiguousarray(arr if arr.dtype == np.float32 else arr.astype(np.float64))
    if ph.ndim != 2:
        raise ValueError(f"u must be (ny, nx), got {ph.shape}")
    if not cycle > 0:
        raise ValueError(f"cycle must be positive, got {cycle}")
    n = ph.size
    none = np.zeros(ph.shape, np.int8), 0
    ws = Workspace() if work is None else work
    par, lab, core_size = ws.arrays(n)
    n_core = _jumps_jit.label_continuous(ph, tau * cycle, par, lab, core_size)
    a, b, k, r, side = _jumps_jit.boundary_edges(ph, lab, float(cycle))
    if a.size == 0:  # one label, or none: nothing off the rest
        return none
    core_size = core_size[:n_core]
    clusters, size = np.empty(n_core, np.int32), np.empty(n_core, np.int64)
    _join_cores(n_core, a, b, k, r, core_size, join_resid, (par, clusters, size))  # par: the pixels' no more
    main = int(np.argmax(size))
    if size[main] < min_main * int(core_size.sum(dtype=np.int64)):
        return none
    ids, kmode, ok = _regions(main, clusters[a], clusters[b], k, r, side, size,
                              (max_resid, max_steep, accept, min_size, min_edges))
    if not ok.any():
        return none
    add = np.zeros(n_core, np.int8)
    add[ids[ok]] = -kmode[ok]  # the region is k cycles above the reference: add -k
    fix = _jumps_jit.spread(lab, add[clusters])  # each core takes its cluster's
    return fix.reshape(ph.shape), int(ok.sum())


class Workspace:
    """The per-pixel working arrays of :func:`cycle_jumps` (union-find parents, core labels and room
    for as many cores' sizes, int32), kept from one image to the next of the same size: fresh pages
    cost more than the labelling itself (a 1000 × 1000 image 20 ms with new arrays each time, 12 ms
    with these). One per thread."""

    def __init__(self) -> None:
        self._arrays: tuple[np.ndarray, ...] = ()

    def arrays(self, n: int) -> tuple[np.ndarray, ...]:
        """(parents, labels, core sizes) of ``n`` entries each."""
        if not self._arrays or self._arrays[0].size != n:
            self._arrays = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32))
        return self._arrays


def _join_cores(n: int, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], k: npt.NDArray[np.int64],
                r: npt.NDArray[np.float64], core_size: npt.NDArray[np.int64], join_resid: float,
                out: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Stage 2: join adjacent cores (``n`` of them, ``core_size`` pixels each) most of whose edges jump
    by 0 cycles, by ``join_resid`` at most on average. ``out``: the union-find's parents, each core's
    cluster (its smallest core) and the clusters' sizes by that label (written)."""
    key = a * n + b
    uk, inv = np.unique(key, return_inverse=True)
    tot = np.bincount(inv)
    zero = k == 0
    n0 = np.bincount(inv, weights=zero)
    with np.errstate(invalid="ignore", divide="ignore"):
        r0 = np.bincount(inv, weights=np.abs(r) * zero) / n0
    join = (2 * n0 >= tot) & (r0 < join_resid)
    par, clusters, size = out
    _jumps_jit.merge(uk[join] // n, uk[join] % n, n, core_size, par, clusters, size)


def _regions(main: int, la: npt.NDArray[np.int64], lb: npt.NDArray[np.int64], k: npt.NDArray[np.int64],
             r: npt.NDArray[np.float64], side: npt.NDArray[np.float64], size: npt.NDArray[np.int64],
             limits: tuple[float, float, float, int, int]
             ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Stage 3: the clusters next to ``main`` (edges labelled ``la``/``lb`` after stage 2), the whole
    cycles each is off by (their edges' most common jump) and whether that is accepted."""
    max_resid, max_steep, accept, min_size, min_edges = limits
    sel = (la != lb) & ((la == main) | (lb == main))
    flip = la[sel] == main  # then the edge runs from the reference to the other cluster
    other = np.where(flip, lb[sel], la[sel])
    ids, inv = np.unique(other, return_inverse=True)
    kc = np.clip(np.where(flip, k[sel], -k[sel]), -_KMAX, _KMAX) + _KMAX
    if ids.size == 0:
        return ids, ids, np.zeros(0, bool)
    votes = np.bincount(inv * (2 * _KMAX + 1) + kc, minlength=ids.size * (2 * _KMAX + 1)).reshape(ids.size, -1)
    top = votes.argmax(axis=1)
    n_top = votes[np.arange(ids.size), top]
    on_top = kc == top[inv]
    kmode = top - _KMAX
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = np.bincount(inv, weights=np.abs(r[sel]) * on_top, minlength=ids.size) / n_top
        steep = (np.bincount(inv, weights=np.where(flip, side[sel], -side[sel]) * on_top, minlength=ids.size)
                 / n_top * np.sign(kmode))
    ok = ((kmode != 0) & (n_top >= accept * votes.sum(axis=1)) & (votes.sum(axis=1) >= min_edges)
          & (size[ids] >= min_size) & (resid < max_resid) & (steep < max_steep))
    return ids, kmode, ok
