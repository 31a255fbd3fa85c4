"""Assemble a simulated frame and write it in the LiCSAR GEOC layout with its truth.

Layout written under ``out_dir`` (DESIGN §4, "Input: LiCSAR GEOC layout")::

    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.unw.tif   float32 rad, 0 = no data (nodata=0)
    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.cc.tif    uint8 coherence × 255 (nodata=0)
    GEOC/<frame>.geo.E.tif | .N.tif | .U.tif                float32 LOS unit vector ground → satellite
    GEOC/<frame>.geo.hgt.tif                                float32 DEM (m)
    GEOC/baselines                                          "master date bperp btemp" per epoch
    GEOC/metadata.txt                                       key=value (master, center_time, heading,
                                                            avg_incidence_angle, wavelength, frame, ...)
    truth.npz                                               :class:`~kansho.synth.Truth`

Interferograms are generated one at a time (and written by a small thread pool), so memory holds
the per-epoch stacks (deformation and atmosphere, float32) plus a few pair-sized arrays.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from kansho._dates import from_ordinal, to_ordinal
from kansho._files import write_text_atomic as _write_text
from kansho._machine import usable_cores
from kansho._types import BoolArray, Float32Array, Float64Array
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.synth import atmosphere as _atm
from kansho.synth import coherence as _coh
from kansho.synth._fields import power_law_field
from kansho.synth.config import SimConfig
from kansho.synth.deformation import Deformation, linear_fit_rate, make_deformation
from kansho.synth.geometry import Geometry, critical_baseline, los_geometry, topo_phase_factor
from kansho.synth.network import Network, design_network, orbit_baselines
from kansho.synth.terrain import FAULT, LANDCOVER_NAMES, Terrain, anchor_km, coords_km, make_terrain
from kansho.synth.truth import Truth
from kansho.synth.unwrap_errors import (
    ErrorPlan,
    chosen_patches,
    error_region,
    local_patches,
    plan_errors,
    plan_paired,
)

log = logging.getLogger(__name__)

# independent random streams: changing one option (say n_unw_errors) leaves the others unchanged
_NETWORK, _ORBIT, _TERRAIN, _DEFO, _ATM, _DEM, _COH, _COND, _ERRPLAN, _OFFSET, _PAIR, _ERR, _META, _LOCAL = range(14)
# streams of options added later (paired errors, chosen small patches): new numbers, so frames
# simulated without them stay byte-identical
_PAIRED, _SMALL, _SMALLPATCH = 14, 15, 16


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _resolve_seed(config: SimConfig, rng: np.random.Generator | int | None) -> int:
    if rng is None:
        return int(config.seed)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, (int, np.integer)) and int(rng) >= 0:
        return int(rng)
    raise TypeError("rng must be a numpy Generator, a non-negative int or None")


def _prepare(out: Path) -> Path:
    geoc = out / "GEOC"
    truth = out / "truth.npz"
    if geoc.exists() and any(geoc.iterdir()):
        if not truth.is_file():
            raise InputError(geoc, "exists and was not written by the simulator; choose another output folder")
        truth.unlink()  # a crash below must not leave a stale truth next to a partial GEOC
        shutil.rmtree(geoc)
    geoc.mkdir(parents=True, exist_ok=True)
    return geoc


def simulate_frame(
    out_dir: str | Path,
    config: SimConfig | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    progress: bool = False,
) -> Truth:
    """Simulate a Sentinel-1 frame, write it in the LiCSAR GEOC layout and return its truth.

    Parameters
    ----------
    out_dir:
        Output folder; receives ``GEOC/`` and ``truth.npz``. A previous simulation there is
        replaced; a ``GEOC`` folder that is not the simulator's raises :class:`InputError`.
    config:
        :class:`SimConfig` (default: the demo frame).
    rng:
        Seed source: ``None`` uses ``config.seed``; an int is the seed; a Generator draws one.
        The same seed and config always give byte-identical products.
    progress:
        Show a progress bar over the interferograms (tqdm, on stderr).

    Unwrapped phase of a pair (rad), on valid pixels::

        −(Δcum + Δatm + ΔB⊥·topo)·4π/(λ·1000) + noise(γ) + 2π·k·region + 2π·n

    with n a random integer in [−2, 2] per pair (SNAPHU's output is only defined up to 2πn;
    ``random_phase_offset=False`` gives n = 0), and small ±2π patches in low-coherence areas
    (``local_unw_errors`` per 100 km² of them; all recorded in the truth). No-data pixels
    (water, layover/shadow, true coherence below ``coh_threshold``) are written as 0.0.
    """
    cfg = config if config is not None else SimConfig()
    seed = _resolve_seed(cfg, rng)
    t_start = time.perf_counter()
    out = Path(out_dir)
    geoc = _prepare(out)
    ny, nx = cfg.shape
    post = cfg.posting_deg
    grid = Grid(nx, ny, (cfg.lon0, post, 0.0, cfg.lat0, 0.0, -post))
    orbits = _epochs_and_orbits(cfg, seed)
    scene = _make_scene(cfg, seed, grid, orbits)
    pairs = _plan_pairs(cfg, seed, orbits)
    _write_static(geoc, cfg, grid, scene.geom, scene.terrain.hgt, orbits.epochs, orbits.bperp, orbits.master,
                  orbits.ordinals[orbits.i_master], seed)
    rec = _write_interferograms(geoc, cfg, seed, grid, orbits, scene, pairs, progress)
    truth = _make_truth(cfg, seed, grid, orbits, scene, pairs, rec)
    truth.save(out / "truth.npz")
    log.info(
        "simulated frame %s: %d epochs, %d pairs, %dx%d px in %.1f s -> %s",
        cfg.frame, len(orbits.epochs), len(orbits.net.pairs), ny, nx, time.perf_counter() - t_start, geoc,
    )
    return truth


@dataclass(frozen=True)
class _Orbits:
    """The acquisition network and the perpendicular baselines (m, relative to the master)."""

    net: Network
    epochs: npt.NDArray[np.int64]
    ordinals: npt.NDArray[np.int64]
    i_master: int
    master: int
    bperp: Float64Array
    index: dict[int, int]  # yyyymmdd -> epoch index


def _epochs_and_orbits(cfg: SimConfig, seed: int) -> _Orbits:
    net = design_network(
        cfg.start_date, cfg.n_epoch, cfg.interval_days, cfg.n_missing, cfg.pairs_per_epoch,
        cfg.n_long_pairs, cfg.n_dropped_pairs, cfg.gap, cfg.gap_days, _stream(seed, _NETWORK), cfg.gap_position,
    )
    ep = net.epochs
    seg0 = np.flatnonzero(net.segment == 0)
    i_master = int(seg0[len(seg0) // 2])
    b_abs = orbit_baselines(len(ep), cfg.bperp_tube_m, _stream(seed, _ORBIT))
    bperp = np.round(b_abs - b_abs[i_master], 4)
    return _Orbits(net, ep, to_ordinal(ep), i_master, int(ep[i_master]), bperp,
                   {int(d): i for i, d in enumerate(ep)})


@dataclass(frozen=True)
class _Scene:
    """Everything fixed over the time series: terrain, geometry, deformation, nuisance terms and
    the coherence model (shapes (ny, nx), or (n_epoch, ny, nx) for ``cum`` and ``atm``, in mm)."""

    x: Float32Array
    y: Float32Array
    pixel_km2: float
    terrain: Terrain
    geom: Geometry
    defo: Deformation
    cum: Float32Array
    vel_fit: Float32Array
    params: _atm.AtmosphereParams
    atm: Float32Array
    dem_err: Float32Array
    topo: Float32Array
    cmodel: _coh.CoherenceModel
    conds: list[_coh.EpochCondition]


def _make_scene(cfg: SimConfig, seed: int, grid: Grid, orbits: _Orbits) -> _Scene:
    ny, nx = cfg.shape
    shape = (ny, nx)
    dx_km, dy_km = grid.pixel_size_km()
    x, y = coords_km(shape, dx_km, dy_km)
    ep, ordn, net = orbits.epochs, orbits.ordinals, orbits.net
    terrain = make_terrain(shape, dx_km, dy_km, cfg.max_elevation, cfg.water_fraction, _stream(seed, _TERRAIN))
    geom = los_geometry(x, y, terrain.hgt, dx_km, dy_km, cfg.orbit, cfg.incidence_center_deg)
    eq_date = 0
    if cfg.earthquake:
        last = np.flatnonzero(net.segment == net.segment.max())
        k = int(last[len(last) // 2])
        eq_date = int(from_ordinal([(ordn[k - 1] + ordn[k]) // 2])[0])
    defo = make_deformation(
        x, y, geom.east, geom.north, geom.up, terrain.size_km,
        terrain.city_km, terrain.volcano_km, terrain.basin_km, anchor_km(FAULT, shape, dx_km, dy_km),
        subsidence_rate=cfg.subsidence_rate, uplift_rate=cfg.uplift_rate, seasonal_amp=cfg.seasonal_amp,
        seasonal_rate=cfg.seasonal_rate, eq_offset=cfg.eq_offset, eq_date=eq_date, rng=_stream(seed, _DEFO),
    )
    cum = defo.cum(ep)
    vel_fit = linear_fit_rate(cum, ep)
    # nuisance terms
    atm_rng = _stream(seed, _ATM)
    params = _atm.draw_params(
        ep, cfg.atm_turb_mm, cfg.atm_strat_seasonal, cfg.atm_strat_std, cfg.ramp_mm_per_100km, atm_rng
    )
    atm = _atm.make_atmosphere(
        params, terrain.hgt, geom.incidence, x, y, dx_km, dy_km, cfg.atm_beta, atm_rng,
        land=~terrain.water, smooth_px=cfg.filter_px,
    )
    if cfg.dem_error_m > 0:
        unit = power_law_field(shape, dx_km, dy_km, 3.0, _stream(seed, _DEM), outer_km=5.0)
        dem_err = (cfg.dem_error_m * unit).astype(np.float32)
    else:
        dem_err = np.zeros(shape, np.float32)
    dem_err[terrain.water] = 0.0
    topo = topo_phase_factor(geom.slant_range, geom.incidence, dem_err)
    # coherence model
    bcrit = critical_baseline(cfg.wavelength, geom.slant_range, geom.local_incidence, cfg.range_bandwidth_hz)
    cmodel = _coh.make_coherence_model(
        terrain.landcover, terrain.hgt, bcrit, geom.local_incidence, _stream(seed, _COH)
    )
    conds = _coh.draw_conditions(ep, cfg.snow, _stream(seed, _COND))
    return _Scene(x, y, dx_km * dy_km, terrain, geom, defo, cum, vel_fit, params, atm, dem_err, topo, cmodel, conds)


@dataclass(frozen=True)
class _PairPlan:
    """Per pair: time span (days), planned unwrapping errors by pair index (with their rank) and
    the whole-cycle phase offset; ``shared`` maps a paired error's second pair to the rank of the
    first (whose region it reuses); ``small`` holds the pairs given chosen small patches."""

    dt_days: Float64Array
    errors: dict[int, tuple[int, ErrorPlan]]
    offsets: npt.NDArray[np.int64]
    shared: dict[int, int] = field(default_factory=dict)
    small: frozenset[int] = frozenset()


def _plan_pairs(cfg: SimConfig, seed: int, orbits: _Orbits) -> _PairPlan:
    ordn, index = orbits.ordinals, orbits.index
    pairs = orbits.net.pairs
    n_pair = len(pairs)
    dt_days = np.array([ordn[index[int(b)]] - ordn[index[int(a)]] for a, b in pairs], dtype=float)
    planned = plan_errors(cfg.n_unw_errors, dt_days, _stream(seed, _ERRPLAN))
    plans = {p.pair_index: (m, p) for m, p in enumerate(planned)}
    shared = _plan_paired_errors(cfg, seed, orbits, plans)
    small: frozenset[int] = frozenset()
    if cfg.small_err_pairs:
        free = np.array([i for i in range(n_pair) if i not in plans], dtype=np.int64)
        n_small = min(cfg.small_err_pairs, free.size)
        small = frozenset(int(v) for v in _stream(seed, _SMALL).choice(free, size=n_small, replace=False))
    if cfg.random_phase_offset:
        offsets = _stream(seed, _OFFSET).integers(-2, 3, n_pair).astype(np.int64)
    else:
        offsets = np.zeros(n_pair, dtype=np.int64)
    return _PairPlan(dt_days, plans, offsets, shared, small)


def _plan_paired_errors(
    cfg: SimConfig, seed: int, orbits: _Orbits, plans: dict[int, tuple[int, ErrorPlan]]
) -> dict[int, int]:
    """Add ``cfg.paired_unw_errors`` sets of two pairs sharing their first epoch and one error
    (same k, same region) to ``plans``; returns second pair -> rank of the first."""
    if not cfg.paired_unw_errors:
        return {}
    index = orbits.index
    pidx = np.array([[index[int(a)], index[int(b)]] for a, b in orbits.net.pairs], dtype=np.int64)
    rng = _stream(seed, _PAIRED)
    shared: dict[int, int] = {}
    for lead, follower in plan_paired(cfg.paired_unw_errors, pidx, set(plans), rng):
        k = int(rng.choice([-1, 1]))
        frac = float(rng.uniform(0.10, 0.25))
        m = len(plans)
        plans[lead] = (m, ErrorPlan(pair_index=lead, k=k, kind="blob", fraction=frac))
        plans[follower] = (m + 1, ErrorPlan(pair_index=follower, k=k, kind="blob", fraction=frac))
        shared[follower] = m
    return shared


@dataclass
class _Record:
    """What the interferogram loop records for the truth."""

    err_masks: BoolArray
    err_pairs: npt.NDArray[np.int64]
    err_k: npt.NDArray[np.int64]
    coverage: Float32Array
    coh_mean: Float32Array
    loc_pair: list[npt.NDArray[np.int64]] = field(default_factory=list)
    loc_pix: list[npt.NDArray[np.int64]] = field(default_factory=list)
    loc_k: list[npt.NDArray[np.int8]] = field(default_factory=list)

    @classmethod
    def empty(cls, n_err: int, n_pair: int, shape: tuple[int, int]) -> _Record:
        return cls(np.zeros((n_err, *shape), dtype=bool), np.zeros((n_err, 2), dtype=np.int64),
                   np.zeros(n_err, dtype=np.int64), np.zeros(n_pair, dtype=np.float32),
                   np.zeros(n_pair, dtype=np.float32))


class _ConditionCache:
    """Per-epoch coherence condition factors, keeping only the few most recent epochs."""

    def __init__(self, scene: _Scene, size: int) -> None:
        self._scene = scene
        self._size = size
        self._cache: OrderedDict[int, Float32Array | None] = OrderedDict()

    def __call__(self, e: int) -> Float32Array | None:
        if e not in self._cache:
            self._cache[e] = _coh.condition_factor(self._scene.cmodel, self._scene.conds[e])
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return self._cache[e]


def _write_interferograms(
    geoc: Path, cfg: SimConfig, seed: int, grid: Grid, orbits: _Orbits, scene: _Scene, plan: _PairPlan,
    progress: bool,
) -> _Record:
    """Simulate every pair in turn and write its unw/cc GeoTIFFs (a small thread pool writes)."""
    pairs = orbits.net.pairs
    ny, nx = cfg.shape
    rec = _Record.empty(len(plan.errors), len(pairs), (ny, nx))
    cond = _ConditionCache(scene, cfg.pairs_per_epoch + 4)
    n_workers = min(4, usable_cores())
    pending: deque[Future[Path]] = deque()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="synth-write") as pool:
        for i, (d1, d2) in enumerate(tqdm(pairs, desc="synth pairs", disable=not progress, leave=False)):
            unw, cc = _simulate_pair(i, int(d1), int(d2), cfg, seed, orbits, scene, plan, cond, rec)
            name = f"{d1}_{d2}"
            pending.append(pool.submit(write_geotiff, geoc / name / f"{name}.geo.unw.tif", unw, grid, nodata=0.0))
            pending.append(pool.submit(write_geotiff, geoc / name / f"{name}.geo.cc.tif", cc, grid, nodata=0))
            while len(pending) > 4 * n_workers:
                pending.popleft().result()
        while pending:
            pending.popleft().result()
    return rec


def _simulate_pair(
    i: int, d1: int, d2: int, cfg: SimConfig, seed: int, orbits: _Orbits, scene: _Scene, plan: _PairPlan,
    cond: _ConditionCache, rec: _Record,
) -> tuple[Float32Array, npt.NDArray[np.uint8]]:
    """Unwrapped phase (rad, float32, 0 = no data) and coherence (uint8 × 255) of pair ``i``;
    records its errors, coverage and mean coherence in ``rec``."""
    bperp, x, y = orbits.bperp, scene.x, scene.y
    mm2rad = np.float32(-4.0 * math.pi / (cfg.wavelength * 1000.0))
    two_pi = np.float32(2.0 * math.pi)
    e1, e2 = orbits.index[d1], orbits.index[d2]
    prng = _stream(seed, _PAIR, d1, d2)
    gamma = _coh.pair_coherence(scene.cmodel, plan.dt_days[i], bperp[e2] - bperp[e1], cond(e1), cond(e2), prng)
    coh_est = _coh.estimate_coherence(gamma, cfg.coh_looks, prng)
    valid = (gamma >= np.float32(cfg.coh_threshold)) & ~scene.cmodel.incoherent
    noise = _coh.phase_noise(gamma, cfg.looks, cfg.filter_px, prng)
    cum, atm = scene.cum, scene.atm
    dmm = (cum[e2] - cum[e1]) + (atm[e2] - atm[e1]) + np.float32(bperp[e2] - bperp[e1]) * scene.topo
    phase = dmm * mm2rad + noise
    if i in plan.errors:
        m, err = plan.errors[i]
        if i in plan.shared:  # the second pair of a paired error: the first pair's region
            region = rec.err_masks[plan.shared[i]] & valid
        else:
            region = error_region(err, valid, x, y, _stream(seed, _ERR, m))
        phase += two_pi * np.float32(err.k) * region
        rec.err_masks[m], rec.err_pairs[m], rec.err_k[m] = region, (d1, d2), err.k
    lrng = _stream(seed, _LOCAL, d1, d2)
    patches = local_patches(gamma, valid, cfg.local_unw_errors, scene.pixel_km2, lrng)
    if i in plan.small:
        patches += chosen_patches(valid, cfg.small_err_patches, _stream(seed, _SMALLPATCH, d1, d2))
    for flat, k in patches:
        phase.ravel()[flat] += two_pi * np.float32(k)
        rec.loc_pair.append(np.full(flat.size, i, dtype=np.int64))
        rec.loc_pix.append(flat)
        rec.loc_k.append(np.full(flat.size, k, dtype=np.int8))
    if plan.offsets[i]:
        phase += two_pi * np.float32(plan.offsets[i])
    phase[valid & (phase == 0)] = np.float32(1e-6)  # 0 means no data in LiCSAR products
    unw = np.where(valid, phase, np.float32(0.0)).astype(np.float32)
    cc = np.round(coh_est * 255.0).astype(np.uint8)
    rec.coverage[i] = float(valid.mean())
    rec.coh_mean[i] = float(cc[valid].mean() / 255.0) if valid.any() else 0.0
    return unw, cc


def _make_truth(
    cfg: SimConfig, seed: int, grid: Grid, orbits: _Orbits, scene: _Scene, plan: _PairPlan, rec: _Record
) -> Truth:
    cum, terrain, defo = scene.cum, scene.terrain, scene.defo
    maxabs = np.zeros(cfg.shape, dtype=np.float32)
    for e in range(len(orbits.epochs)):
        np.maximum(maxabs, np.abs(cum[e]), out=maxabs)
    return Truth(
        frame=cfg.frame,
        seed=seed,
        config=cfg.to_dict(),
        grid=grid,
        wavelength=float(cfg.wavelength),
        epochs=orbits.epochs.astype(np.int64),
        pairs=orbits.net.pairs.astype(np.int64),
        master=orbits.master,
        bperp=orbits.bperp.astype(np.float64),
        gaps=orbits.net.gaps.astype(np.int64),
        cum=cum,
        vel=defo.vel,
        vel_fit=scene.vel_fit,
        seasonal_amp=defo.seasonal_amp,
        seasonal_peak_doy=float(defo.seasonal_peak_doy),
        eq_date=int(defo.eq_date),
        eq_step=defo.eq_step,
        atmosphere=scene.atm,
        strat_coef=scene.params.strat_coef.astype(np.float64),
        hgt=terrain.hgt,
        dem_error=scene.dem_err,
        topo_mm_per_m=scene.topo,
        incidence=np.degrees(scene.geom.incidence).astype(np.float32),
        water=terrain.water,
        landcover=terrain.landcover,
        landcover_names=LANDCOVER_NAMES,
        stable=(maxabs < 1.0) & ~terrain.water,
        unw_error_pairs=rec.err_pairs,
        unw_error_k=rec.err_k,
        unw_error_masks=rec.err_masks,
        phase_offset_cycles=plan.offsets,
        local_err_pair=np.concatenate(rec.loc_pair) if rec.loc_pair else np.zeros(0, np.int64),
        local_err_pixel=np.concatenate(rec.loc_pix) if rec.loc_pix else np.zeros(0, np.int64),
        local_err_k=np.concatenate(rec.loc_k) if rec.loc_k else np.zeros(0, np.int8),
        coverage=rec.coverage,
        coh_mean=rec.coh_mean,
    )


def _write_static(
    geoc: Path,
    cfg: SimConfig,
    grid: Grid,
    geom: Geometry,
    hgt: npt.NDArray[np.float32],
    epochs: npt.NDArray[np.int64],
    bperp: npt.NDArray[np.float64],
    master: int,
    master_ordinal: int,
    seed: int,
) -> None:
    """E/N/U, hgt, ``baselines`` and ``metadata.txt``."""
    f = cfg.frame
    write_geotiff(geoc / f"{f}.geo.E.tif", geom.east, grid, nodata=0.0)
    write_geotiff(geoc / f"{f}.geo.N.tif", geom.north, grid, nodata=0.0)
    write_geotiff(geoc / f"{f}.geo.U.tif", geom.up, grid, nodata=0.0)
    write_geotiff(geoc / f"{f}.geo.hgt.tif", hgt.astype(np.float32), grid, units="m")
    ordn = to_ordinal(epochs)
    lines = [
        f"{master} {int(d)} {float(b):.4f} {int(o - master_ordinal)}"
        for d, b, o in zip(epochs, bperp, ordn, strict=True)
    ]
    _write_text(geoc / "baselines", "\n".join(lines) + "\n")
    r = _stream(seed, _META)
    hour = 20 if cfg.orbit == "D" else 8  # local dawn / dusk passes over Japan, in UTC
    secs = hour * 3600 + 40 * 60 + float(r.uniform(0, 300))
    hh, rem = divmod(secs, 3600)
    mm, ss = divmod(rem, 60)
    meta = {
        "master": str(master),
        "center_time": f"{int(hh):02d}:{int(mm):02d}:{ss:09.6f}",
        "heading": f"{geom.heading:.6f}",
        "avg_incidence_angle": f"{float(np.degrees(geom.incidence).mean()):.4f}",
        "azimuth_resolution": "13.968000",
        "range_resolution": "2.329562",
        "centre_range_m": f"{float(geom.slant_range.mean()):.4f}",
        "avg_height": f"{float(hgt.mean()):.3f}",
        "wavelength": f"{cfg.wavelength:.8f}",
        "frame": f,
    }
    _write_text(geoc / "metadata.txt", "".join(f"{k}={v}\n" for k, v in meta.items()))
