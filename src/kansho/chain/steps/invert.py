"""Step 1-3: NSBAS inversion per block (Berardino et al. 2002; Doin et al. 2011; López-Quiroz et
al. 2009): cumulative displacement, velocity and the network statistics of every pixel.

Network gaps are bridged by the temporal model of ``invert.model`` (:mod:`kansho.bridge`): ``linear``
(LiCSBAS) or ``annual`` in the NSBAS constraint itself (plus the steps of ``invert.step_dates``,
refitted after it); ``auto`` inverts with the linear constraint, then (second pass, ``1-3 bridge``)
bridges each gapped pixel with the model its region's focused information criterion prefers. Every
model leaves ``cum_std``: the σ of each epoch's offset across the gaps (0 before the first one).
With ``invert.gap_tie: stable`` (default) the segments after each *network* gap are then tied to the
reference set's spatial pattern (:mod:`kansho.gaptie`; passes ``1-3 gap means`` and ``1-3 gap tie``).
The bridge runs on the CPU whatever ``--gpu`` says (a small least-squares problem per gap pattern).

Before the inversion every pixel's phase-bias indicator ``ph_bias`` (mean |misclosure| of the triangles
of the shortest pairs, rad) is measured; with ``invert.phase_bias: correct`` the bias each pixel's
loops show is removed from every pair first (:mod:`kansho.phasebias`).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho import _invert_jit, bridge, cohcodes, gaptie, network, outliers, phasebias
from kansho._columns import count_true, put_columns, take_columns
from kansho._constants import phase_to_mm
from kansho._dates import years_since_first
from kansho.chain import common
from kansho.chain.context import CUBE_DEPTH, Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps import epoch_noise
from kansho.chain.steps.loop_tasks import pass_work, read_referred
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.steps.qc import QCResult
from kansho.chain.tasks import Task, nanmean0
from kansho.errors import NetworkError
from kansho.filters import COMPILED_MIN_PX
from kansho.inversion import invert_nsbas
from kansho.velocity import fit_linear

log = logging.getLogger(__name__)

#: σ (km) of the Gaussian window over which the bridge model's criterion is averaged (its region)
REGION_KM = 3.0

#: 2-D maps the inversion writes beside ``cum`` and ``gap``
INVERT_MAPS = ("vel", "vintercept", "resid_rms", "n_unw", "coh_avg", "n_gap", "maxTlen", "n_unchecked", "n_resid_fix",
               "ph_bias", "ph_bias_rate")

#: pixels per chunk of the phase-bias estimate (its loop arrays are (nloop, chunk) float64)
BIAS_CHUNK = 4096

#: a pixel goes to the residual check when one of its residuals exceeds this fraction of a cycle
#: (a cycle error leaves at least (1 - h) of itself in its pair's residual; h <= 0.8 where testable)
CHECK_FRACTION = 0.2


@dataclass
class InvertResult(StepResult):
    """Pixels solved, the valid-pair threshold used, and the epoch indices k of the network gaps
    (between epochs k and k + 1)."""

    n_solved: int
    min_pairs: int
    network_gaps: list[int]
    resid_fixed: list[int] = field(default_factory=list)
    resid_nulled: list[int] = field(default_factory=list)
    bias_corrected: int = 0
    bias_tau_days: float | None = None
    gap_tie: dict[str, Any] = field(default_factory=dict)
    epoch_sigma: list[float] = field(default_factory=list)
    epoch_weight: list[float] = field(default_factory=list)

    @property
    def weights(self) -> np.ndarray | None:
        """The epochs' weights of the velocity fit (``invert.epoch_weight``); None = equal weights."""
        return np.asarray(self.epoch_weight, np.float64) if self.epoch_weight else None


def coh_weights(coh: np.ndarray) -> np.ndarray:
    """Inverse phase variance from coherence (Rodriguez & Martin 1992, one-look form), finite; shape as ``coh``.
    Computed in the precision of ``coh``: float32 (one compiled pass) for a float32 block (npair, npix),
    else float64 (the inversion reads float32 weights as they are, converting each exactly). The stack
    store's 8-bit codes (uint8, :mod:`kansho.cohcodes`) give the float32 weights of their decoded values,
    looked up in a table of the 256 codes (the same bits, without decoding the block)."""
    if isinstance(coh, np.ndarray) and coh.dtype == np.uint8:
        if coh.ndim == 2:
            return np.asarray(_invert_jit.lookup_codes(np.ascontiguousarray(coh), _code_weights()))
        return _code_weights()[coh]
    if isinstance(coh, np.ndarray) and coh.dtype == np.float32 and coh.ndim == 2:
        return np.asarray(_invert_jit.coh_weights(np.ascontiguousarray(coh)))
    g = np.clip(np.nan_to_num(coh, nan=0.05), 0.05, 0.98)
    return (2.0 * g**2 / (1.0 - g**2)).astype(np.float64)


