"""Step 1-3: small-baseline time-series inversion with an NSBAS temporal constraint.

Per pixel the unknowns are the ``n_epoch - 1`` incremental displacements ``inc`` (SBAS
parameterisation, Berardino et al. 2002, IEEE TGRS 40(11):2375) and a temporal model ``m``
(velocity ``v``, intercept ``c`` and, optionally, annual sine/cosine amplitudes ``a``, ``b``).
The equations are

* one row per valid pair ``p = (i, j)``: ``sum(inc[i:j]) = ifg[p]`` (mm), optionally scaled by
  ``sqrt(weight[p])`` (weighted least squares);
* one row per epoch ``m = 0 .. n_epoch - 1``, weight ``gamma``:
  ``gamma * (cum[m] - (v t[m] + c [+ a sin 2πt[m] + b cos 2πt[m]])) = 0``, with ``cum[0] = 0`` and
  ``cum[m] = sum(inc[:m])``.

The small constraint weight ``gamma`` leaves well-connected parts of the network to the data and
only fills the directions the network leaves free (gaps, disconnected sub-networks) with the
temporal model — the NSBAS approach of López-Quiroz et al. (2009, JAG 69(4)) and Doin et al.
(2011, FRINGE), as used by LiCSBAS (Morishita et al. 2020, Remote Sensing 12(3):424).

Implementation
--------------
The model ``m`` enters only the constraint rows, so it is eliminated exactly: for given ``inc``
the best ``m`` is ``T⁺ C inc`` and the constraint term becomes ``gamma² ‖(I - T T⁺) C inc‖²``
(``C`` the cumulative-sum matrix, ``T`` the model design). The reduced problem in ``inc`` alone
has the same minimiser as the full augmented system, and ``m = T⁺ C inc`` afterwards.

* The reduced normal equations are solved in cumulative displacement ``x = cum[1:] = C inc``
  instead of ``inc`` (same minimiser). There the data part is the weighted Laplacian of the
  pixel's pair network, a band matrix whose width is the longest pair (in epochs), and the
  constraint part is ``gamma² (I - Q Qᵀ)`` (``Q`` an orthonormal basis of the model columns,
  first row dropped). The few pairs much longer than the rest and the model directions are kept
  out of the band as low-rank terms; a band Cholesky factorisation of the rest (every pixel's own,
  vectorised over pixels, the loop running over epochs) and the Sherman–Morrison–Woodbury
  identity solve each pixel in O(n_epoch · band²) instead of O(n_epoch³) — so pixels need not
  share a NaN pattern to be cheap, weighted or not (:func:`_banded_normal_solve`).
* On the CPU the same algorithm runs as a compiled per-pixel kernel (numba,
  :mod:`kansho._nsbas_jit`): every pixel's work arrays stay in cache, no ``(npair, npix)`` float64
  temporaries are made, and pixels run on all cores — 2-2.5× faster than the vectorised numpy path,
  which remains for the GPU (CuPy) and when ``KANSHO_NO_JIT`` is set. The two agree to round-off
  (tested).
* Pixels whose valid pairs cannot pin the temporal model (possible with ``annual=True`` and very
  few pairs) are solved by a batched SVD (minimum-norm solution, :func:`solve_pattern`).

Accuracy: the problem is ill-conditioned by design (condition number ~ 1/gamma in the directions
only the constraint fixes). Against exact rational arithmetic, with gamma = 1e-4 the per-pattern
SVD path is as accurate as :func:`numpy.linalg.lstsq` (~1e-9 relative) and the normal-equation
path ~1e-8; with gamma <= 1e-5 the normal-equation path degrades to ~1e-6.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.errors import NetworkError
from kansho.network import check_pairs, increment_matrix

__all__ = ["InversionResult", "constraint_operators", "invert_nsbas", "solve_pattern"]

logger = logging.getLogger(__name__)

#: serialises calls of the compiled kernel (it runs on all cores itself)
_JIT_LOCK = threading.Lock()

#: bytes of float64 work arrays per batch in the normal-equation path (small: cache-friendly)
_WORK_BYTES = 32 * 2**20

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class InversionResult:
    """Result of :func:`invert_nsbas`; ``npix`` pixels, ``n_epoch`` epochs.

    Attributes
    ----------
    cum:
        ``(n_epoch, npix)`` float32 mm, cumulative displacement; ``cum[0] = 0``; NaN at every
        epoch of an unsolved pixel.
    vel:
        ``(npix,)`` float32 mm/yr, velocity of the constraint model (the least-squares model fit
        to ``cum``); NaN where unsolved.
    intercept:
        ``(npix,)`` float32 mm, intercept of the constraint model at ``t = 0``.
    annual_amp, annual_phase:
        ``(npix,)`` float32 (mm, radians) when ``annual=True``, else None. The annual term is
        ``annual_amp * cos(2π t - annual_phase)``, so it peaks at ``t = annual_phase / 2π``
        (mod 1 yr).
    resid_rms:
        ``(npix,)`` float32 mm, RMS of ``G·inc - ifg`` over the valid pairs (unweighted).
    n_unw:
        ``(npix,)`` int32, number of valid pairs at the pixel (counted for every pixel, solved or
        not).
    solved:
        ``(npix,)`` bool, True where the pixel was inverted.
    """

    cum: npt.NDArray[np.float32]
    vel: npt.NDArray[np.float32]
    intercept: npt.NDArray[np.float32]
    annual_amp: npt.NDArray[np.float32] | None
    annual_phase: npt.NDArray[np.float32] | None
    resid_rms: npt.NDArray[np.float32]
    n_unw: npt.NDArray[np.int32]
    solved: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _Operators:
    cum: F64  # C, (n_epoch, n_epoch-1): cum = C @ inc
    model: F64  # T, (n_epoch, nmodel): columns t, 1 [, sin 2πt, cos 2πt]
    reduced: F64  # R = (I - T T⁺) C, (n_epoch, n_epoch-1)
    to_model: F64  # T⁺ C, (nmodel, n_epoch-1): m = to_model @ inc
    null: F64  # Z, (n_epoch-1, r): increments of model shapes with cum[0] = 0 (null space of R)


def constraint_operators(t: npt.ArrayLike, annual: bool = False) -> dict[str, F64]:
    """Matrices of the temporal constraint, for inspection and tests.

    Returns a dict with ``C`` ``(n_epoch, n_epoch-1)`` (``cum = C @ inc``), ``T``
    ``(n_epoch, nmodel)`` (model design, columns ``t, 1[, sin 2πt, cos 2πt]``), ``R``
    ``(n_epoch, n_epoch-1)`` (``R = (I - T T⁺) C``; the constraint term is ``gamma² ‖R inc‖²``
    after eliminating the model) and ``to_model`` ``(nmodel, n_epoch-1)`` (``m = T⁺ C inc``).
    """
    ops = _operators(np.asarray(t, dtype=np.float64), annual)
    return {"C": ops.cum, "T": ops.model, "R": ops.reduced, "to_model": ops.to_model}


def _operators(t: F64, annual: bool) -> _Operators:
    n = t.size
    c = np.tril(np.ones((n, n - 1)), k=-1)
    cols = [t, np.ones(n)]
    if annual:
        cols += [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
    tm = np.stack(cols, axis=1)
    tpinv = np.linalg.pinv(tm)
    to_model = tpinv @ c
    reduced = c - tm @ to_model
    # model shapes with cum[0] = 0: range(T) ∩ {x0 = 0}
    _, s0, vt0 = np.linalg.svd(tm[:1], full_matrices=True)
    shapes = tm @ vt0[np.count_nonzero(s0 > 0) :].T  # (n, nmodel-1)
    u, s, _ = np.linalg.svd(shapes, full_matrices=False)
    keep = s > s[0] * 1e-12 if s.size else np.zeros(0, dtype=bool)
    null = np.diff(u[:, keep], axis=0)
    return _Operators(cum=c, model=tm, reduced=reduced, to_model=to_model, null=null)


def solve_pattern(a: npt.ArrayLike, b: npt.ArrayLike, *, rcond: float | None = None) -> F64:
    """Minimum-norm least-squares solution of ``a x = b`` for many right-hand sides, by SVD.

    Parameters
    ----------
    a:
        ``(m, n)`` design matrix, or a stack ``(..., m, n)``.
    b:
        ``(m', k)`` right-hand sides (stack ``(..., m', k)``), ``m' <= m``; rows ``m' .. m-1``
        are taken as zero (convenient for constraint rows).
    rcond:
        Singular values below ``rcond * s_max`` are treated as zero; default
        ``eps * max(m, n)`` as in :func:`numpy.linalg.lstsq`.

    Returns
    -------
    x : ``(n, k)`` (stack ``(..., n, k)``) float64, equal to ``numpy.linalg.lstsq(a, b)[0]``.
    """
    am = np.asarray(a, dtype=np.float64)
    bm = np.asarray(b, dtype=np.float64)
    m, n = am.shape[-2:]
    if bm.shape[-2] > m:
        raise ValueError(f"b has {bm.shape[-2]} rows, more than a ({m})")
    if rcond is None:
        rcond = np.finfo(np.float64).eps * max(m, n)
    u, s, vt = np.linalg.svd(am, full_matrices=False)
    smax = s[..., :1]
    inv_s = np.where(s > rcond * smax, 1.0 / np.where(s > 0, s, 1.0), 0.0)
    utb = np.swapaxes(u[..., : bm.shape[-2], :], -1, -2) @ bm  # (..., r, k)
    return np.swapaxes(vt, -1, -2) @ (inv_s[..., :, None] * utb)


@dataclass(frozen=True)
class _BandLayout:
    """How the normal equations in cumulative displacement split into a band and a low rank.

    Unknowns ``x = cum[1:]`` (``n' = n_epoch - 1``). A pair ``(i, j)`` with weight ``w`` adds
    ``w (e_j - e_i)(e_j - e_i)ᵀ`` to the normal matrix (``e_0`` absent: ``cum[0] = 0``); pairs with
    ``j - i <= bw`` go into the band; of longer ones only the diagonal terms do, their off-diagonal
    terms are rank-two terms (pairs from epoch 0 have none). The eliminated model adds
    ``gamma² (I - Q Qᵀ)`` restricted to ``x`` (``Q`` an orthonormal basis of the model columns).
    """

    bw: int  # bandwidth (number of sub-diagonals)
    assemble: Any  # (n' * (bw + 1), npair) sparse: band entries from the pairs' weights
    long: npt.NDArray[np.intp]  # pairs whose off-diagonal terms are kept as rank-two terms
    vectors: F64  # (n', 2 n_long + r): long pairs' (e_i ± e_j) / √2, then gamma * Q[1:]
    incidence: Any  # (n', npair) sparse: rhs = incidence @ (w * d)
    starts: Any  # (n', npair) sparse: coverage of interval c = cumsum over rows of starts @ used
    basis: F64  # (n, r) orthonormal basis of the model columns
    tails: F64  # (n', r): tails[g] = sum of basis rows g+1 .. n-1 (the model's view of a step)


def _band_layout(pairs: npt.NDArray[np.intp], ops: _Operators, gamma: float) -> _BandLayout:
    """Choose the bandwidth that minimises the work per pixel and build the assembly operators."""
    import scipy.sparse as sp

    n1 = ops.model.shape[0] - 1
    nmodel = ops.model.shape[1]
    span = pairs[:, 1] - pairs[:, 0]
    a, b = pairs[:, 0] - 1, pairs[:, 1] - 1  # unknown indices; a = -1: cum[0], fixed
    best: tuple[float, int] | None = None
    for bw in np.unique(np.minimum(span, max(n1 - 1, 1))):
        m = min(nmodel, n1 + 1) + 2 * int(np.count_nonzero((span > bw) & (a >= 0)))
        # Cholesky + substitutions with m + 1 right-hand sides + the m x m capacitance solve
        cost = n1 * (bw + 1) ** 2 + 2 * n1 * (bw + 1) * (m + 1) + m**3
        if best is None or cost < best[0]:
            best = (cost, int(bw))
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
    u, s, _ = np.linalg.svd(ops.model, full_matrices=False)
    q = u[:, s > s[0] * 1e-12]  # orthonormal basis of the model columns
    vec = np.zeros((n1, 2 * long.size + q.shape[1]))
    h = np.sqrt(0.5)
    for col, p in enumerate(long):
        vec[[a[p], b[p]], 2 * col] = h
        vec[[a[p], b[p]], 2 * col + 1] = (h, -h)
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
    return _BandLayout(bw=bw, assemble=assemble, long=long, vectors=vec, incidence=incidence,
                       starts=starts, basis=q, tails=tails)


def _band_cholesky(band: Any, xp: Any = np) -> None:
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


def _band_solve(chol: Any, rhs: Any, xp: Any = np) -> Any:
    """Solve ``L Lᵀ x = rhs`` in place for factors from :func:`_band_cholesky`.

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


def _sparse_product(op: Any, a: F64, xp: Any = np) -> Any:
    """``op @ a`` for a scipy sparse operator and a numpy array, as an array of ``xp`` (on the GPU
    the small operator is made dense there)."""
    if xp is np:
        return np.asarray(op @ a)
    return xp.asarray(op.toarray()) @ xp.asarray(a)


def _banded_normal_solve(w: F64, d0: F64, lay: _BandLayout, gamma: float, xp: Any = np) -> Any:
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
    exactly where the objective is stationary along them: :func:`_fix_gap_offsets`.

    Returns ``(cum[1:] (n', k), ok (k,) bool)``; ``ok`` is False where the capacitance matrix is
    singular (the data cannot pin the temporal model): those columns must be solved otherwise.
    """
    n1 = lay.vectors.shape[0]
    k = w.shape[1]
    bw = lay.bw
    band = _sparse_product(lay.assemble, w, xp).reshape(n1, bw + 1, k)
    r = _sparse_product(lay.incidence, w * d0, xp)
    band[:, 0] += gamma**2
    _band_cholesky(band, xp)
    vec = xp.asarray(lay.vectors)
    m = vec.shape[1]
    rhs = xp.empty((n1, m + 1, k))
    rhs[:, 0] = r
    rhs[:, 1:] = vec[:, :, None]
    _band_solve(band, rhs, xp)
    x, y = rhs[:, 0], rhs[:, 1:]  # B⁻¹ r (n', k), B⁻¹ V (n', m, k)
    dg = xp.empty((m, k))
    wl = xp.asarray(w[lay.long])
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
        xg, okg = _fix_gap_offsets(x[:, gapped], cover[:, gapped] < 0.5, lay, xp)
        x[:, gapped] = xg
        ok[gapped] &= okg
    return x, ok


def _fix_gap_offsets(x: Any, gap: Any, lay: _BandLayout, xp: Any = np) -> tuple[Any, Any]:
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
    pix, ivl = xp.nonzero(gap.T)
    slot = xp.arange(pix.size) - xp.repeat(xp.cumsum(ng) - ng, ng)
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


def _normal_solve(
    w: F64,
    d0: F64,
    pairs: npt.NDArray[np.int64],
    g: F64,
    ops: _Operators,
    gamma: float,
    xp: Any = np,
    layout: _BandLayout | None = None,
) -> F64:
    """Solve the weighted reduced problem for a batch of pixels.

    ``w`` ``(npair, k)`` weights (0 where the pair is not used), ``d0`` ``(npair, k)`` data with
    0 where not used. Returns ``inc`` ``(n_epoch-1, k)`` (a numpy array). ``xp`` is the array
    module the normal equations are assembled and solved with: numpy, or CuPy for the GPU.
    The normal equations are solved in cumulative displacement, where they are banded
    (:func:`_banded_normal_solve`); pixels whose data cannot pin the temporal model are solved by
    SVD (minimum norm).
    """
    n = g.shape[1] + 1
    k = w.shape[1]
    lay = layout if layout is not None else _band_layout(pairs, ops, gamma)

    # Pixels where the data cannot pin the model shapes left free by the constraint.
    deficient = _deficient(w, g, ops.null)

    inc = np.empty((k, n - 1))
    full = np.flatnonzero(~deficient)
    if full.size:
        x, good = _banded_normal_solve(w[:, full], d0[:, full], lay, gamma, xp)
        cumx = np.zeros((n, full.size))
        cumx[1:] = _to_host(x)
        inc[full] = np.diff(cumx, axis=0).T
        deficient[full[~_to_host(good)]] = True
    if np.any(deficient):
        idx = np.flatnonzero(deficient)
        logger.debug("%d pixel(s) with an under-determined model solved by SVD", idx.size)
        sw = np.sqrt(w[:, idx]).T  # (kd, npair)
        a = np.concatenate(
            [sw[:, :, None] * g[None], np.broadcast_to(gamma * ops.reduced, (idx.size, n, n - 1))],
            axis=1,
        )
        b = (sw * d0[:, idx].T)[:, :, None]
        inc[idx] = solve_pattern(a, b)[..., 0]
    return inc.T


def _deficient(w: F64, g: F64, z: F64) -> npt.NDArray[np.bool_]:
    """``(k,)`` True where the weights ``w`` ``(npair, k)`` cannot pin the model shapes ``z``
    ``(n_epoch-1, r)`` that the constraint leaves free (``g`` the ``(npair, n_epoch-1)`` increment
    matrix)."""
    k = w.shape[1]
    if z.shape[1] > 1:
        gz = g @ z  # (npair, r)
        gram = np.einsum("pa,pk,pb->kab", gz, w, gz)
        dg = np.sqrt(np.einsum("kaa->ka", gram))
        ok = np.all(dg > 0, axis=1)
        dg = np.where(dg > 0, dg, 1.0)
        gram /= dg[:, :, None] * dg[:, None, :]
        return ~ok | (np.linalg.eigvalsh(gram)[:, 0] < 1e-10)
    if z.shape[1] == 1:
        return (((g @ z[:, 0]) ** 2) @ w) <= 0
    return np.zeros(k, dtype=bool)


def _use_jit() -> bool:
    """Whether the compiled CPU kernel (:mod:`kansho._nsbas_jit`) is used: numba importable and
    ``KANSHO_NO_JIT`` unset."""
    if os.environ.get("KANSHO_NO_JIT"):
        return False
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True


def _to_host(a: Any) -> np.ndarray:
    """A numpy array from a numpy or CuPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


def array_module(device: str) -> Any:
    """The array module for ``device``: numpy for ``"cpu"``, CuPy for ``"gpu"``."""
    if device == "cpu":
        return np
    if device == "gpu":
        try:
            import cupy
        except ImportError as exc:
            raise RuntimeError("device='gpu' needs CuPy: pip install cupy-cuda12x") from exc
        return cupy
    raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")


def _batch_size(max_batch: int, n_epoch: int, npair: int, lay: _BandLayout) -> int:
    m = lay.vectors.shape[1]
    per_pixel = 8 * (n_epoch * (lay.bw + m + 3) + 4 * npair + 2 * m * m)
    return int(max(1, min(max_batch, max(64, _WORK_BYTES // per_pixel))))


def invert_nsbas(
    ifg: npt.ArrayLike,
    pairs: npt.ArrayLike,
    t: npt.ArrayLike,
    *,
    gamma: float = 1e-4,
    annual: bool = False,
    weights: npt.ArrayLike | None = None,
    min_pairs: float = 0,
    max_batch: int = 50_000,
    device: str = "cpu",
) -> InversionResult:
    """NSBAS small-baseline inversion of interferograms into a displacement time series.

    Parameters
    ----------
    ifg:
        ``(npair, npix)`` float, unwrapped interferograms in mm (LOS, positive toward the
        satellite); NaN = no data.
    pairs:
        ``(npair, 2)`` epoch indices ``(i, j)``, ``i < j``; ``ifg = value[j] - value[i]``.
    t:
        ``(n_epoch,)`` float, time of each epoch in years (strictly increasing, usually years
        since the first epoch).
    gamma:
        Weight of the temporal-constraint rows (LiCSBAS default 1e-4); must be > 0.
    annual:
        Add annual sine and cosine terms to the constraint model (bridges gaps in seasonal
        signals).
    weights:
        Optional ``(npair, npix)`` weights (e.g. from coherence); pair rows are scaled by
        ``sqrt(weight)``. A pair with a non-finite or non-positive weight is not used. ``gamma``
        is relative to unit weights: multiplying all weights by ``s`` acts like dividing
        ``gamma`` by ``sqrt(s)``, so weights of order 1 are intended.
    min_pairs:
        Pixels with fewer valid pairs than this are not solved (NaN). Pixels with no valid pair
        are never solved.
    max_batch:
        Upper bound on the pixels processed at once (memory).
    device:
        ``"cpu"`` (numpy) or ``"gpu"``: the per-pattern products and the batched normal equations
        run on the GPU through CuPy, in float64 (the SVDs of the small per-pattern operators and
        the rare rank-deficient pixels stay on the CPU).

    Returns
    -------
    InversionResult

    Raises
    ------
    NetworkError
        Fewer than 2 epochs, or pairs inconsistent with ``t`` (index out of range, ``i >= j``,
        duplicates).
    ValueError
        Array shapes that do not match, ``t`` not strictly increasing, ``gamma <= 0``.
    """
    d = np.asarray(ifg)
    tt = np.asarray(t, dtype=np.float64)
    if tt.ndim != 1 or tt.size < 2:
        raise NetworkError(f"need at least 2 epochs, got t of shape {tt.shape}")
    if np.any(np.diff(tt) <= 0) or not np.all(np.isfinite(tt)):
        raise ValueError("t must be finite and strictly increasing")
    n = tt.size
    p = check_pairs(pairs, n)
    if d.ndim != 2 or d.shape[0] != p.shape[0]:
        raise ValueError(f"ifg must have shape (npair={p.shape[0]}, npix), got {d.shape}")
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    npair, npix = d.shape
    xp = array_module(device)

    valid = np.isfinite(d)
    wts: npt.NDArray[np.floating] | None = None
    if weights is not None:
        wts = np.asarray(weights)
        if wts.shape != d.shape:
            raise ValueError(f"weights must have the shape of ifg {d.shape}, got {wts.shape}")
        with np.errstate(invalid="ignore"):
            valid &= np.isfinite(wts) & (wts > 0)
    n_unw = valid.sum(axis=0).astype(np.int32)
    solved = (n_unw >= min_pairs) & (n_unw > 0)

    g = increment_matrix(p, n)
    ops = _operators(tt, annual)
    nmodel = ops.model.shape[1]
    layout = _band_layout(p, ops, gamma)

    cum = np.full((n, npix), np.nan, dtype=np.float32)
    model = np.full((nmodel, npix), np.nan, dtype=np.float64)
    resid_rms = np.full(npix, np.nan, dtype=np.float32)

    def finish(inc: F64, cols: npt.NDArray[np.intp]) -> None:
        c = np.zeros((n, cols.size))
        np.cumsum(inc, axis=0, out=c[1:])
        cum[:, cols] = c
        model[:, cols] = ops.to_model @ inc
        dd = d[:, cols].astype(np.float64)
        vv = valid[:, cols]
        res = np.where(vv, c[p[:, 1]] - c[p[:, 0]] - np.where(vv, dd, 0.0), 0.0)
        resid_rms[cols] = np.sqrt((res**2).sum(axis=0) / n_unw[cols])

    def normal_path(cols: npt.NDArray[np.intp]) -> None:
        step = _batch_size(max_batch, n, npair, layout)
        for b0 in range(0, cols.size, step):
            cb = cols[b0 : b0 + step]
            vb = valid[:, cb]
            if wts is None:
                wb = vb.astype(np.float64)
            else:
                wb = np.where(vb, wts[:, cb], 0.0).astype(np.float64)
            db = np.where(vb, d[:, cb], 0.0).astype(np.float64)
            finish(_normal_solve(wb, db, p, g, ops, gamma, xp, layout), cb)

    def jit_path(cols: npt.NDArray[np.intp]) -> None:
        from kansho import _nsbas_jit

        z = ops.null
        if z.shape[1] > 1:  # annual model: test the pixels' rank in numpy first, batch by batch
            step = _batch_size(max_batch, n, npair, layout)
            bad = np.concatenate([
                _deficient(np.where(valid[:, cb], 1.0 if wts is None else wts[:, cb], 0.0), g, z)
                for cb in (cols[b0: b0 + step] for b0 in range(0, cols.size, step))])
            if bad.any():
                normal_path(cols[bad])
            cols = cols[~bad]
        dd = np.ascontiguousarray(d, dtype=np.float64)
        ww = np.ascontiguousarray(wts, dtype=np.float64) if wts is not None else np.zeros((1, 1))
        gz = g @ z if z.shape[1] == 1 else np.zeros((npair, 0))  # the kernel tests the rank itself when r = 1
        status = np.zeros(npix, dtype=np.int8)
        with _JIT_LOCK:  # numba's default threading layer must not be entered by two threads at once
            _nsbas_jit.solve_pixels(
                dd, ww, wts is not None, cols.astype(np.int64), p[:, 0].astype(np.int64), p[:, 1].astype(np.int64),
                int(layout.bw), layout.long.astype(np.int64), np.ascontiguousarray(layout.vectors), float(gamma),
                np.ascontiguousarray(gz), np.ascontiguousarray(layout.basis), np.ascontiguousarray(layout.tails),
                np.ascontiguousarray(ops.to_model), cum, model, resid_rms, status)
        rest = cols[status[cols] != _nsbas_jit.OK]
        if rest.size:
            normal_path(rest)

    sel = np.flatnonzero(solved)
    if sel.size == 0:
        logger.warning("no pixel has enough valid pairs to invert (min_pairs=%s)", min_pairs)
    else:
        logger.debug("inversion of %d pixels, band width %d + %d low-rank terms", sel.size, layout.bw,
                     layout.vectors.shape[1])
        if device == "cpu" and _use_jit():
            jit_path(sel)
        else:
            normal_path(sel)

    vel = model[0].astype(np.float32)
    intercept = model[1].astype(np.float32)
    amp = phase = None
    if annual:
        a_sin, b_cos = model[2], model[3]
        amp = np.hypot(a_sin, b_cos).astype(np.float32)
        phase = np.arctan2(a_sin, b_cos).astype(np.float32)
    return InversionResult(
        cum=cum,
        vel=vel,
        intercept=intercept,
        annual_amp=amp,
        annual_phase=phase,
        resid_rms=resid_rms,
        n_unw=n_unw,
        solved=solved,
    )
