"""Download a LiCSAR frame's products into the GEOC layout that ``kansho ts`` reads (Step 0-1).

:func:`download_frame` lists the frame on the portal and plans its files
(:mod:`kansho.io.licsar_portal`: URL scheme and names), then fetches them with the generic client of
:mod:`kansho.io.http` (HEAD sizes, skip complete files, ``Range`` resume of ``.part`` files under
``OUT/.kansho-download/``, retries with back-off, the two files of a pair enter ``GEOC/<pair>/``
together, so a pair with one failed file never leaves ``GEOC`` unreadable). Every file is checked
before it is placed (:mod:`kansho.io.filecheck`: each ``.tif`` decodes as a GeoTIFF, text files
are not HTML) and files found in place count as complete only when they pass a quick check; a file
that fails is removed and reported as failed, so a damaged file never ends in place with
``summary.ok``.

A file not at its direct path is found through the portal's link pages (the layout since August
2025, :class:`kansho.io.licsar_portal.LinkResolver`); the URL each file came from is kept in
``OUT/download_manifest.json`` and asked first on the next run. The optional per-epoch and frame
layers (GACOS, ICAMS, tides, ionosphere, MLI, land mask, network figure) are chosen with
``layers``. After the transfer every interferogram and layer is checked against the frame's grid;
one that differs is quarantined (:mod:`kansho.io.download_checks`), not a failure.

The products root may also be a local folder or a ``file://`` URL holding the same layout (a
mirror or copy).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kansho.io.download_checks import (
    QUARANTINE_DIR,
    check_grids,
    known_urls,
    quarantined_dests,
    read_manifest,
    write_manifest,
)
from kansho.io.http import (
    ABSENT,
    FAILED,
    FETCHED,
    SKIPPED,
    STAGING_DIR,
    DownloadError,
    Fetcher,
    FileOutcome,
    Job,
    cleanup,
    fetch_all,
    make_source,
    parse_listing,
)
from kansho.io.licsar_portal import (
    DEFAULT_BASE_URL,
    DEFAULT_LAYERS,
    EPOCH_LAYERS,
    LAYERS,
    PAIR_RE,
    FramePlan,
    LinkResolver,
    frame_track,
    list_frame_pairs,
    parse_layers,
    plan_frame,
    select_pairs,
    validate_frame_id,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LAYERS",
    "LAYERS",
    "STAGING_DIR",
    "DownloadError",
    "DownloadSummary",
    "FileOutcome",
    "download_frame",
    "frame_track",
    "parse_layers",
    "parse_listing",
    "select_pairs",
    "validate_frame_id",
]


@dataclass
class DownloadSummary:
    """The result of :func:`download_frame`."""

    frame_id: str
    out_dir: Path
    base_url: str
    pairs_listed: int = 0
    pairs_selected: list[str] = field(default_factory=list)
    pairs_incomplete: list[str] = field(default_factory=list)
    layers: tuple[str, ...] = ()
    layer_epochs: dict[str, list[int]] = field(default_factory=dict)  # per epoch layer: epochs present
    layer_missing: dict[str, list[int]] = field(default_factory=dict)  # ... and epochs without it
    files: list[FileOutcome] = field(default_factory=list)
    resolved: int = 0  # files found through a link page (or at the URL a link gave last time)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (path under out_dir, reason), this run
    quarantined_before: list[str] = field(default_factory=list)  # destinations left in quarantine/
    elapsed_s: float = 0.0

    @property
    def gacos_epochs(self) -> list[int]:
        return self.layer_epochs.get("gacos", [])

    @property
    def gacos_missing(self) -> list[int]:
        return self.layer_missing.get("gacos", [])

    def _with(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]

    @property
    def fetched(self) -> list[FileOutcome]:
        return self._with(FETCHED)

    @property
    def skipped(self) -> list[FileOutcome]:
        return self._with(SKIPPED)

    @property
    def failed(self) -> list[FileOutcome]:
        return self._with(FAILED)

    @property
    def absent(self) -> list[FileOutcome]:
        return self._with(ABSENT)

    @property
    def bytes_fetched(self) -> int:
        return sum(f.nbytes for f in self.files)

    @property
    def ok(self) -> bool:
        """True when no file failed (optional files the server lacks do not count)."""
        return not self.failed

    def report(self) -> str:
        """A multi-line human summary: counts, then every failed file with its reason."""
        mib = self.bytes_fetched / 2**20
        rate = mib / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"frame {self.frame_id} from {self.base_url} -> {self.out_dir}",
            f"  pairs: {len(self.pairs_selected)} selected of {self.pairs_listed} listed"
            + (f", {len(self.pairs_incomplete)} incomplete (not in GEOC)" if self.pairs_incomplete else ""),
            (
                f"  files: {len(self.fetched)} fetched ({mib:.1f} MiB, {rate:.1f} MiB/s), "
                f"{len(self.skipped)} already complete, {len(self.failed)} failed, "
                f"{len(self.absent)} not on the server (optional)"
            ),
        ]
        for name in self.layer_epochs:
            have, miss = self.layer_epochs[name], self.layer_missing.get(name, [])
            if have or miss:
                folder = EPOCH_LAYERS[name][1]
                lines.append(f"  {name} ({folder}/): {len(have)} epoch(s) present, {len(miss)} epoch(s) without")
        if self.resolved:
            lines.append(f"  {self.resolved} file(s) found through the portal's link pages")
        if self.quarantined or self.quarantined_before:
            lines.append(f"  quarantined (not the frame's grid, in {QUARANTINE_DIR}/): {len(self.quarantined)} "
                         f"this run, {len(self.quarantined_before)} file(s) from earlier runs not fetched again")
        lines.append(f"  time: {self.elapsed_s:.1f} s")
        if self.failed:
            lines.append("failed:")
            lines.extend(f"  {f.name}: {f.reason}" for f in self.failed)
        if self.absent:
            lines.append("not on the server (optional):")
            lines.extend(f"  {f.name}" for f in self.absent)
        if self.quarantined:
            lines.append(f"quarantined (moved to {QUARANTINE_DIR}/, listed in quarantine.txt):")
            lines.extend(f"  {rel}: {reason}" for rel, reason in self.quarantined)
        return "\n".join(lines)


def download_frame(
    frame_id: str,
    out_dir: str | Path,
    *,
    start: str | int | _dt.date | None = None,
    end: str | int | _dt.date | None = None,
    base_url: str | Path = DEFAULT_BASE_URL,
    max_tlen_days: float | None = None,
    workers: int = 4,
    retries: int = 4,
    timeout: float = 30.0,
    backoff: float = 1.0,
    gacos: bool = True,
    layers: str | Iterable[str] | None = None,
    progress: bool = True,
) -> DownloadSummary:
    """Fetch a LiCSAR frame's interferograms, coherence, geometry, metadata and GACOS into ``out_dir``.

    Parameters
    ----------
    frame_id:
        LiCSAR frame id ``NNN[A|D]_NNNNN_NNNNNN``.
    out_dir:
        Output folder; receives ``GEOC/`` (read by ``kansho ts out_dir``) and ``GACOS/``.
    start, end:
        Keep only pairs whose two dates both lie in ``[start, end]`` (yyyymmdd; inclusive).
    base_url:
        Products root: an http(s) URL (default: the public LiCSAR portal), a ``file://`` URL or a
        local folder with the same layout.
    max_tlen_days:
        Keep only pairs with a temporal baseline ``d2 − d1`` of at most this many days.
    workers:
        Parallel downloads (bounded thread pool).
    retries:
        Retries of a file after a transient fault (timeout, reset, HTTP 5xx/408/429, a size that
        disagrees with the server's, an HTML page, a file that fails its content check) that made
        no progress; a dropped connection that delivered bytes is resumed at once and does not
        count. A 404 is never retried.
    timeout:
        Seconds a connection may wait for the server (connect, or any read) before it is abandoned.
    backoff:
        First retry delay in seconds; it doubles at each retry (±25 % jitter, at most 60 s).
    gacos, layers:
        Optional layers, comma-separated or a list of :data:`LAYERS` (default ``gacos,network``;
        ``all``, ``none``); a missing one is reported, not a failure. ``gacos=False`` drops ``gacos``.
    progress:
        Show tqdm progress bars (bytes) on stderr.

    Returns a :class:`DownloadSummary`; ``summary.ok`` is False when a file failed. Raises
    :class:`DownloadError` for an invalid frame id, date or base URL, a frame the server does not
    have, or a listing that keeps failing.
    """
    t0 = time.perf_counter()
    fid = validate_frame_id(frame_id)
    _check_options(workers, retries, timeout)
    chosen = tuple(n for n in parse_layers(layers) if gacos or n != "gacos")
    select_pairs([], start, end, max_tlen_days)  # validates the filters before any request
    out = Path(out_dir).expanduser()
    source = make_source(str(base_url), timeout)
    summary = DownloadSummary(frame_id=fid, out_dir=out, base_url=source.root, layers=chosen)
    records = read_manifest(out)
    fetcher = Fetcher(source, out, retries, backoff, known=known_urls(records))
    fetcher.resolver = resolver = LinkResolver(fetcher)

    plan = _plan(summary, fetcher, start, end, max_tlen_days)
    outcomes = fetch_all(fetcher, plan.jobs, workers=workers, progress=progress, desc=fid)

    _summarise(summary, plan, outcomes)
    cleanup(out / STAGING_DIR)
    _check_and_record(summary, plan, fetcher, records)
    log.debug("%s: %d link page(s) read", fid, resolver.pages_read)
    summary.elapsed_s = time.perf_counter() - t0
    for f in summary.failed:
        log.warning("%s: %s", f.url, f.reason)
    log.info(
        "%s: %d fetched (%.1f MiB), %d already complete, %d failed, %d absent, %d quarantined in %.1f s",
        fid, len(summary.fetched), summary.bytes_fetched / 2**20, len(summary.skipped), len(summary.failed),
        len(summary.absent), len(summary.quarantined), summary.elapsed_s,
    )
    return summary


def _plan(summary: DownloadSummary, fetcher: Fetcher, start: str | int | _dt.date | None,
          end: str | int | _dt.date | None, max_tlen_days: float | None) -> FramePlan:
    """List and select the pairs, plan their files and the layers, leave out what an earlier run quarantined."""
    fid = summary.frame_id
    listed = list_frame_pairs(fetcher, fid)
    pairs = select_pairs(listed, start, end, max_tlen_days)
    summary.pairs_listed, summary.pairs_selected = len(listed), pairs
    log.info("%s: %d pairs listed, %d selected", fid, len(listed), len(pairs))
    if not pairs:
        log.warning("%s: no pair within the date range / maximum temporal baseline", fid)
    plan = plan_frame(fetcher, fid, pairs, layers=summary.layers)
    held = quarantined_dests(summary.out_dir, [j.dest for j in plan.jobs])
    if held:
        log.warning("%s: %d file(s) left in %s/ by an earlier run: not fetched again (remove them to retry)",
                    fid, len(held), QUARANTINE_DIR)
        plan.jobs = [j for j in plan.jobs if j.dest not in held]
    summary.quarantined_before = sorted(held)
    return plan


def _check_and_record(summary: DownloadSummary, plan: FramePlan, fetcher: Fetcher,
                      records: dict[str, dict[str, object]]) -> None:
    """Quarantine what is not on the frame's grid, then write the manifest of where each file came from."""
    out, source = summary.out_dir, fetcher.source
    summary.resolved = sum(1 for j in plan.jobs if j.dest in fetcher.used and fetcher.used[j.dest] != source.url(j.rel))
    layer_folders = tuple(folder + "/" for _suffix, folder in EPOCH_LAYERS.values())
    layer_files = [j.dest for j in plan.jobs
                   if j.dest.startswith(layer_folders) or j.dest.endswith(".geo.landmask.tif")]
    complete = [p for p in summary.pairs_selected if p not in summary.pairs_incomplete]
    summary.quarantined = check_grids(out, summary.frame_id, complete, layer_files)
    write_manifest(out, summary.frame_id, source.root, records,
                   [(o.name, fetcher.used.get(o.name, o.url), o.size, o.status) for o in summary.files])


def _check_options(workers: int, retries: int, timeout: float) -> None:
    if workers < 1:
        raise DownloadError(f"workers {workers}: must be at least 1")
    if retries < 0:
        raise DownloadError(f"retries {retries}: must be 0 or more")
    if not timeout > 0:
        raise DownloadError(f"timeout {timeout}: must be positive")


def _summarise(summary: DownloadSummary, plan: FramePlan, outcomes: dict[Job, FileOutcome]) -> None:
    """Fill ``summary`` from the outcome of every planned file."""
    jobs = plan.jobs
    summary.files = [outcomes[j] for j in jobs] + plan.extra
    summary.pairs_incomplete = sorted(
        {j.group for j in jobs if PAIR_RE.match(j.group) and outcomes[j].status not in (FETCHED, SKIPPED)}
    )
    folders = {folder: name for name, (_suffix, folder) in EPOCH_LAYERS.items() if name in summary.layers}
    summary.layer_epochs = {name: [] for name in folders.values()}
    summary.layer_missing = {name: list(plan.layer_missing.get(name, [])) for name in folders.values()}
    for j in jobs:
        folder, _, fname = j.dest.partition("/")
        if folder in folders and "/" not in fname:
            name = folders[folder]
            ok = outcomes[j].status in (FETCHED, SKIPPED)
            (summary.layer_epochs if ok else summary.layer_missing)[name].append(int(fname[:8]))
    for v in (*summary.layer_epochs.values(), *summary.layer_missing.values()):
        v.sort()
