"""Download a LiCSAR frame's products into the GEOC layout that ``kansho ts`` reads (Step 0-1).

The LiCSAR portal (Lazecký et al. 2020, *Remote Sensing* 12(15) 2430) publishes, under its products
root, one folder per frame::

    <track>/<FRAME_ID>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.unw.tif   unwrapped phase (rad)
    <track>/<FRAME_ID>/interferograms/<d1>_<d2>/<d1>_<d2>.geo.cc.tif    coherence
    <track>/<FRAME_ID>/metadata/<FRAME_ID>.geo.{E,N,U,hgt}.tif           LOS unit vector, DEM
    <track>/<FRAME_ID>/metadata/baselines, metadata.txt
    <track>/<FRAME_ID>/epochs/<date>/<date>.sltd.geo.tif                 GACOS slant delay (some frames)

where ``<track>`` is the frame id's leading number without zero padding (``124D_04854_171313`` →
``124``). Pair and epoch folders are discovered from the (Apache-style) HTML directory listings.
:func:`download_frame` writes::

    OUT/GEOC/<d1>_<d2>/<d1>_<d2>.geo.unw.tif, .geo.cc.tif
    OUT/GEOC/<FRAME_ID>.geo.E.tif ... .geo.hgt.tif, OUT/GEOC/baselines, OUT/GEOC/metadata.txt
    OUT/GACOS/<date>.sltd.geo.tif

Robustness: a bounded pool of download threads; every file's size is asked from the server first
(HEAD) and a local file of that size is not fetched again; bytes go to ``OUT/.kansho-download/
<path>.part`` and are resumed with an HTTP ``Range`` request after a dropped connection; a file is
only accepted when its size equals the server's; transient faults (timeouts, resets, HTTP 5xx,
408, 429) are retried with exponential back-off, a 404 is not; the two files of a pair enter
``GEOC/<pair>/`` together, so a pair with one failed file never leaves ``GEOC`` unreadable.

The products root may also be a local folder or a ``file://`` URL holding the same layout (a
mirror or copy).
"""

from __future__ import annotations

import datetime as _dt
import html.parser
import http.client
import logging
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm.auto import tqdm

from kansho import __version__
from kansho._dates import parse_date
from kansho.errors import KanshoError

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BASE_URL",
    "DownloadError",
    "DownloadSummary",
    "FileOutcome",
    "download_frame",
    "frame_track",
    "select_pairs",
    "validate_frame_id",
]

DEFAULT_BASE_URL = "https://gws-access.jasmin.ac.uk/public/nceo_geohazards/LiCSAR_products"
STAGING_DIR = ".kansho-download"
GACOS_SUFFIX = ".sltd.geo.tif"
GEOMETRY_SUFFIXES = (".geo.E.tif", ".geo.N.tif", ".geo.U.tif", ".geo.hgt.tif")
METADATA_FILES = ("baselines", "metadata.txt")

_FRAME_RE = re.compile(r"^(\d{3})([AD])_(\d{5})_(\d{6})$")
_PAIR_RE = re.compile(r"^(\d{8})_(\d{8})$")
_DATE_RE = re.compile(r"^\d{8}$")
_CHUNK = 256 * 1024
_MAX_DELAY_S = 60.0
_USER_AGENT = f"kansho/{__version__} (+https://github.com/kansho)"


class DownloadError(KanshoError):
    """The download cannot start or cannot go on (bad frame id or option, frame not found, listing failed)."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
FETCHED = "fetched"
SKIPPED = "skipped"
FAILED = "failed"
ABSENT = "absent"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file.

    ``status`` is ``"fetched"`` (downloaded, or completed from a partial file, this run),
    ``"skipped"`` (already complete locally), ``"failed"`` (``reason`` says why) or ``"absent"``
    (an optional file the server does not have: metadata, GACOS). ``name`` is the destination
    relative to the output folder; ``size`` the server's size in bytes (``None`` when unknown);
    ``nbytes`` the bytes transferred this run; ``attempts`` the GET/HEAD attempts made.
    """

    name: str
    url: str
    status: str
    size: int | None = None
    nbytes: int = 0
    reason: str = ""
    attempts: int = 0


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


