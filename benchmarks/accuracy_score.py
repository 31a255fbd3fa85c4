"""Scoring of one time-series result against a simulated truth, for the accuracy harness.

Works on plain arrays (:class:`Solution`), so a Kansho run and a LiCSBAS run are scored by the
same code. Conventions: LOS mm positive toward the satellite; every series is put on the
solution's first epoch and on its own reference area (``ref``; for a filtered series
``ref_filt``), as a user reads it (the solution too, should it not be exactly zero there).
Figures (all RMS over the kept pixels unless said):

* ``vel_rmse``/``vel_rmse_all``: velocity error (mm/yr) over kept / all solved pixels; the true
  velocity is the least-squares slope of the true series over the solution's epochs;
* ``ts_rmse``: displacement error over kept pixels and epochs (mm); ``ts_rmse_filt`` and
  ``vel_rmse_filt`` the same for the filtered series (its velocity: the least-squares slope);
* the perfect-inversion floor: the true series plus the same atmosphere (and DEM-error term),
  i.e. what an error-free inversion of noise-free phase gives, on the same reference and pixels:
  ``floor_ts_rmse`` is that nuisance alone, ``floor_vel_rmse`` the RMS of its per-pixel slope;
* ``bridge_vel_rmse``: the perfect inversion bridged as a per-pixel estimator must bridge the
  network's gaps (the used pairs' gaps, the same at every pixel): the true series plus nuisance,
  its segments' offsets fitted with a line (NSBAS) or line + annual term, whichever is better at
  that pixel *knowing the truth* -- so no per-pixel bridge can beat it; equal to the floor
  without gaps; ``bridge_ts_rmse`` the same for the series (its error: the atmosphere and the
  offsets). The criteria's floors do not bridge (they see the continuous series);
* ``coverage``: kept fraction of land pixels (``coverage_solved``: solved fraction);
* unwrapping errors: a large error (a region of one pair) is *dropped* when its pair is not used,
  otherwise the error's share in the solution is measured: the median, over its region, of the
  solution's increment between the pair's epochs minus the true apparent increment (less the
  same median over the pair's other pixels), divided by what a kept, uncorrected error would
  leave there (k·λ/2 times the pair's hat value in the used network, :func:`hat_values`). Below
  0.5: *corrected* (or nulled: no solved pixel left in the region); otherwise *missed*. Small
  errors (each connected patch of one pair's injected ±2π pixels) the same way;
* ``clean_dropped``: pairs dropped by loop closure or the no-loop check that had no large error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from kansho._dates import years_since_first

Box = tuple[int, int, int, int]  # row0, row1, col0, col1 (end-exclusive)
Ref = Box | np.ndarray  # a box, or a (ny, nx) bool set of reference pixels (Kansho's default reference)


@dataclass
class Solution:
    """One result: epochs (n,) yyyymmdd; ``cum``/``cum_filt`` indexable (n, ny, nx) mm, read one
    epoch at a time; ``vel`` (ny, nx) mm/yr; ``mask`` (ny, nx) bool kept; references; pairs used
    and pairs dropped by the unwrapping-error checks (names ``yyyymmdd_yyyymmdd``)."""

    epochs: np.ndarray
    cum: Any
    cum_filt: Any
    vel: np.ndarray
    mask: np.ndarray
    ref: Ref | None
    ref_filt: Ref | None
    used: set[str]
    dropped: set[str]
    extra: dict[str, Any] = field(default_factory=dict)


def _rms(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.sqrt(np.mean(a * a))) if a.size else float("nan")


def _on_ref(img: np.ndarray, ref: Ref | None, keep: np.ndarray) -> np.ndarray:
    """``img`` less its mean over ``ref`` (a box or a set of pixels; without a reference, its median
    over ``keep``)."""
    if ref is not None:
        if isinstance(ref, np.ndarray):
            win = img[ref]
        else:
            r0, r1, c0, c1 = ref
            win = img[r0:r1, c0:c1]
        if np.isfinite(win).any():
            return img - np.nanmean(win)
    vals = img[keep & np.isfinite(img)]
    return img - (np.median(vals) if vals.size else 0.0)


def hat_values(pairs: Sequence[tuple[int, int]], n_epoch: int) -> np.ndarray:
    """Diagonal of the hat matrix G G⁺ of a pair network (n_pair,): the share of an error in pair
    p that a least-squares inversion of the increments keeps in p's own fitted value.

    ``pairs``: (i, j) epoch indices, i < j. Uses the minimum-norm pseudo-inverse, so networks in
    several parts are fine.
    """
    g = np.zeros((len(pairs), max(n_epoch - 1, 1)))
    for p, (i, j) in enumerate(pairs):
        g[p, i:j] = 1.0
    return np.einsum("ij,ji->i", g, np.linalg.pinv(g)) if len(pairs) else np.zeros(0)


def score(sol: Solution, truth: Any) -> dict[str, Any]:
    """Every figure of the module docstring, as a JSON-ready dict."""
    epochs = np.asarray(sol.epochs, np.int64)
    tpos = {int(e): i for i, e in enumerate(truth.epochs)}
    sel = [tpos[int(e)] for e in epochs]
    t = years_since_first(epochs)
    wv = (t - t.mean()) / np.sum((t - t.mean()) ** 2)
    keep = np.asarray(sol.mask, bool) & np.isfinite(sol.vel)
    solved = np.isfinite(sol.vel)
    land = ~np.asarray(truth.water, bool)
    shape = keep.shape
    tc0 = np.asarray(truth.cum[sel[0]], np.float64)
    nz0 = np.asarray(truth.apparent_mm(sel[0]), np.float64) - tc0
    tvel, nvel, vfilt = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    acc = {k: [0.0, 0] for k in ("ts", "filt", "floor")}

    def add(key: str, d: np.ndarray) -> None:
        d = d[np.isfinite(d)]
        acc[key][0] += float(np.sum(d * d))
        acc[key][1] += int(d.size)

    for k, e in enumerate(sel):
        true = np.asarray(truth.cum[e], np.float64) - tc0
        nuis = np.asarray(truth.apparent_mm(e), np.float64) - np.asarray(truth.cum[e], np.float64) - nz0
        te = _on_ref(true, sol.ref, keep)
        tvel += wv[k] * te
        nz = _on_ref(nuis, sol.ref, keep)
        nvel += wv[k] * nz
        add("ts", _on_ref(np.asarray(sol.cum[k], np.float64), sol.ref, keep)[keep] - te[keep])
        add("floor", nz[keep])
        cf = _on_ref(np.asarray(sol.cum_filt[k], np.float64), sol.ref_filt, keep)
        vfilt += wv[k] * cf
        add("filt", cf[keep] - _on_ref(true, sol.ref_filt, keep)[keep])
    rms = {k: float(np.sqrt(s / n)) if n else float("nan") for k, (s, n) in acc.items()}
    dv = _on_ref(np.asarray(sol.vel, np.float64), sol.ref, keep) - tvel
    tvel_f = _on_ref_vel(tvel, sol.ref, sol.ref_filt, keep)
    out: dict[str, Any] = {
        "vel_rmse": _rms(dv[keep]), "vel_bias": float(np.nanmean(dv[keep])) if keep.any() else float("nan"),
        "vel_rmse_all": _rms(dv[solved]), "ts_rmse": rms["ts"], "ts_rmse_filt": rms["filt"],
        "vel_rmse_filt": _rms((vfilt - tvel_f)[keep]),
        "floor_vel_rmse": _rms(nvel[keep]), "floor_ts_rmse": rms["floor"],
        "coverage": float(keep[land].mean()) if land.any() else 0.0,
        "coverage_solved": float(solved[land].mean()) if land.any() else 0.0,
        "n_epoch": int(epochs.size), "n_pair_used": len(sol.used),
    }
    out.update(_bridge_floor(sol, truth, sel, t, wv, tvel, nvel, keep, rms["floor"]))
    out.update(score_errors(sol, truth))
    return out


def _bridge_floor(sol: Solution, truth: Any, sel: list[int], t: np.ndarray, wv: np.ndarray, tvel: np.ndarray,
                  nvel: np.ndarray, keep: np.ndarray, floor_ts: float) -> dict[str, float]:
    """``bridge_vel_rmse`` and ``bridge_ts_rmse`` of the module docstring (mm/yr and mm over the kept
    pixels; the series on the first epoch), and ``bridge_vel_line``/``bridge_vel_annual``: the same
    with one model everywhere."""
    epochs = np.asarray(sol.epochs, np.int64)
    epos = {int(e): i for i, e in enumerate(epochs)}
    span = np.zeros(max(epochs.size - 1, 0), bool)
    for n in sol.used:
        i, j = epos.get(int(n[:8])), epos.get(int(n[9:]))
        if i is not None and j is not None:
            span[min(i, j):max(i, j)] = True
    seg = np.concatenate([[0], np.cumsum(~span)])
    if seg[-1] == 0:  # no gap: nothing to bridge
        v0 = _rms(nvel[keep])
        return {"bridge_vel_rmse": v0, "bridge_ts_rmse": floor_ts, "bridge_vel_line": v0, "bridge_vel_annual": v0}
    kp = keep.ravel()
    app = np.stack([_on_ref(np.asarray(truth.apparent_mm(e), np.float64), sol.ref, keep).ravel()[kp] for e in sel])
    true = np.stack([_on_ref(np.asarray(truth.cum[e], np.float64), sol.ref, keep).ravel()[kp] for e in sel])
    true -= true[0]
    ind = np.stack([(seg == s).astype(float) for s in range(1, seg[-1] + 1)], axis=1)
    best_v = np.full(kp.sum(), np.inf)
    best_ts = np.full(kp.sum(), np.inf)
    one: list[float] = []
    for cols in ([t], [t, np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]):
        x = np.column_stack([np.ones_like(t), *cols, ind])
        coef = np.linalg.lstsq(x, app, rcond=None)[0]
        bridged = app - ind @ coef[-ind.shape[1]:]
        dv = np.abs(wv @ bridged - tvel.ravel()[kp])
        one.append(_rms(dv))
        best_v = np.minimum(best_v, dv)
        best_ts = np.minimum(best_ts, np.mean((bridged - bridged[0] - true) ** 2, axis=0))
    return {"bridge_vel_rmse": _rms(best_v), "bridge_ts_rmse": float(np.sqrt(np.mean(best_ts))) if best_ts.size
            else float("nan"), "bridge_vel_line": one[0], "bridge_vel_annual": one[1]}


def _on_ref_vel(tvel: np.ndarray, ref: Ref | None, ref_filt: Ref | None, keep: np.ndarray) -> np.ndarray:
    """The true velocity moved from the series' reference to the filtered series' reference."""
    if ref_filt is ref or (not isinstance(ref, np.ndarray) and not isinstance(ref_filt, np.ndarray)
                           and ref_filt == ref):
        return tvel
    return _on_ref(tvel, ref_filt, keep)


def _patches(truth: Any) -> list[tuple[int, np.ndarray, int]]:
    """Small errors: (pair index, flat pixels, k) per connected patch of one pair's error pixels."""
    out: list[tuple[int, np.ndarray, int]] = []
    lp, lx, lk = (np.asarray(truth.local_err_pair), np.asarray(truth.local_err_pixel),
                  np.asarray(truth.local_err_k))
    ny, nx = truth.water.shape
    for p in np.unique(lp):
        sel = lp == p
        img = np.zeros(ny * nx, np.int8)
        img[lx[sel]] = lk[sel]
        lab, n = ndimage.label(img.reshape(ny, nx) != 0)
        flat_lab = lab.ravel()
        for c in range(1, n + 1):
            pix = np.flatnonzero(flat_lab == c)
            out.append((int(p), pix, int(np.sign(img[pix]).sum() >= 0) * 2 - 1))
    return out


