"""``kansho batch`` (many frames on a dask cluster), ``kansho catalog`` (the product page) and
``kansho mosaic`` (adjacent frames merged onto one grid with one reference)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from kansho.batch.slurm import NO_WORKER_TIMEOUT_S
from kansho.layout import CUM_FILT_NAME, CUM_NAME


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
    p.add_argument("--interface", help="--cluster: network interface the scheduler listens on and the workers use, "
                   "e.g. ib0 or eth1 (when the compute nodes cannot reach this host's default address)")
    p.add_argument("--no-worker-timeout", type=float, default=NO_WORKER_TIMEOUT_S, metavar="SECONDS",
                   help="end the batch with an error when no dask worker has been connected for this long (jobs "
                   "still queued count: raise it on a busy cluster); the frames not finished are marked failed")
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

    m = sub.add_parser("mosaic", help="merge velocity (and cumulative displacement) maps of adjacent frames, or "
                       "east/up maps of several decomposed track pairs, onto one grid with one reference",
                       description="Resample the velocity maps of run folders (or of every finished frame of a batch "
                       "root) of one track onto one lon/lat grid, estimate each frame's offset (and with --ramp a "
                       "plane) from the overlaps by a least-squares network adjustment with the first frame fixed, "
                       "and blend them with feathering. Writes vel.tif, vel.mskd.tif, vstd.tif ... and mosaic.json. "
                       "With --cum, also cum_mosaic.h5: the cumulative displacement at the epochs common to all "
                       "frames, adjusted epoch by epoch. Given `kansho decompose` output folders (east.tif, up.tif) "
                       "of several track pairs instead, mosaics east and up the same way (LOS velocities of "
                       "different tracks cannot be merged). See docs/batch.md.",
                       formatter_class=fmt)
    m.add_argument("inputs", nargs="+", help="run folders and/or batch roots of one track, or decompose folders")
    m.add_argument("-o", "--out", required=True, help="output folder")
    m.add_argument("--ramp", action="store_true", help="also estimate a plane (east and north gradients) per frame "
                   "(and per epoch with --cum)")
    m.add_argument("--fixed", type=int, default=0, help="index of the frame held fixed (default: the first)")
    m.add_argument("--nearest", action="store_true", help="nearest-neighbour resampling (default bilinear)")
    m.add_argument("--cum", action="store_true", help="runs: also mosaic the cumulative displacement (cum.h5) at the "
                   "epochs common to all frames, re-referenced to the first of them -> cum_mosaic.h5")
    m.add_argument("--cum-file", default=CUM_NAME, metavar="NAME", help="with --cum: the file of each run to mosaic "
                   f"(e.g. {CUM_FILT_NAME} -> {CUM_FILT_NAME.split('.')[0]}_mosaic.h5)")
    m.add_argument("--epochs", type=_epoch_list, metavar="YYYYMMDD,...", help="with --cum: only these epochs (each "
                   "in every frame; the first is the reference, 0 mm) instead of all common epochs")
    m.add_argument("--component", action="append", choices=["east", "up"], help="decompose folders: mosaic only "
                   "this component (repeatable; default: east and up)")
    m.set_defaults(func=_run_mosaic)


def _run_batch(args: argparse.Namespace) -> int:
    from kansho.batch.catalog import build_catalog
    from kansho.batch.frames import load_frames
    from kansho.batch.runner import run_batch
    from kansho.batch.slurm import batch_client

    specs = load_frames(args.frames_file)
    jq = {"cores": args.cores, "memory": args.memory, "walltime": args.walltime, "queue": args.queue,
          "account": args.account, "jobs": args.jobs, "job_extra": args.job_extra,
          "interface": args.interface} if args.cluster else {}
    with batch_client(scheduler=args.scheduler, workers=args.workers, cluster_kind=args.cluster,
                      memory_limit=args.memory_limit, no_worker_timeout=args.no_worker_timeout,
                      **jq) as (client, watch):
        res = run_batch(specs, args.out, client=client, watch=watch, retries=args.retries, update=args.update,
                        force=args.force, progress=not getattr(args, "quiet", False))
    if not args.no_catalog:
        try:
            build_catalog(args.out)
        except Exception as exc:  # noqa: BLE001 - the batch's results stand without the page
            logging.getLogger(__name__).warning("catalogue not written: %s", exc)
    sys.stdout.write(f"{len(specs)} frames: {len(res.done)} done, {len(res.skipped)} up to date, "
                     f"{len(res.failed)} failed in {res.seconds:.0f} s -> {args.out}\n")
    for fid in res.failed:
        sys.stdout.write(f"  FAILED {fid}: {res.records[fid].get('error')}\n")
    if res.error:
        sys.stderr.write(f"kansho: error: {res.error}\n")
    return 1 if res.failed or res.error else 0


def _run_catalog(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kansho.batch.catalog import build_catalog
    from kansho.errors import InputError

    if not (Path(args.root) / "status").is_dir():
        raise InputError(args.root, "not a batch root (no status/ folder)")
    page = build_catalog(args.root, title=args.title)
    sys.stdout.write(f"{page}\n")
    return 0


def _epoch_list(text: str) -> list[int]:
    from kansho._dates import parse_date

    try:
        return [int(parse_date(v).strftime("%Y%m%d")) for v in text.replace(" ", "").split(",") if v]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_mosaic(args: argparse.Namespace) -> int:
    from kansho.batch.mosaic import (
        COMPONENTS,
        Method,
        find_inputs,
        mosaic_decomposed,
        mosaic_runs,
    )
    from kansho.errors import InputError

    kind, found = find_inputs(args.inputs)
    method: Method = "nearest" if args.nearest else "bilinear"
    if kind == "enu":
        if args.cum or args.epochs:
            raise InputError(found[0], "is a decompose folder (east/up velocities): --cum/--epochs need runs")
        res = mosaic_decomposed(found, args.out, components=args.component or COMPONENTS, ramp=args.ramp,
                                fixed=args.fixed, method=method)
        for comp, params in res.components.items():
            for name, p in zip(res.frames, params, strict=True):
                extra = f", ramp {p[1]:+.3f} E {p[2]:+.3f} N mm/yr/km" if p.size == 3 else ""
                sys.stdout.write(f"  {comp} {name}: offset {p[0]:+.2f} mm/yr{extra}\n")
        sys.stdout.write(f"mosaic of {', '.join(res.components)} from {len(found)} decompositions -> {res.out}\n")
        return 0
    if args.component:
        raise InputError(found[0], "is a run (LOS velocity): --component needs decompose folders (east.tif, up.tif)")
    if args.epochs and not args.cum:
        raise InputError(None, "--epochs applies to --cum")
    res = mosaic_runs(found, args.out, ramp=args.ramp, fixed=args.fixed, method=method, cum=args.cum,
                      cum_file=args.cum_file, epochs=args.epochs, progress=not getattr(args, "quiet", False))
    for name, p in zip(res.frames, res.params, strict=True):
        extra = f", ramp {p[1]:+.3f} E {p[2]:+.3f} N mm/yr/km" if p.size == 3 else ""
        sys.stdout.write(f"  {name}: offset {p[0]:+.2f} mm/yr{extra}\n")
    for o in res.stats["overlaps"]:
        i, j = o["frames"]
        sys.stdout.write(f"  overlap {res.frames[i]}/{res.frames[j]}: {o['pixels']} px, RMS difference "
                         f"{o['rms_before']:.2f} -> {o['rms_after']:.2f} mm/yr\n")
    if res.cum is not None:
        c = res.cum
        sys.stdout.write(f"  cumulative displacement: {c.epochs.size} epochs {c.epochs[0]}..{c.epochs[-1]} "
                         f"(reference {c.epochs[0]}), overlap RMS after adjustment <= "
                         f"{c.summary['rms_after_max_mm']:.2f} mm -> {c.path}\n")
    sys.stdout.write(f"mosaic of {len(found)} frames -> {res.out}\n")
    return 0
