"""``OUT/report.html`` of a simulated run: contents, self-containment, offline rendering in headless
Chromium (screenshot kept under tests/artifacts/), and maps even when the plots are missing."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests._shared import FinishedRun

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def run(small_run: FinishedRun) -> Any:
    return small_run.ctx


def test_report_has_every_section(run: Any) -> None:
    ctx = run
    text = (ctx.out / "report.html").read_text()
    for anchor in ("summary", "network", "qc", "velocity", "mask", "timings", "parameters"):
        assert f"id='{anchor}'" in text
    # parameters: the YAML of the run's options
    assert "loop_rms_threshold" in text and "min_coverage" in text
    # QC decisions: every dropped pair of info/dropped_pairs.csv is in the table, with its reason
    with open(ctx.out / "info" / "dropped_pairs.csv") as fh:
        drops = list(csv.DictReader(fh))
    names = ctx.stack.pair_names()
    # the table lists exactly the pairs the inversion does not use (there may be none: step 1-2
    # corrects unwrapping errors per pixel rather than dropping pairs)
    assert {d["pair"] for d in drops} == set(names) - {names[i] for i in ctx.result("loops").pairs}
    for d in drops:
        assert f"<td>{d['pair']}</td><td>{d['step']}</td>" in text
    # timings: one row per step of the registry, with its LiCSBAS number and title, the time of each
    # step that ran before the report was written (in the last step, outputs)
    from kansho.chain.registry import STEPS

    for spec in STEPS:
        row = f"<tr><td class='l'>{spec.name}</td><td>{spec.licsbas}</td><td class='l'>{spec.title}</td><td>"
        assert row in text, spec.name
        if spec.name != "outputs":
            assert f"{row}{ctx.timings[spec.name]:.2f}</td></tr>" in text
    assert "<td>(writing this report)</td>" in text
    # maps: velocity, masked velocity, filtered, vstd and the mask layers are inline PNGs
    imgs = re.findall(r"<img alt=['\"]([^'\"]+)['\"] src=['\"]data:image/png;base64,", text)
    for name in ("network", "vel", "vel_mskd", "vel_filt_mskd", "vstd", "mask", "coh_avg"):
        assert name in imgs, imgs


def test_report_is_self_contained(run: Any) -> None:
    text = (run.out / "report.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", text)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), [r for r in refs if not r.startswith("data:")]
    assert "<script" not in text and "url(" not in text and "@import" not in text
    assert "Content-Security-Policy" in text


def test_report_maps_without_plots(small_run: FinishedRun, copy_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """When drawing the plots fails, the outputs step still writes the report, its maps drawn from the arrays."""
    from kansho import plots, run_timeseries
    from kansho.config import RunConfig
    from kansho.io.geotiff import read_raster

    out = copy_run(small_run)
    shutil.rmtree(out / "plots")

    def broken(*a: Any, **k: Any) -> list[str]:
        raise RuntimeError("no display")

    monkeypatch.setattr(plots, "write_all", broken)
    run_timeseries(None, out, RunConfig(), steps=["outputs"], force=True, progress=False)
    assert not list((out / "plots").glob("*.png"))
    maps = {n: read_raster(out / "results" / f"{n}.tif") for n in ("vel",)}
    text = (out / "report.html").read_text()
    figs = re.findall(r"<figure class='map'><img alt='([^']+)'", text)
    assert {"Velocity (unmasked)", "Velocity (masked)", "Velocity std (bootstrap)", "mask"} <= set(figs)
    # the colour bar's limits are the symmetric robust limits of the velocity
    m = float(np.percentile(np.abs(maps["vel"][np.isfinite(maps["vel"])]), 98))
    assert f"<span>{-m:.3g}</span><span>mm/yr</span><span>{m:.3g}</span>" in text


def test_report_renders_offline_in_chromium(run: Any) -> None:
    from test_viewer_browser import _browser_or_skip

    driver = _browser_or_skip()
    try:
        driver.get((run.out / "report.html").as_uri())
        state = driver.execute_script(
            "const im = Array.from(document.images);"
            "return [document.readyState, im.length, im.filter(i => i.complete && i.naturalWidth > 0).length,"
            " im.filter(i => i.alt === 'vel').map(i => i.getBoundingClientRect().width)];")
        assert state[0] == "complete"
        assert state[1] >= 10 and state[2] == state[1], state  # every map decoded, none blocked
        assert state[3] and state[3][0] > 100
        ARTIFACTS.mkdir(exist_ok=True)
        driver.execute_script("document.getElementById('velocity').scrollIntoView()")
        shot = ARTIFACTS / "report_velocity.png"
        driver.save_screenshot(str(shot))
        img = np.asarray(Image.open(shot).convert("RGB"), float)
        # the maps are in the screenshot: blue and red velocity colours, not a blank page
        red = ((img[..., 0] > 150) & (img[..., 2] < 110)).sum()
        blue = ((img[..., 2] > 150) & (img[..., 0] < 110)).sum()
        assert red > 500 and blue > 500, (red, blue)
    finally:
        driver.quit()
    assert os.path.getsize(shot) > 10_000
