"""``kansho demo``: simulate a frame with known truth (or take the bundled real stack), run the
whole chain, and report the accuracy against the truth."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kansho import _jitcache as jitcache

if TYPE_CHECKING:  # imported where used: a first `kansho demo` starts its background compilation before the
    # chain's modules are imported (~0.5 s), which the child imports for itself
    from kansho.chain.steps.loops import LoopsResult
    from kansho.config import RunConfig
    from kansho.run import Run

log = logging.getLogger(__name__)


@dataclass
class Accuracy:
    """Errors of a run against simulated truth (all on the run's reference area and first epoch).

    ``vel_rmse``/``vel_bias``: velocity error (mm/yr) over the masked-in pixels; ``vel_rmse_all``
    over every solved pixel; ``ts_rmse``: RMS displacement error over masked-in pixels and epochs
    (mm); ``ts_rmse_gap``: the same for the two epochs either side of each network gap;
    ``ts_rmse_filt``/``vel_rmse_filt``: the same for the spatio-temporally filtered series;
    ``coverage``: masked-in fraction of land pixels; ``errors_injected``/``errors_found``/
    ``clean_dropped``: pairs with (region-wide) unwrapping errors injected; of those, found by step
    1-2 -- the pair dropped, or at least 90 % of its error's valid pixels corrected or nulled per
    pixel; and clean pairs dropped by step 1-2.
    """

    vel_rmse: float
    vel_bias: float
    vel_rmse_all: float
    ts_rmse: float
    ts_rmse_gap: float
    ts_rmse_filt: float
    vel_rmse_filt: float
    coverage: float
    n_epoch: int
    n_pair_used: int
    errors_injected: int
    errors_found: int
    clean_dropped: int
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"velocity error  RMS {self.vel_rmse:.2f} mm/yr, bias {self.vel_bias:+.2f} mm/yr (masked-in pixels); "
            f"RMS {self.vel_rmse_all:.2f} mm/yr over all solved pixels\n"
            f"time series     RMS {self.ts_rmse:.2f} mm over {self.n_epoch} epochs; "
            f"{self.ts_rmse_gap:.2f} mm at the epochs beside the network gap\n"
            f"filtered        time series RMS {self.ts_rmse_filt:.2f} mm, velocity RMS {self.vel_rmse_filt:.2f} mm/yr\n"
            f"coverage        {100 * self.coverage:.1f} % of land pixels kept by the mask\n"
            f"unwrap errors   {self.errors_found} of {self.errors_injected} injected pairs found (dropped or "
            f"corrected per pixel); "
            f"{self.clean_dropped} clean pairs dropped; {self.n_pair_used} pairs used"
        )


def compare_with_truth(run: Run, truth: Any) -> Accuracy:
    """Compare a finished run with a :class:`kansho.synth.Truth`.

    Streams the cubes one epoch at a time (memory of a few maps, whatever the frame size). The
    true series is put on the run's first epoch and reference area; the true velocity is its
    least-squares slope, accumulated per epoch as ``sum_e w_e cum_e`` with
    ``w_e = (t_e - mean t) / sum (t - mean t)^2``.
    """
    from kansho._dates import years_since_first
    from kansho.chain.steps.loops import LoopsResult

    lres = run.result("loops")
    assert isinstance(lres, LoopsResult)
    epochs = np.asarray(lres.epochs)
    in_ref = _reference_pixels(run, lres)
    tpos = {int(e): i for i, e in enumerate(truth.epochs)}
    sel = [tpos[int(e)] for e in epochs]
    t = years_since_first(epochs)
    wv = (t - t.mean()) / np.sum((t - t.mean()) ** 2)
    tc0 = np.asarray(truth.cum[sel[0]], np.float64)

    def true_epoch(k: int) -> np.ndarray:
        img = np.asarray(truth.cum[sel[k]], np.float64) - tc0
        return img - np.nanmean(img[in_ref])

    vel = run.read2d("vel")
    keep = (run.read2d("mask") == 1) & np.isfinite(vel)
    solved = np.isfinite(vel)
    land = ~np.asarray(truth.water, bool)
    gap_idx: set[int] = set()
    for a, b in np.asarray(truth.gaps).reshape(-1, 2):
        gap_idx |= {i for i, e in enumerate(epochs) if int(e) in (int(a), int(b))}
    tvel = np.zeros(vel.shape)
    sums = {k: [0.0, 0] for k in ("ts", "gap", "filt")}

    def add(key: str, d: np.ndarray) -> None:
        d = d[np.isfinite(d)]
        sums[key][0] += float(np.sum(d * d))
        sums[key][1] += int(d.size)

    cum, cum_filt = run.array("cum"), run.array("cum_filt")
    for k in range(epochs.size):
        te = true_epoch(k)
        tvel += wv[k] * te
        dts = np.asarray(cum[k], np.float64)[keep] - te[keep]
        add("ts", dts)
        if k in gap_idx:
            add("gap", dts)
        add("filt", np.asarray(cum_filt[k], np.float64)[keep] - te[keep])
    rms = {k: float(np.sqrt(s / n)) if n else float("nan") for k, (s, n) in sums.items()}
    dv = vel - tvel
    stack = run.stack
    names = stack.pair_names()
    injected = {f"{a}_{b}" for a, b in np.asarray(truth.unw_error_pairs).reshape(-1, 2)}
    dropped = {names[i] for i in lres.bad + lres.bad_noloop}
    return Accuracy(
        vel_rmse=_rms(dv[keep]),
        vel_bias=float(np.mean(dv[keep])) if keep.any() else float("nan"),
        vel_rmse_all=_rms(dv[solved]),
        ts_rmse=rms["ts"],
        ts_rmse_gap=rms["gap"],
        ts_rmse_filt=rms["filt"],
        vel_rmse_filt=_rms((run.read2d("vel_filt") - tvel)[keep]),
        coverage=float(keep[land].mean()) if land.any() else 0.0,
        n_epoch=int(epochs.size),
        n_pair_used=len(lres.pairs),
        errors_injected=len(injected),
        errors_found=len(injected & dropped) + _errors_fixed(run, truth, dropped),
        clean_dropped=len(dropped - injected),
    )


def _reference_pixels(run: Run, lres: LoopsResult) -> np.ndarray:
    """(ny, nx) bool: the run's reference pixels (its ``refmask``; the box ``ref`` for a run written
    before the reference set existed)."""
    from kansho.errors import InputError

    try:
        return np.asarray(run.read2d("refmask")) == 1
    except InputError:
        r0, r1, c0, c1 = lres.ref
        box = np.zeros(run.stack.shape, bool)
        box[r0:r1, c0:c1] = True
        return box


def _errors_fixed(run: Run, truth: Any, dropped: set[str]) -> int:
    """Injected region errors of pairs kept by step 1-2 that its per-pixel correction handled: at
    >= 90 % of the error's valid pixels the cycle fix cancels it (-k) or nulls the pixel."""
    from kansho.chain.steps.loop_tasks import FIX_ARRAY
    from kansho.loops import NULL_FIX

    if FIX_ARRAY not in run.work:
        return 0
    import zarr

    names = run.stack.pair_names()
    fix_arr = run.work[FIX_ARRAY]
    assert isinstance(fix_arr, zarr.Array)
    n = 0
    for (a, b), k, where in zip(np.asarray(truth.unw_error_pairs).reshape(-1, 2), truth.unw_error_k,
                                truth.unw_error_masks, strict=True):
        name = f"{a}_{b}"
        if name in dropped or name not in names:
            continue
        i = names.index(name)
        valid = np.isfinite(run.stack.read("unw", slice(None), slice(None), np.array([i]))[0])
        fix = np.asarray(fix_arr[i])[where & valid]
        n += int(fix.size > 0 and ((fix == -k) | (fix == NULL_FIX)).mean() >= 0.9)
    return n


