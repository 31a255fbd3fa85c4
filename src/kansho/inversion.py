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
  share a NaN pattern to be cheap, weighted or not (:mod:`kansho._nsbas_band`).
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
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho._columns import put_columns, take_columns
from kansho._nsbas_band import BandLayout, band_layout, banded_normal_solve
from kansho._types import BoolArray, Float32Array, Float64Array, FloatArray, IndexArray
from kansho.errors import NetworkError
from kansho.network import check_pairs, increment_matrix

__all__ = ["InversionResult", "invert_nsbas", "solve_pattern"]

logger = logging.getLogger(__name__)

#: bytes of float64 work arrays per batch in the normal-equation path (small: cache-friendly)
_WORK_BYTES = 32 * 2**20
#: the same on the GPU: large, since each batch costs hundreds of kernel launches whatever its size
#: (the band Cholesky's column loop) and must fill the GPU's cores: an eighth of the GPU's free memory,
#: between 1 and 8 GiB
_GPU_WORK_BYTES = (2**30, 8 * 2**30)
#: frames of fewer pixels (about 224 x 224) are solved on the CPU by the vectorised numpy path rather than
#: the compiled kernel (:func:`use_compiled`): compiling the kernel takes ~6 s once per install, the numpy
#: path ~15 µs more per pixel and run (the 200 x 200 px demo: 0.64 s); a first run on a frame this small
#: (the demo's) is over sooner without it. The two agree to round-off (tested)
COMPILED_MIN_PX = 50_000


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

    cum: Float32Array
    vel: Float32Array
    intercept: Float32Array
    annual_amp: Float32Array | None
    annual_phase: Float32Array | None
    resid_rms: Float32Array
    n_unw: npt.NDArray[np.int32]
    solved: BoolArray


@dataclass(frozen=True)
class _Operators:
    cum: Float64Array  # C, (n_epoch, n_epoch-1): cum = C @ inc
    model: Float64Array  # T, (n_epoch, nmodel): columns t, 1 [, sin 2πt, cos 2πt]
    reduced: Float64Array  # R = (I - T T⁺) C, (n_epoch, n_epoch-1)
    to_model: Float64Array  # T⁺ C, (nmodel, n_epoch-1): m = to_model @ inc
    null: Float64Array  # Z, (n_epoch-1, r): increments of model shapes with cum[0] = 0 (null space of R)


def _operators(t: Float64Array, annual: bool) -> _Operators:
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


def solve_pattern(a: npt.ArrayLike, b: npt.ArrayLike, *, rcond: float | None = None) -> Float64Array:
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


def _normal_solve(
    w: Float64Array,
    d0: Float64Array,
    pairs: npt.NDArray[np.int64],
    g: Float64Array,
    ops: _Operators,
    gamma: float,
    xp: Any = np,
    layout: BandLayout | None = None,
) -> Float64Array:
    """Solve the weighted reduced problem for a batch of pixels.

    ``w`` ``(npair, k)`` weights (0 where the pair is not used), ``d0`` ``(npair, k)`` data with
    0 where not used, both arrays of ``xp``: numpy, or CuPy for the GPU. Returns ``inc``
    ``(n_epoch-1, k)``, an array of ``xp``.
    The normal equations are solved in cumulative displacement, where they are banded
    (:func:`kansho._nsbas_band.banded_normal_solve`); pixels whose data cannot pin the temporal model are solved by
    SVD (minimum norm).
    """
    n = g.shape[1] + 1
    k = w.shape[1]
    lay = layout if layout is not None else band_layout(pairs, ops.model, gamma)

    # Pixels where the data cannot pin the model shapes left free by the constraint.
    deficient = _deficient(w, g, ops.null, xp)

    inc = xp.empty((k, n - 1))
    full = xp.flatnonzero(~deficient)
    if full.size:
        x, good = banded_normal_solve(w[:, full], d0[:, full], lay, gamma, xp)
        cumx = xp.zeros((n, full.size))
        cumx[1:] = x
        inc[full] = xp.diff(cumx, axis=0).T
        deficient[full[~good]] = True
    idx = np.flatnonzero(_to_host(deficient))
    if idx.size:  # few pixels: solved on the CPU
        logger.debug("%d pixel(s) with an under-determined model solved by SVD", idx.size)
        di = xp.asarray(idx)
        sw = np.sqrt(_to_host(w[:, di])).T  # (kd, npair)
        a = np.concatenate(
            [sw[:, :, None] * g[None], np.broadcast_to(gamma * ops.reduced, (idx.size, n, n - 1))],
            axis=1,
        )
        b = (sw * _to_host(d0[:, di]).T)[:, :, None]
        inc[di] = xp.asarray(solve_pattern(a, b)[..., 0])
    return inc.T