@functools.cache
def _code_weights() -> npt.NDArray[np.float32]:
    """:func:`coh_weights` of each coherence code's value (256,) float32 (the compiled float32 pass)."""
    return coh_weights(cohcodes.DECODE.reshape(1, -1).copy())[0]


def _coh_mean(c: np.ndarray) -> np.ndarray:
    """:func:`kansho.chain.tasks.nanmean0` of the block's coherence ``c`` (npair, npix) (compiled for float32,
    and for the store's 8-bit codes, uint8, as their decoded values)."""
    if c.dtype == np.uint8 and c.ndim == 2:  # the codes' float32 values, looked up as they are summed
        return np.asarray(_invert_jit.nanmean_rows(np.ascontiguousarray(c), cohcodes.DECODE))
    if c.dtype == np.float32 and c.ndim == 2:
        return np.asarray(_invert_jit.nanmean_rows(np.ascontiguousarray(c)))
    return nanmean0(c)


def invert_block(task: Task) -> tuple[int, np.ndarray, np.ndarray, int]:
    """NSBAS inversion of a block; writes ``cum``, ``gap``, the 2-D network maps, the velocity maps (but with
    ``epoch_weight``: the bridge pass fits them with the epochs' weights) and, with a fixed
    bridge model, ``cum_std`` (with ``model="auto"``, each candidate's bridge statistics for the choice).
    With ``resid_check``, the pixels whose residuals show a pair off by whole cycles are corrected (or
    that pair nulled) and solved again. Writes the phase-bias indicator ``ph_bias`` and, with
    ``phase_bias == "correct"``, removes each pixel's estimated bias from every pair before the
    inversion. Returns the pixels solved, per pair the pixels corrected and nulled by the residual
    check and the pixels whose phase bias was corrected. With ``epoch_weight``, the block's residual histograms
    go to the work store (:func:`kansho.chain.steps.epoch_noise.put_block`; ``params["block"]``: the blocks' side)."""
    p = task.params
    st, w = task.stack, task.work
    idx = np.asarray(p["idx"], np.intp)
    pairs = np.asarray(p["pairs"], np.intp)
    t = np.asarray(p["t"], np.float64)
    ne = t.size
    shp = task.shape
    rows, cols = task.rows, task.cols
    ph = read_referred(task, idx, p["offsets"], p.get("work"))[0]  # as corrected by step 1-2, referred
    # the store's 8-bit codes taken as they are from COMPILED_MIN_PX pixels on; a smaller frame (the demo's)
    # decodes them for the float32 kernels it compiles anyway: a first run has nothing more to compile
    codes = st.shape[0] * st.shape[1] >= COMPILED_MIN_PX
    c = st.read("coh", rows, cols, idx, decode=not codes).reshape(idx.size, -1)
    ind, bfit = _phase_bias(ph, pairs, t, np.asarray(p["L"]), p.get("bias_tau"))
    ifg = ph  # the phase is not needed any more: scaled in place
    ifg *= float(p["conv"])
    n_bias = 0
    rate = np.full(ph.shape[1], np.nan if p.get("phase_bias", "off") == "off" else 0.0)  # rad/yr applied
    if bfit is not None:
        ifg = ifg - phasebias.pair_bias(bfit, pairs, t) * float(p["conv"])
        rate = bfit.rate
        n_bias = int(np.count_nonzero(bfit.rate))
    weights = coh_weights(c) if p["coh_weight"] else None
    kw: dict[str, Any] = {"gamma": float(p["gamma"]), "annual": p["model"] == "annual", "weights": weights,
                          "min_pairs": int(p["min_pairs"]), "device": str(p.get("device", "cpu")),
                          "compiled": bool(p.get("compiled", True))}
    res = invert_nsbas(ifg, pairs, t, **kw)
    cum, resid, amp = res.cum, res.resid_rms, res.annual_amp  # float32
    n_fix = np.zeros(ifg.shape[1], np.float32)
    fixed, nulled = np.zeros(idx.size, np.int64), np.zeros(idx.size, np.int64)
    if p.get("resid_check"):
        cycle = 2.0 * math.pi * abs(float(p["conv"]))  # one phase cycle in LOS mm (λ/2)
        ifg, cum, resid, amp, n_fix, fixed, nulled = _residual_check(ifg, cum, resid, amp, pairs, t, kw, cycle)
    valid = np.isfinite(ifg)
    cblk = np.asarray(cum, np.float32)
    ends = pairs.astype(np.int64)
    gaps = _invert_jit.pixel_gaps(valid, ends[:, 0].copy(), ends[:, 1].copy(), ne)  # network.gaps(pairs, ne, valid)
    cblk = _first_bridge(w, rows, cols, shp, cblk, gaps, t, str(p["model"]), p["step_times"])
    w["cum"][:, rows, cols] = cblk.reshape(ne, *shp)
    if not p.get("epoch_weight"):  # else the bridge pass writes it, with the epochs' weights
        _write_velocity(w, rows, cols, shp, cblk, t)
    if p.get("epoch_weight"):
        epoch_noise.put_block(w, rows, cols, int(p["block"]), st.shape[1], cblk, gaps, pairs, t)
    w["resid_rms"][rows, cols] = resid.astype(np.float32).reshape(shp)
    w["n_unw"][rows, cols] = count_true(valid).reshape(shp).astype(np.float32)
    solved = np.isfinite(cblk).all(axis=0)
    unchecked = outliers.unchecked_counts(valid, pairs, ne)
    w["n_unchecked"][rows, cols] = np.where(solved, unchecked, np.nan).astype(np.float32).reshape(shp)
    w["n_resid_fix"][rows, cols] = np.where(solved, n_fix, np.nan).astype(np.float32).reshape(shp)
    w["ph_bias"][rows, cols] = np.where(solved, ind, np.nan).astype(np.float32).reshape(shp)
    w["ph_bias_rate"][rows, cols] = np.where(solved, rate, np.nan).astype(np.float32).reshape(shp)
    w["coh_avg"][rows, cols] = _coh_mean(c).reshape(shp)
    w["n_gap"][rows, cols] = count_true(gaps).reshape(shp).astype(np.float32)
    w["maxTlen"][rows, cols] = np.asarray(network.max_tlen(gaps, t), np.float32).reshape(shp)
    w["gap"][:, rows, cols] = gaps.reshape(ne - 1, *shp).astype(np.int8)
    if p["model"] == "annual" and amp is not None:
        w["amp_annual"][rows, cols] = amp.astype(np.float32).reshape(shp)
    return int(solved.sum()), fixed, nulled, n_bias


