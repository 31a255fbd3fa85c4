"""Where downloads come from: an http(s) products root (urllib) or a local folder, behind one small protocol.

A :class:`Source` lists folders (HTML index pages: :func:`parse_listing`), tells a file's size
(HEAD) and opens a file from a byte offset (GET with ``Range``). Faults are sorted into the
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
    "make_source",
    "parse_listing",
]

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

    def open(self, rel: str, offset: int) -> tuple[BinaryIO, int, int | None, str | None]:
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
    return LocalSource(path)


def describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
