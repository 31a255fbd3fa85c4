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

* Unweighted: pixels sharing the same set of valid pairs (same NaN pattern) share one design
  matrix; each pattern is solved once by SVD (a stable pseudo-inverse, :func:`solve_pattern`) and
  applied to all its pixels as a matrix product.
* Weighted, and patterns with few pixels: per-pixel normal equations assembled for all pixels at
  once (an O(n_epoch²) two-dimensional cumulative sum per pixel instead of a product over pairs)
  and solved batched with :func:`numpy.linalg.solve`. Pixels whose valid pairs cannot pin the
  temporal model (possible with ``annual=True`` and very few pairs) are solved by a batched SVD
  (minimum-norm solution).

Accuracy: the problem is ill-conditioned by design (condition number ~ 1/gamma in the directions
only the constraint fixes). Against exact rational arithmetic, with gamma = 1e-4 the per-pattern
SVD path is as accurate as :func:`numpy.linalg.lstsq` (~1e-9 relative) and the normal-equation
path ~1e-8; with gamma <= 1e-5 the normal-equation path degrades to ~1e-6.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.errors import NetworkError
from kansho.network import check_pairs, increment_matrix

__all__ = ["InversionResult", "constraint_operators", "invert_nsbas", "solve_pattern"]

logger = logging.getLogger(__name__)

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


def _pattern_operator(g_valid: F64, reduced: F64, gamma: float) -> F64:
    """``(n-1, nvalid)`` operator mapping the valid pairs' data to ``inc`` for one pattern."""
    nv = g_valid.shape[0]
    a = np.vstack([g_valid, gamma * reduced])
    return solve_pattern(a, np.eye(nv))


def _normal_solve(
    w: F64,
    d0: F64,
    pairs: npt.NDArray[np.int64],
    g: F64,
    ops: _Operators,
    gamma: float,
    xp: Any = np,
) -> F64:
    """Solve the weighted reduced problem for a batch of pixels.

    ``w`` ``(npair, k)`` weights (0 where the pair is not used), ``d0`` ``(npair, k)`` data with
    0 where not used. Returns ``inc`` ``(n_epoch-1, k)`` (a numpy array). ``xp`` is the array
    module the normal equations are assembled and solved with: numpy, or CuPy for the GPU.
    """
    n = g.shape[1] + 1
    k = w.shape[1]
    wx = xp.asarray(w)
    gx = xp.asarray(g)
    # N_data[a, b] (a <= b) = sum of w over pairs (i, j) with i <= a and j >= b + 1: a 2-D
    # cumulative sum of the (i, j) weight table, with j stored reversed so both sums run forward.
    s = xp.zeros((k, n, n))
    s[:, xp.asarray(pairs[:, 0]), xp.asarray(n - 1 - pairs[:, 1])] = wx.T
    xp.cumsum(s, axis=1, out=s)
    xp.cumsum(s, axis=2, out=s)
    x = s[:, : n - 1, n - 2 :: -1]  # x[:, a, b] = S[a, b + 1]
    upper = xp.triu(xp.ones((n - 1, n - 1), dtype=bool))
    nmat = xp.where(upper, x, xp.swapaxes(x, 1, 2))
    del s, x
    nmat += xp.asarray(gamma**2 * (ops.reduced.T @ ops.reduced))
    rhs = (gx.T @ (wx * xp.asarray(d0))).T  # (k, n-1)

    # Pixels where the data cannot pin the model shapes left free by the constraint.
    deficient = np.zeros(k, dtype=bool)
    z = ops.null
    if z.shape[1] > 1:
        gz = g @ z  # (npair, r)
        gram = np.einsum("pa,pk,pb->kab", gz, w, gz)
        dg = np.sqrt(np.einsum("kaa->ka", gram))
        ok = np.all(dg > 0, axis=1)
        dg = np.where(dg > 0, dg, 1.0)
        gram /= dg[:, :, None] * dg[:, None, :]
        deficient = ~ok | (np.linalg.eigvalsh(gram)[:, 0] < 1e-10)
    elif z.shape[1] == 1:
        deficient = (((g @ z[:, 0]) ** 2) @ w) <= 0

    inc = np.empty((k, n - 1))
    full = ~deficient
    if np.any(full):
        try:
            fx = xp.asarray(full)
            inc[full] = _to_host(xp.linalg.solve(nmat[fx], rhs[fx][..., None])[..., 0])
        except np.linalg.LinAlgError:  # an exactly singular matrix slipped through: use SVD
            deficient = np.ones(k, dtype=bool)
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