def _first_bridge(w: Any, rows: slice, cols: slice, shp: tuple[int, int], cblk: np.ndarray, gaps: np.ndarray,
                  t: np.ndarray, model: str, step_times: Any) -> np.ndarray:
    """The first pass's bridge of a block's series ``cblk`` (n_epoch, npix) float32 with its gaps ``gaps``:
    with a fixed model, bridged here (``cum_std``, ``bridge_model`` written); with the regional choice, each
    candidate's statistics (``bridge_fic``) and, for a block without a gapped pixel, its σ of 0. Returns
    the series (bridged when the fixed model adds steps)."""
    ne = t.size
    cands = bridge.candidates(model, len(step_times) > 0)
    if len(cands) == 1:  # a fixed model: bridge (the NSBAS one unless steps are added) and its σ
        fit = bridge.fit_bridge(cblk, gaps, t, cands[0], step_times, require_support=False)
        bridged, sd = bridge.apply_shift(cblk, fit)
        if cands[0].steps:
            cblk = bridged.astype(np.float32)
        w["cum_std"][:, rows, cols] = sd.astype(np.float32).reshape(ne, *shp)
        bridged_px = fit.gapped & np.isfinite(cblk).all(axis=0)
        w["bridge_model"][rows, cols] = np.where(bridged_px, cands[0].code, -1).astype(np.int8).reshape(shp)
    else:  # the gapped pixels are bridged by the second pass, which writes the σ of a block that has any
        pats = bridge.gap_patterns(cblk, gaps)  # the pixels grouped by gap pattern once
        ys = bridge.pattern_series(cblk, pats)  # and their series gathered in float64 once, for every candidate
        gapped = False
        for k, cand in enumerate(cands):
            fit = bridge.fit_bridge(cblk, gaps, t, cand, step_times, series=False, patterns=pats, pattern_y=ys)
            use = fit.allowed & fit.gapped  # pixels without a gap have nothing to bridge: left out of the choice
            gapped = gapped or (k == 0 and bool(use.any()))  # as the bridge pass tells: the linear candidate's vmu
            w["bridge_fic"][2 * k, rows, cols] = np.where(use, fit.mu, np.nan).astype(np.float32).reshape(shp)
            w["bridge_fic"][2 * k + 1, rows, cols] = np.where(use, fit.vmu, np.nan).astype(np.float32).reshape(shp)
        if not gapped:  # nothing to bridge here: σ 0 wherever solved
            w["cum_std"][:, rows, cols] = _zero_std(cblk).reshape(ne, *shp)
    return cblk