# --------------------------------------------------------------------------------------------
# Frame ids, dates, pair selection
# --------------------------------------------------------------------------------------------
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
        m = _PAIR_RE.match(name)
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
        if d0 is not None and a < d0 or d9 is not None and b > d9:
            continue
        if max_tlen_days is not None and (b - a).days > max_tlen_days:
            continue
        out.append(name)
    return sorted(set(out))


# --------------------------------------------------------------------------------------------
# Sources: HTTP(S) or a local folder
# --------------------------------------------------------------------------------------------
class _NotFound(Exception):
    """The server says the file or folder does not exist (HTTP 404/410, or no such local path)."""


class _Permanent(Exception):
    """A fault that retrying will not fix (HTTP 4xx other than 404/408/429)."""


class _Transient(Exception):
    """A fault worth retrying (timeouts, resets, HTTP 5xx/408/429, short or inconsistent bodies)."""


class _Cancelled(Exception):
    """The run was interrupted; the partial file stays for the next run."""


class _Source(Protocol):
    root: str

    def url(self, rel: str) -> str: ...

    def listdir(self, rel: str) -> list[str]: ...

    def size(self, rel: str) -> int | None: ...

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None]: ...


class _LinkParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            for k, v in attrs:
                if k.lower() == "href" and v:
                    self.hrefs.append(v)


def parse_listing(page: str, dir_url: str) -> list[str]:
    """Child entries of an HTML directory index page: names, folders with a trailing ``/``.

    Links that leave the folder (parent, absolute elsewhere), sort links (``?C=N;O=D``) and
    fragments are ignored.
    """
    parser = _LinkParser()
    parser.feed(page)
    base = dir_url if dir_url.endswith("/") else dir_url + "/"
    base_parts = urllib.parse.urlsplit(base)
    base_path = base_parts.path
    names: list[str] = []
    for href in parser.hrefs:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(base, href))
        if parts.query or parts.netloc != base_parts.netloc or not parts.path.startswith(base_path):
            continue
        rest = urllib.parse.unquote(parts.path[len(base_path):])
        if not rest or rest.strip("/") in (".", "..") or "/" in rest.rstrip("/"):
            continue
        if rest not in names:
            names.append(rest)
    return names


