"""``kansho export OUT --format cog|kmz|mintpy|netcdf|csv -o DIR``: products for other tools."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_FORMATS = ("cog", "kmz", "mintpy", "netcdf", "csv")


def _pair(kind: type) -> Any:
    def conv(text: str) -> tuple[Any, Any]:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected two comma-separated numbers, got {text!r}")
        return kind(parts[0]), kind(parts[1])

    conv.__name__ = f"{kind.__name__} pair"
    return conv


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("export", help="export a run for GIS and other tools (COG, KMZ, MintPy, NetCDF, CSV)",
                       formatter_class=fmt,
                       description="cog: every results/*.tif as a Cloud-Optimized GeoTIFF; kmz: a map for Google "
                                   "Earth; mintpy: timeseries.h5 + velocity.h5 in MintPy's layout (m, m/yr); "
                                   "netcdf: CF-1.8 NetCDF of the cube via xarray; csv: time series of points.")
    p.add_argument("out", type=Path, help="run folder (with cum.h5 and results/)")
    p.add_argument("--format", "-f", required=True,
                   help=f"one or more of {', '.join(_FORMATS)} (comma-separated), or 'all'")
    p.add_argument("-o", "--output", type=Path, required=True, help="destination folder")
    p.add_argument("--layer", default="vel.mskd", help="kmz: which results/ map to draw")
    p.add_argument("--vmin", type=float, default=None, help="kmz: lower colour limit (default: robust)")
    p.add_argument("--vmax", type=float, default=None, help="kmz: upper colour limit (default: robust)")
    p.add_argument("--filtered", action="store_true", help="mintpy: export the filtered series and velocity")
    p.add_argument("--point", type=_pair(float), action="append", default=[], metavar="LON,LAT",
                   help="csv: a point by longitude,latitude (repeatable)")
    p.add_argument("--pixel", type=_pair(int), action="append", default=[], metavar="ROW,COL",
                   help="csv: a point by pixel row,col (repeatable)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from kansho.errors import ConfigError
    from kansho.export import export

    fmts = list(_FORMATS) if args.format == "all" else [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in fmts if f not in _FORMATS]
    if bad or not fmts:
        raise ConfigError(f"--format: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(_FORMATS)}")
    if args.format == "all" and not (args.point or args.pixel):
        fmts.remove("csv")
    for f in fmts:
        opts: dict[str, Any] = {}
        if f == "kmz":
            opts = {"layer": args.layer, "vmin": args.vmin, "vmax": args.vmax}
        elif f == "mintpy":
            opts = {"filtered": args.filtered}
        elif f == "csv":
            opts = {"lonlat": args.point, "pixels": args.pixel}
        files = export(args.out, f, args.output, **opts)
        for path in files:
            sys.stdout.write(f"{f}: {path}\n")
    return 0
