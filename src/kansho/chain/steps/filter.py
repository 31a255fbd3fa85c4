"""Step 1-6: optional ramp / height term per epoch, then the spatio-temporal filter of residual
atmosphere (Morishita et al. 2020 after Hooper et al. 2007), in passes of one epoch or one block.

The numerics are :func:`kansho.filters.epoch_surface`, :func:`kansho.filters.temporal_highpass`,
:func:`kansho.filters.gaussian_nan` and :func:`kansho.filters.gaussian_weight`;
:func:`kansho.filters.spatiotemporal_filter` composes them in memory in the same order.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kansho import filters
from kansho._dates import years_since_first
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.tasks import Task
from kansho.velocity import fit_linear

log = logging.getLogger(__name__)


@dataclass
class FilterResult(StepResult):
    """The filter's widths (km, yr: the temporal one as used when automatic) and surface options."""

    sigma_km: float
    sigma_yr: float
    deramp: int
    hgt_corr: bool


def sigma_to_px(sigma_km: float, pixel_km: float) -> float:
    """Gaussian width in pixels for a width in km."""
    return sigma_km / pixel_km if pixel_km > 0 else 0.0


def step_filter(ctx: Context) -> FilterResult:
    """Step 1-6: optional ramp / height term per epoch, then the spatio-temporal filter.

    The same stages as :func:`kansho.filters.spatiotemporal_filter`, in passes that keep memory at
    one epoch or one block: (1) per epoch, the ramp / height surface (relative to the first
    epoch) is removed; (2) per block, the temporal high-pass; (3) per epoch, the spatial
    low-pass of the high-passed series (the atmosphere estimate) is removed and the series is put
    back on the run's reference area. Epoch 0 of passes (1) and (3) runs first: later epochs are
    taken relative to it.
    """
    st = ctx.stack
    fcfg = ctx.cfg.filter
    lres = ctx.get(LoopsResult)
    epochs = np.asarray(lres.epochs)
    ne = epochs.size
    t = years_since_first(epochs)
    sigma_yr = fcfg.sigma_yr if fcfg.sigma_yr is not None else 3.0 * (t[-1] / max(ne - 1, 1))
    dx_km, dy_km = st.grid.pixel_size_km()
    use_hgt = bool(fcfg.hgt_corr)
    if use_hgt and not np.isfinite(st.read2d("hgt")).any():
        log.warning("1-6: no height in the stack; height-correlated term not removed")
        use_hgt = False
    surface = bool(fcfg.deramp) or use_hgt
    base = "filt_base" if surface else "cum"  # without a surface to remove, the base series is cum itself
    for name in ("filt_base", "filt_hp", "cum_filt") if surface else ("filt_hp", "cum_filt"):
        ctx.new_array(name, (ne, *st.shape))
    ctx.new_array("filt_surf0", st.shape, "f8", 0.0)
    ctx.new_array("filt_aps0", st.shape, "f8")
    ctx.new_array("vel_filt", st.shape)
    if surface:
        if int((ctx.read2d("mask") == 1).sum()) < 10:
            log.warning("1-6: too few unmasked pixels to fit a ramp/height surface; epochs left without it")
        ramp = {"deramp": fcfg.deramp, "hgt": use_hgt}
        ctx.map_epochs(filter_ramp_epoch, "1-6 ramp", range(1), **ramp)
        ctx.map_epochs(filter_ramp_epoch, "1-6 ramp", range(1, ne), **ramp)
    ctx.map_blocks(filter_temporal_block, "1-6 temporal", t=t, sigma_yr=sigma_yr, order=fcfg.temporal_order,
                   base=base)
    spatial = {"sigma_px": (sigma_to_px(fcfg.sigma_km, dy_km), sigma_to_px(fcfg.sigma_km, dx_km)),
               "ref": "refmask", "base": base}
    ctx.map_epochs(filter_spatial_epoch, "1-6 spatial", range(1), **spatial)
    ctx.map_epochs(filter_spatial_epoch, "1-6 spatial", range(1, ne), **spatial)
    ctx.map_blocks(vel_filt_block, "1-6 velocity", t=t)
    for name in ("filt_base", "filt_hp", "filt_surf0", "filt_aps0") if surface else ("filt_hp", "filt_surf0",
                                                                                       "filt_aps0"):
        del ctx.work[name]
    return FilterResult(sigma_km=fcfg.sigma_km, sigma_yr=sigma_yr, deramp=fcfg.deramp, hgt_corr=fcfg.hgt_corr)


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
    w = task.work
    e = task.epoch
    hp = np.asarray(w["filt_hp"][e])
    aps = filters.gaussian_nan(hp, *p["sigma_px"], fill=True, den=_weight_of(np.isfinite(hp), p["sigma_px"]))
    if e == 0:
        w["filt_aps0"][:] = aps
    aps0 = np.asarray(w["filt_aps0"][:], np.float64)
    img = np.asarray(w[p["base"]][e], np.float64) - np.nan_to_num(aps - aps0, nan=0.0)
    ref = np.asarray(w[p["ref"]][:]) == 1  # the run's reference pixels (its set or box)
    corr = img[ref] - np.asarray(w["cum"][e])[ref]  # keep the run's reference unchanged
    if np.isfinite(corr).any():
        img = img - np.nanmean(corr)
    w["cum_filt"][e] = img


def vel_filt_block(task: Task) -> None:
    """Velocity of the filtered series of a block (written to ``vel_filt``)."""
    w = task.work
    c = np.asarray(w["cum_filt"][:, task.rows, task.cols])
    v, _ = fit_linear(c.reshape(c.shape[0], -1), np.asarray(task.params["t"]))
    w["vel_filt"][task.rows, task.cols] = np.asarray(v, np.float32).reshape(c.shape[1:])


SPEC = StepSpec(name="filter", licsbas="1-6", title="spatio-temporal filter (optional ramp / height removal)",
                run=step_filter, result=FilterResult, inputs=("cum", "mask"), outputs=("cum_filt", "vel_filt"),
                tasks=(filter_ramp_epoch, filter_temporal_block, filter_spatial_epoch, vel_filt_block),
                section="filter")
