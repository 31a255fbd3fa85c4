"""Benchmark the whole time-series chain on simulated S / M / L frames; writes docs/benchmarks.md.

    python benchmarks/bench_chain.py --sizes S,M            # serial and --workers 2 (default)
    python benchmarks/bench_chain.py --sizes L --workers 2  # the full frame (~20 GB of input)
    python benchmarks/bench_chain.py --scaling              # time and memory against pixels and pairs
    python benchmarks/bench_chain.py --write-only           # rebuild docs/benchmarks.md from the results
    python benchmarks/bench_chain.py --sizes M --workers 0 --floors   # each step beside its floor (twice, least)

Each frame is simulated once with :mod:`kansho.synth` and cached under ``benchmarks/_cache``. Every
step runs in a fresh child process (``benchmarks/_step.py``), which reports its wall time, CPU time
(its own and its reaped children's) and peak memory (sum of the resident sets of the process and
all its descendants, dask workers included, sampled every 0.1 s). Accuracy against the truth is
computed afterwards in this process. Figures accumulate in ``benchmarks/results.json`` (one entry
per frame and worker count, the latest run wins) so the page can be rebuilt from runs made at
different times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from device_report import device_md
from kansho.chain.registry import STEPS as _SPECS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / "_cache"
RESULTS = HERE / "results.json"
STEPS = tuple(s.name for s in _SPECS)
SIZES: dict[str, dict[str, Any]] = {
    "S": {"shape": (200, 200), "n_epoch": 40, "interval_days": 12, "pairs_per_epoch": 4},
    "M": {"shape": (1000, 1000), "n_epoch": 60, "interval_days": 12, "pairs_per_epoch": 4},
    "L": {"shape": (2500, 2500), "n_epoch": 150, "interval_days": 12, "pairs_per_epoch": 3},
}
#: LiCSBAS 1.x with 2 processes on a 2-core machine like this one (S: issue 3; M: issue 21's measurement)
LICSBAS = {"S": {"wall_s": 110.0, "peak_mb": None}, "M": {"wall_s": 963.0, "peak_mb": 9100.0}}
#: frames of the scaling curves: (name, shape, n_epoch)
SCALING = [*((f"px{n}", (n, n), 40) for n in (128, 256, 512, 768)),
           *((f"ep{e}", (256, 256), e) for e in (20, 60, 100))]
log = logging.getLogger("bench")


def simulate(name: str, cfg: dict[str, Any]) -> tuple[Path, float]:
    from kansho.synth import SimConfig, simulate_frame

    d = CACHE / name
    if (d / "truth.npz").exists():
        return d, float("nan")
    if d.exists():
        shutil.rmtree(d)
    t0 = time.perf_counter()
    simulate_frame(d, SimConfig(**cfg), rng=1, progress=True)
    return d, time.perf_counter() - t0


def run_steps(sim: Path, out: Path, workers: int, memory_limit: str | None, per_step: bool = True,
              tree: Path = ROOT, gpu: bool = False, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the chain step by step in child processes; returns per-step figures and totals.

    ``tree``: the source tree whose kansho runs (another release checked out beside this one), ahead of
    any PYTHONPATH already set. ``gpu``: ``kansho ts --gpu``. ``env``: variables set for the child
    processes (e.g. ``NUMBA_NUM_THREADS``)."""
    if out.exists():
        shutil.rmtree(out)
    steps: dict[str, dict[str, float]] = {}
    env = {**child_environ(tree), **(env or {})}
    for step in (STEPS if per_step else ("all",)):
        cmd = [sys.executable, str(tree / "benchmarks" / "_step.py"), str(sim / "GEOC"), str(out), step,
               "--workers", str(workers)]
        if memory_limit:
            cmd += ["--memory-limit", memory_limit]
        if gpu:
            cmd += ["--gpu"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
        if proc.returncode != 0:  # the child's own last line (kansho's one-line error), not only its exit status
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SystemExit(f"step {step} of {sim.name} failed (exit {proc.returncode}): {last}")
        fig = json.loads(proc.stdout.strip().splitlines()[-1])
        fig["process_s"] = time.perf_counter() - t0
        steps[step] = fig
        log.info("  %-8s %7.1f s wall, %7.1f s CPU, %6.0f MB peak", step, fig["step_s"], fig["cpu_s"], fig["peak_mb"])
    if not per_step:
        timings = steps["all"]["timings"]
        return {"wall_s": steps["all"]["wall_s"], "cpu_s": steps["all"]["cpu_s"],
                "peak_mb": steps["all"]["peak_mb"], "steps": {k: {"step_s": v} for k, v in timings.items()}}
    return step_totals(steps)


def step_totals(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A per-step run's figures from its steps': the sums of their times, the largest of their peaks."""
    return {"wall_s": sum(s["step_s"] for s in steps.values()), "cpu_s": sum(s["cpu_s"] for s in steps.values()),
            "peak_mb": max(s["peak_mb"] for s in steps.values()), "steps": steps}


def accuracy(sim: Path, out: Path) -> dict[str, float]:
    """The run's errors against the simulated truth (:func:`kansho.demo.compare_with_truth`), read from
    its folder (which another release may have written)."""
    from kansho.demo import compare_with_truth
    from kansho.run import open_run
    from kansho.synth import load_truth

    acc = compare_with_truth(open_run(out), load_truth(sim / "truth.npz"))
    return {"vel_rmse": acc.vel_rmse, "vel_rmse_all": acc.vel_rmse_all, "ts_rmse": acc.ts_rmse,
            "coverage": acc.coverage}


def load_results() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"chain": {}, "scaling": {}}


def save_results(res: dict[str, Any]) -> None:
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1, default=float))
    tmp.replace(RESULTS)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cpu_model": cpu_model(), "cores": os.cpu_count(), "mem_gb": round(mem_gb),
            "python": platform.python_version(), "date": dt.date.today().isoformat(), "load1": os.getloadavg()[0]}


def cpu_model() -> str:
    """The CPU model LLVM (so numba) sees, e.g. ``znver4``: a virtual machine's /proc/cpuinfo may say only
    "AMD EPYC" for CPUs of different generations and speeds."""
    try:
        import llvmlite.binding as llvm

        return str(llvm.get_host_cpu_name())
    except Exception:  # noqa: BLE001 - llvmlite comes with numba; without it the model is unknown
        return "unknown"


def where(m: dict[str, Any]) -> str:
    """A row's date, CPU model and load (rows written before the model was recorded have none)."""
    model = f", {m['cpu_model']}" if m.get("cpu_model") else ", model not recorded"
    return f"{m['date']}{model} (load {m.get('load1', 0):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="", help="comma-separated subset of " + ",".join(SIZES))
    ap.add_argument("--workers", default="0,2", help="comma-separated worker counts to run each size with")
    ap.add_argument("--memory-limit", default=None, help="memory limit given to the runs (default: kansho's)")
    ap.add_argument("--one-process-only", action="store_true",
                    help="skip the per-step child processes: one `kansho ts` process (its own step timings)")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also run the release at git revision REV on the same frames, side by side")
    ap.add_argument("--floors", action="store_true", help="measure each step's floor on the frames run")
    ap.add_argument("--repeat", type=int, default=2,
                    help="with --floors: per-step runs and floor measurements alternated this many times, each "
                         "step and each floor the least of them (default 2)")
    ap.add_argument("--scaling", action="store_true", help="measure the time/memory curves against size")
    ap.add_argument("--write-only", action="store_true", help="only rebuild docs/benchmarks.md")
    ap.add_argument("--refresh-accuracy", action="store_true", help="recompute the accuracy of the cached runs")
    ap.add_argument("--prune", action="store_true",
                    help="delete each run's stores once it is measured (stack.zarr, the work arrays, cum_filt.h5), "
                         "keeping what the comparisons read: a full frame's run takes ~30 GB")
    ap.add_argument("--first-run", action="store_true",
                    help="time `kansho demo --no-gain` on an empty numba cache (a fresh install) and on a warm one")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res = load_results()
    if args.refresh_accuracy:
        for key, fig in res["chain"].items():
            name, w = key.split("/")
            out = CACHE / f"{name}_run_{w}"
            if out.is_dir():
                fig.update(accuracy(CACHE / name, out))
        save_results(res)
    if args.floors and not args.sizes:  # the floors alone, on the cached frames' serial runs
        for name in SIZES:
            if (CACHE / f"{name}_run_w0" / "work").is_dir():
                measure_floors(res, name, CACHE / f"{name}_run_w0")
    if not args.write_only:
        base = release_tree(args.baseline) if args.baseline else None
        if args.sizes or args.scaling:
            warm_tree(ROOT, "this tree")
        for name in filter(None, args.sizes.split(",")):
            for w in (int(x) for x in args.workers.split(",")):
                run_frame(res, name, w, args, base)
        if args.scaling:
            run_scaling(res, args.memory_limit)
        if args.first_run:
            run_first(res, base)
    write_md(res)


def child_environ(tree: Path) -> dict[str, str]:
    """This process's environment for the timed Kansho processes of the source ``tree``: its ``src`` ahead of
    any PYTHONPATH already set, and less ``PYTHONDONTWRITEBYTECODE``: an installed package has its modules'
    bytecode (pip compiles it at install; an editable install writes it on first import), but the benchmark
    machine's environment sets that variable, so each process compiled Kansho's ~130 modules from source
    again (~0.35 s a process start on `emeraldrapids`). Less ``NUMBA_OPT`` too where this tree's
    ``import kansho`` set it rather than the user: a release runs at its own level (this tree's process sets it
    again)."""
    import kansho

    drop = {"PYTHONDONTWRITEBYTECODE", *(("NUMBA_OPT",) if kansho.NUMBA_OPT_SET else ())}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree / "src"), os.environ.get("PYTHONPATH")]))
    return env


