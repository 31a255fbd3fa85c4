"""``kansho export OUT --format cog|kmz|mintpy|netcdf|csv|licsbas -o DIR``: products for other tools.

``OUT`` is a Kansho run folder or a LiCSBAS ``TS_GEOCml*`` folder. Every format asked for is checked before
anything is written (csv without a point is refused up front; with ``all`` it is left out, with a note).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from kansho._lonlat import LonLat, Pixel, point_arg

log = logging.getLogger(__name__)


def _pair(kind: type) -> Any:
    def conv(text: str) -> tuple[Any, Any]:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected two comma-separated numbers, got {text!r}")
        return kind(parts[0]), kind(parts[1])

    conv.__name__ = f"{kind.__name__} pair"
    return conv


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    from kansho.export import FORMATS

    p = sub.add_parser("export", help="export a run for GIS and other tools (COG, KMZ, MintPy, NetCDF, CSV, LiCSBAS)",
                       formatter_class=fmt,
                       description="; ".join(f"{f.name}: {f.description}" for f in FORMATS.values()) + ".")
    p.add_argument("out", type=Path, help="run folder (with cum.h5 and results/) or a LiCSBAS TS_GEOCml* folder")
    p.add_argument("--format", "-f", required=True,
                   help=f"one or more of {', '.join(FORMATS)} (comma-separated), or 'all'")
    p.add_argument("-o", "--out", dest="output", type=Path, required=True, help="destination folder")
    p.add_argument("--layer", default="vel.mskd", help="kmz: which results/ map to draw")
    p.add_argument("--vmin", type=float, default=None, help="kmz: lower colour limit (default: robust)")
    p.add_argument("--vmax", type=float, default=None, help="kmz: upper colour limit (default: robust)")
    p.add_argument("--filtered", action="store_true", help="mintpy: export the filtered series and velocity")
    p.add_argument("--point", type=point_arg(pixels=True), action="append", default=[], metavar="LON,LAT",
                   help="csv: a point by longitude,latitude (99.1W,19.4N or -99.1,19.4), or px:ROW,COL (repeatable)")
    p.add_argument("--pixel", type=_pair(int), action="append", default=[], metavar="ROW,COL",
                   help="csv: a point by pixel row,col (repeatable)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from kansho.export import FORMATS, export_many

    names = list(FORMATS) if args.format == "all" else [f.strip() for f in args.format.split(",") if f.strip()]
    lonlat = [tuple(p) for p in args.point if isinstance(p, LonLat)]
    pixels = [*args.pixel, *(tuple(p) for p in args.point if isinstance(p, Pixel))]
    values = {"layer": args.layer, "vmin": args.vmin, "vmax": args.vmax, "filtered": args.filtered,
              "lonlat": lonlat, "pixels": pixels}
    for name, path in export_many(args.out, names, args.output, all_formats=args.format == "all", **values):
        sys.stdout.write(f"{name}: {path}\n")
    return 0
