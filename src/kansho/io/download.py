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

The products root may also be a local folder or a ``file://`` URL holding the same layout (a
mirror or copy).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

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
    PAIR_RE,
    FramePlan,
    frame_track,
    list_frame_pairs,
    plan_frame,
    select_pairs,
    validate_frame_id,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "STAGING_DIR",
    "DownloadError",
    "DownloadSummary",
    "FileOutcome",
    "download_frame",
    "frame_track",
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
    gacos_epochs: list[int] = field(default_factory=list)
    gacos_missing: list[int] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0

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
        if self.gacos_epochs or self.gacos_missing:
            lines.append(
                f"  GACOS: {len(self.gacos_epochs)} epoch(s) present, {len(self.gacos_missing)} epoch(s) without"
            )
        lines.append(f"  time: {self.elapsed_s:.1f} s")
        if self.failed:
            lines.append("failed:")
            lines.extend(f"  {f.name}: {f.reason}" for f in self.failed)
        if self.absent:
            lines.append("not on the server (optional):")
            lines.extend(f"  {f.name}" for f in self.absent)
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
    gacos:
        Also fetch ``epochs/<date>/<date>.sltd.geo.tif`` for the epochs of the selected pairs.
    progress:
        Show tqdm progress bars (bytes) on stderr.

    Returns a :class:`DownloadSummary`; ``summary.ok`` is False when a file failed. Raises
    :class:`DownloadError` for an invalid frame id, date or base URL, a frame the server does not
    have, or a listing that keeps failing.
    """
    t0 = time.perf_counter()
    fid = validate_frame_id(frame_id)
    _check_options(workers, retries, timeout)
    select_pairs([], start, end, max_tlen_days)  # validates the filters before any request
    out = Path(out_dir).expanduser()
    source = make_source(str(base_url), timeout)
    summary = DownloadSummary(frame_id=fid, out_dir=out, base_url=source.root)
    fetcher = Fetcher(source, out, retries, backoff)

    listed = list_frame_pairs(fetcher, fid)
    pairs = select_pairs(listed, start, end, max_tlen_days)
    summary.pairs_listed, summary.pairs_selected = len(listed), pairs
    log.info("%s: %d pairs listed, %d selected", fid, len(listed), len(pairs))
    if not pairs:
        log.warning("%s: no pair within the date range / maximum temporal baseline", fid)
    plan = plan_frame(fetcher, fid, pairs, gacos)
    outcomes = fetch_all(fetcher, plan.jobs, workers=workers, progress=progress, desc=fid)

    _summarise(summary, plan, outcomes)
    cleanup(out / STAGING_DIR)
    summary.elapsed_s = time.perf_counter() - t0
    for f in summary.failed:
        log.warning("%s: %s", f.url, f.reason)
    log.info(
        "%s: %d fetched (%.1f MiB), %d already complete, %d failed, %d absent in %.1f s",
        fid, len(summary.fetched), summary.bytes_fetched / 2**20, len(summary.skipped), len(summary.failed),
        len(summary.absent), summary.elapsed_s,
    )
    return summary


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
    summary.gacos_missing = list(plan.gacos_missing)
    for j in jobs:
        if j.dest.startswith("GACOS/"):
            date = int(Path(j.dest).name[:8])
            (summary.gacos_epochs if outcomes[j].status in (FETCHED, SKIPPED) else summary.gacos_missing).append(date)
    summary.gacos_missing.sort()
