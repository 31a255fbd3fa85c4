"""Unwrapping errors: a connected part of an interferogram shifted by 2πk.

SNAPHU-like unwrapping fails across low-coherence barriers, leaving a whole region off by an
integer number of cycles. The simulator picks ``n`` pairs (more often long, less coherent ones)
and, for each, either a blob (a noisy ellipse) or the part of the frame beyond a random line,
covering 10–30 % of that pair's valid pixels, shifted by k ∈ {±1, ±2} cycles (±1 three times as
often). Each error uses its own random stream, so regions differ in place and shape.

Besides these large errors, SNAPHU leaves small islands off by ±2π inside decorrelated areas of
many interferograms (what LiCSBAS's ``n_loop_err`` counts): :func:`local_patches` draws a
Poisson number of them per pair, each a connected piece of the pair's low-coherence area within
a few pixels of a random seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from kansho._types import Float32Array
from kansho.synth._fields import smooth_noise


@dataclass(frozen=True)
class ErrorPlan:
    """One planned error: pair index, cycles ``k``, ``kind`` ("blob" or "line") and the target
    fraction of the pair's valid pixels."""

    pair_index: int
    k: int
    kind: str
    fraction: float


def plan_errors(n: int, dt_days: npt.NDArray[np.floating], rng: np.random.Generator) -> list[ErrorPlan]:
    """Choose ``n`` distinct pairs (probability ∝ √Δt), their k, kind and size."""
    n_pair = len(dt_days)
    n = min(n, n_pair)
    if n <= 0:
        return []
    w = np.sqrt(np.maximum(np.asarray(dt_days, dtype=float), 1.0))
    idx = rng.choice(n_pair, size=n, replace=False, p=w / w.sum())
    plans = []
    first = int(rng.integers(2))
    for m, i in enumerate(sorted(int(v) for v in idx)):
        k = int(rng.choice([-2, -1, 1, 2], p=[0.125, 0.375, 0.375, 0.125]))
        kind = ("blob", "line")[(m + first) % 2]  # alternate the two kinds
        plans.append(ErrorPlan(pair_index=i, k=k, kind=kind, fraction=float(rng.uniform(0.10, 0.30))))
    return plans


def error_region(
    plan: ErrorPlan,
    valid: npt.NDArray[np.bool_],
    x_km: Float32Array,
    y_km: Float32Array,
    rng: np.random.Generator,
) -> npt.NDArray[np.bool_]:
    """The pixels shifted by the error: a subset of ``valid`` (ny, nx) bool.

    Aims at ``plan.fraction`` of the valid pixels; a blob is the connected component of a noisy
    ellipse around a random valid pixel, a line region is everything beyond a random line.
    """
    nv = int(valid.sum())
    if nv == 0:
        return np.zeros_like(valid)
    target = max(1, round(plan.fraction * nv))
    shape = valid.shape
    if plan.kind == "line":
        ang = rng.uniform(0, 2 * math.pi)
        p = x_km * np.float32(math.cos(ang)) + y_km * np.float32(math.sin(ang))
        wiggle = np.float32(0.02 * (float(p.max()) - float(p.min())))
        p = p + wiggle * smooth_noise(shape, max(3.0, min(shape) / 10), rng)
        thr = np.partition(p[valid], nv - target)[nv - target]
        return valid & (p >= thr)
    # blob: grown inside the connected valid area around a random centre
    lab, n = ndimage.label(valid)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[0] = 0
    big = np.flatnonzero(sizes >= max(target, 0.5 * sizes.max()))
    comp = lab == int(rng.choice(big))
    target = min(target, int(comp.sum()))
    flat = np.flatnonzero(comp.ravel())
    c = int(flat[rng.integers(flat.size)])
    cy, cx = divmod(c, shape[1])
    ang = rng.uniform(0, math.pi)
    ca, sa = math.cos(ang), math.sin(ang)
    dx = x_km - x_km[cy, cx]
    dy = y_km - y_km[cy, cx]
    xr = dx * ca + dy * sa
    yr = -dx * sa + dy * ca
    ratio = rng.uniform(1.0, 2.5)
    d = np.hypot(xr / ratio, yr) * (1.0 + 0.3 * smooth_noise(shape, max(3.0, min(shape) / 12), rng))
    d = np.where(comp, d, np.inf)
    thr = np.partition(d[comp], target - 1)[target - 1]
    region = comp & (d <= thr)
    lab, _ = ndimage.label(region)
    keep = lab[cy, cx]
    if keep > 0:
        region = lab == keep
    return region


