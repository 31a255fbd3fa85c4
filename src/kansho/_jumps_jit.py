"""Compiled kernels of :func:`kansho.jumps.cycle_jumps`: union-find labelling of one image's phase
on its continuous 4-neighbour edges, and the edges between different labels with their cycle jumps.

Union-find with path halving and union by smaller root index (Tarjan 1975, *J. ACM* 22(2):215): a
set's root is its smallest flat index, whatever the order the edges are met in, and every parent is
a smaller index than its child, so one pass in index order labels every pixel from its parent's label
without a search, the sets numbered in the order of their roots.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL


@njit(**HELPER)
def _find(par: np.ndarray, i: int) -> int:  # pragma: no cover - compiled
    while par[i] != i:
        par[i] = par[par[i]]
        i = par[i]
    return i


@njit(**HELPER)
def _union(par: np.ndarray, a: int, b: int) -> None:  # pragma: no cover - compiled
    ra = _find(par, a)
    rb = _find(par, b)
    if ra < rb:
        par[rb] = ra
    elif rb < ra:
        par[ra] = rb


@njit(**KERNEL)
def label_continuous(u: np.ndarray, tau: float, par: np.ndarray, lab: np.ndarray,
                     size: np.ndarray) -> int:  # pragma: no cover
    """``lab`` (ny*nx,) int32: labels of the pixels joined by 4-neighbour edges with both ends finite
    and ``|Δu| < tau`` (-1 where ``u`` is not finite), numbered 0, 1, ... in the order of each set's
    smallest flat index; ``size`` (int32, room for ny*nx) receives each label's pixels. Returns the
    number of labels. ``par`` (ny*nx,) int32 is the union-find's own (all given: reused from image to
    image, no fresh pages to fault in). int32 (an image has fewer than 2³¹ pixels): half the memory
    traffic of int64 in these scattered reads. An interferogram's continuous areas are few (~100 on a
    1000 × 1000 px image of the benchmark frame): numbered, what follows works on them, not on pixels.

    One raster scan over each pixel's edges to its left and upper neighbours (Wu, Otoo & Suzuki 2009,
    *Pattern Anal. Appl.* 12:117, the two-pass scan): a pixel joined to one of them takes its parent, a
    pixel joined to both takes theirs when it is the same (inside a continuous area, nearly always) and
    unites the two sets otherwise, so the root searches are left to the seams between areas. The sets,
    and so the labels, are those of any order of the edges."""
    ny, nx = u.shape
    for r in range(ny):
        prev = np.nan  # the left neighbour's phase
        for c in range(nx):
            i = r * nx + c
            a = np.float64(u[r, c])  # float32 input: the differences in float64, as before
            if not np.isfinite(a):
                par[i] = -1  # no pixel: never a parent, labelled -1 below
                prev = a
                continue
            left = bool(abs(a - prev) < tau)  # False when the left neighbour is NaN (or absent)
            prev = a
            up = r >= 1 and bool(abs(a - np.float64(u[r - 1, c])) < tau)
            if left and up:
                pl = par[i - 1]
                pu = par[i - nx]
                if pl == pu:
                    par[i] = pl
                else:
                    rl = _find(par, pl)
                    ru = _find(par, pu)
                    if rl < ru:
                        par[ru] = rl
                        par[i] = rl
                    else:
                        par[rl] = ru
                        par[i] = ru
            elif left:
                par[i] = par[i - 1]
            elif up:
                par[i] = par[i - nx]
            else:
                par[i] = i
    # every parent is a smaller index than its child: in index order, a parent's label is final before its
    # children's, and a root (its set's smallest index, the union keeping the smaller root) takes the next
    # label; a run of one label is counted at its end (not one increment of the same entry per pixel)
    n_lab, last, run = 0, -1, 0
    for i in range(ny * nx):
        p = par[i]
        if p < 0:
            lab[i] = -1
            continue
        if p == i:
            li = n_lab
            size[li] = 0
            n_lab += 1
        else:
            li = lab[p]
        lab[i] = li
        if li != last:
            if run:
                size[last] += run
            last, run = li, 0
        run += 1
    if run:
        size[last] += run
    return n_lab


@njit(**KERNEL)
def boundary_edges(u: np.ndarray, lab: np.ndarray, cycle: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The 4-neighbour edges between finite pixels of different labels: (a, b) their labels with
    ``a < b``, ``k`` = round((u_b − u_a) / cycle), ``r`` = (u_b − u_a) / cycle − k and ``s`` the mean
    phase step (cycles) of the edges in line with it on either side (the phase's own gradient there;
    0 where neither exists), all oriented from ``a`` to ``b``.

    One scan into room for ``ny·nx / 16`` edges (an image's seams are far fewer); where that is not
    enough, a second one into arrays of the size the first counted."""
    room = max(1024, u.size // 16)
    out = (np.empty(room, np.int64), np.empty(room, np.int64), np.empty(room, np.int64), np.empty(room, np.float64),
           np.empty(room, np.float64))
    n = _edge_scan(u, lab, cycle, *out)
    if n > room:
        out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64),
               np.empty(n, np.float64))
        _edge_scan(u, lab, cycle, *out)
    return out[0][:n], out[1][:n], out[2][:n], out[3][:n], out[4][:n]


