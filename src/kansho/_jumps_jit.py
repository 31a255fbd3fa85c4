"""Compiled kernels of :func:`kansho.jumps.cycle_jumps`: union-find labelling of one image's phase
on its continuous 4-neighbour edges, and the edges between different labels with their cycle jumps.

Union-find with path halving and union by smaller root index (Tarjan 1975, *J. ACM* 22(2):215): a
label is the smallest flat index of its set, whatever the order the edges are met in, and every
parent is a smaller index than its child, so one pass in index order labels every pixel from its
parent's label without a search.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _find(par: np.ndarray, i: int) -> int:  # pragma: no cover - compiled
    while par[i] != i:
        par[i] = par[par[i]]
        i = par[i]
    return i


@njit(cache=True, nogil=True, error_model="numpy")
def _union(par: np.ndarray, a: int, b: int) -> None:  # pragma: no cover - compiled
    ra = _find(par, a)
    rb = _find(par, b)
    if ra < rb:
        par[rb] = ra
    elif rb < ra:
        par[ra] = rb


@njit(cache=True, nogil=True, error_model="numpy")
def label_continuous(u: np.ndarray, tau: float, par: np.ndarray, lab: np.ndarray) -> None:  # pragma: no cover
    """``lab`` (ny*nx,) int32: labels of the pixels joined by 4-neighbour edges with both ends finite
    and ``|Δu| < tau``; a label is the smallest flat index of its set (-1 where ``u`` is not finite).
    ``par`` (ny*nx,) int32 is the union-find's own (both given: reused from image to image, no fresh
    pages to fault in). int32 (an image has fewer than 2³¹ pixels): half the memory traffic of int64
    in these scattered reads."""
    ny, nx = u.shape
    for i in range(ny * nx):
        par[i] = i
    # raster order: a pixel's lower neighbour is still alone when its edge is met (only this pixel's edge
    # and, later, its own row's reach it), so it is linked to this pixel's root without a search; every
    # parent is a smaller index than its child (union by smaller root, path halving)
    for r in range(ny):
        for c in range(nx):
            a = np.float64(u[r, c])  # float32 input: the differences in float64, as before
            if not np.isfinite(a):
                continue
            i = r * nx + c
            root = -1
            if c + 1 < nx:
                b = np.float64(u[r, c + 1])
                if np.isfinite(b) and abs(b - a) < tau:
                    root = _find(par, i)
                    rb = _find(par, i + 1)
                    if root < rb:
                        par[rb] = root
                    elif rb < root:
                        par[root] = rb
                        root = rb
            if r + 1 < ny:
                b = np.float64(u[r + 1, c])
                if np.isfinite(b) and abs(b - a) < tau:
                    if root < 0:
                        root = _find(par, i)
                    par[i + nx] = root
    for r in range(ny):  # in index order: a parent's label is final before its children's
        for c in range(nx):
            i = r * nx + c
            if not np.isfinite(u[r, c]):
                lab[i] = -1
            else:
                p = par[i]
                lab[i] = i if p == i else lab[p]


@njit(cache=True, nogil=True, error_model="numpy")
def boundary_edges(u: np.ndarray, lab: np.ndarray, cycle: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The 4-neighbour edges between finite pixels of different labels: (a, b) their labels with
    ``a < b``, ``k`` = round((u_b − u_a) / cycle), ``r`` = (u_b − u_a) / cycle − k and ``s`` the mean
    phase step (cycles) of the edges in line with it on either side (the phase's own gradient there;
    0 where neither exists), all oriented from ``a`` to ``b``."""
    ny, nx = u.shape
    n = 0
    for pas in range(2):  # count, then fill
        if pas == 1:
            A = np.empty(n, np.int64)
            B = np.empty(n, np.int64)
            K = np.empty(n, np.int64)
            R = np.empty(n, np.float64)
            S = np.empty(n, np.float64)
            n = 0
        for r in range(ny):
            for c in range(nx):
                i = r * nx + c
                la = lab[i]
                if la < 0:
                    continue
                for d in range(2):
                    if d == 0:
                        if c + 1 >= nx:
                            continue
                        j, b = i + 1, np.float64(u[r, c + 1])
                        before = np.float64(u[r, c - 1]) if c >= 1 else np.nan
                        after = np.float64(u[r, c + 2]) if c + 2 < nx else np.nan
                    else:
                        if r + 1 >= ny:
                            continue
                        j, b = i + nx, np.float64(u[r + 1, c])
                        before = np.float64(u[r - 1, c]) if r >= 1 else np.nan
                        after = np.float64(u[r + 2, c]) if r + 2 < ny else np.nan
                    lb = lab[j]
                    if lb < 0 or lb == la:
                        continue
                    if pas == 1:
                        ua = np.float64(u[r, c])
                        x = (b - ua) / cycle
                        k = int(np.round(x))
                        side, m = 0.0, 0
                        if np.isfinite(before):
                            side += ua - before
                            m += 1
                        if np.isfinite(after):
                            side += after - b
                            m += 1
                        side = side / (m * cycle) if m else 0.0
                        if la < lb:
                            A[n], B[n], K[n], R[n], S[n] = la, lb, k, x - k, side
                        else:
                            A[n], B[n], K[n], R[n], S[n] = lb, la, -k, k - x, -side
                    n += 1
    return A, B, K, R, S


@njit(cache=True, nogil=True, error_model="numpy")
def merge(a: np.ndarray, b: np.ndarray, lab: np.ndarray, par: np.ndarray, out: np.ndarray, size: np.ndarray
          ) -> int:  # pragma: no cover - compiled
    """``out``: the labels ``lab`` (int32, -1 kept) after joining each set ``a[t]`` with ``b[t]``, and
    ``size`` (int64): each label's pixels (0 for a flat index that labels none), in the one pass that
    writes the labels; returns the pixels labelled (``lab`` >= 0). ``par`` (int32) the union-find's;
    all four of the image's size (given: reused from image to image)."""
    for i in range(par.size):
        par[i] = i
        size[i] = 0
    for t in range(a.size):
        _union(par, a[t], b[t])
    n_valid = 0
    for i in range(lab.size):
        if lab[i] >= 0:
            j = _find(par, int(np.int64(lab[i])))  # int64 as the other calls give it (numba's int() keeps int32)
            out[i] = j
            size[j] += 1
            n_valid += 1
        else:
            out[i] = -1
    return n_valid


@njit(cache=True, nogil=True, error_model="numpy")
def spread(lab: np.ndarray, add: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(lab.size,) int8: ``add`` of each pixel's label, 0 where it has none (``lab`` < 0)."""
    out = np.zeros(lab.size, np.int8)
    for i in range(lab.size):
        if lab[i] >= 0:
            out[i] = add[lab[i]]
    return out
