"""Step 1-6, ``filter.method: adaptive``: the spatio-temporal atmospheric filter with its widths
chosen from the data by cross-validation, and a weight that declines it where it would not help.

The classic filter (:mod:`kansho.filters`; Hooper et al., 2007; Morishita et al., 2020, §2.6) takes
as atmosphere of epoch ``e`` the spatial Gaussian low-pass (σ_s = 2 km) of the temporal high-pass
(σ_t = 3 mean intervals, after a linear trend) of the series. Both widths are fixed, while the
right ones depend on the atmosphere's correlation length, on the noise and on the deformation's
temporal smoothness (Hanssen, 2001, ch. 4; Emardson et al., 2003, *JGR* 108(B5) 2231). Here:

1. **Temporal model and width.** Each pixel's series ``y`` is fitted with a temporal model ``M``
   (offset, rate and, over a year or more of data, an annual sinusoid, so seasonal motion is not
   taken for atmosphere), and the model's residual is smoothed with a Gaussian of width σ_t
   (``T``); the smooth estimate of the series is ``H y = M y + T (I − M) y``. σ_t (or "model
   only", σ_t = ∞) minimises the leave-one-epoch-out prediction error of the series,
   ``((I − H) y)_i / (1 − H_ii)`` over a sample of pixels (the linear-smoother shortcut of
   leave-one-out cross-validation; Hastie, Tibshirani & Friedman, 2009, §7.10): the mean over
   epochs of its square plus its square at epoch 0, which every epoch of a series relative to
   epoch 0 carries. The atmosphere, white in time, is what the best smooth estimate leaves. The
   high-pass is ``hp = (I − H) y``.
2. **Spatial width and weight.** The atmosphere of epoch ``e`` is predicted at each pixel from its
   neighbours' ``hp`` by a Gaussian with a hole (the (2h+1)² pixels around it left out, so a
   pixel's own noise, correlated over a pixel or two by multilooking and filtering, is not part of
   its prediction): ``ĉ = G_hole * hp / G_hole * w``. The width σ_s and a weight α ∈ [0, 1] minimise
   the held-out error ``Σ (hp − α ĉ)²`` over a sample of epochs (cross-validation over pixels):
   α = Σ hp ĉ / Σ ĉ² (the regression of the held-out value on its prediction, a Wiener-like
   shrinkage). The correction removed is ``α (ĉ_e − ĉ_0)`` (the series is relative to epoch 0).
3. **Never worse than no filter.** The held-out error with α = 0 is the error of no filter; when
   the best σ_s lowers it by less than ``min_gain`` (no spatially coherent signal in the
   high-pass: pure noise or no atmosphere) the filter declines (α = 0) and the series is unchanged.

All functions are plain array functions; NaN means no data.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from kansho._columns import put_columns, take_columns
from kansho._flight import forget_flights, single_flight
from kansho._threads import map_threads
from kansho._types import BoolArray, Float64Array, FloatArray, as_float
from kansho.filters import (
    _KERNEL_CACHE,
    COMPILED_MIN_PX,
    _gaussian_kernel,
    _gaussian_zero_padded,
    ref_index,
    temporal_gaussian,
    use_fft,
)

log = logging.getLogger(__name__)

__all__ = [
    "SpatialChoice",
    "adaptive_filter",
    "adaptive_highpass",
    "cached_hole_weight",
    "choose_spatial",
    "clear_caches",
    "hole_lowpass",
    "hole_weight",
    "model_residual",
    "smoother_matrix",
    "spatial_cv_rows",
    "spatial_cv_sums",
    "temporal_basis",
    "temporal_cv",
    "temporal_score",
]

#: temporal widths tried, in mean epoch intervals (∞ = the temporal model alone)
TEMPORAL_FACTORS = (1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, np.inf)
#: spatial widths tried, pixels (of the coarser axis): √2 steps from 1 px up to a third of the frame
SPATIAL_PX = tuple(float(2 ** (k / 2)) for k in range(17))
#: half-width (px) of the hole left around a pixel in its own prediction
HOLE_PX = 1
#: least weight (fraction of the kernel's mass on finite pixels) at which a pixel is predicted
MIN_WEIGHT = 1e-3
#: least predicted fraction of the high-pass's held-out variance removed for the filter to act
MIN_GAIN = 0.02


def temporal_basis(t: npt.ArrayLike, *, annual: bool | None = None) -> Float64Array:
    """Columns of the per-pixel temporal model: 1, t − mean(t) and, when ``annual`` (default: the
    series spans at least one year), sin 2πt and cos 2πt.

    ``t``: (n_epoch,) years. Returns (n_epoch, k) float64, k = 2 or 4 (fewer than k + 2 epochs:
    the annual columns are dropped)."""
    tt = np.asarray(t, dtype=np.float64)
    span = float(tt.max() - tt.min()) if tt.size else 0.0
    if annual is None:
        annual = span >= 1.0
    cols = [np.ones_like(tt), tt - tt.mean()]
    if annual and tt.size >= 6:
        cols += [np.sin(2 * np.pi * tt), np.cos(2 * np.pi * tt)]
    return np.stack(cols, axis=1)


def model_residual(flat: npt.ArrayLike, basis: npt.ArrayLike) -> Float64Array:
    """Residual of each column of ``flat`` about its least-squares fit by the columns of ``basis``.

    ``flat``: (n_epoch, npix), NaN = no data; ``basis``: (n_epoch, k). Columns with all epochs
    share one projector; the others are solved by batched normal equations over their finite
    epochs (fewer than k + 1 finite epochs: the residual about their mean). Returns (n_epoch, npix)
    float64, NaN where ``flat`` is NaN."""
    y = np.asarray(flat, dtype=np.float64)
    B = np.asarray(basis, dtype=np.float64)
    k = B.shape[1]
    out = np.full(y.shape, np.nan)
    valid = np.isfinite(y)
    full = valid.all(axis=0)
    if full.any():
        yf = take_columns(y, full)
        fit = B @ (np.linalg.pinv(B) @ yf)  # the least-squares coefficients of every column by one product
        put_columns(out, full, np.subtract(yf, fit, out=fit))
        del yf, fit
    part = ~full & valid.any(axis=0)
    if part.any():
        v = valid[:, part].astype(np.float64)
        yp = np.where(valid[:, part], y[:, part], 0.0)
        G = np.einsum("ep,ei,ej->pij", v, B, B)  # (np, k, k)
        rhs = np.einsum("ep,ei->pi", yp, B)
        n = v.sum(axis=0)
        ok = (n >= k + 1) & (np.linalg.cond(G) < 1e10)
        coef = np.zeros((int(part.sum()), k))
        if ok.any():
            coef[ok] = np.linalg.solve(G[ok], rhs[ok][..., None])[..., 0]
        mean = yp.sum(axis=0) / np.maximum(n, 1)
        fit = np.where(ok[None], B @ coef.T, mean[None])
        put_columns(out, part, np.where(valid[:, part], y[:, part] - fit, np.nan))
    return out


def smoother_matrix(t: npt.ArrayLike, basis: npt.ArrayLike, sigma_yr: float) -> Float64Array:
    """The hat matrix ``H = M + T (I − M)`` (n_epoch, n_epoch) of the smooth estimate of a complete
    series: ``M`` the projector on ``basis``, ``T`` the row-normalised Gaussian of width
    ``sigma_yr`` (years; ∞ = no smoothing of the residual, ``H = M``)."""
    tt = np.asarray(t, dtype=np.float64)
    B = np.asarray(basis, dtype=np.float64)
    M = B @ np.linalg.pinv(B)
    if not np.isfinite(sigma_yr):
        return M
    D = (tt[None, :] - tt[:, None]) / sigma_yr
    W = np.exp(-0.5 * D * D)
    T = W / W.sum(axis=1, keepdims=True)
    return M + T @ (np.eye(tt.size) - M)


def temporal_cv(flat: npt.ArrayLike, t: npt.ArrayLike, basis: npt.ArrayLike,
                sigmas_yr: npt.ArrayLike) -> tuple[Float64Array, int]:
    """Leave-one-epoch-out prediction error of the smooth estimate for each temporal width.

    ``flat``: (n_epoch, npix) series, mm (columns with a NaN are left out); ``sigmas_yr``: (m,)
    widths, years (``inf`` = the model alone). Returns ((m, 2) float64: per width the sum over
    pixels and epochs of the squared leave-one-out residuals and that sum over epoch 0 alone, mm²;
    the number of columns used). :func:`temporal_score` combines them."""
    y = np.asarray(flat, dtype=np.float64)
    y = y[:, np.isfinite(y).all(axis=0)]
    sums = np.zeros((len(np.atleast_1d(sigmas_yr)), 2))
    if y.shape[1] == 0:
        return sums, 0
    for i, s in enumerate(np.atleast_1d(np.asarray(sigmas_yr, dtype=np.float64))):
        H = smoother_matrix(t, basis, float(s))
        lev = np.clip(1.0 - np.diag(H), 1e-3, None)
        r = (y - H @ y) / lev[:, None]
        sums[i] = (float(np.sum(r * r)), float(r[0] @ r[0]))
    return sums, int(y.shape[1])


def temporal_score(sums: npt.ArrayLike, n_epoch: int) -> Float64Array:
    """Predicted error (per pixel, mm²) of a series relative to its first epoch, from the sums of
    :func:`temporal_cv` (m, 2): the mean leave-one-out error of an epoch plus that of epoch 0, which
    every epoch of a series relative to epoch 0 carries (the errors taken as independent)."""
    s = np.asarray(sums, dtype=np.float64)
    return s[:, 0] / max(n_epoch, 1) + s[:, 1]


def adaptive_highpass(flat: npt.ArrayLike, t: npt.ArrayLike, basis: npt.ArrayLike, sigma_yr: float
                      ) -> Float64Array:
    """``hp = (I − H) y``: the model's residual less its Gaussian smoothing (NaN-aware, any
    sampling; :func:`kansho.filters.temporal_gaussian`). ``flat`` (n_epoch, npix) mm, ``t`` years,
    ``sigma_yr`` years (∞: the model's residual itself). Returns (n_epoch, npix) float64 mm.

    The complete columns (every epoch finite) by one product with ``I − H`` of :func:`smoother_matrix`
    (the operator the temporal cross-validation scores; the same numbers to round-off, ~1e-15 of
    the series), the others by the model's NaN-aware fit and smoothing."""
    y = np.asarray(flat, dtype=np.float64)
    valid = np.isfinite(y)
    full = valid.all(axis=0)
    A = np.eye(y.shape[0]) - smoother_matrix(t, basis, float(sigma_yr))
    if full.all():
        return A @ y
    out = np.full(y.shape, np.nan)
    if full.any():
        put_columns(out, full, A @ take_columns(y, full))
    rest = ~full & valid.any(axis=0)
    del valid
    if rest.any():
        r = model_residual(take_columns(y, rest), basis)
        if np.isfinite(sigma_yr):
            r -= temporal_gaussian(r, t, float(sigma_yr))
        put_columns(out, rest, r)
    return out


def _centre_kernel(sigma: float, hole: int, truncate: float) -> Float64Array:
    """The central 2·hole+1 taps of the normalised 1-D Gaussian of :func:`_gaussian_zero_padded`."""
    k = _gaussian_kernel(sigma, truncate) if sigma > 0 else np.ones(1)
    r = k.size // 2
    h = min(hole, r)
    return k[r - h: r + h + 1]


def _hole_convolve(stack: FloatArray, sig: tuple[float, float], hole: int, truncate: float) -> FloatArray:
    """``(G − G_c) *`` each image of ``stack`` (k, ny, nx), zero padding (see :func:`hole_lowpass`).

    For a wide kernel (:func:`kansho.filters.use_fft`) one FFT convolution with ``G − G_c`` itself (the
    Gaussian with its central taps zeroed); otherwise ``G *`` less ``G_c *``, each direct. The two
    differ by round-off only (~1e-16 of the image's magnitude). A float32 ``stack`` convolved by FFT is
    transformed in float32 (result float32; :func:`spatial_cv_sums` with ``fft_float32``)."""
    if use_fft(sig):
        return _gaussian_zero_padded(stack, sig, truncate, hole=hole)
    full = _gaussian_zero_padded(stack, sig, truncate)
    ky, kx = _centre_kernel(sig[0], hole, truncate), _centre_kernel(sig[1], hole, truncate)
    if ky.size == kx.size == 3 and ky[0] == ky[2] and kx[0] == kx[2] and full.dtype == np.float64:
        from kansho._filter_jit import subtract_centre3

        subtract_centre3(full, np.asarray(stack, np.float64), float(ky[1]), float(ky[0]), float(kx[1]),
                         float(kx[0]))
        return full
    centre = ndimage.correlate1d(ndimage.correlate1d(stack, ky, axis=1, mode="constant"), kx, axis=2,
                                 mode="constant")
    return np.subtract(full, centre, out=full)


def hole_weight(valid: npt.ArrayLike, sigma_px: tuple[float, float], *, hole: int = HOLE_PX,
                truncate: float = 4.0) -> Float64Array:
    """The normalising weight ``(G − G_c) * w`` of :func:`hole_lowpass` for the finite pattern
    ``valid`` (ny, nx) bool; dimensionless (ny, nx)."""
    v = np.asarray(valid, dtype=np.float64)[None]
    return _hole_convolve(v, (float(sigma_px[0]), float(sigma_px[1])), hole, truncate)[0]


def hole_lowpass(image: npt.ArrayLike, sigma_px: tuple[float, float], *, hole: int = HOLE_PX,
                 truncate: float = 4.0, min_weight: float = MIN_WEIGHT, den: Float64Array | None = None
                 ) -> Float64Array:
    """Gaussian prediction of each pixel from its neighbours, the (2·hole+1)² pixels around it left out.

    ``out = (G − G_c) * (x·w) / (G − G_c) * w`` with ``G`` the separable Gaussian of
    :func:`kansho.filters.gaussian_nan` (σ in pixels along rows, columns), ``G_c`` its central
    taps and ``w`` the finite pattern (normalised convolution, Knutsson & Westin, 1993).

    ``image``: (ny, nx), NaN = no data; ``den``: :func:`hole_weight` of its finite pattern when
    several images share it. Returns (ny, nx) float64 in its unit, given wherever the weight
    exceeds ``min_weight`` (also at NaN pixels), NaN elsewhere."""
    img = np.asarray(image, dtype=np.float64)
    w = np.isfinite(img)
    sig = (float(sigma_px[0]), float(sigma_px[1]))
    if den is None:
        num, den = _hole_convolve(np.stack([np.where(w, img, 0.0), w.astype(np.float64)]), sig, hole, truncate)
    else:
        num = hole_numerator(img, sig, hole=hole, truncate=truncate, finite=w)
    keep = den > min_weight
    out = np.where(keep, den, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(num, out, out=out)  # num / where(keep, den, 1), in place
    out[~keep] = np.nan
    return out


def hole_numerator(image: npt.ArrayLike, sigma_px: tuple[float, float], *, hole: int = HOLE_PX,
                   truncate: float = 4.0, finite: BoolArray | None = None) -> Float64Array:
    """The numerator ``(G − G_c) * (x·w)`` of :func:`hole_lowpass` (ny, nx) float64 of ``image`` (ny, nx),
    NaN = no data: its prediction is this over :func:`hole_weight` of the finite pattern ``w``
    (``finite``, ``isfinite(image)``, when the caller has it already)."""
    img = np.asarray(image, dtype=np.float64)
    sig = (float(sigma_px[0]), float(sigma_px[1]))
    w = np.isfinite(img) if finite is None else finite
    return _hole_convolve(np.where(w, img, 0.0)[None], sig, hole, truncate)[0]


#: bytes of hole weights kept for the next epoch (:func:`cached_hole_weight`): every width the spatial
#: cross-validation tries on one epoch (11 on a 2500 x 2500 px frame, 50 MB each; with less room, each
#: epoch computed most of them again), freed at the end of the step (:func:`clear_caches`)
_DEN_CACHE_BYTES = 768 * 2**20
_DEN_CACHE: dict[tuple[bytes, float, float, int, float], Float64Array] = {}


def cached_hole_weight(valid: BoolArray, sigma_px: tuple[float, float], *, hole: int = HOLE_PX,
                       truncate: float = 4.0) -> Float64Array:
    """:func:`hole_weight` of ``valid`` (ny, nx) bool, kept for the next call of this process (up to
    :data:`_DEN_CACHE_BYTES`): under one mask every epoch has the same finite pattern, so its
    convolution with each width is done once. The array returned must not be modified."""
    v = np.asarray(valid, dtype=bool)
    digest = hashlib.sha1(np.packbits(v).tobytes() + str(v.shape).encode()).digest()
    key = (digest, float(sigma_px[0]), float(sigma_px[1]), int(hole), float(truncate))

    def compute() -> Float64Array:
        den = np.array(hole_weight(v, (key[1], key[2]), hole=hole, truncate=truncate))  # not a view of the FFT's buffer
        den.flags.writeable = False
        if sum(d.nbytes for d in list(_DEN_CACHE.values())) + den.nbytes > _DEN_CACHE_BYTES:
            _DEN_CACHE.clear()
        if den.nbytes <= _DEN_CACHE_BYTES:
            _DEN_CACHE[key] = den
        return den

    return single_flight(_DEN_CACHE, key, compute)


def clear_caches() -> None:
    """Forget the kept hole weights and kernel transforms (:func:`cached_hole_weight`,
    :func:`kansho.filters._kernel_fft`), e.g. at the end of a step."""
    _DEN_CACHE.clear()
    _KERNEL_CACHE.clear()
    forget_flights()


def _forget_width(sig: tuple[float, float]) -> None:
    """Forget the kept hole weights and kernel transforms of the width ``sig`` (σ_rows, σ_cols) px."""
    for key in [k for k in list(_DEN_CACHE) if (k[1], k[2]) == sig]:
        _DEN_CACHE.pop(key, None)
    for kkey in [k for k in list(_KERNEL_CACHE) if (k[0], k[1]) == sig]:
        _KERNEL_CACHE.pop(kkey, None)


def spatial_cv_sums(hp: npt.ArrayLike, sigmas_px: list[tuple[float, float]], *, hole: int = HOLE_PX,
                    only: list[int] | None = None, fft_float32: bool = False, keep: bool = True) -> Float64Array:
    """Held-out sums of one epoch's high-pass for each spatial width.

    ``hp``: (ny, nx) mm, NaN = no data (masked); ``only``: indices of the widths to evaluate, in the
    order given (the others' rows stay 0; default all). Returns (m, 4) float64: per width, Σ hp·ĉ,
    Σ ĉ², Σ hp² (mm²) and the count, over the pixels where both ``hp`` and its prediction ĉ
    (:func:`hole_lowpass`) are finite. The weight of the finite pattern is
    :func:`cached_hole_weight` (the same numbers as :func:`hole_lowpass` computes without ``den``); with
    ``keep`` False neither it nor the kernel's transform is kept once the width is done (:func:`hole_weight`):
    for an image whose pattern no other shares (the gap tie's: ~160 MB of transforms on a 1000² frame).

    With ``fft_float32`` the numerators of the widths convolved by FFT (:func:`kansho.filters.use_fft`)
    are transformed in float32, which halves the transforms' memory traffic (the spatial
    cross-validation of a 2500 x 2500 px frame: ~1.7 s less, of ~15 s); the weight stays float64.
    The sums then differ from float64's by ~1e-7 of their size (the transform's round-off, ~1e-7 of
    the image's largest value, averaged over the frame), the gains of :func:`choose_spatial` by
    ~1e-8: enough to choose a width and a weight, not to be a product."""
    x = np.asarray(hp, dtype=np.float64)
    return spatial_cv_rows(x[None], sigmas_px, hole=hole, only=only, fft_float32=fft_float32, keep=keep)[0]


def spatial_cv_rows(hps: npt.ArrayLike, sigmas_px: list[tuple[float, float]], *, hole: int = HOLE_PX,
                    only: list[int] | None = None, fft_float32: bool = False, keep: bool = False) -> Float64Array:
    """:func:`spatial_cv_sums` of each image of ``hps`` (k, ny, nx) mm: (k, m, 4), the same numbers.

    The widths are the outer loop (on threads, :func:`kansho._threads.map_threads`), the images the inner:
    each width's hole weight (one for each finite pattern among the images) and kernel transform are made
    once for the k images and, with ``keep`` False, not kept once the width is done. A process working
    on k epochs of the spatial cross-validation then holds one width's weight and transform at a time, not
    every width's (~150 MB of them on a 1000 × 1000 px frame, in each dask worker); with ``keep`` the
    weights are :func:`cached_hole_weight`'s and the transforms stay for a later call."""
    xs = as_float(hps)  # float32 (the chain's) as it is: the sums take each value in float64
    out = np.zeros((xs.shape[0], len(sigmas_px), 4))
    fins = [np.isfinite(x) for x in xs]
    # the numerators' images: with fft_float32, float32 ones for the widths convolved by FFT and float64 ones made
    # when a narrower width needs them (every image's in float64 as well as in float32 held 1.2 GB more of the
    # 2500 x 2500 px frame's eight epochs); without it, float64 ones made once for every width
    singles = [np.where(f, x, 0).astype(np.float32)[None] for x, f in zip(xs, fins, strict=True)] if fft_float32 \
        else None
    doubles = None if fft_float32 else [np.where(f, x.astype(np.float64), 0.0)[None]
                                        for x, f in zip(xs, fins, strict=True)]
    patterns = [hashlib.sha1(np.packbits(f).tobytes()).digest() for f in fins]

    def zeros(e: int) -> Float64Array:
        return doubles[e] if doubles is not None else np.where(fins[e], xs[e].astype(np.float64), 0.0)[None]

    def one(i: int) -> Float64Array:
        sig = (float(sigmas_px[i][0]), float(sigmas_px[i][1]))
        wide = use_fft(sig)
        dens: dict[bytes, Float64Array] = {}
        rows = np.zeros((xs.shape[0], 4))
        for e, x in enumerate(xs):
            img = singles[e] if wide and singles is not None else zeros(e)
            num = _hole_convolve(img, sig, hole, 4.0)[0]  # hole_lowpass's (its truncate)
            den = dens.get(patterns[e])
            if den is None:
                den = dens[patterns[e]] = (cached_hole_weight(fins[e], sig, hole=hole) if keep
                                           else hole_weight(fins[e], sig, hole=hole))
            rows[e] = _held_out_sums(x, np.asarray(num, np.float64), den)
        if not keep:
            _forget_width(sig)  # its kernel's transform, used by the weights too
        return rows

    todo = list(range(len(sigmas_px)) if only is None else only)
    todo.sort(key=lambda i: -max(sigmas_px[i]))  # the widest (longest) first: no long one left alone at the end
    for i, rows in zip(todo, map_threads(one, todo), strict=True):  # each width alone: any threads, same sums
        out[:, i] = rows
    return out


def _held_out_sums(x: FloatArray, num: Float64Array, den: Float64Array) -> Float64Array:
    """Σ x·ĉ, Σ ĉ², Σ x², count over the pixels where ``x`` (float32 or float64, each value taken in float64) and
    ``ĉ = num / den`` (``den`` above :data:`MIN_WEIGHT`) are finite, all (ny, nx): the compiled sweep of
    :func:`kansho._filter_jit.held_out_sums` from :data:`kansho.filters.COMPILED_MIN_PX` pixels, NumPy's
    masked products below (the demo's frame: nothing compiled), the same to round-off."""
    if x.size >= COMPILED_MIN_PX:
        from kansho._filter_jit import held_out_sums

        return held_out_sums(x, num, den, MIN_WEIGHT)
    ok = np.isfinite(x) & (den > MIN_WEIGHT)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        c = num[ok] / den[ok]
    keep = np.isfinite(c)
    xv, cv = x[ok][keep].astype(np.float64), c[keep]
    return np.array([xv @ cv, cv @ cv, xv @ xv, float(cv.size)])


@dataclass(frozen=True)
class SpatialChoice:
    """The spatial width and weight chosen by :func:`choose_spatial`.

    Attributes: ``index`` of the width among the candidates (-1 when declined); ``alpha`` the
    weight (0 = declined); ``gain`` the predicted fraction of the high-pass's held-out variance
    removed (0..1); ``gains`` that fraction for every candidate."""

    index: int
    alpha: float
    gain: float
    gains: tuple[float, ...]


def choose_spatial(sums: npt.ArrayLike, *, min_gain: float = MIN_GAIN) -> SpatialChoice:
    """The width minimising the held-out error ``Σ (hp − α ĉ)²`` with its best α (clipped to [0, 1]).

    ``sums``: (m, 4) from :func:`spatial_cv_sums`, summed over epochs. For each width the weight
    is α = Σhpĉ / Σĉ² clipped to [0, 1], its held-out error ``Σhp² − 2αΣhpĉ + α²Σĉ²`` and its gain
    ``1 − error / Σhp²`` (the error of no filter is Σhp²: a gain > 0 is a predicted improvement).
    Below ``min_gain`` the filter declines (index −1, α = 0)."""
    s = np.asarray(sums, dtype=np.float64)
    xc, cc, xx = s[:, 0], s[:, 1], s[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.clip(np.where(cc > 0, xc / cc, 0.0), 0.0, 1.0)
        err = xx - 2 * alpha * xc + alpha * alpha * cc
        gains = np.where(xx > 0, 1.0 - err / xx, 0.0)
    gains = np.nan_to_num(gains, nan=0.0)
    if gains.size == 0 or float(gains.max()) < min_gain:
        return SpatialChoice(-1, 0.0, 0.0, tuple(float(g) for g in gains))
    i = int(np.argmax(gains))
    return SpatialChoice(i, float(alpha[i]), float(gains[i]), tuple(float(g) for g in gains))


def spatial_candidates(pixel_km: tuple[float, float], shape: tuple[int, int]
                       ) -> tuple[list[float], list[tuple[float, float]]]:
    """The candidate widths (km, and (σ_rows, σ_cols) px) for a grid of ``pixel_km`` (dx, dy km)
    and ``shape`` (ny, nx): :data:`SPATIAL_PX` of the coarser axis, up to a third of the frame."""
    dx, dy = float(pixel_km[0]), float(pixel_km[1])
    p = max(dx, dy)
    top = max(min(shape[0] * dy, shape[1] * dx) / 3.0, p)
    km = [s * p for s in SPATIAL_PX if s * p <= top]
    return km, [(k / dy, k / dx) for k in km]


@dataclass(frozen=True)
class AdaptiveResult:
    """Result of :func:`adaptive_filter`: ``cum_filt`` (n_epoch, ny, nx) mm; the chosen
    ``sigma_yr`` (∞ = model only) and ``sigma_km`` (NaN when declined); ``alpha`` the weight;
    ``gain`` the predicted held-out variance fraction removed; ``annual`` whether the model had
    an annual term."""

    cum_filt: Float64Array
    sigma_yr: float
    sigma_km: float
    alpha: float
    gain: float
    annual: bool


def adaptive_filter(cum: npt.ArrayLike, t: npt.ArrayLike, *, pixel_km: tuple[float, float],
                    mask: npt.ArrayLike | None = None,
                    ref_window: tuple[int, int, int, int] | npt.ArrayLike | None = None,
                    sigma_yr: float | None = None, sigma_km: float | None = None, n_cv_epochs: int = 8
                    ) -> AdaptiveResult:
    """The adaptive filter on a cube in memory (the chain runs the same stages in passes).

    ``cum``: (n_epoch, ny, nx) mm, NaN = no data; ``t``: (n_epoch,) years; ``pixel_km``: (dx, dy);
    ``mask``: (ny, nx) bool pixels used for the estimates (None = all); ``ref_window``: half-open
    (r0, r1, c0, c1) box or (ny, nx) bool set of the reference pixels, whose mean each epoch keeps;
    ``sigma_yr`` (years) / ``sigma_km``: fixed
    temporal / spatial width (None: chosen; with a fixed ``sigma_km`` the weight is still chosen).
    """
    c = np.asarray(cum, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    ne = c.shape[0]
    use: BoolArray = np.ones(c.shape[1:], bool) if mask is None else np.asarray(mask, bool)
    flat = np.where(use[None], c, np.nan).reshape(ne, -1)
    basis = temporal_basis(tt)
    if sigma_yr is None:
        cands = temporal_candidates(tt)
        sums, _ = temporal_cv(flat, tt, basis, cands)
        sigma_yr = float(cands[int(np.argmin(temporal_score(sums, ne)))])
    hp = adaptive_highpass(flat, tt, basis, sigma_yr).reshape(c.shape)
    km, px = spatial_candidates(pixel_km, c.shape[1:])
    if sigma_km is not None:
        km, px = [float(sigma_km)], [(sigma_km / float(pixel_km[1]), sigma_km / float(pixel_km[0]))]
    sel = cv_epochs(ne, n_cv_epochs)
    first = coarse_indices(len(px))
    sums = np.sum([spatial_cv_sums(hp[e], px, only=first, fft_float32=True) for e in sel], axis=0)
    second = fine_indices(max(choose_spatial(sums).index, 0), len(px), first)
    sums = sums + np.sum([spatial_cv_sums(hp[e], px, only=second, fft_float32=True) for e in sel], axis=0)
    choice = choose_spatial(sums)
    out = c.copy()
    if choice.index >= 0:
        est0 = np.nan_to_num(hole_lowpass(hp[0], px[choice.index]), nan=0.0)
        for e in range(ne):
            corr = choice.alpha * (np.nan_to_num(hole_lowpass(hp[e], px[choice.index]), nan=0.0) - est0)
            out[e] = c[e] - corr
            if ref_window is not None:
                sel = ref_index(ref_window)
                shift = out[e][sel] - c[e][sel]
                if np.isfinite(shift).any():
                    out[e] -= np.nanmean(shift)
    return AdaptiveResult(cum_filt=out, sigma_yr=sigma_yr, sigma_km=km[choice.index] if choice.index >= 0
                          else float("nan"), alpha=choice.alpha, gain=choice.gain, annual=basis.shape[1] > 2)


def temporal_candidates(t: npt.ArrayLike) -> Float64Array:
    """The temporal widths tried (years): :data:`TEMPORAL_FACTORS` × the mean epoch interval."""
    tt = np.asarray(t, dtype=np.float64)
    dt = float(tt[-1] - tt[0]) / max(tt.size - 1, 1)
    return np.asarray(TEMPORAL_FACTORS) * max(dt, 1e-6)


def coarse_indices(m: int) -> list[int]:
    """First round of the spatial search over ``m`` candidates: every other one, and the last."""
    return sorted(set(range(0, m, 2)) | ({m - 1} if m else set()))


def fine_indices(best: int, m: int, done: list[int]) -> list[int]:
    """Second round: the neighbours of the first round's ``best`` not evaluated yet."""
    return [i for i in (best - 1, best + 1) if 0 <= i < m and i not in done]


def cv_epochs(n_epoch: int, n: int) -> list[int]:
    """Up to ``n`` epochs spread evenly over 1..n_epoch-1, for the spatial cross-validation."""
    if n_epoch <= 1:
        return []
    return sorted({round(float(x)) for x in np.linspace(1, n_epoch - 1, min(n, n_epoch - 1))})
