"""Step 1-5: noise indices and the pixel mask.

Every pixel of the time series gets a set of quality indices (LiCSBAS's names: ``coh_avg``,
``n_unw``, ``vstd``, ``maxTlen``, ``n_gap``, ``stc``, ``n_ifg_noloop``, ``n_loop_err``,
``resid_rms``; and Kansho's ``n_unchecked``, :func:`kansho.outliers.unchecked_pairs`); a pixel is
kept when every enabled index passes its threshold (Morishita et al.,
2020, *Remote Sensing* 12(3), 424, §2.5).  :func:`stc` computes the spatio-temporal consistency
(Hanssen et al., 2008, PSI validation, Proc. FRINGE 2007, ESA SP-649; as used by Morishita et
al., 2020); :func:`apply_thresholds` builds the mask and says which criterion removes what, and warns
loudly when a threshold would remove every pixel (it never relaxes one silently).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from kansho import _mask_jit
from kansho._threads import map_threads
from kansho._types import BoolArray, Float64Array, as_float
from kansho.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "THRESHOLD_SPECS",
    "Adaptation",
    "MaskResult",
    "ThresholdSpec",
    "adapt_thresholds",
    "apply_thresholds",
    "stc",
]

def stc(cum: npt.ArrayLike) -> Float64Array:
    """Spatio-temporal consistency of a time series (mm).

    For each pixel *p* and each of its 8 neighbours *q*, the double difference
    ``dd_k = (c_p − c_q)(t_k) − (c_p − c_q)(t_{k−1})`` (k = 1 … n_epoch−1) is formed and its RMS
    over time taken (over the epochs where both are finite); STC is the minimum of these RMS
    values over the neighbours (Hanssen et al., 2008; Morishita et al., 2020, §2.5).  A smooth,
    spatially correlated signal gives a small STC; noise or unwrapping jumps give a large one.

    Parameters
    ----------
    cum:
        (n_epoch, ny, nx) cumulative displacement, mm, NaN = no data.

    Returns
    -------
    (ny, nx) mm, NaN where the pixel has no finite neighbour (or fewer than two epochs).

    Processing by blocks needs a one-pixel halo around each block.
    """
    c = np.asarray(cum)
    if c.ndim != 3:
        raise ValueError(f"cum must be (n_epoch, ny, nx), got shape {c.shape}")
    if c.dtype not in (np.float32, np.float64):
        c = c.astype(np.float64)
    best = _mask_jit.stc_rows(np.ascontiguousarray(c), _mask_jit.OFFSETS)
    best[~np.isfinite(best)] = np.nan
    return best


@dataclass(frozen=True)
class ThresholdSpec:
    """How one noise index is thresholded.

    Attributes
    ----------
    name:
        Index name (LiCSBAS's).
    direction:
        ``'min'``: a pixel is kept where index >= threshold; ``'max'``: kept where index <= threshold.
    unit:
        Unit of the index.
    description:
        One line for reports and the configuration template.

    The default thresholds (LiCSBAS's, C-band) are those of :class:`kansho.config.MaskConfig`.
    """

    name: str
    direction: Literal["min", "max"]
    unit: str
    description: str


THRESHOLD_SPECS: dict[str, ThresholdSpec] = {
    s.name: s
    for s in (
        ThresholdSpec("coh_avg", "min", "", "mean coherence over the kept pairs"),
        ThresholdSpec("n_unw", "min", "pairs", "number of kept pairs unwrapped at the pixel"),
        ThresholdSpec("vstd", "max", "mm/yr", "bootstrap standard deviation of the velocity"),
        ThresholdSpec("maxTlen", "min", "yr", "longest time span connected without a gap"),
        ThresholdSpec("n_gap", "max", "", "number of gaps in the network at the pixel"),
        ThresholdSpec("stc", "max", "mm", "spatio-temporal consistency"),
        ThresholdSpec("n_ifg_noloop", "max", "pairs", "valid pairs in no closed loop at the pixel"),
        ThresholdSpec("n_loop_err", "max", "loops", "loops with |loop phase| > π at the pixel"),
        ThresholdSpec("n_unchecked", "max", "pairs", "valid pairs on no closed loop (of any length) at the pixel, "
                      "whose unwrapping errors nothing can reveal"),
        ThresholdSpec("resid_rms", "max", "mm", "RMS residual of the network inversion"),
        ThresholdSpec("ph_bias", "max", "rad", "mean |loop misclosure| of the shortest pairs' triangles "
                      "(phase-bias indicator, kansho.phasebias)"),
    )
}


@dataclass(frozen=True)
class MaskResult:
    """Result of :func:`apply_thresholds`.

    Attributes
    ----------
    mask:
        (ny, nx) bool, True = kept (passes every enabled criterion, all its indices finite).
    footprint:
        (ny, nx) bool, pixels with at least one finite enabled index (the pixels in play).
    removed:
        name -> (ny, nx) bool, footprint pixels that criterion removes by itself (it fails,
        or the index is NaN there), whatever the other criteria say.
    removed_only:
        name -> (ny, nx) bool, footprint pixels removed by that criterion and by no other.
    counts:
        name -> number of pixels in ``removed[name]``.
    n_footprint, n_kept:
        Number of footprint pixels and of kept pixels.
    thresholds:
        The thresholds applied (disabled criteria absent).
    warnings:
        Human-readable messages (also logged at WARNING) when a criterion, or all together,
        remove every footprint pixel.
    """

    mask: BoolArray
    footprint: BoolArray
    removed: dict[str, BoolArray]
    removed_only: dict[str, BoolArray]
    counts: dict[str, int]
    n_footprint: int
    n_kept: int
    thresholds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Multi-line table: criterion, threshold, pixels removed (alone / only by it)."""
        lines = [f"{'index':<13}{'dir':<5}{'threshold':>10}{'removed':>10}{'only':>8}"]
        for name, thr in self.thresholds.items():
            d = THRESHOLD_SPECS[name].direction
            lines.append(
                f"{name:<13}{d:<5}{thr:>10.4g}{self.counts[name]:>10d}"
                f"{int(self.removed_only[name].sum()):>8d}"
            )
        lines.append(f"kept {self.n_kept} of {self.n_footprint} pixels")
        return "\n".join(lines)


def _checked_indices(indices: Mapping[str, npt.ArrayLike], thresholds: Mapping[str, float | None]
                     ) -> tuple[dict[str, float], dict[str, npt.NDArray[np.floating]], tuple[int, ...]]:
    """The enabled thresholds, their index images (float32 ones as they are, others as float64: each value is
    compared in float64, :func:`passes`) and the images' (ny, nx) shape, or the error
    :func:`apply_thresholds` documents."""
    unknown = (set(indices) | set(thresholds)) - set(THRESHOLD_SPECS)
    if unknown:
        raise ConfigError(
            f"unknown mask criteria {sorted(unknown)}; known: {sorted(THRESHOLD_SPECS)}"
        )
    enabled = {k: float(v) for k, v in thresholds.items() if v is not None}
    missing = set(enabled) - set(indices)
    if missing:
        raise ConfigError(f"thresholds given for {sorted(missing)} but no index image")
    if not enabled:
        raise ConfigError("no mask criterion enabled")

    arrays = {k: as_float(indices[k]) for k in enabled}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"index images must be 2-D of one shape, got {sorted(shapes)}")
    shape = next(iter(shapes))

    return enabled, arrays, shape


def passes(a: npt.NDArray[np.floating], thr: float, name: str) -> BoolArray:
    """Where the index image ``a`` meets criterion ``name``'s threshold ``thr``, compared in float64 whatever
    ``a``'s type (a float32 image against a float64 scalar: NumPy compares in float64), False where NaN."""
    t = np.float64(thr)
    return np.asarray(a >= t if THRESHOLD_SPECS[name].direction == "min" else a <= t)


def _warnings(enabled: Mapping[str, float], arrays: Mapping[str, npt.NDArray[np.floating]], counts: Mapping[str, int],
              n_fp: int, n_kept: int) -> list[str]:
    """Warnings of a mask that removes every pixel, or of a criterion that alone removes them all."""
    warnings: list[str] = []
    if n_fp == 0:
        warnings.append("mask: no pixel has any finite noise index; every pixel is masked")
    else:
        for name, thr in enabled.items():
            if counts[name] == n_fp:
                a = arrays[name]
                fin = a[np.isfinite(a)]
                rng_txt = f"{fin.min():.4g} … {fin.max():.4g}" if fin.size else "all NaN"
                d = THRESHOLD_SPECS[name].direction
                keep_txt = ">=" if d == "min" else "<="
                warnings.append(
                    f"mask: criterion {name} (keep {keep_txt} {thr:g}) alone removes all "
                    f"{n_fp} pixels (its values range {rng_txt})"
                )
        if n_kept == 0:
            warnings.append(
                f"mask: the thresholds together remove all {n_fp} pixels "
                f"(removed per criterion: {counts})"
            )
    return warnings


def apply_thresholds(
    indices: Mapping[str, npt.ArrayLike], thresholds: Mapping[str, float | None]
) -> MaskResult:
    """Mask pixels whose noise indices fail their thresholds.

    Parameters
    ----------
    indices:
        name -> (ny, nx) index image; names from :data:`THRESHOLD_SPECS`. NaN = not computed,
        which fails the criterion.
    thresholds:
        name -> threshold in index units (``n_unw`` in pairs), or ``None`` to
        disable that criterion. A criterion named in ``indices`` but not here is not applied.

    Returns
    -------
    MaskResult

    Raises
    ------
    ConfigError
        On an unknown criterion name, or an enabled threshold without its index image.
    """
    enabled, arrays, shape = _checked_indices(indices, thresholds)
    footprint = np.zeros(shape, bool)
    for a in arrays.values():
        footprint |= np.isfinite(a)
    removed: dict[str, BoolArray] = {}
    for name, thr in enabled.items():
        removed[name] = footprint & ~passes(arrays[name], thr, name)  # NaN compares False -> removed
    n_fail = np.zeros(shape, np.uint8 if len(removed) < 256 else np.int64)  # criteria failed at each pixel
    for r in removed.values():
        n_fail += r
    mask = footprint & (n_fail == 0)
    removed_only = {k: r & (n_fail == 1) for k, r in removed.items()}
    counts = {k: int(r.sum()) for k, r in removed.items()}
    n_fp = int(footprint.sum())
    n_kept = int(mask.sum())

    warnings = _warnings(enabled, arrays, counts, n_fp, n_kept)
    for w in warnings:
        log.warning(w)
    log.info("mask: kept %d of %d pixels; removed per criterion %s", n_kept, n_fp, counts)
    return MaskResult(
        mask=mask,
        footprint=footprint,
        removed=removed,
        removed_only=removed_only,
        counts=counts,
        n_footprint=n_fp,
        n_kept=n_kept,
        thresholds=enabled,
        warnings=warnings,
    )


#: noise indices whose default thresholds ``adapt="auto"`` scales to the frame's own noise
NOISE_INDICES = ("stc", "resid_rms", "vstd", "n_loop_err")
#: a threshold that lets fewer than this fraction of the pixels pass counts as one "no pixel can meet"
MIN_PASS = 0.01
#: robust standard deviations above the median beyond which a pixel's noise index marks it an outlier
NOISE_K = 3.0
#: fraction of what the best pixels reach that a relaxed "keep >=" threshold asks for
RELAX_FRACTION = 0.8
#: robust standard deviations above the frame's median velocity std beyond which ``auto`` masks a pixel
VSTD_K = 2.0
#: least fraction of the solved pixels the ``n_unchecked`` threshold keeps under ``auto``
UNCHECKED_KEEP = 0.7


@dataclass(frozen=True)
class Adaptation:
    """One threshold moved by :func:`adapt_thresholds`: criterion, old and new value, why."""

    name: str
    old: float
    new: float
    why: str

    def text(self) -> str:
        return f"{self.name} {self.old:g} -> {self.new:g}: {self.why}"


def _robust(a: Float64Array) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 × MAD) of the finite values of ``a`` (1-D, non-empty)."""
    med = float(np.median(a))
    return med, 1.4826 * float(np.median(np.abs(a - med)))


def _licsbas_rule(name: str, thr: float, a: Float64Array) -> Adaptation | None:
    """LiCSBAS's auto-adjust (Morishita et al. 2020, LiCSBAS15_mask_ts ``--noautoadjust`` documents it):
    a threshold that alone masks every pixel moves to the nearest whole value that keeps the best
    pixel(s): the floor of the largest value of a "keep >=" index, the ceiling of the smallest of a
    "keep <=" one."""
    if passes(a, thr, name).any():
        return None
    if THRESHOLD_SPECS[name].direction == "min":
        return Adaptation(name, thr, float(np.floor(a.max())), "no pixel meets it (LiCSBAS rule: floor of the maximum)")
    return Adaptation(name, thr, float(np.ceil(a.min())), "no pixel meets it (LiCSBAS rule: ceiling of the minimum)")


def _auto_rule(name: str, thr: float, a: Float64Array) -> Adaptation | None:
    """The ``auto`` rule for one default threshold over the finite index values ``a`` (1-D)."""
    spec = THRESHOLD_SPECS[name]
    if spec.direction == "min":
        passing = float(np.mean(a >= thr))
        if passing >= MIN_PASS:
            return None
        best = float(np.quantile(a, 1.0 - MIN_PASS))
        new = RELAX_FRACTION * best
        return Adaptation(name, thr, new, f"only {100 * passing:.2g} % of pixels reach it; the best 1 % reach "
                                          f"{best:.3g} {spec.unit}, {100 * RELAX_FRACTION:.0f} % of that is kept")
    if name == "n_unchecked":  # a risk, not noise: masked where the network allows, never most of a frame
        passing = float(np.mean(a <= thr))
        if passing >= UNCHECKED_KEEP:
            return None
        new = float(np.ceil(np.quantile(a, UNCHECKED_KEEP)))
        return Adaptation(name, thr, new, f"only {100 * passing:.3g} % of pixels have at most {thr:g} unchecked "
                                          f"pairs (a sparse or broken network); {new:g} keeps "
                                          f"{100 * float(np.mean(a <= new)):.3g} %")
    med, sig = _robust(a)
    if name == "vstd":  # the velocity's own error estimate: judged against the frame's, both ways
        new = med + VSTD_K * sig
        if sig <= 0 or abs(new - thr) <= 1e-9 * max(abs(thr), 1.0):
            return None
        return Adaptation(name, thr, new, f"the frame's velocity std is {med:.3g} +- {sig:.3g} mm/yr (median, "
                                          f"robust std): pixels above median + {VSTD_K:g} std are its least "
                                          "certain")
    if name == "n_loop_err":
        sig = max(sig, float(np.sqrt(max(med, 1.0))))  # a count: at least its Poisson spread
    scaled = med + NOISE_K * sig
    passing = float(np.mean(a <= thr))
    if name not in NOISE_INDICES and passing >= MIN_PASS:
        return None
    if scaled <= thr:
        return None
    return Adaptation(name, thr, scaled, f"{100 * (1 - passing):.3g} % of pixels exceed it; the frame's own "
                                         f"noise is {med:.3g} +- {sig:.3g} {spec.unit} (median, robust std): "
                                         f"median + {NOISE_K:g} std")


def adapt_thresholds(indices: Mapping[str, npt.ArrayLike], thresholds: Mapping[str, float | None],
                     where: npt.ArrayLike, *, mode: Literal["auto", "licsbas", "off"] = "auto",
                     fixed: frozenset[str] | set[str] = frozenset()
                     ) -> tuple[dict[str, float | None], list[Adaptation]]:
    """Thresholds adapted to the frame, so that no default empties it silently (DESIGN §4).

    Parameters
    ----------
    indices:
        name -> (ny, nx) index image (as for :func:`apply_thresholds`).
    thresholds:
        name -> threshold (None = off).
    where:
        (ny, nx) bool, the pixels judged (the solved ones).
    mode:
        ``"off"``: unchanged. ``"licsbas"``: LiCSBAS's rule only (:func:`_licsbas_rule`), for every
        enabled threshold. ``"auto"``: for thresholds not in ``fixed`` -- a "keep >=" threshold
        that fewer than 1 % of the pixels meet (maxTlen on a short or gap-split series) becomes
        80 % of what the best 1 % reach (for maxTlen: what the network allows); a noise threshold
        (stc, resid_rms, vstd, n_loop_err), and any other "keep <=" threshold that fewer than 1 %
        meet, is raised to the frame's median + 3 robust standard deviations (1.4826 × MAD,
        Rousseeuw & Croux 1993) when that is larger: on a noisy frame the fixed defaults would
        keep almost nothing, while median + 3 σ removes the pixels that are noisy *for this frame*.
        These are only ever relaxed: they flag outliers, and tightening them removes good pixels.
        ``n_unchecked`` (pairs no loop checks) that fewer than 70 % of the pixels meet becomes the
        smallest count that 70 % meet: masking the unverifiable pixels must not empty a frame whose
        network is sparse.
        ``vstd`` (the bootstrap std of the velocity, an estimate of the velocity's own error) is set
        to the frame's median + 2 robust σ either way: LiCSBAS's 100 mm/yr keeps everything on a
        typical frame, while the frame's least certain pixels (~5-10 %) are where the velocity
        error is largest (measured on simulated frames: the masked error falls below the unmasked).
    fixed:
        Names the user gave explicitly: honoured as given by ``auto``.

    Returns
    -------
    (thresholds, adaptations): the thresholds to apply, and each change with its reason.
    """
    out: dict[str, float | None] = dict(thresholds)
    if mode == "off":
        return out, []
    sel = np.asarray(where, bool)
    todo = [(name, float(thr)) for name, thr in thresholds.items()
            if thr is not None and name in indices and not (mode == "auto" and name in fixed)]

    def judge(item: tuple[str, float]) -> Adaptation | None:
        name, thr = item
        a = np.asarray(indices[name])[sel].astype(np.float64)  # the judged pixels only, then in float64
        a = a[np.isfinite(a)]
        if a.size == 0:
            return None
        return _licsbas_rule(name, thr, a) if mode == "licsbas" else _auto_rule(name, thr, a)

    # each criterion alone (their medians, most of the work, release the GIL): on the cores, in their order
    changes = [ch for ch in map_threads(judge, todo) if ch is not None]
    for ch in changes:
        out[ch.name] = ch.new
    return out, changes