@njit(**HELPER)
def _edge_scan(u: np.ndarray, lab: np.ndarray, cycle: float, A: np.ndarray, B: np.ndarray, K: np.ndarray,
               R: np.ndarray, S: np.ndarray) -> int:  # pragma: no cover - compiled
    """The edges of :func:`boundary_edges`, in raster order, the first ``A.size`` of them written;
    returns how many there are."""
    ny, nx = u.shape
    room = A.size
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
                    j = i + 1
                else:
                    if r + 1 >= ny:
                        continue
                    j = i + nx
                lb = lab[j]
                if lb < 0 or lb == la:  # inside a set (nearly every edge): no phase read
                    continue
                if n < room:
                    if d == 0:
                        b = np.float64(u[r, c + 1])
                        before = np.float64(u[r, c - 1]) if c >= 1 else np.nan
                        after = np.float64(u[r, c + 2]) if c + 2 < nx else np.nan
                    else:
                        b = np.float64(u[r + 1, c])
                        before = np.float64(u[r - 1, c]) if r >= 1 else np.nan
                        after = np.float64(u[r + 2, c]) if r + 2 < ny else np.nan
                    ua = np.float64(u[r, c])
                    x = (b - ua) / cycle
                    k = int(np.rint(x))  # round half to even, as np.round(x); rint compiles ~0.5 s faster
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
    return n


@njit(**KERNEL)
def merge(a: np.ndarray, b: np.ndarray, n_lab: int, size: np.ndarray, par: np.ndarray, out: np.ndarray,
          out_size: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out`` (int32): the label of each of the ``n_lab`` labels after joining each label ``a[t]`` with
    ``b[t]`` -- the smallest label of its union -- and ``out_size`` (int64): each union's pixels at its
    label (0 at a label that is not one), from each label's ``size``. ``par`` (int32) the union-find's;
    all four with room for ``n_lab``."""
    for i in range(n_lab):
        par[i] = i
        out_size[i] = 0
    for t in range(a.size):
        _union(par, a[t], b[t])
    for i in range(n_lab):  # a root is its union's smallest label: final before any later label's lookup
        j = _find(par, i)
        out[i] = j
        out_size[j] += size[i]


@njit(**KERNEL)
def spread(lab: np.ndarray, add: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(lab.size,) int8: ``add`` of each pixel's label, 0 where it has none (``lab`` < 0)."""
    out = np.zeros(lab.size, np.int8)
    for i in range(lab.size):
        if lab[i] >= 0:
            out[i] = add[lab[i]]
    return out
