"""Bridging network gaps: the temporal model the data support, and the uncertainty of each bridged epoch.

Where a pixel's network has gaps (intervals that no used pair spans), its time series falls into
connected *segments*: inside one, the data fix every displacement relative to the segment's
first epoch; the offsets between segments are fixed only by the NSBAS temporal constraint
(López-Quiroz et al. 2009, JAG 69(4); Doin et al. 2011, FRINGE). With ``gamma`` small, the
NSBAS minimiser along those offsets is exactly the least-squares fit of

    ``cum[m] = model(t[m]) - a[seg(m)]``   (``a[0] = 0``: epoch 0 is the reference)

to the inverted series (:func:`kansho._nsbas_band.fix_gap_offsets`): the offsets ``a`` are the
coefficients of the segment indicators in a regression of ``cum`` on ``[model columns,
indicators]``. This module fits that regression for any model (linear; + annual sine/cosine;
+ Heaviside steps at given dates), per pixel, batched over the pixels that share a gap pattern,
so the choice between models sees only what the connected network constrains.

Model choice: the *focused information criterion* (FIC; Claeskens & Hjort 2003, JASA
98(464):900; Claeskens & Hjort 2008, *Model Selection and Model Averaging*, ch. 6) with the
velocity as the focus: the part ``mu = f·shift`` of the linear-fit velocity (``f`` its weights)
that the bridged offsets contribute. For each candidate ``k`` its mean squared error is
estimated as ``V_k + B_k``: the variance ``V_k = s_k² ‖(f S) L_k‖²`` (``s_k²`` the residual
variance of the fit, ``L_k`` the rows of the pseudo-inverse giving the offsets) and the squared
bias against the widest candidate ``W``, ``B_k = (mu_k - mu_W)² - |V_W - V_k|``
(unbiased for nested least-squares models, where ``Var(mu_W - mu_k) = V_W - V_k``). Per pixel
``B_k`` is a very noisy estimate: a rule that picks the wider model whenever it is smaller picks
it by chance at ~16 % of pixels where no model bias exists, and an annual model bridged over a
1.7-yr series has twice the linear model's error. Both terms are therefore averaged over a
region (a Gaussian window, NaN-aware normalised convolution; the bias term truncated at 0 after
averaging), which is the *averaged* FIC of
Claeskens & Hjort (2008, §6.9) over the region's pixels; neighbouring pixels share a model and
noise does not flip it pixel by pixel. A narrower model's bias term counts only beyond a margin
(:data:`BIAS_MARGIN`), and the narrower model must beat the widest by a fraction
(:data:`NARROW_PENALTY`).

Why not BIC or AIC on the fits (measured on simulated 120-px frames, velocity RMSE over the kept
pixels): they weigh the fit, not the offsets' error. On a 1.7-yr gapped frame where the annual
model's offsets are twice as noisy (line 6.24 mm/yr, annual 12.10), per-pixel BIC gave 7.36 (6.70
with the criterion smoothed), AIC 9.84, the per-pixel FIC 10.05; the regional FIC keeps the line
(6.24). On a 3-yr gapped frame (line 4.16, annual 3.74) BIC gave 4.11, AIC 3.93, the regional FIC
3.74.

Uncertainty: the variance of each offset from the chosen fit (``s_k² (XᵀX)⁻¹``), scaled by the
region's ``(V_k + B_k) / V_k`` (the model-choice part), is the variance of every epoch of that
segment; 0 in the reference segment. With the epochs weighted by their noise
(:func:`kansho.velocity.epoch_weights`) the offsets are the weighted fit's, their variance the
larger of the weighted fit's (``s_w² (XᵀWX)⁻¹``) and the equal-weight fit's: the epochs' errors are
not independent (the seasonal part of the atmosphere, motion the model misses), and the weighted
σ alone under-stated the true offset errors (on a simulated 3-yr gapped frame, error over σ RMS
1.34 against 0.89 with equal weights). A step date that falls inside one of the pixel's gaps
cannot be told from the gap's offset: its segments get an infinite σ (the bridge there assumes
no step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from kansho._columns import put_columns, take_columns
from kansho._invert_jit import apply_offsets, put_offsets
from kansho._threads import map_threads
from kansho._types import BoolArray, Float64Array, as_float
from kansho.filters import gaussian_nan, gaussian_weight

__all__ = [
    "ANNUAL_MIN_SIDE_YR",
    "ANNUAL_MIN_SPAN_YR",
    "BridgeFit",
    "Candidate",
    "annual_supported",
    "apply_shift",
    "bridge_into",
    "candidates",
    "fit_bridge",
    "segments",
    "select_models",
]

#: the annual term is a candidate only where the connected segments span this much in total (yr) ...
ANNUAL_MIN_SPAN_YR = 1.0
#: ... and at least this much on each side of every gap (yr)
ANNUAL_MIN_SIDE_YR = 0.25
#: a narrower model's regional squared bias counts only beyond this many times ``Var(mu_W - mu_k)``:
#: about two standard errors of the estimate, ``sqrt(2 / N) Var(mu_W - mu_k)`` with N ~ 8 independent
#: samples in a 3-km region of km-correlated atmosphere (without it, correlated noise alone makes the
#: annual model win over whole regions of a 1.7-yr series, where it doubles the velocity error)
BIAS_MARGIN = 1.0
#: a narrower model must beat the widest one's estimated MSE by this fraction: its bias estimate is
#: blind to what the data cannot show over a region, and a bias is common to the region's pixels (it
#: does not average out in regional means or the spatial filter, noise does), so where the wider
#: model costs almost no variance (gapped series of 2.5 yr and more: +2 to +5 %) it is taken, even
#: for a purely linear motion. Without it a 3-yr gapped frame kept the line at ~40 % of its pixels
#: (velocity RMSE 3.96 mm/yr instead of the annual model's 3.74).
NARROW_PENALTY = 0.1


@dataclass(frozen=True)
class Candidate:
    """A temporal model of the bridge: line, + annual sine/cosine, + steps at the given dates."""

    annual: bool = False
    steps: bool = False

    @property
    def code(self) -> int:
        """Stored code: 0 linear, 1 annual, 2 linear + steps, 3 annual + steps."""
        return int(self.annual) + 2 * int(self.steps)

    @property
    def name(self) -> str:
        return ("annual" if self.annual else "linear") + (" + steps" if self.steps else "")


def candidates(model: str, with_steps: bool) -> list[Candidate]:
    """The candidates of ``model`` (``"linear"``, ``"annual"`` or ``"auto"``), narrowest first.

    With step dates, fixed models always include the steps; ``auto`` chooses with and without.
    """
    if model == "auto":
        base = [Candidate(False), Candidate(True)]
        if with_steps:
            base = [Candidate(False), Candidate(False, True), Candidate(True), Candidate(True, True)]
        return base
    if model in ("linear", "annual"):
        return [Candidate(model == "annual", with_steps)]
    raise ValueError(f"model must be 'linear', 'annual' or 'auto', got {model!r}")


def segments(gap: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``(n_epoch, npix)`` segment label of every epoch (0 up to the first gap) from ``gap``
    ``(n_epoch - 1, npix)`` bool (True where no used pair spans the interval)."""
    g = np.asarray(gap, bool)
    out = np.zeros((g.shape[0] + 1, g.shape[1]), np.int64)
    for k in range(g.shape[0]):  # row by row: a cumsum along axis 0 walks each column apart (~10x slower)
        np.add(out[k], g[k], out=out[k + 1])
    return out


