"""The LiCSAR portal's layout: frame ids, folder and file names, and what to fetch for a frame.

The portal (Lazecký et al. 2020, *Remote Sensing* 12(15) 2430) publishes, under its products root,
one folder per frame::

    <track>/<FRAME_ID>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.unw.tif   unwrapped phase (rad)
    <track>/<FRAME_ID>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.cc.tif    coherence
    <track>/<FRAME_ID>/metadata/<FRAME_ID>.geo.{E,N,U,hgt}.tif           LOS unit vector, DEM
    <track>/<FRAME_ID>/metadata/baselines, metadata.txt
    <track>/<FRAME_ID>/epochs/<date>/<date>.sltd.geo.tif                 GACOS slant delay (some frames)

where ``<track>`` is the frame id's leading number without zero padding (``124D_04854_171313`` →
``124``). Pair and epoch folders are discovered from the (Apache-style) HTML directory listings.
The files land in the GEOC layout that ``kansho ts`` reads::

    OUT/GEOC/<d1>_<d2>/<d1>_<d2>.geo.unw.tif, .geo.cc.tif
    OUT/GEOC/<FRAME_ID>.geo.E.tif ... .geo.hgt.tif, OUT/GEOC/baselines, OUT/GEOC/metadata.txt
    OUT/GACOS/<date>.sltd.geo.tif
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kansho._dates import parse_date
from kansho.io.filecheck import GEOTIFF, kind_of
from kansho.io.http import FAILED, DownloadError, Fetcher, FileOutcome, Job, list_or_none

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "FramePlan",
    "frame_track",
    "list_frame_pairs",
    "plan_frame",
    "select_pairs",
    "validate_frame_id",
]

DEFAULT_BASE_URL = "https://gws-access.jasmin.ac.uk/public/nceo_geohazards/LiCSAR_products"
GACOS_SUFFIX = ".sltd.geo.tif"
GEOMETRY_SUFFIXES = (".geo.E.tif", ".geo.N.tif", ".geo.U.tif", ".geo.hgt.tif")
METADATA_FILES = ("baselines", "metadata.txt")

_FRAME_RE = re.compile(r"^(\d{3})([AD])_(\d{5})_(\d{6})$")
PAIR_RE = re.compile(r"^(\d{8})_(\d{8})$")
_DATE_RE = re.compile(r"^\d{8}$")


def validate_frame_id(frame_id: str) -> str:
    """Return the frame id (upper-cased A/D) or raise :class:`DownloadError` with a one-line reason."""
    fid = str(frame_id).strip()
    fid = fid[:3] + fid[3:4].upper() + fid[4:]
    if not _FRAME_RE.match(fid):
        raise DownloadError(
            f"invalid LiCSAR frame id {frame_id!r}: expected NNN[A|D]_NNNNN_NNNNNN, e.g. 124D_04854_171313"
        )
    return fid


def frame_track(frame_id: str) -> str:
    """The portal's track folder: the frame id's leading number without zero padding (``001A_…`` → ``"1"``)."""
    return str(int(validate_frame_id(frame_id)[:3]))


def _as_date(value: str | int | _dt.date | None, what: str) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.date):
        return value
    try:
        return parse_date(value)
    except ValueError:
        raise DownloadError(f"{what} {value!r}: not a valid yyyymmdd date") from None


def select_pairs(
    pairs: Iterable[str],
    start: str | int | _dt.date | None = None,
    end: str | int | _dt.date | None = None,
    max_tlen_days: float | None = None,
) -> list[str]:
    """The ``yyyymmdd_yyyymmdd`` names with both dates in ``[start, end]`` and ``d2 − d1 ≤ max_tlen_days``.

    Names that are not two valid, increasing dates are dropped (with a debug message). Sorted.
    """
    d0 = _as_date(start, "start")
    d9 = _as_date(end, "end")
    if d0 is not None and d9 is not None and d0 > d9:
        raise DownloadError(f"start {d0:%Y%m%d} is after end {d9:%Y%m%d}")
    if max_tlen_days is not None and max_tlen_days <= 0:
        raise DownloadError(f"max temporal baseline {max_tlen_days} days: must be positive")
    out = []
    for name in pairs:
        m = PAIR_RE.match(name)
        if m is None:
            continue
        try:
            a, b = parse_date(m.group(1)), parse_date(m.group(2))
        except ValueError:
            log.debug("pair folder %s: invalid date, ignored", name)
            continue
        if a >= b:
            log.debug("pair folder %s: dates not increasing, ignored", name)
            continue
        if (d0 is not None and a < d0) or (d9 is not None and b > d9):
            continue
        if max_tlen_days is not None and (b - a).days > max_tlen_days:
            continue
        out.append(name)
    return sorted(set(out))


def frame_folder(fid: str) -> str:
    """``<track>/<FRAME_ID>/``: the frame's folder under the products root."""
    return f"{frame_track(fid)}/{fid}/"