def _deficient(w: Any, g: Float64Array, z: Float64Array, xp: Any = np) -> Any:
    """``(k,)`` True where the weights ``w`` ``(npair, k)`` (an array of ``xp``) cannot pin the model
    shapes ``z`` ``(n_epoch-1, r)`` that the constraint leaves free (``g`` the ``(npair, n_epoch-1)``
    increment matrix)."""
    k = w.shape[1]
    if z.shape[1] > 1:
        gz = xp.asarray(g @ z)  # (npair, r)
        gram = xp.einsum("pa,pk,pb->kab", gz, w, gz)
        dg = xp.sqrt(xp.diagonal(gram, axis1=1, axis2=2))
        ok = xp.all(dg > 0, axis=1)
        dg = xp.where(dg > 0, dg, 1.0)
        gram /= dg[:, :, None] * dg[:, None, :]
        low = xp.asarray(np.linalg.eigvalsh(_to_host(gram))[:, 0])  # (k, r, r): small, on the CPU
        return ~ok | (low < 1e-10)
    if z.shape[1] == 1:
        return (xp.asarray((g @ z[:, 0]) ** 2) @ w) <= 0
    return xp.zeros(k, dtype=bool)


def use_compiled(frame_px: int) -> bool:
    """Whether a frame of ``frame_px`` pixels is inverted by the compiled kernel (``compiled=True`` of
    :func:`invert_nsbas`): from :data:`COMPILED_MIN_PX` pixels on. The same for every block of a frame."""
    return frame_px >= COMPILED_MIN_PX


def jit_available() -> bool:
    """Whether the compiled CPU kernel (:mod:`kansho._nsbas_jit`) may be used (``compiled=True`` of
    :func:`invert_nsbas`): numba importable and ``KANSHO_NO_JIT`` unset."""
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


def _array_module(device: str) -> Any:
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