def _batch_size(max_batch: int, n_epoch: int, npair: int) -> int:
    per_pixel = 8 * (n_epoch * n_epoch + 4 * (n_epoch - 1) ** 2 + 6 * npair)
    return int(max(1, min(max_batch, max(64, _WORK_BYTES // per_pixel))))


def _group_columns(
    mask: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Group the columns of a bool ``(npair, k)`` mask by identical content.

    Returns ``(patterns (npat, npair) bool, inverse (k,), counts (npat,), order (k,))``: column
    ``c`` has pattern ``inverse[c]``; ``order`` lists the columns grouped by pattern (pattern 0's
    ``counts[0]`` columns first, ...). Columns are packed into 64-bit words and sorted by integer
    keys, which is much faster than ``np.unique(..., axis=0)`` on byte rows.
    """
    npair, k = mask.shape
    packed = np.packbits(mask, axis=0)  # (nbytes, k)
    pad = (-packed.shape[0]) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((pad, k), dtype=np.uint8)])
    words = np.ascontiguousarray(packed.T).view(np.uint64)  # (k, nword)
    if words.shape[1] == 1:
        order = np.argsort(words[:, 0], kind="stable")
    else:
        order = np.lexsort(words.T[::-1])
    sw = words[order]
    new = np.ones(k, dtype=bool)
    new[1:] = np.any(sw[1:] != sw[:-1], axis=1)
    starts = np.flatnonzero(new)
    inverse = np.empty(k, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    counts = np.diff(np.append(starts, k))
    patterns = np.unpackbits(
        np.ascontiguousarray(sw[starts]).view(np.uint8), axis=1, count=npair
    ).astype(bool)
    return patterns, inverse, counts, order


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
    pattern_min_pixels: int = 32,
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
    pattern_min_pixels:
        Unweighted only: NaN patterns shared by at least this many pixels are solved by one SVD
        per pattern; rarer patterns are pooled into the batched normal-equation solver.
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
        res = np.where(vv, g @ inc - np.where(vv, dd, 0.0), 0.0)
        resid_rms[cols] = np.sqrt((res**2).sum(axis=0) / n_unw[cols])

    def normal_path(cols: npt.NDArray[np.intp]) -> None:
        step = _batch_size(max_batch, n, npair)
        for b0 in range(0, cols.size, step):
            cb = cols[b0 : b0 + step]
            vb = valid[:, cb]
            if wts is None:
                wb = vb.astype(np.float64)
            else:
                wb = np.where(vb, wts[:, cb], 0.0).astype(np.float64)
            db = np.where(vb, d[:, cb], 0.0).astype(np.float64)
            finish(_normal_solve(wb, db, p, g, ops, gamma, xp), cb)

    sel = np.flatnonzero(solved)
    if sel.size == 0:
        logger.warning("no pixel has enough valid pairs to invert (min_pairs=%s)", min_pairs)
    elif wts is not None:
        logger.debug("weighted inversion of %d pixels by batched normal equations", sel.size)
        normal_path(sel)
    else:
        patterns, inverse, counts, order = _group_columns(valid[:, sel])
        bounds = np.concatenate([[0], np.cumsum(counts)])
        big = np.flatnonzero(counts >= pattern_min_pixels)
        logger.debug(
            "%d NaN pattern(s) over %d pixels; %d solved per pattern, %d pixels pooled",
            patterns.shape[0],
            sel.size,
            big.size,
            sel.size - int(counts[big].sum()),
        )
        pooled = np.ones(patterns.shape[0], dtype=bool)
        for ip in big:
            pooled[ip] = False
            cols = sel[order[bounds[ip] : bounds[ip + 1]]]
            rows = np.flatnonzero(patterns[ip])
            op = xp.asarray(_pattern_operator(g[rows], ops.reduced, gamma))
            for b0 in range(0, cols.size, max_batch):
                cb = cols[b0 : b0 + max_batch]
                finish(_to_host(op @ xp.asarray(d[np.ix_(rows, cb)], dtype=np.float64)), cb)
        rest = np.flatnonzero(pooled[inverse])
        if rest.size:
            normal_path(np.sort(sel[rest]))

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