def _design(t: Float64Array, cand: Candidate, step_times: Float64Array) -> Float64Array:
    """``(n_epoch, p)`` model columns: t - mean(t), 1 [, sin 2πt, cos 2πt] [, H(t - t_s)]."""
    cols = [t - t.mean(), np.ones_like(t)]
    if cand.annual:
        cols += [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
    if cand.steps:
        cols += [(t >= ts).astype(np.float64) for ts in step_times]
    return np.stack(cols, axis=1)


def _side_spans(t: Float64Array, seg: npt.NDArray[np.int64]) -> tuple[float, float, float]:
    """(total span of the segments, least span before a gap, least span after a gap), yr, of one
    pattern's segment labels ``seg`` ``(n_epoch,)``."""
    ns = int(seg[-1]) + 1
    first = np.array([t[seg == s].min() for s in range(ns)])
    last = np.array([t[seg == s].max() for s in range(ns)])
    span = last - first
    before = np.cumsum(span)[:-1]
    after = np.cumsum(span[::-1])[::-1][1:]
    total = float(span.sum())
    return total, float(before.min()) if before.size else total, float(after.min()) if after.size else total


def annual_supported(t: npt.ArrayLike, seg: npt.NDArray[np.int64]) -> bool:
    """Whether one pattern's connected segments ``seg`` ``(n_epoch,)`` can support an annual term:
    at least :data:`ANNUAL_MIN_SPAN_YR` of connected data in total and :data:`ANNUAL_MIN_SIDE_YR`
    before and after every gap."""
    total, before, after = _side_spans(np.asarray(t, np.float64), seg)
    return total >= ANNUAL_MIN_SPAN_YR and min(before, after) >= ANNUAL_MIN_SIDE_YR


@dataclass(frozen=True)
class BridgeFit:
    """One candidate's bridge at ``npix`` pixels (``n`` epochs).

    ``shift`` ``(n, npix)`` mm: subtract from ``cum`` to bridge (0 in the reference segment);
    ``var`` ``(n, npix)`` mm²: variance of each epoch's offset (0 in the reference segment, inf
    after a gap holding a step date, NaN at unsolved pixels); ``mu`` ``(npix,)`` mm/yr: the
    offsets' part of the linear-fit velocity, ``vmu`` its variance; ``allowed`` ``(npix,)``:
    False where the candidate is not supported (annual over too short a series) — then ``shift``
    is 0 and ``var``/``vmu`` NaN; ``gapped`` ``(npix,)``: the pixel has a gap. ``shift`` and ``var``
    are None when only the statistics of the choice were asked for (``series=False``).
    """

    shift: Float64Array | None
    var: Float64Array | None
    mu: Float64Array
    vmu: Float64Array
    allowed: BoolArray
    gapped: BoolArray


def fit_bridge(cum: npt.ArrayLike, gap: npt.ArrayLike, t: npt.ArrayLike, cand: Candidate,
               step_times: npt.ArrayLike = (), *, require_support: bool = True, series: bool = True,
               weights: npt.ArrayLike | None = None,
               patterns: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]] | None = None,
               pattern_y: list[Float64Array] | None = None) -> BridgeFit:
    """Fit the bridge of candidate ``cand`` at every pixel.

    Parameters
    ----------
    cum:
        ``(n_epoch, npix)`` mm, the inverted series (NaN at every epoch of an unsolved pixel).
    gap:
        ``(n_epoch - 1, npix)`` bool, True where no used pair spans the interval.
    t:
        ``(n_epoch,)`` years, increasing.
    cand:
        The model; ``step_times`` ``(n_step,)`` years of its steps (used when ``cand.steps``).
    require_support:
        Fit an annual candidate only at pixels whose segments support it (:func:`annual_supported`);
        False fits it everywhere (the model was imposed).
    series:
        Also return the per-epoch ``shift`` and ``var`` (False: only ``mu``/``vmu``, for the choice).
    weights:
        ``(n_epoch,)`` > 0, each epoch's weight (inverse noise variance,
        :func:`kansho.velocity.epoch_weights`): the regression is weighted least squares, ``var``
        its offsets' variance with the residual variance of unit weight, and the focus ``mu`` the
        offsets' part of the *weighted* linear-fit velocity. None = equal weights.

    patterns:
        :func:`gap_patterns` of ``cum`` and ``gap``, when the caller has them already; ``pattern_y`` each
        pattern's series (:func:`pattern_series`), when several candidates are fitted to them (``cum`` is
        then only read for its finite pixels: it may be float32).

    Pixels sharing a gap pattern share the design matrix: one pseudo-inverse (SVD, minimum norm)
    per pattern serves all of them.
    """
    y = np.asarray(cum) if pattern_y is not None else np.asarray(cum, np.float64)
    g = np.asarray(gap, bool)
    tt = np.asarray(t, np.float64)
    st = np.asarray(step_times, np.float64).ravel()
    n, npix = y.shape
    if g.shape != (n - 1, npix):
        raise ValueError(f"gap must have shape {(n - 1, npix)}, got {g.shape}")
    shift = np.zeros((n, npix)) if series else None
    var = np.full((n, npix), np.nan) if series else None
    mu = np.zeros(npix)
    vmu = np.full(npix, np.nan)
    allowed = np.ones(npix, bool)
    solved = np.all(np.isfinite(y), axis=0)
    gapped: BoolArray = np.asarray(g.any(axis=0), bool)
    if var is not None:
        var[:, solved & ~gapped] = 0.0
    vmu[solved & ~gapped] = 0.0
    ew = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if ew.shape != (n,) or not np.all(ew > 0):
        raise ValueError(f"weights must be ({n},) and > 0")
    tw = tt - float(np.sum(ew * tt) / np.sum(ew))
    f = ew * tw / max(float(np.sum(ew * tw**2)), 1e-300)  # the linear-fit velocity's weights on the epochs
    for i, (px, s) in enumerate(gap_patterns(y, g) if patterns is None else patterns):
        if cand.annual and require_support and not annual_supported(tt, s):
            allowed[px] = False
            continue
        # the pattern's series: px increases, so when it holds every pixel it is y itself
        yp = pattern_y[i] if pattern_y is not None else y if px.size == npix else take_columns(y, px)
        _fit_pattern(yp, s, tt, cand, st, f, px, shift, var, mu, vmu, np.sqrt(ew))
    return BridgeFit(shift, var, mu, vmu, allowed, gapped)


