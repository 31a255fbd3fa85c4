"""Block and epoch tasks of the time-series steps: read a block from the stores, compute, write it back.

Each task is a top-level function of one picklable :class:`Task`, so :mod:`kansho.parallel` can run
it in this process, in local worker processes or on a remote dask cluster. A task opens the stack
store and the work store by path, reads its spatial block (all pairs / epochs) or its epoch (all
pixels), calls the numerics of :mod:`kansho.qc`, :mod:`kansho.loops`, :mod:`kansho.inversion`,
:mod:`kansho.velocity`, :mod:`kansho.mask` and :mod:`kansho.filters`, writes chunk-aligned regions
of work arrays created beforehand by the step, and returns only small per-block sums. Running a
task twice (a worker died half-way) writes the same values to the same chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from kansho import filters, loops, network, qc
from kansho import mask as maskmod
from kansho.inversion import invert_nsbas
from kansho.store import Stack, open_stack
from kansho.velocity import bootstrap_vstd, fit_linear

WORK_NAME = "ts.zarr"


@dataclass(frozen=True)
class Task:
    """One unit of work: a spatial block (``rows``, ``cols``) or an epoch index ``epoch``."""

    out: str
    rows: slice = field(default_factory=lambda: slice(0, 0))
    cols: slice = field(default_factory=lambda: slice(0, 0))
    epoch: int = -1
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows.stop - self.rows.start, self.cols.stop - self.cols.start)


def _stack(task: Task) -> Stack:
    return open_stack(Path(task.out))


def _work(task: Task) -> zarr.Group:
    return zarr.open_group(str(Path(task.out) / "work" / WORK_NAME), mode="r+", zarr_format=3)


def nanmean0(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (without a warning) where every value is NaN."""
    fin = np.isfinite(a)
    n = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(fin, a, 0.0).sum(axis=0) / n, np.nan)


def coh_weights(coh: np.ndarray) -> np.ndarray:
    """Inverse phase variance from coherence (Rodriguez & Martin 1992, one-look form), finite."""
    g = np.clip(np.nan_to_num(coh, nan=0.05), 0.05, 0.98)
    return (2.0 * g**2 / (1.0 - g**2)).astype(np.float64)


# ----------------------------------------------------------------------------------- 1-1 qc


def qc_block(task: Task) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-pair valid counts and coherence sums of a block; writes ``qc_n_valid`` and ``qc_coh_avg``."""
    st, w = _stack(task), _work(task)
    u = st.read("unw", task.rows, task.cols)
    c = st.read("coh", task.rows, task.cols)
    npair = u.shape[0]
    nv, cs, nt = qc.pair_sums(u.reshape(npair, -1), c.reshape(npair, -1))
    w["qc_n_valid"][task.rows, task.cols] = np.isfinite(u).sum(axis=0)
    w["qc_coh_avg"][task.rows, task.cols] = nanmean0(c)
    return np.asarray(nv, np.int64), np.asarray(cs, np.float64), int(nt)


# -------------------------------------------------------------------------------- 1-2 loops


def loop_sums_block(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Sums of squared loop phase and counts over the block's pixels, per loop (``L`` rows)."""
    p = task.params
    idx = np.asarray(p["idx"], np.intp)
    u = _stack(task).read("unw", task.rows, task.cols, idx).reshape(idx.size, -1) - np.asarray(p["offsets"])[:, None]
    s, c = loops.loop_sums(loops.loop_phase(u, np.asarray(p["L"])))
    return np.asarray(s, np.float64), np.asarray(c, np.float64)


