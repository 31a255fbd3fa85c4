"""Compiled per-pixel kernels of :mod:`kansho.outliers`: the residual cycle check of a small-baseline
network (data snooping with integer-cycle correction) and the bridges of a pixel's pair network.

One pixel at a time in compiled code (columns on threads: :func:`kansho._threads.run_ranges`). A pair
``p = (i, j)`` is the indicator row ``g_p`` of the increments ``i .. j-1``; ``N = Gᵀ W G`` (plus a tiny
ridge for disconnected networks) is banded (half bandwidth: the longest pair's span less one), so it is
factorised as a band ``L D Lᵀ`` and only the band of ``N⁻¹`` is formed (:func:`_factor`): the hat values
need no more, and the correlations of the worst pair with the others, and the residuals after its
correction, come from one band solve, O(npair) look-ups in its prefix sums.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL
from kansho._threads import run_ranges

#: value of a fix for "null this pair at this pixel"
NULL = -128
#: largest distance (fraction of a cycle) of a pair's estimated error from whole cycles for a correction
WHOLE_TOL = 0.3
#: largest σ of a pair's estimated error (fraction of a cycle) for a correction: at 1/8 the half cycle
#: that separates two whole numbers is 4 σ away (a wrong integer ~6e-5), and noise must reach 5.6 σ
#: to pass for a whole cycle (:data:`WHOLE_TOL`); beyond it an outlier is nulled, not guessed
RESOLVE = 0.125


@njit(**KERNEL)
def _factor(w: np.ndarray, use: np.ndarray, ends: np.ndarray, m: int, ridge: float, L: np.ndarray, D: np.ndarray,
            S: np.ndarray) -> int:  # pragma: no cover - compiled
    """``N = Gᵀ W G`` of the pairs ``use`` (plus the ridge) as ``L D Lᵀ`` (``L`` unit lower, in place in the
    (m, m) ``L``, ``D`` (m,)) and the entries of ``N⁻¹`` within its band in ``S`` (lower triangle). The
    matrix is banded: a pair covers the increments ``i .. j-1``, so ``N[a, b] = 0`` beyond the longest
    pair's span. Band LDLᵀ (Golub & Van Loan, *Matrix Computations*, 4th ed., §4.3) and the band of the
    inverse by Takahashi's recurrence (Takahashi, Fagan & Chin 1973; Erisman & Tinney 1975, *Comm. ACM*
    18(3):177): O(m·bw²) against O(m³) for the whole inverse, and every quantity of the check (hat values,
    residuals, the correlations of one pair with the others) needs only those entries or a band solve.
    Returns the half bandwidth, or -1 when the matrix is not positive definite."""
    bw = 0
    for p in range(use.size):
        if use[p]:
            bw = max(bw, ends[p, 1] - ends[p, 0] - 1)
    bw = min(bw, m - 1)
    for a in range(m):
        for b in range(max(0, a - bw), a + 1):
            L[a, b] = 0.0
    for p in range(use.size):
        if not use[p]:
            continue
        i, j = ends[p, 0], ends[p, 1]
        for a in range(i, j):
            for b in range(i, a + 1):
                L[a, b] += w[p]
    scale = 0.0
    for a in range(m):
        scale = max(scale, L[a, a])
    for a in range(m):
        L[a, a] += ridge * max(scale, 1.0)
    for c in range(m):  # band LDLᵀ, column by column, in place (N's lower band is read before it is overwritten)
        d = L[c, c]
        for k in range(max(0, c - bw), c):
            d -= L[c, k] * L[c, k] * D[k]
        if not d > 0.0:
            return -1
        D[c] = d
        L[c, c] = 1.0
        for a in range(c + 1, min(m, c + bw + 1)):
            v = L[a, c]
            for k in range(max(0, a - bw), c):
                v -= L[a, k] * L[c, k] * D[k]
            L[a, c] = v / d
    for c in range(m - 1, -1, -1):  # Takahashi: N⁻¹ = D⁻¹ L⁻¹ + (I − Lᵀ) N⁻¹, within the band
        hi = min(m - 1, c + bw)
        for a in range(hi, c, -1):
            v = 0.0
            for k in range(c + 1, hi + 1):
                v -= (S[a, k] if a >= k else S[k, a]) * L[k, c]
            S[a, c] = v
        v = 1.0 / D[c]
        for k in range(c + 1, hi + 1):
            v -= S[k, c] * L[k, c]
        S[c, c] = v
    return bw


@njit(**KERNEL)
def _hat(S: np.ndarray, i: int, j: int) -> float:  # pragma: no cover - compiled
    """``g_(i,j)ᵀ N⁻¹ g_(i,j)``: the sum of ``N⁻¹`` over the increments ``i .. j-1`` (within the band)."""
    v = 0.0
    for a in range(i, j):
        v += S[a, a]
        for b in range(i, a):
            v += 2.0 * S[a, b]
    return v


@njit(**KERNEL)
def _band_solve(L: np.ndarray, D: np.ndarray, bw: int, x: np.ndarray) -> None:  # pragma: no cover - compiled
    """``x ← N⁻¹ x`` from the band ``L D Lᵀ`` of :func:`_factor`."""
    m = x.size
    for a in range(m):
        v = x[a]
        for k in range(max(0, a - bw), a):
            v -= L[a, k] * x[k]
        x[a] = v
    for a in range(m):
        x[a] /= D[a]
    for a in range(m - 1, -1, -1):
        v = x[a]
        for k in range(a + 1, min(m, a + bw + 1)):
            v -= L[k, a] * x[k]
        x[a] = v


@njit(**HELPER)
def _residuals(y: np.ndarray, w: np.ndarray, use: np.ndarray, ends: np.ndarray, m: int, L: np.ndarray,
               D: np.ndarray, bw: int, r: np.ndarray, x: np.ndarray, cx: np.ndarray) -> None:  # pragma: no cover
    """Least-squares residuals ``r = y - G x`` of the pairs ``use`` (NaN elsewhere); ``x`` (m,) and ``cx``
    (m + 1,) are scratch."""
    for a in range(m):
        x[a] = 0.0
    for p in range(use.size):
        if use[p]:
            for a in range(ends[p, 0], ends[p, 1]):
                x[a] += w[p] * y[p]
    _band_solve(L, D, bw, x)
    cx[0] = 0.0
    for a in range(m):
        cx[a + 1] = cx[a] + x[a]
    for p in range(use.size):
        r[p] = y[p] - (cx[ends[p, 1]] - cx[ends[p, 0]]) if use[p] else np.nan


@njit(**HELPER)
def _covered(L: np.ndarray, D: np.ndarray, bw: int, i: int, j: int, m: int, z: np.ndarray,
             c: np.ndarray) -> None:  # pragma: no cover - compiled
    """Prefix sums ``c`` (m+1,) of ``N⁻¹ g_(i,j)``: ``g_(k,l)ᵀ N⁻¹ g_(i,j)`` is ``c[l] − c[k]``; ``z`` (m,) is
    scratch."""
    for a in range(m):
        z[a] = 1.0 if i <= a < j else 0.0
    _band_solve(L, D, bw, z)
    c[0] = 0.0
    for a in range(m):
        c[a + 1] = c[a] + z[a]


@njit(**KERNEL)
def _median_destroy(a: np.ndarray, n: int) -> float:  # pragma: no cover - compiled
    """The median of ``a[:n]`` (n >= 1), reordering it: NaN if any is NaN, else for even ``n`` the mean of the
    two middle values, as ``np.median``. Wirth's selection (Algorithms + Data Structures = Programs, 1976, §2.3.4):
    numba's own ``np.median`` costs ~0.8 s of compilation on first use, this a tenth of it."""
    for i in range(n):
        if np.isnan(a[i]):
            return np.nan
    k = n // 2
    lo, hi = 0, n - 1
    while lo < hi:
        x = a[k]
        i, j = lo, hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    upper = a[k]
    if n % 2:
        return upper
    lower = a[0]  # the largest of a[:k], all <= a[k] after the selection
    for i in range(1, k):
        lower = max(lower, a[i])
    return (lower + upper) / 2