def gap_patterns(cum: npt.ArrayLike, gap: npt.ArrayLike) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]]:
    """The solved pixels of ``cum`` ``(n_epoch, npix)`` with a gap in ``gap`` ``(n_epoch - 1, npix)``,
    grouped by gap pattern: per pattern its pixels and its segment labels ``(n_epoch,)``, what
    :func:`fit_bridge` fits pattern by pattern (computed once where several candidates are fitted to the
    same series)."""
    g = np.asarray(gap, bool)
    cols = np.flatnonzero(np.all(np.isfinite(np.asarray(cum)), axis=0) & g.any(axis=0))
    if cols.size == 0:
        return []
    return [(cols[px], segments(g[:, cols[px[:1]]])[:, 0]) for px in _pattern_groups(g[:, cols])]


def _pattern_groups(g: BoolArray) -> list[npt.NDArray[np.intp]]:
    """Column indices of ``g`` ``(n', k)`` grouped by identical columns (gap patterns): the columns are
    packed into 64-bit words and sorted lexicographically (``np.unique(axis=0)`` sorts a void view,
    ~40x slower)."""
    packed = np.packbits(g.T, axis=1)  # (k, ceil(n'/8)) uint8
    pad = (-packed.shape[1]) % 8
    words = np.ascontiguousarray(np.pad(packed, ((0, 0), (0, pad)))).view(np.uint64)  # (k, w)
    order = np.lexsort(words.T[::-1])
    w = words[order]
    new = np.r_[True, np.any(w[1:] != w[:-1], axis=1)]
    return np.split(order, np.flatnonzero(new)[1:])