class _HeadRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects of a HEAD request with HEAD (urllib turns it into a GET before Python 3.13)."""

    def redirect_request(  # type: ignore[override]
        self, req: urllib.request.Request, fp: BinaryIO, code: int, msg: str, headers: object, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        return new


class _HttpSource:
    """Files under an http(s) products root, with urllib (environment proxies are honoured)."""

    def __init__(self, root: str, timeout: float) -> None:
        self.root = root.rstrip("/") + "/"
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_HeadRedirect())

    def url(self, rel: str) -> str:
        return self.root + urllib.parse.quote(rel)

    def _request(self, rel: str, method: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        req = urllib.request.Request(self.url(rel), method=method, headers={"User-Agent": _USER_AGENT, **(headers or {})})
        try:
            return self._opener.open(req, timeout=self.timeout)  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                raise _NotFound(f"HTTP {exc.code} {exc.reason}") from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
            raise _Permanent(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise _Transient(_describe(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(_describe(exc)) from None

    def listdir(self, rel: str) -> list[str]:
        rel = rel.rstrip("/") + "/"
        resp = self._request(rel, "GET")
        try:
            page = resp.read().decode(resp.headers.get_content_charset() or "utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(_describe(exc)) from None
        finally:
            resp.close()
        return parse_listing(page, resp.geturl())

    def size(self, rel: str) -> int | None:
        resp = self._request(rel, "HEAD")
        resp.close()
        length = resp.headers.get("Content-Length")
        return int(length) if length is not None and length.strip().isdigit() else None

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None]:
        """GET from ``offset``; returns (stream, actual start offset, total size or None)."""
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        resp = self._request(rel, "GET", headers)
        length = resp.headers.get("Content-Length")
        n = int(length) if length is not None and length.strip().isdigit() else None
        if resp.status == 206:
            m = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if m is None:
                resp.close()
                raise _Transient("partial response without a valid Content-Range")
            total = int(m.group(3)) if m.group(3) != "*" else None
            return resp, int(m.group(1)), total  # type: ignore[return-value]
        return resp, 0, n  # type: ignore[return-value]  # 200: the whole file (the server ignored Range)


class _LocalSource:
    """Files under a local folder (a mirror or copy of the portal)."""

    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = str(root)

    def url(self, rel: str) -> str:
        return str(self.path / rel)

    def listdir(self, rel: str) -> list[str]:
        d = self.path / rel
        if not d.is_dir():
            raise _NotFound("no such folder")
        try:
            return sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(d))
        except OSError as exc:
            raise _Transient(_describe(exc)) from None

    def size(self, rel: str) -> int | None:
        p = self.path / rel
        if not p.is_file():
            raise _NotFound("no such file")
        return p.stat().st_size

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None]:
        p = self.path / rel
        try:
            f = p.open("rb")
            f.seek(offset)
            return f, offset, p.stat().st_size
        except FileNotFoundError:
            raise _NotFound("no such file") from None
        except OSError as exc:
            raise _Transient(_describe(exc)) from None


def _make_source(base_url: str, timeout: float) -> _Source:
    base = str(base_url).strip()
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme in ("http", "https"):
        return _HttpSource(base, timeout)
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(base).path))
    elif scheme and len(scheme) > 1:  # "C:" on Windows is a drive, not a scheme
        raise DownloadError(f"--base-url {base}: unsupported scheme {scheme!r} (use http(s)://, file:// or a folder)")
    else:
        path = Path(base).expanduser()
    if not path.is_dir():
        raise DownloadError(f"--base-url {base}: not an http(s) URL and no such local folder")
    return _LocalSource(path)


def _describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    rel: str  # path under the frame folder on the server
    dest: str  # path under the output folder
    group: str  # files of one group enter their final place together (the two files of a pair)
    optional: bool = False  # a 404 is "absent", not a failure


class _Fetcher:
    """Retry/resume logic shared by the worker threads."""

    def __init__(
        self,
        source: _Source,
        out: Path,
        retries: int,
        backoff: float,
        bar: Callable[[int], object],
    ) -> None:
        self.source = source
        self.out = out
        self.stage = out / STAGING_DIR
        self.retries = retries
        self.backoff = backoff
        self.bar = bar
        self.stop = threading.Event()  # set on interruption: the workers give up between two chunks

    def _wait(self, attempt: int) -> None:
        """Sleep before retry ``attempt`` (1, 2, ...): backoff · 2^(attempt−1), ±25 % jitter, at most 60 s."""
        delay = min(_MAX_DELAY_S, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)
        if self.stop.wait(delay):
            raise _Cancelled()

    def head(self, job: _Job) -> tuple[int | None, int, str | None, bool]:
        """Server size of ``job``: (size or None, attempts, error or None, not found)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.source.size(job.rel), attempt, None, False
            except _NotFound as exc:
                return None, attempt, str(exc), True
            except _Permanent as exc:
                return None, attempt, str(exc), False
            except _Transient as exc:
                if attempt > self.retries:
                    return None, attempt, f"{exc} ({attempt} attempts)", False
                log.debug("%s: %s; retrying", job.rel, exc)
                self._wait(attempt)

    def paths(self, job: _Job) -> tuple[Path, Path, Path]:
        """(final, staged complete, partial) paths of ``job``."""
        staged = self.stage / job.dest
        return self.out / job.dest, staged, staged.with_name(staged.name + ".part")

    def fetch(self, job: _Job, size: int | None) -> FileOutcome:
        """Download ``job`` to its staged path, resuming a partial file.

        An attempt that ends early but got the file further than ever before is resumed at once;
        attempts that make no progress use up ``retries``, with back-off in between.
        """
        url = self.source.url(job.rel)
        _final, staged, part = self.paths(job)
        part.parent.mkdir(parents=True, exist_ok=True)
        nbytes = attempts = failures = 0
        furthest = -1
        while True:
            have = part.stat().st_size if part.is_file() else 0
            if size is not None and have > size:
                log.debug("%s: partial file larger than the server's (%d > %d), restarting", part, have, size)
                have = 0
            if size is not None and have == size and size > 0:
                os.replace(part, staged)
                return FileOutcome(job.dest, url, FETCHED, size, nbytes, attempts=attempts)
            attempts += 1
            got = 0
            try:
                stream, begin, total = self.source.open(job.rel, have)
                try:
                    if size is not None and total is not None and total != size:
                        raise _Transient(f"size mismatch: the server announced {size} bytes, then sent a {total}-byte file")
                    size = total if size is None else size
                    if begin not in (have, 0):
                        raise _Transient(f"the server resumed at byte {begin} instead of {have}")
                    have = begin  # 0 when the server ignored the Range request: start again
                    with part.open("r+b" if have and part.is_file() else "wb") as f:
                        f.seek(have)
                        f.truncate()
                        while chunk := stream.read(_CHUNK):
                            if self.stop.is_set():
                                raise _Cancelled()
                            f.write(chunk)
                            got += len(chunk)
                            self.bar(len(chunk))
                finally:
                    stream.close()
                done = have + got
                if size is None or done == size:  # without a size there is nothing to check against
                    nbytes += got
                    os.replace(part, staged)
                    return FileOutcome(job.dest, url, FETCHED, done, nbytes, attempts=attempts)
                if done > size:
                    part.unlink()
                    raise _Transient(f"size mismatch: received {done} bytes, the server announced {size}")
                raise _Transient(f"connection closed after {done} of {size} bytes")
            except _NotFound as exc:
                return FileOutcome(job.dest, url, ABSENT if job.optional else FAILED, size, nbytes + got, str(exc),
                                   attempts)
            except _Permanent as exc:
                return FileOutcome(job.dest, url, FAILED, size, nbytes + got, str(exc), attempts)
            except (_Transient, OSError, http.client.HTTPException) as exc:
                nbytes += got
                reason = str(exc) if isinstance(exc, _Transient) else _describe(exc)
                done = have + got
                if got > 0 and done > furthest and part.is_file():
                    furthest = done
                    log.debug("%s: %s; resuming at byte %d", job.dest, reason, done)
                    continue
                failures += 1
                if failures > self.retries:
                    return FileOutcome(job.dest, url, FAILED, size, nbytes, f"{reason} ({attempts} attempts)", attempts)
                log.debug("%s: %s; retry %d of %d", job.dest, reason, failures, self.retries)
                self._wait(failures)


