"""Where downloads come from: an http(s) products root (urllib) or a local folder, behind one small protocol.

A :class:`Source` lists folders (HTML index pages: :func:`parse_listing`), tells a file's size and
type (HEAD), opens a file from a byte offset (GET with ``Range``) and reads a page of links
(:func:`parse_links`: the LiCSAR portal's entries since August 2025 are such pages, whose links
point to the files on another host). A path that is an absolute ``http(s)://`` URL (a followed
link) is requested as it is, whatever the source's root. Faults are sorted into the
exceptions the download client (:mod:`kansho.io.http`) acts on: :class:`NotFound` (404/410),
:class:`Permanent` (other 4xx), :class:`Transient` (timeouts, resets, 5xx/408/429, compressed or
inconsistent bodies).
"""

from __future__ import annotations

import html.parser
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Protocol

from kansho._version import __version__
from kansho.errors import KanshoError

__all__ = [
    "Cancelled",
    "DownloadError",
    "HttpSource",
    "Invalid",
    "LocalSource",
    "NotFound",
    "Permanent",
    "Source",
    "Transient",
    "describe",
    "is_web_url",
    "make_source",
    "parse_links",
    "parse_listing",
]

_MAX_PAGE = 16 << 20  # bytes: a listing or link page larger than this is not one
_USER_AGENT = f"kansho/{__version__} (+https://github.com/kansho)"


class DownloadError(KanshoError):
    """The download cannot start or cannot go on (bad frame id or option, frame not found, listing failed)."""


class NotFound(Exception):
    """The server says the file or folder does not exist (HTTP 404/410, or no such local path)."""


class Permanent(Exception):
    """A fault that retrying will not fix (HTTP 4xx other than 404/408/429)."""


class Transient(Exception):
    """A fault worth retrying (timeouts, resets, HTTP 5xx/408/429, short or inconsistent bodies)."""


class Invalid(Transient):
    """The bytes arrived but are not the file (HTML page, truncated GeoTIFF...): discarded, fetched anew."""


class Cancelled(Exception):
    """The run was interrupted; the partial file stays for the next run."""


class Source(Protocol):
    root: str

    def url(self, rel: str) -> str: ...

    def listdir(self, rel: str) -> list[str]: ...

    def size(self, rel: str) -> int | None: ...

    def stat(self, rel: str) -> tuple[int | None, str | None]: ...

    def links(self, rel: str) -> dict[str, str]: ...

    def sibling(self, suffix: str) -> Source | None: ...

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None, str | None]: ...


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