def pattern_series(cum: npt.ArrayLike, patterns: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]]
                   ) -> list[Float64Array]:
    """Each pattern's pixels' series ``(n_epoch, k)`` float64 from ``cum`` ``(n_epoch, npix)`` (float32 or
    float64), for :func:`fit_bridge`'s ``pattern_y``: gathered and converted once for every candidate."""
    c = np.asarray(cum)
    return [np.asarray(take_columns(c, px), np.float64) for px, _ in patterns]


class _PatternFit(NamedTuple):
    """One gap pattern's regression (:func:`_pattern_fit`): the one-hot segments ``ind`` ``(n, ng)``, the epochs
    whose offset is lost to a step in a gap ``lost`` ``(n,)``, the offsets ``a`` ``(ng, k)``, their rows of the
    weighted pseudo-inverse ``lw`` ``(ng, n)``, the residual variances ``s2`` ``(k,)``, and (``var``) each
    epoch's offset variance factors ``vw``/``vu`` ``(n,)`` with the equal-weight residual variances ``s2u``."""

    ind: Float64Array
    lost: BoolArray
    a: Float64Array
    lw: Float64Array
    s2: Float64Array
    vw: Float64Array | None
    vu: Float64Array | None
    s2u: Float64Array | None


def _pattern_fit(yp: Float64Array, s: npt.NDArray[np.int64], t: Float64Array, cand: Candidate, st: Float64Array,
                 sw: Float64Array, var: bool) -> _PatternFit:
    """The regression of :func:`fit_bridge` for the pixels sharing the segment labels ``s``, their series
    ``yp`` ``(n_epoch, k)``, its rows scaled by ``sw`` (the square roots of the epochs' weights)."""
    n = t.size
    ng = int(s[-1])
    ind = (s[:, None] == np.arange(1, ng + 1)[None]).astype(np.float64)  # (n, ng)
    # a step inside a gap (between two segments) cannot be told from the gap's offset
    lost = np.zeros(ng + 1, bool)
    keep_steps = st
    if cand.steps and st.size:
        seg_at = np.searchsorted(t, st, side="left")  # first epoch on/after the step
        inside = (seg_at > 0) & (seg_at < n)
        in_gap = inside & (s[np.clip(seg_at, 0, n - 1)] != s[np.clip(seg_at - 1, 0, n - 1)])
        for i in np.flatnonzero(in_gap):
            lost[s[seg_at[i]]:] = True
        keep_steps = st[inside & ~in_gap]
    tm = _design(t, cand, keep_steps)
    x = np.concatenate([tm, ind], axis=1)
    equal = bool(np.all(sw == 1.0))
    yy = yp if equal else yp * sw[:, None]  # (a product by 1.0 changes nothing)
    lw, s2 = _offset_rows(x if equal else x * sw[:, None], yy, tm.shape[1])  # offsets = lw @ (sw y), weighted
    a = lw @ yy  # (ng, k)
    vw = vu = s2u = None
    if var:
        vw = ind @ np.sum(lw * lw, axis=1)
        vu, s2u = vw, s2
        if not equal:  # never below the equal-weight fit's σ (module docstring)
            lu, s2u = _offset_rows(x, yp, tm.shape[1])
            vu = ind @ np.sum(lu * lu, axis=1)
    return _PatternFit(ind, lost[s], a, lw, s2, vw, vu, s2u)


