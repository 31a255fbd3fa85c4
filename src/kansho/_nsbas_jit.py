"""Compiled per-pixel kernel of the NSBAS inversion (numba), the CPU path of :mod:`kansho.inversion`.

The same algorithm as the vectorised numpy path there (:func:`kansho._nsbas_band.banded_normal_solve`
and :func:`kansho._nsbas_band.fix_gap_offsets`), written as one loop over pixels: the normal
equations in cumulative displacement ``x = cum[1:]`` are the weighted Laplacian of the pixel's
pair network plus ``gamma² (I - Q Qᵀ)``; the band part is factorised by a band Cholesky (Golub &
Van Loan, Matrix Computations, 4th ed., Alg. 4.3.5), the long pairs and the model directions enter
through the Sherman–Morrison–Woodbury identity (ibid. §2.1.4), and offsets across network gaps are
set where the objective is stationary along them. The NSBAS formulation is that of López-Quiroz et
al. (2009, JAG 69(4)) and Doin et al. (2011, FRINGE), as used by LiCSBAS (Morishita et al. 2020,
Remote Sensing 12(3):424).

Working pixel by pixel in compiled code keeps every work array in cache (a few kB a pixel) and
needs no ``(npair, npix)`` float64 temporaries; pixels run on all cores (threads over tiles) unless
``NUMBA_NUM_THREADS`` says otherwise (dask workers set it to 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._threads import run_ranges

#: status codes of :func:`solve_pixels`
OK, NEEDS_SVD = 0, 1


@njit(cache=True, nogil=True)
def _small_solve(a: np.ndarray, b: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Solve ``a x = b`` in place (``b`` becomes ``x``) by Gaussian elimination with partial pivoting.

    ``a`` ``(m, m)`` is overwritten. Returns False if a pivot is zero or the result not finite.
    """
    m = a.shape[0]
    for c in range(m):
        p = c
        best = abs(a[c, c])
        for r in range(c + 1, m):
            if abs(a[r, c]) > best:
                best = abs(a[r, c])
                p = r
        if best == 0.0:
            return False
        if p != c:
            for q in range(m):
                a[c, q], a[p, q] = a[p, q], a[c, q]
            b[c], b[p] = b[p], b[c]
        for r in range(c + 1, m):
            f = a[r, c] / a[c, c]
            if f != 0.0:
                for q in range(c, m):
                    a[r, q] -= f * a[c, q]
                b[r] -= f * b[c]
    for c in range(m - 1, -1, -1):
        s = b[c]
        for q in range(c + 1, m):
            s -= a[c, q] * b[q]
        b[c] = s / a[c, c]
        if not np.isfinite(b[c]):
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _weight(d: np.ndarray, wts: np.ndarray, has_w: bool, p: int, px: int) -> float:  # pragma: no cover
    """Weight of pair ``p`` at pixel ``px``: 0 where the pair is not used (no data, or a weight that
    is not finite and positive), else its weight (1 without weights)."""
    if not np.isfinite(d[p, px]):
        return 0.0
    if not has_w:
        return 1.0
    wv = wts[p, px]
    if np.isfinite(wv) and wv > 0.0:
        return wv
    return 0.0


@njit(cache=True, nogil=True)
def _assemble(d: np.ndarray, w: np.ndarray, first: np.ndarray, last: np.ndarray, bw: int, vec: np.ndarray,
              gamma: float, band: np.ndarray, rhs: np.ndarray, cover: np.ndarray) -> None:  # pragma: no cover
    """The band ``B`` ``(n', bw + 1)`` of the pairs plus ``gamma² I``, the right-hand sides
    ``[r, V]`` ``(n', m + 1)`` and the pairs' coverage increments ``cover`` ``(n',)`` of one pixel."""
    n1 = band.shape[0]
    npair = d.shape[0]
    m = vec.shape[1]
    band[:] = 0.0
    rhs[:] = 0.0
    cover[:] = 0.0
    for p in range(npair):
        wp = w[p]
        if wp == 0.0:
            continue
        a, b = first[p] - 1, last[p] - 1  # unknown indices; a = -1: cum[0], fixed
        wd = wp * d[p]
        band[b, 0] += wp
        rhs[b, 0] += wd
        cover[first[p]] += 1.0
        if b + 1 < n1:
            cover[b + 1] -= 1.0
        if a >= 0:
            band[a, 0] += wp
            rhs[a, 0] -= wd
            if b - a <= bw:
                band[a, b - a] -= wp
    for c in range(n1):
        band[c, 0] += gamma * gamma
        for j in range(m):
            rhs[c, j + 1] = vec[c, j]


