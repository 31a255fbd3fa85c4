"""Compiled kernel of the NSBAS inversion (numba), the CPU path of :mod:`kansho.inversion`.

The same algorithm as the vectorised numpy path there (:func:`kansho._nsbas_band.banded_normal_solve`
and :func:`kansho._nsbas_band.fix_gap_offsets`), pixel by pixel: the normal equations in cumulative
displacement ``x = cum[1:]`` are the weighted Laplacian of the pixel's pair network plus
``gamma² (I - Q Qᵀ)``; the band part is factorised by a band Cholesky (Golub & Van Loan, Matrix
Computations, 4th ed., Alg. 4.3.5), the long pairs and the model directions enter through the
Sherman–Morrison–Woodbury identity (ibid. §2.1.4), and offsets across network gaps are set where the
objective is stationary along them. The NSBAS formulation is that of López-Quiroz et al. (2009, JAG
69(4)) and Doin et al. (2011, FRINGE), as used by LiCSBAS (Morishita et al. 2020, Remote Sensing
12(3):424).

Pixels go through in tiles of :data:`LANES`: every work array has the tile's pixels as its last,
contiguous axis, so each step of the algorithm is one SIMD loop over the tile (each pixel's arithmetic
is the same, in the same order, as solving it alone: results do not depend on the tiling); only the
pivoted small solves run pixel by pixel. The kernels use numpy's error model (no ``ZeroDivisionError``
test in a division, which would keep the loops scalar): no pivot of the band is 0, as ``gamma > 0``.
Tiles run on all cores (threads over tile ranges) unless ``NUMBA_NUM_THREADS`` says otherwise (dask
workers set it to 1).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._threads import run_ranges

#: status codes of :func:`solve_pixels`
OK, NEEDS_SVD = 0, 1


@njit(**HELPER)
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


@njit(**HELPER, inline="always")
def _weight(x: float, w: float, has_w: bool) -> float:  # pragma: no cover - compiled
    """Weight of a pair's value ``x`` with its weight ``w`` (ignored without ``has_w``: 1): 0 where the pair
    is not used (no data, or a weight that is not finite and positive). Selects, not branches, so a pixel
    loop of it vectorises."""
    wv = np.float64(w) if has_w else 1.0
    ok = (x - x == 0.0) & (wv - wv == 0.0) & (wv > 0.0)
    return wv if ok else 0.0


#: pixels solved together: the last axis of every work array, the length of the SIMD loops
LANES = 64


@njit(**HELPER, inline="always")
def _gather(d: np.ndarray, wts: np.ndarray, has_w: bool, cols: np.ndarray, i0: int, i1: int, dl: np.ndarray,
            wl: np.ndarray) -> None:  # pragma: no cover - compiled
    """Data ``dl`` and weights ``wl`` ``(npair, LANES)`` (:func:`_weight`; data 0 where unused) of the
    pixels ``cols[i0:i1]``, read row by row (a row's pixels share a few cache lines); lanes past them 0."""
    nt = i1 - i0
    px0 = cols[i0]
    run = cols[i1 - 1] - px0 == nt - 1  # consecutive pixels (a whole block): no index lookups
    for p in range(d.shape[0]):
        dlp, wlp = dl[p], wl[p]
        if run and has_w:  # row slices from 0: the loop vectorises
            dp, wp = d[p, px0:px0 + nt], wts[p, px0:px0 + nt]
            for i in range(nt):
                wlp[i] = _weight(dp[i], wp[i], True)
                dlp[i] = dp[i] if wlp[i] != 0.0 else 0.0
        elif run:
            dp = d[p, px0:px0 + nt]
            for i in range(nt):
                wlp[i] = _weight(dp[i], 1.0, False)
                dlp[i] = dp[i] if wlp[i] != 0.0 else 0.0
        else:
            for i in range(nt):
                px = cols[i0 + i]
                wlp[i] = _weight(d[p, px], wts[p, px] if has_w else 1.0, has_w)
                dlp[i] = d[p, px] if wlp[i] != 0.0 else 0.0
        wlp[nt:] = 0.0
        dlp[nt:] = 0.0


@njit(**KERNEL, inline="always")
def _deficient(wl: np.ndarray, gz: np.ndarray, sts: np.ndarray) -> None:  # pragma: no cover - compiled
    """Status :data:`NEEDS_SVD` in ``sts`` for the lanes whose weights leave the model's one null
    direction ``gz`` ``(npair, 1)`` unconstrained (``Σ w gz² = 0``); OK elsewhere."""
    nlane = wl.shape[1]
    sts[:] = OK
    if gz.shape[1] != 1:
        return
    s = np.zeros(nlane)
    for p in range(wl.shape[0]):
        g = gz[p, 0]
        wp = wl[p]
        for t in range(nlane):
            s[t] += wp[t] * g * g
    for t in range(nlane):
        if not s[t] > 0.0:
            sts[t] = NEEDS_SVD


@njit(**HELPER, inline="always")
def _assemble(dl: np.ndarray, wl: np.ndarray, first: np.ndarray, last: np.ndarray, bw: int, vec: np.ndarray,
              gamma: float, band: np.ndarray, rhs: np.ndarray, cover: np.ndarray) -> None:  # pragma: no cover
    """Each lane's band ``B`` ``(n', bw + 1, LANES)`` of the pairs plus ``gamma² I``, right-hand sides
    ``[r, V]`` ``(n', m + 1, LANES)`` and the pairs' coverage increments ``cover`` ``(n', LANES)``. A pair
    unused in a lane (weight 0) adds exact zeros there."""
    n1 = band.shape[0]
    nlane = band.shape[2]
    band[:] = 0.0
    rhs[:] = 0.0
    cover[:] = 0.0
    for p in range(dl.shape[0]):
        a, b = first[p] - 1, last[p] - 1  # unknown indices; a = -1: cum[0], fixed
        wp, dp = wl[p], dl[p]
        bb, rb, cf = band[b, 0], rhs[b, 0], cover[first[p]]
        for t in range(nlane):
            bb[t] += wp[t]
            rb[t] += wp[t] * dp[t]
            cf[t] += 1.0 if wp[t] != 0.0 else 0.0
        if b + 1 < n1:
            cb = cover[b + 1]
            for t in range(nlane):
                cb[t] -= 1.0 if wp[t] != 0.0 else 0.0
        if a >= 0:
            ba, ra = band[a, 0], rhs[a, 0]
            for t in range(nlane):
                ba[t] += wp[t]
                ra[t] -= wp[t] * dp[t]
            if b - a <= bw:
                bo = band[a, b - a]
                for t in range(nlane):
                    bo[t] -= wp[t]
    for c in range(n1):
        bc = band[c, 0]
        for t in range(nlane):
            bc[t] += gamma * gamma
        for j in range(vec.shape[1]):
            rj = rhs[c, j + 1]
            for t in range(nlane):
                rj[t] = vec[c, j]


@njit(**HELPER, inline="always")
def _band_cholesky(band: np.ndarray, bw: int) -> None:  # pragma: no cover - compiled
    """Band Cholesky ``B = L Lᵀ`` of every lane in place, ``band[c, q] = B[c + q, c]`` ``(n', bw + 1, LANES)``."""
    n1 = band.shape[0]
    nlane = band.shape[2]
    for c in range(n1):
        piv = band[c, 0]
        for t in range(nlane):
            piv[t] = np.sqrt(piv[t])
        for q in range(1, bw + 1):
            bq = band[c, q]
            for t in range(nlane):
                bq[t] /= piv[t]
        for u in range(1, min(bw, n1 - 1 - c) + 1):
            lu = band[c, u]
            for q in range(bw - u + 1):
                dst, src = band[c + u, q], band[c, u + q]
                for t in range(nlane):
                    dst[t] -= lu[t] * src[t]


@njit(**HELPER, inline="always")
def _band_substitute(band: np.ndarray, bw: int, rhs: np.ndarray, start: np.ndarray) -> None:  # pragma: no cover
    """``L y = rhs``, then ``Lᵀ x = y``, in place for every lane's ``rhs.shape[1]`` right-hand sides. Right-hand
    side ``j`` is +0 above row ``start[j]``: the forward pass leaves those rows as they are (``+0 / piv`` and
    ``x - l·0`` change nothing, ``L`` being finite), so it begins there."""
    n1 = band.shape[0]
    nr = rhs.shape[1]
    nlane = band.shape[2]
    for c in range(n1):
        piv = band[c, 0]
        for j in range(nr):
            if c < start[j]:
                continue
            rc = rhs[c, j]
            for t in range(nlane):
                rc[t] /= piv[t]
        for u in range(1, min(bw, n1 - 1 - c) + 1):
            lu = band[c, u]
            for j in range(nr):
                if c < start[j]:
                    continue
                dst, src = rhs[c + u, j], rhs[c, j]
                for t in range(nlane):
                    dst[t] -= lu[t] * src[t]
    for c in range(n1 - 1, -1, -1):
        for u in range(1, min(bw, n1 - 1 - c) + 1):
            lu = band[c, u]
            for j in range(nr):
                dst, src = rhs[c, j], rhs[c + u, j]
                for t in range(nlane):
                    dst[t] -= lu[t] * src[t]
        piv = band[c, 0]
        for j in range(nr):
            rc = rhs[c, j]
            for t in range(nlane):
                rc[t] /= piv[t]


@njit(**HELPER, inline="always")
def _nonzero_rows(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The non-zero rows of each column of ``vec`` ``(n', m)``, in increasing order: ``vrow[vptr[i]:vptr[i + 1]]``."""
    n1, m = vec.shape
    vptr = np.zeros(m + 1, np.int64)
    vrow = np.empty(max(n1 * m, 1), np.int64)
    k = 0
    for i in range(m):
        for c in range(n1):
            if vec[c, i] != 0.0:
                vrow[k] = c
                k += 1
        vptr[i + 1] = k
    return vptr, vrow


@njit(**HELPER, inline="always")
def _woodbury(wl: np.ndarray, long_pairs: np.ndarray, vec: np.ndarray, vptr: np.ndarray, vrow: np.ndarray,
              rhs: np.ndarray, vty: np.ndarray, cap: np.ndarray, z: np.ndarray, capl: np.ndarray, zl: np.ndarray,
              sts: np.ndarray, xs: np.ndarray) -> None:  # pragma: no cover - compiled
    """``x = B⁻¹r - B⁻¹V (I + D Vᵀ B⁻¹ V)⁻¹ D Vᵀ B⁻¹ r`` into ``xs[1:]`` ``(n', LANES)`` from ``rhs =
    [B⁻¹r, B⁻¹V]`` ``(n', m + 1, LANES)``; status :data:`NEEDS_SVD` where the capacitance matrix is
    singular (solved lane by lane, pivoted, in ``capl``, ``zl``). ``Vᵀ`` is applied through the non-zero
    rows of each column of ``V`` (``vptr``, ``vrow``: :func:`_nonzero_rows`; a long pair's column has two):
    each sum is the dense one's, in its order, less terms that are exact zeros (B⁻¹'s columns are finite, so
    ``0 · x`` is a zero, which changes no sum started from +0)."""
    n1 = rhs.shape[0]
    m = vec.shape[1]
    nr = m + 1
    nlane = rhs.shape[2]
    nl = long_pairs.shape[0]
    vty[:] = 0.0  # Vᵀ [B⁻¹r, B⁻¹V] accumulated row by row (the non-zero rows of V's column), then scaled by D
    for i in range(m):
        for k in range(vptr[i], vptr[i + 1]):
            c = vrow[k]
            vci = vec[c, i]
            for j in range(nr):
                dst, src = vty[i, j], rhs[c, j]
                for t in range(nlane):
                    dst[t] += vci * src[t]
    dg = np.empty(nlane)
    for i in range(m):  # D: -w, +w for the two terms of a long pair, -1 for a model direction
        for t in range(nlane):
            dg[t] = (-wl[long_pairs[i // 2], t] if i % 2 == 0 else wl[long_pairs[i // 2], t]) if i < 2 * nl else -1.0
        zi, v0 = z[i], vty[i, 0]
        for t in range(nlane):
            zi[t] = dg[t] * v0[t]
        for j in range(m):
            cij, vj = cap[i, j], vty[i, j + 1]
            one = 1.0 if i == j else 0.0
            for t in range(nlane):
                cij[t] = dg[t] * vj[t] + one
    for t in range(nlane):
        if m == 0 or sts[t] != OK:
            continue
        for i in range(m):  # element by element: numba's array-to-slice assignment is slow to compile
            zl[i] = z[i, t]
            for j in range(m):
                capl[i, j] = cap[i, j, t]
        if not _small_solve(capl, zl):
            sts[t] = NEEDS_SVD
            continue
        for i in range(m):
            z[i, t] = zl[i]
    xs[0, :] = 0.0
    for c in range(n1):
        xc, r0 = xs[c + 1], rhs[c, 0]
        for t in range(nlane):
            xc[t] = r0[t]
        for j in range(m):
            rj, zj = rhs[c, j + 1], z[j]
            for t in range(nlane):
                xc[t] -= rj[t] * zj[t]


@njit(**HELPER, inline="always")
def _gap_tails(xs: np.ndarray, cover: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per lane, the coverage of each interval (``cover`` ``(n', LANES)`` summed in place), the number of
    gaps (``cover < 0.5``) and the tails ``ytail`` ``(n + 1, LANES)`` of ``x`` (``xs`` ``(n, LANES)``)
    less its projection on the model ``basis``: ``ytail[e] = Σ_{f >= e} (x - Q Qᵀ x)[f]``."""
    n1 = cover.shape[0]
    nlane = cover.shape[1]
    n = n1 + 1
    run = np.zeros(nlane)
    ngv = np.zeros(nlane, np.int64)
    for c in range(n1):
        cc = cover[c]
        for t in range(nlane):
            run[t] += cc[t]
            cc[t] = run[t]
            ngv[t] += 1 if run[t] < 0.5 else 0
    proj = np.zeros((basis.shape[1], nlane))
    for q in range(basis.shape[1]):
        pq = proj[q]
        for e in range(1, n):
            bq, xe = basis[e, q], xs[e]
            for t in range(nlane):
                pq[t] += bq * xe[t]
    ytail = np.zeros((n + 1, nlane))
    ye = np.empty(nlane)
    for e in range(n - 1, -1, -1):
        for t in range(nlane):
            ye[t] = 0.0 if e == 0 else xs[e, t]
        for q in range(basis.shape[1]):
            bq, pq = basis[e, q], proj[q]
            for t in range(nlane):
                ye[t] -= bq * pq[t]
        y1, y0 = ytail[e + 1], ytail[e]
        for t in range(nlane):
            y0[t] = y1[t] + ye[t]
    return ngv, ytail


@njit(**HELPER, inline="always")
def _fix_gaps(xs: np.ndarray, cover: np.ndarray, basis: np.ndarray, tails: np.ndarray,
              sts: np.ndarray) -> None:  # pragma: no cover - compiled
    """Set each lane's offsets after its gaps (intervals no used pair covers; ``cover`` the coverage
    increments) where the objective is stationary along them: ``M a = -Sᵀ Eᵀ P E x`` with ``M[g, h] =
    (n - 1 - max(g, h)) - tails[g]·tails[h]`` (see :func:`kansho._nsbas_band.fix_gap_offsets`). Updates
    ``xs`` ``(n, LANES)`` in place; status :data:`NEEDS_SVD` where ``M`` is singular."""
    n1 = cover.shape[0]
    ngv, ytail = _gap_tails(xs, cover, basis)
    gi = np.empty(n1, np.int64)
    mat_buf = np.empty(n1 * n1)  # room for every lane's M and a (no allocation per pixel)
    a_buf = np.empty(n1)
    for t in range(cover.shape[1]):
        ng = ngv[t]
        if ng == 0 or sts[t] != OK:
            continue
        k = 0
        for c in range(n1):
            if cover[c, t] < 0.5:
                gi[k] = c
                k += 1
        mat = mat_buf[:ng * ng].reshape((ng, ng))
        a = a_buf[:ng]
        for g in range(ng):
            a[g] = -ytail[gi[g] + 1, t]
            for h in range(ng):
                s = float(n1 - max(gi[g], gi[h]))
                for q in range(tails.shape[1]):
                    s -= tails[gi[g], q] * tails[gi[h], q]
                mat[g, h] = s
        if not _small_solve(mat, a):
            sts[t] = NEEDS_SVD
            continue
        shift = 0.0
        k = 0
        for c in range(n1):
            if k < ng and gi[k] == c:
                shift += a[k]
                k += 1
            xs[c + 1, t] += shift


@njit(**KERNEL, inline="always")
def _finish(xs: np.ndarray, dl: np.ndarray, wl: np.ndarray, first: np.ndarray, last: np.ndarray,
            to_model: np.ndarray, ms: np.ndarray, rs: np.ndarray) -> None:  # pragma: no cover - compiled
    """Each lane's model ``ms`` ``(nmodel, LANES)`` of its ``cum`` ``xs`` ``(n, LANES)`` and the unweighted
    RMS ``rs`` of its residuals over the used pairs (NaN without any)."""
    n1 = xs.shape[0] - 1
    nlane = xs.shape[1]
    for q in range(to_model.shape[0]):
        mq = ms[q]
        mq[:] = 0.0
        for c in range(n1):
            tm, x1, x0 = to_model[q, c], xs[c + 1], xs[c]
            for t in range(nlane):
                mq[t] += tm * (x1[t] - x0[t])
    ss = np.zeros(nlane)
    nu = np.zeros(nlane, np.int64)
    for p in range(dl.shape[0]):
        xl, xf, wp, dp = xs[last[p]], xs[first[p]], wl[p], dl[p]
        for t in range(nlane):
            res = (xl[t] - xf[t]) - dp[t]
            used = wp[t] != 0.0
            ss[t] += res * res if used else 0.0
            nu[t] += 1 if used else 0
    for t in range(nlane):
        rs[t] = np.sqrt(ss[t] / nu[t]) if nu[t] else np.nan


@njit(**HELPER, inline="always")
def _put_tile(cols: np.ndarray, sts: np.ndarray, xs: np.ndarray, ms: np.ndarray, rs: np.ndarray, cum: np.ndarray,
              model: np.ndarray, resid: np.ndarray, status: np.ndarray) -> None:  # pragma: no cover - compiled
    """A tile's status at its pixels ``cols``, and where it is :data:`OK` its series ``xs``, model ``ms`` and
    residual RMS ``rs``: row after row of the outputs, so a run of pixels is written along each row."""
    nt = cols.shape[0]
    for t in range(nt):
        status[cols[t]] = sts[t]
    for c in range(xs.shape[0]):
        xc = xs[c]
        for t in range(nt):
            if sts[t] == OK:
                cum[c, cols[t]] = xc[t]
    for q in range(ms.shape[0]):
        mq = ms[q]
        for t in range(nt):
            if sts[t] == OK:
                model[q, cols[t]] = mq[t]
    for t in range(nt):
        if sts[t] == OK:
            resid[cols[t]] = rs[t]


def solve_pixels(d: np.ndarray, wts: np.ndarray, has_w: bool, cols: np.ndarray, first: np.ndarray,
                 last: np.ndarray, bw: int, long_pairs: np.ndarray, vec: np.ndarray, gamma: float, gz: np.ndarray,
                 basis: np.ndarray, tails: np.ndarray, to_model: np.ndarray, cum: np.ndarray, model: np.ndarray,
                 resid: np.ndarray, status: np.ndarray) -> None:
    """Invert the pixels ``cols`` of ``d``; see the module docstring. Tiles of :data:`LANES` pixels run on
    threads (:func:`kansho._threads.run_ranges`; no ``prange``: it compiles a kernel twice); each
    pixel's arithmetic is its own, so the result depends neither on the threads nor on the tiles.

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
    run_ranges(_solve_tiles, (cols.shape[0] + LANES - 1) // LANES, *args)


@njit(**KERNEL)
def _solve_tiles(tile0: int, tile1: int, d: np.ndarray, wts: np.ndarray, has_w: bool, cols: np.ndarray,
                 first: np.ndarray, last: np.ndarray, bw: int, long_pairs: np.ndarray, vec: np.ndarray, gamma: float,
                 gz: np.ndarray, basis: np.ndarray, tails: np.ndarray, to_model: np.ndarray, cum: np.ndarray,
                 model: np.ndarray, resid: np.ndarray, status: np.ndarray) -> None:  # pragma: no cover - compiled
    """The tiles ``tile0 .. tile1 - 1`` of :func:`solve_pixels`."""
    k = cols.shape[0]
    n1, m = vec.shape
    mm = max(m, 1)
    band = np.empty((n1, bw + 1, LANES))  # scratch of the whole range
    rhs = np.empty((n1, m + 1, LANES))
    vty = np.empty((mm, m + 1, LANES))
    cap = np.empty((mm, mm, LANES))
    z = np.empty((mm, LANES))
    capl = np.empty((mm, mm))
    zl = np.empty(mm)
    cover = np.empty((n1, LANES))
    dl = np.empty((d.shape[0], LANES))
    wl = np.empty((d.shape[0], LANES))
    xs = np.empty((n1 + 1, LANES))
    ms = np.empty((to_model.shape[0], LANES))
    rs = np.empty(LANES)
    sts = np.empty(LANES, np.int8)
    vptr, vrow = _nonzero_rows(vec)
    start = np.zeros(m + 1, np.int64)  # the first row of each right-hand side that is not +0: r's 0, V's columns'
    for i in range(m):
        c = 0
        while c < n1 and vec[c, i] == 0.0 and math.copysign(1.0, vec[c, i]) > 0.0:
            c += 1
        start[i + 1] = c
    for tile in range(tile0, tile1):
        i0 = tile * LANES
        i1 = min(i0 + LANES, k)
        _gather(d, wts, has_w, cols, i0, i1, dl, wl)
        _deficient(wl, gz, sts)
        _assemble(dl, wl, first, last, bw, vec, gamma, band, rhs, cover)
        _band_cholesky(band, bw)
        _band_substitute(band, bw, rhs, start)
        _woodbury(wl, long_pairs, vec, vptr, vrow, rhs, vty, cap, z, capl, zl, sts, xs)
        _fix_gaps(xs, cover, basis, tails, sts)
        _finish(xs, dl, wl, first, last, to_model, ms, rs)
        _put_tile(cols[i0:i1], sts, xs, ms, rs, cum, model, resid, status)
