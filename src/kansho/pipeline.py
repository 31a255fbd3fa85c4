"""The time-series chain: step registry, resume (skip-if-done), and block-wise orchestration.

Steps (LiCSBAS numbering in brackets): ``ingest`` [0-2], ``qc`` [1-1], ``loops`` [1-2],
``invert`` [1-3], ``vstd`` [1-4], ``mask`` [1-5], ``filter`` [1-6], ``outputs``.
Every step reads the stack store (``OUT/stack.zarr``) and the work store (``OUT/work/ts.zarr``)
block by block with the full time axis, writes its arrays there, and records in
``OUT/work/state.json`` a hash of its options, its inputs and its upstream steps. A re-run skips
a step whose hash is unchanged; a step interrupted half-way has no record and runs again.
The numerics live in :mod:`kansho.qc`, :mod:`kansho.loops`, :mod:`kansho.inversion`,
:mod:`kansho.velocity`, :mod:`kansho.mask` and :mod:`kansho.filters`; this module only moves data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from kansho import _blocks, loops, network, qc
from kansho import mask as maskmod
from kansho._dates import years_since_first
from kansho._files import write_bytes_atomic
from kansho.config import RunConfig, parse_ref, step_options
from kansho.errors import ConfigError, InputError, NetworkError
from kansho.io.inputs import discover_inputs, validate_inputs
from kansho.parallel import (
    cluster,
    default_memory_limit,
    map_tasks,
    parse_memory,
    run_all,
)
from kansho.store import (
    Stack,
    blocks,
    create_stack,
    input_fingerprint,
    open_stack,
    write_json_atomic,
)

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("ingest", "qc", "loops", "invert", "vstd", "mask", "filter", "outputs")
LICSBAS_STEP = {"ingest": "0-2", "qc": "1-1", "loops": "1-2", "invert": "1-3", "vstd": "1-4", "mask": "1-5",
                "filter": "1-6", "outputs": "out"}
#: the config sections each step depends on
_STEP_SECTIONS = {"ingest": "ingest", "qc": "qc", "loops": "loops", "invert": "invert", "vstd": "vstd",
                  "mask": "mask", "filter": "filter", "outputs": None}


def phase_to_mm(wavelength: float) -> float:
    """Factor converting LiCSAR unwrapped phase (rad) to LOS displacement (mm, + toward satellite)."""
    return -wavelength / (4.0 * math.pi) * 1000.0


@dataclass
class Context:
    """Everything a step needs: where things are, the options, and the recorded state."""

    out: Path
    cfg: RunConfig
    input_path: Path | None
    progress: bool = True
    state: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    client: Any = None
    block: int = 256
    #: folder of the current step's finished-task records (block-level resume); None outside a step
    resume_dir: Path | None = None
    resuming: bool = False
    #: each step's record from the run before (kept while the step runs again: an update reuses parts of it)
    previous: dict[str, Any] = field(default_factory=dict)
    _stack: Stack | None = None
    _work: zarr.Group | None = None

    @property
    def state_path(self) -> Path:
        return self.out / "work" / "state.json"

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            self._stack = open_stack(self.out)
        return self._stack

    @property
    def work(self) -> zarr.Group:
        if self._work is None:
            self._work = zarr.open_group(str(self.out / "work" / "ts.zarr"), mode="a", zarr_format=3)
        return self._work

    def result(self, step: str) -> dict[str, Any]:
        return self.state[step]["result"]

    def new_array(self, name: str, shape: tuple[int, ...], dtype: str = "f4", fill: float = np.nan) -> zarr.Array:
        """Create (or replace) a work array: 2-D (y, x) or 3-D (time, y, x) chunked one epoch deep.

        Chunks match the processing blocks, so tasks running in parallel never write one chunk.
        """
        if self.resuming and name in self.work:  # an interrupted step resumes: keep what its tasks wrote
            arr = self.work[name]
            if isinstance(arr, zarr.Array) and tuple(arr.shape) == tuple(shape) and arr.dtype == np.dtype(dtype):
                return arr
        b = self.block
        if len(shape) == 3:
            chunks: tuple[int, ...] = (1, min(b, shape[1]), min(b, shape[2]))
            dims = ["time", "y", "x"]
        else:
            chunks = (min(b, shape[0]), min(b, shape[1]))
            dims = ["y", "x"]
        return self.work.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                                      dimension_names=dims, overwrite=True)

    def read2d(self, name: str) -> np.ndarray:
        return np.asarray(self.work[name][:])

    def blocks(self) -> list[tuple[slice, slice]]:
        return list(blocks(self.stack.shape, self.block))

    def map_blocks(self, kernel: Callable[[_blocks.Task], Any], desc: str, **params: Any) -> list[Any]:
        """Run ``kernel`` on every spatial block (here or on the cluster); results in block order."""
        tasks = [_blocks.Task(str(self.out), rows=r, cols=c, params=params) for r, c in self.blocks()]
        return self._run_tasks(kernel, tasks, desc)

    def map_epochs(self, kernel: Callable[[_blocks.Task], Any], desc: str, epochs: Sequence[int],
                   **params: Any) -> list[Any]:
        """Run ``kernel`` on every epoch index in ``epochs``; results in that order."""
        tasks = [_blocks.Task(str(self.out), epoch=int(e), params=params) for e in epochs]
        return self._run_tasks(kernel, tasks, desc)

    def _run_tasks(self, kernel: Callable[[_blocks.Task], Any], tasks: list[_blocks.Task], desc: str) -> list[Any]:
        """Run the tasks not finished before; record each finished one (block-level resume).

        A finished task leaves ``resume_dir/<pass>-<params hash>-<block or epoch>.pkl`` holding its
        (small) result, written after its chunks. A step interrupted half-way and started again
        with the same options replays those results and runs only the other tasks.
        """
        if self.resume_dir is None:
            return run_all(kernel, tasks, client=self.client, desc=desc, progress=self.progress)
        import pickle

        self.resume_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(pickle.dumps(tasks[0].params if tasks else {})).hexdigest()[:12]
        name = "".join(ch if ch.isalnum() else "_" for ch in desc)  # the pass, e.g. "1-3 invert"
        paths = [self.resume_dir / (f"{name}-{digest}-" + (f"e{t.epoch}" if t.epoch >= 0 else
                                                          f"{t.rows.start}_{t.cols.start}") + ".pkl") for t in tasks]
        out: list[Any] = [None] * len(tasks)
        todo = []
        for i, pth in enumerate(paths):
            if pth.is_file():
                out[i] = pickle.loads(pth.read_bytes())
            else:
                todo.append(i)
        if len(todo) < len(tasks):
            log.info("%s: %d of %d tasks already done before the interruption", desc, len(tasks) - len(todo), len(tasks))
        for j, res, err in map_tasks(kernel, [tasks[i] for i in todo], client=self.client, desc=desc,
                                     progress=self.progress):
            if err is not None:
                raise err
            i = todo[j]
            out[i] = res
            write_bytes_atomic(paths[i], pickle.dumps(res))
        return out

    def bar(self, total: int, desc: str) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False)


# --------------------------------------------------------------------------------------- steps


def step_ingest(ctx: Context) -> dict[str, Any]:
    """Step 0-2: discover and validate the input, multilook, write the stack store."""
    if ctx.input_path is None:
        raise InputError(ctx.out, "no stack store yet: give the input folder")
    from kansho.io.prepare import plan_prep, write_prep_info

    inputs = _inputs(ctx)
    icfg = ctx.cfg.ingest
    inputs, plan = plan_prep(inputs, icfg)  # Steps 0-3 (GACOS), 0-4 (mask), 0-5 (clip)
    st = create_stack(inputs, ctx.out, nlook=icfg.nlook, min_valid_looks=icfg.min_valid_looks,
                      block=ctx.cfg.block_size, progress=ctx.progress, plan=plan)
    ctx._stack = st
    write_prep_info(ctx.out / "info", st.attrs.get("prep", {}))
    return {"n_pair": st.n_pair, "n_epoch": int(st.epochs.size), "shape": list(st.shape),
            "layout": inputs.layout, "wavelength": st.wavelength,
            "dropped": [[n, "0-3", r] for n, r in plan.dropped], "reused": int(st.attrs.get("reused_pairs", 0)),
            "appended_from": int(st.attrs.get("appended_from", 0)), "store_id": str(st.attrs.get("store_id", ""))}


_QC_ARRAYS = ("qc_n_valid", "qc_coh_n", "qc_coh_sum", "qc_coh_avg")


def step_qc(ctx: Context) -> dict[str, Any]:
    """Step 1-1: per-pair coverage and mean coherence; drop poor pairs and orphaned epochs.

    After an update that appended pairs to the stack store, only the new pairs are read: the
    per-pair sums of the others and the per-pixel accumulators come from the last run
    (:func:`_previous`), unless the new pairs enlarge the frame's footprint.
    """
    st = ctx.stack
    npair = st.n_pair
    prev = _previous(ctx, "qc", _QC_ARRAYS)
    sums = _qc_update(ctx, prev) if prev is not None else None
    if sums is None:
        _new_arrays(ctx, _QC_ARRAYS)
        n_valid, coh_sum, n_foot = np.zeros(npair, np.int64), np.zeros(npair, np.float64), 0
        for nv, cs, nt, _ in ctx.map_blocks(_blocks.qc_block, "1-1 qc"):
            n_valid += nv
            coh_sum += cs
            n_foot += nt
        _mark_arrays(ctx, _QC_ARRAYS, npair)
    else:
        n_valid, coh_sum, n_foot = sums
    if n_foot == 0:
        raise InputError(st.path, "no valid pixel in any interferogram")
    coverage, mean_coh = qc.pair_ratios(n_valid, coh_sum, n_foot)
    has_coh = bool(np.any(coh_sum > 0))
    if not has_coh:  # GeoTIFF pairs given without coherence
        log.warning("1-1: no coherence in the input; the coherence test is skipped")
        mean_coh = np.full(npair, np.nan)
    pairs = _pair_index(st)
    res = qc.select_pairs(coverage, mean_coh, pairs, st.epochs.size, min_coverage=ctx.cfg.qc.min_coverage,
                          min_coh=ctx.cfg.qc.min_coh if has_coh else None)
    keep = np.asarray(res.keep, bool)
    if keep.sum() == 0:
        raise NetworkError(f"{st.path}: step 1-1 dropped every interferogram (coverage/coherence thresholds)")
    log.info("1-1: kept %d of %d pairs (%d dropped)", keep.sum(), npair, (~keep).sum())
    return {"coverage": coverage.tolist(), "mean_coh": mean_coh.tolist(), "keep": keep.tolist(),
            "reason": list(res.reason), "n_footprint": int(n_foot), "n_valid": n_valid.tolist(),
            "coh_sum": coh_sum.tolist(), **_stamp(ctx), "incremental": sums is not None}


def _qc_update(ctx: Context, prev: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Step 1-1 on the appended pairs only; None when they enlarge the footprint (run it in full)."""
    st = ctx.stack
    m = int(prev["n_pair"])
    _new_arrays(ctx, _QC_ARRAYS, _NEXT)
    out = ctx.map_blocks(_blocks.qc_block, "1-1 qc (new pairs)", start=m, base="", dest=_NEXT)
    if any(g for *_, g in out):
        log.info("1-1: the new pairs reach pixels no earlier pair did; every pair is measured again")
        for name in _QC_ARRAYS:
            del ctx.work[_NEXT + name]
        return None
    n_valid = np.concatenate([np.asarray(prev["n_valid"], np.int64), sum(o[0] for o in out)])
    coh_sum = np.concatenate([np.asarray(prev["coh_sum"], np.float64), sum(o[1] for o in out)])
    _mark_arrays(ctx, [_NEXT + n for n in _QC_ARRAYS], st.n_pair)
    _swap_next(ctx, _QC_ARRAYS)
    log.info("1-1: %d new pairs measured; the %d others as in the last run", st.n_pair - m, m)
    return n_valid, coh_sum, int(prev["n_footprint"])


