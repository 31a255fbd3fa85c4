"""The LiCSAR portal's layout: frame ids, folder and file names, and what to fetch for a frame.

The portal (Lazecký et al. 2020, *Remote Sensing* 12(15) 2430) publishes, under its products root,
one folder per frame::

    <track>/<FRAME_ID>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.unw.tif   unwrapped phase (rad)
    <track>/<FRAME_ID>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.cc.tif    coherence
    <track>/<FRAME_ID>/metadata/<FRAME_ID>.geo.{E,N,U,hgt,landmask}.tif  LOS unit vector, DEM, land mask
    <track>/<FRAME_ID>/metadata/baselines, metadata.txt, network.png
    <track>/<FRAME_ID>/epochs/<date>/<date>.sltd.geo.tif                 per-epoch layers (some frames):
        .sltd.geo.tif (GACOS), .icams.sltd.geo.tif (ICAMS/ERA5 weather model), .tide.geo.tif
        (solid-earth tide), .geo.iono.code.tif (ionosphere), .geo.mli.tif (multilooked intensity)

where ``<track>`` is the frame id's leading number without zero padding (``124D_04854_171313`` →
``124``). Pair and epoch entries are discovered from the (Apache-style) HTML directory listings.

**Since August 2025** the entries ``interferograms/<pair>`` and ``epochs/<date>`` are no longer
folders holding the files but HTML pages of links to the files on the archive host (CEDA:
``…/neodc/comet/data/licsar_products/<track>/<FRAME_ID>/<pair>/<file>``), and for a while a parallel
``LiCSAR_products.future/`` tree (and a ``.public/`` one) held entries the main tree lacked: the
pairs and epochs listed in any of them are used. Each file is asked at its direct path first;
when that is a 404 or an HTML page, the entry's page is read (in the main tree, then the
``.public`` and ``.future`` ones) and the link whose file name is the wanted name is followed,
to whichever http(s) host it points (:class:`LinkResolver`). The files land in the GEOC layout
that ``kansho ts`` reads, the optional layers in a folder each (:data:`EPOCH_LAYERS`)::

    OUT/GEOC/<d1>_<d2>/<d1>_<d2>.geo.unw.tif, .geo.cc.tif
    OUT/GEOC/<FRAME_ID>.geo.E.tif ... .geo.hgt.tif, OUT/GEOC/baselines, OUT/GEOC/metadata.txt
    OUT/GEOC/<FRAME_ID>.geo.landmask.tif, OUT/GEOC/network.png      (layers landmask, network)
    OUT/GACOS/<date>.sltd.geo.tif                                    (layer gacos: read by --gacos)
    OUT/ICAMS/<date>.icams.sltd.geo.tif, OUT/TIDE/<date>.tide.geo.tif, OUT/IONO/<date>.geo.iono.code.tif,
    OUT/GEOC.MLI/<date>.geo.mli.tif                                  (layers icams, tide, iono, mli)
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from kansho._dates import parse_date
from kansho.io.filecheck import GEOTIFF, kind_of
from kansho.io.http import FAILED, DownloadError, Fetcher, FileOutcome, Job, links_or_none, list_or_none
from kansho.io.sources import Source

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LAYERS",
    "EPOCH_LAYERS",
    "FRAME_LAYERS",
    "LAYERS",
    "FramePlan",
    "LinkResolver",
    "frame_track",
    "list_frame_pairs",
    "parse_layers",
    "plan_frame",
    "select_pairs",
    "validate_frame_id",
]

DEFAULT_BASE_URL = "https://gws-access.jasmin.ac.uk/public/nceo_geohazards/LiCSAR_products"
GACOS_SUFFIX = ".sltd.geo.tif"
GEOMETRY_SUFFIXES = (".geo.E.tif", ".geo.N.tif", ".geo.U.tif", ".geo.hgt.tif")
METADATA_FILES = ("baselines", "metadata.txt")
#: per-epoch layer → (file name after ``<date>``, folder under OUT)
EPOCH_LAYERS: dict[str, tuple[str, str]] = {
    "gacos": (GACOS_SUFFIX, "GACOS"),
    "icams": (".icams.sltd.geo.tif", "ICAMS"),
    "tide": (".tide.geo.tif", "TIDE"),
    "iono": (".geo.iono.code.tif", "IONO"),
    "mli": (".geo.mli.tif", "GEOC.MLI"),
}
#: frame layer → file name under ``metadata/`` (``{fid}``: the frame id); it lands in OUT/GEOC/
FRAME_LAYERS: dict[str, str] = {"landmask": "{fid}.geo.landmask.tif", "network": "network.png"}
LAYERS = (*EPOCH_LAYERS, *FRAME_LAYERS)
#: LiCSBAS01 fetches network.png always; GACOS only with --get_gacos, which Kansho has always done by default
DEFAULT_LAYERS = ("gacos", "network")
#: the parallel trees next to the products root, listed and read after it: since the move of the
#: files to the archive (Aug-Oct 2025), ``LiCSAR_products.public/`` has held entries the main tree
#: lacks, and ``LiCSAR_products.future/`` link pages of further pairs
MIRROR_TREES = (".public", ".future")

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


def parse_layers(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """The layers named in ``text`` (comma-separated; ``all``; ``none`` or empty: none), in :data:`LAYERS` order.

    ``None`` gives :data:`DEFAULT_LAYERS`. An unknown name is a :class:`DownloadError` listing the known ones.
    """
    if text is None:
        return DEFAULT_LAYERS
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n and n != "none"]
    if "all" in names:
        return LAYERS
    bad = [n for n in names if n not in LAYERS]
    if bad:
        raise DownloadError(f"--layers {','.join(bad)}: unknown layer(s); known: {','.join(LAYERS)}, all, none")
    return tuple(n for n in LAYERS if n in names)


def frame_folder(fid: str) -> str:
    """``<track>/<FRAME_ID>/``: the frame's folder under the products root."""
    return f"{frame_track(fid)}/{fid}/"