def _phase_bias(ph: np.ndarray, pairs: np.ndarray, t: np.ndarray, L: np.ndarray, tau: float | None
                ) -> tuple[np.ndarray, phasebias.BiasFit | None]:
    """The phase-bias indicator (npix,) rad of the block's referred phase ``ph`` (npair, npix) rad over
    its triangles ``L``, and with a decay time ``tau`` (yr) the fit of each pixel's bias rate
    (:func:`kansho.phasebias.fit_bias_rate`), else None. Pixels in chunks of :data:`BIAS_CHUNK`: the
    loop arrays are (nloop, npix), about 1.5 times the phase of a 4-successor network."""
    npix = ph.shape[1]
    if L.shape[0] == 0:
        return np.full(npix, np.nan), None
    short = phasebias.short_loops(L, pairs, t)
    if tau is None:  # the indicator alone: one compiled pass, no loop arrays
        return phasebias.phase_indicator(ph, L, short), None
    dur = phasebias.loop_durations(L, pairs, t)
    ind = np.full(npix, np.nan)
    fits = []
    for a in range(0, npix, BIAS_CHUNK):
        mis = phasebias.loop_misclosure(ph[:, a:a + BIAS_CHUNK], L)
        ind[a:a + BIAS_CHUNK] = phasebias.bias_indicator(mis, short)
        if tau is not None:
            fits.append(phasebias.fit_bias_rate(mis, L, dur, float(tau)))
    if tau is None:
        return ind, None
    rate, z, n, misfit, se = (np.concatenate([getattr(f, k) for f in fits])
                              for k in ("rate", "z", "n_loops", "misfit", "se"))
    return ind, phasebias.BiasFit(rate, float(tau), z, n, misfit, se)


def bias_tau_block(task: Task) -> np.ndarray:
    """The block's statistics of the phase-bias model for each decay time ``params["taus"]`` (yr):
    (ntau, 3) (:func:`kansho.phasebias.tau_misfit`), summed over blocks to choose the frame's."""
    p = task.params
    idx = np.asarray(p["idx"], np.intp)
    L = np.asarray(p["L"])
    pairs = np.asarray(p["pairs"], np.intp)
    t = np.asarray(p["t"], np.float64)
    ph = read_referred(task, idx, p["offsets"])[0]
    dur = phasebias.loop_durations(L, pairs, t)
    taus = np.asarray(p["taus"], np.float64)
    return sum((phasebias.tau_misfit(phasebias.loop_misclosure(ph[:, a:a + BIAS_CHUNK], L), L, dur, taus)
                for a in range(0, ph.shape[1], BIAS_CHUNK)), np.zeros((taus.size, 3)))


def _residual_check(ifg: np.ndarray, cum: np.ndarray, resid: np.ndarray, amp: np.ndarray | None, pairs: np.ndarray,
                    t: np.ndarray, kw: dict[str, Any], cycle: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray,
                               np.ndarray]:
    """The residual cycle check (:func:`kansho.outliers.residual_cycle_check`) of the pixels whose residual
    reaches :data:`CHECK_FRACTION` of a cycle (``cycle`` mm), and the changed pixels solved again.

    ``ifg`` (npair, npix) float64 mm, ``cum`` (n_epoch, npix) mm, ``resid`` (npix,) and the annual amplitude
    ``amp`` (npix,) (None without the annual model) from the first inversion. Returns them updated (in
    place: the caller's arrays are changed), the pairs each pixel had corrected or nulled (npix,), and per
    pair the pixels corrected and nulled."""
    npair = ifg.shape[0]
    big = _invert_jit.resid_exceeds(np.ascontiguousarray(ifg, np.float64), np.ascontiguousarray(cum),
                                    np.ascontiguousarray(pairs[:, 0], np.int64),
                                    np.ascontiguousarray(pairs[:, 1], np.int64), CHECK_FRACTION * cycle)
    cand = np.flatnonzero(big)
    n_fix = np.zeros(ifg.shape[1], np.float32)
    fixed, nulled = np.zeros(npair, np.int64), np.zeros(npair, np.int64)
    if cand.size == 0:
        return ifg, cum, resid, amp, n_fix, fixed, nulled
    wts = kw["weights"]
    f = outliers.residual_cycle_check(take_columns(ifg, cand), pairs, t.size, cycle,
                                      weights=None if wts is None else take_columns(wts, cand))
    changed = (f != 0).any(axis=0)
    if not changed.any():
        return ifg, cum, resid, amp, n_fix, fixed, nulled
    px, f = cand[changed], f[:, changed]
    null = f == outliers.NULL_FIX
    put_columns(ifg, px, np.where(null, np.nan, take_columns(ifg, px) - np.where(null, 0, f) * cycle))
    sub = dict(kw, weights=None if wts is None else take_columns(wts, px))
    res = invert_nsbas(take_columns(ifg, px), pairs, t, **sub)
    put_columns(cum, px, res.cum)
    resid[px] = res.resid_rms
    if amp is not None and res.annual_amp is not None:  # the re-solved pixels' annual term too
        amp[px] = res.annual_amp
    n_fix[px] = (f != 0).sum(axis=0)
    return ifg, cum, resid, amp, n_fix, ((f != 0) & ~null).sum(axis=1), null.sum(axis=1)


