"""Tying the segments of a network gap to the stable reference set, across space.

Where the network has a gap (an interval no used pair spans, the same at every pixel), each
pixel's series falls into segments whose offsets only a temporal model fixes
(:mod:`kansho.bridge`). The error of a bridged offset is mostly atmosphere: the segments' mean
tropospheric delays, spatially correlated over kilometres (Hanssen 2001, §4.7; Emardson et al.
2003, *JGR* 108(B5) 2231), enter it through the model fit. Measured on simulated 24-km frames, its
velocity error is two to three times the continuous floor's and smooth in space.

The reference set (:func:`kansho.reference.stable_set`) is chosen as pixels that do not move; the
reference already makes its mean zero in every epoch. Here its *spatial pattern* is used across each
gap too: at a pixel of the set, the difference ``D_j`` between the mean of segment ``j`` and the mean
of segment 0 is zero for a stable pixel, so what it shows is the offset's error (plus the segments'
mean atmosphere). That field, seen on the set, is predicted at every pixel by a Gaussian normalised
convolution (Knutsson & Westin 1993) and removed from the pixel's segment ``j``:

    ``cum[m] -= α Ĝ_σ(D_j on the set)``  for every epoch ``m`` of segment ``j ≥ 1``,

less its mean over the set (whose mean stays zero in every epoch, the reference's contract).

The width σ and the weight α are chosen by leave-out cross-validation on the set
(:func:`kansho.filters_adaptive.spatial_cv_sums`), the left-out hole as wide as the upper quartile of
the distances from the solved pixels outside the set to the nearest pixel of the set: the set
predicts itself from as far as it must reach the pixels it corrects, the far ones (whose errors are
the largest) included. α is the regression weight of the held-out value on
its prediction (a Wiener-like shrinkage) and the tie declines when it predicts less than
:data:`MIN_GAIN` of the held-out variance.

Uncertainty: the bridge's σ of each offset (:mod:`kansho.bridge`) is kept. Measured on five
simulated gapped frames (24 km, 1.7-3 yr) against the perfect series, the tied offsets' error
(RMS 6.6-16.7 mm) stayed below the bridge's σ (RMS 8.7-27 mm) on every frame, while the held-out
error of the set (``sigma_mm``, 3-6 mm) under-states it at the pixels outside the set by up to 2.6×:
it is reported, not used as a σ.

Assumption, as for every reference: the set does not move. Where the bridge's σ of the offsets is
given, a pixel of the set whose ``D_j`` exceeds :data:`Z_MOVING` σ moves across the gap (beyond
:data:`Z_OUTLIER` σ it is left out), and a set of which more than :data:`MAX_MOVING` moves is not
stable there: that gap is not tied (a 5-km frame filled by a -300 mm/yr subsidence bowl: 18 % of
its set; the accuracy frames: 0-7 %). A slow motion shared by a region of the set, each pixel
within 3 σ, would still be taken for an offset error.

Plain functions on arrays; NaN = no data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from kansho import filters_adaptive as fa
from kansho._types import BoolArray, Float64Array, as_float

__all__ = ["HOLE_PERCENTILE", "MAX_MOVING", "MIN_CV_FRACTION", "MIN_GAIN", "MIN_SET_PIXELS", "Z_MOVING", "Z_OUTLIER",
           "GapTie", "fit_tie", "segment_means"]

#: fewer pixels of the set than this: no tie (a window reference cannot show a pattern)
MIN_SET_PIXELS = 200
#: a pixel of the set whose segment difference exceeds this many σ of the bridge's offset moves across the gap ...
Z_MOVING = 3.0
#: ... and when more than this fraction of the set does, the set is not stable across the gap: no tie (on the
#: accuracy frames, whose sets are stable, 0-7 %; a 5-km frame filled by a subsidence bowl, 18 %)
MAX_MOVING = 0.1
#: a pixel of the set beyond this many σ is left out of the tie (a clear outlier: motion or a bridge gone wrong)
Z_OUTLIER = 5.0
#: a width is scored only where its prediction past the hole reaches this fraction of the set's pixels
MIN_CV_FRACTION = 0.5
#: least fraction of the held-out variance of ``D`` the prediction must remove for the tie to act
MIN_GAIN = 0.05
#: the cross-validation's hole: this percentile of the distances from the pixels to correct to the set
#: (the error grows with the distance, so the far half weighs most; measured on seven gapped simulated
#: frames, the 75th percentile gave velocity RMSE 1.75-6.87 mm/yr where the median gave 1.91-8.25, lower
#: on every frame; the 90th declined two ties that helped)
HOLE_PERCENTILE = 75.0


def segment_means(cum: npt.ArrayLike, seg: npt.ArrayLike) -> Float64Array:
    """Mean of each segment's epochs: ``cum`` (n_epoch, npix) mm, ``seg`` (n_epoch,) labels, 0 up to the
    first gap (a column of :func:`kansho.bridge.segments`). Returns (n_seg, npix) mm, NaN where a pixel
    has a NaN epoch in it."""
    c = np.asarray(cum, np.float64)
    s = np.asarray(seg, np.int64)
    return np.stack([c[s == j].mean(axis=0) for j in range(int(s.max()) + 1)]) if s.size else np.zeros((0, c.shape[1]))


@dataclass(frozen=True)
class GapTie:
    """Result of :func:`fit_tie`. ``corr``: (n_seg − 1, ny, nx) mm to subtract from segment ``j + 1``
    (0 where nothing is tied); ``sigma_mm``: per gap, σ of the tied offset (NaN where declined);
    ``sigma_km`` / ``alpha`` / ``gain``: the chosen width, weight and predicted fraction of the held-out
    variance removed (per gap; 0 where declined); ``hole_px``: the hole of the cross-validation;
    ``n_set``: pixels of the set used; ``reason``: why nothing was tied (empty otherwise)."""

    corr: npt.NDArray[np.float32]
    sigma_mm: tuple[float, ...]
    sigma_km: tuple[float, ...]
    alpha: tuple[float, ...]
    gain: tuple[float, ...]
    hole_px: int
    n_set: int
    reason: str = ""

    @property
    def tied(self) -> bool:
        return any(a > 0 for a in self.alpha)


def _hole(stable: BoolArray, solved: BoolArray, pixel_km: tuple[float, float]) -> int:
    """Upper quartile (:data:`HOLE_PERCENTILE`) of the distances (px of the coarser axis) from the solved
    pixels outside the set to the set."""
    dx, dy = float(pixel_km[0]), float(pixel_km[1])
    dist = ndimage.distance_transform_edt(~stable, sampling=(dy, dx))
    far = np.asarray(dist)[solved & ~stable]
    if far.size == 0:
        return 1
    return max(1, round(float(np.percentile(far, HOLE_PERCENTILE)) / max(dx, dy)))


def fit_tie(seg_means: npt.ArrayLike, stable: npt.ArrayLike, pixel_km: tuple[float, float],
            sigma: npt.ArrayLike | None = None) -> GapTie:
    """The correction of every segment after a network gap (module docstring).

    ``seg_means``: (n_seg, ny, nx) mm from :func:`segment_means` of the bridged series (NaN =
    unsolved); ``stable``: (ny, nx) bool, the reference set; ``pixel_km``: (dx, dy) km; ``sigma``:
    (n_seg − 1, ny, nx) mm, the bridge's σ of each later segment's offset: when more than
    :data:`MAX_MOVING` of the set has ``|D_j|`` beyond :data:`Z_MOVING` of them, the set moves across
    the gap and gap ``j`` is not tied; pixels beyond :data:`Z_OUTLIER` are left out of it.

    The cross-validation keeps no hole weight or kernel transform once a width is done (each is used for this
    image only) and the prediction's are freed on return (:func:`kansho.filters_adaptive.clear_caches`): on
    the 1000 × 1000 px frame they held ~220 MB from step 1-3 to step 1-6's end, and the tie's peak fell from
    ~320 to ~190 MB."""
    try:
        return _fit_tie(seg_means, stable, pixel_km, sigma)
    finally:
        fa.clear_caches()


def _fit_tie(seg_means: npt.ArrayLike, stable: npt.ArrayLike, pixel_km: tuple[float, float],
             sigma: npt.ArrayLike | None) -> GapTie:
    # float32 maps (the chain's) stay float32: each difference is taken in float64 (the same numbers as from float64
    # copies, ~24 bytes a pixel less on a frame-wide piece of ~160)
    m = as_float(seg_means)
    nseg, ny, nx = m.shape
    solved: BoolArray = np.asarray(np.isfinite(m).all(axis=0))
    st: BoolArray = np.asarray(stable, bool) & solved
    corr = np.zeros((max(nseg - 1, 0), ny, nx), np.float32)
    n_set = int(st.sum())
    none = (float("nan"),) * (nseg - 1)
    zero = (0.0,) * (nseg - 1)
    if nseg < 2:
        return GapTie(corr, (), (), (), (), 0, n_set, "no network gap")
    if n_set < MIN_SET_PIXELS:
        return GapTie(corr, none, zero, zero, zero, 0, n_set,
                      f"the reference set has {n_set} pixels (< {MIN_SET_PIXELS}): it shows no pattern to tie to")
    hole = _hole(st, solved, pixel_km)
    sd = None if sigma is None else as_float(sigma)
    fits = [_tie_one(m, st, solved, None if sd is None else sd[j - 1], pixel_km, hole, j) for j in range(1, nseg)]
    for j, f in enumerate(fits):
        corr[j] = f[0]
    notes = [f[5] for f in fits if f[5]]
    reason = "" if any(f[3] > 0 for f in fits) else ("; ".join(notes) or
                                                      "the set's pattern predicts nothing across the gap")
    return GapTie(corr, tuple(f[1] for f in fits), tuple(f[2] for f in fits), tuple(f[3] for f in fits),
                  tuple(f[4] for f in fits), hole, n_set, reason)


def _tie_one(m: npt.NDArray[np.floating], st: BoolArray, solved: BoolArray, sd: npt.NDArray[np.floating] | None,
             pixel_km: tuple[float, float], hole: int, j: int
             ) -> tuple[npt.NDArray[np.float32], float, float, float, float, str]:
    """Gap ``j`` of :func:`fit_tie` (``m`` its segment means, ``sd`` the gap's σ): the segment difference ``D_j``
    (float64); returns the correction, held-out σ (mm), width (km), weight, gain and a note when declined because
    the set moves. What is no longer needed is freed on the way (a frame-wide piece: a float64 map of a
    25-million-pixel frame is 200 MB)."""
    diff = np.subtract(m[j], m[0], dtype=np.float64)
    declined = (np.zeros(diff.shape, np.float32), float("nan"), 0.0, 0.0, 0.0)
    use = st
    if sd is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(diff) / sd  # in float64; NaN where the σ is (or is 0 over 0): never within a bound
        frac = float((st & ~(z <= Z_MOVING)).sum()) / max(int(st.sum()), 1)
        if frac > MAX_MOVING:
            return (*declined, f"gap {j}: {100 * frac:.0f} % of the set moves across it (beyond {Z_MOVING:g} σ of "
                    "the bridge): the set is not stable there")
        use = st & (z <= Z_OUTLIER)
        del z
    d = np.where(use, diff, np.nan)
    del diff
    km, sig = fa.spatial_candidates(pixel_km, d.shape)
    # a kernel truncated at 4 σ inside the hole predicts nothing there: not evaluated (its count is 0)
    reach = [i for i, (sy, sx) in enumerate(sig) if 4.0 * max(sy, sx) > hole]
    sums = fa.spatial_cv_sums(d, sig, hole=hole, only=reach, keep=False)  # each width's weight and kernel used once
    sums[sums[:, 3] < MIN_CV_FRACTION * int(use.sum())] = 0.0  # reaching few pixels past the hole: no score
    ch = fa.choose_spatial(sums, min_gain=MIN_GAIN)
    if ch.index < 0:
        return (*declined, "")
    xc, cc, xx, n = sums[ch.index]
    err = (xx - 2 * ch.alpha * xc + ch.alpha**2 * cc) / max(n, 1.0)
    pred = fa.hole_lowpass(d, sig[ch.index], hole=0)
    c = np.where(solved & np.isfinite(pred), ch.alpha * pred, 0.0)
    c[solved] -= float(c[st].mean())  # the reference's mean stays zero in every epoch
    return (c.astype(np.float32), float(np.sqrt(max(err, 0.0))), float(km[ch.index]), float(ch.alpha),
            float(ch.gain), "")
