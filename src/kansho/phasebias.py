"""Phase bias ("fading signal") of short multilooked interferograms: indicator, estimate, correction.

Multilooked interferograms of short temporal baseline carry a systematic phase bias that fades as
the baseline grows (Ansari et al. 2021, *IEEE TGRS* 59(5), "Study of systematic bias in measuring
surface deformation with SAR interferometry"; Maghsoudi et al. 2022, *Remote Sensing of
Environment* 273, "Characterizing and correcting phase biases in short-term, multilooked
interferograms"; Zheng et al. 2022, *IEEE TGRS* 60, "On closure phase and systematic bias in
multilooked SAR interferometry"). See docs/corrections_phasebias.md. Deformation and atmosphere
are differences of epoch values and cancel in every closed loop; the bias is a property of the
*pair*, so the misclosure of a triangle ``(i, j, k)`` is ``b_ij + b_jk - b_ik`` (rad, LiCSAR's
sign: ``loop = φ_ij + φ_jk - φ_ik``, :func:`kansho.loops.loop_phase`).

Model (used by the chain)
    ``b(Δt) = r · Δt · exp(-Δt / τ)`` rad for a pair of duration ``Δt`` (yr): ``r`` (rad/yr) is the
    pixel's bias rate, the rate at which the short-lived signal adds phase, and ``exp(-Δt/τ)`` its
    fading (the short-lived scatterers decorrelate with time constant ``τ``; Ansari et al. 2021).
    It is Maghsoudi et al.'s linear relation ``b_n = a_n Σ δ`` (the bias of an n-interval pair
    is a fraction ``a_n`` of the sum of the one-interval biases it spans) with a constant
    per-interval bias and ``a_n = exp(-(n - 1)Δ0/τ)``, so long pairs carry no bias. ``r`` is fitted
    per pixel by least squares to the triangle misclosures; ``τ`` is one for the frame, the value of
    a grid (:data:`TAU_FACTORS` x the network's shortest pair) whose fits leave the least misclosure
    over all pixels (:func:`tau_misfit`).

Identifiability
    Loops see the bias only modulo the *gradients*: any ``b_ij = c_j - c_i`` closes every loop, and
    so does a bias proportional to the duration (``c·Δt``, a constant bias rate: it is exactly a
    velocity, inseparable from deformation). In the per-duration-class form
    (:func:`class_matrix`) the loops determine the class biases ``β_n`` up to ``β_n ∝ n`` (and
    classes on no loop not at all; :func:`unseen_combinations`); a network of pairs of one duration
    has no triangle and sees nothing. The decay model supplies the missing combination by its
    shape: ``f(a) + f(b) - f(a + b) > 0`` for every triangle (``f(Δt) = Δt e^{-Δt/τ}``), so ``r`` is
    determined by any loop, and the velocity part of the correction rests on the model's
    assumption that long pairs are unbiased (``f → 0``). The choice of ``τ`` is bounded by the grid:
    a ``τ`` much longer than the loops' durations makes ``f`` nearly linear there (loops see almost
    nothing) and would amplify noise into a large velocity change.

Regularisation and decision
    A pixel's rate is shrunk toward 0 by ``max(0, 1 - 1/z²)``, ``z`` the rate over its standard
    error (from the residual of the loops, with their shared pairs accounted for): a rate within
    its error is left out, a clear one kept. A frame where fewer than :data:`MIN_SIGNIFICANT` of the
    pixels show a rate of :data:`Z_MIN` standard errors or more is not corrected at all (its loops
    show no bias above the noise).

Units: phases and biases in radians, durations and ``τ`` in years, ``r`` in rad/yr; the corrected
phase is ``φ - b`` (subtract the bias). Arrays are pixels flattened to ``(…, npix)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kansho import _invert_jit
from kansho._types import Float64Array

log = logging.getLogger(__name__)

__all__ = [
    "MIN_SIGNIFICANT",
    "TAU_FACTORS",
    "Z_MIN",
    "BiasFit",
    "bias_indicator",
    "class_matrix",
    "decay_shape",
    "fit_bias_rate",
    "fit_class_bias",
    "loop_durations",
    "loop_misclosure",
    "loop_shapes",
    "pair_bias",
    "phase_indicator",
    "short_loops",
    "significant",
    "tau_misfit",
    "taus_for",
    "unseen_combinations",
]

TWO_PI = 2.0 * np.pi
#: decay times τ tried, as multiples of the network's shortest pair (6 d -> 3 to 24 d)
TAU_FACTORS = (0.5, 0.71, 1.0, 1.41, 2.0, 2.83, 4.0)
#: a pixel's bias rate is significant where |r| >= Z_MIN standard errors of its fit
Z_MIN = 3.0
#: fewest pixels (fraction of those with a fit) with a significant rate for the frame's bias to be corrected
#: (noise alone makes ~0.3-0.6 % significant at Z_MIN = 3)
MIN_SIGNIFICANT = 0.02
#: loops of the indicator: triangles whose closing pair is at most this times the shortest closing pair
SHORT_FACTOR = 1.25


def loop_durations(L: npt.ArrayLike, pairs: npt.ArrayLike, t: npt.ArrayLike) -> Float64Array:
    """Durations (yr) of each triangle's members: (nloop, 3) = (first, second, closing pair).

    ``L`` (nloop, npair) triangle-loop matrix (+1, +1, -1; :func:`kansho.network.triangle_loops`),
    ``pairs`` (npair, 2) epoch indices, ``t`` (n_epoch,) epoch times in years."""
    Lm = np.asarray(L)
    p = np.asarray(pairs, np.intp).reshape(-1, 2)
    tt = np.asarray(t, np.float64)
    dt = tt[p[:, 1]] - tt[p[:, 0]]
    if Lm.shape[0] == 0:
        return np.zeros((0, 3))
    if Lm.shape[1] != p.shape[0] or not np.all((Lm != 0).sum(axis=1) == 3):
        raise ValueError(f"L {Lm.shape} must be a triangle-loop matrix over {p.shape[0]} pairs")
    plus = np.where(Lm > 0, dt[None, :], np.nan)
    a = np.nanmin(plus, axis=1)
    b = np.nanmax(plus, axis=1)
    c = (np.where(Lm < 0, dt[None, :], 0.0)).sum(axis=1)
    return np.stack([a, b, c], axis=1)


def loop_misclosure(phase: npt.ArrayLike, L: npt.ArrayLike) -> Float64Array:
    """Loop misclosure wrapped to (-π, π] (rad): (nloop, npix), NaN where a member is missing.

    ``phase`` (npair, npix) unwrapped phase (rad) referred to one area. Wrapping makes the estimate
    blind to whole-cycle unwrapping errors left in a member (the bias itself is far below π)."""
    from kansho.loops import loop_phase

    m = np.asarray(loop_phase(np.asarray(phase, np.float64), L), np.float64)
    return m - TWO_PI * np.round(m / TWO_PI)


def short_loops(L: npt.ArrayLike, pairs: npt.ArrayLike, t: npt.ArrayLike,
                factor: float = SHORT_FACTOR) -> npt.NDArray[np.bool_]:
    """(nloop,) bool: the triangles made of the network's shortest pairs, those whose closing pair is
    at most ``factor`` times the shortest closing pair of any triangle (6-day cadence: 6 + 6 - 12)."""
    d = loop_durations(L, pairs, t)
    if d.shape[0] == 0:
        return np.zeros(0, bool)
    return d[:, 2] <= factor * d[:, 2].min()


def bias_indicator(misclosure: npt.ArrayLike, short: npt.ArrayLike) -> Float64Array:
    """Per-pixel phase-bias indicator: mean |misclosure| (rad) over the valid loops ``short``.

    ``misclosure`` (nloop, npix) from :func:`loop_misclosure`, ``short`` (nloop,) bool from
    :func:`short_loops`. Returns (npix,), NaN where no such loop is valid. Noise alone gives
    ``sqrt(2/π)·σ_loop``; a bias adds its systematic misclosure (Maghsoudi et al. 2022)."""
    m = np.asarray(misclosure, np.float64)[np.asarray(short, bool)]
    ok = np.isfinite(m)
    n = ok.sum(axis=0)
    s = np.where(ok, np.abs(m), 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def phase_indicator(phase: npt.ArrayLike, L: npt.ArrayLike, short: npt.ArrayLike) -> Float64Array:
    """:func:`bias_indicator` of :func:`loop_misclosure` over the triangles ``short`` of ``L``, in one
    compiled pass without the (nloop, npix) misclosure (bit for bit the same values).

    ``phase`` (npair, npix) rad, ``L`` (nloop, npair) triangle-loop matrix, ``short`` (nloop,) bool.
    Returns (npix,) rad, NaN where none of the loops is valid."""
    ph = np.ascontiguousarray(phase, np.float64)
    Lm = np.asarray(L)
    if ph.ndim != 2 or Lm.ndim != 2 or ph.shape[0] != Lm.shape[1]:
        raise ValueError(f"phase {ph.shape} must be (npair, npix) for a loop matrix of shape {Lm.shape}")
    Ls = Lm[np.asarray(short, bool)]
    if Ls.shape[0] and not np.all((Ls != 0).sum(axis=1) == 3):
        raise ValueError("L must be a triangle-loop matrix (3 members per loop)")
    members = np.argwhere(Ls != 0)[:, 1].reshape(-1, 3)  # each loop's pairs in increasing order
    signs = np.take_along_axis(Ls, members, axis=1).astype(np.float64)
    return np.asarray(_invert_jit.triangle_indicator(ph, members.astype(np.int64), np.ascontiguousarray(signs)),
                      np.float64)


def decay_shape(dt: npt.ArrayLike, tau: npt.ArrayLike) -> Float64Array:
    """``f(Δt) = Δt · exp(-Δt / τ)`` (yr), broadcast over ``dt`` and ``tau`` (yr): the bias of a pair per
    unit bias rate."""
    d = np.asarray(dt, np.float64)
    return d * np.exp(-d / np.asarray(tau, np.float64))


def loop_shapes(durations: npt.ArrayLike, taus: npt.ArrayLike) -> Float64Array:
    """Misclosure per unit rate of each loop for each τ: (ntau, nloop) yr, ``f(a) + f(b) - f(c)``.

    ``durations`` (nloop, 3) from :func:`loop_durations`; ``taus`` (ntau,) yr. Positive for every
    triangle (``f`` is strictly subadditive), so any loop identifies ``r``."""
    d = np.asarray(durations, np.float64)
    tau = np.asarray(taus, np.float64)[:, None]
    return decay_shape(d[None, :, 0], tau) + decay_shape(d[None, :, 1], tau) - decay_shape(d[None, :, 2], tau)


@dataclass(frozen=True)
class BiasFit:
    """Per-pixel fit of the decay model (:func:`fit_bias_rate`).

    ``rate`` (npix,) rad/yr (shrunk by its significance; 0 where not measurable); ``tau`` the decay time (yr)
    it was fitted with; ``z`` (npix,) the rate over its standard error (NaN with fewer than 2 valid
    loops); ``se`` (npix,) rad/yr the standard error of the rate before shrinking (``z·se`` is the
    least-squares rate); ``n_loops`` (npix,) the valid loops; ``misfit`` (npix,) the squared misclosure the fitted
    rate leaves (rad², before the significance test)."""

    rate: Float64Array
    tau: float
    z: Float64Array
    n_loops: npt.NDArray[np.int64]
    misfit: Float64Array
    se: Float64Array


def _rate_sums(misclosure: npt.ArrayLike, g: npt.ArrayLike
               ) -> tuple[Float64Array, Float64Array, Float64Array, npt.NDArray[np.bool_]]:
    """``Σ g m``, ``Σ g²`` and ``Σ m²`` (each (npix,)) over each pixel's valid loops, and the validity
    (nloop, npix). ``g`` (nloop,). Sums run over the loops in order at each pixel (not a BLAS
    product, whose order depends on the number of pixels): a pixel's result does not depend on the
    block it is computed in."""
    m = np.asarray(misclosure, np.float64)
    ok = np.isfinite(m)
    m0 = np.where(ok, m, 0.0)
    gc = np.asarray(g, np.float64)[:, None]
    return (gc * m0).sum(axis=0), np.where(ok, gc * gc, 0.0).sum(axis=0), (m0 * m0).sum(axis=0), ok


def tau_misfit(misclosure: npt.ArrayLike, L: npt.ArrayLike, durations: npt.ArrayLike, taus: npt.ArrayLike,
               z_min: float = Z_MIN) -> Float64Array:
    """Frame statistics of the decay model for each decay time, (ntau, 3): the sum over pixels of the
    squared misclosure each pixel's least-squares rate leaves (rad²), the pixels whose rate is
    significant (:func:`significant`), and the pixels with a fit (2 valid loops or more). Sums
    of blocks add up. The frame's ``τ`` is the one of least misfit (a frame-wide choice: per pixel,
    noise would pick ``τ`` at random, and a long ``τ`` turns the same misclosure into a far larger
    velocity change); the frame's bias is declined when too few pixels show one
    (:data:`MIN_SIGNIFICANT`).

    ``misclosure`` (nloop, npix) rad, NaN = not valid; ``L`` (nloop, npair); ``durations``
    (nloop, 3) yr; ``taus`` (ntau,) yr."""
    tau = np.asarray(taus, np.float64).ravel()
    out = np.zeros((tau.size, 3))
    for k, tk in enumerate(tau):
        fit = fit_bias_rate(misclosure, L, durations, float(tk))
        out[k] = (fit.misfit.sum(), np.count_nonzero(significant(fit, z_min)), np.count_nonzero(fit.n_loops >= 2))
    return out


def significant(fit: BiasFit, z_min: float = Z_MIN) -> npt.NDArray[np.bool_]:
    """(npix,) bool: the pixels whose rate differs from 0 at the two-sided level of ``z_min`` normal
    standard errors (0.27 % for 3), judged with Student's t of the pixel's ``n_loops - 1`` degrees of
    freedom (the error is estimated from the loops: with few loops, ``z`` has heavy tails)."""
    from scipy import stats

    p_max = 2.0 * float(stats.norm.sf(z_min))
    z = np.abs(np.nan_to_num(fit.z))
    df = np.maximum(fit.n_loops - 1, 1)
    return np.asarray((fit.n_loops >= 2) & (2.0 * stats.t.sf(z, df) <= p_max), bool)


def fit_bias_rate(misclosure: npt.ArrayLike, L: npt.ArrayLike, durations: npt.ArrayLike, tau: float) -> BiasFit:
    """Least-squares bias rate of every pixel from its loop misclosures, for the decay time ``tau``
    (yr): Maghsoudi et al. (2022)'s linear relation with the fading of Ansari et al. (2021), see
    the module docstring.

    ``r = Σ g m / Σ g²`` over the pixel's valid loops (``g`` from :func:`loop_shapes`). Its standard
    error accounts for the loops sharing pairs: with pair noise of variance ``σ²``, the misclosures
    have covariance ``σ² L Lᵀ``, so ``var r = σ² |Lᵀ g|² / (Σ g²)²``, with ``σ²`` estimated as the
    residual variance per loop over 3 (a triangle sums three pairs' noise). The rate returned is
    shrunk by ``max(0, 1 - 1/z²)`` (the positive-part James-Stein factor: it lowers the mean squared
    error of a rate measured with noise, and leaves a rate far above its error as it is); pixels
    with fewer than 2 valid loops get 0 (left uncorrected).

    ``misclosure`` (nloop, npix) rad (NaN = not valid), ``L`` (nloop, npair) the triangles,
    ``durations`` (nloop, 3) yr. Vectorised over pixels (sums over the loops and one sparse product;
    each pixel's result is independent of the others')."""
    from kansho.loops import _sparse

    m = np.asarray(misclosure, np.float64)
    d = np.asarray(durations, np.float64).reshape(-1, 3)
    if m.ndim != 2 or m.shape[0] != d.shape[0]:
        raise ValueError(f"misclosure {m.shape} and durations {d.shape} disagree on the loops")
    npix = m.shape[1]
    if d.shape[0] == 0:
        nan = np.full(npix, np.nan)
        return BiasFit(np.zeros(npix), float(tau), nan, np.zeros(npix, np.int64), np.zeros(npix), nan.copy())
    g = loop_shapes(d, [tau])[0]  # (nloop,)
    num, den, ss, ok = _rate_sums(m, g)
    n = ok.sum(axis=0).astype(np.int64)
    gv = np.where(ok, g[:, None], 0.0)  # (nloop, npix)
    h2 = np.square(np.asarray(_sparse(np.asarray(L).T, np.float64) @ gv)).sum(axis=0)  # |Lᵀ g|²
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / den, 0.0)
        rss = np.maximum(ss - r * num, 0.0)
        s2_pair = rss / np.maximum(n - 1, 1) / 3.0
        se = np.sqrt(s2_pair * h2) / den
        z = np.where((n >= 2) & (den > 0), r / np.maximum(se, 1e-300), np.nan)
        shrink = np.where(r != 0, np.clip(1.0 - np.square(se / np.where(r != 0, r, 1.0)), 0.0, 1.0), 0.0)
    fitted = (n >= 2) & (den > 0)
    return BiasFit(np.where(fitted, r * shrink, 0.0), float(tau), z, n, rss, np.where(fitted, se, np.nan))


def pair_bias(fit: BiasFit, pairs: npt.ArrayLike, t: npt.ArrayLike) -> Float64Array:
    """The bias ``r · f(Δt; τ)`` (rad) of every pair at every pixel: (npair, npix); subtract it from the
    phase. ``pairs`` (npair, 2) epoch indices, ``t`` (n_epoch,) yr. 0 where the rate is 0."""
    p = np.asarray(pairs, np.intp).reshape(-1, 2)
    tt = np.asarray(t, np.float64)
    dt = tt[p[:, 1]] - tt[p[:, 0]]
    return np.asarray(fit.rate[None, :] * decay_shape(dt, fit.tau)[:, None], np.float64)


def taus_for(pairs: npt.ArrayLike, t: npt.ArrayLike) -> Float64Array:
    """The τ grid (yr) of a network: :data:`TAU_FACTORS` times its shortest pair's duration."""
    p = np.asarray(pairs, np.intp).reshape(-1, 2)
    tt = np.asarray(t, np.float64)
    dt = tt[p[:, 1]] - tt[p[:, 0]]
    return np.asarray(TAU_FACTORS) * float(dt[dt > 0].min()) if (dt > 0).any() else np.zeros(0)


# ------------------------------------------------------------------------- per-class (diagnostic) model
def class_matrix(L: npt.ArrayLike, pairs: npt.ArrayLike, t: npt.ArrayLike
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The loop matrix over duration classes: ``G`` (nloop, nclass) and the classes ``n`` (nclass,).

    A pair's class is its duration in units of the network's shortest pair, rounded; with one bias
    ``β_n`` per class (the stationary model of Falabella & Pepe 2022, "Non-closure phase of multi-look
    InSAR triplets: a novel phase bias mitigation method"; Maghsoudi et al. 2022's ``a_n`` with a
    constant per-interval bias) the misclosures are ``G β``. Classes on no loop get a zero column."""
    Lm = np.asarray(L)
    p = np.asarray(pairs, np.intp).reshape(-1, 2)
    tt = np.asarray(t, np.float64)
    dt = tt[p[:, 1]] - tt[p[:, 0]]
    if p.shape[0] == 0:
        return np.zeros((Lm.shape[0], 0), np.int64), np.zeros(0, np.int64)
    n = np.maximum(np.rint(dt / dt[dt > 0].min()), 1).astype(np.int64)
    classes = np.unique(n)
    onehot = (n[:, None] == classes[None, :]).astype(np.int64)
    return Lm.astype(np.int64) @ onehot, classes


def unseen_combinations(G: npt.ArrayLike, tol: float = 1e-9) -> Float64Array:
    """Orthonormal basis (k, nclass) of the class-bias combinations no loop sees (the null space of
    ``G``). For a network with triangles it holds ``β_n ∝ n`` (a bias proportional to the duration:
    a velocity), plus one unit vector per class on no loop; with no loop, every class."""
    Gm = np.asarray(G, np.float64)
    k = Gm.shape[1]
    if Gm.shape[0] == 0 or k == 0:
        return np.eye(k)
    _, s, vt = np.linalg.svd(Gm, full_matrices=True)
    rank = int((s > tol * max(s.max(), 1.0)).sum())
    return vt[rank:]


def fit_class_bias(misclosure: npt.ArrayLike, G: npt.ArrayLike, classes: npt.ArrayLike) -> Float64Array:
    """Per-pixel least-squares class biases ``β`` (nclass, npix) rad from the misclosures.

    The loops fix ``β`` modulo :func:`unseen_combinations`; the representative returned has no
    component along them at the pixel's valid loops (minimum norm), except the common rate, which
    is fixed by ``β = 0`` for the longest class on a loop (long pairs unbiased; Maghsoudi et al.
    2022 refer to their longest pairs likewise). A pixel whose loops see nothing gets 0.
    Vectorised: batched pseudo-inverses of the (nclass, nclass) normal matrices."""
    m = np.asarray(misclosure, np.float64)
    Gm = np.asarray(G, np.float64)
    cl = np.asarray(classes, np.float64)
    nclass = Gm.shape[1]
    npix = m.shape[1] if m.ndim == 2 else 0
    if Gm.shape[0] == 0 or nclass == 0:
        return np.zeros((nclass, npix))
    on_loop = np.flatnonzero(np.abs(Gm).sum(axis=0) > 0)
    ok = np.isfinite(m).astype(np.float64)
    m0 = np.where(ok > 0, m, 0.0)
    normal = np.einsum("li,lp,lj->pij", Gm, ok, Gm)
    rhs = np.einsum("li,lp->pi", Gm, m0)
    beta = np.einsum("pij,pj->ip", np.linalg.pinv(normal), rhs)
    if on_loop.size:  # the common rate: long pairs unbiased
        top = on_loop[-1]
        beta = beta - np.outer(cl / cl[top], beta[top]) * (np.abs(Gm).sum(axis=0) > 0)[:, None]
    return beta
