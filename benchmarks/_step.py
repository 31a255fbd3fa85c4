"""Child process of the chain benchmark: run one step of ``kansho ts`` and print its figures as JSON.

    python benchmarks/_step.py INPUT OUT STEP [--workers N] [--memory-limit SIZE] [--block-size B]

Peak memory is the largest sum of resident set sizes over this process and all its descendants
(dask worker processes included), sampled every 0.1 s; CPU time is user + system time of this
process and of its reaped children.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import threading
import time
from pathlib import Path

import psutil


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("out")
    ap.add_argument("step")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--gpu", action="store_true", help="solve the inversion on the GPU (kansho ts --gpu)")
    ap.add_argument("--force", action="store_true", help="re-run the step even when it is up to date")
    args = ap.parse_args()
    peak = [0]
    stop = threading.Event()
    me = psutil.Process()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(me))
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    from kansho import run_timeseries
    from kansho.config import RunConfig

    cfg = RunConfig(workers=args.workers, memory_limit=args.memory_limit, block_size=args.block_size, gpu=args.gpu)
    t0 = time.perf_counter()
    steps = None if args.step == "all" else [args.step]
    run = run_timeseries(args.input if args.step in ("ingest", "all") else None, args.out, cfg, steps=steps,
                         progress=False, force=args.force)
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    peak[0] = max(peak[0], _tree_rss(me))
    ru_s = resource.getrusage(resource.RUSAGE_SELF)
    ru_c = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru_s.ru_utime + ru_s.ru_stime + ru_c.ru_utime + ru_c.ru_stime
    passes = run.state.get(args.step, {}).get("passes", {}) if args.step != "all" else {}
    print(json.dumps({"step": args.step, "wall_s": wall, "step_s": run.timings.get(args.step, wall),
                      "timings": run.timings, "passes": passes, "cpu_s": cpu,
                      "peak_mb": max(peak[0], _own_peak(ru_s)) / 2**20}))


def _own_peak(ru: resource.struct_rusage) -> int:
    """This process's own peak resident set in bytes: ``VmHWM`` where Linux gives it. Not ``ru_maxrss``
    there: it keeps the resident set of the parent that forked this process, before ``exec``, so a
    benchmark that has held large arrays would inflate every child's figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return ru.ru_maxrss * 1024


if __name__ == "__main__":
    main()