LOW_COHERENCE = 0.25


def local_patches(
    gamma: Float32Array,
    valid: npt.NDArray[np.bool_],
    rate: float,
    pixel_km2: float,
    rng: np.random.Generator,
    *,
    max_radius_px: float = 6.0,
) -> list[tuple[npt.NDArray[np.int64], int]]:
    """Small unwrapping-error patches of one pair: a list of (flat pixel indices, k = ±1).

    The number of patches is Poisson with mean ``rate`` per 100 km² of the pair's valid pixels
    with coherence below 0.25 (each ``pixel_km2``); each patch is the connected part of that
    low-coherence area within 2 … ``max_radius_px`` pixels of a random low-coherence seed.
    """
    if rate <= 0:
        return []
    low = valid & (gamma < np.float32(LOW_COHERENCE))
    idx_low = np.flatnonzero(low.ravel())
    nv = int(valid.sum())
    if idx_low.size == 0 or nv == 0:
        return []
    n = int(rng.poisson(rate * idx_low.size * pixel_km2 / 100.0))
    return [_disc_patch(rng, low, idx_low, 2.0, max_radius_px) for _ in range(n)]


def _disc_patch(rng: np.random.Generator, allowed: npt.NDArray[np.bool_], idx: npt.NDArray[np.intp],
                min_radius_px: float, max_radius_px: float) -> tuple[npt.NDArray[np.int64], int]:
    """One patch: the connected ``allowed`` part of a disc of random radius around a random pixel of
    ``idx`` (flat indices into ``allowed``), with k = ±1. Draws seed, radius, then k from ``rng``."""
    ny, nx = allowed.shape
    seed = int(idx[rng.integers(idx.size)])
    sy, sx = divmod(seed, nx)
    r = float(rng.uniform(min_radius_px, max_radius_px))
    ri = math.ceil(r)
    r0, r1, c0, c1 = max(sy - ri, 0), min(sy + ri + 1, ny), max(sx - ri, 0), min(sx + ri + 1, nx)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    disk = ((yy - sy) ** 2 + (xx - sx) ** 2 <= r * r) & allowed[r0:r1, c0:c1]
    lab, _ = ndimage.label(disk)
    piece = lab == lab[sy - r0, sx - c0]
    return ((yy[piece]) * nx + xx[piece]).astype(np.int64), int(rng.choice([-1, 1]))


def plan_paired(
    n: int,
    pairs_idx: npt.NDArray[np.int64],
    taken: set[int],
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """Choose ``n`` sets of two pairs that share their first epoch, none in ``taken``.

    ``pairs_idx`` is (n_pair, 2) epoch indices sorted by first then second epoch. Returns (lead,
    follower) pair indices; the follower, the next pair with the same first epoch, later gets
    the lead's error region and k, so the loop (lead, pair between second epochs, follower)
    closes although both are wrong.
    """
    out: list[tuple[int, int]] = []
    used = set(taken)
    cands = [i for i in range(len(pairs_idx) - 1) if pairs_idx[i, 0] == pairs_idx[i + 1, 0]]
    for i in rng.permutation(np.asarray(cands, dtype=np.int64)):
        i = int(i)
        if len(out) >= n:
            break
        if i in used or i + 1 in used:
            continue
        out.append((i, i + 1))
        used |= {i, i + 1}
    return sorted(out)


def chosen_patches(
    valid: npt.NDArray[np.bool_],
    n: int,
    rng: np.random.Generator,
    *,
    min_radius_px: float = 2.0,
    max_radius_px: float = 5.0,
) -> list[tuple[npt.NDArray[np.int64], int]]:
    """``n`` small error patches anywhere in the pair's valid area: (flat indices, k = ±1).

    Each is the connected valid part of a disc of radius ``min_radius_px`` … ``max_radius_px``
    around a random valid pixel (unlike :func:`local_patches`, coherence does not matter: the
    harness uses these to test per-pixel detection in one chosen pair).
    """
    idx = np.flatnonzero(valid.ravel())
    if idx.size == 0 or n <= 0:
        return []
    return [_disc_patch(rng, valid, idx, min_radius_px, max_radius_px) for _ in range(n)]