def list_frame_pairs(fetcher: Fetcher, fid: str) -> list[str]:
    """The pair folder names (``yyyymmdd_yyyymmdd``) the portal lists for frame ``fid``."""
    rel = frame_folder(fid) + "interferograms/"
    listing = list_or_none(fetcher, rel)
    if listing is None:
        raise DownloadError(f"frame {fid} not found: no folder {fetcher.source.url(rel)}")
    return [n.rstrip("/") for n in listing if n.endswith("/") and PAIR_RE.match(n.rstrip("/"))]


@dataclass
class FramePlan:
    """What to fetch for a frame: the jobs, failures that are not one file (the GACOS listing), and
    the epochs without a GACOS folder on the server."""

    jobs: list[Job] = field(default_factory=list)
    extra: list[FileOutcome] = field(default_factory=list)
    gacos_missing: list[int] = field(default_factory=list)


def plan_frame(fetcher: Fetcher, fid: str, pairs: list[str], gacos: bool) -> FramePlan:
    """The files of ``pairs``, the frame's geometry and metadata, and (``gacos``) the GACOS delays of their epochs.

    The two files of a pair form one group (they enter ``GEOC/<pair>/`` together); geometry,
    metadata and GACOS files are optional (a 404 is "absent", not a failure). Every ``.tif`` must be
    a readable GeoTIFF and ``baselines``/``metadata.txt`` text, never an HTML page
    (:mod:`kansho.io.filecheck`), before it is placed.
    """
    frame_rel = frame_folder(fid)
    plan = FramePlan()
    for p in pairs:
        for kind in ("unw", "cc"):
            name = f"{p}.geo.{kind}.tif"
            plan.jobs.append(Job(f"{frame_rel}interferograms/{p}/{name}", f"GEOC/{p}/{name}", group=p, kind=GEOTIFF))
    for name in [f"{fid}{suffix}" for suffix in GEOMETRY_SUFFIXES] + list(METADATA_FILES):
        plan.jobs.append(Job(f"{frame_rel}metadata/{name}", f"GEOC/{name}", group=name, optional=True,
                             kind=kind_of(name)))
    if gacos and pairs:
        _plan_gacos(fetcher, frame_rel, pairs, plan)
    return plan


def _plan_gacos(fetcher: Fetcher, frame_rel: str, pairs: list[str], plan: FramePlan) -> None:
    epochs = sorted({int(d) for p in pairs for d in p.split("_")})
    try:
        listed = list_or_none(fetcher, frame_rel + "epochs/") or []
    except DownloadError as exc:  # GACOS is optional: report it, download the rest
        listed = []
        url = fetcher.source.url(frame_rel + "epochs/")
        plan.extra.append(FileOutcome("GACOS/", url, FAILED, reason=str(exc).replace(f"cannot list {url}: ", "")))
    have = {int(n.rstrip("/")) for n in listed if n.endswith("/") and _DATE_RE.match(n.rstrip("/"))}
    for e in epochs:
        if e in have:
            name = f"{e}{GACOS_SUFFIX}"
            plan.jobs.append(Job(f"{frame_rel}epochs/{e}/{name}", f"GACOS/{name}", group=name, optional=True,
                                 kind=GEOTIFF))
        else:
            plan.gacos_missing.append(e)