def _gpu_budget(xp: Any) -> int:
    """Bytes of work arrays per batch on the GPU of the array module ``xp`` (CuPy)."""
    lo, hi = _GPU_WORK_BYTES
    try:
        free = int(xp.cuda.runtime.memGetInfo()[0])
    except Exception:  # noqa: BLE001 - no runtime to ask (a stand-in module): the floor is safe
        return lo
    return max(lo, min(hi, free // 8))


def _batch_size(max_batch: int, n_epoch: int, npair: int, lay: BandLayout, xp: Any = np) -> int:
    """Pixels per batch: at most ``max_batch``, with work arrays within 32 MiB on the CPU (numpy) and within
    an eighth of the GPU's free memory, 1 to 8 GiB, on the GPU (``xp`` CuPy)."""
    m = lay.vectors.shape[1]
    per_pixel = 8 * (n_epoch * (lay.bw + m + 3) + 4 * npair + 2 * m * m)
    budget = _WORK_BYTES if xp is np else _gpu_budget(xp)
    return int(max(1, min(max_batch, max(64, budget // per_pixel))))


@dataclass(frozen=True)
class _Problem:
    """The inputs of :func:`invert_nsbas` once checked, and what the solvers share."""

    d: FloatArray  # (npair, npix) mm as given, NaN = no data
    valid: BoolArray  # (npair, npix): the pair is used at the pixel
    wts: FloatArray | None  # (npair, npix) weights as given, or None
    pairs: IndexArray  # (npair, 2) epoch indices
    g: Float64Array  # (npair, n_epoch - 1) increment matrix
    ops: _Operators
    layout: BandLayout
    gamma: float
    max_batch: int
    xp: Any  # numpy or CuPy

    @property
    def n_epoch(self) -> int:
        return self.g.shape[1] + 1


@dataclass(frozen=True)
class _Solution:
    """The arrays the solvers fill, column by column (NaN where a pixel is not solved)."""

    cum: Float32Array  # (n_epoch, npix) mm
    model: Float64Array  # (nmodel, npix)
    resid_rms: Float32Array  # (npix,) mm
    n_unw: npt.NDArray[np.int32]  # (npix,) valid pairs per pixel

    @classmethod
    def empty(cls, n_epoch: int, nmodel: int, n_unw: npt.NDArray[np.int32]) -> _Solution:
        npix = n_unw.size
        return cls(cum=np.full((n_epoch, npix), np.nan, dtype=np.float32),
                   model=np.full((nmodel, npix), np.nan, dtype=np.float64),
                   resid_rms=np.full(npix, np.nan, dtype=np.float32), n_unw=n_unw)


def _checked_inputs(ifg: npt.ArrayLike, pairs: npt.ArrayLike, t: npt.ArrayLike, gamma: float,
                    weights: npt.ArrayLike | None) -> tuple[FloatArray, Float64Array, IndexArray, FloatArray | None]:
    """``(ifg, t, pairs, weights)`` as arrays, or the error :func:`invert_nsbas` documents."""
    d = np.asarray(ifg)
    tt = np.asarray(t, dtype=np.float64)
    if tt.ndim != 1 or tt.size < 2:
        raise NetworkError(f"need at least 2 epochs, got t of shape {tt.shape}")
    if np.any(np.diff(tt) <= 0) or not np.all(np.isfinite(tt)):
        raise ValueError("t must be finite and strictly increasing")
    p = check_pairs(pairs, tt.size)
    if d.ndim != 2 or d.shape[0] != p.shape[0]:
        raise ValueError(f"ifg must have shape (npair={p.shape[0]}, npix), got {d.shape}")
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    wts = None
    if weights is not None:
        wts = np.asarray(weights)
        if wts.shape != d.shape:
            raise ValueError(f"weights must have the shape of ifg {d.shape}, got {wts.shape}")
    return d, tt, p, wts


def _finish(pb: _Problem, sol: _Solution, inc: Any, cols: IndexArray, vv: Any, d0: Any) -> None:
    """Write the increments ``inc`` ``(n_epoch - 1, k)`` of the pixels ``cols`` into ``sol``; ``vv``
    ``(npair, k)`` the pairs used and ``d0`` their data (0 where not used). ``inc``, ``vv`` and ``d0``
    are arrays of ``pb.xp``: on the GPU the residuals are computed there, and only the results come back."""
    xp = pb.xp
    c = xp.zeros((pb.n_epoch, cols.size))
    c[1:] = xp.cumsum(inc, axis=0)
    put_columns(sol.cum, cols, _to_host(c.astype(np.float32)))
    put_columns(sol.model, cols, _to_host(xp.asarray(pb.ops.to_model) @ inc))
    res = xp.where(vv, c[xp.asarray(pb.pairs[:, 1])] - c[xp.asarray(pb.pairs[:, 0])] - d0, 0.0)
    sol.resid_rms[cols] = _to_host(xp.sqrt((res**2).sum(axis=0) / xp.asarray(sol.n_unw[cols])))


def _normal_path(pb: _Problem, sol: _Solution, cols: IndexArray) -> None:
    """Solve the pixels ``cols`` batch by batch with the vectorised solver (numpy, or CuPy: then each
    batch's columns go to the GPU once, and its cumulative displacement, model and residual come back)."""
    xp = pb.xp
    step = _batch_size(pb.max_batch, pb.n_epoch, pb.pairs.shape[0], pb.layout, xp)
    for b0 in range(0, cols.size, step):
        cb = cols[b0 : b0 + step]
        vb = xp.asarray(take_columns(pb.valid, cb))
        if pb.wts is None:
            wb = vb.astype(np.float64)
        else:
            wb = xp.where(vb, xp.asarray(take_columns(pb.wts, cb)), 0.0).astype(np.float64)
        db = xp.where(vb, xp.asarray(take_columns(pb.d, cb)), 0.0).astype(np.float64)
        inc = _normal_solve(wb, db, pb.pairs, pb.g, pb.ops, pb.gamma, xp, pb.layout)
        _finish(pb, sol, inc, cb, vb, db)


def _jit_path(pb: _Problem, sol: _Solution, cols: IndexArray) -> None:
    """Solve the pixels ``cols`` with the compiled kernel; those it cannot take go to :func:`_normal_path`."""
    from kansho import _nsbas_jit

    z = pb.ops.null
    npair = pb.pairs.shape[0]
    wts = pb.wts
    if z.shape[1] > 1:  # annual model: test the pixels' rank in numpy first, batch by batch
        step = _batch_size(pb.max_batch, pb.n_epoch, npair, pb.layout)
        bad = np.concatenate([
            _deficient(np.where(pb.valid[:, cb], 1.0 if wts is None else wts[:, cb], 0.0).astype(np.float64), pb.g, z)
            for cb in (cols[b0: b0 + step] for b0 in range(0, cols.size, step))])
        if bad.any():
            _normal_path(pb, sol, cols[bad])
        cols = cols[~bad]
    dd = np.ascontiguousarray(pb.d, dtype=np.float64)
    if wts is None:  # unread; float32 as the chain's weights, so that both calls share one compiled version
        ww = np.zeros((1, 1), np.float32)
    else:  # float32 weights go as they are (each converted exactly where the kernel reads it)
        ww = np.ascontiguousarray(wts, dtype=wts.dtype if wts.dtype == np.float32 else np.float64)
    gz = pb.g @ z if z.shape[1] == 1 else np.zeros((npair, 0))  # the kernel tests the rank itself when r = 1
    status = np.zeros(sol.n_unw.size, dtype=np.int8)
    lay = pb.layout
    # no lock: the kernel takes its threads from run_ranges, not from numba's threading layer, so block
    # threads may solve at once (each on its own thread)
    _nsbas_jit.solve_pixels(
        dd, ww, wts is not None, cols.astype(np.int64), pb.pairs[:, 0].astype(np.int64),
        pb.pairs[:, 1].astype(np.int64), int(lay.bw), lay.long.astype(np.int64), np.ascontiguousarray(lay.vectors),
        float(pb.gamma), np.ascontiguousarray(gz), np.ascontiguousarray(lay.basis),
        np.ascontiguousarray(lay.tails), np.ascontiguousarray(pb.ops.to_model), sol.cum, sol.model, sol.resid_rms,
        status)
    rest = cols[status[cols] != _nsbas_jit.OK]
    if rest.size:
        _normal_path(pb, sol, rest)


def _result(sol: _Solution, solved: BoolArray, annual: bool) -> InversionResult:
    """The :class:`InversionResult` of a filled solution."""
    model = sol.model
    amp = phase = None
    if annual:
        a_sin, b_cos = model[2], model[3]
        amp = np.hypot(a_sin, b_cos).astype(np.float32)
        phase = np.arctan2(a_sin, b_cos).astype(np.float32)
    return InversionResult(cum=sol.cum, vel=model[0].astype(np.float32), intercept=model[1].astype(np.float32),
                           annual_amp=amp, annual_phase=phase, resid_rms=sol.resid_rms, n_unw=sol.n_unw,
                           solved=solved)


def invert_nsbas(
    ifg: npt.ArrayLike,
    pairs: npt.ArrayLike,
    t: npt.ArrayLike,
    *,
    gamma: float = 1e-4,
    annual: bool = False,
    weights: npt.ArrayLike | None = None,
    min_pairs: float = 0,
    max_batch: int | None = None,
    device: str = "cpu",
    compiled: bool = True,
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
        ``(n_epoch,)`` float, epoch times in years (strictly increasing, e.g. since the first epoch).
    gamma:
        Weight of the temporal-constraint rows (LiCSBAS default 1e-4); must be > 0.
    annual:
        Add annual sine and cosine terms to the constraint model (bridges gaps in seasonal signals).
    weights:
        Optional ``(npair, npix)`` weights (e.g. from coherence); pair rows are scaled by
        ``sqrt(weight)``. A pair with a non-finite or non-positive weight is not used. ``gamma``
        is relative to unit weights: multiplying all weights by ``s`` acts like dividing
        ``gamma`` by ``sqrt(s)``, so weights of order 1 are intended.
    min_pairs:
        Pixels with fewer valid pairs than this (or none) are not solved (NaN).
    max_batch:
        Pixels solved at once by the numpy/CuPy solver (default 50,000 on the CPU, 2 million on the GPU).
    device:
        ``"cpu"`` (numpy) or ``"gpu"``: the per-pattern products and the batched normal equations
        run on the GPU through CuPy, in float64 (the SVDs of the small per-pattern operators and
        the rare rank-deficient pixels stay on the CPU).
    compiled:
        On the CPU, the compiled kernel where :func:`jit_available`; False: the numpy path, which needs no
        compilation (a small frame's: :func:`use_compiled`). The two are equal to round-off.

    Returns
    -------
    InversionResult

    Raises
    ------
    NetworkError
        Fewer than 2 epochs, or pairs inconsistent with ``t`` (out of range, ``i >= j``, duplicates).
    ValueError
        Array shapes that do not match, ``t`` not strictly increasing, ``gamma <= 0``.
    """
    d, tt, p, wts = _checked_inputs(ifg, pairs, t, gamma, weights)
    xp = _array_module(device)
    valid = np.isfinite(d)
    if wts is not None:
        with np.errstate(invalid="ignore"):
            valid &= np.isfinite(wts) & (wts > 0)
    n_unw = valid.sum(axis=0).astype(np.int32)
    solved = (n_unw >= min_pairs) & (n_unw > 0)
    ops = _operators(tt, annual)
    layout = band_layout(p, ops.model, gamma)
    pb = _Problem(d=d, valid=valid, wts=wts, pairs=p, g=increment_matrix(p, tt.size), ops=ops, layout=layout,
                  gamma=gamma, max_batch=max_batch or (50_000 if device == "cpu" else 2_000_000), xp=xp)
    sol = _Solution.empty(tt.size, ops.model.shape[1], n_unw)
    sel = np.flatnonzero(solved)
    if sel.size == 0:
        logger.debug("no pixel has enough valid pairs to invert (min_pairs=%s)", min_pairs)
    else:
        logger.debug("inversion of %d pixels, band width %d + %d low-rank terms", sel.size, layout.bw,
                     layout.vectors.shape[1])
        if device == "cpu" and compiled and jit_available():
            _jit_path(pb, sol, sel)
        else:
            _normal_path(pb, sol, sel)
    return _result(sol, solved, annual)
