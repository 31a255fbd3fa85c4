"""The static catalogue of a batch: every link resolves, figures match the runs, STAC is well formed,
and the page renders in headless Chromium (skipped with the reason when it is not installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from kansho.batch.catalog import build_catalog
from kansho.batch.frames import load_frames
from kansho.batch.runner import run_batch
from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, load_truth, simulate_frame

CHROMIUM = os.environ.get("KANSHO_CHROMIUM", "/usr/bin/chromium")
SIM = {"shape": (40, 40), "n_epoch": 12, "interval_days": 36, "n_unw_errors": 0, "gap": False, "n_missing": 0,
       "n_long_pairs": 1, "n_dropped_pairs": 0}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append(str(a[key]))
        if tag == "tr" and a.get("id"):
            self.ids.append(str(a["id"]))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("catalog")
    simulate_frame(base / "a", SimConfig(**SIM), rng=5)
    (base / "b").mkdir()  # an empty folder: the frame fails (no pairs) and is listed with its error
    (base / "frames.yaml").write_text("frames:\n  - {id: good, source: a/GEOC}\n  - {id: bad, source: b}\n")
    r = base / "ROOT"
    res = run_batch(load_frames(base / "frames.yaml"), r, retries=0, progress=False)
    assert res.done == ["good"] and res.failed == ["bad"]
    build_catalog(r)
    return base, r


def test_every_link_resolves_to_a_file(root: Any) -> None:
    _, r = root
    p = _Links()
    p.feed((r / "index.html").read_text())
    assert sorted(p.ids) == ["frame-bad", "frame-good"]
    assert len(p.refs) >= 10  # thumbnail, products, report, status, catalog.json
    for ref in p.refs:
        u = urlparse(ref)
        assert not u.scheme and not u.netloc and not ref.startswith("/"), ref  # relative: any file server
        assert (r / unquote(u.path)).is_file(), ref
    assert "frames/good/report.html" in p.refs and "catalog/good.png" in p.refs


def test_figures_match_the_run(root: Any) -> None:
    base, r = root
    text = (r / "index.html").read_text()
    truth = load_truth(base / "a" / "truth.npz")
    first, last = int(truth.epochs[0]), int(truth.epochs[-1])
    assert f"{first // 10000:04d}-{first // 100 % 100:02d}-{first % 100:02d}" in text
    item = json.loads((r / "stac" / "good.json").read_text())
    props = item["properties"]
    assert props["kansho:n_epoch"] == len(truth.epochs)
    assert props["start_datetime"].startswith(f"{first // 10000:04d}-") and props["end_datetime"][:4] == str(last)[:4]
    vel = read_raster(r / "frames" / "good" / "results" / "vel.tif")
    mask = read_raster(r / "frames" / "good" / "results" / "mask.tif")
    frac = np.sum((mask == 1) & np.isfinite(vel)) / np.isfinite(vel).sum()
    assert props["kansho:masked_in_fraction"] == pytest.approx(frac)
    assert 0 < props["kansho:median_vstd_mm_yr"] < 50
    # footprint = the truth grid's outer edges
    g = truth.grid
    w, n = g.transform[0], g.transform[3]
    e, s = w + g.width * g.transform[1], n + g.height * g.transform[5]
    assert item["bbox"] == pytest.approx([w, s, e, n])
    assert "no pairs" in text.lower() or "bad" in text  # the failed frame is listed
    assert 'class="failed"' in text


def test_stac_catalog_is_self_contained(root: Any) -> None:
    _, r = root
    cat = json.loads((r / "catalog.json").read_text())
    assert cat["type"] == "Catalog" and cat["stac_version"] == "1.0.0"
    items = [ln for ln in cat["links"] if ln["rel"] == "item"]
    assert [ln["title"] for ln in items] == ["good"]  # only finished frames are items
    for ln in items:
        ip = (r / ln["href"]).resolve()
        item = json.loads(ip.read_text())
        assert item["type"] == "Feature" and item["geometry"]["type"] == "Polygon"
        for a in item["assets"].values():
            assert (ip.parent / a["href"]).resolve().is_file(), a["href"]
    try:
        import pystac
    except ImportError:
        return
    pystac.Catalog.from_file(str(r / "catalog.json")).validate_all()  # pragma: no cover - optional


def test_page_renders_in_headless_chromium(root: Any, tmp_path: Path) -> None:
    _, r = root
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not exe:
        msg = f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("KANSHO_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files"]
    url = (r / "index.html").resolve().as_uri()
    dom = subprocess.run([*args, "--dump-dom", url], check=False, capture_output=True, text=True, timeout=90).stdout
    assert 'id="frame-good"' in dom and 'id="frame-bad"' in dom
    shot = tmp_path / "catalog.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1200,700", url], check=False,
                   capture_output=True, timeout=90)
    assert shot.is_file()
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB"), float)
    # the thumbnail (a red/blue velocity map) is drawn: a page without it is black text on white
    red_or_blue = (np.abs(img[..., 0] - img[..., 2]) > 60).sum()
    assert red_or_blue > 500, red_or_blue
    art = Path(__file__).parent / "artifacts"
    if art.is_dir():
        shutil.copyfile(shot, art / "catalog.png")