# --------------------------------------------------------------------------------------------
# The frame
# --------------------------------------------------------------------------------------------
def _list_or_none(fetcher: _Fetcher, rel: str) -> list[str] | None:
    """Directory listing with retries; ``None`` if the folder does not exist; DownloadError if it keeps failing."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fetcher.source.listdir(rel)
        except _NotFound:
            return None
        except _Permanent as exc:
            raise DownloadError(f"cannot list {fetcher.source.url(rel)}: {exc}") from None
        except _Transient as exc:
            if attempt > fetcher.retries:
                raise DownloadError(f"cannot list {fetcher.source.url(rel)}: {exc} ({attempt} attempts)") from None
            fetcher._wait(attempt)


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
        disagrees with the server's) that made no progress; a dropped connection that delivered
        bytes is resumed at once and does not count. A 404 is never retried.
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
    if workers < 1:
        raise DownloadError(f"workers {workers}: must be at least 1")
    if retries < 0:
        raise DownloadError(f"retries {retries}: must be 0 or more")
    if not timeout > 0:
        raise DownloadError(f"timeout {timeout}: must be positive")
    select_pairs([], start, end, max_tlen_days)  # validates the filters before any request
    out = Path(out_dir).expanduser()
    source = _make_source(str(base_url), timeout)
    frame_rel = f"{frame_track(fid)}/{fid}/"
    summary = DownloadSummary(frame_id=fid, out_dir=out, base_url=source.root)

    bar_lock = threading.Lock()
    bar_ref: list[tqdm | None] = [None]

    def advance(n: int) -> None:
        with bar_lock:
            if bar_ref[0] is not None:
                bar_ref[0].update(n)

    fetcher = _Fetcher(source, out, retries, backoff, advance)

    # --- what the server has --------------------------------------------------------------------
    listing = _list_or_none(fetcher, frame_rel + "interferograms/")
    if listing is None:
        raise DownloadError(f"frame {fid} not found: no folder {source.url(frame_rel + 'interferograms/')}")
    pair_names = [n.rstrip("/") for n in listing if n.endswith("/") and _PAIR_RE.match(n.rstrip("/"))]
    summary.pairs_listed = len(pair_names)
    pairs = select_pairs(pair_names, start, end, max_tlen_days)
    summary.pairs_selected = pairs
    log.info("%s: %d pairs listed, %d selected", fid, len(pair_names), len(pairs))
    if not pairs:
        log.warning("%s: no pair within the date range / maximum temporal baseline", fid)

    jobs: list[_Job] = []
    extra: list[FileOutcome] = []  # failures that are not one file (the GACOS listing)
    for p in pairs:
        for kind in ("unw", "cc"):
            name = f"{p}.geo.{kind}.tif"
            jobs.append(_Job(f"{frame_rel}interferograms/{p}/{name}", f"GEOC/{p}/{name}", group=p))
    for suffix in GEOMETRY_SUFFIXES:
        name = f"{fid}{suffix}"
        jobs.append(_Job(f"{frame_rel}metadata/{name}", f"GEOC/{name}", group=name, optional=True))
    for name in METADATA_FILES:
        jobs.append(_Job(f"{frame_rel}metadata/{name}", f"GEOC/{name}", group=name, optional=True))
    if gacos and pairs:
        epochs = sorted({int(d) for p in pairs for d in p.split("_")})
        try:
            listed = _list_or_none(fetcher, frame_rel + "epochs/") or []
        except DownloadError as exc:  # GACOS is optional: report it, download the rest
            listed = []
            url = source.url(frame_rel + "epochs/")
            extra.append(FileOutcome("GACOS/", url, FAILED, reason=str(exc).replace(f"cannot list {url}: ", "")))
        have = {int(n.rstrip("/")) for n in listed if n.endswith("/") and _DATE_RE.match(n.rstrip("/"))}
        for e in epochs:
            if e in have:
                name = f"{e}{GACOS_SUFFIX}"
                jobs.append(_Job(f"{frame_rel}epochs/{e}/{name}", f"GACOS/{name}", group=name, optional=True))
            else:
                summary.gacos_missing.append(e)

    # --- sizes, then the downloads ----------------------------------------------------------------
    outcomes: dict[_Job, FileOutcome] = {}
    todo: list[tuple[_Job, int | None]] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kansho-dl")
    try:
        heads = {pool.submit(fetcher.head, j): j for j in jobs}
        for fut in tqdm(as_completed(heads), total=len(heads), desc=f"{fid} check", unit="file",
                        disable=not progress, leave=False):
            job = heads[fut]
            size, attempts, err, not_found = fut.result()
            url = source.url(job.rel)
            final, staged, _part = fetcher.paths(job)
            if err is not None:
                status = ABSENT if (not_found and job.optional) else FAILED
                outcomes[job] = FileOutcome(job.dest, url, status, None, 0, err, attempts)
            elif final.is_file() and (size is None or final.stat().st_size == size):
                outcomes[job] = FileOutcome(job.dest, url, SKIPPED, size, 0, attempts=attempts)
            elif size is not None and staged.is_file() and staged.stat().st_size == size:
                outcomes[job] = FileOutcome(job.dest, url, FETCHED, size, 0, attempts=attempts)  # staged earlier
            else:
                if final.is_file():
                    log.info("%s: %d bytes locally, %s on the server: fetching again", job.dest,
                             final.stat().st_size, size)
                todo.append((job, size))

        need = 0
        for job, size in todo:
            _f, _s, part = fetcher.paths(job)
            need += max(0, (size or 0) - (part.stat().st_size if part.is_file() else 0))
        bar_ref[0] = tqdm(total=need, desc=fid, unit="B", unit_scale=True, unit_divisor=1024,
                          disable=not progress or not todo, leave=True)
        try:
            futs: dict[Future[FileOutcome], _Job] = {pool.submit(fetcher.fetch, j, s): j for j, s in todo}
            groups: dict[str, list[_Job]] = {}
            for j in jobs:
                groups.setdefault(j.group, []).append(j)
            remaining = {g: len(m) for g, m in groups.items()}
            for job, res in outcomes.items():
                _settle(fetcher, groups[job.group], remaining, job, res, outcomes)
            for fut in as_completed(futs):
                job = futs[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # a bug or a local disk fault: report it, keep the others
                    log.debug("%s", job.dest, exc_info=True)
                    res = FileOutcome(job.dest, source.url(job.rel), FAILED, None, 0, _describe(exc))
                outcomes[job] = res
                _settle(fetcher, groups[job.group], remaining, job, res, outcomes)
        finally:
            with bar_lock:
                if bar_ref[0] is not None:
                    bar_ref[0].close()
                bar_ref[0] = None
    except BaseException:  # KeyboardInterrupt included: stop the workers, keep the partial files
        fetcher.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)

    summary.files = [outcomes[j] for j in jobs] + extra
    summary.pairs_incomplete = sorted(
        {j.group for j in jobs if _PAIR_RE.match(j.group) and outcomes[j].status not in (FETCHED, SKIPPED)}
    )
    for j in jobs:
        if j.dest.startswith("GACOS/"):
            date = int(Path(j.dest).name[:8])
            (summary.gacos_epochs if outcomes[j].status in (FETCHED, SKIPPED) else summary.gacos_missing).append(date)
    summary.gacos_missing.sort()
    _cleanup(out / STAGING_DIR)
    summary.elapsed_s = time.perf_counter() - t0
    for f in summary.failed:
        log.warning("%s: %s", f.url, f.reason)
    log.info(
        "%s: %d fetched (%.1f MiB), %d already complete, %d failed, %d absent in %.1f s",
        fid, len(summary.fetched), summary.bytes_fetched / 2**20, len(summary.skipped), len(summary.failed),
        len(summary.absent), summary.elapsed_s,
    )
    return summary


def _settle(
    fetcher: _Fetcher,
    members: list[_Job],
    remaining: dict[str, int],
    job: _Job,
    res: FileOutcome,
    outcomes: dict[_Job, FileOutcome],
) -> None:
    """Count ``job`` as finished; when its whole group succeeded, move the staged files into place."""
    remaining[job.group] -= 1
    if remaining[job.group] > 0:
        return
    if any(outcomes[j].status not in (FETCHED, SKIPPED) for j in members):
        return  # staged files stay for the next run (a pair never enters GEOC half downloaded)
    for j in members:
        final, staged, _part = fetcher.paths(j)
        if outcomes[j].status == FETCHED and staged.is_file():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)


def _cleanup(stage: Path) -> None:
    """Remove the staging folder's empty sub-folders (and itself when empty)."""
    if not stage.is_dir():
        return
    for d in sorted((p for p in stage.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass
    try:
        stage.rmdir()
    except OSError:
        pass