@njit(**HELPER)
def _worst(r: np.ndarray, w: np.ndarray, use: np.ndarray, ends: np.ndarray, S: np.ndarray, red_min: float,
           red: np.ndarray, z: np.ndarray) -> tuple[float, int, float]:  # pragma: no cover - compiled
    """The largest w-test statistic among the testable pairs: (statistic, pair or -1, noise scale).

    Fills ``red`` (1 - hat value) for the pairs ``use``. The noise scale is robust (1.4826 × the
    median of the standardised residuals), so that a second error at the pixel does not hide the
    first by inflating it; -1 when fewer than three pairs are testable or the scale is 0. ``z`` (npair,)
    is scratch."""
    npair = r.size
    nz = 0
    for p in range(npair):
        if not use[p]:
            continue
        red[p] = 1.0 - w[p] * _hat(S, ends[p, 0], ends[p, 1])
        if red[p] < red_min:
            continue
        z[nz] = abs(r[p]) * np.sqrt(w[p] / red[p])
        nz += 1
    if nz < 3:
        return 0.0, -1, 0.0
    sig = 1.4826 * _median_destroy(z, int(nz))  # int(): not also compiled for the literal 0 that nz starts as
    if not sig > 0:
        return 0.0, -1, 0.0
    best, bp = 0.0, -1
    for p in range(npair):
        if use[p] and red[p] >= red_min:
            stat = abs(r[p]) * np.sqrt(w[p] / red[p]) / sig
            if stat > best:
                best, bp = stat, p
    return best, bp, sig


