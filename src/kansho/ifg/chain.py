"""Orchestration of ``kansho ifg``: SLC stack → LiCSAR GEOC folder, resumable per pair.

:func:`run_ifg` opens the stack, chooses the pairs, prepares the multilooked geometry and the
lookup table once (``GEOC/.ifg/geometry.npz``), writes E/N/U/hgt, ``baselines`` and
``metadata.txt``, then runs :func:`process_pair` for every pair not yet done — serially or on a
dask cluster through :func:`kansho.parallel.map_tasks`. A pair that fails is logged and listed
(``GEOC/.ifg/failed_pairs.txt``) and does not stop the others.

With ``troposphere.method: gacos`` the per-date delay maps are read, resampled to the output grid
and turned into slant-delay phase once (``GEOC/.ifg/gacos_phase.npz``, through
:class:`kansho.io.prepare.GacosCorrector`); each pair's geocoded unwrapped phase is then corrected
(:func:`kansho.ifg.troposphere.gacos_correct`) and its phase std before/after is recorded in
``GEOC/.ifg/gacos_stats.txt``. Pairs with a date without a delay file are dropped (listed in
``GEOC/.ifg/gacos_dropped.txt``) or kept uncorrected (``gacos_missing``).

With ``iono.method: split-spectrum`` (or ``auto`` on an L-band stack) each pair's dispersive phase
is estimated from two range sub-bands of its SLCs (:func:`kansho.ifg.iono.split_spectrum_ionosphere`),
subtracted from the unwrapped phase before any other correction, geocoded and written as
``yyyymmdd_yyyymmdd.geo.iono.tif`` (rad of the full-band carrier; the uncorrected phase is
``unw + iono``). With ``iono.keep: auto`` (default) a pair's screen is removed only where its variance
exceeds twice its own estimation noise, and what noise alone would reach with 5 % probability
(:func:`kansho.ifg.iono.screen_helps`); a declined pair is
written uncorrected, without the ``.geo.iono.tif``. Per pair the phase std before and with the
screen removed, the screen's variance, its noise and the decision are in ``GEOC/.ifg/iono_stats.txt``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kansho._constants import SPEED_OF_LIGHT
from kansho._types import Float32Array
from kansho.errors import ConfigError, InputError, KanshoError
from kansho.grid import Grid
from kansho.ifg import export
from kansho.ifg.config import IfgConfig
from kansho.ifg.filter import goldstein_filter
from kansho.ifg.form import multilook, multilooked_interferogram, reference_phase
from kansho.ifg.geocode import Lookup, geocode, los_enu, make_lookup, output_grid
from kansho.ifg.iono import occupied_bandwidth, range_power_spectrum, split_spectrum_ionosphere
from kansho.ifg.network import select_pairs
from kansho.ifg.readers import open_slc_stack
from kansho.ifg.slc import SlcSource, SlcStack, read_slc
from kansho.ifg.troposphere import gacos_correct, height_correlated_phase
from kansho.ifg.unwrap import unwrap_phase
from kansho.io.gacos import find_delay_files
from kansho.parallel import map_tasks

log = logging.getLogger(__name__)

__all__ = ["IfgRun", "PairResult", "PairTask", "process_pair", "run_ifg"]

WORK = ".ifg"
GACOS_PHASE = "gacos_phase.npz"
GACOS_STATS = "gacos_stats.txt"
GACOS_DROPPED = "gacos_dropped.txt"
IONO_STATS = "iono_stats.txt"


@dataclass(frozen=True)
class PairTask:
    """Everything a worker needs for one pair (picklable)."""

    d1: int
    d2: int
    src1: SlcSource
    src2: SlcSource
    bperp: float
    wavelength: float
    flat: bool
    topo: bool
    config: dict[str, Any]
    work: Path
    geoc: Path
    gacos: bool = False  # subtract the GACOS delays of GEOC/.ifg/gacos_phase.npz
    iono: dict[str, float] | None = None  # split-spectrum: f0_hz, sampling_rate_hz, bandwidth_hz, sigma_y/x_px


@dataclass(frozen=True)
class PairResult:
    """Summary of a processed pair: coverage (valid fraction of the footprint), mean coherence,
    the height-correlation coefficient removed (rad/m; 0 when not applied), and the geocoded phase
    std (rad) before/after the GACOS correction (NaN when not applied)."""

    name: str
    coverage: float
    mean_coherence: float
    tropo_k: float = 0.0
    gacos_std_before: float = float("nan")
    gacos_std_after: float = float("nan")
    iono_std_before: float = float("nan")
    iono_std_after: float = float("nan")  # the std the corrected phase has (or would have, if declined)
    iono_screen_var: float = float("nan")
    iono_noise_var: float = float("nan")
    iono_decision: str = ""  # "kept", "declined", "forced" or "" (no estimate)


@dataclass
class IfgRun:
    """Outcome of :func:`run_ifg`: pairs done now, skipped (already complete), failed (name → message)."""

    geoc: Path
    pairs: list[tuple[int, int]]
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    results: dict[str, PairResult] = field(default_factory=dict)
    grid: Grid | None = None
    gacos_dropped: dict[str, str] = field(default_factory=dict)
    gacos_uncorrected: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
def process_pair(task: PairTask) -> PairResult:
    """Form, filter, unwrap, correct, geocode and write one pair; returns its summary."""
    cfg = IfgConfig.model_validate(task.config)
    fc = cfg.form
    geom = np.load(task.work / "geometry.npz")
    s1 = read_slc(task.src1)
    s2 = read_slc(task.src2)
    if s1.shape != s2.shape:
        raise KanshoError(f"{task.src2.path}: SLC shape {s2.shape} differs from {task.src1.path}'s {s1.shape}")
    ref = None
    if task.flat or task.topo:
        ref = reference_phase(task.bperp, task.wavelength, geom["range"], geom["inc"], geom["hgt"],
                              flat=task.flat, topo=task.topo)
    ifg, coh = multilooked_interferogram(s1, s2, fc.azimuth_looks, fc.range_looks, ref)
    if task.iono is None:
        del s1, s2, ref
    filt = ifg
    if cfg.filter.enabled and cfg.filter.alpha > 0:
        filt = goldstein_filter(ifg, cfg.filter.alpha, cfg.filter.window, cfg.filter.step, cfg.filter.smooth)
    uc = cfg.unwrap
    unw, _cc = unwrap_phase(
        filt, coh, nlooks=fc.azimuth_looks * fc.range_looks, min_coherence=uc.min_coherence, cost=uc.cost,
        init=uc.init, tile_size=uc.tile_size, tile_overlap=uc.tile_overlap, nproc=uc.nproc,
        min_conncomp_frac=uc.min_conncomp_frac, keep_unconnected=uc.keep_unconnected,
    )
    iono_ml = None
    i_stats: dict[str, Any] = {}
    if task.iono is not None:  # first: an ionospheric ramp would bias the height fit
        ic, ip = cfg.iono, task.iono
        est = split_spectrum_ionosphere(
            s1, s2, unw, f0_hz=ip["f0_hz"], sampling_rate_hz=ip["sampling_rate_hz"], bandwidth_hz=ip["bandwidth_hz"],
            azimuth_looks=fc.azimuth_looks, range_looks=fc.range_looks, ref_phase=ref, centre_frac=ic.subband_centre,
            width_frac=ic.subband_width, filter_sigma_px=(ip["sigma_y_px"], ip["sigma_x_px"]),
            outlier_nsigma=ic.outlier_nsigma, min_coherence=ic.min_coherence)
        del s1, s2, ref
        if np.isfinite(est.filtered).any():  # the filter fills gaps: a screen is all-finite or all-NaN
            ok = np.isfinite(unw)
            dec = "forced" if ic.keep == "always" else "kept" if est.helps else "declined"
            i_stats = {"iono_std_before": _std(unw, ok), "iono_std_after": _std(unw - est.filtered, ok),
                       "iono_screen_var": est.screen_var, "iono_noise_var": est.noise_var, "iono_decision": dec}
            if dec != "declined":
                iono_ml = est.filtered
                unw = (unw - iono_ml).astype(np.float32)
        else:
            log.warning("pair %s_%s: too few coherent pixels for the split-spectrum; ionosphere not removed",
                        task.d1, task.d2)
    k = 0.0
    if cfg.troposphere.method == "height":
        tro, k = height_correlated_phase(unw, geom["hgt_ml"], coh, min_coherence=cfg.troposphere.min_coherence)
        unw = unw - tro
    lookup = _load_lookup(task.work)
    method = cfg.geocode.method
    unw_g = geocode(unw, lookup, method)
    g_before = g_after = float("nan")
    if task.gacos:  # after unwrapping, on the geocoded phase (LiCSBAS convention)
        with np.load(task.work / GACOS_PHASE) as z:
            unw_g, g_before, g_after = gacos_correct(unw_g, z[f"d{task.d1}"], z[f"d{task.d2}"])
    coh_g = geocode(coh, lookup, method)
    coh_g[~np.isfinite(unw_g) & ~np.isfinite(coh_g)] = np.nan
    if iono_ml is not None:  # before the pair's unw (written last: a pair with its unw is complete)
        export.write_pair_layer(task.geoc, task.d1, task.d2, "iono", geocode(iono_ml, lookup, method), lookup.grid,
                                description="dispersive (ionospheric) phase, split-spectrum", units="rad")
    export.write_pair(task.geoc, task.d1, task.d2, unw_g, coh_g, lookup.grid)
    inside = np.isfinite(lookup.row)
    cov = float(np.isfinite(unw_g[inside]).mean()) if inside.any() else 0.0
    return PairResult(f"{task.d1}_{task.d2}", cov, float(np.nanmean(coh)), k, g_before, g_after, **i_stats)


def _std(a: Float32Array, ok: np.ndarray) -> float:
    return float(np.std(a[ok])) if ok.any() else float("nan")


def _load_lookup(work: Path) -> Lookup:
    z = np.load(work / "lookup.npz")
    grid = Grid(int(z["width"]), int(z["height"]), tuple(float(v) for v in z["transform"]), "EPSG:4326")  # type: ignore[arg-type]
    return Lookup(grid, z["row"], z["col"], (int(z["radar_shape"][0]), int(z["radar_shape"][1])))


def prepare_geometry(stack: SlcStack, cfg: IfgConfig, geoc: Path) -> tuple[Lookup, dict[str, Float32Array]]:
    """Multilooked geometry, output grid and lookup table; saved under ``geoc/.ifg``. Returns the lookup and
    the geocoded static layers (E, N, U, hgt)."""
    work = geoc / WORK
    work.mkdir(parents=True, exist_ok=True)
    fc = cfg.form
    g = stack.geometry
    hgt = g.get("hgt", np.zeros(stack.shape, np.float32))
    ml = {k: multilook(np.asarray(g[k], np.float64), fc.azimuth_looks, fc.range_looks).astype(np.float32)
          for k in ("lat", "lon", "inc")}
    hgt_ml = multilook(np.asarray(hgt, np.float64), fc.azimuth_looks, fc.range_looks).astype(np.float32)
    if min(hgt_ml.shape) < 2:
        raise KanshoError(f"{stack.root}: {stack.shape[1]}x{stack.shape[0]} px is too small for "
                          f"{fc.range_looks}x{fc.azimuth_looks} looks")
    grid = output_grid(ml["lat"], ml["lon"], cfg.geocode.posting_deg, cfg.geocode.posting_lon_deg)
    lookup = make_lookup(ml["lat"], ml["lon"], grid)
    _save_npz(work / "lookup.npz", row=lookup.row, col=lookup.col, width=grid.width, height=grid.height,
              transform=np.array(grid.transform), radar_shape=np.array(lookup.radar_shape))
    _save_npz(work / "geometry.npz", range=g["range"], inc=g["inc"], hgt=hgt, hgt_ml=hgt_ml)
    layers: dict[str, Float32Array] = {"hgt": geocode(hgt_ml, lookup, "linear")}
    inc_g = geocode(ml["inc"], lookup, "linear")
    if stack.heading_deg is not None:
        layers["E"], layers["N"], layers["U"] = los_enu(inc_g, stack.heading_deg)
    else:
        layers["U"] = np.cos(np.radians(inc_g)).astype(np.float32)
        log.warning("%s: heading unknown: only the U component of the LOS is written", stack.root)
    return lookup, layers


def _save_npz(path: Path, **arrays: Any) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def run_ifg(
    stack_dir: str | Path,
    geoc_dir: str | Path,
    cfg: IfgConfig | None = None,
    *,
    client: Any = None,
    progress: bool = True,
    force: bool = False,
) -> IfgRun:
    """Run the whole chain from a coregistered SLC stack folder to a LiCSAR GEOC folder.

    Pairs whose unw and cc files exist are skipped unless ``force``. ``client``: a dask client
    (see :func:`kansho.parallel.cluster`) to process pairs in parallel; ``None`` runs them here.
    Input errors of the stack (shapes, parameter files, metadata) raise before any pair runs;
    errors of single pairs are collected in :attr:`IfgRun.failed`.
    """
    cfg = cfg or IfgConfig()
    stack = open_slc_stack(stack_dir, cfg.format)
    nc = cfg.network
    pairs = select_pairs(stack.dates, stack.bperp, method=nc.method, max_dt_days=nc.max_dt_days,
                         max_bperp_m=nc.max_bperp_m, connect_neighbours=nc.connect_neighbours,
                         min_coherence=nc.min_coherence, sensor=nc.sensor, landcover=nc.landcover)
    geoc = Path(geoc_dir)
    gacos_files: dict[int, Path] = {}
    dropped: dict[str, str] = {}
    uncorrected: list[str] = []
    if cfg.troposphere.method == "gacos":
        pairs, gacos_files, dropped, uncorrected = _gacos_pairs(pairs, cfg)
    geoc.mkdir(parents=True, exist_ok=True)
    lookup, layers = prepare_geometry(stack, cfg, geoc)
    if cfg.troposphere.method == "gacos":
        _gacos_epoch_phase(gacos_files, pairs, uncorrected, lookup.grid, layers["U"], stack.wavelength,
                           geoc / WORK / GACOS_PHASE)
    used = sorted({d for p in pairs for d in p})
    export.write_static(geoc, cfg.frame, lookup.grid, layers, used, stack.bperp, _static_metadata(stack, cfg, layers))

    flat = {"auto": not stack.flat_earth_removed, "remove": True, "keep": False}[cfg.form.flat_earth]
    topo = {"auto": "hgt" in stack.geometry, "remove": True, "keep": False}[cfg.form.topography]
    iono = _iono_params(stack, cfg)
    run = IfgRun(geoc, pairs, grid=lookup.grid, gacos_dropped=dropped, gacos_uncorrected=uncorrected)
    tasks: list[PairTask] = []
    for d1, d2 in pairs:
        name = f"{d1}_{d2}"
        if not force and export.pair_done(geoc, d1, d2):
            run.skipped.append(name)
            continue
        tasks.append(PairTask(d1, d2, stack.sources[d1], stack.sources[d2], stack.bperp[d2] - stack.bperp[d1],
                              stack.wavelength, flat, topo, cfg.model_dump(), geoc / WORK, geoc,
                              gacos=cfg.troposphere.method == "gacos" and name not in uncorrected, iono=iono))
    log.info("%d pairs: %d to process, %d already done (flat earth %s, topography %s)", len(pairs), len(tasks),
             len(run.skipped), "removed" if flat else "kept", "removed" if topo else "kept")
    _run_tasks(tasks, run, client=client, progress=progress)
    if cfg.troposphere.method == "gacos":
        _write_gacos_tables(geoc / WORK, run)
    if iono is not None:
        _write_iono_table(geoc / WORK, run)
    run.done.sort()
    return run


def _iono_params(stack: SlcStack, cfg: IfgConfig) -> dict[str, float] | None:
    """Split-spectrum parameters of the stack (None when off): carrier, range sampling rate, range
    bandwidth (given, else the -10 dB width of the first SLC's spectrum) and the filter's std in
    multilooked pixels (``filter_sigma_m`` over the ground pixel size)."""
    ic = cfg.iono
    on = ic.method == "split-spectrum" or (ic.method == "auto" and stack.wavelength > 0.15)
    if not on:
        return None
    fs = SPEED_OF_LIGHT / (2.0 * stack.range_spacing)
    bw = ic.range_bandwidth_hz
    if bw is None:
        first = stack.read(stack.dates[0])
        bw = occupied_bandwidth(range_power_spectrum(first[:: max(1, first.shape[0] // 1024)]), fs)  # ≤ 2048 lines
        del first
        log.info("ionosphere: range bandwidth %.2f MHz estimated from the spectrum of %d (sampling %.2f MHz); "
                 "set iono.range_bandwidth_hz if known", bw / 1e6, stack.dates[0], fs / 1e6)
    if bw > fs * 1.001:
        raise ConfigError(f"iono.range_bandwidth_hz {bw:g} exceeds the range sampling rate {fs:g} Hz of {stack.root} "
                          f"(range spacing {stack.range_spacing} m)")
    fc = cfg.form
    inc = float(np.nanmean(stack.geometry["inc"]))
    px_x = stack.range_spacing * fc.range_looks / max(math.sin(math.radians(inc)), 0.1)
    px_y = stack.azimuth_spacing * fc.azimuth_looks
    log.info("ionosphere: split-spectrum on (%s), sub-bands +-%.2f MHz of %.2f MHz, filter %.0f m", ic.method,
             ic.subband_centre * bw / 1e6, ic.subband_width * bw / 1e6, ic.filter_sigma_m)
    return {"f0_hz": SPEED_OF_LIGHT / stack.wavelength, "sampling_rate_hz": fs, "bandwidth_hz": float(bw),
            "sigma_y_px": ic.filter_sigma_m / px_y, "sigma_x_px": ic.filter_sigma_m / px_x}


def _write_iono_table(work: Path, run: IfgRun) -> None:
    """``iono_stats.txt``: per pair the unwrapped-phase std (rad) before and with the dispersive screen
    removed, the screen's variance and its estimation noise (rad²) and the decision (rows of earlier
    runs kept for pairs skipped now); the count kept is logged."""
    path = work / IONO_STATS
    rows: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                rows[line.split()[0]] = line
    for name, res in run.results.items():
        rows[name] = (f"{name} {res.iono_std_before:.4f} {res.iono_std_after:.4f} {res.iono_screen_var:.4f} "
                      f"{res.iono_noise_var:.4f} {res.iono_decision or 'no_estimate'}")
    live = {f"{d1}_{d2}" for d1, d2 in run.pairs}
    body = "".join(f"{rows[k]}\n" for k in sorted(rows) if k in live)
    export.write_text_atomic(path, "# pair std_before_rad std_corrected_rad screen_var_rad2 noise_var_rad2 decision "
                                   "(kept where screen_var > 2 noise_var and > its 95 % noise quantile; "
                                   "std_corrected: with the screen removed)\n"
                             + body)
    dec = [r.split()[-1] for k, r in rows.items() if k in live]
    n_rm = sum(d in ("kept", "forced") for d in dec)
    log.info("ionosphere: screen removed from %d of %d pairs (%d declined: no more ionosphere than estimation "
             "noise; listed in %s)", n_rm, len(dec), dec.count("declined"), path)


def _static_metadata(stack: SlcStack, cfg: IfgConfig, layers: dict[str, Float32Array]) -> dict[str, str]:
    """``metadata.txt`` entries (LiCSAR keys) of the stack, the looks and the geocoded height."""
    inc_mean = float(np.nanmean(stack.geometry["inc"]))
    meta = {
        "master": str(stack.dates[0]),
        "wavelength": f"{stack.wavelength:.8f}",
        "radar_frequency": f"{SPEED_OF_LIGHT / stack.wavelength:.6e}",
        "avg_incidence_angle": f"{inc_mean:.4f}",
        "range_resolution": f"{stack.range_spacing:.6f}",
        "azimuth_resolution": f"{stack.azimuth_spacing:.6f}",
        "centre_range_m": f"{float(np.nanmean(stack.geometry['range'])):.4f}",
        "avg_height": f"{float(np.nanmean(layers['hgt'])):.3f}",
        "frame": cfg.frame,
        "processor": "kansho ifg",
        "range_looks": str(cfg.form.range_looks),
        "azimuth_looks": str(cfg.form.azimuth_looks),
    }
    if stack.heading_deg is not None:
        meta["heading"] = f"{stack.heading_deg:.6f}"
    if stack.center_time:
        meta["center_time"] = stack.center_time
    return meta


def _run_tasks(tasks: list[PairTask], run: IfgRun, *, client: Any, progress: bool) -> None:
    """Process the pairs (here or on the dask ``client``), record each outcome in ``run`` and keep
    ``.ifg/failed_pairs.txt`` listing the failures (removed when there are none)."""
    for i, res, err in map_tasks(process_pair, tasks, client=client, desc="interferograms", progress=progress):
        name = f"{tasks[i].d1}_{tasks[i].d2}"
        if err is not None:
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            run.failed[name] = msg
            log.error("pair %s failed: %s", name, msg)
        else:
            run.done.append(name)
            run.results[name] = res
            if res.coverage < 0.3:
                log.warning("pair %s: only %.0f%% of the footprint unwrapped", name, 100 * res.coverage)
    failed_file = run.geoc / WORK / "failed_pairs.txt"
    if run.failed:
        export.write_text_atomic(failed_file, "".join(f"{k}\t{v}\n" for k, v in sorted(run.failed.items())))
    elif failed_file.exists():
        failed_file.unlink()


def _gacos_pairs(
    pairs: list[tuple[int, int]], cfg: IfgConfig
) -> tuple[list[tuple[int, int]], dict[int, Path], dict[str, str], list[str]]:
    """Delay file per date, and the pairs kept: (pairs, files, dropped name → reason, uncorrected names).

    Same rule as ``kansho ts`` (``ingest.gacos_missing``): a pair with a date lacking a delay file
    is dropped, or kept uncorrected with ``gacos_missing: keep``.
    """
    tc = cfg.troposphere
    if not tc.gacos_dir:
        raise ConfigError("troposphere.method 'gacos' needs troposphere.gacos_dir (folder of the GACOS delays)")
    gdir = Path(tc.gacos_dir).expanduser()
    files = find_delay_files(gdir)
    keep: list[tuple[int, int]] = []
    dropped: dict[str, str] = {}
    uncorrected: list[str] = []
    for d1, d2 in pairs:
        missing = [d for d in (d1, d2) if d not in files]
        name = f"{d1}_{d2}"
        if not missing:
            keep.append((d1, d2))
        elif tc.gacos_missing == "drop":
            dropped[name] = f"no GACOS delay for {', '.join(str(d) for d in missing)}"
        else:
            uncorrected.append(name)
            keep.append((d1, d2))
    if dropped:
        log.warning("GACOS: %d pair(s) dropped for a missing delay, e.g. %s (%s)", len(dropped),
                    *next(iter(dropped.items())))
        if not keep:
            raise InputError(gdir, f"no pair left after dropping the {len(dropped)} pair(s) without a GACOS delay "
                                   "(use troposphere.gacos_missing: keep)")
    if uncorrected:
        log.warning("GACOS: %d pair(s) kept uncorrected for a missing delay", len(uncorrected))
    return keep, files, dropped, uncorrected


def _gacos_epoch_phase(
    files: dict[int, Path], pairs: list[tuple[int, int]], uncorrected: list[str], grid: Grid,
    los_u: Float32Array, wavelength: float, path: Path,
) -> None:
    """Per-date slant-delay phase (rad) on the output grid, saved as ``d<yyyymmdd>`` arrays in ``path``."""
    from kansho.io.prepare import GacosCorrector, PrepPlan

    corrected = [(d1, d2) for d1, d2 in pairs if f"{d1}_{d2}" not in uncorrected]
    need = {d for p in corrected for d in p}
    plan = PrepPlan(gacos_files={d: f for d, f in files.items() if d in need})
    d1 = np.array([p[0] for p in corrected], np.int64)
    d2 = np.array([p[1] for p in corrected], np.int64)
    gc = GacosCorrector(plan, grid, wavelength, los_u, d1, d2)
    _save_npz(path, **{f"d{d}": ph for d, ph in gc.phase.items()})
    log.info("GACOS: %s delays of %d dates on the output grid", gc.kind or "no", len(gc.phase))


def _write_gacos_tables(work: Path, run: IfgRun) -> None:
    """``gacos_stats.txt`` (pair, phase std before/after in rad, status; rows of earlier runs are kept
    for pairs skipped now) and ``gacos_dropped.txt`` (pair, reason)."""
    stats = work / GACOS_STATS
    rows: dict[str, str] = {}
    if stats.is_file():
        for line in stats.read_text().splitlines():
            if line and not line.startswith("#"):
                rows[line.split()[0]] = line
    for name, res in run.results.items():
        status = "uncorrected" if name in run.gacos_uncorrected else "corrected"
        rows[name] = f"{name} {res.gacos_std_before:.4f} {res.gacos_std_after:.4f} {status}"
    live = {f"{d1}_{d2}" for d1, d2 in run.pairs}
    body = "".join(f"{rows[k]}\n" for k in sorted(rows) if k in live)
    export.write_text_atomic(stats, "# pair std_before_rad std_after_rad status\n" + body)
    dropped = work / GACOS_DROPPED
    if run.gacos_dropped:
        export.write_text_atomic(dropped, "".join(f"{k}\t{v}\n" for k, v in sorted(run.gacos_dropped.items())))
    elif dropped.exists():
        dropped.unlink()