@njit(cache=True, nogil=True)
def _band_cholesky(band: np.ndarray, bw: int) -> None:  # pragma: no cover - compiled
    """Band Cholesky ``B = L Lᵀ`` in place, ``band[c, q] = B[c + q, c]`` ``(n', bw + 1)``."""
    n1 = band.shape[0]
    for c in range(n1):
        piv = np.sqrt(band[c, 0])
        band[c, 0] = piv
        for q in range(1, bw + 1):
            band[c, q] /= piv
        for u in range(1, min(bw, n1 - 1 - c) + 1):
            lu = band[c, u]
            for q in range(bw - u + 1):
                band[c + u, q] -= lu * band[c, u + q]


@njit(cache=True, nogil=True)
def _band_substitute(band: np.ndarray, bw: int, rhs: np.ndarray) -> None:  # pragma: no cover - compiled
    """``L y = rhs``, then ``Lᵀ x = y``, in place for the ``rhs.shape[1]`` right-hand sides."""
    n1 = band.shape[0]
    nr = rhs.shape[1]
    for c in range(n1):
        piv = band[c, 0]
        for j in range(nr):
            rhs[c, j] /= piv
        for u in range(1, min(bw, n1 - 1 - c) + 1):
            lu = band[c, u]
            for j in range(nr):
                rhs[c + u, j] -= lu * rhs[c, j]
    for c in range(n1 - 1, -1, -1):
        for u in range(1, min(bw, n1 - 1 - c) + 1):
            lu = band[c, u]
            for j in range(nr):
                rhs[c, j] -= lu * rhs[c + u, j]
        piv = band[c, 0]
        for j in range(nr):
            rhs[c, j] /= piv