@njit(**HELPER)
def _check_pixel(yy: np.ndarray, w: np.ndarray, ends: np.ndarray, ne: int, cycle: float, crit: float,
                 max_iter: int, red_min: float, amb: float, ridge: float, fix: np.ndarray, use: np.ndarray,
                 L: np.ndarray, S: np.ndarray, vec: np.ndarray) -> None:  # pragma: no cover - compiled
    """Data snooping at one pixel (see :func:`kansho.outliers.residual_cycle_check`); writes ``fix`` (npair,),
    corrects ``yy`` (npair,). ``use`` (npair,) bool, ``L`` and ``S`` (ne - 1, ne - 1) and ``vec`` (4, k) with
    k >= max(npair, 2·ne - 1) are scratch (every value is set here before it is read). Plain loops and no
    allocation: the batch of :func:`_check_columns` allocates once (numpy's array expressions and copies
    cost ~0.5 s more compilation here)."""
    npair = yy.size
    m = ne - 1
    D, cx, r, red, z = vec[0, :m], vec[0, m:2 * m + 1], vec[1, :npair], vec[2, :npair], vec[3]
    for p in range(npair):
        use[p] = np.isfinite(yy[p]) and w[p] > 0
        red[p] = 1.0
    bw = -1
    stale = True
    for _ in range(max_iter):
        if stale:
            bw = _factor(w, use, ends, m, ridge, L, D, S)
            if bw < 0:
                return
            _residuals(yy, w, use, ends, m, L, D, bw, r, z[:m], cx)
            stale = False
        best, bp, sig = _worst(r, w, use, ends, S, red_min, red, z)
        if bp < 0 or best < crit:
            return
        i, j = ends[bp, 0], ends[bp, 1]
        red_p = red[bp]
        delta = r[bp] / red_p  # least-squares estimate of the pair's own error, σ sig / √(w (1 - h))
        k = np.rint(delta / cycle)
        if k == 0:
            return  # an outlier under half a cycle: not an unwrapping error (left to the mask)
        if sig / np.sqrt(w[bp] * red_p) > RESOLVE * cycle:
            fix[bp] = NULL  # off by a cycle or more, by how many the data cannot say: not guessed
            use[bp] = False
            stale = True
            continue
        if abs(delta - k * cycle) > WHOLE_TOL * cycle:
            return  # an outlier, but not whole cycles: left to the mask (noise, not unwrapping)
        c = cx
        _covered(L, D, bw, i, j, m, z[:m], c)  # g_qᵀ N⁻¹ g_p = c[l] − c[k] for every pair q = (k, l)
        # pairs whose residuals move with this one: the data cannot tell them apart
        n_amb = 0
        for q in range(npair):
            if q == bp or not use[q]:
                continue
            red_q = red[q]
            if red_q < red_min:
                continue
            rho = -(c[ends[q, 1]] - c[ends[q, 0]]) * np.sqrt(w[bp] * w[q] / (red_p * red_q))
            if abs(rho) > amb:
                fix[q] = NULL
                use[q] = False
                n_amb += 1
        if n_amb:
            fix[bp] = NULL
            use[bp] = False
            stale = True
            continue
        fix[bp] = fix[bp] + np.int8(k) if fix[bp] != NULL else NULL
        corr = k * cycle
        yy[bp] -= corr
        # rank-one update of the residuals: r_q -= corr (q == p) - corr w_p g_qᵀ N⁻¹ g_p
        for q in range(npair):
            if use[q]:
                r[q] += corr * w[bp] * (c[ends[q, 1]] - c[ends[q, 0]])
        r[bp] -= corr