def step_loops(ctx: Context) -> dict[str, Any]:
    """Step 1-2: loop closure, unwrapping-error pairs, per-pixel loop counts, the reference area."""
    st = ctx.stack
    lcfg = ctx.cfg.loops
    keep_qc = np.asarray(ctx.result("qc")["keep"], bool)
    idx_qc = np.flatnonzero(keep_qc)
    epochs_qc, pairs_qc = _subnetwork(st, idx_qc)
    L = network.triangle_loops(pairs_qc)
    nloop = L.shape[0]
    log.info("1-2: %d pairs, %d epochs, %d triangle loops", idx_qc.size, epochs_qc.size, nloop)

    # preliminary reference: the most complete, most coherent window (from the 1-1 statistics)
    nvalid_all = ctx.read2d("qc_n_valid")
    coh_all = ctx.read2d("qc_coh_avg")
    ok0 = nvalid_all >= nvalid_all.max()
    ref0 = loops.choose_reference(np.where(np.isfinite(coh_all), -coh_all, np.inf), ok0, size=lcfg.ref_size)
    off0 = _ref_offsets(st, idx_qc, ref0)
    members = _loop_members(L, idx_qc)
    loop_rms, n_reused = _loop_rms(ctx, L, idx_qc, off0, members, ref0)
    bad = loops.find_bad_pairs(np.nan_to_num(loop_rms, nan=0.0), L, threshold=lcfg.loop_rms_threshold)
    bad_mask = np.asarray(bad.bad, bool)
    keep_loop = ~bad_mask
    idx = idx_qc[keep_loop]
    if idx.size < 2:
        raise NetworkError(f"{st.path}: fewer than 2 interferograms left after loop closure")
    off_of = dict(zip(idx_qc.tolist(), off0.tolist(), strict=True))
    flagged_noloop: list[int] = []
    for attempt in range(2):
        check = attempt == 0 and lcfg.noloop_max_frac is not None
        epochs_f, _, L2, big, pix_upd = _pixel_loop_pass(ctx, idx, np.array([off_of[i] for i in idx]), check, ref0)
        if not check:
            break
        in_loop = np.abs(L2).sum(axis=0) > 0
        frac = big[0] / np.maximum(big[1], 1)
        bad_nl = ~in_loop & (big[1] > 0) & (frac > lcfg.noloop_max_frac)
        if not bad_nl.any():
            break
        flagged_noloop = idx[bad_nl].tolist()
        log.warning("1-2: %d pair(s) in no loop have an unwrapping error (inversion residual > pi at more "
                    "than %.0f %% of their pixels): %s", bad_nl.sum(), 100 * lcfg.noloop_max_frac,
                    ", ".join(st.pair_names()[i] for i in flagged_noloop))
        idx = idx[~bad_nl]
    if idx.size < 2:
        raise NetworkError(f"{st.path}: fewer than 2 interferograms left after loop closure")

    # the one reference area of the run
    if lcfg.ref:
        ref = _user_ref(ctx, lcfg.ref)
        how = "user"
    else:
        nvf = ctx.read2d("n_valid_final")
        ok = nvf >= nvf.max()
        score = reference_score(ctx.read2d("loop_rms"), ctx.read2d("stack_rate"), coh_all)
        ref = loops.choose_reference(score, ok & np.isfinite(score), size=lcfg.ref_size)
        how = "auto"
    offsets = _ref_offsets(st, idx, ref)
    if not np.all(np.isfinite(offsets)):
        names = [st.pair_names()[i] for i in idx[~np.isfinite(offsets)]]
        raise InputError(st.path, f"reference area {_ref_str(ref)} has no valid pixel in pair(s) {', '.join(names[:5])}")
    log.info("1-2: %d bad pairs dropped; reference area rows %d:%d cols %d:%d (%s)", bad_mask.sum(), *ref, how)
    return {
        "pairs_in": idx_qc.tolist(), "loop_rms": np.nan_to_num(loop_rms, nan=-1).tolist(),
        "loops": members, "ref0": list(map(int, ref0)), "loops_reused": n_reused, "pixels_updated": pix_upd,
        "bad": idx_qc[bad_mask].tolist(),
        "no_loop": idx_qc[np.asarray(bad.no_loop, bool)].tolist(),
        "n_loops": np.asarray(bad.n_loops).tolist(), "n_bad_loops": np.asarray(bad.n_bad_loops).tolist(),
        "bad_noloop": flagged_noloop,
        "pairs": idx.tolist(), "epochs": epochs_f.tolist(), "ref": list(map(int, ref)), "ref_how": how,
        "ref_offsets": offsets.tolist(), "pixel_loop_threshold": lcfg.pixel_loop_threshold, **_stamp(ctx),
    }


