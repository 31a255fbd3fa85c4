"""The interferogram network as pure functions on index pairs.

Conventions (shared by the whole code base):

* ``epochs`` is a 1-D int64 array of ``yyyymmdd`` dates, sorted ascending, ``n_epoch`` long.
* ``pairs`` is an int array of shape ``(npair, 2)`` holding epoch *indices* ``(i, j)`` with
  ``i < j``; the interferogram of a pair is ``value[j] - value[i]``.
* Interval ``k`` (``0 <= k < n_epoch - 1``) is the time between epoch ``k`` and ``k + 1``.
* Per-pixel data is flattened with pixels along the last axis: ``(npair, npix)``.

The small-baseline design matrices follow Berardino et al. (2002, IEEE TGRS 40(11)) for the
incremental (SBAS) parameterisation; gaps, loops and the longest connected time span are the
network diagnostics used by LiCSBAS (Morishita et al. 2020, Remote Sensing 12(3):424).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _cc

from kansho._types import BoolArray, Float64Array
from kansho.errors import NetworkError

__all__ = [
    "check_pairs",
    "connected_components",
    "gaps",
    "increment_matrix",
    "latest_last",
    "max_tlen",
    "triangle_loops",
]

logger = logging.getLogger(__name__)


def check_pairs(pairs: npt.ArrayLike, n_epoch: int | None = None) -> npt.NDArray[np.int64]:
    """Validate an index-pair array and return it as int64 ``(npair, 2)``.

    Raises :class:`~kansho.errors.NetworkError` when the shape is wrong, an index is out of
    ``[0, n_epoch)``, a pair has ``i >= j`` or a pair occurs twice.
    """
    p = np.asarray(pairs)
    if p.size == 0:
        p = p.reshape(0, 2)
    if p.ndim != 2 or p.shape[1] != 2:
        raise NetworkError(f"pairs must have shape (npair, 2), got {p.shape}")
    if not np.issubdtype(p.dtype, np.integer) and not np.all(np.mod(p, 1) == 0):
        raise NetworkError("pairs must hold integer epoch indices")
    p = p.astype(np.int64)
    if p.shape[0] == 0:
        return p
    if np.any(p[:, 0] >= p[:, 1]):
        bad = int(np.flatnonzero(p[:, 0] >= p[:, 1])[0])
        raise NetworkError(f"pair {bad} = {tuple(p[bad])} does not have i < j")
    if np.any(p < 0) or (n_epoch is not None and np.any(p >= n_epoch)):
        raise NetworkError(f"pair index out of range [0, {n_epoch}) ")
    uniq = np.unique(p, axis=0)
    if uniq.shape[0] != p.shape[0]:
        raise NetworkError(f"{p.shape[0] - uniq.shape[0]} duplicate pair(s) in the network")
    return p


def increment_matrix(pairs: npt.ArrayLike, n_epoch: int) -> Float64Array:
    """SBAS design matrix on incremental displacements.

    Parameters
    ----------
    pairs:
        ``(npair, 2)`` epoch indices ``(i, j)``, ``i < j``.
    n_epoch:
        Number of epochs.

    Returns
    -------
    G : ``(npair, n_epoch - 1)`` float64, ``G[p, k] = 1`` if interval ``k`` (epoch ``k`` to
        ``k + 1``) lies inside pair ``p`` (``i <= k < j``), else 0; so ``ifg = G @ increments``
        (Berardino et al. 2002).
    """
    p = check_pairs(pairs, n_epoch)
    k = np.arange(n_epoch - 1)
    g = (k[None, :] >= p[:, :1]) & (k[None, :] < p[:, 1:2])
    return g.astype(np.float64)


def triangle_loops(pairs: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """All closed triangles of the network, as a loop matrix.

    A triangle is a triple of epochs ``i < j < k`` whose three pairs ``(i, j)``, ``(j, k)`` and
    ``(i, k)`` all exist. Its row holds +1 at ``(i, j)``, +1 at ``(j, k)`` and -1 at ``(i, k)``,
    so ``L @ phase`` is the loop-closure phase (zero for consistent, error-free interferograms).

    Parameters
    ----------
    pairs:
        ``(npair, 2)`` epoch indices, ``i < j``, no duplicates.

    Returns
    -------
    L : ``(nloop, npair)`` int8, rows sorted by ``(i, j, k)``. ``nloop`` may be 0.

    Notes
    -----
    Cost is one vectorised look-up per middle epoch ``j`` in an ``(n_epoch, n_epoch)`` table of
    pair indices: O(sum_j in_j * out_j), not O(npair^3).
    """
    p = check_pairs(pairs)
    npair = p.shape[0]
    if npair == 0:
        return np.zeros((0, 0), dtype=np.int8)
    n = int(p.max()) + 1
    index = np.full((n, n), -1, dtype=np.int64)
    index[p[:, 0], p[:, 1]] = np.arange(npair)
    found: list[npt.NDArray[np.int64]] = []
    for j in range(1, n - 1):
        ii = np.flatnonzero(index[:j, j] >= 0)  # pairs (i, j)
        kk = j + 1 + np.flatnonzero(index[j, j + 1 :] >= 0)  # pairs (j, k)
        if ii.size == 0 or kk.size == 0:
            continue
        p_ik = index[np.ix_(ii, kk)]
        a, b = np.nonzero(p_ik >= 0)
        if a.size == 0:
            continue
        found.append(
            np.stack(
                [ii[a], np.full(a.size, j), kk[b], index[ii[a], j], index[j, kk[b]], p_ik[a, b]],
                axis=1,
            )
        )
    if not found:
        return np.zeros((0, npair), dtype=np.int8)
    tri = np.concatenate(found)
    tri = tri[np.lexsort((tri[:, 2], tri[:, 1], tri[:, 0]))]
    loops = np.zeros((tri.shape[0], npair), dtype=np.int8)
    rows = np.arange(tri.shape[0])
    loops[rows, tri[:, 3]] = 1
    loops[rows, tri[:, 4]] = 1
    loops[rows, tri[:, 5]] = -1
    logger.debug("%d triangle loops in a network of %d pairs", tri.shape[0], npair)
    return loops


def latest_last(L: npt.ArrayLike, pairs: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """The loop matrix ``L`` (rows over ``pairs``) with its triangles ``(i, j, k)`` sorted by ``(k, j, i)``.

    ``L`` is ``(nloop, npair)`` as from :func:`triangle_loops`, ``pairs`` ``(npair, 2)`` epoch indices.
    The loops of a new acquisition then come after every earlier loop, so per-pixel sums over
    loops continued from the last run's sums add in the same order as one pass over all loops.
    """
    L = np.asarray(L)
    pairs = np.asarray(pairs)
    if L.shape[0] == 0:
        return L
    mem = np.abs(L) > 0
    lo = np.where(mem, pairs[:, 0], np.iinfo(np.intp).max).min(axis=1)
    hi = np.where(mem, pairs[:, 1], -1).max(axis=1)
    mid = (mem * pairs.sum(axis=1)).sum(axis=1) // 2 - lo - hi
    return L[np.lexsort((lo, mid, hi))]


def gaps(
    pairs: npt.ArrayLike, n_epoch: int, valid: npt.ArrayLike | None = None
) -> BoolArray:
    """Intervals spanned by no (valid) pair.

    Parameters
    ----------
    pairs:
        ``(npair, 2)`` epoch indices.
    n_epoch:
        Number of epochs.
    valid:
        Optional ``(npair, npix)`` bool, True where the pair has data at that pixel.

    Returns
    -------
    Without ``valid``: ``(n_epoch - 1,)`` bool, True where no pair spans interval ``k``.
    With ``valid``: ``(n_epoch - 1, npix)`` bool, the same per pixel (``G.T @ valid == 0``).
    """
    g = increment_matrix(pairs, n_epoch)
    if valid is None:
        return np.asarray(g.sum(axis=0) == 0, dtype=np.bool_)
    v = np.asarray(valid, dtype=bool)
    if v.ndim != 2 or v.shape[0] != g.shape[0]:
        raise ValueError(f"valid must have shape (npair={g.shape[0]}, npix), got {v.shape}")
    count = g.T.astype(np.float32) @ v.astype(np.float32)
    return np.asarray(count == 0, dtype=np.bool_)


def connected_components(pairs: npt.ArrayLike, n_epoch: int) -> npt.NDArray[np.int64]:
    """Label the connected components of the network (epochs are nodes, pairs are edges).

    Returns ``(n_epoch,)`` int64 labels, ``0 .. ncomp - 1``; epoch 0 has label 0. An epoch in no
    pair is a component of its own.
    """
    p = check_pairs(pairs, n_epoch)
    adj = coo_matrix(
        (np.ones(p.shape[0], dtype=np.int8), (p[:, 0], p[:, 1])), shape=(n_epoch, n_epoch)
    )
    _, labels = _cc(adj, directed=False)
    return np.asarray(labels, dtype=np.int64)


def max_tlen(gap: npt.ArrayLike, t: npt.ArrayLike) -> Float64Array:
    """Longest time span of consecutive epochs not interrupted by a gap.

    Parameters
    ----------
    gap:
        ``(n_epoch - 1, npix)`` bool, True where interval ``k`` is a gap at that pixel
        (e.g. :func:`gaps` with ``valid``); a 1-D ``(n_epoch - 1,)`` array is one pixel.
    t:
        ``(n_epoch,)`` time in years (ascending).

    Returns
    -------
    ``(npix,)`` float64 years (0-d for 1-D ``gap``): ``max(t[l + 1] - t[k])`` over runs of
    non-gap intervals ``k..l``; 0 when every interval is a gap. This is LiCSBAS's ``maxTlen``
    (Morishita et al. 2020).
    """
    g = np.asarray(gap, dtype=bool)
    tt = np.asarray(t, dtype=np.float64)
    if g.shape[0] != tt.size - 1:
        raise ValueError(f"gap has {g.shape[0]} intervals but t has {tt.size} epochs")
    out_shape = g.shape[1:]
    g2 = g.reshape(g.shape[0], -1)
    start = np.full(g2.shape[1], tt[0])
    best = np.zeros(g2.shape[1])
    for k in range(g2.shape[0]):  # loop over intervals, vectorised over pixels
        start = np.where(g2[k], tt[k + 1], start)
        best = np.maximum(best, tt[k + 1] - start)
    return best.reshape(out_shape)
