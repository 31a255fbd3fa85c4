"""``kansho batch`` (many frames on a dask cluster), ``kansho catalog`` (the product page) and
``kansho mosaic`` (adjacent frames merged onto one grid with one reference)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def register(sub: Any, fmt: type) -> None:
    p = sub.add_parser(
        "batch",
        help="process many frames (download + time series) as dask tasks; status in ROOT/status",
        description="Run every frame listed in FRAMES_FILE (YAML or CSV: id, source = portal or a local folder, "
        "start, end, per-frame options) as one dask task each: frames in parallel on local worker processes, an "
        "existing scheduler, or a SLURM/PBS cluster. A failing frame never stops the others; each frame's status, "
        "timings and error go to ROOT/status/<frame>.json and ROOT/status.json; a re-run skips the frames already "
        "done with the same inputs and options. Ends by writing the catalogue ROOT/index.html. See docs/batch.md.",
        formatter_class=fmt,
    )
    p.add_argument("frames_file", help="YAML or CSV list of frames")
    p.add_argument("-o", "--out", required=True, help="batch root folder (ROOT)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running dask scheduler (tcp://host:8786)")
    where.add_argument("--workers", type=int, default=0, help="local worker processes, one frame each (0: one "
                       "frame after another in this process)")
    where.add_argument("--cluster", choices=["slurm", "pbs", "sge", "lsf"], help="submit workers as batch jobs "
                       "(needs pip install dask-jobqueue)")
    p.add_argument("--memory-limit", help="memory of the whole local cluster, e.g. 12GB (with --workers)")
    p.add_argument("--cores", type=int, default=4, help="--cluster: worker processes (frames) per batch job")
    p.add_argument("--memory", default="32GB", help="--cluster: memory per batch job, shared by its workers")
    p.add_argument("--walltime", default="04:00:00", help="--cluster: wall time of each batch job")
    p.add_argument("--queue", help="--cluster: queue / partition")
    p.add_argument("--account", help="--cluster: account / project to charge")
    p.add_argument("--jobs", type=int, default=1, help="--cluster: number of batch jobs")
    p.add_argument("--job-extra", action="append", default=[], help="--cluster: extra scheduler directive, e.g. "
                   "'--qos=high' (repeatable)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts of a frame after a transient fault "
                   "(network, file system); bad input is never retried")
    p.add_argument("--update", action="store_true", help="check portal frames for new data even if done")
    p.add_argument("--force", action="store_true", help="run every frame, even those up to date")
    p.add_argument("--no-catalog", action="store_true", help="do not write ROOT/index.html at the end")
    p.set_defaults(func=_run_batch)

    c = sub.add_parser("catalog", help="(re)write the product page ROOT/index.html and ROOT/catalog.json (STAC)",
                       description="Write a static page listing every frame of a batch root with a thumbnail, dates, "
                       "numbers of epochs and pairs, quality figures and links to products and reports, plus a "
                       "STAC catalogue; serve ROOT with any file server.", formatter_class=fmt)
    c.add_argument("root", help="batch root folder")
    c.add_argument("--title", default="Kansho products", help="page title")
    c.set_defaults(func=_run_catalog)

    m = sub.add_parser("mosaic", help="merge velocity maps of adjacent frames onto one grid with one reference",
                       description="Resample the velocity maps of run folders (or of every finished frame of a batch "
                       "root) onto one lon/lat grid, estimate each frame's offset (and with --ramp a plane) from the "
                       "overlaps by a least-squares network adjustment with the first frame fixed, and blend them "
                       "with feathering. Writes vel.tif, vel.mskd.tif, vstd.tif ... and mosaic.json.",
                       formatter_class=fmt)
    m.add_argument("inputs", nargs="+", help="run folders and/or batch roots")
    m.add_argument("-o", "--out", required=True, help="output folder")
    m.add_argument("--ramp", action="store_true", help="also estimate a plane (east and north gradients) per frame")
    m.add_argument("--fixed", type=int, default=0, help="index of the frame held fixed (default: the first)")
    m.add_argument("--nearest", action="store_true", help="nearest-neighbour resampling (default bilinear)")
    m.set_defaults(func=_run_mosaic)


def _run_batch(args: argparse.Namespace) -> int:
    from kansho.batch.catalog import build_catalog
    from kansho.batch.frames import load_frames
    from kansho.batch.runner import run_batch
    from kansho.batch.slurm import batch_client

    specs = load_frames(args.frames_file)
    jq = {"cores": args.cores, "memory": args.memory, "walltime": args.walltime, "queue": args.queue,
          "account": args.account, "jobs": args.jobs, "job_extra": args.job_extra} if args.cluster else {}
    with batch_client(scheduler=args.scheduler, workers=args.workers, cluster_kind=args.cluster,
                      memory_limit=args.memory_limit, **jq) as client:
        res = run_batch(specs, args.out, client=client, retries=args.retries, update=args.update, force=args.force,
                        progress=True)
    if not args.no_catalog:
        try:
            build_catalog(args.out)
        except Exception as exc:  # noqa: BLE001 - the batch's results stand without the page
            logging.getLogger(__name__).warning("catalogue not written: %s", exc)
    sys.stdout.write(f"{len(specs)} frames: {len(res.done)} done, {len(res.skipped)} up to date, "
                     f"{len(res.failed)} failed in {res.seconds:.0f} s -> {args.out}\n")
    for fid in res.failed:
        sys.stdout.write(f"  FAILED {fid}: {res.records[fid].get('error')}\n")
    return 1 if res.failed else 0


def _run_catalog(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kansho.batch.catalog import build_catalog
    from kansho.errors import InputError

    if not (Path(args.root) / "status").is_dir():
        raise InputError(args.root, "not a batch root (no status/ folder)")
    page = build_catalog(args.root, title=args.title)
    sys.stdout.write(f"{page}\n")
    return 0


def _run_mosaic(args: argparse.Namespace) -> int:
    from kansho.batch.mosaic import find_runs, mosaic_runs

    runs = find_runs(args.inputs)
    res = mosaic_runs(runs, args.out, ramp=args.ramp, fixed=args.fixed,
                      method="nearest" if args.nearest else "bilinear")
    for name, p in zip(res.frames, res.params, strict=True):
        extra = f", ramp {p[1]:+.3f} E {p[2]:+.3f} N mm/yr/km" if p.size == 3 else ""
        sys.stdout.write(f"  {name}: offset {p[0]:+.2f} mm/yr{extra}\n")
    for o in res.stats["overlaps"]:
        i, j = o["frames"]
        sys.stdout.write(f"  overlap {res.frames[i]}/{res.frames[j]}: {o['pixels']} px, RMS difference "
                         f"{o['rms_before']:.2f} -> {o['rms_after']:.2f} mm/yr\n")
    sys.stdout.write(f"mosaic of {len(runs)} frames -> {res.out}\n")
    return 0