#: fresh installs timed by --first-run (each on its own empty numba cache): the median is reported
FIRST_RUNS = 5


def _demo_seconds(tree: Path, cache: Path, fresh: bool) -> float:
    """Wall time of ``kansho demo --no-gain`` of the source ``tree`` in a fresh process, its numba cache in
    ``cache`` (emptied first when ``fresh``)."""
    import tempfile

    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="kansho-first-") as tmp:
        env = {**child_environ(tree), "NUMBA_CACHE_DIR": str(cache)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kansho.cli", "demo", str(Path(tmp) / "demo"), "--no-gain", "-q"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def run_first(res: dict[str, Any], base: tuple[str, Path] | None = None) -> None:
    """``kansho demo --no-gain`` (simulate, run the chain, print the errors: the first result) in a fresh
    process on an empty numba cache, :data:`FIRST_RUNS` times, then once more on the last cache it filled;
    with a ``base`` release, its demo the same way, each of its runs just before this tree's."""
    import tempfile

    caches = {w: Path(tempfile.gettempdir()) / f"kansho-first-numba-{w}" for w in ("this", "base")}
    out: dict[str, Any] = {"machine": machine(), "rev": git_rev(ROOT), "fresh_runs_s": []}
    if base is not None:
        out.update(base_rev=base[0], base_fresh_runs_s=[])
    for i in range(FIRST_RUNS + 1):
        fresh = i < FIRST_RUNS
        if base is not None:
            sec = _demo_seconds(base[1], caches["base"], fresh)
            if fresh:
                out["base_fresh_runs_s"].append(sec)
            else:
                out["base_warm_s"] = sec
            log.info("first run: release %s kansho demo --no-gain %s: %.1f s", base[0], "fresh" if fresh else "warm",
                     sec)
        sec = _demo_seconds(ROOT, caches["this"], fresh)
        if fresh:
            out["fresh_runs_s"].append(sec)
        else:
            out["warm_s"] = sec
        log.info("first run: kansho demo --no-gain %s: %.1f s", "fresh" if fresh else "warm", sec)
    for c in caches.values():
        shutil.rmtree(c, ignore_errors=True)
    out["fresh_s"] = float(np.median(out["fresh_runs_s"]))
    if base is not None:
        out["base_fresh_s"] = float(np.median(out["base_fresh_runs_s"]))
    res["first_run"] = out
    save_results(res)


def _first_md(res: dict[str, Any]) -> list[str]:
    r = res.get("first_run")
    if not r:
        return []
    m = r["machine"]
    runs = r.get("fresh_runs_s", [])
    spread = (f"the median of {len(runs)} fresh installs, {min(runs):.1f} to {max(runs):.1f} s" if len(runs) > 1
              else "one fresh install")
    return ["## First run after an install", "",
            f"`kansho demo --no-gain` (simulate a 200 × 200 px frame, run the chain, print its errors) in a fresh "
            f"process, measured by `bench_chain.py --first-run` at `{r['rev']}` on {where(m)}: "
            f"**{r['fresh_s']:.1f} s** on an empty numba cache (a fresh install: the "
            f"kernels are compiled, those of steps 1-3 to 1-6 in a child process meanwhile; {spread}), "
            f"{r['warm_s']:.1f} s once they are cached. Goal of issue 21: 20 s on a fresh install.", "",
            *([f"The release `{r['base_rev']}` in the same run, each of its demos just before this tree's: "
               f"**{r['base_fresh_s']:.1f} s** fresh (the median of {len(r['base_fresh_runs_s'])}, "
               f"{min(r['base_fresh_runs_s']):.1f} to {max(r['base_fresh_runs_s']):.1f} s), "
               f"{r['base_warm_s']:.1f} s warm.", ""] if r.get("base_fresh_runs_s") else [])]


def run_frame(res: dict[str, Any], name: str, w: int, args: argparse.Namespace,
              base: tuple[str, Path] | None) -> None:
    """Run frame ``name`` with ``w`` workers (and the baseline release beside it); record the figures."""
    sim, sim_s = simulate(name, SIZES[name])
    log.info("%s with %d worker(s):", name, w)
    out = CACHE / f"{name}_run_w{w}"
    if base is not None:  # the release first, then this tree, back to back on the same machine
        rev, tree = base
        bout = CACHE / f"{name}_run_w{w}@{rev}"
        bfig = run_steps(sim, bout, w, args.memory_limit, per_step=False, tree=tree)
        bfig.update(workers=w, machine=machine(), rev=rev, **accuracy(sim, bout))
        res.setdefault("baseline", {})[f"{name}/w{w}"] = bfig
        log.info("%s w%d release %s: %.1f s wall, %.0f MB peak", name, w, rev, bfig["wall_s"], bfig["peak_mb"])
        if args.prune:
            prune_run(bout)
    if args.one_process_only:
        fig = run_steps(sim, out, w, args.memory_limit, per_step=False)
        fig["one_process_s"] = fig["wall_s"]
    else:
        # with the floors, the per-step runs and the floors' measurements alternate --repeat times and each step
        # and each floor keeps its least: this VM's speed moves by ~20 % within minutes, which a step measured in
        # a slow minute against floors measured in a quick one (or the reverse) turned into its ratio
        repeats = max(1, args.repeat) if args.floors else 1
        # `kansho ts` as a user runs it: one process, one cluster (the least of as many runs as the steps have),
        # first: just after the release's run where there is one
        one_s = min(run_steps(sim, CACHE / f"{name}_one_w{w}", w, args.memory_limit, per_step=False)["wall_s"]
                    for _ in range(repeats))
        shutil.rmtree(CACHE / f"{name}_one_w{w}", ignore_errors=True)
        fig, prim = run_steps(sim, out, w, args.memory_limit), None
        for r in range(repeats):
            if r:
                fig = least_steps(fig, run_steps(sim, out, w, args.memory_limit))
            if args.floors:
                prim = measure_floors(res, name, out, prim, repeats)
        fig["repeats"], fig["one_process_s"] = repeats, one_s
    st = json.loads((out / "work" / "state.json").read_text())["ingest"]["result"]
    fig.update(shape=st["shape"], n_epoch=st["n_epoch"], n_pair=st["n_pair"], workers=w,
               machine=machine(), rev=git_rev(ROOT), **accuracy(sim, out))
    if base is not None:
        fig["vs_baseline"] = compare_runs(CACHE / f"{name}_run_w{w}@{base[0]}", out)
        # this tree's figures of the run beside the release, kept with it: a later run of this tree alone
        # (another hour, another speed) must not be set beside the release's
        res["baseline"][f"{name}/w{w}"]["this"] = {k: fig[k] for k in PAIRED}
    if not math.isnan(sim_s):
        fig["simulate_s"] = sim_s
    if args.floors and args.one_process_only:
        measure_floors(res, name, out)
    res["chain"][f"{name}/w{w}"] = fig
    save_results(res)
    log.info("%s w%d: %.1f s wall, %.0f MB peak, vel RMSE %.2f mm/yr", name, w, fig["wall_s"],
             fig["peak_mb"], fig["vel_rmse"])
    if args.floors:
        log_floors(fig, res["floors"][name]["steps"])
    if args.prune:
        prune_run(out)


def prune_run(out: Path) -> None:
    """Delete a measured run's bulky stores (its stack, work arrays and filtered cube), keeping the
    products :func:`compare_runs` and :func:`accuracy` read (``results/``, ``cum.h5``, the state)."""
    for p in (out / "stack.zarr", out / "work" / "ts.zarr", out / "cum_filt.h5"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def measure_floors(res: dict[str, Any], name: str, out: Path, least: dict[str, float] | None = None,
                   repeats: int = 1) -> dict[str, float]:
    """Measure the floors of frame ``name`` on its finished run ``out`` and record them; with ``least`` (the
    primitives of this benchmark's earlier measurements) each primitive is the least of the two. Returns the
    primitives recorded."""
    import bench_floors

    prim = bench_floors.measure(CACHE / name, out)
    if least:
        prim = {k: min(v, least.get(k, v)) for k, v in prim.items()}
    res.setdefault("floors", {})[name] = {"primitives": prim, "steps": bench_floors.step_floors(prim),
                                          "machine": machine(), "repeats": repeats}
    save_results(res)
    log.info("%s floors: %s", name, {k: round(v, 1) for k, v in bench_floors.step_floors(prim).items()})
    return prim


def log_floors(fig: dict[str, Any], floors: dict[str, float]) -> None:
    """Each step's time beside its floor and their ratio, on the console (``docs/benchmarks.md`` has the table)."""
    log.info("  %-8s %8s %8s %8s", "step", "time (s)", "floor", "× floor")
    for step, f in fig["steps"].items():
        t, fl = f["step_s"], floors.get(step, float("nan"))
        log.info("  %-8s %8.2f %8.2f %8s", step, t, fl, f"{t / fl:.1f}×" if fl > 0 else "–")
        if f.get("passes"):
            log.info("           passes: %s", _passes_text(f["passes"]))


def least_steps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two per-step runs of :func:`run_steps` as one: each step's figures from the run where it took least."""
    return step_totals({k: min(a["steps"][k], b["steps"][k], key=lambda f: f["step_s"]) for k in a["steps"]})


def run_scaling(res: dict[str, Any], memory_limit: str | None) -> None:
    for name, shape, ne in SCALING:
        sim, _ = simulate(name, {"shape": shape, "n_epoch": ne, "interval_days": 12, "pairs_per_epoch": 4})
        out = CACHE / f"{name}_run"
        fig = run_steps(sim, out, 0, memory_limit, per_step=False)
        st = json.loads((out / "work" / "state.json").read_text())["ingest"]["result"]
        fig.update(shape=st["shape"], n_epoch=st["n_epoch"], n_pair=st["n_pair"])
        res["scaling"][name] = fig
        save_results(res)
        log.info("%s: %s px, %d pairs: %.1f s, %.0f MB", name, shape, st["n_pair"], fig["wall_s"], fig["peak_mb"])
        shutil.rmtree(out, ignore_errors=True)


def git_rev(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def release_tree(rev: str) -> tuple[str, Path]:
    """A checkout of ``rev`` under the cache (a git worktree), its kernels compiled (:func:`warm_tree`)."""
    short = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True,
                           capture_output=True, text=True).stdout.strip()
    tree = CACHE / f"release-{short}"
    if not (tree / "src" / "kansho").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), short], check=True)
    warm_tree(tree, f"release {short}")
    return short, tree


