"""Beyond two cores and on the GPU: the chain's speed-up curve over dask workers, and the ``--gpu``
inversion against the compiled CPU kernel. Meant for a many-core machine with a CUDA GPU.

    python benchmarks/bench_device.py                 # appends a run to benchmarks/results_device.json
    python benchmarks/bench_chain.py --write-only     # docs/benchmarks.md shows every run of that file

On a machine whose Python lacks some dependencies and reaches no package index, ``benchmarks/device_run.sh``
installs them from wheels carried along and runs this script (its header says how to make the wheels).
On a 16-vCPU machine with an H100 (2026-12-05) the warm-up, the GPU inversion, six worker counts and ``--gpu``
took 8 min and the four thread counts 3 min more: where one command may run 10 min, run the two apart
(``--threads ""``, then ``--skip-gpu --workers "" --threads 1,2,4,8``; the frame is simulated once).

1. **GPU inversion**: ``invert_nsbas`` on blocks as step 1-3 inverts them (coherence weights, 10 %
   NaNs, a network gap at a tenth of the pixels), M-like (60 epochs) and L-like (150 epochs), with
   ``device="gpu"`` (CuPy, float64) and with the compiled CPU kernel on all cores: the largest
   difference of the cumulative displacement relative to its largest value (held to 1e-6) and the
   throughput in pixels × pairs per second (best of 3 after a warm-up call).
2. **Workers**: the M frame (1000 × 1000 px, 60 epochs) run as one ``kansho ts`` process with each
   worker count of ``--workers`` (0 = no dask cluster: the compiled kernels on all cores), then once
   with ``--gpu``; each run's products are compared with the run without workers.
3. **Threads**: the same frame without workers on ``--threads`` cores (``NUMBA_NUM_THREADS``: the
   blocks at once and each kernel's threads), products compared with the run on all cores.

Each part is saved to ``--out`` as soon as it is measured, so a run cut short keeps what it did. The
numba cache is filled first by a run on bench_chain's warm-up frame (520 × 520 px: it reaches the kernels
only frames from 2^18 px use), while the frame is simulated beside it, so no run times a compilation.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_chain import CACHE, ROOT, SIZES, accuracy, compare_runs, git_rev, machine, run_steps, simulate, warm_tree  # noqa: E402
from bench_invert import _case  # noqa: E402
from kansho.chain.records import versions  # noqa: E402

log = logging.getLogger("bench")
#: distributions whose versions a device run records beside the chain's own (kansho.chain.records.versions)
DEVICE_PACKAGES = ("llvmlite", "cupy-cuda13x", "cupy-cuda12x", "distributed")


def gpu_name() -> str | None:
    """The first CUDA device's name, or None without CuPy or a GPU."""
    try:
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: all mean "no GPU"
        return None


def _best(fn: Callable[[], Any], repeat: int = 3) -> tuple[Any, float]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def gpu_inversion(res: dict[str, Any], npix: int, save: Callable[[], None]) -> None:
    """Part 1: the GPU inversion against the compiled CPU kernel, per block shape."""
    from kansho.inversion import invert_nsbas

    rows = res.setdefault("gpu_inversion", {})
    for name, ne in (("M-like", 60), ("L-like", 150)):
        ifg, pairs, t, w = _case(ne, npix)
        fig: dict[str, Any] = {"n_epoch": ne, "n_pair": len(pairs), "npix": npix}
        for device in ("cpu", "gpu"):
            invert_nsbas(ifg[:, :4096], pairs, t, weights=w[:, :4096], device=device)  # warm-up: compiles
            r, sec = _best(lambda d=device, a=ifg, p=pairs, tt=t, ww=w: invert_nsbas(a, p, tt, weights=ww, device=d))
            fig[device] = {"s": sec, "px_pairs_per_s": npix * len(pairs) / sec}
            fig[f"{device}_result"] = r
            log.info("%s %s: %.3f s, %.3g px·pairs/s", name, device, sec, npix * len(pairs) / sec)
        rc, rg = fig.pop("cpu_result"), fig.pop("gpu_result")
        s = rc.solved
        scale = float(np.nanmax(np.abs(rc.cum[:, s])))
        fig["cum_rel_diff"] = float(np.nanmax(np.abs(rg.cum[:, s].astype(np.float64) - rc.cum[:, s]))) / scale
        fig["same_solved"] = bool(np.array_equal(rc.solved, rg.solved))
        fig["speedup"] = fig["cpu"]["s"] / fig["gpu"]["s"]
        log.info("%s: GPU %.1fx the CPU kernel, cum differs by %.1e relative", name, fig["speedup"],
                 fig["cum_rel_diff"])
        rows[name] = fig
        save()