def _rms(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.sqrt(np.mean(a * a))) if a.size else float("nan")


def bundled_real_stack() -> Path:
    """Folder of the bundled real Sentinel-1 Mexico City GeoTIFF pairs (Apache-2.0)."""
    return Path(str(resources.files("kansho") / "data" / "mexico_city_s1"))


def real_config() -> RunConfig:
    """Options for the bundled real stack: it spans 0.53 yr, so maxTlen >= 1 yr would mask it all."""
    from kansho.config import RunConfig

    cfg = RunConfig()
    cfg.mask.maxTlen = 0.4
    return cfg


def demo_sim_config(size: int = 200, n_epoch: int = 40) -> Any:
    """The demo frame: 24-day cadence (~2.6 yr for 40 epochs) so both sides of its network gap
    span more than the 1-yr ``maxTlen`` mask threshold."""
    from kansho.synth import SimConfig

    return SimConfig(shape=(size, size), n_epoch=n_epoch, interval_days=24)


DEMO_DIR = "kansho_demo"
"""Default folder of the simulated demo (``kansho demo``)."""
REAL_DEMO_DIR = "kansho_demo_real"
"""Default folder of the real-data demo (``kansho demo --real``): its own, so the two never mix."""


def demo_folder(out: str | Path | None, real: bool) -> Path:
    """The folder a demo writes into: ``out``, or :data:`DEMO_DIR` / :data:`REAL_DEMO_DIR`.

    Refuses (:class:`~kansho.errors.ConfigError`) a folder that holds the other demo's outputs: the
    simulated demo writes ``sim/``, ``ts/`` and ``ts_licsbas/`` into it, the real one a run at its top."""
    from kansho.errors import ConfigError

    folder = Path(out) if out is not None else Path(REAL_DEMO_DIR if real else DEMO_DIR)
    other = (folder / "sim").is_dir() or (folder / "ts").is_dir() if real else (folder / "results").is_dir()
    if other:
        kind = "the simulated demo's (sim/, ts/)" if real else "a run (results/), e.g. the real demo's"
        raise ConfigError(f"{folder} holds {kind} outputs; give the {'real' if real else 'simulated'} demo "
                          f"another folder (its default is {REAL_DEMO_DIR if real else DEMO_DIR}/)")
    return folder


