"""Step 1-6: optional ramp / height term per epoch, then the spatio-temporal filter of residual
atmosphere (Morishita et al. 2020 after Hooper et al. 2007), in passes of one epoch or one block.

The numerics are :func:`kansho.filters.epoch_surface`, :func:`kansho.filters.temporal_highpass`,
:func:`kansho.filters.gaussian_nan` and :func:`kansho.filters.gaussian_weight`;
:func:`kansho.filters.spatiotemporal_filter` composes them in memory in the same order.
"""

from __future__ import annotations

import hashlib
import logging
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kansho import _filter_jit, filters
from kansho import filters_adaptive as fad
from kansho._columns import take_columns
from kansho._dates import years_since_first
from kansho._files import write_text_atomic
from kansho.chain import common
from kansho.chain.context import CUBE_DEPTH, Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.tasks import Task
from kansho.filters_adaptive import HOLE_PX, MIN_GAIN
from kansho.layout import INFO_FILES, RunLayout
from kansho.parallel import on_workers
from kansho.velocity import fit_linear

log = logging.getLogger(__name__)


@dataclass
class FilterResult(StepResult):
    """The filter's method, widths and surface options.

    ``sigma_km`` / ``sigma_yr``: the widths used (km, yr); with method ``adaptive`` the chosen ones,
    ``sigma_yr`` None for "the temporal model alone" and ``sigma_km`` None when the filter declined.
    ``alpha``: the weight of the atmosphere estimate removed (1 for gaussian, 0 = declined);
    ``gain``: the predicted fraction of the high-pass's held-out variance removed; ``annual``:
    whether the temporal model had an annual term; ``decision``: one line saying what was done."""

    sigma_km: float | None
    sigma_yr: float | None
    deramp: int
    hgt_corr: bool
    method: str = "gaussian"
    alpha: float = 1.0
    gain: float | None = None
    annual: bool = False
    decision: str = ""


def sigma_to_px(sigma_km: float, pixel_km: float) -> float:
    """Gaussian width in pixels for a width in km."""
    return sigma_km / pixel_km if pixel_km > 0 else 0.0


