"""``kansho ifg SLC_STACK -o GEOC``: coregistered SLCs → LiCSAR-layout interferograms (GsiSM2SB chain)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any, fmt: type) -> None:
    p = sub.add_parser(
        "ifg",
        help="interferograms from a coregistered SLC stack, written in the LiCSAR GEOC layout",
        description="Form, filter, unwrap (SNAPHU) and geocode interferograms of a coregistered SLC stack "
        "(SNAP Zarr, GAMMA, ENVI or complex GeoTIFF) into a GEOC folder that 'kansho ts' reads. "
        "Re-running skips pairs already written; a failing pair is listed and does not stop the others.",
        formatter_class=fmt,
    )
    p.add_argument("stack", help="folder of the coregistered SLC stack")
    p.add_argument("-o", "--out", required=True, help="output GEOC folder")
    p.add_argument("--config", help="YAML file of options (see docs/ifg.md)")
    p.add_argument("--range-looks", type=int, help="looks in range (overrides the config)")
    p.add_argument("--azimuth-looks", type=int, help="looks in azimuth (overrides the config)")
    p.add_argument("--posting", type=float, help="output grid posting in degrees (overrides the config)")
    p.add_argument("--gacos", metavar="DIR",
                   help="subtract GACOS delays of this folder from each unwrapped pair (troposphere.method gacos)")
    p.add_argument("--iono", choices=["auto", "off", "split-spectrum"],
                   help="ionospheric correction by range split-spectrum (iono.method; config default: auto = on for "
                        "L-band, off for C-band)")
    p.add_argument("--range-bandwidth", type=float, metavar="HZ",
                   help="range (chirp) bandwidth of the SLCs in Hz for the split-spectrum (iono.range_bandwidth_hz)")
    p.add_argument("--workers", type=int, default=0, help="local dask worker processes (0: run here)")
    p.add_argument("--scheduler", help="address of a running dask scheduler")
    p.add_argument("--force", action="store_true", help="recompute pairs that are already written")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.ifg.chain import run_ifg
    from kansho.ifg.config import load_ifg_config
    from kansho.parallel import cluster

    overrides: dict[str, Any] = {}
    if args.range_looks is not None:
        overrides["form.range_looks"] = args.range_looks
    if args.azimuth_looks is not None:
        overrides["form.azimuth_looks"] = args.azimuth_looks
    if args.posting is not None:
        overrides["geocode.posting_deg"] = args.posting
    if args.gacos is not None:
        overrides["troposphere.method"] = "gacos"
        overrides["troposphere.gacos_dir"] = args.gacos
    if args.iono is not None:
        overrides["iono.method"] = args.iono
    if args.range_bandwidth is not None:
        overrides["iono.range_bandwidth_hz"] = args.range_bandwidth
    cfg = load_ifg_config(args.config, overrides)
    progress = sys.stderr.isatty() and not getattr(args, "quiet", False)
    with cluster(args.workers or None, args.scheduler) as client:
        run = run_ifg(args.stack, args.out, cfg, client=client, progress=progress, force=args.force)
    sys.stdout.write(
        f"{len(run.pairs)} pairs: {len(run.done)} written, {len(run.skipped)} already done, "
        f"{len(run.failed)} failed -> {run.geoc}\n"
    )
    for name, msg in sorted(run.failed.items()):
        sys.stdout.write(f"  FAILED {name}: {msg}\n")
    return 1 if run.failed else 0