def score_errors(sol: Solution, truth: Any) -> dict[str, Any]:
    """Large and small unwrapping errors dropped / corrected / missed, and clean pairs dropped."""
    epochs = [int(e) for e in sol.epochs]
    epos = {e: i for i, e in enumerate(epochs)}
    names = [f"{a}_{b}" for a, b in np.asarray(truth.pairs)]
    used = sorted(sol.used, key=names.index)
    used_idx = [(epos[int(n[:8])], epos[int(n[9:])]) for n in used]
    hat = dict(zip(used, hat_values(used_idx, len(epochs)), strict=True))
    half = truth.wavelength * 1000.0 / 2.0  # mm per cycle
    large = {"dropped": 0, "corrected": 0, "missed": 0, "leak": []}
    err_pairs = {f"{a}_{b}" for a, b in np.asarray(truth.unw_error_pairs).reshape(-1, 2)}
    cache: dict[str, np.ndarray | None] = {}
    for m, (a, b) in enumerate(np.asarray(truth.unw_error_pairs).reshape(-1, 2)):
        name = f"{a}_{b}"
        verdict, leak = _verdict(sol, truth, name, truth.unw_error_masks[m].ravel(), int(truth.unw_error_k[m]),
                                 hat, half, epos, cache)
        large[verdict] += 1
        large["leak"].append(leak)
    small = {"dropped": 0, "corrected": 0, "missed": 0}
    for p, pix, k in _patches(truth):
        mask = np.zeros(truth.water.size, bool)
        mask[pix] = True
        verdict, _ = _verdict(sol, truth, names[p], mask, k, hat, half, epos, cache)
        small[verdict] += 1
    return {
        "large_injected": len(large["leak"]), "large_dropped": large["dropped"],
        "large_corrected": large["corrected"], "large_missed": large["missed"], "large_leak": large["leak"],
        "small_injected": sum(small.values()), "small_dropped": small["dropped"],
        "small_corrected": small["corrected"], "small_missed": small["missed"],
        "clean_dropped": len(sol.dropped - err_pairs), "dropped": sorted(sol.dropped),
    }