def run_demo(out: str | Path | None = None, *, real: bool = False, seed: int = 1, size: int = 200,
             n_epoch: int = 40, progress: bool = True, gain: bool = True) -> dict[str, Any]:
    """Run the demo into ``out`` (default :data:`DEMO_DIR`, with ``real`` :data:`REAL_DEMO_DIR`) and print
    its summary; returns the figures as a dict.

    Simulated demo with ``gain``: then runs the same frame with ``--preset licsbas`` (LiCSBAS's
    choices) into ``out/ts_licsbas`` and prints Kansho's errors beside that run's (the figures of
    that run under the key ``"licsbas_preset"``).
    """
    out = demo_folder(out, real)
    log.info("demo: writing into %s", out.resolve())
    t0 = time.perf_counter()
    # a fresh install: the kernels compile in the background while the frame is made
    from kansho.inversion import use_compiled

    jitcache.prepare(large=not real and use_compiled(size * size))  # the bundled real stack: 60 x 100 px
    from kansho.chain.runner import run_timeseries
    from kansho.chain.steps.loops import LoopsResult
    from kansho.config import RunConfig, load_config

    if real:
        src = bundled_real_stack()
        log.info("demo: real Sentinel-1 Mexico City stack (%s); mask maxTlen threshold 0.4 yr for this "
                 "0.53-yr stack", src)
        run = run_timeseries(src, out, real_config(), progress=progress)
        vel = run.read2d("vel")
        keep = run.read2d("mask") == 1
        lres = run.result("loops")
        assert isinstance(lres, LoopsResult)
        rms = np.asarray([r for r in lres.loop_rms if r >= 0])
        figures = {
            "seconds": time.perf_counter() - t0,
            "vel_p01": float(np.nanpercentile(vel, 1)), "vel_p99": float(np.nanpercentile(vel, 99)),
            "kept_fraction": float(keep.sum() / max(np.isfinite(vel).sum(), 1)),
            "loop_rms_median": float(np.median(rms)) if rms.size else float("nan"),
            "pairs_used": len(lres.pairs), "epochs": len(lres.epochs),
        }
        _say(f"Kansho demo (real Sentinel-1, Mexico City): run written into {out}/\n"
              f"{figures['epochs']} epochs, {figures['pairs_used']} pairs used; "
              f"median loop-phase RMS {figures['loop_rms_median']:.2f} rad\n"
              f"LOS velocity 1st-99th percentile {figures['vel_p01']:.0f} .. {figures['vel_p99']:.0f} mm/yr "
              f"(negative = away from the satellite: the city's subsidence)\n"
              f"{100 * figures['kept_fraction']:.0f} % of solved pixels kept by the mask\n"
              f"report: {out / 'report.html'}  ({figures['seconds']:.1f} s)")
        return figures
    from kansho.synth import simulate_frame

    sim_dir = out / "sim"
    log.info("demo: simulating a %dx%d px frame with %d epochs (seed %d)", size, size, n_epoch, seed)
    truth = simulate_frame(sim_dir, demo_sim_config(size, n_epoch), rng=seed)
    run = run_timeseries(sim_dir / "GEOC", out / "ts", RunConfig(), progress=progress)
    acc = compare_with_truth(run, truth)
    acc.seconds = time.perf_counter() - t0
    _say(f"Kansho demo (simulated {size}x{size} px frame, {n_epoch} epochs, seed {seed}): frame written into "
         f"{sim_dir}/, run into {out / 'ts'}/\n"
         f"{acc.summary()}\nreport: {out / 'ts' / 'report.html'}  ({acc.seconds:.1f} s)")
    result: dict[str, Any] = asdict(acc)
    if gain:
        t1 = time.perf_counter()
        log.info("demo: the same frame with --preset licsbas, for comparison")
        lb = run_timeseries(sim_dir / "GEOC", out / "ts_licsbas", load_config(None, {"preset": "licsbas"}),
                            progress=progress)
        acc_lb = compare_with_truth(lb, truth)
        acc_lb.seconds = time.perf_counter() - t1
        _say(gain_table(acc, acc_lb, out / "ts_licsbas"))
        result["licsbas_preset"] = asdict(acc_lb)
    return result


