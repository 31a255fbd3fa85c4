"""Compiled kernels of :func:`kansho.jumps.cycle_jumps`: union-find labelling of one image's phase
on its continuous 4-neighbour edges, and the edges between different labels with their cycle jumps.

Union-find with path halving and union by smaller root index (Tarjan 1975, *J. ACM* 22(2):215), so
the labels do not depend on the order edges are met in beyond that rule: a label is the smallest
flat index of its set.
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
def label_continuous(u: np.ndarray, tau: float) -> np.ndarray:  # pragma: no cover - compiled
    """(ny*nx,) int32 labels: pixels joined by 4-neighbour edges with both ends finite and
    ``|Δu| < tau``; a label is the smallest flat index of its set (-1 where ``u`` is not finite).
    int32 (an image has fewer than 2³¹ pixels): half the memory traffic of int64 in these scattered reads."""
    ny, nx = u.shape
    par = np.empty(ny * nx, np.int32)
    for i in range(ny * nx):
        par[i] = i
    for r in range(ny):
        for c in range(nx):
            a = np.float64(u[r, c])  # float32 input: the differences in float64, as before
            if not np.isfinite(a):
                continue
            i = r * nx + c
            if c + 1 < nx:
                b = np.float64(u[r, c + 1])
                if np.isfinite(b) and abs(b - a) < tau:
                    _union(par, i, i + 1)
            if r + 1 < ny:
                b = np.float64(u[r + 1, c])
                if np.isfinite(b) and abs(b - a) < tau:
                    _union(par, i, i + nx)
    lab = np.empty(ny * nx, np.int32)
    for r in range(ny):
        for c in range(nx):
            i = r * nx + c
            lab[i] = _find(par, i) if np.isfinite(u[r, c]) else -1
    return lab


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
def merge(n: int, a: np.ndarray, b: np.ndarray, lab: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Labels ``lab`` (int32, -1 kept) after joining each set ``a[t]`` with ``b[t]`` (labels < ``n``)."""
    par = np.empty(n, np.int32)
    for i in range(n):
        par[i] = i
    for t in range(a.size):
        _union(par, a[t], b[t])
    out = np.empty_like(lab)
    for i in range(lab.size):
        out[i] = _find(par, lab[i]) if lab[i] >= 0 else -1
    return out
