"""``kansho download FRAME_ID -o DIR``: fetch a LiCSAR frame into the GEOC layout (Step 0-1)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    # the module imports only the standard library, tqdm and kansho._dates: cheap for --help
    from kansho.io.download import DEFAULT_BASE_URL, DEFAULT_LAYERS, LAYERS

    p = sub.add_parser(
        "download",
        help="fetch a LiCSAR frame's interferograms, coherence, geometry and GACOS (Step 0-1)",
        description="Download a frame's products from the LiCSAR portal (or a mirror / local copy) into "
        "DIR/GEOC (read by 'kansho ts DIR'), DIR/GACOS and the folders of the other layers. Files are "
        "asked at their direct URL, then through the portal's link pages (its layout since August 2025); "
        "the URLs found are kept in DIR/download_manifest.json. Re-running resumes: complete files are "
        "skipped, partial ones continued. Interferograms or layers whose grid is not the frame's are moved "
        "to DIR/quarantine/ (listed in DIR/quarantine.txt), not a failure.",
        formatter_class=fmt,
    )
    p.add_argument("frame_id", metavar="FRAME_ID", help="LiCSAR frame id, e.g. 124D_04854_171313")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (receives GEOC/ and GACOS/)")
    p.add_argument("--start", default=None, metavar="YYYYMMDD", help="first date: pairs with both dates on or after it")
    p.add_argument("--end", default=None, metavar="YYYYMMDD", help="last date: pairs with both dates on or before it")
    p.add_argument("--max-tlen", type=float, default=None, metavar="DAYS",
                   help="only pairs with a temporal baseline of at most DAYS")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL,
                   help="products root: http(s) URL, file:// URL or local folder with the portal layout")
    p.add_argument("--workers", type=int, default=4, help="parallel downloads")
    p.add_argument("--retries", type=int, default=4, help="retries of a file after a transient fault")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server before giving up")
    p.add_argument("--layers", default=",".join(DEFAULT_LAYERS), metavar="LIST",
                   help=f"optional layers, comma-separated: {', '.join(LAYERS)}; 'all' or 'none'. Per epoch: "
                   "gacos -> GACOS/ (read by 'kansho ts --gacos DIR/GACOS'), icams -> ICAMS/, tide -> TIDE/, "
                   "iono -> IONO/, mli -> GEOC.MLI/; of the frame: landmask, network -> GEOC/. "
                   "A layer the portal lacks is reported, not an error")
    p.add_argument("--no-gacos", action="store_true", help="leave out the gacos layer")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kansho.io.download import download_frame

    summary = download_frame(
        args.frame_id,
        args.out,
        start=args.start,
        end=args.end,
        base_url=args.base_url,
        max_tlen_days=args.max_tlen,
        workers=args.workers,
        retries=args.retries,
        timeout=args.timeout,
        gacos=not args.no_gacos,
        layers=args.layers,
        progress=not getattr(args, "quiet", False),
    )
    sys.stdout.write(summary.report() + "\n")
    if summary.quarantined:
        sys.stdout.write(f"{len(summary.quarantined)} item(s) quarantined (see {summary.out_dir / 'quarantine.txt'}); "
                         "the rest is usable\n")
    if not summary.ok:
        sys.stdout.write(f"{len(summary.failed)} file(s) failed; re-run the same command to retry them\n")
        return 1
    return 0