def check_pixels(ifg: np.ndarray, weights: np.ndarray, ends: np.ndarray, ne: int, cycle: float, crit: float,
                 max_iter: int, red_min: float, amb: float, ridge: float) -> np.ndarray:
    """Every column of ``ifg`` (npair, npix): the fix (npair, npix) int8 of :func:`_check_pixel`, the
    columns on threads (:func:`kansho._threads.run_ranges`)."""
    fix = np.zeros(ifg.shape, np.int8)
    run_ranges(_check_columns, ifg.shape[1], ifg, weights, ends, ne, cycle, crit, max_iter, red_min, amb, ridge, fix)
    return fix


@njit(**KERNEL)
def _check_columns(c0: int, c1: int, ifg: np.ndarray, weights: np.ndarray, ends: np.ndarray, ne: int, cycle: float,
                   crit: float, max_iter: int, red_min: float, amb: float, ridge: float,
                   fix: np.ndarray) -> None:  # pragma: no cover - compiled
    """Columns ``c0 .. c1 - 1`` of :func:`check_pixels`."""
    npair = ifg.shape[0]
    m = ne - 1
    y, w = np.empty(npair), np.empty(npair)
    f = np.empty(npair, np.int8)
    use = np.empty(npair, np.bool_)
    L, S = np.empty((m, m)), np.empty((m, m))
    vec = np.empty((4, max(npair, 2 * m + 1)))
    for c in range(c0, c1):
        for p in range(npair):  # element by element: numba's slice copies and assignments compile slowly
            y[p] = ifg[p, c]
            w[p] = weights[p, c]
            f[p] = 0
        _check_pixel(y, w, ends, ne, cycle, crit, max_iter, red_min, amb, ridge, f, use, L, S, vec)
        for p in range(npair):
            fix[p, c] = f[p]


@njit(**HELPER)
def _bridges_column(valid: np.ndarray, deg: np.ndarray, adj_v: np.ndarray, adj_e: np.ndarray, ne: int,
                    disc: np.ndarray, low: np.ndarray, pedge: np.ndarray, nxt: np.ndarray, stack: np.ndarray,
                    out: np.ndarray) -> int:  # pragma: no cover - compiled
    """Bridges of the pair graph of one pixel's ``valid`` (npair,) (Tarjan 1974, iterative depth-first search):
    ``out[p]`` set True for a valid pair that lies on no cycle (``out`` zeroed by the caller); returns their
    number. The graph is walked on the whole network's adjacency (``deg`` (ne + 1,) offsets into ``adj_v``,
    ``adj_e`` (2 npair,): the other end and the pair), its pairs not valid here skipped, so nothing is built
    per pixel. ``disc``, ``low``, ``pedge``, ``stack`` (ne,) and ``nxt`` (ne + 1,) are work space."""
    for e in range(ne + 1):  # not nxt[:] = deg: numba's array-to-slice assignment costs ~1.5 s to compile
        nxt[e] = deg[e]
    for v in range(ne):
        disc[v] = -1
        pedge[v] = -1
    timer = 0
    n = 0
    for root in range(ne):
        if disc[root] >= 0:
            continue
        top = 0
        stack[0] = root
        disc[root] = low[root] = timer
        timer += 1
        while top >= 0:
            u = stack[top]
            if nxt[u] < deg[u + 1]:
                k = nxt[u]
                nxt[u] += 1
                e = adj_e[k]
                if not valid[e] or e == pedge[u]:
                    continue
                v = adj_v[k]
                if disc[v] < 0:
                    disc[v] = low[v] = timer
                    timer += 1
                    pedge[v] = e
                    top += 1
                    stack[top] = v
                elif disc[v] < low[u]:
                    low[u] = disc[v]
            else:
                top -= 1
                if top >= 0:
                    par = stack[top]
                    if low[u] < low[par]:
                        low[par] = low[u]
                    if low[u] > disc[par]:
                        out[pedge[u]] = True
                        n += 1
    return n


