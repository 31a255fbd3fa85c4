"""``kansho plate OUT --plate EURA | --pole LAT,LON,DEG_PER_MYR [--model itrf2014|itrf2020]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _pole(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        lat, lon, rate = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON,DEG_PER_MYR (e.g. 55.07,-99.09,0.261), got {text!r}"
                                         ) from None
    return lat, lon, rate


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    from kansho.geodesy.plate import MODELS

    plates = sorted({p for m in MODELS.values() for p in m.plates})
    p = sub.add_parser(
        "plate", formatter_class=fmt,
        help="remove the LOS velocity of a rigid plate rotation (ITRF plate motion model) from a run",
        description="Project the velocity of a rigid plate rotation (an ITRF plate motion model's plate, or an "
                    "Euler pole) on the run's LOS, refer it to the run's reference area and remove it from the "
                    "velocity and the time series: writes results/plate_los.tif, results/vel.plate.tif, "
                    "cum.plate.h5 (and the filtered twins) and info/plate.txt. See docs/corrections_plate.md.")
    p.add_argument("out", type=Path, metavar="OUT", help="finished run folder (results/, cum.h5, stack.zarr)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--plate", default=None, metavar="NAME", help=f"plate abbreviation: {', '.join(plates)}")
    g.add_argument("--pole", type=_pole, default=None, metavar="LAT,LON,DEG_PER_MYR",
                   help="Euler pole: latitude, longitude (degrees) and rotation rate (deg/Myr)")
    p.add_argument("--model", choices=sorted(MODELS), default="itrf2014",
                   help="plate motion model of --plate (ITRF2014-PMM: Altamimi et al. 2017; ITRF2020-PMM: 2023)")
    p.add_argument("--sphere", action="store_true", help="compute v = omega x r on a sphere instead of GRS80")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.geodesy.plate_runs import plate_correct

    res = plate_correct(args.out, plate=args.plate, pole=args.pole, model=args.model, sphere=args.sphere)
    sys.stdout.write(f"removed {res.rotation.label}: LOS {res.removed_min:.2f} .. {res.removed_max:.2f} mm/yr "
                     f"relative to the reference area\n")
    for path in res.written:
        sys.stdout.write(f"wrote {path}\n")
    return 0