def _write_velocity(w: Any, rows: slice, cols: slice, shp: tuple[int, int], cum: np.ndarray, t: np.ndarray,
                    weights: Any = None) -> None:
    """``vel`` and ``vintercept`` of a block: the line fitted to its series ``cum`` ``(n_epoch, npix)``,
    with the epochs' ``weights`` (None: equal)."""
    vel, icpt = fit_linear(cum, t, weights)
    w["vel"][rows, cols] = np.asarray(vel, np.float32).reshape(shp)
    w["vintercept"][rows, cols] = np.asarray(icpt, np.float32).reshape(shp)


def bridge_block(task: Task) -> None:
    """Second pass: bridge each gapped pixel with the model chosen for it (``bridge_model``), with the
    epochs' weights ``params["weights"]`` (None: equal); rewrites ``cum``, ``vel``, ``vintercept`` and
    writes ``cum_std`` (a block without a bridged pixel: ``vel``, ``vintercept`` only, refitted with the
    weights; with ``params["vel_later"]`` the first pass left them to this pass, which writes them always).
    With ``params["tie_seg"]`` (the network gaps' segments) it writes the gap tie's ``tie_means`` too.
    Idempotent (refitting a bridged series shifts nothing), so a replayed block is harmless."""
    p = task.params
    w = task.work
    t = np.asarray(p["t"], np.float64)
    ew = None if p.get("weights") is None else np.asarray(p["weights"], np.float64)
    ne = t.size
    shp = task.shape
    rows, cols = task.rows, task.cols
    choice = np.asarray(w["bridge_model"][rows, cols]).ravel()
    # after the regional choice (fresh_std), the first pass left the σ of a block with a gapped pixel to here
    fresh = bool(p.get("fresh_std")) and bool(np.isfinite(np.asarray(w["bridge_fic"][1, rows, cols])).any())
    seg = p.get("tie_seg")
    if not np.any(choice >= 0) and ew is None and not fresh and not p.get("vel_later") and seg is None:
        return  # nothing bridged here: the first pass's cum, cum_std and velocity stand
    cblk = np.asarray(w["cum"][:, rows, cols], np.float32).reshape(ne, -1)  # bridged in place below
    if np.any(choice >= 0) or fresh:
        gaps = np.asarray(w["gap"][:, rows, cols], bool).reshape(ne - 1, -1)
        infl = (np.asarray(w["bridge_infl"][rows, cols], np.float64).ravel() if "bridge_infl" in w
                else np.ones(choice.size))
        sd = _zero_std(cblk) if fresh else np.asarray(w["cum_std"][:, rows, cols], np.float32).reshape(ne, -1)
        for cand in bridge.candidates("auto", True):
            px = np.flatnonzero(choice == cand.code)
            if px.size == 0:
                continue
            # the pixels' series bridged in float64, stored in float32, in place
            bridge.bridge_into(cblk, sd, px, gaps, t, cand, p["step_times"], weights=ew, infl=infl[px])
        w["cum"][:, rows, cols] = cblk.reshape(ne, *shp)
        w["cum_std"][:, rows, cols] = sd.reshape(ne, *shp)
    if seg is not None:  # the gap tie's segment means of the series as this pass leaves it (tie_means_block)
        _write_tie_means(task, cblk, seg)
    _write_velocity(w, rows, cols, shp, cblk, t, ew)


def _zero_std(cblk: np.ndarray) -> np.ndarray:
    """The σ (n_epoch, npix) float32 of series ``cblk`` that no bridge moved: 0 where solved, NaN elsewhere."""
    return np.where(np.isfinite(cblk), np.float32(0.0), np.float32(np.nan)).astype(np.float32)


def tie_means_block(task: Task) -> None:
    """Writes ``tie_means``: the mean of each network-gap segment of the block's bridged series (when
    no bridge pass ran: that pass writes them otherwise, from the series it holds)."""
    ne = len(task.params["seg"])
    _write_tie_means(task, np.asarray(task.work["cum"][:, task.rows, task.cols], np.float32).reshape(ne, -1),
                     task.params["seg"])


def _write_tie_means(task: Task, cblk: np.ndarray, seg: Any) -> None:
    """``tie_means`` of a block: the mean of each network-gap segment ``seg`` (n_epoch,) of its series
    ``cblk`` (n_epoch, npix) float32 as stored in ``cum``."""
    m = gaptie.segment_means(cblk, seg)
    task.work["tie_means"][:, task.rows, task.cols] = m.astype(np.float32).reshape(-1, *task.shape)