def _loop_rms(ctx: Context, L: np.ndarray, idx: npt.NDArray[np.intp], offsets: npt.NDArray[np.float64],
              members: list[list[int]], ref0: Sequence[int]) -> tuple[npt.NDArray[np.float64], int]:
    """RMS loop phase (rad) of every loop (row of ``L`` over the pairs ``idx``), NaN without data.

    Loops the last run measured with the same preliminary reference ``ref0`` (so the same pair
    offsets) on this stack store keep their value: after an update only the loops through a new
    pair are measured, reading only the pairs they contain. Returns the RMS and the number of loops kept.
    """
    rms = np.full(L.shape[0], np.nan)
    prev = _previous(ctx, "loops")
    known = np.zeros(L.shape[0], bool)
    if prev is not None and prev.get("ref0") == list(map(int, ref0)):
        cache = {tuple(m): r for m, r in zip(prev["loops"], prev["loop_rms"], strict=True)}
        for i, m in enumerate(members):
            r = cache.get(tuple(m))
            if r is not None:
                known[i] = True
                rms[i] = np.nan if r < 0 else r
        log.info("1-2: %d loops as in the last run; %d through new pairs measured", known.sum(), (~known).sum())
    todo = np.flatnonzero(~known)
    if todo.size:
        cols = np.flatnonzero(np.abs(L[todo]).sum(axis=0))  # the pairs of those loops only
        sum_sq, count = np.zeros(todo.size), np.zeros(todo.size)
        for a, c in ctx.map_blocks(_blocks.loop_sums_block, "1-2 loops", idx=idx[cols], offsets=offsets[cols],
                                   L=L[np.ix_(todo, cols)]):
            sum_sq += a
            count += c
        with np.errstate(invalid="ignore", divide="ignore"):
            rms[todo] = np.sqrt(sum_sq / count)
    return rms, int(known.sum())