def _fit_pattern(yp: Float64Array, s: npt.NDArray[np.int64], t: Float64Array, cand: Candidate, st: Float64Array,
                 f: Float64Array, px: npt.NDArray[np.intp], shift: Float64Array | None, var: Float64Array | None,
                 mu: Float64Array, vmu: Float64Array, sw: Float64Array) -> None:
    """The regression of :func:`fit_bridge` for the pixels ``px`` sharing the segment labels ``s``, their
    series ``yp`` ``(n_epoch, k)`` (:func:`_pattern_fit`); fills their columns of the outputs."""
    pf = _pattern_fit(yp, s, t, cand, st, sw, shift is not None and var is not None)
    if shift is not None and var is not None and pf.vw is not None and pf.vu is not None and pf.s2u is not None:
        # shift = ind @ a, var = max(vw ⊗ s2, vu ⊗ s2u) (inf where lost) into their columns in one pass
        put_offsets(shift, var, np.asarray(px, np.intp), np.asarray(s, np.int64), pf.a, pf.vw, pf.s2, pf.vu,
                    pf.s2u, pf.lost)
    c = f @ pf.ind  # (ng,)
    mu[px] = c @ pf.a
    vmu[px] = float(np.sum((c @ pf.lw) ** 2)) * pf.s2


