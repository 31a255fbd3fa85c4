"""``kansho download`` against the LiCSAR portal as it is since August 2025, and as it was before.

Three servers on 127.0.0.1, each answering at most ``MAX_REQUESTS`` requests and never waiting on
a client for more than 5 s:

* **old**: the products root as it was: folders with the files (Apache-style listings);
* **new**: the products root as it is now: the entries ``interferograms/<pair>``,
  ``epochs/<date>`` and ``metadata`` are HTML pages of links; a file's old direct URL is a 404
  (pairs, metadata) or an HTML page with 200 (epochs); one pair is listed only in the parallel
  ``products.future/`` tree; the link pages also hold decoys (an ``ftp://`` link of the same
  name, another file's link, sort and parent links);
* **archive**: the files the links point to, on another port and another path scheme
  (``/neodc/comet/data/licsar_products/<3-digit track>/<FRAME>/<pair>/<file>``).

The frame has one pair of another size (a known portal defect) and one GACOS file of another
size: both are quarantined, the rest downloaded, exit 0.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from tests._shared import QuietHandler, png_bytes, write_portal_pairs

from kansho.cli import main
from kansho.grid import Grid
from kansho.io.download import download_frame, frame_track
from kansho.io.download_checks import MANIFEST, QUARANTINE_LIST
from kansho.io.geotiff import write_geotiff
from kansho.io.inputs import discover_inputs
from kansho.io.radar_meta import read_baselines
from kansho.io.sources import parse_links

FRAME = "021D_05266_131313"
TRACK = frame_track(FRAME)  # "21" on the portal
ARCHIVE = f"neodc/comet/data/licsar_products/{int(TRACK):03d}/{FRAME}"  # another scheme on the archive host
EPOCHS = [20230105, 20230117, 20230129, 20230210, 20230222]
PAIRS = ["20230105_20230117", "20230117_20230129", "20230129_20230210", "20230210_20230222",
         "20230105_20230129", "20230129_20230222"]
ODD_PAIR = "20230117_20230210"  # another size than the frame: quarantined
FUTURE_PAIR = "20230105_20230210"  # listed only in products.future/
ALL_PAIRS = sorted([*PAIRS, ODD_PAIR, FUTURE_PAIR])
NO_TIDE_EPOCH = EPOCHS[2]  # the portal has no tide for it
ODD_GACOS_EPOCH = EPOCHS[4]  # its GACOS file has another size: quarantined
LAYER_SUFFIX = {"gacos": ".sltd.geo.tif", "icams": ".icams.sltd.geo.tif", "tide": ".tide.geo.tif",
                "iono": ".geo.iono.code.tif", "mli": ".geo.mli.tif"}
LAYER_FOLDER = {"gacos": "GACOS", "icams": "ICAMS", "tide": "TIDE", "iono": "IONO", "mli": "GEOC.MLI"}
GRID = Grid(48, 40, (139.0, 0.001, 0.0, 36.0, 0.0, -0.001), "EPSG:4326")
ODD_GRID = Grid(50, 40, GRID.transform, GRID.crs)
MAX_REQUESTS = 600
FAST = {"timeout": 2.0, "retries": 1, "backoff": 0.01, "workers": 4, "progress": False}


# --------------------------------------------------------------------------------------------
# The frame: one tree of files, served in the old layout, the new one and the archive
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frame's files in the old portal layout (``tree/<track>/<FRAME>/...``)."""
    root = tmp_path_factory.mktemp("portal_tree")
    frame = root / TRACK / FRAME
    rng = np.random.default_rng(25)
    write_portal_pairs(frame, [p for p in ALL_PAIRS if p != ODD_PAIR], GRID, rng)
    write_portal_pairs(frame, [ODD_PAIR], ODD_GRID, rng)
    meta = frame / "metadata"
    for key, value in (("E", -0.6), ("N", -0.1), ("U", 0.78), ("hgt", 100.0)):
        write_geotiff(meta / f"{FRAME}.geo.{key}.tif", (value + rng.normal(0, 0.01, GRID.shape)).astype(np.float32),
                      GRID)
    write_geotiff(meta / f"{FRAME}.geo.landmask.tif", (rng.random(GRID.shape) > 0.2).astype(np.uint8), GRID)
    (meta / "baselines").write_text("".join(f"{EPOCHS[0]} {e} {k * 10.5:.2f} {k * 12}\n" for k, e in enumerate(EPOCHS)))
    (meta / "metadata.txt").write_text(f"master={EPOCHS[0]}\ncenter_time=05:12:34.5\nheading=-169.9\n")
    (meta / "network.png").write_bytes(png_bytes())
    for e in EPOCHS:
        for layer, suffix in LAYER_SUFFIX.items():
            if layer == "tide" and e == NO_TIDE_EPOCH:
                continue
            grid = ODD_GRID if (layer == "gacos" and e == ODD_GACOS_EPOCH) else GRID
            write_geotiff(frame / "epochs" / str(e) / f"{e}{suffix}", rng.normal(0, 1, grid.shape).astype(np.float32),
                          grid)
    return root