def pixel_loop_block(task: Task) -> np.ndarray:
    """Per-pixel loop statistics and stacking rate of a block (written to the work store).

    With ``params["check"]`` a preliminary inversion of the block's pixels whose global flat index
    is a multiple of ``params["every"]`` also counts, per pair, pixels whose residual exceeds half a
    cycle.
    Returns ``(2, npair)`` int64: (n_big, n_valid) of that check (zeros without it).
    """
    p = task.params
    st, w = _stack(task), _work(task)
    idx = np.asarray(p["idx"], np.intp)
    pairs_f = np.asarray(p["pairs"], np.intp)
    L2 = np.asarray(p["L"])
    t = np.asarray(p["t"], np.float64)
    conv = float(p["conv"])
    u = st.read("unw", task.rows, task.cols, idx).reshape(idx.size, -1) - np.asarray(p["offsets"])[:, None]
    valid = np.isfinite(u)
    shp = task.shape
    if L2.shape[0]:
        lp = loops.loop_phase(u, L2)
        ne, nn, lr = loops.pixel_loop_stats(lp, L2, valid, err_threshold=float(p["pixel_loop_threshold"]))
    else:
        ne, nn, lr = np.zeros(valid.shape[1]), valid.sum(0), np.full(valid.shape[1], np.nan)
    w["n_loop_err"][task.rows, task.cols] = np.asarray(ne, np.float32).reshape(shp)
    w["n_ifg_noloop"][task.rows, task.cols] = np.asarray(nn, np.float32).reshape(shp)
    w["loop_rms"][task.rows, task.cols] = np.asarray(lr, np.float32).reshape(shp)
    w["n_valid_final"][task.rows, task.cols] = valid.sum(0).reshape(shp)
    dt = (t[pairs_f[:, 1]] - t[pairs_f[:, 0]])[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):  # stacking rate (mm/yr), for the reference
        rate = np.where(valid, u, 0.0).sum(0) * conv / np.where(valid, dt, 0.0).sum(0)
    w["stack_rate"][task.rows, task.cols] = rate.reshape(shp).astype(np.float32)
    big = np.zeros((2, idx.size), np.int64)
    if p["check"]:
        nx = int(p["nx"])
        rr, cc = np.meshgrid(np.arange(task.rows.start, task.rows.stop), np.arange(task.cols.start, task.cols.stop),
                             indexing="ij")
        every = int(p.get("every", 5))
        pick = ((rr * nx + cc) % every == 0).ravel()  # the same pixels whatever the block size
        ifg = u[:, pick] * conv
        if ifg.shape[1]:
            res = invert_nsbas(ifg, pairs_f, t, gamma=float(p["gamma"]), min_pairs=1)
            cum = np.asarray(res.cum, np.float64)
            resid = cum[pairs_f[:, 1]] - cum[pairs_f[:, 0]] - ifg
            fin = np.isfinite(resid)
            half_cycle_mm = abs(conv) * math.pi
            big[0] = (np.abs(np.where(fin, resid, 0.0)) > half_cycle_mm).sum(axis=1)
            big[1] = fin.sum(axis=1)
    return big


# ------------------------------------------------------------------------------- 1-3 invert


def invert_block(task: Task) -> int:
    """NSBAS inversion of a block; writes ``cum``, ``gap`` and the 2-D network/velocity maps."""
    p = task.params
    st, w = _stack(task), _work(task)
    idx = np.asarray(p["idx"], np.intp)
    pairs = np.asarray(p["pairs"], np.intp)
    t = np.asarray(p["t"], np.float64)
    ne = t.size
    shp = task.shape
    rows, cols = task.rows, task.cols
    u = st.read("unw", rows, cols, idx).reshape(idx.size, -1)
    c = st.read("coh", rows, cols, idx).reshape(idx.size, -1)
    ifg = (u - np.asarray(p["offsets"])[:, None]) * float(p["conv"])
    valid = np.isfinite(ifg)
    weights = coh_weights(c) if p["coh_weight"] else None
    res = invert_nsbas(ifg, pairs, t, gamma=float(p["gamma"]), annual=bool(p["annual"]), weights=weights,
                       min_pairs=int(p["min_pairs"]), device=str(p.get("device", "cpu")))
    cblk = np.asarray(res.cum, np.float32)
    w["cum"][:, rows, cols] = cblk.reshape(ne, *shp)
    vel, icpt = fit_linear(cblk, t)
    gaps = network.gaps(pairs, ne, valid)
    w["vel"][rows, cols] = np.asarray(vel, np.float32).reshape(shp)
    w["vintercept"][rows, cols] = np.asarray(icpt, np.float32).reshape(shp)
    w["resid_rms"][rows, cols] = np.asarray(res.resid_rms, np.float32).reshape(shp)
    w["n_unw"][rows, cols] = valid.sum(0).reshape(shp).astype(np.float32)
    w["coh_avg"][rows, cols] = nanmean0(c).reshape(shp)
    w["n_gap"][rows, cols] = gaps.sum(0).reshape(shp).astype(np.float32)
    w["maxTlen"][rows, cols] = np.asarray(network.max_tlen(gaps, t), np.float32).reshape(shp)
    w["gap"][:, rows, cols] = gaps.reshape(ne - 1, *shp).astype(np.int8)
    if p["annual"] and res.annual_amp is not None:
        w["amp_annual"][rows, cols] = np.asarray(res.annual_amp, np.float32).reshape(shp)
    return int(np.asarray(res.solved).sum())