def step_invert(ctx: Context) -> dict[str, Any]:
    """Step 1-3: NSBAS inversion per block; cumulative displacement, velocity, network statistics."""
    st = ctx.stack
    icfg = ctx.cfg.invert
    lres = ctx.result("loops")
    idx = np.asarray(lres["pairs"], np.intp)
    epochs = np.asarray(lres["epochs"], np.int64)
    pairs = _pairs_in(st, idx, epochs)
    offsets = np.asarray(lres["ref_offsets"])
    ne = epochs.size
    t = years_since_first(epochs)
    min_pairs = math.ceil(icfg.min_pairs_factor * ne)
    ctx.new_array("cum", (ne, *st.shape))
    ctx.new_array("gap", (ne - 1, *st.shape), "i1", 0)
    for n in ("vel", "vintercept", "resid_rms", "n_unw", "coh_avg", "n_gap", "maxTlen"):
        ctx.new_array(n, st.shape)
    if icfg.annual:
        ctx.new_array("amp_annual", st.shape)
    device = "gpu" if ctx.cfg.gpu else "cpu"
    n_solved = sum(ctx.map_blocks(
        _blocks.invert_block, "1-3 invert", idx=idx, pairs=pairs, t=t, offsets=offsets,
        conv=phase_to_mm(st.wavelength), coh_weight=icfg.coh_weight, gamma=icfg.gamma, annual=icfg.annual,
        min_pairs=min_pairs, device=device))
    if n_solved == 0:
        raise NetworkError(f"{st.path}: no pixel has the {min_pairs} valid pairs the inversion needs "
                           f"(min_pairs_factor {icfg.min_pairs_factor} x {ne} epochs)")
    log.info("1-3: %d pixels solved (%d epochs, %d pairs)", n_solved, ne, idx.size)
    return {"n_solved": n_solved, "min_pairs": min_pairs,
            "network_gaps": np.flatnonzero(network.gaps(pairs, ne)).tolist()}


def step_vstd(ctx: Context) -> dict[str, Any]:
    """Step 1-4: bootstrap standard deviation of the velocity, per block."""
    st = ctx.stack
    epochs = np.asarray(ctx.result("loops")["epochs"])
    ctx.new_array("vstd", st.shape)
    ctx.map_blocks(_blocks.vstd_block, "1-4 vstd", t=years_since_first(epochs), n_boot=ctx.cfg.vstd.n_boot,
                   seed=ctx.cfg.vstd.seed)
    return {"n_boot": ctx.cfg.vstd.n_boot}


