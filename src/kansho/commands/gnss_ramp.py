"""``kansho gnss-ramp OUT STATIONS... [--ramp linear]``: per-epoch ramps of a run fitted to GNSS, removed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser(
        "gnss-ramp", formatter_class=fmt,
        help="remove per-epoch long-wavelength ramps of a run's time series estimated from GNSS series",
        description="Project each GNSS station's series on the run's LOS, fit an offset/linear/quadratic ramp "
                    "per epoch through the InSAR - GNSS differences (each station's mean removed), remove the "
                    "ramps from every epoch, refer the series to the run's reference area again, and write "
                    "cum.gnssramp.h5, results/vel.gnssramp.tif, results/gnss_ramp_vel.tif and info/gnss_ramp.txt.")
    p.add_argument("out", type=Path, metavar="OUT", help="finished run folder (results/, cum.h5, stack.zarr)")
    p.add_argument("stations", metavar="STATIONS", nargs="+", help="GNSS series: NGL .tenv3 or PBO .pos files")
    p.add_argument("--ramp", choices=["offset", "linear", "quadratic"], default="linear",
                   help="ramp fitted per epoch (needs more stations than terms: 1, 3, 6)")
    p.add_argument("--radius-km", type=float, default=0.5, help="InSAR is averaged within this radius of a station")
    p.add_argument("--window-days", type=float, default=6.0,
                   help="GNSS positions within this window around an InSAR epoch are averaged")
    p.add_argument("--keep", choices=["auto", "always"], default="auto",
                   help="auto: remove an epoch's ramp only where it is significant (F test, 5 %%; a ramp of "
                        "station noise would add that noise to every pixel); always: every fitted ramp")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.errors import ConfigError
    from kansho.geodesy.epoch_ramp_runs import gnss_ramp_correct

    if args.radius_km <= 0 or args.window_days <= 0:
        raise ConfigError("--radius-km and --window-days must be positive")
    ramps, written = gnss_ramp_correct(args.out, args.stations, kind=args.ramp, radius_km=args.radius_km,
                                       window_days=args.window_days, decide=args.keep == "auto")
    sys.stdout.write(f"{int(ramps.fitted.sum())}/{ramps.fitted.size} epochs fitted, ramps removed at "
                     f"{int(ramps.kept.sum())}; station RMS of InSAR - GNSS "
                     f"{float(_median(ramps.rms_before)):.2f} -> {float(_median(ramps.rms_after)):.2f} mm (median)\n")
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    return 0


def _median(a: Any) -> float:
    import numpy as np

    return float(np.nanmedian(a))