def _say(text: str) -> None:
    """The demo's summary on stdout (the command's output; the log goes to stderr)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def gain_table(kansho: Accuracy, licsbas: Accuracy, where: Path | str) -> str:
    """Kansho's errors beside those of the same chain with ``--preset licsbas``, and their ratio
    (Kansho / preset: below 1 is a gain; for coverage above 1 is)."""
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if np.isfinite(a) and np.isfinite(b) and b != 0 else "-"

    rows = [("velocity RMS (mm/yr)", kansho.vel_rmse, licsbas.vel_rmse),
            ("time series RMS (mm)", kansho.ts_rmse, licsbas.ts_rmse),
            ("filtered series RMS (mm)", kansho.ts_rmse_filt, licsbas.ts_rmse_filt),
            ("land kept by the mask (%)", 100 * kansho.coverage, 100 * licsbas.coverage)]
    lines = [f"gain over the same chain with --preset licsbas (LiCSBAS's choices; {where}):",
             f"  {'':28s}{'Kansho':>10s}{'LiCSBAS preset':>16s}{'ratio':>8s}"]
    lines += [f"  {name:28s}{a:10.2f}{b:16.2f}{ratio(a, b):>8s}" for name, a, b in rows]
    found = (f"{kansho.errors_found} of {kansho.errors_injected}",
             f"{licsbas.errors_found} of {licsbas.errors_injected}")
    lines.append(f"  {'unwrap errors found':28s}{found[0]:>10s}{found[1]:>16s}"
                 f"{ratio(kansho.errors_found, licsbas.errors_found):>8s}")
    return "\n".join(lines)