def is_web_url(text: str) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    parts = urllib.parse.urlsplit(text)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def parse_links(page: str, page_url: str) -> dict[str, str]:
    """The files a page of links points to: file name → absolute http(s) URL.

    Each ``<a href>`` is resolved against ``page_url``; links that are not http(s), that end with
    ``/`` (folders) or carry a query are ignored. The name is the last segment of the link's path,
    percent-decoded; a name that is empty, ``.``/``..`` or holds a path separator is ignored, so
    whatever is written locally under that name stays in its folder. The first link of a name wins.
    """
    parser = _LinkParser()
    parser.feed(page)
    out: dict[str, str] = {}
    for href in parser.hrefs:
        url = urllib.parse.urljoin(page_url, href.strip())
        parts = urllib.parse.urlsplit(url)
        if not is_web_url(url) or parts.query or parts.path.endswith("/"):
            continue
        name = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
            continue
        out.setdefault(name, urllib.parse.urlunsplit(parts._replace(fragment="")))
    return out


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
        return rel if is_web_url(rel) else self.root + urllib.parse.quote(rel)

    def sibling(self, suffix: str) -> HttpSource | None:
        """The products root next to this one named with ``suffix`` (``…/LiCSAR_products`` → ``….future``)."""
        parts = urllib.parse.urlsplit(self.root.rstrip("/"))
        if not parts.path.strip("/"):
            return None
        return HttpSource(self.root.rstrip("/") + suffix, self.timeout)

    def _request(self, rel: str, method: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        req = urllib.request.Request(self.url(rel), method=method, headers={
            "User-Agent": _USER_AGENT, "Accept-Encoding": "identity", **(headers or {})})
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

    def _page(self, rel: str) -> tuple[str, str]:
        """GET a page: (its text, its final URL after redirects). Pages over 16 MiB are refused."""
        resp = self._request(rel, "GET")
        try:
            data = resp.read(_MAX_PAGE + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(describe(exc)) from None
        finally:
            resp.close()
        if len(data) > _MAX_PAGE:
            raise Permanent(f"a page of more than {_MAX_PAGE >> 20} MiB, not a listing")
        return data.decode(resp.headers.get_content_charset() or "utf-8", errors="replace"), resp.geturl()

    def listdir(self, rel: str) -> list[str]:
        page, url = self._page(rel.rstrip("/") + "/")
        return parse_listing(page, url)

    def links(self, rel: str) -> dict[str, str]:
        """The links of the page at ``rel`` (asked without a trailing ``/``: a folder redirects to its listing)."""
        page, url = self._page(rel.rstrip("/"))
        return parse_links(page, url)

    def stat(self, rel: str) -> tuple[int | None, str | None]:
        """HEAD: (size or None, Content-Type or None)."""
        resp = self._request(rel, "HEAD")
        resp.close()
        length = resp.headers.get("Content-Length")
        size = int(length) if length is not None and length.strip().isdigit() else None
        return size, resp.headers.get("Content-Type")

    def size(self, rel: str) -> int | None:
        return self.stat(rel)[0]

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None, str | None]:
        """GET from ``offset``; returns (stream, actual start offset, total size or None, Content-Type or None).

        The total is the ``Content-Length`` of a 200, or the total of a 206's ``Content-Range``
        (``None`` when the response does not say). A compressed body (``Content-Encoding``) is refused.
        """
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        resp = self._request(rel, "GET", headers)
        ctype = resp.headers.get("Content-Type")
        encoding = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            resp.close()
            raise Transient(f"the server sent a {encoding}-encoded body (Content-Encoding), not the file's bytes")
        length = resp.headers.get("Content-Length")
        n = int(length) if length is not None and length.strip().isdigit() else None
        if resp.status == 206:
            m = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if m is None:
                resp.close()
                raise Transient("partial response without a valid Content-Range")
            total = int(m.group(3)) if m.group(3) != "*" else None
            return resp, int(m.group(1)), total, ctype
        return resp, 0, n, ctype  # 200: the whole file (the server ignored Range)


class LocalSource:
    """Files under a local folder (a mirror or copy of the portal); links it holds to http(s) files are followed."""

    def __init__(self, root: Path, timeout: float = 30.0) -> None:
        self.path = root
        self.root = str(root)
        self.timeout = timeout
        self._web: HttpSource | None = None

    def _http(self) -> HttpSource:
        if self._web is None:
            self._web = HttpSource("http://localhost/", self.timeout)  # only ever asked for absolute URLs
        return self._web

    def url(self, rel: str) -> str:
        return rel if is_web_url(rel) else str(self.path / rel)

    def sibling(self, suffix: str) -> LocalSource | None:
        other = self.path.with_name(self.path.name + suffix) if self.path.name else None
        return LocalSource(other, self.timeout) if other is not None and other.is_dir() else None

    def links(self, rel: str) -> dict[str, str]:
        """The http(s) links of the page ``rel`` (a file holding HTML); a folder has none."""
        p = self.path / rel.rstrip("/")
        if not p.is_file():
            raise NotFound("no such page")
        try:
            with p.open("rb") as f:
                data = f.read(_MAX_PAGE + 1)
        except OSError as exc:
            raise Transient(describe(exc)) from None
        if len(data) > _MAX_PAGE:
            raise Permanent(f"a page of more than {_MAX_PAGE >> 20} MiB, not a listing")
        return parse_links(data.decode("utf-8", errors="replace"), p.resolve().as_uri())

    def stat(self, rel: str) -> tuple[int | None, str | None]:
        if is_web_url(rel):
            return self._http().stat(rel)
        return self.size(rel), None

    def listdir(self, rel: str) -> list[str]:
        d = self.path / rel
        if not d.is_dir():
            raise NotFound("no such folder")
        try:
            return sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(d))
        except OSError as exc:
            raise Transient(describe(exc)) from None

    def size(self, rel: str) -> int | None:
        if is_web_url(rel):
            return self._http().size(rel)
        p = self.path / rel
        if not p.is_file():
            raise NotFound("no such file")
        return p.stat().st_size

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None, str | None]:
        if is_web_url(rel):
            return self._http().open(rel, offset)
        p = self.path / rel
        try:
            f = p.open("rb")
            f.seek(offset)
            return f, offset, p.stat().st_size, None
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
    return LocalSource(path, timeout)


def describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