def bridge_into(cum: np.ndarray, sd: np.ndarray, px: npt.ArrayLike, gap: npt.ArrayLike, t: npt.ArrayLike,
                cand: Candidate, step_times: npt.ArrayLike = (), *, weights: npt.ArrayLike | None = None,
                infl: npt.ArrayLike | float = 1.0) -> None:
    """Bridge the pixels ``px`` of ``cum`` ``(n_epoch, npix)`` float32 in place with the model ``cand`` and write
    their σ into ``sd`` ``(n_epoch, npix)`` float32: ``apply_shift(fit_bridge(cum[:, px] in float64, gap[:, px],
    t, cand, step_times, require_support=False, weights=weights), infl)`` stored in float32, the same values,
    without its ``(n_epoch, len(px))`` float64 arrays: each gap pattern's offsets go straight into its columns
    (:func:`kansho._invert_jit.apply_offsets`). ``gap`` ``(n_epoch - 1, npix)`` bool; ``infl`` ``(len(px),)``
    or one value."""
    cols = np.asarray(px, np.intp)
    g = take_columns(np.asarray(gap, bool), cols)
    y = take_columns(cum, cols)
    tt = np.asarray(t, np.float64)
    st = np.asarray(step_times, np.float64).ravel()
    n = tt.size
    ew = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if ew.shape != (n,) or not np.all(ew > 0):
        raise ValueError(f"weights must be ({n},) and > 0")
    inf = np.broadcast_to(np.asarray(infl, np.float64), cols.shape)
    pats = gap_patterns(y, g)
    rest = np.ones(cols.size, bool)
    for loc, s in pats:
        rest[loc] = False
        pf = _pattern_fit(take_columns(y, loc).astype(np.float64), s, tt, cand, st, np.sqrt(ew), True)
        assert pf.vw is not None and pf.vu is not None and pf.s2u is not None
        apply_offsets(cum, sd, cols[loc], np.asarray(s, np.int64), pf.a, pf.vw, pf.s2, pf.vu, pf.s2u, pf.lost,
                      np.ascontiguousarray(inf[loc]))
    if rest.any():  # no pattern: the series as it is, σ 0 where solved without a gap, NaN where not solved
        solved = np.isfinite(y[:, rest]).all(axis=0) & ~g[:, rest].any(axis=0)
        with np.errstate(invalid="ignore"):  # 0 · inf: NaN, as apply_shift has it
            put_columns(sd, cols[rest], np.sqrt(np.where(solved, 0.0, np.nan) * inf[rest]))


def _offset_rows(x: Float64Array, y: Float64Array, n_model: int) -> tuple[Float64Array, Float64Array]:
    """Least squares of ``y`` ``(n, k)`` on the columns ``x`` ``(n, p)`` (the first ``n_model`` the
    model, the rest the segments' offsets) by SVD, minimum norm: the offsets' rows of the
    pseudo-inverse ``(p - n_model, n)`` and each pixel's residual variance ``(k,)``."""
    u, sv, vt = np.linalg.svd(x, full_matrices=False)
    ok = sv > sv[0] * 1e-10
    uo = u[:, ok]
    rows = (vt[ok, n_model:].T / sv[ok]) @ uo.T
    # residual sum of squares as |y|² - |Uᵀy|² (y minus its projection on the columns)
    rss = np.maximum(np.einsum("nk,nk->k", y, y) - np.sum((uo.T @ y) ** 2, axis=0), 0.0)
    return rows, rss / max(x.shape[0] - int(ok.sum()), 1)