def tie_block(task: Task) -> None:
    """Shifts each tied segment after a network gap so that its mean is ``tie_means − tie_corr`` (the tie
    of :mod:`kansho.gaptie`) and rewrites ``vel``, ``vintercept``; ``cum_std`` keeps the bridge's σ
    (conservative: see the module's docstring). Idempotent: a replayed block finds its means already
    there and shifts nothing."""
    p = task.params
    w = task.work
    seg = np.asarray(p["seg"], np.int64)
    ne = seg.size
    rows, cols = task.rows, task.cols
    cblk = np.asarray(w["cum"][:, rows, cols], np.float64).reshape(ne, -1)
    before = np.asarray(w["tie_means"][:, rows, cols], np.float64).reshape(int(seg.max()) + 1, -1)
    corr = np.asarray(w["tie_corr"][:, rows, cols], np.float64).reshape(before.shape[0] - 1, -1)
    now = gaptie.segment_means(cblk, seg)
    for j in (j for j, a in enumerate(p["alpha"], start=1) if a > 0):
        cblk[seg == j] += (before[j] - corr[j - 1] - now[j])[None, :]
    out = cblk.astype(np.float32)
    w["cum"][:, rows, cols] = out.reshape(ne, *task.shape)
    _write_velocity(w, rows, cols, task.shape, out, np.asarray(p["t"], np.float64), p.get("weights"))


def _bridge_and_tie(ctx: Context, t: np.ndarray, step_times: np.ndarray, ew: np.ndarray | None,
                    seg: np.ndarray | None, bridge_kw: dict[str, Any] | None) -> dict[str, Any]:
    """The second pass (:func:`bridge_block`, unless ``bridge_kw`` is None), which takes the gap tie's
    segment means ``seg`` as it goes, then the tie of the network gaps (:func:`_tie_gaps`; ``{}``
    without ``seg``)."""
    if seg is not None:
        ctx.new_array("tie_means", (int(seg.max()) + 1, *ctx.stack.shape))
    if bridge_kw is not None:
        ctx.map_blocks(bridge_block, "1-3 bridge", t=t, step_times=step_times, weights=ew, tie_seg=seg, **bridge_kw)
    return _tie_gaps(ctx, seg, t, ew, means_done=bridge_kw is not None) if seg is not None else {}


def _tie_gaps(ctx: Context, seg: np.ndarray, t: np.ndarray, weights: np.ndarray | None, *, means_done: bool
              ) -> dict[str, Any]:
    """Ties the segments of the network gaps to the reference set (:mod:`kansho.gaptie`); returns what
    was done, for ``InvertResult.gap_tie``. ``tie_means`` is made; ``means_done``: the bridge pass
    filled it."""
    st = ctx.stack
    nseg = int(seg.max()) + 1
    if not means_done:
        ctx.map_blocks(tie_means_block, "1-3 gap means", seg=seg)
    stable = ctx.read2d("refmask") == 1
    cum_std = ctx.array("cum_std")
    sigma = np.stack([np.asarray(cum_std[int(np.flatnonzero(seg == j)[0])]) for j in range(1, nseg)])
    with common.frame_piece_alone(ctx):
        fit = gaptie.fit_tie(ctx.read2d("tie_means"), stable, st.grid.pixel_size_km(), sigma)
    out: dict[str, Any] = {"n_set": fit.n_set, "hole_px": fit.hole_px, "sigma_km": list(fit.sigma_km),
                           "alpha": list(fit.alpha), "gain": list(fit.gain),
                           "sigma_mm": [s if np.isfinite(s) else None for s in fit.sigma_mm], "reason": fit.reason}
    if not fit.tied:
        log.info("1-3: network gaps not tied to the reference set: %s", fit.reason)
        return out
    ctx.new_array("tie_corr", (nseg - 1, *st.shape))
    ctx.array("tie_corr")[:] = fit.corr
    ctx.map_blocks(tie_block, "1-3 gap tie", seg=seg, t=t, alpha=list(fit.alpha), weights=weights)
    for j, (a, km, g, s) in enumerate(zip(fit.alpha, fit.sigma_km, fit.gain, fit.sigma_mm, strict=True), 1):
        if a > 0:
            log.info("1-3: network gap %d tied to the reference set (%d px): width %.2g km, weight %.2f, %.0f %% of "
                     "the set's offset pattern predicted (held-out error %.2g mm)", j, fit.n_set, km, a,
                     100 * g, s)
    return out


def _choose_models(ctx: Context, cands: list[bridge.Candidate]) -> dict[str, int]:
    """The regional choice of the bridge model from the first pass's statistics: writes ``bridge_model``
    (candidate code, -1 where the pixel has no gap) and ``bridge_infl``; returns pixels per model."""
    st = ctx.stack
    fic = ctx.read2d("bridge_fic")  # float32, taken in float64 by the choice
    mu, vmu = fic[0::2], fic[1::2]
    dx_km, dy_km = st.grid.pixel_size_km()
    sig = (REGION_KM / dy_km if dy_km > 0 else 0.0, REGION_KM / dx_km if dx_km > 0 else 0.0)
    with common.frame_piece_alone(ctx):
        choice, infl = bridge.select_models(mu, vmu, np.isfinite(vmu), sig)
    gapped = np.isfinite(vmu[0])  # the linear candidate is fitted at every solved pixel with a gap
    code = np.array([c.code for c in cands], np.int8)
    chosen = np.where(gapped & (choice >= 0), code[np.clip(choice, 0, None)], -1).astype(np.int8)
    ctx.array("bridge_model")[:] = chosen
    ctx.array("bridge_infl")[:] = infl.astype(np.float32)
    return {c.name: int(np.count_nonzero(chosen == c.code)) for c in cands}