#: the frame on which each tree's kernels are compiled before anything is timed: larger than the size from
#: which the filters take their compiled kernels (``kansho.filters.COMPILED_MIN_PX``, 2^18 px), which the
#: demo's and S's 200 x 200 px never reach; warmed on those alone, the M frame's first timed run (the
#: per-step filter) paid their compilation, ~2 s
WARMUP = {"shape": (520, 520), "n_epoch": 20, "interval_days": 12, "pairs_per_epoch": 4}


def warm_tree(tree: Path, label: str) -> None:
    """Run the chain of ``tree`` once on the :data:`WARMUP` frame, untimed, so its kernels are in the cache."""
    sim, _ = simulate("warmup", WARMUP)
    log.info("%s: compiling its kernels on a %d x %d px frame (not timed)", label, *WARMUP["shape"])
    run_steps(sim, CACHE / "warmup_run", 0, None, per_step=False, tree=tree)
    shutil.rmtree(CACHE / "warmup_run", ignore_errors=True)


def compare_runs(a: Path, b: Path) -> dict[str, float]:
    """How far run ``b``'s products are from run ``a``'s: max |Δ| of the velocity and of ``cum.h5``'s cube
    where both are finite, and the share of pixels whose velocity, mask and NaN pattern are identical."""
    import h5py
    import rasterio

    def tif(run: Path, name: str) -> np.ndarray:
        with rasterio.open(run / "results" / f"{name}.tif") as f:
            return f.read(1).astype(np.float64)

    def same(x: np.ndarray, y: np.ndarray) -> float:
        return float(((x == y) | (np.isnan(x) & np.isnan(y))).mean())

    va, vb = tif(a, "vel"), tif(b, "vel")
    both = np.isfinite(va) & np.isfinite(vb)
    dcum = 0.0
    with h5py.File(a / "cum.h5", "r") as fa, h5py.File(b / "cum.h5", "r") as fb:
        ca, cb = fa["cum"], fb["cum"]
        for r0 in range(0, ca.shape[1], 256):
            x, y = ca[:, r0:r0 + 256].astype(np.float64), cb[:, r0:r0 + 256].astype(np.float64)
            d = np.abs(x - y)[np.isfinite(x) & np.isfinite(y)]
            dcum = max(dcum, float(d.max()) if d.size else 0.0)
    return {"vel_max_abs_diff": float(np.abs(va - vb)[both].max()) if both.any() else 0.0,
            "vel_identical_share": same(va, vb), "cum_max_abs_diff": dcum,
            "mask_identical_share": same(tif(a, "mask"), tif(b, "mask"))}