def step_filter(ctx: Context) -> FilterResult:
    """Step 1-6: optional ramp / height term per epoch, then the spatio-temporal filter.

    The same stages as :func:`kansho.filters.spatiotemporal_filter` (method ``gaussian``) or
    :func:`kansho.filters_adaptive.adaptive_filter` (``adaptive``), in passes that keep memory at
    one epoch or one block: (1) per epoch, the ramp / height surface (relative to the first
    epoch) is removed; (2) per block, the temporal high-pass (adaptive: its width chosen first by
    cross-validation over blocks); (3) per epoch, the spatial low-pass of the high-passed series
    (the atmosphere estimate; adaptive: its width and weight chosen first by cross-validation over
    a sample of epochs) is removed and the series is put back on the run's reference area. Epoch 0
    of passes (1) and (3) runs first: later epochs are taken relative to it.
    """
    st = ctx.stack
    fcfg = ctx.cfg.filter
    lres = ctx.get(LoopsResult)
    epochs = np.asarray(lres.epochs)
    ne = epochs.size
    t = years_since_first(epochs)
    adaptive = fcfg.method == "adaptive"
    dx_km, dy_km = st.grid.pixel_size_km()
    use_hgt = bool(fcfg.hgt_corr)
    if use_hgt and not np.isfinite(st.read2d("hgt")).any():
        log.warning("1-6: no height in the stack; height-correlated term not removed")
        use_hgt = False
    surface = bool(fcfg.deramp) or use_hgt
    base = "filt_base" if surface else "cum"  # without a surface to remove, the base series is cum itself
    if surface:
        ctx.new_array("filt_base", (ne, *st.shape))
    # CUBE_DEPTH epochs deep, like cum: filt_hp is written a block (every epoch) at a time; the spatial
    # pass reads filt_hp and cum and writes cum_filt a chunk depth of epochs at a time
    ctx.new_array("filt_hp", (ne, *st.shape), depth=CUBE_DEPTH)
    ctx.new_array("cum_filt", (ne, *st.shape), depth=CUBE_DEPTH)
    ctx.new_array("filt_surf0", st.shape, "f8", 0.0)
    ctx.new_array("filt_aps0", st.shape, "f8")
    ctx.new_array("vel_filt", st.shape)
    if surface:
        if int((ctx.read2d("mask") == 1).sum()) < 10:
            log.warning("1-6: too few unmasked pixels to fit a ramp/height surface; epochs left without it")
        ramp = {"deramp": fcfg.deramp, "hgt": use_hgt}
        ctx.map_epochs(filter_ramp_epoch, "1-6 ramp", range(1), **ramp)
        ctx.map_epochs(filter_ramp_epoch, "1-6 ramp", range(1, ne), **ramp)
    if adaptive:
        res = _adaptive_widths(ctx, t, base, fcfg.sigma_yr)
        temporal = {"sigma_yr": res.sigma_yr if res.sigma_yr is not None else float("inf"), "order": -1}
        res.deramp, res.hgt_corr = fcfg.deramp, fcfg.hgt_corr
    else:
        sigma_yr = fcfg.sigma_yr if fcfg.sigma_yr is not None else 3.0 * (t[-1] / max(ne - 1, 1))
        res = FilterResult(sigma_km=fcfg.sigma_km, sigma_yr=sigma_yr, deramp=fcfg.deramp, hgt_corr=fcfg.hgt_corr,
                           decision=f"LiCSBAS filter: σ {fcfg.sigma_km:g} km, {sigma_yr:.3g} yr")
        temporal = {"sigma_yr": sigma_yr, "order": fcfg.temporal_order}
    cv = fad.cv_epochs(ne, 8) if adaptive else []  # the spatial cross-validation's epochs, kept apart (filt_cv)
    if cv:
        ctx.new_array("filt_cv", (len(cv), *st.shape))
    ctx.map_blocks(filter_temporal_block, "1-6 temporal", t=t, base=base, cv=cv, **temporal)
    if adaptive:
        _adaptive_spatial(ctx, res, (dx_km, dy_km), cv)
    sig_km = res.sigma_km if res.sigma_km is not None else 0.0
    spatial = {"sigma_px": (sigma_to_px(sig_km, dy_km), sigma_to_px(sig_km, dx_km)),
               "ref": "refmask", "base": base, "alpha": res.alpha, "hole": HOLE_PX if adaptive else -1,
               "depth": CUBE_DEPTH, "ne": ne}
    ctx.new_array("filt_epoch0", st.shape)
    # epoch 0 alone first (filt_aps0, which the later epochs are taken relative to; its own image kept in
    # filt_epoch0), then every chunk depth of epochs at once: the first depth alone left a core idle ~0.4 s
    ctx.map_epochs(filter_spatial_epoch, "1-6 spatial", range(1), first=True, **spatial)
    ctx.map_epochs(filter_spatial_epoch, "1-6 spatial", range(0, ne, CUBE_DEPTH), first=False, **spatial)
    ctx.map_blocks(vel_filt_block, "1-6 velocity", t=t)
    for name in ("filt_base", "filt_hp", "filt_surf0", "filt_aps0", "filt_epoch0", "filt_cv"):
        if name in ctx.work:
            del ctx.work[name]
    forget_caches()
    on_workers(ctx.client, forget_caches, "clear the workers' filter caches")  # a --scheduler's outlive the run
    log.info("1-6: %s", res.decision)
    write_text_atomic(ctx.layout.info / INFO_FILES["filter"], _info_text(res))
    return res


