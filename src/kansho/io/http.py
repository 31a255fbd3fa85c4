"""A small download client: HTTP(S) or local sources, retries, ``Range`` resume, atomic placement.

Files are described by :class:`Job` (path on the source, destination under the output folder,
group, optional). :func:`fetch_all` asks every file's size first (HEAD) and skips a local file of
that size; bytes go to ``OUT/.kansho-download/<dest>.part`` and are resumed with an HTTP ``Range``
request after a dropped connection; a file is only accepted when its size equals the server's;
transient faults (timeouts, resets, HTTP 5xx, 408, 429) are retried with exponential back-off, a
404 is not; the files of one group enter their final place together, and only when all of them
succeeded. The result is one :class:`FileOutcome` per job (the record of what was fetched).

Nothing here knows the LiCSAR portal: see :mod:`kansho.io.licsar_portal`.
"""

from __future__ import annotations

import contextlib
import html.parser
import http.client
import logging
import os
import random
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm.auto import tqdm

from kansho._version import __version__
from kansho.errors import KanshoError

log = logging.getLogger(__name__)

__all__ = [
    "ABSENT",
    "FAILED",
    "FETCHED",
    "SKIPPED",
    "STAGING_DIR",
    "DownloadError",
    "Fetcher",
    "FileOutcome",
    "Job",
    "fetch_all",
    "list_or_none",
    "make_source",
    "parse_listing",
]

STAGING_DIR = ".kansho-download"
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


# --------------------------------------------------------------------------------------------
# Sources: HTTP(S) or a local folder
# --------------------------------------------------------------------------------------------
class NotFound(Exception):
    """The server says the file or folder does not exist (HTTP 404/410, or no such local path)."""


class Permanent(Exception):
    """A fault that retrying will not fix (HTTP 4xx other than 404/408/429)."""


class Transient(Exception):
    """A fault worth retrying (timeouts, resets, HTTP 5xx/408/429, short or inconsistent bodies)."""


class Cancelled(Exception):
    """The run was interrupted; the partial file stays for the next run."""


class Source(Protocol):
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


