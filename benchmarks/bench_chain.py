"""Benchmark the whole time-series chain on simulated frames; writes docs/benchmarks.md.

    python benchmarks/bench_chain.py            # demo (200 px, 40 epochs) and M (1000 px, 60 epochs)
    python benchmarks/bench_chain.py --sizes demo

Each frame is simulated once with :mod:`kansho.synth` and cached under ``benchmarks/_cache``.
The chain runs in a fresh child process (``kansho ts``), so its peak resident memory is measured
on its own (``getrusage(RUSAGE_CHILDREN).ru_maxrss``); per-step wall times come from the run's
``work/state.json``; accuracy against the truth from :func:`kansho.demo.compare_with_truth`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / "_cache"
SIZES = {
    "demo": {"shape": (200, 200), "n_epoch": 40, "interval_days": 24},
    "M": {"shape": (1000, 1000), "n_epoch": 60, "interval_days": 12},
}
log = logging.getLogger("bench")


def simulate(name: str) -> tuple[Path, float]:
    from kansho.synth import SimConfig, simulate_frame

    d = CACHE / name
    if (d / "truth.npz").exists():
        return d, float("nan")
    if d.exists():
        shutil.rmtree(d)
    t0 = time.perf_counter()
    simulate_frame(d, SimConfig(**SIZES[name]), rng=1)
    return d, time.perf_counter() - t0


def run_chain(sim: Path, out: Path) -> dict[str, float]:
    if out.exists():
        shutil.rmtree(out)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kansho.cli", "-q", "ts", str(sim / "GEOC"), "-o", str(out)], check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": after.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="demo,M", help="comma-separated subset of " + ",".join(SIZES))
    ap.add_argument("--no-write", action="store_true", help="print only, do not write docs/benchmarks.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from kansho.config import RunConfig
    from kansho.demo import compare_with_truth
    from kansho.pipeline import run_timeseries
    from kansho.synth import load_truth

    rows = []
    for name in args.sizes.split(","):
        sim, sim_s = simulate(name)
        out = CACHE / f"{name}_run"
        fig = run_chain(sim, out)
        state = json.loads((out / "work" / "state.json").read_text())
        steps = {k: v["seconds"] for k, v in state.items()}
        ctx = run_timeseries(None, out, RunConfig(), progress=False)  # all steps up to date: opens the run
        acc = compare_with_truth(ctx, load_truth(sim / "truth.npz"))
        ing = state["ingest"]["result"]
        row = {"name": name, "shape": ing["shape"], "n_epoch": ing["n_epoch"], "n_pair": ing["n_pair"],
               "simulate_s": sim_s, **fig, "steps": steps, "vel_rmse": acc.vel_rmse, "ts_rmse": acc.ts_rmse,
               "coverage": acc.coverage}
        log.info("%s: %s", name, json.dumps(row, default=float))
        rows.append(row)
    if not args.no_write:
        write_md(rows)


def write_md(rows: list[dict]) -> None:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python benchmarks/bench_chain.py` on {dt.date.today().isoformat()}.",
        f"Machine: {cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB memory, Python {platform.python_version()}.",
        "Whole chain `kansho ts` (ingest → outputs, default options, serial blocks of 256 px) in a child "
        "process; peak memory is that process's maximum resident set size.",
        "",
        "| frame | pixels | epochs | pairs | wall (s) | CPU (s) | peak RSS (MB) | vel RMSE (mm/yr) | ts RMSE (mm) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['shape'][1]}×{r['shape'][0]} | {r['n_epoch']} | {r['n_pair']} | "
                     f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['vel_rmse']:.2f} | "
                     f"{r['ts_rmse']:.2f} |")
    lines += ["", "Per-step wall time (s):", "",
              "| frame | " + " | ".join(rows[0]["steps"]) + " |", "|---|" + "---|" * len(rows[0]["steps"])]
    for r in rows:
        lines.append(f"| {r['name']} | " + " | ".join(f"{v:.1f}" for v in r["steps"].values()) + " |")
    lines += ["", "Accuracy is against the simulated truth over the pixels the mask keeps, on the run's "
              "reference area (see `kansho.demo.compare_with_truth`).", ""]
    path = ROOT / "docs" / "benchmarks.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