@njit(cache=True, nogil=True)
def _woodbury(w: np.ndarray, long_pairs: np.ndarray, vec: np.ndarray, rhs: np.ndarray, vty: np.ndarray,
              cap: np.ndarray, z: np.ndarray, x: np.ndarray) -> bool:  # pragma: no cover - compiled
    """``x = B⁻¹r - B⁻¹V (I + D Vᵀ B⁻¹ V)⁻¹ D Vᵀ B⁻¹ r`` from ``rhs = [B⁻¹r, B⁻¹V]`` ``(n', m + 1)``;
    False where the capacitance matrix is singular."""
    n1 = rhs.shape[0]
    m = vec.shape[1]
    nr = m + 1
    nl = long_pairs.shape[0]
    # Vᵀ [B⁻¹r, B⁻¹V] accumulated row by row (contiguous inner loop), then scaled by D
    for i in range(m):
        for j in range(nr):
            vty[i, j] = 0.0
    for c in range(n1):
        for i in range(m):
            vci = vec[c, i]
            for j in range(nr):
                vty[i, j] += vci * rhs[c, j]
    for i in range(m):
        if i < 2 * nl:
            wl = w[long_pairs[i // 2]]
            dgi = -wl if i % 2 == 0 else wl
        else:
            dgi = -1.0
        z[i] = dgi * vty[i, 0]
        for j in range(m):
            cap[i, j] = dgi * vty[i, j + 1] + (1.0 if i == j else 0.0)
    if m and not _small_solve(cap, z):
        return False
    for c in range(n1):
        s = rhs[c, 0]
        for j in range(m):
            s -= rhs[c, j + 1] * z[j]
        x[c] = s
    return True


@njit(cache=True, nogil=True)
def _solve_one(d: np.ndarray, w: np.ndarray, first: np.ndarray, last: np.ndarray, bw: int,
               long_pairs: np.ndarray, vec: np.ndarray, gamma: float, gz: np.ndarray, basis: np.ndarray,
               tails: np.ndarray, band: np.ndarray, rhs: np.ndarray, vty: np.ndarray, cap: np.ndarray,
               z: np.ndarray, cover: np.ndarray, x: np.ndarray) -> int:  # pragma: no cover - compiled
    """One pixel: ``d``/``w`` ``(npair,)`` data (mm) and weights (0 = pair not used); ``x`` ``(n',)``
    receives ``cum[1:]``. The other arrays are scratch. Returns a status code."""
    n1 = band.shape[0]
    npair = d.shape[0]
    # deficiency along the model's null directions (r = 1: the velocity of cum[0] = 0 shapes)
    if gz.shape[1] == 1:
        s = 0.0
        for p in range(npair):
            s += w[p] * gz[p, 0] * gz[p, 0]
        if not s > 0.0:
            return NEEDS_SVD
    _assemble(d, w, first, last, bw, vec, gamma, band, rhs, cover)
    _band_cholesky(band, bw)
    _band_substitute(band, bw, rhs)
    if not _woodbury(w, long_pairs, vec, rhs, vty, cap, z, x):
        return NEEDS_SVD
    # offsets across gaps (intervals that no used pair covers)
    run = 0.0
    ng = 0
    for c in range(n1):
        run += cover[c]
        cover[c] = run
        if run < 0.5:
            ng += 1
    if ng and not _fix_gaps(x, cover, basis, tails, np.int64(ng)):  # int64: not compiled again for a literal
        return NEEDS_SVD
    return OK


@njit(cache=True, nogil=True)
def _fix_gaps(x: np.ndarray, cover: np.ndarray, basis: np.ndarray, tails: np.ndarray,
              ng: int | np.int64) -> bool:  # pragma: no cover - compiled
    """Set the offsets after each gap (``cover < 0.5``) where the objective is stationary along them:
    ``M a = -Sᵀ Eᵀ P E x`` with ``M[g, h] = (n - 1 - max(g, h)) - tails[g]·tails[h]`` (see
    :func:`kansho._nsbas_band.fix_gap_offsets`). Updates ``x`` in place; False if ``M`` is singular."""
    n1 = x.shape[0]
    n = n1 + 1
    r = basis.shape[1]
    gi = np.empty(ng, np.int64)
    k = 0
    for c in range(n1):
        if cover[c] < 0.5:
            gi[k] = c
            k += 1
    proj = np.zeros(r)
    for q in range(r):
        s = 0.0
        for e in range(1, n):
            s += basis[e, q] * x[e - 1]
        proj[q] = s
    ytail = np.zeros(n + 1)
    for e in range(n - 1, -1, -1):
        ye = 0.0 if e == 0 else x[e - 1]
        for q in range(r):
            ye -= basis[e, q] * proj[q]
        ytail[e] = ytail[e + 1] + ye
    mat = np.empty((ng, ng))
    a = np.empty(ng)
    for g in range(ng):
        a[g] = -ytail[gi[g] + 1]
        for h in range(ng):
            s = float(n1 - max(gi[g], gi[h]))
            for q in range(r):
                s -= tails[gi[g], q] * tails[gi[h], q]
            mat[g, h] = s
    if not _small_solve(mat, a):
        return False
    shift = 0.0
    k = 0
    for c in range(n1):
        if k < ng and gi[k] == c:
            shift += a[k]
            k += 1
        x[c] += shift
    return True


#: pixels gathered at once from the (npair, npix) inputs (and scattered to the outputs): the rows of a
#: column stride by npix elements, often a power of two that maps them all to one cache set, so a
#: pixel-by-pixel column read misses on every pair; a tile reads each row's few cache lines at once
TILE = 32


@njit(cache=True, nogil=True)
def _gather(d: np.ndarray, wts: np.ndarray, has_w: bool, cols: np.ndarray, i0: int, i1: int, dl: np.ndarray,
            wl: np.ndarray) -> None:  # pragma: no cover - compiled
    """Data ``dl`` and weights ``wl`` ``(TILE, npair)`` (:func:`_weight`; data 0 where unused) of the
    pixels ``cols[i0:i1]``, read row by row."""
    for p in range(d.shape[0]):
        for i in range(i0, i1):
            px = cols[i]
            wv = _weight(d, wts, has_w, p, px)
            wl[i - i0, p] = wv
            dl[i - i0, p] = d[p, px] if wv != 0.0 else 0.0


@njit(cache=True, nogil=True)
def _finish_pixel(x: np.ndarray, dl: np.ndarray, wl: np.ndarray, first: np.ndarray, last: np.ndarray,
                  to_model: np.ndarray, model: np.ndarray) -> float:  # pragma: no cover - compiled
    """The model ``(nmodel,)`` of one pixel's ``x`` (``cum``, ``x[0] = 0``) and the unweighted RMS of its
    residuals over the used pairs (returned; NaN without any)."""
    n1 = x.shape[0] - 1
    for q in range(to_model.shape[0]):
        s = 0.0
        for c in range(n1):
            s += to_model[q, c] * (x[c + 1] - x[c])
        model[q] = s
    ss = 0.0
    nu = 0
    for p in range(dl.shape[0]):
        if wl[p] != 0.0:
            res = (x[last[p]] - x[first[p]]) - dl[p]
            ss += res * res
            nu += 1
    return np.sqrt(ss / nu) if nu else np.nan


def solve_pixels(d: np.ndarray, wts: np.ndarray, has_w: bool, cols: np.ndarray, first: np.ndarray,
                 last: np.ndarray, bw: int, long_pairs: np.ndarray, vec: np.ndarray, gamma: float, gz: np.ndarray,
                 basis: np.ndarray, tails: np.ndarray, to_model: np.ndarray, cum: np.ndarray, model: np.ndarray,
                 resid: np.ndarray, status: np.ndarray) -> None:
    """Invert the pixels ``cols`` of ``d``; see the module docstring. Tiles of :data:`TILE` pixels run on
    threads (:func:`kansho._threads.run_ranges`; no ``prange``: 8.1 s to compile with it, 5.0 s without);
    each pixel is solved alone, so the result does not depend on the threads.

    Parameters
    ----------
    d:
        ``(npair, npix)`` float64 unwrapped interferograms (mm); NaN = no data.
    wts:
        ``(npair, npix)`` float64 or float32 weights when ``has_w`` (a pair whose weight is not finite
        and positive is not used), else any float64 array (ignored).
    cols:
        ``(k,)`` int64 pixels to invert.
    first, last:
        ``(npair,)`` epoch indices of each pair.
    bw, long_pairs, vec, basis, tails:
        The band layout of :func:`kansho._nsbas_band.band_layout`.
    gz:
        ``(npair, r)`` increments of the model's null directions (deficiency test when r = 1;
        with r > 1 the caller tests and passes only full-rank pixels).
    to_model:
        ``(nmodel, n - 1)``: model = to_model @ inc.
    cum, model, resid, status:
        Outputs, written at ``cols``: ``(n, npix)`` float32 cumulative displacement (mm,
        ``cum[0] = 0``), ``(nmodel, npix)`` float64 model, ``(npix,)`` float32 unweighted RMS of
        the residuals over the used pairs (mm), ``(npix,)`` int8 status (:data:`OK`,
        :data:`NEEDS_SVD`). Columns whose status is not OK are left as they were.
    """
    args = (d, wts, has_w, cols, first, last, bw, long_pairs, vec, gamma, gz, basis, tails, to_model, cum, model,
            resid, status)
    run_ranges(_solve_tiles, (cols.shape[0] + TILE - 1) // TILE, *args)


@njit(cache=True, nogil=True)
def _solve_tiles(tile0: int, tile1: int, d: np.ndarray, wts: np.ndarray, has_w: bool, cols: np.ndarray,
                 first: np.ndarray, last: np.ndarray, bw: int, long_pairs: np.ndarray, vec: np.ndarray, gamma: float,
                 gz: np.ndarray, basis: np.ndarray, tails: np.ndarray, to_model: np.ndarray, cum: np.ndarray,
                 model: np.ndarray, resid: np.ndarray, status: np.ndarray) -> None:  # pragma: no cover - compiled
    """The tiles ``tile0 .. tile1 - 1`` of :func:`solve_pixels`."""
    k = cols.shape[0]
    npair = d.shape[0]
    n1 = vec.shape[0]
    m = vec.shape[1]
    nmodel = to_model.shape[0]
    band = np.empty((n1, bw + 1))  # scratch of the whole range, as a parallel loop hoists it
    rhs = np.empty((n1, m + 1))
    vty = np.empty((max(m, 1), m + 1))
    cap = np.empty((max(m, 1), max(m, 1)))
    z = np.empty(max(m, 1))
    cover = np.empty(n1)
    dl = np.empty((TILE, npair))
    wl = np.empty((TILE, npair))
    xs = np.empty((TILE, n1 + 1))
    ms = np.empty((TILE, nmodel))
    rs = np.empty(TILE)
    sts = np.empty(TILE, np.int8)
    for tile in range(tile0, tile1):
        xs[:] = 0.0
        i0 = tile * TILE
        i1 = min(i0 + TILE, k)
        _gather(d, wts, has_w, cols, i0, i1, dl, wl)
        for t in range(i1 - i0):
            x = xs[t]
            sts[t] = _solve_one(dl[t], wl[t], first, last, bw, long_pairs, vec, gamma, gz, basis, tails, band,
                                rhs, vty, cap, z, cover, x[1:])
            if sts[t] == OK:
                x[0] = 0.0
                rs[t] = _finish_pixel(x, dl[t], wl[t], first, last, to_model, ms[t])
        for t in range(i1 - i0):
            status[cols[i0 + t]] = sts[t]
        for c in range(n1 + 1):
            for t in range(i1 - i0):
                if sts[t] == OK:
                    cum[c, cols[i0 + t]] = xs[t, c]
        for q in range(nmodel):
            for t in range(i1 - i0):
                if sts[t] == OK:
                    model[q, cols[i0 + t]] = ms[t, q]
        for t in range(i1 - i0):
            if sts[t] == OK:
                resid[cols[i0 + t]] = rs[t]
