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

import hashlib
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


def qc_block(task: Task) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Per-pair valid counts and coherence sums of a block, and the per-pixel accumulators.

    Reads pairs ``params["start"]:`` (0: all). With ``params["base"]`` (a prefix of work-array
    names) the per-pixel accumulators continue from those arrays, which cover the pairs before
    ``start`` (an update), and the footprint is theirs; the block then also reports whether the
    new pairs enlarge the footprint (the per-pair sums of the earlier pairs would change).
    Writes ``<dest>qc_n_valid``, ``<dest>qc_coh_n``, ``<dest>qc_coh_sum`` and ``<dest>qc_coh_avg``.
    Returns (n_valid, coh_sum) of the pairs read, the footprint count, and whether it grew.
    """
    st, w = _stack(task), _work(task)
    p = task.params
    start, base, dest = int(p.get("start", 0)), p.get("base"), str(p.get("dest", ""))
    sel = np.arange(start, st.n_pair) if start else None
    u = st.read("unw", task.rows, task.cols, sel)
    c = st.read("coh", task.rows, task.cols, sel)
    npair = u.shape[0]
    u, c = u.reshape(npair, -1), c.reshape(npair, -1)
    prior = None
    grew = False
    footprint = None
    if base is not None:
        prior = tuple(np.asarray(w[base + n][task.rows, task.cols]).ravel() for n in
                      ("qc_n_valid", "qc_coh_n", "qc_coh_sum"))
        footprint = prior[0] > 0
        grew = bool((np.isfinite(u) & ~footprint).any())
    nv, cs, nt = qc.pair_sums(u, c, footprint)
    n_valid, coh_n, coh_sum = qc.pixel_sums(u, c, prior)
    shp = task.shape
    w[dest + "qc_n_valid"][task.rows, task.cols] = n_valid.reshape(shp)
    w[dest + "qc_coh_n"][task.rows, task.cols] = coh_n.reshape(shp)
    w[dest + "qc_coh_sum"][task.rows, task.cols] = coh_sum.reshape(shp)
    with np.errstate(invalid="ignore", divide="ignore"):
        w[dest + "qc_coh_avg"][task.rows, task.cols] = np.where(coh_n > 0, coh_sum / coh_n, np.nan).reshape(shp)
    return np.asarray(nv, np.int64), np.asarray(cs, np.float64), int(nt), grew


# -------------------------------------------------------------------------------- 1-2 loops


def loop_sums_block(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Sums of squared loop phase and counts over the block's pixels, per loop (``L`` rows)."""
    p = task.params
    idx = np.asarray(p["idx"], np.intp)
    u = _stack(task).read("unw", task.rows, task.cols, idx).reshape(idx.size, -1) - np.asarray(p["offsets"])[:, None]
    s, c = loops.loop_sums(loops.loop_phase(u, np.asarray(p["L"])))
    return np.asarray(s, np.float64), np.asarray(c, np.float64)


PIXEL_LOOP_ARRAYS = ("n_loop_err", "n_ifg_noloop", "loop_rms", "stack_rate", "n_valid_final", "loop_ss", "loop_cnt",
                     "rate_num", "rate_den")