def select_models(mu: npt.ArrayLike, vmu: npt.ArrayLike, allowed: npt.ArrayLike, sigma_px: tuple[float, float]
                  ) -> tuple[npt.NDArray[np.int64], Float64Array]:
    """Choose a candidate per pixel by the regional focused information criterion (module docstring).

    Parameters
    ----------
    mu, vmu:
        ``(K, ny, nx)``: each candidate's focus (mm/yr) and its variance ((mm/yr)²), candidates
        ordered narrowest first so that the last allowed one is the widest (NaN where not fitted).
    allowed:
        ``(K, ny, nx)`` bool, the candidate is supported at the pixel.
    sigma_px:
        ``(sy, sx)`` width of the regional Gaussian window (pixels).

    Returns
    -------
    ``(choice (ny, nx) int64 index into the candidates, -1 where no candidate is allowed;
    infl (ny, nx) float64 >= 1: the chosen model's estimated MSE over its variance, region-averaged)``.
    """
    # float32 maps (the chain's) stay float32, each value taken in float64 where it is used (the same numbers as
    # from float64 copies: 4 bytes a pixel and candidate less, of the frame-wide piece's ~160)
    m, v = as_float(mu), as_float(vmu)
    al = np.asarray(allowed, bool) & np.isfinite(v)
    kk = m.shape[0]
    # the widest allowed candidate (-1 where none) and its focus and variance, picked candidate by candidate
    # (the maps are whole frames: no (K, ny, nx) index or score arrays; the same values)
    widest = np.full(m.shape[1:], -1, np.int8 if kk < 128 else np.int64)
    mu_w, v_w = np.full(m.shape[1:], m[0], np.float64), np.full(m.shape[1:], v[0], np.float64)
    for k in range(kk):
        np.copyto(widest, k, where=al[k])
        np.copyto(mu_w, m[k], where=al[k])
        np.copyto(v_w, v[k], where=al[k])

    def regional(k: int) -> tuple[Float64Array, Float64Array]:
        """Candidate ``k``'s regional variance and MSE (``(ny, nx)``, inf where not allowed)."""
        # unbiased per pixel; averaged over the region, then truncated at 0 (a pixel-wise truncation
        # would bias the average up by ~0.3 Var(mu_W - mu_k) where no model bias exists)
        dv = np.where(al[k], np.abs(v_w - v[k]), np.nan)
        bias2 = np.where(al[k], (m[k] - mu_w) ** 2, np.nan) - dv
        vk = np.where(al[k], v[k], np.float64(np.nan))  # float64 (a float64 scalar wins over a float32 map)
        # the three maps share the finite pattern al[k] (where the focus is finite too): its normalising weight
        # is convolved once, not three times (the same bits; a third less work and memory)
        same = np.array_equal(np.isfinite(bias2), al[k]) and np.array_equal(np.isfinite(dv), al[k])
        den = gaussian_weight(al[k], *sigma_px) if same else None
        sv = gaussian_nan(vk, *sigma_px, fill=True, den=den)
        del vk
        sb = np.maximum(gaussian_nan(bias2, *sigma_px, fill=True, den=den)
                        - BIAS_MARGIN * gaussian_nan(dv, *sigma_px, fill=True, den=den), 0.0)
        return sv, np.where(al[k] & np.isfinite(sv), sv + np.nan_to_num(sb), np.inf)

    # the least score wins, the first candidate on a tie (argmin's rule); scores are finite or inf, never NaN
    choice = np.zeros(m.shape[1:], np.int64)
    best_score = best = vbest = np.empty(0)
    for k, (sv, mk) in enumerate(map_threads(regional, range(kk))):  # each candidate alone: any threads, same
        score = np.where(widest != k, mk * (1.0 + NARROW_PENALTY), mk)
        if k == 0:
            best_score, best, vbest = score, mk, sv
            continue
        better = score < best_score
        choice[better] = k
        np.copyto(best_score, score, where=better)
        np.copyto(best, mk, where=better)
        np.copyto(vbest, sv, where=better)
    choice[widest < 0] = -1
    with np.errstate(invalid="ignore", divide="ignore"):
        infl = np.where((vbest > 0) & np.isfinite(best), best / vbest, 1.0)
    return choice, np.maximum(infl, 1.0)


def apply_shift(cum: npt.ArrayLike, fit: BridgeFit, infl: npt.ArrayLike | float = 1.0
                ) -> tuple[Float64Array, Float64Array]:
    """``(cum - shift, σ)`` of a fit: the bridged series ``(n, npix)`` mm and each epoch's σ (mm,
    from ``var`` scaled by ``infl`` ``(npix,)``: 0 in the reference segment, inf where a step
    date falls in a gap, NaN at unsolved pixels)."""
    y = np.asarray(cum, np.float64)
    if fit.shift is None or fit.var is None:
        raise ValueError("the fit has no series (fit_bridge(..., series=False))")
    sd = np.sqrt(fit.var * np.asarray(infl, np.float64))
    return y - fit.shift, sd
