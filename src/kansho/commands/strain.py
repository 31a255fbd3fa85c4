"""``kansho strain``: strain-rate maps from east and north velocity grids."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any, fmt: type) -> None:
    p = sub.add_parser(
        "strain", formatter_class=fmt,
        help="strain-rate tensor, second invariant, dilatation and max shear from east/north velocities",
        description="Either EAST.tif NORTH.tif (mm/yr GeoTIFFs), or one decompose output folder (its east.tif "
                    "and north.tif, or --gnss-north). The velocities are smoothed with a Gaussian of "
                    "sigma --scale-km before differentiation. Outputs are in nanostrain/yr.",
    )
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="EAST.tif NORTH.tif, or a decompose folder")
    p.add_argument("-o", "--out", dest="output", required=True, metavar="DIR", help="folder for the products")
    p.add_argument("--scale-km", type=float, default=5.0, help="Gaussian smoothing sigma (km) before the gradient")
    p.add_argument("--gnss-north", metavar="FIELD", default=None,
                   help="with a decompose folder: north velocity (station CSV or GeoTIFF)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.errors import ConfigError
    from kansho.geodesy.runs import strain_files, strain_from_decomposition

    if args.scale_km < 0:
        raise ConfigError(f"--scale-km must be >= 0, got {args.scale_km}")
    if len(args.inputs) == 1 and Path(args.inputs[0]).is_dir():
        summary = strain_from_decomposition(args.inputs[0], args.gnss_north, args.output, scale_km=args.scale_km,
                                            plots=not args.no_plots)
    elif len(args.inputs) == 2:
        summary = strain_files(args.inputs[0], args.inputs[1], args.output, scale_km=args.scale_km,
                               plots=not args.no_plots)
    else:
        raise ConfigError("give EAST.tif NORTH.tif, or one decompose output folder")
    sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    return 0