def step_mask(ctx: Context) -> dict[str, Any]:
    """Step 1-5: spatio-temporal consistency and the noisy-pixel mask with a per-criterion breakdown."""
    st = ctx.stack
    ne = len(ctx.result("loops")["epochs"])
    ctx.new_array("stc", st.shape)
    ctx.map_blocks(_blocks.stc_block, "1-5 stc")
    m = ctx.cfg.mask
    thresholds = {"coh_avg": m.coh_avg, "n_unw": None if m.n_unw_factor is None else m.n_unw_factor * ne,
                  "vstd": m.vstd, "maxTlen": m.maxTlen, "n_gap": m.n_gap, "stc": m.stc,
                  "n_ifg_noloop": m.n_ifg_noloop, "n_loop_err": m.n_loop_err, "resid_rms": m.resid_rms}
    indices = {k: ctx.read2d(k) for k in thresholds}
    vel = ctx.read2d("vel")
    if any(v is not None for v in thresholds.values()):
        res = maskmod.apply_thresholds(indices, thresholds)
        keep = np.asarray(res.mask, bool) & np.isfinite(vel)
        removed = {k: int(np.asarray(v).sum()) for k, v in res.removed.items()}
        warns = list(res.warnings)
    else:
        keep, removed, warns = np.isfinite(vel), {}, []
    mask_a = ctx.new_array("mask", st.shape)
    mask_a[:] = np.where(np.isfinite(vel), keep.astype(np.float32), np.nan)
    n_valid = int(np.isfinite(vel).sum())
    n_kept = int(keep.sum())
    if n_valid and n_kept == 0:
        warns.append("the mask removes every solved pixel: check the thresholds (info/15mask_stats.txt)")
        log.warning("1-5: THE MASK REMOVES EVERY PIXEL: check the thresholds in info/15mask_stats.txt")
    return {"thresholds": thresholds, "removed": removed, "n_valid": n_valid, "n_kept": n_kept,
            "warnings": warns}


def step_filter(ctx: Context) -> dict[str, Any]:
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
    lres = ctx.result("loops")
    epochs = np.asarray(lres["epochs"])
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
        ctx.map_epochs(_blocks.filter_ramp_epoch, "1-6 ramp", range(1), **ramp)
        ctx.map_epochs(_blocks.filter_ramp_epoch, "1-6 ramp", range(1, ne), **ramp)
    ctx.map_blocks(_blocks.filter_temporal_block, "1-6 temporal", t=t, sigma_yr=sigma_yr, order=fcfg.temporal_order,
                   base=base)
    spatial = {"sigma_px": (sigma_to_px(fcfg.sigma_km, dy_km), sigma_to_px(fcfg.sigma_km, dx_km)),
               "ref": lres["ref"], "base": base}
    ctx.map_epochs(_blocks.filter_spatial_epoch, "1-6 spatial", range(1), **spatial)
    ctx.map_epochs(_blocks.filter_spatial_epoch, "1-6 spatial", range(1, ne), **spatial)
    ctx.map_blocks(_blocks.vel_filt_block, "1-6 velocity", t=t)
    for name in ("filt_base", "filt_hp", "filt_surf0", "filt_aps0") if surface else ("filt_hp", "filt_surf0",
                                                                                       "filt_aps0"):
        del ctx.work[name]
    return {"sigma_km": fcfg.sigma_km, "sigma_yr": sigma_yr, "deramp": fcfg.deramp, "hgt_corr": fcfg.hgt_corr}


def reference_score(loop_rms: np.ndarray, rate: np.ndarray, coh: np.ndarray) -> np.ndarray:
    """Score of each pixel as part of the reference area (lower is better), shape (ny, nx).

    Adds two dimensionless terms: the pixel's loop-phase RMS over the frame's median (Morishita et
    al. 2020 choose the reference by loop closure alone) and how far its stacking rate lies from the
    frame's median rate, in robust standard deviations (1.4826 MAD) -- the usual prior that most of
    a frame is stable, which keeps the reference out of a deforming area. Coherence breaks ties.
    """
    lr = np.where(np.isfinite(loop_rms), loop_rms, np.nan)
    med_lr = np.nanmedian(lr) if np.isfinite(lr).any() else 1.0
    fin = np.isfinite(rate)
    if fin.any():
        med = np.median(rate[fin])
        mad = 1.4826 * np.median(np.abs(rate[fin] - med)) or 1.0
        dev = np.abs(rate - med) / mad
    else:
        dev = np.zeros_like(rate)
    score = np.nan_to_num(lr / max(med_lr, 1e-6), nan=0.0) + dev
    return np.where(np.isfinite(coh), score - 1e-3 * coh, score)


def sigma_to_px(sigma_km: float, pixel_km: float) -> float:
    """Gaussian width in pixels for a width in km."""
    return sigma_km / pixel_km if pixel_km > 0 else 0.0


def step_outputs(ctx: Context) -> dict[str, Any]:
    """Write results/*.tif, cum.h5, cum_filt.h5, info/, plots/ and report.html."""
    from kansho.outputs import write_outputs

    return write_outputs(ctx)


STEP_FUNCS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "ingest": step_ingest, "qc": step_qc, "loops": step_loops, "invert": step_invert, "vstd": step_vstd,
    "mask": step_mask, "filter": step_filter, "outputs": step_outputs,
}

# ------------------------------------------------------------------------------------ running