# --------------------------------------------------------------------------------- 1-4 vstd


def vstd_block(task: Task) -> None:
    """Bootstrap velocity standard deviation of a block (written to ``vstd``)."""
    w = _work(task)
    t = np.asarray(task.params["t"], np.float64)
    c = np.asarray(w["cum"][:, task.rows, task.cols])
    v = bootstrap_vstd(c.reshape(c.shape[0], -1), t, n_boot=int(task.params["n_boot"]),
                       rng=task.params["seed"])
    w["vstd"][task.rows, task.cols] = np.asarray(v, np.float32).reshape(c.shape[1:])


# --------------------------------------------------------------------------------- 1-5 stc


def stc_block(task: Task) -> None:
    """Spatio-temporal consistency of a block, read with a one-pixel halo (written to ``stc``)."""
    w = _work(task)
    cum = w["cum"]
    ny, nx = cum.shape[1:]
    rows, cols = task.rows, task.cols
    r0, r1 = max(rows.start - 1, 0), min(rows.stop + 1, ny)
    c0, c1 = max(cols.start - 1, 0), min(cols.stop + 1, nx)
    s = maskmod.stc(np.asarray(cum[:, r0:r1, c0:c1]))
    w["stc"][rows, cols] = s[rows.start - r0: rows.stop - r0, cols.start - c0: cols.stop - c0]


# ------------------------------------------------------------------------------- 1-6 filter


def filter_ramp_epoch(task: Task) -> None:
    """Remove epoch ``e``'s ramp / height surface relative to epoch 0's (``filt_surf0``) into ``filt_base``."""
    p = task.params
    w = _work(task)
    e = task.epoch
    img = np.asarray(w["cum"][e], np.float64)
    if p["deramp"] or p["hgt"]:
        keep = np.asarray(w["mask"][:]) == 1
        hgt = _stack(task).read2d("hgt") if p["hgt"] else None
        surf, _ = filters.epoch_surface(img, keep, p["deramp"] or None, hgt)
        if e == 0:
            w["filt_surf0"][:] = surf
        surf0 = np.asarray(w["filt_surf0"][:], np.float64)
        img = img - (surf - surf0)
    w["filt_base"][e] = img


def filter_temporal_block(task: Task) -> None:
    """Temporal high-pass of a block of ``filt_base`` (masked pixels NaN) into ``filt_hp``."""
    p = task.params
    w = _work(task)
    b = np.asarray(w[p["base"]][:, task.rows, task.cols], np.float64)
    keep = np.asarray(w["mask"][task.rows, task.cols]) == 1
    b = np.where(keep[None], b, np.nan)
    ne = b.shape[0]
    h = filters.temporal_highpass(b.reshape(ne, -1), np.asarray(p["t"]), float(p["sigma_yr"]),
                                  order=int(p["order"]))
    w["filt_hp"][:, task.rows, task.cols] = h.reshape(b.shape)


def filter_spatial_epoch(task: Task) -> None:
    """Subtract epoch ``e``'s atmosphere estimate (spatial low-pass of the high-pass, relative to epoch 0)."""
    p = task.params
    w = _work(task)
    e = task.epoch
    aps = filters.gaussian_nan(np.asarray(w["filt_hp"][e]), *p["sigma_px"], fill=True)
    if e == 0:
        w["filt_aps0"][:] = aps
    aps0 = np.asarray(w["filt_aps0"][:], np.float64)
    img = np.asarray(w[p["base"]][e], np.float64) - np.nan_to_num(aps - aps0, nan=0.0)
    r0, r1, c0, c1 = p["ref"]
    corr = img[r0:r1, c0:c1] - np.asarray(w["cum"][e, r0:r1, c0:c1])  # keep the run's reference area unchanged
    if np.isfinite(corr).any():
        img = img - np.nanmean(corr)
    w["cum_filt"][e] = img


def vel_filt_block(task: Task) -> None:
    """Velocity of the filtered series of a block (written to ``vel_filt``)."""
    w = _work(task)
    c = np.asarray(w["cum_filt"][:, task.rows, task.cols])
    v, _ = fit_linear(c.reshape(c.shape[0], -1), np.asarray(task.params["t"]))
    w["vel_filt"][task.rows, task.cols] = np.asarray(v, np.float32).reshape(c.shape[1:])