def _verdict(sol: Solution, truth: Any, name: str, region: np.ndarray, k: int, hat: dict[str, float],
             half: float, epos: dict[int, int], cache: dict[str, np.ndarray | None]) -> tuple[str, float]:
    """("dropped" | "corrected" | "missed", measured share of the error relative to an uncorrected one)."""
    if name not in sol.used:
        return "dropped", 0.0
    if name not in cache:
        a, b = int(name[:8]), int(name[9:])
        e1, e2 = epos[a], epos[b]
        t1, t2 = truth.epoch_index(a), truth.epoch_index(b)
        inc = np.asarray(sol.cum[e2], np.float64) - np.asarray(sol.cum[e1], np.float64)
        tinc = np.asarray(truth.apparent_mm(t2), np.float64) - np.asarray(truth.apparent_mm(t1), np.float64)
        cache[name] = (inc - tinc).ravel()
    d = cache[name]
    assert d is not None
    fin = np.isfinite(d)
    inside, outside = fin & region, fin & ~region
    if not inside.any() or not outside.any():
        return "corrected", 0.0  # nulled: nothing of it is left in the solution
    full = -k * half * hat.get(name, 0.0)  # what the kept, uncorrected error leaves (mm)
    leak = float(np.median(d[inside]) - np.median(d[outside]))
    share = leak / full if abs(full) > 1e-9 else 0.0
    return ("missed" if share >= 0.5 else "corrected"), share