def run_timeseries(
    input_path: str | Path | None,
    out: str | Path,
    cfg: RunConfig | None = None,
    *,
    steps: Sequence[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Context:
    """Run the whole chain (or ``steps``) from ``input_path`` into ``out``; resume where possible.

    A step is skipped when its recorded hash (options, inputs, upstream steps) is unchanged and
    ``force`` is false. Returns the :class:`Context` (state, timings) of the run.
    """
    cfg = cfg or RunConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out=out, cfg=cfg, input_path=None if input_path is None else Path(input_path), progress=progress,
                  block=cfg.block_size)
    if ctx.state_path.exists():
        ctx.state = json.loads(ctx.state_path.read_text())
    wanted = list(STEPS) if not steps else list(steps)
    for s in wanted:
        if s not in STEPS:
            raise ConfigError(f"unknown step {s!r}; steps are {', '.join(STEPS)}")
    fingerprint = _fingerprint(ctx)
    if cfg.gpu:
        check_gpu()
    with contextlib.ExitStack() as exits:
        _run_steps(ctx, wanted, fingerprint, force, exits)
    return ctx


def _run_steps(ctx: Context, wanted: list[str], fingerprint: str, force: bool, exits: contextlib.ExitStack) -> None:
    cfg = ctx.cfg
    last_wanted = max(STEPS.index(s) for s in wanted)
    upstream = ""
    for step in STEPS:
        opts = step_options(cfg, _STEP_SECTIONS[step]) if _STEP_SECTIONS[step] else {}
        h = hashlib.sha256(json.dumps([step, opts, upstream, fingerprint if step == "ingest" else ""],
                                      sort_keys=True, default=str).encode()).hexdigest()[:16]
        upstream = h
        rec = ctx.state.get(step)
        done = rec is not None and rec.get("hash") == h
        if step not in wanted:
            if STEPS.index(step) > last_wanted:
                break
            if not done:
                raise ConfigError(f"step {step} ({LICSBAS_STEP[step]}) has not run with these inputs and options; "
                                  f"include it in --steps")
            continue
        if done and not force:
            log.info("step %s (%s): up to date, skipped", step, LICSBAS_STEP[step])
            ctx.timings[step] = 0.0
            continue
        log.info("step %s (%s) ...", step, LICSBAS_STEP[step])
        t0 = time.perf_counter()
        ctx.previous[step] = ctx.state.pop(step, None)
        if step != "ingest":
            ctx.block = plan_block(ctx.stack.n_pair, int(ctx.stack.epochs.size), cfg)
            if ctx.client is None and (cfg.workers or cfg.scheduler):
                ctx.client = exits.enter_context(cluster(cfg.workers, cfg.scheduler, memory_limit=cfg.memory_limit))
            ctx.resume_dir = _resume_dir(ctx, step, h, force)
            ctx.resuming = ctx.resume_dir.is_dir()
        result = STEP_FUNCS[step](ctx)
        if ctx.resume_dir is not None:
            shutil.rmtree(ctx.resume_dir, ignore_errors=True)
            ctx.resume_dir, ctx.resuming = None, False
        dt = time.perf_counter() - t0
        ctx.timings[step] = dt
        ctx.state[step] = {"hash": h, "result": result, "seconds": round(dt, 3)}
        if step == "ingest":
            ctx.state[step]["fingerprint"] = fingerprint
        write_json_atomic(ctx.state_path, ctx.state)
        log.info("step %s done in %.1f s", step, dt)


def _resume_dir(ctx: Context, step: str, h: str, force: bool) -> Path:
    """``OUT/work/tasks/<step>-<hash>-b<block>``; records of other hashes (or all, with force) are removed."""
    root = ctx.out / "work" / "tasks"
    d = root / f"{step}-{h}-b{ctx.block}"
    if root.is_dir():
        for old in root.glob(f"{step}-*"):
            if old != d or force:
                shutil.rmtree(old, ignore_errors=True)
    return d


def plan_block(n_pair: int, n_epoch: int, cfg: RunConfig) -> int:
    """Side of the processing blocks: ``cfg.block_size``, made smaller when a block would not fit.

    A block of ``B x B`` pixels needs about ``64 n_pair + 16 n_epoch`` bytes per pixel in the
    inversion (the largest step: phase, coherence and float64 copies of every pair); each worker
    gets ``memory_limit / workers`` minus 0.5 GB for the interpreter and libraries.
    """
    total = parse_memory(cfg.memory_limit) or default_memory_limit()
    n_workers = max(1, cfg.workers) if not cfg.scheduler else 1
    per_worker = max(total / n_workers - 0.5e9, 0.1e9)
    px = per_worker / (64.0 * n_pair + 16.0 * n_epoch)
    b = int(math.sqrt(px)) // 16 * 16
    block = max(32, min(cfg.block_size, b))
    if block < cfg.block_size:
        log.info("blocks of %d px (not %d) to stay within %.1f GB per worker", block, cfg.block_size, per_worker / 1e9)
    return block


def check_gpu() -> None:
    """Raise :class:`ConfigError` unless CuPy is importable and sees a GPU."""
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - ImportError, or CUDA errors of a machine without a GPU
        raise ConfigError(f"--gpu needs CuPy and a CUDA GPU (pip install cupy-cuda12x): {exc}") from None
    if n < 1:
        raise ConfigError("--gpu: CuPy sees no GPU")


def _fingerprint(ctx: Context) -> str:
    if ctx.input_path is None:
        rec = ctx.state.get("ingest")
        if rec is None:
            raise InputError(ctx.out, "no previous run here: give the input folder")
        return str(rec.get("fingerprint", ""))
    inputs = _inputs(ctx)
    fp = input_fingerprint(inputs)
    from kansho.io.prepare import files_fingerprint, prep_files

    extra = files_fingerprint(prep_files(ctx.cfg.ingest))  # GACOS delays and polygon files
    return fp + extra if extra else fp


def _inputs(ctx: Context) -> Any:
    cached = getattr(ctx, "_inputs_cache", None)
    if cached is None:
        assert ctx.input_path is not None
        cached = discover_inputs(ctx.input_path)
        validate_inputs(cached)
        ctx._inputs_cache = cached  # type: ignore[attr-defined]
    return cached


# ------------------------------------------------------------------------------------ helpers


def _pixel_loop_pass(ctx: Context, idx: npt.NDArray[np.intp], offsets: npt.NDArray[np.float64],
                     check: bool, ref0: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Per-pixel loop statistics for the pairs ``idx`` (written to the work store).

    With ``check`` (and some pair in no loop), a preliminary inversion of sampled pixels
    (:func:`_check_every`) also counts, per pair, the pixels whose residual exceeds half a cycle
    (pi rad): in a pair that belongs to no loop that is an unwrapping error loop closure cannot see.
    After an update that kept the last run's pairs (:func:`_pixel_update`) the statistics are
    continued over the new pairs and loops only, and (without the check) only those pairs and
    their neighbours are read.
    Returns (epochs, pairs, loop matrix, (n_big (npair,), n_valid (npair,)), whether it was an update).
    """
    st = ctx.stack
    epochs_f, pairs_f = _subnetwork(st, idx)
    L2 = network.latest_last(network.triangle_loops(pairs_f), pairs_f)
    check = check and bool((np.abs(L2).sum(axis=0) == 0).any())  # only pairs in no loop need the check
    common = {"t": years_since_first(epochs_f), "conv": phase_to_mm(st.wavelength),
              "pixel_loop_threshold": ctx.cfg.loops.pixel_loop_threshold}
    check_args = {"check": check, "gamma": ctx.cfg.invert.gamma, "nx": st.shape[1], "every": _check_every(*st.shape)}
    upd = _pixel_update(ctx, idx, epochs_f, L2, ref0)
    prefix = ""
    if upd is not None:
        sub, rows, new_loop, new_pair, touched = upd
        prefix = _NEXT
        kw: dict[str, Any] = {"sub": sub, "L": L2[np.ix_(rows, sub)], "new_loop": new_loop, "new_pair": new_pair,
                              "touched": touched, "base": "", "dest": _NEXT}
        desc = "1-2 pixels (new loops)"
    else:
        kw, desc = {"L": L2}, "1-2 pixels"
    _new_arrays(ctx, _blocks.PIXEL_LOOP_ARRAYS, prefix)
    big = np.zeros((2, idx.size), np.int64)
    for b in ctx.map_blocks(_blocks.pixel_loop_block, desc, idx=idx, pairs=pairs_f, offsets=offsets, **kw,
                            **check_args, **common):
        big += b
    _mark_arrays(ctx, [prefix + n for n in _blocks.PIXEL_LOOP_ARRAYS], st.n_pair)
    if upd is not None:
        _swap_next(ctx, _blocks.PIXEL_LOOP_ARRAYS)
        log.info("1-2: per-pixel loop statistics updated from %d pairs and %d new loops%s", upd[0].sum(),
                 upd[2].sum(), " (every pair read for the no-loop check)" if check else "")
    return epochs_f, pairs_f, L2, big, upd is not None


def _pixel_update(ctx: Context, idx: npt.NDArray[np.intp], epochs: npt.NDArray[np.int64], L: np.ndarray,
                  ref0: Sequence[int]) -> tuple[np.ndarray, ...] | None:
    """What the per-pixel loop pass must read after an update, or None to run it over every pair.

    Possible when the last run's per-pixel sums hold exactly the pairs of ``idx`` it had (no
    earlier pair changed status), with the same preliminary reference, threshold and first epoch,
    and the new loops come after the earlier ones in ``L``. Returns, as bools: the pairs to read
    (over ``idx``: the new pairs, the earlier pairs in a new loop, and their partners in earlier
    loops), the loops among them (rows of ``L``), and over those: the new loops, the new pairs and
    the earlier pairs in a new loop.
    """
    prev = _previous(ctx, "loops", _blocks.PIXEL_LOOP_ARRAYS)
    if (prev is None or prev.get("ref0") != list(map(int, ref0)) or not prev.get("epochs")
            or prev.get("pixel_loop_threshold") != ctx.cfg.loops.pixel_loop_threshold
            or int(prev["epochs"][0]) != int(epochs[0])):
        return None
    old = idx < int(prev["n_pair"])
    if idx[old].tolist() != list(prev["pairs"]):
        return None
    mem = np.abs(L) > 0
    new_loop = (mem & ~old).any(axis=1)
    if new_loop.any() and (~new_loop).any() and np.flatnonzero(~new_loop).max() > np.flatnonzero(new_loop).min():
        return None
    touched = mem[new_loop].any(axis=0) & old
    partners = mem[~new_loop & mem[:, touched].any(axis=1)].any(axis=0)
    sub = ~old | touched | partners
    rows = ~(mem & ~sub).any(axis=1)
    return sub, rows, new_loop[rows], ~old[sub], touched[sub]


_NEXT = "next_"


def _stamp(ctx: Context) -> dict[str, Any]:
    """What a step's result records about the stack store it read (see :func:`_previous`)."""
    ing = ctx.result("ingest")
    return {"store_id": ing.get("store_id", ""), "n_pair": int(ing["n_pair"])}


def _previous(ctx: Context, step: str, arrays: Sequence[str] = ()) -> dict[str, Any] | None:
    """The last run's result of ``step`` when it can seed an update of this run, else None.

    That is when it read an earlier state of this very stack store (same ``store_id``: the store
    was only appended to since, so its first ``n_pair`` pairs are unchanged), fewer pairs than
    there are now, and the work arrays ``arrays`` it wrote are still those of that run
    (their ``n_pair`` attribute).
    """
    rec = ctx.previous.get(step)
    sid = ctx.result("ingest").get("store_id")
    if not rec or not sid:
        return None
    res = rec["result"]
    if res.get("store_id") != sid or not 0 < int(res.get("n_pair", 0)) < ctx.stack.n_pair:
        return None
    for name in arrays:
        if name not in ctx.work or ctx.work[name].attrs.get("n_pair") != res["n_pair"]:
            return None
    return res


#: dtype and fill of the work arrays of steps 1-1 and 1-2 that are not float32 / NaN
_ARRAY_DTYPES: dict[str, tuple[str, float]] = {
    "qc_n_valid": ("i4", 0), "qc_coh_n": ("i4", 0), "qc_coh_sum": ("f8", 0.0), "n_valid_final": ("i4", 0),
    "loop_cnt": ("i4", 0), "loop_ss": ("f8", 0.0), "rate_num": ("f8", 0.0), "rate_den": ("f8", 0.0)}


def _new_arrays(ctx: Context, names: Sequence[str], prefix: str = "") -> None:
    """Create the 2-D work arrays ``prefix + name`` with their dtypes (:data:`_ARRAY_DTYPES`)."""
    for name in names:
        ctx.new_array(prefix + name, ctx.stack.shape, *_ARRAY_DTYPES.get(name, ("f4", np.nan)))


def _mark_arrays(ctx: Context, names: Sequence[str], n_pair: int) -> None:
    """Record that the work arrays ``names`` are complete for the first ``n_pair`` pairs."""
    for name in names:
        ctx.work[name].attrs["n_pair"] = int(n_pair)


def _swap_next(ctx: Context, names: Sequence[str]) -> None:
    """Replace each work array ``name`` by ``next_<name>`` (written by an update beside the old one)."""
    root = ctx.out / "work" / "ts.zarr"
    for name in names:
        shutil.rmtree(root / name, ignore_errors=True)
        (root / (_NEXT + name)).rename(root / name)


def _check_every(ny: int, nx: int) -> int:
    """Stride of the pixels the no-loop residual check inverts: every 10th, at most ~100,000 pixels.

    The check compares a fraction of pixels with a threshold (10 % by default); 100,000 samples
    estimate a fraction to +-0.2 %.
    """
    return max(10, (ny * nx) // 100_000)


def _pair_index(st: Stack) -> npt.NDArray[np.intp]:
    lookup = {int(e): i for i, e in enumerate(st.epochs)}
    return np.array([[lookup[int(a)], lookup[int(b)]] for a, b in zip(st.date1, st.date2, strict=True)], np.intp)


def _subnetwork(st: Stack, idx: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Epochs used by the pairs ``idx`` and the pairs re-indexed to those epochs."""
    epochs = np.unique(np.concatenate([st.date1[idx], st.date2[idx]])) if idx.size else np.array([], np.int64)
    return epochs, _pairs_in(st, idx, epochs)


def _pairs_in(st: Stack, idx: npt.NDArray[np.intp], epochs: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    pos = {int(e): i for i, e in enumerate(epochs)}
    return np.array([[pos[int(st.date1[i])], pos[int(st.date2[i])]] for i in idx], np.intp).reshape(-1, 2)


def _ref_offsets(st: Stack, idx: npt.NDArray[np.intp], ref: Sequence[int]) -> npt.NDArray[np.float64]:
    r0, r1, c0, c1 = ref
    w = st.read("unw", slice(r0, r1), slice(c0, c1), idx).reshape(idx.size, -1)
    return np.asarray(loops.reference_offsets(w), np.float64)


def _ref_str(ref: Sequence[int]) -> str:
    r0, r1, c0, c1 = ref
    return f"{c0}:{c1}/{r0}:{r1}"


def _user_ref(ctx: Context, text: str) -> tuple[int, int, int, int]:
    kind, v = parse_ref(text)
    ny, nx = ctx.stack.shape
    if kind == "pixel":
        x1, x2, y1, y2 = (int(a) for a in v)
    else:
        lon1, lon2, lat1, lat2 = v
        g = ctx.stack.grid
        ra, ca = g.rowcol(lon1, lat2)
        rb, cb = g.rowcol(lon2, lat1)
        y1, y2, x1, x2 = ra, rb + 1, ca, cb + 1
    if not (0 <= x1 < x2 <= nx and 0 <= y1 < y2 <= ny):
        raise ConfigError(f"--ref {text}: outside the {nx}x{ny} grid")
    return y1, y2, x1, x2


def _loop_members(L: np.ndarray, idx: npt.NDArray[np.intp]) -> list[list[int]]:
    if L.shape[0] == 0:
        return []
    rows = []
    for r in range(L.shape[0]):
        members = np.flatnonzero(L[r])
        rows.append([int(idx[m]) for m in members])
    return rows