#: pixels per parallel chunk of :func:`bridges` (work space allocated once per chunk)
BRIDGE_CHUNK = 512


@njit(**HELPER)
def _pack_columns(valid: np.ndarray, a: int, b: int, words: np.ndarray) -> None:  # pragma: no cover - compiled
    """``words[c]`` |= the valid pairs of column ``a + c`` of ``valid`` (npair, npix) as bits, for ``c`` in
    ``0 .. b - a - 1``: pair after pair, so ``valid``'s rows are read in order."""
    for p in range(valid.shape[0]):
        k = p >> 6
        bit = np.uint64(1) << np.uint64(p & 63)
        vp = valid[p, a:b]
        for c in range(b - a):
            words[c, k] |= bit if vp[c] else np.uint64(0)


@njit(**HELPER)
def _hash_words(w: np.ndarray) -> int:  # pragma: no cover - compiled
    """A hash (non-negative int64) of the 64-bit words ``w``."""
    h = np.uint64(0)
    for k in range(w.size):
        h = (h ^ w[k]) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
    return int(h >> np.uint64(1))


@njit(**HELPER)
def _same_words(u: np.ndarray, w: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether the word rows ``u`` and ``w`` are equal."""
    for k in range(u.size):  # noqa: SIM110 - numba compiles no generator in all()
        if u[k] != w[k]:
            return False
    return True


def bridges(valid: np.ndarray, ends: np.ndarray, ne: int) -> np.ndarray:
    """Per column of ``valid`` (npair, npix) bool: the pairs on no cycle of that pixel's network.

    Pixels run in chunks (on threads: :func:`kansho._threads.run_ranges`), each column's valid pairs
    first packed into 64-bit words, read row by row (a column of the full array strides by npix bytes,
    often a power of two that maps every row to one cache set). A column equal to one before it in the
    thread's range (neighbouring pixels often share their valid pairs; an M block has a third as many
    patterns as pixels) reuses its result, found by a hash of its words; so does every column with all
    pairs valid after the first."""
    out = np.zeros(valid.shape, np.bool_)
    _run_bridges(valid, ends, ne, out)
    return out


def bridge_counts(valid: np.ndarray, ends: np.ndarray, ne: int) -> np.ndarray:
    """Per column of ``valid`` (npair, npix) bool: the number (int32) of pairs on no cycle of that pixel's network,
    as :func:`bridges` finds them, without the (npair, npix) array (the same compiled kernel)."""
    return _run_bridges(valid, ends, ne, np.zeros((0, 0), np.bool_))


def _run_bridges(valid: np.ndarray, ends: np.ndarray, ne: int, out: np.ndarray) -> np.ndarray:
    """:func:`_bridge_chunks` over every column of ``valid`` on threads, the pairs into ``out`` (unless it is
    empty); returns the counts (npix,) int32."""
    cnt = np.zeros(valid.shape[1], np.int32)
    run_ranges(_bridge_chunks, (valid.shape[1] + BRIDGE_CHUNK - 1) // BRIDGE_CHUNK, valid, ends, ne, out, cnt)
    return cnt


@njit(**HELPER)
def _adjacency(ends: np.ndarray, ne: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The whole network's adjacency: ``deg`` (ne + 1,) offsets of each epoch's entries in ``adj_v`` (the
    other end) and ``adj_e`` (the pair), (2 npair,) each."""
    npair = ends.shape[0]
    deg = np.zeros(ne + 1, np.int64)
    for p in range(npair):
        deg[ends[p, 0] + 1] += 1
        deg[ends[p, 1] + 1] += 1
    for e in range(ne):
        deg[e + 1] += deg[e]
    nxt = np.zeros(ne + 1, np.int64)
    for e in range(ne + 1):
        nxt[e] = deg[e]
    adj_v = np.empty(2 * npair, np.int64)
    adj_e = np.empty(2 * npair, np.int64)
    for p in range(npair):
        a, b = ends[p, 0], ends[p, 1]
        adj_v[nxt[a]] = b
        adj_e[nxt[a]] = p
        nxt[a] += 1
        adj_v[nxt[b]] = a
        adj_e[nxt[b]] = p
        nxt[b] += 1
    return deg, adj_v, adj_e