def _trees(fetcher: Fetcher) -> list[Source]:
    """The products root and its parallel trees of link pages (:data:`MIRROR_TREES`)."""
    out = [fetcher.source]
    for suffix in MIRROR_TREES:
        other = fetcher.source.sibling(suffix)
        if other is not None:
            out.append(other)
    return out


def _entries(fetcher: Fetcher, rel: str, pattern: re.Pattern[str]) -> list[str] | None:
    """Names matching ``pattern`` listed under ``rel`` in the main tree and, best effort, the parallel
    ones: entries are folders (``name/``, the old layout) or link pages (``name``). None: the main
    tree has no such folder."""
    found = list_or_none(fetcher, rel)
    names = set() if found is None else {n.rstrip("/") for n in found}
    for tree in _trees(fetcher)[1:]:
        try:
            more = list_or_none(fetcher, rel, tree) or []
        except DownloadError as exc:
            log.warning("%s: %s (the parallel tree is skipped)", tree.root, exc)
            continue
        if more and found is None:
            found = []
        names |= {n.rstrip("/") for n in more}
    if found is None:
        return None
    return sorted(n for n in names if pattern.match(n))


def list_frame_pairs(fetcher: Fetcher, fid: str) -> list[str]:
    """The pair entries (``yyyymmdd_yyyymmdd``) the portal lists for frame ``fid`` (main and parallel trees)."""
    rel = frame_folder(fid) + "interferograms/"
    listing = _entries(fetcher, rel, PAIR_RE)
    if listing is None:
        raise DownloadError(f"frame {fid} not found: no folder {fetcher.source.url(rel)}")
    return listing


class LinkResolver:
    """Finds a file that is not at its direct path: the link of the same name on its entry's page.

    A job's entry is its path's folder (``…/interferograms/<pair>``, ``…/epochs/<date>``,
    ``…/metadata``); its page is read once per run and tree (main, then :data:`MIRROR_TREES`), asked without
    a trailing ``/`` (an old-style folder redirects to its listing). Only http(s) links whose file
    name equals the wanted name count (:func:`kansho.io.sources.parse_links`); the destination is
    always the job's own, never a name taken from the page.
    """

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self.trees = _trees(fetcher)
        self._pages: dict[tuple[int, str], dict[str, str] | None] = {}
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self.pages_read = 0

    def __call__(self, job: Job) -> str | None:
        if job.rel.startswith(("http://", "https://")):
            return None
        entry, _, name = job.rel.rpartition("/")
        for i in range(len(self.trees)):
            links = self._links(i, entry)
            if links and name in links:
                return links[name]
        return None

    def _links(self, i: int, entry: str) -> dict[str, str] | None:
        key = (i, entry)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._pages:
                try:
                    self._pages[key] = links_or_none(self.fetcher, entry, self.trees[i])
                except DownloadError:
                    if i == 0:
                        raise
                    self._pages[key] = None  # a parallel tree that fails is only a missed chance
                self.pages_read += 1
            return self._pages[key]