def _plot_scaling(sc: dict[str, Any], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    px = sorted((v for k, v in sc.items() if k.startswith("px")), key=lambda v: v["shape"][0])
    ep = sorted((v for k, v in sc.items() if k.startswith("ep")), key=lambda v: v["n_pair"])
    if len(px) < 2 and len(ep) < 2:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, rows, xkey, xlabel in ((axes[0], px, "px", "pixels (millions)"), (axes[1], ep, "pairs", "interferograms")):
        if not rows:
            continue
        x = [r["shape"][0] * r["shape"][1] / 1e6 if xkey == "px" else r["n_pair"] for r in rows]
        ax.plot(x, [r["wall_s"] for r in rows], "o-", color="tab:blue", label="wall time (s)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("wall time (s)", color="tab:blue")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        a2 = ax.twinx()
        a2.plot(x, [r["peak_mb"] for r in rows], "s--", color="tab:red", label="peak memory (MB)")
        a2.set_ylabel("peak memory (MB)", color="tab:red")
        a2.set_ylim(bottom=0)
        ax.set_title("40 epochs, growing frame" if xkey == "px" else "256 x 256 px, growing network")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _floors_md(res: dict[str, Any]) -> list[str]:
    """Each step's time in one `kansho ts` process beside its floor (``benchmarks/bench_floors.py``)."""
    import bench_floors

    lines: list[str] = []
    for name, fl in sorted(res.get("floors", {}).items()):
        runs = {k: r for k, r in res["chain"].items() if k.split("/")[0] == name}
        if not runs:
            continue
        m = fl["machine"]
        lines += [f"## Each step against its floor ({name})", "",
                  "The floor of a step is what it cannot avoid: reading what it must read, writing what it must "
                  "write (every cube: step 1-2's cycle fixes, step 1-3's series, σ and gaps, the three cubes of "
                  "`cum.h5` and `cum_filt.h5`'s series; every map: each step's maps in the work store and, for the "
                  "outputs, the GeoTIFFs of `results/` and the PNGs of `plots/`, their pixels encoded; counted "
                  "since 2026-12-07: floors measured before then counted the series alone, and their other "
                  "parts show as not measured) "
                  "and, for the loop closure, the misclosure of every triangle at every pixel and, for "
                  "the inversion, one least-squares solve of every pixel, each measured the "
                  "plainest way (`benchmarks/bench_floors.py`, on every core). Step times: each step in a `kansho ts` "
                  f"process of its own. Floors measured {where(m)}, files in the page cache as in "
                  f"the runs{_repeats_text(fl)}. The floors hold no computation beyond those two: the per-pixel "
                  "unwrapping correction and spatial check (loops), the bootstrap (vstd), `stc` (mask), the "
                  "cross-validation (filter) and the drawing of the figures (outputs) are all above them.", "",
                  "| step | floor (s) | floor made of | " + " | ".join(f"w{r['workers']} (s) | × floor"
                                                              for r in runs.values()) + " |",
                  "|---|---|---|" + "---|---|" * len(runs)]
        for step in STEPS:
            f = fl["steps"].get(step, float("nan"))
            parts = " + ".join(f"{p} {fl['primitives'][p]:.1f}" if p in fl["primitives"] else f"{p} (not measured)"
                               for p in bench_floors.STEP_FLOORS.get(step, ()))
            cells = []
            for r in runs.values():
                t = r["steps"].get(step, {}).get("step_s", float("nan"))
                cells.append(f"{t:.1f} | {t / f:.1f}×" if f > 0 else f"{t:.1f} | –")
            lines.append(f"| {step} | {f:.1f} | {parts or 'nothing'} | " + " | ".join(cells) + " |")
        tot = sum(fl["steps"].values())
        cells = [f"{r['wall_s']:.1f} | {r['wall_s'] / tot:.1f}×" for r in runs.values()]
        lines += [f"| **whole chain** (sum of the steps) | {tot:.1f} | | " + " | ".join(cells) + " |", ""]
        lines += _passes_md(runs, fl["steps"])
    return lines


def _passes_md(runs: dict[str, Any], floors: dict[str, float]) -> list[str]:
    """What each step's time is made of: its passes as the step recorded them (``work/state.json``'s ``passes``,
    kept by ``_step.py`` since 2026-12-08) and the rest, beside its floor; nothing for runs without them."""
    rows = []
    for key, r in runs.items():
        for step in STEPS:
            f = r["steps"].get(step, {})
            p = f.get("passes")
            if p is None:
                continue
            inside = _passes_text(p) or "none"
            rows.append(f"| {step} | {key.split('/')[1]} | {f['step_s']:.2f} | {floors.get(step, float('nan')):.2f} | "
                        f"{inside} | {f['step_s'] - sum(p.values()):.2f} |")
    if not rows:
        return []
    return ["Where each step's time goes: its passes (each reads, computes and writes over every block or epoch of "
            "the frame; wall seconds as the step recorded them in `work/state.json`, a pass run twice summed) and "
            "the rest of the step outside them (its start, the frame-wide work between passes, e.g. step 1-3's "
            "regional choice of the bridge models and the gap tie's fit, step 1-5's thresholds, and the ingest "
            "and outputs steps, which run no pass: the GeoTIFFs read, the cubes, GeoTIFFs and figures written). "
            "A pass with no counterpart in the floor is computation above it.", "",
            "| step | workers | step (s) | floor (s) | its passes (s) | outside them (s) |",
            "|---|---|---|---|---|---|", *rows, ""]


def _passes_text(passes: dict[str, float]) -> str:
    """A step's passes and their seconds in one line, each named without its step ("spatial check 1.11, ...")."""
    return ", ".join(f"{k.split(' ', 1)[-1]} {v:.2f}" for k, v in passes.items())


def _repeats_text(fl: dict[str, Any]) -> str:
    """How the floors of ``fl`` and the step times beside them were taken, where more than once."""
    n = int(fl.get("repeats", 1))
    return (f"; the step runs and the floors' measurements alternated {n} times, each step and each primitive "
            "the least of its measurements (the machine's speed moves within minutes)" if n > 1 else "")


#: the figures of this tree's run kept with the release's run beside it (``results.json``'s ``baseline``)
PAIRED = ("steps", "one_process_s", "peak_mb", "vel_rmse", "vel_rmse_all", "coverage", "rev", "machine", "vs_baseline")


def _baseline_md(res: dict[str, Any]) -> list[str]:
    """The previous release beside this tree, run back to back on the same frame and machine."""
    base = res.get("baseline", {})
    lines: list[str] = []
    for key, b in sorted(base.items()):
        r = b.get("this") or res["chain"].get(key)  # records from before 2026-12-07 kept no pair
        if r is None:
            continue
        name, w = key.split("/")
        lines += [f"## Side by side with release {b['rev']} ({name}, {w})", "",
                  f"Release `{b['rev']}` (checked out beside this tree by `--baseline {b['rev']}`) and this tree "
                  f"(`{r.get('rev', '?')}`), each as one `kansho ts` process, back to back on "
                  f"{r['machine']['date']} (this tree's step times: its per-step run).", "",
                  "| | " + " | ".join(STEPS) + " | whole chain | peak (MB) | vel RMSE masked / all (mm/yr) | kept |",
                  "|---|" + "---|" * (len(STEPS) + 4)]
        for label, x, wall in ((f"release {b['rev']}", b, b["wall_s"]), ("this tree", r, r["one_process_s"])):
            steps = " | ".join(f"{x['steps'].get(s, {}).get('step_s', float('nan')):.1f}" for s in STEPS)
            lines.append(f"| {label} | {steps} | {wall:.1f} | {x['peak_mb']:.0f} | {x['vel_rmse']:.2f} / "
                         f"{x['vel_rmse_all']:.2f} | {100 * x['coverage']:.0f} % |")
        sp = " | ".join(f"{b['steps'][s]['step_s'] / r['steps'][s]['step_s']:.1f}×"
                        if s in b["steps"] and s in r["steps"] and r["steps"][s]["step_s"] > 0 else "–" for s in STEPS)
        lines.append(f"| speed-up | {sp} | {b['wall_s'] / r['one_process_s']:.1f}× | | | |")
        d = r.get("vs_baseline")
        if d:
            lines += ["", f"Results against the release: velocity identical on {100 * d['vel_identical_share']:.2f} % "
                      f"of pixels (max |Δ| {d['vel_max_abs_diff']:.2g} mm/yr), mask identical on "
                      f"{100 * d['mask_identical_share']:.2f} %, `cum.h5` max |Δ| {d['cum_max_abs_diff']:.2g} mm."]
        lines.append("")
    return lines


def write_md(res: dict[str, Any]) -> None:
    chain = res.get("chain", {})
    intro = ("Written by `python benchmarks/bench_chain.py` (figures in `benchmarks/results.json`). Each step of "
             "`kansho ts` (default options) runs in a fresh child process; wall time is the step's own time, "
             "CPU time is user + system of the process and its dask workers, peak memory is the largest sum of "
             "the resident sets of the process and its workers. Frames are simulated by `kansho.synth` "
             "(turbulent + stratified atmosphere, decorrelation, unwrapping errors, one network gap).")
    lines = ["# Benchmarks", "", intro, ""]
    if chain:
        m = next(iter(chain.values()))["machine"]
        header = ("| frame | pixels | epochs | pairs | workers | wall, one `kansho ts` (s) | sum of steps (s) | "
                  "CPU (s) | peak memory (MB) | LiCSBAS wall (s) | speed-up | vel RMSE masked / all solved (mm/yr) | "
                  "kept | measured |")
        cpus = sorted({f"{r['machine']['cpu']} ({r['machine'].get('cpu_model') or 'model not recorded'})"
                       for r in chain.values()})
        lines += [f"Machines: {'; '.join(cpus)}; {m['cores']} cores, {m['mem_gb']} GiB memory, Python "
                  f"{m['python']}. Each row's date and CPU model (as LLVM names it) are in its last column; rows of "
                  "different models are not comparable: the name a virtual machine reports (\"AMD EPYC\") has "
                  "covered CPUs of different generations and speeds here, and rows without a model were measured "
                  "before it was recorded (until 2026-12-04, on an AMD EPYC ~25 % faster on the M frame than the "
                  "`znver4` one of 2026-12-05, where release 3350c67 took 133-146 s for the M frame in one process; "
                  "it took 163.8 s on the `rocketlake` Xeon of the later 2026-12-05 rows).", "",
                  "## Whole chain (ingest → outputs)", "", header, "|---" * 14 + "|"]
        for key in sorted(chain, key=lambda k: ("SML".index(k[0]) if k[0] in "SML" else 9, k)):
            r = chain[key]
            name = key.split("/")[0]
            lb = LICSBAS.get(name, {}).get("wall_s")
            one = r.get("one_process_s", r["wall_s"])
            sp = f"{lb / one:.1f}×" if lb else "–"
            lines.append(
                f"| {name} | {r['shape'][1]}×{r['shape'][0]} | {r['n_epoch']} | {r['n_pair']} | {r['workers']} | "
                f"{one:.1f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} | {lb if lb else '–'} | {sp} | "
                f"{r['vel_rmse']:.2f} / {r.get('vel_rmse_all', float('nan')):.2f} | {100 * r['coverage']:.0f} % | "
                f"{where(r['machine'])} |")
        lines += ["", "Per step, wall time in seconds / peak memory in MB:", "",
                  "| frame | workers | " + " | ".join(STEPS) + " |", "|---|---|" + "---|" * len(STEPS)]
        for key in sorted(chain, key=lambda k: ("SML".index(k[0]) if k[0] in "SML" else 9, k)):
            r = chain[key]
            cells = [(f"{r['steps'][s]['step_s']:.1f} / {r['steps'][s]['peak_mb']:.0f}" if "peak_mb" in r["steps"][s]
                  else f"{r['steps'][s]['step_s']:.1f}") if s in r["steps"] else "–"
                     for s in STEPS]
            lines.append(f"| {key.split('/')[0]} | {r['workers']} | " + " | ".join(cells) + " |")
        note = ("LiCSBAS figures: LiCSBAS with 2 processes on a 2-core machine like this one, as measured in "
                "issue 21 on the M frame (963 s, 9.1 GB; about 110 s on S in issue 3). LiCSBAS can be installed for "
                "measurement (`../shared/bench/setup_licsbas.sh`, used by the accuracy harness) but takes ~16 min "
                "per M run, so it was not re-run here.")
        lines += ["", note, ""]
    lines += _floors_md(res) + _baseline_md(res) + _first_md(res) + device_md(STEPS)
    sc = res.get("scaling", {})
    if sc:
        what = ("Whole chain in one process (serial blocks), 4 pairs per epoch. Time and memory against the number "
                "of pixels (40 epochs) and against the number of interferograms (256 × 256 px):")
        lines += ["## Scaling", "", what, "",
                  "| frame | pixels | epochs | pairs | wall (s) | µs per pixel·pair | peak memory (MB) |",
                  "|---|---|---|---|---|---|---|"]
        for k, r in sorted(sc.items(), key=lambda kv: (kv[0][:2], kv[1]["shape"][0] * kv[1]["n_pair"])):
            npx = r["shape"][0] * r["shape"][1]
            lines.append(f"| {k} | {r['shape'][1]}×{r['shape'][0]} | {r['n_epoch']} | {r['n_pair']} | "
                         f"{r['wall_s']:.1f} | {1e6 * r['wall_s'] / (npx * r['n_pair']):.3f} | {r['peak_mb']:.0f} |")
        if _plot_scaling(sc, ROOT / "docs" / "img" / "scaling.png"):
            lines += ["", "![time and memory against frame size and network size](img/scaling.png)", ""]
    extra = ROOT / "docs" / "benchmarks_notes.md"
    if extra.exists():
        lines += ["", extra.read_text()]
    for other in ("benchmarks_viewer.md", "benchmarks_ifg.md", "benchmarks_incremental.md", "benchmarks_budget.md"):
        if (ROOT / "docs" / other).exists():
            lines += [f"See also [{other}]({other})."]
    path = ROOT / "docs" / "benchmarks.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