@njit(**KERNEL)
def _bridge_chunks(ch0: int, ch1: int, valid: np.ndarray, ends: np.ndarray, ne: int, out: np.ndarray,
                   cnt: np.ndarray) -> None:  # pragma: no cover - compiled
    """Chunks ``ch0 .. ch1 - 1`` of :func:`bridges` (into ``out``, unless it is empty) and of
    :func:`bridge_counts` (into ``cnt``, always)."""
    npair, npix = valid.shape
    deg, adj_v, adj_e = _adjacency(ends, ne)
    nxt = np.zeros(ne + 1, np.int64)
    disc = np.empty(ne, np.int64)
    low = np.zeros(ne, np.int64)
    pedge = np.empty(ne, np.int64)
    stack = np.empty(ne, np.int64)
    full = np.zeros(npair, np.bool_)  # the result with every pair valid, found at the first such pixel
    n_full = -1
    keep = out.shape[0] > 0
    mark = np.zeros(npair, np.bool_)  # the pairs found where only their number is kept (never read)
    # each pixel's valid pattern packed in 64-bit words; the range's distinct patterns in an open-addressed table
    # of the first pixel of each: a pattern seen before takes that pixel's result (a third of an M block's
    # patterns are new), and only a new one is walked
    base = ch0 * BRIDGE_CHUNK
    n_range = max(min(ch1 * BRIDGE_CHUNK, npix) - base, 0)
    nw = (npair + 63) // 64
    words = np.zeros((n_range, nw), np.uint64)
    all_w = np.zeros(nw, np.uint64)  # every pair valid
    for p in range(npair):
        all_w[p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    size = 1
    while size < 2 * n_range:
        size *= 2
    first = np.full(size, -1, np.int64)
    row = np.empty(npair, np.bool_)
    for ch in range(ch0, ch1):
        a = ch * BRIDGE_CHUNK
        b = min(a + BRIDGE_CHUNK, npix)
        _pack_columns(valid, a, b, words[a - base:b - base])
        res = np.zeros((b - a if keep else 0, npair), np.bool_)
        for c in range(b - a):
            g = a + c - base
            # rows copied element by element: numba's array-to-slice assignment costs ~1.4 s to compile
            if c > 0 and _same_words(words[g - 1], words[g]):
                cnt[a + c] = cnt[a + c - 1]
                if keep:
                    for p in range(npair):
                        res[c, p] = res[c - 1, p]
                continue
            if _same_words(words[g], all_w):
                if n_full < 0:
                    for p in range(npair):
                        row[p] = True
                    n_full = _bridges_column(row, deg, adj_v, adj_e, ne, disc, low, pedge, nxt, stack, full)
                cnt[a + c] = n_full
                if keep:
                    for p in range(npair):
                        res[c, p] = full[p]
                continue
            slot = _hash_words(words[g]) & (size - 1)
            seen = -1
            while first[slot] >= 0:
                if _same_words(words[first[slot]], words[g]):
                    seen = first[slot] + base
                    break
                slot = (slot + 1) & (size - 1)
            if seen >= 0:
                cnt[a + c] = cnt[seen]
                if keep:
                    for p in range(npair):
                        res[c, p] = res[seen - a, p] if seen >= a else out[p, seen]
                continue
            first[slot] = g
            for p in range(npair):
                row[p] = (words[g, p >> 6] >> np.uint64(p & 63)) & np.uint64(1) != 0
            cnt[a + c] = _bridges_column(row, deg, adj_v, adj_e, ne, disc, low, pedge, nxt, stack,
                                         res[c] if keep else mark)
        if keep:
            for p in range(npair):
                for c in range(a, b):
                    out[p, c] = res[c - a, p]
