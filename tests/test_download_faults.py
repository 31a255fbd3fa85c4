"""``kansho download`` against fault-injecting HTTP servers on 127.0.0.1: never a damaged file with exit 0.

Each scenario serves a small frame in the LiCSAR portal layout (as ``tests/test_download.py`` does)
with one fault: HTML error pages (with or without a length, with 200 or 206), bodies cut short,
sizes under-reported, resets, 500s, 404s, slow bodies, wrong types, gzip, redirects. For every
scenario: each file placed under the output folder equals the source byte for byte (a placed
``.tif`` also opens as a GeoTIFF); the exit code is 0 only when every file is there; a failure is
reported with its reason and exit 1; and a plain re-run against a healthy server completes with
byte-identical files. The servers answer at most ``MAX_REQUESTS`` requests each, and every client
read is bounded by a short timeout.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import rasterio
from tests._shared import QuietHandler, png_bytes, write_portal_pairs

from kansho.cli import main
from kansho.grid import Grid
from kansho.io.download import STAGING_DIR, frame_track
from kansho.io.download_checks import MANIFEST
from kansho.io.filecheck import check_file
from kansho.io.geotiff import write_geotiff

FRAME = "087A_05000_131313"
EPOCHS = [20210105, 20210117, 20210129]
PAIRS = ["20210105_20210117", "20210105_20210129", "20210117_20210129"]
MAX_REQUESTS = 400
HTML = (b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body><h1>Service "
        b"Unavailable</h1><p>Please try again later.</p></body></html>\n")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A products root with FRAME: 3 pairs, geometry (one tiled 300x260 DEM), metadata, GACOS."""
    root = tmp_path_factory.mktemp("faultportal")
    frame = root / frame_track(FRAME) / FRAME
    grid = Grid(48, 40, (139.0, 0.001, 0.0, 36.0, 0.0, -0.001), "EPSG:4326")
    rng = np.random.default_rng(18)
    write_portal_pairs(frame, list(PAIRS), grid, rng)
    meta = frame / "metadata"
    for key, value in (("E", -0.6), ("N", -0.1), ("U", 0.78)):
        write_geotiff(meta / f"{FRAME}.geo.{key}.tif", (value + rng.normal(0, 0.01, grid.shape)).astype(np.float32),
                      grid)
    big = Grid(300, 260, grid.transform, grid.crs)
    write_geotiff(meta / f"{FRAME}.geo.hgt.tif", rng.normal(100, 5, big.shape).astype(np.float32), big)
    (meta / "baselines").write_text("".join(f"{EPOCHS[0]} {e} {k * 20.5:.2f} {k * 12}\n" for k, e in enumerate(EPOCHS)))
    (meta / "metadata.txt").write_text(f"master={EPOCHS[0]}\ncenter_time=05:12:34.5\nheading=-10.2\n")
    (meta / "network.png").write_bytes(png_bytes())
    for e in EPOCHS:
        write_geotiff(frame / "epochs" / str(e) / f"{e}.sltd.geo.tif",
                      rng.normal(2.3, 0.05, grid.shape).astype(np.float32), grid)
    return root


def _expected(root: Path) -> dict[str, Path]:
    """Destination under OUT → source file."""
    frame = root / frame_track(FRAME) / FRAME
    out = {f"GEOC/{p}/{p}.geo.{k}.tif": frame / "interferograms" / p / f"{p}.geo.{k}.tif"
           for p in PAIRS for k in ("unw", "cc")}
    for name in [f"{FRAME}.geo.{k}.tif" for k in ("E", "N", "U", "hgt")] + ["baselines", "metadata.txt", "network.png"]:
        out[f"GEOC/{name}"] = frame / "metadata" / name
    for e in EPOCHS:
        out[f"GACOS/{e}.sltd.geo.tif"] = frame / "epochs" / str(e) / f"{e}.sltd.geo.tif"
    return out


