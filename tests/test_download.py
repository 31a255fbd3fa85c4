"""``kansho download`` against a real HTTP server on 127.0.0.1 serving a small frame in the portal layout.

The server (``http.server.ThreadingHTTPServer`` in a thread) serves Apache-style directory listings,
answers ``Range`` requests with 206, and injects faults per file: a 404, a connection dropped
half-way through the body, a body cut short with a matching ``Content-Length``, a 500, a stall
longer than the client's timeout. Every socket ``connect`` made during a test is checked: only
127.0.0.1 is allowed (anything else is refused before a packet leaves, and the test fails).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._shared import write_portal_pairs

from kansho.cli import main
from kansho.grid import Grid
from kansho.io.download import (
    STAGING_DIR,
    DownloadError,
    download_frame,
    frame_track,
    parse_listing,
    select_pairs,
    validate_frame_id,
)
from kansho.io.download_checks import MANIFEST
from kansho.io.geotiff import write_geotiff
from kansho.io.inputs import discover_inputs, read_baselines

FRAME = "124D_04854_171313"
EPOCHS = [20200101, 20200113, 20200125, 20200206, 20200218, 20200301]  # 12-day cadence
NO_GACOS_EPOCH = 20200206  # its epoch folder exists but holds no GACOS file
BPERP = {20200101: 0.0, 20200113: 31.5, 20200125: -12.25, 20200206: 55.0, 20200218: -40.5, 20200301: 7.75}
FAST = {"timeout": 2.0, "retries": 2, "backoff": 0.01, "workers": 4, "progress": False}


def _pairs() -> list[str]:
    """Each epoch with its next one and two, plus one 60-day pair: 10 pairs."""
    out = [f"{EPOCHS[i]}_{EPOCHS[j]}" for i in range(len(EPOCHS)) for j in (i + 1, i + 2) if j < len(EPOCHS)]
    return [*out, f"{EPOCHS[0]}_{EPOCHS[-1]}"]


PAIRS = _pairs()


def _days(pair: str) -> int:
    a, b = (dt.datetime.strptime(s, "%Y%m%d").date() for s in pair.split("_"))
    return (b - a).days


# --------------------------------------------------------------------------------------------
# The portal tree
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A products root holding FRAME in the LiCSAR portal layout (small, random GeoTIFFs)."""
    root = tmp_path_factory.mktemp("portal")
    frame = root / frame_track(FRAME) / FRAME
    grid = Grid(48, 40, (139.0, 0.001, 0.0, 36.0, 0.0, -0.001), "EPSG:4326")
    rng = np.random.default_rng(7)
    write_portal_pairs(frame, list(PAIRS), grid, rng)
    (frame / "interferograms" / "README.txt").write_text("not a pair\n")
    (frame / "interferograms" / "bad_folder").mkdir()
    meta = frame / "metadata"
    for key, value in (("E", -0.6), ("N", -0.1), ("U", 0.78), ("hgt", 100.0)):
        arr = (value + rng.normal(0, 0.01, grid.shape)).astype(np.float32)
        write_geotiff(meta / f"{FRAME}.geo.{key}.tif", arr, grid)
    ref = EPOCHS[0]
    (meta / "baselines").write_text(
        "".join(f"{ref} {e} {BPERP[e]:.2f} {_days(f'{ref}_{e}')}\n" for e in EPOCHS[1:])
    )
    (meta / "metadata.txt").write_text(
        f"master={ref}\ncenter_time=05:12:34.5\nheading=-169.9\navg_incidence_angle=39.1\n"
        "wavelength=0.05546576\n"
    )
    for e in EPOCHS:
        d = frame / "epochs" / str(e)
        d.mkdir(parents=True)
        if e != NO_GACOS_EPOCH:
            write_geotiff(d / f"{e}.sltd.geo.tif", rng.normal(2.3, 0.05, grid.shape).astype(np.float32), grid)
    return root


def _src(portal: Path, pair: str, kind: str = "unw") -> Path:
    return portal / frame_track(FRAME) / FRAME / "interferograms" / pair / f"{pair}.geo.{kind}.tif"


