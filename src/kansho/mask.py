"""Step 1-5: noise indices and the pixel mask.

Every pixel of the time series gets a set of quality indices (LiCSBAS's names: ``coh_avg``,
``n_unw``, ``vstd``, ``maxTlen``, ``n_gap``, ``stc``, ``n_ifg_noloop``, ``n_loop_err``,
``resid_rms``); a pixel is kept when every enabled index passes its threshold (Morishita et al.,
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

from kansho._types import BoolArray, Float64Array
from kansho.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "THRESHOLD_SPECS",
    "MaskResult",
    "ThresholdSpec",
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
    c = np.asarray(cum, dtype=np.float64)
    if c.ndim != 3:
        raise ValueError(f"cum must be (n_epoch, ny, nx), got shape {c.shape}")
    ny, nx = c.shape[1:]
    inc = np.diff(c, axis=0)  # dd = inc_p - inc_q
    best = np.full(c.shape[1:], np.inf)
    # each neighbour relation is symmetric: four offsets give all eight, at half the work
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys_p, ys_q = slice(0, ny - dy), slice(dy, ny)
        xs_p = slice(max(0, -dx), nx - max(0, dx))
        xs_q = slice(max(0, dx), nx - max(0, -dx))
        dd = inc[:, ys_p, xs_p] - inc[:, ys_q, xs_q]
        finite = np.isfinite(dd)
        cnt = finite.sum(axis=0)
        dd[~finite] = 0.0
        ss = np.einsum("kyx,kyx->yx", dd, dd)
        with np.errstate(invalid="ignore", divide="ignore"):
            rms = np.where(cnt > 0, np.sqrt(ss / np.maximum(cnt, 1)), np.inf)
        np.minimum(best[ys_p, xs_p], rms, out=best[ys_p, xs_p])
        np.minimum(best[ys_q, xs_q], rms, out=best[ys_q, xs_q])
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
        ThresholdSpec("resid_rms", "max", "mm", "RMS residual of the network inversion"),
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
                     ) -> tuple[dict[str, float], dict[str, Float64Array], tuple[int, ...]]:
    """The enabled thresholds, their index images as float64 and the images' (ny, nx) shape, or the
    error :func:`apply_thresholds` documents."""
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

    arrays = {k: np.asarray(indices[k], dtype=np.float64) for k in enabled}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"index images must be 2-D of one shape, got {sorted(shapes)}")
    shape = next(iter(shapes))

    return enabled, arrays, shape


def _warnings(enabled: Mapping[str, float], arrays: Mapping[str, Float64Array], counts: Mapping[str, int],
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
        a = arrays[name]
        passes = a >= thr if THRESHOLD_SPECS[name].direction == "min" else a <= thr
        removed[name] = footprint & ~passes  # NaN compares False -> removed
    n_fail = np.zeros(shape, np.int64)
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
