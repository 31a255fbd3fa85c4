"""Step 1-3: NSBAS inversion per block (Berardino et al. 2002; Doin et al. 2011; López-Quiroz et
al. 2009): cumulative displacement, velocity and the network statistics of every pixel."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from kansho import network
from kansho._constants import phase_to_mm
from kansho._dates import years_since_first
from kansho.chain import common
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.loop_tasks import read_unw
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.steps.qc import QCResult
from kansho.chain.tasks import Task, nanmean0
from kansho.errors import NetworkError
from kansho.inversion import invert_nsbas
from kansho.velocity import fit_linear

log = logging.getLogger(__name__)

#: 2-D maps the inversion writes beside ``cum`` and ``gap``
INVERT_MAPS = ("vel", "vintercept", "resid_rms", "n_unw", "coh_avg", "n_gap", "maxTlen")


@dataclass
class InvertResult(StepResult):
    """Pixels solved, the valid-pair threshold used, and the epoch indices k of the network gaps
    (between epochs k and k + 1)."""

    n_solved: int
    min_pairs: int
    network_gaps: list[int]


def coh_weights(coh: np.ndarray) -> np.ndarray:
    """Inverse phase variance from coherence (Rodriguez & Martin 1992, one-look form), finite; shape as ``coh``."""
    g = np.clip(np.nan_to_num(coh, nan=0.05), 0.05, 0.98)
    return (2.0 * g**2 / (1.0 - g**2)).astype(np.float64)


def invert_block(task: Task) -> int:
    """NSBAS inversion of a block; writes ``cum``, ``gap`` and the 2-D network/velocity maps."""
    p = task.params
    st, w = task.stack, task.work
    idx = np.asarray(p["idx"], np.intp)
    pairs = np.asarray(p["pairs"], np.intp)
    t = np.asarray(p["t"], np.float64)
    ne = t.size
    shp = task.shape
    rows, cols = task.rows, task.cols
    u = read_unw(task, idx).reshape(idx.size, -1)  # as corrected by step 1-2
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
    ctx.new_array("cum", (ne, *st.shape))
    ctx.new_array("gap", (ne - 1, *st.shape), "i1", 0)
    for n in INVERT_MAPS:
        ctx.new_array(n, st.shape)
    annual = icfg.annual
    if annual:
        ctx.new_array("amp_annual", st.shape)
    device = "gpu" if ctx.options.model.gpu else "cpu"
    coh_weight = icfg.coh_weight
    if coh_weight and not np.isfinite(ctx.get(QCResult).mean_coh).any():
        log.warning("1-3: --coh-weight ignored: the input has no coherence (every pair weighted equally)")
        coh_weight = False
    n_solved = sum(ctx.map_blocks(
        invert_block, "1-3 invert", idx=idx, pairs=pairs, t=t, offsets=np.asarray(lres.ref_offsets),
        conv=phase_to_mm(st.wavelength), coh_weight=coh_weight, gamma=icfg.gamma, annual=annual,
        min_pairs=min_pairs, device=device))
    if n_solved == 0:
        raise NetworkError(f"{st.path}: no pixel has the {min_pairs} valid pairs the inversion needs "
                           f"(min_pairs_factor {icfg.min_pairs_factor} x {ne} epochs)")
    log.info("1-3: %d pixels solved (%d epochs, %d pairs)", n_solved, ne, idx.size)
    return InvertResult(n_solved=n_solved, min_pairs=min_pairs,
                        network_gaps=np.flatnonzero(network.gaps(pairs, ne)).tolist())


SPEC = StepSpec(name="invert", licsbas="1-3", title="NSBAS inversion: time series and velocity", run=step_invert,
                result=InvertResult, outputs=("cum", "gap", *INVERT_MAPS, "amp_annual"), tasks=(invert_block,),
                section="invert")
