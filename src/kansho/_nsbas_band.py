"""The banded solver of the NSBAS normal equations, vectorised over pixels (numpy or CuPy).

The numpy/CuPy path of :func:`kansho.inversion.invert_nsbas` (the compiled CPU kernel,
:mod:`kansho._nsbas_jit`, runs the same algorithm pixel by pixel). The reduced normal equations
are solved in cumulative displacement ``x = cum[1:]``: the data part is the weighted Laplacian of
the pixel's pair network, a band matrix whose width is the longest pair kept in the band, and the
constraint part is ``gamma² (I - Q Qᵀ)`` (``Q`` an orthonormal basis of the model columns). The
pairs much longer than the rest and the model directions are low-rank terms handled by the
Sherman–Morrison–Woodbury identity; the offsets of sub-networks separated by gaps are set where the
objective is stationary along them. See the module docstring of :mod:`kansho.inversion`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from kansho._types import Float64Array, IndexArray

__all__ = ["BandLayout", "band_cholesky", "band_layout", "band_solve", "banded_normal_solve", "fix_gap_offsets"]


@dataclass(frozen=True)
class BandLayout:
    """How the normal equations in cumulative displacement split into a band and a low rank.

    Unknowns ``x = cum[1:]`` (``n' = n_epoch - 1``). A pair ``(i, j)`` with weight ``w`` adds
    ``w (e_j - e_i)(e_j - e_i)ᵀ`` to the normal matrix (``e_0`` absent: ``cum[0] = 0``); pairs with
    ``j - i <= bw`` go into the band; of longer ones only the diagonal terms do, their off-diagonal
    terms are rank-two terms (pairs from epoch 0 have none). The eliminated model adds
    ``gamma² (I - Q Qᵀ)`` restricted to ``x`` (``Q`` an orthonormal basis of the model columns).
    """

    bw: int  # bandwidth (number of sub-diagonals)
    assemble: Any  # (n' * (bw + 1), npair) sparse: band entries from the pairs' weights
    long: IndexArray  # pairs whose off-diagonal terms are kept as rank-two terms
    vectors: Float64Array  # (n', 2 n_long + r): long pairs' (e_i ± e_j) / √2, then gamma * Q[1:]
    incidence: Any  # (n', npair) sparse: rhs = incidence @ (w * d)
    starts: Any  # (n', npair) sparse: coverage of interval c = cumsum over rows of starts @ used
    basis: Float64Array  # (n, r) orthonormal basis of the model columns
    tails: Float64Array  # (n', r): tails[g] = sum of basis rows g+1 .. n-1 (the model's view of a step)


def band_layout(pairs: IndexArray, model: Float64Array, gamma: float) -> BandLayout:
    """Choose the bandwidth that minimises the work per pixel and build the assembly operators.

    ``pairs`` ``(npair, 2)`` epoch indices, ``model`` ``(n_epoch, nmodel)`` the design of the
    temporal model (columns ``t, 1[, sin 2πt, cos 2πt]``), ``gamma`` the constraint weight.
    """
    n1 = model.shape[0] - 1
    nmodel = model.shape[1]
    span = pairs[:, 1] - pairs[:, 0]
    a, b = pairs[:, 0] - 1, pairs[:, 1] - 1  # unknown indices; a = -1: cum[0], fixed
    best: tuple[float, int] | None = None
    for cand in np.unique(np.minimum(span, max(n1 - 1, 1))):
        m = min(nmodel, n1 + 1) + 2 * int(np.count_nonzero((span > cand) & (a >= 0)))
        # Cholesky + substitutions with m + 1 right-hand sides + the m x m capacitance solve
        cost = n1 * (cand + 1) ** 2 + 2 * n1 * (cand + 1) * (m + 1) + m**3
        if best is None or cost < best[0]:
            best = (cost, int(cand))
    bw = best[1] if best is not None else 1
    long = np.flatnonzero((span > bw) & (a >= 0))
    # every pair's diagonal terms go into the band (so that epochs reached only by long pairs do
    # not leave B nearly singular); the off-diagonal terms of the long pairs become the rank-two
    # term -w (e_a e_bᵀ + e_b e_aᵀ) = -w u uᵀ + w v vᵀ, u, v = (e_a ± e_b) / √2.
    rows, cols, vals = [], [], []
    for p in range(pairs.shape[0]):
        rows.append(b[p] * (bw + 1))
        cols.append(p)
        vals.append(1.0)
        if a[p] >= 0:
            rows.append(a[p] * (bw + 1))
            cols.append(p)
            vals.append(1.0)
            if span[p] <= bw:
                rows.append(a[p] * (bw + 1) + span[p])
                cols.append(p)
                vals.append(-1.0)
    assemble = sp.csr_matrix((vals, (rows, cols)), shape=(n1 * (bw + 1), pairs.shape[0]))
    u, s, _ = np.linalg.svd(model, full_matrices=False)
    q = u[:, s > s[0] * 1e-12]  # orthonormal basis of the model columns
    vec = np.zeros((n1, 2 * long.size + q.shape[1]))
    h = np.sqrt(0.5)
    for col, lp in enumerate(long):
        vec[[a[lp], b[lp]], 2 * col] = h
        vec[[a[lp], b[lp]], 2 * col + 1] = (h, -h)
    vec[:, 2 * long.size :] = gamma * q[1:]
    keep = a >= 0
    inc_rows = np.concatenate([b, a[keep]])
    inc_cols = np.concatenate([np.arange(pairs.shape[0]), np.flatnonzero(keep)])
    inc_vals = np.concatenate([np.ones(pairs.shape[0]), -np.ones(int(keep.sum()))])
    incidence = sp.csr_matrix((inc_vals, (inc_rows, inc_cols)), shape=(n1, pairs.shape[0]))
    npair = pairs.shape[0]
    starts = sp.csr_matrix(
        (np.r_[np.ones(npair), -np.ones(npair)], (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[0:npair, 0:npair])),
        shape=(n1 + 1, npair),
    )
    tails = np.cumsum(q[::-1], axis=0)[::-1][1:]
    return BandLayout(bw=bw, assemble=assemble, long=long, vectors=vec, incidence=incidence,
                      starts=starts, basis=q, tails=tails)


def band_cholesky(band: Any, xp: Any = np) -> None:
    """In-place Cholesky factorisation of many symmetric positive-definite band matrices.

    ``band`` ``(n, bw + 1, k)``: ``band[c, q, :] = A[c + q, c]`` for ``k`` matrices (lower band,
    column-major; entries below the matrix end are 0). On return it holds ``L`` of ``A = L Lᵀ`` in
    the same layout. The loop runs over the ``n`` columns; every step works on all ``k`` matrices
    at once (Golub & Van Loan, Matrix Computations, 4th ed., Alg. 4.3.5).
    """
    n, w1, _ = band.shape
    bw = w1 - 1
    for c in range(n):
        piv = xp.sqrt(band[c, 0])
        band[c, 0] = piv
        band[c, 1:] /= piv
        col = band[c, 1:]
        for u in range(1, min(bw, n - 1 - c) + 1):
            band[c + u, : bw - u + 1] -= col[u - 1] * col[u - 1 :]


def band_solve(chol: Any, rhs: Any, xp: Any = np) -> Any:
    """Solve ``L Lᵀ x = rhs`` in place for factors from :func:`band_cholesky`.

    ``chol`` ``(n, bw + 1, k)``; ``rhs`` ``(n, nr, k)`` (``nr`` right-hand sides per matrix).
    """
    n, w1, _ = chol.shape
    bw = w1 - 1
    for c in range(n):  # forward: L y = rhs
        rhs[c] /= chol[c, 0]
        e = min(bw, n - 1 - c)
        if e:
            rhs[c + 1 : c + 1 + e] -= chol[c, 1 : 1 + e, None, :] * rhs[c][None]
    for c in range(n - 1, -1, -1):  # backward: Lᵀ x = y
        e = min(bw, n - 1 - c)
        if e:
            rhs[c] -= (chol[c, 1 : 1 + e, None, :] * rhs[c + 1 : c + 1 + e]).sum(axis=0)
        rhs[c] /= chol[c, 0]
    return rhs


def _sparse_product(op: Any, a: Float64Array, xp: Any = np) -> Any:
    """``op @ a`` for a scipy sparse operator and a numpy array, as an array of ``xp`` (on the GPU
    the small operator is made dense there)."""
    if xp is np:
        return np.asarray(op @ a)
    return xp.asarray(op.toarray()) @ xp.asarray(a)


def banded_normal_solve(w: Float64Array, d0: Float64Array, lay: BandLayout, gamma: float, xp: Any = np) -> Any:
    """Solve the weighted NSBAS normal equations for ``k`` pixels in cumulative displacement.

    ``w`` ``(npair, k)`` weights (0 where a pair is not used), ``d0`` ``(npair, k)`` data (0 where
    not used). The normal matrix ``N = B + V D Vᵀ`` (``B`` the band of the pairs plus
    ``gamma² I``; ``V`` the long pairs' off-diagonal terms and the model directions, ``D = ∓w`` resp.
    ``-1``) is solved with a band Cholesky of ``B`` and the Sherman–Morrison–Woodbury identity
    ``N⁻¹ = B⁻¹ - B⁻¹ V (I + D Vᵀ B⁻¹ V)⁻¹ D Vᵀ B⁻¹`` (Golub & Van Loan, Matrix Computations,
    4th ed., §2.1.4).

    Where the pixel's network has gaps (intervals no valid pair covers), ``B`` has eigenvalues
    ``~gamma²`` along the step functions at the gaps (the free offsets of the later sub-networks),
    and the solution along them is only accurate to ~eps/gamma². The data do not see these
    directions at all (every used pair lies on one side of a gap), so the offsets are then set
    exactly where the objective is stationary along them: :func:`fix_gap_offsets`.

    Returns ``(cum[1:] (n', k), ok (k,) bool)``; ``ok`` is False where the capacitance matrix is
    singular (the data cannot pin the temporal model): those columns must be solved otherwise.
    """
    n1 = lay.vectors.shape[0]
    k = w.shape[1]
    bw = lay.bw
    band = _sparse_product(lay.assemble, w, xp).reshape(n1, bw + 1, k)
    r = _sparse_product(lay.incidence, w * d0, xp)
    band[:, 0] += gamma**2
    band_cholesky(band, xp)
    vec = xp.asarray(lay.vectors)
    m = vec.shape[1]
    rhs = xp.empty((n1, m + 1, k))
    rhs[:, 0] = r
    rhs[:, 1:] = vec[:, :, None]
    band_solve(band, rhs, xp)
    x, y = rhs[:, 0], rhs[:, 1:]  # B⁻¹ r (n', k), B⁻¹ V (n', m, k)
    dg = xp.empty((m, k))
    wl = w[xp.asarray(lay.long)]
    dg[0 : 2 * lay.long.size : 2] = -wl
    dg[1 : 2 * lay.long.size : 2] = wl
    dg[2 * lay.long.size :] = -1.0
    vty = xp.einsum("am,abk->kmb", vec, y)  # (k, m, m): Vᵀ B⁻¹ V
    cap = xp.eye(m)[None] + dg.T[:, :, None] * vty
    try:
        capinv = xp.linalg.inv(cap)
    except np.linalg.LinAlgError:
        return x, xp.zeros(k, dtype=bool)
    ok = xp.all(xp.isfinite(capinv), axis=(1, 2))

    def woodbury(x0: Any) -> Any:
        z = xp.einsum("kmb,bk->km", capinv, (vec.T @ x0) * dg)  # (I + D Vᵀ B⁻¹ V)⁻¹ D Vᵀ B⁻¹ r
        return x0 - xp.einsum("amk,km->ak", y, z)

    x = woodbury(x)
    cover = xp.cumsum(_sparse_product(lay.starts, (w > 0).astype(np.float64), xp), axis=0)[:-1]
    gapped = xp.flatnonzero(xp.any(cover < 0.5, axis=0))
    if gapped.size:
        xg, okg = fix_gap_offsets(x[:, gapped], cover[:, gapped] < 0.5, lay, xp)
        x[:, gapped] = xg
        ok[gapped] &= okg
    return x, ok


def fix_gap_offsets(x: Any, gap: Any, lay: BandLayout, xp: Any = np) -> tuple[Any, Any]:
    """Set the offsets of sub-networks separated by gaps where the objective is stationary.

    ``x`` ``(n', k)`` cumulative displacement (epochs 1..n-1), ``gap`` ``(n', k)`` bool, True at
    intervals no used pair covers. Along ``s_g`` (1 at epochs after gap ``g``, else 0) the data
    term is constant exactly, so the minimiser satisfies ``s_gᵀ Eᵀ P E (x + S a) = 0`` for every
    gap, with ``P = I - Q Qᵀ`` and ``E x = [0; x]``: a small system in the offsets ``a`` per pixel,
    ``M a = -Sᵀ Eᵀ P E x`` with ``M[g, h] = (n - 1 - max(g, h)) - tails[g]·tails[h]``.
    Returns the corrected ``x`` and ``ok`` (k,) (False where ``M`` is singular).
    """
    n1, k = x.shape
    q = xp.asarray(lay.basis)
    tails = xp.asarray(lay.tails)
    ng = gap.sum(axis=0)
    gmax = int(ng.max())
    # gap intervals per pixel, padded with -1: (k, gmax)
    gt = gap.T
    pix, ivl = xp.nonzero(gt)
    slot = (xp.cumsum(gt, axis=1) - 1)[pix, ivl]  # the gap's rank among its pixel's gaps
    gidx = xp.full((k, gmax), -1, dtype=xp.int64)
    gidx[pix, slot] = ivl
    real = gidx >= 0
    gi = xp.where(real, gidx, 0)
    ex = xp.concatenate([xp.zeros((1, k)), x])
    y = ex - q @ (q.T @ ex)  # P E x, (n, k)
    ytail = xp.cumsum(y[::-1], axis=0)[::-1]  # ytail[c] = sum of y[c:]
    rhs = xp.where(real, ytail[gi + 1, xp.arange(k)[:, None]], 0.0)  # (k, gmax)
    tg = tails[gi]  # (k, gmax, r)
    mat = (n1 - xp.maximum(gi[:, :, None], gi[:, None, :])) - xp.einsum("kgr,khr->kgh", tg, tg)
    both = real[:, :, None] & real[:, None, :]
    mat = xp.where(both, mat, xp.eye(gmax)[None])
    try:
        a = xp.linalg.solve(mat, -rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return x, xp.zeros(k, dtype=bool)
    ok = xp.all(xp.isfinite(a), axis=1)
    step = xp.zeros((n1 + 1, k))
    step[(gi + 1)[real], xp.nonzero(real)[0]] = a[real]
    return x + xp.cumsum(step, axis=0)[1:], ok