def _archive_rel(rel: str) -> str:
    """The archive's path of the file at ``rel`` (under the frame folder) in the old layout."""
    parts = rel.split("/")
    if parts[0] == "interferograms":  # the pairs sit directly in the frame's folder there
        parts = parts[1:]
    return f"{ARCHIVE}/{'/'.join(parts)}"


# --------------------------------------------------------------------------------------------
# The servers
# --------------------------------------------------------------------------------------------
@dataclass
class Server:
    kind: str  # "old", "new" or "archive"
    tree: Path
    httpd: ThreadingHTTPServer
    archive_url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def gets(self) -> list[str]:
        with self.lock:
            return [p for m, p in self.requests if m == "GET"]


class _Handler(QuietHandler):
    state: Server

    def _safe(self, head: bool) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with self.state.lock:
            self.state.requests.append(("HEAD" if head else "GET", path))
            over = len(self.state.requests) > MAX_REQUESTS
        try:
            if over or ".." in path:
                self.send_error(503 if over else 404)
            else:
                getattr(self, f"_serve_{self.state.kind}")(path, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, code: int, body: bytes, ctype: str, head: bool, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _file(self, fs: Path, head: bool) -> None:
        data = fs.read_bytes()
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(m.group(1)) if m and not head else 0
        ctype = "image/tiff" if fs.suffix == ".tif" else "image/png" if fs.suffix == ".png" else "text/plain"
        extra = {"Accept-Ranges": "bytes"}
        if start:
            extra["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self._send(206 if start else 200, data[start:], ctype, head, extra)

    def _page(self, title: str, hrefs: list[tuple[str, str]], head: bool) -> None:
        rows = "".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a><br />\n' for h, t in hrefs)
        self._send(200, f"<html><head><title>{title}</title></head><body>{rows}</body></html>".encode(),
                   "text/html;charset=UTF-8", head)

    # the old layout: folders of files
    def _serve_old(self, path: str, head: bool) -> None:
        rel = path.removeprefix("/products/") if path.startswith("/products/") else None
        fs = self.state.tree / rel if rel is not None else None
        if fs is None or not fs.exists():
            self.send_error(404)
        elif fs.is_dir() and not path.endswith("/"):
            self._send(301, b"", "text/html", head, {"Location": path + "/"})
        elif fs.is_dir():
            names = sorted(e.name + ("/" if e.is_dir() else "") for e in fs.iterdir())
            self._page(f"Index of {path}", [("?C=N;O=D", "Name"), ("../", "Parent Directory")]
                       + [(urllib.parse.quote(n), n) for n in names], head)
        else:
            self._file(fs, head)

    # the archive: files only, on its own path scheme
    def _serve_archive(self, path: str, head: bool) -> None:
        m = re.fullmatch(rf"/{ARCHIVE}/(.+)", path)
        if m is None:
            self.send_error(404)
            return
        parts = m.group(1).split("/")
        if re.fullmatch(r"\d{8}_\d{8}", parts[0]):
            parts = ["interferograms", *parts]
        fs = self.state.tree / TRACK / FRAME / "/".join(parts)
        if fs.is_file():
            self._file(fs, head)
        else:
            self.send_error(404)

    # the new layout: entries are pages of links to the archive
    def _serve_new(self, path: str, head: bool) -> None:
        m = re.fullmatch(rf"/products(\.future)?/{TRACK}/{FRAME}/(interferograms|epochs|metadata)(/?)(.*)", path)
        if m is None:
            self.send_error(404)
            return
        future, section, slash, rest = bool(m.group(1)), m.group(2), m.group(3), m.group(4)
        base = self.state.tree / TRACK / FRAME / section
        if section == "metadata" and not rest and not future:
            self._links(base, "metadata", head)
        elif not rest and slash and section != "metadata":  # the listing of the entries (link pages, no folders)
            names = sorted(p.name for p in base.iterdir())
            if section == "interferograms":
                names = [FUTURE_PAIR] if future else [n for n in names if n != FUTURE_PAIR]
            elif future:
                names = []
            self._page(f"Index of {path}", [("?C=N;O=D", "Name"), ("../", "Parent Directory")]
                       + [(n, n) for n in names], head)
        elif rest and "/" not in rest and (base / rest).is_dir() and (rest == FUTURE_PAIR) == future:
            self._links(base / rest, f"{section}/{rest}", head)
        elif rest and "/" in rest and section == "epochs" and not future:  # the old URL: a page, not the file
            self._page("Moved", [("https://comet.nerc.ac.uk/comet-lics-portal/", "data moved to the archive")], head)
        else:
            self.send_error(404)

    def _links(self, folder: Path, rel: str, head: bool) -> None:
        links: list[tuple[str, str]] = [("?C=M;O=A", "Last modified"), ("../", "Parent Directory")]
        for f in sorted(folder.iterdir()):
            url = f"{self.state.archive_url}/{_archive_rel(f'{rel}/{f.name}')}"
            links += [(f"ftp://127.0.0.1/{f.name}", f.name), (url, f.name)]  # a decoy first: not http(s)
        links.append((f"{self.state.archive_url}/{ARCHIVE}/other.tif", "other.tif"))
        self._page(f"LiCSAR {rel}", links, head)


def _start(kind: str, tree: Path, archive_url: str = "") -> Server:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state = Server(kind, tree, httpd, archive_url)
    httpd.RequestHandlerClass = type("H", (_Handler,), {"state": state})
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return state


@dataclass
class Servers:
    old: Server
    new: Server
    archive: Server


@pytest.fixture
def servers(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    archive = _start("archive", tree)
    s = Servers(_start("old", tree), _start("new", tree, archive.url), archive)
    yield s
    for srv in (s.old, s.new, s.archive):
        srv.httpd.shutdown()
        srv.httpd.server_close()
        assert len(srv.requests) <= MAX_REQUESTS


# --------------------------------------------------------------------------------------------
# Expectations
# --------------------------------------------------------------------------------------------
def _expected(tree: Path) -> dict[str, Path]:
    """Destination under OUT → source file, for ``--layers all`` (quarantined items under quarantine/)."""
    frame = tree / TRACK / FRAME
    out: dict[str, Path] = {}
    for p in ALL_PAIRS:
        for k in ("unw", "cc"):
            dest = f"GEOC/{p}/{p}.geo.{k}.tif"
            out[("quarantine/" if p == ODD_PAIR else "") + dest] = frame / "interferograms" / p / f"{p}.geo.{k}.tif"
    for name in [f"{FRAME}.geo.{k}.tif" for k in ("E", "N", "U", "hgt", "landmask")] + [
            "baselines", "metadata.txt", "network.png"]:
        out[f"GEOC/{name}"] = frame / "metadata" / name
    for e in EPOCHS:
        for layer, suffix in LAYER_SUFFIX.items():
            if layer == "tide" and e == NO_TIDE_EPOCH:
                continue
            dest = f"{LAYER_FOLDER[layer]}/{e}{suffix}"
            out[("quarantine/" if (layer == "gacos" and e == ODD_GACOS_EPOCH) else "") + dest] = (
                frame / "epochs" / str(e) / f"{e}{suffix}")
    return out


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST, QUARANTINE_LIST}


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
def test_new_and_old_layouts_give_the_same_files(servers: Servers, tree: Path, tmp_path: Path) -> None:
    expected = _expected(tree)
    got = {}
    for kind, srv in (("old", servers.old), ("new", servers.new)):
        out = tmp_path / kind
        s = download_frame(FRAME, out, base_url=f"{srv.url}/products", layers="all", **FAST)
        assert s.ok, s.report()
        assert s.pairs_listed == len(ALL_PAIRS) and s.pairs_selected == ALL_PAIRS
        assert _files(out) == set(expected), kind
        for dest, src in expected.items():
            assert (out / dest).read_bytes() == src.read_bytes(), (kind, dest)
        assert s.layer_missing["tide"] == [NO_TIDE_EPOCH] and s.layer_epochs["tide"] == [
            e for e in EPOCHS if e != NO_TIDE_EPOCH]
        assert [rel for rel, _reason in s.quarantined] == [f"GEOC/{ODD_PAIR}", f"GACOS/{ODD_GACOS_EPOCH}.sltd.geo.tif"]
        got[kind] = s
        inputs = discover_inputs(out)
        assert inputs.ifgdates == [p for p in ALL_PAIRS if p != ODD_PAIR]
    # the old layout needs no link; in the new one every file (quarantined ones too) came through a link
    assert got["old"].resolved == 0
    assert got["new"].resolved == len(expected)
    assert not [p for p in servers.old.gets() if "products.future" in p and p.endswith(FUTURE_PAIR)]
    assert f"/products.future/{TRACK}/{FRAME}/interferograms/{FUTURE_PAIR}" in servers.new.gets()
    # the decoys were never asked: only the archive's http links of the wanted names
    assert not [p for p in servers.archive.gets() if p.endswith("other.tif")]


def test_second_run_resolves_and_fetches_nothing(servers: Servers, tree: Path, tmp_path: Path) -> None:
    url = f"{servers.new.url}/products"
    s = download_frame(FRAME, tmp_path, base_url=url, layers="all", **FAST)
    assert s.ok and s.fetched
    manifest = (tmp_path / MANIFEST).read_text()
    assert servers.archive.url in manifest and f"/{ARCHIVE}/{PAIRS[0]}/{PAIRS[0]}.geo.unw.tif" in manifest
    for srv in (servers.new, servers.archive):
        srv.requests.clear()

    s2 = download_frame(FRAME, tmp_path, base_url=url, layers="all", **FAST)
    assert s2.ok and not s2.fetched and s2.bytes_fetched == 0 and not s2.quarantined
    assert len(s2.skipped) == len([d for d in _expected(tree) if not d.startswith("quarantine/")])
    assert s2.quarantined_before == sorted([f"GACOS/{ODD_GACOS_EPOCH}.sltd.geo.tif"]
                                           + [f"GEOC/{ODD_PAIR}/{ODD_PAIR}.geo.{k}.tif" for k in ("unw", "cc")])
    # no file body from the archive, and no entry page read but the one of the epoch without a tide
    # (it may have one by now), in the products root and its .public and .future trees
    assert servers.archive.gets() == []
    pages = [p for p in servers.new.gets() if not p.endswith("/")]
    assert sorted(pages) == [f"/products{tree}/{TRACK}/{FRAME}/epochs/{NO_TIDE_EPOCH}"
                             for tree in (".future", ".public", "")]
    # the files are asked (HEAD) at the archive's URLs kept in the manifest, never at the portal's
    assert not [p for m, p in servers.new.requests if m == "HEAD" and not p.endswith(f"{NO_TIDE_EPOCH}.tide.geo.tif")]
    assert not [p for _m, p in servers.archive.requests if ODD_PAIR in p]  # quarantined: left alone


def test_mismatched_pair_is_quarantined_and_the_run_exits_0(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "frame"
    with caplog.at_level(logging.WARNING, logger="kansho"):
        rc = main(["-q", "download", FRAME, "-o", str(out), "--base-url", f"{servers.new.url}/products",
                   "--layers", "gacos", "--timeout", "2", "--retries", "1"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert f"GEOC/{ODD_PAIR}: {ODD_PAIR}.geo.unw.tif: grid 50x40 px" in text and "quarantined" in text
    listed = (out / QUARANTINE_LIST).read_text()
    assert f"GEOC/{ODD_PAIR}\t" in listed and f"GACOS/{ODD_GACOS_EPOCH}.sltd.geo.tif\t" in listed
    assert (out / "quarantine" / "GEOC" / ODD_PAIR / f"{ODD_PAIR}.geo.unw.tif").is_file()
    assert not (out / "GEOC" / ODD_PAIR).exists()
    assert any("quarantined" in r.getMessage() and ODD_PAIR in r.getMessage() for r in caplog.records)
    assert discover_inputs(out).ifgdates == [p for p in ALL_PAIRS if p != ODD_PAIR]
    assert not (out / "ICAMS").exists() and not (out / "GEOC" / f"{FRAME}.geo.landmask.tif").exists()

    # removing the quarantined pair's folder fetches it again (and quarantines it again)
    shutil.rmtree(out / "quarantine" / "GEOC" / ODD_PAIR)
    s = download_frame(FRAME, out, base_url=f"{servers.new.url}/products", layers="gacos", **FAST)
    assert [f.name for f in s.fetched] == [f"GEOC/{ODD_PAIR}/{ODD_PAIR}.geo.{k}.tif" for k in ("unw", "cc")]
    assert [rel for rel, _ in s.quarantined] == [f"GEOC/{ODD_PAIR}"]


def test_link_pages_follow_only_http_links_of_the_wanted_name() -> None:
    page = ('<a href="ftp://h/a.tif">a</a><a href="file:///etc/a.tif">a</a><a href="javascript:x">x</a>'
            '<a href="https://arch.example/p/a.tif?x=1">q</a><a href="sub/">folder</a>'
            '<a href="https://arch.example/p/..%2F..%2Fevil.tif">t</a><a href="https://arch.example/p/%2e%2e">d</a>'
            '<a href="b.tif">relative</a><a href="https://arch.example/x/a.tif#frag">a</a>'
            '<a href="https://other.example/a.tif">second of the name</a>')
    links = parse_links(page, "http://portal.example/products/21/F/interferograms/P")
    assert links == {"b.tif": "http://portal.example/products/21/F/interferograms/b.tif",
                     "a.tif": "https://arch.example/x/a.tif"}


@pytest.mark.parametrize("text", ["20230105 20230117\n20230105 20230129\n",
                                  "20230105 20230117 12\n20230105 20230129 24\n"])
def test_baselines_without_bperp_are_read_with_a_warning(
    text: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "baselines"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="kansho"):
        assert read_baselines(path) == {}
    assert any(str(path) in r.getMessage() and "B⊥" in r.getMessage() for r in caplog.records)
    path.write_text("20230105 20230117 12.5\n20230105 20230129 24\n")  # one true B⊥ value: a B⊥ column
    assert read_baselines(path) == {20230105: 0.0, 20230117: 12.5, 20230129: 24.0}


def test_local_copy_of_the_new_layout_follows_its_links(servers: Servers, tree: Path, tmp_path: Path) -> None:
    """A local folder holding the portal's link pages (a copy of the entries) fetches from the archive."""
    root = tmp_path / "copy"
    frame = root / TRACK / FRAME
    for p in [*PAIRS, FUTURE_PAIR]:
        links = "".join(f'<a href="{servers.archive.url}/{_archive_rel(f"interferograms/{p}/{p}.geo.{k}.tif")}">x</a>'
                        for k in ("unw", "cc"))
        (frame / "interferograms").mkdir(parents=True, exist_ok=True)
        (frame / "interferograms" / p).write_text(f"<html><body>{links}</body></html>")
    s = download_frame(FRAME, tmp_path / "out", base_url=root, layers="none", **FAST)
    assert s.ok and s.pairs_selected == sorted([*PAIRS, FUTURE_PAIR]), s.report()
    assert s.resolved == 2 * len(s.pairs_selected) and not s.quarantined
    for p in s.pairs_selected:
        for k in ("unw", "cc"):
            got = tmp_path / "out" / "GEOC" / p / f"{p}.geo.{k}.tif"
            assert got.read_bytes() == (tree / TRACK / FRAME / "interferograms" / p / f"{p}.geo.{k}.tif").read_bytes()
    assert len(s.absent) == 6  # the geometry and metadata files the copy lacks: optional
