"""``kansho tide INPUT [-o DIR] [--time HH:MM:SS]``: the solid-earth tide layer of a frame, computed.

Writes one ``<date>.tide.geo.tif`` per epoch (LOS displacement toward the satellite, metres: the unit
and sign of LiCSAR's TIDE layer) into ``DIR`` (default: ``TIDE/`` beside the input folder, where the
layer corrector of Step 0-3 looks), from :func:`kansho.tides.los_tide_mm` (IERS 2010 conventions).
Then ``kansho ts INPUT --layers tide`` removes it from every pair (docs/corrections_tides.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser(
        "tide", formatter_class=fmt,
        help="compute the solid-earth tide layer of a frame (TIDE/<date>.tide.geo.tif) for --layers tide",
        description="Compute the solid-earth tide (IERS 2010 conventions) in the line of sight of every epoch of "
                    "INPUT at its acquisition time (metadata center_time, or --time) and write it as "
                    "<date>.tide.geo.tif (LOS displacement toward the satellite, m), the layer LiCSAR publishes. "
                    "Then run 'kansho ts INPUT --layers tide'. See docs/corrections_tides.md.")
    p.add_argument("input", type=Path, metavar="INPUT", help="input folder (GEOC or GeoTIFF pairs)")
    p.add_argument("-o", "--out", type=Path, default=None, metavar="DIR",
                   help="folder of the layer files (default: TIDE/ beside INPUT)")
    p.add_argument("--time", default=None, metavar="HH:MM:SS",
                   help="UTC time of day of the acquisitions (default: center_time of the metadata)")
    p.add_argument("--coarse-deg", type=float, default=0.2, metavar="DEG",
                   help="spacing of the nodes where the tide is computed exactly, then interpolated (0: every pixel)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.errors import InputError
    from kansho.io.geotiff import read_raster, write_geotiff
    from kansho.io.inputs import discover_inputs
    from kansho.tides import epoch_times, los_tide_mm

    inputs = discover_inputs(args.input)
    ct = args.time or inputs.metadata.get("center_time")
    if not ct:
        raise InputError(args.input, "no acquisition time (center_time) in the metadata: give --time HH:MM:SS (UTC)")
    times = epoch_times(inputs.epochs, str(ct), source=None if args.time else str(inputs.root))
    geo = inputs.geometry
    e: Any
    n: Any
    u: Any
    if inputs.los_files:
        e, n, u = (read_raster(geo[k]) for k in ("E", "N", "U"))  # type: ignore[arg-type]
    elif inputs.has_los:
        e, n, u = (float(inputs.los[k]) for k in ("E", "N", "U"))
    else:
        raise InputError(args.input, "no LOS unit vector (E/N/U files, or incidence and heading in the metadata): "
                                     "the tide cannot be projected")
    out = args.out if args.out is not None else inputs.root.parent / "TIDE"
    out.mkdir(parents=True, exist_ok=True)
    grid = inputs.grid
    tide = los_tide_mm(grid.lon(), grid.lat(), times, e, n, u, coarse_deg=args.coarse_deg or None)
    for k, d in enumerate(inputs.epochs):
        write_geotiff(out / f"{int(d)}.tide.geo.tif", (tide[k] / 1000.0).astype(np.float32), grid,
                      description="solid-earth tide, LOS displacement toward the satellite (m), IERS 2010")
    span = float(np.nanmax(tide) - np.nanmin(tide)) if np.isfinite(tide).any() else float("nan")
    sys.stdout.write(f"wrote {len(inputs.epochs)} tide layers to {out} (LOS range over the stack {span:.1f} mm); "
                     f"apply them with: kansho ts {args.input} --layers tide\n")
    return 0