# --------------------------------------------------------------------------------------------
# The fault-injecting server
# --------------------------------------------------------------------------------------------
@dataclass
class Server:
    root: Path
    httpd: ThreadingHTTPServer
    fault: str = ""
    redirect_to: str = ""  # the "redirect" fault: files are answered with a 302 to this products root
    gets: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/products"

    def nth_get(self, rel: str) -> int:
        with self.lock:
            self.gets[rel] = self.gets.get(rel, 0) + 1
            return self.gets[rel]


class _Handler(QuietHandler):
    state: Server

    def _safe(self, head: bool) -> None:
        with self.state.lock:
            self.state.requests += 1
            over = self.state.requests > MAX_REQUESTS
        try:
            if over:
                self.send_error(503, "request budget of the test server spent")
            else:
                self._serve(head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, code: int, body: bytes, ctype: str | None, head: bool, *, length: int | None = -1,
              extra: dict[str, str] | None = None) -> None:
        """A response; ``length`` -1: the body's length, None: no Content-Length (the body ends at close)."""
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(len(body) if length == -1 else length))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        st = self.state
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        rel = path[len("/products/"):] if path.startswith("/products/") else ""
        fs = st.root / rel
        if not rel or ".." in rel or not fs.exists():
            self.send_error(404)
            return
        if fs.is_dir():
            names = sorted(e.name + ("/" if e.is_dir() else "") for e in fs.iterdir())
            page = "".join(f'<a href="{urllib.parse.quote(n)}">{n}</a>\n' for n in names)
            self._send(200, f"<html><body>{page}</body></html>".encode(), "text/html", head)
            return
        data = fs.read_bytes()
        tif = rel.endswith(".tif")
        ctype = "image/tiff" if tif else "text/plain"
        n = 0 if head else st.nth_get(rel)
        if self._fault(st.fault, rel, data, ctype, tif, head, n):
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not head:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
        body = data[start:]
        extra = {"Accept-Ranges": "bytes"}
        if start:
            extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if st.fault == "slow_body" and not head:
            self._send(206 if start else 200, b"", ctype, True, length=len(body), extra=extra)
            for i in range(0, len(body), max(1, len(body) // 4)):
                self.wfile.write(body[i:i + max(1, len(body) // 4)])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self._send(206 if start else 200, body, ctype, head, extra=extra)

    def _fault(self, fault: str, rel: str, data: bytes, ctype: str, tif: bool, head: bool, n: int) -> bool:
        """Answer with ``fault`` if it applies to this request; True when answered."""
        rng = self.headers.get("Range")
        if fault == "html_no_length_first" and not head and n == 1:
            self._send(200, HTML, "text/html", head, length=None)
        elif fault == "html_no_length_octet" and not head and n == 1:
            self._send(200, HTML, "application/octet-stream", head, length=None)
        elif fault == "short_no_length" and tif:  # HEAD and GET without length; GET bodies cut short
            self._send(200, data[: len(data) * 2 // 3], ctype, head, length=None)
        elif fault == "short_no_length_once" and not head and n == 1:
            self._send(200, data[: len(data) // 2], ctype, head, length=None)
        elif fault == "html_200":
            self._send(200, HTML, "text/html", head)
        elif fault == "html_200_as_tiff" and tif:
            self._send(200, HTML, ctype, head)
        elif fault == "underreport" and tif:
            cut = data[: len(data) - 16]
            self._send(200 if not rng else 416, cut if not rng else b"", ctype, head)
        elif fault == "500_first" and not head and n == 1:
            self._send(500, b"Internal Server Error\n", "text/plain", head)
        elif fault == "404_optional" and ("/metadata/" in rel or "/epochs/" in rel) and rel.endswith(("hgt.tif",
                                                                                                      "baselines")):
            self.send_error(404)
        elif fault == "reset_mid_body" and not head and n == 1:
            self._send(200, b"", ctype, True, length=len(data))
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "truncated_with_length" and tif and not head and n == 1:
            self._send(200, b"", ctype, True, length=len(data))
            self.wfile.write(data[: len(data) * 3 // 4])
        elif fault == "html_type_always" and tif:
            self._send(200, data, "text/html; charset=UTF-8", head)
        elif fault == "gzip" and tif:
            packed = gzip.compress(data)
            self._send(200, packed, ctype, head, extra={"Content-Encoding": "gzip"})
        elif fault == "redirect":
            target = f"{self.state.redirect_to}/{urllib.parse.quote(rel)}"
            self._send(302, b"", "text/html", head, extra={"Location": target})
        elif fault in ("html_206", "html_206_as_tiff") and tif and not head and not rng and n == 1:
            self._send(200, b"", ctype, True, length=len(data))  # a drop half-way: the client resumes
            self.wfile.write(data[: len(data) // 2])
        elif fault in ("html_206", "html_206_as_tiff") and tif and not head and rng:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            page = (HTML * (len(data) // len(HTML) + 1))[: len(data) - start]  # the rest of the file, in HTML
            self._send(206, page, "text/html" if fault == "html_206" else ctype, head,
                       extra={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        elif fault == "empty_200" and not head and n == 1:
            self._send(200, b"", ctype, head)
        elif fault == "empty_no_length" and tif:
            self._send(200, b"", ctype, head, length=None)
        else:
            return self._fault_more(fault, rel, data, ctype, tif, head, n)
        return True

    def _drop_half(self, data: bytes, ctype: str, *, ranges: bool = True) -> None:
        """Headers for the whole file, then half the body and the connection closed (a drop)."""
        self._send(200, b"", ctype, True, length=len(data), extra={"Accept-Ranges": "bytes"} if ranges else None)
        self.wfile.write(data[: len(data) // 2])

    def _fault_more(self, fault: str, rel: str, data: bytes, ctype: str, tif: bool, head: bool, n: int) -> bool:
        """Faults of servers in the field: wrong or ignored Range answers, busy answers, stalls,
        redirect loops and login pages, authentication."""
        rng = self.headers.get("Range")
        if fault in ("wrong_range_offset", "range_ignored", "no_ranges") and tif and not head and n == 1:
            self._drop_half(data, ctype, ranges=fault != "no_ranges")
        elif fault == "wrong_range_offset" and tif and not head and rng:
            wrong = max(int(rng.removeprefix("bytes=").rstrip("-")) - 100, 0)  # 100 bytes before what was asked
            self._send(206, data[wrong:], ctype, head,
                       extra={"Content-Range": f"bytes {wrong}-{len(data) - 1}/{len(data)}"})
        elif fault in ("range_ignored", "no_ranges") and tif and rng:
            self._send(200, data, ctype, head)  # the whole file, the Range request ignored
        elif fault == "no_ranges" and tif:
            self._send(200, data, ctype, head)  # no Accept-Ranges header
        elif fault in ("503_first", "429_first") and not head and n == 1:
            code = int(fault[:3])
            self._send(code, b"busy\n", "text/plain", head, extra={"Retry-After": "0"})
        elif fault == "short_consistent_once" and tif and not head and n == 1:
            self._send(200, data[: len(data) // 2], ctype, head)  # cut, with a Content-Length that matches
        elif fault == "redirect_loop" and tif:
            self._send(302, b"", "text/html", head, extra={"Location": self.path})
        elif fault == "redirect_login" and tif:
            if "login=1" in self.path:  # an archive's login page, answered with 200
                self._send(200, HTML, "text/html", head)
            else:
                self._send(302, b"", "text/html", head, extra={"Location": self.path + "?login=1"})
        elif fault == "401_always" and tif:
            self._send(401, b"login required\n", "text/plain", head, extra={"WWW-Authenticate": 'Basic realm="x"'})
        elif fault == "stall_once" and tif and not head and n == 1:
            self._send(200, b"", ctype, True, length=len(data))
            self.wfile.write(data[: len(data) // 4])
            self.wfile.flush()
            time.sleep(1.5)  # longer than the client's 1 s timeout
        elif fault in ("digest_ok", "digest_corrupt_once") and tif:
            body = data
            if fault == "digest_corrupt_once" and not head and n == 1:  # same size, some bytes changed
                mid = len(data) // 2
                body = data[:mid] + bytes(b ^ 0x5A for b in data[mid:mid + 64]) + data[mid + 64:]
            digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
            self._send(200, body, ctype, head, extra={"Repr-Digest": f"sha-256=:{digest}:"})
        elif fault == "head_stall" and head:
            time.sleep(1.5)  # a HEAD that never answers within the timeout
            self.close_connection = True
        else:
            return False
        return True


def _start(root: Path) -> Server:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state = Server(root, httpd)
    httpd.RequestHandlerClass = type("H", (_Handler,), {"state": state})
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return state


@pytest.fixture
def servers(portal: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, Server]]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    a, b = _start(portal), _start(portal)
    a.redirect_to = b.url
    yield a, b
    for s in (a, b):
        s.httpd.shutdown()
        s.httpd.server_close()


# --------------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------------
# fault -> True when the run must succeed (exit 0), False when some file must fail (exit 1)
SCENARIOS = {
    "html_no_length_first": True,  # issue 18: an HTML error page without a length, then a resume
    "html_no_length_octet": True,  # the same page typed application/octet-stream
    "short_no_length": False,  # bodies cut short, no Content-Length anywhere (GeoTIFFs)
    "short_no_length_once": True,  # one body cut short without a length, HEAD knows the size
    "html_200": False,  # an HTML page with 200 for HEAD and GET, every file
    "html_200_as_tiff": False,  # the same page typed image/tiff
    "underreport": False,  # HEAD and GET under-report the size, body cut to match
    "500_first": True,
    "404_optional": True,  # the DEM and baselines missing: optional, reported absent
    "reset_mid_body": True,  # a TCP reset half-way through the body, then resumed
    "slow_body": True,  # a body in pieces, within the timeout
    "truncated_with_length": True,  # a body shorter than its Content-Length (drop), then resumed
    "html_type_always": False,  # the GeoTIFF's bytes typed text/html: refused
    "gzip": False,  # a gzip-encoded body although identity was asked for
    "redirect": True,  # files redirected to a second local server
    "html_206": True,  # a Range resume answered with an HTML 206: discarded, fetched whole
    "html_206_as_tiff": True,  # the same page typed image/tiff: spliced, caught by the check, fetched anew
    "empty_200": True,  # an empty 200 once
    "empty_no_length": False,  # empty bodies without any length (GeoTIFFs)
    "wrong_range_offset": True,  # a resume answered 100 bytes early (issue 18): fetched whole instead
    "range_ignored": True,  # a resume answered 200 with the whole file
    "no_ranges": True,  # a drop, and a server that cannot resume (no Accept-Ranges)
    "503_first": True,  # busy, Retry-After
    "429_first": True,  # too many requests, Retry-After
    "short_consistent_once": True,  # a body cut short with a Content-Length that agrees with it
    "redirect_loop": False,  # every GeoTIFF redirected to itself
    "redirect_login": False,  # redirected to a login page served with 200
    "401_always": False,  # authentication required
    "stall_once": True,  # a body that stops for longer than the timeout, once
    "head_stall": False,  # HEAD requests never answered: each file fails clearly (timed out)
    "digest_ok": True,  # every GeoTIFF with its SHA-256 (Repr-Digest, RFC 9530): checked, kept
    "digest_corrupt_once": True,  # 64 bytes changed in transit, size intact: the checksum catches it
}
ARGS = ["--timeout", "1", "--retries", "2", "--workers", "4"]


def _run(url: str, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["-q", "download", FRAME, "-o", str(out), "--base-url", url, *ARGS])
    return rc, capsys.readouterr().out


def _check_placed(out: Path, expected: dict[str, Path]) -> set[str]:
    """Every file under ``out`` outside the staging folder is an expected one, byte-identical; returns them."""
    placed = {p.relative_to(out).as_posix() for p in out.rglob("*")
              if p.is_file() and STAGING_DIR not in p.relative_to(out).parts and p.name != MANIFEST}
    assert placed <= set(expected), placed - set(expected)
    for dest in placed:
        assert (out / dest).read_bytes() == expected[dest].read_bytes(), f"damaged file placed: {dest}"
        if dest.endswith(".tif"):
            with rasterio.open(out / dest) as ds:
                ds.read()
    return placed


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's back-off (1 s, doubling) capped at a few milliseconds."""
    import kansho.io.http as http_mod

    monkeypatch.setattr(http_mod, "_MAX_DELAY_S", 0.01)


#: scenarios that wait out the client's timeouts (several seconds each): in the slow tier
SLOW_FAULTS = {"head_stall", "stall_once"}


@pytest.mark.parametrize("fault", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAULTS else f
                                   for f in SCENARIOS])
def test_fault_never_leaves_a_damaged_file_with_exit_0(
    fault: str, servers: tuple[Server, Server], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faulty, healthy = servers
    faulty.fault = fault
    expected = _expected(faulty.root)
    out = tmp_path / "frame"
    rc, text = _run(faulty.url, out, capsys)
    placed = _check_placed(out, expected)
    assert faulty.requests <= MAX_REQUESTS and healthy.requests <= MAX_REQUESTS
    if SCENARIOS[fault]:
        assert rc == 0, text
        absent = {d for d in expected if d.endswith(("hgt.tif", "baselines"))} if fault == "404_optional" else set()
        assert placed == set(expected) - absent, text
        assert ("2 not on the server" in text) == (fault == "404_optional")
    else:
        assert rc == 1, text
        assert "failed:" in text and placed != set(expected)
        failed = [line for line in text.splitlines() if line.startswith(("  GEOC/", "  GACOS/"))]
        assert failed and all(": " in line for line in failed), text  # each failed file with its reason

    # a plain re-run against a healthy server completes with byte-identical files
    rc2, text2 = _run(healthy.url, out, capsys)
    assert rc2 == 0, text2
    assert _check_placed(out, expected) == set(expected)
    assert not (out / STAGING_DIR).exists()
    # and a third run finds everything complete (checked in place), fetching nothing
    rc3, text3 = _run(healthy.url, out, capsys)
    assert rc3 == 0 and "0 fetched" in text3 and f"{len(expected)} already complete" in text3, text3


def test_damaged_files_in_place_are_not_complete(
    servers: tuple[Server, Server], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files damaged by an earlier client (an HTML page at their start, at the right size) are fetched again."""
    healthy = servers[1]
    expected = _expected(healthy.root)
    out = tmp_path / "frame"
    assert _run(healthy.url, out, capsys)[0] == 0
    damaged = [f"GEOC/{PAIRS[0]}/{PAIRS[0]}.geo.unw.tif", f"GEOC/{PAIRS[1]}/{PAIRS[1]}.geo.cc.tif",
               f"GEOC/{FRAME}.geo.hgt.tif", f"GACOS/{EPOCHS[2]}.sltd.geo.tif", "GEOC/metadata.txt"]
    for d in damaged:
        raw = (out / d).read_bytes()
        (out / d).write_bytes(((HTML * 2)[:163] + raw[163:])[: len(raw)])  # same size, an error page at the start
    zeroed = out / f"GEOC/{FRAME}.geo.E.tif"
    raw = zeroed.read_bytes()
    zeroed.write_bytes(raw[:163] + bytes(len(raw) - 163))  # same size, zeros after the header
    damaged.append(f"GEOC/{FRAME}.geo.E.tif")
    rc, text = _run(healthy.url, out, capsys)
    assert rc == 0 and f"{len(damaged)} fetched (" in text and f"{len(expected) - len(damaged)} already" in text, text
    assert _check_placed(out, expected) == set(expected)


def test_local_mirror_with_a_damaged_file_fails(
    portal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checks hold for a local mirror too: a truncated GeoTIFF there is reported, not placed."""
    mirror = tmp_path / "mirror"
    shutil.copytree(portal, mirror)
    bad = mirror / frame_track(FRAME) / FRAME / "epochs" / str(EPOCHS[1]) / f"{EPOCHS[1]}.sltd.geo.tif"
    bad.write_bytes(bad.read_bytes()[:-40])
    rc, text = _run(str(mirror), tmp_path / "out", capsys)
    assert rc == 1 and f"GACOS/{EPOCHS[1]}.sltd.geo.tif: not a readable GeoTIFF or truncated" in text, text
    placed = _check_placed(tmp_path / "out", _expected(mirror))
    assert placed == set(_expected(mirror)) - {f"GACOS/{EPOCHS[1]}.sltd.geo.tif"}


@pytest.mark.parametrize(
    ("kind", "content", "reason"),
    [
        ("geotiff", b"", "empty file"),
        ("geotiff", HTML, "an HTML page"),
        ("text", b"  \n<html><body>login</body></html>", "an HTML page"),
        ("text", b"20210105 20210117 0.00 12\n", None),
        ("text", b"\0\0\0binary", "binary data"),
        ("geotiff", b"II*\0" + bytes(100), "not a readable GeoTIFF"),
        ("geotiff", gzip.compress(b"II*\0" + bytes(100), mtime=0), "not a readable GeoTIFF"),
    ],
    ids=["empty", "html", "text-html", "text-ok", "text-binary", "tiff-garbage", "tiff-gzip"],
)
def test_check_file(tmp_path: Path, kind: str, content: bytes, reason: str | None) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    got = check_file(path, kind)
    assert (got is None) if reason is None else (got is not None and got.startswith(reason)), got


def test_check_file_catches_every_cut_of_a_geotiff(portal: Path, tmp_path: Path) -> None:
    src = portal / frame_track(FRAME) / FRAME / "metadata" / f"{FRAME}.geo.hgt.tif"
    raw = src.read_bytes()
    assert check_file(src, "geotiff") is None and check_file(src, "geotiff", full=False) is None
    path = tmp_path / "cut.tif"
    for cut in (1, 7, 4096, len(raw) // 3, len(raw) - 200):
        path.write_bytes(raw[: len(raw) - cut])
        assert check_file(path, "geotiff") is not None, cut
        assert check_file(path, "geotiff", full=False) is not None, cut  # the quick check of files in place


def test_declared_digests_are_read_and_checked(tmp_path: Path) -> None:
    """The checksum headers a server may send: Repr-Digest (RFC 9530), Digest (RFC 3230) and
    Content-MD5 (RFC 1864, for a whole body only); malformed values and unknown algorithms are
    ignored; a file that differs is named."""
    from kansho.io.filecheck import declared_digests, digest_problem

    data = b"a GeoTIFF's bytes"
    f = tmp_path / "f"
    f.write_bytes(data)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert declared_digests({"Repr-Digest": f"sha-256=:{sha}:, crc32c=:AAAAAA==:"}, whole_body=False) == {
        "sha256": hashlib.sha256(data).digest()}
    assert declared_digests({"Digest": f"MD5={md5}"}, whole_body=False) == {"md5": hashlib.md5(data).digest()}
    assert declared_digests({"Content-MD5": md5}, whole_body=False) == {}  # a partial body's MD5
    assert declared_digests({"Content-MD5": md5}, whole_body=True) == {"md5": hashlib.md5(data).digest()}
    assert declared_digests({"Repr-Digest": "sha-256=:not base64!:"}, whole_body=True) == {}
    assert digest_problem(f, declared_digests({"Repr-Digest": f"sha-256=:{sha}:"}, whole_body=True)) is None
    f.write_bytes(data[:-1] + b"X")
    assert "sha256" in str(digest_problem(f, {"sha256": hashlib.sha256(data).digest()}))
