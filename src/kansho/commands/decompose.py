"""``kansho decompose``: east and up velocities from two or more LOS tracks."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any, fmt: type) -> None:
    p = sub.add_parser(
        "decompose", formatter_class=fmt,
        help="east/up velocity from two or more tracks (north from GNSS or neglected)",
        description="Resample the LOS velocities of two or more runs (tracks) onto a common grid and solve per "
                    "pixel, weighted by vstd, for east and up velocity with uncertainties. North comes from "
                    "--gnss-north (a station CSV, interpolated, or a GeoTIFF); without it north is neglected "
                    "and the bias it costs per mm/yr of north motion is written (north_sens_e/u.tif).",
    )
    p.add_argument("runs", metavar="OUT", nargs="+", help="run output folders (or LiCSBAS TS_GEOCml* folders),"
                   " one per track (at least two)")
    p.add_argument("-o", "--out", dest="output", required=True, metavar="DIR", help="folder for the products")
    p.add_argument("--gnss-north", metavar="FIELD", default=None,
                   help="north velocity: station CSV (interpolated) or GeoTIFF in mm/yr")
    p.add_argument("--vel", action="append", default=None, metavar="FILE",
                   help="use this LOS velocity GeoTIFF instead of OUT/results/vel.tif (e.g. a GNSS-tied "
                        "vel_tied.tif); give one per track, in order")
    p.add_argument("--posting-deg", type=float, default=None, help="posting of the common grid (default: the coarsest)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.errors import ConfigError
    from kansho.geodesy.runs import decompose_runs

    if len(args.runs) < 2:
        raise ConfigError("decompose needs at least two run folders (tracks)")
    summary = decompose_runs(args.runs, args.output, vel_files=args.vel, gnss_north=args.gnss_north,
                             posting_deg=args.posting_deg, plots=not args.no_plots)
    summary.pop("grid", None)
    sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    return 0