def pixel_loop_block(task: Task) -> np.ndarray:
    """Per-pixel loop statistics and stacking rate of a block (written to the work store).

    ``params["idx"]`` are the run's pairs (store indices; ``pairs`` their epoch indices,
    ``offsets`` their preliminary reference offsets); the statistics cover those of them in
    ``sub`` (default all), and ``L`` holds the loops over those. Without ``params["base"]`` that
    is every pair and loop of the run. With it (an update; a prefix of work-array names) the
    accumulators continue from those arrays, which hold the last run's pairs and loops:
    ``new_loop`` marks the rows of ``L`` to add, and over ``sub``, ``new_pair`` the pairs to add
    and ``touched`` the earlier pairs that are members of a new loop -- the only earlier pairs
    whose "in no loop" status can change; ``sub`` then holds those pairs, their partners in
    earlier loops and the new pairs, and only they are read unless the check needs every pair.
    Arrays are written with the prefix ``params["dest"]``.

    With ``params["check"]`` a preliminary inversion of the block's pixels whose global flat index
    is a multiple of ``params["every"]`` also counts, per pair, pixels whose residual exceeds half a
    cycle.
    Returns ``(2, npair)`` int64: (n_big, n_valid) of that check (zeros without it).
    """
    p = task.params
    st, w = _stack(task), _work(task)
    idx = np.asarray(p["idx"], np.intp)
    pairs_f = np.asarray(p["pairs"], np.intp)
    offsets = np.asarray(p["offsets"], np.float64)
    sub = np.asarray(p.get("sub", np.ones(idx.size, bool)), bool)
    L2 = np.asarray(p["L"])
    t = np.asarray(p["t"], np.float64)
    conv = float(p["conv"])
    base, dest = p.get("base"), str(p.get("dest", ""))
    u_all = None
    if p["check"] or sub.all():
        u_all = st.read("unw", task.rows, task.cols, idx).reshape(idx.size, -1) - offsets[:, None]
        u = u_all if sub.all() else u_all[sub]
    else:  # an update without the check reads only the pairs it needs
        u = st.read("unw", task.rows, task.cols, idx[sub]).reshape(sub.sum(), -1) - offsets[sub, None]
    pairs_s = pairs_f[sub]
    valid = np.isfinite(u)
    shp = task.shape
    npix = valid.shape[1]
    new_loop = np.asarray(p.get("new_loop", np.ones(L2.shape[0], bool)), bool)
    new_pair = np.asarray(p.get("new_pair", np.ones(u.shape[0], bool)), bool)
    prior: dict[str, np.ndarray] = {}
    if base is not None:
        prior = {n: np.asarray(w[base + n][task.rows, task.cols]).ravel() for n in
                 ("n_loop_err", "n_ifg_noloop", "loop_cnt", "loop_ss", "n_valid_final", "rate_num", "rate_den")}
    lp = loops.loop_phase(u, L2) if L2.shape[0] else np.zeros((0, npix))
    L2 = L2 if L2.shape[0] else np.zeros((0, u.shape[0]), np.int8)
    n_err, cnt, ss, loop_valid = loops.pixel_loop_sums(
        lp, L2, valid, err_threshold=float(p["pixel_loop_threshold"]), rows=new_loop,
        base=(prior["n_loop_err"], prior["loop_cnt"], prior["loop_ss"]) if prior else None)
    in_all = loops.pairs_in_valid_loop(L2, loop_valid)
    if prior:  # earlier pairs that a new loop now covers leave the "in no loop" count
        touched = np.asarray(p["touched"], bool)
        old = ~new_loop
        in_old = loops.pairs_in_valid_loop(L2[old], loop_valid[old])
        left = (valid & ~in_old & in_all)[touched].sum(axis=0)
        n_noloop = prior["n_ifg_noloop"] - left + (valid & ~in_all)[new_pair].sum(axis=0)
    else:
        n_noloop = (valid & ~in_all).sum(axis=0)
    dt = t[pairs_s[:, 1]] - t[pairs_s[:, 0]]
    num = np.array(prior["rate_num"], np.float64) if prior else np.zeros(npix)
    den = np.array(prior["rate_den"], np.float64) if prior else np.zeros(npix)
    nvf = np.array(prior["n_valid_final"], np.int32) if prior else np.zeros(npix, np.int32)
    for k in np.flatnonzero(new_pair):  # pair after pair: the same sums as one pass over all pairs
        num += np.where(valid[k], u[k], 0.0)
        den += np.where(valid[k], dt[k], 0.0)
        nvf += valid[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"n_loop_err": n_err, "n_ifg_noloop": n_noloop, "loop_cnt": cnt, "loop_ss": ss,
               "loop_rms": np.where(cnt > 0, np.sqrt(ss / np.maximum(cnt, 1)), np.nan),
               "stack_rate": num * conv / den,  # mm/yr, for the reference
               "n_valid_final": nvf, "rate_num": num, "rate_den": den}
    for name, v in out.items():
        w[dest + name][task.rows, task.cols] = np.asarray(v).reshape(shp)
    big = np.zeros((2, idx.size), np.int64)
    if p["check"]:
        nx = int(p["nx"])
        rr, cc = np.meshgrid(np.arange(task.rows.start, task.rows.stop), np.arange(task.cols.start, task.cols.stop),
                             indexing="ij")
        every = int(p.get("every", 5))
        pick = ((rr * nx + cc) % every == 0).ravel()  # the same pixels whatever the block size
        assert u_all is not None
        ifg = u_all[:, pick] * conv
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


_WEIGHT_CACHE: dict[tuple[bytes, tuple[float, float]], np.ndarray] = {}


def _weight_of(valid: np.ndarray, sigma_px: Any) -> np.ndarray:
    """:func:`filters.gaussian_weight` of ``valid``, kept for the next epoch of this process: under
    one mask every epoch's finite pattern is the same, so its convolution is done once."""
    key = (hashlib.sha1(np.packbits(valid).tobytes() + str(valid.shape).encode()).digest(),
           (float(sigma_px[0]), float(sigma_px[1])))
    if key not in _WEIGHT_CACHE:
        _WEIGHT_CACHE.clear()
        _WEIGHT_CACHE[key] = filters.gaussian_weight(valid, *sigma_px)
    return _WEIGHT_CACHE[key]


def filter_spatial_epoch(task: Task) -> None:
    """Subtract epoch ``e``'s atmosphere estimate (spatial low-pass of the high-pass, relative to epoch 0)."""
    p = task.params
    w = _work(task)
    e = task.epoch
    hp = np.asarray(w["filt_hp"][e])
    aps = filters.gaussian_nan(hp, *p["sigma_px"], fill=True, den=_weight_of(np.isfinite(hp), p["sigma_px"]))
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