class HttpSource:
    """Files under an http(s) products root, with urllib (environment proxies are honoured)."""

    def __init__(self, root: str, timeout: float) -> None:
        self.root = root.rstrip("/") + "/"
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_HeadRedirect())

    def url(self, rel: str) -> str:
        return self.root + urllib.parse.quote(rel)

    def _request(self, rel: str, method: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        req = urllib.request.Request(self.url(rel), method=method,
                                     headers={"User-Agent": _USER_AGENT, **(headers or {})})
        try:
            return self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                raise NotFound(f"HTTP {exc.code} {exc.reason}") from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise Transient(f"HTTP {exc.code} {exc.reason}") from None
            raise Permanent(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise Transient(describe(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(describe(exc)) from None

    def listdir(self, rel: str) -> list[str]:
        rel = rel.rstrip("/") + "/"
        resp = self._request(rel, "GET")
        try:
            page = resp.read().decode(resp.headers.get_content_charset() or "utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(describe(exc)) from None
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
                raise Transient("partial response without a valid Content-Range")
            total = int(m.group(3)) if m.group(3) != "*" else None
            return resp, int(m.group(1)), total
        return resp, 0, n  # 200: the whole file (the server ignored Range)


class LocalSource:
    """Files under a local folder (a mirror or copy of the portal)."""

    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = str(root)

    def url(self, rel: str) -> str:
        return str(self.path / rel)

    def listdir(self, rel: str) -> list[str]:
        d = self.path / rel
        if not d.is_dir():
            raise NotFound("no such folder")
        try:
            return sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(d))
        except OSError as exc:
            raise Transient(describe(exc)) from None

    def size(self, rel: str) -> int | None:
        p = self.path / rel
        if not p.is_file():
            raise NotFound("no such file")
        return p.stat().st_size

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None]:
        p = self.path / rel
        try:
            f = p.open("rb")
            f.seek(offset)
            return f, offset, p.stat().st_size
        except FileNotFoundError:
            raise NotFound("no such file") from None
        except OSError as exc:
            raise Transient(describe(exc)) from None


def make_source(base_url: str, timeout: float) -> Source:
    base = str(base_url).strip()
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme in ("http", "https"):
        return HttpSource(base, timeout)
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(base).path))
    elif scheme and len(scheme) > 1:  # "C:" on Windows is a drive, not a scheme
        raise DownloadError(f"--base-url {base}: unsupported scheme {scheme!r} (use http(s)://, file:// or a folder)")
    else:
        path = Path(base).expanduser()
    if not path.is_dir():
        raise DownloadError(f"--base-url {base}: not an http(s) URL and no such local folder")
    return LocalSource(path)


def describe(exc: BaseException | str) -> str:
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
class Job:
    """One file to fetch."""

    rel: str  # path under the source root
    dest: str  # path under the output folder
    group: str  # files of one group enter their final place together (the two files of a pair)
    optional: bool = False  # a 404 is "absent", not a failure


class _ByteBar:
    """A thread-safe tqdm byte counter, opened once the sizes are known (updates before are dropped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bar: tqdm | None = None

    def open(self, total: int, desc: str, enabled: bool) -> None:
        with self._lock:
            self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                             disable=not enabled, leave=True)

    def update(self, n: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(n)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            self._bar = None


class Fetcher:
    """Retry/resume logic shared by the worker threads, writing under ``out``."""

    def __init__(self, source: Source, out: Path, retries: int, backoff: float) -> None:
        self.source = source
        self.out = out
        self.stage = out / STAGING_DIR
        self.retries = retries
        self.backoff = backoff
        self.bar = _ByteBar()
        self.stop = threading.Event()  # set on interruption: the workers give up between two chunks

    def wait(self, attempt: int) -> None:
        """Sleep before retry ``attempt`` (1, 2, ...): backoff · 2^(attempt−1), ±25 % jitter, at most 60 s."""
        delay = min(_MAX_DELAY_S, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)
        if self.stop.wait(delay):
            raise Cancelled()

    def head(self, job: Job) -> tuple[int | None, int, str | None, bool]:
        """Server size of ``job``: (size or None, attempts, error or None, not found)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.source.size(job.rel), attempt, None, False
            except NotFound as exc:
                return None, attempt, str(exc), True
            except Permanent as exc:
                return None, attempt, str(exc), False
            except Transient as exc:
                if attempt > self.retries:
                    return None, attempt, f"{exc} ({attempt} attempts)", False
                log.debug("%s: %s; retrying", job.rel, exc)
                self.wait(attempt)

    def paths(self, job: Job) -> tuple[Path, Path, Path]:
        """(final, staged complete, partial) paths of ``job``."""
        staged = self.stage / job.dest
        return self.out / job.dest, staged, staged.with_name(staged.name + ".part")

    def fetch(self, job: Job, size: int | None) -> FileOutcome:
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
                        raise Transient(
                            f"size mismatch: the server announced {size} bytes, then sent a {total}-byte file")
                    size = total if size is None else size
                    if begin not in (have, 0):
                        raise Transient(f"the server resumed at byte {begin} instead of {have}")
                    have = begin  # 0 when the server ignored the Range request: start again
                    with part.open("r+b" if have and part.is_file() else "wb") as f:
                        f.seek(have)
                        f.truncate()
                        while chunk := stream.read(_CHUNK):
                            if self.stop.is_set():
                                raise Cancelled()
                            f.write(chunk)
                            got += len(chunk)
                            self.bar.update(len(chunk))
                finally:
                    stream.close()
                done = have + got
                if size is None or done == size:  # without a size there is nothing to check against
                    nbytes += got
                    os.replace(part, staged)
                    return FileOutcome(job.dest, url, FETCHED, done, nbytes, attempts=attempts)
                if done > size:
                    part.unlink()
                    raise Transient(f"size mismatch: received {done} bytes, the server announced {size}")
                raise Transient(f"connection closed after {done} of {size} bytes")
            except NotFound as exc:
                return FileOutcome(job.dest, url, ABSENT if job.optional else FAILED, size, nbytes + got, str(exc),
                                   attempts)
            except Permanent as exc:
                return FileOutcome(job.dest, url, FAILED, size, nbytes + got, str(exc), attempts)
            except (Transient, OSError, http.client.HTTPException) as exc:
                nbytes += got
                reason = str(exc) if isinstance(exc, Transient) else describe(exc)
                done = have + got
                if got > 0 and done > furthest and part.is_file():
                    furthest = done
                    log.debug("%s: %s; resuming at byte %d", job.dest, reason, done)
                    continue
                failures += 1
                if failures > self.retries:
                    return FileOutcome(job.dest, url, FAILED, size, nbytes, f"{reason} ({attempts} attempts)", attempts)
                log.debug("%s: %s; retry %d of %d", job.dest, reason, failures, self.retries)
                self.wait(failures)


# --------------------------------------------------------------------------------------------
# Many files
# --------------------------------------------------------------------------------------------
def list_or_none(fetcher: Fetcher, rel: str) -> list[str] | None:
    """Directory listing with retries; ``None`` if the folder does not exist; DownloadError if it keeps failing."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fetcher.source.listdir(rel)
        except NotFound:
            return None
        except Permanent as exc:
            raise DownloadError(f"cannot list {fetcher.source.url(rel)}: {exc}") from None
        except Transient as exc:
            if attempt > fetcher.retries:
                raise DownloadError(f"cannot list {fetcher.source.url(rel)}: {exc} ({attempt} attempts)") from None
            fetcher.wait(attempt)


def _settle(
    fetcher: Fetcher,
    members: list[Job],
    remaining: dict[str, int],
    job: Job,
    res: FileOutcome,
    outcomes: dict[Job, FileOutcome],
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


def cleanup(stage: Path) -> None:
    """Remove the staging folder's empty sub-folders (and itself when empty)."""
    if not stage.is_dir():
        return
    for d in sorted((p for p in stage.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()
    with contextlib.suppress(OSError):
        stage.rmdir()


def fetch_all(fetcher: Fetcher, jobs: Sequence[Job], *, workers: int, progress: bool, desc: str
              ) -> dict[Job, FileOutcome]:
    """Fetch ``jobs`` with ``workers`` threads: sizes first, then the files not complete locally.

    Returns the outcome of every job. On an interruption (KeyboardInterrupt included) the workers
    stop between two chunks and the partial files stay for the next run.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kansho-dl")
    try:
        outcomes, todo = _check_sizes(fetcher, pool, jobs, progress, desc)
        _download(fetcher, pool, jobs, outcomes, todo, progress, desc)
    except BaseException:
        fetcher.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def _check_sizes(fetcher: Fetcher, pool: ThreadPoolExecutor, jobs: Sequence[Job], progress: bool, desc: str
                 ) -> tuple[dict[Job, FileOutcome], list[tuple[Job, int | None]]]:
    """HEAD every job: the outcomes already known (absent, failed, complete) and the files to fetch with their size."""
    outcomes: dict[Job, FileOutcome] = {}
    todo: list[tuple[Job, int | None]] = []
    heads = {pool.submit(fetcher.head, j): j for j in jobs}
    for fut in tqdm(as_completed(heads), total=len(heads), desc=f"{desc} check", unit="file",
                    disable=not progress, leave=False):
        job = heads[fut]
        size, attempts, err, not_found = fut.result()
        url = fetcher.source.url(job.rel)
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
    return outcomes, todo


def _download(fetcher: Fetcher, pool: ThreadPoolExecutor, jobs: Sequence[Job], outcomes: dict[Job, FileOutcome],
              todo: list[tuple[Job, int | None]], progress: bool, desc: str) -> None:
    """Fetch ``todo``, adding to ``outcomes``; each group enters its final place once all its files are in."""
    need = 0
    for job, size in todo:
        _f, _s, part = fetcher.paths(job)
        need += max(0, (size or 0) - (part.stat().st_size if part.is_file() else 0))
    fetcher.bar.open(need, desc, progress and bool(todo))
    try:
        futs: dict[Future[FileOutcome], Job] = {pool.submit(fetcher.fetch, j, s): j for j, s in todo}
        groups: dict[str, list[Job]] = {}
        for j in jobs:
            groups.setdefault(j.group, []).append(j)
        remaining = {g: len(m) for g, m in groups.items()}
        for job, res in list(outcomes.items()):
            _settle(fetcher, groups[job.group], remaining, job, res, outcomes)
        for fut in as_completed(futs):
            job = futs[fut]
            try:
                res = fut.result()
            except Exception as exc:  # a bug or a local disk fault: report it, keep the others
                log.debug("%s", job.dest, exc_info=True)
                res = FileOutcome(job.dest, fetcher.source.url(job.rel), FAILED, None, 0, describe(exc))
            outcomes[job] = res
            _settle(fetcher, groups[job.group], remaining, job, res, outcomes)
    finally:
        fetcher.bar.close()