def _rel(pair: str, kind: str = "unw") -> str:
    """The file's path under the server's products root."""
    return f"{frame_track(FRAME)}/{FRAME}/interferograms/{pair}/{pair}.geo.{kind}.tif"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------
@dataclass
class Portal:
    """A running test server: ``url`` is the products root; ``faults`` maps a relative path to a fault."""

    root: Path
    httpd: ThreadingHTTPServer
    faults: dict[str, str] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, rel path, Range)
    stall_s: float = 3.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/products"

    def once(self, rel: str) -> bool:
        """True the first time a one-shot fault on ``rel`` fires."""
        with self.lock:
            if rel in self.fired:
                return False
            self.fired.add(rel)
            return True

    def count(self, rel: str) -> int:
        """How many times ``count`` was called for ``rel`` (this call included)."""
        with self.lock:
            self.counts[rel] = self.counts.get(rel, 0) + 1
            return self.counts[rel]

    def gets(self, rel: str) -> list[str | None]:
        """The Range headers of the GET requests for ``rel`` (None: no Range)."""
        return [r for m, p, r in self.requests if m == "GET" and p == rel]


class _Handler(BaseHTTPRequestHandler):
    server_version = "Apache/2.4"
    portal: Portal

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._safe(head=True)

    def do_GET(self) -> None:
        self._safe(head=False)

    def _safe(self, head: bool) -> None:
        try:
            self._serve(head)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (slow-server test)
            self.close_connection = True

    def _serve(self, head: bool) -> None:
        portal = self.portal
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        rng = self.headers.get("Range")
        rel = path[len("/products/"):] if path.startswith("/products/") else None
        with portal.lock:
            portal.requests.append(("HEAD" if head else "GET", rel or path, rng))
        if rel is None or ".." in rel:
            self.send_error(404)
            return
        fault = portal.faults.get(rel)
        fs = portal.root / rel
        if fault == "404" or not fs.exists():
            self.send_error(404)
            return
        if fs.is_dir():
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._listing(path, fs, head)
            return
        data = fs.read_bytes()
        if not head and fault == "stall":
            time.sleep(portal.stall_s)
        if not head and fault == "500_once" and portal.once(rel):
            self.send_error(500)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not head:
            start = int(m.group(1))
            if start >= len(data):
                self.send_error(416)
                return
        body = data[start:]
        if not head and fault == "truncate_once" and portal.once(rel):
            body = body[: len(body) // 2]  # a short body whose Content-Length agrees with it
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if head:
            return
        if (fault == "drop_once" and portal.once(rel)) or (fault == "drop_thrice" and portal.count(rel) <= 3):
            self.wfile.write(body[: len(data) // 4 if fault == "drop_thrice" else len(body) // 2])
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
            return
        self.wfile.write(body)

    def _listing(self, path: str, fs: Path, head: bool) -> None:
        """An Apache-style index page: sort links, a parent link, then the entries."""
        rows = ['<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>',
                f'<tr><td><a href="{html.escape(str(Path(path).parent))}/">Parent Directory</a></td></tr>']
        for e in sorted(fs.iterdir()):
            name = e.name + ("/" if e.is_dir() else "")
            rows.append(f'<tr><td><a href="{urllib.parse.quote(name)}">{html.escape(name)}</a></td></tr>')
        page = (f"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\"><html><head><title>Index of {path}"
                f"</title></head><body><h1>Index of {path}</h1><table>{''.join(rows)}</table></body></html>")
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


@pytest.fixture
def server(portal: Path) -> Iterator[Portal]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state = Portal(portal, httpd)
    httpd.RequestHandlerClass = type("H", (_Handler,), {"portal": state})
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse every socket connection that is not to 127.0.0.1; fail the test if one was tried."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ConnectionRefusedError(f"test guard: connection to {host} refused (only 127.0.0.1 allowed)")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts
    outside = [a for a in attempts if not (isinstance(a, tuple) and a[0] in ("127.0.0.1", "::1"))]
    assert not outside, f"non-loopback connections attempted: {outside}"


def _all_files(portal: Path, pairs: list[str] | None = None, gacos_epochs: list[int] | None = None) -> dict[str, Path]:
    """Expected destination (relative to OUT) → source file in the portal."""
    frame = portal / frame_track(FRAME) / FRAME
    out: dict[str, Path] = {}
    for p in PAIRS if pairs is None else pairs:
        for kind in ("unw", "cc"):
            out[f"GEOC/{p}/{p}.geo.{kind}.tif"] = _src(portal, p, kind)
    for key in ("E", "N", "U", "hgt"):
        out[f"GEOC/{FRAME}.geo.{key}.tif"] = frame / "metadata" / f"{FRAME}.geo.{key}.tif"
    for name in ("baselines", "metadata.txt"):
        out[f"GEOC/{name}"] = frame / "metadata" / name
    epochs = [e for e in EPOCHS if e != NO_GACOS_EPOCH] if gacos_epochs is None else gacos_epochs
    for e in epochs:
        out[f"GACOS/{e}.sltd.geo.tif"] = frame / "epochs" / str(e) / f"{e}.sltd.geo.tif"
    return out


def _files_under(out: Path) -> set[str]:
    """The files under ``out`` but the download manifest (the record of where each file came from)."""
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST}


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
def test_download_reads_back_and_second_run_fetches_nothing(server: Portal, tmp_path: Path) -> None:
    out = tmp_path / "frame"
    s = download_frame(FRAME, out, base_url=server.url, **FAST)
    assert s.ok, s.report()
    expected = _all_files(server.root)
    assert _files_under(out) == set(expected)  # nothing else: the staging folder is gone
    assert (out / MANIFEST).is_file()
    for dest, src in expected.items():
        assert _md5(out / dest) == _md5(src), dest
    assert s.pairs_listed == len(PAIRS) and s.pairs_selected == sorted(PAIRS)
    assert len(s.fetched) == len(expected) and s.bytes_fetched == sum(p.stat().st_size for p in expected.values())
    assert s.gacos_missing == [NO_GACOS_EPOCH] and len(s.gacos_epochs) == len(EPOCHS) - 1

    # what kansho ts reads
    inputs = discover_inputs(out)
    assert inputs.layout == "licsar" and inputs.root == out / "GEOC"
    assert inputs.ifgdates == sorted(PAIRS)
    assert list(inputs.epochs) == EPOCHS
    assert all(inputs.geometry[k] == out / "GEOC" / f"{FRAME}.geo.{k}.tif" for k in ("E", "N", "U", "hgt"))
    assert inputs.bperp == pytest.approx(BPERP)
    assert inputs.metadata["heading_deg"] == pytest.approx(-169.9)
    assert inputs.wavelength == pytest.approx(0.05546576)

    # second run: only HEAD requests, listings and the entry pages of the optional files the server
    # lacks (they may have appeared since), no file body
    server.requests.clear()
    s2 = download_frame(FRAME, out, base_url=server.url, **FAST)
    assert s2.ok and not s2.fetched and s2.bytes_fetched == 0
    assert len(s2.skipped) == len(expected)
    files = {src.relative_to(server.root).as_posix() for src in expected.values()}
    assert not [r for r in server.requests if r[0] == "GET" and r[1] in files]
    # (each asked in the products root and in its parallel trees products.public/ and products.future/,
    # which this server lacks)
    assert {re.sub(r"^/products\.(public|future)/", "", r[1]) for r in server.requests
            if r[0] == "GET" and not r[1].endswith("/")} == {
        f"{frame_track(FRAME)}/{FRAME}/epochs/{NO_GACOS_EPOCH}", f"{frame_track(FRAME)}/{FRAME}/metadata"}
    assert "0 fetched" in s2.report() and "already complete" in s2.report()


def test_404_for_one_pair_is_reported_and_the_rest_is_usable(
    server: Portal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = PAIRS[3]
    server.faults[_rel(bad, "unw")] = "404"
    out = tmp_path / "frame"
    rc = main(["-q", "download", FRAME, "-o", str(out), "--base-url", server.url, "--timeout", "2",
               "--retries", "2", "--workers", "3"])
    text = capsys.readouterr().out
    assert rc == 1
    assert f"GEOC/{bad}/{bad}.geo.unw.tif: HTTP 404" in text
    assert "1 failed" in text and "1 incomplete" in text
    # a 404 is not retried: one HEAD, no GET
    assert [r[0] for r in server.requests if r[1] == _rel(bad, "unw")] == ["HEAD"]
    # the pair's coherence was fetched but kept out of GEOC, so GEOC stays readable without it
    assert not (out / "GEOC" / bad).exists()
    inputs = discover_inputs(out)
    assert inputs.ifgdates == sorted(p for p in PAIRS if p != bad)
    for p in inputs.pairs:
        assert _md5(p.unw) == _md5(_src(server.root, p.name)) and _md5(p.cc) == _md5(_src(server.root, p.name, "cc"))

    # the pair comes back on the server: the next run fetches only its unw and completes it
    del server.faults[_rel(bad, "unw")]
    server.requests.clear()
    s = download_frame(FRAME, out, base_url=server.url, **FAST)
    assert s.ok
    assert [f.name for f in s.fetched] == [f"GEOC/{bad}/{bad}.geo.unw.tif", f"GEOC/{bad}/{bad}.geo.cc.tif"]
    assert server.gets(_rel(bad, "cc")) == []  # cc was complete in the staging area
    assert discover_inputs(out).n_pairs == len(PAIRS)
    assert not (out / STAGING_DIR).exists()


def test_dropped_connection_is_resumed_with_range(server: Portal, tmp_path: Path) -> None:
    pair, other = PAIRS[1], PAIRS[6]
    server.faults[_rel(pair, "unw")] = "drop_once"
    server.faults[_rel(pair, "cc")] = "500_once"
    server.faults[_rel(other, "unw")] = "drop_thrice"  # more drops than retries, each one with progress
    s = download_frame(FRAME, tmp_path, base_url=server.url, **{**FAST, "retries": 1})
    assert s.ok, s.report()
    size = _src(server.root, pair).stat().st_size
    ranges = server.gets(_rel(pair, "unw"))
    assert ranges == [None, f"bytes={size // 2}-"]  # the second GET continued where the first stopped
    assert _md5(tmp_path / "GEOC" / pair / f"{pair}.geo.unw.tif") == _md5(_src(server.root, pair))
    unw = next(f for f in s.files if f.name.endswith(f"{pair}.geo.unw.tif"))
    assert unw.nbytes == size and unw.attempts == 2  # no byte fetched twice
    # a drop after progress is resumed at once and does not use up a retry: 4 GETs with retries=1
    size = _src(server.root, other).stat().st_size
    q = size // 4
    assert server.gets(_rel(other, "unw")) == [None, f"bytes={q}-", f"bytes={2 * q}-", f"bytes={3 * q}-"]
    assert _md5(tmp_path / "GEOC" / other / f"{other}.geo.unw.tif") == _md5(_src(server.root, other))
    # a 500 is retried (after back-off) and succeeds
    assert server.gets(_rel(pair, "cc")) == [None, None]
    assert _md5(tmp_path / "GEOC" / pair / f"{pair}.geo.cc.tif") == _md5(_src(server.root, pair, "cc"))


def test_truncated_body_is_detected_and_fetched_again(server: Portal, tmp_path: Path) -> None:
    pair = PAIRS[2]
    server.faults[_rel(pair, "unw")] = "truncate_once"
    s = download_frame(FRAME, tmp_path, base_url=server.url, **FAST)
    assert s.ok, s.report()
    # the GET announced another size than HEAD did: the body is not trusted and the file is fetched anew
    assert server.gets(_rel(pair, "unw")) == [None, None]
    unw = next(f for f in s.files if f.name.endswith(f"{pair}.geo.unw.tif"))
    assert unw.attempts == 2 and unw.nbytes == _src(server.root, pair).stat().st_size
    assert _md5(tmp_path / "GEOC" / pair / f"{pair}.geo.unw.tif") == _md5(_src(server.root, pair))


def test_truncated_local_file_is_fetched_again(server: Portal, tmp_path: Path) -> None:
    assert download_frame(FRAME, tmp_path, base_url=server.url, **FAST).ok
    pair = PAIRS[4]
    local = tmp_path / "GEOC" / pair / f"{pair}.geo.cc.tif"
    local.write_bytes(local.read_bytes()[:100])  # e.g. a copy cut short by a full disk
    server.requests.clear()
    s = download_frame(FRAME, tmp_path, base_url=server.url, **FAST)
    assert s.ok
    assert [f.name for f in s.fetched] == [f"GEOC/{pair}/{pair}.geo.cc.tif"]
    assert server.gets(_rel(pair, "cc")) == [None]  # a complete fetch, not a resume from the bad file
    assert _md5(local) == _md5(_src(server.root, pair, "cc"))


def test_slow_server_times_out_in_finite_time(server: Portal, tmp_path: Path) -> None:
    pair = PAIRS[5]
    server.faults[_rel(pair, "cc")] = "stall"
    server.stall_s = 3.0
    s = download_frame(FRAME, tmp_path, base_url=server.url, **{**FAST, "timeout": 0.3, "retries": 1})
    assert not s.ok
    assert [(f.name, f.attempts) for f in s.failed] == [(f"GEOC/{pair}/{pair}.geo.cc.tif", 2)]
    # each attempt was abandoned at the client's timeout, not after the server's stall: exactly the
    # two GETs of retries=1, no byte of the stalled file kept, every other file complete
    assert "timed out" in s.failed[0].reason
    assert server.gets(_rel(pair, "cc")) == [None, None]
    assert s.failed[0].nbytes == 0
    assert len(s.fetched) == len(s.files) - len(s.failed) - len(s.absent)
    assert s.pairs_incomplete == [pair]
    assert discover_inputs(tmp_path).n_pairs == len(PAIRS) - 1


def test_date_range_and_max_tlen(server: Portal, tmp_path: Path) -> None:
    start, end, tlen = EPOCHS[1], EPOCHS[4], 12
    s = download_frame(FRAME, tmp_path, base_url=server.url, start=str(start), end=str(end), max_tlen_days=tlen,
                       **FAST)
    want = sorted(p for p in PAIRS if start <= int(p[:8]) and int(p[9:]) <= end and _days(p) <= tlen)
    assert want == [f"{EPOCHS[i]}_{EPOCHS[i + 1]}" for i in (1, 2, 3)]  # the test's own arithmetic
    assert s.pairs_selected == want
    epochs = sorted({int(d) for p in want for d in p.split("_")})
    gacos = [e for e in epochs if e != NO_GACOS_EPOCH]
    assert _files_under(tmp_path) == set(_all_files(server.root, want, gacos))
    assert s.gacos_missing == [NO_GACOS_EPOCH]
    assert discover_inputs(tmp_path).ifgdates == want
    # --no-gacos: no epochs/ request at all
    server.requests.clear()
    s2 = download_frame(FRAME, tmp_path / "b", base_url=server.url, start=start, end=end, gacos=False, **FAST)
    assert s2.ok and not any("/epochs/" in r[1] for r in server.requests)
    assert not (tmp_path / "b" / "GACOS").exists()


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 200)), max_size=30),
    lo=st.integers(0, 600),
    span=st.integers(0, 600),
    tlen=st.one_of(st.none(), st.integers(1, 250)),
)
def test_select_pairs_invariant(pairs: list[tuple[int, int]], lo: int, span: int, tlen: int | None) -> None:
    base = dt.date(2019, 1, 1)

    def day(k: int) -> dt.date:
        return base + dt.timedelta(days=k)

    names = [f"{day(a):%Y%m%d}_{day(a + d):%Y%m%d}" for a, d in pairs]
    start, end = day(lo), day(lo + span)
    got = select_pairs([*names, "garbage", "20190105_20190101"], f"{start:%Y%m%d}", end, tlen)
    assert got == sorted(set(got))
    for a, d in set(pairs):
        name = f"{day(a):%Y%m%d}_{day(a + d):%Y%m%d}"
        inside = lo <= a and a + d <= lo + span and (tlen is None or d <= tlen)
        assert (name in got) == inside


