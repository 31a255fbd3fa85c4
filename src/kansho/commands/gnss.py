"""``kansho gnss compare``: compare a run with GNSS stations and optionally tie it to them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kansho.errors import ConfigError


def register(sub: Any, fmt: type) -> None:
    p = sub.add_parser("gnss", help="GNSS tools: compare a run with GNSS stations (and tie it to them)",
                       formatter_class=fmt)
    gsub = p.add_subparsers(dest="gnss_command", metavar="COMMAND")
    c = gsub.add_parser(
        "compare", formatter_class=fmt,
        help="project GNSS on the LOS and compare velocities and time series with a run",
        description="Project each station's east/north/up motion on the run's LOS (stack.zarr E/N/U at the "
                    "station), average InSAR within --radius-km, put both on a common reference (the "
                    "network mean or --ref-station) and report per station and overall the velocity "
                    "difference and the time-series RMS difference. --tie fits and removes an offset and a "
                    "linear or quadratic ramp of InSAR - GNSS (writes vel_tied.tif).",
    )
    c.add_argument("out", metavar="OUT", help="run output folder (results/, cum.h5, stack.zarr)"
                   " or a LiCSBAS TS_GEOCml* folder")
    c.add_argument("stations", metavar="STATIONS", nargs="+",
                   help="GNSS files: NGL .tenv3, PBO .pos or station-velocity CSV (name,lon,lat,ve,vn,vu,se,sn,su)")
    c.add_argument("-o", "--out", dest="output", required=True, metavar="DIR", help="folder for the products")
    c.add_argument("--radius-km", type=float, default=0.5, help="InSAR is averaged within this radius of a station")
    c.add_argument("--tie", choices=["offset", "linear", "quadratic"], default=None,
                   help="fit and remove this InSAR - GNSS ramp (default: compare only)")
    c.add_argument("--ref-station", default=None, help="reference station (default: the network mean)")
    c.add_argument("--window-days", type=float, default=6.0,
                   help="GNSS positions within this window around an InSAR epoch are averaged")
    c.add_argument("--offset", action="append", default=[], metavar="STATION=YYYYMMDD",
                   help="estimate a GNSS step (equipment change, earthquake) at this date; repeatable")
    c.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    c.set_defaults(func=_run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    from kansho.geodesy.runs import format_table, gnss_compare

    if args.radius_km <= 0:
        raise ConfigError(f"--radius-km must be positive, got {args.radius_km}")
    offsets: dict[str, list[int]] = {}
    for item in args.offset:
        name, sep, date = item.partition("=")
        if not sep or not date.isdigit() or len(date) != 8:
            raise ConfigError(f"--offset {item!r}: expected STATION=YYYYMMDD")
        offsets.setdefault(name, []).append(int(date))
    summary = gnss_compare(args.out, args.stations, args.output, radius_km=args.radius_km, tie=args.tie,
                           ref_station=args.ref_station, window_days=args.window_days, offsets=offsets,
                           plots=not args.no_plots)
    sys.stdout.write(format_table(summary) + "\n")
    return 0