def step_invert(ctx: Context) -> InvertResult:
    """Step 1-3 on the pairs and epochs step 1-2 kept, relative to its reference area."""
    st = ctx.stack
    icfg = ctx.cfg.invert
    lres = ctx.get(LoopsResult)
    idx = np.asarray(lres.pairs, np.intp)
    epochs = np.asarray(lres.epochs, np.int64)
    pairs = common.pairs_in(st, idx, epochs)
    ne = epochs.size
    t = years_since_first(epochs)
    min_pairs = math.ceil(icfg.min_pairs_factor * ne)
    model = icfg.model
    step_times = _step_times(icfg.step_dates, epochs)
    cands = bridge.candidates(model, step_times.size > 0)
    # written block by block only, every epoch at once (chain.context.CUBE_DEPTH)
    ctx.new_array("cum", (ne, *st.shape), depth=CUBE_DEPTH)
    ctx.new_array("cum_std", (ne, *st.shape), depth=CUBE_DEPTH)
    ctx.new_array("gap", (ne - 1, *st.shape), "i1", 0, depth=CUBE_DEPTH)
    ctx.new_array("bridge_model", st.shape, "i1", -1)
    for n in INVERT_MAPS:
        ctx.new_array(n, st.shape)
    if model == "annual":
        ctx.new_array("amp_annual", st.shape)
    if len(cands) > 1:
        ctx.new_array("bridge_fic", (2 * len(cands), *st.shape))
        ctx.new_array("bridge_infl", st.shape)
    device = "gpu" if ctx.options.model.gpu else "cpu"
    coh_weight = icfg.coh_weight
    if coh_weight and not np.isfinite(ctx.get(QCResult).mean_coh).any():
        # a warning only for a user who asked for it: the default weights wherever coherence exists
        given = "coh_weight" in ctx.options.given("invert")
        (log.warning if given else log.info)(
            "1-3: coherence weights not used: the input has no coherence (every pair weighted equally)")
        coh_weight = False
    L = network.triangle_loops(pairs)
    tau = _bias_tau(ctx, idx, pairs, t, L, np.asarray(lres.ref_offsets)) if icfg.phase_bias == "correct" else None
    # with the epochs weighted, the bridge pass fits every block's velocity with the weights: the first pass
    # leaves it (and measures the epochs' noise)
    weighted = icfg.epoch_weight == "noise"
    if weighted:
        epoch_noise.new_array(ctx, ne)
    with pass_work(ctx.client is None, "invert") as work:  # each thread's phase array, from block to block
        outs = ctx.map_blocks(
            invert_block, "1-3 invert", idx=idx, pairs=pairs, t=t, offsets=np.asarray(lres.ref_offsets),
            conv=phase_to_mm(st.wavelength), coh_weight=coh_weight, gamma=icfg.gamma, model=model,
            step_times=step_times, min_pairs=min_pairs, device=device, resid_check=icfg.resid_check, work=work,
            L=L, bias_tau=tau, phase_bias=icfg.phase_bias, epoch_weight=weighted, compiled=common.nsbas_compiled(st),
            block=ctx.block)
    n_solved, fixed, nulled, n_bias = _first_pass_totals(outs, idx.size)
    if n_solved == 0:
        raise NetworkError(f"{st.path}: no pixel has the {min_pairs} valid pairs the inversion needs "
                           f"(min_pairs_factor {icfg.min_pairs_factor} x {ne} epochs)")
    log.info("1-3: %d pixels solved (%d epochs, %d pairs)", n_solved, ne, idx.size)
    if icfg.resid_check:
        log.info("1-3: residual check: %d pixel-pairs corrected by whole cycles, %d nulled "
                 "(info/13corrected_pairs.txt)", int(fixed.sum()), int(nulled.sum()))
    if tau is not None:
        log.info("1-3: phase bias (decay time %.3g d) removed from the pairs at %d of the %d pixels solved "
                 "(results/ph_bias_rate.tif)", tau * 365.25, n_bias, n_solved)
    sigma, ew = epoch_noise.weights(ctx, epochs) if weighted else (None, None)
    n_gapped = 0
    if len(cands) > 1:
        counts = _choose_models(ctx, cands)
        log.info("1-3: bridge model of the pixels with a gap: %s",
                 ", ".join(f"{k} {v}" for k, v in counts.items()) or "none")
        n_gapped = int(np.isfinite(ctx.read2d("bridge_fic")[1]).sum())  # their σ is written by the bridge pass
    net = network.gaps(pairs, ne)
    net_gaps = np.flatnonzero(net).tolist()
    seg = bridge.segments(net[:, None])[:, 0] if net_gaps and icfg.gap_tie == "stable" else None
    bridged = bool(n_gapped or ew is not None or weighted)  # (weights not measured: velocity with equal weights)
    tie = _bridge_and_tie(ctx, t, step_times, ew, seg, bridge_kw={"fresh_std": len(cands) > 1, "vel_later": weighted}
                          if bridged else None)
    return InvertResult(n_solved=n_solved, min_pairs=min_pairs, network_gaps=net_gaps, gap_tie=tie,
                        epoch_sigma=[] if sigma is None else [float(v) for v in sigma],
                        epoch_weight=[] if ew is None else [float(v) for v in ew],
                        resid_fixed=[int(v) for v in fixed], resid_nulled=[int(v) for v in nulled],
                        bias_corrected=n_bias, bias_tau_days=None if tau is None else tau * 365.25)