def test_local_mirror_and_file_url(server: Portal, tmp_path: Path) -> None:
    a = download_frame(FRAME, tmp_path / "a", base_url=str(server.root), **{**FAST, "progress": True})
    b = download_frame(FRAME, tmp_path / "b", base_url=server.root.as_uri(), max_tlen_days=12, **FAST)
    assert a.ok and b.ok
    for dest, src in _all_files(server.root).items():
        assert _md5(tmp_path / "a" / dest) == _md5(src)
    assert discover_inputs(tmp_path / "a").n_pairs == len(PAIRS)
    assert discover_inputs(tmp_path / "b").ifgdates == sorted(p for p in PAIRS if _days(p) <= 12)
    assert read_baselines(tmp_path / "b" / "GEOC" / "baselines") == pytest.approx(BPERP)


def test_frame_ids_and_bad_options(server: Portal, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert frame_track("124D_04854_171313") == "124"
    assert frame_track("001A_01234_131313") == "1"
    assert validate_frame_id(" 087d_05000_131313") == "087D_05000_131313"
    for bad in ("124D_4854_171313", "124X_04854_171313", "D124_04854_171313", ""):
        with pytest.raises(DownloadError, match="invalid LiCSAR frame id"):
            download_frame(bad, tmp_path, base_url=server.url, **FAST)
    with pytest.raises(DownloadError, match="start 20200301 is after end 20200101"):
        download_frame(FRAME, tmp_path, base_url=server.url, start=20200301, end=20200101, **FAST)
    with pytest.raises(DownloadError, match="not a valid yyyymmdd"):
        download_frame(FRAME, tmp_path, base_url=server.url, start="2020-01-01", **FAST)
    with pytest.raises(DownloadError, match="frame 124D_00000_000000 not found"):
        download_frame("124D_00000_000000", tmp_path, base_url=server.url, **FAST)
    with pytest.raises(DownloadError, match="no such local folder"):
        download_frame(FRAME, tmp_path, base_url=str(tmp_path / "nowhere"), **FAST)
    assert server.requests  # the server did answer (the frame-not-found case)
    assert not list(tmp_path.iterdir())  # nothing written for a failed start
    rc = main(["-q", "download", "12D_1_2", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "invalid LiCSAR frame id '12D_1_2'" in err


def test_nothing_outside_loopback_is_contacted(loopback_only: list[object], tmp_path: Path) -> None:
    """The guard is live: a non-loopback products root is refused before any packet leaves."""
    with pytest.raises(DownloadError, match=r"connection to 192\.0\.2\.1 refused"):
        download_frame(FRAME, tmp_path, base_url="http://192.0.2.1/products", **{**FAST, "retries": 0})
    assert [a[0] for a in loopback_only if isinstance(a, tuple)] == ["192.0.2.1"]
    loopback_only.clear()  # the refusal above was this test's point


def test_parse_listing_keeps_only_children() -> None:
    page = (
        '<a href="?C=N;O=D">Name</a><a href="/products/124/">Parent Directory</a>'
        '<a href="20200101_20200113/">20200101_20200113/</a><a href="metadata.txt">metadata.txt</a>'
        '<a href="http://elsewhere.example/x/">x</a><a href="sub/deeper/">deep</a>'
        '<a href="/products/124/F/interferograms/abs_child/">abs</a><a href="a%20b.tif">a b</a>'
    )
    got = parse_listing(page, "http://127.0.0.1:1/products/124/F/interferograms/")
    assert got == ["20200101_20200113/", "metadata.txt", "abs_child/", "a b.tif"]
