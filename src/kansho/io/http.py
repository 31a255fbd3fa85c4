"""A small download client: retries, ``Range`` resume, checks, atomic placement.

The sources (HTTP(S) or a local folder) are in :mod:`kansho.io.sources`.

Files are described by :class:`Job` (path on the source, destination under the output folder,
group, optional). :func:`fetch_all` asks every file's size first (HEAD) and skips a local file of
that size; bytes go to ``OUT/.kansho-download/<dest>.part`` and are resumed with an HTTP ``Range``
request after a dropped connection; a file is only accepted when its size equals the server's;
transient faults (timeouts, resets, HTTP 5xx, 408, 429) are retried with exponential back-off, a
404 is not; every file is checked for what its job says it is (:mod:`kansho.io.filecheck`: a
readable GeoTIFF, a text file, never an HTML page) before it is staged, and a local file counts as
complete only when it passes the same check; bytes are kept for a ``Range`` resume only from a
response that announced its length and is not HTML, so a resume never continues an error page;
the files of one group enter their final place together, and only when all of them succeeded.
The result is one :class:`FileOutcome` per job (the record of what was fetched).

A file that is not at its direct path (a 404, or an HTML page where a file was expected) is looked
up with the fetcher's ``resolver`` (the LiCSAR portal's link pages: :mod:`kansho.io.licsar_portal`),
which may name a URL on another host; the URL each file came from is kept (``Fetcher.used``) and,
given back as ``Fetcher.known`` on the next run, is asked first, so a second run resolves nothing.

Nothing here knows the LiCSAR portal: see :mod:`kansho.io.licsar_portal`.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import random
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from rasterio.errors import NotGeoreferencedWarning
from tqdm.auto import tqdm

from kansho.io.filecheck import TEXT, check_file, declared_digests, digest_problem, is_html_type
from kansho.io.sources import (
    Cancelled,
    DownloadError,
    Invalid,
    NotFound,
    Permanent,
    Source,
    Transient,
    describe,
    make_source,
    parse_listing,
)

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
    "Head",
    "Job",
    "Resolver",
    "fetch_all",
    "links_or_none",
    "list_or_none",
    "make_source",
    "parse_listing",
]

_T = TypeVar("_T")
STAGING_DIR = ".kansho-download"
_CHUNK = 256 * 1024
_MAX_DELAY_S = 60.0
_FREE_RESUMES = 64  # resumes after progress that do not use up a retry, per file and run


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
# One file
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One file to fetch."""

    rel: str  # path under the source root
    dest: str  # path under the output folder
    group: str  # files of one group enter their final place together (the two files of a pair)
    optional: bool = False  # a 404 is "absent", not a failure
    kind: str = ""  # what the file must be (kansho.io.filecheck: "geotiff", "text"; "": not checked)


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


@dataclass(frozen=True)
class Head:
    """The answer to a HEAD: the server's size (None: unknown), attempts, the error (None: there),
    whether the server said it does not exist, whether it is an HTML page where a file was expected."""

    size: int | None
    attempts: int
    err: str | None = None
    not_found: bool = False
    html: bool = False


#: ``resolver(job)`` → the URL of ``job``'s file found elsewhere (a link page), or None; raises
#: :class:`DownloadError` when the place that would say cannot be read
Resolver = Callable[[Job], str | None]