def prepare(res: dict[str, Any], frame: str) -> Path:
    """The numba cache filled (bench_chain's warm-up run) while ``frame`` is simulated in a thread beside it."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        sim = pool.submit(simulate, frame, SIZES[frame])
        warm_tree(ROOT, "this tree")
        res["warm_s"] = time.perf_counter() - t0
        path, res["simulate_s"] = sim.result()
    res["frame"] = frame
    return path


def worker_curve(res: dict[str, Any], sim: Path, workers: list[int], gpu: bool, threads: list[int],
                 save: Callable[[], None]) -> None:
    """Parts 2 and 3: the frame (M) with each worker count, then with ``--gpu``, then without workers on
    each number of threads; products against the w0 run."""
    frame = res["frame"]
    runs: list[tuple[str, str, int, bool, dict[str, str] | None]] = [
        *(("workers", f"w{w}", w, False, None) for w in workers),
        *([("workers", "w0_gpu", 0, True, None)] if gpu else []),
        *(("threads", f"t{n}", 0, False, {"NUMBA_NUM_THREADS": str(n)}) for n in threads)]
    for part, key, w, on_gpu, env in runs:
        curve = res.setdefault(part, {})
        out = CACHE / f"{frame}_dev_{key}"
        log.info("%s, %s:", frame, key)
        try:
            fig = run_steps(sim, out, w, None, per_step=False, gpu=on_gpu, env=env)
        except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others' figures
            log.error("%s %s failed: %s", frame, key, exc)
            curve[key] = {"error": (str(exc) + "\n" + str(getattr(exc, "stderr", "") or ""))[-3000:]}
            save()
            continue
        fig.update(workers=w, gpu=on_gpu, **accuracy(sim, out))
        if env:
            fig["threads"] = int(env["NUMBA_NUM_THREADS"])
        if key != "w0" and (CACHE / f"{frame}_dev_w0").is_dir():
            fig["vs_w0"] = compare_runs(CACHE / f"{frame}_dev_w0", out)
        curve[key] = fig
        log.info("%s %s: %.1f s wall, %.1f s CPU, %.0f MB peak, vel RMSE %.2f mm/yr", frame, key, fig["wall_s"],
                 fig["cpu_s"], fig["peak_mb"], fig["vel_rmse"])
        save()
        if key != "w0":
            shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "results_device.json")
    ap.add_argument("--workers", default="0,1,2,4,8,16", help="comma-separated worker counts (0: no cluster)")
    ap.add_argument("--threads", default="1,2,4,8", help="comma-separated NUMBA_NUM_THREADS of runs without workers")
    ap.add_argument("--frame", default="M", choices=sorted(SIZES), help="the frame of the worker curve")
    ap.add_argument("--npix", type=int, default=262_144, help="pixels of the GPU inversion's blocks")
    ap.add_argument("--rev", default=None, help="the source's git revision (where the tree has no .git)")
    ap.add_argument("--skip-gpu", action="store_true")
    ap.add_argument("--skip-chain", action="store_true")
    ap.add_argument("--where", default=None, help="where it ran, in words (docs/benchmarks.md's heading)")
    ap.add_argument("--env", default=None, help="the environment's settings that matter, in words")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    gpu = gpu_name()
    res: dict[str, Any] = {"machine": dict(machine(), gpu=gpu, versions=versions(DEVICE_PACKAGES)),
                           "rev": args.rev or git_rev(HERE.parent)}
    if args.where:
        res["machine"]["where"] = args.where
    if args.env:
        res["env"] = args.env

    before = json.loads(args.out.read_text())["runs"] if args.out.exists() else []

    def save() -> None:  # this run is appended to the file's earlier runs (bench_chain.py --write-only shows them)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"runs": [*before, res]}, indent=1) + "\n")
        tmp.replace(args.out)

    save()
    log.info("machine: %s", res["machine"])
    sim = None if args.skip_chain else prepare(res, args.frame)
    save()
    if gpu and not args.skip_gpu:
        try:
            gpu_inversion(res, args.npix, save)
        except Exception as exc:
            log.exception("GPU inversion failed")
            res["gpu_inversion_error"] = str(exc)[-2000:]
            save()
    if sim is not None:
        worker_curve(res, sim, [int(x) for x in args.workers.split(",") if x], gpu is not None and not args.skip_gpu,
                     [int(x) for x in args.threads.split(",") if x], save)
    log.info("done: %s", args.out)


if __name__ == "__main__":
    main()