def _adaptive_widths(ctx: Context, t: np.ndarray, base: str, sigma_yr: float | None) -> FilterResult:
    """The temporal model and width of the adaptive filter: ``sigma_yr`` when given, else the
    candidate with the least predicted error (:func:`fad.temporal_score`) over every block's sample."""
    basis = fad.temporal_basis(t)
    annual = basis.shape[1] > 2
    if sigma_yr is None:
        cands = fad.temporal_candidates(t)
        parts = ctx.map_blocks(filter_tcv_block, "1-6 temporal CV", t=t, sigmas=cands, base=base)
        n = sum(int(p[1]) for p in parts)
        score = fad.temporal_score(np.sum([p[0] for p in parts], axis=0), t.size) / max(n, 1)
        chosen = float(cands[int(np.argmin(score))]) if n else float("inf")
        if n:
            log.info("1-6: temporal width by cross-validation over %d pixels (predicted error, mm²): %s", n,
                     ", ".join(f"{c:.3g} yr {v:.3g}" for c, v in zip(cands, score, strict=True)))
        sigma_yr = chosen if np.isfinite(chosen) else None
    return FilterResult(sigma_km=None, sigma_yr=sigma_yr, deramp=0, hgt_corr=False, method="adaptive",
                        alpha=0.0, gain=None, annual=annual)


def _adaptive_spatial(ctx: Context, res: FilterResult, pixel_km: tuple[float, float], sel: list[int]) -> None:
    """Choose the spatial width and weight of the adaptive filter from the held-out error of the
    sample of epochs ``sel`` (their high-pass in ``filt_cv``; :func:`kansho.filters_adaptive.choose_spatial`);
    fill ``res`` in place."""
    st = ctx.stack
    km, px = fad.spatial_candidates(pixel_km, st.shape)
    sums = np.zeros((len(km), 4))
    first = fad.coarse_indices(len(km))
    # the sampled epochs (their places in filt_cv) in one group a worker thread (dask), or one group here (its
    # widths on threads)
    groups = [g.tolist() for g in np.array_split(np.arange(len(sel)), min(len(sel), _slots(ctx))) if g.size]
    for only in (first, None):  # every other width, then the best one's neighbours
        if only is None:
            only = fad.fine_indices(max(fad.choose_spatial(sums).index, 0), len(km), first)
        if only and sel:
            with common.frame_piece_alone(ctx):  # here, its widths on one thread where the budget holds one's share
                parts = ctx.map_epochs(filter_scv_group, "1-6 spatial CV", range(len(groups)), sigmas_px=px,
                                       hole=HOLE_PX, only=only, groups=groups)
            rows = [r for part in parts for r in part]  # in epoch order, as one task an epoch summed them
            sums = sums + np.sum(rows, axis=0)
    choice = fad.choose_spatial(sums)
    res.gain = choice.gain
    tw = "the temporal model alone" if res.sigma_yr is None else f"σ_t {res.sigma_yr:.3g} yr"
    model = "offset + rate + annual" if res.annual else "offset + rate"
    if choice.index < 0:
        res.alpha, res.sigma_km = 0.0, None
        best = max(choice.gains) if choice.gains else 0.0
        res.decision = (f"adaptive filter declined: no spatially coherent signal in the high-pass (best held-out "
                        f"gain {best:.3f} < {MIN_GAIN}); series unchanged")
    else:
        res.alpha, res.sigma_km = choice.alpha, float(km[choice.index])
        res.decision = (f"adaptive filter: model {model}, {tw}, σ_s {res.sigma_km:.3g} km, weight "
                        f"{choice.alpha:.2f}, predicted held-out variance of the high-pass -{100 * choice.gain:.0f} %")