class Fetcher:
    """Retry/resume logic shared by the worker threads, writing under ``out``.

    ``resolver`` finds a file that is not at its direct path; ``known`` maps a destination to the
    URL it came from last time (asked first); ``used`` collects, this run, the URL each file's
    HEAD succeeded at.
    """

    def __init__(self, source: Source, out: Path, retries: int, backoff: float, *,
                 resolver: Resolver | None = None, known: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.out = out
        self.stage = out / STAGING_DIR
        self.retries = retries
        self.backoff = backoff
        self.resolver = resolver
        self.known = dict(known or {})
        self.used: dict[str, str] = {}
        self._used_lock = threading.Lock()
        self.bar = _ByteBar()
        self.stop = threading.Event()  # set on interruption: the workers give up between two chunks

    def wait(self, attempt: int) -> None:
        """Sleep before retry ``attempt`` (1, 2, ...): backoff · 2^(attempt−1), ±25 % jitter, at most 60 s."""
        delay = min(_MAX_DELAY_S, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)
        if self.stop.wait(delay):
            raise Cancelled()

    def head(self, job: Job) -> Head:
        """HEAD ``job``'s path, with retries of transient faults."""
        attempt = 0
        while True:
            attempt += 1
            try:
                size, ctype = self.source.stat(job.rel)
                return Head(size, attempt, html=bool(job.kind) and is_html_type(ctype))
            except NotFound as exc:
                return Head(None, attempt, str(exc), not_found=True)
            except Permanent as exc:
                return Head(None, attempt, str(exc))
            except Transient as exc:
                if attempt > self.retries:
                    return Head(None, attempt, f"{exc} ({attempt} attempts)")
                log.debug("%s: %s; retrying", job.rel, exc)
                self.wait(attempt)

    def locate(self, job: Job) -> tuple[Job, Head]:
        """Where ``job``'s file is: the URL it came from last time, its direct path, or (a 404 or an
        HTML page there) the URL the resolver finds; returns the job to fetch (``rel`` possibly an
        absolute URL) and its HEAD."""
        direct = self.source.url(job.rel)
        cached = self.known.get(job.dest)
        if cached and cached != direct:
            cand = replace(job, rel=cached)
            head = self.head(cand)
            if head.err is None and not head.html:
                return self._note(cand, head)
            log.debug("%s: no longer at %s (%s): looking it up again", job.dest, cached, head.err or "HTML")
        head = self.head(job)
        if not (head.not_found or head.html) or self.resolver is None:
            return self._note(job, head)
        try:
            url = self.resolver(job)
        except DownloadError as exc:
            return job, Head(None, head.attempts, str(exc))
        if url is None and head.html:  # an HTML page at its URL and no link to it: not on the server
            return job, replace(head, err="not on the server (an HTML page at its URL, no link to it on its "
                                "entry page)", not_found=True)
        if url is None or url == direct:  # (linked at its own URL: fetched, and its HTML refused, as before)
            return self._note(job, head)
        cand = replace(job, rel=url)
        found = self.head(cand)
        if found.err is None and not found.html:
            log.debug("%s: found at %s", job.dest, url)
            return self._note(cand, found)
        if head.html:  # neither place has the file: the direct path's fault is the one reported
            return job, head
        return cand, replace(found, err=f"linked to {url}: {found.err or 'an HTML page'}")

    def _note(self, job: Job, head: Head) -> tuple[Job, Head]:
        if head.err is None and not head.html:
            with self._used_lock:
                self.used[job.dest] = self.source.url(job.rel)
        return job, head

    def paths(self, job: Job) -> tuple[Path, Path, Path]:
        """(final, staged complete, partial) paths of ``job``."""
        staged = self.stage / job.dest
        return self.out / job.dest, staged, staged.with_name(staged.name + ".part")

    def fetch(self, job: Job, size: int | None) -> FileOutcome:
        """Download ``job`` to its staged path, resuming a partial file; the file is checked before it is staged.

        An attempt that ends early but got the file further than ever before is resumed at once
        (up to 64 times); attempts that make no progress, and files that fail the check (discarded),
        use up ``retries``, with back-off in between.
        """
        url = self.source.url(job.rel)
        _final, staged, part = self.paths(job)
        part.parent.mkdir(parents=True, exist_ok=True)
        nbytes = attempts = failures = resumes = 0
        furthest = -1
        while True:
            have = part.stat().st_size if part.is_file() else 0
            if size is not None and have > size:
                log.debug("%s: partial file larger than the server's (%d > %d), restarting", part, have, size)
                have = 0
            step = _Attempt(have)
            try:
                if size is None or have != size or size == 0:  # else: complete from an earlier run
                    attempts += 1
                    size = self._get(job, part, step, size)
                nbytes += step.got
                self._stage(job, part, staged)
                return FileOutcome(job.dest, url, FETCHED, step.have + step.got, nbytes, attempts=attempts)
            except NotFound as exc:
                return FileOutcome(job.dest, url, ABSENT if job.optional else FAILED, size, nbytes + step.got,
                                   str(exc), attempts)
            except Permanent as exc:
                return FileOutcome(job.dest, url, FAILED, size, nbytes + step.got, str(exc), attempts)
            except (Transient, OSError, http.client.HTTPException) as exc:
                if not isinstance(exc, Invalid):
                    nbytes += step.got
                reason = str(exc) if isinstance(exc, Transient) else describe(exc)
                done = step.have + step.got
                if step.got > 0 and done > furthest and part.is_file() and resumes < _FREE_RESUMES:
                    furthest, resumes = done, resumes + 1
                    log.debug("%s: %s; resuming at byte %d", job.dest, reason, done)
                    continue
                failures += 1
                if failures > self.retries:
                    return FileOutcome(job.dest, url, FAILED, size, nbytes, f"{reason} ({attempts} attempts)", attempts)
                log.debug("%s: %s; retry %d of %d", job.dest, reason, failures, self.retries)
                self.wait(failures)

    def _get(self, job: Job, part: Path, step: _Attempt, size: int | None) -> int | None:
        """One GET of ``job`` from byte ``step.have`` into ``part``; returns the file's size (None: unknown).

        Returns when the body ended at the expected size (or, size unknown, at its end); raises
        :class:`Transient` otherwise. Bytes stay in ``part`` for a resume only when the response was
        a 200/206 that is not HTML and announced its size; otherwise ``part`` is removed, so a
        resume never continues onto bytes of unknown origin (an error page).
        """
        stream, begin, total, ctype = self.source.open(job.rel, step.have)
        keep = False
        try:
            if job.kind and is_html_type(ctype):
                raise Transient(f"the server sent an HTML page (Content-Type {ctype}) instead of the file")
            if size is not None and total is not None and total != size:
                raise Transient(f"size mismatch: the server announced {size} bytes, then sent a {total}-byte file")
            if begin not in (step.have, 0):
                # a wrong resume: the partial file is dropped, so the next attempt fetches the whole file
                # (keeping it made every attempt, and every re-run, ask for the same bad resume)
                raise Transient(f"the server resumed at byte {begin} instead of {step.have}; fetching it whole")
            keep = total is not None
            size = total if size is None else size
            step.have = begin  # 0 when the server ignored the Range request: start again
            with part.open("r+b" if step.have and part.is_file() else "wb") as f:
                f.seek(step.have)
                f.truncate()
                while chunk := stream.read(_CHUNK):
                    if self.stop.is_set():
                        raise Cancelled()
                    f.write(chunk)
                    step.got += len(chunk)
                    self.bar.update(len(chunk))
            done = step.have + step.got
            if size is None and job.kind == TEXT and not getattr(stream, "chunked", False):
                raise Transient("the server announced no length and did not chunk the body: "
                                "a text file cut short could not be told from a complete one")
            if size is None or done == size:  # without a size, the check of the file decides
                declared = declared_digests(getattr(stream, "headers", None), whole_body=begin == 0)
                problem = digest_problem(part, declared)
                if problem is not None:
                    keep = False  # bytes that do not match: never resumed onto, fetched whole again
                    raise Transient(problem)
                keep = True
                return size
            if done > size:
                raise Transient(f"size mismatch: received {done} bytes, the server announced {size}")
            if total is None:
                raise Transient(f"the body ended after {done} of {size} bytes and the server did not announce "
                                "its length: not kept")
            raise Transient(f"connection closed after {done} of {size} bytes")
        finally:
            stream.close()
            if not keep or (size is not None and step.have + step.got > size):
                part.unlink(missing_ok=True)

    def _stage(self, job: Job, part: Path, staged: Path) -> None:
        """Check the complete ``part`` and move it to ``staged``; a file that fails is removed (:class:`Invalid`)."""
        reason = check_file(part, job.kind)
        if reason is not None:
            part.unlink(missing_ok=True)
            raise Invalid(f"{reason}: discarded")
        os.replace(part, staged)

    def valid(self, job: Job, path: Path) -> bool:
        """A quick check of a complete file found locally (header, first and last block rows of a GeoTIFF)."""
        reason = check_file(path, job.kind, full=False)
        if reason is not None:
            log.warning("%s: %s locally: fetching it again", job.dest, reason)
        return reason is None


@dataclass
class _Attempt:
    """One GET: the byte it starts at and the bytes received."""

    have: int
    got: int = 0


# --------------------------------------------------------------------------------------------
# Many files
# --------------------------------------------------------------------------------------------
def list_or_none(fetcher: Fetcher, rel: str, source: Source | None = None) -> list[str] | None:
    """Directory listing with retries; ``None`` if the folder does not exist; DownloadError if it keeps failing."""
    src = source or fetcher.source
    return _retrying(fetcher, src, rel, "list", lambda: src.listdir(rel))


def links_or_none(fetcher: Fetcher, rel: str, source: Source | None = None) -> dict[str, str] | None:
    """The links (file name → URL) of the page ``rel``, with retries; ``None`` if there is no such page;
    DownloadError if it keeps failing."""
    src = source or fetcher.source
    return _retrying(fetcher, src, rel, "read the link page", lambda: src.links(rel))


def _retrying(fetcher: Fetcher, src: Source, rel: str, what: str, call: Callable[[], _T]) -> _T | None:
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except NotFound:
            return None
        except Permanent as exc:
            raise DownloadError(f"cannot {what} {src.url(rel)}: {exc}") from None
        except Transient as exc:
            if attempt > fetcher.retries:
                raise DownloadError(f"cannot {what} {src.url(rel)}: {exc} ({attempt} attempts)") from None
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
        # catch_warnings is not thread-safe: the file checks' NotGeoreferencedWarning is ignored for every thread
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            outcomes, todo = _check_sizes(fetcher, pool, jobs, progress, desc)
            _download(fetcher, pool, jobs, outcomes, todo, progress, desc)
    except BaseException:
        fetcher.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def _check_sizes(fetcher: Fetcher, pool: ThreadPoolExecutor, jobs: Sequence[Job], progress: bool, desc: str
                 ) -> tuple[dict[Job, FileOutcome], list[tuple[Job, Job, int | None]]]:
    """HEAD every job: the outcomes already known (absent, failed, complete) and the files to fetch:
    (the job, the job as located (its ``rel`` may be a followed link), the size)."""
    outcomes: dict[Job, FileOutcome] = {}
    todo: list[tuple[Job, Job, int | None]] = []
    heads = {pool.submit(_probe, fetcher, j): j for j in jobs}
    for fut in tqdm(as_completed(heads), total=len(heads), desc=f"{desc} check", unit="file",
                    disable=not progress, leave=False):
        job = heads[fut]
        where, head, local = fut.result()
        url = fetcher.source.url(where.rel)
        final, _staged, _part = fetcher.paths(job)
        if head.err is not None:
            status = ABSENT if (head.not_found and job.optional) else FAILED
            outcomes[job] = FileOutcome(job.dest, url, status, None, 0, head.err, head.attempts)
        elif local == "final":
            outcomes[job] = FileOutcome(job.dest, url, SKIPPED, head.size, 0, attempts=head.attempts)
        elif local == "staged":  # staged earlier
            outcomes[job] = FileOutcome(job.dest, url, FETCHED, head.size, 0, attempts=head.attempts)
        else:
            if final.is_file():
                log.info("%s: %d bytes locally, %s on the server: fetching again", job.dest,
                         final.stat().st_size, head.size)
            todo.append((job, where, head.size))
    return outcomes, todo


def _probe(fetcher: Fetcher, job: Job) -> tuple[Job, Head, str | None]:
    """Locate and HEAD ``job`` and look for a complete local copy: ``"final"`` (in place), ``"staged"`` or None.

    A local copy counts only with the server's size (when it has one) and when it passes the quick
    check of its kind; a staged copy that fails is removed (it is fetched again).
    """
    where, head = fetcher.locate(job)
    if head.err is not None:
        return where, head, None
    size = head.size
    final, staged, _part = fetcher.paths(job)
    if final.is_file() and (size is None or final.stat().st_size == size) and fetcher.valid(job, final):
        return where, head, "final"
    if size is not None and staged.is_file() and staged.stat().st_size == size:
        if fetcher.valid(job, staged):
            return where, head, "staged"
        staged.unlink(missing_ok=True)
    return where, head, None


def _download(fetcher: Fetcher, pool: ThreadPoolExecutor, jobs: Sequence[Job], outcomes: dict[Job, FileOutcome],
              todo: list[tuple[Job, Job, int | None]], progress: bool, desc: str) -> None:
    """Fetch ``todo``, adding to ``outcomes``; each group enters its final place once all its files are in."""
    need = 0
    for job, _where, size in todo:
        _f, _s, part = fetcher.paths(job)
        need += max(0, (size or 0) - (part.stat().st_size if part.is_file() else 0))
    fetcher.bar.open(need, desc, progress and bool(todo))
    try:
        futs: dict[Future[FileOutcome], Job] = {pool.submit(fetcher.fetch, w, s): j for j, w, s in todo}
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