def _first_pass_totals(outs: list[Any], n_pair: int) -> tuple[int, np.ndarray, np.ndarray, int]:
    """The frame's totals of the first pass's blocks (:func:`invert_block`): pixels solved, per pair the pixels
    corrected and nulled by the residual check, pixels whose phase bias was corrected."""
    fixed, nulled = np.zeros(n_pair, np.int64), np.zeros(n_pair, np.int64)
    for o in outs:
        fixed += np.asarray(o[1], np.int64)
        nulled += np.asarray(o[2], np.int64)
    return sum(int(o[0]) for o in outs), fixed, nulled, sum(int(o[3]) for o in outs)


def _bias_tau(ctx: Context, idx: np.ndarray, pairs: np.ndarray, t: np.ndarray, L: np.ndarray,
              offsets: np.ndarray) -> float | None:
    """The frame's decay time (yr) of the phase-bias model: the grid value whose per-pixel fits leave
    the least loop misclosure over the frame; None (no correction) without triangle loops or where
    fewer than :data:`kansho.phasebias.MIN_SIGNIFICANT` of the pixels show a significant bias."""
    taus = phasebias.taus_for(pairs, t)
    if L.shape[0] == 0 or taus.size == 0:
        log.warning("1-3: phase_bias: the network has no triangle loop; nothing can be estimated or corrected")
        return None
    tot = np.zeros((taus.size, 3))
    for m in ctx.map_blocks(bias_tau_block, "1-3 phase bias", idx=idx, pairs=pairs, t=t, L=L, offsets=offsets,
                            taus=taus):
        tot += np.asarray(m, np.float64)
    k = int(np.argmin(tot[:, 0]))
    frac = tot[k, 1] / max(tot[k, 2], 1.0)
    log.info("1-3: phase-bias decay time %.3g d, significant at %.3g %% of the pixels (misfit over the frame by "
             "decay time: %s)", taus[k] * 365.25, 100 * frac,
             ", ".join(f"{a * 365.25:.3g} d {b:.4g}" for a, b in zip(taus, tot[:, 0], strict=True)))
    if frac < phasebias.MIN_SIGNIFICANT:
        log.warning("1-3: phase_bias correct: declined, the loops show a significant bias at only %.2g %% of the "
                    "pixels (< %.3g %%): nothing corrected", 100 * frac, 100 * phasebias.MIN_SIGNIFICANT)
        return None
    return float(taus[k])


def _step_times(step_dates: str | None, epochs: np.ndarray) -> np.ndarray:
    """Times (yr since the first epoch) of the step dates inside the series; dates outside it are dropped
    with a warning (nothing before or after them to offset)."""
    if not step_dates:
        return np.zeros(0)
    dates = [int(d) for d in step_dates.split(",")]
    t = years_since_first(np.r_[epochs[:1], dates])[1:]
    inside = [d for d, ti in zip(dates, t, strict=True) if epochs[0] < d <= epochs[-1]]
    if len(inside) < len(dates):
        log.warning("1-3: step date(s) %s outside the series %d-%d ignored",
                    ", ".join(str(d) for d in dates if d not in inside), epochs[0], epochs[-1])
    return np.asarray([ti for d, ti in zip(dates, t, strict=True) if d in inside], np.float64)


SPEC = StepSpec(name="invert", licsbas="1-3", title="NSBAS inversion: time series and velocity", run=step_invert,
                result=InvertResult, outputs=("cum", "cum_std", "gap", *INVERT_MAPS, "amp_annual", "bridge_model",
                                              "bridge_fic", "bridge_infl", "tie_means", "tie_corr",
                                              epoch_noise.EPOCH_HIST),
                tasks=(bias_tau_block, invert_block, bridge_block, tie_means_block, tie_block), section="invert")
