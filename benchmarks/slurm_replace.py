"""Lost SLURM jobs on a real SLURM installation: ``kansho batch --cluster slurm`` whose worker jobs are
all cancelled (``scancel``) while frames run, or all reach their ``--walltime``, must finish on
replacement jobs with products identical to a local run of the same frames.

Needs a working SLURM (``sbatch``/``squeue``/``scancel``; a single node is enough, see
docs/batch.md "Trying it on one machine") and dask-jobqueue. Not part of the test suite::

    PYTHONPATH=src python benchmarks/slurm_replace.py /tmp/slurm_bench --mode scancel
    PYTHONPATH=src python benchmarks/slurm_replace.py /tmp/slurm_bench --mode walltime

``scancel``: both jobs of the batch are cancelled once each runs a frame.
``walltime``: two jobs with ``--walltime 00:01:00`` for ten frames of ~20 s each, so SLURM kills
every job at its time limit while frames run (a frame cut short runs again on a replacement job,
resuming from its last finished step).
Prints one JSON line: return code, seconds, jobs submitted and cancelled, identical products.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kansho.batch.runner import frame_out, read_status
from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, simulate_frame

PRODUCTS = ("vel.tif", "vstd.tif", "mask.tif", "coh_avg.tif", "n_unw.tif")


def _jobs() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T %j"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if "dask-worker" in line]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("--mode", choices=["scancel", "walltime"], default="scancel")
    ap.add_argument("--size", type=int, default=0, help="frame size in pixels (default 60, walltime 100)")
    ap.add_argument("--frames", type=int, default=0, help="number of frames (default 2, walltime 10)")
    a = ap.parse_args()
    base = a.base / f"{a.mode}"
    base.mkdir(parents=True, exist_ok=True)
    size = a.size or (60 if a.mode == "scancel" else 100)
    n_epoch = 16 if a.mode == "scancel" else 40
    n_frames = a.frames or (2 if a.mode == "scancel" else 10)
    lines = ["defaults: {mask.stc: 20}", "frames:"]
    for k in range(n_frames):
        d = base / f"f{k}"
        if not d.exists():
            simulate_frame(d, SimConfig(shape=(size, size), n_epoch=n_epoch, interval_days=24, n_unw_errors=0,
                                        gap=False, n_missing=0, subsidence_rate=-40.0 - 30 * k), rng=500 + k)
        lines.append(f"  - {{id: f{k}, source: f{k}/GEOC}}")
    (base / "frames.yaml").write_text("\n".join(lines) + "\n")
    # the jobs inherit this environment (sbatch --export=ALL): they must import this kansho
    import kansho as pkg

    os.environ["PYTHONPATH"] = str(Path(pkg.__file__).resolve().parents[1])
    kansho = [sys.executable, "-c", "import sys; from kansho.cli import main; sys.exit(main(sys.argv[1:]))"]
    local = base / "LOCAL"
    if not (local / "status.json").exists():
        subprocess.run([*kansho, "batch", str(base / "frames.yaml"), "-o", str(local), "--no-catalog"], check=True,
                       stdout=subprocess.DEVNULL)
    root = base / f"ROOT_{a.mode}"
    shutil.rmtree(root, ignore_errors=True)  # every frame from scratch (a re-run would find them up to date)
    walltime = "00:01:00" if a.mode == "walltime" else "00:30:00"
    cmd = [*kansho, "batch", str(base / "frames.yaml"), "-o", str(root), "--cluster", "slurm", "--jobs", "2",
           "--cores", "1", "--memory", "2GB", "--walltime", walltime, "--no-worker-timeout", "300"]
    t0 = time.monotonic()
    log = (base / f"batch_{a.mode}.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=base)  # slurm-*.out go to base
    seen: set[str] = set()
    cancelled: list[str] = []
    while proc.poll() is None:
        jobs = _jobs()
        seen.update(jobs)
        running = [read_status(root, f"f{k}") or {} for k in range(n_frames)]
        # both frames running: both jobs' workers have connected (a job cancelled before that cannot
        # be told from a queued one and is not replaced, see docs/batch.md)
        if (a.mode == "scancel" and not cancelled and len(jobs) == 2
                and sum(r.get("state") == "running" for r in running) == 2):
            time.sleep(1.0)
            subprocess.run(["scancel", *jobs], check=True)
            cancelled += jobs
        time.sleep(0.5)
    seconds = time.monotonic() - t0
    same = {}
    for k in range(n_frames):
        for name in PRODUCTS:
            x = read_raster(frame_out(root, f"f{k}") / "results" / name)
            y = read_raster(frame_out(local, f"f{k}") / "results" / name)
            same[f"f{k}/{name}"] = bool(np.array_equal(x, y, equal_nan=True))
    summary = json.loads((root / "status.json").read_text())
    print(json.dumps({"mode": a.mode, "rc": proc.returncode, "seconds": round(seconds, 1), "jobs_seen": sorted(seen),
                      "jobs_cancelled": cancelled, "jobs_replaced": summary.get("jobs_replaced"),
                      "counts": summary.get("counts"), "identical": all(same.values()),
                      "different": [k for k, v in same.items() if not v], "pid": os.getpid()}))
    return 0 if proc.returncode == 0 and all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