@dataclass
class FramePlan:
    """What to fetch for a frame: the jobs, failures that are not one file (an epochs listing), and
    per layer the epochs the server has no entry for."""

    jobs: list[Job] = field(default_factory=list)
    extra: list[FileOutcome] = field(default_factory=list)
    layer_missing: dict[str, list[int]] = field(default_factory=dict)

    @property
    def gacos_missing(self) -> list[int]:
        return self.layer_missing.get("gacos", [])


def plan_frame(fetcher: Fetcher, fid: str, pairs: list[str], gacos: bool = True,
               layers: Iterable[str] | None = None) -> FramePlan:
    """The files of ``pairs``, the frame's geometry and metadata, and the optional ``layers``
    (:data:`LAYERS`; ``None``: :data:`DEFAULT_LAYERS`, less ``gacos`` when ``gacos`` is False).

    The two files of a pair form one group (they enter ``GEOC/<pair>/`` together); geometry,
    metadata and layers are optional (a 404 is "absent", not a failure). Every ``.tif`` must be
    a readable GeoTIFF, ``network.png`` a PNG and ``baselines``/``metadata.txt`` text, never an HTML
    page (:mod:`kansho.io.filecheck`), before it is placed.
    """
    chosen = [n for n in (DEFAULT_LAYERS if layers is None else layers) if gacos or n != "gacos"]
    frame_rel = frame_folder(fid)
    plan = FramePlan()
    for p in pairs:
        for kind in ("unw", "cc"):
            name = f"{p}.geo.{kind}.tif"
            plan.jobs.append(Job(f"{frame_rel}interferograms/{p}/{name}", f"GEOC/{p}/{name}", group=p, kind=GEOTIFF))
    meta = [f"{fid}{suffix}" for suffix in GEOMETRY_SUFFIXES] + list(METADATA_FILES)
    meta += [FRAME_LAYERS[n].format(fid=fid) for n in FRAME_LAYERS if n in chosen]
    for name in meta:
        plan.jobs.append(Job(f"{frame_rel}metadata/{name}", f"GEOC/{name}", group=name, optional=True,
                             kind=kind_of(name)))
    epoch_layers = [n for n in EPOCH_LAYERS if n in chosen]
    if epoch_layers and pairs:
        _plan_epochs(fetcher, frame_rel, pairs, epoch_layers, plan)
    return plan


def _plan_epochs(fetcher: Fetcher, frame_rel: str, pairs: list[str], layers: list[str], plan: FramePlan) -> None:
    epochs = sorted({int(d) for p in pairs for d in p.split("_")})
    try:
        listed = _entries(fetcher, frame_rel + "epochs/", _DATE_RE) or []
    except DownloadError as exc:  # the layers are optional: report it, download the rest
        listed = []
        url = fetcher.source.url(frame_rel + "epochs/")
        reason = str(exc).replace(f"cannot list {url}: ", "")
        plan.extra.extend(FileOutcome(f"{EPOCH_LAYERS[n][1]}/", url, FAILED, reason=reason) for n in layers)
    have = {int(n) for n in listed}
    for n in layers:
        suffix, folder = EPOCH_LAYERS[n]
        plan.layer_missing[n] = [e for e in epochs if e not in have]
        for e in epochs:
            if e in have:
                name = f"{e}{suffix}"
                plan.jobs.append(Job(f"{frame_rel}epochs/{e}/{name}", f"{folder}/{name}", group=f"{folder}/{name}",
                                     optional=True, kind=GEOTIFF))
