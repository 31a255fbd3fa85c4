"""Unwrapping errors the loops leave: the inversion's own residuals, and the pairs nothing checks.

Step 1-2 corrects cycle errors from triangle loops it *trusts* (closing within 1 rad of whole
cycles). At low coherence the loops are noisy and untrusted, and some errors stay (measured on
simulated frames: ~5 % of the injected small errors, at pixels of median coherence 0.16; they
make ~75 % of the excess velocity error over the perfect inversion). Two checks after the
inversion see them:

* :func:`residual_cycle_check` — *data snooping* (Baarda 1968, *A testing procedure for use in
  geodetic networks*, Netherlands Geodetic Commission 2(5); Teunissen 2000, *Testing theory*,
  Delft Univ. Press, §4): at one pixel the weighted least-squares residual of pair ``p`` is
  ``r_p``, its variance ``σ² (1 − h_p) / w_p`` (``h_p`` the hat value, the pair's leverage); the
  w-test statistic ``|r_p| √(w_p / (σ̂² (1 − h_p)))`` of the largest one is compared with a
  critical value. A pair failing it whose estimated own error ``r_p / (1 − h_p)`` is close to
  whole cycles is corrected by those cycles, and the test repeated. Where another pair's residual
  is almost perfectly correlated with it (``|ρ| > amb``) the data cannot tell which one is wrong:
  both are nulled at that pixel. All pairs of a pixel take part — loops of any length, weighted by
  coherence — so it sees errors that no trusted triangle does.
* :func:`unchecked_pairs` — the pairs on no cycle of a pixel's network (graph *bridges*, Tarjan
  1974, *Inf. Process. Lett.* 2(6):160): their hat value is 1, no residual can ever reveal an
  error in them, and an error there moves every later epoch by whole cycles. Their count per
  pixel is a mask index (``n_unchecked``). LiCSBAS's ``n_ifg_noloop`` counts pairs in no valid
  *triangle*, which flags pairs that longer loops do check.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho import _outlier_jit

__all__ = ["CRITICAL", "NULL_FIX", "residual_cycle_check", "unchecked_counts", "unchecked_pairs"]

#: value of a fix for "null this pair at this pixel" (as :data:`kansho.loops.NULL_FIX`)
NULL_FIX = _outlier_jit.NULL
#: critical value of the w-test: a standard normal exceeds 5 once in ~3.5 million
CRITICAL = 5.0


def _checked(a: np.ndarray, name: str, pairs: npt.ArrayLike, n_epoch: int) -> np.ndarray:
    """The pairs' (npair, 2) int64 end indices, after checking them and that ``a`` is (npair, npix)."""
    if a.ndim != 2:
        raise ValueError(f"{name} must be (npair, npix), got {a.shape}")
    e = np.ascontiguousarray(np.asarray(pairs, np.int64).reshape(-1, 2))
    if e.size and (np.any(e[:, 0] >= e[:, 1]) or e.min() < 0 or e.max() >= n_epoch):
        raise ValueError(f"pairs must be (i, j) epoch indices with 0 <= i < j < {n_epoch}")
    if e.shape[0] != a.shape[0]:
        raise ValueError(f"{e.shape[0]} pairs but {name} has {a.shape[0]} rows")
    return e


def residual_cycle_check(
    ifg: npt.ArrayLike,
    pairs: npt.ArrayLike,
    n_epoch: int,
    cycle: float,
    *,
    weights: npt.ArrayLike | None = None,
    crit: float = CRITICAL,
    max_iter: int = 8,
    min_redundancy: float = 0.05,
    amb: float = 0.9,
) -> npt.NDArray[np.int8]:
    """Pairs in error by whole cycles at each pixel, found from the least-squares residuals.

    Parameters
    ----------
    ifg:
        (npair, npix) interferometric displacement, any linear unit (mm in the chain); NaN = no data.
        Constant offsets per pair do not matter only if they were removed (refer the pairs first).
    pairs:
        (npair, 2) epoch indices ``(i, j)``, ``i < j``.
    n_epoch:
        Number of epochs.
    cycle:
        One phase cycle in the unit of ``ifg`` (positive; ``λ/2`` in mm for the chain's LOS mm).
    weights:
        (npair, npix) inverse variances (e.g. from coherence); equal weights when None.
    crit:
        Critical value of the w-test statistic (:data:`CRITICAL`).
    max_iter:
        Most corrections tried at one pixel.
    min_redundancy:
        Pairs with ``1 − h`` below this (nearly unchecked) are not tested.
    amb:
        Residual correlation above which two pairs count as indistinguishable (both nulled).

    Returns
    -------
    (npair, npix) int8: ``k`` = the pair carries ``k`` cycles (subtract ``k·cycle``), 0 = unchanged,
    :data:`NULL_FIX` = null it at that pixel.
    """
    y = np.ascontiguousarray(np.asarray(ifg, np.float64))
    ends = _checked(y, "ifg", pairs, n_epoch)
    if not cycle > 0:
        raise ValueError(f"cycle must be positive, got {cycle}")
    w = np.ones_like(y) if weights is None else np.ascontiguousarray(np.asarray(weights, np.float64))
    if w.shape != y.shape:
        raise ValueError(f"weights {w.shape} and ifg {y.shape} differ in shape")
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    if y.shape[1] == 0 or n_epoch < 3:
        return np.zeros(y.shape, np.int8)
    return _outlier_jit.check_pixels(y, w, ends, int(n_epoch), float(cycle), float(crit), int(max_iter),
                                     float(min_redundancy), float(amb), 1e-9)


def unchecked_pairs(valid: npt.ArrayLike, pairs: npt.ArrayLike, n_epoch: int) -> npt.NDArray[np.bool_]:
    """(npair, npix) bool: the valid pairs of each pixel that lie on no closed loop of its network
    (of any length), i.e. whose errors no loop closure and no residual can reveal.

    ``valid``: (npair, npix) bool; ``pairs``: (npair, 2) epoch indices ``i < j``.
    """
    return _outlier_jit.bridges(*_bridge_args(valid, pairs, n_epoch))


def unchecked_counts(valid: npt.ArrayLike, pairs: npt.ArrayLike, n_epoch: int) -> npt.NDArray[np.int32]:
    """(npix,) int32: how many of each pixel's valid pairs :func:`unchecked_pairs` returns, without making
    that (npair, npix) array."""
    return _outlier_jit.bridge_counts(*_bridge_args(valid, pairs, n_epoch))


def _bridge_args(valid: npt.ArrayLike, pairs: npt.ArrayLike, n_epoch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The arguments of the bridge kernels: ``valid`` as C-contiguous bool, the checked pair ends, ``n_epoch``."""
    v = np.ascontiguousarray(np.asarray(valid, np.bool_))
    return v, _checked(v, "valid", pairs, n_epoch), int(n_epoch)