def _slots(ctx: Context) -> int:
    """Tasks a pass runs at once: the dask workers' threads, or 1 here (whose task takes the threads itself)."""
    if ctx.client is None:
        return 1
    try:
        return max(1, sum(int(n) for n in ctx.client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a scheduler that does not answer: its tasks still run, one group
        return 1


def forget_caches() -> None:
    """Free what this process keeps from epoch to epoch of the step (the cross-validation's hole weights and
    kernel transforms, the whole 2-D arrays, the filter weights): called at the step's end here and in
    every worker, where up to ~0.9 GB would otherwise stay after the run."""
    fad.clear_caches()
    _WHOLE_CACHE.clear()
    _WEIGHT_CACHE.clear()


def _info_text(res: FilterResult) -> str:
    """``info/16filter.txt``: the filter's method, widths and decision."""
    return (f"# step 1-6 spatio-temporal filter\nmethod    {res.method}\n"
            f"sigma_km  {'none' if res.sigma_km is None else f'{res.sigma_km:.4g}'}\n"
            f"sigma_yr  {'model only' if res.sigma_yr is None else f'{res.sigma_yr:.4g}'}\n"
            f"alpha     {res.alpha:.3f}\ngain      {'' if res.gain is None else f'{res.gain:.3f}'}\n"
            f"annual    {res.annual}\nderamp    {res.deramp}\nhgt_corr  {res.hgt_corr}\n# {res.decision}\n")


def filter_tcv_block(task: Task) -> tuple[np.ndarray, int]:
    """Leave-one-epoch-out sums of each temporal width over a sample (at most 4096 unmasked, complete
    pixels) of the block: (sums (m, 2) mm² of :func:`fad.temporal_cv`, pixels used)."""
    p = task.params
    w = task.work
    keep = np.asarray(w["mask"][task.rows, task.cols]) == 1
    if not keep.any():
        return np.zeros((len(p["sigmas"]), 2)), 0
    b = np.asarray(w[p["base"]][:, task.rows, task.cols])  # its dtype: float64 for the sample only
    b = take_columns(b.reshape(b.shape[0], -1), keep)
    b = b[:, np.isfinite(b).all(axis=0)]
    b = np.asarray(b[:, :: max(1, -(-b.shape[1] // 4096))], np.float64)
    t = np.asarray(p["t"])
    return fad.temporal_cv(b, t, fad.temporal_basis(t), p["sigmas"])


def filter_scv_group(task: Task) -> np.ndarray:
    """Held-out sums (k, m, 4) of the high-pass of the k sampled epochs of group ``params["groups"][task.epoch]``
    (places in ``filt_cv``) for each spatial width (:func:`fad.spatial_cv_rows`, the numerators' transforms in
    float32): the widths the outer loop, so that the task holds one width's hole weight and kernel transform at
    a time."""
    p = task.params
    g = p["groups"][task.epoch]
    hp = np.asarray(task.work["filt_cv"][g[0]: g[-1] + 1])  # float32: the sums take each value in float64
    return fad.spatial_cv_rows(hp, [tuple(s) for s in p["sigmas_px"]], hole=int(p["hole"]), only=list(p["only"]),
                               fft_float32=True)


def filter_ramp_epoch(task: Task) -> None:
    """Remove epoch ``e``'s ramp / height surface relative to epoch 0's (``filt_surf0``) into ``filt_base``."""
    p = task.params
    w = task.work
    e = task.epoch
    img = np.asarray(w["cum"][e], np.float64)
    if p["deramp"] or p["hgt"]:
        keep = np.asarray(w["mask"][:]) == 1
        hgt = task.stack.read2d("hgt") if p["hgt"] else None
        surf, _ = filters.epoch_surface(img, keep, p["deramp"] or None, hgt)
        if e == 0:
            w["filt_surf0"][:] = surf
        surf0 = np.asarray(w["filt_surf0"][:], np.float64)
        img = img - (surf - surf0)
    w["filt_base"][e] = img


def filter_temporal_block(task: Task) -> None:
    """Temporal high-pass of a block of ``filt_base`` (masked pixels NaN) into ``filt_hp``."""
    p = task.params
    w = task.work
    b = np.asarray(w[p["base"]][:, task.rows, task.cols], np.float64)
    keep = np.asarray(w["mask"][task.rows, task.cols]) == 1
    b = np.where(keep[None], b, np.nan)
    ne = b.shape[0]
    t = np.asarray(p["t"])
    if int(p["order"]) < 0:  # adaptive: residual about the temporal model, less its smoothing
        h = fad.adaptive_highpass(b.reshape(ne, -1), t, fad.temporal_basis(t), float(p["sigma_yr"]))
    else:
        h = filters.temporal_highpass(b.reshape(ne, -1), t, float(p["sigma_yr"]), order=int(p["order"]))
    w["filt_hp"][:, task.rows, task.cols] = h.reshape(b.shape)
    if p["cv"]:  # the spatial cross-validation's epochs, an epoch a chunk (filt_hp's hold eight)
        w["filt_cv"][:, task.rows, task.cols] = h.reshape(b.shape)[p["cv"]]


_WEIGHT_CACHE: dict[tuple[bytes, tuple[float, float], int], np.ndarray] = {}


def _weight_of(valid: np.ndarray, sigma_px: Any, hole: int = -1) -> np.ndarray:
    """:func:`filters.gaussian_weight` of ``valid`` (with ``hole`` >= 0: :func:`fad.hole_weight`),
    kept for the next epoch of this process: under one mask every epoch's finite pattern is the
    same, so its convolution is done once."""
    sig = (float(sigma_px[0]), float(sigma_px[1]))
    if hole >= 0:  # the cross-validation's cache, which holds the chosen width's weight already
        return fad.cached_hole_weight(valid, sig, hole=hole)
    key = (hashlib.sha1(np.packbits(valid).tobytes() + str(valid.shape).encode()).digest(), sig, hole)
    w = _WEIGHT_CACHE.get(key)
    if w is None:  # kept in a local: another thread's epoch may replace the entry meanwhile
        w = filters.gaussian_weight(valid, *sig) if hole < 0 else fad.hole_weight(valid, sig, hole=hole)
        _WEIGHT_CACHE.clear()
        _WEIGHT_CACHE[key] = w
    return w


_WHOLE_CACHE: dict[tuple[str, str], tuple[tuple[Any, ...], np.ndarray]] = {}


def _read_whole(task: Task, name: str) -> np.ndarray:
    """The whole 2-D work array ``name``, kept for the next epoch of this process while its files
    are unchanged (same names, sizes, inodes and modification times), so the per-epoch pass reads
    the epoch-independent arrays (the reference, the first epoch's estimate) once."""
    d = RunLayout(Path(task.out)).work_store / name
    try:
        stamp = tuple(sorted((str(f), st.st_ino, st.st_size, st.st_mtime_ns)
                             for f in d.rglob("*") for st in (f.stat(),) if stat.S_ISREG(st.st_mode)))
    except OSError:
        stamp = ()
    key = (str(d), name)
    hit = _WHOLE_CACHE.get(key)
    if stamp and hit is not None and hit[0] == stamp:
        return hit[1]
    arr = np.asarray(task.work[name][:])
    arr.flags.writeable = False
    if stamp:
        _WHOLE_CACHE[key] = (stamp, arr)
    return arr


def filter_spatial_epoch(task: Task) -> None:
    """Subtract the atmosphere estimate (spatial low-pass of the high-pass, relative to epoch 0) of the
    epochs ``e .. e + depth - 1`` (``e`` = ``task.epoch``): one chunk depth of ``cum``, ``filt_hp`` and
    ``cum_filt``, so each of their chunks is read and written once (an epoch alone would decompress
    the whole depth of each). With ``params["first"]`` epoch 0 alone, which writes ``filt_aps0`` and its
    own image to ``filt_epoch0``; the task of the first depth later takes that image as it is."""
    p = task.params
    w = task.work
    e0 = task.epoch
    e1 = 1 if p["first"] else min(e0 + int(p["depth"]), int(p["ne"]))
    hp = np.asarray(w["filt_hp"][e0:e1])
    cum = np.asarray(w["cum"][e0:e1])
    base = cum if p["base"] == "cum" else np.asarray(w[p["base"]][e0:e1])
    out = np.empty(hp.shape, np.float32)  # cum_filt's dtype
    for k in range(e1 - e0):
        e = e0 + k
        out[k] = w["filt_epoch0"][:] if e == 0 and not p["first"] else _filtered_epoch(task, e, hp[k], cum[k],
                                                                                         base[k])
    if p["first"]:
        w["filt_epoch0"][:] = out[0]
    else:
        w["cum_filt"][e0:e1] = out


def _filtered_epoch(task: Task, e: int, hp: np.ndarray, cum: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Epoch ``e`` of ``cum_filt`` (ny, nx) mm from its high-pass ``hp``, ``cum`` and filter base."""
    p = task.params
    adaptive = p["alpha"] > 0 and p["hole"] >= 0
    if e > 0 and adaptive and hp.size >= filters.COMPILED_MIN_PX:  # the same bits in one compiled sweep
        sig, hole = tuple(p["sigma_px"]), int(p["hole"])
        fin = np.isfinite(hp)
        img = _filter_jit.filtered_epoch(base, fad.hole_numerator(hp, sig, hole=hole, finite=fin),
                                         _weight_of(fin, sig, hole), fad.MIN_WEIGHT, float(p["alpha"]),
                                         np.asarray(_read_whole(task, "filt_aps0"), np.float64))
    else:
        img = _numpy_epoch(task, e, hp, base)
    ref = _read_whole(task, p["ref"]) == 1  # the run's reference pixels (its set or box)
    corr = img[ref] - cum[ref]  # keep the run's reference unchanged
    if np.isfinite(corr).any():
        img = img - np.nanmean(corr)
    return img


def _numpy_epoch(task: Task, e: int, hp: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Epoch ``e`` of the filtered series before its reference is kept (:func:`_filtered_epoch`), in NumPy;
    epoch 0 writes ``filt_aps0``."""
    p = task.params
    if p["alpha"] <= 0:  # the adaptive filter declined: the series is left as it is
        aps = np.zeros(hp.shape)
    elif p["hole"] >= 0:  # adaptive: each pixel predicted from its neighbours, weighted
        aps = p["alpha"] * fad.hole_lowpass(hp, tuple(p["sigma_px"]), hole=int(p["hole"]),
                                            den=_weight_of(np.isfinite(hp), p["sigma_px"], int(p["hole"])))
    else:
        aps = filters.gaussian_nan(hp, *p["sigma_px"], fill=True, den=_weight_of(np.isfinite(hp), p["sigma_px"]))
    if e == 0:
        task.work["filt_aps0"][:] = aps
    aps0 = np.asarray(_read_whole(task, "filt_aps0"), np.float64)
    return np.asarray(base, np.float64) - np.nan_to_num(aps - aps0, nan=0.0)


def vel_filt_block(task: Task) -> None:
    """Velocity of the filtered series of a block (written to ``vel_filt``)."""
    w = task.work
    c = np.asarray(w["cum_filt"][:, task.rows, task.cols])
    v, _ = fit_linear(c.reshape(c.shape[0], -1), np.asarray(task.params["t"]))
    w["vel_filt"][task.rows, task.cols] = np.asarray(v, np.float32).reshape(c.shape[1:])


SPEC = StepSpec(name="filter", licsbas="1-6", title="spatio-temporal filter (optional ramp / height removal)",
                run=step_filter, result=FilterResult, inputs=("cum", "mask"), outputs=("cum_filt", "vel_filt"),
                tasks=(filter_ramp_epoch, filter_tcv_block, filter_temporal_block, filter_scv_group,
                       filter_spatial_epoch, vel_filt_block),
                section="filter")
